/*
 * index.c -- the in-memory candidate index (blocking) of the names engine.
 *
 * Design: the index never keeps prepared identities.  Per identity it keeps a 24-byte
 * signature (id, a 64-bit bloom of the name's letter pairs, packed date of birth, sex)
 * and a handful of 64-bit blocking keys, each a hash of
 *   surname NYSIIS + birth year, given-name NYSIIS + birth year,
 *   surname NYSIIS + given-name NYSIIS, travel-document number (OCR-folded),
 *   identifier (ssn, national id), consonant skeletons of non-Latin-script tokens.
 * Keys live in log-structured sorted runs (parallel arrays key[] / slot[], 12 bytes a
 * posting) plus a small unsorted pending buffer; runs of similar size are merged as
 * they are added, names_index_optimize() merges all of them into one.  A query probes
 * its own keys with given/surname roles swapped and birth years -1/0/+1/unknown,
 * counts key hits per candidate, ranks candidates by hits, bloom overlap and date
 * agreement, and scores the best ones fully through the caller's store.
 * With a learned transliteration model, the index also keeps the model's units of each
 * native-script identity: a Latin query then ranks every candidate by the model (one
 * look-up table per query, a forward pass per candidate) and scores the best of those
 * fully as well; the Japanese readings of a kanji identity are kept beside its units and
 * meet the query as spelled (Jaro-Winkler on the model's scale).
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include "names/names_int.h"

#define PENDING_MAX 65536
#define KEY_SCAN_CAP 4096    /* postings read per key: a very common key cannot flood a query */
#define CAND_BUDGET NM_CAND_BUDGET
#define FREQUENT_KEY 256
#define MAX_KEYS1 96  /* first-tier keys of a query or a record */
#define MAX_KEYS2 64  /* room for a query's second-tier keys, appended after all others */
#define MAX_KEYS (MAX_KEYS1 + MAX_KEYS2)
#define GATHER2 256   /* second-tier keys gathered before the room is shared out */

typedef struct nm_sig {
    uint64_t id;
    uint64_t bloom;
    uint32_t dob; /* year << 9 | month << 5 | day, 0 unknown */
    uint8_t sex;
    uint8_t alive;
    uint16_t pad;
} nm_sig;

typedef struct run {
    uint64_t *keys;
    uint32_t *slots;
    size_t n;
    uint32_t *dir;  /* dir[b] = first posting whose key's top `bits` bits are >= b; 2^bits + 1 entries */
    unsigned bits;
} run;

typedef struct kpair {
    uint64_t key;
    uint32_t slot;
} kpair;

struct names_index {
    const names_engine *eng;
    names_store store;
    bool has_store;
    nm_sig *sigs;
    size_t n_sigs, cap_sigs, live;
    uint32_t *idmap; /* slot + 1; 0 empty; UINT32_MAX deleted */
    size_t idmap_cap, idmap_used;
    run *runs;
    size_t n_runs, cap_runs;
    kpair *pend;
    size_t n_pend;
    size_t n_learned; /* identities added with learned-romanisation keys (native-script names) */
    /* the learned model's units of native-script identities, for the model-aware
     * pre-ranking of a Latin query's candidates: uoff[slot] is 0 (none) or the offset
     * in upool of [tokens T, then per token: length L, L units]; allocated with the
     * first native-script identity, so Latin-only indexes pay nothing */
    uint32_t *uoff;
    uint32_t *upool;
    size_t n_upool, cap_upool;
    unsigned cls_mask; /* script classes (nm_tl_class) of those units: the query normaliser runs for these */
};

/* a Latin query among native-script records: the candidates best by the learned
 * model (its probability plus a little of the signature ranking) that are scored
 * fully, besides the best by the signature ranking */
#ifndef NM_XSCRIPT_SCORED
#define NM_XSCRIPT_SCORED 32
#endif
#define NM_XSCRIPT_LIGHT 0.05
#define UNIT_TOKS 8 /* native tokens kept per identity */

enum { K_SUR_YEAR = 1, K_GIV_YEAR, K_PAIR, K_DOC, K_XID, K_SKEL, K_SKEL2, K_ANY_YEAR, K_COARSE, K_GIV_DOB, K_CDEL };

static uint64_t mkkey(unsigned type, uint64_t a, uint64_t b) {
    uint64_t v[3] = {type, a, b};
    return nm_hash(v, sizeof v, 3);
}

static uint64_t id_hash(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

/* ---- keys ---- */

typedef struct keyset {
    uint64_t k[MAX_KEYS];
    uint8_t tier[MAX_KEYS]; /* 1: read after every first-tier key while the budget lasts */
    size_t n;
    uint64_t k2[GATHER2]; /* second-tier keys gathered, moved into k[] last */
    uint8_t r2[GATHER2];  /* each one's place among those of its spelling */
    size_t n2;
} keyset;

static void kadd_tier(keyset *ks, uint64_t k, uint8_t tier) {
    for (size_t i = 0; i < ks->n; i++)
        if (ks->k[i] == k) {
            if (tier < ks->tier[i]) ks->tier[i] = tier;
            return;
        }
    if (ks->n < (tier ? MAX_KEYS : MAX_KEYS1)) { ks->tier[ks->n] = tier; ks->k[ks->n++] = k; }
}

static void kadd(keyset *ks, uint64_t k) { kadd_tier(ks, k, 0); }

static uint32_t skel2(const names_ident *id, const nm_tok *t) {
    char buf[NM_MAX_TOK + 1];
    size_t k = 0;
    const char *s = nm_str(id, t->skel_off);
    for (size_t i = 0; i < t->skel_len; i++) {
        char c = s[i];
        if (c == 'R' || c == 'L') continue;
        if (k && buf[k - 1] == c) continue;
        buf[k++] = c;
    }
    return k ? nm_hash32(buf, k) : 0;
}

static uint32_t pack_dob(iop_date d);

/* A Latin query token's canonical spellings under the learned query normaliser, per
 * script class: their skeletons and sound classes meet the native records' keys. */
static void cdel_keys(const char *s, size_t len, keyset *ks, bool two) {
    char co[2 * NM_MAX_TOK + 1];
    uint32_t dh[NM_MAX_TOK + 1];
    size_t col = nm_coarse(s, len, 0, co);
    size_t nd = nm_coarse_dels(co, col, dh);
    for (size_t d = 0; d < nd; d++) kadd(ks, mkkey(K_CDEL, dh[d], 0));
    /* second tier: the code with two classes left out (adjacent equal classes merged, as
     * a code is written), meeting a native record's whole code.  A Chinese transcription
     * drops consonants the Latin spelling writes (Oldfield = 欧菲尔德 ou-fei-er-de,
     * Donaldson = 唐納森): two left out finds those one cannot.  Codes of 5 to 8
     * classes, leaving at least 3 (two-class codes are met by too many records: first
     * fold 0.8848 against 0.8852 with them, at about 12 % less CPU time a search, back
     * to back) */
    if (!two || col < 5 || col > 8) return;
    uint8_t rank = 0;
    for (size_t x = 0; x < col; x++)
        for (size_t y = x + 1; y < col; y++) {
            char b[2 * NM_MAX_TOK + 1];
            size_t k = 0;
            for (size_t i = 0; i < col; i++)
                if (i != x && i != y && !(k && b[k - 1] == co[i])) b[k++] = co[i];
            if (k < 3) continue;
            uint64_t key = mkkey(K_CDEL, nm_coarse_key(b, k), 0);
            bool dup = false;
            for (size_t i = 0; i < ks->n2 && !dup; i++) dup = ks->k2[i] == key;
            if (dup || ks->n2 == GATHER2) continue;
            ks->r2[ks->n2] = rank++;
            ks->k2[ks->n2++] = key;
        }
}

static void normalised_keys(const names_engine *eng, const names_ident *id, const nm_tok *t, unsigned cls_mask,
                            keyset *ks) {
    bool han = (cls_mask & 1u << 3) != 0; /* Han records indexed: second-tier keys too */
    cdel_keys(nm_str(id, t->off), t->len, ks, han);
    for (int cls = 0; cls < 4; cls++) {
        if (!(cls_mask & 1u << cls)) continue;
        char r[3][NM_MAX_TOK + 1];
        size_t nr = nm_tl_normalise(eng->tlm, cls, nm_str(id, t->off), t->len, 3, r);
        for (size_t i = 0; i < nr; i++) {
            size_t rl = strlen(r[i]);
            char sk[NM_MAX_TOK + 1], co[2 * NM_MAX_TOK + 1];
            size_t skl = nm_skeleton(r[i], rl, sk);
            if (skl) kadd(ks, mkkey(K_SKEL, nm_hash32(sk, skl), 0));
            size_t col = nm_coarse(r[i], rl, 0, co);
            if (col) kadd(ks, mkkey(K_COARSE, nm_hash32(co, col), 0));
            if (i == 0) cdel_keys(r[i], rl, ks, cls == 3);
        }
    }
}

/* eng (queries only): when not NULL and it has a model, Latin query tokens also probe
 * their learned canonical spellings for the script classes in cls_mask */
static void gen_keys(const names_engine *eng, const names_ident *id, bool query, unsigned cls_mask, keyset *ks) {
    ks->n = 0;
    ks->n2 = 0;
    int years[4], ny = 0;
    if (id->dob.year) {
        years[ny++] = id->dob.year;
        if (query) { years[ny++] = id->dob.year - 1; years[ny++] = id->dob.year + 1; years[ny++] = 0; }
    } else {
        years[ny++] = 0;
    }
    size_t nv = id->n_vars < 6 ? id->n_vars : 6;
    for (size_t v = 0; v < nv; v++) {
        const nm_variant *var = &id->vars[v];
        const nm_tok *sur[8], *giv[8], *any[8];
        size_t ns = 0, ng = 0, na = 0;
        for (size_t i = 0; i < var->n; i++) {
            const nm_tok *t = &id->toks[var->first + i];
            if (t->flags & NM_TF_PARTICLE || !t->phon) continue;
            if (t->role == NM_ROLE_SURNAME && ns < 8) sur[ns++] = t;
            else if (t->role == NM_ROLE_GIVEN && ng < 8 && !(t->flags & NM_TF_INITIAL)) giv[ng++] = t;
            else if (t->role == NM_ROLE_ANY && na < 8 && !(t->flags & NM_TF_INITIAL)) any[na++] = t;
            if (query && eng && eng->tlm && !(t->flags & NM_TF_NONLATIN) && v == 0) normalised_keys(eng, id, t, cls_mask, ks);
            if (t->skel_len && (query || (t->flags & NM_TF_NONLATIN))) {
                kadd(ks, mkkey(K_SKEL, t->skelh, 0));
                uint32_t s2 = skel2(id, t);
                if (s2) kadd(ks, mkkey(K_SKEL2, s2, 0));
                for (int m = 0; m < 2; m++)
                    if (t->coarse[m]) kadd(ks, mkkey(K_COARSE, t->coarse[m], 0));
            }
        }
        if (ng > 2) ng = 2;
        for (int y = 0; y < ny; y++) {
            for (size_t i = 0; i < ns; i++) {
                kadd(ks, mkkey(K_SUR_YEAR, sur[i]->phon, (uint64_t)years[y]));
                if (query) kadd(ks, mkkey(K_GIV_YEAR, sur[i]->phon, (uint64_t)years[y]));
            }
            for (size_t i = 0; i < ng; i++) {
                kadd(ks, mkkey(K_GIV_YEAR, giv[i]->phon, (uint64_t)years[y]));
                if (query) kadd(ks, mkkey(K_SUR_YEAR, giv[i]->phon, (uint64_t)years[y]));
            }
            for (size_t i = 0; i < na; i++) {
                /* alias tokens: order unknown, so probe and index them in both roles */
                kadd(ks, mkkey(K_SUR_YEAR, any[i]->phon, (uint64_t)years[y]));
                kadd(ks, mkkey(K_GIV_YEAR, any[i]->phon, (uint64_t)years[y]));
            }
        }
        /* given name + full date of birth: survives a surname typo and stays selective */
        if (id->dob.year && id->dob.month && id->dob.day) {
            uint64_t d1 = pack_dob(id->dob);
            uint64_t d2 = pack_dob((iop_date){id->dob.year, id->dob.day, id->dob.month});
            for (size_t i = 0; i < ng; i++) {
                kadd(ks, mkkey(K_GIV_DOB, giv[i]->phon, d1));
                if (query && id->dob.day <= 12) kadd(ks, mkkey(K_GIV_DOB, giv[i]->phon, d2));
            }
            if (query)
                for (size_t i = 0; i < ns; i++) kadd(ks, mkkey(K_GIV_DOB, sur[i]->phon, d1));
        }
        for (size_t i = 0; i < ns; i++)
            for (size_t j = 0; j < ng; j++) {
                kadd(ks, mkkey(K_PAIR, sur[i]->phon, giv[j]->phon));
                if (query) kadd(ks, mkkey(K_PAIR, giv[j]->phon, sur[i]->phon));
            }
        if (na >= 2) {
            kadd(ks, mkkey(K_PAIR, any[na - 1]->phon, any[0]->phon));
            kadd(ks, mkkey(K_PAIR, any[0]->phon, any[na - 1]->phon));
        }
    }
    /* learned romanisations of native-script names (engine with a model) */
    for (size_t i = 0; i < id->n_lkeys; i++)
        kadd(ks, mkkey((id->lkeys[i] >> 32) == NM_LK_SKEL ? K_SKEL : (id->lkeys[i] >> 32) == NM_LK_CDEL ? K_CDEL : K_COARSE,
                       (uint32_t)id->lkeys[i], 0));
    for (size_t i = 0; i < id->n_docs; i++) {
        const char *o = nm_str(id, id->docs[i].ocr_off);
        kadd(ks, mkkey(K_DOC, nm_hash(o, strlen(o), 5), 0));
    }
    for (size_t i = 0; i < id->n_extras; i++) {
        if (!id->extras[i].is_id) continue;
        const char *k = nm_str(id, id->extras[i].kind_off), *v = nm_str(id, id->extras[i].val_off);
        kadd(ks, mkkey(K_XID, nm_hash(k, strlen(k), 6), nm_hash(v, strlen(v), 6)));
    }
    /* the second tier last: it never takes the room of a first-tier key; one that is also
     * a first-tier key stays first-tier; the room is shared out among the spellings (the
     * first key of each, then the second of each, ...), so a later token keeps its share */
    for (unsigned r = 0; r < 28 && ks->n < MAX_KEYS; r++) /* at most C(8, 2) per spelling */
        for (size_t i = 0; i < ks->n2; i++)
            if (ks->r2[i] == r) kadd_tier(ks, ks->k2[i], 1);
}

static uint64_t bloom_of(const names_ident *id) {
    uint64_t b = 0;
    if (!id->n_vars) return 0;
    const nm_variant *v = &id->vars[0];
    for (size_t i = 0; i < v->n; i++) {
        const nm_tok *t = &id->toks[v->first + i];
        const char *s = nm_str(id, t->off);
        for (size_t j = 0; j + 1 < t->len; j++) b |= 1ull << (((unsigned)s[j] * 31u + (unsigned)s[j + 1]) & 63);
        if (t->len == 1) b |= 1ull << ((unsigned)s[0] & 63);
    }
    return b;
}

static uint32_t pack_dob(iop_date d) {
    return d.year ? (uint32_t)d.year << 9 | (uint32_t)d.month << 5 | (uint32_t)d.day : 0;
}

/* ---- id map ---- */

static size_t idmap_find(const names_index *ix, uint64_t id) {
    if (!ix->idmap_cap) return SIZE_MAX;
    size_t mask = ix->idmap_cap - 1, i = (size_t)id_hash(id) & mask;
    for (;;) {
        uint32_t v = ix->idmap[i];
        if (v == 0) return SIZE_MAX;
        if (v != UINT32_MAX && ix->sigs[v - 1].id == id) return i;
        i = (i + 1) & mask;
    }
}

static int idmap_put(names_index *ix, uint64_t id, uint32_t slot) {
    if ((ix->idmap_used + 1) * 10 > ix->idmap_cap * 7) {
        size_t ncap = ix->idmap_cap ? ix->idmap_cap * 2 : 1024;
        uint32_t *m = calloc(ncap, sizeof *m);
        if (!m) return -1;
        size_t used = 0;
        for (size_t i = 0; i < ix->idmap_cap; i++) {
            uint32_t v = ix->idmap[i];
            if (v == 0 || v == UINT32_MAX) continue;
            size_t j = (size_t)id_hash(ix->sigs[v - 1].id) & (ncap - 1);
            while (m[j]) j = (j + 1) & (ncap - 1);
            m[j] = v;
            used++;
        }
        free(ix->idmap);
        ix->idmap = m;
        ix->idmap_cap = ncap;
        ix->idmap_used = used;
    }
    size_t mask = ix->idmap_cap - 1, i = (size_t)id_hash(id) & mask;
    while (ix->idmap[i] && ix->idmap[i] != UINT32_MAX) i = (i + 1) & mask;
    if (ix->idmap[i] == 0) ix->idmap_used++;
    ix->idmap[i] = slot + 1;
    return 0;
}

/* ---- runs ---- */

static int cmp_kpair(const void *a, const void *b) {
    const kpair *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static void run_free(run *r) {
    free(r->keys);
    free(r->slots);
    free(r->dir);
    memset(r, 0, sizeof *r);
}

/* The directory over the top bits of the keys: a lookup reads one bucket of ~4
 * postings instead of binary-searching the whole run (one cache miss, not twenty). */
static int run_dir(run *r) {
    unsigned bits = 1;
    while (bits < 30 && ((size_t)1 << (bits + 2)) < r->n) bits++;
    size_t nb = (size_t)1 << bits;
    free(r->dir);
    r->dir = malloc((nb + 1) * sizeof *r->dir);
    if (!r->dir) return -1;
    r->bits = bits;
    size_t p = 0;
    for (size_t b = 0; b < nb; b++) {
        while (p < r->n && (r->keys[p] >> (64 - bits)) < b) p++;
        r->dir[b] = (uint32_t)p;
    }
    r->dir[nb] = (uint32_t)r->n;
    return 0;
}

/* merges runs a and b into a new run, dropping postings of removed slots */
static int merge_runs(const names_index *ix, const run *a, const run *b, run *out) {
    size_t n = a->n + b->n;
    out->keys = malloc((n ? n : 1) * sizeof *out->keys);
    out->slots = malloc((n ? n : 1) * sizeof *out->slots);
    if (!out->keys || !out->slots) { run_free(out); return -1; }
    size_t i = 0, j = 0, k = 0;
    while (i < a->n || j < b->n) {
        bool take_a = j >= b->n || (i < a->n && (a->keys[i] < b->keys[j] ||
                                                 (a->keys[i] == b->keys[j] && a->slots[i] <= b->slots[j])));
        uint64_t key = take_a ? a->keys[i] : b->keys[j];
        uint32_t slot = take_a ? a->slots[i] : b->slots[j];
        if (take_a) i++; else j++;
        if (!ix->sigs[slot].alive) continue;
        out->keys[k] = key;
        out->slots[k] = slot;
        k++;
    }
    out->n = k;
    out->dir = NULL;
    if (run_dir(out)) { run_free(out); return -1; }
    return 0;
}

static int push_run(names_index *ix, run *r) {
    if (ix->n_runs == ix->cap_runs) {
        size_t nc = ix->cap_runs ? ix->cap_runs * 2 : 8;
        run *nr = realloc(ix->runs, nc * sizeof *nr);
        if (!nr) return -1;
        ix->runs = nr;
        ix->cap_runs = nc;
    }
    ix->runs[ix->n_runs++] = *r;
    while (ix->n_runs >= 2 && ix->runs[ix->n_runs - 2].n <= 2 * ix->runs[ix->n_runs - 1].n) {
        run m;
        if (merge_runs(ix, &ix->runs[ix->n_runs - 2], &ix->runs[ix->n_runs - 1], &m)) return -1;
        run_free(&ix->runs[ix->n_runs - 2]);
        run_free(&ix->runs[ix->n_runs - 1]);
        ix->n_runs--;
        ix->runs[ix->n_runs - 1] = m;
    }
    return 0;
}

static int flush_pending(names_index *ix) {
    if (!ix->n_pend) return 0;
    qsort(ix->pend, ix->n_pend, sizeof *ix->pend, cmp_kpair);
    run r;
    r.n = ix->n_pend;
    r.keys = malloc(r.n * sizeof *r.keys);
    r.slots = malloc(r.n * sizeof *r.slots);
    if (!r.keys || !r.slots) { run_free(&r); return -1; }
    for (size_t i = 0; i < r.n; i++) { r.keys[i] = ix->pend[i].key; r.slots[i] = ix->pend[i].slot; }
    r.dir = NULL;
    if (run_dir(&r)) { run_free(&r); return -1; }
    ix->n_pend = 0;
    if (push_run(ix, &r)) { run_free(&r); return -1; }
    return 0;
}

/* ---- the learned model's units of native-script identities ---- */

/* Appends the units of ident's native-script tokens (each piece once: the variants
 * share them) and points uoff[slot] at them; nothing for an identity without any. */
static int units_put(names_index *ix, uint32_t slot, const names_ident *ident) {
    uint32_t offs[UNIT_TOKS];
    size_t nt = 0, total = 1;
    for (size_t i = 0; i < ident->n_toks && nt < UNIT_TOKS; i++) {
        const nm_tok *t = &ident->toks[i];
        if (!t->nat_len) continue;
        bool dup = false;
        for (size_t j = 0; j < nt && !dup; j++) dup = offs[j] == t->nat_off;
        if (dup) continue;
        offs[nt++] = t->nat_off;
        total += 1 + t->nat_len;
    }
    /* the Japanese readings of a kanji name, as letters marked NM_JA_UNIT: the
     * pre-ranking compares them with the query as spelled */
    const nm_tok *ja[UNIT_TOKS];
    size_t nj = 0;
    for (size_t v = 0; nt && v < ident->n_vars; v++) {
        const nm_variant *var = &ident->vars[v];
        if (!(var->schemes & NM_SCH_JA)) continue;
        for (size_t i = 0; i < var->n && nt + nj < UNIT_TOKS; i++) {
            const nm_tok *t = &ident->toks[var->first + i];
            if (t->nat_len || t->len < 2) continue;
            ja[nj++] = t;
            total += 1 + (t->len < 32 ? t->len : 32u);
        }
    }
    if (!nt) {
        if (ix->uoff) ix->uoff[slot] = 0;
        return 0;
    }
    if (!ix->uoff) {
        ix->uoff = calloc(ix->cap_sigs, sizeof *ix->uoff);
        if (!ix->uoff) return -1;
    }
    if (ix->n_upool + total > UINT32_MAX) return -1;
    if (ix->n_upool + total > ix->cap_upool) {
        size_t nc = ix->cap_upool ? ix->cap_upool * 2 : 4096;
        while (nc < ix->n_upool + total) nc *= 2;
        uint32_t *p = realloc(ix->upool, nc * sizeof *p);
        if (!p) return -1;
        ix->upool = p;
        ix->cap_upool = nc;
    }
    if (!ix->n_upool) ix->upool[ix->n_upool++] = 0; /* offset 0 means none */
    ix->uoff[slot] = (uint32_t)ix->n_upool;
    uint32_t *w = ix->upool + ix->n_upool;
    *w++ = (uint32_t)(nt + nj);
    for (size_t j = 0; j < nt; j++) {
        const nm_tok *t = NULL;
        for (size_t i = 0; i < ident->n_toks && !t; i++)
            if (ident->toks[i].nat_len && ident->toks[i].nat_off == offs[j]) t = &ident->toks[i];
        *w++ = t->nat_len;
        memcpy(w, nm_str(ident, t->nat_off), t->nat_len * sizeof *w); /* the pool holds them unaligned */
        ix->cls_mask |= 1u << nm_tl_class(w[0]);
        w += t->nat_len;
    }
    for (size_t j = 0; j < nj; j++) {
        size_t l = ja[j]->len < 32 ? ja[j]->len : 32;
        *w++ = (uint32_t)l;
        const char *c = nm_str(ident, ja[j]->off);
        for (size_t i = 0; i < l; i++) *w++ = NM_JA_UNIT | (uint8_t)c[i];
    }
    ix->n_upool += total;
    return 0;
}

/* ---- API ---- */

iop_code names_index_new(const names_engine *eng, const names_store *store, names_index **out, iop_err *err) {
    names_index *ix = calloc(1, sizeof *ix);
    if (!ix) return iop_fail(err, IOP_ENOMEM, "out of memory");
    ix->eng = eng;
    if (store && store->get) { ix->store = *store; ix->has_store = true; }
    ix->pend = malloc(PENDING_MAX * sizeof *ix->pend);
    if (!ix->pend) { free(ix); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    *out = ix;
    return IOP_OK;
}

void names_index_free(names_index *ix) {
    if (!ix) return;
    for (size_t i = 0; i < ix->n_runs; i++) run_free(&ix->runs[i]);
    free(ix->runs);
    free(ix->pend);
    free(ix->sigs);
    free(ix->uoff);
    free(ix->upool);
    free(ix->idmap);
    free(ix);
}

iop_code names_index_add(names_index *ix, uint64_t id, const names_ident *ident, iop_err *err) {
    if (idmap_find(ix, id) != SIZE_MAX) return iop_fail(err, IOP_EEXIST, "identity %llu is already indexed", (unsigned long long)id);
    if (ix->n_sigs >= UINT32_MAX - 1) return iop_fail(err, IOP_ELIMIT, "index full (%zu identities)", ix->n_sigs);
    if (ix->n_sigs == ix->cap_sigs) {
        size_t nc = ix->cap_sigs ? ix->cap_sigs + ix->cap_sigs / 2 : 1024;
        nm_sig *s = realloc(ix->sigs, nc * sizeof *s);
        if (!s) return iop_fail(err, IOP_ENOMEM, "out of memory");
        ix->sigs = s;
        if (ix->uoff) {
            uint32_t *u = realloc(ix->uoff, nc * sizeof *u);
            if (!u) return iop_fail(err, IOP_ENOMEM, "out of memory");
            memset(u + ix->cap_sigs, 0, (nc - ix->cap_sigs) * sizeof *u);
            ix->uoff = u;
        }
        ix->cap_sigs = nc;
    }
    uint32_t slot = (uint32_t)ix->n_sigs;
    if (units_put(ix, slot, ident)) return iop_fail(err, IOP_ENOMEM, "out of memory");
    nm_sig *sg = &ix->sigs[slot];
    sg->id = id;
    sg->bloom = bloom_of(ident);
    sg->dob = pack_dob(ident->dob);
    sg->sex = (uint8_t)ident->sex;
    sg->alive = 1;
    sg->pad = 0;
    ix->n_sigs++;
    if (idmap_put(ix, id, slot)) { ix->n_sigs--; return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    keyset ks;
    gen_keys(NULL, ident, false, 0, &ks);
    if (ident->n_lkeys) ix->n_learned++;
    if (ix->n_pend + ks.n > PENDING_MAX && flush_pending(ix)) return iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t i = 0; i < ks.n; i++) {
        ix->pend[ix->n_pend].key = ks.k[i];
        ix->pend[ix->n_pend].slot = slot;
        ix->n_pend++;
    }
    ix->live++;
    return IOP_OK;
}

iop_code names_index_remove(names_index *ix, uint64_t id) {
    size_t i = idmap_find(ix, id);
    if (i == SIZE_MAX) return IOP_ENOTFOUND;
    ix->sigs[ix->idmap[i] - 1].alive = 0;
    ix->idmap[i] = UINT32_MAX;
    ix->live--;
    return IOP_OK;
}

iop_code names_index_optimize(names_index *ix, iop_err *err) {
    if (flush_pending(ix)) return iop_fail(err, IOP_ENOMEM, "out of memory");
    while (ix->n_runs >= 2) {
        run m;
        if (merge_runs(ix, &ix->runs[ix->n_runs - 2], &ix->runs[ix->n_runs - 1], &m))
            return iop_fail(err, IOP_ENOMEM, "out of memory");
        run_free(&ix->runs[ix->n_runs - 2]);
        run_free(&ix->runs[ix->n_runs - 1]);
        ix->n_runs--;
        ix->runs[ix->n_runs - 1] = m;
    }
    if (ix->n_runs == 1) { /* drop removed postings */
        run m, empty = {0};
        if (merge_runs(ix, &ix->runs[0], &empty, &m)) return iop_fail(err, IOP_ENOMEM, "out of memory");
        run_free(&ix->runs[0]);
        ix->runs[0] = m;
    }
    return IOP_OK;
}

size_t names_index_count(const names_index *ix) { return ix->live; }

/* ---- persistence ---- */

#define IX_MAGIC "IOPNAMIX"
#define IX_VERSION 8u /* bump when the blocking keys, the signature or the native units change (8: the end-of-word unit of Han words; 7: Han character markers) */
#define IX_LEARNED 1u /* header flags (pad): learned-romanisation keys present */
#define IX_UNITS 2u   /* the native-script units follow the postings */

typedef struct ix_header {
    char magic[8];
    uint32_t version, pad;
    uint64_t n_sigs, live, n_post, check;
} ix_header;

static uint64_t ix_check(const ix_header *h) {
    uint64_t v[4] = {h->version, h->n_sigs, h->live, h->n_post};
    return nm_hash(v, sizeof v, 99);
}

iop_code names_index_save(names_index *ix, const char *path, iop_err *err) {
    iop_code rc = names_index_optimize(ix, err);
    if (rc) return rc;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return iop_fail(err, IOP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    ix_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, IX_MAGIC, 8);
    h.version = IX_VERSION;
    h.pad = (ix->n_learned ? IX_LEARNED : 0u) | (ix->upool ? IX_UNITS : 0u);
    h.n_sigs = ix->n_sigs;
    h.live = ix->live;
    h.n_post = ix->n_runs ? ix->runs[0].n : 0;
    h.check = ix_check(&h);
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 && (!h.n_sigs || fwrite(ix->sigs, sizeof(nm_sig), h.n_sigs, f) == h.n_sigs);
    if (ok && h.n_post)
        ok = fwrite(ix->runs[0].keys, sizeof(uint64_t), h.n_post, f) == h.n_post &&
             fwrite(ix->runs[0].slots, sizeof(uint32_t), h.n_post, f) == h.n_post;
    if (ok && (h.pad & IX_UNITS)) { /* units: their count, one offset per signature, the pool */
        uint64_t nu = ix->n_upool;
        ok = fwrite(&nu, sizeof nu, 1, f) == 1 && (!h.n_sigs || fwrite(ix->uoff, sizeof(uint32_t), h.n_sigs, f) == h.n_sigs) &&
             fwrite(ix->upool, sizeof(uint32_t), nu, f) == nu;
    }
    if (fclose(f) != 0) ok = false;
    if (!ok) { remove(tmp); return iop_fail(err, IOP_EIO, "%s: write failed: %s", tmp, strerror(errno)); }
    if (rename(tmp, path)) { remove(tmp); return iop_fail(err, IOP_EIO, "%s: rename failed: %s", path, strerror(errno)); }
    return IOP_OK;
}

iop_code names_index_load(const names_engine *eng, const names_store *store, const char *path, names_index **out,
                          iop_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return iop_fail(err, IOP_EIO, "%s: cannot open: %s", path, strerror(errno));
    ix_header h;
    if (fread(&h, sizeof h, 1, f) != 1) { fclose(f); return iop_fail(err, IOP_ECORRUPT, "%s: truncated header", path); }
    if (memcmp(h.magic, IX_MAGIC, 8)) { fclose(f); return iop_fail(err, IOP_ECORRUPT, "%s: not a names index", path); }
    if (h.version != IX_VERSION) {
        fclose(f);
        return iop_fail(err, IOP_ECORRUPT, "%s: index format version %u, this engine needs %u: rebuild", path, h.version, IX_VERSION);
    }
    if (h.check != ix_check(&h) || h.pad > (IX_LEARNED | IX_UNITS) || h.n_sigs >= UINT32_MAX || h.live > h.n_sigs || h.n_post > h.n_sigs * MAX_KEYS) {
        fclose(f);
        return iop_fail(err, IOP_ECORRUPT, "%s: header fails its check", path);
    }
    names_index *ix;
    iop_code rc = names_index_new(eng, store, &ix, err);
    if (rc) { fclose(f); return rc; }
    size_t off = sizeof h;
    ix->n_learned = h.pad & IX_LEARNED;
    ix->sigs = malloc((h.n_sigs ? h.n_sigs : 1) * sizeof(nm_sig));
    ix->cap_sigs = h.n_sigs;
    run r = {0};
    r.n = h.n_post;
    r.keys = malloc((r.n ? r.n : 1) * sizeof *r.keys);
    r.slots = malloc((r.n ? r.n : 1) * sizeof *r.slots);
    if (!ix->sigs || !r.keys || !r.slots) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
    if (fread(ix->sigs, sizeof(nm_sig), h.n_sigs, f) != h.n_sigs) { rc = iop_fail(err, IOP_ECORRUPT, "%s: truncated at byte %zu (signatures)", path, off); goto fail; }
    off += h.n_sigs * sizeof(nm_sig);
    if (fread(r.keys, sizeof(uint64_t), r.n, f) != r.n) { rc = iop_fail(err, IOP_ECORRUPT, "%s: truncated at byte %zu (keys)", path, off); goto fail; }
    off += r.n * sizeof(uint64_t);
    if (fread(r.slots, sizeof(uint32_t), r.n, f) != r.n) { rc = iop_fail(err, IOP_ECORRUPT, "%s: truncated at byte %zu (postings)", path, off); goto fail; }
    off += r.n * sizeof(uint32_t);
    if (h.pad & IX_UNITS) {
        uint64_t nu;
        if (fread(&nu, sizeof nu, 1, f) != 1) { rc = iop_fail(err, IOP_ECORRUPT, "%s: truncated at byte %zu (units)", path, off); goto fail; }
        off += sizeof nu;
        if (nu < 1 || nu > UINT32_MAX || nu > (h.n_sigs + 1) * (1 + UNIT_TOKS * 33)) { rc = iop_fail(err, IOP_ECORRUPT, "%s: bad unit count at byte %zu", path, off - sizeof nu); goto fail; }
        ix->uoff = malloc((h.n_sigs ? h.n_sigs : 1) * sizeof *ix->uoff);
        ix->upool = malloc(nu * sizeof *ix->upool);
        if (!ix->uoff || !ix->upool) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
        ix->n_upool = ix->cap_upool = nu;
        if (fread(ix->uoff, sizeof(uint32_t), h.n_sigs, f) != h.n_sigs) { rc = iop_fail(err, IOP_ECORRUPT, "%s: truncated at byte %zu (unit offsets)", path, off); goto fail; }
        off += h.n_sigs * sizeof(uint32_t);
        if (fread(ix->upool, sizeof(uint32_t), nu, f) != nu) { rc = iop_fail(err, IOP_ECORRUPT, "%s: truncated at byte %zu (units)", path, off); goto fail; }
        /* every offset must point at a well-formed entry inside the pool */
        for (size_t i = 0; i < h.n_sigs; i++) {
            uint64_t o = ix->uoff[i];
            if (!o) continue;
            bool okay = o < nu && ix->upool[o] >= 1 && ix->upool[o] <= UNIT_TOKS;
            uint64_t w = o + 1;
            for (uint32_t t = 0; okay && t < ix->upool[o]; t++) {
                okay = w < nu && ix->upool[w] >= 1 && ix->upool[w] <= 32 && w + 1 + ix->upool[w] <= nu;
                if (okay) w += 1 + ix->upool[w];
            }
            if (!okay) { rc = iop_fail(err, IOP_ECORRUPT, "%s: units of identity slot %zu out of range", path, i); goto fail; }
            ix->cls_mask |= 1u << nm_tl_class(ix->upool[o + 2]);
        }
        off += nu * sizeof(uint32_t);
    }
    if (fgetc(f) != EOF) { rc = iop_fail(err, IOP_ECORRUPT, "%s: trailing data after byte %zu", path, off); goto fail; }
    for (size_t i = 0; i < r.n; i++)
        if (r.slots[i] >= h.n_sigs || (i && r.keys[i] < r.keys[i - 1])) {
            rc = iop_fail(err, IOP_ECORRUPT, "%s: posting %zu out of order or out of range", path, i);
            goto fail;
        }
    ix->n_sigs = h.n_sigs;
    size_t live = 0;
    for (size_t i = 0; i < ix->n_sigs; i++) {
        if (!ix->sigs[i].alive) continue;
        if (idmap_find(ix, ix->sigs[i].id) != SIZE_MAX) { rc = iop_fail(err, IOP_ECORRUPT, "%s: identity %llu twice", path, (unsigned long long)ix->sigs[i].id); goto fail; }
        if (idmap_put(ix, ix->sigs[i].id, (uint32_t)i)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
        live++;
    }
    if (live != h.live) { rc = iop_fail(err, IOP_ECORRUPT, "%s: %zu live identities, header says %llu", path, live, (unsigned long long)h.live); goto fail; }
    ix->live = live;
    if (run_dir(&r) || push_run(ix, &r)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
    fclose(f);
    *out = ix;
    return IOP_OK;
fail:
    fclose(f);
    run_free(&r);
    names_index_free(ix);
    return rc;
}

size_t names_index_memory(const names_index *ix) {
    size_t m = sizeof *ix + ix->cap_sigs * sizeof(nm_sig) + ix->idmap_cap * sizeof(uint32_t) +
               PENDING_MAX * sizeof(kpair) + ix->cap_runs * sizeof(run);
    for (size_t i = 0; i < ix->n_runs; i++)
        m += ix->runs[i].n * (sizeof(uint64_t) + sizeof(uint32_t)) + (((size_t)1 << ix->runs[i].bits) + 1) * sizeof(uint32_t);
    if (ix->uoff) m += ix->cap_sigs * sizeof *ix->uoff + ix->cap_upool * sizeof *ix->upool;
    return m;
}

/* ---- search ---- */

typedef struct cand {
    uint32_t slot;
    uint32_t hits;
    double light;
} cand;

typedef struct cmap {
    uint32_t *slot1; /* slot + 1 */
    uint32_t *hits;
    size_t cap, n;
} cmap;

static void cmap_hit(cmap *m, uint32_t slot) {
    size_t mask = m->cap - 1, i = (size_t)id_hash(slot) & mask;
    while (m->slot1[i] && m->slot1[i] != slot + 1) i = (i + 1) & mask;
    if (!m->slot1[i]) {
        if ((m->n + 1) * 4 > m->cap * 3) return; /* full: later candidates are dropped */
        m->slot1[i] = slot + 1;
        m->n++;
    }
    m->hits[i]++;
}

static size_t lower_bound(const run *r, uint64_t k) {
    const uint64_t *keys = r->keys;
    size_t b = (size_t)(k >> (64 - r->bits));
    size_t lo = r->dir[b], hi = r->dir[b + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < k) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static double dob_light(uint32_t a, uint32_t b) {
    if (!a || !b) return 0.0;
    if (a == b) return 1.0;
    int ya = (int)(a >> 9), yb = (int)(b >> 9);
    if (ya == yb) return 0.6;
    if (abs(ya - yb) == 1) return 0.3;
    return -0.5;
}

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->light != y->light) return x->light > y->light ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static int cmp_hit(const void *a, const void *b) {
    const names_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The model-aware pre-ranking of a Latin query among native-script records: every
 * candidate with learned units gets the model's probability that a query token renders
 * one of its native tokens (per query variant the mean over its tokens of the best
 * native token, best variant), plus a little of its signature ranking; the best
 * NM_XSCRIPT_SCORED slots are written to out.  0 when the index holds no native-script
 * units, the engine no model, or the query no Latin token. */
static size_t xscript_prerank(const names_index *ix, const names_ident *q, const cand *cs, size_t nc, uint32_t *out,
                              nm_tl_qset *qs, nm_search_diag *dg) {
    if (!ix->upool || !ix->n_learned || !ix->eng || !ix->eng->tlm || !nc) return 0;
    enum { QV = 3, QT = 4 };
    nm_tl_query *sc[QV][QT];
    const char *qstr[QV][QT];
    size_t qlen[QV][QT];
    size_t nsc[QV] = {0}, nv = 0, total = 0;
    for (size_t v = 0; v < q->n_vars && nv < QV; v++) {
        const nm_variant *var = &q->vars[v];
        size_t n = 0;
        for (size_t i = 0; i < var->n && n < QT; i++) {
            const nm_tok *t = &q->toks[var->first + i];
            if (t->flags & (NM_TF_NONLATIN | NM_TF_PARTICLE | NM_TF_INITIAL) || t->len < 2) continue;
            nm_tl_query *s = nm_tl_query_new(ix->eng->tlm, nm_str(q, t->off), t->len);
            if (s) {
                qstr[nv][n] = nm_str(q, t->off);
                qlen[nv][n] = t->len;
                sc[nv][n++] = s;
                if (qs->n < NM_TL_QSET) { /* kept for the full scoring (freed by the caller) */
                    qs->s[qs->n] = nm_str(q, t->off);
                    qs->len[qs->n] = t->len;
                    qs->q[qs->n++] = s;
                }
            }
        }
        if (n) { nsc[nv++] = n; total += n; }
    }
    size_t nout = 0;
    double best[NM_XSCRIPT_SCORED];
    double *all = dg ? malloc((nc ? nc : 1) * sizeof *all) : NULL, want = -INFINITY;
    size_t n_all = 0;
    for (size_t c = 0; total && c < nc; c++) {
        uint32_t off = ix->uoff[cs[c].slot];
        if (!off) continue;
        const uint32_t *u = ix->upool + off;
        size_t nt = u[0];
        double pre = -1;
        for (size_t v = 0; v < nv; v++) {
            double sum = 0;
            for (size_t i = 0; i < nsc[v]; i++) {
                double bp = 0;
                const uint32_t *w = u + 1;
                for (size_t t = 0; t < nt; t++) {
                    double pr;
                    if (w[0] && (w[1] & NM_JA_MASK) == NM_JA_UNIT) {
                        /* a Japanese reading: its spelling against the query token,
                         * on the scale on which the comparison weighs a probability
                         * (similarity 0.70 + 0.26 p) */
                        char rd[NM_MAX_TOK];
                        size_t rl = w[0] < NM_MAX_TOK ? w[0] : NM_MAX_TOK;
                        for (size_t x = 0; x < rl; x++) rd[x] = (char)(w[1 + x] & 0xFF);
                        double jw = nm_jaro_winkler(qstr[v][i], qlen[v][i], rd, rl);
                        pr = (jw - 0.70) / 0.26;
                        if (pr > 1) pr = 1;
                    } else {
                        pr = nm_tl_query_prob(sc[v][i], w + 1, w[0]);
                    }
                    if (pr > bp) bp = pr;
                    w += 1 + w[0];
                }
                sum += bp;
            }
            double m = sum / (double)nsc[v];
            if (m > pre) pre = m;
        }
        pre += NM_XSCRIPT_LIGHT * cs[c].light;
        if (all) {
            all[n_all++] = pre;
            if (ix->sigs[cs[c].slot].id == dg->want_id) want = pre;
        }
        if (nout == NM_XSCRIPT_SCORED && pre <= best[nout - 1]) continue;
        size_t j = nout < NM_XSCRIPT_SCORED ? nout++ : nout - 1;
        while (j > 0 && pre > best[j - 1]) { best[j] = best[j - 1]; out[j] = out[j - 1]; j--; }
        best[j] = pre;
        out[j] = cs[c].slot;
    }
    for (size_t v = 0; v < nv; v++) /* the tables the query set does not keep */
        for (size_t i = 0; i < nsc[v]; i++) {
            bool kept = false;
            for (size_t k = 0; k < qs->n && !kept; k++) kept = qs->q[k] == sc[v][i];
            if (!kept) nm_tl_query_free(sc[v][i]);
        }
    if (all) {
        dg->n_prerank = n_all;
        if (want > -INFINITY) {
            dg->prerank = 0;
            for (size_t i = 0; i < n_all; i++) dg->prerank += all[i] > want;
        }
        free(all);
    }
    return nout;
}

static void qset_free(nm_tl_qset *qs) {
    for (size_t k = 0; k < qs->n; k++) nm_tl_query_free(qs->q[k]);
    qs->n = 0;
}

/* the keys a query probes; the query normaliser costs a few beam searches: only when
 * native-script records with learned keys are indexed */
static void query_keys(const names_index *ix, const names_ident *q, keyset *ks) {
    gen_keys(ix->n_learned ? ix->eng : NULL, q, true, ix->cls_mask ? ix->cls_mask : 15u, ks);
}

size_t nm_index_query_keys(const names_index *ix, const names_ident *q, uint64_t *keys, uint8_t *tier, size_t cap) {
    keyset ks;
    query_keys(ix, q, &ks);
    size_t n = ks.n < cap ? ks.n : cap;
    memcpy(keys, ks.k, n * sizeof *keys);
    memcpy(tier, ks.tier, n * sizeof *tier);
    return n;
}

size_t names_index_search(const names_index *ix, const names_ident *q, size_t k, double min_score, names_hit *hits) {
    return nm_index_search(ix, q, k, min_score, hits, CAND_BUDGET, NULL);
}

size_t nm_index_search(const names_index *ix, const names_ident *q, size_t k, double min_score, names_hit *hits,
                       size_t budget, nm_search_diag *dg) {
    if (dg) { dg->n_cands = 0; dg->in_cands = false; dg->prerank = -1; dg->n_prerank = 0; }
    if (!k || !ix->live) return 0;
    keyset ks;
    query_keys(ix, q, &ks);
    /* size the candidate map from the posting counts */
    size_t ranges[MAX_KEYS][16][2];
    size_t total = 0;
    size_t nr = ix->n_runs < 16 ? ix->n_runs : 16;
    for (size_t i = 0; i < ks.n; i++)
        for (size_t r = 0; r < nr; r++) {
            const run *rn = &ix->runs[r];
            size_t lo = lower_bound(rn, ks.k[i]), hi = lo;
            while (hi < rn->n && rn->keys[hi] == ks.k[i] && hi - lo < KEY_SCAN_CAP) hi++;
            ranges[i][r][0] = lo;
            ranges[i][r][1] = hi;
            total += hi - lo;
        }
    total += ix->n_pend < 16384 ? ix->n_pend : 16384;
    cmap m = {0};
    m.cap = 64;
    while (m.cap < total * 2) m.cap *= 2;
    m.slot1 = calloc(m.cap, sizeof *m.slot1);
    m.hits = calloc(m.cap, sizeof *m.hits);
    if (!m.slot1 || !m.hits) { free(m.slot1); free(m.hits); return 0; }
    /* rarest keys first; once CAND_BUDGET candidates are in, frequent keys (a common given
     * name in a birth year) only add noise and cost: they are skipped.  Second-tier keys
     * come after all others, rarest first, while fewer than the budget are in: a query
     * that already has its budget pays nothing for them (more room for them added
     * nothing on the Chinese pairs: 0, 128, 256 or 1024 more gave the same top-10) */
    size_t order[MAX_KEYS], cnt[MAX_KEYS];
    for (size_t i = 0; i < ks.n; i++) {
        order[i] = i;
        cnt[i] = 0;
        for (size_t r = 0; r < nr; r++) cnt[i] += ranges[i][r][1] - ranges[i][r][0];
    }
    for (size_t i = 1; i < ks.n; i++) /* insertion sort: at most MAX_KEYS keys */
        for (size_t j = i; j > 0; j--) {
            size_t a = order[j], b = order[j - 1];
            if (ks.tier[a] > ks.tier[b] || (ks.tier[a] == ks.tier[b] && cnt[a] >= cnt[b])) break;
            order[j] = b;
            order[j - 1] = a;
        }
    for (size_t oi = 0; oi < ks.n; oi++) {
        size_t i = order[oi];
        if (ks.tier[i] ? m.n >= budget : m.n >= budget && cnt[i] > FREQUENT_KEY) {
            if (ks.tier[i]) break;
            while (oi + 1 < ks.n && !ks.tier[order[oi + 1]]) oi++; /* on to the second tier */
            continue;
        }
        for (size_t r = 0; r < nr; r++)
            for (size_t p = ranges[i][r][0]; p < ranges[i][r][1]; p++) {
                uint32_t s = ix->runs[r].slots[p];
                if (ix->sigs[s].alive) cmap_hit(&m, s);
            }
    }
    /* more runs than the table (rare) and the unsorted pending postings: every first-tier
     * key, the second tier while the budget lasts */
    bool tier2 = m.n < budget;
    for (size_t r = 16; r < ix->n_runs; r++)
        for (size_t i = 0; i < ks.n; i++) {
            if (ks.tier[i] && !tier2) continue;
            const run *rn = &ix->runs[r];
            for (size_t p = lower_bound(rn, ks.k[i]); p < rn->n && rn->keys[p] == ks.k[i]; p++)
                if (ix->sigs[rn->slots[p]].alive) cmap_hit(&m, rn->slots[p]);
        }
    if (ix->n_pend) { /* one pass, query keys in a small hash set */
        uint64_t set[256];
        bool used[256] = {false};
        for (size_t i = 0; i < ks.n; i++) {
            if (ks.tier[i] && !tier2) continue;
            size_t h = (size_t)(ks.k[i] >> 56);
            while (used[h] && set[h] != ks.k[i]) h = (h + 1) & 255;
            used[h] = true;
            set[h] = ks.k[i];
        }
        for (size_t p = 0; p < ix->n_pend; p++) {
            uint64_t key = ix->pend[p].key;
            for (size_t h = (size_t)(key >> 56); used[h]; h = (h + 1) & 255)
                if (set[h] == key) {
                    if (ix->sigs[ix->pend[p].slot].alive) cmap_hit(&m, ix->pend[p].slot);
                    break;
                }
        }
    }
    /* rank by the signatures */
    cand *cs = malloc((m.n ? m.n : 1) * sizeof *cs);
    if (!cs) { free(m.slot1); free(m.hits); return 0; }
    size_t nc = 0;
    uint64_t qb = bloom_of(q);
    uint32_t qd = pack_dob(q->dob);
    for (size_t i = 0; i < m.cap; i++) {
        if (!m.slot1[i]) continue;
        const nm_sig *sg = &ix->sigs[m.slot1[i] - 1];
        uint64_t inter = sg->bloom & qb, uni = sg->bloom | qb;
        double bl = uni ? (double)__builtin_popcountll(inter) / (double)__builtin_popcountll(uni) : 0;
        cs[nc].slot = m.slot1[i] - 1;
        if (dg && sg->id == dg->want_id) dg->in_cands = true;
        cs[nc].hits = m.hits[i];
        cs[nc].light = (double)(m.hits[i] < 6 ? m.hits[i] : 6) * 0.25 + bl * 2.0 + dob_light(qd, sg->dob);
        nc++;
    }
    free(m.slot1);
    free(m.hits);
    size_t M = k * 2 < 24 ? 24 : k * 2; /* fully scored candidates */
    /* a Latin query among native-script records: the signature ranking knows nothing of
     * the learned model, so the candidates best by the model are scored fully too */
    uint32_t xs_slot[NM_XSCRIPT_SCORED];
    if (dg) dg->n_cands = nc;
    nm_tl_qset qs; /* only id and n are read before an entry is written */
    qs.id = q;
    qs.n = 0;
    size_t n_xs = xscript_prerank(ix, q, cs, nc, xs_slot, &qs, dg);
    if (n_xs) { /* native-script candidates come from the model's picks; the signature
                 * ranking picks among the others (Latin records of a mixed index) */
        size_t w = 0;
        for (size_t i = 0; i < nc; i++)
            if (!ix->uoff[cs[i].slot]) cs[w++] = cs[i];
        nc = w;
    }
    if (nc > 4 * M) { /* keep the best M in one pass (insertion into a short sorted prefix) */
        size_t top = 0;
        for (size_t i = 0; i < nc; i++) {
            if (top == M && cmp_cand(&cs[i], &cs[M - 1]) >= 0) continue;
            cand c = cs[i];
            size_t j = top < M ? top++ : M - 1;
            while (j > 0 && cmp_cand(&c, &cs[j - 1]) < 0) { cs[j] = cs[j - 1]; j--; }
            cs[j] = c;
        }
        nc = top;
    } else {
        qsort(cs, nc, sizeof *cs, cmp_cand);
        if (nc > M) nc = M;
    }
    for (size_t x = 0; x < n_xs; x++) { /* the model's picks the signature ranking left out */
        bool in = false;
        for (size_t i = 0; i < nc && !in; i++) in = cs[i].slot == xs_slot[x];
        if (!in) cs[nc++].slot = xs_slot[x]; /* cs held every candidate: room enough */
    }
    names_hit *tmp = malloc((nc ? nc : 1) * sizeof *tmp);
    if (!tmp) { free(cs); qset_free(&qs); return 0; }
    size_t nh = 0;
    for (size_t i = 0; i < nc; i++) {
        const nm_sig *sg = &ix->sigs[cs[i].slot];
        if (ix->has_store) {
            const names_ident *c = ix->store.get(ix->store.user, sg->id);
            if (!c) continue;
            names_result res;
            nm_compare_q(ix->eng, q, c, &res, false, qs.n ? &qs : NULL);
            if (ix->store.put) ix->store.put(ix->store.user, c);
            tmp[nh].id = sg->id;
            tmp[nh].score = res.score;
            tmp[nh].verdict = res.verdict;
        } else {
            double s = cs[i].light / 4.5;
            tmp[nh].id = sg->id;
            tmp[nh].score = s > 1 ? 1 : s < 0 ? 0 : s;
            tmp[nh].verdict = tmp[nh].score >= NAMES_SIMILAR_SCORE ? NAMES_SIMILAR : NAMES_DIFFERENT;
        }
        if (tmp[nh].score >= min_score) nh++;
    }
    free(cs);
    qset_free(&qs);
    qsort(tmp, nh, sizeof *tmp, cmp_hit);
    if (nh > k) nh = k;
    memcpy(hits, tmp, nh * sizeof *hits);
    free(tmp);
    return nh;
}
