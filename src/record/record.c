/*
 * record.c -- parsing and writing person records in the interchange format
 * (docs/interchange-format.md).  Parsing is strict: every member must be known for
 * the record's system and kind, every value must have its documented type and range;
 * the error names the field (with its index inside arrays) and what is wrong.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/json.h"
#include "interop/record.h"
#include "record/schema.h"

#define MAX_STR 512         /* bytes in one name, number or free-text value */
#define MAX_LIST 32         /* entries in a list of names, nationalities or documents */
#define MAX_FINGERS 20      /* SIS may hold 10 flat + 10 rolled impressions */
#define MAX_TEMPLATE (256 * 1024)
#define MAX_FACE (64 * 1024)

static const char *const doc_types[] = {"passport", "id_card", "residence_permit", "visa", "other", NULL};
static const char *const fp_formats[] = {"iso19794-2-2005", "ansi378-2004", "ansi378-2009", "ansi-nist-itl", NULL};

static bool in_list(const char *const *list, const char *s) {
    for (; *list; list++)
        if (**list == *s && !strcmp(*list, s)) return true;
    return false;
}

static iop_code list_error(iop_err *err, const char *field, const char *value, const char *const *list) {
    char allowed[256] = "";
    size_t n = 0;
    for (; *list && n + 40 < sizeof allowed; list++)
        n += (size_t)snprintf(allowed + n, sizeof allowed - n, "%s%s", n ? ", " : "", *list);
    return iop_fail(err, IOP_EINVAL, "field '%s': '%s' is not one of: %s", field, value, allowed);
}

static iop_code get_string(const iop_json *v, const char *field, bool allow_empty, const char **out, iop_err *err) {
    if (!iop_json_is_string(v)) return iop_fail(err, IOP_EINVAL, "field '%s': expected a string", field);
    const char *s = v->v.s;
    size_t n = v->len;
    if (v->has_ctrl && memchr(s, 0, n)) return iop_fail(err, IOP_EINVAL, "field '%s': contains a NUL character", field);
    if (n > MAX_STR) return iop_fail(err, IOP_EINVAL, "field '%s': longer than %d bytes", field, MAX_STR);
    if (!allow_empty && n == 0) return iop_fail(err, IOP_EINVAL, "field '%s': must not be empty", field);
    if (v->has_ctrl) /* the parser saw an escaped control character */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20)
                return iop_fail(err, IOP_EINVAL, "field '%s': contains a control character at byte %zu", field, i);
    *out = s;
    return IOP_OK;
}

static bool is_country(const char *s) {
    return strlen(s) == 3 && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1]) &&
           isupper((unsigned char)s[2]);
}

static iop_code dup_string(const iop_json *v, const char *field, char **out, iop_err *err) {
    const char *s = NULL;
    iop_code rc = get_string(v, field, false, &s, err);
    if (rc) return rc;
    if (!(*out = malloc(v->len + 1))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    memcpy(*out, s, v->len + 1);
    return IOP_OK;
}

static iop_code string_list(const iop_json *v, const char *field, bool countries, char ***out, size_t *n, iop_err *err) {
    if (!iop_json_is_array(v)) return iop_fail(err, IOP_EINVAL, "field '%s': expected an array of strings", field);
    size_t len = v->len;
    if (len > MAX_LIST) return iop_fail(err, IOP_EINVAL, "field '%s': more than %d entries", field, MAX_LIST);
    char **list = calloc(len ? len : 1, sizeof *list);
    if (!list) return iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t i = 0;
    for (const iop_json *x = iop_json_first(v); x; x = iop_json_next(x), i++) {
        char name[96];
        /* the indexed name is written only when an error needs it */
        iop_code rc = dup_string(x, field, &list[i], NULL);
        if (rc == IOP_EINVAL) {
            snprintf(name, sizeof name, "%s[%zu]", field, i);
            rc = dup_string(x, name, &list[i], err);
        } else if (rc) rc = iop_fail(err, rc, "out of memory");
        if (!rc && countries && !is_country(list[i])) {
            snprintf(name, sizeof name, "%s[%zu]", field, i);
            rc = iop_fail(err, IOP_EINVAL, "field '%s': '%s' is not an ISO 3166-1 alpha-3 code", name, list[i]);
        }
        if (rc) {
            for (size_t j = 0; j <= i; j++) free(list[j]);
            free(list);
            return rc;
        }
    }
    *out = list;
    *n = len;
    return IOP_OK;
}

static iop_code parse_date(const iop_json *v, const char *field, iop_date *out, iop_err *err) {
    const char *s = NULL;
    iop_code rc = get_string(v, field, false, &s, err);
    if (rc) return rc;
    if ((rc = iop_date_parse(s, out, err))) iop_err_prefix(err, "field '%s'", field);
    return rc;
}

static iop_code check_keys(const iop_json *obj, const char *where, const char *const *known, iop_err *err) {
    for (const iop_json *m = iop_json_first(obj); m; m = iop_json_next(m))
        if (!in_list(known, m->key)) return iop_fail(err, IOP_EINVAL, "field '%s.%s': unknown field", where, m->key);
    return IOP_OK;
}

/* The loops below name a field ("documents[2].number") only when an error needs the
 * name: a step runs first without an error report and, when it fails, again with the
 * name written out.  Steps that fail leave nothing allocated, or what they leave is
 * released with the record. */

static iop_code parse_documents(const iop_json *v, rec_person *p, iop_err *err) {
    static const char *const keys[] = {"type", "number", "country", "expiry", NULL};
    if (!iop_json_is_array(v)) return iop_fail(err, IOP_EINVAL, "field 'documents': expected an array of objects");
    size_t len = v->len;
    if (len > MAX_LIST) return iop_fail(err, IOP_EINVAL, "field 'documents': more than %d entries", MAX_LIST);
    p->documents = calloc(len ? len : 1, sizeof *p->documents);
    if (!p->documents) return iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t i = 0;
    for (const iop_json *d = iop_json_first(v); d; d = iop_json_next(d), i++) {
        char f[96];
        iop_code rc;
        if (!iop_json_is_object(d)) return iop_fail(err, IOP_EINVAL, "field 'documents[%zu]': expected an object", i);
        if (check_keys(d, "", keys, NULL)) {
            snprintf(f, sizeof f, "documents[%zu]", i);
            return check_keys(d, f, keys, err);
        }
        rec_document *doc = &p->documents[i];
        p->n_documents = i + 1;
        const iop_json *x;
        if (!(x = iop_json_get(d, "number")))
            return iop_fail(err, IOP_EINVAL, "field 'documents[%zu].number': required", i);
        if ((rc = dup_string(x, "", &doc->number, NULL))) {
            snprintf(f, sizeof f, "documents[%zu].number", i);
            return rc == IOP_ENOMEM ? iop_fail(err, rc, "out of memory") : dup_string(x, f, &doc->number, err);
        }
        if ((x = iop_json_get(d, "type"))) {
            if ((rc = dup_string(x, "", &doc->type, NULL)) || !in_list(doc_types, doc->type)) {
                snprintf(f, sizeof f, "documents[%zu].type", i);
                if (rc) return rc == IOP_ENOMEM ? iop_fail(err, rc, "out of memory") : dup_string(x, f, &doc->type, err);
                return list_error(err, f, doc->type, doc_types);
            }
        }
        if ((x = iop_json_get(d, "country"))) {
            if ((rc = dup_string(x, "", &doc->country, NULL)) || !is_country(doc->country)) {
                snprintf(f, sizeof f, "documents[%zu].country", i);
                if (rc) return rc == IOP_ENOMEM ? iop_fail(err, rc, "out of memory") : dup_string(x, f, &doc->country, err);
                return iop_fail(err, IOP_EINVAL, "field '%s': '%s' is not an ISO 3166-1 alpha-3 code", f, doc->country);
            }
        }
        if ((x = iop_json_get(d, "expiry"))) {
            if (parse_date(x, "", &doc->expiry, NULL)) {
                snprintf(f, sizeof f, "documents[%zu].expiry", i);
                return parse_date(x, f, &doc->expiry, err);
            }
        }
    }
    return IOP_OK;
}

static iop_code parse_blob(const iop_json *o, const char *where, const char *const *formats, size_t max, rec_blob *b,
                           iop_err *err) {
    char f[96];
    const iop_json *x;
    iop_code rc;
    if (!(x = iop_json_get(o, "format"))) return iop_fail(err, IOP_EINVAL, "field '%s.format': required", where);
    if ((rc = dup_string(x, "", &b->format, NULL)) || !in_list(formats, b->format)) {
        snprintf(f, sizeof f, "%s.format", where);
        if (rc) return rc == IOP_ENOMEM ? iop_fail(err, rc, "out of memory") : dup_string(x, f, &b->format, err);
        return list_error(err, f, b->format, formats);
    }
    if (!(x = iop_json_get(o, "data"))) return iop_fail(err, IOP_EINVAL, "field '%s.data': required", where);
    if (!iop_json_is_string(x) || x->len == 0)
        return iop_fail(err, IOP_EINVAL, "field '%s.data': expected a non-empty base64 string", where);
    if (x->len / 4 * 3 > max) return iop_fail(err, IOP_ELIMIT, "field '%s.data': larger than %zu bytes", where, max);
    if ((rc = iop_json_base64_decode(x->v.s, x->len, &b->data, &b->len, err))) iop_err_prefix(err, "field '%s.data'", where);
    return rc;
}

static iop_code parse_biometrics(const iop_json *v, rec_person *p, iop_err *err) {
    static const char *const keys[] = {"fingerprints", "face", NULL};
    static const char *const fkeys[] = {"position", "format", "data", NULL};
    static const char *const face_keys[] = {"format", "data", NULL};
    static const char *const face_formats[] = {"f32", NULL};
    if (!iop_json_is_object(v)) return iop_fail(err, IOP_EINVAL, "field 'biometrics': expected an object");
    iop_code rc = check_keys(v, "biometrics", keys, err);
    if (rc) return rc;
    const iop_json *fps = iop_json_get(v, "fingerprints");
    if (fps) {
        if (!iop_json_is_array(fps)) return iop_fail(err, IOP_EINVAL, "field 'biometrics.fingerprints': expected an array");
        size_t len = fps->len;
        if (len > MAX_FINGERS)
            return iop_fail(err, IOP_EINVAL, "field 'biometrics.fingerprints': more than %d entries", MAX_FINGERS);
        p->fingers = calloc(len ? len : 1, sizeof *p->fingers);
        if (!p->fingers) return iop_fail(err, IOP_ENOMEM, "out of memory");
        size_t i = 0;
        for (const iop_json *o = iop_json_first(fps); o; o = iop_json_next(o), i++) {
            char where[64];
            bool named = false;
#define WHERE() (named ? where : (named = true, snprintf(where, sizeof where, "biometrics.fingerprints[%zu]", i), where))
            if (!iop_json_is_object(o)) return iop_fail(err, IOP_EINVAL, "field '%s': expected an object", WHERE());
            if (check_keys(o, "", fkeys, NULL)) return check_keys(o, WHERE(), fkeys, err);
            p->n_fingers = i + 1;
            const iop_json *pos = iop_json_get(o, "position");
            if (!iop_json_is(pos, IOP_JSON_INT) || pos->v.i < 0 || pos->v.i > 10)
                return iop_fail(err, IOP_EINVAL, "field '%s.position': expected an integer 0..10", WHERE());
            p->fingers[i].position = (int)pos->v.i;
            rec_blob *b = &p->fingers[i].tpl;
            if ((rc = parse_blob(o, "", fp_formats, MAX_TEMPLATE, b, NULL))) {
                free(b->format);
                free(b->data);
                memset(b, 0, sizeof *b);
                iop_code again = parse_blob(o, WHERE(), fp_formats, MAX_TEMPLATE, b, err);
                return again ? again : iop_fail(err, rc, "out of memory");
            }
#undef WHERE
        }
    }
    const iop_json *face = iop_json_get(v, "face");
    if (face) {
        if (!iop_json_is_object(face)) return iop_fail(err, IOP_EINVAL, "field 'biometrics.face': expected an object");
        if ((rc = check_keys(face, "biometrics.face", face_keys, err))) return rc;
        if (!(p->face = calloc(1, sizeof *p->face))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        if ((rc = parse_blob(face, "biometrics.face", face_formats, MAX_FACE, p->face, err))) return rc;
        if (p->face->len % 4 || p->face->len / 4 < 16 || p->face->len / 4 > 4096)
            return iop_fail(err, IOP_EINVAL, "field 'biometrics.face.data': %zu bytes is not a float32 vector of 16..4096 dimensions",
                            p->face->len);
    }
    return IOP_OK;
}

/* Validates one system-specific value against its schema entry. */
static iop_code check_ext(const rec_field *f, const iop_json *v, const char *where, iop_err *err) {
    const char *s = NULL;
    iop_date d;
    iop_code rc;
    switch (f->type) {
    case RF_STRING: return get_string(v, where, false, &s, err);
    case RF_DATE: return parse_date(v, where, &d, err);
    case RF_BOOL:
        return iop_json_is_bool(v) ? IOP_OK : iop_fail(err, IOP_EINVAL, "field '%s': expected true or false", where);
    case RF_ENUM:
        if ((rc = get_string(v, where, false, &s, err))) return rc;
        return in_list(f->values, s) ? IOP_OK : list_error(err, where, s, f->values);
    case RF_COUNTRY:
        if ((rc = get_string(v, where, false, &s, err))) return rc;
        return is_country(s) ? IOP_OK
                             : iop_fail(err, IOP_EINVAL, "field '%s': '%s' is not an ISO 3166-1 alpha-3 code", where, s);
    case RF_STRINGS: {
        if (!iop_json_is_array(v)) return iop_fail(err, IOP_EINVAL, "field '%s': expected an array of strings", where);
        if (v->len > MAX_LIST) return iop_fail(err, IOP_EINVAL, "field '%s': more than %d entries", where, MAX_LIST);
        size_t i = 0;
        for (const iop_json *x = iop_json_first(v); x; x = iop_json_next(x), i++) {
            if (get_string(x, "", false, &s, NULL) == IOP_OK) continue;
            char w[128];
            snprintf(w, sizeof w, "%s[%zu]", where, i);
            return get_string(x, w, false, &s, err);
        }
        return IOP_OK;
    }
    case RF_OBJECTS: {
        if (!iop_json_is_array(v)) return iop_fail(err, IOP_EINVAL, "field '%s': expected an array of objects", where);
        if (v->len > 4096) return iop_fail(err, IOP_EINVAL, "field '%s': more than 4096 entries", where);
        size_t i = 0;
        for (const iop_json *o = iop_json_first(v); o; o = iop_json_next(o), i++) {
            char w[128];
            /* the indexed names are written only when an error needs them */
            if (!iop_json_is_object(o)) {
                snprintf(w, sizeof w, "%s[%zu]", where, i);
                return iop_fail(err, IOP_EINVAL, "field '%s': expected an object", w);
            }
            for (const iop_json *x = iop_json_first(o); x; x = iop_json_next(x)) {
                const rec_field *sf = rec_field_find(f->sub, x->key);
                char w2[192];
                if (!sf) {
                    snprintf(w2, sizeof w2, "%s[%zu].%s", where, i, x->key);
                    return iop_fail(err, IOP_EINVAL, "field '%s': unknown field", w2);
                }
                if (check_ext(sf, x, where, NULL)) {
                    snprintf(w2, sizeof w2, "%s[%zu].%s", where, i, x->key);
                    return check_ext(sf, x, w2, err);
                }
            }
            for (const rec_field *sf = f->sub; sf->name; sf++)
                if (sf->required && !iop_json_get(o, sf->name)) {
                    snprintf(w, sizeof w, "%s[%zu]", where, i);
                    return iop_fail(err, IOP_EINVAL, "field '%s.%s': required", w, sf->name);
                }
        }
        return IOP_OK;
    }
    }
    return iop_fail(err, IOP_EINTERNAL, "field '%s': unknown schema type", where);
}

/* The common members, in the order of the slots below. */
enum { K_ID, K_SYSTEM, K_KIND, K_SURNAMES, K_GIVEN_NAMES, K_SURNAME_AT_BIRTH, K_ALIASES, K_DOB, K_SEX,
       K_NATIONALITIES, K_PLACE_OF_BIRTH, K_DOCUMENTS, K_BIOMETRICS, K_COUNT };
static const char *const common_keys[] = {"id", "system", "kind", "surnames", "given_names", "surname_at_birth",
                                          "aliases", "dob", "sex", "nationalities", "place_of_birth", "documents",
                                          "biometrics", NULL};

static int common_slot(const iop_json *m) {
    int k;
    switch (m->key_len) { /* the one or two common keys of this length */
    case 2: k = K_ID; break;
    case 3: k = m->key[0] == 'd' ? K_DOB : K_SEX; break;
    case 4: k = K_KIND; break;
    case 6: k = K_SYSTEM; break;
    case 7: k = K_ALIASES; break;
    case 8: k = K_SURNAMES; break;
    case 9: k = K_DOCUMENTS; break;
    case 10: k = K_BIOMETRICS; break;
    case 11: k = K_GIVEN_NAMES; break;
    case 13: k = K_NATIONALITIES; break;
    case 14: k = K_PLACE_OF_BIRTH; break;
    case 16: k = K_SURNAME_AT_BIRTH; break;
    default: return -1;
    }
    return memcmp(m->key, common_keys[k], m->key_len) ? -1 : k;
}

static bool is_null(const iop_json *v) { return v->type == IOP_JSON_NULL; }

static int cmp_key(const void *a, const void *b) {
    const iop_json *x = *(const iop_json *const *)a, *y = *(const iop_json *const *)b;
    return strcmp(x->key, y->key);
}

/* The system-specific members as canonical JSON: compact, keys sorted at every depth
 * (the bytes jansson's JSON_COMPACT | JSON_SORT_KEYS wrote, which stored records keep). */
static char *ext_canonical(const iop_json **m, size_t n) {
    qsort(m, n, sizeof *m, cmp_key);
    iop_buf b;
    iop_buf_init(&b);
    int r = iop_buf_append(&b, "{", 1);
    for (size_t i = 0; i < n && !r; i++) {
        if (i) r |= iop_buf_append(&b, ",", 1);
        r |= iop_json_write_str(&b, m[i]->key, m[i]->key_len) | iop_buf_append(&b, ":", 1) |
             iop_json_write_canonical(&b, m[i]);
    }
    r |= iop_buf_append(&b, "}", 1);
    if (r) { iop_buf_free(&b); return NULL; }
    return iop_buf_steal(&b);
}

static iop_code parse_object(const iop_json *root, rec_person *p, iop_err *err) {
    iop_code rc;
    if (!iop_json_is_object(root)) return iop_fail(err, IOP_EINVAL, "a record must be a JSON object");
    const iop_json *slot[K_COUNT] = {0};
    const iop_json *ext_stack[32], **ext = ext_stack;
    size_t n_ext = 0;
    if (root->len > 32 && !(ext = malloc(root->len * sizeof *ext))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    for (const iop_json *m = iop_json_first(root); m; m = iop_json_next(m)) {
        int k = common_slot(m);
        if (k >= 0) slot[k] = m;
        else ext[n_ext++] = m;
    }
    const iop_json *v;
    if (!(v = slot[K_ID])) { rc = iop_fail(err, IOP_EINVAL, "field 'id': required"); goto out; }
    if ((rc = dup_string(v, "id", &p->id, err))) goto out;
    if (v->len > 128) { rc = iop_fail(err, IOP_EINVAL, "field 'id': longer than 128 bytes"); goto out; }
    const char *s = NULL;
    if (!(v = slot[K_SYSTEM])) { rc = iop_fail(err, IOP_EINVAL, "field 'system': required"); goto out; }
    if ((rc = get_string(v, "system", false, &s, err))) goto out;
    if ((rc = iop_system_parse(s, &p->system, err))) {
        iop_err_prefix(err, "field 'system'");
        rc = IOP_EINVAL;
        goto out;
    }
    if (!(v = slot[K_KIND])) { rc = iop_fail(err, IOP_EINVAL, "field 'kind': required"); goto out; }
    if ((rc = dup_string(v, "kind", &p->kind, err))) goto out;
    if (!in_list(rec_system_kinds(p->system), p->kind)) {
        rc = list_error(err, "kind", p->kind, rec_system_kinds(p->system));
        goto out;
    }

    const rec_field *fields = rec_system_fields(p->system);
    for (size_t i = 0; i < n_ext; i++) {
        const rec_field *f = rec_field_find(fields, ext[i]->key);
        if (!f) {
            rc = iop_fail(err, IOP_EINVAL, "field '%s': unknown field for a %s %s record", ext[i]->key,
                          iop_system_name(p->system), p->kind);
            goto out;
        }
        if ((rc = check_ext(f, ext[i], ext[i]->key, err))) goto out;
    }
    for (const rec_field *f = fields; f->name; f++) {
        if (!f->required) continue;
        bool have = false;
        for (size_t i = 0; i < n_ext && !have; i++) have = !strcmp(ext[i]->key, f->name);
        if (!have) {
            rc = iop_fail(err, IOP_EINVAL, "field '%s': required for a %s %s record", f->name,
                          iop_system_name(p->system), p->kind);
            goto out;
        }
    }
    if (!(p->ext = ext_canonical(ext, n_ext))) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }

    if ((v = slot[K_SURNAMES]) && (rc = string_list(v, "surnames", false, &p->surnames, &p->n_surnames, err))) goto out;
    if ((v = slot[K_GIVEN_NAMES]) &&
        (rc = string_list(v, "given_names", false, &p->given_names, &p->n_given_names, err)))
        goto out;
    if ((v = slot[K_ALIASES]) && (rc = string_list(v, "aliases", false, &p->aliases, &p->n_aliases, err))) goto out;
    if ((v = slot[K_NATIONALITIES]) &&
        (rc = string_list(v, "nationalities", true, &p->nationalities, &p->n_nationalities, err)))
        goto out;
    if ((v = slot[K_SURNAME_AT_BIRTH]) && !is_null(v) &&
        (rc = dup_string(v, "surname_at_birth", &p->surname_at_birth, err)))
        goto out;
    if ((v = slot[K_PLACE_OF_BIRTH]) && !is_null(v) && (rc = dup_string(v, "place_of_birth", &p->place_of_birth, err)))
        goto out;
    if ((v = slot[K_DOB]) && !is_null(v) && (rc = parse_date(v, "dob", &p->dob, err))) goto out;
    p->sex = 'U';
    if ((v = slot[K_SEX]) && !is_null(v)) {
        if ((rc = get_string(v, "sex", false, &s, err))) goto out;
        if (strlen(s) != 1 || !strchr("MFXU", s[0])) {
            rc = iop_fail(err, IOP_EINVAL, "field 'sex': '%s' is not one of: M, F, X, U", s);
            goto out;
        }
        p->sex = s[0];
    }
    if ((v = slot[K_DOCUMENTS]) && (rc = parse_documents(v, p, err))) goto out;
    if ((v = slot[K_BIOMETRICS]) && (rc = parse_biometrics(v, p, err))) goto out;
    if (!rec_kind_is_document_only(p->system, p->kind) && p->n_surnames == 0 && p->n_given_names == 0) {
        rc = iop_fail(err, IOP_EINVAL, "fields 'surnames'/'given_names': a person record needs at least one name");
        goto out;
    }
    if (rec_kind_is_document_only(p->system, p->kind) && p->n_documents == 0) {
        rc = iop_fail(err, IOP_EINVAL, "field 'documents': a %s %s record needs at least one document",
                      iop_system_name(p->system), p->kind);
        goto out;
    }
out:
    if (ext != ext_stack) free(ext);
    return rc;
}

iop_code rec_parse(const char *json, size_t len, rec_person *out, iop_err *err) {
    iop_json_parser *jp = iop_json_parser_new();
    if (!jp) return iop_fail(err, IOP_ENOMEM, "out of memory");
    const iop_json *root;
    iop_code rc = iop_json_parse(jp, json, len, 0, &root, err);
    if (rc) { iop_json_parser_free(jp); return rc; }
    rec_person p;
    memset(&p, 0, sizeof p);
    rc = parse_object(root, &p, err);
    iop_json_parser_free(jp);
    if (rc) { rec_person_clear(&p); return rc; }
    *out = p;
    return IOP_OK;
}

static void free_list(char **l, size_t n) {
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
}

void rec_person_clear(rec_person *p) {
    free(p->id); free(p->kind);
    free_list(p->surnames, p->n_surnames);
    free_list(p->given_names, p->n_given_names);
    free_list(p->aliases, p->n_aliases);
    free_list(p->nationalities, p->n_nationalities);
    free(p->surname_at_birth); free(p->place_of_birth);
    for (size_t i = 0; i < p->n_documents; i++) {
        free(p->documents[i].type); free(p->documents[i].number); free(p->documents[i].country);
    }
    free(p->documents);
    for (size_t i = 0; i < p->n_fingers; i++) { free(p->fingers[i].tpl.format); free(p->fingers[i].tpl.data); }
    free(p->fingers);
    if (p->face) { free(p->face->format); free(p->face->data); free(p->face); }
    free(p->ext);
    memset(p, 0, sizeof *p);
}

/* ---- writing ---- */

/* ,"key": -- keys are the format's own member names (nothing to escape) */
static int put_key(iop_buf *b, const char *key) {
    size_t n = strlen(key);
    if (iop_buf_reserve(b, n + 4)) return -1;
    char *d = b->data + b->len;
    d[0] = ',';
    d[1] = '"';
    memcpy(d + 2, key, n);
    d[n + 2] = '"';
    d[n + 3] = ':';
    d[n + 4] = 0;
    b->len += n + 4;
    return 0;
}

static int put_list(iop_buf *b, const char *key, char **l, size_t n) {
    if (!n) return 0;
    int r = put_key(b, key) | iop_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) r |= iop_buf_puts(b, ",");
        r |= iop_buf_json_str(b, l[i]);
    }
    return r | iop_buf_puts(b, "]");
}

static int put_str(iop_buf *b, const char *key, const char *v) {
    if (!v) return 0;
    return put_key(b, key) | iop_buf_json_str(b, v);
}

static int put_blob(iop_buf *b, const rec_blob *x) {
    char *enc = iop_base64_encode(x->data, x->len);
    if (!enc) return -1;
    int r = iop_buf_puts(b, "\"format\":") | iop_buf_json_str(b, x->format) | iop_buf_puts(b, ",\"data\":\"") |
            iop_buf_puts(b, enc) | iop_buf_puts(b, "\"");
    free(enc);
    return r;
}

iop_code rec_to_json(const rec_person *p, bool with_biometrics, iop_buf *b) {
    int r = iop_buf_puts(b, "{\"id\":") | iop_buf_json_str(b, p->id) |
            put_key(b, "system") | iop_buf_append(b, "\"", 1) | iop_buf_puts(b, iop_system_name(p->system)) |
            iop_buf_append(b, "\"", 1) | put_str(b, "kind", p->kind);
    r |= put_list(b, "surnames", p->surnames, p->n_surnames);
    r |= put_list(b, "given_names", p->given_names, p->n_given_names);
    r |= put_str(b, "surname_at_birth", p->surname_at_birth);
    r |= put_list(b, "aliases", p->aliases, p->n_aliases);
    if (p->dob.year) {
        char d[16];
        iop_date_format(p->dob, d);
        r |= put_str(b, "dob", d);
    }
    if (p->sex && p->sex != 'U') {
        char sx[2] = {p->sex, 0};
        r |= put_str(b, "sex", sx);
    }
    r |= put_list(b, "nationalities", p->nationalities, p->n_nationalities);
    r |= put_str(b, "place_of_birth", p->place_of_birth);
    if (p->n_documents) {
        r |= iop_buf_puts(b, ",\"documents\":[");
        for (size_t i = 0; i < p->n_documents; i++) {
            const rec_document *d = &p->documents[i];
            r |= iop_buf_puts(b, i ? ",{\"number\":" : "{\"number\":") | iop_buf_json_str(b, d->number);
            r |= put_str(b, "type", d->type) | put_str(b, "country", d->country);
            if (d->expiry.year) {
                char ds[16];
                iop_date_format(d->expiry, ds);
                r |= put_str(b, "expiry", ds);
            }
            r |= iop_buf_puts(b, "}");
        }
        r |= iop_buf_puts(b, "]");
    }
    if (with_biometrics && (p->n_fingers || p->face)) {
        r |= iop_buf_puts(b, ",\"biometrics\":{");
        if (p->n_fingers) {
            r |= iop_buf_puts(b, "\"fingerprints\":[");
            for (size_t i = 0; i < p->n_fingers; i++) {
                r |= iop_buf_printf(b, "%s{\"position\":%d,", i ? "," : "", p->fingers[i].position);
                r |= put_blob(b, &p->fingers[i].tpl) | iop_buf_puts(b, "}");
            }
            r |= iop_buf_puts(b, "]");
        }
        if (p->face) r |= iop_buf_puts(b, p->n_fingers ? ",\"face\":{" : "\"face\":{") | put_blob(b, p->face) | iop_buf_puts(b, "}");
        r |= iop_buf_puts(b, "}");
    }
    /* system-specific fields: the canonical ext object's members, appended */
    if (p->ext && strlen(p->ext) > 2) {
        size_t n = strlen(p->ext);
        r |= iop_buf_puts(b, ",") | iop_buf_append(b, p->ext + 1, n - 2);
    }
    r |= iop_buf_puts(b, "}");
    return r ? IOP_ENOMEM : IOP_OK;
}

static char **copy_list(char **l, size_t n, int *bad) {
    if (!n) return NULL;
    char **c = calloc(n, sizeof *c);
    if (!c) { *bad = 1; return NULL; }
    for (size_t i = 0; i < n; i++) if (!(c[i] = strdup(l[i]))) *bad = 1;
    return c;
}

static void copy_blob(const rec_blob *s, rec_blob *d, int *bad) {
    d->format = iop_strdup(s->format);
    d->len = s->len;
    d->data = malloc(s->len ? s->len : 1);
    if (!d->data || !d->format) { *bad = 1; return; }
    memcpy(d->data, s->data, s->len);
}

iop_code rec_person_copy(const rec_person *s, rec_person *d) {
    int bad = 0;
    memset(d, 0, sizeof *d);
    d->id = iop_strdup(s->id); d->system = s->system; d->kind = iop_strdup(s->kind);
    d->surnames = copy_list(s->surnames, s->n_surnames, &bad); d->n_surnames = s->n_surnames;
    d->given_names = copy_list(s->given_names, s->n_given_names, &bad); d->n_given_names = s->n_given_names;
    d->aliases = copy_list(s->aliases, s->n_aliases, &bad); d->n_aliases = s->n_aliases;
    d->nationalities = copy_list(s->nationalities, s->n_nationalities, &bad); d->n_nationalities = s->n_nationalities;
    d->surname_at_birth = iop_strdup(s->surname_at_birth);
    d->place_of_birth = iop_strdup(s->place_of_birth);
    d->dob = s->dob; d->sex = s->sex;
    d->ext = iop_strdup(s->ext ? s->ext : "{}");
    if (s->n_documents) {
        d->documents = calloc(s->n_documents, sizeof *d->documents);
        if (!d->documents) bad = 1;
        else {
            d->n_documents = s->n_documents;
            for (size_t i = 0; i < s->n_documents; i++) {
                d->documents[i].type = iop_strdup(s->documents[i].type);
                d->documents[i].number = iop_strdup(s->documents[i].number);
                d->documents[i].country = iop_strdup(s->documents[i].country);
                d->documents[i].expiry = s->documents[i].expiry;
            }
        }
    }
    if (s->n_fingers) {
        d->fingers = calloc(s->n_fingers, sizeof *d->fingers);
        if (!d->fingers) bad = 1;
        else {
            d->n_fingers = s->n_fingers;
            for (size_t i = 0; i < s->n_fingers; i++) {
                d->fingers[i].position = s->fingers[i].position;
                copy_blob(&s->fingers[i].tpl, &d->fingers[i].tpl, &bad);
            }
        }
    }
    if (s->face) {
        if (!(d->face = calloc(1, sizeof *d->face))) bad = 1;
        else copy_blob(s->face, d->face, &bad);
    }
    if (bad) { rec_person_clear(d); return IOP_ENOMEM; }
    return IOP_OK;
}
