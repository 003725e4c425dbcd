/*
 * fp_gallery.c -- the 1:N gallery of the shared biometric matching service (Reg. (EU)
 * 2019/817 Art 13: the sBMS stores templates logically separated by connected system,
 * each with a reference to its record in that system; Art 14: searches by biometric
 * data; SIS checks every new fingerprint record against all existing ones).
 *
 * Storage per finger (about 0.5-1 KiB): the first-stage code (4096 bits) and the
 * minutiae quantised to 500 ppi pixels and 1.40625-degree angles (at most
 * FP_STORED_MINUTIAE, the ones nearest the centre are kept), plus the system id,
 * position and a link to the record.  Records are found by (system, key) through an
 * open-addressing hash table.  Removal overwrites the finger's data before releasing
 * it.
 *
 * Search: (1) first stage: every stored finger of a selected system whose position is
 * compatible with a probe finger is scored by its code (AND + popcount, a few tens of
 * nanoseconds), optionally on several threads, and the best `shortlist` fingers kept;
 * (2) their records are matched with the full MCC matcher (record-level fusion) and the
 * best k returned with per-finger evidence.
 *
 * First-stage code: for each minutia and each of its FP_CODE_K nearest neighbours, the
 * triple (distance, direction of the minutia relative to the segment, direction of the
 * neighbour relative to the segment) is quantised (FP_CODE_DBIN px, FP_CODE_NA angle
 * bins) and hashed to one of 4096 bits.  The probe code also sets the adjacent bin of
 * every value lying within FP_CODE_SOFT of a bin edge.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "interop/sbms_fp.h"
#include "fp_internal.h"

#define PI_D 3.14159265358979323846
#define FP_CODE_K 8
#define FP_CODE_DBIN 8.0
#define FP_CODE_DMAX 150.0
#define FP_CODE_NA 24
#define FP_CODE_SOFT 0.3
#define FP_CODE_GMIN 48        /* regularises the similarity of very small gallery codes */
#define FP_STORED_MINUTIAE 75  /* keeps a stored finger within 1 KiB */
#define FP_NO_SLOT UINT32_MAX

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

struct iop_fp_gallery {
    pthread_rwlock_t lock;
    size_t shortlist;
    int threads;
    /* slots (one stored finger each), structure of arrays */
    size_t nslot, capslot, live_slots;
    iop_fp_code *code;
    uint32_t *slot_rec, *slot_next;
    uint8_t *slot_sys, *slot_pos, *slot_alive, *slot_n;
    fp_stored_min **slot_min;
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
    size_t min_bytes; /* bytes held by stored minutiae */
};

#define T_EMPTY UINT32_MAX
#define T_TOMB (UINT32_MAX - 1)

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
    g->shortlist = opts && opts->shortlist ? opts->shortlist : 400;
    g->threads = opts && opts->threads > 0 ? opts->threads : 1;
    if (g->threads > 64) g->threads = 64;
    if (pthread_rwlock_init(&g->lock, NULL)) { free(g); return iop_fail(err, IOP_EINTERNAL, "rwlock init failed"); }
    if (table_grow(g)) { iop_fp_gallery_free(g); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    *out = g;
    return IOP_OK;
}

static void slot_wipe(iop_fp_gallery *g, uint32_t s) {
    if (g->slot_min[s]) {
        size_t sz = (size_t)g->slot_n[s] * sizeof(fp_stored_min);
        memset(g->slot_min[s], 0, sz);
        /* keep the compiler from dropping the wipe of memory about to be freed */
        __asm__ __volatile__("" : : "r"(g->slot_min[s]) : "memory");
        free(g->slot_min[s]);
        g->min_bytes -= sz;
        g->slot_min[s] = NULL;
    }
    memset(&g->code[s], 0, sizeof g->code[s]);
    g->slot_alive[s] = 0;
    g->slot_n[s] = 0;
    g->slot_sys[s] = 0;
    g->slot_pos[s] = 0;
    g->slot_rec[s] = FP_NO_SLOT;
    g->slot_next[s] = FP_NO_SLOT;
}

void iop_fp_gallery_free(iop_fp_gallery *g) {
    if (!g) return;
    for (size_t s = 0; s < g->nslot; s++)
        if (g->slot_min[s]) slot_wipe(g, (uint32_t)s);
    free(g->code);
    free(g->slot_rec); free(g->slot_next); free(g->slot_sys); free(g->slot_pos);
    free(g->slot_alive); free(g->slot_n); free(g->slot_min); free(g->free_slots);
    free(g->rec); free(g->free_recs); free(g->table);
    pthread_rwlock_destroy(&g->lock);
    free(g);
}

static int grow_slots(iop_fp_gallery *g) {
    size_t nc = g->capslot ? g->capslot + g->capslot / 4 + 16 : 64; /* 1.25: little slack at 10^6 fingers */
#define GROW(field) do { void *p_ = realloc(g->field, nc * sizeof *g->field); if (!p_) return -1; g->field = p_; } while (0)
    GROW(code); GROW(slot_rec); GROW(slot_next); GROW(slot_sys); GROW(slot_pos);
    GROW(slot_alive); GROW(slot_n); GROW(slot_min); GROW(free_slots);
#undef GROW
    g->capslot = nc;
    return 0;
}

static int cmp_centre(const void *a, const void *b) {
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* stores one finger in a new slot; returns the slot or FP_NO_SLOT on ENOMEM */
static uint32_t store_finger(iop_fp_gallery *g, const iop_fp_finger *f, uint8_t system, uint32_t rec) {
    uint32_t s;
    if (g->nfree_slots) s = g->free_slots[--g->nfree_slots];
    else {
        if (g->nslot == g->capslot && grow_slots(g)) return FP_NO_SLOT;
        s = (uint32_t)g->nslot++;
        g->slot_min[s] = NULL;
    }
    /* normalise to 500 ppi; keep the minutiae nearest the centroid when there are too many */
    double sx = f->xres ? 197.0 / f->xres : 1.0, sy = f->yres ? 197.0 / f->yres : sx;
    double order[IOP_FP_MAX_MINUTIAE][2], cx = 0, cy = 0;
    int n = f->n;
    for (int i = 0; i < n; i++) { cx += f->m[i].x; cy += f->m[i].y; }
    if (n) { cx /= n; cy /= n; }
    for (int i = 0; i < n; i++) {
        double dx = f->m[i].x - cx, dy = f->m[i].y - cy;
        order[i][0] = dx * dx + dy * dy;
        order[i][1] = i;
    }
    if (n > FP_STORED_MINUTIAE) {
        qsort(order, (size_t)n, sizeof order[0], cmp_centre);
        n = FP_STORED_MINUTIAE;
    }
    fp_stored_min *m = malloc((size_t)(n ? n : 1) * sizeof *m);
    if (!m) { g->free_slots[g->nfree_slots++] = s; return FP_NO_SLOT; }
    iop_fp_finger *tmp = malloc(sizeof *tmp);
    if (!tmp) { free(m); g->free_slots[g->nfree_slots++] = s; return FP_NO_SLOT; }
    memset(tmp, 0, offsetof(iop_fp_finger, m));
    tmp->position = f->position;
    tmp->xres = tmp->yres = 197;
    for (int k = 0; k < n; k++) {
        const iop_fp_minutia *src = &f->m[(int)order[k][1]];
        double x = src->x * sx, y = src->y * sy;
        m[k].x = (uint16_t)(x < 0 ? 0 : x > 65535 ? 65535 : lround(x));
        m[k].y = (uint16_t)(y < 0 ? 0 : y > 65535 ? 65535 : lround(y));
        m[k].angle = (uint8_t)(lround(wrap2pi(src->angle) * 128.0 / PI_D) & 255);
        m[k].type = src->type;
        tmp->m[k].x = m[k].x;
        tmp->m[k].y = m[k].y;
        tmp->m[k].angle = (float)(m[k].angle * PI_D / 128.0);
        tmp->m[k].type = m[k].type;
    }
    tmp->n = (uint16_t)n;
    iop_fp_code_make(tmp, false, &g->code[s]);
    free(tmp);
    g->slot_min[s] = m;
    g->slot_n[s] = (uint8_t)n;
    g->slot_sys[s] = system;
    g->slot_pos[s] = f->position;
    g->slot_alive[s] = 1;
    g->slot_rec[s] = rec;
    g->slot_next[s] = FP_NO_SLOT;
    g->min_bytes += (size_t)n * sizeof *m;
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

iop_code iop_fp_gallery_add(iop_fp_gallery *g, iop_fp_ref ref, const iop_fp_template *t, iop_err *err) {
    /* quality check first, outside the lock */
    size_t usable = 0;
    iop_err qe, first;
    first.msg[0] = 0;
    for (size_t i = 0; i < t->n_fingers; i++) {
        if (iop_fp_quality_check(&t->fingers[i], NULL, &qe) == IOP_OK) usable++;
        else if (!first.msg[0]) first = qe;
    }
    qe = first;
    if (!usable)
        return iop_fail(err, IOP_EINVAL, "record %u/%llu: no finger fit for enrolment (%s)", ref.system,
                        (unsigned long long)ref.key, t->n_fingers ? qe.msg : "no finger");
    pthread_rwlock_wrlock(&g->lock);
    iop_code rc = IOP_OK;
    bool found;
    size_t at = table_find(g, ref, &found);
    if (found) {
        remove_record(g, g->table[at], at);
        at = table_find(g, ref, &found);
    }
    if ((g->tused + 1) * 2 > g->tcap) {
        if (table_grow(g)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        at = table_find(g, ref, &found);
    }
    uint32_t r;
    if (g->nfree_recs) r = g->free_recs[--g->nfree_recs];
    else {
        if (g->nrec == g->caprec) {
            size_t nc = g->caprec ? g->caprec + g->caprec / 4 + 16 : 64;
            fp_record *nr = realloc(g->rec, nc * sizeof *nr);
            if (!nr) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
            g->rec = nr;
            uint32_t *nf = realloc(g->free_recs, nc * sizeof *nf);
            if (!nf) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
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
    for (size_t i = 0; i < t->n_fingers; i++) {
        if (iop_fp_quality_check(&t->fingers[i], NULL, NULL) != IOP_OK) continue;
        uint32_t s = store_finger(g, &t->fingers[i], ref.system, r);
        if (s == FP_NO_SLOT) {
            remove_record(g, r, at);
            rc = iop_fail(err, IOP_ENOMEM, "out of memory");
            goto out;
        }
        if (last == FP_NO_SLOT) g->rec[r].first = s;
        else g->slot_next[last] = s;
        last = s;
        g->rec[r].nslots++;
    }
out:
    pthread_rwlock_unlock(&g->lock);
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
    size_t per_slot = sizeof(iop_fp_code) + 4 + 4 + 1 + 1 + 1 + 1 + sizeof(void *) + 4;
    size_t total = g->capslot * per_slot + g->min_bytes + g->live_slots * 16 /* allocator */ +
                   g->caprec * (sizeof(fp_record) + 4) + g->tcap * 4;
    return total / g->live_slots;
}

/* ---------------------------------------------------------------- search */

typedef struct hit { double s; uint32_t slot; } hit;

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
        double ms = x.s;
        if (l < *n && h[l].s < ms) { m = l; ms = h[l].s; }
        if (r < *n && h[r].s < ms) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

typedef struct scan_job {
    const iop_fp_gallery *g;
    size_t from, to;
    const iop_fp_code *probe;
    const uint8_t *ppos;
    size_t np;
    uint64_t systems;
    hit *heap;
    size_t nheap, cap;
} scan_job;

#define SCAN_BODY                                                                           \
    const iop_fp_gallery *g = j->g;                                                         \
    for (size_t s = j->from; s < j->to; s++) {                                              \
        if (!g->slot_alive[s]) continue;                                                    \
        if (j->systems && !(j->systems >> (g->slot_sys[s] & 63) & 1)) continue;             \
        double best = -1;                                                                   \
        uint8_t pos = g->slot_pos[s];                                                       \
        for (size_t p = 0; p < j->np; p++) {                                                \
            if (pos && j->ppos[p] && pos != j->ppos[p]) continue;                           \
            double v = code_sim(&j->probe[p], &g->code[s]);                                 \
            if (v > best) best = v;                                                         \
        }                                                                                   \
        if (best >= 0) heap_push(j->heap, &j->nheap, j->cap, (hit){best, (uint32_t)s});     \
    }
FP_TARGET_POPCNT static void scan_popcnt(scan_job *j) { SCAN_BODY }
static void scan_generic(scan_job *j) { SCAN_BODY }

static void *scan_run(void *arg) {
    scan_job *j = arg;
    if (FP_HAVE_POPCNT()) scan_popcnt(j);
    else scan_generic(j);
    return NULL;
}

static int hit_desc(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
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
        for (unsigned k = 0; k < tmp->n; k++) {
            const fp_stored_min *m = &g->slot_min[s][k];
            tmp->m[k].x = m->x;
            tmp->m[k].y = m->y;
            tmp->m[k].angle = (float)(m->angle * PI_D / 128.0);
            tmp->m[k].type = m->type;
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
} match_job;

static void *match_run(void *arg) {
    match_job *j = arg;
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
    return NULL;
}

static iop_code search(iop_fp_gallery *g, const iop_fp_template *probe, size_t k, uint64_t systems,
                       bool exhaustive, iop_fp_candidate *out, size_t *n, iop_err *err) {
    *n = 0;
    if (!probe->n_fingers) return iop_fail(err, IOP_EINVAL, "the probe holds no finger");
    if (!k) return IOP_OK;
    size_t np = probe->n_fingers < IOP_FP_MAX_FINGERS ? probe->n_fingers : IOP_FP_MAX_FINGERS;
    iop_fp_code *pc = malloc(np * sizeof *pc);
    uint8_t ppos[IOP_FP_MAX_FINGERS];
    iop_fp_record_features prf;
    memset(&prf, 0, sizeof prf);
    if (!pc) return iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t p = 0; p < np; p++) {
        iop_fp_code_make(&probe->fingers[p], true, &pc[p]);
        ppos[p] = probe->fingers[p].position;
    }
    iop_code rc = iop_fp_record_features_build(probe, &prf, err);
    if (rc) { free(pc); return rc; }

    pthread_rwlock_rdlock(&g->lock);
    uint32_t *recs = NULL;
    size_t nrecs = 0;
    iop_fp_candidate *cand = NULL;
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
        size_t cap = g->shortlist;
        scan_job jobs[64];
        pthread_t th[64];
        size_t per = (g->nslot + (size_t)nt - 1) / (size_t)nt;
        hit *heaps = malloc((size_t)nt * cap * sizeof *heaps);
        if (!heaps) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        bool started[64] = {false};
        for (int t = 0; t < nt; t++) {
            jobs[t] = (scan_job){g, (size_t)t * per, (size_t)(t + 1) * per, pc, ppos, np, systems,
                                 heaps + (size_t)t * cap, 0, cap};
            if (jobs[t].from > g->nslot) jobs[t].from = g->nslot;
            if (jobs[t].to > g->nslot) jobs[t].to = g->nslot;
            if (t == nt - 1 || pthread_create(&th[t], NULL, scan_run, &jobs[t])) scan_run(&jobs[t]);
            else started[t] = true;
        }
        for (int t = 0; t < nt - 1; t++)
            if (started[t]) pthread_join(th[t], NULL);
        /* merge */
        hit *all = malloc((size_t)nt * cap * sizeof *all);
        size_t na = 0;
        if (!all) { free(heaps); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        for (int t = 0; t < nt; t++)
            for (size_t i = 0; i < jobs[t].nheap; i++) all[na++] = jobs[t].heap[i];
        qsort(all, na, sizeof *all, hit_desc);
        if (na > cap) na = cap;
        recs = malloc((na ? na : 1) * sizeof *recs);
        if (!recs) { free(all); free(heaps); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < na; i++) {
            uint32_t r = g->slot_rec[all[i].slot];
            bool dup = false;
            for (size_t q = 0; q < nrecs && !dup; q++) dup = recs[q] == r;
            if (!dup) recs[nrecs++] = r;
        }
        free(all);
        free(heaps);
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
    if (mj.rc) { rc = iop_fail(err, mj.rc, "out of memory"); goto out; }
    qsort(cand, nrecs, sizeof *cand, cand_desc);
    *n = nrecs < k ? nrecs : k;
    memcpy(out, cand, *n * sizeof *cand);
out:
    pthread_rwlock_unlock(&g->lock);
    free(cand);
    free(recs);
    free(pc);
    iop_fp_record_features_free(&prf);
    return rc;
}

iop_code iop_fp_gallery_search(iop_fp_gallery *g, const iop_fp_template *probe, size_t k, uint64_t systems,
                               iop_fp_candidate *out, size_t *n, iop_err *err) {
    return search(g, probe, k, systems, false, out, n, err);
}

iop_code iop_fp_gallery_search_exhaustive(iop_fp_gallery *g, const iop_fp_template *probe, size_t k,
                                          uint64_t systems, iop_fp_candidate *out, size_t *n, iop_err *err) {
    return search(g, probe, k, systems, true, out, n, err);
}
