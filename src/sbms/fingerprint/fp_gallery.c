/*
 * fp_gallery.c -- the 1:N gallery of the shared biometric matching service (Reg. (EU)
 * 2019/817 Art 13: the sBMS stores templates logically separated by connected system,
 * each with a reference to its record in that system; Art 14: searches by biometric
 * data; SIS checks every new fingerprint record against all existing ones).
 *
 * Storage per finger (about 0.95 KiB): one block holding the minutiae quantised to 500 ppi
 * pixels and 1.40625-degree angles (at most FP_STORED_MINUTIAE, the ones nearest the
 * centre) and the finger's minutia pairs for the first stage (fp_index_pairs.c), the
 * screen's code (fp_screen.c, in one contiguous array the screen streams), plus the
 * system id, position and a link to the record; per bit of the screen's code, the number
 * of stored codes holding it (the screen's statistics).  Records are found by (system, key)
 * through an open-addressing hash table.  Removal overwrites the finger's data before
 * releasing it.  Bulk enrolment prepares the blocks on several threads outside the
 * lock and inserts them under one write lock per chunk.
 *
 * Search, each stage on the gallery's threads: (0) screen: every stored finger of a
 * selected system whose position is compatible with a probe finger is scored by its
 * fixed-length pair code against the probe's (fp_screen.c, a few AND + population counts),
 * and the best `screen_keep` share passes (at least FP_SCREEN_MIN_FACTOR * prescreen
 * fingers; one threshold over all threads from a histogram of the scores); (1) pair
 * voting: each finger passed is scored by the
 * largest set of its pairs that agree on one placement of the probe, and the best
 * `prescreen` fingers kept (a min-heap per thread; once it is full, a finger that cannot
 * score above its minimum stops at an upper bound, see fp_index_pairs.c); (2) minutia pairing: those are rescored by the minutiae that
 * pair up once the probe is moved by the motion of the winning votes, and the best
 * `shortlist` kept; (3) their records are matched with the full MCC matcher
 * (record-level fusion) and the best k returned with per-finger evidence.
 *
 * Also here: the earlier fixed-length pair code (iop_fp_code_*), kept as a baseline for
 * benchmarks and fuzzing: for each minutia and each of its FP_CODE_K nearest
 * neighbours, the triple (distance, direction of the minutia relative to the segment,
 * direction of the neighbour relative to the segment) is quantised (FP_CODE_DBIN px,
 * FP_CODE_NA angle bins) and hashed to one of 4096 bits.  The probe code also sets the
 * adjacent bin of every value lying within FP_CODE_SOFT of a bin edge.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "interop/sbms_fp.h"
#include "fp_internal.h"
#include "fp_index.h"
#include "fp_screen.h"

#define PI_D 3.14159265358979323846
#define FP_CODE_K 8
#define FP_CODE_DBIN 8.0
#define FP_CODE_DMAX 150.0
#define FP_CODE_NA 24
#define FP_CODE_SOFT 0.3
#define FP_CODE_GMIN 48        /* regularises the similarity of very small gallery codes */
#define FP_STORED_MINUTIAE 72  /* with FPX_MAX_PAIRS pairs, keeps a stored finger within about 1 KiB */
#define FP_WINDOW_MIN 12        /* fewest minutiae in a window of a large probe finger's screen */
#define FP_DEFAULT_SHORTLIST 100
#define FP_DEFAULT_PRESCREEN 10000
#define FP_DEFAULT_SCREEN_KEEP 0.5        /* share of the gallery the screen passes to the voting */
#define FP_SCREEN_MIN_FACTOR 5            /* ... and never fewer than this many times `prescreen` */
#define FP_PAIR_PX 15.0                   /* second stage: paired minutiae tolerance */
#define FP_PAIR_RAD (26.0 * PI_D / 180.0)
#define FP_NO_SLOT UINT32_MAX
#ifndef FP_PREFETCH
#define FP_PREFETCH 16                    /* slots ahead the first stage prefetches */
#endif

/* ---------------------------------------------------------------- first-stage code */

static unsigned code_bit(int dq, int a1, int a2) {
    uint32_t h = (uint32_t)(dq * FP_CODE_NA * FP_CODE_NA + a1 * FP_CODE_NA + a2);
    h *= 0x9E3779B1u;
    return h >> (32 - 12); /* 4096 bits */
}

static double wrap2pi(double a) {
    a = fmod(a, 2 * PI_D);
    return a < 0 ? a + 2 * PI_D : a;
}

void iop_fp_code_make(const iop_fp_finger *f, bool probe, iop_fp_code *out) {
    fp_point p[IOP_FP_MAX_MINUTIAE];
    int n = fp_normalise(f, p);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        /* the K nearest neighbours of i */
        int nb[FP_CODE_K];
        double nd[FP_CODE_K];
        int cnt = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y, d2 = dx * dx + dy * dy;
            if (d2 < 4.0 || d2 > FP_CODE_DMAX * FP_CODE_DMAX) continue;
            if (cnt < FP_CODE_K) cnt++;
            else if (d2 >= nd[cnt - 1]) continue;
            int q = cnt - 1;
            while (q > 0 && nd[q - 1] > d2) { nd[q] = nd[q - 1]; nb[q] = nb[q - 1]; q--; }
            nd[q] = d2;
            nb[q] = j;
        }
        for (int q = 0; q < cnt; q++) {
            int j = nb[q];
            double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y;
            double d = sqrt(dx * dx + dy * dy), phi = atan2(dy, dx);
            double v[3] = {d / FP_CODE_DBIN, wrap2pi(p[i].t - phi) * FP_CODE_NA / (2 * PI_D),
                           wrap2pi(p[j].t - phi) * FP_CODE_NA / (2 * PI_D)};
            int lo[3], hi[3];
            for (int c = 0; c < 3; c++) {
                int b = (int)floor(v[c]);
                double fr = v[c] - b;
                lo[c] = hi[c] = b;
                if (probe && fr < FP_CODE_SOFT) lo[c] = b - 1;
                if (probe && fr > 1 - FP_CODE_SOFT) hi[c] = b + 1;
            }
            for (int a = lo[0]; a <= hi[0]; a++) {
                if (a < 0) continue;
                for (int b = lo[1]; b <= hi[1]; b++)
                    for (int c = lo[2]; c <= hi[2]; c++) {
                        unsigned bit = code_bit(a, (b + FP_CODE_NA) % FP_CODE_NA, (c + FP_CODE_NA) % FP_CODE_NA);
                        out->w[bit >> 6] |= 1ull << (bit & 63);
                    }
            }
        }
    }
    uint32_t pop = 0;
    for (int w = 0; w < IOP_FP_CODE_WORDS; w++) pop += (uint32_t)__builtin_popcountll(out->w[w]);
    out->pop = pop;
}

static inline __attribute__((always_inline)) double code_sim(const iop_fp_code *p, const iop_fp_code *g) {
    uint32_t c = 0;
    for (int w = 0; w < IOP_FP_CODE_WORDS; w++) c += (uint32_t)__builtin_popcountll(p->w[w] & g->w[w]);
    return (double)c / (g->pop > FP_CODE_GMIN ? g->pop : FP_CODE_GMIN);
}
FP_TARGET_POPCNT static double code_sim_popcnt(const iop_fp_code *p, const iop_fp_code *g) { return code_sim(p, g); }
static double code_sim_generic(const iop_fp_code *p, const iop_fp_code *g) { return code_sim(p, g); }

double iop_fp_code_similarity(const iop_fp_code *probe, const iop_fp_code *gallery) {
    double s = FP_HAVE_POPCNT() ? code_sim_popcnt(probe, gallery) : code_sim_generic(probe, gallery);
    return s > 1 ? 1 : s;
}

/* ---------------------------------------------------------------- gallery */

typedef struct fp_stored_min { uint16_t x, y; uint8_t angle, type; } fp_stored_min;

typedef struct fp_record {
    iop_fp_ref ref;
    uint32_t first;   /* first slot of the record's chain, FP_NO_SLOT if free */
    uint32_t nslots;
} fp_record;

/* A finger ready to be stored, prepared outside the gallery lock: one block holding
 * the minutiae (fp_stored_min[n]) followed by the first-stage pairs. */
typedef struct fp_prepared {
    uint8_t *blob;
    uint8_t n, np, pos;
    uint16_t pop;      /* bits set in code */
    fps_code code;     /* the screen's code */
} fp_prepared;

struct iop_fp_gallery {
    pthread_rwlock_t lock;
    size_t shortlist, prescreen;
    double screen_keep;
    int threads;
    /* slots (one stored finger each), structure of arrays */
    size_t nslot, capslot, live_slots;
    uint8_t **slot_blob;
    uint32_t *slot_rec, *slot_next;
    uint8_t *slot_sys, *slot_pos, *slot_n, *slot_np;
    fps_code *slot_code;    /* the screen's codes, contiguous: the screen streams them */
    uint16_t *slot_pop;
    uint32_t *free_slots;
    size_t nfree_slots;
    /* records */
    fp_record *rec;
    size_t nrec, caprec, live_recs;
    uint32_t *free_recs;
    size_t nfree_recs;
    /* hash (system, key) -> record index; EMPTY / TOMB markers */
    uint32_t *table;
    size_t tcap, tused;
    size_t blob_bytes; /* bytes held by the stored blocks */
    uint32_t bitcount[FPS_BITS]; /* stored codes holding each bit: the screen's statistics */
    uint64_t stored_minutiae;    /* minutiae of the live stored fingers (sizes the windows of large probes) */
};

#define T_EMPTY UINT32_MAX
#define T_TOMB (UINT32_MAX - 1)

static size_t blob_size(unsigned n, unsigned np) { return (size_t)n * sizeof(fp_stored_min) + (size_t)np * FPX_PAIR_BYTES; }
static const fp_stored_min *blob_min(const uint8_t *b) { return (const fp_stored_min *)(const void *)b; }
static const uint8_t *blob_pairs(const uint8_t *b, unsigned n) { return b + (size_t)n * sizeof(fp_stored_min); }

static uint64_t ref_hash(iop_fp_ref r) {
    uint64_t z = r.key * 0x9E3779B97F4A7C15ull ^ ((uint64_t)r.system << 56 | r.system);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool ref_eq(iop_fp_ref a, iop_fp_ref b) { return a.system == b.system && a.key == b.key; }

/* index in table of ref, or of the slot to insert it (*found tells) */
static size_t table_find(const iop_fp_gallery *g, iop_fp_ref r, bool *found) {
    size_t mask = g->tcap - 1, i = ref_hash(r) & mask, ins = SIZE_MAX;
    for (;;) {
        uint32_t v = g->table[i];
        if (v == T_EMPTY) { *found = false; return ins != SIZE_MAX ? ins : i; }
        if (v == T_TOMB) { if (ins == SIZE_MAX) ins = i; }
        else if (ref_eq(g->rec[v].ref, r)) { *found = true; return i; }
        i = (i + 1) & mask;
    }
}

static int table_grow(iop_fp_gallery *g) {
    size_t ncap = g->tcap ? g->tcap * 2 : 64;
    while (g->live_recs * 2 >= ncap) ncap *= 2;
    uint32_t *nt = malloc(ncap * sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < ncap; i++) nt[i] = T_EMPTY;
    uint32_t *old = g->table;
    size_t ocap = g->tcap;
    g->table = nt;
    g->tcap = ncap;
    g->tused = 0;
    for (size_t i = 0; i < ocap; i++) {
        uint32_t v = old[i];
        if (v == T_EMPTY || v == T_TOMB) continue;
        bool f;
        size_t at = table_find(g, g->rec[v].ref, &f);
        g->table[at] = v;
        g->tused++;
    }
    free(old);
    return 0;
}

iop_code iop_fp_gallery_new(const iop_fp_gallery_opts *opts, iop_fp_gallery **out, iop_err *err) {
    iop_fp_gallery *g = calloc(1, sizeof *g);
    if (!g) return iop_fail(err, IOP_ENOMEM, "out of memory");
    g->shortlist = opts && opts->shortlist ? opts->shortlist : FP_DEFAULT_SHORTLIST;
    g->prescreen = opts && opts->prescreen ? opts->prescreen : FP_DEFAULT_PRESCREEN;
    g->screen_keep = opts && opts->screen_keep > 0 ? opts->screen_keep : FP_DEFAULT_SCREEN_KEEP;
    if (g->prescreen < g->shortlist) g->prescreen = g->shortlist;
    g->threads = opts && opts->threads > 0 ? opts->threads : 1;
    if (g->threads > 64) g->threads = 64;
    if (pthread_rwlock_init(&g->lock, NULL)) { free(g); return iop_fail(err, IOP_EINTERNAL, "rwlock init failed"); }
    if (table_grow(g)) { iop_fp_gallery_free(g); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    *out = g;
    return IOP_OK;
}

static void wipe_free(uint8_t *p, size_t sz) {
    memset(p, 0, sz);
    /* keep the compiler from dropping the wipe of memory about to be freed */
    __asm__ __volatile__("" : : "r"(p) : "memory");
    free(p);
}

/* adds d (1 or -1 as uint32_t) to the gallery's count of every bit of c */
static void bitcount_add(iop_fp_gallery *g, const fps_code *c, uint32_t d) {
    for (int w = 0; w < FPS_WORDS; w++)
        for (uint64_t v = c->w[w]; v; v &= v - 1) g->bitcount[w * 64 + __builtin_ctzll(v)] += d;
}

static void slot_wipe(iop_fp_gallery *g, uint32_t s) {
    if (g->slot_blob[s]) {
        size_t sz = blob_size(g->slot_n[s], g->slot_np[s]);
        wipe_free(g->slot_blob[s], sz);
        g->blob_bytes -= sz;
        g->slot_blob[s] = NULL;
        bitcount_add(g, &g->slot_code[s], (uint32_t)-1);
        g->stored_minutiae -= g->slot_n[s];
    }
    memset(&g->slot_code[s], 0, sizeof g->slot_code[s]);
    __asm__ __volatile__("" : : "r"(&g->slot_code[s]) : "memory");
    g->slot_pop[s] = 0;
    g->slot_n[s] = 0;
    g->slot_np[s] = 0;
    g->slot_sys[s] = 0;
    g->slot_pos[s] = 0;
    g->slot_rec[s] = FP_NO_SLOT;
    g->slot_next[s] = FP_NO_SLOT;
}

void iop_fp_gallery_free(iop_fp_gallery *g) {
    if (!g) return;
    for (size_t s = 0; s < g->nslot; s++)
        if (g->slot_blob[s]) slot_wipe(g, (uint32_t)s);
    free(g->slot_blob);
    free(g->slot_rec); free(g->slot_next); free(g->slot_sys); free(g->slot_pos);
    free(g->slot_n); free(g->slot_np); free(g->slot_code); free(g->slot_pop); free(g->free_slots);
    free(g->rec); free(g->free_recs); free(g->table);
    pthread_rwlock_destroy(&g->lock);
    free(g);
}

static int grow_slots(iop_fp_gallery *g, size_t need) {
    size_t nc = g->capslot ? g->capslot + g->capslot / 4 + 16 : 64; /* 1.25: little slack at 10^6 fingers */
    if (nc < need) nc = need;
#define GROW(field) do { void *p_ = realloc(g->field, nc * sizeof *g->field); if (!p_) return -1; g->field = p_; } while (0)
    GROW(slot_blob); GROW(slot_rec); GROW(slot_next); GROW(slot_sys); GROW(slot_pos);
    GROW(slot_n); GROW(slot_np); GROW(slot_code); GROW(slot_pop); GROW(free_slots);
#undef GROW
    g->capslot = nc;
    return 0;
}

static int cmp_centre(const void *a, const void *b) {
    const double *x = a, *y = b;
    if (x[0] != y[0]) return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Quantises a finger to 500 ppi pixels and 1/256 turn, the minutiae nearest the
 * centroid first (at most FP_STORED_MINUTIAE), and builds its first-stage pairs from the
 * quantised minutiae.  -1 on ENOMEM. */
static int prepare_finger(const iop_fp_finger *f, fp_prepared *out) {
    double sx = f->xres ? 197.0 / f->xres : 1.0, sy = f->yres ? 197.0 / f->yres : sx;
    double order[IOP_FP_MAX_MINUTIAE][2], cx = 0, cy = 0;
    int n = f->n > IOP_FP_MAX_MINUTIAE ? IOP_FP_MAX_MINUTIAE : f->n;
    for (int i = 0; i < n; i++) { cx += f->m[i].x; cy += f->m[i].y; }
    if (n) { cx /= n; cy /= n; }
    for (int i = 0; i < n; i++) {
        double dx = f->m[i].x - cx, dy = f->m[i].y - cy;
        order[i][0] = dx * dx + dy * dy;
        order[i][1] = i;
    }
    qsort(order, (size_t)n, sizeof order[0], cmp_centre);
    if (n > FP_STORED_MINUTIAE) n = FP_STORED_MINUTIAE;
    fp_stored_min m[FP_STORED_MINUTIAE];
    fp_point pt[FP_STORED_MINUTIAE];
    for (int k = 0; k < n; k++) {
        const iop_fp_minutia *src = &f->m[(int)order[k][1]];
        double x = src->x * sx, y = src->y * sy;
        m[k].x = (uint16_t)(x < 0 ? 0 : x > 65535 ? 65535 : lround(x));
        m[k].y = (uint16_t)(y < 0 ? 0 : y > 65535 ? 65535 : lround(y));
        m[k].angle = (uint8_t)(lround(wrap2pi(isfinite(src->angle) ? src->angle : 0) * 128.0 / PI_D) & 255);
        m[k].type = src->type;
        pt[k].x = m[k].x;
        pt[k].y = -(float)m[k].y;
        pt[k].t = (float)(m[k].angle * PI_D / 128.0);
        pt[k].type = m[k].type;
    }
    uint8_t pairs[FPX_MAX_PAIRS * FPX_PAIR_BYTES];
    int np = fpx_pairs(pt, n, pairs);
    uint8_t *blob = malloc(blob_size((unsigned)n, (unsigned)np) ? blob_size((unsigned)n, (unsigned)np) : 1);
    if (!blob) return -1;
    memcpy(blob, m, (size_t)n * sizeof *m);
    memcpy(blob + (size_t)n * sizeof *m, pairs, (size_t)np * FPX_PAIR_BYTES);
    fps_code_make(pt, n, &out->code);
    out->pop = (uint16_t)fps_code_pop(&out->code);
    out->blob = blob;
    out->n = (uint8_t)n;
    out->np = (uint8_t)np;
    out->pos = f->position;
    return 0;
}

/* stores one prepared finger (taking its block) in a new slot */
static uint32_t store_prepared(iop_fp_gallery *g, fp_prepared *p, uint8_t system, uint32_t rec) {
    uint32_t s;
    if (g->nfree_slots) s = g->free_slots[--g->nfree_slots];
    else {
        if (g->nslot == g->capslot && grow_slots(g, 0)) return FP_NO_SLOT;
        s = (uint32_t)g->nslot++;
    }
    g->slot_blob[s] = p->blob;
    p->blob = NULL;
    g->slot_n[s] = p->n;
    g->slot_np[s] = p->np;
    g->slot_sys[s] = system;
    g->slot_pos[s] = p->pos;
    g->slot_rec[s] = rec;
    g->slot_next[s] = FP_NO_SLOT;
    g->slot_code[s] = p->code;
    g->slot_pop[s] = p->pop;
    bitcount_add(g, &p->code, 1);
    g->stored_minutiae += p->n;
    g->blob_bytes += blob_size(p->n, p->np);
    g->live_slots++;
    return s;
}

static void remove_record(iop_fp_gallery *g, uint32_t r, size_t table_at) {
    for (uint32_t s = g->rec[r].first, nx; s != FP_NO_SLOT; s = nx) {
        nx = g->slot_next[s];
        slot_wipe(g, s);
        g->free_slots[g->nfree_slots++] = s;
        g->live_slots--;
    }
    memset(&g->rec[r], 0, sizeof g->rec[r]);
    g->rec[r].first = FP_NO_SLOT;
    g->free_recs[g->nfree_recs++] = r;
    g->live_recs--;
    g->table[table_at] = T_TOMB;
}

/* A record prepared for insertion. */
typedef struct fp_prep_rec {
    size_t nf;
    fp_prepared f[IOP_FP_MAX_FINGERS];
    iop_code rc;
    iop_err err;
} fp_prep_rec;

static void prep_rec_release(fp_prep_rec *p) {
    for (size_t i = 0; i < p->nf; i++)
        if (p->f[i].blob) wipe_free(p->f[i].blob, blob_size(p->f[i].n, p->f[i].np));
    p->nf = 0;
}

/* quality check and preparation of the usable fingers of one record (no lock) */
static void prep_rec(iop_fp_ref ref, const iop_fp_template *t, fp_prep_rec *out) {
    out->nf = 0;
    out->rc = IOP_OK;
    iop_err qe, first;
    first.msg[0] = 0;
    for (size_t i = 0; i < t->n_fingers && out->nf < IOP_FP_MAX_FINGERS; i++) {
        if (iop_fp_quality_check(&t->fingers[i], NULL, &qe) != IOP_OK) {
            if (!first.msg[0]) first = qe;
            continue;
        }
        if (prepare_finger(&t->fingers[i], &out->f[out->nf])) {
            prep_rec_release(out);
            out->rc = iop_fail(&out->err, IOP_ENOMEM, "out of memory");
            return;
        }
        out->nf++;
    }
    if (!out->nf)
        out->rc = iop_fail(&out->err, IOP_EINVAL, "record %u/%llu: no finger fit for enrolment (%s)", ref.system,
                           (unsigned long long)ref.key, t->n_fingers ? first.msg : "no finger");
}

/* inserts a prepared record (write lock held); takes the blocks */
static iop_code insert_rec(iop_fp_gallery *g, iop_fp_ref ref, fp_prep_rec *p, iop_err *err) {
    bool found;
    size_t at = table_find(g, ref, &found);
    if (found) {
        remove_record(g, g->table[at], at);
        at = table_find(g, ref, &found);
    }
    if ((g->tused + 1) * 2 > g->tcap) {
        if (table_grow(g)) return iop_fail(err, IOP_ENOMEM, "out of memory");
        at = table_find(g, ref, &found);
    }
    if (g->nslot + p->nf > g->capslot && grow_slots(g, g->nslot + p->nf)) return iop_fail(err, IOP_ENOMEM, "out of memory");
    uint32_t r;
    if (g->nfree_recs) r = g->free_recs[--g->nfree_recs];
    else {
        if (g->nrec == g->caprec) {
            size_t nc = g->caprec ? g->caprec + g->caprec / 4 + 16 : 64;
            fp_record *nr = realloc(g->rec, nc * sizeof *nr);
            if (!nr) return iop_fail(err, IOP_ENOMEM, "out of memory");
            g->rec = nr;
            uint32_t *nf = realloc(g->free_recs, nc * sizeof *nf);
            if (!nf) return iop_fail(err, IOP_ENOMEM, "out of memory");
            g->free_recs = nf;
            g->caprec = nc;
        }
        r = (uint32_t)g->nrec++;
    }
    g->rec[r].ref = ref;
    g->rec[r].first = FP_NO_SLOT;
    g->rec[r].nslots = 0;
    g->live_recs++;
    if (g->table[at] == T_EMPTY) g->tused++;
    g->table[at] = r;
    uint32_t last = FP_NO_SLOT;
    for (size_t i = 0; i < p->nf; i++) {
        uint32_t s = store_prepared(g, &p->f[i], ref.system, r); /* cannot fail: room made above */
        if (last == FP_NO_SLOT) g->rec[r].first = s;
        else g->slot_next[last] = s;
        last = s;
        g->rec[r].nslots++;
    }
    p->nf = 0;
    return IOP_OK;
}

iop_code iop_fp_gallery_add(iop_fp_gallery *g, iop_fp_ref ref, const iop_fp_template *t, iop_err *err) {
    fp_prep_rec *p = malloc(sizeof *p);
    if (!p) return iop_fail(err, IOP_ENOMEM, "out of memory");
    prep_rec(ref, t, p);
    iop_code rc = p->rc;
    if (rc) {
        if (err) *err = p->err;
        free(p);
        return rc;
    }
    pthread_rwlock_wrlock(&g->lock);
    rc = insert_rec(g, ref, p, err);
    pthread_rwlock_unlock(&g->lock);
    prep_rec_release(p);
    free(p);
    return rc;
}

typedef struct bulk_job {
    const iop_fp_ref *refs;
    const iop_fp_template *t;
    fp_prep_rec *prep;
    size_t from, to;
} bulk_job;

static void *bulk_run(void *arg) {
    bulk_job *j = arg;
    for (size_t i = j->from; i < j->to; i++) prep_rec(j->refs[i], &j->t[i], &j->prep[i]);
    return NULL;
}

#define BULK_CHUNK 4096

iop_code iop_fp_gallery_add_bulk(iop_fp_gallery *g, size_t n, const iop_fp_ref *refs, const iop_fp_template *t,
                                 int threads, iop_code *rcs, size_t *added, iop_err *err) {
    if (added) *added = 0;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    size_t chunk = n < BULK_CHUNK ? n : BULK_CHUNK;
    fp_prep_rec *prep = malloc((chunk ? chunk : 1) * sizeof *prep);
    if (!prep) return iop_fail(err, IOP_ENOMEM, "out of memory");
    iop_code rc = IOP_OK;
    for (size_t base = 0; base < n && rc == IOP_OK; base += chunk) {
        size_t m = n - base < chunk ? n - base : chunk;
        /* preparation (quality check, quantisation, pairs) on `threads` threads, no lock */
        bulk_job jobs[64];
        pthread_t th[64];
        bool started[64] = {false};
        size_t per = (m + (size_t)threads - 1) / (size_t)threads;
        for (int k = 0; k < threads; k++) {
            size_t from = (size_t)k * per, to = from + per;
            if (from > m) from = m;
            if (to > m) to = m;
            jobs[k] = (bulk_job){refs + base, t + base, prep, from, to};
            if (k < threads - 1 && from < to && !pthread_create(&th[k], NULL, bulk_run, &jobs[k])) started[k] = true;
            else bulk_run(&jobs[k]);
        }
        for (int k = 0; k < threads; k++)
            if (started[k]) pthread_join(th[k], NULL);
        /* insertion under one write lock */
        pthread_rwlock_wrlock(&g->lock);
        for (size_t i = 0; i < m; i++) {
            iop_code r = prep[i].rc;
            if (r == IOP_ENOMEM && rc == IOP_OK) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
            else if (r == IOP_OK && rc) r = rc; /* not attempted after a failure */
            else if (r == IOP_OK && (r = insert_rec(g, refs[base + i], &prep[i], err)) != IOP_OK) rc = r;
            else if (r == IOP_OK && added) (*added)++;
            if (rcs) rcs[base + i] = r;
            prep_rec_release(&prep[i]);
        }
        pthread_rwlock_unlock(&g->lock);
        if (rc && rcs)
            for (size_t i = base + m; i < n; i++) rcs[i] = rc; /* not attempted */
    }
    free(prep);
    return rc;
}

iop_code iop_fp_gallery_remove(iop_fp_gallery *g, iop_fp_ref ref, iop_err *err) {
    pthread_rwlock_wrlock(&g->lock);
    bool found;
    size_t at = table_find(g, ref, &found);
    if (found) remove_record(g, g->table[at], at);
    pthread_rwlock_unlock(&g->lock);
    if (!found)
        return iop_fail(err, IOP_ENOTFOUND, "record %u/%llu is not in the fingerprint gallery", ref.system,
                        (unsigned long long)ref.key);
    return IOP_OK;
}

size_t iop_fp_gallery_records(const iop_fp_gallery *g) { return g->live_recs; }
size_t iop_fp_gallery_fingers(const iop_fp_gallery *g) { return g->live_slots; }

size_t iop_fp_gallery_bytes(const iop_fp_gallery *g) {
    if (!g->live_slots) return 0;
    size_t per_slot = sizeof(uint8_t *) + 4 + 4 + 1 + 1 + 1 + 1 + sizeof(fps_code) + 2 + 4;
    size_t total = g->capslot * per_slot + g->blob_bytes + g->live_slots * 16 /* allocator */ +
                   g->caprec * (sizeof(fp_record) + 4) + g->tcap * 4 + sizeof g->bitcount;
    return total / g->live_slots;
}

/* ---------------------------------------------------------------- search */

typedef struct hit { int s; uint32_t slot; double s2; } hit;

/* min-heap of the best `cap` hits */
static void heap_push(hit *h, size_t *n, size_t cap, hit x) {
    if (*n < cap) {
        size_t i = (*n)++;
        while (i && h[(i - 1) / 2].s > x.s) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
        h[i] = x;
        return;
    }
    if (x.s <= h[0].s) return;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int ms = x.s;
        if (l < *n && h[l].s < ms) { m = l; ms = h[l].s; }
        if (r < *n && h[r].s < ms) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* first-stage score of slot s against the probe fingers of a compatible position; -1
 * when no probe finger is compatible.  A score that cannot exceed floor may come back as
 * any value from 0 to floor (fpx_score); floor = -1: exact. */
static int slot_score(const iop_fp_gallery *g, size_t s, fpx_probe *const *probe, const uint8_t *ppos, size_t np,
                      fpx_scratch *sc, int floor) {
    int best = -1;
    uint8_t pos = g->slot_pos[s];
    const uint8_t *pairs = blob_pairs(g->slot_blob[s], g->slot_n[s]);
    for (size_t p = 0; p < np; p++) {
        if (pos && ppos[p] && pos != ppos[p]) continue;
        int v = fpx_score(probe[p], pairs, g->slot_np[s], sc, floor);
        if (v > best) best = v;
    }
    return best;
}

typedef struct scan_job {
    const iop_fp_gallery *g;
    size_t from, to;
    const int16_t *screen;   /* screen score per slot (NULL: no screen); below thr: not voted */
    int thr;
    fpx_probe *const *probe;
    const uint8_t *ppos;
    size_t np;
    uint64_t systems;
    hit *heap;
    size_t nheap, cap;
    size_t scanned;
    uint64_t cpu_ns;
    int failed;
} scan_job;

static void *scan_run(void *arg) {
    scan_job *j = arg;
    uint64_t c0 = thread_cpu_ns();
    const iop_fp_gallery *g = j->g;
    fpx_scratch *sc = fpx_scratch_new();
    /* the slots to vote: those the screen passed (selected systems, compatible position) */
    uint32_t *list = malloc((j->to > j->from ? j->to - j->from : 1) * sizeof *list);
    if (!sc || !list) { fpx_scratch_free(sc); free(list); j->failed = 1; return NULL; }
    size_t nl = 0;
    for (size_t s = j->from; s < j->to; s++) {
        if (j->screen) {
            if (j->screen[s] < j->thr) continue;
        } else {
            /* the fingers the screen would have selected: live, of a selected system, and
               of a position compatible with a probe finger's (unknown matches any) */
            if (!g->slot_blob[s]) continue;
            if (j->systems && !(j->systems >> (g->slot_sys[s] & 63) & 1)) continue;
            uint8_t pos = g->slot_pos[s];
            bool compatible = !pos;
            for (size_t p = 0; p < j->np && !compatible; p++) compatible = !j->ppos[p] || j->ppos[p] == pos;
            if (!compatible) continue;
        }
        list[nl++] = (uint32_t)s;
    }
    for (size_t i = 0; i < nl; i++) {
        size_t s = list[i];
        /* the pairs of a finger a few ahead, every cache line of them: the scan streams
           the gallery from memory */
        if (i + FP_PREFETCH < nl) {
            size_t a = list[i + FP_PREFETCH];
            const char *b = (const char *)blob_pairs(g->slot_blob[a], g->slot_n[a]);
            for (size_t o = 0; o < (size_t)g->slot_np[a] * FPX_PAIR_BYTES; o += 64) __builtin_prefetch(b + o);
        }
        /* once the heap is full, a finger scoring at most its minimum cannot enter it */
        int v = slot_score(g, s, j->probe, j->ppos, j->np, sc, j->cap && j->nheap == j->cap ? j->heap[0].s : -1);
        j->scanned++;
        if (v >= 0) heap_push(j->heap, &j->nheap, j->cap, (hit){v, (uint32_t)s, 0});
    }
    free(list);
    fpx_scratch_free(sc);
    j->cpu_ns = thread_cpu_ns() - c0;
    return NULL;
}

static int hit_desc(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static int hit_desc2(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->s2 != y->s2) return x->s2 > y->s2 ? -1 : 1;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Second-stage score of slot s: the best over the compatible probe fingers of m^2 /
 * (n_probe * n_stored), m the minutiae paired one-to-one (within FP_PAIR_PX and
 * FP_PAIR_RAD) once the probe is moved by the motion its best block of votes proposes. */
static double slot_pairing(const iop_fp_gallery *g, uint32_t s, fpx_probe *const *probe, const uint8_t *ppos,
                           size_t np, fpx_scratch *sc) {
    fp_point gm[FP_STORED_MINUTIAE];
    unsigned n = g->slot_n[s];
    const fp_stored_min *sm = blob_min(g->slot_blob[s]);
    for (unsigned k = 0; k < n; k++) {
        gm[k].x = sm[k].x;
        gm[k].y = -(float)sm[k].y;
        gm[k].t = (float)(sm[k].angle * PI_D / 128.0);
        gm[k].type = sm[k].type;
    }
    double best = -1;
    uint8_t pos = g->slot_pos[s];
    const uint8_t *pairs = blob_pairs(g->slot_blob[s], n);
    for (size_t p = 0; p < np; p++) {
        if (pos && ppos[p] && pos != ppos[p]) continue;
        fpx_motion mo;
        fpx_align(probe[p], pairs, g->slot_np[s], sc, &mo);
        int m = fpx_pair_minutiae(probe[p], gm, (int)n, &mo, FP_PAIR_PX, FP_PAIR_RAD);
        int pn = fpx_probe_minutiae(probe[p]);
        double v = pn && n ? (double)m * m / ((double)pn * n) : 0;
        if (v > best) best = v;
    }
    return best;
}

typedef struct pair_job {
    const iop_fp_gallery *g;
    hit *hits;
    size_t from, to;
    fpx_probe *const *probe;
    const uint8_t *ppos;
    size_t np;
    uint64_t cpu_ns;
    int failed;
} pair_job;

static void *pair_run(void *arg) {
    pair_job *j = arg;
    uint64_t c0 = thread_cpu_ns();
    fpx_scratch *sc = fpx_scratch_new();
    if (!sc) { j->failed = 1; return NULL; }
    for (size_t i = j->from; i < j->to; i++)
        j->hits[i].s2 = slot_pairing(j->g, j->hits[i].slot, j->probe, j->ppos, j->np, sc);
    fpx_scratch_free(sc);
    j->cpu_ns = thread_cpu_ns() - c0;
    return NULL;
}

static int cand_desc(const void *a, const void *b) {
    const iop_fp_candidate *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->ref.system != y->ref.system) return x->ref.system - y->ref.system;
    return (x->ref.key > y->ref.key) - (x->ref.key < y->ref.key);
}

static int ev_desc(const void *a, const void *b) {
    const iop_fp_evidence *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

/* full match of record r against the probe */
static iop_code match_record(const iop_fp_gallery *g, uint32_t r, const iop_fp_record_features *probe,
                             iop_fp_candidate *out) {
    iop_fp_record_features rf;
    memset(&rf, 0, sizeof rf);
    iop_fp_finger *tmp = malloc(sizeof *tmp);
    if (!tmp) return IOP_ENOMEM;
    iop_code rc = IOP_OK;
    for (uint32_t s = g->rec[r].first; s != FP_NO_SLOT && rf.n < IOP_FP_MAX_FINGERS; s = g->slot_next[s]) {
        uint8_t pos = g->slot_pos[s];
        bool wanted = false;
        for (size_t p = 0; p < probe->n && !wanted; p++)
            wanted = !pos || !probe->position[p] || probe->position[p] == pos;
        if (!wanted) continue;
        memset(tmp, 0, offsetof(iop_fp_finger, m));
        tmp->position = pos;
        tmp->xres = tmp->yres = 197;
        tmp->n = g->slot_n[s];
        const fp_stored_min *sm = blob_min(g->slot_blob[s]);
        for (unsigned k = 0; k < tmp->n; k++) {
            tmp->m[k].x = sm[k].x;
            tmp->m[k].y = sm[k].y;
            tmp->m[k].angle = (float)(sm[k].angle * PI_D / 128.0);
            tmp->m[k].type = sm[k].type;
            tmp->m[k].quality = 0;
        }
        iop_fp_features *f;
        if ((rc = iop_fp_features_new(tmp, &f, NULL))) break;
        rf.position[rf.n] = pos;
        rf.f[rf.n++] = f;
    }
    free(tmp);
    if (rc == IOP_OK) {
        iop_fp_evidence ev[IOP_FP_MAX_FINGERS];
        size_t nev = 0;
        out->ref = g->rec[r].ref;
        out->score = iop_fp_record_score(probe, &rf, ev, &nev);
        qsort(ev, nev, sizeof *ev, ev_desc);
        out->n_ev = nev < 10 ? nev : 10;
        memcpy(out->ev, ev, out->n_ev * sizeof *ev);
    }
    iop_fp_record_features_free(&rf);
    return rc;
}

typedef struct match_job {
    const iop_fp_gallery *g;
    const uint32_t *recs;
    size_t n;
    size_t next;              /* shared work counter, under mu */
    pthread_mutex_t mu;
    const iop_fp_record_features *probe;
    iop_fp_candidate *out;
    iop_code rc;
    uint64_t cpu_ns;          /* under mu */
} match_job;

static void *match_run(void *arg) {
    match_job *j = arg;
    uint64_t c0 = thread_cpu_ns();
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n) break;
        iop_code rc = match_record(j->g, j->recs[i], j->probe, &j->out[i]);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            j->rc = rc;
            pthread_mutex_unlock(&j->mu);
        }
    }
    uint64_t used = thread_cpu_ns() - c0;
    pthread_mutex_lock(&j->mu);
    j->cpu_ns += used;
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* the probe's first-stage tables, one per finger (at most IOP_FP_MAX_FINGERS) */
/* ---------------------------------------------------------------- screen */

#define FP_SCREEN_BLOCK 256

typedef struct screen_job {
    const iop_fp_gallery *g;
    size_t from, to;
    const fps_query *q;     /* np queries: one per probe finger or window */
    const uint8_t *ppos;    /* position of the finger of each query */
    size_t np;
    uint64_t systems;
    int path;
    /* windows of large probe fingers: widx[p] >= 0 numbers query p's window; phase 0
       scores the windows into raw (per window, per slot) and sums their scores over the
       fingers the window may be compared with; phase 1 standardises them */
    const int *widx;
    const uint8_t *wgroup;  /* the windows of one finger starting at query p (0: not a start) */
    int phase;
    int16_t *raw;
    size_t nslot;
    int64_t *wsum;          /* phase 0: per window, sum and sum of squares, count (integers: the
                               same whatever the number of threads) */
    const float *wmean, *wscale;
    int16_t *score;         /* per slot: best over the compatible probe fingers; INT16_MIN: not selected */
    uint32_t *hist;         /* FPS_HIST counts of the scores */
    size_t eligible;
    uint64_t cpu_ns;
} screen_job;

static bool screen_selected(const screen_job *j, size_t s, size_t p) {
    const iop_fp_gallery *g = j->g;
    if (!g->slot_blob[s]) return false;
    if (j->systems && !(j->systems >> (g->slot_sys[s] & 63) & 1)) return false;
    uint8_t pos = g->slot_pos[s];
    return !(pos && j->ppos[p] && pos != j->ppos[p]);
}

static void *screen_run(void *arg) {
    screen_job *j = arg;
    uint64_t c0 = thread_cpu_ns();
    const iop_fp_gallery *g = j->g;
    int16_t tmp[FP_SCREEN_BLOCK];
    for (size_t s0 = j->from; s0 < j->to; s0 += FP_SCREEN_BLOCK) {
        size_t m = j->to - s0 < FP_SCREEN_BLOCK ? j->to - s0 : FP_SCREEN_BLOCK;
        if (j->phase == 0) {
            for (size_t p = 0; p < j->np; p++) {
                if (j->widx[p] < 0 || !j->wgroup[p]) continue;
                /* the windows of one finger together: the tier counts once per stored code */
                int16_t *r[FPS_MAX_WINDOWS];
                for (int v = 0; v < j->wgroup[p]; v++) r[v] = j->raw + (size_t)(j->widx[p] + v) * j->nslot + s0;
                fps_score_multi(&j->q[p], j->wgroup[p], g->slot_code + s0, g->slot_pop + s0, m, j->path, r);
                for (int v = 0; v < j->wgroup[p]; v++) {
                    int64_t *sum = j->wsum + (size_t)(j->widx[p] + v) * 3;
                    for (size_t k = 0; k < m; k++)
                        if (screen_selected(j, s0 + k, p)) {
                            sum[0] += r[v][k];
                            sum[1] += (int64_t)r[v][k] * r[v][k];
                            sum[2] += 1;
                        }
                }
            }
            continue;
        }
        int16_t *out = j->score + s0;
        for (size_t k = 0; k < m; k++) out[k] = INT16_MIN;
        for (size_t p = 0; p < j->np; p++) {
            int w = j->widx ? j->widx[p] : -1;
            if (w < 0) {
                fps_score_batch(&j->q[p], g->slot_code + s0, g->slot_pop + s0, m, j->path, tmp);
            } else {
                /* the window's scores as deviations from their mean over the gallery, in
                   units of their spread: each window is then as likely as the others to
                   place a stranger high, and the best window is not a lottery won by the
                   windows that suit many fingers */
                const int16_t *r = j->raw + (size_t)w * j->nslot + s0;
                for (size_t k = 0; k < m; k++) {
                    float z = ((float)r[k] - j->wmean[w]) * j->wscale[w];
                    tmp[k] = (int16_t)(z < (float)FPS_QMIN ? FPS_QMIN : z > (float)FPS_QMAX ? FPS_QMAX : lrintf(z));
                }
            }
            for (size_t k = 0; k < m; k++)
                if (tmp[k] > out[k] && screen_selected(j, s0 + k, p)) out[k] = tmp[k];
        }
        for (size_t k = 0; k < m; k++)
            if (out[k] != INT16_MIN) {
                j->hist[out[k] - FPS_QMIN]++;
                j->eligible++;
            }
    }
    j->cpu_ns += thread_cpu_ns() - c0;
    return NULL;
}

static void screen_threads(screen_job *jobs, int nt) {
    pthread_t th[64];
    bool started[64] = {false};
    for (int t = 0; t < nt; t++) {
        if (t < nt - 1 && jobs[t].from < jobs[t].to && !pthread_create(&th[t], NULL, screen_run, &jobs[t]))
            started[t] = true;
        else screen_run(&jobs[t]);
    }
    for (int t = 0; t < nt; t++)
        if (started[t]) pthread_join(th[t], NULL);
}

/* The screen over the whole gallery on nt threads: score[s] for every slot, and the
 * threshold of the scores passed to the voting (the best screen_keep share of the
 * selected fingers, at least FP_SCREEN_MIN_FACTOR * prescreen of them; ties at the
 * threshold all pass).  Queries with widx[p] >= 0 are windows of a large probe finger
 * (nw of them), standardised over the gallery first.  *eligible: the fingers selected.
 * -1 on ENOMEM. */
static int run_screen(const iop_fp_gallery *g, const fps_query *q, const uint8_t *ppos, const int *widx,
                      const uint8_t *wgroup, size_t np, int nw, uint64_t systems, int nt, int16_t *score, int *thr, size_t *eligible,
                      uint64_t *cpu_ns) {
    uint32_t *hist = calloc((size_t)nt * FPS_HIST, sizeof *hist);
    int16_t *raw = nw ? malloc((size_t)nw * (g->nslot ? g->nslot : 1) * sizeof *raw) : NULL;
    int64_t *wsum = nw ? calloc((size_t)nt * (size_t)nw * 3, sizeof *wsum) : NULL;
    float wmean[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS], wscale[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS];
    if (!hist || (nw && (!raw || !wsum))) { free(hist); free(raw); free(wsum); return -1; }
    screen_job jobs[64];
    size_t per = (g->nslot + (size_t)nt - 1) / (size_t)nt;
    int path = fps_path(-1);
    for (int t = 0; t < nt; t++) {
        size_t from = (size_t)t * per, to = from + per;
        if (from > g->nslot) from = g->nslot;
        if (to > g->nslot) to = g->nslot;
        jobs[t] = (screen_job){.g = g, .from = from, .to = to, .q = q, .ppos = ppos, .np = np, .systems = systems,
                               .path = path, .widx = nw ? widx : NULL, .wgroup = wgroup, .phase = nw ? 0 : 1, .raw = raw,
                               .nslot = g->nslot, .wsum = wsum ? wsum + (size_t)t * (size_t)nw * 3 : NULL,
                               .wmean = wmean, .wscale = wscale, .score = score,
                               .hist = hist + (size_t)t * FPS_HIST};
    }
    if (nw) {
        screen_threads(jobs, nt);
        for (int w = 0; w < nw; w++) {
            int64_t s0 = 0, s1 = 0, c = 0;
            for (int t = 0; t < nt; t++) {
                s0 += wsum[((size_t)t * (size_t)nw + (size_t)w) * 3];
                s1 += wsum[((size_t)t * (size_t)nw + (size_t)w) * 3 + 1];
                c += wsum[((size_t)t * (size_t)nw + (size_t)w) * 3 + 2];
            }
            double mean = c > 0 ? (double)s0 / (double)c : 0, var = c > 0 ? (double)s1 / (double)c - mean * mean : 0;
            double sd = var > 1 ? sqrt(var) : 1;
            wmean[w] = (float)mean;
            wscale[w] = (float)(FPS_QSCALE / sd);
        }
        for (int t = 0; t < nt; t++) jobs[t].phase = 1;
    }
    screen_threads(jobs, nt);
    *eligible = 0;
    *cpu_ns = 0;
    for (int t = 0; t < nt; t++) {
        *eligible += jobs[t].eligible;
        *cpu_ns += jobs[t].cpu_ns;
        if (t)
            for (int b = 0; b < FPS_HIST; b++) hist[b] += hist[(size_t)t * FPS_HIST + b];
    }
    size_t min_keep = FP_SCREEN_MIN_FACTOR * g->prescreen;
    *thr = FPS_QMIN;
    if (g->screen_keep < 1 && *eligible > min_keep) {
        size_t keep = (size_t)ceil(g->screen_keep * (double)*eligible), cum = 0;
        if (keep < min_keep) keep = min_keep;
        for (int b = FPS_HIST - 1; b >= 0; b--) {
            cum += hist[b];
            if (cum >= keep) { *thr = b + FPS_QMIN; break; }
        }
    }
    free(hist);
    free(raw);
    free(wsum);
    return 0;
}

/* whether searches run the screen: not when it is turned off, nor when it would pass
 * every finger anyway (a gallery of at most FP_SCREEN_MIN_FACTOR * prescreen fingers) */
static bool screen_used(const iop_fp_gallery *g) {
    return g->screen_keep < 1 && g->live_slots > FP_SCREEN_MIN_FACTOR * g->prescreen;
}

/* The screen's queries of the probe fingers (NULL on ENOMEM): one per finger, or for a
 * finger with more minutiae than a stored code covers (a rolled print, a larger sensor)
 * one per window (fps_window_codes): the FP_STORED_MINUTIAE nearest its centroid, and
 * windows of as many minutiae as a stored finger holds on average around the centres
 * of groups spread over the capture.  qpos[i]: the position of the finger of query i;
 * widx[i]: the number of query i among the windows (-1: a finger's only code); *nq the
 * queries, *nw the windows. */
static fps_query *screen_queries(const iop_fp_gallery *g, const iop_fp_template *probe, size_t np, uint8_t *qpos,
                                 int *widx, uint8_t *wgroup, size_t *nq, int *nw) {
    fps_query *q = malloc((np ? np : 1) * FPS_MAX_WINDOWS * sizeof *q);
    fp_point *pt = malloc(IOP_FP_MAX_MINUTIAE * sizeof *pt);
    if (!q || !pt) { free(q); free(pt); return NULL; }
    int group = FP_STORED_MINUTIAE;
    if (g->live_slots) {
        uint64_t mean = (g->stored_minutiae + g->live_slots / 2) / g->live_slots;
        group = mean < FP_WINDOW_MIN ? FP_WINDOW_MIN : mean > FP_STORED_MINUTIAE ? FP_STORED_MINUTIAE : (int)mean;
    }
    *nq = 0;
    *nw = 0;
    for (size_t p = 0; p < np; p++) {
        fps_code c[FPS_MAX_WINDOWS];
        int n = fps_window_codes(pt, fp_normalise(&probe->fingers[p], pt), FP_STORED_MINUTIAE, group,
                                 FPS_MAX_WINDOWS, c);
        for (int w = 0; w < n; w++) {
            fps_query_init(&q[*nq], &c[w], g->bitcount, g->live_slots);
            wgroup[*nq] = (uint8_t)(n > 1 && w == 0 ? n : 0);
            widx[*nq] = n > 1 ? (*nw)++ : -1;
            qpos[(*nq)++] = probe->fingers[p].position;
        }
    }
    free(pt);
    return q;
}

static iop_code probe_tables(const iop_fp_template *probe, fpx_probe **pt, uint8_t *ppos, size_t *np, iop_err *err) {
    *np = probe->n_fingers < IOP_FP_MAX_FINGERS ? probe->n_fingers : IOP_FP_MAX_FINGERS;
    for (size_t p = 0; p < *np; p++) {
        pt[p] = fpx_probe_new(&probe->fingers[p]);
        ppos[p] = probe->fingers[p].position;
        if (!pt[p]) {
            for (size_t q = 0; q < p; q++) fpx_probe_free(pt[q]);
            return iop_fail(err, IOP_ENOMEM, "out of memory");
        }
    }
    return IOP_OK;
}

static iop_code search(iop_fp_gallery *g, const iop_fp_template *probe, size_t k, uint64_t systems,
                       bool exhaustive, iop_fp_candidate *out, size_t *n, iop_fp_search_stats *st, iop_err *err) {
    *n = 0;
    if (st) memset(st, 0, sizeof *st);
    if (!probe->n_fingers) return iop_fail(err, IOP_EINVAL, "the probe holds no finger");
    if (!k) return IOP_OK;
    size_t np = 0;
    fpx_probe *pt[IOP_FP_MAX_FINGERS];
    uint8_t ppos[IOP_FP_MAX_FINGERS];
    iop_fp_record_features prf;
    memset(&prf, 0, sizeof prf);
    iop_code rc = exhaustive ? IOP_OK : probe_tables(probe, pt, ppos, &np, err);
    if (rc) return rc;
    rc = iop_fp_record_features_build(probe, &prf, err);
    if (rc) { for (size_t p = 0; p < np; p++) fpx_probe_free(pt[p]); return rc; }

    pthread_rwlock_rdlock(&g->lock);
    uint32_t *recs = NULL;
    size_t nrecs = 0;
    iop_fp_candidate *cand = NULL;
    int16_t *score = NULL;
    int nt = g->threads;
    if (exhaustive) {
        recs = malloc((g->live_recs ? g->live_recs : 1) * sizeof *recs);
        if (!recs) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        for (size_t r = 0; r < g->nrec; r++) {
            if (g->rec[r].first == FP_NO_SLOT) continue;
            if (systems && !(systems >> (g->rec[r].ref.system & 63) & 1)) continue;
            recs[nrecs++] = (uint32_t)r;
        }
    } else {
        size_t cap = g->prescreen;
        bool screen_on = screen_used(g);
        int thr = FPS_QMIN;
        size_t eligible = 0;
        uint64_t screen_ns = 0;
        uint8_t qpos[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS];
        int widx[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS];
        uint8_t wgroup[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS];
        if (screen_on) {
            size_t nq = 0;
            int nw = 0;
            fps_query *q = screen_queries(g, probe, np, qpos, widx, wgroup, &nq, &nw);
            score = malloc((g->nslot ? g->nslot : 1) * sizeof *score);
            if (!q || !score ||
                run_screen(g, q, qpos, widx, wgroup, nq, nw, systems, nt, score, &thr, &eligible, &screen_ns)) {
                free(q);
                rc = iop_fail(err, IOP_ENOMEM, "out of memory");
                goto out;
            }
            free(q);
        }
        scan_job jobs[64];
        pthread_t th[64];
        size_t per = (g->nslot + (size_t)nt - 1) / (size_t)nt;
        hit *heaps = malloc((size_t)nt * cap * sizeof *heaps);
        if (!heaps) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        bool started[64] = {false};
        for (int t = 0; t < nt; t++) {
            jobs[t] = (scan_job){.g = g, .from = (size_t)t * per, .to = (size_t)(t + 1) * per, .probe = pt,
                                 .screen = screen_on ? score : NULL, .thr = thr,
                                 .ppos = ppos, .np = np, .systems = systems, .heap = heaps + (size_t)t * cap,
                                 .cap = cap};
            if (jobs[t].from > g->nslot) jobs[t].from = g->nslot;
            if (jobs[t].to > g->nslot) jobs[t].to = g->nslot;
            if (t == nt - 1 || pthread_create(&th[t], NULL, scan_run, &jobs[t])) scan_run(&jobs[t]);
            else started[t] = true;
        }
        for (int t = 0; t < nt - 1; t++)
            if (started[t]) pthread_join(th[t], NULL);
        /* merge the best `prescreen` fingers of the threads */
        hit *all = malloc((size_t)nt * cap * sizeof *all);
        size_t na = 0;
        int failed = 0;
        if (!all) { free(heaps); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        for (int t = 0; t < nt; t++) {
            for (size_t i = 0; i < jobs[t].nheap; i++) all[na++] = jobs[t].heap[i];
            failed |= jobs[t].failed;
            if (st) { st->screened += jobs[t].scanned; st->first_cpu_ns += jobs[t].cpu_ns; }
        }
        if (st) {
            /* the same set with the screen on or off: the live fingers of the selected
               systems whose position is compatible with a probe finger's */
            st->scanned = screen_on ? eligible : st->screened;
            st->screen_cpu_ns = screen_ns;
        }
        free(heaps);
        if (failed) { free(all); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        qsort(all, na, sizeof *all, hit_desc);
        if (na > cap) na = cap;
        /* second stage: minutiae paired under the motion the votes agree on */
        pair_job pj[64];
        bool pstarted[64] = {false};
        size_t pper = (na + (size_t)nt - 1) / (size_t)nt;
        for (int t = 0; t < nt; t++) {
            size_t from = (size_t)t * pper, to = from + pper;
            if (from > na) from = na;
            if (to > na) to = na;
            pj[t] = (pair_job){.g = g, .hits = all, .from = from, .to = to, .probe = pt, .ppos = ppos, .np = np};
            if (t == nt - 1 || from == to || pthread_create(&th[t], NULL, pair_run, &pj[t])) pair_run(&pj[t]);
            else pstarted[t] = true;
        }
        for (int t = 0; t < nt - 1; t++)
            if (pstarted[t]) pthread_join(th[t], NULL);
        for (int t = 0; t < nt; t++) {
            failed |= pj[t].failed;
            if (st) st->second_cpu_ns += pj[t].cpu_ns;
        }
        if (failed) { free(all); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        qsort(all, na, sizeof *all, hit_desc2);
        if (st) st->prescreened = na;
        if (na > g->shortlist) na = g->shortlist;
        recs = malloc((na ? na : 1) * sizeof *recs);
        if (!recs) { free(all); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < na; i++) {
            uint32_t r = g->slot_rec[all[i].slot];
            bool dup = false;
            for (size_t q = 0; q < nrecs && !dup; q++) dup = recs[q] == r;
            if (!dup) recs[nrecs++] = r;
        }
        free(all);
    }
    cand = calloc(nrecs ? nrecs : 1, sizeof *cand);
    if (!cand) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
    match_job mj = {.g = g, .recs = recs, .n = nrecs, .next = 0, .probe = &prf, .out = cand, .rc = IOP_OK};
    pthread_mutex_init(&mj.mu, NULL);
    pthread_t mth[64];
    int mstarted = 0;
    for (int t = 0; t < nt - 1 && (size_t)t < nrecs; t++)
        if (!pthread_create(&mth[t], NULL, match_run, &mj)) mstarted++;
        else break;
    match_run(&mj);
    for (int t = 0; t < mstarted; t++) pthread_join(mth[t], NULL);
    pthread_mutex_destroy(&mj.mu);
    if (st) { st->shortlisted = nrecs; st->full_cpu_ns = mj.cpu_ns; }
    if (mj.rc) { rc = iop_fail(err, mj.rc, "out of memory"); goto out; }
    qsort(cand, nrecs, sizeof *cand, cand_desc);
    *n = nrecs < k ? nrecs : k;
    memcpy(out, cand, *n * sizeof *cand);
out:
    pthread_rwlock_unlock(&g->lock);
    free(score);
    free(cand);
    free(recs);
    for (size_t p = 0; p < np; p++) fpx_probe_free(pt[p]);
    iop_fp_record_features_free(&prf);
    return rc;
}

iop_code iop_fp_gallery_search(iop_fp_gallery *g, const iop_fp_template *probe, size_t k, uint64_t systems,
                               iop_fp_candidate *out, size_t *n, iop_err *err) {
    return search(g, probe, k, systems, false, out, n, NULL, err);
}

iop_code iop_fp_gallery_search_ex(iop_fp_gallery *g, const iop_fp_template *probe, size_t k, uint64_t systems,
                                  iop_fp_candidate *out, size_t *n, iop_fp_search_stats *stats, iop_err *err) {
    return search(g, probe, k, systems, false, out, n, stats, err);
}

iop_code iop_fp_gallery_search_exhaustive(iop_fp_gallery *g, const iop_fp_template *probe, size_t k,
                                          uint64_t systems, iop_fp_candidate *out, size_t *n, iop_err *err) {
    return search(g, probe, k, systems, true, out, n, NULL, err);
}

iop_code iop_fp_gallery_first_stage_rank(iop_fp_gallery *g, const iop_fp_template *probe, uint64_t systems,
                                         iop_fp_ref ref, size_t *rank, iop_err *err) {
    *rank = SIZE_MAX;
    if (!probe->n_fingers) return iop_fail(err, IOP_EINVAL, "the probe holds no finger");
    size_t np;
    fpx_probe *pt[IOP_FP_MAX_FINGERS];
    uint8_t ppos[IOP_FP_MAX_FINGERS];
    iop_code rc = probe_tables(probe, pt, ppos, &np, err);
    if (rc) return rc;
    fpx_scratch *sc = fpx_scratch_new();
    if (!sc) {
        for (size_t p = 0; p < np; p++) fpx_probe_free(pt[p]);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    pthread_rwlock_rdlock(&g->lock);
    bool found;
    size_t at = table_find(g, ref, &found);
    if (!found) {
        rc = iop_fail(err, IOP_ENOTFOUND, "record %u/%llu is not in the fingerprint gallery", ref.system,
                      (unsigned long long)ref.key);
    } else {
        uint32_t r = g->table[at];
        /* the screen as a search runs it */
        bool screen_on = screen_used(g);
        int thr = FPS_QMIN;
        size_t eligible;
        uint64_t ns;
        int16_t *score = NULL;
        if (screen_on) {
            uint8_t qpos[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS];
            int widx[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS], nw = 0;
            uint8_t wgroup[IOP_FP_MAX_FINGERS * FPS_MAX_WINDOWS];
            size_t nq = 0;
            fps_query *q = screen_queries(g, probe, np, qpos, widx, wgroup, &nq, &nw);
            score = malloc((g->nslot ? g->nslot : 1) * sizeof *score);
            if (!q || !score ||
                run_screen(g, q, qpos, widx, wgroup, nq, nw, systems, 1, score, &thr, &eligible, &ns)) {
                free(q);
                free(score);
                rc = iop_fail(err, IOP_ENOMEM, "out of memory");
                goto rank_out;
            }
            free(q);
        }
        int mate = -1;
        bool passed = !screen_on;
        for (uint32_t s = g->rec[r].first; s != FP_NO_SLOT; s = g->slot_next[s]) {
            if (screen_on && score[s] < thr) continue;
            passed = true;
            int v = slot_score(g, s, pt, ppos, np, sc, -1);
            if (v > mate) mate = v;
        }
        size_t above = 0;
        for (size_t s = 0; s < g->nslot && passed; s++) {
            if (!g->slot_blob[s] || g->slot_rec[s] == r) continue;
            if (systems && !(systems >> (g->slot_sys[s] & 63) & 1)) continue;
            if (screen_on && score[s] < thr) continue;
            if (slot_score(g, s, pt, ppos, np, sc, mate) > mate) above++;
        }
        *rank = passed ? above : SIZE_MAX;
        free(score);
    }
rank_out:
    pthread_rwlock_unlock(&g->lock);
    fpx_scratch_free(sc);
    for (size_t p = 0; p < np; p++) fpx_probe_free(pt[p]);
    return rc;
}
