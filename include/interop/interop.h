/*
 * interop.h -- one running interop node over a data directory: the connected systems'
 * stores, the common identity repository, the search portal, the access logs and the
 * users.  The CLI and the HTTP server are thin layers over these functions.
 *
 * Data directory layout (created by iop_init_dir):
 *   DIR/systems/<system>.db   one store per connected system (systems.h)
 *   DIR/cir.db                the common identity repository (cir.h)
 *   DIR/audit.db (+ .key)     the hash-chained access log (audit.h)
 *   DIR/access.db             users, authorities, hashed API tokens (access.h)
 *   DIR/profiles.json         the portal's user profiles (esp.h)
 *
 * Thread safety: search, read and authenticate may run on any number of threads at
 * once; writes (load, delete) are serialised internally.
 */
#ifndef INTEROP_INTEROP_H
#define INTEROP_INTEROP_H

#include "interop/esp.h"

typedef struct iop_instance iop_instance;

typedef struct iop_open_opts {
    int search_threads;        /* fan-out threads per query; 0 = one per core */
    int readers;               /* concurrent queries; 0 = 16 */
    const char *profiles_path; /* NULL = DIR/profiles.json */
    bool audit_no_wait;        /* tests/benchmarks of raw speed only: writes don't wait for log durability */
    bool durable_query_logs;   /* searches and reads wait until their log entry is on disk */
    bool exact_keys_only;      /* search indexes without sound keys: faster start, less memory, but
                                  names spelled otherwise or in other scripts are found only by the
                                  names engine's re-ranking of what exact keys find */
    const char *nicknames_path;/* the names engine's nickname table (CSV); NULL = the shared data's, if present */
    const char *names_model;   /* the names engine's learned transliteration model (`interop names train`);
                                  NULL = $IOP_NAMES_MODEL when set, else none (rule-based readings only) */
    bool full_candidate_reads; /* verification: searches read every name candidate's summary instead of
                                  first bounding its score from the index (esp_config) */
    const char *names_ja;      /* Japanese readings of kanji names: mecab-ipadic's Noun.name.csv
                                  (NAMES_JA_DEFAULT_PATH); NULL = $IOP_NAMES_JA when set, else none */
} iop_open_opts;

/* Creates DIR and every store in it, and writes DIR/profiles.json from
 * profiles_src (NULL = the built-in default profiles).  Refuses a directory that
 * already holds an interop node unless it is complete (then it is a no-op). */
iop_code iop_init_dir(const char *dir, const char *profiles_src, iop_err *err);
iop_code iop_open(const char *dir, const iop_open_opts *opts, iop_instance **out, iop_err *err);
void iop_close(iop_instance *in);

const esp_profiles *iop_profiles(iop_instance *in);
esp *iop_portal(iop_instance *in);

/* The authenticated caller: filled by iop_authenticate; strings live until
 * iop_actor_clear. */
typedef struct iop_actor {
    char *user, *authority, *authority_type, *member_state, *purpose;
    char **profiles; size_t n_profiles; /* the profiles the user may act under */
    const esp_profile *profile;         /* the one chosen for this request */
} iop_actor;
void iop_actor_clear(iop_actor *a);

/* Resolves a bearer token to its user and selects the profile to act under (NULL =
 * the user's only/first profile).  IOP_EDENIED for an unknown, revoked or expired token
 * or a profile the user does not hold. */
iop_code iop_authenticate(iop_instance *in, const char *token, const char *profile, const char *purpose,
                          iop_actor *out, iop_err *err);
/* The same for a local user name (CLI use on the node itself, which has the files). */
iop_code iop_actor_local(iop_instance *in, const char *user, const char *profile, const char *purpose,
                         iop_actor *out, iop_err *err);

/* The caller as the portal sees it. */
esp_actor iop_esp_actor(const iop_actor *a);

/* Search through the portal: request and reply JSON as in esp.h / docs/openapi.yaml. */
iop_code iop_search_json(iop_instance *in, const iop_actor *a, const char *req, size_t len, iop_buf *reply,
                         iop_err *err);

typedef struct iop_load_stats {
    size_t records;        /* records written */
    size_t per_system[IOP_SYS_COUNT];
    size_t cir_files;      /* individual files created or updated */
} iop_load_stats;

/* Writes records (any systems the actor's profile may write to) all-or-nothing per call:
 * on any error nothing of this call is written.  Durable on return (survives kill -9). */
iop_code iop_load_records(iop_instance *in, const iop_actor *a, const rec_person *recs, size_t n,
                          iop_load_stats *stats, iop_err *err);
/* Parses JSON Lines text (source_name for error messages: "file.jsonl:12: field 'dob': ...")
 * and loads it with iop_load_records in batches of batch_size lines (0 = all in one).
 * A failing batch writes nothing; *stats counts what was written before it. */
iop_code iop_load_jsonl(iop_instance *in, const iop_actor *a, const char *source_name, const char *text, size_t len,
                        size_t batch_size, iop_load_stats *stats, iop_err *err);

/* Loads a JSON Lines file ('-' = standard input) in batches of batch_size records, each
 * written all-or-nothing and durable when counted in *stats.  Parsing runs on a second
 * thread, overlapping the writes.  The first bad line stops the load: *err names the
 * file, line and field, and nothing of that line's batch is written.  progress (may be
 * NULL) is called after each batch. */
typedef void (*iop_progress_fn)(void *ctx, const iop_load_stats *stats);
iop_code iop_load_file(iop_instance *in, const iop_actor *a, const char *path, size_t batch_size,
                       iop_progress_fn progress, void *ctx, iop_load_stats *stats, iop_err *err);

/* One record as the actor's profile may see it (ENOTFOUND also when it may not). */
iop_code iop_read_json(iop_instance *in, const iop_actor *a, iop_system s, const char *id, iop_buf *reply,
                       iop_err *err);
/* Deletes a record and everything that follows it (CIR data set, templates). */
iop_code iop_delete(iop_instance *in, const iop_actor *a, iop_system s, const char *id, iop_err *err);

/* Counts for /metrics and /health: records per system, CIR files. */
typedef struct iop_counts {
    int64_t records[IOP_SYS_COUNT];
    int64_t cir_files;
} iop_counts;
iop_code iop_count(iop_instance *in, iop_counts *out, iop_err *err);

/* Writes an audit entry for an operation done outside the portal (e.g. login). */
iop_code iop_log(iop_instance *in, const iop_actor *a, const char *component, const char *operation,
                 const char *detail_json, iop_err *err);

/* Deletes every record whose retention ended on or before `today` (days since
 * 1970-01-01) in every system, with its CIR data set; logged as "retention-delete". */
iop_code iop_purge_expired(iop_instance *in, int64_t today, size_t *purged, iop_err *err);

/* The node's users and log, for the CLI's `user` and `logs` commands. */
typedef struct access_db access_db;
access_db *iop_access_db(iop_instance *in);
audit_log *iop_audit_log(iop_instance *in);

#endif
