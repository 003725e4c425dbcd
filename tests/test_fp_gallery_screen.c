/* test-links: sbms_fp */
/*
 * test_fp_gallery_screen.c -- the screen in front of the pair voting in the 1:N first
 * stage of the sBMS fingerprint gallery (Reg. (EU) 2019/817 Arts 13-14: a search checks
 * a new record against every stored one, so the first stage must be cheap per finger
 * and must not lose the mate): it passes the mate, drops most strangers, scores the
 * same on every code path, and the gallery's search and first-stage rank apply it.
 */
#include <math.h>
#include "interop/sbms_fp.h"
#include "sbms/fingerprint/fp_screen.h"
#include "test.h"

#define NSTORED 400

/* the screen code of impression imp of finger `person` (generated, position 0) */
static void code_of(uint64_t person, uint32_t imp, iop_fp_finger *f, fp_point *pt, fps_code *c) {
    iop_fp_gen_finger(2024, person, imp, 0, NULL, f);
    fps_code_make(pt, fp_normalise(f, pt), c);
}

TEST(screen_passes_the_mate_of_a_probe_and_drops_most_strangers) {
    iop_fp_finger *f = malloc(sizeof *f);
    fp_point *pt = malloc(IOP_FP_MAX_MINUTIAE * sizeof *pt);
    fps_code *g = malloc(NSTORED * sizeof *g);
    uint16_t *pop = malloc(NSTORED * sizeof *pop);
    int16_t *sc = malloc(NSTORED * sizeof *sc);
    REQUIRE(f && pt && g && pop && sc);
    uint32_t count[FPS_BITS] = {0};
    for (int i = 0; i < NSTORED; i++) {
        code_of((uint64_t)i, 0, f, pt, &g[i]);
        pop[i] = (uint16_t)fps_code_pop(&g[i]);
        for (int b = 0; b < FPS_BITS; b++) count[b] += (uint32_t)(g[i].w[b >> 6] >> (b & 63) & 1);
    }
    int probes = 0, within40 = 0, above_median = 0, same_first = 0;
    for (int id = 0; id < NSTORED; id += 20) {
        fps_code pc;
        fps_query q;
        /* another impression: rotation, translation, distortion, missing and spurious minutiae */
        code_of((uint64_t)id, 3, f, pt, &pc);
        if (f->n < 12) continue;
        probes++;
        fps_query_init(&q, &pc, count, NSTORED);
        fps_score_batch(&q, g, pop, NSTORED, -1, sc);
        int above = 0;
        for (int i = 0; i < NSTORED; i++) above += i != id && sc[i] > sc[id];
        within40 += above < (NSTORED - 1) * 2 / 5;
        above_median += above < (NSTORED - 1) / 2;
        /* the stored impression itself: its mate is first, far from every stranger */
        fps_query_init(&q, &g[id], count, NSTORED);
        fps_score_batch(&q, g, pop, NSTORED, -1, sc);
        int best_other = INT16_MIN;
        for (int i = 0; i < NSTORED; i++)
            if (i != id && sc[i] > best_other) best_other = sc[i];
        same_first += sc[id] > best_other + 4 * FPS_QSCALE;
    }
    REQUIRE(probes >= 18);
    CHECK_INT(same_first, probes);
    /* the screen is a cheap test, not a matcher: on these generated captures (15 % poor,
       partial overlap) it places 19 of the 20 mates in the best 40 % of the gallery */
    CHECK(above_median >= probes - 1);  /* mates above the median stranger */
    CHECK(within40 >= probes - 2);      /* 40 %, below the default share of 50 %, passes the mate */
    free(f);
    free(pt);
    free(g);
    free(pop);
    free(sc);
}

TEST(screen_scores_are_identical_on_the_portable_popcnt_and_avx2_paths) {
    enum { N = 300 };
    fps_code *g = malloc(N * sizeof *g);
    uint16_t *pop = malloc(N * sizeof *pop);
    int16_t *ref = malloc(N * sizeof *ref), *sc = malloc(N * sizeof *sc);
    iop_fp_finger *f = malloc(sizeof *f);
    fp_point *pt = malloc(IOP_FP_MAX_MINUTIAE * sizeof *pt);
    REQUIRE(g && pop && ref && sc && f && pt);
    /* real codes, and random ones of every density (all bits, none, every word boundary) */
    iop_rng rng;
    iop_rng_seed(&rng, 77);
    uint32_t count[FPS_BITS] = {0};
    for (int i = 0; i < N; i++) {
        if (i < 150) code_of((uint64_t)i, 0, f, pt, &g[i]);
        else
            for (int w = 0; w < FPS_WORDS; w++) {
                uint64_t v = iop_rng_next(&rng);
                int dens = i % 5;
                g[i].w[w] = dens == 0 ? 0 : dens == 1 ? ~0ull : dens == 2 ? v & iop_rng_next(&rng) : v;
            }
        pop[i] = (uint16_t)fps_code_pop(&g[i]);
        for (int b = 0; b < FPS_BITS; b++) count[b] += (uint32_t)(g[i].w[b >> 6] >> (b & 63) & 1);
    }
    int best = fps_path(-1), checked = 0;
    for (int k = 0; k < 6; k++) {
        fps_query q;
        fps_query_init(&q, &g[k * 37 % N], count, N);
        fps_score_batch(&q, g, pop, N, 0, ref);
        for (int path = 1; path <= best; path++) {
            CHECK_INT(fps_path(path), path);
            fps_score_batch(&q, g, pop, N, path, sc);
            for (int i = 0; i < N; i++) {
                int a[3], b[3];
                fps_counts(&q, &g[i], 0, a);
                fps_counts(&q, &g[i], path, b);
                CHECK(a[0] == b[0] && a[1] == b[1] && a[2] == b[2]);
                CHECK_INT(sc[i], ref[i]);
                checked++;
            }
        }
        /* the portable counts against a plain bit-by-bit count */
        for (int i = 0; i < N; i += 7) {
            int a[3], h = 0;
            fps_counts(&q, &g[i], 0, a);
            for (int bit = 0; bit < FPS_BITS; bit++) h += (int)(g[i].w[bit >> 6] >> (bit & 63) & q.probe.w[bit >> 6] >> (bit & 63) & 1);
            CHECK_INT(a[0], h);
        }
    }
    /* on x86-64 at least the POPCNT or AVX2 path is compared with the portable one */
#if defined(__x86_64__)
    CHECK(best == 0 || checked > 0);
#endif
    free(g);
    free(pop);
    free(ref);
    free(sc);
    free(f);
    free(pt);
}

/* a gallery of n generated fingers (impression 0) on system 1 */
static iop_fp_gallery *gallery_n(size_t n, const iop_fp_gallery_opts *o) {
    iop_fp_gallery *g;
    if (iop_fp_gallery_new(o, &g, NULL)) return NULL;
    iop_fp_finger *f = malloc(n * sizeof *f);
    iop_fp_template *t = malloc(n * sizeof *t);
    iop_fp_ref *refs = malloc(n * sizeof *refs);
    size_t added = 0;
    if (f && t && refs) {
        for (size_t i = 0; i < n; i++) {
            iop_fp_gen_finger(2024, i, 0, 0, NULL, &f[i]);
            t[i] = (iop_fp_template){IOP_FP_ISO2005, 1, &f[i]};
            refs[i] = (iop_fp_ref){1, i};
        }
        iop_fp_gallery_add_bulk(g, n, refs, t, 2, NULL, &added, NULL);
    }
    free(f);
    free(t);
    free(refs);
    if (!added) { iop_fp_gallery_free(g); return NULL; }
    return g;
}

TEST(windows_scored_together_give_the_scores_of_each_window_alone_on_every_path) {
    enum { N = 300 };
    fps_code *g = malloc(N * sizeof *g);
    uint16_t *pop = malloc(N * sizeof *pop);
    int16_t *one = malloc(N * sizeof *one), *multi = malloc(FPS_MAX_WINDOWS * N * sizeof *multi);
    iop_fp_finger *f = malloc(sizeof *f);
    fp_point *pt = malloc(IOP_FP_MAX_MINUTIAE * sizeof *pt);
    REQUIRE(g && pop && one && multi && f && pt);
    uint32_t count[FPS_BITS] = {0};
    for (int i = 0; i < N; i++) {
        code_of((uint64_t)i, 0, f, pt, &g[i]);
        pop[i] = (uint16_t)fps_code_pop(&g[i]);
        for (int b = 0; b < FPS_BITS; b++) count[b] += (uint32_t)(g[i].w[b >> 6] >> (b & 63) & 1);
    }
    /* a large probe: three fingers' minutiae side by side */
    int n = 0;
    fp_point tmp[IOP_FP_MAX_MINUTIAE];
    for (int e = 0; e < 4; e++) {
        iop_fp_gen_finger(5, (uint64_t)e, 0, 0, NULL, f);
        int k = fp_normalise(f, tmp);
        for (int i = 0; i < k && n < IOP_FP_MAX_MINUTIAE; i++) {
            pt[n] = tmp[i];
            pt[n++].x += 260.0f * (float)e;
        }
    }
    fps_code c[FPS_MAX_WINDOWS];
    fps_query q[FPS_MAX_WINDOWS];
    int nw = fps_window_codes(pt, n, 72, 35, FPS_MAX_WINDOWS, c);
    CHECK(n > 72);
    REQUIRE(nw >= 3);
    int16_t *out[FPS_MAX_WINDOWS];
    for (int w = 0; w < nw; w++) {
        fps_query_init(&q[w], &c[w], count, N);
        out[w] = multi + (size_t)w * N;
    }
    int bad = 0;
    for (int path = 0; path <= fps_path(-1); path++) {
        fps_score_multi(q, (size_t)nw, g, pop, N, path, out);
        for (int w = 0; w < nw; w++) {
            fps_score_batch(&q[w], g, pop, N, 0, one);
            for (int i = 0; i < N; i++) bad += out[w][i] != one[i];
        }
    }
    CHECK_INT(bad, 0);
    free(g); free(pop); free(one); free(multi); free(f); free(pt);
}

TEST(search_votes_only_the_share_the_screen_passes_and_still_finds_the_mate) {
    /* 600 fingers, prescreen 20: the screen passes max(40 %, 5 x 20) of them */
    iop_fp_gallery_opts o = {.shortlist = 5, .threads = 2, .prescreen = 20, .screen_keep = 0.4};
    iop_fp_gallery *g = gallery_n(600, &o);
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    int probes = 0, found = 0, ranked = 0;
    for (uint64_t id = 7; id < 600; id += 60) {
        iop_fp_gen_finger(2024, id, 2, 0, NULL, f);
        if (iop_fp_quality_check(f, NULL, NULL)) continue;
        iop_fp_template p = {IOP_FP_ISO2005, 1, f};
        iop_fp_candidate c[3];
        size_t n;
        iop_fp_search_stats st;
        REQUIRE(iop_fp_gallery_search_ex(g, &p, 3, 0, c, &n, &st, NULL) == IOP_OK);
        probes++;
        CHECK_INT(st.scanned, iop_fp_gallery_fingers(g));
        /* 40 % pass, and a few more when scores tie at the threshold */
        CHECK(st.screened * 100 >= st.scanned * 40 && st.screened * 100 <= st.scanned * 50);
        CHECK(st.screen_cpu_ns > 0);
        found += n && c[0].ref.key == id;
        size_t rank;
        REQUIRE(iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){1, id}, &rank, NULL) == IOP_OK);
        ranked += rank < 20;
    }
    REQUIRE(probes >= 8);
    CHECK(found >= probes - 1);
    CHECK(ranked >= probes - 1);
    /* without the screen every finger is voted */
    iop_fp_gallery_opts o2 = o;
    o2.screen_keep = 1;
    iop_fp_gallery *g2 = gallery_n(600, &o2);
    REQUIRE(g2);
    iop_fp_gen_finger(2024, 7, 2, 0, NULL, f);
    iop_fp_template p = {IOP_FP_ISO2005, 1, f};
    iop_fp_candidate c[3];
    size_t n;
    iop_fp_search_stats st;
    REQUIRE(iop_fp_gallery_search_ex(g2, &p, 3, 0, c, &n, &st, NULL) == IOP_OK);
    CHECK_INT(st.screened, st.scanned);
    CHECK_INT(st.screen_cpu_ns, 0);
    free(f);
    iop_fp_gallery_free(g);
    iop_fp_gallery_free(g2);
}

TEST(first_stage_rank_reports_a_mate_the_screen_drops_as_not_ranked) {
    /* a probe with nothing in common with its "mate": the record of another finger */
    iop_fp_gallery_opts o = {.shortlist = 5, .threads = 1, .prescreen = 10, .screen_keep = 0.1};
    iop_fp_gallery *g = gallery_n(500, &o);
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    /* the stranger's rank under the screen: of the fingers the screen drops, at least one
       record must be reported as not ranked (SIZE_MAX), never as ranked 0 */
    int dropped = 0, tried = 0;
    iop_fp_gen_finger(2024, 3, 1, 0, NULL, f);
    iop_fp_template p = {IOP_FP_ISO2005, 1, f};
    for (uint64_t id = 100; id < 500 && tried < 40; id += 10, tried++) {
        size_t rank = 0;
        REQUIRE(iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){1, id}, &rank, NULL) == IOP_OK);
        dropped += rank == SIZE_MAX;
    }
    CHECK(dropped >= tried / 2); /* 10 % pass: most strangers are dropped */
    size_t rank = SIZE_MAX;
    REQUIRE(iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){1, 3}, &rank, NULL) == IOP_OK);
    CHECK(rank < 5);
    free(f);
    iop_fp_gallery_free(g);
}

TEST(screen_passes_the_mate_of_a_probe_with_a_larger_capture_area) {
    /* a stored code covers at most the 72 minutiae nearest the centre of its capture; a
       probe from a larger capture (rolled print, bigger sensor) holds the same finger and
       more around it, and is screened by windows the size of a stored capture */
    iop_fp_gallery_opts o = {.shortlist = 5, .threads = 1, .prescreen = 10, .screen_keep = 0.5};
    iop_fp_gallery *g = gallery_n(600, &o);
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f), *x = malloc(sizeof *x), *two = malloc(2 * sizeof *two);
    REQUIRE(f && x && two);
    int probes = 0, dropped_plain = 0, dropped_large = 0;
    uint64_t last = 0;
    for (uint64_t id = 0; id < 600; id += 10) {
        iop_fp_gen_finger(2024, id, 2, 0, NULL, f);
        if (iop_fp_quality_check(f, NULL, NULL)) continue;
        iop_fp_template p = {IOP_FP_ISO2005, 1, f};
        size_t rank = 0;
        if (iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){1, id}, &rank, NULL) != IOP_OK) continue;
        probes++;
        dropped_plain += rank == SIZE_MAX;
        double cx = 0, cy = 0;   /* the same capture with minutiae of other fingers beside it */
        for (int i = 0; i < f->n; i++) { cx += f->m[i].x; cy += f->m[i].y; }
        cx /= f->n; cy /= f->n;
        static const double off[2][2] = {{260, 0}, {0, 260}};
        for (int e = 0; e < 2; e++) {
            iop_fp_gen_finger(99, id * 2 + (uint64_t)e, 2, 0, NULL, x);
            double ax = 0, ay = 0;
            for (int i = 0; i < x->n; i++) { ax += x->m[i].x; ay += x->m[i].y; }
            ax /= x->n; ay /= x->n;
            for (int i = 0; i < x->n && f->n < IOP_FP_MAX_MINUTIAE; i++) {
                iop_fp_minutia m = x->m[i];
                m.x = (float)(m.x - ax + cx + off[e][0]); m.y = (float)(m.y - ay + cy + off[e][1]);
                f->m[f->n++] = m;
            }
        }
        f->width = f->height = 1000;
        rank = 0;
        REQUIRE(iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){1, id}, &rank, NULL) == IOP_OK);
        dropped_large += rank == SIZE_MAX;
        last = id;
        two[0] = two[1] = *f;
    }
    REQUIRE(probes >= 50);
    /* one code of the whole large capture drops 13 of these 59 mates (53 of 297 over every
       other identity), against 2 (10) of the plain captures; the windows drop 4 (27): a
       stranger has as many chances as there are windows, the mate one */
    CHECK(dropped_large * 8 <= probes);
    CHECK(dropped_large <= 2 * dropped_plain + 2);
    /* a probe of two large fingers: the windows of both screened in one search */
    iop_fp_template p2 = {IOP_FP_ISO2005, 2, two};
    iop_fp_candidate c[3];
    size_t n = 0, r2 = 0;
    iop_fp_search_stats st;
    REQUIRE(iop_fp_gallery_search_ex(g, &p2, 3, 0, c, &n, &st, NULL) == IOP_OK);
    CHECK_INT(st.scanned, iop_fp_gallery_fingers(g));
    CHECK(st.screened < st.scanned && st.screen_cpu_ns > 0);
    REQUIRE(iop_fp_gallery_first_stage_rank(g, &p2, 0, (iop_fp_ref){1, last}, &r2, NULL) == IOP_OK);
    free(f); free(x); free(two); iop_fp_gallery_free(g);
}

TEST(search_statistics_count_the_same_fingers_with_the_screen_on_and_off) {
    /* scanned: the live fingers of the selected systems whose position is compatible with
       a probe finger's; a gallery of right thumbs (1) and right index fingers (2) */
    enum { NG = 300 };
    iop_fp_finger *f = malloc(NG * sizeof *f);
    iop_fp_template *t = malloc(NG * sizeof *t);
    iop_fp_ref *refs = malloc(NG * sizeof *refs);
    REQUIRE(f && t && refs);
    size_t ng = 0, index_fingers = 0;
    for (uint64_t i = 0; ng < NG; i++) {
        iop_fp_gen_finger(2024, i, 0, (uint8_t)(1 + i % 2), NULL, &f[ng]);
        if (iop_fp_quality_check(&f[ng], NULL, NULL)) continue;
        index_fingers += f[ng].position == 2;
        t[ng] = (iop_fp_template){IOP_FP_ISO2005, 1, &f[ng]};
        refs[ng] = (iop_fp_ref){1, i};
        ng++;
    }
    size_t scanned[2] = {0, 0}, screened[2] = {0, 0};
    for (int on = 0; on < 2; on++) {
        iop_fp_gallery_opts o = {.shortlist = 5, .threads = 2, .prescreen = 10, .screen_keep = on ? 0.5 : 1};
        iop_fp_gallery *g = NULL;
        REQUIRE(iop_fp_gallery_new(&o, &g, NULL) == IOP_OK);
        size_t added = 0;
        iop_fp_gallery_add_bulk(g, NG, refs, t, 2, NULL, &added, NULL);
        REQUIRE(added == NG);
        REQUIRE(iop_fp_gallery_fingers(g) == NG);
        iop_fp_finger *pf = malloc(sizeof *pf);
        REQUIRE(pf);
        iop_fp_gen_finger(2024, 7, 2, 2, NULL, pf);
        iop_fp_template p = {IOP_FP_ISO2005, 1, pf};
        iop_fp_candidate c[3];
        size_t n;
        iop_fp_search_stats st;
        REQUIRE(iop_fp_gallery_search_ex(g, &p, 3, 0, c, &n, &st, NULL) == IOP_OK);
        scanned[on] = st.scanned;
        screened[on] = st.screened;
        CHECK(on ? st.screen_cpu_ns > 0 : st.screen_cpu_ns == 0);
        free(pf);
        iop_fp_gallery_free(g);
    }
    REQUIRE(index_fingers > 0 && index_fingers < NG);
    CHECK_INT(scanned[0], index_fingers);
    CHECK_INT(scanned[1], index_fingers);
    CHECK_INT(screened[0], scanned[0]);
    CHECK(screened[1] < scanned[1]);
    free(f);
    free(t);
    free(refs);
}

TEST(screen_code_of_a_probe_beyond_float_range_is_defined) {
    /* coordinates that overflow float once scaled to 500 ppi give no feature (and no
       undefined conversion of a NaN distance) */
    iop_fp_finger *f = calloc(1, sizeof *f); fp_point pt[IOP_FP_MAX_MINUTIAE]; fps_code c;
    REQUIRE(f); f->xres = f->yres = 1; f->n = 3;
    for (int i = 0; i < 3; i++) { f->m[i].x = 3e38f; f->m[i].y = 100.0f * i; f->m[i].angle = 1; }
    fps_code_make(pt, fp_normalise(f, pt), &c);
    CHECK_INT(fps_code_pop(&c), 0);
    free(f);
}

/* ---- the screen's statistics under change: concurrent writers, and a rebuild */

#include <pthread.h>

typedef struct conc_job {
    iop_fp_gallery *g;
    int searches, found, failed;
} conc_job;

static void *conc_search(void *arg) {
    conc_job *j = arg;
    iop_fp_finger *f = malloc(sizeof *f);
    if (!f) { j->failed++; return NULL; }
    for (int r = 0; r < 6; r++)
        for (uint64_t id = 0; id < 10; id++) {
            iop_fp_gen_finger(2024, id, 2, 0, NULL, f);
            if (iop_fp_quality_check(f, NULL, NULL)) continue;
            iop_fp_template p = {IOP_FP_ISO2005, 1, f};
            iop_fp_candidate c[3];
            size_t n;
            iop_fp_search_stats st;
            if (iop_fp_gallery_search_ex(j->g, &p, 3, 0, c, &n, &st, NULL) != IOP_OK) { j->failed++; continue; }
            j->searches++;
            j->found += n && c[0].ref.key == id;
            if (st.screened > st.scanned || st.screen_cpu_ns == 0) j->failed++;
        }
    free(f);
    return NULL;
}

static void *conc_write(void *arg) {
    conc_job *j = arg;
    iop_fp_finger *f = malloc(sizeof *f);
    if (!f) { j->failed++; return NULL; }
    for (uint64_t k = 0; k < 120; k++) {
        iop_fp_gen_finger(2024, 1000 + k, 0, 0, NULL, f);
        iop_fp_template t = {IOP_FP_ISO2005, 1, f};
        iop_code rc = iop_fp_gallery_add(j->g, (iop_fp_ref){1, 1000 + k}, &t, NULL);
        if (rc != IOP_OK && rc != IOP_EINVAL) j->failed++;
        /* removal and replacement of records the searches do not look for */
        if (k % 3 == 0) iop_fp_gallery_remove(j->g, (iop_fp_ref){1, 100 + k}, NULL);
        if (k % 4 == 0) {
            iop_fp_gen_finger(2024, 200 + k, 1, 0, NULL, f);
            iop_fp_gallery_add(j->g, (iop_fp_ref){1, 200 + k}, &t, NULL);
        }
    }
    free(f);
    return NULL;
}

TEST(searches_with_the_screen_run_while_other_threads_enrol_replace_and_remove) {
    iop_fp_gallery_opts o = {.shortlist = 5, .threads = 2, .prescreen = 10, .screen_keep = 0.5};
    iop_fp_gallery *g = gallery_n(400, &o);
    REQUIRE(g);
    conc_job s[2] = {{.g = g}, {.g = g}}, w = {.g = g};
    pthread_t th[3];
    REQUIRE(pthread_create(&th[0], NULL, conc_search, &s[0]) == 0);
    REQUIRE(pthread_create(&th[1], NULL, conc_search, &s[1]) == 0);
    REQUIRE(pthread_create(&th[2], NULL, conc_write, &w) == 0);
    for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
    CHECK_INT(s[0].failed + s[1].failed + w.failed, 0);
    REQUIRE(s[0].searches >= 50 && s[1].searches >= 50);
    /* the mates (never touched by the writer) stay found */
    CHECK(s[0].found >= s[0].searches - 6);
    CHECK(s[1].found >= s[1].searches - 6);
    iop_fp_gallery_free(g);
}

/* A gallery changed by removals, replacements and additions (free slots reused), and
 * the same records enrolled afresh in another order (as a node rebuilds its gallery
 * from its store when it opens): the screen's statistics are the same, so every search
 * passes the same number of fingers to the voting, every mate has the same first-stage
 * rank (fingers scoring strictly above it: no tie broken by slot order) and the same
 * record comes first. */
TEST(a_gallery_rebuilt_in_another_order_after_removals_screens_identically) {
    iop_fp_gallery_opts o = {.shortlist = 5, .threads = 2, .prescreen = 10, .screen_keep = 0.5};
    iop_fp_gallery *a = gallery_n(400, &o), *b = NULL;
    REQUIRE(a);
    REQUIRE(iop_fp_gallery_new(&o, &b, NULL) == IOP_OK);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    /* live[id]: 0 absent, 1 impression 0, 2 impression 1 */
    static uint8_t live[460];
    for (int id = 0; id < 460; id++) live[id] = id < 400;
    for (uint64_t id = 0; id < 400; id += 7) {
        iop_fp_gallery_remove(a, (iop_fp_ref){1, id}, NULL); /* not found: refused at enrolment */
        live[id] = 0;
    }
    for (uint64_t id = 3; id < 460; id += 5) {
        iop_fp_gen_finger(2024, id, 1, 0, NULL, f);
        iop_fp_template t = {IOP_FP_ISO2005, 1, f};
        if (iop_fp_gallery_add(a, (iop_fp_ref){1, id}, &t, NULL) == IOP_OK) live[id] = 2;
    }
    for (int id = 459; id >= 0; id--) {
        if (!live[id]) continue;
        iop_fp_gen_finger(2024, (uint64_t)id, live[id] == 2, 0, NULL, f);
        iop_fp_template t = {IOP_FP_ISO2005, 1, f};
        /* a finger the quality check refuses is refused in both */
        iop_code rc = iop_fp_gallery_add(b, (iop_fp_ref){1, (uint64_t)id}, &t, NULL);
        REQUIRE(rc == IOP_OK || rc == IOP_EINVAL);
    }
    REQUIRE(iop_fp_gallery_fingers(a) == iop_fp_gallery_fingers(b));
    int probes = 0, same = 0;
    for (uint64_t id = 1; id < 460; id += 23) {
        if (!live[id]) continue;
        iop_fp_gen_finger(2024, id, 2, 0, NULL, f);
        if (iop_fp_quality_check(f, NULL, NULL)) continue;
        iop_fp_template p = {IOP_FP_ISO2005, 1, f};
        iop_fp_candidate ca[3], cb[3];
        size_t na, nb, ra = 0, rb = 1;
        iop_fp_search_stats sa, sb;
        REQUIRE(iop_fp_gallery_search_ex(a, &p, 3, 0, ca, &na, &sa, NULL) == IOP_OK);
        REQUIRE(iop_fp_gallery_search_ex(b, &p, 3, 0, cb, &nb, &sb, NULL) == IOP_OK);
        iop_code qa = iop_fp_gallery_first_stage_rank(a, &p, 0, (iop_fp_ref){1, id}, &ra, NULL);
        iop_code qb = iop_fp_gallery_first_stage_rank(b, &p, 0, (iop_fp_ref){1, id}, &rb, NULL);
        probes++;
        same += sa.scanned == sb.scanned && sa.screened == sb.screened && sa.screened < sa.scanned && qa == qb &&
                ra == rb && na && nb && ca[0].ref.key == cb[0].ref.key && ca[0].score == cb[0].score;
    }
    REQUIRE(probes >= 12);
    CHECK_INT(same, probes);
    free(f);
    iop_fp_gallery_free(a);
    iop_fp_gallery_free(b);
}
