/* bench-links: sbms_fp */
/*
 * bench_fp.c -- speed and 1:N figures of the fingerprint matcher (shared biometric
 * matching service, issue 4), printed with their anchors:
 *   - full matcher 1:1 comparisons per second on the FVC2002 templates (one core);
 *     anchor: NIST bozorth3 231 us per comparison (4,300/s per core);
 *   - first-stage fingers compared per second per core (target >= 1,000,000/s): the
 *     gallery fingers of the search divided by the CPU time of the first stage (the
 *     screen of every finger plus the pair voting of those it passes), per search, the
 *     median over the searches (with the 10th-90th percentile range); the two parts
 *     separately, the share of the gallery the screen passes, and the code paths the
 *     processor runs; the earlier fixed-length pair code as a baseline;
 *   - the screen alone on the real FVC2002 templates: for each template, the rank of its
 *     best mate among the other fingers' templates of its database;
 *   - 1:N identification over a generated gallery (default 1,000,000 fingers; with
 *     IOP_BENCH_SCALE=small 20,000), built by bulk adds on 2 threads: median / p90 time
 *     per probe, wall and CPU (target < 1 s), rank-1 of the staged search against
 *     what the exhaustive full matcher can reach (the mate's own full score above every
 *     impostor the search found), the first-stage rank of the mate, and on a
 *     sub-gallery of 2,000 (1,000 small) the rank-1 rate of the exhaustive full matcher
 *     against the staged search on the same probes;
 *   - bytes per stored finger (target <= 1 KiB).
 * Environment: IOP_BENCH_SCALE=small, IOP_FP_BENCH_N (gallery size), IOP_FP_BENCH_Q
 * (probes), IOP_FP_BENCH_THREADS (threads per search, default 2), IOP_FP_BENCH_SHORTLIST,
 * IOP_FP_BENCH_PRESCREEN (default 10,000; 2,000 at small scale, so that the screen runs on
 * the 20,000 fingers), IOP_FP_BENCH_KEEP (the screen's share, e.g. 0.3; 1 = no screen).
 * Each probe is also searched as a larger capture (its minutiae and two other fingers'
 * beside them): the screen's cost per gallery finger for it and whether it passes the mate.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "interop/sbms_fp.h"
#include "sbms/fingerprint/fp_index.h"
#include "sbms/fingerprint/fp_screen.h"

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

/* The screen alone on the FVC2002 templates (10 fingers x 8 impressions per database):
 * each template is a probe against the 79 others of its database, with the bit
 * statistics of those 80; the rank of its best mate = the templates of other fingers
 * scoring strictly above it, as a share of the 72 other-finger templates. */
static void bench_screen_fvc(void) {
    const char *dbs[] = {"DB1_B", "DB2_B", "DB3_B", "DB4_B"};
    size_t probes = 0, in10 = 0, in30 = 0, in50 = 0, pairs = 0, pairs30 = 0;
    double worst = 0;
    for (int d = 0; d < 4; d++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/fingerprints/fvc2002/%s", IOP_SHARED_DATA, dbs[d]);
        DIR *dh = opendir(dir);
        if (!dh) continue;
        static fps_code code[MAXT];
        static uint16_t pop[MAXT];
        int fid[MAXT];
        size_t n = 0;
        struct dirent *de;
        static iop_fp_finger f;
        fp_point pt[IOP_FP_MAX_MINUTIAE];
        while ((de = readdir(dh)) && n < MAXT) {
            if (de->d_name[0] == '.') continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            char *data;
            size_t len;
            if (iop_read_file(path, &data, &len, NULL)) continue;
            iop_fp_template t;
            if (iop_fp_parse((const uint8_t *)data, len, IOP_FP_AUTO, &t, NULL) == IOP_OK) {
                f = t.fingers[0];
                fps_code_make(pt, fp_normalise(&f, pt), &code[n]);
                pop[n] = (uint16_t)fps_code_pop(&code[n]);
                fid[n] = atoi(de->d_name);
                n++;
                iop_fp_template_free(&t);
            }
            free(data);
        }
        closedir(dh);
        uint32_t count[FPS_BITS] = {0};
        for (size_t i = 0; i < n; i++)
            for (int b = 0; b < FPS_BITS; b++) count[b] += (uint32_t)(code[i].w[b >> 6] >> (b & 63) & 1);
        int16_t sc[MAXT];
        for (size_t i = 0; i < n; i++) {
            fps_query q;
            fps_query_init(&q, &code[i], count, n);
            fps_score_batch(&q, code, pop, n, -1, sc);
            int best = INT16_MIN;
            size_t others = 0;
            for (size_t j = 0; j < n; j++)
                if (j != i && fid[j] == fid[i] && sc[j] > best) best = sc[j];
            size_t above = 0;
            for (size_t j = 0; j < n; j++) {
                if (fid[j] == fid[i]) continue;
                others++;
                above += sc[j] > best;
            }
            /* every genuine pair: the share of other-finger templates above it */
            for (size_t j = 0; j < n; j++) {
                if (j == i || fid[j] != fid[i]) continue;
                size_t ab = 0;
                for (size_t k = 0; k < n; k++) ab += fid[k] != fid[i] && sc[k] > sc[j];
                pairs++;
                pairs30 += (double)ab < 0.3 * (double)others;
            }
            double r = others ? (double)above / (double)others : 0;
            if (r > worst) worst = r;
            probes++;
            in10 += r < 0.1;
            in30 += r < 0.3;
            in50 += r < 0.5;
        }
    }
    if (!probes) { printf("screen on FVC2002: templates not found under %s\n", IOP_SHARED_DATA); return; }
    printf("screen alone on the FVC2002 templates (%zu probes, each against the other 79 of its database): best mate "
           "within the best 10 %% of the other fingers %.1f %%, 30 %% %.1f %%, 50 %% %.1f %% (worst %.0f %%); genuine "
           "pairs within the best 30 %% %.1f %% of %zu\n",
           probes, 100.0 * in10 / probes, 100.0 * in30 / probes, 100.0 * in50 / probes, 100.0 * worst,
           100.0 * pairs30 / pairs, pairs);
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
    double rounds[3];
    volatile double sink = 0;
    for (int r = 0; r < 3; r++) {
        uint64_t s = cpu_ns();
        for (size_t i = 0; i < n; i++) sink += iop_fp_code_similarity(&probe, &codes[i]);
        rounds[r] = (double)(cpu_ns() - s) / 1e9;
    }
    qsort(rounds, 3, sizeof rounds[0], cmp_dbl);
    double rate = (double)n / rounds[1];
    printf("baseline pair code (earlier first stage): %.0f code comparisons/s per core over %zu codes\n", rate, n);
    free(codes);
    free(f);
    (void)sink;
}

#define CHUNK 4096

/* enrols identities [0, n) (impression 0) in g with bulk adds on `threads` threads;
 * returns the number of records stored */
static size_t build(iop_fp_gallery *g, size_t n, int threads, double *wall_s, double *cpu_s) {
    iop_fp_template *t = calloc(CHUNK, sizeof *t);
    iop_fp_finger *f = malloc(CHUNK * sizeof *f);
    iop_fp_ref *refs = malloc(CHUNK * sizeof *refs);
    size_t added = 0;
    *wall_s = *cpu_s = 0;
    if (!t || !f || !refs) { free(t); free(f); free(refs); return 0; }
    for (size_t base = 0; base < n; base += CHUNK) {
        size_t m = n - base < CHUNK ? n - base : CHUNK;
        for (size_t i = 0; i < m; i++) {
            iop_fp_gen_finger(11, base + i, 0, 0, NULL, &f[i]);
            t[i] = (iop_fp_template){.format = IOP_FP_ISO2005, .n_fingers = 1, .fingers = &f[i]};
            /* record key = identity; system 1 + i % 5 (five connected systems) */
            refs[i] = (iop_fp_ref){(uint8_t)(1 + (base + i) % 5), base + i};
        }
        uint64_t w0 = iop_mono_ns(), c0 = proc_cpu_ns();
        size_t a = 0;
        iop_fp_gallery_add_bulk(g, m, refs, t, threads, NULL, &a, NULL);
        *wall_s += (double)(iop_mono_ns() - w0) / 1e9;
        *cpu_s += (double)(proc_cpu_ns() - c0) / 1e9;
        added += a;
    }
    free(t);
    free(f);
    free(refs);
    return added;
}

/* A larger capture of the same finger (a rolled print, a bigger sensor): the probe's
 * minutiae and, beside them, those of two other fingers 260 px to the right and below. */
static void widen(iop_fp_finger *f, uint64_t id, iop_fp_finger *x) {
    if (!f->n) return;
    double cx = 0, cy = 0;
    for (int i = 0; i < f->n; i++) { cx += f->m[i].x; cy += f->m[i].y; }
    cx /= f->n;
    cy /= f->n;
    static const double off[2][2] = {{260, 0}, {0, 260}};
    for (int e = 0; e < 2; e++) {
        iop_fp_gen_finger(99, id * 2 + (uint64_t)e, 2, 0, NULL, x);
        if (!x->n) continue;
        double ax = 0, ay = 0;
        for (int i = 0; i < x->n; i++) { ax += x->m[i].x; ay += x->m[i].y; }
        ax /= x->n;
        ay /= x->n;
        for (int i = 0; i < x->n && f->n < IOP_FP_MAX_MINUTIAE; i++) {
            iop_fp_minutia m = x->m[i];
            m.x = (float)(m.x - ax + cx + off[e][0]);
            m.y = (float)(m.y - ay + cy + off[e][1]);
            f->m[f->n++] = m;
        }
    }
    f->width = f->height = 1000;
}

static void bench_1toN(size_t n, size_t q, size_t sub, int threads, size_t prescreen) {
    const char *keep = getenv("IOP_FP_BENCH_KEEP");
    iop_fp_gallery_opts o = {.shortlist = env_size("IOP_FP_BENCH_SHORTLIST", 0), .threads = threads,
                             .prescreen = env_size("IOP_FP_BENCH_PRESCREEN", prescreen),
                             .screen_keep = keep && *keep ? strtod(keep, NULL) : 0};
    iop_fp_gallery *g, *gs;
    if (iop_fp_gallery_new(&o, &g, NULL) || iop_fp_gallery_new(&o, &gs, NULL)) return;
    double bw, bc, sw, sc;
    size_t added = build(g, n, threads, &bw, &bc);
    build(gs, sub < n ? sub : n, threads, &sw, &sc);
    printf("1:N gallery: %zu fingers enrolled of %zu generated, bulk add on %d threads: %.1f s wall, %.1f s CPU "
           "(%.1f us CPU per finger); %zu bytes per finger (target <= 1024, ratio %.2f)\n",
           added, n, threads, bw, bc, bc * 1e6 / (double)(n ? n : 1), iop_fp_gallery_bytes(g),
           (double)iop_fp_gallery_bytes(g) / 1024.0);
    double *lat = malloc(q * sizeof *lat), *cpu = malloc(q * sizeof *cpu), *fs = malloc(q * sizeof *fs);
    double *c1 = malloc(q * sizeof *c1), *c2 = malloc(q * sizeof *c2), *c3 = malloc(q * sizeof *c3);
    double *cs = malloc(q * sizeof *cs), *sp = malloc(q * sizeof *sp), *vp = malloc(q * sizeof *vp);
    double *share = malloc(q * sizeof *share);
    size_t *frank = malloc(q * sizeof *frank);
    double *spl = malloc(q * sizeof *spl);   /* screen CPU per gallery finger, large probes */
    size_t screen_runs = 0, large_n = 0, large_kept = 0, plain_kept = 0;
    iop_fp_finger *xf = malloc(sizeof *xf);
    size_t top1 = 0, inlist = 0, bound = 0, losses = 0, sub_top1_two = 0, sub_top1_full = 0, nq = 0;
    size_t scanned = 0, pres = 0, shortl = 0;
    iop_fp_candidate cand[10], mc[1];
    iop_fp_template t = {.format = IOP_FP_ISO2005, .n_fingers = 1, .fingers = malloc(sizeof(iop_fp_finger))};
    iop_fp_finger *mf = malloc(sizeof *mf);
    if (!lat || !cpu || !fs || !c1 || !c2 || !c3 || !cs || !sp || !vp || !share || !frank || !t.fingers || !mf ||
        !spl || !xf)
        goto done;
    for (size_t k = 0; k < q; k++) {
        uint64_t id = (k * 7919 + 13) % (sub < n ? sub : n); /* mates inside the sub-gallery */
        iop_fp_ref mref = {(uint8_t)(1 + id % 5), id};
        iop_fp_gen_finger(11, id, 1 + (uint32_t)(k % 7), 0, NULL, &t.fingers[0]);
        if (iop_fp_quality_check(&t.fingers[0], NULL, NULL)) continue;
        size_t nc;
        iop_fp_search_stats st;
        uint64_t s = iop_mono_ns(), c0 = proc_cpu_ns();
        if (iop_fp_gallery_search_ex(g, &t, 10, 0, cand, &nc, &st, NULL)) continue;
        cpu[nq] = (double)(proc_cpu_ns() - c0) / 1e6;
        lat[nq] = (double)(iop_mono_ns() - s) / 1e6;
        /* first stage: screen + voting of the fingers it passed, per gallery finger */
        fs[nq] = st.scanned ? (double)(st.screen_cpu_ns + st.first_cpu_ns) / (double)st.scanned : 0;
        sp[nq] = st.scanned ? (double)st.screen_cpu_ns / (double)st.scanned : 0;  /* per gallery finger */
        vp[nq] = st.screened ? (double)st.first_cpu_ns / (double)st.screened : 0; /* per voted finger */
        share[nq] = st.scanned ? (double)st.screened / (double)st.scanned : 0;
        cs[nq] = (double)st.screen_cpu_ns / 1e6;
        c1[nq] = (double)st.first_cpu_ns / 1e6;
        c2[nq] = (double)st.second_cpu_ns / 1e6;
        c3[nq] = (double)st.full_cpu_ns / 1e6;
        scanned = st.scanned;
        pres = st.prescreened;
        shortl = st.shortlisted;
        bool first = nc && cand[0].ref.key == id;
        if (first) top1++;
        for (size_t c = 0; c < nc; c++) if (cand[c].ref.key == id) { inlist++; break; }
        /* the mate's own full-matcher score (its stored form, alone in a gallery) */
        double mate_full = -1, top_impostor = -1;
        iop_fp_gallery *one;
        if (iop_fp_gallery_new(NULL, &one, NULL) == IOP_OK) {
            iop_fp_gen_finger(11, id, 0, 0, NULL, mf);
            iop_fp_template mt = {.format = IOP_FP_ISO2005, .n_fingers = 1, .fingers = mf};
            size_t n1;
            if (iop_fp_gallery_add(one, mref, &mt, NULL) == IOP_OK &&
                iop_fp_gallery_search_exhaustive(one, &t, 1, 0, mc, &n1, NULL) == IOP_OK && n1)
                mate_full = mc[0].score;
            iop_fp_gallery_free(one);
        }
        for (size_t c = 0; c < nc; c++)
            if (cand[c].ref.key != id) { top_impostor = cand[c].score; break; }
        /* the exhaustive full matcher cannot rank the mate first when an impostor the
           two-stage search found already scores above it */
        bool full_first = mate_full > top_impostor;
        if (full_first) bound++;
        if (full_first && !first) losses++;
        screen_runs += st.screen_cpu_ns > 0;
        frank[nq] = SIZE_MAX;
        iop_fp_gallery_first_stage_rank(g, &t, 0, mref, &frank[nq], NULL);
        /* the same probe in a larger capture: the screen's cost and whether it passes the mate */
        if (st.screen_cpu_ns > 0) {
            plain_kept += frank[nq] != SIZE_MAX;
            iop_fp_finger keep_f = t.fingers[0];
            widen(&t.fingers[0], id, xf);
            iop_fp_search_stats sl;
            size_t lrank = SIZE_MAX;
            if (iop_fp_gallery_search_ex(g, &t, 10, 0, cand, &nc, &sl, NULL) == IOP_OK && sl.scanned &&
                iop_fp_gallery_first_stage_rank(g, &t, 0, mref, &lrank, NULL) == IOP_OK) {
                spl[large_n++] = (double)sl.screen_cpu_ns / (double)sl.scanned;
                large_kept += lrank != SIZE_MAX;
            }
            t.fingers[0] = keep_f;
        }
        nq++;
        if (iop_fp_gallery_search(gs, &t, 1, 0, cand, &nc, NULL) == IOP_OK && nc && cand[0].ref.key == id)
            sub_top1_two++;
        if (iop_fp_gallery_search_exhaustive(gs, &t, 1, 0, cand, &nc, NULL) == IOP_OK && nc &&
            cand[0].ref.key == id)
            sub_top1_full++;
    }
    if (nq) {
        qsort(lat, nq, sizeof *lat, cmp_dbl);
        qsort(cpu, nq, sizeof *cpu, cmp_dbl);
        qsort(fs, nq, sizeof *fs, cmp_dbl);
        qsort(c1, nq, sizeof *c1, cmp_dbl);
        qsort(cs, nq, sizeof *cs, cmp_dbl);
        qsort(sp, nq, sizeof *sp, cmp_dbl);
        qsort(vp, nq, sizeof *vp, cmp_dbl);
        qsort(share, nq, sizeof *share, cmp_dbl);
        qsort(c2, nq, sizeof *c2, cmp_dbl);
        qsort(c3, nq, sizeof *c3, cmp_dbl);
        size_t in200 = 0, in1000 = 0, in10000 = 0;
        for (size_t i = 0; i < nq; i++) {
            in200 += frank[i] < 200;
            in1000 += frank[i] < 1000;
            in10000 += frank[i] < 10000;
        }
        static const char *const paths[] = {"portable C", "SSE2", "AVX2"};
        static const char *const spaths[] = {"portable C", "POPCNT", "AVX2"};
        fpx_scratch *scr = fpx_scratch_new();
        int path = scr ? fpx_scratch_path(scr, -1) : 0;
        fpx_scratch_free(scr);
        char sname[64];
        if (screen_runs) snprintf(sname, sizeof sname, "screen %s", spaths[fps_path(-1)]);
        else snprintf(sname, sizeof sname, "screen not run: gallery <= 5 x prescreen %zu, or keep 1", o.prescreen);
        printf("first stage (%s + pair voting %s): %.0f fingers/s per core, median of %zu searches over %zu "
               "fingers (p10-p90 %.0f-%.0f/s; %.0f ns CPU per gallery finger; target >= 1,000,000/s, ratio %.2f)\n",
               sname, paths[path], 1e9 / fs[nq / 2], nq, scanned, 1e9 / fs[(size_t)((double)nq * 0.9)],
               1e9 / fs[(size_t)((double)nq * 0.1)], fs[nq / 2], 1e9 / fs[nq / 2] / 1e6);
        printf("  its parts (medians): screen %.1f ns CPU per gallery finger (%.1f ms per search); pair voting %.0f ns "
               "CPU per finger voted (%.1f ms per search); share of the gallery voted %.1f %% (p10-p90 %.1f-%.1f %%)\n",
               sp[nq / 2], cs[nq / 2], vp[nq / 2], c1[nq / 2], 100.0 * share[nq / 2],
               100.0 * share[(size_t)((double)nq * 0.1)], 100.0 * share[(size_t)((double)nq * 0.9)]);
        if (large_n) {
            qsort(spl, large_n, sizeof *spl, cmp_dbl);
            printf("  larger captures (the probe plus two other fingers' minutiae beside it, screened by windows): "
                   "screen %.1f ns CPU per gallery finger (median, %.1f x a plain probe's); the screen passes the "
                   "mate for %zu of %zu (plain captures: %zu of %zu)\n",
                   spl[large_n / 2], spl[large_n / 2] / (sp[nq / 2] > 0 ? sp[nq / 2] : 1), large_kept, large_n,
                   plain_kept, large_n);
        }
        printf("1:N search over %zu fingers, %d threads: median %.1f ms wall (p90 %.1f ms), median %.1f ms CPU "
               "= %.1f ms on %d idle cores (target < 1000 ms, ratio %.3f)\n",
               scanned, threads, lat[nq / 2], lat[(size_t)((double)nq * 0.9)], cpu[nq / 2], cpu[nq / 2] / threads,
               threads, cpu[nq / 2] / threads / 1000.0);
        printf("  CPU per stage (medians): screen %.1f ms, pair voting %.1f ms, minutia pairing of the %zu best %.1f ms, full matcher "
               "on %zu fingers %.1f ms\n", cs[nq / 2], c1[nq / 2], pres, c2[nq / 2], shortl, c3[nq / 2]);
        printf("1:N rank-1 over %zu fingers: staged search %.1f %%, mate in top 10 %.1f %%; exhaustive full matcher at most "
               "%.1f %% (mate's full score above every impostor found); losses to the first stages %zu of %zu probes\n",
               scanned, 100.0 * top1 / nq, 100.0 * inlist / nq, 100.0 * bound / nq, losses, nq);
        printf("first-stage rank of the mate: within 200 %.1f %%, 1,000 %.1f %%, 10,000 %.1f %% of %zu probes\n",
               100.0 * in200 / nq, 100.0 * in1000 / nq, 100.0 * in10000 / nq, nq);
        printf("1:N on a %zu-finger sub-gallery, same probes: rank-1 staged search %.1f %% vs exhaustive full matcher "
               "%.1f %%\n", sub < n ? sub : n, 100.0 * sub_top1_two / nq, 100.0 * sub_top1_full / nq);
    }
done:
    free(lat);
    free(cpu);
    free(fs);
    free(c1);
    free(c2);
    free(c3);
    free(cs);
    free(sp);
    free(vp);
    free(share);
    free(frank);
    free(spl);
    free(xf);
    free(mf);
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
    double la[3] = {0, 0, 0};
    getloadavg(la, 3);
    printf("== fingerprints (sBMS): %s scale (load average %.2f %.2f %.2f)\n", small ? "small" : "full", la[0], la[1],
           la[2]);
    bench_1to1();
    bench_codes(small ? 100000 : 200000);
    bench_screen_fvc();
    /* at small scale a lower prescreen, so that the screen runs (it runs on galleries of
       more than 5 x prescreen fingers) */
    bench_1toN(n, q, sub, threads, small ? 2000 : 0);
    getloadavg(la, 3);
    printf("load average at the end: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
    return 0;
}
