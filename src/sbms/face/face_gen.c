/*
 * face_gen.c -- synthetic face templates with realistic genuine / impostor score
 * distributions, for `interop gen` and for measuring FNIR / FPIR (docs/faces.md
 * gives the model, its parameters and the published behaviour they follow).
 *
 * Model, in a latent space of dim axes:
 *   identity  u = norm( sqrt(w) * c_g + sqrt(1 - w) * norm(z) ),  z_i ~ sigma_i * N(0,1),
 *             sigma_i^2 ~ (i+1)^-decay: embeddings of real models use far fewer effective
 *             dimensions than they have, which is what makes impostor scores spread
 *             wider than 1/sqrt(dim); c_g is the unit direction of the person's
 *             demographic group g, so impostors of one group score higher than others
 *             (the demographic effect NIST measured in FRVT Part 3).
 *   capture   x = norm( u + sqrt(e) * norm(n) ),  n_i ~ N(0,1),  e = median * exp(spread * N(0,1)),
 *             times poor_factor for a share poor_rate of poor captures (pose, blur, ageing).
 *             Two captures of one person score about 1 / sqrt((1+e1)(1+e2)).
 *   output    a fixed random rotation (random signs then a normalised Walsh-Hadamard
 *             transform) spreads the latent axes over all coordinates, as a trained
 *             network's output is spread; cosines are unchanged by it.
 * Coordinates are drawn as Irwin-Hall sums of four uniforms (mean 0, variance 1): the
 * scores are sums over hundreds of coordinates, so their distribution is the same
 * as with exact normals, at a fraction of the cost (10 M templates for benchmarks).
 * Every template is a pure function of (params, seed, person, capture).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "interop/sbms_face.h"

struct sbms_face_gen {
    sbms_face_gen_params p;
    uint64_t seed;
    float *sigma;   /* dim latent standard deviations */
    float *groups;  /* groups * dim unit latent directions */
    float *signs;   /* dim random signs of the rotation */
};

void sbms_face_gen_defaults(sbms_face_gen_params *p, uint32_t dim) {
    memset(p, 0, sizeof *p);
    p->dim = dim;
    p->groups = 12;
    p->group_weight = 0.12;
    p->spectrum_decay = 0.8;
    p->noise_median = 0.38;
    p->noise_spread = 0.35;
    p->poor_rate = 0.03;
    p->poor_factor = 4.0;
}

static uint64_t gen_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* N(0,1) approximated by the Irwin-Hall sum of four 16-bit uniforms. */
static inline float gen_normalish(iop_rng *r) {
    uint64_t v = iop_rng_next(r);
    uint32_t s = (uint32_t)(v & 0xffff) + (uint32_t)(v >> 16 & 0xffff) + (uint32_t)(v >> 32 & 0xffff) +
                 (uint32_t)(v >> 48);
    /* sum of 4 U(0,1): mean 2, variance 1/3 */
    return ((float)s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* Sum of squares with 8 float lanes (vectorisable; dim is a multiple of 8). */
static float gen_sumsq(const float *v, uint32_t dim) {
    float acc[8] = {0};
    for (uint32_t i = 0; i < dim; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += v[i + k] * v[i + k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void gen_unit(float *v, uint32_t dim) {
    float ss = gen_sumsq(v, dim);
    float inv = ss > 0 ? 1.0f / sqrtf(ss) : 0.0f;
    for (uint32_t i = 0; i < dim; i++) v[i] *= inv;
}

iop_code sbms_face_gen_new(const sbms_face_gen_params *p, uint64_t seed, sbms_face_gen **out, iop_err *err) {
    *out = NULL;
    if (p->dim < SBMS_FACE_DIM_MIN || p->dim > SBMS_FACE_DIM_MAX || (p->dim & (p->dim - 1)))
        return iop_fail(err, IOP_EINVAL, "face generator: dimension %u must be a power of two in %d..%d", p->dim,
                        SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX);
    if (p->groups < 1 || p->groups > 4096)
        return iop_fail(err, IOP_EINVAL, "face generator: groups %u outside 1..4096", p->groups);
    if (!(p->group_weight >= 0 && p->group_weight <= 0.5))
        return iop_fail(err, IOP_EINVAL, "face generator: group_weight %g outside 0..0.5", p->group_weight);
    if (!(p->spectrum_decay >= 0 && p->spectrum_decay <= 3))
        return iop_fail(err, IOP_EINVAL, "face generator: spectrum_decay %g outside 0..3", p->spectrum_decay);
    if (!(p->noise_median >= 0 && p->noise_median <= 100) || !(p->noise_spread >= 0 && p->noise_spread <= 3))
        return iop_fail(err, IOP_EINVAL, "face generator: noise_median must be 0..100 and noise_spread 0..3");
    if (!(p->poor_rate >= 0 && p->poor_rate <= 1) || !(p->poor_factor >= 1 && p->poor_factor <= 1000))
        return iop_fail(err, IOP_EINVAL, "face generator: poor_rate must be 0..1 and poor_factor 1..1000");
    sbms_face_gen *g = calloc(1, sizeof *g);
    if (!g) return iop_fail(err, IOP_ENOMEM, "face generator: out of memory");
    g->p = *p;
    g->seed = seed;
    g->sigma = malloc(sizeof(float) * p->dim);
    g->groups = malloc(sizeof(float) * p->dim * p->groups);
    g->signs = malloc(sizeof(float) * p->dim);
    if (!g->sigma || !g->groups || !g->signs) {
        sbms_face_gen_free(g);
        return iop_fail(err, IOP_ENOMEM, "face generator: out of memory");
    }
    for (uint32_t i = 0; i < p->dim; i++) g->sigma[i] = (float)pow((double)(i + 1), -p->spectrum_decay / 2);
    iop_rng r;
    iop_rng_seed(&r, gen_mix(seed ^ 0x5eed0001ULL));
    for (uint32_t i = 0; i < p->dim; i++) g->signs[i] = (iop_rng_next(&r) >> 63) ? -1.0f : 1.0f;
    for (uint32_t k = 0; k < p->groups; k++) {
        float *c = g->groups + (size_t)k * p->dim;
        for (uint32_t i = 0; i < p->dim; i++) c[i] = g->sigma[i] * gen_normalish(&r);
        gen_unit(c, p->dim);
    }
    *out = g;
    return IOP_OK;
}

void sbms_face_gen_free(sbms_face_gen *g) {
    if (!g) return;
    free(g->sigma); free(g->groups); free(g->signs);
    free(g);
}

uint32_t sbms_face_gen_group(const sbms_face_gen *g, uint64_t person) {
    return (uint32_t)(gen_mix(g->seed ^ gen_mix(person ^ 0x67726f7570ULL)) % g->p.groups);
}

/* In-place normalised fast Walsh-Hadamard transform (n a power of two). */
static void gen_fwht(float *v, uint32_t n) {
    for (uint32_t h = 1; h < n; h <<= 1)
        for (uint32_t i = 0; i < n; i += h << 1)
            for (uint32_t j = i; j < i + h; j++) {
                float a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
    float s = 1.0f / sqrtf((float)n);
    for (uint32_t i = 0; i < n; i++) v[i] *= s;
}

void sbms_face_gen_capture(const sbms_face_gen *g, uint64_t person, uint32_t capture, float *out) {
    const uint32_t dim = g->p.dim;
    iop_rng r;
    iop_rng_seed(&r, gen_mix(g->seed ^ gen_mix(person * 0x2545f4914f6cdd1dULL + 0x1d)));
    /* identity */
    for (uint32_t i = 0; i < dim; i++) out[i] = g->sigma[i] * gen_normalish(&r);
    float zz = gen_sumsq(out, dim);
    const float *c = g->groups + (size_t)sbms_face_gen_group(g, person) * dim;
    float a = (float)sqrt(g->p.group_weight), b = (float)sqrt(1 - g->p.group_weight) / sqrtf(zz > 0 ? zz : 1);
    for (uint32_t i = 0; i < dim; i++) out[i] = a * c[i] + b * out[i];
    gen_unit(out, dim);
    /* capture noise */
    iop_rng_seed(&r, gen_mix(g->seed ^ gen_mix(person * 0x2545f4914f6cdd1dULL + 0x1d) ^ gen_mix(0xca9ULL + capture)));
    double e = g->p.noise_median * exp(g->p.noise_spread * iop_rng_normal(&r));
    if (iop_rng_uniform(&r) < g->p.poor_rate) e *= g->p.poor_factor;
    float nb[SBMS_FACE_DIM_MAX];
    for (uint32_t i = 0; i < dim; i++) nb[i] = gen_normalish(&r);
    float nn = gen_sumsq(nb, dim);
    float f = (float)sqrt(e) / sqrtf(nn > 0 ? nn : 1);
    for (uint32_t i = 0; i < dim; i++) out[i] = (out[i] + f * nb[i]) * g->signs[i];
    gen_fwht(out, dim);
    gen_unit(out, dim);
}
