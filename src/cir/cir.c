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
#include "interop/cir.h"
#include "interop/json.h"
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

/* ---- an individual file in memory ----
 * The body is parsed with iop_json and held as the members around "data" (kept as
 * text) and, per source system, the data sets as compact JSON text with their record
 * id and document numbers (for the keys).  Writing it back gives the same bytes as
 * the stored text for an unchanged file. */

typedef struct cir_ds {
    char *id;            /* the source record id (NULL when the data set has none) */
    char *text;          /* the data set, compact JSON */
    char **docs;         /* its travel document numbers */
    size_t n_docs;
} cir_ds;

typedef struct cir_sys {
    char *name;          /* the system's name as stored */
    cir_ds *ds;
    size_t n, cap;
} cir_sys;

typedef struct cir_body {
    iop_buf head, tail;  /* the members before and after "data", as text */
    bool has_data;
    cir_sys *sys;
    size_t n_sys, cap_sys;
} cir_body;

static void ds_free(cir_ds *d) {
    free(d->id);
    free(d->text);
    for (size_t i = 0; i < d->n_docs; i++) free(d->docs[i]);
    free(d->docs);
    memset(d, 0, sizeof *d);
}

static void body_free(cir_body *b) {
    iop_buf_free(&b->head);
    iop_buf_free(&b->tail);
    for (size_t i = 0; i < b->n_sys; i++) {
        for (size_t j = 0; j < b->sys[i].n; j++) ds_free(&b->sys[i].ds[j]);
        free(b->sys[i].ds);
        free(b->sys[i].name);
    }
    free(b->sys);
    memset(b, 0, sizeof *b);
}

/* A data set from its parsed value: its text, id and document numbers. */
static int ds_from_json(const iop_json *v, cir_ds *d) {
    iop_buf t;
    iop_buf_init(&t);
    memset(d, 0, sizeof *d);
    if (iop_json_write(&t, v)) { iop_buf_free(&t); return -1; }
    d->text = iop_buf_steal(&t);
    const char *id = iop_json_str(iop_json_get(v, "id"));
    if (id && !(d->id = strdup(id))) return -1;
    const iop_json *docs = iop_json_get(v, "documents");
    if (iop_json_size(docs)) {
        if (!(d->docs = calloc(docs->len, sizeof *d->docs))) return -1;
        for (const iop_json *x = iop_json_first(docs); x; x = iop_json_next(x)) {
            const char *num = iop_json_str(iop_json_get(x, "number"));
            if (num && !(d->docs[d->n_docs++] = strdup(num))) return -1;
        }
    }
    return d->text ? 0 : -1;
}

static cir_sys *body_system(cir_body *b, const char *name, bool create) {
    for (size_t i = 0; i < b->n_sys; i++)
        if (!strcmp(b->sys[i].name, name)) return &b->sys[i];
    if (!create) return NULL;
    if (b->n_sys == b->cap_sys) {
        size_t cap = b->cap_sys ? b->cap_sys * 2 : 4;
        cir_sys *n = realloc(b->sys, cap * sizeof *n);
        if (!n) return NULL;
        b->sys = n;
        b->cap_sys = cap;
    }
    cir_sys *s = &b->sys[b->n_sys];
    memset(s, 0, sizeof *s);
    if (!(s->name = strdup(name))) return NULL;
    b->n_sys++;
    b->has_data = true;
    return s;
}

static int sys_append(cir_sys *s, cir_ds *d) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        cir_ds *n = realloc(s->ds, cap * sizeof *n);
        if (!n) return -1;
        s->ds = n;
        s->cap = cap;
    }
    s->ds[s->n++] = *d;
    memset(d, 0, sizeof *d);
    return 0;
}

static iop_code body_parse(const char *text, const char *file_id, cir_body *b, iop_err *err) {
    memset(b, 0, sizeof *b);
    iop_buf_init(&b->head);
    iop_buf_init(&b->tail);
    iop_json_parser *jp = iop_json_parser_new();
    if (!jp) return iop_fail(err, IOP_ENOMEM, "out of memory");
    const iop_json *root;
    if (iop_json_parse(jp, text, strlen(text), IOP_JSON_ALLOW_DUPLICATES, &root, NULL) || !iop_json_is_object(root)) {
        iop_json_parser_free(jp);
        return iop_fail(err, IOP_ECORRUPT, "individual file %s is corrupt", file_id);
    }
    int bad = 0;
    for (const iop_json *m = iop_json_first(root); m && !bad; m = iop_json_next(m)) {
        if (iop_json_key_is(m, "data") && iop_json_is_object(m) && !b->has_data) {
            b->has_data = true;
            for (const iop_json *sa = iop_json_first(m); sa && !bad; sa = iop_json_next(sa)) {
                if (!iop_json_is_array(sa)) continue; /* not a list of data sets: dropped */
                cir_sys *s = body_system(b, sa->key, true);
                if (!s) { bad = 1; break; }
                for (const iop_json *x = iop_json_first(sa); x && !bad; x = iop_json_next(x)) {
                    cir_ds d;
                    bad = ds_from_json(x, &d) || sys_append(s, &d);
                    ds_free(&d);
                }
            }
            continue;
        }
        iop_buf *t = b->has_data ? &b->tail : &b->head;
        bad |= iop_buf_append(t, ",", 1) | iop_json_write_str(t, m->key, m->key_len) | iop_buf_append(t, ":", 1) |
               iop_json_write(t, m);
    }
    iop_json_parser_free(jp);
    if (bad) { body_free(b); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    return IOP_OK;
}

/* The body as compact JSON (members in their stored order). */
static int body_write(const cir_body *b, iop_buf *out) {
    int r = iop_buf_append(out, "{", 1);
    size_t mark = out->len;
    if (b->head.len) r |= iop_buf_append(out, b->head.data, b->head.len);
    if (b->has_data) {
        r |= iop_buf_puts(out, ",\"data\":{");
        for (size_t i = 0; i < b->n_sys; i++) {
            r |= iop_buf_puts(out, i ? "," : "") | iop_json_write_str(out, b->sys[i].name, strlen(b->sys[i].name)) |
                 iop_buf_puts(out, ":[");
            for (size_t j = 0; j < b->sys[i].n; j++) r |= iop_buf_puts(out, j ? "," : "") | iop_buf_puts(out, b->sys[i].ds[j].text);
            r |= iop_buf_puts(out, "]");
        }
        r |= iop_buf_puts(out, "}");
    }
    if (b->tail.len) r |= iop_buf_append(out, b->tail.data, b->tail.len);
    if (!r && out->len > mark && out->data[mark] == ',') { /* the first member's comma */
        memmove(out->data + mark, out->data + mark + 1, out->len - mark - 1);
        out->len--;
        out->data[out->len] = 0;
    }
    return r | iop_buf_puts(out, "}");
}

static size_t body_count(const cir_body *b) {
    size_t n = 0;
    for (size_t i = 0; i < b->n_sys; i++) n += b->sys[i].n;
    return n;
}

/* ---- reading ---- */

typedef struct load_ctx {
    char *text;
    char id[40];
    iop_code rc;
} load_ctx;

static int load_cb(void *ctx, const store_doc *d) {
    load_ctx *l = ctx;
    l->text = strdup(d->body);
    snprintf(l->id, sizeof l->id, "%s", d->id);
    l->rc = l->text ? IOP_OK : IOP_ENOMEM;
    return 1;
}

static int id_cb(void *ctx, const store_doc *d) {
    load_ctx *l = ctx;
    snprintf(l->id, sizeof l->id, "%s", d->id);
    return 1;
}

static iop_code load_file(cir *c, const char *file_id, cir_body *body, iop_err *err) {
    load_ctx l = {0};
    iop_code rc = store_get(c->st, file_id, false, load_cb, &l, err);
    if (rc) { free(l.text); return rc; }
    if (l.rc) return iop_fail(err, l.rc, "out of memory reading individual file %s", file_id);
    if (!l.text) return iop_fail(err, IOP_ECORRUPT, "individual file %s is corrupt", file_id);
    rc = body_parse(l.text, file_id, body, err);
    free(l.text);
    return rc;
}

static void ref_key(iop_system s, const char *id, char *key, size_t cap) {
    snprintf(key, cap, "ref:%s/%s", iop_system_name(s), id ? id : "");
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

static iop_code to_file(const char *id, const cir_body *body, cir_file *out, iop_err *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    size_t n = body_count(body);
    iop_buf t;
    iop_buf_init(&t);
    out->refs = calloc(n ? n : 1, sizeof *out->refs);
    if (!out->refs || body_write(body, &t)) {
        iop_buf_free(&t);
        cir_file_clear(out);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    out->body = iop_buf_steal(&t);
    for (size_t i = 0; i < body->n_sys; i++) {
        iop_system s;
        if (iop_system_parse(body->sys[i].name, &s, NULL)) continue;
        for (size_t j = 0; j < body->sys[i].n; j++) {
            out->refs[out->n_refs].system = s;
            snprintf(out->refs[out->n_refs].id, sizeof out->refs[0].id, "%s",
                     body->sys[i].ds[j].id ? body->sys[i].ds[j].id : "");
            out->n_refs++;
        }
    }
    return IOP_OK;
}

iop_code cir_get(cir *c, const char *file_id, cir_file *out, iop_err *err) {
    cir_body body;
    iop_code rc = load_file(c, file_id, &body, err);
    if (rc) return rc;
    rc = to_file(file_id, &body, out, err);
    body_free(&body);
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
 * ones, no biometrics -- the record's JSON without "system". */
static int identity_of(const rec_person *p, cir_ds *d) {
    rec_person idp = *p;
    idp.ext = NULL;
    iop_buf b, t;
    iop_buf_init(&b);
    iop_buf_init(&t);
    memset(d, 0, sizeof *d);
    int bad = rec_to_json(&idp, false, &b) != IOP_OK;
    iop_json_parser *jp = bad ? NULL : iop_json_parser_new();
    const iop_json *root;
    if (!jp || iop_json_parse(jp, b.data, b.len, 0, &root, NULL)) bad = 1;
    else {
        bad |= iop_buf_append(&t, "{", 1);
        bool first = true;
        for (const iop_json *m = iop_json_first(root); m; m = iop_json_next(m)) {
            if (iop_json_key_is(m, "system")) continue;
            bad |= iop_buf_puts(&t, first ? "" : ",") | iop_json_write_str(&t, m->key, m->key_len) |
                   iop_buf_append(&t, ":", 1) | iop_json_write(&t, m);
            first = false;
        }
        bad |= iop_buf_append(&t, "}", 1);
    }
    iop_json_parser_free(jp);
    iop_buf_free(&b);
    if (!bad && !(d->id = strdup(p->id))) bad = 1;
    if (!bad && p->n_documents && !(d->docs = calloc(p->n_documents, sizeof *d->docs))) bad = 1;
    for (size_t i = 0; !bad && i < p->n_documents; i++)
        if (p->documents[i].number && !(d->docs[d->n_docs++] = strdup(p->documents[i].number))) bad = 1;
    d->text = iop_buf_steal(&t);
    if (bad || !d->text) { ds_free(d); return -1; }
    return 0;
}

/* The keys of a whole file, from its data sets. */
static int file_keys(const cir_body *body, sys_keys *ks) {
    int bad = 0;
    for (size_t i = 0; i < body->n_sys; i++) {
        iop_system s;
        if (iop_system_parse(body->sys[i].name, &s, NULL)) continue;
        for (size_t j = 0; j < body->sys[i].n; j++) {
            const cir_ds *d = &body->sys[i].ds[j];
            char key[300];
            ref_key(s, d->id, key, sizeof key);
            bad |= sys_keys_add(ks, key);
            for (size_t k = 0; k < d->n_docs; k++) {
                char dk[256];
                sys_doc_key(d->docs[k], dk, sizeof dk);
                snprintf(key, sizeof key, "d:%s", dk);
                if (dk[0]) bad |= sys_keys_add(ks, key);
            }
        }
    }
    return bad;
}

static iop_code save_file(cir *c, const char *id, const cir_body *body, int64_t created, int64_t now_ms, iop_err *err) {
    sys_keys ks = {0};
    iop_buf text;
    iop_buf_init(&text);
    iop_code rc = IOP_OK;
    if (file_keys(body, &ks) || body_write(body, &text)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    else {
        store_doc d = {.id = id, .kind = "individual_file", .body = text.data, .created_ms = created, .updated_ms = now_ms};
        rc = store_put(c->st, &d, (const char *const *)ks.k, ks.n, err);
    }
    iop_buf_free(&text);
    sys_keys_free(&ks);
    return rc;
}

/* Replaces (or adds) the data set of its record in the system's array; takes *ds. */
static int set_dataset(cir_body *body, iop_system s, cir_ds *ds) {
    cir_sys *sys = body_system(body, iop_system_name(s), true);
    if (!sys) { ds_free(ds); return -1; }
    for (size_t i = 0; i < sys->n; i++) {
        if (iop_str_eq(sys->ds[i].id, ds->id)) {
            ds_free(&sys->ds[i]);
            sys->ds[i] = *ds;
            memset(ds, 0, sizeof *ds);
            return 0;
        }
    }
    if (sys_append(sys, ds)) { ds_free(ds); return -1; }
    return 0;
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
        rc = file_id_of(c, p->system, p->id, fid, err);
        if (rc == IOP_ENOTFOUND) {
            /* a new individual file: written directly, no JSON round trip */
            snprintf(fid, sizeof fid, "CIR-%012lld", (long long)next++);
            rc = new_file(c, fid, p, now_ms, err);
            continue;
        }
        cir_body body;
        cir_ds ds;
        if (rc) break;
        if (identity_of(p, &ds)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        if ((rc = load_file(c, fid, &body, err))) { ds_free(&ds); break; }
        if (set_dataset(&body, p->system, &ds)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        else rc = save_file(c, fid, &body, now_ms, now_ms, err);
        body_free(&body);
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
static size_t drop_dataset(cir_body *body, iop_system s, const char *id) {
    cir_sys *sys = body_system(body, iop_system_name(s), false);
    if (sys) {
        for (size_t i = 0; i < sys->n; i++) {
            if (iop_str_eq(sys->ds[i].id, id)) {
                ds_free(&sys->ds[i]);
                memmove(&sys->ds[i], &sys->ds[i + 1], (sys->n - i - 1) * sizeof *sys->ds);
                sys->n--;
                break;
            }
        }
        if (sys->n == 0) {
            size_t k = (size_t)(sys - body->sys);
            free(sys->ds);
            free(sys->name);
            memmove(&body->sys[k], &body->sys[k + 1], (body->n_sys - k - 1) * sizeof *body->sys);
            body->n_sys--;
        }
    }
    return body_count(body);
}

iop_code cir_follow_delete(cir *c, iop_system s, const char *record_id, int64_t now_ms, iop_err *err) {
    if (!iop_system_in_cir(s)) return IOP_OK;
    char fid[40];
    iop_code rc = file_id_of(c, s, record_id, fid, err);
    if (rc == IOP_ENOTFOUND) return IOP_OK; /* nothing to follow */
    if (rc) return rc;
    cir_body body;
    if ((rc = store_begin(c->st, err))) return rc;
    rc = load_file(c, fid, &body, err);
    if (!rc) {
        /* Art 23(2): the file is kept only while data remain in at least one system */
        if (drop_dataset(&body, s, record_id) == 0) rc = store_delete(c->st, fid, err);
        else rc = save_file(c, fid, &body, now_ms, now_ms, err);
        body_free(&body);
    }
    if (!rc) rc = store_commit(c->st, err);
    if (rc) store_rollback(c->st);
    return rc;
}

iop_code cir_merge(cir *c, const char *into, const char *from, int64_t now_ms, iop_err *err) {
    if (!strcmp(into, from)) return iop_fail(err, IOP_EINVAL, "cannot merge individual file %s into itself", into);
    cir_body a, b;
    bool have_a = false, have_b = false;
    iop_code rc = store_begin(c->st, err);
    if (!rc && !(rc = load_file(c, into, &a, err))) have_a = true;
    if (!rc && !(rc = load_file(c, from, &b, err))) have_b = true;
    if (!rc) {
        for (size_t i = 0; i < b.n_sys && !rc; i++) {
            iop_system s;
            if (iop_system_parse(b.sys[i].name, &s, NULL)) continue;
            for (size_t j = 0; j < b.sys[i].n && !rc; j++)
                if (set_dataset(&a, s, &b.sys[i].ds[j])) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        }
        if (!rc) rc = store_delete(c->st, from, err);
        if (!rc) rc = save_file(c, into, &a, now_ms, now_ms, err);
    }
    if (have_a) body_free(&a);
    if (have_b) body_free(&b);
    if (!rc) rc = store_commit(c->st, err);
    if (rc) store_rollback(c->st);
    return rc;
}
