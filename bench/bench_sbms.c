/* bench-links: sbms */
/*
 * bench_sbms.c -- figures of the sBMS service layer (Reg. 2019/817 Arts 12-16):
 *   - enrolment rate through sbms_enrol (durable in sbms.db, then the galleries), in
 *     batches of 1,000 records of 2 fingers + a 512-d face each;
 *   - the rebuild of the galleries at sbms_open (records/s, and the time extrapolated
 *     to 1,000,000 records; target: well under a minute);
 *   - 1:N search latency p50 / p99 with fingerprints, face, and both (fused), with the
 *     rank-1 rate of mated probes.
 * Default 100,000 records and 100 probes per mode; IOP_BENCH_SCALE=small: 5,000 and 20.
 * IOP_SBMS_BENCH_N / IOP_SBMS_BENCH_Q override them, IOP_SBMS_BENCH_SHORTLIST sets the
 * fingerprint first-stage shortlist (sbms_config.fp_shortlist); IOP_SBMS_BENCH_VERBOSE=1 prints the
 * top hits of probes whose mate is not first.  `bench_sbms --calibrate` prints
 * the shipped default calibrations again (sbms_calib_synthetic).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "interop/sbms.h"
#include "interop/sbms_face.h"
#include "interop/sbms_fp.h"
#include "interop/store.h"

#define DIM 512
#define SEED 2024
#define NFP 2

/* CPU time of the process (all threads), s: figures that stay meaningful on a loaded machine */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p) {
    qsort(v, n, sizeof *v, cmp_dbl);
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static void make_rec(sbms_face_gen *g, rec_person *r, const char *id, uint64_t who, uint32_t cap) {
    memset(r, 0, sizeof *r);
    r->id = iop_strdup(id);
    r->system = who % 3 == 0 ? IOP_SYS_VIS : IOP_SYS_EES;
    r->n_fingers = NFP;
    r->fingers = calloc(NFP, sizeof *r->fingers);
    for (size_t i = 0; i < NFP; i++) {
        r->fingers[i].position = (int)i + 1;
        r->fingers[i].tpl.format = "iso19794-2-2005";
        iop_fp_gen_iso(SEED, who, cap, (uint8_t)(i + 1), NULL, &r->fingers[i].tpl.data, &r->fingers[i].tpl.len, NULL);
    }
    float v[DIM];
    sbms_face_gen_capture(g, who, cap, v);
    r->face = calloc(1, sizeof *r->face);
    r->face->format = "f32";
    r->face->data = malloc(DIM * 4);
    r->face->len = DIM * 4;
    sbms_face_to_f32(v, DIM, r->face->data);
}

static void free_rec(rec_person *r) {
    free(r->id);
    for (size_t i = 0; i < r->n_fingers; i++) free(r->fingers[i].tpl.data);
    free(r->fingers);
    if (r->face) { free(r->face->data); free(r->face); }
}

/* Persons whose enrolment fingers pass the quality check (the generator makes some that
 * do not, as real captures do; those are rejected by sbms_check). */
static bool enrollable(uint64_t who) {
    iop_fp_finger f;
    for (int i = 1; i <= NFP; i++) {
        iop_fp_gen_finger(SEED, who, 0, (uint8_t)i, NULL, &f);
        if (iop_fp_quality_check(&f, NULL, NULL) != IOP_OK) return false;
    }
    return true;
}

static int calibrate(void) {
    iop_err e;
    sbms_calib c;
    iop_buf b;
    iop_buf_init(&b);
    if (sbms_calib_synthetic(SBMS_MOD_FACE, 512, 5000, &c, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    sbms_calib_to_json(&c, &b);
    printf("face   %s\n", b.data);
    iop_buf_reset(&b);
    if (sbms_calib_synthetic(SBMS_MOD_FINGER, 0, 2000, &c, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    sbms_calib_to_json(&c, &b);
    printf("finger %s\n", b.data);
    iop_buf_free(&b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--calibrate")) return calibrate();
    bool small = getenv("IOP_BENCH_SCALE") && !strcmp(getenv("IOP_BENCH_SCALE"), "small");
    size_t N = small ? 5000 : 100000, Q = small ? 20 : 100;
    if (getenv("IOP_SBMS_BENCH_N")) N = strtoul(getenv("IOP_SBMS_BENCH_N"), NULL, 10);
    bool verbose = getenv("IOP_SBMS_BENCH_VERBOSE") != NULL;
    if (getenv("IOP_SBMS_BENCH_Q")) Q = strtoul(getenv("IOP_SBMS_BENCH_Q"), NULL, 10);
    char dir[] = "/tmp/bench_sbms_XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    iop_err e;
    sbms_face_gen_params gp;
    sbms_face_gen_defaults(&gp, DIM);
    sbms_face_gen *g = NULL;
    if (sbms_face_gen_new(&gp, SEED, &g, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    sbms *s = NULL;
    if (sbms_open(dir, STORE_CREATE, NULL, &s, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    printf("sBMS bench: %zu records (%d fingers + a %d-d face each), %zu probes per mode, store %s\n", N, NFP, DIM, Q,
           dir);

    /* enrolment */
    enum { B = 1000 };
    rec_person *batch = calloc(B, sizeof *batch);
    uint64_t *who = malloc(N * sizeof *who);
    double t_enrol = 0, c_enrol = 0;
    uint64_t next = 0;
    for (size_t done = 0; done < N;) {
        size_t m = N - done < B ? N - done : B;
        for (size_t i = 0; i < m; i++) {
            while (!enrollable(next)) next++;
            who[done + i] = next;
            char id[32];
            snprintf(id, sizeof id, "R-%zu", done + i);
            make_rec(g, &batch[i], id, next++, 0);
        }
        uint64_t t0 = iop_mono_ns();
        double c0 = cpu_s();
        if (sbms_enrol(s, batch, m, &e)) { fprintf(stderr, "enrol: %s\n", e.msg); return 1; }
        t_enrol += (double)(iop_mono_ns() - t0) / 1e9;
        c_enrol += cpu_s() - c0;
        for (size_t i = 0; i < m; i++) free_rec(&batch[i]);
        done += m;
    }
    sbms_stats st;
    sbms_get_stats(s, &st);
    printf("enrolment: %zu records in %.2f s = %.0f records/s wall, %.0f records/s per CPU second (batches of %d; "
           "%zu fingers, %zu faces, %.1f MiB in memory)\n",
           N, t_enrol, N / t_enrol, N / c_enrol, B, st.fingers, st.faces, st.memory_bytes / 1048576.0);
    sbms_close(s);

    /* rebuild */
    uint64_t t0 = iop_mono_ns();
    double c0 = cpu_s();
    sbms_config cfg = {0};
    if (getenv("IOP_SBMS_BENCH_SHORTLIST")) cfg.fp_shortlist = strtoul(getenv("IOP_SBMS_BENCH_SHORTLIST"), NULL, 10);
    if (sbms_open(dir, 0, &cfg, &s, &e)) { fprintf(stderr, "reopen: %s\n", e.msg); return 1; }
    double t_open = (double)(iop_mono_ns() - t0) / 1e9, c_open = cpu_s() - c0;
    double per_m = t_open / N * 1e6, cpu_m = c_open / N * 1e6;
    printf("rebuild at open: %zu records in %.2f s wall (%.2f s CPU) = %.0f records/s; 1,000,000 records: %.1f s wall, "
           "%.1f s CPU (target <= 60 s, ratio %.2f wall, %.2f CPU)\n",
           N, t_open, c_open, N / t_open, per_m, cpu_m, per_m / 60.0, cpu_m / 60.0);

    /* searches */
    const iop_system sys[] = {IOP_SYS_SIS, IOP_SYS_VIS, IOP_SYS_EURODAC, IOP_SYS_EES, IOP_SYS_ECRIS_TCN};
    const char *mode_name[3] = {"fingerprints", "face", "fused"};
    double *lat = malloc(Q * sizeof *lat), *clat = malloc(Q * sizeof *clat);
    for (int mode = 0; mode < 3; mode++) {
        size_t rank1 = 0;
        for (size_t q = 0; q < Q; q++) {
            size_t idx = (size_t)((q * 7919u + 13) % N);
            rec_person p;
            make_rec(g, &p, "probe", who[idx], 1);
            sbms_probe pr = {.fingers = mode != 1 ? p.fingers : NULL, .n_fingers = mode != 1 ? p.n_fingers : 0,
                             .face = mode != 0 ? p.face : NULL};
            sbms_hit hits[10];
            size_t n = 0;
            uint64_t a = iop_mono_ns();
            double ca = cpu_s();
            if (sbms_search(s, &pr, sys, 5, 10, 0.0, hits, &n, &e)) { fprintf(stderr, "search: %s\n", e.msg); return 1; }
            lat[q] = (double)(iop_mono_ns() - a) / 1e6;
            clat[q] = (cpu_s() - ca) * 1e3;
            char want[32];
            snprintf(want, sizeof want, "R-%zu", idx);
            if (n && !strcmp(hits[0].record_id, want)) rank1++;
            else if (verbose) {
                printf("  miss %s (%s):", want, mode_name[mode]);
                for (size_t i = 0; i < n && i < 3; i++)
                    printf(" [%s llr %.2f fp %.4f face %.3f fingers %d]", hits[i].record_id, hits[i].llr, hits[i].fp_score,
                           hits[i].face_score, hits[i].fingers_matched);
                printf("\n");
            }
            free_rec(&p);
        }
        double p50 = pct(lat, Q, 0.5), p99 = pct(lat, Q, 0.99), c50 = pct(clat, Q, 0.5), c99 = pct(clat, Q, 0.99);
        printf("search %-12s wall p50 %.1f ms, p99 %.1f ms; CPU p50 %.1f ms, p99 %.1f ms (target p99 <= 1000 ms, ratio "
               "%.3f wall, %.3f CPU); rank-1 %.1f%% of %zu mated probes\n",
               mode_name[mode], p50, p99, c50, c99, p99 / 1000.0, c99 / 1000.0, 100.0 * rank1 / Q, Q);
    }
    free(lat);
    free(clat);
    sbms_close(s);
    free(batch);
    free(who);
    sbms_face_gen_free(g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
