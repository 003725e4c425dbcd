/*
 * face_kernel.c -- the int8 dot-product kernels of the 1:N face scan.
 *
 * The gallery stores each template as int8 codes in [-127, 127].  The AVX2 kernel
 * multiplies 32 bytes at a time with VPMADDUBSW, which wants one unsigned operand:
 * it uses |q| (unsigned) and sign(g, q) (the gallery byte with the probe's sign), whose
 * product is q*g; each pair sum is at most 2*127*127 < 32767, so nothing saturates.
 * Four templates are scored per pass so the probe bytes are loaded once per four.
 * The AVX-512 VNNI kernel does the same 64 bytes at a time in one instruction per
 * template (plus one for the sum correction, see face_dot_vnni).
 * The scalar kernel is the reference and the fallback on CPUs without AVX2; the
 * choice is made at run time (face_cpu_has_*) by the gallery.
 */
#include <math.h>
#include <string.h>
#include "sbms/face/face_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FACE_X86 1
#endif

float face_quantise(const float *v, uint32_t dim, uint32_t stride, int8_t *code) {
    float m = 0.0f;
    for (uint32_t i = 0; i < dim; i++) {
        float a = fabsf(v[i]);
        if (a > m) m = a;
    }
    memset(code, 0, stride);
    if (m == 0.0f) return 0.0f;
    float s = 127.0f / m;
    for (uint32_t i = 0; i < dim; i++) {
        float x = v[i] * s;
        x = x >= 0.0f ? x + 0.5f : x - 0.5f; /* round half away from zero */
        if (x > 127.0f) x = 127.0f;
        if (x < -127.0f) x = -127.0f;
        code[i] = (int8_t)(int)x;
    }
    return m / 127.0f;
}

void face_dot_scalar(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out) {
    const int8_t *q = p->q;
    for (size_t i = 0; i < n; i++) {
        const int8_t *g = codes + i * stride;
        int32_t acc = 0;
        for (size_t j = 0; j < stride; j++) acc += (int32_t)q[j] * (int32_t)g[j];
        out[i] = acc;
    }
}

#ifdef FACE_X86
int face_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

__attribute__((target("avx2"))) static inline int32_t face_hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2")))
void face_dot_avx2(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int8_t *g0 = codes + i * stride, *g1 = g0 + stride, *g2 = g1 + stride, *g3 = g2 + stride;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t j = 0; j < stride; j += 32) {
            __m256i qa = _mm256_loadu_si256((const __m256i *)(p->qa + j));
            __m256i qs = _mm256_loadu_si256((const __m256i *)(p->q + j));
            __m256i t0 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(g0 + j)), qs);
            __m256i t1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(g1 + j)), qs);
            __m256i t2 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(g2 + j)), qs);
            __m256i t3 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(g3 + j)), qs);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, t0), ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, t1), ones));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, t2), ones));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, t3), ones));
        }
        out[i] = face_hsum(a0);
        out[i + 1] = face_hsum(a1);
        out[i + 2] = face_hsum(a2);
        out[i + 3] = face_hsum(a3);
    }
    for (; i < n; i++) {
        const int8_t *g = codes + i * stride;
        __m256i a = _mm256_setzero_si256();
        for (size_t j = 0; j < stride; j += 32) {
            __m256i qa = _mm256_loadu_si256((const __m256i *)(p->qa + j));
            __m256i qs = _mm256_loadu_si256((const __m256i *)(p->q + j));
            __m256i t = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(g + j)), qs);
            a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(qa, t), ones));
        }
        out[i] = face_hsum(a);
    }
}
int face_cpu_has_avx512vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

/* VPDPBUSD multiplies unsigned by signed bytes: with qb = q + 128,
 * sum(qb * g) = sum(q * g) + 128 * sum(g), and sum(g) is a second VPDPBUSD against
 * ones.  Exact in 32 bits (|sum| <= 1024 * 255 * 127). */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
void face_dot_vnni(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out) {
    const __m512i ones = _mm512_set1_epi8(1);
    size_t full = stride & ~(size_t)63;
    __mmask64 tail = stride > full ? (__mmask64)0xffffffffULL : 0; /* stride is a multiple of 32 */
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int8_t *g0 = codes + i * stride, *g1 = g0 + stride, *g2 = g1 + stride, *g3 = g2 + stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, s0 = a0, s1 = a0, s2 = a0, s3 = a0;
        for (size_t j = 0; j < full; j += 64) {
            __m512i qb = _mm512_loadu_si512(p->qb + j);
            __m512i x0 = _mm512_loadu_si512(g0 + j), x1 = _mm512_loadu_si512(g1 + j);
            __m512i x2 = _mm512_loadu_si512(g2 + j), x3 = _mm512_loadu_si512(g3 + j);
            a0 = _mm512_dpbusd_epi32(a0, qb, x0); s0 = _mm512_dpbusd_epi32(s0, ones, x0);
            a1 = _mm512_dpbusd_epi32(a1, qb, x1); s1 = _mm512_dpbusd_epi32(s1, ones, x1);
            a2 = _mm512_dpbusd_epi32(a2, qb, x2); s2 = _mm512_dpbusd_epi32(s2, ones, x2);
            a3 = _mm512_dpbusd_epi32(a3, qb, x3); s3 = _mm512_dpbusd_epi32(s3, ones, x3);
        }
        if (tail) {
            __m512i qb = _mm512_maskz_loadu_epi8(tail, p->qb + full);
            __m512i x0 = _mm512_maskz_loadu_epi8(tail, g0 + full), x1 = _mm512_maskz_loadu_epi8(tail, g1 + full);
            __m512i x2 = _mm512_maskz_loadu_epi8(tail, g2 + full), x3 = _mm512_maskz_loadu_epi8(tail, g3 + full);
            a0 = _mm512_dpbusd_epi32(a0, qb, x0); s0 = _mm512_dpbusd_epi32(s0, ones, x0);
            a1 = _mm512_dpbusd_epi32(a1, qb, x1); s1 = _mm512_dpbusd_epi32(s1, ones, x1);
            a2 = _mm512_dpbusd_epi32(a2, qb, x2); s2 = _mm512_dpbusd_epi32(s2, ones, x2);
            a3 = _mm512_dpbusd_epi32(a3, qb, x3); s3 = _mm512_dpbusd_epi32(s3, ones, x3);
        }
        out[i] = _mm512_reduce_add_epi32(a0) - 128 * _mm512_reduce_add_epi32(s0);
        out[i + 1] = _mm512_reduce_add_epi32(a1) - 128 * _mm512_reduce_add_epi32(s1);
        out[i + 2] = _mm512_reduce_add_epi32(a2) - 128 * _mm512_reduce_add_epi32(s2);
        out[i + 3] = _mm512_reduce_add_epi32(a3) - 128 * _mm512_reduce_add_epi32(s3);
    }
    for (; i < n; i++) {
        const int8_t *g = codes + i * stride;
        __m512i a = _mm512_setzero_si512(), s = a;
        for (size_t j = 0; j < full; j += 64) {
            __m512i x = _mm512_loadu_si512(g + j);
            a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(p->qb + j), x);
            s = _mm512_dpbusd_epi32(s, ones, x);
        }
        if (tail) {
            __m512i x = _mm512_maskz_loadu_epi8(tail, g + full);
            a = _mm512_dpbusd_epi32(a, _mm512_maskz_loadu_epi8(tail, p->qb + full), x);
            s = _mm512_dpbusd_epi32(s, ones, x);
        }
        out[i] = _mm512_reduce_add_epi32(a) - 128 * _mm512_reduce_add_epi32(s);
    }
}
#else
int face_cpu_has_avx2(void) { return 0; }
int face_cpu_has_avx512vnni(void) { return 0; }
void face_dot_vnni(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out) {
    face_dot_scalar(p, codes, stride, n, out);
}
void face_dot_avx2(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out) {
    face_dot_scalar(p, codes, stride, n, out);
}
#endif
