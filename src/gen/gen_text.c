/*
 * gen_text.c -- text helpers of the population generator: the per-person arena,
 * UTF-8 decoding, romanisation of Cyrillic under the schemes found in real travel
 * documents and databases (ICAO Doc 9303 as in current passports, BGN/PCGN as in
 * older documents and English-language sources, German and French renderings as in
 * older national registers), common Latin spelling variations, diacritics folding,
 * and the record-level errors: keyboard typos and OCR confusions in document numbers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gen/gen_internal.h"

/* ------------------------------------------------------------------ arena */

struct gen_arena_block {
    gen_arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

#define ARENA_BLOCK 65536

void *gen_arena_alloc(gen_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    gen_arena_block *b = a->head;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        gen_arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) { a->oom = true; return NULL; }
        nb->used = 0;
        nb->cap = cap;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

char *gen_arena_strdup(gen_arena *a, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = gen_arena_alloc(a, n);
    if (p) memcpy(p, s, n);
    return p;
}

char *gen_arena_printf(gen_arena *a, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    if ((size_t)n < sizeof tmp) return gen_arena_strdup(a, tmp);
    char *p = gen_arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void gen_arena_reset(gen_arena *a) {
    gen_arena_block *b = a->head;
    if (!b) return;
    /* keep the oldest block (the first allocated, at the end of the list) */
    while (b->next) {
        gen_arena_block *n = b->next;
        free(b);
        b = n;
    }
    b->used = 0;
    a->head = b;
}

void gen_arena_free(gen_arena *a) {
    gen_arena_block *b = a->head;
    while (b) {
        gen_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
}

/* ------------------------------------------------------------------ UTF-8 */

size_t gen_utf8_decode(const char *s, uint32_t *cp, size_t max) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p && n < max) {
        uint32_t c;
        int extra;
        if (*p < 0x80) { c = *p; extra = 0; }
        else if ((*p & 0xE0) == 0xC0) { c = *p & 0x1F; extra = 1; }
        else if ((*p & 0xF0) == 0xE0) { c = *p & 0x0F; extra = 2; }
        else if ((*p & 0xF8) == 0xF0) { c = *p & 0x07; extra = 3; }
        else { cp[n++] = 0xFFFD; p++; continue; }
        p++;
        int k = 0;
        for (; k < extra && (*p & 0xC0) == 0x80; k++, p++) c = (c << 6) | (*p & 0x3F);
        cp[n++] = k == extra ? c : 0xFFFD;
    }
    return n;
}

static size_t utf8_put(char *o, uint32_t c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

char *gen_utf8_encode(gen_arena *a, const uint32_t *cp, size_t n) {
    char *o = gen_arena_alloc(a, n * 4 + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += utf8_put(o + k, cp[i]);
    o[k] = 0;
    return o;
}

/* ------------------------------------------------------------------ case */

static uint32_t cp_upper(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0x131) return 'I';                        /* dotless i */
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x138 && c != 0x149) {
        /* Latin Extended-A: pairs (upper even, lower odd) except 0x139..0x148, 0x179..0x17E */
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (odd_upper ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
        return c;
    }
    if (c >= 0x430 && c <= 0x44F) return c - 0x20;    /* Cyrillic */
    if (c >= 0x450 && c <= 0x45F) return c - 0x50;
    if (c == 0x491) return 0x490;
    return c;
}

static uint32_t cp_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    if (c == 0x130) return 'i';
    if (c >= 0x100 && c <= 0x17F && c != 0x131 && c != 0x138 && c != 0x149) {
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (odd_upper ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
        return c;
    }
    return c;
}

static bool word_sep(uint32_t c) { return c == ' ' || c == '-' || c == '\''; }

char *gen_capitalise(gen_arena *a, const char *s) {
    uint32_t cp[256];
    size_t n = gen_utf8_decode(s, cp, 256);
    bool start = true;
    for (size_t i = 0; i < n; i++) {
        cp[i] = start ? cp_upper(cp[i]) : cp_lower(cp[i]);
        start = word_sep(cp[i]);
    }
    return gen_utf8_encode(a, cp, n);
}

char *gen_upper(gen_arena *a, const char *s) {
    uint32_t cp[256];
    size_t n = gen_utf8_decode(s, cp, 256);
    for (size_t i = 0; i < n; i++) cp[i] = cp_upper(cp[i]);
    return gen_utf8_encode(a, cp, n);
}

/* ------------------------------------------------------------------ Cyrillic */

/* Russian alphabet а..я (0x430..0x44F), then ё і ї є ґ; columns: ICAO, BGN, German, French */
static const char *const cyr_tab[32][GEN_CYR_SCHEMES] = {
    {"a", "a", "a", "a"},     {"b", "b", "b", "b"},     {"v", "v", "w", "v"},
    {"g", "g", "g", "g"},     {"d", "d", "d", "d"},     {"e", "e", "e", "e"},
    {"zh", "zh", "sch", "j"}, {"z", "z", "s", "z"},     {"i", "i", "i", "i"},
    {"i", "y", "j", "i"},     {"k", "k", "k", "k"},     {"l", "l", "l", "l"},
    {"m", "m", "m", "m"},     {"n", "n", "n", "n"},     {"o", "o", "o", "o"},
    {"p", "p", "p", "p"},     {"r", "r", "r", "r"},     {"s", "s", "s", "s"},
    {"t", "t", "t", "t"},     {"u", "u", "u", "ou"},    {"f", "f", "f", "f"},
    {"kh", "kh", "ch", "kh"}, {"ts", "ts", "z", "ts"},  {"ch", "ch", "tsch", "tch"},
    {"sh", "sh", "sch", "ch"}, {"shch", "shch", "schtsch", "chtch"}, {"ie", "", "", ""},
    {"y", "y", "y", "y"},     {"", "", "", ""},         {"e", "e", "e", "e"},
    {"iu", "yu", "ju", "iou"}, {"ia", "ya", "ja", "ia"},
};
static const char *cyr_extra(uint32_t c, int scheme) {
    static const char *const yo[] = {"e", "yo", "jo", "io"};
    static const char *const yi[] = {"i", "yi", "ji", "i"};
    static const char *const ye[] = {"ie", "ye", "je", "ie"};
    switch (c) {
    case 0x451: return yo[scheme];
    case 0x456: return "i";
    case 0x457: return yi[scheme];
    case 0x454: return ye[scheme];
    case 0x491: return "g";
    default: return NULL;
    }
}

char *gen_cyr_romanise(gen_arena *a, const char *cyr, int scheme) {
    uint32_t cp[128];
    size_t n = gen_utf8_decode(cyr, cp, 128);
    char out[1024];
    size_t k = 0;
    if (scheme < 0 || scheme >= GEN_CYR_SCHEMES) scheme = 0;
    for (size_t i = 0; i < n && k + 8 < sizeof out; i++) {
        uint32_t c = cp_lower(cp[i]);
        const char *t = NULL;
        if (c >= 0x430 && c <= 0x44F) t = cyr_tab[c - 0x430][scheme];
        else t = cyr_extra(c, scheme);
        if (t) {
            size_t l = strlen(t);
            memcpy(out + k, t, l);
            k += l;
        } else {
            k += utf8_put(out + k, c);
        }
    }
    out[k] = 0;
    return gen_capitalise(a, out);
}

char *gen_cyr_feminine(gen_arena *a, const char *cyr) {
    uint32_t cp[128];
    size_t n = gen_utf8_decode(cyr, cp, 126);
    if (n >= 3) {
        uint32_t l1 = cp_lower(cp[n - 1]), l2 = cp_lower(cp[n - 2]);
        /* -ов, -ев, -ёв, -ин, -ын: add -а */
        if (l1 == 0x432 && (l2 == 0x43E || l2 == 0x435 || l2 == 0x451)) { cp[n++] = 0x430; }
        else if (l1 == 0x43D && (l2 == 0x438 || l2 == 0x44B)) { cp[n++] = 0x430; }
        /* -ский, -цкий: -ская, -цкая */
        else if (l1 == 0x439 && l2 == 0x438 && cp_lower(cp[n - 3]) == 0x43A) { cp[n - 2] = 0x430; cp[n - 1] = 0x44F; }
    }
    return gen_utf8_encode(a, cp, n);
}

/* ------------------------------------------------------------------ Latin variants */

static const struct { const char *from, *to; bool at_end; } latin_rules[] = {
    {"ph", "f", false},   {"f", "ph", false},   {"ou", "u", false},  {"oo", "u", false},
    {"ee", "i", false},   {"kh", "h", false},   {"q", "k", false},   {"ck", "k", false},
    {"c", "k", false},    {"k", "c", false},    {"tz", "ts", false}, {"ts", "tz", false},
    {"sch", "sh", false}, {"sh", "sch", false}, {"w", "v", false},   {"v", "w", false},
    {"ai", "ay", false},  {"ei", "ey", false},  {"ey", "ei", false}, {"dj", "j", false},
    {"y", "i", true},     {"i", "y", true},     {"ie", "y", true},   {"ah", "a", true},
    {"a", "ah", true},    {"ll", "l", false},   {"ss", "s", false},  {"tt", "t", false},
    {"nn", "n", false},   {"mm", "m", false},   {"rr", "r", false},  {"x", "ks", false},
    {"ks", "x", false},   {"th", "t", false},   {"al-", "el-", false}, {"el-", "al-", false},
    {"mad", "med", false}, {"med", "mad", false}, {"ou", "o", false}, {"u", "ou", false},
};
#define N_LATIN_RULES (sizeof latin_rules / sizeof latin_rules[0])

const char *gen_latin_variant(gen_arena *a, const char *s, iop_rng *r) {
    size_t n = strlen(s);
    if (n == 0 || n > 200) return s;
    char low[256];
    for (size_t i = 0; i <= n; i++) low[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    /* candidates: (rule, position) */
    uint16_t cand_rule[64], cand_pos[64];
    size_t nc = 0;
    for (size_t ri = 0; ri < N_LATIN_RULES && nc < 64; ri++) {
        size_t fl = strlen(latin_rules[ri].from);
        for (size_t i = 0; i + fl <= n && nc < 64; i++) {
            if (memcmp(low + i, latin_rules[ri].from, fl)) continue;
            if (latin_rules[ri].at_end && i + fl != n) continue;
            if (i == 0 && fl == 1 && n < 4) continue; /* keep short names recognisable */
            cand_rule[nc] = (uint16_t)ri;
            cand_pos[nc++] = (uint16_t)i;
        }
    }
    if (!nc) return s;
    size_t c = iop_rng_below(r, (uint32_t)nc);
    const char *from = latin_rules[cand_rule[c]].from, *to = latin_rules[cand_rule[c]].to;
    size_t pos = cand_pos[c], fl = strlen(from), tl = strlen(to);
    char *o = gen_arena_alloc(a, n - fl + tl + 1);
    if (!o) return s;
    memcpy(o, s, pos);
    memcpy(o + pos, to, tl);
    memcpy(o + pos + tl, s + pos + fl, n - pos - fl + 1);
    if (pos == 0 && s[0] >= 'A' && s[0] <= 'Z' && o[0] >= 'a' && o[0] <= 'z') o[0] = (char)(o[0] - 32);
    return o;
}

char *gen_fold_diacritics(gen_arena *a, const char *s, bool spell_out) {
    uint32_t cp[256];
    size_t n = gen_utf8_decode(s, cp, 256);
    char out[1024];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 8 < sizeof out; i++) {
        uint32_t c = cp[i], lc = cp_lower(c);
        bool up = lc != c;
        const char *t = NULL;
        char one[2] = {0, 0};
        switch (lc) {
        case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0x101: case 0x103: case 0x105: one[0] = 'a'; break;
        case 0xE4: t = spell_out ? "ae" : "a"; break;
        case 0xE5: t = spell_out ? "aa" : "a"; break;
        case 0xE6: t = "ae"; break;
        case 0xE7: case 0x107: case 0x10D: one[0] = 'c'; break;
        case 0xE8: case 0xE9: case 0xEA: case 0xEB: case 0x113: case 0x117: case 0x119: case 0x11B: one[0] = 'e'; break;
        case 0xEC: case 0xED: case 0xEE: case 0xEF: case 0x12B: case 0x131: one[0] = 'i'; break;
        case 0xF1: case 0x144: case 0x148: one[0] = 'n'; break;
        case 0xF2: case 0xF3: case 0xF4: case 0xF5: case 0x14D: case 0x151: one[0] = 'o'; break;
        case 0xF6: case 0xF8: t = spell_out ? "oe" : "o"; break;
        case 0xF9: case 0xFA: case 0xFB: case 0x16B: case 0x16F: case 0x171: one[0] = 'u'; break;
        case 0xFC: t = spell_out ? "ue" : "u"; break;
        case 0xFD: case 0xFF: one[0] = 'y'; break;
        case 0xDF: t = "ss"; break;
        case 0x11F: one[0] = 'g'; break;
        case 0x142: one[0] = 'l'; break;
        case 0x15B: case 0x15F: case 0x161: one[0] = 's'; break;
        case 0x163: case 0x165: one[0] = 't'; break;
        case 0x17A: case 0x17C: case 0x17E: one[0] = 'z'; break;
        case 0x159: one[0] = 'r'; break;
        case 0x10F: one[0] = 'd'; break;
        default: break;
        }
        if (c == 0x130) { one[0] = 'i'; up = true; }
        if (one[0]) t = one;
        if (t) {
            size_t l = strlen(t);
            for (size_t j = 0; j < l; j++)
                out[k++] = (char)(up && j == 0 ? t[j] - 32 : t[j]);
        } else {
            k += utf8_put(out + k, c);
        }
    }
    out[k] = 0;
    return gen_arena_strdup(a, out);
}

/* ------------------------------------------------------------------ errors */

static const char *const kbd_near[26] = {
    "qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko", "huikmn",
    "jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz", "rfgy",
    "yhji", "cfgb", "qase", "zsdc", "tghu", "asx"};

const char *gen_typo(gen_arena *a, const char *s, iop_rng *r) {
    uint32_t cp[130];
    size_t n = gen_utf8_decode(s, cp, 128);
    if (n < 2) return s;
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t w[130];
        memcpy(w, cp, n * sizeof *cp);
        size_t m = n;
        size_t pos = 1 + iop_rng_below(r, (uint32_t)(n - 1)); /* the first letter is rarely wrong */
        switch (iop_rng_below(r, 4)) {
        case 0: { /* substitute */
            uint32_t c = cp_lower(w[pos]);
            uint32_t nc;
            if (c >= 'a' && c <= 'z') {
                const char *nb = kbd_near[c - 'a'];
                nc = (uint32_t)nb[iop_rng_below(r, (uint32_t)strlen(nb))];
            } else {
                nc = cp_lower(cp[iop_rng_below(r, (uint32_t)n)]);
            }
            if (cp_upper(w[pos]) == w[pos] && cp_lower(w[pos]) != w[pos]) nc = cp_upper(nc);
            w[pos] = nc;
            break;
        }
        case 1: /* insert: a doubled letter */
            memmove(w + pos + 1, w + pos, (m - pos) * sizeof *w);
            w[pos] = w[pos + 1];
            m++;
            break;
        case 2: /* delete */
            if (m < 3) continue;
            memmove(w + pos, w + pos + 1, (m - pos - 1) * sizeof *w);
            m--;
            break;
        default: /* transpose with the next letter */
            if (pos + 1 >= m) continue;
            { uint32_t t = w[pos]; w[pos] = w[pos + 1]; w[pos + 1] = t; }
            break;
        }
        bool same = m == n;
        for (size_t i = 0; same && i < m; i++) same = w[i] == cp[i];
        bool bad = false;
        for (size_t i = 0; i < m; i++) bad |= word_sep(w[i]) && (i == 0 || i + 1 == m);
        if (!same && !bad) return gen_utf8_encode(a, w, m);
    }
    return s;
}

const char *gen_ocr(gen_arena *a, const char *s, iop_rng *r) {
    static const char pairs[][2] = {{'0', 'O'}, {'1', 'I'}, {'5', 'S'}, {'8', 'B'}, {'2', 'Z'}, {'6', 'G'}};
    size_t n = strlen(s), cand[64], nc = 0;
    for (size_t i = 0; i < n && nc < 64; i++)
        for (size_t j = 0; j < 6; j++)
            if (s[i] == pairs[j][0] || s[i] == pairs[j][1]) { cand[nc++] = i; break; }
    if (!nc) return s;
    size_t i = cand[iop_rng_below(r, (uint32_t)nc)];
    char *o = gen_arena_strdup(a, s);
    if (!o) return s;
    for (size_t j = 0; j < 6; j++) {
        if (o[i] == pairs[j][0]) { o[i] = pairs[j][1]; break; }
        if (o[i] == pairs[j][1]) { o[i] = pairs[j][0]; break; }
    }
    return o;
}
