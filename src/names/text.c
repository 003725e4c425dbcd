/*
 * text.c -- the text primitives of the names engine: UTF-8 validation, NFKC + case
 * folding (utf8proc), transliteration by table schemes (ICAO Doc 9303 Part 3 section 6
 * for Latin, Cyrillic and Greek; BGN/PCGN 1947 for Russian) and by ICU (Any-Latin;
 * Latin-ASCII, which covers Arabic, Hebrew, Han and every other script), the NYSIIS
 * phonetic code (Taft 1970), a consonant skeleton for scripts that do not write
 * vowels, Jaro-Winkler and Damerau distances.
 */
#include <string.h>
#include <unicode/ustring.h>
#include <utf8proc.h>
#include "names/names_int.h"

long nm_utf8_invalid_at(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0 || cp == 0) return (long)i;
        i += (size_t)n;
    }
    return -1;
}

char *nm_fold(const char *s, size_t len) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                      UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
    if (n < 0) return NULL;
    return (char *)dst;
}

/* ---- table schemes ---- */

static const char *icao_latin(int32_t c) {
    switch (c) {
    case 0xE4: return "ae"; case 0xE5: return "aa"; case 0xE6: return "ae"; case 0xF6: return "oe";
    case 0xF8: return "oe"; case 0xFC: return "ue"; case 0xDF: return "ss"; case 0xFE: return "th";
    case 0xF0: return "d";  case 0x153: return "oe"; case 0x133: return "ij"; case 0x142: return "l";
    case 0x111: return "d"; case 0x131: return "i"; case 0x127: return "h";
    default: return NULL;
    }
}

static const char *plain_latin(int32_t c) {
    switch (c) {
    case 0xE6: return "ae"; case 0xF8: return "o"; case 0xDF: return "ss"; case 0xFE: return "th";
    case 0xF0: return "d";  case 0x153: return "oe"; case 0x133: return "ij"; case 0x142: return "l";
    case 0x111: return "d"; case 0x131: return "i"; case 0x127: return "h";
    default: return NULL;
    }
}

/* ICAO Doc 9303 Part 3, Cyrillic (Russian, Ukrainian, Belarusian, Serbian, Macedonian). */
static const char *icao_cyr(int32_t c) {
    static const char *ru[32] = {"a", "b", "v", "g", "d", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p",
                                 "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e", "iu", "ia"};
    if (c >= 0x430 && c <= 0x44F) return ru[c - 0x430];
    switch (c) {
    case 0x451: return "e";  case 0x454: return "ie"; case 0x456: return "i";  case 0x457: return "i";
    case 0x45E: return "u";  case 0x491: return "g";  case 0x452: return "d";  case 0x453: return "g";
    case 0x455: return "dz"; case 0x458: return "j";  case 0x459: return "lj"; case 0x45A: return "nj";
    case 0x45B: return "c";  case 0x45C: return "k";  case 0x45F: return "dz";
    default: return NULL;
    }
}

static bool cyr_vowelish(int32_t c) {
    return c == 0x430 || c == 0x435 || c == 0x451 || c == 0x438 || c == 0x43E || c == 0x443 || c == 0x44B ||
           c == 0x44D || c == 0x44E || c == 0x44F || c == 0x44A || c == 0x44C || c == 0x439 || c == 0x454 ||
           c == 0x456 || c == 0x457;
}

/* BGN/PCGN 1947 romanisation of Russian (ASCII form: diacritics and primes dropped). */
static const char *bgn_cyr(int32_t c, int32_t prev) {
    static const char *ru[32] = {"a", "b", "v", "g", "d", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
                                 "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"};
    bool initial_or_after_vowel = prev == 0 || cyr_vowelish(prev);
    if (c == 0x435) return initial_or_after_vowel ? "ye" : "e";
    if (c == 0x451) return initial_or_after_vowel ? "yo" : "e";
    if (c >= 0x430 && c <= 0x44F) return ru[c - 0x430];
    switch (c) {
    case 0x454: return "ye"; case 0x456: return "i"; case 0x457: return "yi"; case 0x45E: return "w";
    case 0x491: return "g";
    default: return icao_cyr(c);
    }
}

/* ICAO Doc 9303 / ELOT 743 Greek (after the accents are stripped). */
static const char *greek(int32_t c, int32_t next, bool *skip_next) {
    *skip_next = false;
    if (c == 0x3BF && next == 0x3C5) { *skip_next = true; return "ou"; }
    if ((c == 0x3B1 || c == 0x3B5) && next == 0x3C5) { *skip_next = true; return c == 0x3B1 ? "av" : "ev"; }
    static const char *gr[25] = {"a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n",
                                 "x", "o", "p", "r", "s", "s", "t", "y", "f", "ch", "ps", "o"};
    if (c >= 0x3B1 && c <= 0x3C9) return gr[c - 0x3B1];
    return NULL;
}

static int32_t strip_mark(int32_t c) {
    utf8proc_int32_t buf[8];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(c, buf, 8, UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK, &last);
    if (n >= 1) return buf[0];
    return c;
}

static void put_ascii(iop_buf *out, const char *s) {
    for (; *s; s++)
        if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) iop_buf_append(out, s, 1);
}

bool nm_translit_table(int scheme, const char *s, size_t len, iop_buf *out) {
    bool complete = true;
    size_t i = 0;
    int32_t prev = 0;
    while (i < len) {
        utf8proc_int32_t c, nx = 0;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) return false;
        if (i + (size_t)n < len) {
            utf8proc_ssize_t n2 = utf8proc_iterate((const utf8proc_uint8_t *)s + i + n,
                                                   (utf8proc_ssize_t)(len - i - (size_t)n), &nx);
            if (n2 <= 0) nx = 0;
        }
        i += (size_t)n;
        if (c < 0x80) {
            char ch = (char)c;
            if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
            if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) iop_buf_append(out, &ch, 1);
            prev = c;
            continue;
        }
        if (c >= 0x300 && c <= 0x36F) continue; /* a combining mark left over */
        const char *r = NULL;
        int32_t base = c;
        if (c >= 0x370 && c <= 0x3FF) base = strip_mark(c);
        if (base >= 0x370 && base <= 0x3FF) {
            int32_t nb = nx ? strip_mark(nx) : 0;
            bool skip = false;
            r = greek(base, nb, &skip);
            if (skip) {
                utf8proc_int32_t d;
                utf8proc_ssize_t n2 = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &d);
                if (n2 > 0) i += (size_t)n2;
            }
        } else if (c >= 0x400 && c <= 0x4FF) {
            r = scheme == NM_SCH_BGN ? bgn_cyr(c, prev) : icao_cyr(c);
        } else if (c < 0x250 || (c >= 0x1E00 && c <= 0x1EFF)) {
            r = scheme == NM_SCH_ICAO ? icao_latin(c) : plain_latin(c);
            if (!r) {
                int32_t b = strip_mark(c);
                if (b < 0x80) {
                    char ch = (char)b;
                    if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
                    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) iop_buf_append(out, &ch, 1);
                    prev = c;
                    continue;
                }
                r = scheme == NM_SCH_ICAO ? icao_latin(b) : plain_latin(b);
            }
        } else if (utf8proc_category(c) == UTF8PROC_CATEGORY_PD || utf8proc_category(c) == UTF8PROC_CATEGORY_PO ||
                   utf8proc_category(c) == UTF8PROC_CATEGORY_ZS || utf8proc_category(c) == UTF8PROC_CATEGORY_PF ||
                   utf8proc_category(c) == UTF8PROC_CATEGORY_PI || utf8proc_category(c) == UTF8PROC_CATEGORY_LM ||
                   utf8proc_category(c) == UTF8PROC_CATEGORY_SK) {
            r = ""; /* punctuation, modifier letters (ʼ ʻ) */
        }
        if (!r) { complete = false; prev = c; continue; }
        put_ascii(out, r);
        prev = c;
    }
    return complete;
}

/* True when every code point of s is Latin (up to Latin Extended-B, combining marks,
 * Latin Extended Additional): the only text the table's plain reading may stand in for. */
static bool latin_only(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        if ((unsigned char)s[i] < 0x80) { i++; continue; }
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) return false;
        if (!(c < 0x250 || (c >= 0x300 && c <= 0x36F) || (c >= 0x1E00 && c <= 0x1EFF))) return false;
        i += (size_t)n;
    }
    return true;
}

void nm_translit_icu(const names_engine *eng, const char *s, size_t len, iop_buf *out) {
    if (len == 0) return;
    /* Latin text: where the plain table reads every character, its reading is ICU's
     * Latin-ASCII one (checked for every Latin code point by test_latin_ascii), without
     * the transliterator's cost (~7 us a name, under one lock for all threads) */
    if (latin_only(s, len)) {
        size_t mark = out->len;
        if (nm_translit_table(NM_SCH_BGN, s, len, out)) return;
        out->len = mark;
        if (out->data) out->data[mark] = 0;
    }
    size_t cap = len * 8 + 16;
    UChar stackbuf[1024];
    UChar *u = cap <= 1024 ? stackbuf : malloc(cap * sizeof(UChar));
    if (!u) return;
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = 0;
    u_strFromUTF8(u, (int32_t)cap, &ulen, s, (int32_t)len, &st);
    if (U_SUCCESS(st)) {
        int32_t limit = ulen;
        pthread_mutex_lock((pthread_mutex_t *)&eng->icu_lock);
        utrans_transUChars(eng->icu, u, &ulen, (int32_t)cap, 0, &limit, &st);
        pthread_mutex_unlock((pthread_mutex_t *)&eng->icu_lock);
    }
    if (U_SUCCESS(st)) {
        for (int32_t i = 0; i < ulen; i++) {
            UChar c = u[i];
            if (c >= 'A' && c <= 'Z') c = (UChar)(c - 'A' + 'a');
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                char ch = (char)c;
                iop_buf_append(out, &ch, 1);
            }
        }
    }
    if (u != stackbuf) free(u);
}

unsigned nm_script_flags(const char *s, size_t len) {
    unsigned f = 0;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) break;
        i += (size_t)n;
        if (c < 0x250 || (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x300 && c <= 0x36F)) continue;
        f |= NM_TF_NONLATIN;
        if ((c >= 0x590 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0xFB1D && c <= 0xFDFF) ||
            (c >= 0xFE70 && c <= 0xFEFF))
            f |= NM_TF_ABJAD; /* Hebrew and Arabic: short vowels are not written */
    }
    return f;
}

/* ---- NYSIIS (New York State Identification and Intelligence System, Taft 1970) ---- */

static bool vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

size_t nm_nysiis(const char *src, size_t len, char *out) {
    char w[NM_MAX_TOK + 8];
    size_t n = 0;
    for (size_t i = 0; i < len && n < NM_MAX_TOK; i++)
        if (src[i] >= 'a' && src[i] <= 'z') w[n++] = src[i];
    w[n] = 0;
    if (n == 0) { out[0] = 0; return 0; }
    /* 1. the start of the name */
    if (n >= 3 && !memcmp(w, "mac", 3)) memcpy(w, "mcc", 3);
    else if (n >= 3 && !memcmp(w, "sch", 3)) memcpy(w, "sss", 3);
    else if (n >= 2 && !memcmp(w, "kn", 2)) memcpy(w, "nn", 2);
    else if (n >= 2 && (!memcmp(w, "ph", 2) || !memcmp(w, "pf", 2))) memcpy(w, "ff", 2);
    else if (w[0] == 'k') w[0] = 'c';
    /* 2. the end of the name */
    if (n >= 2) {
        const char *e = w + n - 2;
        if (!memcmp(e, "ee", 2) || !memcmp(e, "ie", 2)) { w[n - 2] = 'y'; n--; }
        else if (!memcmp(e, "dt", 2) || !memcmp(e, "rt", 2) || !memcmp(e, "rd", 2) || !memcmp(e, "nt", 2) ||
                 !memcmp(e, "nd", 2)) { w[n - 2] = 'd'; n--; }
        w[n] = 0;
    }
    /* 3.-4. the key */
    char key[NM_MAX_TOK + 8];
    size_t k = 0;
    key[k++] = w[0];
    for (size_t i = 1; i < n; i++) {
        char c = w[i], rep[4] = {0};
        size_t nr = 1, adv = 1;
        rep[0] = c;
        if (c == 'e' && i + 1 < n && w[i + 1] == 'v') { rep[0] = 'a'; rep[1] = 'f'; nr = 2; adv = 2; }
        else if (vowel(c)) rep[0] = 'a';
        else if (c == 'q') rep[0] = 'g';
        else if (c == 'z') rep[0] = 's';
        else if (c == 'm') rep[0] = 'n';
        else if (c == 'k') rep[0] = (i + 1 < n && w[i + 1] == 'n') ? 'n' : 'c';
        else if (c == 's' && i + 2 < n && w[i + 1] == 'c' && w[i + 2] == 'h') { rep[0] = rep[1] = rep[2] = 's'; nr = 3; adv = 3; }
        else if (c == 'p' && i + 1 < n && w[i + 1] == 'h') { rep[0] = rep[1] = 'f'; nr = 2; adv = 2; }
        else if (c == 'h' && (!vowel(w[i - 1]) || (i + 1 < n && !vowel(w[i + 1])) || i + 1 == n)) rep[0] = w[i - 1];
        else if (c == 'w' && vowel(w[i - 1])) rep[0] = w[i - 1];
        for (size_t j = 0; j < nr; j++) {
            char r = rep[j];
            if (vowel(r)) r = 'a';
            if (k > 0 && key[k - 1] == r) continue;
            if (k < sizeof key - 1) key[k++] = r;
        }
        i += adv - 1;
    }
    /* 5. the end of the key */
    if (k > 1 && key[k - 1] == 's') k--;
    if (k > 2 && key[k - 2] == 'a' && key[k - 1] == 'y') { key[k - 2] = 'y'; k--; }
    if (k > 1 && key[k - 1] == 'a') k--;
    if (k > 8) k = 8;
    memcpy(out, key, k);
    out[k] = 0;
    return k;
}

/* ---- consonant skeleton ---- */

size_t nm_skeleton(const char *s, size_t len, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i], nx = i + 1 < len ? s[i + 1] : 0, cls = 0;
        if (c >= '0' && c <= '9') { cls = c; }
        else if ((c == 's' && nx == 'h') || (c == 'c' && nx == 'h') || (c == 'z' && nx == 'h')) { cls = c == 'z' ? 'J' : 'S'; i++; }
        else if ((c == 't' && (nx == 's' || nx == 'z')) || (c == 'd' && nx == 'z')) { cls = 'S'; i++; }
        else if (c == 'k' && nx == 'h') { cls = 'K'; i++; }
        else if (c == 'g' && nx == 'h') { cls = 'K'; i++; }
        else if ((c == 't' || c == 'd') && nx == 'h') { cls = 'T'; i++; }
        else if (c == 'p' && nx == 'h') { cls = 'B'; i++; }
        else switch (c) {
            case 'b': case 'p': case 'f': case 'v': cls = 'B'; break;
            case 'k': case 'q': case 'g': cls = 'K'; break;
            case 'c': cls = (nx == 'e' || nx == 'i' || nx == 'y') ? 'S' : 'K'; break;
            case 'j': cls = 'J'; break;
            case 'd': case 't': cls = 'T'; break;
            case 's': case 'z': case 'x': cls = 'S'; break;
            case 'l': cls = 'L'; break;
            case 'r': cls = 'R'; break;
            case 'm': cls = 'M'; break;
            case 'n': cls = 'N'; break;
            default: cls = 0; /* vowels, h, w, y */
        }
        if (!cls) continue;
        if (k > 0 && out[k - 1] == cls) continue;
        out[k++] = cls;
    }
    out[k] = 0;
    return k;
}

/* Coarse sound classes for cross-script blocking: l/r merged, m/n merged, all labials
 * merged, sibilants and affricates merged.  mode 0 reads j as "dzh", w as "v", ch as
 * "tsch"; mode 1 reads j as "y" (dropped), w as a vowel, ch as "kh" and an initial h
 * as g/kh (Russian and Arabic renderings of Germanic names); mode 2 is mode 1 with j
 * read as g (Arabic jim renders both); ts/tz are one affricate in mode 0 only. */
size_t nm_coarse(const char *s, size_t len, int mode, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i], nx = i + 1 < len ? s[i + 1] : 0, cls = 0, cls2 = 0;
        if (c >= '0' && c <= '9') cls = c;
        else if (c == 's' && nx == 'c' && i + 2 < len && s[i + 2] == 'h') { cls = 'S'; i += 2; }
        else if ((c == 's' || c == 'z') && nx == 'h') { cls = 'S'; i++; }
        else if ((c == 't' && (nx == 's' || nx == 'z') && mode == 0) || (c == 'd' && (nx == 'z' || nx == 'j'))) {
            cls = 'S'; i++;
            if (i + 1 < len && (s[i + 1] == 'h' || s[i + 1] == 'c')) i++;
        }
        else if ((c == 'k' || c == 'g') && nx == 'h') { cls = 'K'; i++; }
        else if (c == 'c' && nx == 'k') { cls = 'K'; i++; }
        else if (c == 't' && nx == 'h') { cls = 'T'; i++; }
        else if (c == 'p' && nx == 'h') { cls = 'B'; i++; }
        else if (c == 'c' && nx == 'h') { cls = mode ? 'K' : 'S'; i++; }
        else switch (c) {
            case 'b': case 'p': case 'f': case 'v': cls = 'B'; break;
            case 'w': cls = mode ? 0 : 'B'; break;
            case 'k': case 'q': case 'g': cls = 'K'; break;
            case 'c': cls = (nx == 'e' || nx == 'i' || nx == 'y') ? 'S' : 'K'; break;
            case 'x': cls = 'K'; cls2 = 'S'; break;
            case 'j': cls = mode == 2 ? 'K' : mode ? 0 : 'S'; break;
            case 's': case 'z': cls = 'S'; break;
            case 'd': case 't': cls = 'T'; break;
            case 'l': case 'r': cls = 'R'; break;
            case 'm': case 'n': cls = 'N'; break;
            case 'h': cls = (mode && i == 0) ? 'K' : 0; break;
            default: cls = 0;
        }
        if (cls && !(k > 0 && out[k - 1] == cls)) out[k++] = cls;
        if (cls2 && !(k > 0 && out[k - 1] == cls2)) out[k++] = cls2;
    }
    out[k] = 0;
    return k;
}

uint32_t nm_coarse_key(const char *code, size_t len) { return nm_hash32(code, len) ^ 0x5bd1e995u; }

size_t nm_coarse_dels(const char *code, size_t len, uint32_t *out) {
    size_t n = 0;
    if (!len) return 0;
    if (len > NM_MAX_TOK) len = NM_MAX_TOK;
    out[n++] = nm_coarse_key(code, len);
    if (len < 3) return n;
    char buf[NM_MAX_TOK];
    for (size_t d = 0; d < len; d++) {
        if (d && code[d] == code[d - 1]) continue; /* the same string as the previous deletion */
        memcpy(buf, code, d);
        memcpy(buf + d, code + d + 1, len - d - 1);
        out[n++] = nm_coarse_key(buf, len - 1);
    }
    return n;
}

/* ---- similarity ---- */

double nm_jaro_winkler(const char *a, size_t la, const char *b, size_t lb) {
    if (la == 0 && lb == 0) return 1.0;
    if (la == 0 || lb == 0) return 0.0;
    if (la > 64) la = 64;
    if (lb > 64) lb = 64;
    size_t win = (la > lb ? la : lb) / 2;
    win = win > 0 ? win - 1 : 0;
    uint64_t ma = 0, mb = 0;
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > win ? i - win : 0, hi = i + win + 1 < lb ? i + win + 1 : lb;
        for (size_t j = lo; j < hi; j++) {
            if ((mb >> j) & 1) continue;
            if (a[i] != b[j]) continue;
            ma |= 1ull << i;
            mb |= 1ull << j;
            m++;
            break;
        }
    }
    if (m == 0) return 0.0;
    size_t t = 0, j = 0;
    for (size_t i = 0; i < la; i++) {
        if (!((ma >> i) & 1)) continue;
        while (!((mb >> j) & 1)) j++;
        if (a[i] != b[j]) t++;
        j++;
    }
    double md = (double)m;
    double jaro = (md / (double)la + md / (double)lb + (md - (double)t / 2.0) / md) / 3.0;
    size_t p = 0;
    while (p < 4 && p < la && p < lb && a[p] == b[p]) p++;
    return jaro + (double)p * 0.1 * (1.0 - jaro);
}

int nm_damerau(const char *a, size_t la, const char *b, size_t lb, int max) {
    if (la > 64 || lb > 64) return max + 1;
    int d[65][65];
    if ((int)(la > lb ? la - lb : lb - la) > max) return max + 1;
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int rowmin = max + 1;
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
            if (v < rowmin) rowmin = v;
        }
        if (rowmin > max) return max + 1;
    }
    return d[la][lb] > max ? max + 1 : d[la][lb];
}

uint64_t nm_hash(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 0x100000001b3ull; }
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
    return h;
}

uint32_t nm_hash32(const char *s, size_t n) {
    uint32_t h = (uint32_t)nm_hash(s, n, 7);
    return h ? h : 1;
}

bool nm_is_particle(const char *s, size_t len) {
    static const char *const parts[] = {"van", "von", "de", "der", "den", "del", "della", "da", "das", "dos", "do",
                                        "du", "di", "la", "le", "al", "el", "bin", "ben", "ibn", "bint", "abu",
                                        "ter", "ten", "ap", "y", "zu", "dei", "degli", NULL};
    if (len == 0 || len > 5) return false; /* the longest is five letters */
    for (size_t i = 0; parts[i]; i++)
        if (parts[i][0] == s[0] && !strncmp(parts[i], s, len) && !parts[i][len]) return true;
    return false;
}
