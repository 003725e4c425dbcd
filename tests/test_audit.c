/* test-links: audit */
/*
 * test_audit.c -- the hash-chained access logs (Reg. 2019/817 Arts 10, 16, 24, 36):
 * the chain verifies, and every kind of tampering with the SQLite file is detected
 * at the first broken entry; concurrent appenders all land; the one-year purge keeps
 * the chain verifiable.
 */
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "audit/audit_internal.h"
#include "interop/audit.h"
#include "test.h"

static char dbpath[1200];

static audit_log *fresh_log(const char *name) {
    const char *dir = test_tmpdir(name);
    snprintf(dbpath, sizeof dbpath, "%s/audit.db", dir);
    audit_log *log = NULL;
    iop_err e;
    if (audit_open(dbpath, NULL, &log, &e) != IOP_OK) {
        fprintf(stderr, "audit_open: %s\n", e.msg);
        return NULL;
    }
    return log;
}

static int64_t append_search(audit_log *log, int i, int64_t time_ms) {
    const char *systems[] = {"sis", "vis", "ees"};
    audit_count counts[] = {{"sis", i % 3}, {"vis", 1}, {"ees", 0}};
    char actor[32], detail[96];
    snprintf(actor, sizeof actor, "officer%d", i % 4);
    snprintf(detail, sizeof detail, "{\"query\":{\"surname\":\"N%d\",\"dob\":\"1980\"},\"ms\":%d}", i, i % 7);
    audit_entry e = {.time_ms = time_ms, .actor = actor, .authority = "DE Federal Police", .profile = "border_guard",
                     .purpose = "border check", .component = "esp", .operation = "query",
                     .systems = systems, .n_systems = 3, .counts = counts, .n_counts = 3, .detail = detail};
    int64_t seq = 0;
    iop_err err;
    if (audit_append(log, &e, &seq, &err) != IOP_OK) fprintf(stderr, "append: %s\n", err.msg);
    return seq;
}

static void fill(audit_log *log, int n) {
    for (int i = 1; i <= n; i++) append_search(log, i, 0);
}

/* Runs SQL against the log's file the way someone with file access would:
 * dropping the append-only triggers first. */
static void tamper(const char *sql) {
    sqlite3 *db;
    REQUIRE(sqlite3_open(dbpath, &db) == SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, "DROP TRIGGER IF EXISTS audit_entries_append_only;"
                              "DROP TRIGGER IF EXISTS audit_entries_no_delete;", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) test_failed(__FILE__, __LINE__, "tamper SQL failed: %s", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

static int64_t verify_broken_at(audit_log *log, char *reason, size_t n) {
    audit_verify_result r;
    iop_err e;
    iop_code c = audit_verify(log, &r, &e);
    if (reason) snprintf(reason, n, "%s", r.reason);
    if (c == IOP_OK) return 0;
    if (c != IOP_ECORRUPT) return -1;
    return r.broken_seq;
}

TEST(art10_log_chain_verifies_and_entries_read_back) {
    audit_log *log = fresh_log("audit-verify");
    REQUIRE(log);
    for (int i = 1; i <= 20; i++) CHECK_INT(append_search(log, i, 1700000000000LL + i), i);
    audit_verify_result r;
    iop_err e;
    CHECK(audit_verify(log, &r, &e) == IOP_OK);
    CHECK_INT(r.entries, 20);
    CHECK_INT(r.first_seq, 1);
    CHECK_INT(r.last_seq, 20);
    CHECK_INT(r.broken_seq, 0);
    int64_t hs;
    char hex[65];
    CHECK(audit_head(log, &hs, hex, &e) == IOP_OK);
    CHECK_INT(hs, 20);
    CHECK_INT(strlen(hex), 64);
    CHECK(audit_close(log, &e) == IOP_OK);
}

typedef struct collect {
    int n;
    iop_buf out;
} collect;

static int collect_fn(void *ctx, const audit_entry *e) {
    collect *c = ctx;
    c->n++;
    audit_entry_json(&c->out, e);
    iop_buf_puts(&c->out, "\n");
    return 0;
}

TEST(art10_log_records_who_profile_systems_counts_and_time) {
    audit_log *log = fresh_log("audit-fields");
    REQUIRE(log);
    fill(log, 8);
    collect c = {0};
    iop_buf_init(&c.out);
    audit_filter f = {.actor = "officer1"};
    iop_err e;
    CHECK(audit_query(log, &f, collect_fn, &c, &e) == IOP_OK);
    CHECK_INT(c.n, 2); /* entries 1 and 5 */
    CHECK(strstr(c.out.data, "\"seq\":1,") != NULL);
    CHECK(strstr(c.out.data, "\"seq\":5,") != NULL);
    CHECK(strstr(c.out.data, "\"profile\":\"border_guard\"") != NULL);
    CHECK(strstr(c.out.data, "\"authority\":\"DE Federal Police\"") != NULL);
    CHECK(strstr(c.out.data, "\"systems\":[\"sis\",\"vis\",\"ees\"]") != NULL);
    CHECK(strstr(c.out.data, "\"counts\":{\"sis\":1,\"vis\":1,\"ees\":0}") != NULL);
    /* detail is stored canonically: keys sorted, compact */
    CHECK(strstr(c.out.data, "\"detail\":{\"ms\":1,\"query\":{\"dob\":\"1980\",\"surname\":\"N1\"}}") != NULL);
    iop_buf_reset(&c.out);
    c.n = 0;
    audit_filter g = {.limit = 3, .newest_first = true};
    CHECK(audit_query(log, &g, collect_fn, &c, &e) == IOP_OK);
    CHECK_INT(c.n, 3);
    CHECK(strncmp(c.out.data, "{\"seq\":8,", 9) == 0);
    iop_buf_free(&c.out);
    audit_close(log, NULL);
}

TEST(art10_modifying_any_field_of_an_entry_is_detected) {
    const char *updates[] = {
        "UPDATE audit_entries SET time_ms = time_ms + 1 WHERE seq = 4",
        "UPDATE audit_entries SET actor = 'someone_else' WHERE seq = 4",
        "UPDATE audit_entries SET actor = NULL WHERE seq = 4",
        "UPDATE audit_entries SET authority = 'FR Police' WHERE seq = 4",
        "UPDATE audit_entries SET profile = 'police' WHERE seq = 4",
        "UPDATE audit_entries SET purpose = 'curiosity' WHERE seq = 4",
        "UPDATE audit_entries SET component = 'cir' WHERE seq = 4",
        "UPDATE audit_entries SET operation = 'read' WHERE seq = 4",
        "UPDATE audit_entries SET systems = '[\"sis\",\"vis\"]' WHERE seq = 4",
        "UPDATE audit_entries SET counts = '{\"sis\":0,\"vis\":1,\"ees\":0}' WHERE seq = 4",
        "UPDATE audit_entries SET detail = '{\"ms\":4}' WHERE seq = 4",
        "UPDATE audit_entries SET hash = zeroblob(32) WHERE seq = 4",
        "UPDATE audit_entries SET mac = zeroblob(32) WHERE seq = 4",
    };
    for (size_t i = 0; i < sizeof updates / sizeof updates[0]; i++) {
        audit_log *log = fresh_log("audit-modify");
        REQUIRE(log);
        fill(log, 7);
        CHECK_INT(verify_broken_at(log, NULL, 0), 0);
        tamper(updates[i]);
        char why[400];
        int64_t at = verify_broken_at(log, why, sizeof why);
        if (at != 4) test_failed(__FILE__, __LINE__, "'%s': broken at %lld (%s), expected 4", updates[i], (long long)at, why);
        audit_close(log, NULL);
    }
}

TEST(art10_deleting_a_middle_entry_is_detected) {
    audit_log *log = fresh_log("audit-delete-mid");
    REQUIRE(log);
    fill(log, 10);
    tamper("DELETE FROM audit_entries WHERE seq = 6");
    char why[400];
    CHECK_INT(verify_broken_at(log, why, sizeof why), 6);
    CHECK(strstr(why, "missing") != NULL);
    audit_close(log, NULL);
}

TEST(art10_deleting_the_first_entries_is_detected) {
    audit_log *log = fresh_log("audit-delete-head");
    REQUIRE(log);
    fill(log, 10);
    tamper("DELETE FROM audit_entries WHERE seq <= 2");
    CHECK_INT(verify_broken_at(log, NULL, 0), 1);
    audit_close(log, NULL);
}

TEST(art10_deleting_the_tail_is_detected_by_the_sealed_head) {
    audit_log *log = fresh_log("audit-delete-tail");
    REQUIRE(log);
    fill(log, 10);
    tamper("DELETE FROM audit_entries WHERE seq >= 8");
    char why[400];
    CHECK_INT(verify_broken_at(log, why, sizeof why), 8);
    CHECK(strstr(why, "end") != NULL);
    /* rolling the head seal back as well needs the key: a forged head is detected */
    tamper("UPDATE audit_seal SET seq = 7, hash = (SELECT hash FROM audit_entries WHERE seq = 7) WHERE kind = 'head'");
    CHECK_INT(verify_broken_at(log, why, sizeof why), 7);
    CHECK(strstr(why, "sealed head") != NULL);
    /* and the writer refuses to extend a log whose head is forged */
    audit_entry e = {.component = "esp", .operation = "query"};
    iop_err err;
    CHECK(audit_append(log, &e, NULL, &err) == IOP_ECORRUPT);
    audit_close(log, NULL);
}

TEST(art10_deleting_the_whole_log_and_its_head_is_detected) {
    audit_log *log = fresh_log("audit-delete-all");
    REQUIRE(log);
    fill(log, 5);
    tamper("DELETE FROM audit_entries WHERE seq >= 3; DELETE FROM audit_seal");
    char why[400];
    CHECK(verify_broken_at(log, why, sizeof why) > 0);
    CHECK(strstr(why, "sealed head") != NULL);
    /* a log without its head is not extended (it would hide the deletion) */
    audit_entry e = {.component = "esp", .operation = "query"};
    iop_err err;
    CHECK(audit_append(log, &e, NULL, &err) == IOP_ECORRUPT);
    CHECK(strstr(err.msg, "sealed head is missing") != NULL);
    audit_close(log, NULL);
}

TEST(art10_reordering_entries_is_detected) {
    audit_log *log = fresh_log("audit-reorder");
    REQUIRE(log);
    fill(log, 8);
    tamper("UPDATE audit_entries SET seq = -1 WHERE seq = 3;"
           "UPDATE audit_entries SET seq = 3 WHERE seq = 4;"
           "UPDATE audit_entries SET seq = 4 WHERE seq = -1;");
    char why[400];
    CHECK_INT(verify_broken_at(log, why, sizeof why), 3);
    CHECK(strstr(why, "does not link") != NULL);
    audit_close(log, NULL);
}

TEST(art10_chain_recomputed_without_the_key_is_detected_at_the_first_rewritten_entry) {
    audit_log *log = fresh_log("audit-rewrite");
    REQUIRE(log);
    fill(log, 9);
    tamper("UPDATE audit_entries SET actor = 'nobody' WHERE seq = 5");
    /* recompute hashes 5..9 with the public chain formula, as a forger would */
    sqlite3 *db;
    REQUIRE(sqlite3_open(dbpath, &db) == SQLITE_OK);
    uint8_t prev[AUDIT_HASH];
    sqlite3_stmt *st, *up;
    sqlite3_prepare_v2(db, "SELECT hash FROM audit_entries WHERE seq = 4", -1, &st, NULL);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    memcpy(prev, sqlite3_column_blob(st, 0), AUDIT_HASH);
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT seq, time_ms, actor, authority, profile, purpose, component, operation, systems, "
                           "counts, detail FROM audit_entries WHERE seq >= 5 ORDER BY seq", -1, &st, NULL);
    sqlite3_prepare_v2(db, "UPDATE audit_entries SET prev = ?, hash = ? WHERE seq = ?", -1, &up, NULL);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        audit_row r;
        r.seq = sqlite3_column_int64(st, 0);
        r.time_ms = sqlite3_column_int64(st, 1);
        for (int i = 0; i < 9; i++) {
            r.f[i] = (const char *)sqlite3_column_text(st, 2 + i);
            r.len[i] = (size_t)sqlite3_column_bytes(st, 2 + i);
        }
        uint8_t h[AUDIT_HASH];
        audit_chain_hash(prev, &r, h);
        sqlite3_reset(up);
        sqlite3_bind_blob(up, 1, prev, AUDIT_HASH, SQLITE_TRANSIENT);
        sqlite3_bind_blob(up, 2, h, AUDIT_HASH, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 3, r.seq);
        CHECK(sqlite3_step(up) == SQLITE_DONE);
        memcpy(prev, h, AUDIT_HASH);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    sqlite3_close(db);
    char why[400];
    CHECK_INT(verify_broken_at(log, why, sizeof why), 5);
    CHECK(strstr(why, "rewritten") != NULL);
    audit_close(log, NULL);
}

TEST(art10_append_only_triggers_refuse_update_and_delete) {
    audit_log *log = fresh_log("audit-triggers");
    REQUIRE(log);
    fill(log, 3);
    sqlite3 *db;
    REQUIRE(sqlite3_open(dbpath, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE audit_entries SET actor = 'x' WHERE seq = 1", NULL, NULL, NULL) != SQLITE_OK);
    CHECK(sqlite3_exec(db, "DELETE FROM audit_entries WHERE seq = 1", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    audit_close(log, NULL);
}

typedef struct worker {
    audit_log *log;
    int id, n, failures;
    int64_t *seqs;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        int64_t s = append_search(w->log, w->id * 100000 + i, 0);
        if (s <= 0) w->failures++;
        w->seqs[i] = s;
    }
    return NULL;
}

TEST(art10_concurrent_appenders_all_land_with_distinct_sequence_numbers) {
    audit_log *log = fresh_log("audit-concurrent");
    REQUIRE(log);
    enum { T = 8, N = 250 };
    static int64_t seqs[T][N];
    worker w[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        w[t] = (worker){.log = log, .id = t, .n = N, .seqs = seqs[t]};
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    static unsigned char seen[T * N + 1];
    memset(seen, 0, sizeof seen);
    int dup = 0, bad = 0;
    for (int t = 0; t < T; t++) {
        CHECK_INT(w[t].failures, 0);
        for (int i = 0; i < N; i++) {
            int64_t s = seqs[t][i];
            if (s < 1 || s > T * N) bad++;
            else if (seen[s]++) dup++;
            if (i && s <= seqs[t][i - 1]) bad++; /* one thread's entries keep their order */
        }
    }
    CHECK_INT(dup, 0);
    CHECK_INT(bad, 0);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, NULL) == IOP_OK);
    CHECK_INT(r.entries, T * N);
    audit_close(log, NULL);
}

TEST(art10_two_handles_on_one_log_extend_one_chain) {
    audit_log *a = fresh_log("audit-two-handles");
    REQUIRE(a);
    audit_log *b = NULL;
    iop_err e;
    REQUIRE(audit_open(dbpath, NULL, &b, &e) == IOP_OK);
    for (int i = 0; i < 10; i++) {
        CHECK_INT(append_search(i % 2 ? a : b, i, 0), i + 1);
    }
    audit_close(b, NULL);
    CHECK_INT(verify_broken_at(a, NULL, 0), 0);
    audit_close(a, NULL);
}

TEST(art10_entries_appended_without_waiting_are_durable_after_flush_and_reopen) {
    const char *dir = test_tmpdir("audit-nowait");
    snprintf(dbpath, sizeof dbpath, "%s/audit.db", dir);
    audit_options o = {.no_wait_durable = true, .commit_delay_us = 500};
    audit_log *log;
    iop_err e;
    REQUIRE(audit_open(dbpath, &o, &log, &e) == IOP_OK);
    for (int i = 0; i < 300; i++) CHECK_INT(append_search(log, i, 0), 0); /* seq unknown until committed */
    CHECK(audit_flush(log, &e) == IOP_OK);
    CHECK(audit_close(log, &e) == IOP_OK);
    REQUIRE(audit_open_read_only(dbpath, NULL, &log, &e) == IOP_OK);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, &e) == IOP_OK);
    CHECK_INT(r.entries, 300);
    audit_entry x = {.component = "esp", .operation = "query"};
    CHECK(audit_append(log, &x, NULL, &e) == IOP_EDENIED);
    audit_close(log, NULL);
}

/* A batch nobody waits for may fill for lazy_delay_us; an appender or a flush that waits
 * cuts that short (it waits commit_delay_us at most, not the lazy delay). */
TEST(art10_a_waiting_appender_does_not_wait_for_a_lazily_filling_batch) {
    const char *dir = test_tmpdir("audit-lazy");
    snprintf(dbpath, sizeof dbpath, "%s/audit.db", dir);
    audit_options o = {.commit_delay_us = 1000, .lazy_delay_us = 60 * 1000 * 1000};
    audit_log *log;
    iop_err e;
    REQUIRE(audit_open(dbpath, &o, &log, &e) == IOP_OK);
    uint64_t t0 = iop_mono_ns();
    for (int i = 0; i < 5; i++) {
        audit_entry x = {.actor = "a", .component = "esp", .operation = "query"};
        CHECK(audit_append_ex(log, &x, false, NULL, &e) == IOP_OK);
    }
    audit_entry w = {.actor = "b", .component = "esp", .operation = "read"};
    int64_t seq = 0;
    CHECK(audit_append_ex(log, &w, true, &seq, &e) == IOP_OK);
    CHECK_INT(seq, 6); /* committed with the five queued before it */
    for (int i = 0; i < 3; i++) {
        audit_entry x = {.actor = "c", .component = "esp", .operation = "query"};
        CHECK(audit_append_ex(log, &x, false, NULL, &e) == IOP_OK);
    }
    CHECK(audit_flush(log, &e) == IOP_OK);
    /* far below the 60 s lazy delay: both waits ended the filling batch */
    CHECK((iop_mono_ns() - t0) / 1000000000u < 30);
    audit_stats st;
    audit_get_stats(log, &st);
    CHECK_INT(st.appended, 9);
    CHECK_INT(st.queued, 0);
    CHECK(audit_close(log, &e) == IOP_OK);
}

TEST(art10_reopened_log_continues_its_chain) {
    audit_log *log = fresh_log("audit-reopen");
    REQUIRE(log);
    fill(log, 4);
    audit_close(log, NULL);
    iop_err e;
    REQUIRE(audit_open(dbpath, NULL, &log, &e) == IOP_OK);
    CHECK_INT(append_search(log, 5, 0), 5);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    audit_close(log, NULL);
}

TEST(art10_missing_or_world_readable_key_is_refused) {
    audit_log *log = fresh_log("audit-key");
    REQUIRE(log);
    fill(log, 2);
    audit_close(log, NULL);
    char key[1300];
    snprintf(key, sizeof key, "%s.key", dbpath);
    struct stat sb;
    REQUIRE(stat(key, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    iop_err e;
    chmod(key, 0644);
    CHECK(audit_open(dbpath, NULL, &log, &e) == IOP_EDENIED);
    CHECK(strstr(e.msg, "0600") != NULL);
    chmod(key, 0600);
    char moved[1310];
    snprintf(moved, sizeof moved, "%s.moved", key);
    REQUIRE(rename(key, moved) == 0);
    CHECK(audit_open(dbpath, NULL, &log, &e) == IOP_ECORRUPT);
    CHECK(strstr(e.msg, "audit key") != NULL);
    REQUIRE(rename(moved, key) == 0);
    REQUIRE(audit_open(dbpath, NULL, &log, &e) == IOP_OK);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    audit_close(log, NULL);
}

TEST(art10_bad_entry_is_refused_and_nothing_is_written) {
    audit_log *log = fresh_log("audit-bad");
    REQUIRE(log);
    fill(log, 2);
    iop_err e;
    audit_entry bad = {.actor = "x", .component = "esp", .operation = "query", .detail = "{\"a\":1,"};
    CHECK(audit_append(log, &bad, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "detail") != NULL);
    audit_entry dup = {.component = "esp", .operation = "query", .detail = "{\"a\":1,\"a\":2}"};
    CHECK(audit_append(log, &dup, NULL, &e) == IOP_EINVAL);
    audit_entry nocomp = {.operation = "query"};
    CHECK(audit_append(log, &nocomp, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "component") != NULL);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, NULL) == IOP_OK);
    CHECK_INT(r.entries, 2);
    audit_close(log, NULL);
}

TEST(art10_a_detail_logged_again_is_stored_in_the_same_canonical_form) {
    audit_log *log = fresh_log("audit-detail-again");
    REQUIRE(log);
    iop_err e;
    /* 200 distinct details, each logged twice (the second time from the cache of
     * canonical forms, whose 64 places they share), then a bad one twice */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 200; i++) {
            char d[96];
            snprintf(d, sizeof d, "{ \"z\": %d, \"a\": [\"f%d\", true] }", i, i);
            audit_entry en = {.component = "esp", .operation = "query", .detail = d};
            REQUIRE(audit_append(log, &en, NULL, &e) == IOP_OK);
        }
    for (int k = 0; k < 2; k++) {
        audit_entry bad = {.component = "esp", .operation = "query", .detail = "{\"a\":1,"};
        CHECK(audit_append(log, &bad, NULL, &e) == IOP_EINVAL);
    }
    collect c = {0};
    iop_buf_init(&c.out);
    audit_filter f = {.limit = 1000};
    CHECK(audit_query(log, &f, collect_fn, &c, &e) == IOP_OK);
    CHECK_INT(c.n, 400);
    for (int i = 0; i < 200; i += 37) {
        char want[96];
        snprintf(want, sizeof want, "\"detail\":{\"a\":[\"f%d\",true],\"z\":%d}", i, i);
        const char *first = strstr(c.out.data, want);
        CHECK(first != NULL);
        CHECK(first && strstr(first + 1, want) != NULL); /* stored twice, identically */
    }
    free(c.out.data);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, NULL) == IOP_OK);
    CHECK_INT(r.entries, 400);
    audit_close(log, NULL);
}

TEST(art10_one_year_retention_purge_keeps_the_chain_verifiable) {
    audit_log *log = fresh_log("audit-purge");
    REQUIRE(log);
    int64_t now = iop_now_ms(), day = 86400000LL;
    for (int i = 0; i < 6; i++) append_search(log, i, now - (400 - i) * day); /* 1..6: older than a year */
    append_search(log, 6, now - 364 * day);                                   /* 7: kept */
    append_search(log, 7, now - 500 * day); /* 8: old but after a kept entry: kept */
    append_search(log, 8, now - 1 * day);   /* 9 */
    int64_t purged = -1;
    iop_err e;
    REQUIRE(audit_purge(log, now, "dpo", &purged, &e) == IOP_OK);
    CHECK_INT(purged, 6);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, &e) == IOP_OK);
    CHECK_INT(r.first_seq, 7);
    CHECK_INT(r.last_seq, 10);
    CHECK_INT(r.entries, 4);
    /* the purge is itself an entry */
    collect c = {0};
    iop_buf_init(&c.out);
    audit_filter f = {.operation = "purge"};
    CHECK(audit_query(log, &f, collect_fn, &c, &e) == IOP_OK);
    CHECK_INT(c.n, 1);
    CHECK(c.out.data && strstr(c.out.data, "\"erased\":6") && strstr(c.out.data, "\"last_erased\":6"));
    iop_buf_free(&c.out);
    /* appending after the purge keeps the chain intact; a second purge erases nothing */
    append_search(log, 10, 0);
    CHECK(audit_purge(log, now, "dpo", &purged, &e) == IOP_OK);
    CHECK_INT(purged, 0);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    /* deleting the new first entry is detected */
    tamper("DELETE FROM audit_entries WHERE seq = 7");
    char why[400];
    CHECK_INT(verify_broken_at(log, why, sizeof why), 7);
    CHECK(strstr(why, "sealed start") != NULL);
    audit_close(log, NULL);
}

TEST(art10_purge_of_an_entirely_expired_log_starts_the_chain_at_the_purge_entry) {
    audit_log *log = fresh_log("audit-purge-all");
    REQUIRE(log);
    int64_t now = iop_now_ms(), day = 86400000LL;
    for (int i = 0; i < 5; i++) append_search(log, i, now - 800 * day);
    int64_t purged = 0;
    REQUIRE(audit_purge(log, now, NULL, &purged, NULL) == IOP_OK);
    CHECK_INT(purged, 5);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, NULL) == IOP_OK);
    CHECK_INT(r.entries, 1);
    CHECK_INT(r.first_seq, 6);
    /* forging the sealed start to hide more deletions needs the key */
    tamper("UPDATE audit_seal SET seq = 7 WHERE kind = 'start'");
    CHECK(verify_broken_at(log, NULL, 0) > 0);
    audit_close(log, NULL);
}

TEST(art10_retention_is_configurable_in_days) {
    const char *dir = test_tmpdir("audit-retention");
    snprintf(dbpath, sizeof dbpath, "%s/audit.db", dir);
    audit_options o = {.retention_days = 30};
    audit_log *log;
    REQUIRE(audit_open(dbpath, &o, &log, NULL) == IOP_OK);
    int64_t now = iop_now_ms(), day = 86400000LL;
    append_search(log, 1, now - 31 * day);
    append_search(log, 2, now - 29 * day);
    int64_t purged = 0;
    REQUIRE(audit_purge(log, now, NULL, &purged, NULL) == IOP_OK);
    CHECK_INT(purged, 1);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    audit_close(log, NULL);
}

/* Appends in a child process, reports each acknowledged seq through a pipe. */
static void child_append_forever(const char *path, int fd) {
    audit_log *log;
    if (audit_open(path, NULL, &log, NULL) != IOP_OK) _exit(3);
    for (int i = 0;; i++) {
        int64_t seq = append_search(log, i, 0);
        if (seq <= 0 || write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq) _exit(4);
    }
}

TEST(art10_acknowledged_entries_survive_kill_9_and_the_chain_stays_intact) {
    const char *dir = test_tmpdir("audit-kill9");
    snprintf(dbpath, sizeof dbpath, "%s/audit.db", dir);
    audit_log *log;
    REQUIRE(audit_open(dbpath, NULL, &log, NULL) == IOP_OK); /* creates the log and its key */
    audit_close(log, NULL);
    for (int round = 0; round < 3; round++) {
        int p[2];
        REQUIRE(pipe(p) == 0);
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_append_forever(dbpath, p[1]);
        }
        close(p[1]);
        int64_t acked = 0, s;
        for (int k = 0; k < 40 + 30 * round && read(p[0], &s, sizeof s) == (ssize_t)sizeof s; k++) acked = s;
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        close(p[0]);
        CHECK(WIFSIGNALED(st));
        REQUIRE(audit_open(dbpath, NULL, &log, NULL) == IOP_OK);
        audit_verify_result r;
        iop_err e;
        CHECK(audit_verify(log, &r, &e) == IOP_OK);
        CHECK(acked > 0);
        CHECK(r.last_seq >= acked); /* every acknowledged entry is there */
        audit_close(log, NULL);
    }
}

typedef struct verifier {
    audit_log *log;
    _Atomic int stop;
    int runs, failures;
} verifier;

static void *verify_main(void *arg) {
    verifier *v = arg;
    while (!v->stop) {
        audit_verify_result r;
        if (audit_verify(v->log, &r, NULL) != IOP_OK) v->failures++;
        v->runs++;
    }
    return NULL;
}

TEST(art10_verification_of_a_live_log_sees_a_consistent_snapshot) {
    audit_log *log = fresh_log("audit-live-verify");
    REQUIRE(log);
    verifier v = {.log = log};
    pthread_t vt;
    pthread_create(&vt, NULL, verify_main, &v);
    enum { T = 4, N = 150 };
    static int64_t seqs[T][N];
    worker w[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        w[t] = (worker){.log = log, .id = t, .n = N, .seqs = seqs[t]};
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    v.stop = 1;
    pthread_join(vt, NULL);
    CHECK(v.runs > 0);
    CHECK_INT(v.failures, 0);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    audit_close(log, NULL);
}

TEST(art10_random_tampering_is_detected_at_the_tampered_entry) {
    static const char *cols[] = {"time_ms", "actor", "authority", "profile", "purpose", "component", "operation",
                                 "systems", "counts", "detail", "prev", "hash", "mac"};
    iop_rng rng;
    iop_rng_seed(&rng, 20190817);
    for (int round = 0; round < 24; round++) {
        audit_log *log = fresh_log("audit-random-tamper");
        REQUIRE(log);
        /* one batch keeps the test fast: queue without waiting, then flush */
        for (int i = 1; i <= 12; i++) {
            const char *systems[] = {"sis"};
            audit_count counts[] = {{"sis", i}};
            char detail[64];
            snprintf(detail, sizeof detail, "{\"n\":%d}", i);
            audit_entry e = {.actor = "officer", .authority = "AT BMI", .profile = "police", .purpose = "case 7",
                             .component = "esp", .operation = "query", .systems = systems, .n_systems = 1,
                             .counts = counts, .n_counts = 1, .detail = detail};
            audit_append_ex(log, &e, false, NULL, NULL);
        }
        REQUIRE(audit_flush(log, NULL) == IOP_OK);
        int k = 1 + (int)iop_rng_below(&rng, 12);
        const char *col = cols[iop_rng_below(&rng, sizeof cols / sizeof cols[0])];
        char sql[256];
        if (!strcmp(col, "time_ms"))
            snprintf(sql, sizeof sql, "UPDATE audit_entries SET time_ms = time_ms - %u WHERE seq = %d",
                     1 + iop_rng_below(&rng, 100000), k);
        else if (!strcmp(col, "prev") || !strcmp(col, "hash") || !strcmp(col, "mac"))
            snprintf(sql, sizeof sql, "UPDATE audit_entries SET %s = randomblob(32) WHERE seq = %d", col, k);
        else
            snprintf(sql, sizeof sql, "UPDATE audit_entries SET %s = coalesce(%s, '') || ' ' WHERE seq = %d", col,
                     col, k);
        tamper(sql);
        char why[400];
        int64_t at = verify_broken_at(log, why, sizeof why);
        if (at != k) test_failed(__FILE__, __LINE__, "%s: broken at %lld (%s), expected %d", sql, (long long)at, why, k);
        audit_close(log, NULL);
    }
}

typedef struct cb_state {
    pthread_mutex_t mu;
    int calls, ok, failed;
    int64_t seen[64];
    char msg[IOP_ERR_MSG];
} cb_state;

static void on_done(void *ctx, iop_code rc, int64_t seq, const char *errmsg) {
    cb_state *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    if (rc == IOP_OK && seq >= 1 && seq < 64) {
        s->ok++;
        s->seen[seq]++;
    } else if (rc != IOP_OK) {
        s->failed++;
        snprintf(s->msg, sizeof s->msg, "%s", errmsg ? errmsg : "");
    }
    pthread_mutex_unlock(&s->mu);
}

TEST(art10_completion_callbacks_run_once_per_entry_after_the_commit) {
    audit_log *log = fresh_log("audit-callbacks");
    REQUIRE(log);
    cb_state s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    audit_entry e = {.actor = "anna", .component = "esp", .operation = "query"};
    for (int i = 0; i < 40; i++) CHECK(audit_append_cb(log, &e, on_done, &s, NULL) == IOP_OK);
    REQUIRE(audit_flush(log, NULL) == IOP_OK);
    CHECK_INT(s.calls, 40);
    CHECK_INT(s.ok, 40);
    for (int q = 1; q <= 40; q++) CHECK_INT(s.seen[q], 1);
    /* the entries are durable when the callback runs: another handle sees them all */
    audit_log *ro;
    REQUIRE(audit_open_read_only(dbpath, NULL, &ro, NULL) == IOP_OK);
    audit_verify_result r;
    CHECK(audit_verify(ro, &r, NULL) == IOP_OK);
    CHECK_INT(r.entries, 40);
    audit_close(ro, NULL);
    /* a failed batch reports through the callback */
    tamper("UPDATE audit_seal SET seq = 39 WHERE kind = 'head'");
    CHECK(audit_append_cb(log, &e, on_done, &s, NULL) == IOP_OK);
    CHECK(audit_close(log, NULL) == IOP_OK); /* the callback owned the failure */
    CHECK_INT(s.calls, 41);
    CHECK_INT(s.failed, 1);
    CHECK(strstr(s.msg, "sealed head") != NULL);
}

TEST(art10_deleting_the_whole_log_file_is_detected_by_its_surviving_key) {
    audit_log *log = fresh_log("audit-file-deleted");
    REQUIRE(log);
    fill(log, 3);
    audit_close(log, NULL);
    char p[1300];
    snprintf(p, sizeof p, "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath);
    unlink(p);
    REQUIRE(unlink(dbpath) == 0);
    iop_err e;
    CHECK(audit_open(dbpath, NULL, &log, &e) == IOP_ECORRUPT);
    CHECK(strstr(e.msg, "deleted or replaced") != NULL);
    /* a new, empty log verifies and is not mistaken for an emptied one on reopen */
    const char *dir = test_tmpdir("audit-new-empty");
    snprintf(dbpath, sizeof dbpath, "%s/audit.db", dir);
    REQUIRE(audit_open(dbpath, NULL, &log, &e) == IOP_OK);
    audit_close(log, NULL);
    REQUIRE(audit_open(dbpath, NULL, &log, &e) == IOP_OK);
    audit_verify_result r;
    CHECK(audit_verify(log, &r, &e) == IOP_OK);
    CHECK_INT(r.entries, 0);
    CHECK_INT(append_search(log, 1, 0), 1);
    CHECK_INT(verify_broken_at(log, NULL, 0), 0);
    audit_close(log, NULL);
    /* emptying the seals of a new log is detected too */
    tamper("DELETE FROM audit_entries; DELETE FROM audit_seal");
    CHECK(audit_open(dbpath, NULL, &log, &e) == IOP_ECORRUPT);
}
