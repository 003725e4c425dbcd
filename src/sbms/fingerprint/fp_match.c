/*
 * fp_match.c -- the 1:1 fingerprint matcher of the shared biometric matching service
 * (Reg. (EU) 2019/817 Arts 13-14: biometric comparison of templates from the connected
 * systems), and the multi-finger record score.
 *
 * Local structures: Minutia Cylinder-Code (R. Cappelli, M. Ferrara, D. Maltoni, "Minutia
 * Cylinder-Code: a new representation and matching technique for fingerprint
 * recognition", IEEE TPAMI 32(12), 2010).  Around every minutia a cylinder of radius R
 * and height 2*pi is cut into NS x NS x ND cells, laid out in the minutia's own frame
 * (so the code is invariant to rotation and translation); each cell sums the spatial
 * (Gaussian, sigma_S) and directional (Gaussian integrated over the cell's angle bin,
 * sigma_D) contributions of the neighbouring minutiae and squashes the sum with a
 * sigmoid.  Cells outside the convex hull of the minutiae (enlarged by omega) are
 * invalid; a cylinder with too few valid cells or neighbours is dropped.  Two cylinders
 * compare by 1 - |a-b| / (|a|+|b|) over the cells valid in both, when their minutiae
 * directions differ by at most pi/2 and enough cells are shared.
 *
 * Global consolidation: Local Similarity Sort with Relaxation (LSS-R, same paper): the
 * min(nA, nB) best one-to-one pairs are relaxed by their geometric compatibility
 * (distance, relative direction and radial angle of every other pair) and the score is
 * the mean relaxed similarity of the n_P most efficient pairs.
 *
 * Beside it, a hard consolidation: the largest set of candidate pairs that are pairwise
 * geometrically consistent (with a distortion tolerance growing with distance), scored
 * against the minutiae of each finger lying in the area both prints cover rather than
 * against the totals (partial prints, small sensors).  The score is the mean of the two.
 *
 * The MCC and LSS-R parameters are the published ones (Table 1 of the paper); the
 * consistent-set tolerances are physical round figures (ridge period, distortion).
 * None is tuned to a data set; coordinates are first scaled to 500 ppi.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "interop/sbms_fp.h"
#include "fp_internal.h"

#define PI_F 3.14159265358979323846

/* MCC parameters (Cappelli et al. 2010, Table 1) */
#define MCC_R 70.0
#define MCC_NS FP_MCC_NS
#define MCC_ND FP_MCC_ND
#define MCC_SIGMA_S (28.0 / 3.0)
#define MCC_SIGMA_D (2.0 * PI_F / 9.0)
#define MCC_MU_PSI 0.01
#define MCC_TAU_PSI 400.0
#define MCC_OMEGA 50.0
#define MCC_MIN_VC 0.75
#define MCC_MIN_M 2
#define MCC_MIN_ME 0.60
#define MCC_DELTA_THETA (PI_F / 2.0)
/* LSS-R */
#define LSS_MIN_NP 4
#define LSS_MAX_NP 12
#define LSS_MU_P 20.0
#define LSS_TAU_P 0.4
#define REL_W 0.5
#define REL_N 5
#define REL_MU1 5.0
#define REL_TAU1 (-8.0 / 5.0)
#define REL_MU2 (PI_F / 12.0)
#define REL_TAU2 (-30.0)
#define REL_MU3 (PI_F / 12.0)
#define REL_TAU3 (-30.0)

#define NCELLS (MCC_NS * MCC_NS * MCC_ND)
#define CD_STEPS 128
#define FP_ROWS_MAX 4096
#define SLICE (MCC_NS * MCC_NS)

struct iop_fp_features {
    int n;              /* valid cylinders (and their minutiae) */
    float *x, *y, *t;   /* internal frame: 500 ppi, y up, angle in [0, 2pi) */
    uint64_t *mask;     /* n * FP_MASK_WORDS: spatially valid cells of each cylinder */
    uint64_t *bits;     /* n * FP_BIT_WORDS: binarised cells (MCC16b), slice k at k*FP_MASK_WORDS */
    float *dist, *seg;  /* n * n: distance and direction of the segment i -> j, for the relaxation */
    uint8_t *qt;        /* n: directions in 1/256 turns (consistent-set consolidation) */
    uint8_t *rad;       /* n * n: direction of minutia i minus that of segment i -> j, 1/256 turns */
    int nh;             /* vertices of the convex hull of all minutiae (counter-clockwise) */
    float *hx, *hy;
};

double fp_angle_diff(double a, double b) {
    double d = a - b;
    while (d < -PI_F) d += 2 * PI_F;
    while (d >= PI_F) d -= 2 * PI_F;
    return d;
}

size_t iop_fp_features_count(const iop_fp_features *ft) { return ft ? (size_t)ft->n : 0; }

void iop_fp_features_free(iop_fp_features *ft) {
    if (!ft) return;
    free(ft->x);
    free(ft->mask);
    free(ft->bits);
    free(ft->dist);
    free(ft->hx);
    free(ft->qt);
    free(ft);
}

/* Normalises a finger to the internal frame; returns the number of minutiae. */
int fp_normalise(const iop_fp_finger *f, fp_point *p) {
    double sx = f->xres ? 197.0 / f->xres : 1.0, sy = f->yres ? 197.0 / f->yres : sx;
    int n = 0;
    for (unsigned i = 0; i < f->n && i < IOP_FP_MAX_MINUTIAE; i++) {
        const iop_fp_minutia *m = &f->m[i];
        if (!isfinite(m->x) || !isfinite(m->y) || !isfinite(m->angle)) continue;
        double a = fmod(m->angle, 2 * PI_F);
        if (a < 0) a += 2 * PI_F;
        p[n].x = (float)(m->x * sx);
        p[n].y = (float)(-m->y * sy);
        p[n].t = (float)a;
        p[n].type = m->type;
        n++;
    }
    return n;
}

/* Convex hull (Andrew's monotone chain), counter-clockwise; returns the vertex count. */
static int hull_cmp(const void *a, const void *b) {
    const fp_point *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}
static double cross(const fp_point *o, const fp_point *a, const fp_point *b) {
    return ((double)a->x - o->x) * ((double)b->y - o->y) - ((double)a->y - o->y) * ((double)b->x - o->x);
}
static int convex_hull(const fp_point *pts, int n, fp_point *h) {
    fp_point s[IOP_FP_MAX_MINUTIAE];
    memcpy(s, pts, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, hull_cmp);
    if (n < 3) { memcpy(h, s, (size_t)n * sizeof *s); return n; }
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k >= 2 && cross(&h[k - 2], &h[k - 1], &s[i]) <= 0) k--;
        h[k++] = s[i];
    }
    for (int i = n - 2, lo = k + 1; i >= 0; i--) {
        while (k >= lo && cross(&h[k - 2], &h[k - 1], &s[i]) <= 0) k--;
        h[k++] = s[i];
    }
    return k - 1;
}

/* The valid area (convex hull enlarged by omega) is convex, so each pixel row crosses
 * it in one interval [xl, xr]: the union, over the hull edges, of the row's
 * intersection with the edge's capsule (segment + disc of radius omega), which is
 * itself the union of the two end discs and the band around the segment. */
typedef struct hull_rows { int y0, ny; float xl[FP_ROWS_MAX], xr[FP_ROWS_MAX]; } hull_rows;

static void row_extend(double x, double *lo, double *hi) {
    if (x < *lo) *lo = x;
    if (x > *hi) *hi = x;
}

static void hull_rows_build(const fp_point *h, int nh, double omega, hull_rows *hr) {
    double ymin = 1e30, ymax = -1e30;
    for (int i = 0; i < nh; i++) {
        if (h[i].y < ymin) ymin = h[i].y;
        if (h[i].y > ymax) ymax = h[i].y;
    }
    hr->ny = 0;
    if (nh == 0) return;
    hr->y0 = (int)floor(ymin - omega);
    int y1 = (int)ceil(ymax + omega);
    if (y1 - hr->y0 + 1 > FP_ROWS_MAX) y1 = hr->y0 + FP_ROWS_MAX - 1;
    hr->ny = y1 - hr->y0 + 1;
    for (int r = 0; r < hr->ny; r++) {
        double y = hr->y0 + r, lo = 1e30, hi = -1e30;
        for (int i = 0; i < nh; i++) {
            const fp_point *a = &h[i], *b = &h[i + 1 < nh ? i + 1 : 0];
            /* end disc */
            double dy = y - a->y;
            if (fabs(dy) <= omega) {
                double w = sqrt(omega * omega - dy * dy);
                row_extend(a->x - w, &lo, &hi);
                row_extend(a->x + w, &lo, &hi);
            }
            /* band: the parallelogram a +- omega n, b +- omega n */
            double ex = (double)b->x - a->x, ey = (double)b->y - a->y, l = sqrt(ex * ex + ey * ey);
            if (l <= 0) continue;
            double nx = -ey / l * omega, ny = ex / l * omega;
            double cx[4] = {a->x + nx, b->x + nx, b->x - nx, a->x - nx};
            double cy[4] = {a->y + ny, b->y + ny, b->y - ny, a->y - ny};
            for (int k = 0; k < 4; k++) {
                double x0 = cx[k], y0 = cy[k], x1 = cx[(k + 1) & 3], y1e = cy[(k + 1) & 3];
                if ((y < y0 && y < y1e) || (y > y0 && y > y1e)) continue;
                if (y1e == y0) { row_extend(x0, &lo, &hi); row_extend(x1, &lo, &hi); continue; }
                row_extend(x0 + (x1 - x0) * (y - y0) / (y1e - y0), &lo, &hi);
            }
        }
        hr->xl[r] = (float)lo;
        hr->xr[r] = (float)hi;
    }
}

static bool hull_rows_valid(const hull_rows *hr, double x, double y) {
    long r = lround(y) - hr->y0;
    if (r < 0 || r >= hr->ny) return false;
    return x >= hr->xl[r] && x <= hr->xr[r];
}

/* An angle in radians as 1/256 turns (wrapping): differences are then int8_t. */
static uint8_t quant_angle(double a) { return (uint8_t)((long)lround(a * (128.0 / PI_F)) & 255); }

iop_code iop_fp_features_new(const iop_fp_finger *f, iop_fp_features **out, iop_err *err) {
    fp_point p[IOP_FP_MAX_MINUTIAE], h[2 * IOP_FP_MAX_MINUTIAE + 2];
    int n = fp_normalise(f, p);
    iop_fp_features *ft = calloc(1, sizeof *ft);
    if (!ft) return iop_fail(err, IOP_ENOMEM, "out of memory");
    ft->x = malloc(3 * (size_t)(n ? n : 1) * sizeof(float));
    ft->mask = malloc((size_t)(n ? n : 1) * FP_MASK_WORDS * sizeof(uint64_t));
    ft->bits = calloc((size_t)(n ? n : 1) * FP_BIT_WORDS, sizeof(uint64_t));
    if (!ft->x || !ft->mask || !ft->bits) {
        iop_fp_features_free(ft);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    ft->y = ft->x + (n ? n : 1);
    ft->t = ft->y + (n ? n : 1);
    int nh = convex_hull(p, n, h);
    ft->hx = malloc(2 * (size_t)(nh ? nh : 1) * sizeof(float));
    if (!ft->hx) { iop_fp_features_free(ft); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    ft->hy = ft->hx + (nh ? nh : 1);
    ft->nh = nh;
    for (int i = 0; i < nh; i++) { ft->hx[i] = h[i].x; ft->hy[i] = h[i].y; }
    hull_rows *rows = malloc(sizeof *rows);
    if (!rows) { iop_fp_features_free(ft); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    hull_rows_build(h, nh, MCC_OMEGA, rows);

    const double ds = 2.0 * MCC_R / MCC_NS, dd = 2.0 * PI_F / MCC_ND;
    const double gs_norm = 1.0 / (MCC_SIGMA_S * sqrt(2.0 * PI_F));
    const double nb2 = (3.0 * MCC_SIGMA_S) * (3.0 * MCC_SIGMA_S);
    const double reach2 = (MCC_R + 3.0 * MCC_SIGMA_S) * (MCC_R + 3.0 * MCC_SIGMA_S);
    /* spatial contribution by squared distance (1 px^2 steps up to (3 sigma_S)^2) */
    float gs[800];
    for (int q = 0; q < 800; q++) gs[q] = (float)(gs_norm * exp(-q / (2 * MCC_SIGMA_S * MCC_SIGMA_S)));
    /* directional contribution: the integral of N(0, sigma_D) over the cell's angle
       bin, tabulated by the direction difference (CD_STEPS per turn) */
    float cdt[CD_STEPS][MCC_ND];
    for (int a = 0; a < CD_STEPS; a++) {
        double dth = fp_angle_diff(a * 2 * PI_F / CD_STEPS, 0);
        for (int k = 0; k < MCC_ND; k++) {
            double x = fp_angle_diff(-PI_F + (k + 0.5) * dd, dth), sg = MCC_SIGMA_D * sqrt(2.0);
            cdt[a][k] = (float)(0.5 * (erf((x + dd / 2) / sg) - erf((x - dd / 2) / sg)));
        }
    }
    int kept = 0;
    float cd[IOP_FP_MAX_MINUTIAE][MCC_ND];
    int nbr[IOP_FP_MAX_MINUTIAE];
    for (int m = 0; m < n; m++) {
        /* neighbours that can reach the cylinder, with their directional contributions */
        int nn = 0;
        for (int t = 0; t < n; t++) {
            if (t == m) continue;
            double dx = (double)p[t].x - p[m].x, dy = (double)p[t].y - p[m].y;
            if (dx * dx + dy * dy > reach2) continue;
            double dth = fp_angle_diff(p[m].t, p[t].t);
            int ai = (int)lround(dth * CD_STEPS / (2 * PI_F)) & (CD_STEPS - 1);
            for (int k = 0; k < MCC_ND; k++) cd[nn][k] = cdt[ai][k];
            nbr[nn++] = t;
        }
        if (nn < MCC_MIN_M) continue;
        uint64_t *mask = ft->mask + (size_t)kept * FP_MASK_WORDS;
        uint64_t *bits = ft->bits + (size_t)kept * FP_BIT_WORDS;
        memset(mask, 0, FP_MASK_WORDS * sizeof *mask);
        memset(bits, 0, FP_BIT_WORDS * sizeof *bits);
        double c = cos(p[m].t), s = sin(p[m].t);
        /* validity of the cells (inside radius R, near the convex hull) */
        int valid = 0, inr = 0;
        for (int i = 0; i < MCC_NS; i++)
            for (int j = 0; j < MCC_NS; j++) {
                double u = (i + 0.5 - MCC_NS / 2.0) * ds, v = (j + 0.5 - MCC_NS / 2.0) * ds;
                if (u * u + v * v > MCC_R * MCC_R) continue;
                inr++;
                double px = p[m].x + c * u - s * v, py = p[m].y + s * u + c * v;
                if (!hull_rows_valid(rows, px, py)) continue;
                valid++;
                int cell = i * MCC_NS + j;
                mask[cell >> 6] |= 1ull << (cell & 63);
            }
        if (valid < MCC_MIN_VC * inr) continue;
        /* contributions: each neighbour reaches only the cells within 3 sigma_S of it */
        float acc[SLICE][MCC_ND];
        memset(acc, 0, sizeof acc);
        for (int q = 0; q < nn; q++) {
            const fp_point *pt = &p[nbr[q]];
            double dx = (double)pt->x - p[m].x, dy = (double)pt->y - p[m].y;
            double lu = c * dx + s * dy, lv = -s * dx + c * dy; /* in the minutia's frame */
            double r3 = 3.0 * MCC_SIGMA_S;
            int i0 = (int)floor((lu - r3) / ds + MCC_NS / 2.0 - 0.5), i1 = (int)ceil((lu + r3) / ds + MCC_NS / 2.0 - 0.5);
            int j0 = (int)floor((lv - r3) / ds + MCC_NS / 2.0 - 0.5), j1 = (int)ceil((lv + r3) / ds + MCC_NS / 2.0 - 0.5);
            if (i0 < 0) i0 = 0;
            if (j0 < 0) j0 = 0;
            if (i1 > MCC_NS - 1) i1 = MCC_NS - 1;
            if (j1 > MCC_NS - 1) j1 = MCC_NS - 1;
            for (int i = i0; i <= i1; i++)
                for (int j = j0; j <= j1; j++) {
                    int cell = i * MCC_NS + j;
                    if (!(mask[cell >> 6] >> (cell & 63) & 1)) continue;
                    double u = (i + 0.5 - MCC_NS / 2.0) * ds, v = (j + 0.5 - MCC_NS / 2.0) * ds;
                    double ex = lu - u, ey = lv - v, d2 = ex * ex + ey * ey;
                    if (d2 > nb2) continue;
                    float cs = gs[(int)(d2 + 0.5)];
                    for (int k = 0; k < MCC_ND; k++) acc[cell][k] += cs * cd[q][k];
                }
        }
        for (int cell = 0; cell < SLICE; cell++)
            for (int k = 0; k < MCC_ND; k++)
                if (acc[cell][k] >= MCC_MU_PSI) bits[k * FP_MASK_WORDS + (cell >> 6)] |= 1ull << (cell & 63);
        ft->x[kept] = p[m].x;
        ft->y[kept] = p[m].y;
        ft->t[kept] = p[m].t;
        kept++;
    }
    free(rows);
    ft->n = kept;
    ft->dist = malloc(2 * (size_t)(kept ? kept : 1) * (size_t)(kept ? kept : 1) * sizeof(float));
    if (!ft->dist) {
        iop_fp_features_free(ft);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    ft->seg = ft->dist + (size_t)kept * (size_t)kept;
    ft->qt = malloc((size_t)(kept ? kept : 1) * (size_t)(kept + 1));
    if (!ft->qt) {
        iop_fp_features_free(ft);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    ft->rad = ft->qt + kept;
    for (int i = 0; i < kept; i++) ft->qt[i] = quant_angle(ft->t[i]);
    for (int i = 0; i < kept; i++)
        for (int j = 0; j < kept; j++) {
            double dx = (double)ft->x[j] - ft->x[i], dy = (double)ft->y[j] - ft->y[i];
            ft->dist[i * kept + j] = (float)sqrt(dx * dx + dy * dy);
            ft->seg[i * kept + j] = (float)(i == j ? 0 : atan2(dy, dx));
            ft->rad[i * kept + j] = quant_angle(ft->t[i] - ft->seg[i * kept + j]);
        }
    *out = ft;
    return IOP_OK;
}

/* similarity of two binary cylinders (0 when not matchable) */
static inline __attribute__((always_inline)) float cyl_sim_bits(const iop_fp_features *A, int a, const iop_fp_features *B, int b) {
    /* directions within MCC_DELTA_THETA, in 1/256 turns */
    if (abs((int8_t)(uint8_t)(A->qt[a] - B->qt[b])) > (int)(MCC_DELTA_THETA * 128.0 / PI_F)) return 0;
    const uint64_t *ma = A->mask + (size_t)a * FP_MASK_WORDS, *mb = B->mask + (size_t)b * FP_MASK_WORDS;
    uint64_t both[FP_MASK_WORDS];
    int common = 0;
    for (int w = 0; w < FP_MASK_WORDS; w++) {
        both[w] = ma[w] & mb[w];
        common += __builtin_popcountll(both[w]);
    }
    if (common < MCC_MIN_ME * (PI_F * MCC_NS * MCC_NS / 4.0)) return 0;
    const uint64_t *ba = A->bits + (size_t)a * FP_BIT_WORDS, *bb = B->bits + (size_t)b * FP_BIT_WORDS;
    int na = 0, nb = 0, nd = 0;
    for (int k = 0; k < MCC_ND; k++)
        for (int w = 0; w < FP_MASK_WORDS; w++) {
            uint64_t x = ba[k * FP_MASK_WORDS + w] & both[w], y = bb[k * FP_MASK_WORDS + w] & both[w];
            na += __builtin_popcountll(x);
            nb += __builtin_popcountll(y);
            nd += __builtin_popcountll(x ^ y);
        }
    float den = sqrtf((float)na) + sqrtf((float)nb);
    if (den <= 0) return 0;
    return 1.0f - sqrtf((float)nd) / den;
}

static double sigmoid(double v, double mu, double tau) { return 1.0 / (1.0 + exp(-tau * (v - mu))); }

typedef struct pair { float s; int a, b; } pair;

/* Sorts by decreasing similarity (quantised to 16 bits), ties in (a, b) order: a
 * stable two-pass LSD radix sort, linear in the number of pairs. */
static void sort_pairs(pair *p, pair *tmp, int n) {
    for (int pass = 0; pass < 2; pass++) {
        int cnt[257] = {0};
        pair *src = pass ? tmp : p, *dst = pass ? p : tmp;
        for (int i = 0; i < n; i++) {
            unsigned q = 65535u - (unsigned)(src[i].s * 65535.0f + 0.5f);
            cnt[((q >> (8 * pass)) & 255) + 1]++;
        }
        for (int i = 0; i < 256; i++) cnt[i + 1] += cnt[i];
        for (int i = 0; i < n; i++) {
            unsigned q = 65535u - (unsigned)(src[i].s * 65535.0f + 0.5f);
            dst[cnt[(q >> (8 * pass)) & 255]++] = src[i];
        }
    }
}
typedef struct effic { double e, lam; int t; } effic;
static int eff_desc(const void *x, const void *y) {
    const effic *p = x, *q = y;
    if (p->e != q->e) return p->e > q->e ? -1 : 1;
    return p->t - q->t;
}

/* The local similarity matrix (only its non-zero entries), compiled twice: with the
 * POPCNT instruction where the processor has it, portable otherwise. */
#define GAMMA_FILL_BODY                                                    \
    int np = 0;                                                            \
    for (int a = 0; a < A->n; a++)                                         \
        for (int b = 0; b < B->n; b++) {                                   \
            float s = cyl_sim_bits(A, a, B, b);                            \
            if (s > 0) pr[np++] = (pair){s, a, b};                         \
        }                                                                  \
    return np;
FP_TARGET_POPCNT static int gamma_fill_popcnt(const iop_fp_features *A, const iop_fp_features *B, pair *pr) {
    GAMMA_FILL_BODY
}
static int gamma_fill_generic(const iop_fp_features *A, const iop_fp_features *B, pair *pr) { GAMMA_FILL_BODY }

/* ---------------------------------------------------------------- geometric consolidation */

/* A second, hard consolidation beside LSS-R: the largest set of candidate pairs that
 * are pairwise consistent (one-to-one; segment lengths equal within a tolerance that
 * grows with the length, for skin distortion; relative directions and radial angles
 * equal within GC_TOL_A), grown greedily from each of the best seeds.  Its size is
 * set against the number of minutiae of each finger that lie in the area both prints
 * cover (after aligning the set), not against the totals: a genuine pair of partial
 * prints is not penalised for the minutiae the other capture could not see, while at
 * least GC_MIN_OVERLAP minutiae are always assumed, so a tiny overlap cannot give
 * a high score from a handful of chance pairs. */
#define GC_MAX_CAND 256             /* candidate pairs considered */
#define GC_PER_MINUTIA 6            /* a minutia is in at most this many candidates */
#define GC_SEEDS 8                  /* sets grown from the 8 most similar candidates */
#define GC_TOL_D 12.0               /* px at 500 ppi: about one ridge period */
#define GC_TOL_DR 0.10              /* + 10 % of the segment length (distortion) */
#define GC_TOL_A (PI_F / 6)         /* directions and radial angles: 30 degrees */
#define GC_MARGIN 15.0              /* px: minutiae stop about 1.5 ridge periods inside the print */
#define GC_MIN_OVERLAP 12.0         /* the enrolment minimum (iop_fp_quality_opts.min_minutiae) */
/* Scale between the two consolidations: LSS-R gives mates about a fifth of the
 * consistent-set score (strangers are near 0 on both).  The final score is the mean of
 * the two on the LSS-R scale, the scale the score has always had (and on which the
 * sBMS fusion calibration was fitted). */
#define GC_SCALE 5.0

typedef struct gc_result { int m; double sum_s; int na_ov, nb_ov; } gc_result;

/* Whether (x, y) lies inside the convex polygon (counter-clockwise), or within margin of it. */
static bool hull_contains(const iop_fp_features *F, double x, double y, double margin) {
    if (F->nh < 3) return false;
    for (int i = 0; i < F->nh; i++) {
        int j = i + 1 < F->nh ? i + 1 : 0;
        double ex = (double)F->hx[j] - F->hx[i], ey = (double)F->hy[j] - F->hy[i];
        double l = sqrt(ex * ex + ey * ey);
        if (l <= 0) continue;
        double c = ex * (y - F->hy[i]) - ey * (x - F->hx[i]);
        if (c < -margin * l) return false;
    }
    return true;
}

static void gc_consolidate(const iop_fp_features *A, const iop_fp_features *B, const pair *pr, int np,
                           gc_result *res) {
    memset(res, 0, sizeof *res);
    const double tol_d = GC_TOL_D, tol_dr = GC_TOL_DR, tol_a = GC_TOL_A, margin = GC_MARGIN;
    const int per = GC_PER_MINUTIA;
    int na = A->n, nb = B->n;
    /* candidates: the most similar pairs, each minutia in at most GC_PER_MINUTIA of them */
    uint8_t ca[IOP_FP_MAX_MINUTIAE] = {0}, cb[IOP_FP_MAX_MINUTIAE] = {0};
    int ci[GC_MAX_CAND], nc = 0;
    for (int i = 0; i < np && nc < GC_MAX_CAND; i++) {
        if (ca[pr[i].a] >= per || cb[pr[i].b] >= per) continue;
        ca[pr[i].a]++;
        cb[pr[i].b]++;
        ci[nc++] = i;
    }
    if (nc == 0) return;
    /* greedy growth of a mutually compatible set from each of the best seeds: a
       candidate joins when it is compatible with every member, checked lazily (most
       candidates already fail against the seed) */
    uint8_t cpa[GC_MAX_CAND], cpb[GC_MAX_CAND];
    for (int k = 0; k < nc; k++) { cpa[k] = (uint8_t)pr[ci[k]].a; cpb[k] = (uint8_t)pr[ci[k]].b; }
    const int tol_q = (int)(tol_a * 128.0 / PI_F);
    const float tol_df = (float)tol_d, tol_drf = (float)(0.5 * tol_dr);
    uint8_t best[GC_MAX_CAND];
    double best_sum = -1;
    int best_m = 0;
    int seeds = nc < GC_SEEDS ? nc : GC_SEEDS;
    for (int sd = 0; sd < seeds; sd++) {
        uint8_t mem[GC_MAX_CAND];
        mem[0] = (uint8_t)sd;
        int m = 1;
        double sum = pr[ci[sd]].s;
        for (int k = 0; k < nc; k++) {
            if (k == sd) continue;
            int ak = cpa[k], bk = cpb[k];
            const float *dak = A->dist + ak * na, *dbk = B->dist + bk * nb;
            const uint8_t *rak = A->rad + ak * na, *rbk = B->rad + bk * nb;
            bool ok = true;
            for (int q = 0; q < m && ok; q++) {
                int at = cpa[mem[q]], bt = cpb[mem[q]];
                /* one-to-one; the segment between the two minutiae has the same length
                   (within a tolerance growing with it: skin distortion) and the same
                   direction relative to both minutiae on both sides */
                if (ak == at || bk == bt) { ok = false; break; }
                float da = dak[at], db = dbk[bt];
                if (fabsf(da - db) > tol_df + tol_drf * (da + db)) { ok = false; break; }
                int d2 = (int8_t)(uint8_t)((A->qt[ak] - A->qt[at]) - (B->qt[bk] - B->qt[bt]));
                int d3 = (int8_t)(uint8_t)(rak[at] - rbk[bt]);
                int d4 = (int8_t)(uint8_t)(A->rad[at * na + ak] - B->rad[bt * nb + bk]);
                if (abs(d2) > tol_q || abs(d3) > tol_q || abs(d4) > tol_q) ok = false;
            }
            if (!ok) continue;
            mem[m++] = (uint8_t)k;
            sum += pr[ci[k]].s;
        }
        if (sum > best_sum) {
            best_sum = sum;
            best_m = m;
            memset(best, 0, (size_t)nc);
            for (int q = 0; q < m; q++) best[mem[q]] = 1;
        }
    }
    res->m = best_m;
    res->sum_s = best_sum;
    /* rigid alignment of the set (least squares on positions and directions), then the
       minutiae of each side that fall inside the other's print (the convex hull of its
       minutiae) */
    double sax = 0, say = 0, sbx = 0, sby = 0, sc = 0, ss = 0;
    for (int k = 0; k < nc; k++)
        if (best[k]) {
            sax += A->x[pr[ci[k]].a]; say += A->y[pr[ci[k]].a];
            sbx += B->x[pr[ci[k]].b]; sby += B->y[pr[ci[k]].b];
        }
    sax /= best_m; say /= best_m; sbx /= best_m; sby /= best_m;
    for (int k = 0; k < nc; k++)
        if (best[k]) {
            int a = pr[ci[k]].a, b = pr[ci[k]].b;
            double ax = A->x[a] - sax, ay = A->y[a] - say, bx = B->x[b] - sbx, by = B->y[b] - sby;
            sc += ax * bx + ay * by;
            ss += ax * by - ay * bx;
            double d = fp_angle_diff(B->t[b], A->t[a]);
            sc += 100.0 * cos(d);
            ss += 100.0 * sin(d);
        }
    double phi = atan2(ss, sc), c = cos(phi), s = sin(phi);
    for (int i = 0; i < na; i++) {
        double x = A->x[i] - sax, y = A->y[i] - say;
        if (hull_contains(B, c * x - s * y + sbx, s * x + c * y + sby, margin)) res->na_ov++;
    }
    for (int i = 0; i < nb; i++) {
        double x = B->x[i] - sbx, y = B->y[i] - sby;
        if (hull_contains(A, c * x + s * y + sax, -s * x + c * y + say, margin)) res->nb_ov++;
    }
}

/* The consistent-set score: (sum of the local similarities of the set)^2 over the
 * product of the overlap counts, in [0, 1] up to the rare set larger than an overlap. */
static double gc_score(const gc_result *g) {
    double na = g->na_ov > GC_MIN_OVERLAP ? g->na_ov : GC_MIN_OVERLAP;
    double nb = g->nb_ov > GC_MIN_OVERLAP ? g->nb_ov : GC_MIN_OVERLAP;
    return g->sum_s * g->sum_s / (na * nb);
}

double iop_fp_score(const iop_fp_features *A, const iop_fp_features *B) {
    int na = A->n, nb = B->n;
    if (na < LSS_MIN_NP || nb < LSS_MIN_NP) return 0;
    pair *pr = malloc((size_t)na * nb * sizeof *pr);
    if (!pr) return 0;
    int np = FP_HAVE_POPCNT() ? gamma_fill_popcnt(A, B, pr) : gamma_fill_generic(A, B, pr);
    pair *scratch = malloc((size_t)(np ? np : 1) * sizeof *scratch);
    if (!scratch) { free(pr); return 0; }
    sort_pairs(pr, scratch, np);
    free(scratch);
    gc_result gc;
    gc_consolidate(A, B, pr, np, &gc);
    /* the nR best one-to-one pairs */
    int nr_max = na < nb ? na : nb, nr = 0;
    uint8_t ua[IOP_FP_MAX_MINUTIAE] = {0}, ub[IOP_FP_MAX_MINUTIAE] = {0};
    for (int i = 0; i < np && nr < nr_max; i++) {
        if (ua[pr[i].a] || ub[pr[i].b]) continue;
        ua[pr[i].a] = ub[pr[i].b] = 1;
        pr[nr++] = pr[i];
    }
    int n_p = LSS_MIN_NP + (int)lround(sigmoid(nr_max, LSS_MU_P, LSS_TAU_P) * (LSS_MAX_NP - LSS_MIN_NP));
    if (nr < n_p) n_p = nr;
    if (n_p == 0) { free(pr); return 0; }
    /* relaxation */
    double *lam = malloc((size_t)nr * 2 * sizeof *lam), *rho = malloc((size_t)nr * nr * sizeof *rho);
    effic *eff = malloc((size_t)nr * sizeof *eff);
    if (!lam || !rho || !eff) { free(pr); free(lam); free(rho); free(eff); return 0; }
    for (int t = 0; t < nr; t++) {
        int at = pr[t].a, bt = pr[t].b;
        for (int k = 0; k < nr; k++) {
            if (k == t) { rho[t * nr + k] = 0; continue; }
            int ak = pr[k].a, bk = pr[k].b;
            /* each factor is below 2e-7 past these bounds: the product is taken as 0 */
            double d1 = fabs((double)A->dist[at * na + ak] - B->dist[bt * nb + bk]);
            if (d1 > 15.0) { rho[t * nr + k] = 0; continue; }
            double d2 = fabs(fp_angle_diff(fp_angle_diff(A->t[at], A->t[ak]), fp_angle_diff(B->t[bt], B->t[bk])));
            if (d2 > REL_MU2 + 0.55) { rho[t * nr + k] = 0; continue; }
            double ra = fp_angle_diff(A->t[at], A->seg[at * na + ak]), rb = fp_angle_diff(B->t[bt], B->seg[bt * nb + bk]);
            double d3 = fabs(fp_angle_diff(ra, rb));
            if (d3 > REL_MU3 + 0.55) { rho[t * nr + k] = 0; continue; }
            rho[t * nr + k] = sigmoid(d1, REL_MU1, REL_TAU1) * sigmoid(d2, REL_MU2, REL_TAU2) *
                              sigmoid(d3, REL_MU3, REL_TAU3);
        }
    }
    double *cur = lam, *nxt = lam + nr;
    for (int t = 0; t < nr; t++) cur[t] = pr[t].s;
    for (int it = 0; it < REL_N; it++) {
        for (int t = 0; t < nr; t++) {
            double s = 0;
            for (int k = 0; k < nr; k++) s += rho[t * nr + k] * cur[k];
            nxt[t] = REL_W * cur[t] + (1 - REL_W) * (nr > 1 ? s / (nr - 1) : 0);
        }
        double *tmp = cur; cur = nxt; nxt = tmp;
    }
    for (int t = 0; t < nr; t++) {
        eff[t].e = pr[t].s > 0 ? cur[t] / pr[t].s : 0;
        eff[t].lam = cur[t];
        eff[t].t = t;
    }
    qsort(eff, (size_t)nr, sizeof *eff, eff_desc);
    double sum = 0;
    for (int t = 0; t < n_p; t++) sum += eff[t].lam;
    free(pr); free(lam); free(rho); free(eff);
    double sc = sum / n_p;
    /* the mean of the two consolidations, the consistent set brought to the LSS-R scale */
    sc = 0.5 * (sc + gc_score(&gc) / GC_SCALE);
    return sc < 0 ? 0 : sc > 1 ? 1 : sc;
}

iop_code iop_fp_compare(const iop_fp_finger *a, const iop_fp_finger *b, double *score, iop_err *err) {
    iop_fp_features *fa = NULL, *fb = NULL;
    iop_code rc = iop_fp_features_new(a, &fa, err);
    if (!rc) rc = iop_fp_features_new(b, &fb, err);
    if (!rc) *score = iop_fp_score(fa, fb);
    iop_fp_features_free(fa);
    iop_fp_features_free(fb);
    return rc;
}

/* ---------------------------------------------------------------- records */

iop_code iop_fp_record_features_build(const iop_fp_template *t, iop_fp_record_features *out, iop_err *err) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < t->n_fingers && out->n < IOP_FP_MAX_FINGERS; i++) {
        iop_fp_features *f;
        iop_code rc = iop_fp_features_new(&t->fingers[i], &f, err);
        if (rc) { iop_fp_record_features_free(out); return rc; }
        out->position[out->n] = t->fingers[i].position;
        out->f[out->n++] = f;
    }
    return IOP_OK;
}

void iop_fp_record_features_free(iop_fp_record_features *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) iop_fp_features_free(r->f[i]);
    r->n = 0;
}

double iop_fp_record_score(const iop_fp_record_features *a, const iop_fp_record_features *b,
                           iop_fp_evidence *ev, size_t *n_ev) {
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        double best = -1;
        uint8_t pos = a->position[i];
        for (size_t j = 0; j < b->n; j++) {
            if (pos && b->position[j] && pos != b->position[j]) continue;
            double s = iop_fp_score(a->f[i], b->f[j]);
            if (s > best) best = s;
        }
        if (best < 0) continue;
        if (ev && n < IOP_FP_MAX_FINGERS) ev[n] = (iop_fp_evidence){pos, best};
        sum += best;
        n++;
    }
    if (n_ev) *n_ev = n;
    return n ? sum / n : 0;
}

/* ---------------------------------------------------------------- inner cylinders */

/* The inner part of the MCC cylinders (spatial cells whose centre lies within
 * FP_INNER_RADIUS cells of the minutia, all ND direction slices), binarised as in
 * MCC16b, without the convex-hull validity (these cells are inside the print for all
 * but border minutiae).  Used by the first stage; much cheaper than the full cylinder.
 * Returns the number of minutiae; cyl[i] is zero for a minutia with fewer than
 * MCC_MIN_M neighbours. */
int fp_inner_cylinders(const iop_fp_finger *f, uint64_t (*cyl)[FP_INNER_WORDS]) {
    fp_point p[IOP_FP_MAX_MINUTIAE];
    int n = fp_normalise(f, p);
    const double ds = 2.0 * MCC_R / MCC_NS, dd = 2.0 * PI_F / MCC_ND;
    const double gs_norm = 1.0 / (MCC_SIGMA_S * sqrt(2.0 * PI_F));
    const double nb2 = (3.0 * MCC_SIGMA_S) * (3.0 * MCC_SIGMA_S);
    const double reach = FP_INNER_RADIUS * ds + 3.0 * MCC_SIGMA_S;
    float gs[800];
    for (int q = 0; q < 800; q++) gs[q] = (float)(gs_norm * exp(-q / (2 * MCC_SIGMA_S * MCC_SIGMA_S)));
    /* directional contribution by angle difference, 64 steps per turn */
    float cdt[64][MCC_ND];
    for (int a = 0; a < 64; a++) {
        double dth = fp_angle_diff(a * 2 * PI_F / 64, 0);
        for (int k = 0; k < MCC_ND; k++) {
            double x = fp_angle_diff(-PI_F + (k + 0.5) * dd, dth), s = MCC_SIGMA_D * sqrt(2.0);
            cdt[a][k] = (float)(0.5 * (erf((x + dd / 2) / s) - erf((x - dd / 2) / s)));
        }
    }
    /* the inner spatial cells, as offsets (u, v) in the minutia's frame */
    double cu[FP_INNER_CELLS], cv[FP_INNER_CELLS];
    int nc = 0;
    for (int i = 0; i < MCC_NS; i++)
        for (int j = 0; j < MCC_NS; j++) {
            double u = i + 0.5 - MCC_NS / 2.0, v = j + 0.5 - MCC_NS / 2.0;
            if (u * u + v * v > FP_INNER_RADIUS * FP_INNER_RADIUS || nc == FP_INNER_CELLS) continue;
            cu[nc] = u * ds;
            cv[nc] = v * ds;
            nc++;
        }
    for (int m = 0; m < n; m++) {
        memset(cyl[m], 0, sizeof cyl[m]);
        int nbr[IOP_FP_MAX_MINUTIAE], nn = 0;
        for (int t = 0; t < n; t++) {
            if (t == m) continue;
            double dx = (double)p[t].x - p[m].x, dy = (double)p[t].y - p[m].y;
            if (dx * dx + dy * dy <= reach * reach) nbr[nn++] = t;
        }
        if (nn < MCC_MIN_M) continue;
        double c = cos(p[m].t), s = sin(p[m].t);
        for (int q = 0; q < nc; q++) {
            double px = p[m].x + c * cu[q] - s * cv[q], py = p[m].y + s * cu[q] + c * cv[q];
            float acc[MCC_ND] = {0};
            for (int w = 0; w < nn; w++) {
                const fp_point *pt = &p[nbr[w]];
                double dx = pt->x - px, dy = pt->y - py, d2 = dx * dx + dy * dy;
                if (d2 > nb2) continue;
                float cs = gs[(int)(d2 + 0.5)];
                double dth = p[m].t - pt->t;
                int a = (int)lround(dth * 64 / (2 * PI_F)) & 63;
                for (int k = 0; k < MCC_ND; k++) acc[k] += cs * cdt[a][k];
            }
            for (int k = 0; k < MCC_ND; k++)
                if (acc[k] >= MCC_MU_PSI) {
                    int bit = q * MCC_ND + k;
                    cyl[m][bit >> 6] |= 1ull << (bit & 63);
                }
        }
    }
    return n;
}
