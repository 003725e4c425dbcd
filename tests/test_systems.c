/* test-links: instance */
/*
 * The connected systems' own rules: retention per system (computed when a record is
 * written, enforced by the purge, followed by the CIR: Reg. 2019/817 Art 23), search keys
 * and normalisation.
 */
#include "interop/cir.h"
#include "interop/interop.h"
#include "interop/systems.h"
#include "test.h"

static int64_t day(int y, int m, int d) { return iop_days_from_civil(y, m, d); }

static int64_t expiry(const char *json) {
    rec_person p;
    iop_err err = {0};
    if (rec_parse(json, strlen(json), &p, &err)) { test_failed(__FILE__, __LINE__, "%s", err.msg); return -1; }
    int64_t e = sys_retention_policy(p.system)->expiry_day(&p, day(2026, 1, 1));
    rec_person_clear(&p);
    return e;
}

TEST(ees_art34_three_years_and_a_day_after_the_last_exit) {
    CHECK_INT(expiry("{\"id\":\"e\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],\"movements\":["
                     "{\"type\":\"entry\",\"date\":\"2024-01-01\",\"authority\":\"x}{\\\"date\\\":\\\"2099-01-01\\\"\"},"
                     "{\"type\":\"exit\",\"date\":\"2024-01-20\"},{\"type\":\"entry\",\"date\":\"2023-05-01\"}]}"),
              day(2027, 1, 20) + 1);
}

TEST(ees_art34_five_years_after_the_authorised_stay_without_exit) {
    CHECK_INT(expiry("{\"id\":\"e\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"A\"],"
                     "\"authorised_stay_until\":\"2025-03-31\",\"movements\":[{\"type\":\"exit\",\"date\":\"2024-01-20\"},"
                     "{\"type\":\"entry\",\"date\":\"2025-01-01\"}]}"),
              day(2030, 3, 31));
}

TEST(ees_art34_refusal_counts_like_an_exit) {
    CHECK_INT(expiry("{\"id\":\"e\",\"system\":\"ees\",\"kind\":\"refusal_file\",\"surnames\":[\"A\"],"
                     "\"movements\":[{\"date\":\"2025-06-30\",\"type\":\"refusal\"}]}"),
              day(2028, 6, 30) + 1);
}

TEST(vis_art23_five_years_after_the_visa_expiry) {
    CHECK_INT(expiry("{\"id\":\"v\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"A\"],"
                     "\"application_number\":\"1\",\"valid_until\":\"2025-02-28\",\"lodged_on\":\"2024-12-01\"}"),
              day(2030, 2, 28));
}

TEST(eurodac_art29_ten_years_for_applicants_five_for_irregular_crossers) {
    CHECK_INT(expiry("{\"id\":\"d\",\"system\":\"eurodac\",\"kind\":\"applicant\",\"surnames\":[\"A\"],"
                     "\"member_state_of_origin\":\"ITA\",\"fingerprinted_on\":\"2020-04-02\"}"),
              day(2030, 4, 2));
    CHECK_INT(expiry("{\"id\":\"d\",\"system\":\"eurodac\",\"kind\":\"irregular_crosser\",\"surnames\":[\"A\"],"
                     "\"member_state_of_origin\":\"ITA\",\"fingerprinted_on\":\"2020-04-02\"}"),
              day(2025, 4, 2));
}

TEST(sis_alert_kept_until_its_review_date_ecris_until_the_owner_deletes) {
    CHECK_INT(expiry("{\"id\":\"s\",\"system\":\"sis\",\"kind\":\"person_alert\",\"surnames\":[\"A\"],\"category\":\"arrest\","
                     "\"issuing_state\":\"DEU\",\"review_date\":\"2029-07-01\"}"),
              day(2029, 7, 1));
    CHECK_INT(expiry("{\"id\":\"c\",\"system\":\"ecris-tcn\",\"kind\":\"record\",\"surnames\":[\"A\"],\"convicting_state\":\"FRA\"}"), 0);
}

TEST(art23_purge_removes_expired_records_and_their_cir_data) {
    const char *dir = test_tmpdir("purge");
    iop_err err = {0};
    iop_instance *in;
    REQUIRE(iop_init_dir(dir, NULL, &err) == IOP_OK && iop_open(dir, NULL, &in, &err) == IOP_OK);
    iop_actor op = {.user = "t", .authority = "t", .profile = esp_profile_find(iop_profiles(in), "integrator")};
    const char *text =
        "{\"id\":\"OLD\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"A\"],\"application_number\":\"1\",\"valid_until\":\"2001-01-01\"}\n"
        "{\"id\":\"NEW\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"B\"],\"application_number\":\"2\",\"valid_until\":\"2030-01-01\"}\n";
    iop_load_stats st = {0};
    REQUIRE(iop_load_jsonl(in, &op, "t", text, strlen(text), 0, &st, &err) == IOP_OK);
    size_t purged = 0;
    REQUIRE(iop_purge_expired(in, day(2026, 1, 1), &purged, &err) == IOP_OK);
    CHECK_INT(purged, 1);
    iop_counts c;
    REQUIRE(iop_count(in, &c, &err) == IOP_OK);
    CHECK_INT(c.records[IOP_SYS_VIS], 1);
    CHECK_INT(c.cir_files, 1);
    iop_close(in);
}

TEST(name_keys_fold_case_diacritics_and_punctuation) {
    char k[128];
    sys_name_key("Müller-Lüdenscheidt", k, sizeof k);
    CHECK_STR(k, "muller ludenscheidt");
    sys_name_key("O'Neil", k, sizeof k);
    CHECK_STR(k, "oneil");
    sys_name_key("ŁUKASZ", k, sizeof k);
    CHECK(strlen(k) > 0);
    sys_name_key("Щеглова", k, sizeof k);
    CHECK_STR(k, "щеглова");
    sys_doc_key("ab 12-34.5", k, sizeof k);
    CHECK_STR(k, "AB12345");
}
