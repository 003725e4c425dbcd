/*
 * fp_screen.h -- the screen in front of the pair voting in the 1:N first stage of the
 * sBMS fingerprint gallery (Reg. (EU) 2019/817 Arts 13-14), shared by the files of the
 * fingerprint module only (see fp_screen.c).
 */
#ifndef INTEROP_FP_SCREEN_H
#define INTEROP_FP_SCREEN_H

#include <stddef.h>
#include <stdint.h>
#include "fp_internal.h"

#define FPS_BITS 1280                 /* 160 bytes per stored finger */
#define FPS_WORDS (FPS_BITS / 64)
#define FPS_QSCALE 32                 /* quantised score = round(score * FPS_QSCALE) */
#define FPS_QMIN (-8192)              /* quantised scores lie in [FPS_QMIN, FPS_QMAX] */
#define FPS_QMAX 8191
#define FPS_HIST (FPS_QMAX - FPS_QMIN + 1)

/* A finger's code: one bit per quantised minutia-pair feature present. */
typedef struct fps_code { uint64_t w[FPS_WORDS]; } fps_code;

/* The code of the minutiae p[0..n-1] (internal frame: 500 ppi, y up). */
void fps_code_make(const fp_point *p, int n, fps_code *out);
#define FPS_MAX_WINDOWS 8      /* codes of one large probe finger, at most */

/* The screen codes of a probe finger's minutiae p[0..n-1]: one code of them all when
 * n <= win (the most minutiae a stored code covers); else windows: the win minutiae
 * nearest the centroid (as a stored finger is coded), then the `group` minutiae nearest
 * the centre of each of ceil(n / group) groups of the minutiae (k-means) -- at most
 * maxw (<= FPS_MAX_WINDOWS) codes.  Returns the number of codes written to out. */
int fps_window_codes(const fp_point *p, int n, int win, int group, int maxw, fps_code *out);
/* Bits set. */
int fps_code_pop(const fps_code *c);

/* The probe side of one search: the probe's code, the gallery's most common bits in two
 * tiers and the mean frequency of each tier, from the gallery's bit counts at the time
 * of the search. */
typedef struct fps_query {
    fps_code probe;
    fps_code tier[2];          /* tier[0]: the most common third of the bits, tier[1]: the next */
    float w0, w1, w2;          /* mean frequency of the bits of tier 0, 1 and of the rest */
    float scale;               /* probe bits / mean bits of a stored code */
} fps_query;

/* count[b]: stored codes with bit b set; live: stored codes; mean_pop: their mean
 * number of bits.  With live = 0 every bit counts as equally frequent. */
void fps_query_init(fps_query *q, const fps_code *probe, const uint32_t *count, size_t live);

/* The code paths: 0 portable C, 1 POPCNT instruction, 2 AVX2.  -1 (and any level the
 * processor lacks) gives the fastest it runs.  Every path gives the same scores. */
int fps_path(int want);

/* Quantised screen scores of the n stored codes g[0..n-1] (bits set pop[i]) against the
 * query, into out[i]. */
void fps_score_batch(const fps_query *q, const fps_code *g, const uint16_t *pop, size_t n, int path,
                     int16_t *out);

/* fps_score_batch of the nq queries q[0..nq-1] into out[0..nq-1], the queries built from
 * the same gallery statistics (the windows of one probe finger: the same tiers): the
 * tier counts are taken once per stored code, then only |P & G| per further query.  The
 * same scores as fps_score_batch of each query. */
void fps_score_multi(const fps_query *q, size_t nq, const fps_code *g, const uint16_t *pop, size_t n, int path,
                     int16_t *const *out);

/* The three counts of one stored code under a path (for tests): |P & G|, |T0 & G|,
 * |T1 & G|. */
void fps_counts(const fps_query *q, const fps_code *g, int path, int out[3]);

#endif
