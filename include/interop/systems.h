/*
 * systems.h -- the connected systems as separate stores: SIS, VIS, Eurodac, EES, ETIAS,
 * ECRIS-TCN, plus Europol data and Interpol SLTD.  Each system has its own database
 * (DIR/systems/<name>.db), its own record kinds (record.h), its own retention policy
 * and its own search keys.  Nothing outside this module touches a system's database:
 * the CIR, the portal and the server go through these functions ("no
 * interconnectivity" between the systems, Reg. 2019/817 recital 9 and Art 6).
 */
#ifndef INTEROP_SYSTEMS_H
#define INTEROP_SYSTEMS_H

#include "interop/record.h"

typedef struct sys_store sys_store;

/* The retention rule of a system: when may a record be kept until?  The policy object
 * names its legal basis; expiry_day returns days since 1970-01-01, or 0 for "until
 * deleted by the owner".  (The detailed rules per system are refined in a later
 * issue; the mechanism -- expiry computed at write, purge by day -- is in place.) */
typedef struct sys_retention {
    const char *basis; /* e.g. "Reg. 2017/2226 Art 34(1)" */
    int64_t (*expiry_day)(const rec_person *r, int64_t today);
} sys_retention;

const sys_retention *sys_retention_policy(iop_system s);

/* Opens (flags: STORE_CREATE to create, STORE_READONLY for a reader) DIR/systems/<name>.db
 * and brings its schema up to date. */
iop_code sys_open(iop_system s, const char *dir, int flags, sys_store **out, iop_err *err);
void sys_close(sys_store *s);
iop_system sys_id(const sys_store *s);

/* Writes records (all of this system) in one transaction: all or nothing; durable on
 * return.  Records whose id exists are replaced.  now_ms stamps created/updated. */
iop_code sys_put_batch(sys_store *s, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err);
/* The same in two steps (the node writes the CIR beside it and commits both only when
 * both prepared): prepare leaves the transaction open (rolled back on error); finish
 * commits or rolls back. */
iop_code sys_put_batch_prepare(sys_store *s, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err);
iop_code sys_put_finish(sys_store *s, bool commit, iop_err *err);
/* Deletes one record: IOP_ENOTFOUND when absent. */
iop_code sys_delete(sys_store *s, const char *id, iop_err *err);
/* Reads one record (with biometrics when asked); the caller clears *out. */
iop_code sys_get(sys_store *s, const char *id, bool with_biometrics, rec_person *out, iop_err *err);
iop_code sys_count(sys_store *s, int64_t *n, iop_err *err);
/* A record's JSON without biometrics (caller frees); IOP_ENOTFOUND when absent. */
iop_code sys_get_json(sys_store *s, const char *id, char **json, iop_err *err);
/* Deletes every record whose retention ended on or before today; calls fn per deleted id
 * (so the CIR and the sBMS can follow, Reg. 2019/817 Arts 15, 23). */
typedef void (*sys_id_fn)(void *ctx, iop_system s, const char *id);
iop_code sys_purge_expired(sys_store *s, int64_t today, sys_id_fn fn, void *ctx, size_t *purged, iop_err *err);
/* Every record (for rebuilding the CIR and the sBMS), with biometrics when asked. */
typedef int (*sys_rec_fn)(void *ctx, const rec_person *r);
iop_code sys_scan(sys_store *s, bool with_biometrics, sys_rec_fn fn, void *ctx, iop_err *err);

/* An alphanumeric query: names, date of birth, nationality, sex, travel document.
 * Strings may be in any script; matching uses normalised keys (sys_name_key). */
typedef struct sys_query {
    const char *const *surnames; size_t n_surnames;
    const char *const *given_names; size_t n_given_names;
    iop_date dob;             /* year 0: not given */
    const char *nationality;  /* alpha-3 or NULL */
    char sex;                 /* 0: not given */
    const char *doc_number;   /* NULL: not given */
    const char *doc_country;
    size_t limit;             /* candidates to return at most */
} sys_query;

/* A search candidate: what ranking needs, decoded from the record's stored summary,
 * plus the record's JSON (without biometrics) to parse only when it is kept.  All
 * pointers are valid during the callback only. */
#define SYS_CAND_MAX 32
typedef struct sys_candidate {
    const char *id, *kind;
    const char *category;                    /* SIS alert category, else NULL */
    const char *tokens[SYS_CAND_MAX];        /* normalised name tokens (sys_name_key) */
    size_t n_tokens;                         /* of surnames, birth surname, given names, aliases */
    const char *surnames[SYS_CAND_MAX];      /* surnames as recorded */
    size_t n_surnames;
    iop_date dob;
    char sex;
    const char *nationalities[SYS_CAND_MAX];
    size_t n_nationalities;
    const char *doc_keys[SYS_CAND_MAX];      /* normalised document numbers */
    const char *doc_countries[SYS_CAND_MAX]; /* "" when unknown */
    size_t n_docs;
    const char *body;                        /* record JSON, or "" when not read: sys_get_json */
} sys_candidate;
typedef int (*sys_cand_fn)(void *ctx, const sys_candidate *c);

/* Candidate records for the query (at most q->limit by names, plus those holding the
 * document number), each passed to fn; the caller ranks, filters and parses. */
iop_code sys_search(sys_store *s, const sys_query *q, sys_cand_fn fn, void *ctx, iop_err *err);

/* A set of distinct search keys (strings), grown as keys are added; used by every store
 * that indexes documents under keys (the systems, the CIR). */
typedef struct sys_keys {
    char **k;
    size_t n, cap;
} sys_keys;
/* Adds a copy of key unless present: 0, or -1 when out of memory. */
int sys_keys_add(sys_keys *ks, const char *key);
void sys_keys_free(sys_keys *ks);

/* The normalised form used in search keys: NFKD, diacritics stripped, case folded,
 * punctuation dropped; non-Latin scripts are kept (folded).  Writes at most cap bytes. */
void sys_name_key(const char *in, char *out, size_t cap);
/* A travel document number normalised for comparison: upper case, letters and digits only. */
void sys_doc_key(const char *in, char *out, size_t cap);

#endif
