/* test-links: base */
/*
 * test_face_eval.c -- `interop face eval`, the 1:N open-set experiment through the sBMS
 * search (Reg. 2019/817 Art 13-14; EES accuracy targets are FNIR at FPIR 0.1 %):
 * it enrols generated persons, runs mated and non-mated searches with the face, the
 * fingerprints and both fused, and reports FNIR at FPIR 0.1 % and 1 %.
 */
#include <jansson.h>
#include <math.h>
#include <sys/wait.h>
#include "test.h"

static int run(const char *cmd, char *out, size_t cap) { return test_run(cmd, out, cap); }

static double field(json_t *res, const char *method, const char *key) {
    size_t i;
    json_t *r;
    json_array_foreach(res, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "method")), method) == 0)
            return json_number_value(json_object_get(r, key));
    }
    return NAN;
}

TEST(eval_reports_fnir_for_face_fingerprints_and_fused_and_fusion_does_not_lose_mates) {
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd,
             "TMPDIR=%s %s face eval --gallery 40 --mated 15 --nonmated 25 --fingers 1 --calib-pairs 100 --seed 5 "
             "--json 2>&1",
             test_tmpdir("face_eval"), IOP_BINARY);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    if (!o) test_failed(__FILE__, __LINE__, "not JSON: %.200s", out);
    REQUIRE(o != NULL);
    CHECK_INT((int)json_integer_value(json_object_get(o, "gallery")), 40);
    CHECK_STR(json_string_value(json_object_get(o, "calibration")), "fitted");
    CHECK_INT((int)json_integer_value(json_object_get(o, "calib_seed")), 6); /* --seed + 1: never the persons evaluated */
    json_t *res = json_object_get(o, "results");
    REQUIRE(json_array_size(res) == 3);
    static const char *const methods[] = {"face", "fingerprints", "fused"};
    for (int m = 0; m < 3; m++) {
        double a = field(res, methods[m], "fnir_at_fpir_0.001"), b = field(res, methods[m], "fnir_at_fpir_0.01");
        CHECK(a >= 0 && a <= 1 && b >= 0 && b <= 1);
        CHECK(b <= a + 1e-12); /* a looser FPIR never loses mates */
    }
    /* the generated face separates 40 persons: its mates come first */
    CHECK(field(res, "face", "rank1") >= 0.9);
    /* the fused LLR adds the face evidence to the fingerprint's: no worse than one finger alone */
    CHECK(field(res, "fused", "fnir_at_fpir_0.01") <= field(res, "fingerprints", "fnir_at_fpir_0.01") + 1e-12);
    CHECK(field(res, "fused", "rank1") >= field(res, "fingerprints", "rank1"));
    CHECK_NEAR(field(res, "fused", "target_fnir_at_fpir_0.001"), 0.01, 1e-9);
    CHECK_NEAR(field(res, "fingerprints", "target_fnir_at_fpir_0.001"), 0.015, 1e-9);
    json_decref(o);
}

TEST(eval_refuses_to_calibrate_on_the_persons_it_evaluates) {
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s face eval --seed 3 --calib-seed 3 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    CHECK(strstr(out, "--calib-seed must differ") != NULL);
    snprintf(cmd, sizeof cmd, "%s face eval --gallery 10 --mated 20 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s face eval --help", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "FNIR") != NULL);
}
