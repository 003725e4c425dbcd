/* test-links: sbms_fp */
/*
 * test_fp_cli.c -- the `interop fp` command-line contract used by users and evaluation
 * scripts (shared biometric matching service, issue 4): compare, scores, eval, info,
 * convert, gen, stats, identify; --help on stdout with exit 0, usage errors exit 2.
 */
#include <sys/wait.h>
#include "interop/sbms_fp.h"
#include "test.h"

#define FVC IOP_SHARED_DATA "/fingerprints/fvc2002"

static int run(const char *cmd, char *out, size_t cap) { return test_run(cmd, out, cap); }

TEST(fp_compare_prints_one_score_and_mates_score_higher) {
    char out[256], cmd[2048];
    snprintf(cmd, sizeof cmd, "%s fp compare %s/DB2_B/104_1.iso %s/DB2_B/104_5.iso", IOP_BINARY, FVC, FVC);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    double mate = atof(out);
    snprintf(cmd, sizeof cmd, "%s fp compare %s/DB2_B/104_1.iso %s/DB2_B/107_5.iso", IOP_BINARY, FVC, FVC);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    double other = atof(out);
    CHECK(mate > 0 && mate <= 1);
    CHECK(other >= 0 && other < mate);
}

TEST(fp_scores_reads_pairs_on_stdin_and_echoes_them_with_a_score) {
    char out[4096], cmd[4096];
    snprintf(cmd, sizeof cmd,
             "printf '%s/DB1_B/101_1.iso\\t%s/DB1_B/101_2.iso\\n%s/DB1_B/101_1.iso\\t%s/DB1_B/102_1.iso\\n' | %s fp scores",
             FVC, FVC, FVC, FVC, IOP_BINARY);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    int lines = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        lines++;
        char *t1 = strchr(l, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        CHECK(t1 && t2);
        if (t2) CHECK(atof(t2 + 1) >= 0 && atof(t2 + 1) <= 1);
    }
    CHECK_INT(lines, 2);
    /* a missing file is reported with its line number, exit 1 */
    snprintf(cmd, sizeof cmd, "printf 'nope.iso\\tnope2.iso\\n' | %s fp scores 2>&1", IOP_BINARY);
    CHECK(run(cmd, out, sizeof out) == 1);
    CHECK(strstr(out, "line 1") != NULL);
}

TEST(fp_info_rejects_a_truncated_template_naming_the_byte) {
    char out[1024], cmd[2048];
    snprintf(cmd, sizeof cmd, "%s fp info %s/fingerprints/invalid/101_1_truncate_2_bytes.iso 2>&1", IOP_BINARY,
             IOP_SHARED_DATA);
    CHECK(run(cmd, out, sizeof out) == 1);
    CHECK(strstr(out, "byte 8") && strstr(out, "truncated"));
    snprintf(cmd, sizeof cmd, "%s fp info %s/formats/fmr.ansi2007", IOP_BINARY, IOP_SHARED_DATA);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    CHECK(strstr(out, "ansi378-2009") != NULL);
}

TEST(fp_gen_eval_stats_convert_and_identify_work_end_to_end) {
    const char *dir = test_tmpdir("fp_cli_gen");
    char out[8192], cmd[4096];
    snprintf(cmd, sizeof cmd, "%s fp gen --seed 5 --fingers 4 --impressions 3 %s/DBX", IOP_BINARY, dir);
    REQUIRE(run(cmd, NULL, 0) == 0);
    snprintf(cmd, sizeof cmd, "%s fp eval %s", IOP_BINARY, dir);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    CHECK(strstr(out, "DBX") && strstr(out, "EER") && strstr(out, "genuine 12 impostor 54"));
    snprintf(cmd, sizeof cmd, "%s fp stats %s", IOP_BINARY, dir);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    CHECK(strstr(out, "12 fingers") != NULL);
    snprintf(cmd, sizeof cmd, "%s fp convert %s/formats/type9.an2k %s/t9.iso && %s fp info %s/t9.iso", IOP_BINARY,
             IOP_SHARED_DATA, dir, IOP_BINARY, dir);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    CHECK(strstr(out, "iso19794-2-2005") && strstr(out, "28 minutiae"));
    snprintf(cmd, sizeof cmd, "%s fp identify --k 2 %s/DBX %s/DBX/102_3.iso", IOP_BINARY, dir, dir);
    REQUIRE(run(cmd, out, sizeof out) == 0);
    CHECK(strstr(out, "1\t") && strstr(out, "102_3.iso\t"));
}

TEST(fp_help_is_on_stdout_and_usage_errors_exit_2) {
    char out[8192], cmd[1024];
    const char *subs[] = {"", " compare", " scores", " eval", " info", " convert", " gen", " stats", " identify"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s fp%s --help 2>/dev/null", IOP_BINARY, subs[i]);
        CHECK(run(cmd, out, sizeof out) == 0);
        CHECK(strstr(out, "usage") != NULL);
    }
    snprintf(cmd, sizeof cmd, "%s fp frobnicate 2>/dev/null", IOP_BINARY);
    CHECK(run(cmd, NULL, 0) == 2);
    snprintf(cmd, sizeof cmd, "%s fp compare onlyone 2>/dev/null", IOP_BINARY);
    CHECK(run(cmd, NULL, 0) == 2);
}
