/*
 * sqlite.c -- the SQLite backend of the storage interface (store.h).
 *
 * Schema (created by store_open, before the component's own migrations):
 *   docs(id TEXT PRIMARY KEY, kind, summary, created, updated, expires, keys, body, blob)
 *   doc_keys(key, id) PRIMARY KEY(key, id) WITHOUT ROWID   -- secondary keys
 *   meta(key PRIMARY KEY, value)                            -- settings, schema version
 *   changes(seq, id)                                        -- change log (STORE_CHANGES:
 *                                                              written by triggers on docs)
 * Durability: WAL with synchronous=FULL, so a committed transaction survives kill -9
 * and power loss.  Statements are prepared once per handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sqlite3.h>
#include "interop/store.h"

enum { Q_LAST_CHANGE, Q_CHANGES, Q_SCAN_SUM, Q_PUT, Q_OLDKEYS, Q_DELKEY, Q_ADDKEY, Q_DEL, Q_GET, Q_GETB, Q_LOOKUP, Q_SCAN, Q_SCANB, Q_EXPIRED, Q_COUNT,
       Q_META_GET, Q_META_SET, Q_BEGIN_R, Q_BEGIN_W, Q_COMMIT, Q_ROLLBACK, Q_FIRST_CHANGE, Q_TRIM, Q_N };

static const char *const sql_text[Q_N] = {
    [Q_LAST_CHANGE] = "SELECT coalesce(max(seq),0) FROM changes",
    [Q_FIRST_CHANGE] = "SELECT coalesce(min(seq),0) FROM changes",
    [Q_TRIM] = "DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - ?1",
    [Q_CHANGES] = "SELECT c.seq,c.id,d.kind,d.summary FROM changes c LEFT JOIN docs d ON d.id=c.id WHERE c.seq>?1 ORDER BY c.seq LIMIT ?2",
    [Q_SCAN_SUM] = "SELECT id,kind,'',NULL,created,updated,expires,summary FROM docs",
    [Q_PUT] = "INSERT INTO docs(id,kind,body,blob,created,updated,expires,keys,summary) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) "
              "ON CONFLICT(id) DO UPDATE SET kind=?2,body=?3,blob=?4,updated=?6,expires=?7,keys=?8,summary=?9",
    [Q_OLDKEYS] = "SELECT keys FROM docs WHERE id=?1",
    [Q_DELKEY] = "DELETE FROM doc_keys WHERE key=?1 AND id=?2",
    [Q_ADDKEY] = "INSERT OR IGNORE INTO doc_keys(key,id) VALUES(?1,?2)",
    [Q_DEL] = "DELETE FROM docs WHERE id=?1",
    [Q_GET] = "SELECT id,kind,body,NULL,created,updated,expires,summary FROM docs WHERE id=?1",
    [Q_GETB] = "SELECT id,kind,body,blob,created,updated,expires,summary FROM docs WHERE id=?1",
    [Q_LOOKUP] = "SELECT d.id,d.kind,d.body,NULL,d.created,d.updated,d.expires,d.summary FROM doc_keys k JOIN docs d ON d.id=k.id "
                 "WHERE k.key=?1 ORDER BY k.id LIMIT ?2",
    [Q_SCAN] = "SELECT id,kind,body,NULL,created,updated,expires,summary FROM docs ORDER BY id",
    [Q_SCANB] = "SELECT id,kind,body,blob,created,updated,expires,summary FROM docs ORDER BY id",
    [Q_EXPIRED] = "SELECT id,kind,body,NULL,created,updated,expires,summary FROM docs WHERE expires>0 AND expires<=?1 ORDER BY id",
    [Q_COUNT] = "SELECT count(*) FROM docs",
    [Q_META_GET] = "SELECT value FROM meta WHERE key=?1",
    [Q_META_SET] = "INSERT INTO meta(key,value) VALUES(?1,?2) ON CONFLICT(key) DO UPDATE SET value=?2",
    [Q_BEGIN_R] = "BEGIN",
    [Q_BEGIN_W] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[Q_N];
    char *path;
    bool readonly, changes, keyless;
    store_watch *watch; /* the WAL-index header, for store_mark_take / store_changed_since */
};

struct store_watch {
    sqlite3 *db;                /* the connection whose WAL-index is read */
    pthread_mutex_t mu;
    const volatile uint32_t *map; /* SQLite's own mapping of region 0 (valid until the connection closes) */
};

static iop_code db_error(store *s, iop_err *err, const char *what) {
    return iop_fail(err, IOP_EIO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static const char base_schema[] =
    /* the short columns first: a scan of the summaries (a search index being built) never
     * walks the overflow pages of long bodies and biometric blobs */
    "CREATE TABLE IF NOT EXISTS docs(id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, summary TEXT,"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL, expires INTEGER NOT NULL DEFAULT 0, keys TEXT NOT NULL DEFAULT '',"
    " body TEXT NOT NULL, blob BLOB);"
    "CREATE INDEX IF NOT EXISTS docs_expires ON docs(expires) WHERE expires>0;"
    "CREATE TABLE IF NOT EXISTS doc_keys(key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(key,id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);";

/* The change log is written by triggers, so every writer of the database -- whatever
 * its flags or version -- records its changes, in the same statement as the change. */
static const char change_triggers[] =
    "CREATE TRIGGER IF NOT EXISTS docs_changes_ins AFTER INSERT ON docs BEGIN INSERT INTO changes(id) VALUES(new.id); END;"
    "CREATE TRIGGER IF NOT EXISTS docs_changes_upd AFTER UPDATE ON docs BEGIN INSERT INTO changes(id) VALUES(new.id); END;"
    "CREATE TRIGGER IF NOT EXISTS docs_changes_del AFTER DELETE ON docs BEGIN INSERT INTO changes(id) VALUES(old.id); END;";

/* Once per process, before SQLite initialises: no global memory statistics, whose
 * mutex every allocation of every connection would otherwise take (the system and
 * CIR writers and the readers run on different threads at once). */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static void sqlite_setup(void) {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* SQLITE_MISUSE if already initialised: harmless */
    sqlite3_initialize();
}

iop_code store_open(const char *path, int flags, iop_err *err, store **out) {
    pthread_once(&sqlite_once, sqlite_setup);
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) { free(s); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    s->readonly = flags & STORE_READONLY;
    s->changes = flags & STORE_CHANGES;
    s->keyless = flags & STORE_KEYLESS;
    int oflags = s->readonly ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE | ((flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    oflags |= SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK) {
        iop_code rc = iop_fail(err, IOP_EIO, "cannot open store %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
        store_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (!(s->watch = store_watch_new(s->db))) {
        store_close(s);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    char *msg = NULL;
    const char *pragmas = s->readonly ? "PRAGMA query_only=1; PRAGMA cache_size=-32768; PRAGMA mmap_size=4294967296;"
                                      : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                                        "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000;";
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
        (!s->readonly && sqlite3_exec(s->db, base_schema, NULL, NULL, &msg) != SQLITE_OK) ||
        (!s->readonly && s->changes && sqlite3_exec(s->db, change_triggers, NULL, NULL, &msg) != SQLITE_OK)) {
        iop_code rc = iop_fail(err, IOP_EIO, "cannot initialise store %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        store_close(s);
        return rc;
    }
    for (int i = 0; i < Q_N; i++) {
        if (s->readonly && (i == Q_PUT || i == Q_DELKEY || i == Q_ADDKEY || i == Q_DEL || i == Q_META_SET || i == Q_BEGIN_W ||
                            i == Q_TRIM))
            continue;
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
            iop_code rc = db_error(s, err, "cannot prepare statement (is this an interop store?)");
            store_close(s);
            return rc;
        }
    }
    *out = s;
    return IOP_OK;
}

void store_close(store *s) {
    if (!s) return;
    for (int i = 0; i < Q_N; i++) sqlite3_finalize(s->st[i]);
    store_watch_free(s->watch); /* before the connection: the mapping is the connection's */
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* The WAL-index header: its two 48-byte copies at the start of the -shm file, rewritten
 * by every commit (mxFrame, iChange, the checksums) and by every WAL restart (the salts). */
store_watch *store_watch_new(sqlite3 *db) {
    store_watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->db = db;
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void store_watch_free(store_watch *w) {
    if (!w) return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* The WAL-index header through SQLite's own mapping of the -shm file (the VFS's xShmMap
 * on the connection's file, region 0 of 32 KiB, never extended): no descriptor of ours
 * on the file, so no lock of the connection's is ever touched (closing any descriptor
 * of a file drops the process's POSIX locks on it).  NULL while the connection has not
 * mapped it yet (not in WAL mode, no read so far): tried again at the next mark. */
static const volatile uint32_t *watch_header(store_watch *w, bool retry) {
    pthread_mutex_lock(&w->mu);
    if (!w->map && retry && w->db) {
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(w->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f && f->pMethods &&
            f->pMethods->iVersion >= 2 && f->pMethods->xShmMap) {
            void volatile *p = NULL;
            if (f->pMethods->xShmMap(f, 0, 32768, 0, &p) == SQLITE_OK && p) w->map = (const volatile uint32_t *)p;
        }
    }
    const volatile uint32_t *h = w->map;
    pthread_mutex_unlock(&w->mu);
    return h;
}

void store_watch_mark(store_watch *w, store_mark *m) {
    const volatile uint32_t *h = watch_header(w, true);
    m->valid = false;
    if (!h) return;
    for (int i = 0; i < 24; i++) m->hdr[i] = h[i];
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    m->valid = true;
}

bool store_watch_changed(store_watch *w, const store_mark *m) {
    if (!m->valid) return true;
    const volatile uint32_t *h = watch_header(w, false);
    if (!h) return true;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    for (int i = 0; i < 24; i++)
        if (h[i] != m->hdr[i]) return true;
    return false;
}

void store_mark_take(store *s, store_mark *m) { store_watch_mark(s->watch, m); }

bool store_changed_since(store *s, const store_mark *m) { return store_watch_changed(s->watch, m); }

const char *store_path(const store *s) { return s->path; }

iop_code store_exec(store *s, const char *sql, iop_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        iop_code rc = iop_fail(err, IOP_EIO, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return IOP_OK;
}

int store_schema_version(store *s) {
    char *v = NULL;
    if (store_meta_get(s, "schema_version", &v, NULL) != IOP_OK) return 0;
    int n = atoi(v);
    free(v);
    return n;
}

iop_code store_migrate(store *s, const store_migration *m, size_t n, iop_err *err) {
    int have = store_schema_version(s);
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= have) continue;
        char ver[32];
        snprintf(ver, sizeof ver, "%d", m[i].version);
        iop_code rc = store_begin(s, err);
        if (!rc) rc = store_exec(s, m[i].sql, err);
        if (!rc) rc = store_meta_set(s, "schema_version", ver, err);
        if (!rc) rc = store_commit(s, err);
        if (rc) {
            store_rollback(s);
            iop_err_prefix(err, "migration to schema version %d", m[i].version);
            return rc;
        }
        have = m[i].version;
    }
    return IOP_OK;
}

/* Transaction control through prepared statements: no SQL parsing per transaction. */
static iop_code run_simple(store *s, int q, iop_err *err, const char *what) {
    int r = sqlite3_step(s->st[q]);
    sqlite3_reset(s->st[q]);
    return r == SQLITE_DONE ? IOP_OK : db_error(s, err, what);
}

iop_code store_begin(store *s, iop_err *err) {
    return run_simple(s, s->readonly ? Q_BEGIN_R : Q_BEGIN_W, err, "begin transaction");
}
iop_code store_commit(store *s, iop_err *err) { return run_simple(s, Q_COMMIT, err, "commit"); }
void store_rollback(store *s) {
    if (!sqlite3_get_autocommit(s->db)) run_simple(s, Q_ROLLBACK, NULL, "rollback");
}

static iop_code step_done(store *s, sqlite3_stmt *st, iop_err *err, const char *what) {
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) return db_error(s, err, what);
    return IOP_OK;
}

/* Removes the keys a document was stored with (kept newline-joined in docs.keys, so
 * doc_keys needs no second index on id). */
static iop_code drop_old_keys(store *s, const char *id, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_OLDKEYS];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    iop_code rc = IOP_OK;
    if (r == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        char *copy = k && *k ? strdup(k) : NULL;
        sqlite3_reset(st);
        sqlite3_stmt *del = s->st[Q_DELKEY];
        for (char *save = NULL, *t = copy ? strtok_r(copy, "\n", &save) : NULL; t && !rc; t = strtok_r(NULL, "\n", &save)) {
            sqlite3_bind_text(del, 1, t, -1, SQLITE_STATIC);
            sqlite3_bind_text(del, 2, id, -1, SQLITE_STATIC);
            rc = step_done(s, del, err, "remove keys");
        }
        free(copy);
        return rc;
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? IOP_OK : db_error(s, err, "read keys");
}

iop_code store_put(store *s, const store_doc *d, const char *const *keys, size_t nkeys, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_PUT];
    if (!st) return iop_fail(err, IOP_EDENIED, "%s: store opened read-only", s->path);
    if (s->keyless && nkeys) return iop_fail(err, IOP_EINVAL, "%s: this store holds no keys", s->path);
    iop_code rc = s->keyless ? IOP_OK : drop_old_keys(s, d->id, err);
    if (rc) return rc;
    iop_buf kb;
    iop_buf_init(&kb);
    for (size_t i = 0; i < nkeys; i++) {
        if (strchr(keys[i], '\n')) { iop_buf_free(&kb); return iop_fail(err, IOP_EINVAL, "a key may not contain a newline"); }
        if ((i && iop_buf_append(&kb, "\n", 1)) || iop_buf_puts(&kb, keys[i])) { iop_buf_free(&kb); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    }
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->body, -1, SQLITE_STATIC);
    if (d->blob) sqlite3_bind_blob(st, 4, d->blob, (int)d->blob_len, SQLITE_STATIC);
    else sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, d->created_ms);
    sqlite3_bind_int64(st, 6, d->updated_ms);
    sqlite3_bind_int64(st, 7, d->expires_day);
    sqlite3_bind_text(st, 8, kb.data ? kb.data : "", -1, SQLITE_STATIC);
    if (d->summary) sqlite3_bind_text(st, 9, d->summary, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 9);
    rc = step_done(s, st, err, "write");
    sqlite3_clear_bindings(st);
    iop_buf_free(&kb);
    if (rc) return rc;
    st = s->st[Q_ADDKEY];
    for (size_t i = 0; i < nkeys; i++) {
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, d->id, -1, SQLITE_STATIC);
        if ((rc = step_done(s, st, err, "write keys"))) return rc;
    }
    return IOP_OK;
}

iop_code store_delete(store *s, const char *id, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_DEL];
    if (!st) return iop_fail(err, IOP_EDENIED, "%s: store opened read-only", s->path);
    iop_code rc = s->keyless ? IOP_OK : drop_old_keys(s, id, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = step_done(s, st, err, "delete");
    if (rc) return rc;
    if (sqlite3_changes(s->db) == 0) return iop_fail(err, IOP_ENOTFOUND, "no record '%s'", id);
    return IOP_OK;
}

static iop_code run_docs(store *s, sqlite3_stmt *st, store_doc_fn fn, void *ctx, iop_err *err, size_t *n) {
    int r;
    size_t count = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        store_doc d = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .kind = (const char *)sqlite3_column_text(st, 1),
            .body = (const char *)sqlite3_column_text(st, 2),
            .blob = sqlite3_column_blob(st, 3),
            .blob_len = (size_t)sqlite3_column_bytes(st, 3),
            .created_ms = sqlite3_column_int64(st, 4),
            .updated_ms = sqlite3_column_int64(st, 5),
            .expires_day = sqlite3_column_int64(st, 6),
            .summary = (const char *)sqlite3_column_text(st, 7),
        };
        count++;
        if (fn(ctx, &d)) { r = SQLITE_DONE; break; }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (n) *n = count;
    if (r != SQLITE_DONE) return db_error(s, err, "read");
    return IOP_OK;
}

iop_code store_get(store *s, const char *id, bool with_blob, store_doc_fn fn, void *ctx, iop_err *err) {
    sqlite3_stmt *st = s->st[with_blob ? Q_GETB : Q_GET];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    size_t n;
    iop_code rc = run_docs(s, st, fn, ctx, err, &n);
    if (!rc && n == 0) return iop_fail(err, IOP_ENOTFOUND, "no record '%s'", id);
    return rc;
}

iop_code store_lookup(store *s, const char *key, size_t limit, store_doc_fn fn, void *ctx, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_LOOKUP];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
    return run_docs(s, st, fn, ctx, err, NULL);
}

iop_code store_scan(store *s, bool with_blob, store_doc_fn fn, void *ctx, iop_err *err) {
    return run_docs(s, s->st[with_blob ? Q_SCANB : Q_SCAN], fn, ctx, err, NULL);
}

iop_code store_last_change(store *s, int64_t *seq, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_LAST_CHANGE];
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) *seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? IOP_OK : db_error(s, err, "read change log");
}

iop_code store_first_change(store *s, int64_t *seq, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_FIRST_CHANGE];
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) *seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? IOP_OK : db_error(s, err, "read change log");
}

iop_code store_changes_trim(store *s, int64_t keep, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_TRIM];
    if (!st) return iop_fail(err, IOP_EDENIED, "%s: read-only store", s->path);
    sqlite3_bind_int64(st, 1, keep < 0 ? 0 : keep);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? IOP_OK : db_error(s, err, "trim change log");
}

iop_code store_changes_since(store *s, int64_t seq, size_t max, store_change_fn fn, void *ctx, int64_t *last,
                             iop_err *err) {
    sqlite3_stmt *st = s->st[Q_CHANGES];
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, max ? (int64_t)max : -1);
    int r;
    *last = seq;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        store_change c = {.seq = sqlite3_column_int64(st, 0),
                          .id = (const char *)sqlite3_column_text(st, 1),
                          .kind = (const char *)sqlite3_column_text(st, 2),
                          .summary = (const char *)sqlite3_column_text(st, 3)};
        if (!c.id) continue;
        if (fn(ctx, &c)) { r = SQLITE_DONE; break; }
        *last = c.seq; /* applied */
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? IOP_OK : db_error(s, err, "read change log");
}

iop_code store_scan_summaries(store *s, store_doc_fn fn, void *ctx, int64_t *seq, iop_err *err) {
    /* one read transaction: the last change and the scan see the same snapshot */
    bool own = sqlite3_get_autocommit(s->db);
    if (own) {
        iop_code rc = run_simple(s, Q_BEGIN_R, err, "begin transaction");
        if (rc) return rc;
    }
    iop_code rc = store_last_change(s, seq, err);
    if (!rc) rc = run_docs(s, s->st[Q_SCAN_SUM], fn, ctx, err, NULL);
    if (own) {
        if (rc) store_rollback(s);
        else rc = store_commit(s, err);
    }
    return rc;
}

iop_code store_expired(store *s, int64_t day, store_doc_fn fn, void *ctx, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_EXPIRED];
    sqlite3_bind_int64(st, 1, day);
    return run_docs(s, st, fn, ctx, err, NULL);
}

iop_code store_count(store *s, int64_t *n, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_COUNT];
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? IOP_OK : db_error(s, err, "count");
}

iop_code store_meta_get(store *s, const char *key, char **value, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_META_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    iop_code rc = IOP_OK;
    if (r == SQLITE_ROW) {
        *value = strdup((const char *)sqlite3_column_text(st, 0));
        if (!*value) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    } else if (r == SQLITE_DONE) rc = iop_fail(err, IOP_ENOTFOUND, "%s: no setting '%s'", s->path, key);
    else rc = db_error(s, err, "read setting");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

iop_code store_meta_set(store *s, const char *key, const char *value, iop_err *err) {
    sqlite3_stmt *st = s->st[Q_META_SET];
    if (!st) return iop_fail(err, IOP_EDENIED, "%s: store opened read-only", s->path);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    iop_code rc = step_done(s, st, err, "write setting");
    sqlite3_clear_bindings(st);
    return rc;
}
