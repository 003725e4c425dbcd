/*
 * esp.h -- the European search portal (Reg. 2019/817 and 2019/818 Arts 6-11).
 *
 * Users act under a profile (Art 8): the profile says which fields may be used to
 * query, which systems are queried (always, or when asked), which data categories each
 * system's reply may show, and -- for the connected systems' own users -- which systems
 * the profile may write to.  A query runs on every permitted system in parallel; each
 * reply is tagged with its source (Art 9(4)); a system the profile may not see is never
 * revealed, not even by an empty answer (Art 9(4): "no information" on data the user
 * may not access).  Every query is logged with the profile used (Art 10).
 *
 * Profiles are loaded from a JSON file (default: etc/profiles.json, copied into the
 * data directory by `interop init`) and validated with errors that name the field.
 */
#ifndef INTEROP_ESP_H
#define INTEROP_ESP_H

#include "interop/record.h"

typedef struct esp_profiles esp_profiles;
typedef struct esp_profile esp_profile;

/* Query fields a profile may allow (Art 8(1)(a)). */
typedef enum esp_field {
    ESP_F_SURNAMES = 1 << 0, ESP_F_GIVEN_NAMES = 1 << 1, ESP_F_DOB = 1 << 2, ESP_F_NATIONALITY = 1 << 3,
    ESP_F_SEX = 1 << 4, ESP_F_DOCUMENT = 1 << 5, ESP_F_FINGERPRINTS = 1 << 6, ESP_F_FACE = 1 << 7
} esp_field;

/* Reply data categories (record.h documents them). */
typedef enum esp_category {
    ESP_C_IDENTITY = 1 << 0, ESP_C_DOCUMENTS = 1 << 1, ESP_C_BIOMETRICS = 1 << 2, ESP_C_ALERT = 1 << 3,
    ESP_C_TRAVEL = 1 << 4, ESP_C_APPLICATION = 1 << 5, ESP_C_ASYLUM = 1 << 6, ESP_C_CONVICTION = 1 << 7
} esp_category;

iop_code esp_profiles_load(const char *path, esp_profiles **out, iop_err *err);
iop_code esp_profiles_parse(const char *json, size_t len, const char *source_name, esp_profiles **out, iop_err *err);
void esp_profiles_free(esp_profiles *p);
size_t esp_profiles_count(const esp_profiles *p);
const esp_profile *esp_profiles_at(const esp_profiles *p, size_t i);
const esp_profile *esp_profile_find(const esp_profiles *p, const char *name);

const char *esp_profile_name(const esp_profile *p);
const char *esp_profile_description(const esp_profile *p);
bool esp_profile_queries(const esp_profile *p, iop_system s);    /* may query (and get replies from) s */
bool esp_profile_writes(const esp_profile *p, iop_system s);     /* may create/update/delete records in s */
unsigned esp_profile_fields(const esp_profile *p);               /* esp_field bits */
unsigned esp_profile_categories(const esp_profile *p, iop_system s); /* esp_category bits */
bool esp_profile_shows_kind(const esp_profile *p, iop_system s, const char *kind, const char *sis_category);
bool esp_profile_queries_cir(const esp_profile *p);
/* The profile as JSON (for GET /v1/profiles). */
iop_code esp_profile_to_json(const esp_profile *p, iop_buf *out);

/* Who asks, under which profile, for what purpose (all logged, Art 10(1)). Strings are
 * the caller's. */
typedef struct esp_actor {
    const char *user;
    const char *authority;
    const char *member_state;
    const esp_profile *profile;
    const char *purpose;
} esp_actor;

typedef struct esp_query {
    char **surnames; size_t n_surnames;
    char **given_names; size_t n_given_names;
    iop_date dob;
    char *nationality;
    char sex;
    char *doc_number;
    char *doc_country;
    iop_system systems[IOP_SYS_COUNT]; size_t n_systems; /* restrict to these (0 = all permitted) */
    size_t limit;                                          /* per system, default 10, max 100 */
    rec_finger *fingers; size_t n_fingers;                 /* biometric query (sBMS), any supported format */
    rec_blob *face;
    unsigned fields;                                       /* esp_field bits used by the query */
} esp_query;

/* Parses a query request: {"surnames":[..],"given_names":[..],"dob":"..","nationality":"..",
 * "sex":"..","document":{"number":"..","country":".."},"fingerprints":[{"position":N,
 * "format":"..","data":"base64"}],"face":{"format":"f32","data":"base64"},"systems":[..],"limit":N}.
 * Unknown fields are errors. */
iop_code esp_query_parse(const char *json, size_t len, esp_query *q, iop_err *err);
void esp_query_clear(esp_query *q);

typedef struct esp esp;
typedef struct names_engine names_engine;
typedef struct sbms sbms;
typedef struct esp_config {
    /* The biometric matching service for fingerprint and face queries (sbms.h), obtained
     * on first use (its galleries are built when it opens); NULL: none. */
    iop_code (*biometrics)(void *ctx, sbms **out, iop_err *err);
    void *biometrics_ctx;
    const names_engine *names; /* ranks and explains hits (names.h); NULL: token matching only */
    const char *dir;          /* the data directory (systems/, cir.db) */
    int threads;              /* fan-out threads per query (0: one per core, 1: sequential) */
    int readers;              /* concurrent queries with open reader handles (default 8) */
    bool exact_keys_only;     /* no sound keys in the search indexes (iop_open_opts.exact_keys_only) */
    bool full_candidate_reads;/* every name candidate's summary is read and scored (no bound from the
                                 index's own fields first): the same replies, slower; for verification */
    bool durable_query_logs;  /* a reply waits until its log entry is on disk (default: the entry is
                                 committed by the log's next group commit, within milliseconds) */
} esp_config;

typedef struct audit_log audit_log;

/* The portal over a data directory; logs to `log` (may be NULL only in tests of the
 * portal itself). */
iop_code esp_open(const esp_config *cfg, const esp_profiles *profiles, audit_log *log, esp **out, iop_err *err);
void esp_close(esp *e);
/* Builds every system's search index now, in parallel (otherwise each is built at the
 * first query reaching its system); a server calls it before it listens. */
iop_code esp_warm(esp *e, iop_err *err);
/* The search indexes built so far, summed (records, keys, postings, bytes; seq unused). */
typedef struct sys_index_stats sys_index_stats;
void esp_index_stats(esp *e, sys_index_stats *sum);
/* With esp_config.full_candidate_reads: the name candidates scored so far, and how many
 * of them scored above the bound the index's own fields give (0 unless the bound is wrong). */
void esp_bound_check(esp *e, uint64_t *checked, uint64_t *violations);

/* Runs the query on every system the actor's profile permits, in parallel, and writes
 * the reply JSON: {"profile":..,"results":[{"system":..,"hits":[{"score":..,"verdict":..,
 * "match":..,"evidence":{..},"record":{filtered record}}]}, ...]}.  With a names engine the
 * hits are ranked by its score and carry its verdict (same / similar / different) and
 * per-field evidence.  IOP_EDENIED when the query uses a
 * field or system the profile does not allow. */
iop_code esp_search(esp *e, const esp_actor *who, const esp_query *q, iop_buf *reply, iop_err *err);

/* Reads one record through the portal: filtered to the profile's categories;
 * IOP_ENOTFOUND both when absent and when the profile may not see it (no difference is
 * revealed). */
iop_code esp_read(esp *e, const esp_actor *who, iop_system s, const char *id, iop_buf *reply, iop_err *err);

/* Writes rec as the reply would show it to the profile (categories and kinds). */
iop_code esp_filter_record(const esp_profile *p, const rec_person *r, iop_buf *out);

#endif
