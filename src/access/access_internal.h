/*
 * access_internal.h -- shared between users.c and tokens.c: the handle, its SQLite
 * connection and the verified-token cache.  Not part of the contract (access.h).
 */
#ifndef INTEROP_ACCESS_INTERNAL_H
#define INTEROP_ACCESS_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include "interop/access.h"

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

struct access_db {
    char *path;
    sqlite3 *db;
    pthread_mutex_t mu; /* the connection and the statements below */
    sqlite3_stmt *auth_st; /* the per-request token lookup, prepared once */
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

#endif
