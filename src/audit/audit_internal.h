/*
 * audit_internal.h -- shared between the files of the audit module: the log
 * context, the chain arithmetic (canonical serialisation, hashes, MACs) and the
 * SQL schema.  Not part of the public contract (include/interop/audit.h).
 */
#ifndef INTEROP_AUDIT_INTERNAL_H
#define INTEROP_AUDIT_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include "interop/audit.h"

#define AUDIT_HASH 32
#define AUDIT_KEY 32

/* A caller waiting for its entry: filled by the writer thread under log->mu. */
typedef struct audit_waiter {
    bool done;
    iop_code rc;
    int64_t seq;
    int64_t purged;
    char msg[IOP_ERR_MSG];
} audit_waiter;

/* One queued entry: owned copies of the strings, in stored form. */
typedef struct audit_item {
    struct audit_item *next;
    uint64_t ticket;
    int64_t time_ms;
    char *actor, *authority, *profile, *purpose, *component, *operation;
    char *systems; /* JSON array text */
    char *counts;  /* JSON object text */
    char *detail;  /* canonical JSON text or NULL */
    bool purge;    /* a retention purge: erase entries before purge_cutoff first */
    int64_t purge_cutoff;
    audit_waiter *waiter; /* NULL when the appender does not wait */
    audit_done_fn done;   /* completion callback, or NULL */
    void *done_ctx;
    int64_t seq;          /* assigned in the transaction */
} audit_item;

#define AUDIT_DETAIL_CACHE 64      /* details kept in canonical form */
#define AUDIT_DETAIL_CACHE_MAX 512 /* longer details are not kept */

struct audit_log {
    char *path;
    audit_options opt;
    bool read_only;
    uint8_t key[AUDIT_KEY];

    sqlite3 *wdb; /* the writer thread's connection (NULL when read-only) */
    sqlite3 *rdb; /* queries and verification, under rmu */
    pthread_mutex_t rmu;

    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    audit_item *qhead, *qtail;
    size_t queued;
    size_t urgent;          /* appenders and flushers waiting for a commit now */
    bool writer_idle;       /* the writer waits for work (not for a batch to fill) */
    uint64_t next_ticket, done_ticket;
    bool closing;
    audit_stats stats;   /* under mu */
    pthread_cond_t cv_room; /* the queue has room again */
    iop_code async_rc; /* first failure of an entry nobody waited for */
    char async_msg[IOP_ERR_MSG];
    /* the canonical form of recent details (callers log a few shapes over and over),
     * under detail_mu: raw text -> canonical text */
    struct {
        char *raw, *canon;
    } detail_cache[AUDIT_DETAIL_CACHE];
    pthread_mutex_t detail_mu;
};

/* The fields of one entry in stored form (as the database holds them). */
typedef struct audit_row {
    int64_t seq, time_ms;
    const char *f[9]; /* actor authority profile purpose component operation systems counts detail */
    size_t len[9];
} audit_row;

/* h = BLAKE2b-256(prev || canonical serialisation of row). */
void audit_chain_hash(const uint8_t prev[AUDIT_HASH], const audit_row *r, uint8_t out[AUDIT_HASH]);
/* Keyed BLAKE2b-256 MAC: tag byte ('E' entry, 'H' head, 'S' start) || seq || hash. */
void audit_mac(const uint8_t key[AUDIT_KEY], char tag, int64_t seq, const uint8_t hash[AUDIT_HASH],
               uint8_t out[AUDIT_HASH]);

/* Runs SQL without results; fills err with the SQLite message on failure. */
iop_code audit_exec(sqlite3 *db, const char *sql, iop_err *err);
/* Reads a seal ("head" or "start"); *found false when absent. */
iop_code audit_seal_get(sqlite3 *db, const char *kind, int64_t *seq, uint8_t hash[AUDIT_HASH],
                        uint8_t mac[AUDIT_HASH], bool *found, iop_err *err);

#endif
