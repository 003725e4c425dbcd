/* test-links: instance gen */
/*
 * Biometric queries through the portal: the sBMS finds the person by fingerprints or
 * face across the systems the profile may query, and only those (Reg. 2019/817
 * Arts 9(1), 9(4), 13-14).
 */
#include <jansson.h>
#include "interop/access.h"
#include "interop/gen.h"
#include "interop/interop.h"
#include "test.h"

static const int ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/* A record of person `who` (capture `cap`) in system `sys`, with biometrics. */
static void person(gen_bio *g, rec_person *r, iop_system sys, const char *id, uint64_t who, uint32_t cap) {
    static char *sur[] = {"Doe"}, *giv[] = {"Alex"};
    memset(r, 0, sizeof *r);
    r->id = (char *)id;
    r->system = sys;
    r->kind = sys == IOP_SYS_VIS ? "visa_application" : sys == IOP_SYS_EES ? "individual_file" : "applicant";
    r->surnames = sur; r->n_surnames = 1;
    r->given_names = giv; r->n_given_names = 1;
    r->sex = 'U';
    r->ext = sys == IOP_SYS_VIS ? "{\"application_number\":\"A1\"}" : sys == IOP_SYS_EURODAC ? "{\"member_state_of_origin\":\"ITA\"}" : "{}";
    iop_err err = {0};
    if (gen_bio_fill(g, who, cap, ten, sys == IOP_SYS_EES ? 4 : 10, true, r, &err))
        test_failed(__FILE__, __LINE__, "%s", err.msg);
}

TEST(art9_biometric_query_finds_the_person_in_the_permitted_systems_only) {
    const char *dir = test_tmpdir("portal-bio");
    iop_err err = {0};
    iop_instance *in;
    REQUIRE(iop_init_dir(dir, NULL, &err) == IOP_OK && iop_open(dir, NULL, &in, &err) == IOP_OK);
    gen_bio *g;
    REQUIRE(gen_bio_new(7, 128, &g, &err) == IOP_OK);
    rec_person recs[6];
    person(g, &recs[0], IOP_SYS_VIS, "V-7", 7, 1);
    person(g, &recs[1], IOP_SYS_EES, "E-7", 7, 2);
    person(g, &recs[2], IOP_SYS_EURODAC, "D-7", 7, 3);
    person(g, &recs[3], IOP_SYS_VIS, "V-8", 8, 1);
    person(g, &recs[4], IOP_SYS_EES, "E-9", 9, 1);
    person(g, &recs[5], IOP_SYS_VIS, "V-10", 10, 1);
    iop_actor op = {.user = "t", .authority = "t", .profile = esp_profile_find(iop_profiles(in), "integrator")};
    iop_load_stats st = {0};
    REQUIRE(iop_load_records(in, &op, recs, 6, &st, &err) == IOP_OK);
    /* the probe: a new capture of person 7, fingers and face */
    rec_person probe;
    person(g, &probe, IOP_SYS_VIS, "probe", 7, 99);
    iop_buf q;
    iop_buf_init(&q);
    iop_buf_puts(&q, "{\"fingerprints\":[");
    for (size_t i = 0; i < 2; i++) {
        char *b64 = iop_base64_encode(probe.fingers[i].tpl.data, probe.fingers[i].tpl.len);
        iop_buf_printf(&q, "%s{\"position\":%d,\"format\":\"iso19794-2-2005\",\"data\":\"%s\"}", i ? "," : "",
                       probe.fingers[i].position, b64);
        free(b64);
    }
    char *face = iop_base64_encode(probe.face->data, probe.face->len);
    iop_buf_printf(&q, "],\"face\":{\"format\":\"f32\",\"data\":\"%s\"}}", face);
    free(face);

    access_authority_type t;
    access_authority_type_parse("border_guard", &t, NULL);
    const char *prof = "border_guard";
    access_user_spec spec = {.name = "bg", .authority = "t", .authority_type = t, .member_state = "DEU",
                             .profiles = &prof, .n_profiles = 1};
    REQUIRE(access_user_add(iop_access_db(in), &spec, NULL, &err) == IOP_OK);
    iop_actor bg;
    REQUIRE(iop_actor_local(in, "bg", NULL, "test", &bg, &err) == IOP_OK);
    iop_buf reply;
    iop_buf_init(&reply);
    REQUIRE(iop_search_json(in, &bg, q.data, q.len, &reply, &err) == IOP_OK);
    json_t *r = json_loads(reply.data, 0, NULL);
    REQUIRE(r);
    size_t i, j;
    json_t *x, *h;
    bool vis7 = false, ees7 = false, other = false;
    json_array_foreach(json_object_get(r, "results"), i, x) {
        const char *sys = json_string_value(json_object_get(x, "system"));
        CHECK(strcmp(sys, "eurodac") != 0); /* never revealed to a border guard */
        json_array_foreach(json_object_get(x, "hits"), j, h) {
            const char *id = json_string_value(json_object_get(json_object_get(h, "record"), "id"));
            CHECK_STR(json_string_value(json_object_get(h, "match")), "biometric");
            if (!strcmp(id, "V-7")) vis7 = j == 0;
            else if (!strcmp(id, "E-7")) ees7 = j == 0;
            else if (json_real_value(json_object_get(h, "score")) > 0.9) other = true;
        }
    }
    CHECK(vis7);  /* the mate first in VIS */
    CHECK(ees7);  /* and in EES */
    CHECK(!other);
    json_decref(r);
    /* a profile that may not query by biometrics is refused (Art 8(1)(a)) */
    access_authority_type_parse("etias_unit", &t, NULL);
    prof = "etias_unit";
    spec.name = "et";
    spec.authority_type = t;
    REQUIRE(access_user_add(iop_access_db(in), &spec, NULL, &err) == IOP_OK);
    iop_actor et;
    REQUIRE(iop_actor_local(in, "et", NULL, "test", &et, &err) == IOP_OK);
    iop_buf_reset(&reply);
    CHECK(iop_search_json(in, &et, q.data, q.len, &reply, &err) == IOP_EDENIED);
    iop_actor_clear(&et);
    iop_actor_clear(&bg);
    iop_buf_free(&reply);
    iop_buf_free(&q);
    gen_bio_clear(&probe);
    for (int k = 0; k < 6; k++) gen_bio_clear(&recs[k]);
    gen_bio_free(g);
    iop_close(in);
}
