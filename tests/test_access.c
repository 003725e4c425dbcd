/* test-links: access */
/*
 * test_access.c -- users, authorities, profiles (Reg. 2019/817 Arts 8, 9(1)) and the
 * bearer tokens of the API: only a valid, unrevoked, unexpired token of an enabled
 * user authenticates, and only argon2id hashes of tokens are stored.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <sodium.h>
#include "interop/access.h"
#include "test.h"

static char dbpath[1200];

static access_db *fresh_db(const char *name, const access_options *opt) {
    const char *dir = test_tmpdir(name);
    snprintf(dbpath, sizeof dbpath, "%s/access.db", dir);
    access_db *db = NULL;
    iop_err e;
    if (access_open(dbpath, opt, &db, &e) != IOP_OK) {
        fprintf(stderr, "access_open: %s\n", e.msg);
        return NULL;
    }
    return db;
}

static iop_code add_user(access_db *db, const char *name, const char *ms, access_authority_type t) {
    const char *profiles[] = {"border_guard", "police"};
    access_user_spec s = {.name = name, .authority = "DE Federal Police", .authority_type = t, .member_state = ms,
                          .profiles = profiles, .n_profiles = 2};
    iop_err e;
    iop_code c = access_user_add(db, &s, NULL, &e);
    return c;
}

static void raw_sql(const char *sql) {
    sqlite3 *db;
    if (sqlite3_open(dbpath, &db) != SQLITE_OK) return;
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        test_failed(__FILE__, __LINE__, "SQL failed: %s", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

TEST(art9_token_authenticates_its_user_with_authority_and_profiles) {
    access_db *db = fresh_db("access-ok", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    CHECK(add_user(db, "ben", "FRA", ACCESS_POLICE) == IOP_OK);
    char *tok = NULL, *id = NULL;
    iop_err e;
    REQUIRE(access_token_create(db, "anna", 0, "laptop", &tok, &id, &e) == IOP_OK);
    CHECK(strncmp(tok, "iop_", 4) == 0);
    CHECK_INT(strlen(tok), 4 + 16 + 1 + 43);
    CHECK(strncmp(tok + 4, id, 16) == 0);
    access_user u;
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK);
    CHECK_STR(u.name, "anna");
    CHECK_STR(u.authority, "DE Federal Police");
    CHECK_STR(u.member_state, "DEU");
    CHECK_INT(u.authority_type, ACCESS_BORDER_GUARD);
    CHECK(access_user_has_profile(&u, "police"));
    CHECK(!access_user_has_profile(&u, "europol"));
    access_user_free(&u);
    /* a second time comes from the cache */
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK);
    access_user_free(&u);
    uint64_t hits, misses;
    access_cache_stats(db, &hits, &misses);
    CHECK_INT(hits, 1);
    CHECK_INT(misses, 1);
    free(tok);
    free(id);
    access_close(db);
}

TEST(art9_wrong_malformed_or_unknown_token_is_refused) {
    access_db *db = fresh_db("access-wrong", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    char *tok = NULL;
    iop_err e;
    REQUIRE(access_token_create(db, "anna", 0, NULL, &tok, NULL, &e) == IOP_OK);
    access_user u;
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK); /* cached now */
    access_user_free(&u);
    char bad[128];
    snprintf(bad, sizeof bad, "%s", tok);
    bad[30] = bad[30] == 'A' ? 'B' : 'A'; /* one character of the secret */
    CHECK(access_authenticate(db, bad, &u, &e) == IOP_EDENIED);
    CHECK(strstr(e.msg, "wrong secret") != NULL);
    CHECK(strstr(e.msg, bad + 21) == NULL); /* the secret is never echoed */
    snprintf(bad, sizeof bad, "%s", tok);
    bad[5] = bad[5] == '0' ? '1' : '0'; /* another id */
    CHECK(access_authenticate(db, bad, &u, &e) == IOP_EDENIED);
    CHECK(access_authenticate(db, "", &u, &e) == IOP_EDENIED);
    CHECK(access_authenticate(db, NULL, &u, &e) == IOP_EDENIED);
    CHECK(access_authenticate(db, "Bearer xyz", &u, &e) == IOP_EDENIED);
    snprintf(bad, sizeof bad, "%sX", tok);
    CHECK(access_authenticate(db, bad, &u, &e) == IOP_EDENIED);
    snprintf(bad, sizeof bad, "%s", tok);
    bad[strlen(bad) - 1] = 0;
    CHECK(access_authenticate(db, bad, &u, &e) == IOP_EDENIED);
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK);
    access_user_free(&u);
    free(tok);
    access_close(db);
}

TEST(art9_revoked_token_is_refused_even_when_cached_and_when_revoked_elsewhere) {
    access_db *db = fresh_db("access-revoke", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    char *t1 = NULL, *t2 = NULL, *id1 = NULL;
    iop_err e;
    REQUIRE(access_token_create(db, "anna", 0, NULL, &t1, &id1, &e) == IOP_OK);
    REQUIRE(access_token_create(db, "anna", 0, NULL, &t2, NULL, &e) == IOP_OK);
    access_user u;
    CHECK(access_authenticate(db, t1, &u, &e) == IOP_OK);
    access_user_free(&u);
    CHECK(access_authenticate(db, t2, &u, &e) == IOP_OK);
    access_user_free(&u);
    /* revoked through this handle */
    CHECK(access_token_revoke(db, id1, &e) == IOP_OK);
    CHECK(access_authenticate(db, t1, &u, &e) == IOP_EDENIED);
    CHECK(strstr(e.msg, "revoked") != NULL);
    /* revoked by another process (another handle on the same file): t2 is cached here */
    access_db *other = NULL;
    REQUIRE(access_open(dbpath, NULL, &other, &e) == IOP_OK);
    int n = 0;
    CHECK(access_token_revoke_user(other, "anna", &n, &e) == IOP_OK);
    CHECK_INT(n, 1);
    access_close(other);
    CHECK(access_authenticate(db, t2, &u, &e) == IOP_EDENIED);
    CHECK(access_token_revoke(db, "nothex", &e) == IOP_EINVAL);
    CHECK(access_token_revoke(db, "0123456789abcdef", &e) == IOP_ENOTFOUND);
    access_token_info *ti;
    size_t nt;
    CHECK(access_token_list(db, "anna", &ti, &nt, &e) == IOP_OK);
    CHECK_INT(nt, 2);
    for (size_t i = 0; i < nt; i++) CHECK(ti[i].revoked_ms > 0);
    access_token_list_free(ti, nt);
    free(t1);
    free(t2);
    free(id1);
    access_close(db);
}

TEST(art9_expired_token_is_refused) {
    access_db *db = fresh_db("access-expired", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    char *tok = NULL, *id = NULL;
    iop_err e;
    CHECK(access_token_create(db, "anna", iop_now_ms() - 1, NULL, &tok, &id, &e) == IOP_EINVAL);
    REQUIRE(access_token_create(db, "anna", iop_now_ms() + 3600000, NULL, &tok, &id, &e) == IOP_OK);
    access_user u;
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK); /* valid for an hour; now cached */
    access_user_free(&u);
    /* an hour passes: the stored expiry now lies in the past */
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE tokens SET expires_ms = %lld WHERE id = '%s'", (long long)(iop_now_ms() - 1000),
             id);
    raw_sql(sql);
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_EDENIED);
    CHECK(strstr(e.msg, "expired") != NULL);
    free(tok);
    free(id);
    access_close(db);
}

TEST(art9_disabled_user_is_refused_with_a_cached_token) {
    access_db *db = fresh_db("access-disabled", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    char *tok = NULL;
    iop_err e;
    REQUIRE(access_token_create(db, "anna", 0, NULL, &tok, NULL, &e) == IOP_OK);
    access_user u;
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK);
    access_user_free(&u);
    CHECK(access_user_set_disabled(db, "anna", true, &e) == IOP_OK);
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_EDENIED);
    CHECK(strstr(e.msg, "disabled") != NULL);
    char *t2 = NULL;
    CHECK(access_token_create(db, "anna", 0, NULL, &t2, NULL, &e) == IOP_EDENIED);
    CHECK(access_user_set_disabled(db, "anna", false, &e) == IOP_OK);
    CHECK(access_authenticate(db, tok, &u, &e) == IOP_OK);
    access_user_free(&u);
    free(tok);
    access_close(db);
}

/* True when needle occurs in the bytes of file path. */
static bool file_contains(const char *path, const char *needle) {
    char *data = NULL;
    size_t n = 0;
    if (iop_read_file(path, &data, &n, NULL) != IOP_OK) return false;
    size_t k = strlen(needle);
    bool found = false;
    for (size_t i = 0; i + k <= n && !found; i++)
        if (!memcmp(data + i, needle, k)) found = true;
    free(data);
    return found;
}

TEST(art9_only_argon2id_hashes_of_tokens_are_stored) {
    access_db *db = fresh_db("access-hashed", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    char *tok = NULL, *id = NULL;
    iop_err e;
    REQUIRE(access_token_create(db, "anna", 0, NULL, &tok, &id, &e) == IOP_OK);
    const char *secret = tok + 21;
    char wal[1300];
    snprintf(wal, sizeof wal, "%s-wal", dbpath);
    CHECK(file_contains(dbpath, id) || file_contains(wal, id)); /* the id is stored: the search works */
    CHECK(!file_contains(dbpath, secret));
    CHECK(!file_contains(wal, secret));
    /* a prefix long enough to be unique must not appear either */
    char part[17];
    memcpy(part, secret, 16);
    part[16] = 0;
    CHECK(!file_contains(dbpath, part));
    CHECK(!file_contains(wal, part));
    access_close(db);
    sqlite3 *s;
    REQUIRE(sqlite3_open(dbpath, &s) == SQLITE_OK);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(s, "SELECT hash FROM tokens", -1, &st, NULL) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const char *h = (const char *)sqlite3_column_text(st, 0);
    CHECK(h && strncmp(h, "$argon2id$", 10) == 0);
    CHECK(h && crypto_pwhash_str_verify(h, secret, strlen(secret)) == 0);
    sqlite3_finalize(st);
    sqlite3_close(s);
    free(tok);
    free(id);
}

typedef struct auth_worker {
    access_db *db;
    const char *good[2];
    const char *bad;
    int ok, refused, wrong;
} auth_worker;

static void *auth_main(void *arg) {
    auth_worker *w = arg;
    for (int i = 0; i < 200; i++) {
        access_user u;
        const char *t = w->good[i % 2];
        if (access_authenticate(w->db, t, &u, NULL) == IOP_OK) {
            if (!strcmp(u.name, i % 2 ? "ben" : "anna")) w->ok++;
            else w->wrong++;
            access_user_free(&u);
        }
        if (i % 50 == 0) {
            if (access_authenticate(w->db, w->bad, &u, NULL) == IOP_EDENIED) w->refused++;
            else access_user_free(&u);
        }
    }
    return NULL;
}

TEST(art9_concurrent_authentication_returns_each_token_its_own_user) {
    access_db *db = fresh_db("access-concurrent", NULL);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    CHECK(add_user(db, "ben", "EU", ACCESS_EUROPOL) == IOP_OK);
    char *ta = NULL, *tb = NULL;
    REQUIRE(access_token_create(db, "anna", 0, NULL, &ta, NULL, NULL) == IOP_OK);
    REQUIRE(access_token_create(db, "ben", 0, NULL, &tb, NULL, NULL) == IOP_OK);
    char bad[128];
    snprintf(bad, sizeof bad, "%s", tb);
    bad[40] = bad[40] == 'x' ? 'y' : 'x';
    enum { T = 6 };
    auth_worker w[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        w[t] = (auth_worker){.db = db, .good = {ta, tb}, .bad = bad};
        pthread_create(&th[t], NULL, auth_main, &w[t]);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        CHECK_INT(w[t].ok, 200);
        CHECK_INT(w[t].wrong, 0);
        CHECK_INT(w[t].refused, 4);
    }
    uint64_t hits, misses;
    access_cache_stats(db, &hits, &misses);
    CHECK(hits >= (uint64_t)(T * 200 - 2 * T)); /* at most one argon2id per token and thread */
    free(ta);
    free(tb);
    access_close(db);
}

TEST(art9_a_tiny_cache_still_authenticates_every_token_correctly) {
    access_options o = {.cache_slots = 1};
    access_db *db = fresh_db("access-tiny-cache", &o);
    REQUIRE(db);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    CHECK(add_user(db, "ben", "AUT", ACCESS_VISA_AUTHORITY) == IOP_OK);
    char *ta = NULL, *tb = NULL;
    REQUIRE(access_token_create(db, "anna", 0, NULL, &ta, NULL, NULL) == IOP_OK);
    REQUIRE(access_token_create(db, "ben", 0, NULL, &tb, NULL, NULL) == IOP_OK);
    for (int i = 0; i < 3; i++) {
        access_user u;
        CHECK(access_authenticate(db, i % 2 ? tb : ta, &u, NULL) == IOP_OK);
        CHECK_STR(u.name, i % 2 ? "ben" : "anna");
        access_user_free(&u);
    }
    free(ta);
    free(tb);
    access_close(db);
}

TEST(art8_users_carry_authority_type_member_state_and_profiles) {
    access_db *db = fresh_db("access-users", NULL);
    REQUIRE(db);
    iop_err e;
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_OK);
    CHECK(add_user(db, "anna", "DEU", ACCESS_BORDER_GUARD) == IOP_EEXIST);
    CHECK(add_user(db, "carl", "USA", ACCESS_POLICE) == IOP_EINVAL);
    CHECK(add_user(db, "carl", "deu", ACCESS_POLICE) == IOP_EINVAL);
    CHECK(add_user(db, "bad name", "DEU", ACCESS_POLICE) == IOP_EINVAL);
    CHECK(add_user(db, "carl", "DEU", (access_authority_type)99) == IOP_EINVAL);
    CHECK(add_user(db, "eu.agent", "EU", ACCESS_EUROPOL) == IOP_OK);
    const char *badp[] = {"Border Guard"};
    access_user_spec s = {.name = "dora", .authority = "X", .authority_type = ACCESS_OTHER, .member_state = "ITA",
                          .profiles = badp, .n_profiles = 1};
    CHECK(access_user_add(db, &s, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "Border Guard") != NULL);
    s.n_profiles = 0;
    CHECK(access_user_add(db, &s, NULL, &e) == IOP_EINVAL);
    access_authority_type t;
    CHECK(access_authority_type_parse("sirene_bureau", &t, &e) == IOP_OK);
    CHECK_INT(t, ACCESS_SIRENE_BUREAU);
    CHECK(access_authority_type_parse("army", &t, &e) == IOP_EINVAL);
    CHECK_STR(access_authority_type_name(ACCESS_ECRIS_CENTRAL_AUTHORITY), "ecris_central_authority");

    const char *np[] = {"europol"};
    CHECK(access_user_set_profiles(db, "eu.agent", np, 1, &e) == IOP_OK);
    CHECK(access_user_set_profiles(db, "nobody", np, 1, &e) == IOP_ENOTFOUND);
    access_user *users;
    size_t n;
    REQUIRE(access_user_list(db, &users, &n, &e) == IOP_OK);
    REQUIRE(n == 2);
    CHECK_STR(users[0].name, "anna");
    CHECK_STR(users[1].name, "eu.agent");
    CHECK_STR(users[1].member_state, "EU");
    CHECK_INT(users[1].n_profiles, 1);
    CHECK_STR(users[1].profiles[0], "europol");
    CHECK(users[1].created_ms > 0);
    access_user_list_free(users, n);
    access_user u;
    CHECK(access_user_get(db, "nobody", &u, &e) == IOP_ENOTFOUND);
    CHECK(access_user_set_disabled(db, "nobody", true, &e) == IOP_ENOTFOUND);
    char *tok;
    CHECK(access_token_create(db, "nobody", 0, NULL, &tok, NULL, &e) == IOP_ENOTFOUND);
    access_close(db);
}
