/*
 * fp_index_pairs.c -- first stage of 1:N fingerprint identification in the shared
 * biometric matching service (Reg. (EU) 2019/817 Arts 13-14: every new fingerprint
 * record of SIS is checked against all stored ones): minutia-pair voting with global
 * consolidation, a form of geometric hashing.
 *
 * A stored finger keeps its minutia pairs: each minutia with its FPX_K nearest
 * neighbours (closer than FPX_DMAX), once per unordered pair.  A pair's feature is
 * invariant to rotation and translation: the length of the segment (FPX_DB px bins)
 * and the directions of both minutiae relative to the segment (FPX_NA bins); besides
 * it the pair keeps the direction of the segment and its midpoint, which are not
 * invariant and say where the finger lies.
 *
 * The probe's pairs (FPX_KP neighbours, so that a missing or spurious minutia in either
 * impression still leaves the pair among the neighbours, both orders of each pair) are
 * put into a table by feature, with the neighbouring bin of every value lying within
 * FPX_SOFT of a bin edge.  Each stored pair looks its feature up; every probe pair found
 * there proposes one rigid motion (rotation = difference of the segment directions,
 * translation = stored midpoint - rotated probe midpoint), cast as a vote into a
 * 16 x 64 x 64 grid (22.5 degrees x 16 px x 16 px, the translation wrapping at 1024 px).
 * The score is the largest sum over 2 x 2 x 2 neighbouring cells: the number of pair
 * correspondences agreeing on one placement of the probe on the stored finger.
 * Bags of local features alone (pair codes, triplets, cylinder hashes) were measured
 * far less selective on generated populations, because neighbouring minutiae follow
 * the same smooth ridge flow in every finger; the global agreement is what separates a
 * mate from a million other fingers (docs/fingerprints.md).
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "fp_index.h"

#define PI_D 3.14159265358979323846
#define FPX_K 5
#define FPX_KP 9
#define FPX_DB 8.0
#define FPX_DMAX 120.0
#define FPX_ND 17               /* distance bins, the soft one past FPX_DMAX included */
#define FPX_NA 24
#define FPX_SOFT 0.4
#define FPX_NKEYS (FPX_ND * FPX_NA * FPX_NA)
#define FPX_NR 16               /* rotation cells */
#define FPX_TB 16.0             /* translation cell, px */
#define FPX_NT 32               /* translation cells per axis (wrapping at 512 px) */
#define FPX_MAX_TOUCHED 4096

static double wrap2pi(double a) {
    a = fmod(a, 2 * PI_D);
    return a < 0 ? a + 2 * PI_D : a;
}

/* the kn nearest neighbours of i, nearest first; returns their number */
static int neighbours(const fp_point *p, int n, int i, int kn, int *nb) {
    double nd[16];
    int cnt = 0;
    for (int j = 0; j < n; j++) {
        if (j == i) continue;
        double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y, d2 = dx * dx + dy * dy;
        if (d2 < 4.0 || d2 > FPX_DMAX * FPX_DMAX) continue;
        if (cnt < kn) cnt++;
        else if (d2 >= nd[cnt - 1]) continue;
        int q = cnt - 1;
        while (q > 0 && nd[q - 1] > d2) { nd[q] = nd[q - 1]; nb[q] = nb[q - 1]; q--; }
        nd[q] = d2;
        nb[q] = j;
    }
    return cnt;
}

static uint8_t clamp_u8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v)); }

int fpx_pairs(const fp_point *p, int n, uint8_t *out) {
    int np = 0;
    int nbl[IOP_FP_MAX_MINUTIAE][FPX_K], cntl[IOP_FP_MAX_MINUTIAE];
    if (n > IOP_FP_MAX_MINUTIAE) n = IOP_FP_MAX_MINUTIAE;
    for (int i = 0; i < n; i++) cntl[i] = neighbours(p, n, i, FPX_K, nbl[i]);
    for (int i = 0; i < n && np < FPX_MAX_PAIRS; i++) {
        for (int q = 0; q < cntl[i] && np < FPX_MAX_PAIRS; q++) {
            int j = nbl[i][q];
            if (j < i) {
                /* stored already when j listed i among its neighbours */
                bool listed = false;
                for (int r = 0; r < cntl[j] && !listed; r++) listed = nbl[j][r] == i;
                if (listed) continue;
            }
            double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y;
            double d = sqrt(dx * dx + dy * dy), phi = atan2(dy, dx);
            int a = (int)(d / FPX_DB), b = (int)(wrap2pi(p[i].t - phi) * FPX_NA / (2 * PI_D)) % FPX_NA;
            int c = (int)(wrap2pi(p[j].t - phi) * FPX_NA / (2 * PI_D)) % FPX_NA;
            if (a >= FPX_ND) a = FPX_ND - 1;
            unsigned key = (unsigned)((a * FPX_NA + b) * FPX_NA + c);
            uint8_t *o = out + (size_t)np * FPX_PAIR_BYTES;
            o[0] = (uint8_t)(key & 255);
            o[1] = (uint8_t)(key >> 8);
            o[2] = (uint8_t)(lround(wrap2pi(phi) * 256 / (2 * PI_D)) & 255);
            o[3] = clamp_u8(((double)p[i].x + p[j].x) / 2 / 4.0);
            o[4] = clamp_u8(-((double)p[i].y + p[j].y) / 2 / 4.0);
            np++;
        }
    }
    return np;
}

/* A probe pair under one feature: its midpoint (relative to the probe's centroid) and
 * the direction of its segment. */
typedef struct fpx_entry { int16_t mx, my; uint8_t phi; } fpx_entry; /* midpoint in 1/8 px */

/* Entries grouped by feature (compressed rows): those of feature k are
 * ent[start[k]] .. ent[start[k + 1] - 1]. */
struct fpx_probe {
    uint16_t start[FPX_NKEYS + 1];   /* 20 KB: with the vote grid, the hot data of a scan */
    int nm;                          /* minutiae, internal frame, relative to the centroid */
    fp_point m[IOP_FP_MAX_MINUTIAE];
    int32_t n, cap;
    fpx_entry *ent;
    uint16_t *key;       /* while building: the feature of each entry */
};

static int probe_push(fpx_probe *p, unsigned key, uint8_t phi, float mx, float my) {
    if (p->n == UINT16_MAX) return 0; /* the table is full: further pairs are left out */
    if (p->n == p->cap) {
        int32_t nc = p->cap ? p->cap * 2 : 1024;
        fpx_entry *ne = realloc(p->ent, (size_t)nc * sizeof *ne);
        if (!ne) return -1;
        p->ent = ne;
        uint16_t *nk = realloc(p->key, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        p->key = nk;
        p->cap = nc;
    }
    p->ent[p->n] = (fpx_entry){(int16_t)lrintf(mx * 8.0f), (int16_t)lrintf(my * 8.0f), phi};
    p->key[p->n++] = (uint16_t)key;
    return 0;
}

/* groups the entries by feature (counting sort); -1 on ENOMEM */
static int probe_group(fpx_probe *p) {
    fpx_entry *sorted = malloc((size_t)(p->n ? p->n : 1) * sizeof *sorted);
    if (!sorted) return -1;
    int32_t *fill = calloc(FPX_NKEYS + 1, sizeof *fill);
    if (!fill) { free(sorted); return -1; }
    for (int32_t e = 0; e < p->n; e++) fill[p->key[e] + 1]++;
    for (int k = 0; k < FPX_NKEYS; k++) fill[k + 1] += fill[k];
    for (int k = 0; k <= FPX_NKEYS; k++) p->start[k] = (uint16_t)fill[k];
    for (int32_t e = 0; e < p->n; e++) sorted[fill[p->key[e]]++] = p->ent[e];
    free(fill);
    free(p->ent);
    free(p->key);
    p->key = NULL;
    p->ent = sorted;
    return 0;
}

void fpx_probe_free(fpx_probe *p) {
    if (!p) return;
    free(p->ent);
    free(p->key);
    free(p);
}

fpx_probe *fpx_probe_new(const iop_fp_finger *f) {
    fpx_probe *pr = calloc(1, sizeof *pr);
    fp_point *p = malloc(IOP_FP_MAX_MINUTIAE * sizeof *p);
    if (!pr || !p) { free(pr); free(p); return NULL; }
    int n = fp_normalise(f, p);
    /* midpoints relative to the centroid: an error in the rotation then moves the
       predicted translation by as little as possible */
    double cx = 0, cy = 0;
    for (int i = 0; i < n; i++) { cx += p[i].x; cy += p[i].y; }
    if (n) { cx /= n; cy /= n; }
    pr->nm = n;
    for (int i = 0; i < n; i++) {
        pr->m[i] = p[i];
        pr->m[i].x = (float)(p[i].x - cx);
        pr->m[i].y = (float)(p[i].y - cy);
    }
    size_t rows = n > 0 ? (size_t)n : 1;
    int (*nbl)[FPX_KP] = malloc(rows * sizeof *nbl);
    int *cntl = malloc(rows * sizeof *cntl);
    if (!nbl || !cntl) { free(nbl); free(cntl); free(p); free(pr); return NULL; }
    for (int i = 0; i < n; i++) cntl[i] = neighbours(p, n, i, FPX_KP, nbl[i]);
    for (int i0 = 0; i0 < n; i0++) {
        for (int q = 0; q < cntl[i0]; q++) {
            int j0 = nbl[i0][q];
            if (j0 < i0) {
                bool listed = false;
                for (int r = 0; r < cntl[j0] && !listed; r++) listed = nbl[j0][r] == i0;
                if (listed) continue;
            }
            for (int dir = 0; dir < 2; dir++) {
                int i = dir ? j0 : i0, j = dir ? i0 : j0;
                double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y;
                double d = sqrt(dx * dx + dy * dy), phi = atan2(dy, dx);
                double v[3] = {d / FPX_DB, wrap2pi(p[i].t - phi) * FPX_NA / (2 * PI_D),
                               wrap2pi(p[j].t - phi) * FPX_NA / (2 * PI_D)};
                int lo[3], hi[3];
                for (int c = 0; c < 3; c++) {
                    int b = (int)floor(v[c]);
                    double fr = v[c] - b;
                    lo[c] = hi[c] = b;
                    if (fr < FPX_SOFT) lo[c] = b - 1;
                    if (fr > 1 - FPX_SOFT) hi[c] = b + 1;
                }
                uint8_t qphi = (uint8_t)(lround(wrap2pi(phi) * 256 / (2 * PI_D)) & 255);
                float mx = (float)(((double)p[i].x + p[j].x) / 2 - cx), my = (float)(((double)p[i].y + p[j].y) / 2 - cy);
                for (int a = lo[0]; a <= hi[0]; a++) {
                    if (a < 0 || a >= FPX_ND) continue;
                    for (int b = lo[1]; b <= hi[1]; b++)
                        for (int c = lo[2]; c <= hi[2]; c++) {
                            unsigned key = (unsigned)((a * FPX_NA + (b + FPX_NA) % FPX_NA) * FPX_NA +
                                                      (c + FPX_NA) % FPX_NA);
                            if (probe_push(pr, key, qphi, mx, my)) {
                                free(nbl);
                                free(cntl);
                                free(p);
                                fpx_probe_free(pr);
                                return NULL;
                            }
                        }
                }
            }
        }
    }
    free(nbl);
    free(cntl);
    free(p);
    if (probe_group(pr)) { fpx_probe_free(pr); return NULL; }
    return pr;
}

/* ---------------------------------------------------------------- voting
 *
 * A stored finger is scored in three passes over per-thread scratch memory, so that the
 * work per vote has no data-dependent branch: (1) each stored pair looks its feature up
 * and writes a vote code (stored pair << 16 | probe entry) for every probe pair with that
 * feature -- four codes are written whatever the count and the count added, so the
 * common rows of 0 to 4 entries cost no branch; (2) the codes are turned into cells of
 * the vote grid and counted, in the order of the pairs; (3) the best 2 x 2 x 2 block is
 * searched.  Pass 3 runs on 32-cell rows with SSE2 (every x86-64) or AVX2 (chosen at run
 * time): for each touched cell the four rows of its block are added and the sums of
 * all 32 blocks of the row taken at once.  The scalar pass is the reference: every path
 * gives the same score (tests/test_fp_gallery.c checks it). */

#if defined(__x86_64__)
#include <immintrin.h>
#define FPX_X86 1
#else
#define FPX_X86 0
#endif

#define FPX_VBUF 2048   /* vote codes cast per batch */
#define FPX_YM (FPX_NT - 1)                      /* cell = (r * NT + x) * NT + y */
#define FPX_XM ((FPX_NT - 1) * FPX_NT)
#define FPX_RSTEP (FPX_NT * FPX_NT)
#define FPX_CELLS (FPX_NR * FPX_NT * FPX_NT)
_Static_assert((FPX_NT & (FPX_NT - 1)) == 0 && (FPX_NR & (FPX_NR - 1)) == 0 && FPX_NT == 32,
               "the vote grid wraps by masks and holds rows of 32 cells");

enum { FPX_PATH_PORTABLE, FPX_PATH_SSE2, FPX_PATH_AVX2 };

struct fpx_scratch {
    _Alignas(64) uint8_t grid[FPX_CELLS];   /* 16 KB: stays in the first-level cache */
    uint16_t touched[FPX_MAX_TOUCHED];
    _Alignas(32) uint32_t vote[FPX_VBUF + 8]; /* vote codes, then their cells */
    /* x86: what the vectors take from the pair and the entry of each vote */
    _Alignas(32) uint32_t st_g[FPX_VBUF + 8];  /* bytes 1-4 of the stored pair */
    _Alignas(32) uint32_t st_e[FPX_VBUF + 8];  /* the entry's midpoint, mx | my << 16 */
    _Alignas(32) uint32_t st_d[FPX_VBUF + 8];  /* rotation, 1/256 turn */
    _Alignas(32) float st_cs[2 * (FPX_VBUF + 8)]; /* its cos / 8, sin / 8 */
    float cs8[256], sn8[256];               /* cos, sin / 8: probe midpoints are in 1/8 px */
    float csn8[256][2];
    _Alignas(32) uint8_t hrx[FPX_NR * FPX_NT]; /* x86: votes per (rotation, x) cell */
    _Alignas(32) uint8_t win[FPX_NR * FPX_NT]; /* x86: their 2 x 2 windows (lower corner) */
    int win_lim;                            /* blocks of windows at most this can be skipped */
    float cs[256], sn[256];
    int nt;                                 /* touched cells */
    int path;
};

fpx_scratch *fpx_scratch_new(void) {
    fpx_scratch *s = aligned_alloc(64, (sizeof(fpx_scratch) + 63) / 64 * 64);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    for (int a = 0; a < 256; a++) {
        s->cs[a] = (float)cos(a * 2 * PI_D / 256);
        s->sn[a] = (float)sin(a * 2 * PI_D / 256);
        s->cs8[a] = s->csn8[a][0] = s->cs[a] * 0.125f;
        s->sn8[a] = s->csn8[a][1] = s->sn[a] * 0.125f;
    }
    fpx_scratch_path(s, -1);
    return s;
}

int fpx_scratch_path(fpx_scratch *s, int path) {
    int best = FPX_PATH_PORTABLE;
#if FPX_X86
    best = __builtin_cpu_supports("avx2") ? FPX_PATH_AVX2 : FPX_PATH_SSE2;
#endif
    s->path = path < 0 || path > best ? best : path;
    return s->path;
}

void fpx_scratch_free(fpx_scratch *s) { free(s); }

#define CELL(r, x, y) (((r) * FPX_NT + (x)) * FPX_NT + (y))

/* the cell of the motion proposed by vote code v (the reference computation) */
static inline unsigned vote_cell(const fpx_probe *p, const uint8_t *pairs, const fpx_scratch *s, uint32_t v) {
    const uint8_t *g = pairs + (size_t)(v >> 16) * FPX_PAIR_BYTES;
    const fpx_entry *pe = &p->ent[v & 0xffff];
    unsigned d = (unsigned)(g[2] - pe->phi) & 255;
    float gx = g[3] * 4.0f + 2.0f, gy = -(g[4] * 4.0f + 2.0f);
    float c = s->cs8[d], sn = s->sn8[d], mx = pe->mx, my = pe->my;
    float tx = gx - (c * mx - sn * my), ty = gy - (sn * mx + c * my);
    /* cells of FPX_TB px; the offset keeps the operand positive, so that the conversion
       truncates like floor */
    unsigned ix = (unsigned)(int)(tx * (float)(1.0 / FPX_TB) + 4096.0f) & FPX_YM;
    unsigned iy = (unsigned)(int)(ty * (float)(1.0 / FPX_TB) + 4096.0f) & FPX_YM;
    return CELL(d >> 4, ix, iy);
}

/* pass 2, second half: counts the votes in the cells cell(0) .. cell(m - 1), in order
 * (saturating at 255); a vote for a new cell once FPX_MAX_TOUCHED cells are touched is
 * left out */
#define FPX_COUNT(s, m, cell)                                                   \
    do {                                                                        \
        uint8_t *grid_ = (s)->grid;                                             \
        uint16_t *touched_ = (s)->touched;                                      \
        int nt_ = (s)->nt;                                                      \
        if (nt_ + (m) <= FPX_MAX_TOUCHED) {                                     \
            for (int i = 0; i < (m); i++) {                                     \
                unsigned c_ = (cell), c0_ = grid_[c_];                          \
                touched_[nt_] = (uint16_t)c_;                                   \
                nt_ += c0_ == 0;                                                \
                grid_[c_] = (uint8_t)(c0_ + (c0_ != UINT8_MAX));                \
            }                                                                   \
        } else {                                                                \
            for (int i = 0; i < (m); i++) {                                     \
                unsigned c_ = (cell);                                           \
                if (!grid_[c_]) {                                               \
                    if (nt_ == FPX_MAX_TOUCHED) continue;                       \
                    touched_[nt_++] = (uint16_t)c_;                             \
                }                                                               \
                if (grid_[c_] < UINT8_MAX) grid_[c_]++;                         \
            }                                                                   \
        }                                                                       \
        (s)->nt = nt_;                                                          \
    } while (0)

/* pass 2, portable: the cells of the votes s->vote[0..m-1], counted */
static void cast(const fpx_probe *p, const uint8_t *pairs, fpx_scratch *s, int m) {
    FPX_COUNT(s, m, vote_cell(p, pairs, s, s->vote[i]));
}

/* passes 1 and 2, portable: every stored pair votes for each probe pair of its feature */
static void vote_all(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s) {
    const uint16_t *start = p->start;
    uint32_t *vote = s->vote;
    int m = 0;
    s->nt = 0;
    if (npairs > UINT16_MAX) npairs = UINT16_MAX;
    for (int q = 0; q < npairs; q++) {
        const uint8_t *g = pairs + (size_t)q * FPX_PAIR_BYTES;
        unsigned key = (unsigned)g[0] | (unsigned)g[1] << 8;
        if (key >= FPX_NKEYS) continue;
        unsigned e = start[key];
        int cnt = (int)start[key + 1] - (int)e;
        uint32_t code = (uint32_t)q << 16 | e;
        if (cnt > 4) { /* a feature the probe holds many times */
            for (int k = 0; k < cnt; k++) {
                if (m == FPX_VBUF) { cast(p, pairs, s, m); m = 0; }
                vote[m++] = code + (uint32_t)k;
            }
            continue;
        }
        if (m > FPX_VBUF - 4) { cast(p, pairs, s, m); m = 0; }
        vote[m] = code;
        vote[m + 1] = code + 1;
        vote[m + 2] = code + 2;
        vote[m + 3] = code + 3;
        m += cnt;
    }
    cast(p, pairs, s, m);
}

#if FPX_X86
/* The x86 paths compute the same cells with vectors, four (SSE2) or eight (AVX2) votes
 * at a time, by the same single-precision operations in the same order as vote_cell
 * (no fused multiply-add), so they are bit-identical.  The values a vote needs from its
 * stored pair and probe entry are first gathered by scalar loads (vector gathers are slow
 * on many processors). */

static inline uint32_t load32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* pass 2, first part: what the vectors need, for the votes s->vote[0..m-1] and up to 7
 * more (copies of the first) so that whole vectors can be read */
static void stage(const fpx_probe *p, const uint8_t *pairs, fpx_scratch *s, int m) {
    const uint8_t *ent = (const uint8_t *)p->ent;
    uint32_t *restrict sg = s->st_g, *restrict se = s->st_e, *restrict sd = s->st_d;
    float *restrict sc = s->st_cs;
    const uint32_t *restrict v = s->vote;
    for (int i = m; i < ((m + 7) & ~7); i++) s->vote[i] = s->vote[0];
    int mm = (m + 7) & ~7;
    for (int i = 0; i < mm; i++) {
        uint32_t code = v[i];
        const uint8_t *g = pairs + (size_t)(code >> 16) * FPX_PAIR_BYTES;
        const uint8_t *pe = ent + (size_t)(code & 0xffff) * sizeof(fpx_entry);
        unsigned d = (unsigned)(g[2] - pe[offsetof(fpx_entry, phi)]) & 255;
        sg[i] = load32(g + 1);
        se[i] = load32(pe);
        sd[i] = d;
        memcpy(sc + 2 * i, s->csn8[d], 8);
    }
}

/* pass 2, vector part, 4 votes at a time: the cells replace the codes in s->vote */
static void cells_sse2(fpx_scratch *s, int m) {
    const __m128i k255 = _mm_set1_epi32(255), k31 = _mm_set1_epi32(FPX_YM);
    const __m128 four = _mm_set1_ps(4.0f), two = _mm_set1_ps(2.0f), sign = _mm_set1_ps(-0.0f);
    const __m128 inv = _mm_set1_ps((float)(1.0 / FPX_TB)), off = _mm_set1_ps(4096.0f);
    for (int i = 0; i < m; i += 4) {
        __m128i gw = _mm_load_si128((const __m128i *)(const void *)(s->st_g + i));
        __m128i ew = _mm_load_si128((const __m128i *)(const void *)(s->st_e + i));
        __m128i d = _mm_load_si128((const __m128i *)(const void *)(s->st_d + i));
        __m128 cs01 = _mm_load_ps(s->st_cs + 2 * i), cs23 = _mm_load_ps(s->st_cs + 2 * i + 4);
        __m128 c = _mm_shuffle_ps(cs01, cs23, _MM_SHUFFLE(2, 0, 2, 0));
        __m128 sn = _mm_shuffle_ps(cs01, cs23, _MM_SHUFFLE(3, 1, 3, 1));
        __m128 g3 = _mm_cvtepi32_ps(_mm_and_si128(_mm_srli_epi32(gw, 16), k255));
        __m128 g4 = _mm_cvtepi32_ps(_mm_srli_epi32(gw, 24));
        __m128 mx = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_slli_epi32(ew, 16), 16));
        __m128 my = _mm_cvtepi32_ps(_mm_srai_epi32(ew, 16));
        __m128 gx = _mm_add_ps(_mm_mul_ps(g3, four), two);
        __m128 gy = _mm_xor_ps(_mm_add_ps(_mm_mul_ps(g4, four), two), sign);
        __m128 tx = _mm_sub_ps(gx, _mm_sub_ps(_mm_mul_ps(c, mx), _mm_mul_ps(sn, my)));
        __m128 ty = _mm_sub_ps(gy, _mm_add_ps(_mm_mul_ps(sn, mx), _mm_mul_ps(c, my)));
        __m128i ix = _mm_and_si128(_mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(tx, inv), off)), k31);
        __m128i iy = _mm_and_si128(_mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(ty, inv), off)), k31);
        __m128i cell = _mm_or_si128(_mm_slli_epi32(_mm_srli_epi32(d, 4), 10),
                                    _mm_or_si128(_mm_slli_epi32(ix, 5), iy));
        _mm_store_si128((__m128i *)(void *)(s->vote + i), cell);
    }
}

/* the same, 8 votes at a time */
__attribute__((target("avx2"))) static void cells_avx2(fpx_scratch *s, int m) {
    const __m256i k255 = _mm256_set1_epi32(255), k31 = _mm256_set1_epi32(FPX_YM);
    const __m256 four = _mm256_set1_ps(4.0f), two = _mm256_set1_ps(2.0f), sign = _mm256_set1_ps(-0.0f);
    const __m256 inv = _mm256_set1_ps((float)(1.0 / FPX_TB)), off = _mm256_set1_ps(4096.0f);
    for (int i = 0; i < m; i += 8) {
        __m256i gw = _mm256_load_si256((const __m256i *)(const void *)(s->st_g + i));
        __m256i ew = _mm256_load_si256((const __m256i *)(const void *)(s->st_e + i));
        __m256i d = _mm256_load_si256((const __m256i *)(const void *)(s->st_d + i));
        /* (c0 s0 c1 s1 c2 s2 c3 s3), (c4 s4 ... c7 s7): shuffled within 128-bit lanes to
           (c0 c1 c4 c5 | c2 c3 c6 c7), then the 64-bit quarters put in order */
        __m256 a = _mm256_load_ps(s->st_cs + 2 * i), b = _mm256_load_ps(s->st_cs + 2 * i + 8);
        __m256 c = _mm256_castpd_ps(
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
        __m256 sn = _mm256_castpd_ps(
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
        __m256 g3 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(gw, 16), k255));
        __m256 g4 = _mm256_cvtepi32_ps(_mm256_srli_epi32(gw, 24));
        __m256 mx = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(ew, 16), 16));
        __m256 my = _mm256_cvtepi32_ps(_mm256_srai_epi32(ew, 16));
        __m256 gx = _mm256_add_ps(_mm256_mul_ps(g3, four), two);
        __m256 gy = _mm256_xor_ps(_mm256_add_ps(_mm256_mul_ps(g4, four), two), sign);
        __m256 tx = _mm256_sub_ps(gx, _mm256_sub_ps(_mm256_mul_ps(c, mx), _mm256_mul_ps(sn, my)));
        __m256 ty = _mm256_sub_ps(gy, _mm256_add_ps(_mm256_mul_ps(sn, mx), _mm256_mul_ps(c, my)));
        __m256i ix = _mm256_and_si256(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(tx, inv), off)), k31);
        __m256i iy = _mm256_and_si256(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(ty, inv), off)), k31);
        __m256i cell = _mm256_or_si256(_mm256_slli_epi32(_mm256_srli_epi32(d, 4), 10),
                                       _mm256_or_si256(_mm256_slli_epi32(ix, 5), iy));
        _mm256_store_si256((__m256i *)(void *)(s->vote + i), cell);
    }
}

/* pass 2, x86, first part: the cells of the votes s->vote[0..m-1] */
static void cells_x86(const fpx_probe *p, const uint8_t *pairs, fpx_scratch *s, int m) {
    stage(p, pairs, s, m);
    if (s->path == FPX_PATH_AVX2) cells_avx2(s, m);
    else cells_sse2(s, m);
}

/* pass 2, x86 */
static void cast_x86(const fpx_probe *p, const uint8_t *pairs, fpx_scratch *s, int m) {
    if (m <= 0) return;
    cells_x86(p, pairs, s, m);
    const uint32_t *cell = s->vote;
    FPX_COUNT(s, m, cell[i]);
}

/* counts the cells s->vote[0..m-1] per (rotation, x): the row of 32 cells each lies in */
static void window_count(fpx_scratch *s, int m) {
    uint8_t *h = s->hrx;
    const uint32_t *v = s->vote;
    if (m <= UINT8_MAX) { /* no count can reach 255 */
        for (int i = 0; i < m; i++) h[v[i] >> 5]++;
        return;
    }
    for (int i = 0; i < m; i++) {
        unsigned r = v[i] >> 5, c = h[r];
        h[r] = (uint8_t)(c + (c != UINT8_MAX));
    }
}

/* An upper bound of the score from the cells s->vote[0..m-1]: the votes are counted
 * per (rotation, x) cell, summed over y, and the best 2 x 2 window of those counts is
 * at least the best 2 x 2 x 2 block.  Counts saturate at 255; the bound is then 255. */
static int window_bound_sse2(fpx_scratch *s, int m) {
    uint8_t *h = s->hrx;
    window_count(s, m);
    __m128i best = _mm_setzero_si128(), zero = _mm_setzero_si128();
    for (int r = 0; r < FPX_NR; r++) {
        const uint8_t *a = h + r * FPX_NT, *b = h + ((r + 1) & (FPX_NR - 1)) * FPX_NT;
        __m128i s0 = _mm_adds_epu8(_mm_load_si128((const __m128i *)(const void *)a),
                                   _mm_load_si128((const __m128i *)(const void *)b));
        __m128i s1 = _mm_adds_epu8(_mm_load_si128((const __m128i *)(const void *)(a + 16)),
                                   _mm_load_si128((const __m128i *)(const void *)(b + 16)));
        __m128i n0 = _mm_or_si128(_mm_srli_si128(s0, 1), _mm_slli_si128(s1, 15));
        __m128i n1 = _mm_or_si128(_mm_srli_si128(s1, 1), _mm_slli_si128(s0, 15));
        __m128i w0 = _mm_adds_epu8(s0, n0), w1 = _mm_adds_epu8(s1, n1);
        _mm_store_si128((__m128i *)(void *)(s->win + r * FPX_NT), w0);
        _mm_store_si128((__m128i *)(void *)(s->win + r * FPX_NT + 16), w1);
        best = _mm_max_epu8(best, _mm_max_epu8(w0, w1));
    }
    for (int r = 0; r < FPX_NR * FPX_NT; r += 16) _mm_store_si128((__m128i *)(void *)(h + r), zero);
    best = _mm_max_epu8(best, _mm_srli_si128(best, 8));
    best = _mm_max_epu8(best, _mm_srli_si128(best, 4));
    best = _mm_max_epu8(best, _mm_srli_si128(best, 2));
    best = _mm_max_epu8(best, _mm_srli_si128(best, 1));
    return _mm_cvtsi128_si32(best) & 255;
}

__attribute__((target("avx2"))) static int window_bound_avx2(fpx_scratch *s, int m) {
    uint8_t *h = s->hrx;
    window_count(s, m);
    __m256i best = _mm256_setzero_si256(), zero = _mm256_setzero_si256();
    for (int r = 0; r < FPX_NR; r++) {
        __m256i sum = _mm256_adds_epu8(
            _mm256_load_si256((const __m256i *)(const void *)(h + r * FPX_NT)),
            _mm256_load_si256((const __m256i *)(const void *)(h + ((r + 1) & (FPX_NR - 1)) * FPX_NT)));
        __m256i next = _mm256_alignr_epi8(_mm256_permute2x128_si256(sum, sum, 0x01), sum, 1);
        __m256i w = _mm256_adds_epu8(sum, next);
        _mm256_store_si256((__m256i *)(void *)(s->win + r * FPX_NT), w);
        best = _mm256_max_epu8(best, w);
    }
    for (int r = 0; r < FPX_NR * FPX_NT; r += 32) _mm256_store_si256((__m256i *)(void *)(h + r), zero);
    __m128i b = _mm_max_epu8(_mm256_castsi256_si128(best), _mm256_extracti128_si256(best, 1));
    b = _mm_max_epu8(b, _mm_srli_si128(b, 8));
    b = _mm_max_epu8(b, _mm_srli_si128(b, 4));
    b = _mm_max_epu8(b, _mm_srli_si128(b, 2));
    b = _mm_max_epu8(b, _mm_srli_si128(b, 1));
    return _mm_cvtsi128_si32(b) & 255;
}

/* passes 1 and 2, x86: as vote_all, the four codes of a pair written by one store; the
 * batch is checked for room once per 16 pairs.  When every vote fits one batch and
 * floor >= 0, the window bound is taken first: a finger whose bound is at most floor
 * cannot score above it, its votes are not counted and the bound is returned; otherwise
 * -1, the votes counted. */
static int vote_x86(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, int floor) {
    const uint16_t *start = p->start;
    uint32_t *vote = s->vote;
    const __m128i k0123 = _mm_setr_epi32(0, 1, 2, 3);
    int m = 0;
    bool whole = true; /* every vote in the batch */
    s->nt = 0;
    s->win_lim = -1;
    if (npairs > UINT16_MAX) npairs = UINT16_MAX;
    for (int q0 = 0; q0 < npairs; q0 += 16) {
        if (m > FPX_VBUF - 4 * 16) { cast_x86(p, pairs, s, m); m = 0; whole = false; }
        int q1 = npairs - q0 < 16 ? npairs : q0 + 16;
        const uint8_t *g = pairs + (size_t)q0 * FPX_PAIR_BYTES;
        for (int q = q0; q < q1; q++, g += FPX_PAIR_BYTES) {
            unsigned key = (unsigned)g[0] | (unsigned)g[1] << 8;
            if (key >= FPX_NKEYS) continue;
            unsigned e = start[key];
            int cnt = (int)start[key + 1] - (int)e;
            uint32_t code = (uint32_t)q << 16 | e;
            if (cnt > 4) { /* a feature the probe holds many times */
                for (int k = 0; k < cnt; k++) {
                    if (m == FPX_VBUF) { cast_x86(p, pairs, s, m); m = 0; whole = false; }
                    vote[m++] = code + (uint32_t)k;
                }
                if (m > FPX_VBUF - 4 * 16) { cast_x86(p, pairs, s, m); m = 0; whole = false; }
                continue;
            }
            _mm_storeu_si128((__m128i *)(void *)(vote + m), _mm_add_epi32(_mm_set1_epi32((int)code), k0123));
            m += cnt;
        }
    }
    if (m <= 0) return -1;
    cells_x86(p, pairs, s, m);
    if (whole && floor >= 0 && floor < UINT8_MAX) {
        int b = s->path == FPX_PATH_AVX2 ? window_bound_avx2(s, m) : window_bound_sse2(s, m);
        if (b <= floor) return b;
        s->win_lim = floor; /* the windows are upper bounds of the blocks (saturated ones too) */
    }
    const uint32_t *cell = s->vote;
    FPX_COUNT(s, m, cell[i]);
    return -1;
}
#endif

/* passes 1 and 2 on the scratch's path; a bound at most floor when the finger cannot
 * score above floor (votes not counted), else -1 */
static int vote(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, int floor) {
#if FPX_X86
    if (s->path != FPX_PATH_PORTABLE) return vote_x86(p, pairs, npairs, s, floor);
#endif
    (void)floor;
    s->win_lim = -1;
    vote_all(p, pairs, npairs, s);
    return -1;
}

/* sum of the 2 x 2 x 2 block whose lower corner is cell c (wrapping in every axis) */
static inline int block_sum(const uint8_t *gr, unsigned c) {
    unsigned y1 = (c & ~(unsigned)FPX_YM) | ((c + 1) & FPX_YM);
    unsigned x1 = (c & ~(unsigned)FPX_XM) | ((c + FPX_NT) & FPX_XM);
    unsigned x1y1 = (y1 & ~(unsigned)FPX_XM) | ((y1 + FPX_NT) & FPX_XM);
    const unsigned r = FPX_RSTEP, all = FPX_CELLS - 1;
    return gr[c] + gr[y1] + gr[x1] + gr[x1y1] + gr[(c + r) & all] + gr[(y1 + r) & all] + gr[(x1 + r) & all] +
           gr[(x1y1 + r) & all];
}

/* pass 3, reference: the best block with a vote in its lower corner, and that corner
 * (the first in the order the cells were touched) */
static int best_block(const fpx_scratch *s, unsigned *bcell) {
    int best = 0;
    unsigned bc = 0;
    for (int t = 0; t < s->nt; t++) {
        int v = block_sum(s->grid, s->touched[t]);
        if (v > best) { best = v; bc = s->touched[t]; }
    }
    if (bcell) *bcell = bc;
    return best;
}

#if FPX_X86
/* the rows of the block of cell c: (r, x), (r, x + 1), (r + 1, x), (r + 1, x + 1) */
#define FPX_ROWS(c, r00, r01, r10, r11)                                                                   \
    unsigned r00 = (c) & ~(unsigned)FPX_YM, r01 = (r00 & ~(unsigned)FPX_XM) | ((r00 + FPX_NT) & FPX_XM), \
             r10 = (r00 + FPX_RSTEP) & (FPX_CELLS - 1), r11 = (r01 + FPX_RSTEP) & (FPX_CELLS - 1)

/* pass 3 on rows (sums saturate at 255: a result of 255 is recomputed by the reference);
 * cells whose (rotation, x) window is at most lim are skipped, their blocks cannot
 * exceed it (lim = -1: none) */
static int best_block_sse2(const fpx_scratch *s, int lim) {
    const uint8_t *gr = s->grid;
    __m128i best = _mm_setzero_si128(), zero = _mm_setzero_si128();
    for (int t = 0; t < s->nt; t++) {
        if ((int)s->win[s->touched[t] >> 5] <= lim) continue;
        FPX_ROWS(s->touched[t], r00, r01, r10, r11);
        __m128i a0 = _mm_load_si128((const __m128i *)(const void *)(gr + r00));
        __m128i a1 = _mm_load_si128((const __m128i *)(const void *)(gr + r00 + 16));
        __m128i s0 = _mm_adds_epu8(_mm_adds_epu8(a0, _mm_load_si128((const __m128i *)(const void *)(gr + r01))),
                                   _mm_adds_epu8(_mm_load_si128((const __m128i *)(const void *)(gr + r10)),
                                                 _mm_load_si128((const __m128i *)(const void *)(gr + r11))));
        __m128i s1 =
            _mm_adds_epu8(_mm_adds_epu8(a1, _mm_load_si128((const __m128i *)(const void *)(gr + r01 + 16))),
                          _mm_adds_epu8(_mm_load_si128((const __m128i *)(const void *)(gr + r10 + 16)),
                                        _mm_load_si128((const __m128i *)(const void *)(gr + r11 + 16))));
        /* block of lower corner y: columns y and y + 1 (mod 32) */
        __m128i n0 = _mm_or_si128(_mm_srli_si128(s0, 1), _mm_slli_si128(s1, 15));
        __m128i n1 = _mm_or_si128(_mm_srli_si128(s1, 1), _mm_slli_si128(s0, 15));
        __m128i b0 = _mm_andnot_si128(_mm_cmpeq_epi8(a0, zero), _mm_adds_epu8(s0, n0));
        __m128i b1 = _mm_andnot_si128(_mm_cmpeq_epi8(a1, zero), _mm_adds_epu8(s1, n1));
        best = _mm_max_epu8(best, _mm_max_epu8(b0, b1));
    }
    best = _mm_max_epu8(best, _mm_srli_si128(best, 8));
    best = _mm_max_epu8(best, _mm_srli_si128(best, 4));
    best = _mm_max_epu8(best, _mm_srli_si128(best, 2));
    best = _mm_max_epu8(best, _mm_srli_si128(best, 1));
    return _mm_cvtsi128_si32(best) & 255;
}

__attribute__((target("avx2"))) static int best_block_avx2(const fpx_scratch *s, int lim) {
    const uint8_t *gr = s->grid;
    __m256i best = _mm256_setzero_si256(), zero = _mm256_setzero_si256();
    for (int t = 0; t < s->nt; t++) {
        if ((int)s->win[s->touched[t] >> 5] <= lim) continue;
        FPX_ROWS(s->touched[t], r00, r01, r10, r11);
        __m256i a = _mm256_load_si256((const __m256i *)(const void *)(gr + r00));
        __m256i sum = _mm256_adds_epu8(_mm256_adds_epu8(a, _mm256_load_si256((const __m256i *)(const void *)(gr + r01))),
                                       _mm256_adds_epu8(_mm256_load_si256((const __m256i *)(const void *)(gr + r10)),
                                                        _mm256_load_si256((const __m256i *)(const void *)(gr + r11))));
        __m256i next = _mm256_alignr_epi8(_mm256_permute2x128_si256(sum, sum, 0x01), sum, 1);
        __m256i b = _mm256_andnot_si256(_mm256_cmpeq_epi8(a, zero), _mm256_adds_epu8(sum, next));
        best = _mm256_max_epu8(best, b);
    }
    __m128i m = _mm_max_epu8(_mm256_castsi256_si128(best), _mm256_extracti128_si256(best, 1));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 8));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 4));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 2));
    m = _mm_max_epu8(m, _mm_srli_si128(m, 1));
    return _mm_cvtsi128_si32(m) & 255;
}
#endif

static void grid_clear(fpx_scratch *s) {
    for (int t = 0; t < s->nt; t++) s->grid[s->touched[t]] = 0;
    s->nt = 0;
}

/* the mean motion of the votes in the 2 x 2 x 2 block whose lower corner is cell c */
static void motion(const fpx_probe *p, const uint8_t *pairs, int npairs, const fpx_scratch *s, unsigned c,
                   fpx_motion *mo) {
    unsigned r0 = c / (FPX_NT * FPX_NT), x0 = c / FPX_NT % FPX_NT, y0 = c % FPX_NT;
    double sc = 0, ss = 0, stx = 0, sty = 0;
    int n = 0;
    for (int q = 0; q < npairs; q++) {
        const uint8_t *g = pairs + (size_t)q * FPX_PAIR_BYTES;
        unsigned key = (unsigned)g[0] | (unsigned)g[1] << 8;
        if (key >= FPX_NKEYS) continue;
        float gx = g[3] * 4.0f + 2.0f, gy = -(g[4] * 4.0f + 2.0f);
        for (unsigned e = p->start[key]; e < p->start[key + 1]; e++) {
            const fpx_entry *pe = &p->ent[e];
            unsigned d = (g[2] - pe->phi) & 255;
            float cs = s->cs[d], sn = s->sn[d], mx = pe->mx * 0.125f, my = pe->my * 0.125f;
            float tx = gx - (cs * mx - sn * my), ty = gy - (sn * mx + cs * my);
            unsigned ix = (unsigned)(int)(tx * (float)(1.0 / FPX_TB) + 4096.0f) & (FPX_NT - 1);
            unsigned iy = (unsigned)(int)(ty * (float)(1.0 / FPX_TB) + 4096.0f) & (FPX_NT - 1);
            if (((d >> 4) - r0) % FPX_NR > 1 || ((ix - x0) & (FPX_NT - 1)) > 1 || ((iy - y0) & (FPX_NT - 1)) > 1)
                continue;
            sc += cs;
            ss += sn;
            stx += tx;
            sty += ty;
            n++;
        }
    }
    mo->votes = n;
    mo->rot = n ? atan2(ss, sc) : 0;
    mo->tx = n ? stx / n : 0;
    mo->ty = n ? sty / n : 0;
}

int fpx_score(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, int floor) {
    int best = vote(p, pairs, npairs, s, floor);
    if (best >= 0) return best;
    switch (s->path) {
#if FPX_X86
    case FPX_PATH_AVX2: best = best_block_avx2(s, s->win_lim); break;
    case FPX_PATH_SSE2: best = best_block_sse2(s, s->win_lim); break;
#endif
    default: best = best_block(s, NULL); break;
    }
    if (best >= UINT8_MAX) best = best_block(s, NULL);
    grid_clear(s);
    return best;
}

int fpx_align(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, fpx_motion *mo) {
    vote(p, pairs, npairs, s, -1);
    unsigned bcell;
    int best = best_block(s, &bcell);
    if (mo) motion(p, pairs, npairs, s, bcell, mo);
    grid_clear(s);
    return best;
}

int fpx_pair_minutiae(const fpx_probe *p, const fp_point *g, int ng, const fpx_motion *mo, double tol_px,
                      double tol_rad) {
    double c = cos(mo->rot), s = sin(mo->rot);
    bool used[IOP_FP_MAX_MINUTIAE] = {false};
    int m = 0;
    for (int i = 0; i < p->nm; i++) {
        double x = c * p->m[i].x - s * p->m[i].y + mo->tx, y = s * p->m[i].x + c * p->m[i].y + mo->ty;
        double t = p->m[i].t + mo->rot;
        int best = -1;
        double bd = tol_px * tol_px;
        for (int j = 0; j < ng; j++) {
            if (used[j]) continue;
            double dx = g[j].x - x, dy = g[j].y - y, d2 = dx * dx + dy * dy;
            if (d2 > bd) continue;
            if (fabs(fp_angle_diff(g[j].t, t)) > tol_rad) continue;
            bd = d2;
            best = j;
        }
        if (best >= 0) { used[best] = true; m++; }
    }
    return m;
}

int fpx_probe_minutiae(const fpx_probe *p) { return p->nm; }
