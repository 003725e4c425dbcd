/* test-links: sbms sbms_face */
/*
 * test_face_fusion.c -- calibrated fusion of face and fingerprint scores into one
 * record-level score (Reg. 2019/817 Art 13-14: the sBMS score that the ESP and the
 * MID rank and link on).
 */
#include <math.h>
#include "interop/sbms_face.h"
#include "interop/sbms_fusion.h"
#include "test.h"

/* Two Gaussian classes: the true LLR is known in closed form. */
static void gauss_samples(iop_rng *r, double mg, double sg, double mi, double si, double *g, double *im, size_t n) {
    for (size_t i = 0; i < n; i++) {
        g[i] = mg + sg * iop_rng_normal(r);
        im[i] = mi + si * iop_rng_normal(r);
    }
}

TEST(calibration_recovers_the_llr_of_equal_variance_gaussians) {
    enum { N = 20000 };
    static double g[N], im[N];
    iop_rng r;
    iop_rng_seed(&r, 1);
    gauss_samples(&r, 2.0, 1.0, 0.0, 1.0, g, im, N);
    sbms_calib c;
    REQUIRE(sbms_calib_fit(g, N, im, N, &c, NULL) == IOP_OK);
    /* LLR(s) = (mg - mi) / sd^2 * s - (mg^2 - mi^2) / (2 sd^2) = 2 s - 2 */
    CHECK_NEAR(c.a, 2.0, 0.1);
    CHECK_NEAR(c.b, -2.0, 0.1);
    CHECK_NEAR(sbms_calib_llr(&c, 1.0), 0.0, 0.1);
    CHECK(sbms_calib_llr(&c, 3.0) > sbms_calib_llr(&c, 2.0));
}

TEST(calibration_bounds_extrapolation_by_the_sample_size) {
    enum { N = 100 };
    double g[N], im[N];
    for (int i = 0; i < N; i++) { g[i] = 0.8 + 0.001 * i; im[i] = 0.1 + 0.001 * i; } /* separable */
    sbms_calib c;
    REQUIRE(sbms_calib_fit(g, N, im, N, &c, NULL) == IOP_OK);
    CHECK(isfinite(c.a) && c.a > 0);
    CHECK(sbms_calib_llr(&c, 5.0) <= log(N + 1) + 1e-9);
    CHECK(sbms_calib_llr(&c, -5.0) >= -log(N + 1) - 1e-9);
    CHECK_NEAR(sbms_calib_llr(&c, 5.0), sbms_calib_llr(&c, c.hi), 1e-12); /* clamped to the seen range */
    CHECK(sbms_calib_llr(&c, NAN) == 0.0);
}

TEST(calibration_rejects_too_few_non_finite_or_uninformative_scores) {
    double g[20], im[20];
    for (int i = 0; i < 20; i++) { g[i] = 0.5; im[i] = 0.5; }
    iop_err e;
    sbms_calib c;
    CHECK(sbms_calib_fit(g, 5, im, 20, &c, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "at least 10") != NULL);
    CHECK(sbms_calib_fit(g, 20, im, 20, &c, &e) == IOP_EINVAL); /* all equal */
    g[3] = NAN;
    CHECK(sbms_calib_fit(g, 20, im, 20, &c, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "genuine score 3") != NULL);
    for (int i = 0; i < 20; i++) { g[i] = 0.1 + 0.01 * (i % 3); im[i] = 0.9 - 0.01 * (i % 3); } /* reversed */
    CHECK(sbms_calib_fit(g, 20, im, 20, &c, &e) == IOP_EINVAL);
}

TEST(calibration_round_trips_through_json_and_rejects_unknown_fields) {
    sbms_calib c = {1.5, -0.25, 0.0, 1.0, -7.0, 8.0, 1000, 2000}, d;
    iop_buf b;
    iop_buf_init(&b);
    REQUIRE(sbms_calib_to_json(&c, &b) == IOP_OK);
    REQUIRE(sbms_calib_from_json(b.data, &d, NULL) == IOP_OK);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    iop_err e;
    CHECK(sbms_calib_from_json("{\"a\":1}", &d, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "\"b\"") != NULL);
    iop_buf_reset(&b);
    iop_buf_puts(&b, "{\"a\":1,\"b\":0,\"lo\":0,\"hi\":1,\"llr_min\":-1,\"llr_max\":1,\"n_genuine\":1,\"n_impostor\":1,\"x\":2}");
    CHECK(sbms_calib_from_json(b.data, &d, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "unknown field \"x\"") != NULL);
    iop_buf_free(&b);
}

TEST(fused_llr_is_the_sum_of_present_modalities_and_ranks_better_than_either) {
    enum { N = 4000 };
    static double fg[N], fi[N], pg[N], pi[N];
    iop_rng r;
    iop_rng_seed(&r, 2);
    /* face scores on [-1,1], fingerprint scores on [0,1]: different scales */
    gauss_samples(&r, 0.55, 0.12, 0.02, 0.07, fg, fi, N);
    gauss_samples(&r, 0.30, 0.10, 0.08, 0.04, pg, pi, N);
    sbms_calib cf, cp;
    REQUIRE(sbms_calib_fit(fg, N, fi, N, &cf, NULL) == IOP_OK);
    REQUIRE(sbms_calib_fit(pg, N, pi, N, &cp, NULL) == IOP_OK);
    sbms_fusion f;
    sbms_fusion_init(&f);
    CHECK(sbms_fuse(&f, 0.9, 0.9) == 0.0); /* nothing calibrated: no evidence */
    sbms_fusion_set(&f, SBMS_MOD_FACE, &cf);
    sbms_fusion_set(&f, SBMS_MOD_FINGER, &cp);
    CHECK_NEAR(sbms_fuse(&f, 0.5, 0.2), sbms_calib_llr(&cf, 0.5) + sbms_calib_llr(&cp, 0.2), 1e-12);
    CHECK_NEAR(sbms_fuse(&f, 0.5, NAN), sbms_calib_llr(&cf, 0.5), 1e-12);
    CHECK_NEAR(sbms_fuse(&f, NAN, 0.2), sbms_calib_llr(&cp, 0.2), 1e-12);
    /* errors at a fixed false-match count: fused < each modality alone (fresh samples) */
    static double tg[N], ti[N], ug[N], ui[N];
    gauss_samples(&r, 0.55, 0.12, 0.02, 0.07, tg, ti, N);
    gauss_samples(&r, 0.30, 0.10, 0.08, 0.04, ug, ui, N);
    double thr[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (int i = 0; i < N; i++) { /* the highest impostor score of each: FMR 1/N */
        double s[3] = {ti[i], ui[i], sbms_fuse(&f, ti[i], ui[i])};
        for (int m = 0; m < 3; m++) if (s[m] > thr[m]) thr[m] = s[m];
    }
    int miss[3] = {0};
    for (int i = 0; i < N; i++) {
        double s[3] = {tg[i], ug[i], sbms_fuse(&f, tg[i], ug[i])};
        for (int m = 0; m < 3; m++) miss[m] += s[m] <= thr[m];
    }
    CHECK(miss[2] < miss[0]);
    CHECK(miss[2] < miss[1]);
    CHECK(sbms_llr_posterior(0.0, 0.5) == 0.5);
    CHECK(sbms_llr_posterior(log(9.0), 0.5) > 0.89 && sbms_llr_posterior(log(9.0), 0.5) < 0.91);
}

TEST(face_calibration_on_generated_templates_orders_genuine_above_impostor) {
    sbms_face_gen_params p;
    sbms_face_gen_defaults(&p, 256);
    sbms_face_gen *gen;
    REQUIRE(sbms_face_gen_new(&p, 3, &gen, NULL) == IOP_OK);
    enum { N = 1500 };
    static double g[N], im[N];
    float a[256], b[256], c[256];
    for (int i = 0; i < N; i++) {
        sbms_face_gen_capture(gen, (uint64_t)i, 0, a);
        sbms_face_gen_capture(gen, (uint64_t)i, 1, b);
        sbms_face_gen_capture(gen, (uint64_t)i + N, 1, c);
        g[i] = sbms_face_score(a, b, 256);
        im[i] = sbms_face_score(a, c, 256);
    }
    sbms_calib cal;
    REQUIRE(sbms_calib_fit(g, N, im, N, &cal, NULL) == IOP_OK);
    CHECK(sbms_calib_llr(&cal, 0.7) > 3.0);   /* a typical genuine score is strong evidence */
    CHECK(sbms_calib_llr(&cal, 0.0) < -3.0);  /* a typical impostor score is strong evidence against */
    sbms_face_gen_free(gen);
}
