/*
 * query.c -- reading the access logs back for the data-protection authorities and
 * self-monitoring (Reg. 2019/817 Arts 10(2), 16(2), 24(7), 36(2): logs are used
 * only for monitoring data protection and ensuring data security): entries by time
 * range, actor, component and operation, and their JSON form (`interop logs show`).
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "audit/audit_internal.h"

int audit_entry_json(iop_buf *b, const audit_entry *e) {
    char t[32];
    iop_time_format(e->time_ms, t);
    int rc = iop_buf_printf(b, "{\"seq\":%lld,\"time\":\"%s\",\"time_ms\":%lld", (long long)e->seq, t,
                            (long long)e->time_ms);
    const char *names[] = {"actor", "authority", "profile", "purpose", "component", "operation"};
    const char *vals[] = {e->actor, e->authority, e->profile, e->purpose, e->component, e->operation};
    for (int i = 0; i < 6; i++) {
        rc |= iop_buf_printf(b, ",\"%s\":", names[i]);
        rc |= vals[i] ? iop_buf_json_str(b, vals[i]) : iop_buf_puts(b, "null");
    }
    rc |= iop_buf_puts(b, ",\"systems\":[");
    for (size_t i = 0; i < e->n_systems; i++) {
        if (i) rc |= iop_buf_puts(b, ",");
        rc |= iop_buf_json_str(b, e->systems[i]);
    }
    rc |= iop_buf_puts(b, "],\"counts\":{");
    for (size_t i = 0; i < e->n_counts; i++) {
        if (i) rc |= iop_buf_puts(b, ",");
        rc |= iop_buf_json_str(b, e->counts[i].system);
        rc |= iop_buf_printf(b, ":%lld", (long long)e->counts[i].count);
    }
    rc |= iop_buf_puts(b, "},\"detail\":");
    rc |= iop_buf_puts(b, e->detail ? e->detail : "null");
    rc |= iop_buf_puts(b, "}");
    return rc ? -1 : 0;
}

/* Decodes the stored systems array and counts object into e (pointers into the
 * jansson values, which the caller releases after the callback). */
static iop_code decode_lists(int64_t seq, const char *sys_txt, const char *cnt_txt, json_t **sys, json_t **cnt,
                             const char ***names, audit_count **counts, audit_entry *e, iop_err *err) {
    *sys = sys_txt ? json_loads(sys_txt, 0, NULL) : json_array();
    *cnt = cnt_txt ? json_loads(cnt_txt, 0, NULL) : json_object();
    if (!json_is_array(*sys) || !json_is_object(*cnt))
        return iop_fail(err, IOP_ECORRUPT, "audit log: entry %lld: stored systems or counts are not valid JSON",
                        (long long)seq);
    size_t ns = json_array_size(*sys), nc = json_object_size(*cnt);
    *names = calloc(ns + 1, sizeof **names);
    *counts = calloc(nc + 1, sizeof **counts);
    if (!*names || !*counts) return iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t i = 0; i < ns; i++) {
        const char *s = json_string_value(json_array_get(*sys, i));
        (*names)[i] = s ? s : "";
    }
    /* the stored object keeps the order the entry gave; jansson iterates in insertion order */
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(*cnt, k, v) {
        (*counts)[i].system = k;
        (*counts)[i].count = json_integer_value(v);
        i++;
    }
    e->systems = *names;
    e->n_systems = ns;
    e->counts = *counts;
    e->n_counts = i;
    return IOP_OK;
}

iop_code audit_query(audit_log *log, const audit_filter *f, audit_entry_fn fn, void *ctx, iop_err *err) {
    audit_filter none = {0};
    if (!f) f = &none;
    iop_buf sql;
    iop_buf_init(&sql);
    iop_buf_puts(&sql, "SELECT seq, time_ms, actor, authority, profile, purpose, component, operation, systems, "
                       "counts, detail FROM audit_entries WHERE 1");
    if (f->since_ms) iop_buf_puts(&sql, " AND time_ms >= :since");
    if (f->until_ms) iop_buf_puts(&sql, " AND time_ms < :until");
    if (f->actor) iop_buf_puts(&sql, " AND actor = :actor");
    if (f->component) iop_buf_puts(&sql, " AND component = :component");
    if (f->operation) iop_buf_puts(&sql, " AND operation = :operation");
    iop_buf_puts(&sql, f->newest_first ? " ORDER BY seq DESC" : " ORDER BY seq");
    if (f->limit > 0) iop_buf_puts(&sql, " LIMIT :limit");

    pthread_mutex_lock(&log->rmu);
    sqlite3_stmt *st = NULL;
    iop_code c = IOP_OK;
    if (sqlite3_prepare_v2(log->rdb, sql.data, -1, &st, NULL) != SQLITE_OK) {
        c = iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(log->rdb));
        goto out;
    }
    if (f->since_ms) sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":since"), f->since_ms);
    if (f->until_ms) sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":until"), f->until_ms);
    if (f->actor) sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":actor"), f->actor, -1, SQLITE_STATIC);
    if (f->component)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":component"), f->component, -1, SQLITE_STATIC);
    if (f->operation)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":operation"), f->operation, -1, SQLITE_STATIC);
    if (f->limit > 0) sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"), f->limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        audit_entry e = {0};
        e.seq = sqlite3_column_int64(st, 0);
        e.time_ms = sqlite3_column_int64(st, 1);
        e.actor = (const char *)sqlite3_column_text(st, 2);
        e.authority = (const char *)sqlite3_column_text(st, 3);
        e.profile = (const char *)sqlite3_column_text(st, 4);
        e.purpose = (const char *)sqlite3_column_text(st, 5);
        e.component = (const char *)sqlite3_column_text(st, 6);
        e.operation = (const char *)sqlite3_column_text(st, 7);
        e.detail = (const char *)sqlite3_column_text(st, 10);
        json_t *sys = NULL, *cnt = NULL;
        const char **names = NULL;
        audit_count *counts = NULL;
        c = decode_lists(e.seq, (const char *)sqlite3_column_text(st, 8), (const char *)sqlite3_column_text(st, 9),
                         &sys, &cnt, &names, &counts, &e, err);
        int stop = c ? 1 : fn(ctx, &e);
        json_decref(sys);
        json_decref(cnt);
        free(names);
        free(counts);
        if (stop) break;
    }
    if (!c && rc != SQLITE_ROW && rc != SQLITE_DONE) c = iop_fail(err, IOP_EIO, "audit log: %s", sqlite3_errmsg(log->rdb));
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&log->rmu);
    iop_buf_free(&sql);
    return c;
}
