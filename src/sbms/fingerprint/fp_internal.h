/*
 * fp_internal.h -- declarations shared by the files of the fingerprint module only
 * (not part of the public contract in include/interop/sbms_fp.h).
 */
#ifndef INTEROP_FP_INTERNAL_H
#define INTEROP_FP_INTERNAL_H

#include <stdint.h>
#include "interop/sbms_fp.h"

#define FP_MCC_NS 16
#define FP_MCC_ND 6
#define FP_MASK_WORDS ((FP_MCC_NS * FP_MCC_NS + 63) / 64)
#define FP_BIT_WORDS (FP_MASK_WORDS * FP_MCC_ND)

/* A minutia in the matcher's frame: 500 ppi, y up, angle in [0, 2pi). */
typedef struct fp_point { float x, y, t; uint8_t type; } fp_point;

/* Hot loops are compiled twice, with and without the POPCNT instruction (the build
 * targets the generic x86-64 baseline), and chosen at run time. */
#if defined(__x86_64__) || defined(__i386__)
#define FP_TARGET_POPCNT __attribute__((target("popcnt")))
#define FP_HAVE_POPCNT() __builtin_cpu_supports("popcnt")
#else
#define FP_TARGET_POPCNT
#define FP_HAVE_POPCNT() 0
#endif

/* Signed difference a - b wrapped to [-pi, pi). */
double fp_angle_diff(double a, double b);
/* Scales a finger to 500 ppi with y up; p has room for IOP_FP_MAX_MINUTIAE.  Returns n. */
int fp_normalise(const iop_fp_finger *f, fp_point *p);

/* First-stage support: the inner cells of each minutia's binary cylinder. */
#define FP_INNER_RADIUS 3.6   /* in cells */
#define FP_INNER_CELLS 48     /* spatial cells kept (at most) */
#define FP_INNER_WORDS ((FP_INNER_CELLS * FP_MCC_ND + 63) / 64)
int fp_inner_cylinders(const iop_fp_finger *f, uint64_t (*cyl)[FP_INNER_WORDS]);

#endif
