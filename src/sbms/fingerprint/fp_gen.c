/*
 * fp_gen.c -- synthetic minutiae templates for test populations (`interop gen`, the
 * 1:N benchmark): a finger identity is a master minutiae set on a ridge-flow field;
 * each impression is a capture of part of it, moved, rotated, distorted and noisy.
 *
 * Model (all lengths in pixels at 500 ppi; documented in docs/fingerprints.md):
 *   master  : a pattern class (loop 65 %, whorl 30 %, arch 5 %) with its singular
 *             points (cores, deltas) drawn around the finger centre; the ridge
 *             orientation follows the zero-pole model (Sherlock & Monro 1993):
 *             theta(p) = theta0 + 1/2 sum arg(p - core) - 1/2 sum arg(p - delta).
 *             Minutiae are a hard-core Poisson process (no two closer than 6 px) of
 *             density 6.3e-4 / px^2 times a per-finger factor (log-normal, s.d. 0.2),
 *             over an ellipse of 160 x 200 px semi-axes; a minutia points along the
 *             ridge flow in one of its two senses (+ a 10-degree s.d. deviation);
 *             60 % ridge endings, 40 % bifurcations.
 *   capture : rotation N(0, rotation_sd), translation N(0, translation_sd) per axis,
 *             plastic distortion as a random quadratic displacement field growing with
 *             the distance from the contact centre (about `distortion` x 3 px s.d. at
 *             100 px), directions carried through the field; the visible area is an
 *             ellipse of 120 x 160 px semi-axes (x U(0.85, 1.1)) clipped to a 300 x 400
 *             image; each minutia is lost with probability `missing`, its type flips
 *             with probability 0.1, positions jitter N(0, position_sd), directions
 *             N(0, angle_sd); spurious minutiae (Poisson, `spurious` x the count) appear
 *             inside the visible area along the ridge flow with a 25-degree s.d.;
 *             15 % of captures are poor: 40 % fewer minutiae kept, three times the
 *             spurious ones, 1.5 times the jitter.
 * Deterministic: the master depends on (seed, identity, position), the capture on the
 * impression number as well.
 */
#include <math.h>
#include <string.h>
#include "interop/sbms_fp.h"
#include "fp_internal.h"

#define PI_D 3.14159265358979323846
#define GEN_W 300
#define GEN_H 400
#define MASTER_AX 160.0
#define MASTER_AY 200.0
#define MASTER_DENSITY 6.3e-4
#define MASTER_MIN_DIST 6.0
#define VIS_AX 120.0
#define VIS_AY 160.0
#define MAX_MASTER 400

typedef struct gen_master {
    int n;
    double x[MAX_MASTER], y[MAX_MASTER], dir[MAX_MASTER];
    uint8_t type[MAX_MASTER];
    int ncore, ndelta;
    double cx[2], cy[2], dx[2], dy[2], theta0;
    bool arch;
    double arch_k;
} gen_master;

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double orientation(const gen_master *g, double x, double y) {
    if (g->arch) return g->theta0 + atan(g->arch_k * cos(x / 70.0) * exp(-fabs(y) / 150.0));
    double t = g->theta0;
    for (int i = 0; i < g->ncore; i++) t += 0.5 * atan2(y - g->cy[i], x - g->cx[i]);
    for (int i = 0; i < g->ndelta; i++) t -= 0.5 * atan2(y - g->dy[i], x - g->dx[i]);
    return t;
}

static int poisson(iop_rng *r, double mean) {
    if (mean <= 0) return 0;
    if (mean > 60) {
        long v = lround(mean + sqrt(mean) * iop_rng_normal(r));
        return v < 0 ? 0 : (int)v;
    }
    double l = exp(-mean), p = 1;
    int k = 0;
    do { k++; p *= iop_rng_uniform(r); } while (p > l);
    return k - 1;
}

static void make_master(uint64_t seed, uint64_t identity, uint8_t position, gen_master *g) {
    iop_rng r;
    iop_rng_seed(&r, mix(mix(seed, identity), 0x5eed0000ull + position));
    memset(g, 0, sizeof *g);
    double u = iop_rng_uniform(&r);
    g->theta0 = PI_D / 2 + 0.15 * iop_rng_normal(&r); /* ridges run across the finger */
    if (u < 0.65) {                                    /* loop, left or right */
        double side = iop_rng_uniform(&r) < 0.5 ? -1 : 1;
        g->ncore = g->ndelta = 1;
        g->cx[0] = 20 * iop_rng_normal(&r);
        g->cy[0] = 40 + 20 * iop_rng_normal(&r);
        g->dx[0] = side * (90 + 20 * iop_rng_normal(&r));
        g->dy[0] = -70 + 20 * iop_rng_normal(&r);
        g->theta0 = 0.15 * iop_rng_normal(&r);
    } else if (u < 0.95) {                             /* whorl */
        g->ncore = g->ndelta = 2;
        double sp = 10 + 10 * iop_rng_uniform(&r);
        for (int i = 0; i < 2; i++) {
            double s = i ? 1 : -1;
            g->cx[i] = s * sp + 8 * iop_rng_normal(&r);
            g->cy[i] = 30 + 15 * iop_rng_normal(&r) + s * 8;
            g->dx[i] = s * (100 + 20 * iop_rng_normal(&r));
            g->dy[i] = -80 + 20 * iop_rng_normal(&r);
        }
        g->theta0 = 0.15 * iop_rng_normal(&r);
    } else {                                           /* arch */
        g->arch = true;
        g->theta0 = 0.1 * iop_rng_normal(&r);
        g->arch_k = 0.5 + 0.3 * iop_rng_uniform(&r);
    }
    double factor = exp(0.2 * iop_rng_normal(&r));
    int want = poisson(&r, MASTER_DENSITY * factor * PI_D * MASTER_AX * MASTER_AY);
    if (want > MAX_MASTER) want = MAX_MASTER;
    for (int tries = 0; g->n < want && tries < want * 30; tries++) {
        double x = (2 * iop_rng_uniform(&r) - 1) * MASTER_AX, y = (2 * iop_rng_uniform(&r) - 1) * MASTER_AY;
        if ((x * x) / (MASTER_AX * MASTER_AX) + (y * y) / (MASTER_AY * MASTER_AY) > 1) continue;
        bool ok = true;
        for (int i = 0; i < g->n && ok; i++) {
            double ddx = g->x[i] - x, ddy = g->y[i] - y;
            if (ddx * ddx + ddy * ddy < MASTER_MIN_DIST * MASTER_MIN_DIST) ok = false;
        }
        if (!ok) continue;
        g->x[g->n] = x;
        g->y[g->n] = y;
        g->dir[g->n] = orientation(g, x, y) + (iop_rng_uniform(&r) < 0.5 ? 0 : PI_D) +
                       10.0 * PI_D / 180 * iop_rng_normal(&r);
        g->type[g->n] = iop_rng_uniform(&r) < 0.6 ? IOP_FP_ENDING : IOP_FP_BIFURCATION;
        g->n++;
    }
}

typedef struct capture {
    double c, s, tx, ty, q[6];
} capture;

/* master point -> capture frame (y up, centred) */
static void cap_map(const capture *k, double x, double y, double *ox, double *oy) {
    double u = x / 100, v = y / 100;
    double dx = k->q[0] * u * u + k->q[1] * u * v + k->q[2] * v * v;
    double dy = k->q[3] * u * u + k->q[4] * u * v + k->q[5] * v * v;
    x += dx;
    y += dy;
    *ox = k->c * x - k->s * y + k->tx;
    *oy = k->s * x + k->c * y + k->ty;
}

static double wrap2pi(double a) {
    a = fmod(a, 2 * PI_D);
    return a < 0 ? a + 2 * PI_D : a;
}

void iop_fp_gen_finger(uint64_t seed, uint64_t identity, uint32_t impression, uint8_t position,
                       const iop_fp_gen_opts *o, iop_fp_finger *out) {
    iop_fp_gen_opts d = {8, 25, 0.7, 0.12, 0.10, 2.0, 5};
    if (o) {
        if (o->rotation_sd_deg > 0) d.rotation_sd_deg = o->rotation_sd_deg;
        if (o->translation_sd > 0) d.translation_sd = o->translation_sd;
        if (o->distortion > 0) d.distortion = o->distortion;
        if (o->missing > 0) d.missing = o->missing;
        if (o->spurious > 0) d.spurious = o->spurious;
        if (o->position_sd > 0) d.position_sd = o->position_sd;
        if (o->angle_sd_deg > 0) d.angle_sd_deg = o->angle_sd_deg;
    }
    gen_master g;
    make_master(seed, identity, position, &g);
    iop_rng r;
    iop_rng_seed(&r, mix(mix(mix(seed, identity), 0xca9700ull + position), impression));
    /* a poor capture (dry or wet finger, low pressure) in 15 % of impressions */
    if (iop_rng_uniform(&r) < 0.15) {
        d.missing = 1 - (1 - d.missing) * 0.6;
        d.spurious *= 3;
        d.position_sd *= 1.5;
        d.angle_sd_deg *= 1.5;
    }
    capture k;
    double rot = d.rotation_sd_deg * PI_D / 180 * iop_rng_normal(&r);
    k.c = cos(rot);
    k.s = sin(rot);
    k.tx = d.translation_sd * iop_rng_normal(&r);
    k.ty = d.translation_sd * iop_rng_normal(&r);
    for (int i = 0; i < 6; i++) k.q[i] = d.distortion * 3.0 * iop_rng_normal(&r);
    double ax = VIS_AX * (0.85 + 0.25 * iop_rng_uniform(&r)), ay = VIS_AY * (0.85 + 0.25 * iop_rng_uniform(&r));

    memset(out, 0, sizeof *out);
    out->position = position;
    out->view = 0;
    out->impression = 0;
    out->width = GEN_W;
    out->height = GEN_H;
    out->xres = out->yres = 197;
    int n = 0;
    for (int i = 0; i < g.n && n < IOP_FP_MAX_MINUTIAE; i++) {
        double x, y, x2, y2;
        cap_map(&k, g.x[i], g.y[i], &x, &y);
        if ((x * x) / (ax * ax) + (y * y) / (ay * ay) > 1) continue;
        /* direction through the distortion: map a point 6 px ahead */
        cap_map(&k, g.x[i] + 6 * cos(g.dir[i]), g.y[i] + 6 * sin(g.dir[i]), &x2, &y2);
        double dir = atan2(y2 - y, x2 - x);
        if (iop_rng_uniform(&r) < d.missing) continue;
        x += d.position_sd * iop_rng_normal(&r);
        y += d.position_sd * iop_rng_normal(&r);
        dir += d.angle_sd_deg * PI_D / 180 * iop_rng_normal(&r);
        double ix = GEN_W / 2.0 + x, iy = GEN_H / 2.0 - y;
        if (ix < 0 || iy < 0 || ix > GEN_W - 1 || iy > GEN_H - 1) continue;
        iop_fp_minutia *m = &out->m[n++];
        m->x = (float)ix;
        m->y = (float)iy;
        m->angle = (float)wrap2pi(dir);
        uint8_t t = g.type[i];
        if (iop_rng_uniform(&r) < 0.1) t = t == IOP_FP_ENDING ? IOP_FP_BIFURCATION : IOP_FP_ENDING;
        m->type = t;
        m->quality = 0;
    }
    int nsp = poisson(&r, d.spurious * n);
    for (int i = 0; i < nsp && n < IOP_FP_MAX_MINUTIAE; i++) {
        double x = (2 * iop_rng_uniform(&r) - 1) * ax, y = (2 * iop_rng_uniform(&r) - 1) * ay;
        if ((x * x) / (ax * ax) + (y * y) / (ay * ay) > 1) { i--; continue; }
        double ix = GEN_W / 2.0 + x, iy = GEN_H / 2.0 - y;
        if (ix < 0 || iy < 0 || ix > GEN_W - 1 || iy > GEN_H - 1) continue;
        /* the ridge flow at that place: undo the rigid part of the capture */
        double mx = k.c * (x - k.tx) + k.s * (y - k.ty), my = -k.s * (x - k.tx) + k.c * (y - k.ty);
        double dir = orientation(&g, mx, my) + rot + (iop_rng_uniform(&r) < 0.5 ? 0 : PI_D) +
                     25.0 * PI_D / 180 * iop_rng_normal(&r);
        iop_fp_minutia *m = &out->m[n++];
        m->x = (float)ix;
        m->y = (float)iy;
        m->angle = (float)wrap2pi(dir);
        m->type = iop_rng_uniform(&r) < 0.6 ? IOP_FP_ENDING : IOP_FP_BIFURCATION;
        m->quality = 0;
    }
    /* ISO stores whole pixels and 1.40625-degree angles: round here so that the
       in-memory finger and its ISO record are the same */
    for (int i = 0; i < n; i++) {
        out->m[i].x = (float)lround(out->m[i].x);
        out->m[i].y = (float)lround(out->m[i].y);
        long a = lround(out->m[i].angle * 128.0 / PI_D) & 255;
        out->m[i].angle = (float)(a * PI_D / 128.0);
    }
    out->n = (uint16_t)n;
}

iop_code iop_fp_gen_iso(uint64_t seed, uint64_t identity, uint32_t impression, uint8_t position,
                        const iop_fp_gen_opts *opts, uint8_t **out, size_t *len, iop_err *err) {
    iop_fp_finger f;
    iop_fp_gen_finger(seed, identity, impression, position, opts, &f);
    return iop_fp_write_iso_finger(&f, out, len, err);
}
