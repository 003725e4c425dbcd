/*
 * audit.h -- the hash-chained, append-only access logs of the interoperability
 * components: ESP (Reg. 2019/817 Art 10), sBMS (Art 16), CIR (Art 24) and MID
 * (Art 36), and of the connected systems they call.  Logs are kept for one year
 * after creation by default and then erased (Arts 10(2), 16(2), 24(7), 36(2)).
 *
 * The model
 *   - Every entry gets a sequence number 1, 2, 3, ... and a hash
 *         h_n = BLAKE2b-256(h_{n-1} || canonical serialisation of entry n)
 *     with h_0 = 32 zero bytes (docs/logs.md gives the byte layout).  Each entry
 *     also carries a MAC of h_n under a secret 32-byte key kept in a 0600 file
 *     beside the database ("<db>.key"), so a chain recomputed by someone without
 *     the key is detected at the first rewritten entry.
 *   - A sealed head (latest seq and hash, MAC'd with the key) is updated in the same
 *     transaction as the entries, so deleting entries at the end is detected too.
 *     A sealed start (first seq and the hash before it) is written by a purge, so
 *     the chain stays verifiable from its new first entry.
 *   - Group commit: audit_append() hands the entry to one writer thread, which
 *     commits every waiting entry in one SQLite transaction (WAL, synchronous=FULL)
 *     while the next batch forms.  With wait_durable, audit_append() returns only
 *     once its entry is on disk.  Safe to call from any number of threads.
 *
 * Ownership: audit_open() allocates the log, audit_close() flushes every queued
 * entry and frees it.  Strings passed in an audit_entry are copied; entries handed
 * to an audit_query() callback are valid only during the call.
 */
#ifndef INTEROP_AUDIT_H
#define INTEROP_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "interop/base.h"

typedef struct audit_log audit_log;

#define AUDIT_DEFAULT_RETENTION_DAYS 365

typedef struct audit_options {
    int retention_days;   /* entries older than this are purged; 0 = 365 */
    bool no_wait_durable; /* audit_append returns once queued (default: waits for the commit) */
    int commit_delay_us;  /* writer waits this long for a batch to fill; 0 = commit at once */
    int lazy_delay_us;    /* ... this long when nobody waits for the commit (entries appended
                             without waiting: queries' log entries by default); 0 = commit_delay_us */
    int max_batch;        /* entries per transaction at most; 0 = 4096 */
    int max_queue;        /* appenders wait while this many entries are queued; 0 = 65536 */
    const char *key_path; /* the MAC key; NULL = "<db path>.key" */
} audit_options;

/* Results per system of one operation (e.g. {"sis", 2}). */
typedef struct audit_count {
    const char *system;
    int64_t count;
} audit_count;

/* One log entry.  On append: time_ms 0 means "now"; component and operation are
 * required; detail, if given, must be a JSON value (it is stored in canonical
 * form: compact, keys sorted). */
typedef struct audit_entry {
    int64_t seq;     /* assigned by the log */
    int64_t time_ms; /* ms since the epoch, UTC */
    const char *actor;     /* user name */
    const char *authority; /* e.g. "DE Federal Police" */
    const char *profile;   /* ESP profile the user acted under (Art 10(1)(a)) */
    const char *purpose;   /* purpose of access (Art 36(1)(b)), national file reference */
    const char *component; /* "esp", "cir", "sbms", "mid", or a connected system */
    const char *operation; /* "query", "read", "write", "delete", "login", "purge", ... */
    const char *const *systems; /* systems queried, in the order given */
    size_t n_systems;
    const audit_count *counts; /* result counts per system */
    size_t n_counts;
    const char *detail; /* JSON text or NULL */
} audit_entry;

/* Opens (creating if needed) the log in the SQLite file `path` and starts its
 * writer thread.  A new log creates its key file (0600); an existing log whose key
 * file is missing or readable by others is refused. */
iop_code audit_open(const char *path, const audit_options *opt, audit_log **out, iop_err *err);
/* Opens an existing log for verification and queries only (no writer thread, no
 * key creation): IOP_ENOTFOUND when there is no log at `path`.  key_path NULL =
 * "<path>.key". */
iop_code audit_open_read_only(const char *path, const char *key_path, audit_log **out, iop_err *err);
/* Commits everything queued, stops the writer and frees the log.  NULL is ok.
 * Returns the first failure of an entry appended without waiting, if any. */
iop_code audit_close(audit_log *log, iop_err *err);

/* Appends an entry and returns its sequence number in *seq (may be NULL).  Waits
 * for the commit unless the log was opened with no_wait_durable. */
iop_code audit_append(audit_log *log, const audit_entry *e, int64_t *seq, iop_err *err);
/* Same, choosing per call whether to wait for durability. */
iop_code audit_append_ex(audit_log *log, const audit_entry *e, bool wait_durable, int64_t *seq, iop_err *err);
/* Completion callback of audit_append_cb: rc IOP_OK and the entry's seq once it is
 * committed, or the failure (errmsg) of its batch.  Runs on the writer thread: keep
 * it short, and never call a waiting audit function (append with wait, flush,
 * purge, close) from it.  Built for servers that suspend a request until its log
 * entry is durable (e.g. MHD_suspend_connection / MHD_resume_connection), so a few
 * threads can keep thousands of requests in flight and the batches fill up. */
typedef void (*audit_done_fn)(void *ctx, iop_code rc, int64_t seq, const char *errmsg);
/* Queues the entry and returns at once; done(ctx, ...) is called exactly once,
 * unless audit_append_cb itself returns an error (then it is never called). */
iop_code audit_append_cb(audit_log *log, const audit_entry *e, audit_done_fn done, void *ctx, iop_err *err);

/* Waits until every entry appended so far is committed (and its callback has run). */
iop_code audit_flush(audit_log *log, iop_err *err);

/* Counters since audit_open (for /metrics and benchmarks). */
typedef struct audit_stats {
    uint64_t appended;     /* entries committed */
    uint64_t batches;      /* transactions committed */
    uint64_t failed;       /* entries whose batch failed */
    uint64_t commit_ns;    /* time spent in committed transactions, fsync included */
    uint64_t queued;       /* entries waiting for the writer now */
} audit_stats;
void audit_get_stats(audit_log *log, audit_stats *out);

/* ---- verification ---- */
typedef struct audit_verify_result {
    int64_t entries;    /* entries checked */
    int64_t first_seq;  /* first entry kept (after purges), 0 if empty */
    int64_t last_seq;   /* last entry present */
    int64_t broken_seq; /* 0 = intact; else the first entry at which the chain breaks */
    char reason[320];   /* why it is broken ("entry 17 was modified: ...") */
} audit_verify_result;

/* Recomputes the whole chain (on a consistent snapshot).  Returns IOP_OK when
 * intact, IOP_ECORRUPT with res->broken_seq and res->reason when not, another code
 * when the log cannot be read at all. */
iop_code audit_verify(audit_log *log, audit_verify_result *res, iop_err *err);

/* The sealed head (latest committed seq and its hash as 64 hex digits + NUL), for
 * anchoring outside the database (printing it, publishing it). */
iop_code audit_head(audit_log *log, int64_t *seq, char hash_hex[65], iop_err *err);

/* The stored chain hash of entry seq (64 hex digits + NUL); IOP_ENOTFOUND if the
 * entry is not in the log.  Meaningful after audit_verify() said the chain is intact. */
iop_code audit_entry_hash(audit_log *log, int64_t seq, char hash_hex[65], iop_err *err);

/* ---- retention ---- */
/* Erases the entries created before now_ms - retention (now_ms 0 = now), records
 * the purge as an entry (component "audit", operation "purge", detail with the
 * erased range) and seals the new start of the chain.  *purged (may be NULL) gets
 * the number of entries erased.  Only a prefix of the chain is erased: an entry is
 * kept while any earlier one must be kept. */
iop_code audit_purge(audit_log *log, int64_t now_ms, const char *actor, int64_t *purged, iop_err *err);

/* ---- query (for `interop logs show`) ---- */
typedef struct audit_filter {
    int64_t since_ms;      /* 0 = no lower bound (inclusive) */
    int64_t until_ms;      /* 0 = no upper bound (exclusive) */
    const char *actor;     /* NULL = any */
    const char *component; /* NULL = any */
    const char *operation; /* NULL = any */
    int64_t limit;         /* 0 = no limit */
    bool newest_first;     /* default: ascending sequence numbers */
} audit_filter;

/* Calls fn for each matching entry; a non-zero return from fn stops the query. */
typedef int (*audit_entry_fn)(void *ctx, const audit_entry *e);
iop_code audit_query(audit_log *log, const audit_filter *f, audit_entry_fn fn, void *ctx, iop_err *err);

/* Appends e as one JSON object (no newline): seq, time (ISO 8601), time_ms, actor,
 * authority, profile, purpose, component, operation, systems, counts, detail. */
int audit_entry_json(iop_buf *b, const audit_entry *e);

#endif
