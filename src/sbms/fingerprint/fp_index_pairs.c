/*
 * fp_index_pairs.c -- first stage of 1:N fingerprint identification in the shared
 * biometric matching service (Reg. (EU) 2019/817 Arts 13-14: every new fingerprint
 * record of SIS is checked against all stored ones): minutia-pair voting with global
 * consolidation, a form of geometric hashing.
 *
 * A stored finger keeps its minutia pairs: each minutia with its FPX_K nearest
 * neighbours (closer than FPX_DMAX), once per unordered pair.  A pair's feature is
 * invariant to rotation and translation: the length of the segment (FPX_DB px bins)
 * and the directions of both minutiae relative to the segment (FPX_NA bins); besides
 * it the pair keeps the direction of the segment and its midpoint, which are not
 * invariant and say where the finger lies.
 *
 * The probe's pairs (FPX_KP neighbours, so that a missing or spurious minutia in either
 * impression still leaves the pair among the neighbours, both orders of each pair) are
 * put into a table by feature, with the neighbouring bin of every value lying within
 * FPX_SOFT of a bin edge.  Each stored pair looks its feature up; every probe pair found
 * there proposes one rigid motion (rotation = difference of the segment directions,
 * translation = stored midpoint - rotated probe midpoint), cast as a vote into a
 * 16 x 64 x 64 grid (22.5 degrees x 16 px x 16 px, the translation wrapping at 1024 px).
 * The score is the largest sum over 2 x 2 x 2 neighbouring cells: the number of pair
 * correspondences agreeing on one placement of the probe on the stored finger.
 * Bags of local features alone (pair codes, triplets, cylinder hashes) were measured
 * far less selective on generated populations, because neighbouring minutiae follow
 * the same smooth ridge flow in every finger; the global agreement is what separates a
 * mate from a million other fingers (docs/fingerprints.md).
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "fp_index.h"

#define PI_D 3.14159265358979323846
#define FPX_K 5
#define FPX_KP 9
#define FPX_DB 8.0
#define FPX_DMAX 120.0
#define FPX_ND 17               /* distance bins, the soft one past FPX_DMAX included */
#define FPX_NA 24
#define FPX_SOFT 0.4
#define FPX_NKEYS (FPX_ND * FPX_NA * FPX_NA)
#define FPX_NR 16               /* rotation cells */
#define FPX_TB 16.0             /* translation cell, px */
#define FPX_NT 32               /* translation cells per axis (wrapping at 512 px) */
#define FPX_MAX_TOUCHED 4096

static double wrap2pi(double a) {
    a = fmod(a, 2 * PI_D);
    return a < 0 ? a + 2 * PI_D : a;
}

/* the kn nearest neighbours of i, nearest first; returns their number */
static int neighbours(const fp_point *p, int n, int i, int kn, int *nb) {
    double nd[16];
    int cnt = 0;
    for (int j = 0; j < n; j++) {
        if (j == i) continue;
        double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y, d2 = dx * dx + dy * dy;
        if (d2 < 4.0 || d2 > FPX_DMAX * FPX_DMAX) continue;
        if (cnt < kn) cnt++;
        else if (d2 >= nd[cnt - 1]) continue;
        int q = cnt - 1;
        while (q > 0 && nd[q - 1] > d2) { nd[q] = nd[q - 1]; nb[q] = nb[q - 1]; q--; }
        nd[q] = d2;
        nb[q] = j;
    }
    return cnt;
}

static uint8_t clamp_u8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v)); }

int fpx_pairs(const fp_point *p, int n, uint8_t *out) {
    int np = 0;
    int nbl[IOP_FP_MAX_MINUTIAE][FPX_K], cntl[IOP_FP_MAX_MINUTIAE];
    if (n > IOP_FP_MAX_MINUTIAE) n = IOP_FP_MAX_MINUTIAE;
    for (int i = 0; i < n; i++) cntl[i] = neighbours(p, n, i, FPX_K, nbl[i]);
    for (int i = 0; i < n && np < FPX_MAX_PAIRS; i++) {
        for (int q = 0; q < cntl[i] && np < FPX_MAX_PAIRS; q++) {
            int j = nbl[i][q];
            if (j < i) {
                /* stored already when j listed i among its neighbours */
                bool listed = false;
                for (int r = 0; r < cntl[j] && !listed; r++) listed = nbl[j][r] == i;
                if (listed) continue;
            }
            double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y;
            double d = sqrt(dx * dx + dy * dy), phi = atan2(dy, dx);
            int a = (int)(d / FPX_DB), b = (int)(wrap2pi(p[i].t - phi) * FPX_NA / (2 * PI_D)) % FPX_NA;
            int c = (int)(wrap2pi(p[j].t - phi) * FPX_NA / (2 * PI_D)) % FPX_NA;
            if (a >= FPX_ND) a = FPX_ND - 1;
            unsigned key = (unsigned)((a * FPX_NA + b) * FPX_NA + c);
            uint8_t *o = out + (size_t)np * FPX_PAIR_BYTES;
            o[0] = (uint8_t)(key & 255);
            o[1] = (uint8_t)(key >> 8);
            o[2] = (uint8_t)(lround(wrap2pi(phi) * 256 / (2 * PI_D)) & 255);
            o[3] = clamp_u8(((double)p[i].x + p[j].x) / 2 / 4.0);
            o[4] = clamp_u8(-((double)p[i].y + p[j].y) / 2 / 4.0);
            np++;
        }
    }
    return np;
}

/* A probe pair under one feature: its midpoint (relative to the probe's centroid) and
 * the direction of its segment. */
typedef struct fpx_entry { int16_t mx, my; uint8_t phi; } fpx_entry; /* midpoint in 1/8 px */

/* Entries grouped by feature (compressed rows): those of feature k are
 * ent[start[k]] .. ent[start[k + 1] - 1]. */
struct fpx_probe {
    uint16_t start[FPX_NKEYS + 1];   /* 20 KB: with the vote grid, the hot data of a scan */
    int nm;                          /* minutiae, internal frame, relative to the centroid */
    fp_point m[IOP_FP_MAX_MINUTIAE];
    int32_t n, cap;
    fpx_entry *ent;
    uint16_t *key;       /* while building: the feature of each entry */
};

static int probe_push(fpx_probe *p, unsigned key, uint8_t phi, float mx, float my) {
    if (p->n == UINT16_MAX) return 0; /* the table is full: further pairs are left out */
    if (p->n == p->cap) {
        int32_t nc = p->cap ? p->cap * 2 : 1024;
        fpx_entry *ne = realloc(p->ent, (size_t)nc * sizeof *ne);
        if (!ne) return -1;
        p->ent = ne;
        uint16_t *nk = realloc(p->key, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        p->key = nk;
        p->cap = nc;
    }
    p->ent[p->n] = (fpx_entry){(int16_t)lrintf(mx * 8.0f), (int16_t)lrintf(my * 8.0f), phi};
    p->key[p->n++] = (uint16_t)key;
    return 0;
}

/* groups the entries by feature (counting sort); -1 on ENOMEM */
static int probe_group(fpx_probe *p) {
    fpx_entry *sorted = malloc((size_t)(p->n ? p->n : 1) * sizeof *sorted);
    if (!sorted) return -1;
    int32_t *fill = calloc(FPX_NKEYS + 1, sizeof *fill);
    if (!fill) { free(sorted); return -1; }
    for (int32_t e = 0; e < p->n; e++) fill[p->key[e] + 1]++;
    for (int k = 0; k < FPX_NKEYS; k++) fill[k + 1] += fill[k];
    for (int k = 0; k <= FPX_NKEYS; k++) p->start[k] = (uint16_t)fill[k];
    for (int32_t e = 0; e < p->n; e++) sorted[fill[p->key[e]]++] = p->ent[e];
    free(fill);
    free(p->ent);
    free(p->key);
    p->key = NULL;
    p->ent = sorted;
    return 0;
}

void fpx_probe_free(fpx_probe *p) {
    if (!p) return;
    free(p->ent);
    free(p->key);
    free(p);
}

fpx_probe *fpx_probe_new(const iop_fp_finger *f) {
    fpx_probe *pr = calloc(1, sizeof *pr);
    fp_point *p = malloc(IOP_FP_MAX_MINUTIAE * sizeof *p);
    if (!pr || !p) { free(pr); free(p); return NULL; }
    int n = fp_normalise(f, p);
    /* midpoints relative to the centroid: an error in the rotation then moves the
       predicted translation by as little as possible */
    double cx = 0, cy = 0;
    for (int i = 0; i < n; i++) { cx += p[i].x; cy += p[i].y; }
    if (n) { cx /= n; cy /= n; }
    pr->nm = n;
    for (int i = 0; i < n; i++) {
        pr->m[i] = p[i];
        pr->m[i].x = (float)(p[i].x - cx);
        pr->m[i].y = (float)(p[i].y - cy);
    }
    size_t rows = n > 0 ? (size_t)n : 1;
    int (*nbl)[FPX_KP] = malloc(rows * sizeof *nbl);
    int *cntl = malloc(rows * sizeof *cntl);
    if (!nbl || !cntl) { free(nbl); free(cntl); free(p); free(pr); return NULL; }
    for (int i = 0; i < n; i++) cntl[i] = neighbours(p, n, i, FPX_KP, nbl[i]);
    for (int i0 = 0; i0 < n; i0++) {
        for (int q = 0; q < cntl[i0]; q++) {
            int j0 = nbl[i0][q];
            if (j0 < i0) {
                bool listed = false;
                for (int r = 0; r < cntl[j0] && !listed; r++) listed = nbl[j0][r] == i0;
                if (listed) continue;
            }
            for (int dir = 0; dir < 2; dir++) {
                int i = dir ? j0 : i0, j = dir ? i0 : j0;
                double dx = (double)p[j].x - p[i].x, dy = (double)p[j].y - p[i].y;
                double d = sqrt(dx * dx + dy * dy), phi = atan2(dy, dx);
                double v[3] = {d / FPX_DB, wrap2pi(p[i].t - phi) * FPX_NA / (2 * PI_D),
                               wrap2pi(p[j].t - phi) * FPX_NA / (2 * PI_D)};
                int lo[3], hi[3];
                for (int c = 0; c < 3; c++) {
                    int b = (int)floor(v[c]);
                    double fr = v[c] - b;
                    lo[c] = hi[c] = b;
                    if (fr < FPX_SOFT) lo[c] = b - 1;
                    if (fr > 1 - FPX_SOFT) hi[c] = b + 1;
                }
                uint8_t qphi = (uint8_t)(lround(wrap2pi(phi) * 256 / (2 * PI_D)) & 255);
                float mx = (float)(((double)p[i].x + p[j].x) / 2 - cx), my = (float)(((double)p[i].y + p[j].y) / 2 - cy);
                for (int a = lo[0]; a <= hi[0]; a++) {
                    if (a < 0 || a >= FPX_ND) continue;
                    for (int b = lo[1]; b <= hi[1]; b++)
                        for (int c = lo[2]; c <= hi[2]; c++) {
                            unsigned key = (unsigned)((a * FPX_NA + (b + FPX_NA) % FPX_NA) * FPX_NA +
                                                      (c + FPX_NA) % FPX_NA);
                            if (probe_push(pr, key, qphi, mx, my)) {
                                free(nbl);
                                free(cntl);
                                free(p);
                                fpx_probe_free(pr);
                                return NULL;
                            }
                        }
                }
            }
        }
    }
    free(nbl);
    free(cntl);
    free(p);
    if (probe_group(pr)) { fpx_probe_free(pr); return NULL; }
    return pr;
}

struct fpx_scratch {
    uint8_t grid[FPX_NR * FPX_NT * FPX_NT];   /* 16 KB: stays in the first-level cache */
    uint16_t touched[FPX_MAX_TOUCHED];
    float cs[256], sn[256];
};

fpx_scratch *fpx_scratch_new(void) {
    fpx_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    for (int a = 0; a < 256; a++) {
        s->cs[a] = (float)cos(a * 2 * PI_D / 256);
        s->sn[a] = (float)sin(a * 2 * PI_D / 256);
    }
    return s;
}

void fpx_scratch_free(fpx_scratch *s) { free(s); }

#define CELL(r, x, y) (((r) * FPX_NT + (x)) * FPX_NT + (y))

/* the mean motion of the votes in the 2 x 2 x 2 block whose lower corner is cell c */
static void motion(const fpx_probe *p, const uint8_t *pairs, int npairs, const fpx_scratch *s, unsigned c,
                   fpx_motion *mo) {
    unsigned r0 = c / (FPX_NT * FPX_NT), x0 = c / FPX_NT % FPX_NT, y0 = c % FPX_NT;
    double sc = 0, ss = 0, stx = 0, sty = 0;
    int n = 0;
    for (int q = 0; q < npairs; q++) {
        const uint8_t *g = pairs + (size_t)q * FPX_PAIR_BYTES;
        unsigned key = (unsigned)g[0] | (unsigned)g[1] << 8;
        if (key >= FPX_NKEYS) continue;
        float gx = g[3] * 4.0f + 2.0f, gy = -(g[4] * 4.0f + 2.0f);
        for (unsigned e = p->start[key]; e < p->start[key + 1]; e++) {
            const fpx_entry *pe = &p->ent[e];
            unsigned d = (g[2] - pe->phi) & 255;
            float cs = s->cs[d], sn = s->sn[d], mx = pe->mx * 0.125f, my = pe->my * 0.125f;
            float tx = gx - (cs * mx - sn * my), ty = gy - (sn * mx + cs * my);
            unsigned ix = (unsigned)(int)(tx * (float)(1.0 / FPX_TB) + 4096.0f) & (FPX_NT - 1);
            unsigned iy = (unsigned)(int)(ty * (float)(1.0 / FPX_TB) + 4096.0f) & (FPX_NT - 1);
            if (((d >> 4) - r0) % FPX_NR > 1 || ((ix - x0) & (FPX_NT - 1)) > 1 || ((iy - y0) & (FPX_NT - 1)) > 1)
                continue;
            sc += cs;
            ss += sn;
            stx += tx;
            sty += ty;
            n++;
        }
    }
    mo->votes = n;
    mo->rot = n ? atan2(ss, sc) : 0;
    mo->tx = n ? stx / n : 0;
    mo->ty = n ? sty / n : 0;
}

int fpx_score(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s) { return fpx_align(p, pairs, npairs, s, NULL); }

int fpx_align(const fpx_probe *p, const uint8_t *pairs, int npairs, fpx_scratch *s, fpx_motion *mo) {
    int nt = 0;
    for (int q = 0; q < npairs; q++) {
        const uint8_t *g = pairs + (size_t)q * FPX_PAIR_BYTES;
        unsigned key = (unsigned)g[0] | (unsigned)g[1] << 8;
        if (key >= FPX_NKEYS) continue;
        unsigned e = p->start[key], end = p->start[key + 1];
        if (e == end) continue;
        float gx = g[3] * 4.0f + 2.0f, gy = -(g[4] * 4.0f + 2.0f);
        for (; e < end; e++) {
            const fpx_entry *pe = &p->ent[e];
            unsigned d = (g[2] - pe->phi) & 255;
            float c = s->cs[d] * 0.125f, sn = s->sn[d] * 0.125f, mx = pe->mx, my = pe->my;
            float tx = gx - (c * mx - sn * my), ty = gy - (sn * mx + c * my);
            /* cells of FPX_TB px; the offset keeps the operand positive, so that the
               conversion truncates like floor */
            unsigned ix = (unsigned)(int)(tx * (float)(1.0 / FPX_TB) + 4096.0f) & (FPX_NT - 1);
            unsigned iy = (unsigned)(int)(ty * (float)(1.0 / FPX_TB) + 4096.0f) & (FPX_NT - 1);
            unsigned cell = CELL(d >> 4, ix, iy);
            if (!s->grid[cell]) {
                if (nt == FPX_MAX_TOUCHED) continue;
                s->touched[nt++] = (uint16_t)cell;
            }
            if (s->grid[cell] < UINT8_MAX) s->grid[cell]++;
        }
    }
    /* the best 2 x 2 x 2 block with a vote in its lower corner (wrapping) */
    int best = 0;
    unsigned bcell = 0;
    const uint8_t *gr = s->grid;
    for (int t = 0; t < nt; t++) {
        unsigned cell = s->touched[t];
        unsigned y1 = (cell & (FPX_NT - 1)) == FPX_NT - 1 ? cell + 1 - FPX_NT : cell + 1;
        int dx = ((cell / FPX_NT) & (FPX_NT - 1)) == FPX_NT - 1 ? -(FPX_NT - 1) * FPX_NT : FPX_NT;
        int dr = cell / (FPX_NT * FPX_NT) == FPX_NR - 1 ? -(FPX_NR - 1) * FPX_NT * FPX_NT : FPX_NT * FPX_NT;
        unsigned c2 = (unsigned)((int)cell + dr), y2 = (unsigned)((int)y1 + dr);
        int v = gr[cell] + gr[y1] + gr[(unsigned)((int)cell + dx)] + gr[(unsigned)((int)y1 + dx)] + gr[c2] + gr[y2] +
                gr[(unsigned)((int)c2 + dx)] + gr[(unsigned)((int)y2 + dx)];
        if (v > best) { best = v; bcell = cell; }
    }
    if (mo) motion(p, pairs, npairs, s, bcell, mo);
    for (int t = 0; t < nt; t++) s->grid[s->touched[t]] = 0;
    return best;
}

int fpx_pair_minutiae(const fpx_probe *p, const fp_point *g, int ng, const fpx_motion *mo, double tol_px,
                      double tol_rad) {
    double c = cos(mo->rot), s = sin(mo->rot);
    bool used[IOP_FP_MAX_MINUTIAE] = {false};
    int m = 0;
    for (int i = 0; i < p->nm; i++) {
        double x = c * p->m[i].x - s * p->m[i].y + mo->tx, y = s * p->m[i].x + c * p->m[i].y + mo->ty;
        double t = p->m[i].t + mo->rot;
        int best = -1;
        double bd = tol_px * tol_px;
        for (int j = 0; j < ng; j++) {
            if (used[j]) continue;
            double dx = g[j].x - x, dy = g[j].y - y, d2 = dx * dx + dy * dy;
            if (d2 > bd) continue;
            if (fabs(fp_angle_diff(g[j].t, t)) > tol_rad) continue;
            bd = d2;
            best = j;
        }
        if (best >= 0) { used[best] = true; m++; }
    }
    return m;
}

int fpx_probe_minutiae(const fpx_probe *p) { return p->nm; }
