/* bench-links: sbms_fp */
/*
 * bench_fp.c -- speed and 1:N figures of the fingerprint matcher (shared biometric
 * matching service, issue 4), printed with their anchors:
 *   - full matcher 1:1 comparisons per second on the FVC2002 templates (one core);
 *     anchor: NIST bozorth3 231 us per comparison (4,300/s per core);
 *   - first-stage code comparisons per second per core (target >= 1,000,000/s);
 *   - 1:N identification over a generated gallery (default 1,000,000 fingers; with
 *     IOP_BENCH_SCALE=small 20,000): median / p90 time per probe (target < 1 s), rank-1
 *     rate of the two-stage search, share of mates kept by the first stage, and on a
 *     sub-gallery of 2,000 (1,000 small) the rank-1 rate of the exhaustive full matcher
 *     against the two-stage search on the same probes;
 *   - bytes per stored finger (target <= 1 KiB).
 * Environment: IOP_BENCH_SCALE=small, IOP_FP_BENCH_N (gallery size), IOP_FP_BENCH_Q
 * (probes), IOP_FP_BENCH_THREADS (threads per search, default 2).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "interop/sbms_fp.h"

/* CPU time of the calling thread, ns: the figures stay meaningful on a loaded machine */
static uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static uint64_t proc_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t env_size(const char *name, size_t dflt) {
    const char *v = getenv(name);
    return v && *v ? (size_t)strtoull(v, NULL, 10) : dflt;
}

#define MAXT 400

static int load_fvc(const char *db, iop_fp_finger *out, size_t *n) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fingerprints/fvc2002/%s", IOP_SHARED_DATA, db);
    DIR *dh = opendir(dir);
    if (!dh) return -1;
    struct dirent *de;
    while ((de = readdir(dh)) && *n < MAXT) {
        if (de->d_name[0] == '.') continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *data;
        size_t len;
        if (iop_read_file(path, &data, &len, NULL)) continue;
        iop_fp_template t;
        if (iop_fp_parse((const uint8_t *)data, len, IOP_FP_AUTO, &t, NULL) == IOP_OK) {
            out[(*n)++] = t.fingers[0];
            iop_fp_template_free(&t);
        }
        free(data);
    }
    closedir(dh);
    return 0;
}

static void bench_1to1(void) {
    static iop_fp_finger f[MAXT];
    size_t n = 0;
    const char *dbs[] = {"DB1_B", "DB2_B", "DB3_B", "DB4_B"};
    for (int i = 0; i < 4; i++) load_fvc(dbs[i], f, &n);
    if (n < 2) { printf("1:1: FVC2002 templates not found under %s\n", IOP_SHARED_DATA); return; }
    iop_fp_features **ft = calloc(n, sizeof *ft);
    uint64_t t0 = cpu_ns();
    for (size_t i = 0; i < n; i++) iop_fp_features_new(&f[i], &ft[i], NULL);
    double feat_us = (double)(cpu_ns() - t0) / 1e3 / (double)n;
    /* 5 rounds of 2,000 comparisons each; median of the rounds */
    double rounds[5];
    volatile double sink = 0;
    for (int r = 0; r < 5; r++) {
        uint64_t s = cpu_ns();
        for (size_t q = 0; q < 2000; q++) {
            size_t a = (q * 7 + (size_t)r) % n, b = (q * 13 + 5 + (size_t)r * 3) % n;
            sink += iop_fp_score(ft[a], ft[b]);
        }
        rounds[r] = (double)(cpu_ns() - s) / 1e3 / 2000.0;
    }
    qsort(rounds, 5, sizeof rounds[0], cmp_dbl);
    printf("1:1 full matcher (MCC16b + LSS-R): %.1f us per comparison, %.0f comparisons/s per core "
           "(anchor bozorth3 231 us, ratio %.2f); features %.0f us per template\n",
           rounds[2], 1e6 / rounds[2], rounds[2] / 231.0, feat_us);
    for (size_t i = 0; i < n; i++) iop_fp_features_free(ft[i]);
    free(ft);
    (void)sink;
}

static void bench_codes(size_t n) {
    iop_fp_code *codes = malloc(n * sizeof *codes);
    iop_fp_finger *f = malloc(sizeof *f);
    if (!codes || !f) { free(codes); free(f); return; }
    for (size_t i = 0; i < n; i++) {
        iop_fp_gen_finger(7, i, 0, 0, NULL, f);
        iop_fp_code_make(f, false, &codes[i]);
    }
    iop_fp_code probe;
    iop_fp_gen_finger(7, 3, 1, 0, NULL, f);
    iop_fp_code_make(f, true, &probe);
    double rounds[5];
    volatile double sink = 0;
    for (int r = 0; r < 5; r++) {
        uint64_t s = cpu_ns();
        for (size_t i = 0; i < n; i++) sink += iop_fp_code_similarity(&probe, &codes[i]);
        rounds[r] = (double)(cpu_ns() - s) / 1e9;
    }
    qsort(rounds, 5, sizeof rounds[0], cmp_dbl);
    double rate = (double)n / rounds[2];
    printf("first stage: %.0f code comparisons/s per core over %zu codes (target >= 1,000,000, ratio %.2f)\n",
           rate, n, rate / 1e6);
    free(codes);
    free(f);
    (void)sink;
}

static void bench_1toN(size_t n, size_t q, size_t sub, int threads) {
    iop_fp_gallery_opts o = {.shortlist = 0, .threads = threads};
    iop_fp_gallery *g, *gs;
    if (iop_fp_gallery_new(&o, &g, NULL) || iop_fp_gallery_new(&o, &gs, NULL)) return;
    iop_fp_template t = {.format = IOP_FP_ISO2005, .n_fingers = 1, .fingers = malloc(sizeof(iop_fp_finger))};
    if (!t.fingers) return;
    uint64_t t0 = iop_mono_ns();
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        iop_fp_gen_finger(11, i, 0, 0, NULL, &t.fingers[0]);
        /* record key = identity; system 1 + i % 5 (five connected systems) */
        iop_fp_ref ref = {(uint8_t)(1 + i % 5), i};
        if (iop_fp_gallery_add(g, ref, &t, NULL) == IOP_OK) added++;
        if (i < sub) iop_fp_gallery_add(gs, ref, &t, NULL);
    }
    double build_s = (double)(iop_mono_ns() - t0) / 1e9;
    printf("1:N gallery: %zu fingers enrolled of %zu generated in %.1f s; %zu bytes per finger (target <= 1024)\n",
           added, n, build_s, iop_fp_gallery_bytes(g));
    double *lat = malloc(q * sizeof *lat), *cpu = malloc(q * sizeof *cpu);
    size_t top1 = 0, inlist = 0, sub_top1_two = 0, sub_top1_full = 0, nq = 0;
    iop_fp_candidate cand[10];
    for (size_t k = 0; k < q; k++) {
        uint64_t id = (k * 7919 + 13) % (sub < n ? sub : n); /* mates inside the sub-gallery */
        iop_fp_gen_finger(11, id, 1 + (uint32_t)(k % 7), 0, NULL, &t.fingers[0]);
        if (iop_fp_quality_check(&t.fingers[0], NULL, NULL)) continue;
        size_t nc;
        uint64_t s = iop_mono_ns(), c0 = proc_cpu_ns();
        if (iop_fp_gallery_search(g, &t, 10, 0, cand, &nc, NULL)) continue;
        cpu[nq] = (double)(proc_cpu_ns() - c0) / 1e6;
        lat[nq++] = (double)(iop_mono_ns() - s) / 1e6;
        if (nc && cand[0].ref.key == id) top1++;
        for (size_t c = 0; c < nc; c++) if (cand[c].ref.key == id) { inlist++; break; }
        if (iop_fp_gallery_search(gs, &t, 1, 0, cand, &nc, NULL) == IOP_OK && nc && cand[0].ref.key == id)
            sub_top1_two++;
        if (iop_fp_gallery_search_exhaustive(gs, &t, 1, 0, cand, &nc, NULL) == IOP_OK && nc &&
            cand[0].ref.key == id)
            sub_top1_full++;
    }
    if (nq) {
        qsort(lat, nq, sizeof *lat, cmp_dbl);
        qsort(cpu, nq, sizeof *cpu, cmp_dbl);
        printf("1:N search over %zu fingers, %d threads: median %.1f ms wall (p90 %.1f ms), median %.1f ms CPU "
               "= %.1f ms on %d idle cores (target < 1000 ms, ratio %.3f); rank-1 %.1f %%, mate in top 10 %.1f %% "
               "(%zu probes)\n",
               added, threads, lat[nq / 2], lat[(size_t)(nq * 0.9)], cpu[nq / 2], cpu[nq / 2] / threads, threads,
               cpu[nq / 2] / threads / 1000.0, 100.0 * top1 / nq, 100.0 * inlist / nq, nq);
        printf("1:N on a %zu-finger sub-gallery, same probes: rank-1 two-stage %.1f %% vs exhaustive full matcher "
               "%.1f %%\n", sub < n ? sub : n, 100.0 * sub_top1_two / nq, 100.0 * sub_top1_full / nq);
    }
    free(lat);
    free(cpu);
    iop_fp_template_free(&t);
    iop_fp_gallery_free(g);
    iop_fp_gallery_free(gs);
}

int main(void) {
    const char *scale = getenv("IOP_BENCH_SCALE");
    bool small = scale && !strcmp(scale, "small");
    size_t n = env_size("IOP_FP_BENCH_N", small ? 20000 : 1000000);
    size_t q = env_size("IOP_FP_BENCH_Q", 20);
    int threads = (int)env_size("IOP_FP_BENCH_THREADS", 2);
    size_t sub = small ? 1000 : 2000;
    printf("== fingerprints (sBMS): %s scale\n", small ? "small" : "full");
    bench_1to1();
    bench_codes(small ? 100000 : 1000000 < n ? 1000000 : n);
    bench_1toN(n, q, sub, threads);
    return 0;
}
