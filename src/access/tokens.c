/*
 * tokens.c -- bearer tokens of the HTTP API: creation (32 random bytes, printed once
 * as iop_<id>_<secret>), storage as an argon2id hash only, revocation, expiry, and
 * access_authenticate() with a bounded cache of verified tokens.
 *
 * Why a cache: argon2id with the interactive limits costs tens of milliseconds and
 * 64 MiB per verification, far too much for thousands of requests per second.  A
 * token that verified is remembered for cache_ttl_s under a keyed BLAKE2b hash of
 * the whole token (the key is random per handle, so the cache holds nothing that
 * could be replayed or brute-forced offline).  Slots are direct-mapped: a new token
 * evicts whatever shared its slot, so memory stays bounded by cache_slots.
 * Comparisons of secrets and their digests use sodium_memcmp (constant time).  Every
 * authentication still reads the token row and the user (revoked, expired, disabled)
 * from the database: the cache only saves the argon2id work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "access/access_internal.h"

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static bool is_b64url(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Splits "iop_<16 hex>_<43 base64url>" into id and secret; false if malformed. */
static bool parse_token(const char *t, char id[ACCESS_TOKEN_ID_HEX + 1], const char **secret) {
    if (!t || strncmp(t, "iop_", 4) != 0) return false;
    const char *p = t + 4;
    for (int i = 0; i < ACCESS_TOKEN_ID_HEX; i++)
        if (!is_hex(p[i])) return false;
    if (p[ACCESS_TOKEN_ID_HEX] != '_') return false;
    const char *s = p + ACCESS_TOKEN_ID_HEX + 1;
    for (int i = 0; i < ACCESS_SECRET_B64; i++)
        if (!is_b64url(s[i])) return false;
    if (s[ACCESS_SECRET_B64] != 0) return false;
    memcpy(id, p, ACCESS_TOKEN_ID_HEX);
    id[ACCESS_TOKEN_ID_HEX] = 0;
    *secret = s;
    return true;
}

/* Accepts a bare id or a whole token; false if neither. */
static bool parse_id(const char *s, char id[ACCESS_TOKEN_ID_HEX + 1]) {
    const char *secret;
    if (parse_token(s, id, &secret)) return true;
    if (s && !strncmp(s, "iop_", 4)) s += 4;
    if (!s || strlen(s) != ACCESS_TOKEN_ID_HEX) return false;
    for (int i = 0; i < ACCESS_TOKEN_ID_HEX; i++)
        if (!is_hex(s[i])) return false;
    memcpy(id, s, ACCESS_TOKEN_ID_HEX + 1);
    return true;
}

/* ---------------------------------------------------------------- the cache */

static void cache_digest(access_db *db, const char *token, uint8_t out[ACCESS_CACHE_KEY]) {
    crypto_generichash(out, ACCESS_CACHE_KEY, (const uint8_t *)token, strlen(token), db->cache_key,
                       ACCESS_CACHE_KEY);
}

static access_cache_slot *slot_for(access_db *db, const uint8_t key[ACCESS_CACHE_KEY]) {
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return &db->slots[h % db->n_slots];
}

static bool cache_hit(access_db *db, const uint8_t key[ACCESS_CACHE_KEY], const char *id) {
    uint64_t now = iop_mono_ns();
    pthread_mutex_lock(&db->cmu);
    access_cache_slot *s = slot_for(db, key);
    bool hit = s->used && now < s->until_ns && sodium_memcmp(s->key, key, ACCESS_CACHE_KEY) == 0 &&
               !strcmp(s->token_id, id);
    if (hit) db->hits++;
    else db->misses++;
    pthread_mutex_unlock(&db->cmu);
    return hit;
}

static void cache_put(access_db *db, const uint8_t key[ACCESS_CACHE_KEY], const char *id) {
    pthread_mutex_lock(&db->cmu);
    access_cache_slot *s = slot_for(db, key);
    s->used = true;
    memcpy(s->key, key, ACCESS_CACHE_KEY);
    memcpy(s->token_id, id, ACCESS_TOKEN_ID_HEX + 1);
    s->until_ns = iop_mono_ns() + (uint64_t)db->opt.cache_ttl_s * 1000000000ull;
    pthread_mutex_unlock(&db->cmu);
}

void access_cache_forget(access_db *db, const char *token_id) {
    pthread_mutex_lock(&db->cmu);
    for (size_t i = 0; i < db->n_slots; i++) {
        access_cache_slot *s = &db->slots[i];
        if (s->used && (!token_id || !strcmp(s->token_id, token_id))) {
            sodium_memzero(s, sizeof *s);
        }
    }
    pthread_mutex_unlock(&db->cmu);
}

void access_cache_stats(access_db *db, uint64_t *hits, uint64_t *misses) {
    pthread_mutex_lock(&db->cmu);
    if (hits) *hits = db->hits;
    if (misses) *misses = db->misses;
    pthread_mutex_unlock(&db->cmu);
}

/* ---------------------------------------------------------------- tokens */

iop_code access_token_create(access_db *db, const char *name, int64_t expires_ms, const char *label, char **token,
                             char **token_id, iop_err *err) {
    *token = NULL;
    if (token_id) *token_id = NULL;
    if (expires_ms < 0 || (expires_ms > 0 && expires_ms <= iop_now_ms()))
        return iop_fail(err, IOP_EINVAL, "token expiry must lie in the future");
    if (label && strlen(label) > 200) return iop_fail(err, IOP_ELIMIT, "token label longer than 200 bytes");
    access_user u;
    iop_code c = access_user_get(db, name, &u, err);
    if (c) return c;
    int64_t uid = u.id;
    bool disabled = u.disabled;
    access_user_free(&u);
    if (disabled) return iop_fail(err, IOP_EDENIED, "user '%s' is disabled", name);

    uint8_t idb[ACCESS_TOKEN_ID_HEX / 2], secret[ACCESS_SECRET_BYTES];
    char id[ACCESS_TOKEN_ID_HEX + 1], s64[ACCESS_SECRET_B64 + 1], hash[crypto_pwhash_STRBYTES];
    randombytes_buf(idb, sizeof idb);
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(id, sizeof id, idb, sizeof idb);
    sodium_bin2base64(s64, sizeof s64, secret, sizeof secret, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof secret);
    if (crypto_pwhash_str(hash, s64, ACCESS_SECRET_B64, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        sodium_memzero(s64, sizeof s64);
        return iop_fail(err, IOP_ENOMEM, "argon2id: out of memory hashing the token");
    }
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, "INSERT INTO tokens (id, user_id, hash, label, created_ms, expires_ms, revoked_ms) "
                                   "VALUES (?,?,?,?,?,?,NULL)", -1, &st, NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "create token");
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, uid);
        sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
        if (label) sqlite3_bind_text(st, 4, label, -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, iop_now_ms());
        if (expires_ms) sqlite3_bind_int64(st, 6, expires_ms);
        else sqlite3_bind_null(st, 6);
        if (sqlite3_step(st) != SQLITE_DONE) c = access_sql_fail(db, err, "create token");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    if (c) {
        sodium_memzero(s64, sizeof s64);
        return c;
    }
    size_t tl = 4 + ACCESS_TOKEN_ID_HEX + 1 + ACCESS_SECRET_B64 + 1;
    char *t = malloc(tl);
    if (!t) {
        sodium_memzero(s64, sizeof s64);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    snprintf(t, tl, "iop_%s_%s", id, s64);
    sodium_memzero(s64, sizeof s64);
    *token = t;
    if (token_id) *token_id = strdup(id);
    return IOP_OK;
}

void access_rows_clear(access_db *db) {
    for (int i = 0; i < ACCESS_ROWS; i++) {
        if (db->rows[i].used) access_user_free(&db->rows[i].user);
        sodium_memzero(&db->rows[i], sizeof db->rows[i]);
    }
}

/* A deep copy of a user; false when out of memory (dst then owns nothing). */
static bool user_copy(access_user *dst, const access_user *src) {
    *dst = *src;
    dst->name = dst->authority = NULL;
    dst->profiles = NULL;
    dst->n_profiles = 0;
    if (!(dst->name = strdup(src->name ? src->name : "")) || !(dst->authority = strdup(src->authority ? src->authority : "")) ||
        (src->n_profiles && !(dst->profiles = calloc(src->n_profiles, sizeof *dst->profiles)))) {
        access_user_free(dst);
        return false;
    }
    for (size_t i = 0; i < src->n_profiles; i++) {
        if (!(dst->profiles[i] = strdup(src->profiles[i]))) { access_user_free(dst); return false; }
        dst->n_profiles = i + 1;
    }
    return true;
}

static size_t row_of(const char *id) {
    size_t h = 0;
    for (const char *p = id; *p; p++) h = h * 31 + (unsigned char)*p;
    return h % ACCESS_ROWS;
}

iop_code access_authenticate(access_db *db, const char *token, access_user *user, iop_err *err) {
    memset(user, 0, sizeof *user);
    char id[ACCESS_TOKEN_ID_HEX + 1];
    const char *secret;
    if (!parse_token(token, id, &secret))
        return iop_fail(err, IOP_EDENIED, "malformed token (expected iop_<16 hex digits>_<43 base64url characters>)");

    char hash[crypto_pwhash_STRBYTES];
    int64_t expires = 0, revoked = 0;
    access_user u;
    pthread_mutex_lock(&db->mu);
    iop_code c = IOP_OK;
    /* the token's row as last read, unless the users database committed since (a
     * revocation, a disabled user, a new token: seen by the next request) */
    if (!db->watch || store_watch_changed(db->watch, &db->mark)) {
        access_rows_clear(db);
        if (db->watch) store_watch_mark(db->watch, &db->mark); /* before reading: a later commit is seen next time */
    }
    access_row *row = &db->rows[row_of(id)];
    if (row->used && !strcmp(row->token_id, id)) {
        memcpy(hash, row->hash, sizeof hash);
        expires = row->expires;
        revoked = row->revoked;
        if (!user_copy(&u, &row->user)) c = iop_fail(err, IOP_ENOMEM, "out of memory");
    } else if (!db->auth_st &&
        sqlite3_prepare_v2(db->db, "SELECT t.hash, t.expires_ms, t.revoked_ms, " ACCESS_USER_COLS
                                   " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
                           -1, &db->auth_st, NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "authenticate");
    } else {
        sqlite3_stmt *st = db->auth_st;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *h = (const char *)sqlite3_column_text(st, 0);
            snprintf(hash, sizeof hash, "%s", h ? h : "");
            expires = sqlite3_column_int64(st, 1);
            revoked = sqlite3_column_int64(st, 2);
            c = access_read_user(st, 3, &u, err);
            if (!c) {
                if (row->used) access_user_free(&row->user);
                row->used = user_copy(&row->user, &u);
                if (row->used) {
                    snprintf(row->token_id, sizeof row->token_id, "%s", id);
                    memcpy(row->hash, hash, sizeof hash);
                    row->expires = expires;
                    row->revoked = revoked;
                }
            }
        } else if (rc == SQLITE_DONE) {
            c = iop_fail(err, IOP_EDENIED, "unknown token %s", id);
        } else {
            c = access_sql_fail(db, err, "authenticate");
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    pthread_mutex_unlock(&db->mu);
    if (c) return c;

    /* the secret first: the state of a token is told only to its holder */
    uint8_t key[ACCESS_CACHE_KEY];
    cache_digest(db, token, key);
    if (!cache_hit(db, key, id)) {
        if (crypto_pwhash_str_verify(hash, secret, ACCESS_SECRET_B64) != 0) {
            access_user_free(&u);
            return iop_fail(err, IOP_EDENIED, "wrong secret for token %s", id);
        }
        if (!revoked) cache_put(db, key, id);
    }
    sodium_memzero(key, sizeof key);
    if (revoked) c = iop_fail(err, IOP_EDENIED, "token %s was revoked", id);
    else if (expires && iop_now_ms() >= expires) c = iop_fail(err, IOP_EDENIED, "token %s has expired", id);
    else if (u.disabled) c = iop_fail(err, IOP_EDENIED, "user '%s' is disabled", u.name);
    if (c) {
        access_cache_forget(db, id);
        access_user_free(&u);
        return c;
    }
    *user = u;
    return IOP_OK;
}

iop_code access_token_revoke(access_db *db, const char *token_id, iop_err *err) {
    char id[ACCESS_TOKEN_ID_HEX + 1];
    if (!parse_id(token_id, id))
        return iop_fail(err, IOP_EINVAL, "'%.24s' is not a token id (16 hex digits)", token_id ? token_id : "");
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    if (sqlite3_prepare_v2(db->db, "UPDATE tokens SET revoked_ms = coalesce(revoked_ms, ?) WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "revoke token");
    } else {
        sqlite3_bind_int64(st, 1, iop_now_ms());
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) c = access_sql_fail(db, err, "revoke token");
        else if (sqlite3_changes(db->db) == 0) c = iop_fail(err, IOP_ENOTFOUND, "no token %s", id);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    access_cache_forget(db, id);
    return c;
}

iop_code access_token_revoke_user(access_db *db, const char *name, int *n, iop_err *err) {
    if (n) *n = 0;
    access_user u;
    iop_code c = access_user_get(db, name, &u, err);
    if (c) return c;
    int64_t uid = u.id;
    access_user_free(&u);
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->db, "UPDATE tokens SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL", -1,
                           &st, NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "revoke tokens");
    } else {
        sqlite3_bind_int64(st, 1, iop_now_ms());
        sqlite3_bind_int64(st, 2, uid);
        if (sqlite3_step(st) != SQLITE_DONE) c = access_sql_fail(db, err, "revoke tokens");
        else if (n) *n = sqlite3_changes(db->db);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    access_cache_forget(db, NULL); /* the cache does not know users: drop it all */
    return c;
}

void access_token_list_free(access_token_info *tokens, size_t n) {
    for (size_t i = 0; tokens && i < n; i++) {
        free(tokens[i].id);
        free(tokens[i].user);
        free(tokens[i].label);
    }
    free(tokens);
}

iop_code access_token_list(access_db *db, const char *name, access_token_info **tokens, size_t *n, iop_err *err) {
    *tokens = NULL;
    *n = 0;
    if (name) {
        access_user u;
        iop_code c = access_user_get(db, name, &u, err);
        if (c) return c;
        access_user_free(&u);
    }
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    access_token_info *arr = NULL;
    size_t len = 0, cap = 0;
    if (sqlite3_prepare_v2(db->db, "SELECT t.id, u.name, t.label, t.created_ms, t.expires_ms, t.revoked_ms "
                                   "FROM tokens t JOIN users u ON u.id = t.user_id "
                                   "WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.created_ms DESC, t.id",
                           -1, &st, NULL) != SQLITE_OK) {
        c = access_sql_fail(db, err, "list tokens");
        goto out;
    }
    if (name) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            access_token_info *na = realloc(arr, nc * sizeof *na);
            if (!na) {
                c = iop_fail(err, IOP_ENOMEM, "out of memory");
                goto out;
            }
            arr = na;
            cap = nc;
        }
        access_token_info *t = &arr[len++];
        t->id = iop_strdup((const char *)sqlite3_column_text(st, 0));
        t->user = iop_strdup((const char *)sqlite3_column_text(st, 1));
        t->label = iop_strdup((const char *)sqlite3_column_text(st, 2));
        t->created_ms = sqlite3_column_int64(st, 3);
        t->expires_ms = sqlite3_column_int64(st, 4);
        t->revoked_ms = sqlite3_column_int64(st, 5);
    }
    if (rc != SQLITE_DONE) c = access_sql_fail(db, err, "list tokens");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&db->mu);
    if (c) {
        access_token_list_free(arr, len);
        return c;
    }
    *tokens = arr;
    *n = len;
    return IOP_OK;
}
