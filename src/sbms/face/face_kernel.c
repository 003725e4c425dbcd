/*
 * face_kernel.c -- the int8 dot-product kernels of the 1:N face scan.
 *
 * The gallery stores each template as int8 codes in [-127, 127].  The AVX2 kernel
 * multiplies 32 bytes at a time with VPMADDUBSW, which wants one unsigned operand:
 * it uses |q| (unsigned) and sign(g, q) (the gallery byte with the probe's sign), whose
 * product is q*g; each pair sum is at most 2*127*127 < 32767, so nothing saturates.
 * Four templates are scored per pass so the probe bytes are loaded once per four.
 * The AVX-512 VNNI kernel does the same 64 bytes at a time in one instruction per
 * template (on the gallery byte with its top bit flipped, see face_dot_vnni).  Both
 * prefetch ahead of the stream (face_prefetch_ahead).
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

#ifdef FACE_X86
/* The scan streams gigabytes; the hardware prefetchers alone leave it latency bound on
 * one core (measured: ~6.6 GB per CPU second without, ~10.7 with, against ~10.9 for a
 * plain read loop).  Each pass asks for the lines FACE_PREFETCH bytes ahead of the
 * templates it is about to read; prefetches never fault, so running past the end of
 * the array is harmless. */
#define FACE_PREFETCH 4096
static inline void face_prefetch_ahead(const int8_t *p, size_t bytes) {
    for (size_t j = 0; j < bytes; j += 64) _mm_prefetch((const char *)p + FACE_PREFETCH + j, _MM_HINT_T0);
}
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
        face_prefetch_ahead(g0, 4 * stride);
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

/* VPDPBUSD multiplies unsigned by signed bytes.  The gallery byte g (signed) becomes
 * the unsigned g + 128 by flipping its top bit (g ^ 0x80), and the probe q stays signed:
 * sum((g + 128) * q) = sum(q * g) + 128 * sum(q), and 128 * sum(q) depends on the probe
 * only, so it is computed once per call.  One VPDPBUSD and one VPXORD per 64 bytes of
 * a template; exact in 32 bits (|sum| <= 1024 * 255 * 127). */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
void face_dot_vnni(const face_probe *p, const int8_t *codes, size_t stride, size_t n, int32_t *out) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    size_t full = stride & ~(size_t)63;
    __mmask64 tail = stride > full ? (__mmask64)0xffffffffULL : 0; /* stride is a multiple of 32 */
    /* the probe correction 128 * sum(q); q is zero beyond the dimension */
    __m512i qs = _mm512_setzero_si512();
    for (size_t j = 0; j < full; j += 64) qs = _mm512_dpbusd_epi32(qs, _mm512_set1_epi8(1), _mm512_loadu_si512(p->q + j));
    if (tail) qs = _mm512_dpbusd_epi32(qs, _mm512_set1_epi8(1), _mm512_maskz_loadu_epi8(tail, p->q + full));
    const int32_t corr = 128 * _mm512_reduce_add_epi32(qs);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int8_t *g0 = codes + i * stride, *g1 = g0 + stride, *g2 = g1 + stride, *g3 = g2 + stride;
        face_prefetch_ahead(g0, 4 * stride);
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t j = 0; j < full; j += 64) {
            __m512i q = _mm512_loadu_si512(p->q + j);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_loadu_si512(g0 + j), flip), q);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(_mm512_loadu_si512(g1 + j), flip), q);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_xor_si512(_mm512_loadu_si512(g2 + j), flip), q);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_xor_si512(_mm512_loadu_si512(g3 + j), flip), q);
        }
        if (tail) {
            /* masked-out lanes: q is 0 there, so whatever the flipped byte, they add 0 */
            __m512i q = _mm512_maskz_loadu_epi8(tail, p->q + full);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, g0 + full), flip), q);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, g1 + full), flip), q);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, g2 + full), flip), q);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, g3 + full), flip), q);
        }
        out[i] = _mm512_reduce_add_epi32(a0) - corr;
        out[i + 1] = _mm512_reduce_add_epi32(a1) - corr;
        out[i + 2] = _mm512_reduce_add_epi32(a2) - corr;
        out[i + 3] = _mm512_reduce_add_epi32(a3) - corr;
    }
    for (; i < n; i++) {
        const int8_t *g = codes + i * stride;
        __m512i a = _mm512_setzero_si512();
        for (size_t j = 0; j < full; j += 64)
            a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_loadu_si512(g + j), flip), _mm512_loadu_si512(p->q + j));
        if (tail)
            a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, g + full), flip),
                                    _mm512_maskz_loadu_epi8(tail, p->q + full));
        out[i] = _mm512_reduce_add_epi32(a) - corr;
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
