/*
 * access.h -- users, their authority and the ESP profiles they may act under
 * (Reg. 2019/817 Art 8: profiles of users of the search portal; Art 9(1): only
 * duly authorised staff query the portal), and the bearer tokens of the HTTP API.
 *
 * Tokens.  A token is printed once, when created, as
 *     iop_<id>_<secret>
 * where <id> is 16 hex digits (public, the lookup key) and <secret> is 32 random
 * bytes in unpadded base64url.  Only an argon2id hash of the secret is stored
 * (crypto_pwhash_str, interactive limits).  Since argon2id costs tens of ms, a
 * bounded cache remembers tokens that verified, keyed by a keyed BLAKE2b hash of the
 * token (random key per access_db handle), for a short TTL; revocation through the
 * handle drops the cached entry at once, and every authentication re-reads the
 * token's revoked/expiry state and the user's disabled flag from the database, so a
 * revocation or a disabling made by another process takes effect on the next request.
 *
 * Ownership: access_open() allocates the handle, access_close() frees it.  Structs
 * filled by access_user_get/access_user_list/access_authenticate/access_token_list
 * own their strings; release them with the matching *_free function.  The handle is
 * safe to use from many threads at once.
 */
#ifndef INTEROP_ACCESS_H
#define INTEROP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "interop/base.h"

typedef struct access_db access_db;

typedef enum access_authority_type {
    ACCESS_BORDER_GUARD,
    ACCESS_VISA_AUTHORITY,
    ACCESS_ASYLUM_AUTHORITY,
    ACCESS_POLICE,
    ACCESS_ETIAS_UNIT,
    ACCESS_SIRENE_BUREAU,
    ACCESS_EUROPOL,
    ACCESS_ECRIS_CENTRAL_AUTHORITY,
    ACCESS_OTHER,
    ACCESS_AUTHORITY_TYPES /* count */
} access_authority_type;

/* "border_guard", "visa_authority", ... */
const char *access_authority_type_name(access_authority_type t);
iop_code access_authority_type_parse(const char *s, access_authority_type *out, iop_err *err);

typedef struct access_options {
    int cache_ttl_s;    /* how long a verified token is trusted without argon2id; 0 = 60 */
    int cache_slots;    /* cached tokens at most; 0 = 4096 */
} access_options;

/* A user as stored. */
typedef struct access_user {
    int64_t id;
    char *name;
    char *authority;               /* e.g. "DE Federal Police" */
    access_authority_type authority_type;
    char member_state[4];          /* ISO 3166 alpha-3 of an EU/Schengen state, or "EU" (agencies) */
    char **profiles;               /* ESP profile names the user may act under */
    size_t n_profiles;
    bool disabled;
    int64_t created_ms;
} access_user;

/* What access_user_add needs; strings are copied. */
typedef struct access_user_spec {
    const char *name;      /* 1..64 of [A-Za-z0-9._@-], unique */
    const char *authority; /* 1..200 bytes */
    access_authority_type authority_type;
    const char *member_state;
    const char *const *profiles; /* each 1..64 of [a-z0-9_-] */
    size_t n_profiles;
} access_user_spec;

void access_user_free(access_user *u); /* frees the strings, not u itself */
void access_user_list_free(access_user *users, size_t n);

/* Opens (creating and migrating if needed) the users database at `path`. */
iop_code access_open(const char *path, const access_options *opt, access_db **out, iop_err *err);
void access_close(access_db *db);

/* ---- users ---- */
iop_code access_user_add(access_db *db, const access_user_spec *spec, int64_t *id, iop_err *err);
iop_code access_user_get(access_db *db, const char *name, access_user *out, iop_err *err);
/* All users, ordered by name; *users is an array of n (free with access_user_list_free). */
iop_code access_user_list(access_db *db, access_user **users, size_t *n, iop_err *err);
iop_code access_user_set_profiles(access_db *db, const char *name, const char *const *profiles, size_t n,
                                  iop_err *err);
iop_code access_user_set_disabled(access_db *db, const char *name, bool disabled, iop_err *err);
/* True when u may act under profile. */
bool access_user_has_profile(const access_user *u, const char *profile);

/* ---- tokens ---- */
/* Creates a token for user `name`.  expires_ms 0 = never, else ms since the epoch
 * (must lie in the future).  *token (caller frees, then should sodium_memzero) is the
 * only copy of the secret; *token_id (may be NULL, caller frees) is its public id. */
iop_code access_token_create(access_db *db, const char *name, int64_t expires_ms, const char *label, char **token,
                             char **token_id, iop_err *err);

typedef struct access_token_info {
    char *id;
    char *user;
    char *label;
    int64_t created_ms;
    int64_t expires_ms; /* 0 = never */
    int64_t revoked_ms; /* 0 = active */
} access_token_info;
/* Tokens of one user (name NULL = all users), newest first. */
iop_code access_token_list(access_db *db, const char *name, access_token_info **tokens, size_t *n, iop_err *err);
void access_token_list_free(access_token_info *tokens, size_t n);

/* Revokes one token by its id (the "iop_<id>_..." part or the whole token). */
iop_code access_token_revoke(access_db *db, const char *token_id, iop_err *err);
/* Revokes every active token of a user; *n (may be NULL) = how many. */
iop_code access_token_revoke_user(access_db *db, const char *name, int *n, iop_err *err);

/* Checks a bearer token.  IOP_OK and *user filled (free with access_user_free);
 * IOP_EDENIED for a malformed, unknown, wrong, revoked or expired token or a
 * disabled user (err says which; never echoes the secret). */
iop_code access_authenticate(access_db *db, const char *token, access_user *user, iop_err *err);

/* Cache statistics (for /metrics): hits, misses (argon2id verifications). */
void access_cache_stats(access_db *db, uint64_t *hits, uint64_t *misses);

#endif
