/*
 * fp_screen.c -- the screen in front of the pair voting in the 1:N first stage of the
 * shared biometric matching service (Reg. (EU) 2019/817 Arts 13-14: every new
 * fingerprint record of SIS is checked against all stored ones).  A cascade: a very
 * cheap whole-gallery test passes a share of the gallery to the pair voting
 * (fp_index_pairs.c), which costs about a microsecond per finger.
 *
 * The code of a finger is a fixed-length bit vector (FPS_BITS bits) of its minutia-pair
 * features: for every pair of minutiae closer than FPS_DMAX -- all of them, not only
 * neighbours, so that a missing or spurious minutia removes its own pairs and changes
 * no other -- the length of the segment (FPS_DB px bins) and the directions of both
 * minutiae relative to the segment (FPS_NA bins).  These are invariant to rotation and
 * translation; the two orders of a pair give the same feature (the order is chosen
 * canonically), which is hashed to one bit.
 *
 * The score of a stored code G against the probe code P counts the features both hold,
 * |P & G|, against what chance gives: features are far from equally common (minutiae
 * follow the smooth ridge flow, so parallel pairs at the ridge period are everywhere),
 * and a stored finger made of common features meets many of any probe's.  The
 * gallery's own bit counts split the bits into three tiers of frequency (the most
 * common third, the next third, the rest); the chance expectation of a stored code is
 * ex = (|P| / mean |G|) * sum over tiers of (mean frequency of the tier * |T & G|),
 * and the score is the deviation (|P & G| - ex) / sqrt(ex + 1).  The counts are AND +
 * population counts: portable C, the POPCNT instruction, or AVX2 (nibble look-up),
 * chosen at run time; they are integers, and the score is computed from them by the
 * same code on every path, so every path gives the same scores.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fp_screen.h"

#define PI_D 3.14159265358979323846
#define FPS_DMAX 190.0
#define FPS_DB 12.0
#define FPS_NA 20

/* atan2 within about 1e-5 rad (a minimax polynomial of atan on [-1, 1] and the octant):
 * the bins are 18 degrees wide, and enrolment computes some 600 of these per finger */
static float atan2_fast(float y, float x) {
    float ax = fabsf(x), ay = fabsf(y), mx = ax > ay ? ax : ay, mn = ax > ay ? ay : ax;
    if (mx == 0) return 0;
    float t = mn / mx, t2 = t * t;
    float r = t * (0.99997726f + t2 * (-0.33262347f + t2 * (0.19354346f + t2 * (-0.11643287f +
              t2 * (0.05265332f + t2 * -0.01172120f)))));
    if (ay > ax) r = 1.57079633f - r;
    if (x < 0) r = 3.14159265f - r;
    return y < 0 ? -r : r;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void fps_code_make(const fp_point *p, int n, fps_code *out) {
    memset(out, 0, sizeof *out);
    const float na = (float)(FPS_NA / (2 * PI_D)), dmax2 = (float)(FPS_DMAX * FPS_DMAX);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            float dx = p[j].x - p[i].x, dy = p[j].y - p[i].y, d2 = dx * dx + dy * dy;
            /* written so that a NaN distance (coordinates beyond float range) fails it */
            if (!(d2 >= 4.0f && d2 < dmax2)) continue;
            float phi = atan2_fast(dy, dx);
            int a = (int)(sqrtf(d2) * (float)(1.0 / FPS_DB));
            /* directions relative to the segment, in [0, 2 pi) up to rounding: the bins wrap */
            float ri = p[i].t - phi, rj = p[j].t - phi;
            int b = ((int)floorf(ri * na) % FPS_NA + FPS_NA) % FPS_NA;
            int c = ((int)floorf(rj * na) % FPS_NA + FPS_NA) % FPS_NA;
            /* the other order (j, i): the segment turns by pi, the two directions swap */
            int b2 = (c + FPS_NA / 2) % FPS_NA, c2 = (b + FPS_NA / 2) % FPS_NA;
            if (b2 < b || (b2 == b && c2 < c)) { b = b2; c = c2; }
            uint32_t h = (uint32_t)((a * FPS_NA + b) * FPS_NA + c) * 0x9E3779B1u;
            unsigned bit = (unsigned)(((uint64_t)h * FPS_BITS) >> 32);
            out->w[bit >> 6] |= 1ull << (bit & 63);
        }
}

/* the indices of the k points of p[0..n-1] nearest (x, y) into idx (k <= n; ties by index) */
static void nearest(const fp_point *p, int n, float x, float y, int k, int *idx) {
    uint64_t key[IOP_FP_MAX_MINUTIAE];
    for (int i = 0; i < n; i++) {
        float dx = p[i].x - x, dy = p[i].y - y, d2 = dx * dx + dy * dy;
        uint32_t b;
        memcpy(&b, &d2, sizeof b);   /* non-negative floats order as their bits */
        key[i] = (uint64_t)b << 32 | (uint32_t)i;
    }
    qsort(key, (size_t)n, sizeof key[0], cmp_u64);
    for (int i = 0; i < k; i++) idx[i] = (int)(key[i] & 0xffffffffu);
}

static void window_code(const fp_point *p, int n, float x, float y, int win, fps_code *out) {
    int idx[IOP_FP_MAX_MINUTIAE];
    fp_point w[IOP_FP_MAX_MINUTIAE];
    nearest(p, n, x, y, win, idx);
    for (int i = 0; i < win; i++) w[i] = p[idx[i]];
    fps_code_make(w, win, out);
}

int fps_window_codes(const fp_point *p, int n, int win, int group, int maxw, fps_code *out) {
    if (n > IOP_FP_MAX_MINUTIAE) n = IOP_FP_MAX_MINUTIAE;
    if (n <= win || win <= 0) {
        fps_code_make(p, n, &out[0]);
        return 1;
    }
    /* window 0: around the centroid, as the gallery codes a stored finger */
    double cx = 0, cy = 0;
    for (int i = 0; i < n; i++) { cx += p[i].x; cy += p[i].y; }
    cx /= n; cy /= n;
    window_code(p, n, (float)cx, (float)cy, win, &out[0]);
    if (maxw <= 1) return 1;
    /* the others: around the centres of k groups of the minutiae (k-means from centres
       spread by farthest-point sampling), one group per `group` minutiae, each window the
       `group` minutiae nearest its centre */
    if (group <= 0 || group > win) group = win;
    int k = (n + group - 1) / group;
    if (k > maxw - 1) k = maxw - 1;
    float ctr[FPS_MAX_WINDOWS][2];
    float dmin[IOP_FP_MAX_MINUTIAE];
    int first = 0;
    float far = -1;
    for (int i = 0; i < n; i++) {
        float dx = p[i].x - (float)cx, dy = p[i].y - (float)cy, d2 = dx * dx + dy * dy;
        if (d2 > far) { far = d2; first = i; }
    }
    ctr[0][0] = p[first].x; ctr[0][1] = p[first].y;
    for (int i = 0; i < n; i++) dmin[i] = INFINITY;
    for (int c = 1; c < k; c++) {
        int best = 0;
        float bd = -1;
        for (int i = 0; i < n; i++) {
            float dx = p[i].x - ctr[c - 1][0], dy = p[i].y - ctr[c - 1][1], d2 = dx * dx + dy * dy;
            if (d2 < dmin[i]) dmin[i] = d2;
            if (dmin[i] > bd) { bd = dmin[i]; best = i; }
        }
        ctr[c][0] = p[best].x; ctr[c][1] = p[best].y;
    }
    for (int it = 0; it < 10; it++) {
        double sx[FPS_MAX_WINDOWS] = {0}, sy[FPS_MAX_WINDOWS] = {0};
        int cnt[FPS_MAX_WINDOWS] = {0};
        for (int i = 0; i < n; i++) {
            int bc = 0;
            float bd = INFINITY;
            for (int c = 0; c < k; c++) {
                float dx = p[i].x - ctr[c][0], dy = p[i].y - ctr[c][1], d2 = dx * dx + dy * dy;
                if (d2 < bd) { bd = d2; bc = c; }
            }
            sx[bc] += p[i].x; sy[bc] += p[i].y; cnt[bc]++;
        }
        for (int c = 0; c < k; c++)
            if (cnt[c]) { ctr[c][0] = (float)(sx[c] / cnt[c]); ctr[c][1] = (float)(sy[c] / cnt[c]); }
    }
    for (int c = 0; c < k; c++) window_code(p, n, ctr[c][0], ctr[c][1], group, &out[1 + c]);
    return 1 + k;
}

int fps_code_pop(const fps_code *c) {
    int s = 0;
    for (int w = 0; w < FPS_WORDS; w++) s += __builtin_popcountll(c->w[w]);
    return s;
}

void fps_query_init(fps_query *q, const fps_code *probe, const uint32_t *count, size_t live) {
    memset(q, 0, sizeof *q);
    q->probe = *probe;
    int ppop = fps_code_pop(probe);
    double total = 0;
    for (int b = 0; b < FPS_BITS && live; b++) total += count[b];
    if (!live || total <= 0) {
        /* no statistics yet: every bit taken as frequent as the probe's bits */
        q->w0 = q->w1 = q->w2 = (float)ppop / FPS_BITS;
        q->scale = 1;
        return;
    }
    /* bits by decreasing count (ties by index): tiers of a third each */
    uint64_t order[FPS_BITS];
    for (int b = 0; b < FPS_BITS; b++) order[b] = (uint64_t)(UINT32_MAX - count[b]) << 32 | (uint32_t)b;
    qsort(order, FPS_BITS, sizeof order[0], cmp_u64);
    double sum[3] = {0, 0, 0};
    int cnt[3] = {0, 0, 0};
    for (int k = 0; k < FPS_BITS; k++) {
        int b = (int)(order[k] & 0xffffffffu), tier = k / (FPS_BITS / 3);
        if (tier > 2) tier = 2;
        if (tier < 2) q->tier[tier].w[b >> 6] |= 1ull << (b & 63);
        sum[tier] += count[b];
        cnt[tier]++;
    }
    q->w0 = (float)(sum[0] / cnt[0] / (double)live);
    q->w1 = (float)(sum[1] / cnt[1] / (double)live);
    q->w2 = (float)(sum[2] / cnt[2] / (double)live);
    double mean_pop = total / (double)live;
    q->scale = (float)(ppop / (mean_pop > 1 ? mean_pop : 1));
}

/* ---------------------------------------------------------------- counting and scores */

#if defined(__x86_64__)
#include <immintrin.h>
#define FPS_X86 1
#else
#define FPS_X86 0
#endif

int fps_path(int want) {
    int best = 0;
#if FPS_X86
    best = __builtin_cpu_supports("avx2") ? 2 : __builtin_cpu_supports("popcnt") ? 1 : 0;
#endif
    return want < 0 || want > best ? best : want;
}

#define FPS_BLOCK 64   /* codes counted, then scored, per block */

static inline __attribute__((always_inline)) void counts_scalar(const fps_query *q, const fps_code *g, size_t n,
                                                                int (*c)[3]) {
    for (size_t i = 0; i < n; i++) {
        int h = 0, t0 = 0, t1 = 0;
        for (int w = 0; w < FPS_WORDS; w++) {
            uint64_t v = g[i].w[w];
            h += __builtin_popcountll(v & q->probe.w[w]);
            t0 += __builtin_popcountll(v & q->tier[0].w[w]);
            t1 += __builtin_popcountll(v & q->tier[1].w[w]);
        }
        c[i][0] = h;
        c[i][1] = t0;
        c[i][2] = t1;
    }
}

static void counts_portable(const fps_query *q, const fps_code *g, size_t n, int (*c)[3]) {
    counts_scalar(q, g, n, c);
}

/* |P & G| alone, for the further windows of a probe (the tier counts are the first's) */
static inline __attribute__((always_inline)) void hits_scalar(const fps_code *pc, const fps_code *g, size_t n,
                                                              int *h) {
    for (size_t i = 0; i < n; i++) {
        int s = 0;
        for (int w = 0; w < FPS_WORDS; w++) s += __builtin_popcountll(g[i].w[w] & pc->w[w]);
        h[i] = s;
    }
}

static void hits_portable(const fps_code *pc, const fps_code *g, size_t n, int *h) { hits_scalar(pc, g, n, h); }

#if FPS_X86
__attribute__((target("popcnt"))) static void counts_popcnt(const fps_query *q, const fps_code *g, size_t n,
                                                            int (*c)[3]) {
    counts_scalar(q, g, n, c);
}

__attribute__((target("popcnt"))) static void hits_popcnt(const fps_code *pc, const fps_code *g, size_t n, int *h) {
    hits_scalar(pc, g, n, h);
}

/* bytes of v counted by two look-ups of 4 bits each */
__attribute__((target("avx2"))) static inline __m256i pop8(__m256i v, __m256i lut, __m256i m4) {
    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

__attribute__((target("avx2"))) static inline int hsum64(__m256i v) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    return (int)_mm_cvtsi128_si64(s);
}

_Static_assert(FPS_WORDS % 4 == 0, "the AVX2 path reads codes 256 bits at a time");

__attribute__((target("avx2"))) static void counts_avx2(const fps_query *q, const fps_code *g, size_t n,
                                                          int (*c)[3]) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i m4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i++) {
        /* per byte at most 8 per vector, FPS_WORDS / 4 vectors: no overflow below 32 */
        __m256i ah = zero, a0 = zero, a1 = zero;
        for (int w = 0; w < FPS_WORDS; w += 4) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)&g[i].w[w]);
            __m256i p = _mm256_loadu_si256((const __m256i *)(const void *)&q->probe.w[w]);
            __m256i t0 = _mm256_loadu_si256((const __m256i *)(const void *)&q->tier[0].w[w]);
            __m256i t1 = _mm256_loadu_si256((const __m256i *)(const void *)&q->tier[1].w[w]);
            ah = _mm256_add_epi8(ah, pop8(_mm256_and_si256(v, p), lut, m4));
            a0 = _mm256_add_epi8(a0, pop8(_mm256_and_si256(v, t0), lut, m4));
            a1 = _mm256_add_epi8(a1, pop8(_mm256_and_si256(v, t1), lut, m4));
        }
        c[i][0] = hsum64(_mm256_sad_epu8(ah, zero));
        c[i][1] = hsum64(_mm256_sad_epu8(a0, zero));
        c[i][2] = hsum64(_mm256_sad_epu8(a1, zero));
    }
}
_Static_assert(FPS_WORDS / 4 * 8 < 256, "byte counters of the AVX2 path");

__attribute__((target("avx2"))) static void hits_avx2(const fps_code *pc, const fps_code *g, size_t n, int *h) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i m4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i++) {
        __m256i ah = zero;
        for (int w = 0; w < FPS_WORDS; w += 4) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)&g[i].w[w]);
            __m256i p = _mm256_loadu_si256((const __m256i *)(const void *)&pc->w[w]);
            ah = _mm256_add_epi8(ah, pop8(_mm256_and_si256(v, p), lut, m4));
        }
        h[i] = hsum64(_mm256_sad_epu8(ah, zero));
    }
}
#endif

static void counts_path(const fps_query *q, const fps_code *g, size_t n, int path, int (*c)[3]) {
#if FPS_X86
    if (path == 2) { counts_avx2(q, g, n, c); return; }
    if (path == 1) { counts_popcnt(q, g, n, c); return; }
#endif
    (void)path;
    counts_portable(q, g, n, c);
}

static void hits_path(const fps_code *pc, const fps_code *g, size_t n, int path, int *h) {
#if FPS_X86
    if (path == 2) { hits_avx2(pc, g, n, h); return; }
    if (path == 1) { hits_popcnt(pc, g, n, h); return; }
#endif
    (void)path;
    hits_portable(pc, g, n, h);
}

void fps_counts(const fps_query *q, const fps_code *g, int path, int out[3]) {
    int c[1][3];
    counts_path(q, g, 1, fps_path(path), c);
    memcpy(out, c[0], sizeof c[0]);
}

/* the score of one code from its counts: the same code whatever path counted them */
static int16_t score_of(const fps_query *q, int h, int t0, int t1, int pop) {
    float ex = q->scale * (q->w2 * (float)(pop - t0 - t1) + q->w0 * (float)t0 + q->w1 * (float)t1);
    float z = ((float)h - ex) / sqrtf(ex + 1.0f) * (float)FPS_QSCALE;
    if (!(z > (float)FPS_QMIN)) return FPS_QMIN;
    if (z > (float)FPS_QMAX) return FPS_QMAX;
    return (int16_t)lrintf(z);
}

void fps_score_batch(const fps_query *q, const fps_code *g, const uint16_t *pop, size_t n, int path,
                     int16_t *out) {
    int c[FPS_BLOCK][3];
    path = fps_path(path);
    for (size_t i = 0; i < n; i += FPS_BLOCK) {
        size_t m = n - i < FPS_BLOCK ? n - i : FPS_BLOCK;
        counts_path(q, g + i, m, path, c);
        for (size_t k = 0; k < m; k++) out[i + k] = score_of(q, c[k][0], c[k][1], c[k][2], pop[i + k]);
    }
}

void fps_score_multi(const fps_query *q, size_t nq, const fps_code *g, const uint16_t *pop, size_t n, int path,
                     int16_t *const *out) {
    int c[FPS_BLOCK][3], h[FPS_BLOCK];
    path = fps_path(path);
    for (size_t i = 0; i < n && nq; i += FPS_BLOCK) {
        size_t m = n - i < FPS_BLOCK ? n - i : FPS_BLOCK;
        counts_path(&q[0], g + i, m, path, c);
        for (size_t k = 0; k < m; k++) out[0][i + k] = score_of(&q[0], c[k][0], c[k][1], c[k][2], pop[i + k]);
        for (size_t w = 1; w < nq; w++) {
            hits_path(&q[w].probe, g + i, m, path, h);
            for (size_t k = 0; k < m; k++) out[w][i + k] = score_of(&q[w], h[k], c[k][1], c[k][2], pop[i + k]);
        }
    }
}
