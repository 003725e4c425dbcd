/*
 * japanese.c -- Japanese readings of names written in kanji.  A Japanese name in kanji
 * (荒木, 唐橋, 村上志保美) is read in Japanese (Araki, Karahashi, Murakami Shihomi), not
 * by the characters' Chinese readings (huangmu, tangqiao) that ICU's Han-Latin and the
 * learned model give; the Latin form of such a person is the Hepburn romanisation of
 * the Japanese reading.  The readings come from the person-name dictionary of the IPA
 * dictionary for MeCab (Debian package mecab-ipadic, Noun.name.csv: surnames and given
 * names with their katakana reading and pronunciation, EUC-JP), romanised by ICU's
 * Katakana-Latin transliterator (Hepburn) and Latin-ASCII (macrons dropped, as in the
 * plain spellings of passports).  A name of kanji is looked up whole, else as a surname
 * followed by a given name (the split with the lowest dictionary cost).
 */
#include <iconv.h>
#include <string.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>
#include <utf8proc.h>
#include "names/names_int.h"

#define JA_MAX_CHARS 8  /* kanji of one name piece looked up */
#define JA_READ_CAP 40  /* bytes of one romanised reading */

typedef struct ja_ent {
    uint32_t surf_off;            /* folded surface (UTF-8) in the pool */
    char rd[2][JA_READ_CAP];      /* distinct romanisations, most frequent (lowest cost) first */
    int cost[2];
    uint8_t kind;                 /* 1 surname, 2 given name */
} ja_ent;

struct names_ja {
    ja_ent *ent;
    size_t n, cap;
    uint32_t *tab; /* open addressing: entry index + 1, 0 empty */
    size_t tab_cap;
    iop_buf pool;
};

size_t names_ja_count(const names_ja *ja) { return ja ? ja->n : 0; }

void names_ja_free(names_ja *ja) {
    if (!ja) return;
    free(ja->ent);
    free(ja->tab);
    iop_buf_free(&ja->pool);
    free(ja);
}

static long ja_find(const names_ja *ja, const char *s, size_t len) {
    if (!ja->tab_cap) return -1;
    size_t mask = ja->tab_cap - 1, h = (size_t)nm_hash(s, len, 11) & mask;
    while (ja->tab[h]) {
        const ja_ent *e = &ja->ent[ja->tab[h] - 1];
        const char *t = ja->pool.data + e->surf_off;
        if (strlen(t) == len && !memcmp(t, s, len)) return (long)(ja->tab[h] - 1);
        h = (h + 1) & mask;
    }
    return -1;
}

static int ja_rehash(names_ja *ja, size_t cap) {
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < ja->n; i++) {
        const char *s = ja->pool.data + ja->ent[i].surf_off;
        size_t h = (size_t)nm_hash(s, strlen(s), 11) & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = (uint32_t)i + 1;
    }
    free(ja->tab);
    ja->tab = t;
    ja->tab_cap = cap;
    return 0;
}

/* adds one reading of surface; -1 on ENOMEM */
static int ja_add(names_ja *ja, const char *surf, size_t sl, const char *rd, int cost, uint8_t kind) {
    long k = ja_find(ja, surf, sl);
    if (k < 0) {
        if ((ja->n + 1) * 2 > ja->tab_cap && ja_rehash(ja, ja->tab_cap ? ja->tab_cap * 2 : 8192)) return -1;
        if (ja->n == ja->cap) {
            size_t nc = ja->cap ? ja->cap * 2 : 4096;
            ja_ent *e = realloc(ja->ent, nc * sizeof *e);
            if (!e) return -1;
            ja->ent = e;
            ja->cap = nc;
        }
        ja_ent *e = &ja->ent[ja->n];
        memset(e, 0, sizeof *e);
        e->surf_off = (uint32_t)ja->pool.len;
        if (iop_buf_append(&ja->pool, surf, sl) || iop_buf_append(&ja->pool, "", 1)) return -1;
        e->cost[0] = e->cost[1] = INT32_MAX;
        size_t h = (size_t)nm_hash(surf, sl, 11) & (ja->tab_cap - 1);
        while (ja->tab[h]) h = (h + 1) & (ja->tab_cap - 1);
        ja->tab[h] = (uint32_t)ja->n + 1;
        k = (long)ja->n++;
    }
    ja_ent *e = &ja->ent[k];
    e->kind |= kind;
    for (int i = 0; i < 2; i++)
        if (e->rd[i][0] && !strcmp(e->rd[i], rd)) {
            if (cost < e->cost[i]) e->cost[i] = cost;
            if (i == 1 && e->cost[1] < e->cost[0]) {
                char t[JA_READ_CAP];
                memcpy(t, e->rd[0], sizeof t);
                memcpy(e->rd[0], e->rd[1], sizeof t);
                memcpy(e->rd[1], t, sizeof t);
                int c = e->cost[0]; e->cost[0] = e->cost[1]; e->cost[1] = c;
            }
            return 0;
        }
    int slot = !e->rd[0][0] || cost < e->cost[0] ? 0 : (!e->rd[1][0] || cost < e->cost[1]) ? 1 : -1;
    if (slot < 0) return 0;
    if (slot == 0) { memcpy(e->rd[1], e->rd[0], JA_READ_CAP); e->cost[1] = e->cost[0]; }
    snprintf(e->rd[slot], JA_READ_CAP, "%s", rd);
    e->cost[slot] = cost;
    return 0;
}

/* katakana (UTF-8) -> lower-case ASCII letters through ICU; false when nothing is left */
static bool romanise(UTransliterator *tr, const char *kana, size_t len, char *out, size_t cap) {
    UChar u[128];
    int32_t ul = 0;
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(u, 128, &ul, kana, (int32_t)len, &st);
    if (U_FAILURE(st) || ul <= 0 || ul >= 64) return false;
    int32_t limit = ul;
    utrans_transUChars(tr, u, &ul, 128, 0, &limit, &st);
    if (U_FAILURE(st)) return false;
    size_t k = 0;
    for (int32_t i = 0; i < ul && k + 1 < cap; i++) {
        UChar c = u[i];
        if (c >= 'A' && c <= 'Z') c = (UChar)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') out[k++] = (char)c;
        else if (c > 0x7F) return false; /* a character Katakana-Latin did not read */
    }
    out[k] = 0;
    return k > 0;
}

/* the n-th comma-separated field of line (no quoting in this dictionary) */
static const char *field(const char *line, int n, size_t *len) {
    const char *p = line;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ',');
        if (!p) return NULL;
        p++;
    }
    const char *e = strchr(p, ',');
    *len = e ? (size_t)(e - p) : strlen(p);
    return p;
}

iop_code names_ja_load(const char *path, names_ja **out, iop_err *err) {
    *out = NULL;
    char *raw;
    size_t rawlen;
    iop_code rc = iop_read_file(path, &raw, &rawlen, err);
    if (rc) return rc;
    /* the dictionary is EUC-JP: converted to UTF-8 in one pass */
    iconv_t cd = iconv_open("UTF-8", "EUC-JP");
    if (cd == (iconv_t)-1) { free(raw); return iop_fail(err, IOP_EIO, "%s: no EUC-JP converter (iconv)", path); }
    size_t cap = rawlen * 2 + 16, inleft = rawlen, outleft = cap;
    char *utf = malloc(cap), *in = raw, *o = utf;
    if (!utf) { iconv_close(cd); free(raw); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    size_t r = iconv(cd, &in, &inleft, &o, &outleft);
    iconv_close(cd);
    if (r == (size_t)-1) {
        size_t at = (size_t)(in - raw);
        free(raw);
        free(utf);
        return iop_fail(err, IOP_EINVAL, "%s: byte %zu: not EUC-JP text (a MeCab IPA dictionary CSV is expected)", path, at);
    }
    free(raw);
    *o = 0;
    UErrorCode st = U_ZERO_ERROR;
    static const UChar id[] = {'K','a','t','a','k','a','n','a','-','L','a','t','i','n',';',' ',
                               'L','a','t','i','n','-','A','S','C','I','I',0};
    UTransliterator *tr = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &st);
    if (U_FAILURE(st) || !tr) { free(utf); return iop_fail(err, IOP_EIO, "ICU Katakana-Latin: %s", u_errorName(st)); }
    names_ja *ja = calloc(1, sizeof *ja);
    if (!ja) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    else iop_buf_init(&ja->pool);
    size_t lineno = 0;
    char *next = utf;
    while (!rc && next && *next) {
        char *line = next, *nl = strchr(line, '\n');
        if (nl) { *nl = 0; next = nl + 1; } else next = NULL;
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (!ll) continue;
        size_t sl = 0, cl = 0, pl = 0, kl = 0, rl = 0, ql = 0;
        const char *surf = field(line, 0, &sl), *cost = field(line, 3, &cl), *pos = field(line, 6, &pl),
                   *kind = field(line, 7, &kl), *rd = field(line, 11, &rl), *pron = field(line, 12, &ql);
        if (!surf || !cost || !pos || !kind || !rd || !pron || !sl || !cl) {
            rc = iop_fail(err, IOP_EINVAL, "%s:%zu: expected 13 comma-separated fields (MeCab IPA dictionary)", path, lineno);
            break;
        }
        if (pl != strlen("人名") || memcmp(pos, "人名", pl)) continue; /* person names only */
        uint8_t k = kl == strlen("姓") && !memcmp(kind, "姓", kl) ? 1 : kl == strlen("名") && !memcmp(kind, "名", kl) ? 2 : 3;
        char *end;
        long c = strtol(cost, &end, 10);
        if (end != cost + cl) { rc = iop_fail(err, IOP_EINVAL, "%s:%zu: bad cost '%.*s'", path, lineno, (int)cl, cost); break; }
        char *f = nm_fold(surf, sl);
        if (!f) { rc = iop_fail(err, IOP_EINVAL, "%s:%zu: surface is not valid text", path, lineno); break; }
        const char *src[2] = {rd, pron};
        size_t srl[2] = {rl, ql};
        for (int s = 0; s < 2 && !rc; s++) {
            if (s == 1 && ql == rl && !memcmp(pron, rd, rl)) break; /* pronounced as written */
            char lat[JA_READ_CAP];
            if (srl[s] && romanise(tr, src[s], srl[s], lat, sizeof lat) && ja_add(ja, f, strlen(f), lat, (int)c, k))
                rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        }
        free(f);
    }
    utrans_close(tr);
    free(utf);
    if (!rc && ja && !ja->n) rc = iop_fail(err, IOP_EINVAL, "%s: no person name (人名) entry", path);
    if (rc) { names_ja_free(ja); return rc; }
    *out = ja;
    return IOP_OK;
}

static bool is_kanji(int32_t c) {
    return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x3FFFF) || c == 0x3005 /* 々 */;
}

size_t nm_ja_readings(const names_ja *ja, const char *s, size_t len, char (*out)[NM_JA_READ]) {
    if (!ja || !len) return 0;
    size_t cut[JA_MAX_CHARS + 1], n = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0 || !is_kanji(c) || n == JA_MAX_CHARS) return 0;
        cut[n++] = i;
        i += (size_t)k;
    }
    cut[n] = len;
    long w = ja_find(ja, s, len);
    if (w >= 0) {
        size_t m = 0;
        for (int r = 0; r < 2; r++)
            if (ja->ent[w].rd[r][0]) snprintf(out[m++], NM_JA_READ, "%s", ja->ent[w].rd[r]);
        return m;
    }
    /* surname + given name: the split with the lowest summed cost */
    long best = -1, bl = -1, br = -1;
    for (size_t k = 1; k < n; k++) {
        long a = ja_find(ja, s, cut[k]), b = a >= 0 ? ja_find(ja, s + cut[k], len - cut[k]) : -1;
        if (a < 0 || b < 0 || !(ja->ent[a].kind & 1) || !(ja->ent[b].kind & 2)) continue;
        long cost = (long)ja->ent[a].cost[0] + ja->ent[b].cost[0];
        if (best < 0 || cost < best) { best = cost; bl = a; br = b; }
    }
    if (best < 0) return 0;
    snprintf(out[0], NM_JA_READ, "%s %s", ja->ent[bl].rd[0], ja->ent[br].rd[0]);
    return 1;
}

void names_engine_set_ja(names_engine *eng, const names_ja *ja) {
    if (eng->ja_owned) names_ja_free((names_ja *)eng->ja);
    eng->ja = ja;
    eng->ja_owned = false;
}

iop_code names_engine_load_ja(names_engine *eng, const char *path, iop_err *err) {
    names_ja *ja;
    iop_code rc = names_ja_load(path, &ja, err);
    if (rc) return rc;
    names_engine_set_ja(eng, ja);
    eng->ja_owned = true;
    return IOP_OK;
}

const names_ja *names_engine_ja(const names_engine *eng) { return eng->ja; }
