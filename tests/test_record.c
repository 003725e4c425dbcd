/* test-links: record */
#include "interop/record.h"
#include "test.h"

static iop_code parse(const char *s, rec_person *p, iop_err *e) { return rec_parse(s, strlen(s), p, e); }

TEST(record_round_trips_through_json) {
    const char *in =
        "{\"id\":\"VIS-1\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Шеглова\"],"
        "\"given_names\":[\"Юлия\"],\"dob\":\"1990-05\",\"sex\":\"F\",\"nationalities\":[\"RUS\"],"
        "\"documents\":[{\"type\":\"passport\",\"number\":\"75 1234567\",\"country\":\"RUS\",\"expiry\":\"2030-01-01\"}],"
        "\"biometrics\":{\"fingerprints\":[{\"position\":2,\"format\":\"iso19794-2-2005\",\"data\":\"AAEC\"}]},"
        "\"application_number\":\"DE-2024-1\",\"status\":\"issued\"}";
    rec_person p, q;
    iop_err e;
    REQUIRE(parse(in, &p, &e) == IOP_OK);
    CHECK_STR(p.surnames[0], "Шеглова");
    CHECK_INT(p.dob.month, 5);
    CHECK_INT(p.fingers[0].tpl.len, 3);
    CHECK_STR(p.ext, "{\"application_number\":\"DE-2024-1\",\"status\":\"issued\"}");
    iop_buf b;
    iop_buf_init(&b);
    REQUIRE(rec_to_json(&p, true, &b) == IOP_OK);
    REQUIRE(rec_parse(b.data, b.len, &q, &e) == IOP_OK);
    CHECK_STR(q.given_names[0], "Юлия");
    CHECK_STR(q.documents[0].number, "75 1234567");
    CHECK_STR(q.ext, p.ext);
    CHECK_INT(q.fingers[0].position, 2);
    iop_buf_free(&b);
    rec_person_clear(&p);
    rec_person_clear(&q);
}

TEST(unknown_field_is_an_error_not_dropped) {
    rec_person p;
    iop_err e;
    CHECK(parse("{\"id\":\"x\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],\"colour\":1}", &p, &e) ==
          IOP_EINVAL);
    CHECK(strstr(e.msg, "'colour'") && strstr(e.msg, "unknown field"));
    /* a field of another system is unknown here too */
    CHECK(parse("{\"id\":\"x\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],\"convicting_state\":\"DEU\"}",
                &p, &e) == IOP_EINVAL);
}

TEST(errors_name_the_field_and_index) {
    rec_person p;
    iop_err e;
    CHECK(parse("{\"id\":\"x\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],"
                "\"movements\":[{\"type\":\"entry\",\"date\":\"2024-01-01\"},{\"type\":\"entry\",\"date\":\"2024-02-30\"}]}",
                &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "movements[1].date") != NULL);
    CHECK(parse("{\"id\":\"x\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"A\"]}", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "application_number") && strstr(e.msg, "required"));
    CHECK(parse("{\"id\":\"x\",\"system\":\"mars\",\"kind\":\"k\"}", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "unknown system 'mars'") != NULL);
    CHECK(parse("{\"id\":\"x\",\"system\":\"sis\",\"kind\":\"person_alert\",\"surnames\":[\"A\"],\"category\":\"arrest\","
                "\"issuing_state\":\"DEU\",\"documents\":[{\"number\":\"1\",\"country\":\"de\"}]}", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "documents[0].country") != NULL);
    CHECK(parse("{\"id\":\"x\",\"id\":\"y\"}", &p, &e) == IOP_EINVAL);
    CHECK(parse("{\"id\":\"x\",", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "malformed JSON") != NULL);
    CHECK(parse("{\"id\":\"x\",\"system\":\"ecris-tcn\",\"kind\":\"record\",\"convicting_state\":\"FRA\"}", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "at least one name") != NULL);
}

TEST(document_only_records_need_a_document_not_a_name) {
    rec_person p;
    iop_err e;
    REQUIRE(parse("{\"id\":\"S1\",\"system\":\"interpol\",\"kind\":\"sltd_document\",\"status\":\"stolen\","
                  "\"documents\":[{\"number\":\"X1\",\"country\":\"FRA\",\"type\":\"passport\"}]}", &p, &e) == IOP_OK);
    rec_person_clear(&p);
    CHECK(parse("{\"id\":\"S1\",\"system\":\"interpol\",\"kind\":\"sltd_document\"}", &p, &e) == IOP_EINVAL);
}

TEST(cir_holds_ees_vis_etias_eurodac_ecris_not_sis_art18) {
    CHECK(iop_system_in_cir(IOP_SYS_EES));
    CHECK(iop_system_in_cir(IOP_SYS_VIS));
    CHECK(iop_system_in_cir(IOP_SYS_ETIAS));
    CHECK(iop_system_in_cir(IOP_SYS_EURODAC));
    CHECK(iop_system_in_cir(IOP_SYS_ECRIS_TCN));
    CHECK(!iop_system_in_cir(IOP_SYS_SIS));
    CHECK(!iop_system_in_cir(IOP_SYS_EUROPOL));
    CHECK(!iop_system_in_cir(IOP_SYS_INTERPOL));
}

TEST(biometric_data_may_be_longer_than_text_fields) {
    /* a 2,048-byte face vector (512 float32) and a 3 KB template are ordinary sizes */
    uint8_t raw[3072];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)i;
    char *b64 = iop_base64_encode(raw, 2048), *fp = iop_base64_encode(raw, 3072);
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_printf(&b, "{\"id\":\"E\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],\"biometrics\":{"
                       "\"fingerprints\":[{\"position\":2,\"format\":\"iso19794-2-2005\",\"data\":\"%s\"}],"
                       "\"face\":{\"format\":\"f32\",\"data\":\"%s\"}}}", fp, b64);
    rec_person p;
    iop_err e;
    REQUIRE(rec_parse(b.data, b.len, &p, &e) == IOP_OK);
    CHECK_INT(p.face->len, 2048);
    CHECK_INT(p.fingers[0].tpl.len, 3072);
    rec_person_clear(&p);
    iop_buf_free(&b);
    free(b64);
    free(fp);
}

TEST(malformed_record_json_names_the_byte_and_bad_text_is_refused) {
    rec_person p;
    iop_err e;
    /* the fault's position, for "file:line: ..." prefixes of load */
    CHECK(parse("{\"id\":\"x\",\"system\":\"vis\",}", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "malformed JSON at line 1, column 26 (byte 25)") && strstr(e.msg, "trailing comma"));
    /* invalid UTF-8 in a name, a duplicate member, an escaped control character */
    CHECK(parse("{\"id\":\"x\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"M\xc3\"]}", &p, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "invalid UTF-8") != NULL);
    CHECK(parse("{\"id\":\"x\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],\"surnames\":[\"B\"]}", &p, &e) ==
          IOP_EINVAL);
    CHECK(strstr(e.msg, "duplicate key \"surnames\"") != NULL);
    CHECK(parse("{\"id\":\"x\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\",\"B\\u0007\"]}", &p, &e) ==
          IOP_EINVAL);
    CHECK(strstr(e.msg, "field 'surnames[1]': contains a control character at byte 1") != NULL);
    /* the system-specific fields are kept as canonical JSON: sorted keys at every depth */
    REQUIRE(parse("{\"surnames\":[\"A\"],\"movements\":[{\"type\":\"entry\",\"date\":\"2024-01-01\",\"bcp\":\"POL-WAW\"}],"
                  "\"visa_holder\":true,\"id\":\"E1\",\"system\":\"ees\",\"kind\":\"individual_file\","
                  "\"authorised_stay_until\":\"2024-03-01\"}", &p, &e) == IOP_OK);
    CHECK_STR(p.ext, "{\"authorised_stay_until\":\"2024-03-01\",\"movements\":[{\"bcp\":\"POL-WAW\",\"date\":\"2024-01-01\","
                     "\"type\":\"entry\"}],\"visa_holder\":true}");
    rec_person_clear(&p);
}
