/*
 * fp_index.h -- the first stage of 1:N fingerprint identification in the sBMS (Reg. (EU)
 * 2019/817 Arts 13-14), shared by the files of the fingerprint module only: minutia
 * pairs stored per gallery finger, and the probe's pair table against which they vote
 * for one rotation and translation (see fp_index_pairs.c).
 */
#ifndef INTEROP_FP_INDEX_H
#define INTEROP_FP_INDEX_H

#include <stdbool.h>
#include <stdint.h>
#include "fp_internal.h"

/* A stored pair: 5 bytes (feature key low/high, segment direction in 1/256 turn, and
 * the pair's midpoint at 4 px resolution). */
#define FPX_PAIR_BYTES 5
/* Pairs kept per stored finger at most (from the minutiae given first). */
#define FPX_MAX_PAIRS 144

/* Writes the pairs of the minutiae p[0..n-1] (internal frame: 500 ppi, y up) into out
 * (room for FPX_MAX_PAIRS * FPX_PAIR_BYTES bytes); returns their number. */
int fpx_pairs(const fp_point *p, int n, uint8_t *out);

/* The probe side: a table from pair feature to the probe pairs with that feature
 * (neighbouring bins included).  Immutable once built, shareable between threads. */
typedef struct fpx_probe fpx_probe;
/* NULL on ENOMEM. */
fpx_probe *fpx_probe_new(const iop_fp_finger *f);
void fpx_probe_free(fpx_probe *p);

/* Per-thread working memory of the vote (about 40 KB). */
typedef struct fpx_scratch fpx_scratch;
fpx_scratch *fpx_scratch_new(void);
void fpx_scratch_free(fpx_scratch *s);
/* The code the scratch scores with: 0 portable C, 1 SSE2, 2 AVX2; -1 (and any level the
 * processor lacks) the fastest it runs, the default.  Every level gives the same scores.
 * Returns the level chosen. */
int fpx_scratch_path(fpx_scratch *s, int path);

/* Score of a stored finger: the largest number of pair correspondences that agree on
 * one rotation (22.5-degree cells) and translation (16 px cells).  A finger that cannot
 * score above floor may stop early and report any value from 0 to floor (an upper bound
 * of its score); every score above floor is exact.  floor = -1: always exact. */
int fpx_score(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, int floor);

/* The rigid motion (probe, centred, to stored finger; internal frame) proposed by the
 * best block of votes. */
typedef struct fpx_motion { double rot, tx, ty; int votes; } fpx_motion;
/* fpx_score, and the mean motion of the winning votes in *mo (may be NULL). */
int fpx_align(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, fpx_motion *mo);
/* Number of probe minutiae that, moved by mo, fall within tol_px and tol_rad of a
 * distinct stored minutia (g: internal frame). */
int fpx_pair_minutiae(const fpx_probe *p, const fp_point *g, int ng, const fpx_motion *mo, double tol_px,
                      double tol_rad);

/* Minutiae of the probe finger. */
int fpx_probe_minutiae(const fpx_probe *p);

#endif
