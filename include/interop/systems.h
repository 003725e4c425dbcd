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
/* Several reads in one snapshot, taking the store's locks once (a read-only handle). */
iop_code sys_read_begin(sys_store *s, iop_err *err);
void sys_read_end(sys_store *s);
/* A record's JSON without biometrics (caller frees); IOP_ENOTFOUND when absent. */
iop_code sys_get_json(sys_store *s, const char *id, char **json, iop_err *err);
/* The same with the record's ranking summary as stored now (*summary: "" when none);
 * both are the caller's to free. */
iop_code sys_get_json_summary(sys_store *s, const char *id, char **json, char **summary, iop_err *err);
/* Deletes every record whose retention ended on or before today; calls fn per deleted id
 * (so the CIR and the sBMS can follow, Reg. 2019/817 Arts 15, 23). */
typedef void (*sys_id_fn)(void *ctx, iop_system s, const char *id);
iop_code sys_purge_expired(sys_store *s, int64_t today, sys_id_fn fn, void *ctx, size_t *purged, iop_err *err);
/* Every record (for rebuilding the CIR and the sBMS), with biometrics when asked. */
typedef int (*sys_rec_fn)(void *ctx, const rec_person *r);
iop_code sys_scan(sys_store *s, bool with_biometrics, sys_rec_fn fn, void *ctx, iop_err *err);

/* An alphanumeric query: names, date of birth, nationality, sex, travel document.
 * Strings may be in any script; matching uses normalised keys (sys_name_key). */
/* What a search index holds of each record beside its summary: the ranking fields a
 * caller can bound a score with.  tokens is a 64-bit filter of the record's name tokens
 * (sys_candidate.tokens): every token's sys_token_mask bits are set (a token whose mask
 * is not all set is not among them; one whose mask is may be). */
typedef struct sys_cand_meta {
    uint64_t tokens;
    iop_date dob;            /* as sys_candidate.dob */
    char sex;                /* as sys_candidate.sex ('U' unknown) */
    unsigned sound_hits;     /* as sys_candidate.sound_hits */
} sys_cand_meta;
uint64_t sys_token_mask(const char *token, size_t len);

typedef struct sys_query {
    const char *const *surnames; size_t n_surnames;
    const char *const *given_names; size_t n_given_names;
    iop_date dob;             /* year 0: not given */
    const char *nationality;  /* alpha-3 or NULL */
    char sex;                 /* 0: not given */
    const char *doc_number;   /* NULL: not given */
    const char *doc_country;
    size_t limit;             /* candidates to return at most */
    bool normalised;          /* the names are sys_name_key output already (not normalised again) */
    const uint32_t *sounds;   /* sound keys of the query's names (sys_sound_fn), looked up with */
    size_t n_sounds;          /* the date of birth as given and coarser; none without a year */
    /* optional: a test of what the index holds of a name candidate in its own tables
     * (sys_cand_meta), made before the candidate's summary is read; false: not passed to
     * the callback.  For callers that can tell from these fields alone that they would
     * drop the candidate (its summary lies elsewhere in memory: reading it costs). */
    bool (*pre)(void *ctx, const sys_cand_meta *m);
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
    /* the identity as recorded, so that the names engine ranks a candidate without its
     * record (sys_candidate_parse; a sys_index_search callback gets the ranking fields
     * above only, has_identity false); false for a summary written before the store kept
     * it (then read the record) */
    bool has_identity;
    const char *given_names[SYS_CAND_MAX];
    size_t n_given_names;
    const char *surname_at_birth;            /* NULL: none */
    const char *aliases[SYS_CAND_MAX];
    size_t n_aliases;
    const char *place_of_birth;              /* NULL: none */
    const char *doc_types[SYS_CAND_MAX];     /* per doc_keys entry; NULL: unknown */
    const char *summary;                     /* the stored summary, valid during the callback */
    unsigned sound_hits;                     /* query sound keys the record met (sys_index_search) */
    sys_cand_meta meta;                      /* what the index holds beside the summary (sys_index_search) */
} sys_candidate;
/* Splits a stored ranking summary (sys_candidate.summary) into *out, whose strings point
 * into buf (at least strlen(summary) + 1 bytes).  false when the summary is not one this
 * version reads (the record is then never a candidate). */
bool sys_candidate_parse(const char *id, const char *kind, const char *summary, char *buf, sys_candidate *out);
typedef int (*sys_cand_fn)(void *ctx, const sys_candidate *c);

/* The search index of one system: an in-memory table from search keys to records, with
 * each record's ranking summary, built from the store's summaries and kept current
 * through its change log (so writes by any process are seen by the next search).  Keys,
 * derived from the summary:
 *   surname tokens (surnames, surname at birth, aliases)   "n:<token>"
 *   every name token with the year of birth                "y:<token>|<year>" (0: none)
 *   normalised travel-document numbers                     "d:<number>"
 * Thread-safe: any number of threads search one index at once; a search first applies
 * the changes committed since the last one.  sys_index_open reads DIR/systems/<name>.db
 * through its own read-only handle. */
typedef struct sys_index sys_index;
iop_code sys_index_open(iop_system s, const char *dir, sys_index **out, iop_err *err);
/* Sound keys of a record from the identity of its summary (sys_candidate_parse, with
 * has_identity): the search portal gives the names engine's, so that a record is found
 * under other spellings and from other scripts.  Writes at most max, returns how many.
 * Called while the index is built and updated, from any thread. */
typedef size_t (*sys_sound_fn)(void *ctx, const sys_candidate *identity, uint32_t *out, size_t max);
/* The same index with sound keys: "s:<sound>|<date of birth>" for every sound key of a
 * record, the date as precise as the record has it (a query looks up its own date and
 * its year-month and year forms). */
iop_code sys_index_open_sounds(iop_system s, const char *dir, sys_sound_fn fn, void *ctx, sys_index **out,
                               iop_err *err);
void sys_index_close(sys_index *x);
/* Applies the changes committed since the last sync (cheap when there are none). */
iop_code sys_index_sync(sys_index *x, iop_err *err);
/* Candidate records for the query, each passed to fn (which may stop the iteration by
 * returning nonzero): first the holders of the document number (at most 64), then up to
 * q->limit by names -- the ones meeting the most query keys first.  The caller ranks,
 * filters and reads the kept records (sys_get_json).  Syncs first. */
iop_code sys_index_search(sys_index *x, const sys_query *q, sys_cand_fn fn, void *ctx, iop_err *err);
typedef struct sys_index_stats {
    size_t records;   /* live records */
    size_t keys;      /* distinct keys */
    size_t postings;  /* (key, record) pairs, including those of replaced records */
    size_t bytes;     /* memory held */
    int64_t seq;      /* last change applied */
} sys_index_stats;
void sys_index_stats_get(sys_index *x, sys_index_stats *st);

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
