/*
 * gen_pop.c -- the population model of `interop gen` (docs/population-model.md).
 *
 * Persons are generated one at a time from their own random stream (seed, person
 * number), so the output is deterministic and streamed: nothing but the current
 * person is held in memory.  A person has a life path (traveller, migrant, resident),
 * a nationality drawn from the path's weights, one true identity and, for a share of
 * persons, one or two further identities (other names, date of birth, nationality and
 * documents; the same biometrics).  The path decides the records:
 *
 *   traveller, visa required   VIS applications (Reg. 767/2008) -> EES individual file
 *                              with entries/exits (Reg. 2017/2226 Art 16: face only, the
 *                              fingerprints being in VIS)
 *   traveller, visa exempt     ETIAS applications (Reg. 2018/1240) -> EES individual file
 *                              (Art 17: four fingers of the right hand + face)
 *   migrant                    Eurodac: applicant / irregular crosser / illegal stay
 *                              (Reg. 2024/1358), secondary movements, earlier visas
 *   resident                   ECRIS-TCN convictions (Reg. 2019/816), SIS, Europol
 *
 * and events cut across paths: SIS person alerts (Reg. 2018/1860-1862) conditioned on
 * the person's history, Europol persons, lost and stolen documents in Interpol SLTD and
 * SIS document alerts.  Every record shows one identity of its person, rendered with the
 * record-level errors of gen_error, and is written with rec_to_json.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gen/gen_internal.h"

/* ------------------------------------------------------------------ parameters */

const char *gen_error_name(gen_error e) {
    static const char *const n[GEN_ERR_COUNT] = {"typo_surname", "typo_given", "swap_order", "dob_partial",
                                                 "dob_swap", "dob_typo", "doc_ocr", "nickname", "translit",
                                                 "native_script", "drop_given"};
    return (unsigned)e < GEN_ERR_COUNT ? n[e] : "unknown";
}

const char *gen_path_name(gen_path p) {
    static const char *const n[GEN_PATH_COUNT] = {"traveller", "migrant", "resident"};
    return (unsigned)p < GEN_PATH_COUNT ? n[p] : "unknown";
}

void gen_params_default(gen_params *p) {
    memset(p, 0, sizeof *p);
    p->persons = 10000;
    p->seed = 1;
    p->reference = (iop_date){2026, 6, 30};
    p->biometrics = true;
    p->face_dim = 128;
    p->share_traveller = 0.88;
    p->share_migrant = 0.08;
    p->multi_identity_traveller = 0.01;
    p->multi_identity_migrant = 0.12;
    p->multi_identity_resident = 0.10;
    p->rate[GEN_ERR_TYPO_SURNAME] = 0.03;
    p->rate[GEN_ERR_TYPO_GIVEN] = 0.03;
    p->rate[GEN_ERR_SWAP_ORDER] = 0.02;
    p->rate[GEN_ERR_DOB_PARTIAL] = 0.03;
    p->rate[GEN_ERR_DOB_SWAP] = 0.02;
    p->rate[GEN_ERR_DOB_TYPO] = 0.01;
    p->rate[GEN_ERR_DOC_OCR] = 0.03;
    p->rate[GEN_ERR_NICKNAME] = 0.05;
    p->rate[GEN_ERR_TRANSLIT] = 0.25;
    p->rate[GEN_ERR_NATIVE_SCRIPT] = 0.10;
    p->rate[GEN_ERR_DROP_GIVEN] = 0.20;
}

/* ------------------------------------------------------------------ the model's types */

typedef struct pick {
    const gen_name *n;
    uint8_t sp; /* spelling index of the person's documents */
} pick;

typedef struct identity {
    const gen_country *nat;
    gen_culture cul;
    char sex;
    pick sur, giv[2], birth;
    int n_giv;
    int scheme;            /* Cyrillic romanisation of the person's documents */
    iop_date dob;
    bool dob_year_only;    /* only the year is known (common among migrants) */
    bool has_doc;
    bool stolen_doc;       /* the document was stolen from its holder (reported to SLTD) */
    char doc_type[20];
    char doc_country[4];
    char doc_number[16];
    iop_date doc_expiry;
} identity;

typedef struct person {
    uint64_t idx;
    char pid[24];
    gen_path path;
    int n_ids;
    identity ids[3];
    int age;
    const char *city;
    const char *home_state;   /* favourite destination / state of residence */
    uint32_t capture;
    bool fingerprinted;       /* enrolled somewhere with fingerprints */
    bool convicted;
    bool arrest_alert;
    const char *ecris_state;
} person;

/* A record waiting for its biometrics: its JSON without the closing brace in jbuf. */
typedef struct pend {
    uint8_t sys;
    bool face;
    uint16_t fmask;
    uint32_t capture;
    uint64_t bio_id;
    size_t off, len;         /* in jbuf */
    size_t boff, blen;       /* in the worker's buffer */
    int worker;
} pend;

#define GEN_MAX_THREADS 16
#define GEN_BATCH 2048       /* records per biometric batch */

typedef struct gen_ctx {
    const gen_params *p;
    gen_names names;
    gen_bio *bio;
    gen_arena arena;
    int64_t ref_days;
    double cum_path[GEN_PATH_COUNT][64]; /* cumulative nationality weights per path */
    FILE *out[IOP_SYS_COUNT];
    FILE *truth, *annot, *persons;
    char path_buf[IOP_SYS_COUNT + 4][1200];
    uint64_t counter[IOP_SYS_COUNT];
    uint64_t app_counter;
    iop_buf line, ext;
    /* biometric batches */
    pend *pend;
    size_t n_pend, cap_pend;
    iop_buf jbuf;
    iop_buf wbuf[GEN_MAX_THREADS];
    int threads;
    gen_stats st;
    iop_rng rng;           /* the current person's stream */
    iop_code rc;
    iop_err *err;
} gen_ctx;

/* ------------------------------------------------------------------ small helpers */

static double U(gen_ctx *c) { return iop_rng_uniform(&c->rng); }
static uint32_t below(gen_ctx *c, uint32_t n) { return n ? iop_rng_below(&c->rng, n) : 0; }
static bool chance(gen_ctx *c, double p) { return U(c) < p; }

static iop_date date_of(int64_t days) {
    int y, m, d;
    iop_civil_from_days(days, &y, &m, &d);
    return (iop_date){(int16_t)y, (int8_t)m, (int8_t)d};
}
static int64_t days_of(iop_date d) { return iop_days_from_civil(d.year, d.month ? d.month : 1, d.day ? d.day : 1); }

static const char *schengen_state(gen_ctx *c) {
    return chance(c, 0.7) ? gen_schengen[below(c, 8)] : gen_schengen[below(c, (uint32_t)gen_n_schengen)];
}

static int geometric(gen_ctx *c, double p_more, int max) {
    int n = 1;
    while (n < max && chance(c, p_more)) n++;
    return n;
}

static const gen_name *pool_pick(gen_ctx *c, const gen_pool *pool) { return &pool->v[below(c, (uint32_t)pool->n)]; }

static pick pick_name(gen_ctx *c, const gen_pool *pool, const gen_country *nat) {
    pick k = {pool_pick(c, pool), 0};
    if (k.n->n_latin > 1) {
        if (nat->culture == CUL_CHINESE) k.sp = nat->romanisation < k.n->n_latin ? nat->romanisation : 0;
        else k.sp = chance(c, 0.6) ? 0 : (uint8_t)below(c, k.n->n_latin);
    }
    return k;
}

static const gen_country *pick_country(gen_ctx *c, gen_path path) {
    double u = U(c) * c->cum_path[path][gen_n_countries - 1];
    for (size_t i = 0; i < gen_n_countries; i++)
        if (u < c->cum_path[path][i]) return &gen_countries[i];
    return &gen_countries[gen_n_countries - 1];
}

static void make_doc_number(gen_ctx *c, const gen_country *nat, char *out) {
    size_t k = 0;
    for (int i = 0; i < nat->doc_letters; i++) out[k++] = (char)('A' + below(c, 26));
    for (int i = 0; i < nat->doc_digits; i++) out[k++] = (char)('0' + below(c, 10));
    out[k] = 0;
}

/* A new set of names for an identity of culture cul. */
static void draw_names(gen_ctx *c, identity *id, bool given, bool surname) {
    const gen_pool *gp = id->sex == 'F' ? &c->names.given_f[id->cul] : &c->names.given_m[id->cul];
    if (given) {
        double p2 = id->cul == CUL_ANGLO ? 0.35 : id->cul == CUL_ARABIC || id->cul == CUL_TURKISH ? 0.2
                  : id->cul == CUL_HEBREW ? 0.15 : 0.0;
        id->n_giv = chance(c, p2) ? 2 : 1;
        for (int i = 0; i < id->n_giv; i++) {
            id->giv[i] = pick_name(c, gp, id->nat);
            if (i == 1 && id->giv[1].n == id->giv[0].n) id->n_giv = 1;
        }
    }
    if (surname) id->sur = pick_name(c, &c->names.surnames[id->cul], id->nat);
}

/* ------------------------------------------------------------------ name rendering */

static const char *native_of(gen_ctx *c, const identity *id, pick k, bool surname) {
    if (!k.n->native) return NULL;
    if (id->cul == CUL_SLAVIC && surname && id->sex == 'F') return gen_cyr_feminine(&c->arena, k.n->native);
    return k.n->native;
}

/* The Latin form in the person's documents (variant false) or another romanisation. */
static const char *latin_of(gen_ctx *c, const identity *id, pick k, bool surname, bool variant) {
    const char *canon;
    switch (id->cul) {
    case CUL_SLAVIC: {
        const char *nat = native_of(c, id, k, surname);
        canon = gen_cyr_romanise(&c->arena, nat, id->scheme);
        if (!variant) return canon;
        const char *alt = NULL;
        if (k.n->n_latin && !(surname && id->sex == 'F') && chance(c, 0.3)) alt = k.n->latin[0];
        if (!alt) alt = gen_cyr_romanise(&c->arena, nat, (id->scheme + 1 + (int)below(c, GEN_CYR_SCHEMES - 1)) % GEN_CYR_SCHEMES);
        if (alt && strcmp(alt, canon)) return alt;
        return gen_latin_variant(&c->arena, canon, &c->rng);
    }
    case CUL_TURKISH:
        canon = k.n->latin[k.sp];
        if (!variant) return canon;
        {
            const char *f = gen_fold_diacritics(&c->arena, canon, chance(c, 0.3));
            if (f && strcmp(f, canon)) return f;
        }
        return gen_latin_variant(&c->arena, canon, &c->rng);
    default:
        canon = k.n->latin[k.sp];
        if (!variant) return canon;
        if (k.n->n_latin > 1) {
            uint8_t o = (uint8_t)((k.sp + 1 + below(c, k.n->n_latin - 1u)) % k.n->n_latin);
            if (strcmp(k.n->latin[o], canon)) return k.n->latin[o];
        }
        return gen_latin_variant(&c->arena, canon, &c->rng);
    }
}

/* ------------------------------------------------------------------ record building */

typedef struct recb {
    rec_person p;
    char *sur[2], *giv[3], *alias[4], *nat[2];
    rec_document doc[2];
    int identity;
    const char *script;
    char errs[160];
    bool ext_open, ext_first;
} recb;

static void note_err(gen_ctx *c, recb *r, gen_error e, bool eligible, bool applied) {
    if (eligible) c->st.err_eligible[e]++;
    if (!applied) return;
    c->st.err_applied[e]++;
    size_t n = strlen(r->errs);
    snprintf(r->errs + n, sizeof r->errs - n, "%s%s", n ? ";" : "", gen_error_name(e));
}

/* roll: draws whether an eligible error happens, and books it */
static bool roll(gen_ctx *c, recb *r, gen_error e, bool eligible) {
    bool a = eligible && chance(c, c->p->rate[e]);
    note_err(c, r, e, eligible, a);
    return a;
}

static void render_dob(gen_ctx *c, recb *r, const identity *id) {
    iop_date d = id->dob;
    if (id->dob_year_only) {
        r->p.dob = chance(c, 0.5) ? (iop_date){d.year, 0, 0} : (iop_date){d.year, 1, 1};
        note_err(c, r, GEN_ERR_DOB_PARTIAL, false, false);
        return;
    }
    if (roll(c, r, GEN_ERR_DOB_PARTIAL, true)) {
        r->p.dob = chance(c, 0.6) ? (iop_date){d.year, 0, 0} : (iop_date){d.year, d.month, 0};
        return;
    }
    bool swappable = d.day <= 12 && d.day != d.month;
    if (roll(c, r, GEN_ERR_DOB_SWAP, swappable)) {
        r->p.dob = (iop_date){d.year, d.day, d.month};
        return;
    }
    if (roll(c, r, GEN_ERR_DOB_TYPO, true)) {
        iop_date t = d;
        switch (below(c, 3)) {
        case 0: t.year = (int16_t)(t.year + (chance(c, 0.5) ? 1 : -1) * (chance(c, 0.7) ? 1 : 10)); break;
        case 1: t.month = (int8_t)(t.month == 12 ? 11 : t.month + 1); break;
        default: t.day = (int8_t)(t.day >= 28 ? t.day - 10 : t.day + (chance(c, 0.5) ? 1 : 10)); break;
        }
        if (!iop_date_valid(t)) t.day = 1;
        r->p.dob = t;
        return;
    }
    r->p.dob = d;
}

static size_t letters(const char *s) {
    uint32_t cp[4];
    return gen_utf8_decode(s, cp, 4);
}

/* Fills the identity part of a record: names, date of birth, sex, nationality, place of
 * birth, documents (when with_doc), with the record-level errors. upper: names in
 * capitals as read from a machine-readable zone. */
static void render_identity(gen_ctx *c, person *pp, recb *r, int idn, bool with_doc, bool upper) {
    const identity *id = &pp->ids[idn];
    r->identity = idn;
    r->script = "latin";
    bool nonlatin = id->cul == CUL_SLAVIC || id->cul == CUL_ARABIC || id->cul == CUL_HEBREW || id->cul == CUL_CHINESE;
    bool native = roll(c, r, GEN_ERR_NATIVE_SCRIPT, nonlatin);
    bool translit = roll(c, r, GEN_ERR_TRANSLIT, !native && id->cul != CUL_ANGLO);
    const char *sur, *giv[2];
    int ng = id->n_giv;
    if (native) {
        r->script = gen_culture_script(id->cul);
        sur = native_of(c, id, id->sur, true);
        for (int i = 0; i < ng; i++) giv[i] = native_of(c, id, id->giv[i], false);
    } else {
        sur = latin_of(c, id, id->sur, true, translit);
        for (int i = 0; i < ng; i++) giv[i] = latin_of(c, id, id->giv[i], false, translit);
    }
    const char *nick = id->cul == CUL_ANGLO ? gen_names_nickname(&c->names, giv[0], &c->rng) : NULL;
    if (roll(c, r, GEN_ERR_NICKNAME, nick != NULL)) giv[0] = gen_capitalise(&c->arena, nick);
    if (roll(c, r, GEN_ERR_DROP_GIVEN, ng == 2)) ng = 1;
    /* a one-letter name (a Han surname in characters) has no typo to make */
    if (roll(c, r, GEN_ERR_TYPO_SURNAME, letters(sur) >= 2)) sur = gen_typo(&c->arena, sur, &c->rng);
    if (roll(c, r, GEN_ERR_TYPO_GIVEN, ng > 0 && letters(giv[0]) >= 2)) giv[0] = gen_typo(&c->arena, giv[0], &c->rng);
    if (upper && !native) {
        sur = gen_upper(&c->arena, sur);
        for (int i = 0; i < ng; i++) giv[i] = gen_upper(&c->arena, giv[i]);
    }
    bool swap = roll(c, r, GEN_ERR_SWAP_ORDER, ng > 0);
    if (swap) {
        /* the surname lands in the given-name field and the first given name in the surname field */
        r->sur[0] = (char *)giv[0];
        r->giv[0] = (char *)sur;
        int k = 1;
        for (int i = 1; i < ng; i++) r->giv[k++] = (char *)giv[i];
        r->p.n_given_names = (size_t)k;
    } else {
        r->sur[0] = (char *)sur;
        for (int i = 0; i < ng; i++) r->giv[i] = (char *)giv[i];
        r->p.n_given_names = (size_t)ng;
    }
    r->p.surnames = r->sur;
    r->p.n_surnames = 1;
    r->p.given_names = r->p.n_given_names ? r->giv : NULL;
    render_dob(c, r, id);
    r->p.sex = chance(c, 0.01) ? 'U' : id->sex;
    r->nat[0] = (char *)id->nat->code;
    r->p.nationalities = r->nat;
    r->p.n_nationalities = 1;
    if (with_doc && id->has_doc) {
        const char *num = id->doc_number;
        if (roll(c, r, GEN_ERR_DOC_OCR, strpbrk(num, "0O1I5S8B2Z6G") != NULL)) num = gen_ocr(&c->arena, num, &c->rng);
        r->doc[0] = (rec_document){(char *)id->doc_type, (char *)num, (char *)id->doc_country, id->doc_expiry};
        r->p.documents = r->doc;
        r->p.n_documents = 1;
    }
}

static void set_pob(person *pp, recb *r) { r->p.place_of_birth = (char *)pp->city; }

static void add_aliases(gen_ctx *c, person *pp, recb *r, int shown) {
    size_t n = 0;
    for (int i = 0; i < pp->n_ids && n < 4; i++) {
        if (i == shown) continue;
        const identity *id = &pp->ids[i];
        const char *g = latin_of(c, id, id->giv[0], false, false), *s = latin_of(c, id, id->sur, true, false);
        r->alias[n++] = gen_arena_printf(&c->arena, "%s %s", g, s);
    }
    r->p.aliases = n ? r->alias : NULL;
    r->p.n_aliases = n;
}

/* ext: the system-specific members */
static void ext_begin(gen_ctx *c, recb *r) {
    iop_buf_reset(&c->ext);
    iop_buf_puts(&c->ext, "{");
    r->ext_first = true;
}
static void ext_key(gen_ctx *c, recb *r, const char *k) {
    iop_buf_puts(&c->ext, r->ext_first ? "\"" : ",\"");
    iop_buf_puts(&c->ext, k);
    iop_buf_puts(&c->ext, "\":");
    r->ext_first = false;
}
static void ext_str(gen_ctx *c, recb *r, const char *k, const char *v) {
    if (!v) return;
    ext_key(c, r, k);
    iop_buf_json_str(&c->ext, v);
}
/* "YYYY-MM-DD" of a day number, quotes included (the generator writes millions) */
static void put_day(iop_buf *b, int64_t days) {
    iop_date d = date_of(days);
    char o[13] = "\"0000-00-00\"";
    int y = d.year;
    for (int i = 4; i >= 1; i--, y /= 10) o[i] = (char)('0' + y % 10);
    o[6] = (char)('0' + d.month / 10); o[7] = (char)('0' + d.month % 10);
    o[9] = (char)('0' + d.day / 10); o[10] = (char)('0' + d.day % 10);
    iop_buf_append(b, o, 12);
}

static void ext_date(gen_ctx *c, recb *r, const char *k, int64_t days) {
    ext_key(c, r, k);
    put_day(&c->ext, days);
}

/* One EES movement object; the authority is the border guard of the crossing point's state. */
static void ext_movement(gen_ctx *c, bool first, const char *type, int64_t day, const char *bcp, const char *sticker) {
    iop_buf *b = &c->ext;
    iop_buf_puts(b, first ? "{\"type\":\"" : ",{\"type\":\"");
    iop_buf_puts(b, type);
    iop_buf_puts(b, "\",\"date\":");
    put_day(b, day);
    iop_buf_puts(b, ",\"bcp\":\"");
    iop_buf_puts(b, bcp);
    iop_buf_puts(b, "\",\"authority\":\"");
    iop_buf_append(b, bcp, 3);
    iop_buf_puts(b, " border guard\"");
    if (sticker) { iop_buf_puts(b, ",\"visa_sticker\":"); iop_buf_json_str(b, sticker); }
    iop_buf_puts(b, "}");
}
static void ext_end(gen_ctx *c, recb *r) {
    iop_buf_puts(&c->ext, "}");
    r->p.ext = c->ext.data;
}

static const char *const sys_prefix[IOP_SYS_COUNT] = {"SIS", "VIS", "EURODAC", "EES", "ETIAS", "ECRIS", "EUROPOL", "SLTD"};

static void recb_init(recb *r, iop_system s, const char *kind) {
    memset(r, 0, sizeof *r);
    r->p.system = s;
    r->p.kind = (char *)kind;
    r->p.sex = 'U';
    r->script = "latin";
}

/* Biometrics for this capture, then the record out to its file, truth and annotations. */
static void emit(gen_ctx *c, person *pp, recb *r, const int *fingers, size_t n_fingers, bool face) {
    if (c->rc) return;
    char id[40];
    {
        size_t pl = strlen(sys_prefix[r->p.system]);
        memcpy(id, sys_prefix[r->p.system], pl);
        id[pl++] = '-';
        uint64_t v = ++c->counter[r->p.system];
        char dig[24];
        int nd = 0;
        do { dig[nd++] = (char)('0' + v % 10); v /= 10; } while (v);
        for (int i = nd; i < 9; i++) id[pl++] = '0';
        while (nd) id[pl++] = dig[--nd];
        id[pl] = 0;
    }
    r->p.id = id;
    if (!r->p.ext) r->p.ext = "{}";
    if (n_fingers) pp->fingerprinted = true;
    iop_buf_reset(&c->line);
    if (rec_to_json(&r->p, false, &c->line)) { c->rc = iop_fail(c->err, IOP_ENOMEM, "writing %s: out of memory", id); return; }
    if (c->bio) {
        /* queued: the biometrics are computed by the workers when the batch is flushed */
        if (c->n_pend == c->cap_pend) {
            size_t nc = c->cap_pend ? c->cap_pend * 2 : 4096;
            pend *np = realloc(c->pend, nc * sizeof *np);
            if (!np) { c->rc = iop_fail(c->err, IOP_ENOMEM, "out of memory"); return; }
            c->pend = np;
            c->cap_pend = nc;
        }
        pend *q = &c->pend[c->n_pend++];
        memset(q, 0, sizeof *q);
        q->sys = (uint8_t)r->p.system;
        q->face = face;
        for (size_t i = 0; i < n_fingers; i++) q->fmask |= (uint16_t)(1u << fingers[i]);
        q->bio_id = pp->idx;
        q->capture = (n_fingers || face) ? pp->capture++ : 0;
        q->off = c->jbuf.len;
        q->len = c->line.len - 1; /* without the closing brace */
        if (iop_buf_append(&c->jbuf, c->line.data, q->len)) { c->rc = iop_fail(c->err, IOP_ENOMEM, "out of memory"); return; }
    } else {
        iop_buf_puts(&c->line, "\n");
        FILE *f = c->out[r->p.system];
        if (fwrite(c->line.data, 1, c->line.len, f) != c->line.len) {
            c->rc = iop_fail(c->err, IOP_EIO, "%s: write failed: %s", c->path_buf[r->p.system], strerror(errno));
            return;
        }
        c->st.bytes += c->line.len;
    }
    c->st.records++;
    c->st.per_system[r->p.system]++;
    const char *sys = iop_system_name(r->p.system);
    fputs(sys, c->truth); fputc(',', c->truth); fputs(id, c->truth); fputc(',', c->truth);
    fputs(pp->pid, c->truth); fputc('\n', c->truth);
    fputs(sys, c->annot); fputc(',', c->annot); fputs(id, c->annot); fputc(',', c->annot);
    fputs(pp->pid, c->annot); fputc(',', c->annot); fputc('0' + r->identity, c->annot); fputc(',', c->annot);
    fputs(r->script, c->annot); fputc(',', c->annot); fputs(r->errs, c->annot); fputc('\n', c->annot);
}

/* ------------------------------------------------------------------ biometric captures */

static const int ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const int right4[] = {2, 3, 4, 5};

/* ------------------------------------------------------------------ systems */

static void gen_ees(gen_ctx *c, person *pp, int idn, bool visa_holder, int64_t from, int64_t until,
                    const char *sticker) {
    /* entries while the visa or travel authorisation is valid, within the last 3 years
     * (the EES retention period) and before the reference date */
    int64_t lo = from > c->ref_days - 3 * 365 ? from : c->ref_days - 3 * 365;
    int64_t hi = until < c->ref_days ? until : c->ref_days;
    if (hi - lo < 1) return;
    recb r;
    recb_init(&r, IOP_SYS_EES, "individual_file");
    render_identity(c, pp, &r, idn, true, chance(c, 0.5));
    int trips = geometric(c, 0.55, 12);
    int64_t entries[12];
    for (int i = 0; i < trips; i++) entries[i] = lo + (int64_t)below(c, (uint32_t)(hi - lo));
    for (int i = 1; i < trips; i++) /* sort */
        for (int j = i; j > 0 && entries[j] < entries[j - 1]; j--) { int64_t t = entries[j]; entries[j] = entries[j - 1]; entries[j - 1] = t; }
    ext_begin(c, &r);
    ext_key(c, &r, "visa_holder");
    iop_buf_puts(&c->ext, visa_holder ? "true" : "false");
    int64_t last_entry = entries[trips - 1];
    int64_t stay_until = last_entry + 89;
    if (visa_holder && until < stay_until) stay_until = until;
    ext_date(c, &r, "authorised_stay_until", stay_until);
    ext_key(c, &r, "movements");
    iop_buf_puts(&c->ext, "[");
    int64_t prev_exit = 0;
    bool first = true;
    for (int i = 0; i < trips; i++) {
        int64_t e = entries[i];
        if (e <= prev_exit) continue;
        int stay = chance(c, 0.85) ? 2 + (int)below(c, 20) : 20 + (int)below(c, 70);
        int64_t x = e + stay;
        bool overstay = i == trips - 1 && chance(c, 0.02);
        /* the stay ends within the authorised period (90 days, the visa's validity) */
        int64_t cap = e + 89 < until ? e + 89 : until;
        if (x > cap && cap > e) x = cap;
        const char *bcp = gen_bcps[below(c, (uint32_t)gen_n_bcps)];
        ext_movement(c, first, "entry", e, bcp, sticker);
        first = false;
        if (x < c->ref_days && !overstay)
            ext_movement(c, false, "exit", x, chance(c, 0.7) ? bcp : gen_bcps[below(c, (uint32_t)gen_n_bcps)], NULL);
        prev_exit = x;
    }
    iop_buf_puts(&c->ext, "]");
    ext_end(c, &r);
    /* EES Art 16(1)(d): visa holders' file holds the face; Art 17(1): visa-exempt persons
     * four fingers of the right hand and the face; children under 12 give no fingerprints */
    bool fp = !visa_holder && pp->age >= 12;
    emit(c, pp, &r, fp ? right4 : NULL, fp ? 4 : 0, true);
}

static void gen_ees_refusal(gen_ctx *c, person *pp, int idn, bool visa_holder) {
    recb r;
    recb_init(&r, IOP_SYS_EES, "refusal_file");
    render_identity(c, pp, &r, idn, true, chance(c, 0.5));
    ext_begin(c, &r);
    ext_key(c, &r, "visa_holder");
    iop_buf_puts(&c->ext, visa_holder ? "true" : "false");
    ext_key(c, &r, "movements");
    iop_buf_puts(&c->ext, "[");
    ext_movement(c, true, "refusal", c->ref_days - below(c, 3 * 365), gen_bcps[below(c, (uint32_t)gen_n_bcps)], NULL);
    iop_buf_puts(&c->ext, "]");
    ext_end(c, &r);
    bool fp = !visa_holder && pp->age >= 12;
    emit(c, pp, &r, fp ? right4 : NULL, fp ? 4 : 0, true);
}

/* VIS applications, then the EES file of the visas used. */
static void gen_vis_chain(gen_ctx *c, person *pp, int idn, int max_apps, bool allow_ees) {
    int n = geometric(c, 0.45, max_apps);
    int64_t lodged[8];
    for (int i = 0; i < n; i++) lodged[i] = c->ref_days - 5 * 365 + 10 + (int64_t)below(c, 5 * 365 - 10);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && lodged[j] < lodged[j - 1]; j--) { int64_t t = lodged[j]; lodged[j] = lodged[j - 1]; lodged[j - 1] = t; }
    int64_t ees_from = 0, ees_until = 0;
    const char *ees_sticker = NULL;
    for (int i = 0; i < n; i++) {
        recb r;
        recb_init(&r, IOP_SYS_VIS, "visa_application");
        render_identity(c, pp, &r, idn, true, chance(c, 0.3));
        set_pob(pp, &r);
        const char *state = chance(c, 0.8) ? pp->home_state : schengen_state(c);
        double u = U(c);
        const char *status = u < 0.86 ? "issued" : u < 0.95 ? "refused" : u < 0.96 ? "annulled" : u < 0.97 ? "revoked"
                           : u < 0.98 ? "extended" : "issued";
        if (i == n - 1 && c->ref_days - lodged[i] < 20) status = "lodged";
        u = U(c);
        const char *type = u < 0.93 ? "C" : u < 0.96 ? "D" : u < 0.98 ? "LTV" : "A";
        ext_begin(c, &r);
        char num[40];
        int y, m, d;
        iop_civil_from_days(lodged[i], &y, &m, &d);
        snprintf(num, sizeof num, "%s%04d%09llu", state, y, (unsigned long long)++c->app_counter);
        ext_str(c, &r, "application_number", num);
        ext_str(c, &r, "status", status);
        ext_str(c, &r, "visa_type", type);
        ext_str(c, &r, "issuing_state", state);
        ext_date(c, &r, "lodged_on", lodged[i]);
        bool granted = strcmp(status, "refused") && strcmp(status, "lodged");
        char sticker[24];
        if (granted) {
            int64_t vf = lodged[i] + 5 + below(c, 25);
            double v = U(c);
            int64_t len = !strcmp(type, "D") ? 365 : v < 0.5 ? 30 + below(c, 60) : v < 0.8 ? 365 : v < 0.95 ? 3 * 365 : 5 * 365;
            int64_t vu = vf + len;
            if (!strcmp(status, "extended")) vu += 30;
            ext_date(c, &r, "valid_from", vf);
            ext_date(c, &r, "valid_until", vu);
            snprintf(sticker, sizeof sticker, "%s%09u", state, (unsigned)below(c, 1000000000u));
            if (strcmp(type, "D") && strcmp(type, "A") && (!strcmp(status, "issued") || !strcmp(status, "extended"))) {
                if (!ees_from || vu > ees_until) { ees_from = vf; ees_until = vu; ees_sticker = gen_arena_strdup(&c->arena, sticker); }
            }
        }
        ext_str(c, &r, "country_of_birth", pp->ids[idn].nat->code);
        if (granted) ext_str(c, &r, "sticker_number", sticker);
        ext_end(c, &r);
        /* VIS Art 13(7) (as amended): no fingerprints from children under 6 */
        emit(c, pp, &r, pp->age >= 6 ? ten : NULL, pp->age >= 6 ? 10 : 0, true);
    }
    if (allow_ees && ees_from && ees_until > c->ref_days - 3 * 365 && chance(c, 0.9))
        gen_ees(c, pp, idn, true, ees_from, ees_until, ees_sticker);
}

static void gen_etias_chain(gen_ctx *c, person *pp, int idn) {
    int n = chance(c, 0.15) ? 2 : 1;
    int64_t issued_from = 0, issued_until = 0;
    for (int i = 0; i < n; i++) {
        recb r;
        recb_init(&r, IOP_SYS_ETIAS, "application");
        render_identity(c, pp, &r, idn, true, chance(c, 0.2));
        set_pob(pp, &r);
        const identity *id = &pp->ids[idn];
        if (id->birth.n) r.p.surname_at_birth = (char *)latin_of(c, id, id->birth, true, false);
        int64_t sub = c->ref_days - (n - i) * 500 + (int64_t)below(c, 400);
        double u = U(c);
        const char *status = u < 0.95 ? "issued" : u < 0.97 ? "refused" : u < 0.985 ? "submitted" : u < 0.99 ? "annulled" : "revoked";
        if (!strcmp(status, "submitted")) sub = c->ref_days - below(c, 4);
        ext_begin(c, &r);
        char num[32];
        snprintf(num, sizeof num, "ETA%012llu", (unsigned long long)++c->app_counter);
        ext_str(c, &r, "application_number", num);
        ext_str(c, &r, "status", status);
        ext_date(c, &r, "submitted_on", sub);
        int64_t vu = sub + 3 * 365;
        if (id->has_doc && days_of(id->doc_expiry) < vu) vu = days_of(id->doc_expiry);
        if (!strcmp(status, "issued") || !strcmp(status, "revoked") || !strcmp(status, "annulled")) ext_date(c, &r, "valid_until", vu);
        ext_str(c, &r, "country_of_birth", id->nat->code);
        {
            const gen_name *fa = pool_pick(c, &c->names.given_m[id->cul]), *mo = pool_pick(c, &c->names.given_f[id->cul]);
            ext_key(c, &r, "parents_first_names");
            iop_buf_puts(&c->ext, "[");
            iop_buf_json_str(&c->ext, fa->n_latin ? fa->latin[0] : gen_cyr_romanise(&c->arena, fa->native, 0));
            iop_buf_puts(&c->ext, ",");
            iop_buf_json_str(&c->ext, mo->n_latin ? mo->latin[0] : gen_cyr_romanise(&c->arena, mo->native, 0));
            iop_buf_puts(&c->ext, "]");
        }
        {
            char mail[160], *g = gen_fold_diacritics(&c->arena, latin_of(c, id, id->giv[0], false, false), false),
                          *s = gen_fold_diacritics(&c->arena, latin_of(c, id, id->sur, true, false), false);
            snprintf(mail, sizeof mail, "%s.%s%u@example.org", g, s, (unsigned)below(c, 100));
            for (char *q = mail; *q; q++) {
                if (*q >= 'A' && *q <= 'Z') *q = (char)(*q + 32);
                else if (*q == ' ' || *q == '\'') *q = '-';
            }
            ext_str(c, &r, "email", mail);
        }
        ext_str(c, &r, "occupation", pp->age < 18 ? "student" : gen_occupations[below(c, (uint32_t)gen_n_occupations)]);
        static const char *const edu[] = {"primary", "secondary", "higher", "none"};
        ext_str(c, &r, "education", pp->age < 12 ? "primary" : edu[chance(c, 0.45) ? 2 : chance(c, 0.8) ? 1 : chance(c, 0.8) ? 0 : 3]);
        ext_str(c, &r, "member_state_first_stay", chance(c, 0.8) ? pp->home_state : schengen_state(c));
        ext_end(c, &r);
        emit(c, pp, &r, NULL, 0, false); /* ETIAS holds no biometrics */
        if (!strcmp(status, "issued")) { issued_from = sub; issued_until = vu; }
    }
    if (issued_from && chance(c, 0.92)) gen_ees(c, pp, idn, false, issued_from, issued_until, NULL);
}

static void gen_eurodac(gen_ctx *c, person *pp, const char *kind, int idn, const char *state, int64_t when) {
    recb r;
    recb_init(&r, IOP_SYS_EURODAC, kind);
    render_identity(c, pp, &r, idn, true, false);
    ext_begin(c, &r);
    ext_str(c, &r, "member_state_of_origin", state);
    ext_date(c, &r, "fingerprinted_on", when);
    char ref[32];
    snprintf(ref, sizeof ref, "%s1%011llu", state, (unsigned long long)++c->app_counter);
    ext_str(c, &r, "reference_number", ref);
    ext_end(c, &r);
    /* Eurodac (Reg. 2024/1358): fingerprints from the age of 6, and the facial image */
    emit(c, pp, &r, pp->age >= 6 ? ten : NULL, pp->age >= 6 ? 10 : 0, true);
}

static void gen_migrant(gen_ctx *c, person *pp) {
    static const char *const frontline[] = {"GRC", "ITA", "ESP", "BGR", "HRV", "MLT", "CYP", "HUN", "POL", "LTU"};
    static const char *const destination[] = {"DEU", "FRA", "ESP", "ITA", "GRC", "AUT", "NLD", "BEL", "SWE", "CHE"};
    /* an earlier visa for some (visa-required nationalities) */
    if (pp->ids[0].nat->visa_required && chance(c, 0.12)) gen_vis_chain(c, pp, 0, 1, true);
    int64_t t = c->ref_days - 9 * 365 + (int64_t)below(c, 9 * 365 - 30);
    int alt = pp->n_ids > 1 ? 1 + (int)below(c, (uint32_t)(pp->n_ids - 1)) : 0;
    double u = U(c);
    if (u < 0.35) {
        gen_eurodac(c, pp, "irregular_crosser", 0, frontline[below(c, 10)], t);
        t += 3 + below(c, 120);
        if (chance(c, 0.7)) gen_eurodac(c, pp, "applicant", pp->n_ids > 1 && chance(c, 0.5) ? alt : 0, destination[below(c, 10)], t);
    } else if (u < 0.9) {
        gen_eurodac(c, pp, "applicant", 0, destination[below(c, 10)], t);
    } else {
        gen_eurodac(c, pp, "illegal_stay", 0, destination[below(c, 10)], t);
    }
    /* secondary movements: applications in further Member States, often under another identity */
    int more = chance(c, 0.25) ? (chance(c, 0.3) ? 2 : 1) : 0;
    for (int i = 0; i < more && t < c->ref_days - 10; i++) {
        t += 10 + below(c, (uint32_t)((c->ref_days - t) > 11 ? (c->ref_days - t - 10) : 1));
        if (t > c->ref_days) t = c->ref_days;
        int idn = pp->n_ids > 1 && chance(c, 0.6) ? alt : 0;
        gen_eurodac(c, pp, chance(c, 0.8) ? "applicant" : "illegal_stay", idn, destination[below(c, 10)], t);
    }
    if (pp->n_ids > 1 && !more) gen_eurodac(c, pp, "applicant", alt, destination[below(c, 10)], t + 30 > c->ref_days ? c->ref_days : t + 30);
}

static bool is_ecris_state(const char *s) {
    for (size_t i = 0; i < gen_n_eu_ecris; i++)
        if (!strcmp(gen_eu_ecris[i], s)) return true;
    return false;
}

static void gen_ecris(gen_ctx *c, person *pp) {
    int n = chance(c, 0.15) ? 2 : 1;
    const char *first = NULL;
    for (int i = 0; i < n; i++) {
        recb r;
        recb_init(&r, IOP_SYS_ECRIS_TCN, "record");
        int idn = pp->n_ids > 1 && chance(c, 0.4) ? 1 + (int)below(c, (uint32_t)(pp->n_ids - 1)) : 0;
        render_identity(c, pp, &r, idn, true, false);
        set_pob(pp, &r);
        add_aliases(c, pp, &r, idn);
        const char *st = i == 0 && pp->path == GEN_PATH_RESIDENT && is_ecris_state(pp->home_state)
                             ? pp->home_state
                             : gen_eu_ecris[below(c, (uint32_t)gen_n_eu_ecris)];
        if (first && !strcmp(first, st)) break; /* one record per convicting Member State */
        first = st;
        if (i == 0) pp->ecris_state = st;
        ext_begin(c, &r);
        ext_str(c, &r, "convicting_state", st);
        ext_end(c, &r);
        /* Reg. 2019/816 Art 5(1)(b): fingerprints (and the facial image where national law allows) */
        emit(c, pp, &r, ten, 10, chance(c, 0.7));
    }
    pp->convicted = true;
}

static const char *sis_category(gen_ctx *c, person *pp) {
    typedef struct { const char *cat; double w; } cw;
    static const cw child[] = {{"missing", 0.6}, {"vulnerable", 0.3}, {"return", 0.1}};
    static const cw migrant[] = {{"return", 0.45}, {"refusal_of_entry", 0.35}, {"missing", 0.03}, {"discreet_check", 0.05},
                                 {"arrest", 0.03}, {"inquiry_check", 0.02}, {"specific_check", 0.01}, {"judicial_procedure", 0.02},
                                 {"information_alert", 0.01}, {"unknown_wanted", 0.01}, {"vulnerable", 0.02}};
    static const cw convicted[] = {{"arrest", 0.35}, {"refusal_of_entry", 0.2}, {"judicial_procedure", 0.15},
                                   {"discreet_check", 0.15}, {"specific_check", 0.05}, {"inquiry_check", 0.05},
                                   {"information_alert", 0.03}, {"unknown_wanted", 0.02}};
    static const cw other[] = {{"refusal_of_entry", 0.35}, {"discreet_check", 0.2}, {"missing", 0.1}, {"vulnerable", 0.05},
                               {"judicial_procedure", 0.1}, {"arrest", 0.08}, {"inquiry_check", 0.05}, {"specific_check", 0.04},
                               {"information_alert", 0.02}, {"return", 0.01}};
    const cw *t;
    size_t n;
    if (pp->age < 18) { t = child; n = 3; }
    else if (pp->convicted) { t = convicted; n = sizeof convicted / sizeof *convicted; }
    else if (pp->path == GEN_PATH_MIGRANT) { t = migrant; n = sizeof migrant / sizeof *migrant; }
    else { t = other; n = sizeof other / sizeof *other; }
    double tot = 0;
    for (size_t i = 0; i < n; i++) tot += t[i].w;
    double u = U(c) * tot;
    for (size_t i = 0; i < n; i++) {
        if (u < t[i].w) return t[i].cat;
        u -= t[i].w;
    }
    return t[n - 1].cat;
}

static const char *sis_action(const char *cat) {
    static const struct { const char *cat, *action; } a[] = {
        {"refusal_of_entry", "refuse entry or stay"}, {"return", "enforce the return decision"},
        {"arrest", "arrest for surrender or extradition"}, {"missing", "place under protection"},
        {"vulnerable", "prevent travel, place under protection"}, {"judicial_procedure", "communicate place of residence"},
        {"discreet_check", "discreet check, report"}, {"inquiry_check", "inquiry check, interview"},
        {"specific_check", "specific check, search"}, {"information_alert", "report, do not detain"},
        {"unknown_wanted", "identify, report"}};
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        if (!strcmp(a[i].cat, cat)) return a[i].action;
    return "report";
}

static void gen_sis_person(gen_ctx *c, person *pp) {
    recb r;
    recb_init(&r, IOP_SYS_SIS, "person_alert");
    const char *cat = sis_category(c, pp);
    int idn = pp->n_ids > 1 && chance(c, 0.3) ? 1 + (int)below(c, (uint32_t)(pp->n_ids - 1)) : 0;
    render_identity(c, pp, &r, idn, chance(c, 0.6), false);
    set_pob(pp, &r);
    if (pp->n_ids > 1 && chance(c, 0.7)) add_aliases(c, pp, &r, idn);
    const char *st = pp->ecris_state && strcmp(pp->ecris_state, "CYP") && strcmp(pp->ecris_state, "IRL") ? pp->ecris_state : schengen_state(c);
    ext_begin(c, &r);
    ext_str(c, &r, "category", cat);
    ext_str(c, &r, "issuing_state", st);
    ext_str(c, &r, "action", sis_action(cat));
    ext_date(c, &r, "review_date", c->ref_days + 30 + below(c, 3 * 365));
    if (!strcmp(cat, "arrest") && chance(c, 0.3)) {
        static const char *const wm[] = {"armed", "violent", "escape risk", "suicidal", "terrorism-related activity", "public health risk"};
        ext_key(c, &r, "warning_markers");
        uint32_t a = below(c, 6), b = below(c, 6);
        iop_buf_puts(&c->ext, "[");
        iop_buf_json_str(&c->ext, wm[a]);
        if (b != a) { iop_buf_puts(&c->ext, ","); iop_buf_json_str(&c->ext, wm[b]); }
        iop_buf_puts(&c->ext, "]");
    }
    ext_end(c, &r);
    if (!strcmp(cat, "arrest")) pp->arrest_alert = true;
    /* fingerprints and face when the issuing state has them (more likely when the
     * person was enrolled with fingerprints elsewhere) */
    bool have = chance(c, pp->fingerprinted ? 0.7 : 0.2);
    emit(c, pp, &r, have ? ten : NULL, have ? 10 : 0, have);
}

static void gen_europol(gen_ctx *c, person *pp) {
    static const char *const areas[] = {"drug trafficking", "migrant smuggling", "trafficking in human beings", "terrorism",
                                        "fraud", "cybercrime", "money laundering", "organised property crime",
                                        "firearms trafficking"};
    recb r;
    recb_init(&r, IOP_SYS_EUROPOL, "person");
    int idn = pp->n_ids > 1 && chance(c, 0.4) ? 1 + (int)below(c, (uint32_t)(pp->n_ids - 1)) : 0;
    render_identity(c, pp, &r, idn, chance(c, 0.5), false);
    if (pp->n_ids > 1) add_aliases(c, pp, &r, idn);
    ext_begin(c, &r);
    ext_str(c, &r, "crime_area", pp->path == GEN_PATH_MIGRANT && chance(c, 0.5) ? "migrant smuggling" : areas[below(c, 9)]);
    ext_str(c, &r, "data_owner", chance(c, 0.2) ? "Europol" : gen_eu_ecris[below(c, (uint32_t)gen_n_eu_ecris)]);
    ext_end(c, &r);
    emit(c, pp, &r, NULL, 0, false);
}

/* A document reported to Interpol SLTD (status) by its issuing country, and with
 * probability p_sis also to SIS for seizure.  named: the holder's identity idn is on
 * the reports (half the time on the SIS alert); otherwise they carry the document only. */
static void gen_document_reports(gen_ctx *c, person *pp, int idn, rec_document doc, const char *status, bool named,
                                 double p_sis) {
    recb r;
    recb_init(&r, IOP_SYS_INTERPOL, "sltd_document");
    r.identity = idn;
    if (named) render_identity(c, pp, &r, idn, false, true);
    r.doc[0] = doc;
    r.p.documents = r.doc;
    r.p.n_documents = 1;
    ext_begin(c, &r);
    ext_str(c, &r, "status", status);
    ext_str(c, &r, "reported_by", doc.country);
    ext_end(c, &r);
    emit(c, pp, &r, NULL, 0, false);
    if (!chance(c, p_sis)) return;
    recb s;
    recb_init(&s, IOP_SYS_SIS, "document_alert");
    s.identity = idn;
    if (named && chance(c, 0.5)) render_identity(c, pp, &s, idn, false, true);
    s.doc[0] = doc;
    s.p.documents = s.doc;
    s.p.n_documents = 1;
    ext_begin(c, &s);
    ext_str(c, &s, "category", "document_seizure");
    ext_str(c, &s, "issuing_state", schengen_state(c));
    ext_str(c, &s, "action", "seize the document");
    ext_date(c, &s, "review_date", c->ref_days + 30 + below(c, 5 * 365));
    ext_end(c, &s);
    emit(c, pp, &s, NULL, 0, false);
}

/* A lost or stolen earlier passport of the person's true identity. */
static void gen_lost_document(gen_ctx *c, person *pp) {
    const identity *id = &pp->ids[0];
    char num[16];
    make_doc_number(c, id->nat, num);
    iop_date exp = date_of(c->ref_days + 30 + below(c, 8 * 365));
    double u = U(c);
    const char *status = u < 0.6 ? "lost" : u < 0.95 ? "stolen" : u < 0.98 ? "revoked" : "invalid";
    bool named = chance(c, 0.5);
    gen_document_reports(c, pp, 0, (rec_document){"passport", num, (char *)id->nat->code, exp}, status, named,
                         !strcmp(status, "stolen") ? 0.2 : 0.0);
}

/* The stolen passport another identity of the person travels with: reported without
 * the holder's name (the holder is not in the population). */
static void gen_stolen_document(gen_ctx *c, person *pp, int idn) {
    const identity *id = &pp->ids[idn];
    gen_document_reports(c, pp, idn, (rec_document){"passport", (char *)id->doc_number, (char *)id->doc_country, id->doc_expiry},
                         "stolen", false, 0.3);
}

/* ------------------------------------------------------------------ persons */

static void make_identity(gen_ctx *c, person *pp, identity *id, const gen_country *nat, char sex) {
    memset(id, 0, sizeof *id);
    id->nat = nat;
    id->cul = nat->culture;
    id->sex = sex;
    id->scheme = chance(c, 0.8) ? 0 : 1;
    draw_names(c, id, true, true);
    if (sex == 'F' && pp->age > 25 && id->cul != CUL_ARABIC && id->cul != CUL_CHINESE && chance(c, 0.25))
        id->birth = pick_name(c, &c->names.surnames[id->cul], nat);
    /* date of birth from the age */
    int64_t born = c->ref_days - (int64_t)pp->age * 365 - (int64_t)(pp->age / 4) - below(c, 365);
    id->dob = date_of(born);
    id->dob_year_only = pp->path == GEN_PATH_MIGRANT && chance(c, 0.15);
    /* travel document */
    if (pp->path == GEN_PATH_TRAVELLER || (pp->path == GEN_PATH_MIGRANT ? chance(c, 0.45) : chance(c, 0.9))) {
        id->has_doc = true;
        if (pp->path == GEN_PATH_RESIDENT && chance(c, 0.6)) {
            strcpy(id->doc_type, "residence_permit");
            snprintf(id->doc_country, sizeof id->doc_country, "%s", pp->home_state);
            snprintf(id->doc_number, sizeof id->doc_number, "%c%c%08u", 'A' + (int)below(c, 26), 'A' + (int)below(c, 26),
                     (unsigned)below(c, 100000000u));
        } else {
            strcpy(id->doc_type, "passport");
            snprintf(id->doc_country, sizeof id->doc_country, "%s", nat->code);
            make_doc_number(c, nat, id->doc_number);
        }
        int valid_years = pp->age < 18 ? 5 : 10;
        id->doc_expiry = date_of(c->ref_days - below(c, (uint32_t)(valid_years * 365 - 60)) + valid_years * 365);
    }
}

/* Another identity of the same person: other names, date of birth, perhaps another
 * nationality and another document; the biometrics stay the same. */
static void make_alt_identity(gen_ctx *c, person *pp, identity *alt) {
    const identity *base = &pp->ids[0];
    *alt = *base;
    if (chance(c, 0.25)) {
        const gen_country *n2 = pick_country(c, pp->path);
        alt->nat = n2;
        if (n2->culture != base->cul && chance(c, 0.5)) {
            alt->cul = n2->culture;
            draw_names(c, alt, true, true);
        }
    }
    if (alt->cul == base->cul) {
        double u = U(c);
        if (u < 0.5) draw_names(c, alt, false, true);
        else if (u < 0.8) draw_names(c, alt, true, true);
        else draw_names(c, alt, true, false);
    }
    alt->birth.n = NULL;
    double u = U(c);
    int64_t dob = days_of(base->dob);
    if (u < 0.6) dob += (chance(c, 0.5) ? 1 : -1) * (int64_t)(1 + below(c, 5)) * 365;
    else if (u < 0.85) dob = iop_days_from_civil(base->dob.year, 1, 1) + below(c, 365);
    alt->dob = date_of(dob);
    alt->dob_year_only = pp->path == GEN_PATH_MIGRANT && chance(c, 0.3);
    alt->has_doc = base->has_doc && !(pp->path != GEN_PATH_TRAVELLER && chance(c, 0.3));
    if (alt->has_doc) {
        strcpy(alt->doc_type, "passport");
        snprintf(alt->doc_country, sizeof alt->doc_country, "%s", alt->nat->code);
        make_doc_number(c, alt->nat, alt->doc_number);
        alt->doc_expiry = date_of(c->ref_days + 30 + below(c, 9 * 365));
        alt->stolen_doc = chance(c, pp->path == GEN_PATH_TRAVELLER ? 0.05 : 0.2);
    }
}

static void write_person_rows(gen_ctx *c, const person *pp) {
    for (int i = 0; i < pp->n_ids; i++) {
        const identity *id = &pp->ids[i];
        char dob[16];
        iop_date_format(id->dob_year_only ? (iop_date){id->dob.year, 0, 0} : id->dob, dob);
        const char *sur = latin_of(c, id, id->sur, true, false);
        const char *g0 = latin_of(c, id, id->giv[0], false, false);
        const char *g1 = id->n_giv > 1 ? latin_of(c, id, id->giv[1], false, false) : NULL;
        const char *ns = native_of(c, id, id->sur, true), *ng = native_of(c, id, id->giv[0], false);
        fprintf(c->persons, "%s,%d,%s,%s%s%s,%s%s%s,%c,%s,%s,%s,%s,%s\n", pp->pid, i, sur, g0, g1 ? " " : "", g1 ? g1 : "",
                ns ? ns : "", ns ? " " : "", ns && ng ? ng : "", id->sex, dob, id->nat->code, gen_culture_name(id->cul),
                gen_path_name(pp->path), id->has_doc ? id->doc_number : "");
    }
}

static void gen_person(gen_ctx *c, uint64_t idx) {
    person P;
    person *pp = &P;
    memset(pp, 0, sizeof *pp);
    iop_rng_seed(&c->rng, c->p->seed * 0x9E3779B97F4A7C15ull + idx * 0xD1B54A32D192ED03ull + 0x5DEECE66Dull);
    pp->idx = idx;
    snprintf(pp->pid, sizeof pp->pid, "P%09llu", (unsigned long long)idx + 1);
    double u = U(c);
    pp->path = u < c->p->share_traveller ? GEN_PATH_TRAVELLER
             : u < c->p->share_traveller + c->p->share_migrant ? GEN_PATH_MIGRANT : GEN_PATH_RESIDENT;
    const gen_country *nat = pick_country(c, pp->path);
    char sex = chance(c, pp->path == GEN_PATH_MIGRANT ? 0.7 : 0.52) ? 'M' : 'F';
    int age;
    if (pp->path == GEN_PATH_TRAVELLER)
        age = chance(c, 0.1) ? 2 + (int)below(c, 16) : (int)(42 + 14 * iop_rng_normal(&c->rng));
    else if (pp->path == GEN_PATH_MIGRANT)
        age = (int)(27 + 9 * iop_rng_normal(&c->rng));
    else
        age = (int)(35 + 12 * iop_rng_normal(&c->rng));
    if (age < 1) age = 1;
    if (age > 85) age = 85;
    if (pp->path != GEN_PATH_TRAVELLER && age < 14 && chance(c, 0.7)) age += 14;
    pp->age = age;
    pp->city = nat->cities[below(c, 3)];
    pp->home_state = schengen_state(c);
    make_identity(c, pp, &pp->ids[0], nat, sex);
    pp->n_ids = 1;
    double pm = pp->path == GEN_PATH_TRAVELLER ? c->p->multi_identity_traveller
              : pp->path == GEN_PATH_MIGRANT ? c->p->multi_identity_migrant : c->p->multi_identity_resident;
    if (age >= 16 && chance(c, pm)) {
        pp->n_ids = chance(c, 0.85) ? 2 : 3;
        for (int i = 1; i < pp->n_ids; i++) make_alt_identity(c, pp, &pp->ids[i]);
    }
    c->st.persons++;
    c->st.per_path[pp->path]++;
    c->st.identities += (uint64_t)pp->n_ids;
    if (pp->n_ids > 1) c->st.multi_identity_persons++;

    switch (pp->path) {
    case GEN_PATH_TRAVELLER:
        for (int i = 0; i < pp->n_ids; i++) {
            /* each identity a traveller uses has its own travel history (i = 0 always) */
            if (i > 0 && !chance(c, 0.8)) continue;
            if (pp->ids[i].nat->visa_required) gen_vis_chain(c, pp, i, 5, true);
            else gen_etias_chain(c, pp, i);
        }
        if (chance(c, 0.003)) gen_ees_refusal(c, pp, 0, pp->ids[0].nat->visa_required);
        if (chance(c, 0.003)) gen_ecris(c, pp);
        if (chance(c, pp->convicted ? 0.4 : 0.004)) gen_sis_person(c, pp);
        break;
    case GEN_PATH_MIGRANT:
        gen_migrant(c, pp);
        if (chance(c, 0.04)) gen_ecris(c, pp);
        if (chance(c, pp->convicted ? 0.5 : 0.12)) gen_sis_person(c, pp);
        if (chance(c, 0.01)) gen_ees_refusal(c, pp, 0, pp->ids[0].nat->visa_required);
        break;
    default: {
        /* a resident appears in at least one system */
        double v = U(c);
        if (v < 0.6) {
            gen_ecris(c, pp);
            if (chance(c, 0.3)) gen_sis_person(c, pp);
        } else if (v < 0.9) {
            gen_sis_person(c, pp);
            if (chance(c, 0.1)) gen_ecris(c, pp);
        } else {
            gen_europol(c, pp);
            pp->convicted = pp->convicted || chance(c, 0.3);
        }
        break;
    }
    }
    if (pp->path != GEN_PATH_RESIDENT || pp->convicted || pp->arrest_alert) {
        double pe = pp->arrest_alert ? 0.3 : pp->convicted ? 0.08 : pp->path == GEN_PATH_MIGRANT ? 0.01 : 0.0005;
        if (chance(c, pe)) gen_europol(c, pp);
    }
    if (pp->ids[0].has_doc && chance(c, 0.02)) gen_lost_document(c, pp);
    for (int i = 1; i < pp->n_ids; i++)
        if (pp->ids[i].has_doc && pp->ids[i].stolen_doc) gen_stolen_document(c, pp, i);
    write_person_rows(c, pp);
    gen_arena_reset(&c->arena);
}

/* ------------------------------------------------------------------ biometric batches */

typedef struct worker {
    gen_ctx *c;
    int w;
    size_t from, to;
    iop_code rc;
    iop_err err;
} worker;

static void *worker_run(void *arg) {
    worker *k = arg;
    gen_ctx *c = k->c;
    iop_buf *out = &c->wbuf[k->w];
    iop_buf_reset(out);
    for (size_t i = k->from; i < k->to && !k->rc; i++) {
        pend *q = &c->pend[i];
        q->worker = k->w;
        q->boff = out->len;
        k->rc = gen_bio_fragment(c->bio, q->bio_id, q->capture, q->fmask, q->face, out, &k->err);
        q->blen = out->len - q->boff;
    }
    return NULL;
}

/* Computes the queued records' biometrics on the workers, then writes the records in
 * their generation order. */
static void flush_batch(gen_ctx *c) {
    if (c->rc || !c->n_pend) return;
    worker wk[GEN_MAX_THREADS];
    pthread_t th[GEN_MAX_THREADS];
    bool started[GEN_MAX_THREADS] = {false};
    int t = c->threads;
    size_t per = (c->n_pend + (size_t)t - 1) / (size_t)t;
    for (int i = 0; i < t; i++) {
        wk[i] = (worker){c, i, (size_t)i * per, (size_t)(i + 1) * per, IOP_OK, {0}};
        if (wk[i].from > c->n_pend) wk[i].from = c->n_pend;
        if (wk[i].to > c->n_pend) wk[i].to = c->n_pend;
    }
    for (int i = 1; i < t; i++) started[i] = pthread_create(&th[i], NULL, worker_run, &wk[i]) == 0;
    worker_run(&wk[0]);
    for (int i = 1; i < t; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else worker_run(&wk[i]);
    }
    for (int i = 0; i < t; i++)
        if (wk[i].rc) {
            c->rc = wk[i].rc;
            if (c->err) *c->err = wk[i].err;
            return;
        }
    for (size_t i = 0; i < c->n_pend; i++) {
        pend *q = &c->pend[i];
        FILE *f = c->out[q->sys];
        fwrite(c->jbuf.data + q->off, 1, q->len, f);
        if (q->blen) fwrite(c->wbuf[q->worker].data + q->boff, 1, q->blen, f);
        if (fwrite("}\n", 1, 2, f) != 2) {
            c->rc = iop_fail(c->err, IOP_EIO, "%s: write failed: %s", c->path_buf[q->sys], strerror(errno));
            return;
        }
        c->st.bytes += q->len + q->blen + 2;
    }
    c->n_pend = 0;
    iop_buf_reset(&c->jbuf);
}

/* ------------------------------------------------------------------ gen.json */

static iop_code open_out(gen_ctx *c, FILE **f, char *path, const char *dir, const char *name, const char *header);
static iop_code close_out(gen_ctx *c, FILE **f, const char *path);

/* The parameters and the counts of a run, so that a population says how it was made. */
static iop_code write_summary(gen_ctx *c) {
    const gen_params *p = c->p;
    const gen_stats *st = &c->st;
    iop_buf b;
    iop_buf_init(&b);
    char ref[16];
    iop_date_format(p->reference, ref);
    int bad = iop_buf_printf(&b, "{\n  \"persons\": %llu,\n  \"seed\": %llu,\n  \"reference\": \"%s\",\n"
                                 "  \"biometrics\": %s,\n  \"face_dim\": %u,\n",
                             (unsigned long long)p->persons, (unsigned long long)p->seed, ref,
                             st->biometrics_filled ? "true" : "false", p->face_dim);
    bad |= iop_buf_printf(&b, "  \"shares\": {\"traveller\": %g, \"migrant\": %g, \"resident\": %g},\n",
                          p->share_traveller, p->share_migrant, 1 - p->share_traveller - p->share_migrant);
    bad |= iop_buf_printf(&b, "  \"multi_identity\": {\"traveller\": %g, \"migrant\": %g, \"resident\": %g},\n",
                          p->multi_identity_traveller, p->multi_identity_migrant, p->multi_identity_resident);
    bad |= iop_buf_puts(&b, "  \"errors\": {");
    for (int e = 0; e < GEN_ERR_COUNT; e++)
        bad |= iop_buf_printf(&b, "%s\n    \"%s\": {\"rate\": %g, \"applied\": %llu, \"eligible\": %llu}", e ? "," : "",
                              gen_error_name((gen_error)e), p->rate[e], (unsigned long long)st->err_applied[e],
                              (unsigned long long)st->err_eligible[e]);
    bad |= iop_buf_printf(&b, "\n  },\n  \"records\": %llu,\n  \"per_system\": {", (unsigned long long)st->records);
    for (int s = 0; s < IOP_SYS_COUNT; s++)
        bad |= iop_buf_printf(&b, "%s\"%s\": %llu", s ? ", " : "", iop_system_name((iop_system)s),
                              (unsigned long long)st->per_system[s]);
    bad |= iop_buf_printf(&b, "},\n  \"per_path\": {\"traveller\": %llu, \"migrant\": %llu, \"resident\": %llu},\n",
                          (unsigned long long)st->per_path[0], (unsigned long long)st->per_path[1],
                          (unsigned long long)st->per_path[2]);
    bad |= iop_buf_printf(&b, "  \"identities\": %llu,\n  \"multi_identity_persons\": %llu\n}\n",
                          (unsigned long long)st->identities, (unsigned long long)st->multi_identity_persons);
    iop_code rc = IOP_OK;
    if (bad) rc = iop_fail(c->err, IOP_ENOMEM, "out of memory");
    else {
        FILE *f;
        char path[1200];
        if (!(rc = open_out(c, &f, path, p->out_dir, "gen.json", NULL))) {
            fwrite(b.data, 1, b.len, f);
            rc = close_out(c, &f, path);
        }
    }
    iop_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ driver */

static iop_code open_out(gen_ctx *c, FILE **f, char *path, const char *dir, const char *name, const char *header) {
    snprintf(path, 1200, "%s/%s", dir, name);
    *f = fopen(path, "w");
    if (!*f) return iop_fail(c->err, IOP_EIO, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(*f, NULL, _IOFBF, 1 << 20);
    if (header) fputs(header, *f);
    return IOP_OK;
}

static iop_code close_out(gen_ctx *c, FILE **f, const char *path) {
    if (!*f) return IOP_OK;
    bool bad = ferror(*f) != 0;
    if (fclose(*f)) bad = true;
    *f = NULL;
    return bad ? iop_fail(c->err, IOP_EIO, "%s: write failed: %s", path, strerror(errno)) : IOP_OK;
}

iop_code gen_run(const gen_params *p, gen_stats *stats, iop_err *err) {
    if (!p->persons) return iop_fail(err, IOP_EINVAL, "--persons: must be at least 1");
    if (!p->out_dir || !*p->out_dir) return iop_fail(err, IOP_EINVAL, "--out: an output directory is required");
    if (!p->data_dir || !*p->data_dir) return iop_fail(err, IOP_EINVAL, "--data: the shared data directory is required");
    if (!iop_date_valid(p->reference) || !p->reference.day)
        return iop_fail(err, IOP_EINVAL, "reference date: a full valid date is required");
    if (p->share_traveller < 0 || p->share_migrant < 0 || p->share_traveller + p->share_migrant > 1)
        return iop_fail(err, IOP_EINVAL, "path shares: traveller + migrant must lie in [0, 1]");
    for (int i = 0; i < GEN_ERR_COUNT; i++)
        if (!(p->rate[i] >= 0 && p->rate[i] <= 1))
            return iop_fail(err, IOP_EINVAL, "error rate %s: %g is not a probability", gen_error_name((gen_error)i), p->rate[i]);

    gen_ctx *c = calloc(1, sizeof *c);
    if (!c) return iop_fail(err, IOP_ENOMEM, "out of memory");
    c->p = p;
    c->err = err;
    uint64_t t0 = iop_mono_ns();
    iop_code rc = gen_names_load(p->data_dir, &c->names, err);
    if (rc) { free(c); return rc; }
    c->ref_days = days_of(p->reference);
    for (int path = 0; path < GEN_PATH_COUNT; path++) {
        double s = 0;
        for (size_t i = 0; i < gen_n_countries; i++) c->cum_path[path][i] = (s += gen_countries[i].w_path[path]);
    }
    iop_buf_init(&c->line);
    iop_buf_init(&c->ext);
    iop_buf_init(&c->jbuf);
    for (int i = 0; i < GEN_MAX_THREADS; i++) iop_buf_init(&c->wbuf[i]);
    c->threads = p->threads;
    if (c->threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 ? (int)n : 1;
    }
    if (c->threads > GEN_MAX_THREADS) c->threads = GEN_MAX_THREADS;
    if (p->biometrics) {
        rc = gen_bio_new(p->seed, p->face_dim ? p->face_dim : 128, &c->bio, err);
        if (rc == IOP_ENOTFOUND) { c->bio = NULL; rc = IOP_OK; } /* the build has no synthetic generators */
    }
    if (!rc) rc = iop_mkdirs(p->out_dir, err);
    for (int s = 0; !rc && s < IOP_SYS_COUNT; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s.jsonl", iop_system_name((iop_system)s));
        rc = open_out(c, &c->out[s], c->path_buf[s], p->out_dir, name, NULL);
    }
    if (!rc) rc = open_out(c, &c->truth, c->path_buf[IOP_SYS_COUNT], p->out_dir, "truth.csv", "system,record_id,person_id\n");
    if (!rc) rc = open_out(c, &c->annot, c->path_buf[IOP_SYS_COUNT + 1], p->out_dir, "annotations.csv",
                           "system,record_id,person_id,identity,script,errors\n");
    if (!rc) rc = open_out(c, &c->persons, c->path_buf[IOP_SYS_COUNT + 2], p->out_dir, "persons.csv",
                           "person_id,identity,surname,given_names,native_name,sex,dob,nationality,culture,path,document_number\n");
    uint64_t step = p->persons >= 1000000 ? 100000 : p->persons >= 100000 ? 25000 : 0;
    for (uint64_t i = 0; !rc && i < p->persons; i++) {
        gen_person(c, i);
        if (c->n_pend >= GEN_BATCH) flush_batch(c);
        rc = c->rc;
        if (!rc && (c->arena.oom || c->line.data == NULL)) rc = iop_fail(err, IOP_ENOMEM, "out of memory generating person %llu", (unsigned long long)i + 1);
        if (step && p->progress && (i + 1) % step == 0)
            fprintf(p->progress, "gen: %llu/%llu persons, %llu records, %.1f s\n", (unsigned long long)i + 1,
                    (unsigned long long)p->persons, (unsigned long long)c->st.records, (double)(iop_mono_ns() - t0) / 1e9);
    }
    if (!rc) {
        flush_batch(c);
        rc = c->rc;
    }
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        iop_code r2 = close_out(c, &c->out[s], c->path_buf[s]);
        if (!rc) rc = r2;
    }
    iop_code r2 = close_out(c, &c->truth, c->path_buf[IOP_SYS_COUNT]);
    if (!rc) rc = r2;
    r2 = close_out(c, &c->annot, c->path_buf[IOP_SYS_COUNT + 1]);
    if (!rc) rc = r2;
    r2 = close_out(c, &c->persons, c->path_buf[IOP_SYS_COUNT + 2]);
    if (!rc) rc = r2;
    c->st.biometrics_filled = c->bio != NULL;
    if (!rc) rc = write_summary(c);
    c->st.seconds = (double)(iop_mono_ns() - t0) / 1e9;
    if (stats) *stats = c->st;
    gen_bio_free(c->bio);
    iop_buf_free(&c->line);
    iop_buf_free(&c->ext);
    iop_buf_free(&c->jbuf);
    for (int i = 0; i < GEN_MAX_THREADS; i++) iop_buf_free(&c->wbuf[i]);
    free(c->pend);
    gen_arena_free(&c->arena);
    gen_names_free(&c->names);
    free(c);
    return rc;
}
