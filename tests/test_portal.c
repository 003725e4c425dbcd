/* test-links: instance gen */
/*
 * The search portal's access rules, end to end over a node: profiles (Reg. 2019/817
 * Art 8), replies tagged by source and nothing revealed about systems a profile may not
 * see (Art 9(4)), logs (Art 10), the CIR following its source systems (Arts 19, 23),
 * all-or-nothing loads and durability.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "interop/access.h"
#include "interop/audit.h"
#include "interop/gen.h"
#include "interop/interop.h"
#include "interop/names.h"
#include "interop/record.h"
#include "interop/store.h"
#include "test.h"

/* One record per system (SIS: an arrest alert, a refusal-of-entry alert and a document
 * alert), all on the same person "Alpha Testperson", 1980-01-02, passport P1234567. */
static const char *const fixture[] = {
    "{\"id\":\"S-ARR\",\"system\":\"sis\",\"kind\":\"person_alert\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"category\":\"arrest\",\"issuing_state\":\"DEU\",\"action\":\"arrest\"}",
    "{\"id\":\"S-REF\",\"system\":\"sis\",\"kind\":\"person_alert\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"category\":\"refusal_of_entry\",\"issuing_state\":\"FRA\"}",
    "{\"id\":\"V-1\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"documents\":[{\"type\":\"passport\",\"number\":\"P1234567\",\"country\":\"UKR\"}],"
    "\"application_number\":\"DE-1\",\"status\":\"issued\"}",
    "{\"id\":\"D-1\",\"system\":\"eurodac\",\"kind\":\"applicant\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"member_state_of_origin\":\"ITA\"}",
    "{\"id\":\"E-1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"documents\":[{\"type\":\"passport\",\"number\":\"P1234567\",\"country\":\"UKR\"}],"
    "\"movements\":[{\"type\":\"entry\",\"date\":\"2025-01-01\"}]}",
    "{\"id\":\"T-1\",\"system\":\"etias\",\"kind\":\"application\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"application_number\":\"ET-1\",\"email\":\"a@example.org\"}",
    "{\"id\":\"C-1\",\"system\":\"ecris-tcn\",\"kind\":\"record\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"convicting_state\":\"NLD\"}",
    "{\"id\":\"U-1\",\"system\":\"europol\",\"kind\":\"person\",\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],"
    "\"dob\":\"1980-01-02\",\"crime_area\":\"trafficking\"}",
    "{\"id\":\"I-1\",\"system\":\"interpol\",\"kind\":\"sltd_document\",\"surnames\":[\"Testperson\"],\"dob\":\"1980-01-02\","
    "\"documents\":[{\"type\":\"passport\",\"number\":\"P1234567\",\"country\":\"UKR\"}],\"status\":\"stolen\"}",
};

static char node_dir[1024]; /* the directory of the last fresh_node */

static iop_instance *fresh_node(const char *name, iop_actor *op) {
    const char *dir = test_tmpdir(name);
    snprintf(node_dir, sizeof node_dir, "%s", dir);
    iop_err err = {0};
    iop_instance *in = NULL;
    if (iop_init_dir(dir, NULL, &err) || iop_open(dir, NULL, &in, &err)) {
        test_failed(__FILE__, __LINE__, "node: %s", err.msg);
        return NULL;
    }
    access_db *db = iop_access_db(in);
    static const char *const types[] = {"border_guard", "visa_authority", "asylum_authority", "police", "etias_unit",
                                        "sirene_bureau", "europol", "ecris_central_authority", "other"};
    static const char *const profiles[] = {"border_guard", "visa_authority", "asylum_authority", "police", "etias_unit",
                                           "sirene_bureau", "europol", "ecris_central_authority", "integrator"};
    for (int i = 0; i < 9; i++) {
        access_authority_type t;
        access_authority_type_parse(types[i], &t, NULL);
        const char *p = profiles[i];
        access_user_spec spec = {.name = profiles[i], .authority = "Test authority", .authority_type = t,
                                 .member_state = "DEU", .profiles = &p, .n_profiles = 1};
        if (access_user_add(db, &spec, NULL, &err)) test_failed(__FILE__, __LINE__, "user: %s", err.msg);
    }
    if (op && iop_actor_local(in, "integrator", NULL, "test", op, &err)) test_failed(__FILE__, __LINE__, "%s", err.msg);
    return in;
}

/* Loads records given one JSON text each, as one batch. */
static void load_lines(iop_instance *in, const iop_actor *op, const char *const *lines, size_t n) {
    iop_buf b;
    iop_buf_init(&b);
    for (size_t i = 0; i < n; i++) { iop_buf_puts(&b, lines[i]); iop_buf_puts(&b, "\n"); }
    iop_err err = {0};
    iop_load_stats st = {0};
    if (iop_load_jsonl(in, op, "records", b.data, b.len, 0, &st, &err)) test_failed(__FILE__, __LINE__, "%s", err.msg);
    CHECK_INT(st.records, n);
    iop_buf_free(&b);
}

static void load_fixture(iop_instance *in, const iop_actor *op) { load_lines(in, op, fixture, sizeof fixture / sizeof *fixture); }

static json_t *search_as(iop_instance *in, const char *user, const char *query, iop_code *rc_out) {
    iop_actor a;
    iop_err err = {0};
    if (iop_actor_local(in, user, NULL, "test", &a, &err)) { test_failed(__FILE__, __LINE__, "%s", err.msg); return NULL; }
    iop_buf reply;
    iop_buf_init(&reply);
    iop_code rc = iop_search_json(in, &a, query, strlen(query), &reply, &err);
    if (rc_out) *rc_out = rc;
    json_t *j = rc ? NULL : json_loads(reply.data, 0, NULL);
    iop_buf_free(&reply);
    iop_actor_clear(&a);
    return j;
}

/* Which records each default profile gets back for the fixture person, per system.  '-' =
 * the system must not appear in the reply at all; otherwise the ids returned. */
static const struct {
    const char *profile;
    const char *expect[IOP_SYS_COUNT]; /* sis, vis, eurodac, ees, etias, ecris-tcn, europol, interpol */
} matrix[] = {
    /* Reg. 2019/817 Art 7; EES Art 23, ETIAS Art 47, SIS 2018/1861 Art 36: no Eurodac, ECRIS-TCN, Europol */
    {"border_guard", {"S-ARR S-REF", "V-1", "-", "E-1", "T-1", "-", "-", "I-1"}},
    /* SIS refusal/return/arrest alerts only; no Eurodac, ECRIS-TCN, Europol */
    {"visa_authority", {"S-ARR S-REF", "V-1", "-", "E-1", "T-1", "-", "-", "I-1"}},
    /* Eurodac and VIS only */
    {"asylum_authority", {"-", "V-1", "D-1", "-", "-", "-", "-", "-"}},
    /* police: SIS and SLTD; EES/VIS/ETIAS only through the Art 22 two-step procedure */
    {"police", {"S-ARR S-REF", "-", "-", "-", "-", "-", "-", "I-1"}},
    /* ETIAS Art 20: every system, ECRIS-TCN as a flag */
    {"etias_unit", {"S-ARR S-REF", "V-1", "D-1", "E-1", "T-1", "C-1", "U-1", "I-1"}},
    {"sirene_bureau", {"S-ARR S-REF", "-", "-", "-", "-", "-", "U-1", "I-1"}},
    {"europol", {"S-ARR S-REF", "-", "-", "-", "-", "-", "U-1", "I-1"}},
    {"ecris_central_authority", {"-", "-", "-", "-", "-", "C-1", "-", "-"}},
};

static bool ids_equal(json_t *hits, const char *expect) {
    char got[256] = "";
    size_t i;
    json_t *h;
    /* the portal ranks; compare as sorted sets */
    const char *ids[16];
    size_t n = 0;
    json_array_foreach(hits, i, h) if (n < 16) ids[n++] = json_string_value(json_object_get(json_object_get(h, "record"), "id"));
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (strcmp(ids[a], ids[b]) > 0) { const char *t = ids[a]; ids[a] = ids[b]; ids[b] = t; }
    for (size_t k = 0; k < n; k++) {
        strcat(got, k ? " " : "");
        strcat(got, ids[k]);
    }
    if (strcmp(got, expect)) fprintf(stderr, "  got '%s', expected '%s'\n", got, expect);
    return !strcmp(got, expect);
}

TEST(art8_art9_each_default_profile_sees_exactly_its_systems) {
    iop_actor op;
    iop_instance *in = fresh_node("matrix", &op);
    REQUIRE(in);
    load_fixture(in, &op);
    const char *q = "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\","
                    "\"document\":{\"number\":\"P1234567\"}}";
    for (size_t p = 0; p < sizeof matrix / sizeof *matrix; p++) {
        iop_code rc;
        json_t *r = search_as(in, matrix[p].profile, q, &rc);
        if (!r) { test_failed(__FILE__, __LINE__, "%s: search failed (%d)", matrix[p].profile, rc); continue; }
        json_t *results = json_object_get(r, "results");
        for (int s = 0; s < IOP_SYS_COUNT; s++) {
            json_t *found = NULL, *x;
            size_t i;
            json_array_foreach(results, i, x)
                if (!strcmp(json_string_value(json_object_get(x, "system")), iop_system_name((iop_system)s))) found = x;
            if (!strcmp(matrix[p].expect[s], "-")) {
                if (found) test_failed(__FILE__, __LINE__, "%s: reply reveals %s", matrix[p].profile, iop_system_name((iop_system)s));
            } else if (!found) {
                test_failed(__FILE__, __LINE__, "%s: no reply from %s", matrix[p].profile, iop_system_name((iop_system)s));
            } else if (!ids_equal(json_object_get(found, "hits"), matrix[p].expect[s])) {
                test_failed(__FILE__, __LINE__, "%s: wrong hits from %s", matrix[p].profile, iop_system_name((iop_system)s));
            }
        }
        json_decref(r);
    }
    iop_actor_clear(&op);
    iop_close(in);
}

static json_t *hit_record(json_t *reply, const char *system, const char *id) {
    size_t i, j;
    json_t *x, *h;
    json_array_foreach(json_object_get(reply, "results"), i, x) {
        if (strcmp(json_string_value(json_object_get(x, "system")), system)) continue;
        json_array_foreach(json_object_get(x, "hits"), j, h) {
            json_t *rec = json_object_get(h, "record");
            if (!strcmp(json_string_value(json_object_get(rec, "id")), id)) return rec;
        }
    }
    return NULL;
}

TEST(art8_1_d_replies_show_only_the_profiles_data_categories) {
    iop_actor op;
    iop_instance *in = fresh_node("categories", &op);
    REQUIRE(in);
    load_fixture(in, &op);
    const char *q = "{\"surnames\":[\"Testperson\"],\"dob\":\"1980-01-02\"}";
    json_t *r = search_as(in, "etias_unit", q, NULL);
    REQUIRE(r);
    /* ECRIS-TCN gives the ETIAS unit a flag: identity, never the convicting Member State */
    json_t *c = hit_record(r, "ecris-tcn", "C-1");
    REQUIRE(c);
    CHECK(json_object_get(c, "surnames") != NULL);
    CHECK(json_object_get(c, "convicting_state") == NULL);
    /* Eurodac: identity only, not the asylum category */
    json_t *d = hit_record(r, "eurodac", "D-1");
    REQUIRE(d);
    CHECK(json_object_get(d, "member_state_of_origin") == NULL);
    json_decref(r);
    /* the asylum authority sees the Eurodac category */
    r = search_as(in, "asylum_authority", q, NULL);
    REQUIRE(r);
    d = hit_record(r, "eurodac", "D-1");
    REQUIRE(d);
    CHECK_STR(json_string_value(json_object_get(d, "member_state_of_origin")), "ITA");
    /* and VIS application data but the border guard's travel category does not exist there */
    json_t *v = hit_record(r, "vis", "V-1");
    REQUIRE(v);
    CHECK_STR(json_string_value(json_object_get(v, "application_number")), "DE-1");
    json_decref(r);
    /* police: SLTD replies show documents and alert, never identity data */
    r = search_as(in, "police", "{\"document\":{\"number\":\"P1234567\"}}", NULL);
    REQUIRE(r);
    json_t *s = hit_record(r, "interpol", "I-1");
    REQUIRE(s);
    CHECK(json_object_get(s, "documents") != NULL);
    CHECK(json_object_get(s, "surnames") == NULL);
    CHECK(json_object_get(s, "dob") == NULL);
    json_decref(r);
    iop_actor_clear(&op);
    iop_close(in);
}

TEST(art9_4_reading_an_invisible_record_looks_like_no_record) {
    iop_actor op;
    iop_instance *in = fresh_node("read", &op);
    REQUIRE(in);
    load_fixture(in, &op);
    iop_actor a;
    iop_err e1 = {0}, e2 = {0};
    REQUIRE(iop_actor_local(in, "police", NULL, "test", &a, &e1) == IOP_OK);
    iop_buf b;
    iop_buf_init(&b);
    /* an existing EES record and a missing one: the same answer */
    CHECK(iop_read_json(in, &a, IOP_SYS_EES, "E-1", &b, &e1) == IOP_ENOTFOUND);
    CHECK(iop_read_json(in, &a, IOP_SYS_EES, "E-404", &b, &e2) == IOP_ENOTFOUND);
    CHECK_STR(strstr(e1.msg, "no record"), strstr(e1.msg, "no record"));
    CHECK(strstr(e1.msg, "E-1") && strstr(e2.msg, "E-404"));
    /* a visible one */
    iop_buf_reset(&b);
    CHECK(iop_read_json(in, &a, IOP_SYS_SIS, "S-ARR", &b, &e1) == IOP_OK);
    CHECK(strstr(b.data, "\"arrest\"") != NULL);
    iop_buf_free(&b);
    iop_actor_clear(&a);
    iop_actor_clear(&op);
    iop_close(in);
}

TEST(art8_1_a_query_fields_and_systems_outside_the_profile_are_refused) {
    iop_actor op;
    iop_instance *in = fresh_node("refuse", &op);
    REQUIRE(in);
    iop_code rc;
    CHECK(search_as(in, "asylum_authority", "{\"surnames\":[\"X\"],\"systems\":[\"sis\"]}", &rc) == NULL);
    CHECK_INT(rc, IOP_EDENIED);
    CHECK(search_as(in, "police", "{\"surnames\":[\"X\"],\"systems\":[\"ees\"]}", &rc) == NULL);
    CHECK_INT(rc, IOP_EDENIED);
    json_t *r = search_as(in, "border_guard", "{\"surnames\":[\"X\"],\"systems\":[\"interpol\"]}", &rc);
    CHECK(r != NULL); /* an optional system may be asked for */
    json_decref(r);
    iop_actor_clear(&op);
    iop_close(in);
}

TEST(profiles_file_errors_name_the_member) {
    esp_profiles *p = NULL;
    iop_err err = {0};
    const char *bad = "{\"profiles\":[{\"name\":\"x\",\"query_fields\":[\"surnames\"],"
                      "\"systems\":{\"sis\":{\"query\":\"always\",\"reply\":[\"identity\",\"alerts\"]}}}]}";
    CHECK(esp_profiles_parse(bad, strlen(bad), "p.json", &p, &err) == IOP_EINVAL);
    CHECK(strstr(err.msg, "p.json: profiles[0].systems.sis.reply[1]: unknown category 'alerts'") != NULL);
    const char *bad2 = "{\"profiles\":[{\"name\":\"x\",\"query_fields\":[\"surnames\"],\"systems\":{\"mars\":{}}}]}";
    CHECK(esp_profiles_parse(bad2, strlen(bad2), "p.json", &p, &err) == IOP_EINVAL);
    CHECK(strstr(err.msg, "unknown system 'mars'") != NULL);
    const char *bad3 = "{\"profiles\":[\n{\"name\":\"x\",}]}";
    CHECK(esp_profiles_parse(bad3, strlen(bad3), "p.json", &p, &err) == IOP_EINVAL);
    CHECK(strstr(err.msg, "p.json:2:") != NULL);
}

TEST(writes_need_a_profile_that_writes_the_system) {
    iop_actor op, bg;
    iop_instance *in = fresh_node("write", &op);
    REQUIRE(in);
    iop_err err = {0};
    REQUIRE(iop_actor_local(in, "border_guard", NULL, "test", &bg, &err) == IOP_OK);
    iop_load_stats st = {0};
    CHECK(iop_load_jsonl(in, &bg, "x", fixture[2], strlen(fixture[2]), 0, &st, &err) == IOP_EDENIED);
    CHECK(strstr(err.msg, "may not write to vis") != NULL);
    CHECK(iop_load_jsonl(in, &bg, "x", fixture[4], strlen(fixture[4]), 0, &st, &err) == IOP_OK);
    iop_actor_clear(&bg);
    iop_actor_clear(&op);
    iop_close(in);
}

TEST(a_bad_line_fails_its_batch_with_file_line_field_and_writes_nothing) {
    iop_actor op;
    iop_instance *in = fresh_node("badline", &op);
    REQUIRE(in);
    char text[4096];
    snprintf(text, sizeof text, "%s\n%s\n{\"id\":\"E-9\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],\"dob\":\"1980-02-31\"}\n",
             fixture[2], fixture[4]);
    iop_err err = {0};
    iop_load_stats st = {0};
    CHECK(iop_load_jsonl(in, &op, "people.jsonl", text, strlen(text), 0, &st, &err) == IOP_EINVAL);
    CHECK(strstr(err.msg, "people.jsonl:3: field 'dob'") != NULL);
    iop_counts c;
    REQUIRE(iop_count(in, &c, &err) == IOP_OK);
    CHECK_INT(c.records[IOP_SYS_VIS], 0);
    CHECK_INT(c.records[IOP_SYS_EES], 0);
    CHECK_INT(c.cir_files, 0);
    iop_actor_clear(&op);
    iop_close(in);
}

TEST(a_node_asked_for_japanese_readings_it_cannot_read_does_not_open) {
    const char *dir = test_tmpdir("ja-missing");
    iop_err err = {0};
    REQUIRE(iop_init_dir(dir, NULL, &err) == IOP_OK);
    iop_open_opts o = {.names_ja = "/nonexistent/Noun.name.csv"};
    iop_instance *in = NULL;
    CHECK(iop_open(dir, &o, &in, &err) != IOP_OK);
    CHECK(in == NULL);
    CHECK(strstr(err.msg, "Japanese name readings") != NULL);
    CHECK(strstr(err.msg, "/nonexistent/Noun.name.csv") != NULL);
}

TEST(art19_art23_cir_follows_its_sources_and_not_sis) {
    iop_actor op;
    iop_instance *in = fresh_node("cir", &op);
    REQUIRE(in);
    load_fixture(in, &op);
    iop_counts c;
    iop_err err = {0};
    REQUIRE(iop_count(in, &c, &err) == IOP_OK);
    /* one file per record of VIS, Eurodac, EES, ETIAS, ECRIS-TCN; none for SIS, Europol, Interpol */
    CHECK_INT(c.cir_files, 5);
    CHECK(iop_delete(in, &op, IOP_SYS_EES, "E-1", &err) == IOP_OK);
    REQUIRE(iop_count(in, &c, &err) == IOP_OK);
    CHECK_INT(c.cir_files, 4);
    CHECK_INT(c.records[IOP_SYS_EES], 0);
    CHECK(iop_delete(in, &op, IOP_SYS_EES, "E-1", &err) == IOP_ENOTFOUND);
    iop_actor_clear(&op);
    iop_close(in);
}

static int count_entry(void *ctx, const audit_entry *e) {
    int *n = ctx;
    if (e->profile && !strcmp(e->profile, "border_guard") && !strcmp(e->operation, "query") && e->n_systems == 5) (*n)++;
    return 0;
}

typedef struct write_log {
    char seen[64][40]; /* "component operation system", in log order */
    int n;
} write_log;

static int note_write(void *ctx, const audit_entry *e) {
    write_log *w = ctx;
    if (w->n < 64 && strstr(e->operation, "write") && e->n_systems == 1)
        snprintf(w->seen[w->n++], sizeof w->seen[0], "%s %s %s", e->component, e->operation, e->systems[0]);
    return 0;
}

static int seen_at(const write_log *w, const char *what) {
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->seen[i], what)) return i;
    return -1;
}

TEST(art19_art10_one_batch_over_all_systems_logs_each_cir_follow_after_its_source_write) {
    iop_actor op;
    iop_instance *in = fresh_node("cirlog", &op);
    REQUIRE(in);
    load_fixture(in, &op); /* one batch: VIS, Eurodac, EES, ETIAS, ECRIS-TCN between SIS, Europol, Interpol */
    iop_err err = {0};
    audit_flush(iop_audit_log(in), &err);
    write_log w = {.n = 0};
    audit_filter f = {.limit = 1000};
    REQUIRE(audit_query(iop_audit_log(in), &f, note_write, &w, &err) == IOP_OK);
    static const char *const cir_sys[] = {"vis", "eurodac", "ees", "etias", "ecris-tcn"};
    int follows = 0;
    for (int i = 0; i < w.n; i++) follows += !strncmp(w.seen[i], "cir follow-write ", 17);
    CHECK_INT(follows, 5);
    for (size_t k = 0; k < 5; k++) {
        char src[40], fol[40];
        snprintf(src, sizeof src, "%s write %s", cir_sys[k], cir_sys[k]);
        snprintf(fol, sizeof fol, "cir follow-write %s", cir_sys[k]);
        int a = seen_at(&w, src), b = seen_at(&w, fol);
        CHECK(a >= 0);
        CHECK(b > a);
    }
    CHECK(seen_at(&w, "cir follow-write sis") < 0);
    iop_counts c;
    REQUIRE(iop_count(in, &c, &err) == IOP_OK);
    CHECK_INT(c.cir_files, 5);
    iop_actor_clear(&op);
    iop_close(in);
}

TEST(art10_every_query_is_logged_with_profile_and_systems) {
    iop_actor op;
    iop_instance *in = fresh_node("log", &op);
    REQUIRE(in);
    load_fixture(in, &op);
    json_t *r = search_as(in, "border_guard", "{\"surnames\":[\"Testperson\"]}", NULL);
    json_decref(r);
    r = search_as(in, "border_guard", "{\"surnames\":[\"Nobody\"]}", NULL);
    json_decref(r);
    iop_err err = {0};
    audit_flush(iop_audit_log(in), &err);
    int n = 0;
    audit_filter f = {.component = "esp"};
    REQUIRE(audit_query(iop_audit_log(in), &f, count_entry, &n, &err) == IOP_OK);
    CHECK_INT(n, 2);
    iop_actor_clear(&op);
    iop_close(in);
}

/* Records around the query "Testperson Alpha 1980-01-02": the same identity, a spelling
 * variant, a namesake with another given name, and a stranger holding the queried passport. */
static const char *const namesakes[] = {
    "{\"id\":\"V-SAME\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Testperson\"],"
    "\"given_names\":[\"Alpha\",\"Maria\"],\"dob\":\"1980-01-02\",\"sex\":\"F\",\"nationalities\":[\"UKR\"],"
    "\"place_of_birth\":\"Lviv\",\"aliases\":[\"Alfa Testpersona\"],\"surname_at_birth\":\"Kowalska\","
    "\"documents\":[{\"type\":\"passport\",\"number\":\"FP-777 001\",\"country\":\"UKR\"},{\"number\":\"X9\"}],"
    "\"application_number\":\"DE-2\",\"status\":\"issued\"}",
    "{\"id\":\"V-VARIANT\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Testpersen\"],"
    "\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\",\"application_number\":\"DE-3\",\"status\":\"issued\"}",
    "{\"id\":\"V-NAMESAKE\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Testperson\"],"
    "\"given_names\":[\"Gustav\"],\"dob\":\"1980-01-02\",\"application_number\":\"DE-4\",\"status\":\"issued\"}",
    "{\"id\":\"V-HOLDER\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Brown\"],"
    "\"given_names\":[\"Oscar\"],\"dob\":\"1961-07-30\",\"documents\":[{\"type\":\"passport\",\"number\":\"Q5550001\","
    "\"country\":\"UKR\"}],\"application_number\":\"DE-5\",\"status\":\"issued\"}",
};

static json_t *vis_hits(json_t *reply) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(reply, "results"), i, s)
        if (!strcmp(json_string_value(json_object_get(s, "system")), "vis")) return json_object_get(s, "hits");
    return NULL;
}

TEST(art28_replies_show_same_or_similar_identities_and_document_holders_only) {
    iop_actor op;
    iop_instance *in = fresh_node("namesakes", &op);
    REQUIRE(in);
    load_lines(in, &op, namesakes, sizeof namesakes / sizeof *namesakes);
    /* the namesake shares surname and date of birth but not the given name: the names
     * engine finds it different, so it is neither shown nor counted */
    json_t *r = search_as(in, "border_guard", "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\"}", NULL);
    REQUIRE(r);
    CHECK(ids_equal(vis_hits(r), "V-SAME V-VARIANT"));
    size_t i;
    json_t *h;
    json_array_foreach(vis_hits(r), i, h)
        CHECK(strcmp(json_string_value(json_object_get(json_object_get(h, "names"), "verdict")), "different"));
    json_decref(r);
    /* a holder of the queried document is shown whatever the names say */
    r = search_as(in, "border_guard", "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\","
                  "\"document\":{\"number\":\"Q5550001\"}}", NULL);
    REQUIRE(r);
    CHECK(ids_equal(vis_hits(r), "V-HOLDER V-SAME V-VARIANT"));
    json_decref(r);
    iop_actor_clear(&op);
    iop_close(in);
}

/* The search ranks a candidate from the identity its index summary carries, without
 * reading the record: the names engine must reach exactly the verdict, score and
 * evidence it reaches from the record itself. */
TEST(ranking_from_the_index_summary_equals_ranking_from_the_record) {
    iop_actor op;
    iop_instance *in = fresh_node("summary", &op);
    REQUIRE(in);
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, namesakes[0]);
    iop_buf_puts(&b, "\n");
    iop_err err = {0};
    iop_load_stats st = {0};
    REQUIRE(iop_load_jsonl(in, &op, "same", b.data, b.len, 0, &st, &err) == IOP_OK);
    iop_buf_free(&b);
    const char *query = "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alfa\"],\"dob\":\"1980-01-02\",\"sex\":\"F\","
                        "\"nationality\":\"UKR\",\"document\":{\"number\":\"FP777001\"}}";
    json_t *r = search_as(in, "integrator", query, NULL);
    REQUIRE(r);
    json_t *hits = vis_hits(r);
    REQUIRE(json_array_size(hits) == 1);
    json_t *got = json_object_get(json_array_get(hits, 0), "names");
    REQUIRE(got);
    /* the same comparison from the record as loaded */
    names_engine *eng = NULL;
    REQUIRE(names_engine_new(IOP_SHARED_DATA "/names/nicknames.csv", &eng, &err) == IOP_OK);
    rec_person rec;
    REQUIRE(rec_parse(namesakes[0], strlen(namesakes[0]), &rec, &err) == IOP_OK);
    const char *sur = "Testperson", *giv = "Alfa", *nat = "UKR";
    rec_document doc = {.number = "FP777001"};
    names_fields qf = {.surnames = &sur, .n_surnames = 1, .given_names = &giv, .n_given_names = 1,
                       .dob = {1980, 1, 2}, .sex = 'F', .nationalities = &nat, .n_nationalities = 1,
                       .documents = &doc, .n_documents = 1};
    names_ident *qi = NULL, *ri = NULL;
    REQUIRE(names_prepare_fields(eng, &qf, &qi, &err) == IOP_OK);
    REQUIRE(names_prepare(eng, &rec, &ri, &err) == IOP_OK);
    names_result nr;
    names_compare(eng, qi, ri, &nr);
    iop_buf want;
    iop_buf_init(&want);
    REQUIRE(names_result_json(&nr, &want) == 0);
    json_t *w = json_loads(want.data, 0, NULL);
    REQUIRE(w);
    CHECK(json_equal(w, got));
    if (!json_equal(w, got)) {
        char *g = json_dumps(got, JSON_COMPACT);
        fprintf(stderr, "  from the record: %s\n  from the summary: %s\n", want.data, g);
        free(g);
    }
    json_decref(w);
    iop_buf_free(&want);
    names_ident_free(qi);
    names_ident_free(ri);
    rec_person_clear(&rec);
    names_engine_free(eng);
    json_decref(r);
    iop_actor_clear(&op);
    iop_close(in);
}

static int keep_summary(void *ctx, const store_doc *d) {
    snprintf(ctx, 4096, "%s", d->summary ? d->summary : "");
    return 0;
}

/* A node written before the index summary carried the identity: its records are ranked
 * from the records themselves, with the same verdicts. */
TEST(records_indexed_from_an_older_summary_are_ranked_from_the_record) {
    iop_actor op;
    iop_instance *in = fresh_node("oldsummary", &op);
    REQUIRE(in);
    load_lines(in, &op, namesakes, sizeof namesakes / sizeof *namesakes);
    iop_err err = {0};
    const char *q = "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\"}";
    json_t *before = search_as(in, "border_guard", q, NULL);
    REQUIRE(before);
    /* cut every VIS summary back to its first eight fields, as an older version wrote them */
    char path[1200];
    snprintf(path, sizeof path, "%s/systems/vis.db", node_dir);
    store *s = NULL;
    REQUIRE(store_open(path, 0, &err, &s) == IOP_OK);
    const char *ids[] = {"V-SAME", "V-VARIANT", "V-NAMESAKE", "V-HOLDER"};
    for (int i = 0; i < 4; i++) {
        char sum[4096] = "";
        REQUIRE(store_get(s, ids[i], false, keep_summary, sum, &err) == IOP_OK);
        int fields = 0;
        size_t cut = 0;
        while (sum[cut] && !(sum[cut] == '\x1f' && ++fields == 8)) cut++;
        REQUIRE(fields == 8);
        iop_buf sql;
        iop_buf_init(&sql);
        iop_buf_puts(&sql, "UPDATE docs SET summary = CAST(X'");
        for (size_t k = 0; k < cut; k++) iop_buf_printf(&sql, "%02x", (unsigned char)sum[k]);
        iop_buf_printf(&sql, "' AS TEXT) WHERE id = '%s'", ids[i]);
        CHECK(store_exec(s, sql.data, &err) == IOP_OK);
        iop_buf_free(&sql);
    }
    store_close(s);
    json_t *after = search_as(in, "border_guard", q, NULL);
    REQUIRE(after);
    CHECK(ids_equal(vis_hits(after), "V-SAME V-VARIANT"));
    /* the same verdicts and evidence as from the identity in the summary */
    CHECK(json_equal(vis_hits(before), vis_hits(after)));
    json_decref(before);
    json_decref(after);
    iop_actor_clear(&op);
    iop_close(in);
}

/* A record updated after the index ranked it (here: an update the index never hears of)
 * is ranked again on what is stored before it is shown: the verdict shown belongs to the
 * record shown. */
TEST(a_hit_updated_since_the_index_ranked_it_is_ranked_again_before_it_is_shown) {
    iop_actor op;
    iop_instance *in = fresh_node("updated", &op);
    REQUIRE(in);
    load_lines(in, &op, namesakes, sizeof namesakes / sizeof *namesakes);
    iop_err err = {0};
    iop_load_stats st = {0};
    const char *q = "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\"}";
    json_t *r = search_as(in, "border_guard", q, NULL);
    REQUIRE(r);
    CHECK(ids_equal(vis_hits(r), "V-SAME V-VARIANT"));
    json_decref(r);
    /* the change log stops hearing of updates; V-SAME becomes another person */
    char path[1200];
    snprintf(path, sizeof path, "%s/systems/vis.db", node_dir);
    store *s = NULL;
    REQUIRE(store_open(path, 0, &err, &s) == IOP_OK);
    REQUIRE(store_exec(s, "DROP TRIGGER docs_changes_upd", &err) == IOP_OK);
    store_close(s);
    const char *other = "{\"id\":\"V-SAME\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Testperson\"],"
                        "\"given_names\":[\"Zygmunt\"],\"dob\":\"1980-01-02\",\"sex\":\"M\",\"application_number\":\"DE-2\","
                        "\"status\":\"issued\"}\n";
    REQUIRE(iop_load_jsonl(in, &op, "update", other, strlen(other), 0, &st, &err) == IOP_OK);
    r = search_as(in, "border_guard", q, NULL);
    REQUIRE(r);
    CHECK(ids_equal(vis_hits(r), "V-VARIANT"));
    json_decref(r);
    iop_actor_clear(&op);
    iop_close(in);
}

typedef struct searcher {
    iop_instance *in;
    const char *const *queries;
    char *const *expect;
    int n_queries, mismatches, failures;
} searcher;

static void *search_loop(void *arg) {
    searcher *sr = arg;
    iop_actor a;
    iop_err err = {0};
    if (iop_actor_local(sr->in, "border_guard", NULL, "test", &a, &err)) { sr->failures++; return NULL; }
    iop_buf reply;
    iop_buf_init(&reply);
    for (int i = 0; i < 40; i++) {
        int k = i % sr->n_queries;
        iop_buf_reset(&reply);
        if (iop_search_json(sr->in, &a, sr->queries[k], strlen(sr->queries[k]), &reply, &err)) sr->failures++;
        else if (strcmp(reply.data, sr->expect[k])) sr->mismatches++;
    }
    iop_buf_free(&reply);
    iop_actor_clear(&a);
    return NULL;
}

/* Queries running at the same time (each on its own thread, or fanned out over the
 * portal's workers when alone) give exactly the replies they give one at a time. */
TEST(concurrent_searches_give_the_replies_of_sequential_ones) {
    iop_actor op;
    iop_instance *in = fresh_node("concurrent", &op);
    REQUIRE(in);
    load_fixture(in, &op);
    load_lines(in, &op, namesakes, sizeof namesakes / sizeof *namesakes);
    iop_err err = {0};
    static const char *const queries[] = {
        "{\"surnames\":[\"Testperson\"],\"given_names\":[\"Alpha\"],\"dob\":\"1980-01-02\"}",
        "{\"surnames\":[\"Testperson\"]}",
        "{\"document\":{\"number\":\"P1234567\"}}",
        "{\"surnames\":[\"Brown\"],\"given_names\":[\"Oscar\"],\"dob\":\"1961\"}",
    };
    enum { NQ = sizeof queries / sizeof *queries, NT = 4 };
    char *expect[NQ];
    iop_actor a;
    REQUIRE(iop_actor_local(in, "border_guard", NULL, "test", &a, &err) == IOP_OK);
    for (int k = 0; k < NQ; k++) {
        iop_buf r;
        iop_buf_init(&r);
        REQUIRE(iop_search_json(in, &a, queries[k], strlen(queries[k]), &r, &err) == IOP_OK);
        CHECK(strstr(r.data, "\"hits\":[{") != NULL);
        expect[k] = r.data;
    }
    iop_actor_clear(&a);
    searcher sr[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        sr[t] = (searcher){.in = in, .queries = queries, .expect = expect, .n_queries = NQ};
        REQUIRE(pthread_create(&th[t], NULL, search_loop, &sr[t]) == 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        CHECK_INT(sr[t].failures, 0);
        CHECK_INT(sr[t].mismatches, 0);
    }
    for (int k = 0; k < NQ; k++) free(expect[k]);
    iop_actor_clear(&op);
    iop_close(in);
}

/* Records whose names are written in another script, or spelled otherwise in both the
 * surname and the given name, are found through the sound keys of the search indexes --
 * and not without them (iop_open_opts.exact_keys_only). */
TEST(sound_keys_find_other_scripts_and_other_spellings_of_both_names) {
    for (int exact = 0; exact < 2; exact++) {
        const char *dir = test_tmpdir(exact ? "sounds-exact" : "sounds");
        iop_err err = {0};
        iop_instance *in = NULL;
        iop_open_opts oo = {.exact_keys_only = exact};
        REQUIRE(iop_init_dir(dir, NULL, &err) == IOP_OK);
        REQUIRE(iop_open(dir, &oo, &in, &err) == IOP_OK);
        access_authority_type t;
        access_authority_type_parse("border_guard", &t, NULL);
        const char *prof[] = {"border_guard", "integrator"};
        access_user_spec spec = {.name = "bg", .authority = "Test", .authority_type = t, .member_state = "DEU",
                                 .profiles = prof, .n_profiles = 1};
        REQUIRE(access_user_add(iop_access_db(in), &spec, NULL, &err) == IOP_OK);
        access_user_spec ispec = {.name = "integrator", .authority = "Test", .authority_type = t, .member_state = "DEU",
                                  .profiles = prof + 1, .n_profiles = 1};
        REQUIRE(access_user_add(iop_access_db(in), &ispec, NULL, &err) == IOP_OK);
        iop_actor op;
        REQUIRE(iop_actor_local(in, "integrator", NULL, "test", &op, &err) == IOP_OK);
        const char *recs =
            "{\"id\":\"V-CYR\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Гронский\"],"
            "\"given_names\":[\"Михаил\"],\"dob\":\"1991-03-15\",\"application_number\":\"A1\",\"status\":\"issued\"}\n"
            "{\"id\":\"V-SPELL\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Phabio\"],"
            "\"given_names\":[\"Hussain\"],\"dob\":\"1994-10-18\",\"application_number\":\"A2\",\"status\":\"issued\"}\n";
        iop_load_stats st = {0};
        REQUIRE(iop_load_jsonl(in, &op, "recs", recs, strlen(recs), 0, &st, &err) == IOP_OK);
        json_t *r = search_as(in, "bg", "{\"surnames\":[\"Gronskii\"],\"given_names\":[\"Mikhail\"],\"dob\":\"1991-03-15\"}", NULL);
        REQUIRE(r);
        CHECK(ids_equal(vis_hits(r), exact ? "" : "V-CYR"));
        json_decref(r);
        r = search_as(in, "bg", "{\"surnames\":[\"Fabio\"],\"given_names\":[\"Hussein\"],\"dob\":\"1994-10-18\"}", NULL);
        REQUIRE(r);
        CHECK(ids_equal(vis_hits(r), exact ? "" : "V-SPELL"));
        json_decref(r);
        iop_actor_clear(&op);
        iop_close(in);
    }
}

/* The replies of a node that bounds each name candidate's score from the fields its
 * index holds (and reads only those that can reach the threshold) are those of a node
 * reading every candidate: 500 queries over a generated population, with typos, swapped
 * names, partial and neighbouring dates, sex and nationality. */
TEST(bounding_candidates_from_the_index_gives_the_replies_of_reading_them_all) {
    char pop[1024];
    snprintf(pop, sizeof pop, "%s", test_tmpdir("bound-pop"));
    iop_err err = {0};
    gen_params gp;
    gen_params_default(&gp);
    gp.persons = 3000;
    gp.seed = 11;
    gp.out_dir = pop;
    gp.data_dir = IOP_SHARED_DATA;
    gp.biometrics = false;
    REQUIRE(gen_run(&gp, NULL, &err) == IOP_OK);
    iop_actor op;
    iop_instance *in = fresh_node("bound-node", &op); /* users and profiles */
    REQUIRE(in);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", node_dir);
    static const char *const files[] = {"vis", "ees", "etias", "eurodac", "ecris-tcn", "sis"};
    for (size_t k = 0; k < 6; k++) {
        char fp[2048];
        snprintf(fp, sizeof fp, "%s/%s.jsonl", pop, files[k]);
        iop_load_stats st = {0};
        REQUIRE(iop_load_file(in, &op, fp, 1000, NULL, NULL, &st, &err) == IOP_OK);
    }
    iop_actor_clear(&op);
    iop_close(in);
    /* the queries: from the first 100 EES records, four forms each */
    char path[2048];
    snprintf(path, sizeof path, "%s/ees.jsonl", pop);
    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL);
    enum { NQ = 500 };
    char **queries = calloc(NQ, sizeof *queries);
    REQUIRE(queries != NULL);
    size_t nq = 0;
    char line[8192];
    while (nq + 5 <= NQ && fgets(line, sizeof line, f)) {
        json_t *r = json_loads(line, 0, NULL);
        if (!r) continue;
        const char *sur = json_string_value(json_array_get(json_object_get(r, "surnames"), 0));
        const char *giv = json_string_value(json_array_get(json_object_get(r, "given_names"), 0));
        const char *dob = json_string_value(json_object_get(r, "dob"));
        const char *sex = json_string_value(json_object_get(r, "sex"));
        const char *nat = json_string_value(json_array_get(json_object_get(r, "nationalities"), 0));
        if (sur && giv && dob && strlen(dob) == 10 && sex && nat) {
            char q[1024];
            snprintf(q, sizeof q, "{\"surnames\":[\"%s\"],\"given_names\":[\"%s\"],\"dob\":\"%s\"}", sur, giv, dob);
            queries[nq++] = strdup(q);
            snprintf(q, sizeof q, "{\"surnames\":[\"%s\"],\"dob\":\"%.4s\"}", sur, dob);
            queries[nq++] = strdup(q);
            snprintf(q, sizeof q, "{\"surnames\":[\"%s\"],\"given_names\":[\"%s\"],\"dob\":\"%s\"}", giv, sur, dob);
            queries[nq++] = strdup(q);
            /* a one-letter typo in the surname, sex and nationality */
            char typo[256];
            snprintf(typo, sizeof typo, "%s", sur);
            size_t tl = strlen(typo);
            if (tl > 3 && (unsigned char)typo[tl / 2] < 0x80) typo[tl / 2] = typo[tl / 2] == 'e' ? 'a' : 'e';
            snprintf(q, sizeof q,
                     "{\"surnames\":[\"%s\"],\"given_names\":[\"%s\"],\"dob\":\"%s\",\"sex\":\"%s\",\"nationality\":\"%s\"}",
                     typo, giv, dob, sex, nat);
            queries[nq++] = strdup(q);
            /* the surname only, born a year later on the same day, the nationality: scores
             * near the threshold, where every part of the bound counts */
            snprintf(q, sizeof q,
                     "{\"surnames\":[\"%s\"],\"given_names\":[\"Zzyzx\"],\"dob\":\"%04d%s\",\"nationality\":\"%s\"}",
                     sur, atoi(dob) + 1, dob + 4, nat);
            queries[nq++] = strdup(q);
        }
        json_decref(r);
    }
    fclose(f);
    REQUIRE(nq == NQ);
    char *replies[2][NQ];
    size_t hits = 0, mismatches = 0;
    for (int full = 0; full < 2; full++) {
        iop_open_opts o = {.full_candidate_reads = full == 1};
        in = NULL;
        REQUIRE(iop_open(dir, &o, &in, &err) == IOP_OK);
        REQUIRE(iop_actor_local(in, "integrator", NULL, "test", &op, &err) == IOP_OK);
        for (size_t i = 0; i < nq; i++) {
            iop_buf r;
            iop_buf_init(&r);
            REQUIRE(iop_search_json(in, &op, queries[i], strlen(queries[i]), &r, &err) == IOP_OK);
            replies[full][i] = r.data;
        }
        if (full) {
            /* every candidate the bound would have dropped scores under the threshold */
            uint64_t checked = 0, violations = 0;
            esp_bound_check(iop_portal(in), &checked, &violations);
            CHECK(checked > 2 * NQ);
            CHECK_INT((long long)violations, 0);
        }
        iop_actor_clear(&op);
        iop_close(in);
    }
    for (size_t i = 0; i < nq; i++) {
        for (const char *p = replies[0][i]; (p = strstr(p, "\"score\":")); p++) hits++;
        if (strcmp(replies[0][i], replies[1][i])) {
            if (mismatches++ < 3)
                fprintf(stderr, "  %s\n   bounded: %.300s\n   read all: %.300s\n", queries[i], replies[0][i], replies[1][i]);
        }
        free(replies[0][i]);
        free(replies[1][i]);
        free(queries[i]);
    }
    free(queries);
    CHECK(hits > NQ); /* the queries find their persons (and others) */
    CHECK_INT((long long)mismatches, 0);
}

TEST(acknowledged_loads_survive_kill_9) {
    const char *dir = test_tmpdir("crash");
    iop_err err = {0};
    REQUIRE(iop_init_dir(dir, NULL, &err) == IOP_OK);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        iop_instance *in;
        iop_actor op;
        if (iop_open(dir, NULL, &in, &err) || iop_actor_local(in, "nobody", NULL, NULL, &op, &err) == IOP_OK) _exit(3);
        const esp_profile *p = esp_profile_find(iop_profiles(in), "integrator");
        iop_actor a = {.user = (char *)"crash-test", .authority = (char *)"test", .profile = p};
        for (int batch = 0;; batch++) {
            char text[64 * 300], *t = text;
            for (int i = 0; i < 50; i++)
                t += sprintf(t, "{\"id\":\"E-%d-%d\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"N%d\"]}\n",
                             batch, i, i);
            iop_load_stats st = {0};
            if (iop_load_jsonl(in, &a, "crash", text, strlen(text), 0, &st, &err)) _exit(4);
            if (write(fds[1], &batch, sizeof batch) != sizeof batch) _exit(5); /* acknowledged */
        }
    }
    close(fds[1]);
    int acked = -1, b;
    for (int k = 0; k < 20 && read(fds[0], &b, sizeof b) == sizeof b; k++) acked = b;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read(fds[0], &b, sizeof b) == sizeof b) acked = b; /* acknowledgements already sent */
    close(fds[0]);
    REQUIRE(acked >= 0);
    iop_instance *in;
    REQUIRE(iop_open(dir, NULL, &in, &err) == IOP_OK);
    iop_counts c;
    REQUIRE(iop_count(in, &c, &err) == IOP_OK);
    CHECK(c.records[IOP_SYS_EES] >= (int64_t)(acked + 1) * 50);
    CHECK(c.records[IOP_SYS_EES] % 50 == 0); /* no half batch */
    CHECK(c.cir_files >= (int64_t)(acked + 1) * 50);
    iop_close(in);
}
