/*
 * gen_names.c -- the name pools of the population generator, read in place from the
 * shared data directory:
 *   febrl/dataset*.csv            Anglo given names and surnames (original records only:
 *                                 the FEBRL duplicates carry FEBRL's own corruptions)
 *   names/nicknames.csv           hypocorisms of English given names
 *   names/wikidata_russian_dev.tsv  Cyrillic surnames with their Wikidata Latin form
 *                                 (only the entries with a Slavic surname ending; the
 *                                 file also holds foreign names written in Cyrillic)
 *   names/google_ar2en_train.txt  Arabic-script names with their English spellings,
 *   names/wikidata_arabic_dev.tsv merged by the Arabic form (several spellings per name)
 *   names/wikidata_hebrew_dev.tsv Hebrew names with a Latin form; frequent entries
 *                                 (Wikidata count >= 10) are taken as given names
 * plus the built-in common given names of gen_tables.c.  A missing or malformed file is
 * an error naming the file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "gen/gen_internal.h"

/* ---- a string -> index map used while loading ---- */
typedef struct smap {
    const char **key;
    size_t *val;
    size_t cap, n;
} smap;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool smap_init(smap *m, size_t cap) {
    m->cap = cap;
    m->n = 0;
    m->key = calloc(cap, sizeof *m->key);
    m->val = calloc(cap, sizeof *m->val);
    return m->key && m->val;
}
static void smap_free(smap *m) { free(m->key); free(m->val); }
/* Returns the slot of key (found or empty). */
static size_t smap_slot(const smap *m, const char *key) {
    size_t i = fnv(key) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}
static bool smap_get(const smap *m, const char *key, size_t *val) {
    size_t i = smap_slot(m, key);
    if (!m->key[i]) return false;
    *val = m->val[i];
    return true;
}
static bool smap_put(smap *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) return false; /* sized generously by the caller */
    size_t i = smap_slot(m, key);
    if (!m->key[i]) m->n++;
    m->key[i] = key;
    m->val[i] = val;
    return true;
}

/* ---- line reading ---- */
typedef struct lines {
    char *data, *p;
    size_t line;
    char path[1024];
} lines;

static iop_code lines_open(lines *l, const char *dir, const char *name, iop_err *err) {
    snprintf(l->path, sizeof l->path, "%s/%s", dir, name);
    size_t len;
    iop_code rc = iop_read_file(l->path, &l->data, &len, err);
    if (rc) {
        iop_err_prefix(err, "name data");
        return rc;
    }
    l->p = l->data;
    l->line = 0;
    return IOP_OK;
}
/* Next line (newline stripped, NUL-terminated in place) or NULL at the end. */
static char *lines_next(lines *l) {
    if (!*l->p) return NULL;
    char *s = l->p, *e = strchr(s, '\n');
    if (e) { *e = 0; l->p = e + 1; }
    else l->p = s + strlen(s);
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r') s[n - 1] = 0;
    l->line++;
    return s;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* Joins "к р а в и ц" -> "кравиц". */
static char *join_chars(gen_arena *a, const char *s) {
    size_t n = strlen(s);
    char *o = gen_arena_alloc(a, n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ') o[k++] = s[i];
    o[k] = 0;
    return o;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

static bool latin_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 2 || n > 40) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x80 && !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '\''))
            return false;
    return true;
}

/* ---- FEBRL ---- */
static iop_code load_febrl(gen_names *n, const char *dir, smap *seen_g, smap *seen_s, iop_err *err) {
    static const char *const files[] = {"febrl/dataset1.csv", "febrl/dataset2.csv", "febrl/dataset3.csv",
                                        "febrl/dataset4a.csv", "febrl/dataset4b.csv"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        lines l;
        iop_code rc = lines_open(&l, dir, files[f], err);
        if (rc) return rc;
        char *s;
        while ((s = lines_next(&l))) {
            if (l.line == 1) {
                if (!strstr(s, "given_name") || !strstr(s, "surname")) {
                    free(l.data);
                    return iop_fail(err, IOP_EINVAL, "%s:1: expected a FEBRL header with given_name and surname", l.path);
                }
                continue;
            }
            if (!*s) continue;
            char *fld[4] = {0};
            int k = 0;
            char *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && k < 4; t = strtok_r(NULL, ",", &save)) fld[k++] = trim(t);
            if (k < 3) {
                free(l.data);
                return iop_fail(err, IOP_EINVAL, "%s:%zu: expected at least 3 comma-separated fields", l.path, l.line);
            }
            if (!strstr(fld[0], "-org")) continue;
            for (int w = 1; w <= 2; w++) {
                if (!latin_name_ok(fld[w])) continue;
                smap *seen = w == 1 ? seen_g : seen_s;
                size_t dummy;
                if (smap_get(seen, fld[w], &dummy)) continue;
                char *lat = gen_capitalise(&n->strings, fld[w]);
                char *key = gen_arena_strdup(&n->strings, fld[w]);
                if (!lat || !key || !smap_put(seen, key, 0)) continue;
                if (w == 1) {
                    gen_pool_add(&n->given_m[CUL_ANGLO], &n->strings, NULL, 'U', lat, NULL);
                    gen_pool_add(&n->given_f[CUL_ANGLO], &n->strings, NULL, 'U', lat, NULL);
                } else {
                    gen_pool_add(&n->surnames[CUL_ANGLO], &n->strings, NULL, 'U', lat, NULL);
                }
            }
        }
        free(l.data);
    }
    return IOP_OK;
}

/* ---- nicknames ---- */
static int nick_cmp(const void *a, const void *b) {
    const struct gen_nick *x = a, *y = b;
    int c = strcmp(x->formal, y->formal);
    return c ? c : strcmp(x->nick, y->nick);
}

static iop_code load_nicknames(gen_names *n, const char *dir, iop_err *err) {
    lines l;
    iop_code rc = lines_open(&l, dir, "names/nicknames.csv", err);
    if (rc) return rc;
    size_t cap = 4096;
    n->nicks = malloc(cap * sizeof *n->nicks);
    if (!n->nicks) { free(l.data); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    char *s;
    while ((s = lines_next(&l))) {
        if (l.line == 1 || !*s) continue;
        char *c1 = strchr(s, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2) {
            free(l.data);
            return iop_fail(err, IOP_EINVAL, "%s:%zu: expected name1,relationship,name2", l.path, l.line);
        }
        *c1 = *c2 = 0;
        if (strcmp(c1 + 1, "has_nickname")) continue;
        if (n->n_nicks == cap) {
            cap *= 2;
            void *nv = realloc(n->nicks, cap * sizeof *n->nicks);
            if (!nv) { free(l.data); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
            n->nicks = nv;
        }
        n->nicks[n->n_nicks].formal = gen_arena_strdup(&n->strings, trim(s));
        n->nicks[n->n_nicks].nick = gen_arena_strdup(&n->strings, trim(c2 + 1));
        n->n_nicks++;
    }
    free(l.data);
    qsort(n->nicks, n->n_nicks, sizeof *n->nicks, nick_cmp);
    return IOP_OK;
}

const char *gen_names_nickname(const gen_names *n, const char *formal, iop_rng *r) {
    char low[64];
    size_t k = 0;
    for (; formal[k] && k + 1 < sizeof low; k++)
        low[k] = (formal[k] >= 'A' && formal[k] <= 'Z') ? (char)(formal[k] + 32) : formal[k];
    low[k] = 0;
    size_t lo = 0, hi = n->n_nicks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(n->nicks[mid].formal, low) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t e = lo;
    while (e < n->n_nicks && !strcmp(n->nicks[e].formal, low)) e++;
    if (e == lo) return NULL;
    return n->nicks[lo + iop_rng_below(r, (uint32_t)(e - lo))].nick;
}

/* ---- Wikidata pairs: latin<TAB>native chars<TAB>count ---- */
typedef iop_code (*pair_fn)(gen_names *n, const char *latin, const char *native, long count, void *ctx);

static iop_code load_pairs(gen_names *n, const char *dir, const char *file, pair_fn fn, void *ctx, iop_err *err) {
    lines l;
    iop_code rc = lines_open(&l, dir, file, err);
    if (rc) return rc;
    char *s;
    while ((s = lines_next(&l))) {
        if (!*s) continue;
        char *t1 = strchr(s, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1) {
            free(l.data);
            return iop_fail(err, IOP_EINVAL, "%s:%zu: expected latin<TAB>native[<TAB>count]", l.path, l.line);
        }
        *t1 = 0;
        long count = 1;
        if (t2) { *t2 = 0; count = strtol(t2 + 1, NULL, 10); }
        char *native = join_chars(&n->strings, t1 + 1);
        if (!native) { free(l.data); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
        if ((rc = fn(n, s, native, count, ctx))) {
            iop_err_prefix(err, "%s:%zu", l.path, l.line);
            free(l.data);
            return rc;
        }
    }
    free(l.data);
    return IOP_OK;
}

/* Russian: Slavic surnames, stored in the masculine form. */
static iop_code add_russian(gen_names *n, const char *latin, const char *native, long count, void *ctx) {
    smap *seen = ctx;
    static const char *const endings[] = {"ov", "ev", "ova", "eva", "sky", "skiy", "skii", "enko", "chuk", "vich", "ovich"};
    bool slavic = false;
    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) slavic |= ends_with(latin, endings[i]);
    if (!slavic || !latin_name_ok(latin) || strlen(native) < 6) return IOP_OK;
    /* feminine entries (-ова, -ева, -ская) back to the masculine form; the data is in
     * lower case, documents write names with a capital */
    char *masc = gen_capitalise(&n->strings, native);
    const char *lat = latin;
    size_t nl = strlen(masc);
    if (ends_with(masc, "ская")) {
        strcpy(masc + nl - strlen("ская"), "ский");
        lat = NULL;
    } else if (ends_with(masc, "ова") || ends_with(masc, "ева") || ends_with(masc, "ёва")) {
        masc[nl - strlen("а")] = 0;
        lat = NULL;
    }
    size_t dummy;
    if (smap_get(seen, masc, &dummy)) return IOP_OK;
    if (!smap_put(seen, masc, 0)) return IOP_OK;
    gen_pool_add(&n->surnames[CUL_SLAVIC], &n->strings, masc, 'U', lat ? gen_capitalise(&n->strings, lat) : NULL, NULL);
    (void)count;
    return IOP_OK;
}

/* Arabic: merged by the Arabic form; each entry collects its spellings. */
static void add_spelling(gen_name *g, const char *lat) {
    for (size_t i = 0; i < g->n_latin; i++)
        if (!strcasecmp(g->latin[i], lat)) return;
    if (g->n_latin < GEN_MAX_SPELLINGS) g->latin[g->n_latin++] = lat;
}

static iop_code add_arabic(gen_names *n, const char *latin, const char *native, long count, void *ctx) {
    smap *idx = ctx;
    (void)count;
    if (!latin_name_ok(latin) || strlen(latin) < 3) return IOP_OK;
    for (const char *q = latin; *q; q++)
        if ((unsigned char)*q >= 0x80) return IOP_OK; /* English spellings only */
    const char *lat = gen_capitalise(&n->strings, latin);
    size_t i;
    if (smap_get(idx, native, &i)) {
        add_spelling(&n->surnames[CUL_ARABIC].v[i], lat);
        return IOP_OK;
    }
    if (!smap_put(idx, native, n->surnames[CUL_ARABIC].n)) return IOP_OK;
    gen_pool_add(&n->surnames[CUL_ARABIC], &n->strings, native, 'U', lat, NULL);
    return IOP_OK;
}

static iop_code add_hebrew(gen_names *n, const char *latin, const char *native, long count, void *ctx) {
    smap *seen = ctx;
    if (!latin_name_ok(latin) || strlen(latin) < 3) return IOP_OK;
    size_t dummy;
    if (smap_get(seen, native, &dummy) || !smap_put(seen, native, 0)) return IOP_OK;
    const char *lat = gen_capitalise(&n->strings, latin);
    if (count >= 10) {
        gen_pool_add(&n->given_m[CUL_HEBREW], &n->strings, native, 'U', lat, NULL);
        gen_pool_add(&n->given_f[CUL_HEBREW], &n->strings, native, 'U', lat, NULL);
    } else {
        gen_pool_add(&n->surnames[CUL_HEBREW], &n->strings, native, 'U', lat, NULL);
    }
    return IOP_OK;
}

/* google_ar2en: arabic<TAB>english */
static iop_code load_ar2en(gen_names *n, const char *dir, smap *idx, iop_err *err) {
    lines l;
    iop_code rc = lines_open(&l, dir, "names/google_ar2en_train.txt", err);
    if (rc) return rc;
    char *s;
    while ((s = lines_next(&l))) {
        if (!*s) continue;
        char *t = strchr(s, '\t');
        if (!t) {
            free(l.data);
            return iop_fail(err, IOP_EINVAL, "%s:%zu: expected arabic<TAB>english", l.path, l.line);
        }
        *t = 0;
        char *native = gen_arena_strdup(&n->strings, trim(s));
        /* the English side may list several spellings separated by spaces or commas */
        char *save = NULL;
        for (char *w = strtok_r(t + 1, " ,", &save); w; w = strtok_r(NULL, " ,", &save))
            if ((rc = add_arabic(n, w, native, 1, idx))) { free(l.data); return rc; }
    }
    free(l.data);
    return IOP_OK;
}

iop_code gen_names_load(const char *data_dir, gen_names *out, iop_err *err) {
    memset(out, 0, sizeof *out);
    smap a, b;
    if (!smap_init(&a, 1 << 16) || !smap_init(&b, 1 << 16)) {
        smap_free(&a); smap_free(&b);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    iop_code rc = load_febrl(out, data_dir, &a, &b, err);
    if (!rc) rc = load_nicknames(out, data_dir, err);
    smap_free(&a); smap_free(&b);
    if (!rc) {
        smap m;
        if (!smap_init(&m, 1 << 16)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        if (!rc) rc = load_pairs(out, data_dir, "names/wikidata_russian_dev.tsv", add_russian, &m, err);
        smap_free(&m);
    }
    if (!rc) {
        smap m;
        if (!smap_init(&m, 1 << 16)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        if (!rc) rc = load_ar2en(out, data_dir, &m, err);
        if (!rc) rc = load_pairs(out, data_dir, "names/wikidata_arabic_dev.tsv", add_arabic, &m, err);
        smap_free(&m);
    }
    if (!rc) {
        smap m;
        if (!smap_init(&m, 1 << 16)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        if (!rc) rc = load_pairs(out, data_dir, "names/wikidata_hebrew_dev.tsv", add_hebrew, &m, err);
        smap_free(&m);
    }
    if (!rc) gen_builtin_names(out);
    if (!rc && out->strings.oom) rc = iop_fail(err, IOP_ENOMEM, "out of memory loading the name data");
    for (int c = 0; !rc && c < CUL_COUNT; c++)
        if (!out->surnames[c].n || !out->given_m[c].n || !out->given_f[c].n)
            rc = iop_fail(err, IOP_EINVAL, "name data in %s: no %s names found", data_dir, gen_culture_name(c));
    if (rc) gen_names_free(out);
    return rc;
}

void gen_names_free(gen_names *n) {
    free(n->nicks);
    gen_arena_free(&n->strings);
    memset(n, 0, sizeof *n);
}

const char *gen_culture_name(gen_culture c) {
    static const char *const names[CUL_COUNT] = {"anglo", "slavic", "arabic", "hebrew", "chinese", "turkish"};
    return (unsigned)c < CUL_COUNT ? names[c] : "unknown";
}

const char *gen_culture_script(gen_culture c) {
    static const char *const s[CUL_COUNT] = {"latin", "cyrillic", "arabic", "hebrew", "han", "latin"};
    return (unsigned)c < CUL_COUNT ? s[c] : "latin";
}
