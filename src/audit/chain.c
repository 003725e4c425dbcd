/*
 * chain.c -- the hash chain of the access logs (Reg. 2019/817 Arts 10, 16, 24, 36):
 * the canonical serialisation of an entry, the chain hash, the keyed MACs that seal
 * entries, head and start, and audit_verify(), which recomputes the whole chain and
 * names the first entry at which it breaks and why.
 *
 * Canonical serialisation of entry n (all integers little-endian):
 *   "iop-audit-1" (11 bytes) | seq (u64) | time_ms (i64) |
 *   9 fields, each as u32 length + bytes (length 0xFFFFFFFF = absent):
 *   actor, authority, profile, purpose, component, operation,
 *   systems (JSON array text), counts (JSON object text), detail (canonical JSON).
 * h_n = BLAKE2b-256(h_{n-1} || serialisation), h_0 = 32 zero bytes (or the hash
 * sealed as the start of the chain after a purge).
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "audit/audit_internal.h"

static void put_u64(crypto_generichash_state *st, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(st, b, 8);
}

void audit_chain_hash(const uint8_t prev[AUDIT_HASH], const audit_row *r, uint8_t out[AUDIT_HASH]) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, AUDIT_HASH);
    crypto_generichash_update(&st, prev, AUDIT_HASH);
    crypto_generichash_update(&st, (const uint8_t *)"iop-audit-1", 11);
    put_u64(&st, (uint64_t)r->seq);
    put_u64(&st, (uint64_t)r->time_ms);
    for (int i = 0; i < 9; i++) {
        uint8_t l[4];
        uint32_t n = r->f[i] ? (uint32_t)r->len[i] : 0xFFFFFFFFu;
        for (int k = 0; k < 4; k++) l[k] = (uint8_t)(n >> (8 * k));
        crypto_generichash_update(&st, l, 4);
        if (r->f[i]) crypto_generichash_update(&st, (const uint8_t *)r->f[i], r->len[i]);
    }
    crypto_generichash_final(&st, out, AUDIT_HASH);
}

void audit_mac(const uint8_t key[AUDIT_KEY], char tag, int64_t seq, const uint8_t hash[AUDIT_HASH],
               uint8_t out[AUDIT_HASH]) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, AUDIT_KEY, AUDIT_HASH);
    uint8_t t = (uint8_t)tag;
    crypto_generichash_update(&st, &t, 1);
    put_u64(&st, (uint64_t)seq);
    crypto_generichash_update(&st, hash, AUDIT_HASH);
    crypto_generichash_final(&st, out, AUDIT_HASH);
}

iop_code audit_exec(sqlite3 *db, const char *sql, iop_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        iop_code c = iop_fail(err, IOP_EIO, "audit log: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return c;
    }
    return IOP_OK;
}

static bool blob32(sqlite3_stmt *st, int col, uint8_t out[AUDIT_HASH]) {
    if (sqlite3_column_type(st, col) != SQLITE_BLOB || sqlite3_column_bytes(st, col) != AUDIT_HASH) {
        memset(out, 0, AUDIT_HASH);
        return false;
    }
    memcpy(out, sqlite3_column_blob(st, col), AUDIT_HASH);
    return true;
}

iop_code audit_seal_get(sqlite3 *db, const char *kind, int64_t *seq, uint8_t hash[AUDIT_HASH],
                        uint8_t mac[AUDIT_HASH], bool *found, iop_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, hash, mac FROM audit_seal WHERE kind = ?", -1, &st, NULL) != SQLITE_OK)
        return iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = false;
    if (rc == SQLITE_ROW) {
        *found = true;
        *seq = sqlite3_column_int64(st, 0);
        blob32(st, 1, hash);
        blob32(st, 2, mac);
    } else if (rc != SQLITE_DONE) {
        iop_code c = iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return c;
    }
    sqlite3_finalize(st);
    return IOP_OK;
}

static iop_code broken(audit_verify_result *res, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static iop_code broken(audit_verify_result *res, int64_t seq, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    res->broken_seq = seq > 0 ? seq : 1;
    vsnprintf(res->reason, sizeof res->reason, fmt, ap);
    va_end(ap);
    return IOP_ECORRUPT;
}

/* The chain walk, inside a read transaction on log->rdb. */
static iop_code verify_snapshot(audit_log *log, audit_verify_result *res, iop_err *err) {
    sqlite3 *db = log->rdb;
    int64_t head_seq = 0, start_seq = 1;
    uint8_t head_hash[AUDIT_HASH], head_mac[AUDIT_HASH], start_prev[AUDIT_HASH], start_mac[AUDIT_HASH], m[AUDIT_HASH];
    bool have_head, have_start;
    iop_code c = audit_seal_get(db, "head", &head_seq, head_hash, head_mac, &have_head, err);
    if (c) return c;
    c = audit_seal_get(db, "start", &start_seq, start_prev, start_mac, &have_start, err);
    if (c) return c;
    if (have_head) {
        audit_mac(log->key, 'H', head_seq, head_hash, m);
        if (sodium_memcmp(m, head_mac, AUDIT_HASH) != 0)
            return broken(res, head_seq, "the sealed head (entry %lld) is forged or was sealed with another key",
                          (long long)head_seq);
    }
    if (have_start) {
        audit_mac(log->key, 'S', start_seq, start_prev, m);
        if (sodium_memcmp(m, start_mac, AUDIT_HASH) != 0)
            return broken(res, start_seq, "the sealed start of the chain (entry %lld) is forged or was sealed "
                          "with another key", (long long)start_seq);
    } else {
        start_seq = 1;
        memset(start_prev, 0, AUDIT_HASH);
    }

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, time_ms, actor, authority, profile, purpose, component, operation, "
                               "systems, counts, detail, prev, hash, mac FROM audit_entries ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(db));
    uint8_t prev[AUDIT_HASH], h[AUDIT_HASH], stored_prev[AUDIT_HASH], stored_hash[AUDIT_HASH], stored_mac[AUDIT_HASH];
    memcpy(prev, start_prev, AUDIT_HASH);
    int64_t expect = start_seq, last = start_seq - 1;
    iop_code out = IOP_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        audit_row r;
        r.seq = sqlite3_column_int64(st, 0);
        r.time_ms = sqlite3_column_int64(st, 1);
        for (int i = 0; i < 9; i++) {
            r.f[i] = (const char *)sqlite3_column_text(st, 2 + i);
            r.len[i] = (size_t)sqlite3_column_bytes(st, 2 + i);
        }
        if (res->entries == 0) res->first_seq = r.seq;
        res->entries++;
        res->last_seq = r.seq;
        if (r.seq < expect) {
            out = broken(res, r.seq, "entry %lld lies before the sealed start of the chain (entry %lld): "
                         "inserted or restored outside the log", (long long)r.seq, (long long)start_seq);
            break;
        }
        if (r.seq > expect) {
            if (expect == start_seq && have_start)
                out = broken(res, expect, "entry %lld, the sealed start of the chain, is missing (deleted); "
                             "the log continues at entry %lld", (long long)expect, (long long)r.seq);
            else if (r.seq == expect + 1)
                out = broken(res, expect, "entry %lld is missing (deleted); the log continues at entry %lld",
                             (long long)expect, (long long)r.seq);
            else
                out = broken(res, expect, "entries %lld..%lld are missing (deleted); the log continues at entry %lld",
                             (long long)expect, (long long)r.seq - 1, (long long)r.seq);
            break;
        }
        bool ok_p = blob32(st, 11, stored_prev), ok_h = blob32(st, 12, stored_hash), ok_m = blob32(st, 13, stored_mac);
        if (!ok_p || sodium_memcmp(stored_prev, prev, AUDIT_HASH) != 0) {
            out = broken(res, r.seq, "entry %lld does not link to entry %lld (entries reordered, inserted or "
                         "replaced)", (long long)r.seq, (long long)r.seq - 1);
            break;
        }
        audit_chain_hash(prev, &r, h);
        if (!ok_h || sodium_memcmp(stored_hash, h, AUDIT_HASH) != 0) {
            out = broken(res, r.seq, "entry %lld was modified: its content does not match its hash", (long long)r.seq);
            break;
        }
        audit_mac(log->key, 'E', r.seq, h, m);
        if (!ok_m || sodium_memcmp(stored_mac, m, AUDIT_HASH) != 0) {
            out = broken(res, r.seq, "entry %lld was rewritten: its hash is not sealed by the log key", (long long)r.seq);
            break;
        }
        memcpy(prev, h, AUDIT_HASH);
        last = r.seq;
        expect = r.seq + 1;
    }
    if (out == IOP_OK && rc != SQLITE_DONE)
        out = iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (out != IOP_OK) return out;

    if (!have_head) {
        if (res->entries > 0)
            return broken(res, res->first_seq, "the sealed head of the log is missing (deleted)");
        if (have_start && start_seq > 1)
            return broken(res, start_seq, "the sealed head of the log is missing (deleted)");
        return IOP_OK; /* a new, empty log */
    }
    if (last < head_seq) {
        if (last + 1 == head_seq)
            return broken(res, head_seq, "entry %lld is missing (deleted from the end): the sealed head is entry %lld",
                          (long long)head_seq, (long long)head_seq);
        return broken(res, last + 1, "entries %lld..%lld are missing (deleted from the end): the sealed head is "
                      "entry %lld", (long long)last + 1, (long long)head_seq, (long long)head_seq);
    }
    if (last > head_seq)
        return broken(res, head_seq + 1, "entry %lld was added outside the log: the sealed head is entry %lld",
                      (long long)head_seq + 1, (long long)head_seq);
    if (sodium_memcmp(prev, head_hash, AUDIT_HASH) != 0)
        return broken(res, head_seq, "entry %lld does not match the sealed head of the log", (long long)head_seq);
    return IOP_OK;
}

iop_code audit_verify(audit_log *log, audit_verify_result *res, iop_err *err) {
    memset(res, 0, sizeof *res);
    pthread_mutex_lock(&log->rmu);
    iop_code c = audit_exec(log->rdb, "BEGIN", err);
    if (c == IOP_OK) {
        c = verify_snapshot(log, res, err);
        audit_exec(log->rdb, "COMMIT", NULL);
    }
    pthread_mutex_unlock(&log->rmu);
    if (c == IOP_ECORRUPT) iop_fail(err, IOP_ECORRUPT, "audit log %s: %s", log->path, res->reason);
    return c;
}

iop_code audit_head(audit_log *log, int64_t *seq, char hash_hex[65], iop_err *err) {
    uint8_t h[AUDIT_HASH], mac[AUDIT_HASH];
    bool found;
    int64_t s = 0;
    pthread_mutex_lock(&log->rmu);
    iop_code c = audit_seal_get(log->rdb, "head", &s, h, mac, &found, err);
    pthread_mutex_unlock(&log->rmu);
    if (c) return c;
    if (!found) {
        s = 0;
        memset(h, 0, sizeof h);
    }
    *seq = s;
    sodium_bin2hex(hash_hex, 65, h, AUDIT_HASH);
    return IOP_OK;
}

iop_code audit_entry_hash(audit_log *log, int64_t seq, char hash_hex[65], iop_err *err) {
    pthread_mutex_lock(&log->rmu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    if (sqlite3_prepare_v2(log->rdb, "SELECT hash FROM audit_entries WHERE seq = ?", -1, &st, NULL) != SQLITE_OK) {
        c = iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(log->rdb));
    } else {
        sqlite3_bind_int64(st, 1, seq);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == AUDIT_HASH)
            sodium_bin2hex(hash_hex, 65, sqlite3_column_blob(st, 0), AUDIT_HASH);
        else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            c = iop_fail(err, IOP_ENOTFOUND, "audit log: no entry %lld", (long long)seq);
        else
            c = iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(log->rdb));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&log->rmu);
    return c;
}
