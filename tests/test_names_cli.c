/* test-links: names record */
/*
 * test_names_cli.c -- the command-line contract of the names engine:
 * `interop names compare A.json B.json`, `interop resolve FILE.jsonl [--threshold T]`,
 * `interop names train --out FILE` and the --model options.
 */
#include <sys/wait.h>
#include "interop/names.h"
#include "test.h"

static int run(const char *cmd, char *out, size_t cap) { return test_run(cmd, out, cap); }

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(cli_names_compare_prints_verdict_score_and_evidence) {
    const char *dir = test_tmpdir("names_cli_compare");
    char a[512], b[512], cmd[2048], out[8192];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    write_file(a, "{\"id\":\"e1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Щеглова\"],"
                  "\"given_names\":[\"Юлия\"],\"dob\":\"1990-03-04\",\"sex\":\"F\",\"nationalities\":[\"RUS\"]}\n");
    write_file(b, "{\"id\":\"e2\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"SHCHEGLOVA\"],"
                  "\"given_names\":[\"IULIIA\"],\"dob\":\"1990-03-04\",\"sex\":\"F\",\"nationalities\":[\"RUS\"]}\n");
    snprintf(cmd, sizeof cmd, "'%s' names compare '%s' '%s' 2>&1", IOP_BINARY, a, b);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "verdict: same") != NULL);
    CHECK(strstr(out, "date_of_birth") != NULL);
    snprintf(cmd, sizeof cmd, "'%s' names compare '%s' '%s' --json", IOP_BINARY, a, b);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strncmp(out, "{\"verdict\":\"same\",\"score\":", 26) == 0);
    snprintf(cmd, sizeof cmd, "'%s' names compare '%s' 2>&1", IOP_BINARY, a);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "'%s' names --help", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "eval febrl") != NULL);
}

TEST(cli_resolve_prints_record_and_cluster_for_every_record) {
    const char *dir = test_tmpdir("names_cli_resolve");
    char f[512], cmd[2048], out[8192];
    snprintf(f, sizeof f, "%s/r.jsonl", dir);
    write_file(f,
               "{\"id\":\"p1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Rossi\"],\"given_names\":[\"Maria\"],\"dob\":\"1980-05-06\"}\n"
               "{\"id\":\"p2\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Verdi\"],\"given_names\":[\"Giulia\"],\"dob\":\"1991-09-09\"}\n"
               "\n"
               "{\"id\":\"p3\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Rosi\"],\"given_names\":[\"Maria\"],\"dob\":\"1980-06-05\"}\n");
    snprintf(cmd, sizeof cmd, "'%s' resolve '%s'", IOP_BINARY, f);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK_STR(out, "p1\tp1\np2\tp2\np3\tp1\n");
    snprintf(cmd, sizeof cmd, "'%s' resolve '%s' --threshold 1.5 2>&1", IOP_BINARY, f);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    write_file(f, "{\"id\":\"p1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Rossi\"]}\n{\"id\":\n");
    snprintf(cmd, sizeof cmd, "'%s' resolve '%s' 2>&1", IOP_BINARY, f);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "r.jsonl:2:") != NULL);
}

TEST(cli_names_train_and_model_options_check_their_arguments) {
    const char *dir = test_tmpdir("names_cli_model");
    char cmd[2048], out[8192], bad[512], a[512];
    snprintf(cmd, sizeof cmd, "'%s' names train 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    CHECK(strstr(out, "--out") != NULL);
    snprintf(cmd, sizeof cmd, "'%s' names train --help", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "names train --out FILE") != NULL);
    snprintf(cmd, sizeof cmd, "'%s' names eval xscript --rules --model x 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "'%s' names eval xscript --folds 1 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    /* a malformed model file is refused with its line, by names and by resolve */
    snprintf(bad, sizeof bad, "%s/bad-model.txt", dir);
    write_file(bad, "interop-names-translit 2\nbg -1 -2\n");
    snprintf(a, sizeof a, "%s/a.json", dir);
    write_file(a, "{\"id\":\"e1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Rossi\"]}\n");
    snprintf(cmd, sizeof cmd, "'%s' names compare '%s' '%s' --model '%s' 2>&1", IOP_BINARY, a, a, bad);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "bad-model.txt:2:") != NULL);
    snprintf(cmd, sizeof cmd, "'%s' resolve '%s' --model '%s' 2>&1", IOP_BINARY, a, bad);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "bad-model.txt:2:") != NULL);
}

TEST(cli_names_eval_xscript_one_fold_writes_where_each_miss_stood) {
    const char *dir = test_tmpdir("names_cli_misses");
    char cmd[2048], out[8192], mf[512];
    snprintf(mf, sizeof mf, "%s/misses.txt", dir);
    snprintf(cmd, sizeof cmd, "'%s' names eval xscript --fold 7 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2); /* fold beyond the 5 folds */
    /* 300 Hebrew pairs, 3 folds, only the second searched: 100 queries */
    snprintf(cmd, sizeof cmd, "'%s' names eval xscript '%s/names/wikidata_hebrew_dev.tsv' --limit 300 --folds 3 --fold 1 "
             "--misses '%s' 2>&1", IOP_BINARY, IOP_SHARED_DATA, mf);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, ": 100 pairs,") != NULL);
    FILE *f = fopen(mf, "r");
    REQUIRE(f != NULL);
    char line[1024];
    int n = 0, good = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        int tabs = 0;
        for (char *p = line; *p; p++) tabs += *p == '\t';
        good += tabs == 5 && (strstr(line, "\tnot-candidate (") || strstr(line, "\tmodel-rank ") ||
                              strstr(line, "\tscored-below-ten\t"));
    }
    fclose(f);
    /* a model trained on 200 pairs misses some of the 100: each has its account */
    CHECK(n > 0);
    CHECK_INT(good, n);
}
