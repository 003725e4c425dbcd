/*
 * log.c -- the append side of the access logs (Reg. 2019/817 Arts 10, 16, 24, 36
 * and their twins in 2019/818): opening the SQLite log and its key, the group-commit
 * writer thread, audit_append() and the one-year retention purge.
 *
 * Design.  Appenders copy their entry into a queue item and, if they want
 * durability, wait on a condition variable.  One writer thread takes everything
 * queued (up to max_batch), opens one IMMEDIATE transaction, reads the sealed head
 * (so several processes can share one log: sequence numbers are assigned here,
 * from the database, never from memory), chains and MACs each entry, inserts it,
 * re-seals the head and commits with synchronous=FULL.  While it commits, the next
 * batch forms, so the number of fsyncs per second stays bounded and the appends per
 * second grow with the number of concurrent appenders.  A failed batch is rolled
 * back as a whole and its waiters get the error; nothing half-written stays.
 *
 * Retention: a purge is a queue item too.  The writer erases the oldest prefix of
 * the chain created before the cut-off, seals the new start (its seq and the hash
 * before it) and appends the purge entry, all in the same transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "audit/audit_internal.h"

#define SCHEMA_VERSION 1

static const char *schema_v1 =
    "CREATE TABLE audit_entries ("
    " seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
    " actor TEXT, authority TEXT, profile TEXT, purpose TEXT,"
    " component TEXT NOT NULL, operation TEXT NOT NULL,"
    " systems TEXT NOT NULL, counts TEXT NOT NULL, detail TEXT,"
    " prev BLOB NOT NULL, hash BLOB NOT NULL, mac BLOB NOT NULL);"
    "CREATE INDEX audit_entries_time ON audit_entries(time_ms);"
    "CREATE INDEX audit_entries_actor ON audit_entries(actor, time_ms);"
    "CREATE TABLE audit_seal (kind TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash BLOB NOT NULL, mac BLOB NOT NULL);"
    "CREATE TABLE audit_purging (active INTEGER);"
    "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE ON audit_entries"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries"
    " WHEN NOT EXISTS (SELECT 1 FROM audit_purging)"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are erased only by the retention purge'); END;";

/* ---------------------------------------------------------------- helpers */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void item_free(audit_item *it) {
    if (!it) return;
    free(it->actor); free(it->authority); free(it->profile); free(it->purpose);
    free(it->component); free(it->operation); free(it->systems); free(it->counts); free(it->detail);
    free(it);
}

static iop_code sql_fail(sqlite3 *db, iop_err *err, const char *what) {
    return iop_fail(err, IOP_EIO, "audit log: %s: %s", what, sqlite3_errmsg(db));
}

/* Loads or creates the MAC key.  create: allowed to create a missing key;
 * *created (may be NULL) tells whether it did. */
static iop_code load_key(const char *path, bool create, uint8_t key[AUDIT_KEY], bool *created, iop_err *err) {
    if (created) *created = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (created) *created = true;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) return iop_fail(err, IOP_EIO, "cannot create audit key %s: %s", path, strerror(errno));
        randombytes_buf(key, AUDIT_KEY);
        ssize_t w = write(fd, key, AUDIT_KEY);
        int sync_rc = fsync(fd);
        close(fd);
        if (w != AUDIT_KEY || sync_rc != 0) {
            unlink(path);
            return iop_fail(err, IOP_EIO, "cannot write audit key %s", path);
        }
        return IOP_OK;
    }
    if (fd < 0)
        return iop_fail(err, errno == ENOENT ? IOP_ECORRUPT : IOP_EIO,
                        "audit key %s: %s (the log cannot be verified or extended without it)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return iop_fail(err, IOP_EIO, "audit key %s: %s", path, strerror(errno));
    }
    if (sb.st_mode & 077) {
        close(fd);
        return iop_fail(err, IOP_EDENIED, "audit key %s has mode %03o: it must be readable by its owner only (0600)",
                        path, (unsigned)(sb.st_mode & 0777));
    }
    ssize_t r = read(fd, key, AUDIT_KEY);
    close(fd);
    if (r != AUDIT_KEY) return iop_fail(err, IOP_ECORRUPT, "audit key %s: expected %d bytes", path, AUDIT_KEY);
    return IOP_OK;
}

static iop_code migrate(sqlite3 *db, iop_err *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return sql_fail(db, err, "schema");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION)
        return iop_fail(err, IOP_EINVAL, "audit log: schema version %d is newer than this build (%d)", version,
                        SCHEMA_VERSION);
    if (version == SCHEMA_VERSION) return IOP_OK;
    iop_code c = audit_exec(db, "BEGIN IMMEDIATE", err);
    if (c) return c;
    /* re-read under the lock: another process may have migrated meanwhile */
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version < 1) c = audit_exec(db, schema_v1, err);
    if (!c) c = audit_exec(db, "PRAGMA user_version = 1", err);
    if (c) {
        audit_exec(db, "ROLLBACK", NULL);
        return c;
    }
    return audit_exec(db, "COMMIT", err);
}

static iop_code open_db(const char *path, bool ro, sqlite3 **out, iop_err *err) {
    sqlite3 *db = NULL;
    int flags = (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        iop_code c = iop_fail(err, IOP_EIO, "cannot open audit log %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return c;
    }
    sqlite3_busy_timeout(db, 10000);
    iop_code c = IOP_OK;
    if (!ro) c = audit_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err);
    if (c) {
        sqlite3_close(db);
        return c;
    }
    *out = db;
    return IOP_OK;
}

static bool log_is_new(sqlite3 *db) {
    sqlite3_stmt *st;
    bool fresh = true;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM audit_seal) + (SELECT count(*) FROM "
                               "(SELECT 1 FROM audit_entries LIMIT 1))", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) fresh = sqlite3_column_int64(st, 0) == 0;
        sqlite3_finalize(st);
    }
    return fresh;
}

/* ---------------------------------------------------------------- the writer */

typedef struct writer_stmts {
    sqlite3_stmt *ins, *seal, *first_kept, *count_before, *hash_at, *del;
} writer_stmts;

static void stmts_free(writer_stmts *s) {
    sqlite3_finalize(s->ins); sqlite3_finalize(s->seal); sqlite3_finalize(s->first_kept);
    sqlite3_finalize(s->count_before); sqlite3_finalize(s->hash_at); sqlite3_finalize(s->del);
}

static iop_code stmts_prepare(sqlite3 *db, writer_stmts *s, iop_err *err) {
    memset(s, 0, sizeof *s);
    if (sqlite3_prepare_v2(db, "INSERT INTO audit_entries (seq, time_ms, actor, authority, profile, purpose, component,"
                               " operation, systems, counts, detail, prev, hash, mac)"
                               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &s->ins, NULL) ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO audit_seal (kind, seq, hash, mac) VALUES (?,?,?,?)", -1,
                           &s->seal, NULL) ||
        sqlite3_prepare_v2(db, "SELECT min(seq) FROM audit_entries WHERE time_ms >= ?", -1, &s->first_kept, NULL) ||
        sqlite3_prepare_v2(db, "SELECT count(*), min(seq) FROM audit_entries WHERE seq < ?", -1, &s->count_before,
                           NULL) ||
        sqlite3_prepare_v2(db, "SELECT hash FROM audit_entries WHERE seq = ?", -1, &s->hash_at, NULL) ||
        sqlite3_prepare_v2(db, "DELETE FROM audit_entries WHERE seq < ?", -1, &s->del, NULL)) {
        iop_code c = sql_fail(db, err, "prepare");
        stmts_free(s);
        return c;
    }
    return IOP_OK;
}

static iop_code seal_put(audit_log *log, writer_stmts *s, const char *kind, char tag, int64_t seq,
                         const uint8_t hash[AUDIT_HASH], iop_err *err) {
    uint8_t mac[AUDIT_HASH];
    audit_mac(log->key, tag, seq, hash, mac);
    sqlite3_reset(s->seal);
    sqlite3_bind_text(s->seal, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->seal, 2, seq);
    sqlite3_bind_blob(s->seal, 3, hash, AUDIT_HASH, SQLITE_STATIC);
    sqlite3_bind_blob(s->seal, 4, mac, AUDIT_HASH, SQLITE_STATIC);
    if (sqlite3_step(s->seal) != SQLITE_DONE) return sql_fail(log->wdb, err, "seal");
    return IOP_OK;
}

/* Erases the prefix of the chain created before it->purge_cutoff; seq is the
 * sequence number the purge entry itself will get, prev the hash before it.
 * Fills it->detail with what was erased and w->purged with the count. */
static iop_code do_purge(audit_log *log, writer_stmts *s, audit_item *it, int64_t seq,
                         const uint8_t prev[AUDIT_HASH], iop_err *err) {
    sqlite3 *db = log->wdb;
    sqlite3_reset(s->first_kept);
    sqlite3_bind_int64(s->first_kept, 1, it->purge_cutoff);
    if (sqlite3_step(s->first_kept) != SQLITE_ROW) return sql_fail(db, err, "purge");
    int64_t keep = sqlite3_column_type(s->first_kept, 0) == SQLITE_NULL ? seq : sqlite3_column_int64(s->first_kept, 0);
    sqlite3_reset(s->first_kept);
    sqlite3_reset(s->count_before);
    sqlite3_bind_int64(s->count_before, 1, keep);
    if (sqlite3_step(s->count_before) != SQLITE_ROW) return sql_fail(db, err, "purge");
    int64_t n = sqlite3_column_int64(s->count_before, 0);
    int64_t first = sqlite3_column_int64(s->count_before, 1);
    sqlite3_reset(s->count_before);
    if (n > 0) {
        uint8_t before[AUDIT_HASH];
        if (keep == seq) {
            memcpy(before, prev, AUDIT_HASH);
        } else {
            sqlite3_reset(s->hash_at);
            sqlite3_bind_int64(s->hash_at, 1, keep - 1);
            if (sqlite3_step(s->hash_at) != SQLITE_ROW || sqlite3_column_bytes(s->hash_at, 0) != AUDIT_HASH) {
                sqlite3_reset(s->hash_at);
                return iop_fail(err, IOP_ECORRUPT, "audit log: purge: entry %lld is missing; run 'interop logs "
                                "verify'", (long long)(keep - 1));
            }
            memcpy(before, sqlite3_column_blob(s->hash_at, 0), AUDIT_HASH);
            sqlite3_reset(s->hash_at);
        }
        iop_code c = audit_exec(db, "INSERT INTO audit_purging VALUES (1)", err);
        if (c) return c;
        sqlite3_reset(s->del);
        sqlite3_bind_int64(s->del, 1, keep);
        if (sqlite3_step(s->del) != SQLITE_DONE) {
            c = sql_fail(db, err, "purge");
            sqlite3_reset(s->del);
            return c;
        }
        sqlite3_reset(s->del);
        if ((c = audit_exec(db, "DELETE FROM audit_purging", err))) return c;
        if ((c = seal_put(log, s, "start", 'S', keep, before, err))) return c;
    }
    char cut[32];
    iop_time_format(it->purge_cutoff, cut);
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_printf(&b, "{\"cutoff\":\"%s\",\"erased\":%lld", cut, (long long)n);
    if (n > 0) iop_buf_printf(&b, ",\"first_erased\":%lld,\"last_erased\":%lld", (long long)first, (long long)(keep - 1));
    iop_buf_printf(&b, ",\"retention_days\":%d}", log->opt.retention_days);
    free(it->detail);
    it->detail = iop_buf_steal(&b);
    if (it->waiter) it->waiter->purged = n;
    return IOP_OK;
}

/* Commits one batch in one transaction.  On success each item's waiter gets its seq. */
static iop_code commit_batch(audit_log *log, writer_stmts *s, audit_item *batch, iop_err *err) {
    sqlite3 *db = log->wdb;
    iop_code c = audit_exec(db, "BEGIN IMMEDIATE", err);
    if (c) return c;
    int64_t seq = 0;
    uint8_t prev[AUDIT_HASH], hmac[AUDIT_HASH], mac[AUDIT_HASH], h[AUDIT_HASH];
    bool found;
    if ((c = audit_seal_get(db, "head", &seq, prev, hmac, &found, err))) goto fail;
    if (found) {
        audit_mac(log->key, 'H', seq, prev, mac);
        if (sodium_memcmp(mac, hmac, AUDIT_HASH) != 0) {
            c = iop_fail(err, IOP_ECORRUPT, "audit log %s: the sealed head is forged or sealed with another key; "
                         "refusing to extend it (run 'interop logs verify')", log->path);
            goto fail;
        }
    } else {
        /* no head: only a new log may lack one */
        sqlite3_stmt *any = NULL;
        bool has_rows = true;
        if (sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM audit_entries) OR EXISTS (SELECT 1 FROM audit_seal)",
                               -1, &any, NULL) == SQLITE_OK && sqlite3_step(any) == SQLITE_ROW)
            has_rows = sqlite3_column_int(any, 0) != 0;
        sqlite3_finalize(any);
        if (has_rows) {
            c = iop_fail(err, IOP_ECORRUPT, "audit log %s: the sealed head is missing; refusing to extend the log "
                         "(run 'interop logs verify')", log->path);
            goto fail;
        }
        seq = 0;
        memset(prev, 0, AUDIT_HASH);
    }
    for (audit_item *it = batch; it; it = it->next) {
        seq++;
        if (it->purge && (c = do_purge(log, s, it, seq, prev, err))) goto fail;
        audit_row r = {.seq = seq, .time_ms = it->time_ms,
                       .f = {it->actor, it->authority, it->profile, it->purpose, it->component, it->operation,
                             it->systems, it->counts, it->detail}};
        for (int i = 0; i < 9; i++) r.len[i] = r.f[i] ? strlen(r.f[i]) : 0;
        audit_chain_hash(prev, &r, h);
        audit_mac(log->key, 'E', seq, h, mac);
        sqlite3_stmt *ins = s->ins;
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, seq);
        sqlite3_bind_int64(ins, 2, it->time_ms);
        for (int i = 0; i < 9; i++) {
            if (r.f[i]) sqlite3_bind_text(ins, 3 + i, r.f[i], (int)r.len[i], SQLITE_STATIC);
            else sqlite3_bind_null(ins, 3 + i);
        }
        sqlite3_bind_blob(ins, 12, prev, AUDIT_HASH, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 13, h, AUDIT_HASH, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 14, mac, AUDIT_HASH, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            c = sql_fail(db, err, "append");
            sqlite3_reset(ins);
            goto fail;
        }
        sqlite3_reset(ins);
        memcpy(prev, h, AUDIT_HASH);
        it->seq = seq;
        if (it->waiter) it->waiter->seq = seq;
    }
    if ((c = seal_put(log, s, "head", 'H', seq, prev, err))) goto fail;
    if ((c = audit_exec(db, "COMMIT", err))) goto fail;
    return IOP_OK;
fail:
    audit_exec(db, "ROLLBACK", NULL);
    return c;
}

static void *writer_main(void *arg) {
    audit_log *log = arg;
    writer_stmts s;
    iop_err perr;
    iop_code prep = stmts_prepare(log->wdb, &s, &perr);
    size_t max_batch = log->opt.max_batch > 0 ? (size_t)log->opt.max_batch : 4096;
    size_t max_queue = log->opt.max_queue > 0 ? (size_t)log->opt.max_queue : 65536;
    pthread_mutex_lock(&log->mu);
    for (;;) {
        log->writer_idle = true;
        while (!log->qhead && !log->closing) pthread_cond_wait(&log->cv_work, &log->mu);
        log->writer_idle = false;
        if (!log->qhead) break;
        /* group commit: wait for the batch to fill -- commit_delay_us while someone waits
         * for the commit, lazy_delay_us while nobody does (every commit is a flush of the
         * disk: fewer of them leave the cores to the searches) */
        int lazy = log->opt.lazy_delay_us > 0 ? log->opt.lazy_delay_us : log->opt.commit_delay_us;
        if (log->opt.commit_delay_us > 0 && log->queued < max_batch && !log->closing) {
            struct timespec start;
            clock_gettime(CLOCK_REALTIME, &start);
            for (;;) {
                long us = log->urgent ? log->opt.commit_delay_us : lazy;
                struct timespec ts = start;
                long ns = ts.tv_nsec + us * 1000L;
                ts.tv_sec += ns / 1000000000L;
                ts.tv_nsec = ns % 1000000000L;
                if (log->queued >= max_batch || log->queued >= max_queue || log->closing) break;
                if (pthread_cond_timedwait(&log->cv_work, &log->mu, &ts) != 0) break; /* the time is up */
            }
        }
        audit_item *batch = log->qhead, *last = batch;
        size_t n = 1;
        while (last->next && n < max_batch) {
            last = last->next;
            n++;
        }
        log->qhead = last->next;
        if (!log->qhead) log->qtail = NULL;
        last->next = NULL;
        log->queued -= n;
        pthread_mutex_unlock(&log->mu);

        iop_err e;
        iop_err_clear(&e);
        uint64_t t0 = iop_mono_ns();
        iop_code c = prep ? prep : commit_batch(log, &s, batch, &e);
        uint64_t dt = iop_mono_ns() - t0;
        if (prep) e = perr;

        pthread_mutex_lock(&log->mu);
        if (c) {
            log->stats.failed += n;
        } else {
            log->stats.appended += n;
            log->stats.batches++;
            log->stats.commit_ns += dt;
        }
        pthread_cond_broadcast(&log->cv_room);
        for (audit_item *it = batch; it; it = it->next) {
            if (it->waiter) {
                it->waiter->rc = c;
                if (c) snprintf(it->waiter->msg, sizeof it->waiter->msg, "%s", e.msg);
                it->waiter->done = true;
            } else if (c && !it->done && !log->async_rc) {
                log->async_rc = c;
                snprintf(log->async_msg, sizeof log->async_msg, "%s", e.msg);
            }
        }
        pthread_cond_broadcast(&log->cv_done); /* waiters first */
        pthread_mutex_unlock(&log->mu);
        for (audit_item *it = batch; it; it = it->next)
            if (it->done) it->done(it->done_ctx, c, c ? 0 : it->seq, c ? e.msg : NULL);
        pthread_mutex_lock(&log->mu);
        log->done_ticket = last->ticket;
        pthread_cond_broadcast(&log->cv_done);
        pthread_mutex_unlock(&log->mu);
        while (batch) {
            audit_item *nx = batch->next;
            item_free(batch);
            batch = nx;
        }
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    stmts_free(&s);
    return NULL;
}

/* ---------------------------------------------------------------- open / close */

/* Seals the head of a new log at entry 0 (hash h_0 = zeros), so that a log emptied
 * later (seals deleted) is told apart from a new one. */
static iop_code seal_genesis(audit_log *log, iop_err *err) {
    uint8_t zero[AUDIT_HASH] = {0}, mac[AUDIT_HASH];
    audit_mac(log->key, 'H', 0, zero, mac);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    if (sqlite3_prepare_v2(log->wdb, "INSERT OR IGNORE INTO audit_seal (kind, seq, hash, mac) VALUES ('head', 0, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        c = sql_fail(log->wdb, err, "seal");
    } else {
        sqlite3_bind_blob(st, 1, zero, AUDIT_HASH, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, mac, AUDIT_HASH, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) c = sql_fail(log->wdb, err, "seal");
    }
    sqlite3_finalize(st);
    return c;
}

/* Allocates a log for path with its locks; keypath gets the key file's path. */
static audit_log *log_new(const char *path, const char *key_path, char keypath[4096]) {
    audit_log *log = calloc(1, sizeof *log);
    if (!log) return NULL;
    log->path = strdup(path);
    if (!log->path) {
        free(log);
        return NULL;
    }
    log->opt.retention_days = AUDIT_DEFAULT_RETENTION_DAYS;
    pthread_mutex_init(&log->rmu, NULL);
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->detail_mu, NULL);
    pthread_cond_init(&log->cv_work, NULL);
    pthread_cond_init(&log->cv_done, NULL);
    pthread_cond_init(&log->cv_room, NULL);
    if (key_path) snprintf(keypath, 4096, "%s", key_path);
    else snprintf(keypath, 4096, "%s.key", path);
    return log;
}

iop_code audit_open(const char *path, const audit_options *opt, audit_log **out, iop_err *err) {
    *out = NULL;
    if (!path || !*path) return iop_fail(err, IOP_EINVAL, "audit log: no database path");
    if (sodium_init() < 0) return iop_fail(err, IOP_EINTERNAL, "libsodium failed to initialise");
    char keypath[4096];
    audit_log *log = log_new(path, opt ? opt->key_path : NULL, keypath);
    if (!log) return iop_fail(err, IOP_ENOMEM, "out of memory");
    if (opt) log->opt = *opt;
    if (log->opt.retention_days <= 0) log->opt.retention_days = AUDIT_DEFAULT_RETENTION_DAYS;
    log->opt.key_path = NULL; /* not kept: the caller owns the string */

    iop_code c;
    if ((c = open_db(path, false, &log->wdb, err))) goto fail;
    chmod(path, 0600);
    if ((c = migrate(log->wdb, err))) goto fail;
    bool fresh = log_is_new(log->wdb), created = false;
    if ((c = load_key(keypath, fresh, log->key, &created, err))) goto fail;
    if (fresh && !created) {
        /* the key outlives only a log that was deleted or replaced by an empty one */
        c = iop_fail(err, IOP_ECORRUPT, "audit log %s is empty but its key %s exists: the log was deleted or "
                     "replaced (to start a new log on purpose, move the old key away first)", path, keypath);
        goto fail;
    }
    if (fresh && (c = seal_genesis(log, err))) goto fail;
    if ((c = open_db(path, true, &log->rdb, err))) goto fail;
    if (pthread_create(&log->writer, NULL, writer_main, log) != 0) {
        c = iop_fail(err, IOP_EINTERNAL, "audit log: cannot start the writer thread");
        goto fail;
    }
    log->writer_started = true;
    *out = log;
    return IOP_OK;
fail:
    audit_close(log, NULL);
    return c;
}

iop_code audit_open_read_only(const char *path, const char *key_path, audit_log **out, iop_err *err) {
    *out = NULL;
    if (!path || !*path) return iop_fail(err, IOP_EINVAL, "audit log: no database path");
    if (sodium_init() < 0) return iop_fail(err, IOP_EINTERNAL, "libsodium failed to initialise");
    struct stat sb;
    if (stat(path, &sb) != 0) return iop_fail(err, IOP_ENOTFOUND, "no audit log at %s", path);
    char keypath[4096];
    audit_log *log = log_new(path, key_path, keypath);
    if (!log) return iop_fail(err, IOP_ENOMEM, "out of memory");
    log->read_only = true;
    iop_code c;
    if ((c = open_db(path, true, &log->rdb, err))) goto fail;
    if ((c = load_key(keypath, false, log->key, NULL, err))) goto fail;
    *out = log;
    return IOP_OK;
fail:
    audit_close(log, NULL);
    return c;
}

iop_code audit_close(audit_log *log, iop_err *err) {
    if (!log) return IOP_OK;
    iop_code c = IOP_OK;
    if (log->writer_started) {
        pthread_mutex_lock(&log->mu);
        log->closing = true;
        pthread_cond_broadcast(&log->cv_work);
        pthread_mutex_unlock(&log->mu);
        pthread_join(log->writer, NULL);
        if (log->async_rc) c = iop_fail(err, log->async_rc, "%s", log->async_msg);
    }
    if (log->rdb) sqlite3_close(log->rdb);
    if (log->wdb) sqlite3_close(log->wdb);
    pthread_mutex_destroy(&log->rmu);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->detail_mu);
    for (size_t i = 0; i < AUDIT_DETAIL_CACHE; i++) {
        free(log->detail_cache[i].raw);
        free(log->detail_cache[i].canon);
    }
    pthread_cond_destroy(&log->cv_work);
    pthread_cond_destroy(&log->cv_done);
    pthread_cond_destroy(&log->cv_room);
    sodium_memzero(log->key, sizeof log->key);
    free(log->path);
    free(log);
    return c;
}

/* ---------------------------------------------------------------- append */

static bool valid_text(const char *s) {
    if (!s) return true;
    size_t n = strlen(s);
    return n < 4096;
}

/* Builds a queue item from e (copies, canonical JSON), without a ticket. */
/* The detail cache: a detail seen recently is not parsed and serialised again (a
 * search logs one of a few shapes of detail each time). */
static size_t detail_slot(const char *raw) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h % AUDIT_DETAIL_CACHE);
}

/* A copy of raw's canonical form when it is cached, else NULL. */
static char *cached_detail(audit_log *log, const char *raw) {
    if (strlen(raw) > AUDIT_DETAIL_CACHE_MAX) return NULL;
    size_t k = detail_slot(raw);
    char *r = NULL;
    pthread_mutex_lock(&log->detail_mu);
    if (log->detail_cache[k].raw && !strcmp(log->detail_cache[k].raw, raw)) r = strdup(log->detail_cache[k].canon);
    pthread_mutex_unlock(&log->detail_mu);
    return r;
}

static void keep_detail(audit_log *log, const char *raw, const char *canon) {
    if (strlen(raw) > AUDIT_DETAIL_CACHE_MAX) return;
    char *r = strdup(raw), *c = strdup(canon);
    if (!r || !c) {
        free(r);
        free(c);
        return;
    }
    size_t k = detail_slot(raw);
    pthread_mutex_lock(&log->detail_mu);
    free(log->detail_cache[k].raw);
    free(log->detail_cache[k].canon);
    log->detail_cache[k].raw = r;
    log->detail_cache[k].canon = c;
    pthread_mutex_unlock(&log->detail_mu);
}

static iop_code item_from_entry(audit_log *log, const audit_entry *e, audit_item **out, iop_err *err) {
    if (!e->component || !*e->component) return iop_fail(err, IOP_EINVAL, "audit entry: field 'component' is required");
    if (!e->operation || !*e->operation) return iop_fail(err, IOP_EINVAL, "audit entry: field 'operation' is required");
    const char *names[] = {"actor", "authority", "profile", "purpose", "component", "operation"};
    const char *vals[] = {e->actor, e->authority, e->profile, e->purpose, e->component, e->operation};
    for (int i = 0; i < 6; i++)
        if (!valid_text(vals[i]))
            return iop_fail(err, IOP_ELIMIT, "audit entry: field '%s' is longer than 4095 bytes", names[i]);
    if (e->time_ms < 0) return iop_fail(err, IOP_EINVAL, "audit entry: field 'time_ms' is negative");
    audit_item *it = calloc(1, sizeof *it);
    if (!it) return iop_fail(err, IOP_ENOMEM, "out of memory");
    it->time_ms = e->time_ms ? e->time_ms : iop_now_ms();
    it->actor = dup_or_null(e->actor);
    it->authority = dup_or_null(e->authority);
    it->profile = dup_or_null(e->profile);
    it->purpose = dup_or_null(e->purpose);
    it->component = strdup(e->component);
    it->operation = strdup(e->operation);
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, "[");
    for (size_t i = 0; i < e->n_systems; i++) {
        if (!e->systems[i]) {
            iop_buf_free(&b);
            item_free(it);
            return iop_fail(err, IOP_EINVAL, "audit entry: systems[%zu] is NULL", i);
        }
        if (i) iop_buf_puts(&b, ",");
        iop_buf_json_str(&b, e->systems[i]);
    }
    iop_buf_puts(&b, "]");
    it->systems = iop_buf_steal(&b);
    iop_buf_puts(&b, "{");
    for (size_t i = 0; i < e->n_counts; i++) {
        if (!e->counts[i].system) {
            iop_buf_free(&b);
            item_free(it);
            return iop_fail(err, IOP_EINVAL, "audit entry: counts[%zu].system is NULL", i);
        }
        if (i) iop_buf_puts(&b, ",");
        iop_buf_json_str(&b, e->counts[i].system);
        iop_buf_printf(&b, ":%lld", (long long)e->counts[i].count);
    }
    iop_buf_puts(&b, "}");
    it->counts = iop_buf_steal(&b);
    if (e->detail && !(it->detail = cached_detail(log, e->detail))) {
        json_error_t je;
        json_t *j = json_loads(e->detail, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!j) {
            item_free(it);
            return iop_fail(err, IOP_EINVAL, "audit entry: field 'detail' is not valid JSON: line %d, column %d: %s",
                            je.line, je.column, je.text);
        }
        it->detail = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        json_decref(j);
        if (it->detail) keep_detail(log, e->detail, it->detail);
    }
    if (!it->actor && e->actor) goto oom;
    if (!it->authority && e->authority) goto oom;
    if (!it->profile && e->profile) goto oom;
    if (!it->purpose && e->purpose) goto oom;
    if (!it->component || !it->operation || !it->systems || !it->counts || (e->detail && !it->detail)) goto oom;
    *out = it;
    return IOP_OK;
oom:
    item_free(it);
    return iop_fail(err, IOP_ENOMEM, "out of memory");
}

/* Queues it (taking ownership) and, if w is given, waits for its commit. */
static iop_code enqueue(audit_log *log, audit_item *it, audit_waiter *w, iop_err *err) {
    it->waiter = w;
    pthread_mutex_lock(&log->mu);
    size_t max_queue = log->opt.max_queue > 0 ? (size_t)log->opt.max_queue : 65536;
    while (log->queued >= max_queue && !log->closing) {
        /* a full queue: the writer commits now instead of letting the batch fill */
        log->urgent++;
        pthread_cond_signal(&log->cv_work);
        pthread_cond_wait(&log->cv_room, &log->mu);
        log->urgent--;
    }
    if (log->closing) {
        pthread_mutex_unlock(&log->mu);
        item_free(it);
        return iop_fail(err, IOP_EINVAL, "audit log %s is closing", log->path);
    }
    it->ticket = ++log->next_ticket;
    if (log->qtail) log->qtail->next = it;
    else log->qhead = it;
    log->qtail = it;
    log->queued++;
    /* the writer is woken when it has nothing, when someone waits or when the batch is
     * full -- not for every entry while it lets a batch fill */
    size_t max_batch = log->opt.max_batch > 0 ? (size_t)log->opt.max_batch : 4096;
    if (log->writer_idle || w || log->queued >= max_batch) pthread_cond_signal(&log->cv_work);
    if (!w) {
        pthread_mutex_unlock(&log->mu);
        return IOP_OK;
    }
    log->urgent++;
    while (!w->done) pthread_cond_wait(&log->cv_done, &log->mu);
    log->urgent--;
    pthread_mutex_unlock(&log->mu);
    if (w->rc) return iop_fail(err, w->rc, "%s", w->msg);
    return IOP_OK;
}

iop_code audit_append_ex(audit_log *log, const audit_entry *e, bool wait_durable, int64_t *seq, iop_err *err) {
    if (seq) *seq = 0;
    if (log->read_only) return iop_fail(err, IOP_EDENIED, "audit log %s is open read-only", log->path);
    audit_item *it;
    iop_code c = item_from_entry(log, e, &it, err);
    if (c) return c;
    if (!wait_durable) return enqueue(log, it, NULL, err);
    audit_waiter w = {0};
    c = enqueue(log, it, &w, err);
    if (!c && seq) *seq = w.seq;
    return c;
}

iop_code audit_append_cb(audit_log *log, const audit_entry *e, audit_done_fn done, void *ctx, iop_err *err) {
    if (log->read_only) return iop_fail(err, IOP_EDENIED, "audit log %s is open read-only", log->path);
    if (!done) return iop_fail(err, IOP_EINVAL, "audit_append_cb: no callback");
    audit_item *it;
    iop_code c = item_from_entry(log, e, &it, err);
    if (c) return c;
    it->done = done;
    it->done_ctx = ctx;
    return enqueue(log, it, NULL, err);
}

iop_code audit_append(audit_log *log, const audit_entry *e, int64_t *seq, iop_err *err) {
    return audit_append_ex(log, e, !log->opt.no_wait_durable, seq, err);
}

iop_code audit_flush(audit_log *log, iop_err *err) {
    if (log->read_only) return IOP_OK;
    pthread_mutex_lock(&log->mu);
    uint64_t t = log->next_ticket;
    if (log->done_ticket < t) {
        log->urgent++;
        pthread_cond_signal(&log->cv_work); /* a writer waiting lazily commits now */
        while (log->done_ticket < t) pthread_cond_wait(&log->cv_done, &log->mu);
        log->urgent--;
    }
    iop_code c = log->async_rc;
    if (c) {
        iop_fail(err, c, "%s", log->async_msg);
        log->async_rc = IOP_OK;
    }
    pthread_mutex_unlock(&log->mu);
    return c;
}

void audit_get_stats(audit_log *log, audit_stats *out) {
    pthread_mutex_lock(&log->mu);
    *out = log->stats;
    out->queued = log->queued;
    pthread_mutex_unlock(&log->mu);
}

iop_code audit_purge(audit_log *log, int64_t now_ms, const char *actor, int64_t *purged, iop_err *err) {
    if (purged) *purged = 0;
    if (log->read_only) return iop_fail(err, IOP_EDENIED, "audit log %s is open read-only", log->path);
    if (now_ms <= 0) now_ms = iop_now_ms();
    audit_entry e = {.time_ms = now_ms, .actor = actor, .component = "audit", .operation = "purge"};
    audit_item *it;
    iop_code c = item_from_entry(log, &e, &it, err);
    if (c) return c;
    it->purge = true;
    it->purge_cutoff = now_ms - (int64_t)log->opt.retention_days * 86400000LL;
    audit_waiter w = {0};
    c = enqueue(log, it, &w, err);
    if (!c && purged) *purged = w.purged;
    return c;
}
