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

/* Signed difference a - b wrapped to [-pi, pi). */
double fp_angle_diff(double a, double b);
/* Scales a finger to 500 ppi with y up; p has room for IOP_FP_MAX_MINUTIAE.  Returns n. */
int fp_normalise(const iop_fp_finger *f, fp_point *p);

#endif
