/*
 * face_internal.h -- what the files of the face matcher share: the int8 dot-product
 * kernels (face_kernel.c) and the quantiser.  Not a public header.
 */
#ifndef SBMS_FACE_INTERNAL_H
#define SBMS_FACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A quantised probe: q[stride] int8 codes (zero padded), qa = |q| (for the AVX2 kernel), and the scale that
 * turns an integer dot product back into a cosine: cos ~ dot * scale * gallery_scale. */
typedef struct face_probe {
    int8_t *q;
    uint8_t *qa;   /* |q| */
    float scale;
} face_probe;

/* out[i] = sum_j q[j] * codes[i*stride + j] for i < n.  stride is a multiple of 32;
 * codes are in [-127, 127]. */
typedef void (*face_dot_fn)(const face_probe *p, const int8_t *codes, size_t stride, size_t n,
                            int32_t *out);

void face_dot_scalar(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out);
void face_dot_avx2(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out);
void face_dot_vnni(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out);
int face_cpu_has_avx2(void);
int face_cpu_has_avx512vnni(void);

/* Rounds dim up to the kernel's block (32 bytes). */
static inline uint32_t face_stride(uint32_t dim) { return (dim + 31u) & ~31u; }

/* Quantises the unit vector v[dim] into code[stride] (zero padded) and returns the
 * scale (1/s where code = round(v * s), s = 127 / max|v|). */
float face_quantise(const float *v, uint32_t dim, uint32_t stride, int8_t *code);

#endif
