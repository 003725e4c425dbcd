/*
 * query.c -- parsing portal queries and filtering records to what a profile may see
 * (Reg. 2019/817 Art 8(1)(d), Art 9(4)).
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
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

static iop_code names(json_t *v, const char *field, char ***out, size_t *n, iop_err *err) {
    if (!json_is_array(v) || json_array_size(v) > 16)
        return iop_fail(err, IOP_EINVAL, "field '%s': expected an array of at most 16 strings", field);
    *n = 0;
    *out = calloc(json_array_size(v) + 1, sizeof **out);
    if (!*out) return iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > 256)
            return iop_fail(err, IOP_EINVAL, "field '%s[%zu]': expected a non-empty string of at most 256 bytes", field, i);
        if (!((*out)[(*n)++] = strdup(json_string_value(x)))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    return IOP_OK;
}

static iop_code country(json_t *v, const char *field, char **out, iop_err *err) {
    const char *s = json_string_value(v);
    if (!s || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' || s[2] > 'Z')
        return iop_fail(err, IOP_EINVAL, "field '%s': expected an ISO 3166-1 alpha-3 code such as \"UKR\"", field);
    return (*out = strdup(s)) ? IOP_OK : iop_fail(err, IOP_ENOMEM, "out of memory");
}

/* {"format": "...", "data": "base64"} into a blob; the sBMS validates the format. */
static iop_code blob(json_t *o, rec_blob *b, iop_err *err) {
    json_t *f = json_object_get(o, "format"), *d = json_object_get(o, "data");
    if (!json_is_object(o) || !json_is_string(f) || !json_is_string(d) || json_object_size(o) != 2 + (json_object_get(o, "position") != NULL))
        return iop_fail(err, IOP_EINVAL, "expected {\"format\": \"...\", \"data\": \"base64\"}");
    if (json_string_length(d) > 400000) return iop_fail(err, IOP_ELIMIT, "biometric data larger than 300 KB");
    if (!(b->format = strdup(json_string_value(f)))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    return iop_base64_decode(json_string_value(d), &b->data, &b->len, err);
}

static iop_code parse(json_t *root, esp_query *q, iop_err *err) {
    static const char *const keys[] = {"surnames", "given_names", "dob", "nationality", "sex", "document",
                                       "fingerprints", "face", "systems", "limit", NULL};
    if (!json_is_object(root)) return iop_fail(err, IOP_EINVAL, "a query must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        bool known = false;
        for (int i = 0; keys[i]; i++) known |= !strcmp(keys[i], k);
        if (!known) return iop_fail(err, IOP_EINVAL, "field '%s': unknown query field", k);
    }
    iop_code rc;
    if ((v = json_object_get(root, "surnames"))) {
        if ((rc = names(v, "surnames", &q->surnames, &q->n_surnames, err))) return rc;
        if (q->n_surnames) q->fields |= ESP_F_SURNAMES;
    }
    if ((v = json_object_get(root, "given_names"))) {
        if ((rc = names(v, "given_names", &q->given_names, &q->n_given_names, err))) return rc;
        if (q->n_given_names) q->fields |= ESP_F_GIVEN_NAMES;
    }
    if ((v = json_object_get(root, "dob"))) {
        if (!json_is_string(v)) return iop_fail(err, IOP_EINVAL, "field 'dob': expected a date string");
        if ((rc = iop_date_parse(json_string_value(v), &q->dob, err))) { iop_err_prefix(err, "field 'dob'"); return rc; }
        q->fields |= ESP_F_DOB;
    }
    if ((v = json_object_get(root, "nationality"))) {
        if ((rc = country(v, "nationality", &q->nationality, err))) return rc;
        q->fields |= ESP_F_NATIONALITY;
    }
    if ((v = json_object_get(root, "sex"))) {
        const char *s = json_string_value(v);
        if (!s || strlen(s) != 1 || !strchr("MFXU", s[0]))
            return iop_fail(err, IOP_EINVAL, "field 'sex': expected \"M\", \"F\", \"X\" or \"U\"");
        q->sex = s[0];
        q->fields |= ESP_F_SEX;
    }
    if ((v = json_object_get(root, "document"))) {
        json_t *num = json_object_get(v, "number"), *c = json_object_get(v, "country");
        if (!json_is_object(v) || !json_is_string(num) || json_string_length(num) == 0 || json_string_length(num) > 64 ||
            json_object_size(v) != (size_t)(1 + (c != NULL)))
            return iop_fail(err, IOP_EINVAL, "field 'document': expected {\"number\": \"...\", \"country\": \"XXX\"}");
        if (!(q->doc_number = strdup(json_string_value(num)))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        if (c && (rc = country(c, "document.country", &q->doc_country, err))) return rc;
        q->fields |= ESP_F_DOCUMENT;
    }
    if ((v = json_object_get(root, "fingerprints"))) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 10)
            return iop_fail(err, IOP_EINVAL, "field 'fingerprints': expected an array of 1..10 templates");
        if (!(q->fingers = calloc(json_array_size(v), sizeof *q->fingers))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            json_t *pos = json_object_get(x, "position");
            if (!json_is_object(x) || !json_is_integer(pos) || json_integer_value(pos) < 0 || json_integer_value(pos) > 10 ||
                (rc = blob(x, &q->fingers[i].tpl, err))) {
                if (!json_is_object(x) || !json_is_integer(pos) || json_integer_value(pos) < 0 || json_integer_value(pos) > 10)
                    rc = iop_fail(err, IOP_EINVAL, "expected {\"position\": 0..10, \"format\": .., \"data\": base64}");
                iop_err_prefix(err, "field 'fingerprints[%zu]'", i);
                return rc;
            }
            q->fingers[i].position = (int)json_integer_value(pos);
            q->n_fingers++;
        }
        q->fields |= ESP_F_FINGERPRINTS;
    }
    if ((v = json_object_get(root, "face"))) {
        if (!(q->face = calloc(1, sizeof *q->face))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        if ((rc = blob(v, q->face, err))) { iop_err_prefix(err, "field 'face'"); return rc; }
        q->fields |= ESP_F_FACE;
    }
    if ((v = json_object_get(root, "systems"))) {
        if (!json_is_array(v)) return iop_fail(err, IOP_EINVAL, "field 'systems': expected an array of system names");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            iop_system s;
            if (!json_is_string(x) || iop_system_parse(json_string_value(x), &s, err)) {
                iop_err_prefix(err, "field 'systems[%zu]'", i);
                return IOP_EINVAL;
            }
            bool dup = false;
            for (size_t j = 0; j < q->n_systems; j++) dup |= q->systems[j] == s;
            if (!dup) q->systems[q->n_systems++] = s;
        }
    }
    q->limit = 10;
    if ((v = json_object_get(root, "limit"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100)
            return iop_fail(err, IOP_EINVAL, "field 'limit': expected an integer 1..100");
        q->limit = (size_t)json_integer_value(v);
    }
    if (!q->n_surnames && !q->n_given_names && !q->doc_number && !q->n_fingers && !q->face)
        return iop_fail(err, IOP_EINVAL, "a query needs names, a travel document number or biometric data");
    return IOP_OK;
}

iop_code esp_query_parse(const char *json, size_t len, esp_query *q, iop_err *err) {
    json_error_t je;
    memset(q, 0, sizeof *q);
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return iop_fail(err, IOP_EINVAL, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
    iop_code rc = parse(root, q, err);
    json_decref(root);
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
    /* system-specific fields: only those whose category the profile may see */
    json_t *ext = json_loads(r->ext ? r->ext : "{}", 0, NULL), *kept = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(ext, k, x) {
        if (esp_category_bit(rec_ext_field_category(r->system, k)) & cats) json_object_set(kept, k, x);
    }
    v.ext = json_dumps(kept, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ext);
    json_decref(kept);
    iop_code rc = v.ext ? rec_to_json(&v, false, out) : IOP_ENOMEM;
    free(v.ext);
    /* biometric data never leave the sBMS in a reply; the profile may learn which exist */
    if (!rc && (cats & ESP_C_BIOMETRICS) && (r->n_fingers || r->face) && out->len) {
        out->len--; /* reopen the object */
        int e = iop_buf_puts(out, ",\"biometrics_held\":{\"fingerprints\":[");
        for (size_t i = 0; i < r->n_fingers; i++) e |= iop_buf_printf(out, "%s%d", i ? "," : "", r->fingers[i].position);
        e |= iop_buf_printf(out, "],\"face\":%s}}", r->face ? "true" : "false");
        if (e) rc = IOP_ENOMEM;
    }
    return rc;
}

/* The category of a member of a stored record's JSON (record.h), or 0 for the members
 * every reply carries (id, system, kind). */
static unsigned member_category(iop_system s, const char *key) {
    static const char *const identity[] = {"surnames", "given_names", "surname_at_birth", "aliases", "dob", "sex",
                                           "nationalities", "place_of_birth", NULL};
    if (!strcmp(key, "id") || !strcmp(key, "system") || !strcmp(key, "kind")) return 0;
    for (int i = 0; identity[i]; i++)
        if (!strcmp(key, identity[i])) return ESP_C_IDENTITY;
    if (!strcmp(key, "documents")) return ESP_C_DOCUMENTS;
    if (!strcmp(key, "biometrics")) return ESP_C_BIOMETRICS;
    unsigned bit = esp_category_bit(rec_ext_field_category(s, key));
    return bit ? bit : ~0u; /* unknown: never shown */
}

iop_code esp_filter_json(const esp_profile *p, iop_system s, const char *body, iop_buf *out, iop_err *err) {
    json_t *j = json_loads(body, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return iop_fail(err, IOP_ECORRUPT, "stored %s record is not a JSON object", iop_system_name(s));
    }
    unsigned cats = esp_profile_categories(p, s);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(j, tmp, k, v) {
        unsigned c = member_category(s, k);
        if (c && (c == ~0u || !(c & cats) || c == ESP_C_BIOMETRICS)) json_object_del(j, k);
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text || iop_buf_puts(out, text)) { free(text); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    free(text);
    return IOP_OK;
}
