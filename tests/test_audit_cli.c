/* test-links: audit */
/*
 * test_audit_cli.c -- `interop logs verify|show|purge|head` on a data directory
 * (Reg. 2019/817 Art 10: logs of the search portal, one year retention): exit 0 and
 * "log chain intact" on an intact log, exit 1 naming the first broken entry after
 * tampering, JSON Lines from show, usage errors with exit 2.
 */
#include <sqlite3.h>
#include <sys/wait.h>
#include "interop/audit.h"
#include "test.h"

/* Runs build/interop with args (a shell fragment); captures stdout into out. */
static int run(const char *args, char *out, size_t n) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", IOP_BINARY, args);
    return test_run(cmd, out, n);
}

static void make_log(const char *dir, int n, int64_t first_ms) {
    char path[1200];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    audit_log *log;
    iop_err e;
    if (audit_open(path, NULL, &log, &e) != IOP_OK) {
        test_failed(__FILE__, __LINE__, "audit_open: %s", e.msg);
        return;
    }
    const char *sys[] = {"sis", "vis"};
    audit_count cnt[] = {{"sis", 1}, {"vis", 0}};
    for (int i = 0; i < n; i++) {
        audit_entry x = {.time_ms = first_ms + i * 3600000LL, .actor = i % 2 ? "anna" : "ben",
                         .authority = "DE Federal Police", .profile = "border_guard", .purpose = "border check",
                         .component = "esp", .operation = "query", .systems = sys, .n_systems = 2,
                         .counts = cnt, .n_counts = 2};
        audit_append(log, &x, NULL, NULL);
    }
    audit_close(log, NULL);
}

TEST(art10_logs_verify_reports_intact_chain_and_first_broken_entry) {
    const char *dir = test_tmpdir("logs-cli-verify");
    make_log(dir, 6, iop_now_ms() - 10 * 3600000LL);
    static char out[65536];
    char args[2048];
    snprintf(args, sizeof args, "logs verify --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    CHECK(strstr(out, "log chain intact: 6 entries") != NULL);
    snprintf(args, sizeof args, "logs head --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    char head[128];
    snprintf(head, sizeof head, "%.*s", (int)strcspn(out, "\n"), out);
    CHECK(strncmp(head, "6:", 2) == 0);

    char path[1200];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "DROP TRIGGER audit_entries_append_only;"
                           "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    snprintf(args, sizeof args, "logs verify --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "broken at entry 3") != NULL);
    /* the anchored head names the rewrite too */
    snprintf(args, sizeof args, "logs verify --dir '%s' --expect-head %s", dir, head);
    CHECK_INT(run(args, out, sizeof out), 1);
}

TEST(art10_logs_verify_with_anchor_detects_a_rolled_back_file) {
    const char *dir = test_tmpdir("logs-cli-anchor");
    make_log(dir, 4, iop_now_ms() - 3600000LL);
    static char out[65536];
    char args[2048];
    snprintf(args, sizeof args, "logs head --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    char hex[80];
    REQUIRE(sscanf(out, "4:%64s", hex) == 1);
    snprintf(args, sizeof args, "logs verify --dir '%s' --expect-head 4:%s", dir, hex);
    CHECK_INT(run(args, out, sizeof out), 0);
    /* an anchor from the future of this file: the file was rolled back */
    snprintf(args, sizeof args, "logs verify --dir '%s' --expect-head 9:%s", dir, hex);
    CHECK_INT(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "rolled back") != NULL);
    snprintf(args, sizeof args, "logs verify --dir '%s' --expect-head nonsense", dir);
    CHECK_INT(run(args, out, sizeof out), 2);
}

TEST(art10_logs_show_filters_by_actor_and_time_as_json_lines) {
    const char *dir = test_tmpdir("logs-cli-show");
    make_log(dir, 6, 1700000000000LL); /* 2023-11-14T22:13:20Z, one hour apart */
    static char out[65536];
    char args[2048];
    snprintf(args, sizeof args, "logs show --dir '%s' --actor anna", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    CHECK_INT(lines, 3);
    CHECK(strstr(out, "\"actor\":\"ben\"") == NULL);
    CHECK(strncmp(out, "{\"seq\":2,", 9) == 0);
    snprintf(args, sizeof args, "logs show --dir '%s' --since 2023-11-15T00:00Z --limit 2", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    CHECK(strncmp(out, "{\"seq\":3,", 9) == 0); /* 00:13:20 */
    lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    CHECK_INT(lines, 2);
    snprintf(args, sizeof args, "logs show --dir '%s' --since yesterdayish", dir);
    CHECK_INT(run(args, out, sizeof out), 2);
    snprintf(args, sizeof args, "logs show --dir '%s/nothing-here'", dir);
    CHECK_INT(run(args, out, sizeof out), 1);
    CHECK_INT(run("logs show --help", out, sizeof out), 0);
    CHECK(strstr(out, "usage: interop logs show") != NULL);
    CHECK_INT(run("logs --help", out, sizeof out), 0);
    CHECK_INT(run("logs frobnicate", out, sizeof out), 2);
}

TEST(art10_logs_purge_erases_entries_older_than_the_retention_and_keeps_the_chain) {
    const char *dir = test_tmpdir("logs-cli-purge");
    make_log(dir, 5, iop_now_ms() - 400LL * 86400000LL); /* 400 days old */
    static char out[65536];
    char args[2048];
    snprintf(args, sizeof args, "logs purge --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    CHECK(strstr(out, "purged 5 entries older than 365 days") != NULL);
    snprintf(args, sizeof args, "logs verify --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 0);
    CHECK(strstr(out, "log chain intact: 1 entry (seq 6..6)") != NULL);
    snprintf(args, sizeof args, "logs purge --dir '%s' --retention-days 0", dir);
    CHECK_INT(run(args, out, sizeof out), 2);
}

TEST(art10_logs_purge_refuses_a_broken_chain_so_no_evidence_is_erased) {
    const char *dir = test_tmpdir("logs-cli-purge-broken");
    make_log(dir, 5, iop_now_ms() - 400LL * 86400000LL);
    char path[1200];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "DROP TRIGGER audit_entries_no_delete; DELETE FROM audit_entries WHERE seq = 2", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(db);
    static char out[65536];
    char args[2048];
    snprintf(args, sizeof args, "logs purge --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "broken at entry 2") != NULL);
    snprintf(args, sizeof args, "logs verify --dir '%s'", dir);
    CHECK_INT(run(args, out, sizeof out), 1); /* still there to be seen */
}
