/*
 * access_internal.h -- shared between users.c and tokens.c: the handle, its SQLite
 * connection and the verified-token cache.  Not part of the contract (access.h).
 */
#ifndef INTEROP_ACCESS_INTERNAL_H
#define INTEROP_ACCESS_INTERNAL_H

#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include "interop/access.h"
#include "interop/store.h"

#define ACCESS_TOKEN_ID_HEX 16   /* 8 random bytes */
#define ACCESS_SECRET_BYTES 32
#define ACCESS_SECRET_B64 43     /* unpadded base64url of 32 bytes */
#define ACCESS_CACHE_KEY 32

typedef struct access_cache_slot {
    bool used;
    uint8_t key[ACCESS_CACHE_KEY]; /* keyed BLAKE2b of the whole token */
    char token_id[ACCESS_TOKEN_ID_HEX + 1];
    uint64_t until_ns;             /* monotonic expiry of the cache entry */
} access_cache_slot;

/* A token's row as last read (hash, expiry, revocation, its user), valid until the users
 * database next commits (any connection, any process: store_watch). */
#define ACCESS_ROWS 64
typedef struct access_row {
    bool used;
    char token_id[ACCESS_TOKEN_ID_HEX + 1];
    char hash[crypto_pwhash_STRBYTES];
    int64_t expires, revoked;
    access_user user;
} access_row;

struct access_db {
    char *path;
    sqlite3 *db;
    pthread_mutex_t mu; /* the connection and the statements below, the rows */
    sqlite3_stmt *auth_st; /* the per-request token lookup, prepared once */
    store_watch *watch; /* commits to the users database */
    store_mark mark;    /* its state when the rows were last known valid */
    access_row rows[ACCESS_ROWS];
    access_options opt;

    pthread_mutex_t cmu; /* the cache */
    uint8_t cache_key[ACCESS_CACHE_KEY];
    access_cache_slot *slots;
    size_t n_slots;
    uint64_t hits, misses;
};

/* SELECT list for a user row, and the function that reads it (columns from col). */
#define ACCESS_USER_COLS "u.id, u.name, u.authority, u.authority_type, u.member_state, u.profiles, u.disabled, u.created_ms"
iop_code access_read_user(sqlite3_stmt *st, int col, access_user *u, iop_err *err);
iop_code access_sql_fail(access_db *db, iop_err *err, const char *what);
/* Drops every cached entry of the token (any id when token_id is NULL). */
void access_cache_forget(access_db *db, const char *token_id);
/* Forgets every row (db->mu held). */
void access_rows_clear(access_db *db);

#endif
