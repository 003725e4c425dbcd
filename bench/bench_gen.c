/* bench-links: gen record */
/*
 * bench_gen.c -- speed of the population generator (`interop gen`).
 *
 * Anchor (core issue, item 8; docs/population-model.md): 1,000,000 persons in well
 * under 2 minutes on one core, streaming.  Measured without biometrics (the records,
 * truth and annotations), and with biometrics on a smaller population whose cost per
 * person is projected to 1,000,000 persons (the templates come from the sBMS synthetic
 * generators; the workers spread them over the cores).
 *
 * IOP_BENCH_SCALE=small: 20,000 persons (2,000 with biometrics).  The output goes to
 * $IOP_BENCH_TMP (default /tmp) and is removed afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "interop/gen.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result { double wall, cpu; gen_stats st; } result;

static int run(const char *dir, uint64_t n, bool bio, int threads, result *r) {
    gen_params p;
    gen_params_default(&p);
    p.persons = n;
    p.seed = 2026;
    p.out_dir = dir;
    p.data_dir = IOP_SHARED_DATA;
    p.biometrics = bio;
    p.threads = threads;
    p.progress = n >= 1000000 ? stderr : NULL;
    iop_err e;
    double c0 = cpu_s();
    uint64_t t0 = iop_mono_ns();
    if (gen_run(&p, &r->st, &e)) {
        fprintf(stderr, "bench_gen: %s\n", e.msg);
        return 1;
    }
    r->wall = (double)(iop_mono_ns() - t0) / 1e9;
    r->cpu = cpu_s() - c0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_gen: could not remove %s\n", dir);
    return 0;
}

int main(void) {
    const char *scale = getenv("IOP_BENCH_SCALE");
    bool small = scale && !strcmp(scale, "small");
    const char *tmp = getenv("IOP_BENCH_TMP");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/bench-gen-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    uint64_t n = small ? 20000 : 1000000, nb = small ? 2000 : 20000;
    int reps = small ? 3 : 1;
    const double target = 120.0; /* seconds for 1,000,000 persons on one core */

    /* without biometrics, one core */
    double wall[3], cpu[3];
    result r;
    for (int i = 0; i < reps; i++) {
        if (run(dir, n, false, 1, &r)) return 1;
        wall[i] = r.wall;
        cpu[i] = r.cpu;
    }
    qsort(wall, (size_t)reps, sizeof *wall, cmp_d);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp_d);
    double w = wall[reps / 2], c = cpu[reps / 2];
    double per_m = c * 1e6 / (double)n; /* CPU seconds for 1,000,000 persons */
    printf("gen %llu persons, no biometrics: %.2f s wall, %.2f s CPU, %llu records (%.0f records/s CPU), %.1f MB\n",
           (unsigned long long)n, w, c, (unsigned long long)r.st.records, (double)r.st.records / c,
           (double)r.st.bytes / 1e6);
    printf("gen 1,000,000 persons, no biometrics, one core: %.1f s CPU (target <= %.0f s, ratio %.2f)\n", per_m, target,
           per_m / target);

    /* with biometrics: one worker, then the online CPUs */
    for (int t = 1; t <= 2; t++) {
        double bw[3], bc[3];
        for (int i = 0; i < reps; i++) {
            if (run(dir, nb, true, t == 1 ? 1 : 0, &r)) return 1;
            bw[i] = r.wall;
            bc[i] = r.cpu;
        }
        qsort(bw, (size_t)reps, sizeof *bw, cmp_d);
        qsort(bc, (size_t)reps, sizeof *bc, cmp_d);
        if (!r.st.biometrics_filled) {
            printf("gen with biometrics: this build has no synthetic biometric generators\n");
            break;
        }
        double pw = bw[reps / 2] * 1e6 / (double)nb, pc = bc[reps / 2] * 1e6 / (double)nb;
        printf("gen %llu persons, biometrics, %s: %.2f s wall, %.2f s CPU, %.1f MB; projected 1,000,000 persons: "
               "%.0f s wall, %.0f s CPU, %.1f GB (target <= %.0f s on one core, CPU ratio %.2f)\n",
               (unsigned long long)nb, t == 1 ? "1 worker" : "all CPUs", bw[reps / 2], bc[reps / 2],
               (double)r.st.bytes / 1e6, pw, pc, (double)r.st.bytes / (double)nb * 1e6 / 1e9, target, pc / target);
    }
    return 0;
}
