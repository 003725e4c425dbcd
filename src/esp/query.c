/*
 * query.c -- parsing portal queries and filtering records to what a profile may see
 * (Reg. 2019/817 Art 8(1)(d), Art 9(4)).
 */
#include <stdlib.h>
#include <string.h>
#include "interop/json.h"
#include "esp/esp_internal.h"

void esp_query_clear(esp_query *q) {
    for (size_t i = 0; i < q->n_fingers; i++) { free(q->fingers[i].tpl.format); free(q->fingers[i].tpl.data); }
    free(q->fingers);
    if (q->face) { free(q->face->format); free(q->face->data); free(q->face); }
    for (size_t i = 0; i < q->n_surnames; i++) free(q->surnames[i]);
    for (size_t i = 0; i < q->n_given_names; i++) free(q->given_names[i]);
    free(q->surnames);
    free(q->given_names);
    free(q->nationality);
    free(q->doc_number);
    free(q->doc_country);
    memset(q, 0, sizeof *q);
}

static iop_code names(const iop_json *v, const char *field, char ***out, size_t *n, iop_err *err) {
    if (!iop_json_is_array(v) || v->len > 16)
        return iop_fail(err, IOP_EINVAL, "field '%s': expected an array of at most 16 strings", field);
    *n = 0;
    *out = calloc(v->len + 1, sizeof **out);
    if (!*out) return iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t i = 0;
    for (const iop_json *x = iop_json_first(v); x; x = iop_json_next(x), i++) {
        if (!iop_json_is_string(x) || x->len == 0 || x->len > 256)
            return iop_fail(err, IOP_EINVAL, "field '%s[%zu]': expected a non-empty string of at most 256 bytes", field, i);
        if (!((*out)[(*n)++] = strdup(x->v.s))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    return IOP_OK;
}

static iop_code country(const iop_json *v, const char *field, char **out, iop_err *err) {
    const char *s = iop_json_str(v);
    if (!s || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' || s[2] > 'Z')
        return iop_fail(err, IOP_EINVAL, "field '%s': expected an ISO 3166-1 alpha-3 code such as \"UKR\"", field);
    return (*out = strdup(s)) ? IOP_OK : iop_fail(err, IOP_ENOMEM, "out of memory");
}

static bool is_int_in(const iop_json *v, int64_t lo, int64_t hi) {
    return iop_json_is(v, IOP_JSON_INT) && v->v.i >= lo && v->v.i <= hi;
}

/* {"format": "...", "data": "base64"} into a blob; the sBMS validates the format. */
static iop_code blob(const iop_json *o, rec_blob *b, iop_err *err) {
    const iop_json *f = iop_json_get(o, "format"), *d = iop_json_get(o, "data");
    if (!iop_json_is_object(o) || !iop_json_is_string(f) || !iop_json_is_string(d) ||
        iop_json_size(o) != 2 + (size_t)(iop_json_get(o, "position") != NULL))
        return iop_fail(err, IOP_EINVAL, "expected {\"format\": \"...\", \"data\": \"base64\"}");
    if (d->len > 400000) return iop_fail(err, IOP_ELIMIT, "biometric data larger than 300 KB");
    if (!(b->format = strdup(f->v.s))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    return iop_json_base64_decode(d->v.s, d->len, &b->data, &b->len, err);
}

static iop_code parse(const iop_json *root, esp_query *q, iop_err *err) {
    static const char *const keys[] = {"surnames", "given_names", "dob", "nationality", "sex", "document",
                                       "fingerprints", "face", "systems", "limit", NULL};
    if (!iop_json_is_object(root)) return iop_fail(err, IOP_EINVAL, "a query must be a JSON object");
    for (const iop_json *m = iop_json_first(root); m; m = iop_json_next(m)) {
        bool known = false;
        for (int i = 0; keys[i]; i++) known |= iop_json_key_is(m, keys[i]);
        if (!known) return iop_fail(err, IOP_EINVAL, "field '%s': unknown query field", m->key);
    }
    iop_code rc;
    const iop_json *v;
    if ((v = iop_json_get(root, "surnames"))) {
        if ((rc = names(v, "surnames", &q->surnames, &q->n_surnames, err))) return rc;
        if (q->n_surnames) q->fields |= ESP_F_SURNAMES;
    }
    if ((v = iop_json_get(root, "given_names"))) {
        if ((rc = names(v, "given_names", &q->given_names, &q->n_given_names, err))) return rc;
        if (q->n_given_names) q->fields |= ESP_F_GIVEN_NAMES;
    }
    if ((v = iop_json_get(root, "dob"))) {
        if (!iop_json_is_string(v)) return iop_fail(err, IOP_EINVAL, "field 'dob': expected a date string");
        if ((rc = iop_date_parse(v->v.s, &q->dob, err))) { iop_err_prefix(err, "field 'dob'"); return rc; }
        q->fields |= ESP_F_DOB;
    }
    if ((v = iop_json_get(root, "nationality"))) {
        if ((rc = country(v, "nationality", &q->nationality, err))) return rc;
        q->fields |= ESP_F_NATIONALITY;
    }
    if ((v = iop_json_get(root, "sex"))) {
        const char *s = iop_json_str(v);
        if (!s || strlen(s) != 1 || !strchr("MFXU", s[0]))
            return iop_fail(err, IOP_EINVAL, "field 'sex': expected \"M\", \"F\", \"X\" or \"U\"");
        q->sex = s[0];
        q->fields |= ESP_F_SEX;
    }
    if ((v = iop_json_get(root, "document"))) {
        const iop_json *num = iop_json_get(v, "number"), *c = iop_json_get(v, "country");
        if (!iop_json_is_object(v) || !iop_json_is_string(num) || num->len == 0 || num->len > 64 ||
            v->len != (size_t)(1 + (c != NULL)))
            return iop_fail(err, IOP_EINVAL, "field 'document': expected {\"number\": \"...\", \"country\": \"XXX\"}");
        if (!(q->doc_number = strdup(num->v.s))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        if (c && (rc = country(c, "document.country", &q->doc_country, err))) return rc;
        q->fields |= ESP_F_DOCUMENT;
    }
    if ((v = iop_json_get(root, "fingerprints"))) {
        if (!iop_json_is_array(v) || v->len == 0 || v->len > 10)
            return iop_fail(err, IOP_EINVAL, "field 'fingerprints': expected an array of 1..10 templates");
        if (!(q->fingers = calloc(v->len, sizeof *q->fingers))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        size_t i = 0;
        for (const iop_json *x = iop_json_first(v); x; x = iop_json_next(x), i++) {
            const iop_json *pos = iop_json_get(x, "position");
            bool pos_ok = iop_json_is_object(x) && is_int_in(pos, 0, 10);
            q->n_fingers++; /* esp_query_clear releases what blob() allocated, even on failure */
            if (!pos_ok) rc = iop_fail(err, IOP_EINVAL, "expected {\"position\": 0..10, \"format\": .., \"data\": base64}");
            else rc = blob(x, &q->fingers[i].tpl, err);
            if (rc) {
                iop_err_prefix(err, "field 'fingerprints[%zu]'", i);
                return rc;
            }
            q->fingers[i].position = (int)pos->v.i;
        }
        q->fields |= ESP_F_FINGERPRINTS;
    }
    if ((v = iop_json_get(root, "face"))) {
        if (!(q->face = calloc(1, sizeof *q->face))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        if ((rc = blob(v, q->face, err))) { iop_err_prefix(err, "field 'face'"); return rc; }
        q->fields |= ESP_F_FACE;
    }
    if ((v = iop_json_get(root, "systems"))) {
        if (!iop_json_is_array(v)) return iop_fail(err, IOP_EINVAL, "field 'systems': expected an array of system names");
        size_t i = 0;
        for (const iop_json *x = iop_json_first(v); x; x = iop_json_next(x), i++) {
            iop_system s;
            if (!iop_json_is_string(x)) {
                iop_fail(err, IOP_EINVAL, "expected a system name");
                iop_err_prefix(err, "field 'systems[%zu]'", i);
                return IOP_EINVAL;
            }
            if (iop_system_parse(x->v.s, &s, err)) {
                iop_err_prefix(err, "field 'systems[%zu]'", i);
                return IOP_EINVAL;
            }
            bool dup = false;
            for (size_t j = 0; j < q->n_systems; j++) dup |= q->systems[j] == s;
            if (!dup) q->systems[q->n_systems++] = s;
        }
    }
    q->limit = 10;
    if ((v = iop_json_get(root, "limit"))) {
        if (!is_int_in(v, 1, 100)) return iop_fail(err, IOP_EINVAL, "field 'limit': expected an integer 1..100");
        q->limit = (size_t)v->v.i;
    }
    if (!q->n_surnames && !q->n_given_names && !q->doc_number && !q->n_fingers && !q->face)
        return iop_fail(err, IOP_EINVAL, "a query needs names, a travel document number or biometric data");
    return IOP_OK;
}

iop_code esp_query_parse(const char *json, size_t len, esp_query *q, iop_err *err) {
    memset(q, 0, sizeof *q);
    iop_json_parser *jp = iop_json_parser_new();
    if (!jp) return iop_fail(err, IOP_ENOMEM, "out of memory");
    const iop_json *root;
    iop_code rc = iop_json_parse(jp, json, len, 0, &root, err);
    if (!rc) rc = parse(root, q, err);
    iop_json_parser_free(jp);
    if (rc) esp_query_clear(q);
    return rc;
}

/* ---- reply filtering ---- */

/* The SIS alert category of a record (NULL for other systems). */
const char *esp_sis_category(const rec_person *r, char *buf, size_t cap) {
    if (r->system != IOP_SYS_SIS) return NULL;
    const char *p = r->ext ? strstr(r->ext, "\"category\":\"") : NULL;
    if (!p) return NULL;
    p += 12;
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap) { buf[n] = p[n]; n++; }
    buf[n] = 0;
    return buf;
}

bool esp_may_see(const esp_profile *p, const rec_person *r) {
    char cat[64];
    return esp_profile_shows_kind(p, r->system, r->kind, esp_sis_category(r, cat, sizeof cat));
}

iop_code esp_filter_record(const esp_profile *p, const rec_person *r, iop_buf *out) {
    unsigned cats = esp_profile_categories(p, r->system);
    rec_person v = {0};
    v.id = r->id; v.system = r->system; v.kind = r->kind; v.sex = 'U';
    if (cats & ESP_C_IDENTITY) {
        v.surnames = r->surnames; v.n_surnames = r->n_surnames;
        v.given_names = r->given_names; v.n_given_names = r->n_given_names;
        v.surname_at_birth = r->surname_at_birth;
        v.aliases = r->aliases; v.n_aliases = r->n_aliases;
        v.dob = r->dob; v.sex = r->sex;
        v.nationalities = r->nationalities; v.n_nationalities = r->n_nationalities;
        v.place_of_birth = r->place_of_birth;
    }
    if (cats & ESP_C_DOCUMENTS) { v.documents = r->documents; v.n_documents = r->n_documents; }
    /* system-specific fields: only those whose category the profile may see; the
     * stored ext text is canonical (keys sorted), so the kept members stay sorted */
    iop_buf ext;
    iop_buf_init(&ext);
    int e = iop_buf_append(&ext, "{", 1);
    iop_json_parser *jp = iop_json_parser_new();
    const iop_json *root = NULL;
    const char *src = r->ext ? r->ext : "{}";
    if (!jp) e = -1;
    else if (iop_json_parse(jp, src, strlen(src), 0, &root, NULL) == IOP_OK && iop_json_is_object(root)) {
        bool first = true;
        for (const iop_json *m = iop_json_first(root); m && !e; m = iop_json_next(m)) {
            if (!(esp_category_bit(rec_ext_field_category(r->system, m->key)) & cats)) continue;
            if (!first) e |= iop_buf_append(&ext, ",", 1);
            first = false;
            e |= iop_json_write_str(&ext, m->key, m->key_len) | iop_buf_append(&ext, ":", 1) |
                 iop_json_write_canonical(&ext, m);
        }
    }
    iop_json_parser_free(jp);
    e |= iop_buf_append(&ext, "}", 1);
    v.ext = ext.data;
    iop_code rc = e ? IOP_ENOMEM : rec_to_json(&v, false, out);
    iop_buf_free(&ext);
    /* biometric data never leave the sBMS in a reply; the profile may learn which exist */
    if (!rc && (cats & ESP_C_BIOMETRICS) && (r->n_fingers || r->face) && out->len) {
        out->len--; /* reopen the object */
        e = iop_buf_puts(out, ",\"biometrics_held\":{\"fingerprints\":[");
        for (size_t i = 0; i < r->n_fingers; i++) e |= iop_buf_printf(out, "%s%d", i ? "," : "", r->fingers[i].position);
        e |= iop_buf_printf(out, "],\"face\":%s}}", r->face ? "true" : "false");
        if (e) rc = IOP_ENOMEM;
    }
    return rc;
}

/* The category of a member of a stored record's JSON (record.h), or 0 for the members
 * every reply carries (id, system, kind).  The common members are told apart by their
 * length first: this runs for every member of every hit. */
static unsigned member_category(iop_system s, const char *key, size_t len) {
#define M(name, cat) {name, sizeof name - 1, cat}
    static const struct { const char *name; size_t len; unsigned cat; } common[] = {
        M("id", 0), M("system", 0), M("kind", 0), M("surnames", ESP_C_IDENTITY), M("given_names", ESP_C_IDENTITY),
        M("surname_at_birth", ESP_C_IDENTITY), M("aliases", ESP_C_IDENTITY), M("dob", ESP_C_IDENTITY),
        M("sex", ESP_C_IDENTITY), M("nationalities", ESP_C_IDENTITY), M("place_of_birth", ESP_C_IDENTITY),
        M("documents", ESP_C_DOCUMENTS), M("biometrics", ESP_C_BIOMETRICS)};
#undef M
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        if (common[i].len == len && !memcmp(key, common[i].name, len)) return common[i].cat;
    unsigned bit = esp_category_bit(rec_ext_field_category(s, key));
    return bit ? bit : ~0u; /* unknown: never shown */
}

iop_code esp_filter_json(const esp_profile *p, iop_system s, const char *body, iop_buf *out, iop_err *err) {
    iop_json_parser *jp = iop_json_parser_new();
    if (!jp) return iop_fail(err, IOP_ENOMEM, "out of memory");
    const iop_json *root = NULL;
    if (iop_json_parse(jp, body, strlen(body), IOP_JSON_ALLOW_DUPLICATES, &root, NULL) || !iop_json_is_object(root)) {
        iop_json_parser_free(jp);
        return iop_fail(err, IOP_ECORRUPT, "stored %s record is not a JSON object", iop_system_name(s));
    }
    unsigned cats = esp_profile_categories(p, s);
    int e = iop_buf_append(out, "{", 1);
    bool first = true;
    for (const iop_json *m = iop_json_first(root); m && !e; m = iop_json_next(m)) {
        unsigned c = member_category(s, m->key, m->key_len);
        if (c && (c == ~0u || !(c & cats) || c == ESP_C_BIOMETRICS)) continue;
        if (!first) e |= iop_buf_append(out, ",", 1);
        first = false;
        e |= iop_json_write_str(out, m->key, m->key_len) | iop_buf_append(out, ":", 1) | iop_json_write(out, m);
    }
    e |= iop_buf_append(out, "}", 1);
    iop_json_parser_free(jp);
    return e ? iop_fail(err, IOP_ENOMEM, "out of memory") : IOP_OK;
}
