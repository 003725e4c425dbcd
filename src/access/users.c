/*
 * users.c -- the users of the search portal and the API: their authority, its type,
 * their Member State and the ESP profiles they may act under (Reg. 2019/817 Art 8:
 * a profile per category of user, per purpose; Art 9(1): access is reserved to
 * duly authorised staff of the designated authorities).  Stored in DIR/access.db
 * (SQLite, WAL, schema versioned with PRAGMA user_version).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <sodium.h>
#include "access/access_internal.h"

#define SCHEMA_VERSION 1

static const char *schema_v1 =
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, authority TEXT NOT NULL,"
    " authority_type TEXT NOT NULL, member_state TEXT NOT NULL, profiles TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
    "CREATE TABLE tokens ("
    " id TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), hash TEXT NOT NULL,"
    " label TEXT, created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked_ms INTEGER);"
    "CREATE INDEX tokens_user ON tokens(user_id);";

static const char *const type_names[ACCESS_AUTHORITY_TYPES] = {
    "border_guard", "visa_authority", "asylum_authority", "police", "etias_unit",
    "sirene_bureau", "europol", "ecris_central_authority", "other",
};

/* EU Member States and the Schengen associated countries, ISO 3166-1 alpha-3. */
static const char *const member_states[] = {
    "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN", "IRL", "ITA",
    "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE",
    "ISL", "NOR", "CHE", "LIE", "EU",
};

const char *access_authority_type_name(access_authority_type t) {
    return (unsigned)t < ACCESS_AUTHORITY_TYPES ? type_names[t] : "other";
}

iop_code access_authority_type_parse(const char *s, access_authority_type *out, iop_err *err) {
    for (int i = 0; i < ACCESS_AUTHORITY_TYPES; i++)
        if (s && !strcmp(s, type_names[i])) {
            *out = (access_authority_type)i;
            return IOP_OK;
        }
    return iop_fail(err, IOP_EINVAL, "unknown authority type '%s' (expected border_guard, visa_authority, "
                    "asylum_authority, police, etias_unit, sirene_bureau, europol, ecris_central_authority or other)",
                    s ? s : "");
}

iop_code access_sql_fail(access_db *db, iop_err *err, const char *what) {
    return iop_fail(err, IOP_EIO, "users database %s: %s: %s", db->path, what, sqlite3_errmsg(db->db));
}

static iop_code exec(access_db *db, const char *sql, iop_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        iop_code c = iop_fail(err, IOP_EIO, "users database %s: %s", db->path, msg ? msg : sqlite3_errmsg(db->db));
        sqlite3_free(msg);
        return c;
    }
    return IOP_OK;
}

static int user_version(sqlite3 *db) {
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

static iop_code migrate(access_db *db, iop_err *err) {
    int v = user_version(db->db);
    if (v > SCHEMA_VERSION)
        return iop_fail(err, IOP_EINVAL, "users database %s: schema version %d is newer than this build (%d)",
                        db->path, v, SCHEMA_VERSION);
    if (v == SCHEMA_VERSION) return IOP_OK;
    iop_code c = exec(db, "BEGIN IMMEDIATE", err);
    if (c) return c;
    v = user_version(db->db);
    if (v < 1) c = exec(db, schema_v1, err);
    if (!c) c = exec(db, "PRAGMA user_version = 1", err);
    if (c) {
        exec(db, "ROLLBACK", NULL);
        return c;
    }
    return exec(db, "COMMIT", err);
}

iop_code access_open(const char *path, const access_options *opt, access_db **out, iop_err *err) {
    *out = NULL;
    if (!path || !*path) return iop_fail(err, IOP_EINVAL, "users database: no path");
    if (sodium_init() < 0) return iop_fail(err, IOP_EINTERNAL, "libsodium failed to initialise");
    access_db *db = calloc(1, sizeof *db);
    if (!db) return iop_fail(err, IOP_ENOMEM, "out of memory");
    if (opt) db->opt = *opt;
    if (db->opt.cache_ttl_s <= 0) db->opt.cache_ttl_s = 60;
    if (db->opt.cache_slots <= 0) db->opt.cache_slots = 4096;
    db->path = strdup(path);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->cmu, NULL);
    randombytes_buf(db->cache_key, sizeof db->cache_key);
    db->n_slots = (size_t)db->opt.cache_slots;
    db->slots = calloc(db->n_slots, sizeof *db->slots);
    iop_code c;
    if (!db->path || !db->slots) {
        c = iop_fail(err, IOP_ENOMEM, "out of memory");
        goto fail;
    }
    if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        c = iop_fail(err, IOP_EIO, "cannot open users database %s: %s", path,
                     db->db ? sqlite3_errmsg(db->db) : "out of memory");
        goto fail;
    }
    chmod(path, 0600); /* token hashes: owner only */
    sqlite3_busy_timeout(db->db, 10000);
    if ((c = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err))) goto fail;
    if ((c = migrate(db, err))) goto fail;
    if (!(db->watch = store_watch_new(db->db))) {
        c = iop_fail(err, IOP_ENOMEM, "out of memory");
        goto fail;
    }
    *out = db;
    return IOP_OK;
fail:
    access_close(db);
    return c;
}

void access_close(access_db *db) {
    if (!db) return;
    sqlite3_finalize(db->auth_st);
    access_rows_clear(db);
    store_watch_free(db->watch);
    if (db->db) sqlite3_close(db->db);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->cmu);
    if (db->slots) {
        sodium_memzero(db->slots, db->n_slots * sizeof *db->slots);
        free(db->slots);
    }
    sodium_memzero(db->cache_key, sizeof db->cache_key);
    free(db->path);
    free(db);
}

/* ---------------------------------------------------------------- validation */

static bool name_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '@' || ch == '-'))
            return false;
    }
    return true;
}

static bool profile_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) return false;
    }
    return true;
}

static iop_code check_profiles(const char *const *p, size_t n, iop_err *err) {
    if (n == 0) return iop_fail(err, IOP_EINVAL, "a user needs at least one profile");
    if (n > 32) return iop_fail(err, IOP_ELIMIT, "at most 32 profiles per user");
    for (size_t i = 0; i < n; i++) {
        if (!profile_ok(p[i]))
            return iop_fail(err, IOP_EINVAL, "profile '%s' is not a valid profile name (1-64 of a-z 0-9 _ -)",
                            p[i] ? p[i] : "");
        for (size_t k = 0; k < i; k++)
            if (!strcmp(p[i], p[k])) return iop_fail(err, IOP_EINVAL, "profile '%s' is listed twice", p[i]);
    }
    return IOP_OK;
}

static char *profiles_json(const char *const *p, size_t n) {
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) iop_buf_puts(&b, ",");
        iop_buf_json_str(&b, p[i]);
    }
    iop_buf_puts(&b, "]");
    return iop_buf_steal(&b);
}

/* ---------------------------------------------------------------- users */

void access_user_free(access_user *u) {
    if (!u) return;
    free(u->name);
    free(u->authority);
    for (size_t i = 0; i < u->n_profiles; i++) free(u->profiles[i]);
    free(u->profiles);
    memset(u, 0, sizeof *u);
}

void access_user_list_free(access_user *users, size_t n) {
    for (size_t i = 0; i < n; i++) access_user_free(&users[i]);
    free(users);
}

bool access_user_has_profile(const access_user *u, const char *profile) {
    for (size_t i = 0; i < u->n_profiles; i++)
        if (iop_str_eq(u->profiles[i], profile)) return true;
    return false;
}

iop_code access_read_user(sqlite3_stmt *st, int col, access_user *u, iop_err *err) {
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, col);
    u->name = iop_strdup((const char *)sqlite3_column_text(st, col + 1));
    u->authority = iop_strdup((const char *)sqlite3_column_text(st, col + 2));
    if (access_authority_type_parse((const char *)sqlite3_column_text(st, col + 3), &u->authority_type, NULL))
        u->authority_type = ACCESS_OTHER;
    const char *ms = (const char *)sqlite3_column_text(st, col + 4);
    snprintf(u->member_state, sizeof u->member_state, "%s", ms ? ms : "");
    json_t *p = json_loads((const char *)sqlite3_column_text(st, col + 5), 0, NULL);
    if (json_is_array(p) && json_array_size(p)) {
        u->profiles = calloc(json_array_size(p), sizeof *u->profiles);
        for (size_t i = 0; u->profiles && i < json_array_size(p); i++) {
            const char *s = json_string_value(json_array_get(p, i));
            if (s) u->profiles[u->n_profiles++] = strdup(s);
        }
    }
    json_decref(p);
    u->disabled = sqlite3_column_int(st, col + 6) != 0;
    u->created_ms = sqlite3_column_int64(st, col + 7);
    if (!u->name || !u->authority) {
        access_user_free(u);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    return IOP_OK;
}

iop_code access_user_add(access_db *db, const access_user_spec *spec, int64_t *id, iop_err *err) {
    if (!name_ok(spec->name))
        return iop_fail(err, IOP_EINVAL, "user name '%s' is not valid (1-64 of A-Z a-z 0-9 . _ @ -)",
                        spec->name ? spec->name : "");
    size_t an = spec->authority ? strlen(spec->authority) : 0;
    if (an < 1 || an > 200) return iop_fail(err, IOP_EINVAL, "user '%s': authority must be 1-200 bytes", spec->name);
    if ((unsigned)spec->authority_type >= ACCESS_AUTHORITY_TYPES)
        return iop_fail(err, IOP_EINVAL, "user '%s': unknown authority type", spec->name);
    bool ms_ok = false;
    for (size_t i = 0; i < sizeof member_states / sizeof member_states[0]; i++)
        if (spec->member_state && !strcmp(spec->member_state, member_states[i])) ms_ok = true;
    if (!ms_ok)
        return iop_fail(err, IOP_EINVAL, "user '%s': member state '%s' is not an EU or Schengen state (ISO 3166 "
                        "alpha-3, e.g. DEU) nor \"EU\"", spec->name, spec->member_state ? spec->member_state : "");
    iop_code c = check_profiles(spec->profiles, spec->n_profiles, err);
    if (c) {
        iop_err_prefix(err, "user '%s'", spec->name);
        return c;
    }
    char *pj = profiles_json(spec->profiles, spec->n_profiles);
    if (!pj) return iop_fail(err, IOP_ENOMEM, "out of memory");
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, "INSERT INTO users (name, authority, authority_type, member_state, profiles, "
                                   "disabled, created_ms) VALUES (?,?,?,?,?,0,?)", -1, &st, NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "add user");
    } else {
        sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, spec->authority, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, access_authority_type_name(spec->authority_type), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, spec->member_state, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, pj, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, iop_now_ms());
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT) c = iop_fail(err, IOP_EEXIST, "user '%s' already exists", spec->name);
        else if (rc != SQLITE_DONE) c = access_sql_fail(db, err, "add user");
        else if (id) *id = sqlite3_last_insert_rowid(db->db);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    free(pj);
    return c;
}

iop_code access_user_get(access_db *db, const char *name, access_user *out, iop_err *err) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    if (sqlite3_prepare_v2(db->db, "SELECT " ACCESS_USER_COLS " FROM users u WHERE u.name = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        c = access_sql_fail(db, err, "get user");
    } else {
        sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) c = access_read_user(st, 0, out, err);
        else if (rc == SQLITE_DONE) c = iop_fail(err, IOP_ENOTFOUND, "no user '%s'", name ? name : "");
        else c = access_sql_fail(db, err, "get user");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    return c;
}

iop_code access_user_list(access_db *db, access_user **users, size_t *n, iop_err *err) {
    *users = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    size_t cap = 0, len = 0;
    access_user *arr = NULL;
    if (sqlite3_prepare_v2(db->db, "SELECT " ACCESS_USER_COLS " FROM users u ORDER BY u.name", -1, &st, NULL) !=
        SQLITE_OK) {
        c = access_sql_fail(db, err, "list users");
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            access_user *na = realloc(arr, nc * sizeof *na);
            if (!na) {
                c = iop_fail(err, IOP_ENOMEM, "out of memory");
                goto out;
            }
            arr = na;
            cap = nc;
        }
        if ((c = access_read_user(st, 0, &arr[len], err))) goto out;
        len++;
    }
    if (rc != SQLITE_DONE) c = access_sql_fail(db, err, "list users");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    if (c) {
        access_user_list_free(arr, len);
        return c;
    }
    *users = arr;
    *n = len;
    return IOP_OK;
}

/* UPDATE users SET <one column> WHERE name = ?; text or integer value. */
static iop_code update_user(access_db *db, const char *name, const char *sql, const char *text, int64_t num,
                            iop_err *err) {
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "update user");
    } else {
        if (text) sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        else sqlite3_bind_int64(st, 1, num);
        sqlite3_bind_text(st, 2, name ? name : "", -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) c = access_sql_fail(db, err, "update user");
        else if (sqlite3_changes(db->db) == 0) c = iop_fail(err, IOP_ENOTFOUND, "no user '%s'", name ? name : "");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    return c;
}

iop_code access_user_set_profiles(access_db *db, const char *name, const char *const *profiles, size_t n,
                                  iop_err *err) {
    iop_code c = check_profiles(profiles, n, err);
    if (c) {
        iop_err_prefix(err, "user '%s'", name ? name : "");
        return c;
    }
    char *pj = profiles_json(profiles, n);
    if (!pj) return iop_fail(err, IOP_ENOMEM, "out of memory");
    c = update_user(db, name, "UPDATE users SET profiles = ? WHERE name = ?", pj, 0, err);
    free(pj);
    return c;
}

iop_code access_user_set_disabled(access_db *db, const char *name, bool disabled, iop_err *err) {
    iop_code c = update_user(db, name, "UPDATE users SET disabled = ? WHERE name = ?", NULL, disabled ? 1 : 0, err);
    if (!c && disabled) access_cache_forget(db, NULL);
    return c;
}
