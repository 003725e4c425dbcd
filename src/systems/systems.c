/*
 * systems.c -- a connected system's own store: records, summaries, retention.
 *
 * Each record is kept as its interchange JSON without biometrics (the body) plus the
 * biometrics member apart (the blob), so searches never read templates.  Each record
 * also stores a summary -- its normalised name tokens, surnames, date of birth, sex,
 * nationalities, documents and surname tokens, fields separated by 0x1F, lists by
 * 0x1E -- from which the search index (index.c) derives its keys and on which a search
 * ranks candidates without parsing their JSON.  Every write is noted in the store's
 * change log, which the index follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "interop/store.h"
#include "interop/systems.h"

struct sys_store {
    iop_system id;
    store *st;
    unsigned commits;     /* committed batches, to trim the change log now and then */
};

/* Changes kept in a store's log: a search index further behind than this rebuilds. */
#define CHANGES_KEPT (1 << 20)

static const store_migration migrations[] = {
    {1, "CREATE TABLE IF NOT EXISTS system_info(name TEXT PRIMARY KEY, value TEXT);"},
    /* version 2: searches run on the in-memory index (index.c), built from the summaries
     * and kept current through the change log; the store keeps no search keys */
    {2, "DELETE FROM doc_keys; UPDATE docs SET keys='' WHERE keys<>'';"},
};

iop_code sys_open(iop_system s, const char *dir, int flags, sys_store **out, iop_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/systems", dir);
    if ((flags & STORE_CREATE)) {
        iop_code rc = iop_mkdirs(path, err);
        if (rc) return rc;
    }
    snprintf(path, sizeof path, "%s/systems/%s.db", dir, iop_system_name(s));
    sys_store *ss = calloc(1, sizeof *ss);
    if (!ss) return iop_fail(err, IOP_ENOMEM, "out of memory");
    ss->id = s;
    if (!(flags & STORE_READONLY)) flags |= STORE_CHANGES | STORE_KEYLESS;
    iop_code rc = store_open(path, flags, err, &ss->st);
    if (!rc && !(flags & STORE_READONLY)) rc = store_migrate(ss->st, migrations, sizeof migrations / sizeof *migrations, err);
    if (rc) { sys_close(ss); return rc; }
    *out = ss;
    return IOP_OK;
}

void sys_close(sys_store *s) {
    if (!s) return;
    store_close(s->st);
    free(s);
}

iop_system sys_id(const sys_store *s) { return s->id; }

void sys_name_key(const char *in, char *out, size_t cap) {
    utf8proc_uint8_t *m = NULL;
    size_t n = 0;
    if (cap == 0) return;
    out[0] = 0;
    /* ASCII needs no Unicode mapping (NFKD and case folding leave it as it is, but for
     * the letters' case, handled below) */
    bool ascii = true;
    for (const unsigned char *q = (const unsigned char *)in; *q && ascii; q++) ascii = *q < 0x80;
    utf8proc_ssize_t r = ascii ? -1
                               : utf8proc_map((const utf8proc_uint8_t *)in, 0, &m,
                                              UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                                  UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_CASEFOLD);
    const unsigned char *p = r >= 0 ? m : (const unsigned char *)in;
    for (; *p && n + 1 < cap; p++) {
        unsigned char c = *p;
        if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out[n++] = (char)c;
        else if (c >= 'A' && c <= 'Z') out[n++] = (char)(c - 'A' + 'a');
        else if (c == ' ' || c == '-' || c == '\t') { if (n && out[n - 1] != ' ') out[n++] = ' '; }
        /* apostrophes, dots and other punctuation are dropped: O'Neil = ONeil */
    }
    while (n && out[n - 1] == ' ') n--;
    /* a multi-byte sequence cut at the end is dropped */
    while (n && ((unsigned char)out[n - 1] & 0xC0) == 0x80) {
        size_t k = n;
        while (k && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
        if (k == 0) { n = 0; break; }
        unsigned char lead = (unsigned char)out[k - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (n - (k - 1) == want) break;
        n = k - 1;
    }
    out[n] = 0;
    free(m);
}

void sys_doc_key(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        char c = *p;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out[n++] = c;
    }
    out[n] = 0;
}

/* ---- keys ---- */

int sys_keys_add(sys_keys *ks, const char *key) {
    for (size_t i = 0; i < ks->n; i++)
        if (!strcmp(ks->k[i], key)) return 0;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 16;
        char **k = realloc(ks->k, cap * sizeof *k);
        if (!k) return -1;
        ks->k = k;
        ks->cap = cap;
    }
    return (ks->k[ks->n++] = strdup(key)) ? 0 : (ks->n--, -1);
}

void sys_keys_free(sys_keys *ks) {
    for (size_t i = 0; i < ks->n; i++) free(ks->k[i]);
    free(ks->k);
    memset(ks, 0, sizeof *ks);
}

/* Appends the normalised tokens of a name to b (and to st, the surname tokens, unless NULL). */
static void sum_tokens(iop_buf *b, iop_buf *st, const char *name, bool *first) {
    char norm[512], *save = NULL;
    sys_name_key(name, norm, sizeof norm);
    for (char *t = strtok_r(norm, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (!*first) iop_buf_append(b, "\x1e", 1);
        iop_buf_puts(b, t);
        if (st) {
            if (st->len) iop_buf_append(st, "\x1e", 1);
            iop_buf_puts(st, t);
        }
        *first = false;
    }
}

static void sum_list(iop_buf *b, char **l, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) iop_buf_append(b, "\x1e", 1);
        iop_buf_puts(b, l[i]);
    }
}

/* The ranking summary: category, tokens, surnames, dob, sex, nationalities, documents,
 * surname tokens (surnames, surname at birth, aliases: those a query by surname alone
 * finds), then the identity as recorded (given names, surname at birth, aliases, place
 * of birth, document types).  The search index (index.c) derives its keys from it. */
static int record_summary(const rec_person *p, iop_buf *b) {
    bool first = true;
    iop_buf st; /* the surname tokens, gathered on the way */
    iop_buf_init(&st);
    const char *cat = strstr(p->ext ? p->ext : "", "\"category\":\"");
    if (p->system == IOP_SYS_SIS && cat) {
        cat += 12;
        const char *e = strchr(cat, '"');
        iop_buf_append(b, cat, e ? (size_t)(e - cat) : 0);
    }
    iop_buf_append(b, "\x1f", 1);
    for (size_t i = 0; i < p->n_surnames; i++) sum_tokens(b, &st, p->surnames[i], &first);
    if (p->surname_at_birth) sum_tokens(b, &st, p->surname_at_birth, &first);
    for (size_t i = 0; i < p->n_given_names; i++) sum_tokens(b, NULL, p->given_names[i], &first);
    for (size_t i = 0; i < p->n_aliases; i++) sum_tokens(b, &st, p->aliases[i], &first);
    iop_buf_append(b, "\x1f", 1);
    sum_list(b, p->surnames, p->n_surnames);
    char d[16];
    iop_date_format(p->dob, d);
    char sx[4] = {'\x1f', p->sex ? p->sex : 'U', '\x1f', 0};
    iop_buf_append(b, "\x1f", 1);
    iop_buf_puts(b, d);
    iop_buf_puts(b, sx);
    sum_list(b, p->nationalities, p->n_nationalities);
    iop_buf_append(b, "\x1f", 1);
    for (size_t i = 0; i < p->n_documents; i++) {
        char dk[256];
        sys_doc_key(p->documents[i].number, dk, sizeof dk);
        if (i) iop_buf_append(b, "\x1e", 1);
        iop_buf_puts(b, dk);
        iop_buf_append(b, ":", 1);
        iop_buf_puts(b, p->documents[i].country ? p->documents[i].country : "");
    }
    iop_buf_append(b, "\x1f", 1);
    if (st.len) iop_buf_append(b, st.data, st.len);
    iop_buf_free(&st);
    /* the identity as recorded, for the names engine: a search ranks a candidate
     * without reading its record (given names, surname at birth, aliases, place of
     * birth, document types in the order of the documents) */
    iop_buf_append(b, "\x1f", 1);
    sum_list(b, p->given_names, p->n_given_names);
    iop_buf_append(b, "\x1f", 1);
    if (p->surname_at_birth) iop_buf_puts(b, p->surname_at_birth);
    iop_buf_append(b, "\x1f", 1);
    sum_list(b, p->aliases, p->n_aliases);
    iop_buf_append(b, "\x1f", 1);
    if (p->place_of_birth) iop_buf_puts(b, p->place_of_birth);
    iop_buf_append(b, "\x1f", 1);
    for (size_t i = 0; i < p->n_documents; i++) {
        if (i) iop_buf_append(b, "\x1e", 1);
        if (p->documents[i].type) iop_buf_puts(b, p->documents[i].type);
    }
    return b->data ? 0 : -1;
}

/* The biometrics member alone, as JSON, or empty when the record has none. */
static iop_code biometrics_json(const rec_person *p, iop_buf *out) {
    if (!p->n_fingers && !p->face) return IOP_OK;
    rec_person only = {0};
    only.id = p->id; only.system = p->system; only.kind = p->kind;
    only.fingers = p->fingers; only.n_fingers = p->n_fingers; only.face = p->face;
    iop_buf tmp;
    iop_buf_init(&tmp);
    iop_code rc = rec_to_json(&only, true, &tmp);
    if (!rc) {
        const char *b = strstr(tmp.data, "\"biometrics\":");
        if (!b) rc = IOP_EINTERNAL;
        else if (iop_buf_append(out, b + 13, tmp.len - (size_t)(b + 13 - tmp.data) - 1)) rc = IOP_ENOMEM;
    }
    iop_buf_free(&tmp);
    return rc;
}

iop_code sys_put_batch(sys_store *s, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err) {
    iop_code rc = sys_put_batch_prepare(s, recs, n, now_ms, err);
    return rc ? rc : sys_put_finish(s, true, err);
}

iop_code sys_put_finish(sys_store *s, bool commit, iop_err *err) {
    iop_code rc = IOP_OK;
    /* every 256th batch bounds the change log, in the batch's own transaction */
    if (commit && (++s->commits & 255) == 0) rc = store_changes_trim(s->st, CHANGES_KEPT, err);
    if (commit && !rc) rc = store_commit(s->st, err);
    if (!commit || rc) store_rollback(s->st);
    return rc;
}

iop_code sys_put_batch_prepare(sys_store *s, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err) {
    const sys_retention *pol = sys_retention_policy(s->id);
    int64_t today = now_ms / 86400000;
    iop_buf body, bio, sum;
    iop_buf_init(&body);
    iop_buf_init(&bio);
    iop_buf_init(&sum);
    iop_code rc = store_begin(s->st, err);
    for (size_t i = 0; !rc && i < n; i++) {
        const rec_person *p = &recs[i];
        if (p->system != s->id) {
            rc = iop_fail(err, IOP_EINVAL, "record '%s' belongs to %s, not %s", p->id, iop_system_name(p->system),
                          iop_system_name(s->id));
            break;
        }
        iop_buf_reset(&body);
        iop_buf_reset(&bio);
        iop_buf_reset(&sum);
        if ((rc = rec_to_json(p, false, &body)) || (rc = biometrics_json(p, &bio)) || record_summary(p, &sum)) {
            rc = iop_fail(err, rc ? rc : IOP_ENOMEM, "record '%s': out of memory", p->id);
            break;
        }
        store_doc d = {.id = p->id, .kind = p->kind, .body = body.data, .blob = bio.len ? bio.data : NULL,
                       .blob_len = bio.len, .created_ms = now_ms, .updated_ms = now_ms, .summary = sum.data,
                       .expires_day = pol->expiry_day(p, today)};
        rc = store_put(s->st, &d, NULL, 0, err);
    }
    if (rc) store_rollback(s->st);
    iop_buf_free(&body);
    iop_buf_free(&bio);
    iop_buf_free(&sum);
    return rc;
}

iop_code sys_delete(sys_store *s, const char *id, iop_err *err) {
    iop_code rc = store_begin(s->st, err);
    if (!rc) rc = store_delete(s->st, id, err);
    if (!rc) rc = store_commit(s->st, err);
    if (rc) store_rollback(s->st);
    return rc;
}

/* Rebuilds a rec_person from a stored document. */
static iop_code doc_to_record(const store_doc *d, rec_person *out, iop_err *err) {
    if (!d->blob || !d->blob_len) return rec_parse(d->body, strlen(d->body), out, err);
    iop_buf b;
    iop_buf_init(&b);
    size_t bl = strlen(d->body);
    iop_code rc = IOP_OK;
    if (bl < 2 || iop_buf_append(&b, d->body, bl - 1) || iop_buf_puts(&b, ",\"biometrics\":") ||
        iop_buf_append(&b, d->blob, d->blob_len) || iop_buf_puts(&b, "}"))
        rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    if (!rc) rc = rec_parse(b.data, b.len, out, err);
    iop_buf_free(&b);
    return rc;
}

typedef struct get_ctx {
    rec_person *out;
    iop_err *err;
    iop_code rc;
} get_ctx;

static int get_cb(void *ctx, const store_doc *d) {
    get_ctx *g = ctx;
    g->rc = doc_to_record(d, g->out, g->err);
    return 1;
}

iop_code sys_get(sys_store *s, const char *id, bool with_biometrics, rec_person *out, iop_err *err) {
    get_ctx g = {out, err, IOP_OK};
    iop_code rc = store_get(s->st, id, with_biometrics, get_cb, &g, err);
    if (rc) return rc;
    if (g.rc) iop_err_prefix(err, "%s record '%s' is corrupt", iop_system_name(s->id), id);
    return g.rc ? IOP_ECORRUPT : IOP_OK;
}

iop_code sys_read_begin(sys_store *s, iop_err *err) { return store_begin(s->st, err); }
void sys_read_end(sys_store *s) { store_rollback(s->st); }

iop_code sys_count(sys_store *s, int64_t *n, iop_err *err) { return store_count(s->st, n, err); }

static int json_cb(void *ctx, const store_doc *d) {
    *(char **)ctx = strdup(d->body);
    return 1;
}

typedef struct json_sum {
    char *json, *summary;
} json_sum;

static int json_sum_cb(void *ctx, const store_doc *d) {
    json_sum *js = ctx;
    js->json = strdup(d->body);
    js->summary = strdup(d->summary ? d->summary : "");
    return 1;
}

iop_code sys_get_json_summary(sys_store *s, const char *id, char **json, char **summary, iop_err *err) {
    json_sum js = {0};
    *json = *summary = NULL;
    iop_code rc = store_get(s->st, id, false, json_sum_cb, &js, err);
    if (!rc && (!js.json || !js.summary)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    if (rc) {
        free(js.json);
        free(js.summary);
        return rc;
    }
    *json = js.json;
    *summary = js.summary;
    return IOP_OK;
}

iop_code sys_get_json(sys_store *s, const char *id, char **json, iop_err *err) {
    *json = NULL;
    iop_code rc = store_get(s->st, id, false, json_cb, json, err);
    if (!rc && !*json) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    return rc;
}

typedef struct scan_ctx {
    sys_rec_fn fn;
    void *ctx;
    iop_err *err;
    iop_code rc;
} scan_ctx;

static int scan_cb(void *ctx, const store_doc *d) {
    scan_ctx *c = ctx;
    rec_person p;
    if ((c->rc = doc_to_record(d, &p, c->err))) {
        iop_err_prefix(c->err, "stored record '%s' is corrupt", d->id);
        c->rc = IOP_ECORRUPT;
        return 1;
    }
    int stop = c->fn(c->ctx, &p);
    rec_person_clear(&p);
    return stop;
}

iop_code sys_scan(sys_store *s, bool with_biometrics, sys_rec_fn fn, void *ctx, iop_err *err) {
    scan_ctx c = {.fn = fn, .ctx = ctx, .err = err};
    iop_code rc = store_scan(s->st, with_biometrics, scan_cb, &c, err);
    return rc ? rc : c.rc;
}

typedef struct purge_ctx {
    char **ids;
    size_t n, cap;
    bool nomem;
} purge_ctx;

static int purge_cb(void *ctx, const store_doc *d) {
    purge_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) { c->nomem = true; return 1; }
        c->ids = ids;
        c->cap = cap;
    }
    if (!(c->ids[c->n] = strdup(d->id))) { c->nomem = true; return 1; }
    c->n++;
    return 0;
}

iop_code sys_purge_expired(sys_store *s, int64_t today, sys_id_fn fn, void *ctx, size_t *purged, iop_err *err) {
    purge_ctx c = {0};
    iop_code rc = store_expired(s->st, today, purge_cb, &c, err);
    if (!rc && c.nomem) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    if (!rc) rc = store_begin(s->st, err);
    for (size_t i = 0; !rc && i < c.n; i++) rc = store_delete(s->st, c.ids[i], err);
    if (!rc) rc = store_commit(s->st, err);
    if (rc) store_rollback(s->st);
    for (size_t i = 0; i < c.n; i++) {
        if (!rc && fn) fn(ctx, s->id, c.ids[i]);
        free(c.ids[i]);
    }
    free(c.ids);
    if (purged) *purged = rc ? 0 : c.n;
    return rc;
}

