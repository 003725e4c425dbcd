/* bench-links: gen record esp */
/*
 * bench_json.c -- cost of the record parser on the hot paths of the core (issue 2):
 * rec_parse per record (target <= 8 us CPU, from 40-60 us with jansson), the JSON
 * parser alone (iop_json against jansson on the same lines) and the portal's reply
 * filter esp_filter_json per hit.
 *
 * Records: every line of DIR/<system>.jsonl, DIR = $IOP_BENCH_POP when set (e.g. the
 * output of `build/interop gen --persons 20000 --seed 1 --out /tmp/jsonpop`), else a
 * population generated here (20,000 persons; 2,000 with IOP_BENCH_SCALE=small) in
 * $IOP_BENCH_TMP (default /tmp) and removed afterwards.  Figures are CPU time
 * (CLOCK_PROCESS_CPUTIME_ID), the median of 5 passes (3 when small); wall time beside.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "esp/esp_internal.h"
#include "interop/gen.h"
#include "interop/json.h"
#include "interop/record.h"

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct lines {
    char *text;               /* all files, one after the other */
    size_t *off, *len, n, cap;
    size_t bytes;
} lines;

static int add_file(lines *L, iop_buf *all, const char *path) {
    char *data;
    size_t len;
    iop_err e;
    if (iop_read_file(path, &data, &len, &e)) return 0; /* a system without records */
    size_t base = all->len;
    if (iop_buf_append(all, data, len)) { free(data); return -1; }
    for (size_t s = 0; s < len;) {
        char *nl = memchr(data + s, '\n', len - s);
        size_t e2 = nl ? (size_t)(nl - data) : len;
        if (e2 > s) {
            if (L->n == L->cap) {
                L->cap = L->cap ? L->cap * 2 : 4096;
                L->off = realloc(L->off, L->cap * sizeof *L->off);
                L->len = realloc(L->len, L->cap * sizeof *L->len);
                if (!L->off || !L->len) { free(data); return -1; }
            }
            L->off[L->n] = base + s;
            L->len[L->n] = e2 - s;
            L->n++;
            L->bytes += e2 - s;
        }
        s = e2 + 1;
    }
    free(data);
    return 0;
}

typedef struct fig { double cpu, wall; } fig;

static fig median(fig *f, int n) {
    double c[8], w[8];
    for (int i = 0; i < n; i++) { c[i] = f[i].cpu; w[i] = f[i].wall; }
    qsort(c, (size_t)n, sizeof *c, cmp_d);
    qsort(w, (size_t)n, sizeof *w, cmp_d);
    return (fig){c[n / 2], w[n / 2]};
}

int main(void) {
    const char *scale = getenv("IOP_BENCH_SCALE");
    bool small = scale && !strcmp(scale, "small");
    int reps = small ? 3 : 5;
    const char *pop = getenv("IOP_BENCH_POP");
    char dir[1024];
    bool generated = false;
    iop_err e;
    if (pop && *pop) snprintf(dir, sizeof dir, "%s", pop);
    else {
        const char *tmp = getenv("IOP_BENCH_TMP");
        snprintf(dir, sizeof dir, "%s/bench-json-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
        gen_params p;
        gen_params_default(&p);
        p.persons = small ? 2000 : 20000;
        p.seed = 1;
        p.out_dir = dir;
        p.data_dir = IOP_SHARED_DATA;
        if (gen_run(&p, NULL, &e)) { fprintf(stderr, "bench_json: %s\n", e.msg); return 1; }
        generated = true;
    }
    lines L = {0};
    iop_buf all;
    iop_buf_init(&all);
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, iop_system_name((iop_system)s));
        if (add_file(&L, &all, path)) { fprintf(stderr, "bench_json: out of memory\n"); return 1; }
    }
    L.text = all.data;
    if (!L.n) { fprintf(stderr, "bench_json: no records in %s\n", dir); return 1; }
    printf("records: %zu lines, %.1f MB, %.0f bytes per line (%s)\n", L.n, (double)L.bytes / 1e6,
           (double)L.bytes / (double)L.n, dir);

    /* 1. rec_parse, the whole record (biometrics decoded) */
    fig f[8];
    size_t bad = 0;
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_s();
        uint64_t t0 = iop_mono_ns();
        for (size_t i = 0; i < L.n; i++) {
            rec_person p;
            if (rec_parse(L.text + L.off[i], L.len[i], &p, &e)) { bad++; continue; }
            rec_person_clear(&p);
        }
        f[r] = (fig){cpu_s() - c0, (double)(iop_mono_ns() - t0) / 1e9};
    }
    if (bad) { fprintf(stderr, "bench_json: %zu records did not parse: %s\n", bad / (size_t)reps, e.msg); return 1; }
    fig m = median(f, reps);
    double us = m.cpu * 1e6 / (double)L.n;
    printf("rec_parse: %.2f us CPU per record (%.2f us wall), %.0f records/s CPU (target <= 8 us, ratio %.2f)\n", us,
           m.wall * 1e6 / (double)L.n, (double)L.n / m.cpu, us / 8.0);

    /* 2. the JSON parser alone: iop_json (one parser, arena reused) and jansson */
    iop_json_parser *jp = iop_json_parser_new();
    if (!jp) return 1;
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_s();
        uint64_t t0 = iop_mono_ns();
        for (size_t i = 0; i < L.n; i++) {
            const iop_json *root;
            if (iop_json_parse(jp, L.text + L.off[i], L.len[i], 0, &root, &e)) bad++;
        }
        f[r] = (fig){cpu_s() - c0, (double)(iop_mono_ns() - t0) / 1e9};
    }
    fig mj = median(f, reps);
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_s();
        uint64_t t0 = iop_mono_ns();
        for (size_t i = 0; i < L.n; i++) {
            json_error_t je;
            json_t *j = json_loadb(L.text + L.off[i], L.len[i], JSON_REJECT_DUPLICATES, &je);
            if (!j) bad++;
            json_decref(j);
        }
        f[r] = (fig){cpu_s() - c0, (double)(iop_mono_ns() - t0) / 1e9};
    }
    fig mk = median(f, reps);
    if (bad) { fprintf(stderr, "bench_json: %zu lines did not parse\n", bad); return 1; }
    printf("JSON parse only: iop_json %.2f us CPU per line (%.0f MB/s), jansson %.2f us (%.0f MB/s), ratio %.2f\n",
           mj.cpu * 1e6 / (double)L.n, (double)L.bytes / mj.cpu / 1e6, mk.cpu * 1e6 / (double)L.n,
           (double)L.bytes / mk.cpu / 1e6, mj.cpu / mk.cpu);

    /* 3. esp_filter_json per hit: the stored body (record without biometrics) reduced to
     * what the police profile may see */
    esp_profiles *profs;
    char ppath[1200];
    const char *src = __FILE__, *slash = strrchr(src, '/'); /* <source>/bench/bench_json.c */
    snprintf(ppath, sizeof ppath, "%.*s/../etc/profiles.json", slash ? (int)(slash - src) : 1, slash ? src : ".");
    if (esp_profiles_load(ppath, &profs, &e)) { fprintf(stderr, "bench_json: %s\n", e.msg); return 1; }
    const esp_profile *police = esp_profile_find(profs, "police");
    size_t nb = L.n < 20000 ? L.n : 20000;
    char **bodies = calloc(nb, sizeof *bodies);
    iop_system *sys = calloc(nb, sizeof *sys);
    if (!bodies || !sys || !police) return 1;
    for (size_t i = 0; i < nb; i++) {
        rec_person p;
        iop_buf b;
        iop_buf_init(&b);
        if (rec_parse(L.text + L.off[i * (L.n / nb)], L.len[i * (L.n / nb)], &p, &e) || rec_to_json(&p, false, &b))
            return 1;
        sys[i] = p.system;
        bodies[i] = iop_buf_steal(&b);
        rec_person_clear(&p);
    }
    iop_buf out;
    iop_buf_init(&out);
    size_t out_bytes = 0;
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_s();
        uint64_t t0 = iop_mono_ns();
        out_bytes = 0;
        for (size_t i = 0; i < nb; i++) {
            iop_buf_reset(&out);
            if (esp_filter_json(police, sys[i], bodies[i], &out, &e)) bad++;
            out_bytes += out.len;
        }
        f[r] = (fig){cpu_s() - c0, (double)(iop_mono_ns() - t0) / 1e9};
    }
    fig mf = median(f, reps);
    if (bad) { fprintf(stderr, "bench_json: esp_filter_json failed: %s\n", e.msg); return 1; }
    printf("esp_filter_json (police profile): %.2f us CPU per hit (%.2f us wall), %.0f bytes out per hit\n",
           mf.cpu * 1e6 / (double)nb, mf.wall * 1e6 / (double)nb, (double)out_bytes / (double)nb);

    for (size_t i = 0; i < nb; i++) free(bodies[i]);
    free(bodies);
    free(sys);
    iop_buf_free(&out);
    esp_profiles_free(profs);
    iop_json_parser_free(jp);
    free(L.off);
    free(L.len);
    iop_buf_free(&all);
    if (generated) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_json: could not remove %s\n", dir);
    }
    return 0;
}
