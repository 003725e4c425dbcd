/*
 * profiles.c -- the portal's user profiles (Reg. 2019/817 and 2019/818 Art 8): per
 * profile, (a) the data fields usable for querying, (b) which systems are to be
 * queried ("always") or can be queried ("optional"), (c)-(d) the categories of data
 * each system's reply may show, and which record kinds (SIS alert categories) a
 * profile may see at all.  "write" marks the systems whose own users the profile
 * stands for (they create, update and delete records there).
 *
 * Validation is strict: unknown members, systems, fields or categories are errors that
 * name the file, the position and the member, e.g.
 *   profiles.json: profiles[2].systems.sis.reply[1]: unknown category 'alerts'
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "esp/esp_internal.h"

static const char *const field_names[] = {"surnames", "given_names", "dob", "nationality", "sex", "document",
                                          "fingerprints", "face", NULL};
static const char *const category_names[] = {"identity", "documents", "biometrics", "alert", "travel",
                                             "application", "asylum", "conviction", NULL};

static int name_index(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

const char *esp_field_name(unsigned bit) {
    for (int i = 0; field_names[i]; i++)
        if (bit == (1u << i)) return field_names[i];
    return "?";
}

const char *esp_category_name(unsigned bit) {
    for (int i = 0; category_names[i]; i++)
        if (bit == (1u << i)) return category_names[i];
    return "?";
}

unsigned esp_category_bit(const char *name) {
    int i = name ? name_index(category_names, name) : -1;
    return i < 0 ? 0 : 1u << i;
}

static void free_strs(char **l, size_t n) {
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
}

void esp_profiles_free(esp_profiles *ps) {
    if (!ps) return;
    for (size_t i = 0; i < ps->n; i++) {
        esp_profile *p = &ps->items[i];
        free(p->name);
        free(p->description);
        free_strs(p->authority_types, p->n_authority_types);
        for (int s = 0; s < IOP_SYS_COUNT; s++) {
            free_strs(p->sys[s].kinds, p->sys[s].n_kinds);
            free_strs(p->sys[s].categories_list, p->sys[s].n_categories);
        }
    }
    free(ps->items);
    free(ps);
}

static iop_code where_fail(iop_err *err, const char *src, const char *where, const char *fmt, const char *arg) {
    char msg[300];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    return iop_fail(err, IOP_EINVAL, "%s: %s: %s", src, where, msg);
}

static iop_code check_members(json_t *o, const char *const *known, const char *src, const char *where, iop_err *err) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (name_index(known, k) < 0) return where_fail(err, src, where, "unknown member '%s'", k);
    }
    return IOP_OK;
}

static iop_code str_list(json_t *a, const char *src, const char *where, char ***out, size_t *n, iop_err *err) {
    if (!json_is_array(a)) return where_fail(err, src, where, "expected an array of strings%s", NULL);
    *n = json_array_size(a);
    *out = calloc(*n ? *n : 1, sizeof **out);
    if (!*out) return iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v)) {
            char w[400];
            snprintf(w, sizeof w, "%s[%zu]", where, i);
            return where_fail(err, src, w, "expected a string%s", NULL);
        }
        if (!((*out)[i] = strdup(json_string_value(v)))) return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    return IOP_OK;
}

static iop_code parse_bits(json_t *a, const char *const *names, const char *what, const char *src, const char *where,
                           unsigned *bits, iop_err *err) {
    if (!json_is_array(a)) return where_fail(err, src, where, "expected an array of strings%s", NULL);
    *bits = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char w[400], fmt[80];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        int k = json_is_string(v) ? name_index(names, json_string_value(v)) : -1;
        snprintf(fmt, sizeof fmt, "unknown %s '%%s'", what);
        if (k < 0) return where_fail(err, src, w, fmt, json_is_string(v) ? json_string_value(v) : "(not a string)");
        *bits |= 1u << k;
    }
    return IOP_OK;
}

static iop_code parse_system(json_t *o, iop_system s, const char *src, const char *where, esp_sys_rule *r, iop_err *err) {
    static const char *const keys[] = {"query", "reply", "write", "kinds", "categories", NULL};
    if (!json_is_object(o)) return where_fail(err, src, where, "expected an object%s", NULL);
    iop_code rc = check_members(o, keys, src, where, err);
    if (rc) return rc;
    char w[400];
    json_t *v = json_object_get(o, "query");
    const char *mode = json_string_value(v);
    if (!v || !mode || (strcmp(mode, "always") && strcmp(mode, "optional") && strcmp(mode, "never"))) {
        snprintf(w, sizeof w, "%s.query", where);
        return where_fail(err, src, w, "expected \"always\", \"optional\" or \"never\"%s", NULL);
    }
    r->mode = !strcmp(mode, "always") ? ESP_Q_ALWAYS : !strcmp(mode, "optional") ? ESP_Q_OPTIONAL : ESP_Q_NEVER;
    snprintf(w, sizeof w, "%s.reply", where);
    if ((v = json_object_get(o, "reply")) && (rc = parse_bits(v, category_names, "category", src, w, &r->categories, err)))
        return rc;
    if (r->mode != ESP_Q_NEVER && !r->categories) return where_fail(err, src, w, "a queried system needs reply categories%s", NULL);
    if ((v = json_object_get(o, "write"))) {
        if (!json_is_boolean(v)) {
            snprintf(w, sizeof w, "%s.write", where);
            return where_fail(err, src, w, "expected true or false%s", NULL);
        }
        r->write = json_is_true(v);
    }
    snprintf(w, sizeof w, "%s.kinds", where);
    if ((v = json_object_get(o, "kinds"))) {
        if ((rc = str_list(v, src, w, &r->kinds, &r->n_kinds, err))) return rc;
        for (size_t i = 0; i < r->n_kinds; i++) {
            bool ok = false;
            for (const char *const *k = rec_system_kinds(s); *k; k++) ok |= !strcmp(*k, r->kinds[i]);
            if (!ok) {
                snprintf(w, sizeof w, "%s.kinds[%zu]", where, i);
                return where_fail(err, src, w, "'%s' is not a record kind of this system", r->kinds[i]);
            }
        }
    }
    snprintf(w, sizeof w, "%s.categories", where);
    if ((v = json_object_get(o, "categories"))) {
        if (s != IOP_SYS_SIS) return where_fail(err, src, w, "alert categories apply to SIS only%s", NULL);
        if ((rc = str_list(v, src, w, &r->categories_list, &r->n_categories, err))) return rc;
        r->categories_set = true;
    }
    return IOP_OK;
}

static iop_code parse_profile(json_t *o, const char *src, const char *where, esp_profile *p, iop_err *err) {
    static const char *const keys[] = {"name", "description", "authority_types", "query_fields", "cir", "systems", NULL};
    if (!json_is_object(o)) return where_fail(err, src, where, "expected an object%s", NULL);
    iop_code rc = check_members(o, keys, src, where, err);
    if (rc) return rc;
    char w[400];
    json_t *v = json_object_get(o, "name");
    snprintf(w, sizeof w, "%s.name", where);
    if (!json_is_string(v) || !json_string_length(v)) return where_fail(err, src, w, "required: a non-empty string%s", NULL);
    for (const char *c = json_string_value(v); *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return where_fail(err, src, w, "'%s': use lower-case letters, digits, '_' and '-'", json_string_value(v));
    p->name = strdup(json_string_value(v));
    v = json_object_get(o, "description");
    p->description = strdup(json_is_string(v) ? json_string_value(v) : "");
    if (!p->name || !p->description) return iop_fail(err, IOP_ENOMEM, "out of memory");
    snprintf(w, sizeof w, "%s.authority_types", where);
    if ((v = json_object_get(o, "authority_types")) &&
        (rc = str_list(v, src, w, &p->authority_types, &p->n_authority_types, err)))
        return rc;
    snprintf(w, sizeof w, "%s.query_fields", where);
    if (!(v = json_object_get(o, "query_fields"))) return where_fail(err, src, w, "required%s", NULL);
    if ((rc = parse_bits(v, field_names, "query field", src, w, &p->fields, err))) return rc;
    if ((v = json_object_get(o, "cir"))) {
        if (!json_is_boolean(v)) {
            snprintf(w, sizeof w, "%s.cir", where);
            return where_fail(err, src, w, "expected true or false%s", NULL);
        }
        p->cir = json_is_true(v);
    }
    snprintf(w, sizeof w, "%s.systems", where);
    json_t *systems = json_object_get(o, "systems");
    if (!json_is_object(systems)) return where_fail(err, src, w, "required: an object keyed by system name%s", NULL);
    const char *k;
    json_object_foreach(systems, k, v) {
        iop_system s;
        char ws[256];
        snprintf(ws, sizeof ws, "%s.systems.%s", where, k);
        if (iop_system_parse(k, &s, NULL)) return where_fail(err, src, ws, "unknown system '%s'", k);
        esp_sys_rule *r = &p->sys[s];
        if ((rc = parse_system(v, s, src, ws, r, err))) {
            /* the rule's own lists are freed with the profile */
            return rc;
        }
        /* move SIS alert categories into place */
        r->categories_list_owned = true;
    }
    return IOP_OK;
}

iop_code esp_profiles_parse(const char *json, size_t len, const char *src, esp_profiles **out, iop_err *err) {
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return iop_fail(err, IOP_EINVAL, "%s:%d:%d: malformed JSON: %s", src, je.line, je.column, je.text);
    esp_profiles *ps = calloc(1, sizeof *ps);
    iop_code rc = IOP_OK;
    json_t *list = json_object_get(root, "profiles");
    if (!ps) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    else if (!json_is_object(root) || !json_is_array(list) || json_array_size(list) == 0)
        rc = iop_fail(err, IOP_EINVAL, "%s: expected {\"profiles\": [ ...at least one profile... ]}", src);
    else {
        static const char *const keys[] = {"version", "profiles", NULL};
        rc = check_members(root, keys, src, "(top level)", err);
    }
    if (!rc) {
        ps->n = json_array_size(list);
        if (!(ps->items = calloc(ps->n, sizeof *ps->items))) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < ps->n; i++) {
        char where[64];
        snprintf(where, sizeof where, "profiles[%zu]", i);
        rc = parse_profile(json_array_get(list, i), src, where, &ps->items[i], err);
        for (size_t j = 0; !rc && j < i; j++)
            if (!strcmp(ps->items[j].name, ps->items[i].name))
                rc = where_fail(err, src, where, "duplicate profile name '%s'", ps->items[i].name);
    }
    json_decref(root);
    if (rc) { esp_profiles_free(ps); return rc; }
    *out = ps;
    return IOP_OK;
}

iop_code esp_profiles_load(const char *path, esp_profiles **out, iop_err *err) {
    char *text;
    size_t len;
    iop_code rc = iop_read_file(path, &text, &len, err);
    if (rc) return rc;
    rc = esp_profiles_parse(text, len, path, out, err);
    free(text);
    return rc;
}

size_t esp_profiles_count(const esp_profiles *p) { return p->n; }
const esp_profile *esp_profiles_at(const esp_profiles *p, size_t i) { return i < p->n ? &p->items[i] : NULL; }
const esp_profile *esp_profile_find(const esp_profiles *p, const char *name) {
    for (size_t i = 0; name && i < p->n; i++)
        if (!strcmp(p->items[i].name, name)) return &p->items[i];
    return NULL;
}
const char *esp_profile_name(const esp_profile *p) { return p->name; }
const char *esp_profile_description(const esp_profile *p) { return p->description; }
bool esp_profile_queries(const esp_profile *p, iop_system s) {
    return (unsigned)s < IOP_SYS_COUNT && p->sys[s].mode != ESP_Q_NEVER;
}
bool esp_profile_writes(const esp_profile *p, iop_system s) { return (unsigned)s < IOP_SYS_COUNT && p->sys[s].write; }
unsigned esp_profile_fields(const esp_profile *p) { return p->fields; }
unsigned esp_profile_categories(const esp_profile *p, iop_system s) {
    return esp_profile_queries(p, s) ? p->sys[s].categories : 0;
}
bool esp_profile_queries_cir(const esp_profile *p) { return p->cir; }

bool esp_profile_shows_kind(const esp_profile *p, iop_system s, const char *kind, const char *sis_category) {
    if (!esp_profile_queries(p, s)) return false;
    const esp_sys_rule *r = &p->sys[s];
    if (r->n_kinds) {
        bool ok = false;
        for (size_t i = 0; i < r->n_kinds; i++) ok |= iop_str_eq(r->kinds[i], kind);
        if (!ok) return false;
    }
    if (r->categories_set) {
        if (!sis_category) return false;
        for (size_t i = 0; i < r->n_categories; i++)
            if (!strcmp(r->categories_list[i], sis_category)) return true;
        return false;
    }
    return true;
}

iop_code esp_profile_to_json(const esp_profile *p, iop_buf *b) {
    int r = iop_buf_puts(b, "{\"name\":") | iop_buf_json_str(b, p->name) | iop_buf_puts(b, ",\"description\":") |
            iop_buf_json_str(b, p->description) | iop_buf_puts(b, ",\"query_fields\":[");
    bool first = true;
    for (unsigned bit = 1; bit <= ESP_F_FACE; bit <<= 1)
        if (p->fields & bit) { r |= iop_buf_printf(b, "%s\"%s\"", first ? "" : ",", esp_field_name(bit)); first = false; }
    r |= iop_buf_printf(b, "],\"cir\":%s,\"systems\":{", p->cir ? "true" : "false");
    first = true;
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        const esp_sys_rule *sr = &p->sys[s];
        if (sr->mode == ESP_Q_NEVER && !sr->write) continue;
        r |= iop_buf_printf(b, "%s\"%s\":{\"query\":\"%s\",\"write\":%s,\"reply\":[", first ? "" : ",",
                            iop_system_name((iop_system)s),
                            sr->mode == ESP_Q_ALWAYS ? "always" : sr->mode == ESP_Q_OPTIONAL ? "optional" : "never",
                            sr->write ? "true" : "false");
        first = false;
        bool f2 = true;
        for (unsigned bit = 1; bit <= ESP_C_CONVICTION; bit <<= 1)
            if (sr->categories & bit) { r |= iop_buf_printf(b, "%s\"%s\"", f2 ? "" : ",", esp_category_name(bit)); f2 = false; }
        r |= iop_buf_puts(b, "]");
        if (sr->categories_set) {
            r |= iop_buf_puts(b, ",\"categories\":[");
            for (size_t i = 0; i < sr->n_categories; i++)
                r |= iop_buf_puts(b, i ? "," : "") | iop_buf_json_str(b, sr->categories_list[i]);
            r |= iop_buf_puts(b, "]");
        }
        r |= iop_buf_puts(b, "}");
    }
    r |= iop_buf_puts(b, "}}");
    return r ? IOP_ENOMEM : IOP_OK;
}
