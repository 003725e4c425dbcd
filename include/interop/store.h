/*
 * store.h -- the storage interface: a document store with secondary keys, one store per
 * connected system and per component (so each keeps its own data, purpose and
 * retention).  The embedded backend is SQLite (WAL, synchronous=FULL: a committed
 * transaction survives kill -9 and power loss); a PostgreSQL backend implements the same
 * interface later.  No component opens another component's store: they call each
 * other's APIs.
 *
 * A document is (id, kind, body JSON, optional blob, created/updated ms, expiry day);
 * keys are strings that index a document for lookup (normalised names, document
 * numbers, ...); replacing a document replaces its keys.
 *
 * Threading: a store handle is used by one thread at a time.  Readers on other threads
 * open their own read-only handles on the same path (store_open with STORE_READONLY);
 * WAL lets them read while one writer writes.
 */
#ifndef INTEROP_STORE_H
#define INTEROP_STORE_H

#include "interop/base.h"

typedef struct store store;

/* STORE_CHANGES: every put and delete is also recorded in the store's change log (a
 * sequence number per change, in commit order; triggers in the database write it, so
 * every writer of the file records its changes), so a reader can keep a derived copy --
 * an in-memory search index -- up to date with store_changes_since.  STORE_KEYLESS: the
 * store holds no secondary keys (store_put refuses them), which spares every write the
 * key bookkeeping; its owner indexes the documents itself.  Every writer of a store opens
 * it with the same flags. */
enum { STORE_READONLY = 1, STORE_CREATE = 2, STORE_CHANGES = 4, STORE_KEYLESS = 8 };

/* A schema migration: SQL run once, in order; the store records the version reached. */
typedef struct store_migration {
    int version;
    const char *sql;
} store_migration;

iop_code store_open(const char *path, int flags, iop_err *err, store **out);
void store_close(store *s);
/* Applies the migrations whose version is above the stored one, each in a transaction. */
iop_code store_migrate(store *s, const store_migration *m, size_t n, iop_err *err);
int store_schema_version(store *s);
const char *store_path(const store *s);

/* On a read-only handle store_begin starts a read transaction: several reads then see
 * one snapshot and take the file locks once. */
iop_code store_begin(store *s, iop_err *err);
iop_code store_commit(store *s, iop_err *err);
void store_rollback(store *s);

typedef struct store_doc {
    const char *id;
    const char *kind;
    const char *body;      /* JSON text */
    const char *summary;   /* optional short text the owner ranks candidates on without parsing body */
    const void *blob;      /* optional (biometrics), may be NULL */
    size_t blob_len;
    int64_t created_ms, updated_ms;
    int64_t expires_day;   /* days since 1970-01-01 when retention ends; 0 = no expiry set */
} store_doc;

/* Inserts or replaces a document and its keys (inside a transaction for batches). */
iop_code store_put(store *s, const store_doc *d, const char *const *keys, size_t nkeys, iop_err *err);
/* IOP_ENOTFOUND when absent. */
iop_code store_delete(store *s, const char *id, iop_err *err);

/* Callback for reads: return nonzero to stop the iteration.  Pointers are valid only
 * during the call. */
typedef int (*store_doc_fn)(void *ctx, const store_doc *d);

iop_code store_get(store *s, const char *id, bool with_blob, store_doc_fn fn, void *ctx, iop_err *err);
/* Documents indexed under key, at most limit (0 = no limit), in id order. */
iop_code store_lookup(store *s, const char *key, size_t limit, store_doc_fn fn, void *ctx, iop_err *err);
/* Every document, in id order. */
iop_code store_scan(store *s, bool with_blob, store_doc_fn fn, void *ctx, iop_err *err);
/* Documents whose expires_day is set and <= day. */
iop_code store_expired(store *s, int64_t day, store_doc_fn fn, void *ctx, iop_err *err);
iop_code store_count(store *s, int64_t *n, iop_err *err);

/* The change log (STORE_CHANGES).  A change names the document; kind and summary are its
 * state now (NULL when it is gone), so replaying changes in order, each with the current
 * state, converges on the store's content. */
typedef struct store_change {
    int64_t seq;
    const char *id;
    const char *kind;    /* NULL: deleted */
    const char *summary; /* NULL: deleted or none */
} store_change;
typedef int (*store_change_fn)(void *ctx, const store_change *c);
/* The sequence number of the last committed change (0 when none). */
iop_code store_last_change(store *s, int64_t *seq, iop_err *err);
/* The sequence number of the oldest change still kept (0 when none).  Sequence numbers
 * are contiguous; a follower that finds a gap after its position missed trimmed changes
 * and starts again from store_scan_summaries. */
iop_code store_first_change(store *s, int64_t *seq, iop_err *err);
/* Deletes all but the last `keep` changes (inside the caller's write transaction, if
 * any): writers bound the log, followers further behind start again. */
iop_code store_changes_trim(store *s, int64_t keep, iop_err *err);
/* A cheap test for commits, for a reader that follows the change log (a search index
 * that must see every acknowledged write before each search, without a read transaction
 * each time).  store_mark_take records the database's committed state -- SQLite's
 * WAL-index header in the -shm file, which every commit rewrites (sqlite.org/walformat.html
 * section 2.1) -- and is called BEFORE reading the log; store_changed_since then says
 * false only when no connection of any process has committed since the mark.  When the
 * header cannot be read (no -shm file yet, not in WAL mode) the mark is invalid and
 * store_changed_since says true: the caller reads the log as before. */
typedef struct store_mark {
    uint32_t hdr[24]; /* both copies of the 48-byte header */
    bool valid;
} store_mark;
void store_mark_take(store *s, store_mark *m);
bool store_changed_since(store *s, const store_mark *m);
/* The same for any SQLite connection in WAL mode that is not a store (the users
 * database), through SQLite's own mapping of the header.  The caller serialises these
 * calls with its other uses of the connection and frees the watch before closing it. */
struct sqlite3;
typedef struct store_watch store_watch;
store_watch *store_watch_new(struct sqlite3 *db); /* NULL: out of memory */
void store_watch_free(store_watch *w);
void store_watch_mark(store_watch *w, store_mark *m);
bool store_watch_changed(store_watch *w, const store_mark *m);
/* The changes after seq, in order, at most max of them (0: all), in one snapshot; *last
 * receives the last one fn accepted (returned 0 for): a caller that stops resumes there. */
iop_code store_changes_since(store *s, int64_t seq, size_t max, store_change_fn fn, void *ctx, int64_t *last,
                             iop_err *err);
/* Every document's id, kind and summary (body empty, no blob), in one snapshot with the
 * sequence number of the last change it includes in *seq -- the starting point of a
 * derived copy that then follows store_changes_since(*seq). */
iop_code store_scan_summaries(store *s, store_doc_fn fn, void *ctx, int64_t *seq, iop_err *err);

/* A small key/value table for the component's own settings (schema of its data, ids). */
iop_code store_meta_get(store *s, const char *key, char **value, iop_err *err); /* ENOTFOUND if absent */
iop_code store_meta_set(store *s, const char *key, const char *value, iop_err *err);

/* Escape hatch for a component's own tables (created through its migrations): runs SQL
 * with no result.  Kept small on purpose; the PostgreSQL backend maps it 1:1. */
iop_code store_exec(store *s, const char *sql, iop_err *err);

#endif
