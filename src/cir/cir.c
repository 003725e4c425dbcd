/*
 * cir.c -- the common identity repository (Reg. 2019/817 and 2019/818 Arts 17-24).
 *
 * An individual file is a document in DIR/cir.db:
 *   {"id":"CIR-000000000123","data":{"vis":[{...identity data of record V1...}],
 *                                     "ees":[{...}]}}
 * Each data set is the Art 18(1) identity data of one source record -- names, date of
 * birth, sex, nationalities, place of birth, travel documents -- with "id", the
 * reference to the actual record (Art 18(2), (4)); the data sets are kept apart per
 * source system (logical separation, Art 18(1)).  Biometric templates are held by the
 * sBMS with the same references (Art 13).
 * Keys: "ref:<system>/<record id>" finds the file of a record; "d:" travel-document
 * keys serve identification with document data (Art 20(3)).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "interop/cir.h"
#include "interop/store.h"
#include "interop/systems.h"

struct cir {
    store *st;
    int64_t next_id, pending_next;
};

static const store_migration migrations[] = {
    {1, "INSERT OR IGNORE INTO meta(key,value) VALUES('next_file_id','1');"},
};

iop_code cir_open(const char *dir, int flags, cir **out, iop_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cir.db", dir);
    cir *c = calloc(1, sizeof *c);
    if (!c) return iop_fail(err, IOP_ENOMEM, "out of memory");
    iop_code rc = store_open(path, flags, err, &c->st);
    if (!rc && !(flags & STORE_READONLY)) {
        rc = store_migrate(c->st, migrations, sizeof migrations / sizeof *migrations, err);
        char *v = NULL;
        if (!rc && !(rc = store_meta_get(c->st, "next_file_id", &v, err))) {
            c->next_id = atoll(v);
            free(v);
        }
    }
    if (rc) { cir_close(c); return rc; }
    *out = c;
    return IOP_OK;
}

void cir_close(cir *c) {
    if (!c) return;
    store_close(c->st);
    free(c);
}

void cir_file_clear(cir_file *f) {
    free(f->refs);
    free(f->body);
    memset(f, 0, sizeof *f);
}

/* ---- reading ---- */

typedef struct load_ctx {
    json_t *body;
    char id[40];
    iop_code rc;
} load_ctx;

static int load_cb(void *ctx, const store_doc *d) {
    load_ctx *l = ctx;
    l->body = json_loads(d->body, 0, NULL);
    snprintf(l->id, sizeof l->id, "%s", d->id);
    l->rc = l->body ? IOP_OK : IOP_ECORRUPT;
    return 1;
}

static int id_cb(void *ctx, const store_doc *d) {
    load_ctx *l = ctx;
    snprintf(l->id, sizeof l->id, "%s", d->id);
    return 1;
}

static iop_code load_file(cir *c, const char *file_id, json_t **body, iop_err *err) {
    load_ctx l = {0};
    iop_code rc = store_get(c->st, file_id, false, load_cb, &l, err);
    if (rc) return rc;
    if (l.rc) return iop_fail(err, IOP_ECORRUPT, "individual file %s is corrupt", file_id);
    *body = l.body;
    return IOP_OK;
}

static void ref_key(iop_system s, const char *id, char *key, size_t cap) {
    snprintf(key, cap, "ref:%s/%s", iop_system_name(s), id);
}

/* Finds the file id of a record; IOP_ENOTFOUND when none. */
static iop_code file_id_of(cir *c, iop_system s, const char *rec_id, char *file_id, iop_err *err) {
    char key[300];
    ref_key(s, rec_id, key, sizeof key);
    load_ctx l = {0};
    iop_code rc = store_lookup(c->st, key, 1, id_cb, &l, err);
    if (rc) return rc;
    if (!l.id[0]) return iop_fail(err, IOP_ENOTFOUND, "no individual file for %s record '%s'", iop_system_name(s), rec_id);
    memcpy(file_id, l.id, sizeof l.id);
    return IOP_OK;
}

static iop_code to_file(const char *id, json_t *body, cir_file *out, iop_err *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    json_t *data = json_object_get(body, "data");
    size_t n = 0;
    const char *sys;
    json_t *sets;
    json_object_foreach(data, sys, sets) n += json_array_size(sets);
    out->refs = calloc(n ? n : 1, sizeof *out->refs);
    out->body = json_dumps(body, JSON_COMPACT);
    if (!out->refs || !out->body) { cir_file_clear(out); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    json_object_foreach(data, sys, sets) {
        iop_system s;
        if (iop_system_parse(sys, &s, NULL)) continue;
        size_t i;
        json_t *ds;
        json_array_foreach(sets, i, ds) {
            out->refs[out->n_refs].system = s;
            snprintf(out->refs[out->n_refs].id, sizeof out->refs[0].id, "%s", json_string_value(json_object_get(ds, "id")));
            out->n_refs++;
        }
    }
    return IOP_OK;
}

iop_code cir_get(cir *c, const char *file_id, cir_file *out, iop_err *err) {
    json_t *body;
    iop_code rc = load_file(c, file_id, &body, err);
    if (rc) return rc;
    rc = to_file(file_id, body, out, err);
    json_decref(body);
    return rc;
}

iop_code cir_file_of(cir *c, iop_system s, const char *record_id, cir_file *out, iop_err *err) {
    char id[40];
    iop_code rc = file_id_of(c, s, record_id, id, err);
    return rc ? rc : cir_get(c, id, out, err);
}

iop_code cir_count(cir *c, int64_t *files, iop_err *err) { return store_count(c->st, files, err); }

/* ---- writing ---- */

/* The Art 18(1) identity data of a source record: the common fields, no system-specific
 * ones, no biometrics. */
static json_t *identity_of(const rec_person *p) {
    rec_person idp = *p;
    idp.ext = NULL;
    iop_buf b;
    iop_buf_init(&b);
    json_t *j = NULL;
    if (rec_to_json(&idp, false, &b) == IOP_OK) j = json_loadb(b.data, b.len, 0, NULL);
    iop_buf_free(&b);
    if (j) { json_object_del(j, "system"); }
    return j;
}

/* The keys of a whole file, from its data sets. */
static void file_keys(json_t *body, sys_keys *ks) {
    const char *sys;
    json_t *sets;
    json_object_foreach(json_object_get(body, "data"), sys, sets) {
        size_t i, j;
        json_t *ds, *v;
        iop_system s;
        if (iop_system_parse(sys, &s, NULL)) continue;
        json_array_foreach(sets, i, ds) {
            char key[300];
            ref_key(s, json_string_value(json_object_get(ds, "id")), key, sizeof key);
            sys_keys_add(ks, key);
            json_array_foreach(json_object_get(ds, "documents"), j, v) {
                char dk[256];
                sys_doc_key(json_string_value(json_object_get(v, "number")), dk, sizeof dk);
                snprintf(key, sizeof key, "d:%s", dk);
                if (dk[0]) sys_keys_add(ks, key);
            }
        }
    }
}

static iop_code save_file(cir *c, const char *id, json_t *body, int64_t created, int64_t now_ms, iop_err *err) {
    sys_keys ks = {0};
    file_keys(body, &ks);
    char *text = json_dumps(body, JSON_COMPACT);
    iop_code rc = IOP_OK;
    if (!text) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    else {
        store_doc d = {.id = id, .kind = "individual_file", .body = text, .created_ms = created, .updated_ms = now_ms};
        rc = store_put(c->st, &d, (const char *const *)ks.k, ks.n, err);
    }
    free(text);
    sys_keys_free(&ks);
    return rc;
}

/* Replaces (or adds) the data set of record `id` in the system's array. */
static void set_dataset(json_t *body, iop_system s, json_t *ds) {
    json_t *data = json_object_get(body, "data");
    json_t *arr = json_object_get(data, iop_system_name(s));
    if (!arr) { arr = json_array(); json_object_set_new(data, iop_system_name(s), arr); }
    const char *id = json_string_value(json_object_get(ds, "id"));
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (iop_str_eq(json_string_value(json_object_get(x, "id")), id)) {
            json_array_set_new(arr, i, ds);
            return;
        }
    }
    json_array_append_new(arr, ds);
}

/* Writes a new file holding one data set: body and keys straight from the record. */
static iop_code new_file(cir *c, const char *fid, const rec_person *p, int64_t now_ms, iop_err *err) {
    rec_person idp = *p;
    idp.ext = NULL; /* Art 18(1): the shared identity data only */
    iop_buf b;
    iop_buf_init(&b);
    int bad = iop_buf_printf(&b, "{\"id\":\"%s\",\"data\":{\"%s\":[", fid, iop_system_name(p->system));
    if (!bad && rec_to_json(&idp, false, &b)) bad = 1;
    bad |= iop_buf_puts(&b, "]}}");
    char keys[1 + 32][300];
    const char *kp[1 + 32];
    size_t nk = 0;
    ref_key(p->system, p->id, keys[nk], sizeof keys[0]);
    kp[nk] = keys[nk];
    nk++;
    for (size_t i = 0; i < p->n_documents && nk < 33; i++) {
        char dk[256];
        sys_doc_key(p->documents[i].number, dk, sizeof dk);
        if (!dk[0]) continue;
        snprintf(keys[nk], sizeof keys[0], "d:%s", dk);
        kp[nk] = keys[nk];
        nk++;
    }
    iop_code rc = bad ? iop_fail(err, IOP_ENOMEM, "out of memory") : IOP_OK;
    if (!rc) {
        store_doc d = {.id = fid, .kind = "individual_file", .body = b.data, .created_ms = now_ms, .updated_ms = now_ms};
        rc = store_put(c->st, &d, kp, nk, err);
    }
    iop_buf_free(&b);
    return rc;
}

iop_code cir_follow_put(cir *c, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err) {
    iop_code rc = cir_follow_put_prepare(c, recs, n, now_ms, err);
    return rc ? rc : cir_follow_finish(c, true, err);
}

iop_code cir_follow_finish(cir *c, bool commit, iop_err *err) {
    iop_code rc = IOP_OK;
    if (commit) rc = store_commit(c->st, err);
    if (!commit || rc) {
        store_rollback(c->st);
        return rc;
    }
    c->next_id = c->pending_next;
    return IOP_OK;
}

iop_code cir_follow_put_prepare(cir *c, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err) {
    iop_code rc = store_begin(c->st, err);
    int64_t next = c->next_id;
    for (size_t i = 0; !rc && i < n; i++) {
        const rec_person *p = &recs[i];
        if (!iop_system_in_cir(p->system)) continue; /* SIS, Europol, Interpol: not in the CIR (Art 17(1)) */
        char fid[40];
        json_t *body = NULL, *ds = NULL;
        rc = file_id_of(c, p->system, p->id, fid, err);
        if (rc == IOP_ENOTFOUND) {
            /* a new individual file: written directly, no JSON round trip */
            snprintf(fid, sizeof fid, "CIR-%012lld", (long long)next++);
            rc = new_file(c, fid, p, now_ms, err);
            continue;
        }
        if (!rc && !(ds = identity_of(p))) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        if (!rc) rc = load_file(c, fid, &body, err);
        if (!rc) {
            set_dataset(body, p->system, ds);
            ds = NULL;
            rc = save_file(c, fid, body, now_ms, now_ms, err);
        }
        json_decref(ds);
        json_decref(body);
    }
    if (!rc && next != c->next_id) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)next);
        rc = store_meta_set(c->st, "next_file_id", v, err);
    }
    if (rc) store_rollback(c->st);
    else c->pending_next = next;
    return rc;
}

/* Removes record (s, id) from body; returns the number of data sets left. */
static size_t drop_dataset(json_t *body, iop_system s, const char *id) {
    json_t *data = json_object_get(body, "data");
    json_t *arr = json_object_get(data, iop_system_name(s));
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (iop_str_eq(json_string_value(json_object_get(x, "id")), id)) {
            json_array_remove(arr, i);
            break;
        }
    }
    if (arr && json_array_size(arr) == 0) json_object_del(data, iop_system_name(s));
    size_t left = 0;
    const char *k;
    json_object_foreach(data, k, x) left += json_array_size(x);
    return left;
}

iop_code cir_follow_delete(cir *c, iop_system s, const char *record_id, int64_t now_ms, iop_err *err) {
    if (!iop_system_in_cir(s)) return IOP_OK;
    char fid[40];
    iop_code rc = file_id_of(c, s, record_id, fid, err);
    if (rc == IOP_ENOTFOUND) return IOP_OK; /* nothing to follow */
    if (rc) return rc;
    json_t *body = NULL;
    if ((rc = store_begin(c->st, err))) return rc;
    rc = load_file(c, fid, &body, err);
    if (!rc) {
        /* Art 23(2): the file is kept only while data remain in at least one system */
        if (drop_dataset(body, s, record_id) == 0) rc = store_delete(c->st, fid, err);
        else rc = save_file(c, fid, body, now_ms, now_ms, err);
    }
    json_decref(body);
    if (!rc) rc = store_commit(c->st, err);
    if (rc) store_rollback(c->st);
    return rc;
}

iop_code cir_merge(cir *c, const char *into, const char *from, int64_t now_ms, iop_err *err) {
    if (!strcmp(into, from)) return iop_fail(err, IOP_EINVAL, "cannot merge individual file %s into itself", into);
    json_t *a = NULL, *b = NULL;
    iop_code rc = store_begin(c->st, err);
    if (!rc) rc = load_file(c, into, &a, err);
    if (!rc) rc = load_file(c, from, &b, err);
    if (!rc) {
        const char *sys;
        json_t *sets;
        json_object_foreach(json_object_get(b, "data"), sys, sets) {
            iop_system s;
            if (iop_system_parse(sys, &s, NULL)) continue;
            size_t i;
            json_t *ds;
            json_array_foreach(sets, i, ds) set_dataset(a, s, json_incref(ds));
        }
        rc = store_delete(c->st, from, err);
        if (!rc) rc = save_file(c, into, a, now_ms, now_ms, err);
    }
    json_decref(a);
    json_decref(b);
    if (!rc) rc = store_commit(c->st, err);
    if (rc) store_rollback(c->st);
    return rc;
}
