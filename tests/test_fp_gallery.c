/* test-links: sbms_fp */
/*
 * test_fp_gallery.c -- the 1:N fingerprint gallery of the shared biometric matching
 * service (Reg. (EU) 2019/817 Arts 13-14): the minutia-pair voting first stage, bulk
 * enrolment, the search statistics and the first-stage rank of a record.
 */
#include <math.h>
#include "interop/sbms_fp.h"
#include "sbms/fingerprint/fp_index.h"
#include "test.h"

#define PI_D 3.14159265358979323846

/* one generated finger (position 0) of `person`, impression `imp` */
static iop_fp_template gen1(uint64_t person, uint32_t imp, iop_fp_finger *buf) {
    iop_fp_gen_finger(2024, person, imp, 0, NULL, buf);
    return (iop_fp_template){IOP_FP_ISO2005, 1, buf};
}

/* rotates a finger by `deg` degrees about the image centre and moves it by (dx, dy);
 * the image grows so that every minutia stays inside */
static void move_finger(iop_fp_finger *f, double deg, double dx, double dy) {
    double a = deg * PI_D / 180.0, c = cos(a), s = sin(a);
    double cx = f->width / 2.0, cy = f->height / 2.0;
    for (unsigned i = 0; i < f->n; i++) {
        double x = f->m[i].x - cx, y = f->m[i].y - cy;
        /* angles count counter-clockwise as seen on the image (y down): rotating the
           picture by +a turns (x, y) by -a in the y-down frame */
        f->m[i].x = (float)(c * x + s * y + cx + dx + 200);
        f->m[i].y = (float)(-s * x + c * y + cy + dy + 200);
        double t = fmod(f->m[i].angle + a, 2 * PI_D);
        f->m[i].angle = (float)(t < 0 ? t + 2 * PI_D : t);
    }
    f->width = (uint16_t)(f->width + 400 + (dx > 0 ? dx : -dx));
    f->height = (uint16_t)(f->height + 400 + (dy > 0 ? dy : -dy));
}

static iop_fp_gallery *gallery_of(size_t n, int threads, size_t shortlist) {
    iop_fp_gallery_opts o = {.shortlist = shortlist, .threads = threads};
    iop_fp_gallery *g;
    if (iop_fp_gallery_new(&o, &g, NULL)) return NULL;
    iop_fp_finger *f = malloc(n * sizeof *f);
    iop_fp_template *t = malloc(n * sizeof *t);
    iop_fp_ref *refs = malloc(n * sizeof *refs);
    size_t added = 0;
    if (f && t && refs) {
        for (size_t i = 0; i < n; i++) {
            t[i] = gen1(i, 0, &f[i]);
            refs[i] = (iop_fp_ref){(uint8_t)(1 + i % 3), i};
        }
        iop_fp_gallery_add_bulk(g, n, refs, t, threads, NULL, &added, NULL);
    }
    free(f);
    free(t);
    free(refs);
    if (added == 0) { iop_fp_gallery_free(g); return NULL; }
    return g;
}

TEST(first_stage_ranks_the_mate_first_whatever_the_rotation_and_position_of_the_probe) {
    iop_fp_gallery *g = gallery_of(300, 1, 0);
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    const double turns[] = {0, 37, 90, 180, 251};
    int first = 0, total = 0;
    for (uint64_t id = 10; id < 16; id++) {
        for (size_t r = 0; r < sizeof turns / sizeof turns[0]; r++) {
            iop_fp_template p = gen1(id, 1, f);
            if (iop_fp_quality_check(f, NULL, NULL)) continue;
            move_finger(f, turns[r], 60.0 * (double)r - 100, 45.0 * (double)r);
            size_t rank = 99;
            REQUIRE(iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){(uint8_t)(1 + id % 3), id}, &rank, NULL) ==
                    IOP_OK);
            total++;
            first += rank == 0;
        }
    }
    REQUIRE(total >= 20);
    /* the voting is invariant: the same probes rank the same way at every angle */
    CHECK(first >= total * 4 / 5);
    free(f);
    iop_fp_gallery_free(g);
}

TEST(first_stage_rank_of_an_unknown_record_is_not_found) {
    iop_fp_gallery *g = gallery_of(20, 1, 0);
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    iop_fp_template p = gen1(3, 1, f);
    size_t rank;
    iop_err e;
    CHECK(iop_fp_gallery_first_stage_rank(g, &p, 0, (iop_fp_ref){7, 3}, &rank, &e) == IOP_ENOTFOUND);
    CHECK(strstr(e.msg, "7/3") != NULL);
    free(f);
    iop_fp_gallery_free(g);
}

TEST(two_stage_search_ranks_mates_first_as_often_as_the_exhaustive_full_matcher) {
    iop_fp_gallery *g = gallery_of(250, 2, 20);
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    int two = 0, full = 0, probes = 0;
    for (uint64_t k = 0; k < 8; k++) {
        uint64_t id = (k * 37 + 5) % 250;
        iop_fp_template p = gen1(id, 1 + (uint32_t)(k % 5), f);
        if (iop_fp_quality_check(f, NULL, NULL)) continue;
        iop_fp_candidate c[3];
        size_t n;
        probes++;
        REQUIRE(iop_fp_gallery_search(g, &p, 3, 0, c, &n, NULL) == IOP_OK);
        two += n && c[0].ref.key == id;
        REQUIRE(iop_fp_gallery_search_exhaustive(g, &p, 1, 0, c, &n, NULL) == IOP_OK);
        full += n && c[0].ref.key == id;
    }
    REQUIRE(probes >= 6);
    CHECK(full >= probes - 2); /* the reference itself works on these probes */
    CHECK(two >= full);
    free(f);
    iop_fp_gallery_free(g);
}

TEST(bulk_enrolment_stores_the_same_gallery_as_one_by_one_and_reports_each_record) {
    enum { N = 60 };
    iop_fp_finger *f = malloc(N * sizeof *f);
    iop_fp_template *t = malloc(N * sizeof *t);
    iop_fp_ref *refs = malloc(N * sizeof *refs);
    iop_code *rcs = malloc(N * sizeof *rcs);
    REQUIRE(f && t && refs && rcs);
    for (size_t i = 0; i < N; i++) {
        t[i] = gen1(i, 0, &f[i]);
        refs[i] = (iop_fp_ref){2, 500 + i};
    }
    f[7].n = 5;   /* too few minutiae: refused with a reason, the others stored */
    f[31].n = 3;
    iop_fp_gallery *a, *b;
    REQUIRE(iop_fp_gallery_new(NULL, &a, NULL) == IOP_OK);
    REQUIRE(iop_fp_gallery_new(NULL, &b, NULL) == IOP_OK);
    size_t added = 0, one_by_one = 0;
    REQUIRE(iop_fp_gallery_add_bulk(a, N, refs, t, 2, rcs, &added, NULL) == IOP_OK);
    for (size_t i = 0; i < N; i++) one_by_one += iop_fp_gallery_add(b, refs[i], &t[i], NULL) == IOP_OK;
    CHECK_INT(rcs[7], IOP_EINVAL);
    CHECK_INT(rcs[31], IOP_EINVAL);
    CHECK_INT(rcs[8], IOP_OK);
    CHECK_INT(added, one_by_one);
    CHECK_INT(iop_fp_gallery_records(a), iop_fp_gallery_records(b));
    CHECK_INT(iop_fp_gallery_fingers(a), iop_fp_gallery_fingers(b));
    CHECK_INT(iop_fp_gallery_bytes(a), iop_fp_gallery_bytes(b));
    /* the same candidates with the same scores */
    iop_fp_finger *pf = malloc(sizeof *pf);
    REQUIRE(pf);
    for (uint64_t id = 20; id < 23; id++) {
        iop_fp_template p = gen1(id, 2, pf);
        iop_fp_candidate ca[5], cb[5];
        size_t na, nb;
        REQUIRE(iop_fp_gallery_search(a, &p, 5, 0, ca, &na, NULL) == IOP_OK);
        REQUIRE(iop_fp_gallery_search(b, &p, 5, 0, cb, &nb, NULL) == IOP_OK);
        CHECK_INT(na, nb);
        for (size_t i = 0; i < na && i < nb; i++) {
            CHECK_INT(ca[i].ref.key, cb[i].ref.key);
            CHECK_NEAR(ca[i].score, cb[i].score, 1e-12);
        }
    }
    /* a bulk add of an existing reference replaces the record */
    REQUIRE(iop_fp_gallery_add_bulk(a, 5, refs, t, 1, NULL, &added, NULL) == IOP_OK);
    CHECK_INT(added, 5);
    CHECK_INT(iop_fp_gallery_records(a), iop_fp_gallery_records(b));
    free(pf);
    free(f);
    free(t);
    free(refs);
    free(rcs);
    iop_fp_gallery_free(a);
    iop_fp_gallery_free(b);
}

TEST(art13_search_statistics_count_only_the_fingers_of_the_selected_systems) {
    iop_fp_gallery *g = gallery_of(90, 2, 10); /* systems 1, 2, 3 in turn */
    REQUIRE(g);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    iop_fp_template p = gen1(4, 1, f);
    iop_fp_candidate c[5];
    size_t n;
    iop_fp_search_stats all, two;
    REQUIRE(iop_fp_gallery_search_ex(g, &p, 5, 0, c, &n, &all, NULL) == IOP_OK);
    CHECK_INT(all.scanned, iop_fp_gallery_fingers(g));
    CHECK(all.shortlisted >= 1 && all.shortlisted <= 10);
    CHECK_INT(all.prescreened, all.scanned); /* a small gallery: every finger reaches the minutia pairing */
    CHECK(all.first_cpu_ns > 0 && all.full_cpu_ns > 0);
    REQUIRE(iop_fp_gallery_search_ex(g, &p, 5, 1ull << 2, c, &n, &two, NULL) == IOP_OK);
    CHECK(two.scanned > 0 && two.scanned < all.scanned);
    for (size_t i = 0; i < n; i++) CHECK_INT(c[i].ref.system, 2);
    free(f);
    iop_fp_gallery_free(g);
}

TEST(stored_fingers_stay_within_one_kibibyte_each) {
    iop_fp_gallery *g = gallery_of(400, 2, 0);
    REQUIRE(g);
    CHECK(iop_fp_gallery_fingers(g) >= 390);
    CHECK(iop_fp_gallery_bytes(g) <= 1024);
    iop_fp_gallery_free(g);
}

TEST(prescreen_and_shortlist_bound_the_work_of_the_later_stages) {
    iop_fp_gallery_opts o = {.shortlist = 4, .threads = 2, .prescreen = 25};
    iop_fp_gallery *g;
    REQUIRE(iop_fp_gallery_new(&o, &g, NULL) == IOP_OK);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    for (uint64_t i = 0; i < 120; i++) {
        iop_fp_template t = gen1(i, 0, f);
        iop_fp_gallery_add(g, (iop_fp_ref){1, i}, &t, NULL);
    }
    iop_fp_template p = gen1(42, 3, f);
    iop_fp_candidate c[10];
    size_t n;
    iop_fp_search_stats st;
    REQUIRE(iop_fp_gallery_search_ex(g, &p, 10, 0, c, &n, &st, NULL) == IOP_OK);
    CHECK_INT(st.prescreened, 25);
    CHECK(st.shortlisted >= 1 && st.shortlisted <= 4);
    CHECK(n <= 4);
    REQUIRE(n >= 1);
    CHECK_INT(c[0].ref.key, 42);
    free(f);
    iop_fp_gallery_free(g);
}

/* a finger whose minutiae lie on a square lattice, all pointing the same way: every pair
 * feature occurs many times, so the votes overflow a batch, cells saturate at 255 and
 * the probe table has long rows */
static void lattice_finger(iop_fp_finger *f, int side, double step) {
    memset(f, 0, sizeof *f);
    f->xres = f->yres = 197;
    f->width = f->height = (uint16_t)(side * step + 100);
    f->n = (uint8_t)(side * side);
    for (int i = 0; i < side * side; i++) {
        f->m[i].x = (float)(50 + (i % side) * step);
        f->m[i].y = (float)(50 + (i / side) * step);
        f->m[i].angle = 0.3f;
        f->m[i].type = IOP_FP_ENDING;
    }
}

/* scores and motions of `probe` against `stored` on every code path the processor runs,
 * checked against the portable one; returns the portable score */
static int check_paths(const iop_fp_finger *probe, const iop_fp_finger *stored, fpx_scratch **sc, int nsc) {
    fp_point pt[IOP_FP_MAX_MINUTIAE];
    uint8_t pairs[FPX_MAX_PAIRS * FPX_PAIR_BYTES];
    int np = fpx_pairs(pt, fp_normalise(stored, pt), pairs);
    fpx_probe *p = fpx_probe_new(probe);
    if (!p) { CHECK(p != NULL); return -1; }
    int ref = fpx_score(p, pairs, np, sc[0], -1);
    fpx_motion m0, m1;
    CHECK_INT(fpx_align(p, pairs, np, sc[0], &m0), ref);
    for (int k = 1; k < nsc; k++) {
        CHECK_INT(fpx_score(p, pairs, np, sc[k], -1), ref);
        CHECK_INT(fpx_align(p, pairs, np, sc[k], &m1), ref);
        CHECK(m1.rot == m0.rot && m1.tx == m0.tx && m1.ty == m0.ty && m1.votes == m0.votes);
        /* with a floor: exact above it, at most the floor otherwise */
        for (int floor = 0; floor <= ref + 1; floor += 1 + floor / 4) {
            int v = fpx_score(p, pairs, np, sc[k], floor);
            if (ref > floor) CHECK_INT(v, ref);
            else CHECK(v >= 0 && v <= floor);
        }
    }
    fpx_probe_free(p);
    return ref;
}

TEST(first_stage_votes_are_identical_on_the_portable_sse2_and_avx2_paths) {
    fpx_scratch *sc[3] = {NULL, NULL, NULL};
    int nsc = 0;
    for (int level = 0; level < 3; level++) {
        sc[nsc] = fpx_scratch_new();
        REQUIRE(sc[nsc] != NULL);
        int got = fpx_scratch_path(sc[nsc], level);
        if (got != level) { fpx_scratch_free(sc[nsc]); break; } /* the processor lacks this level */
        nsc++;
    }
    REQUIRE(nsc >= 1);
    iop_fp_finger *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    REQUIRE(a && b);
    int mates_high = 0, above = 0;
    for (uint64_t person = 0; person < 12; person++) {
        iop_fp_gen_finger(77, person, 1 + (uint32_t)(person % 5), 0, NULL, a);
        for (uint64_t other = 0; other < 25; other++) {
            iop_fp_gen_finger(77, other, 0, 0, NULL, b);
            int v = check_paths(a, b, sc, nsc);
            if (other == person && v >= 10) mates_high++;
            if (other != person && v > 0) above++;
        }
    }
    /* the comparisons covered mates (high scores) and strangers (low, non-zero ones) */
    CHECK(mates_high >= 6);
    CHECK(above >= 200);
    /* many votes: batches flushed, saturated cells, long probe rows */
    lattice_finger(a, 12, 18.0);
    lattice_finger(b, 11, 18.0);
    CHECK(check_paths(a, b, sc, nsc) >= 255);
    CHECK(check_paths(a, a, sc, nsc) >= 255);
    free(a);
    free(b);
    for (int k = 0; k < nsc; k++) fpx_scratch_free(sc[k]);
}
