/* test-links: sbms_fp */
/*
 * test_fp.c -- the fingerprint part of the shared biometric matching service
 * (Reg. (EU) 2019/817 Arts 12-16): formats, quality check, matcher, gallery, generator.
 */
#include <math.h>
#include <pthread.h>
#include "interop/sbms_fp.h"
#include "test.h"

#define DATA IOP_SHARED_DATA

static int load(const char *rel, iop_fp_template *t, iop_err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", DATA, rel);
    char *d;
    size_t n;
    if (iop_read_file(path, &d, &n, e)) return -1;
    int rc = iop_fp_parse((const uint8_t *)d, n, IOP_FP_AUTO, t, e);
    free(d);
    return rc;
}

static double fvc_score(const char *a, const char *b) {
    iop_fp_template ta, tb;
    if (load(a, &ta, NULL) || load(b, &tb, NULL)) return -1;
    double s = -1;
    iop_fp_compare(&ta.fingers[0], &tb.fingers[0], &s, NULL);
    iop_fp_template_free(&ta);
    iop_fp_template_free(&tb);
    return s;
}

/* ---------------------------------------------------------------- formats */

TEST(iso_2005_fvc_template_parses_with_its_header_fields) {
    iop_fp_template t;
    iop_err e;
    REQUIRE(load("fingerprints/fvc2002/DB1_B/101_1.iso", &t, &e) == IOP_OK);
    CHECK_INT(t.format, IOP_FP_ISO2005);
    CHECK_INT(t.n_fingers, 1);
    CHECK_INT(t.fingers[0].width, 300);
    CHECK_INT(t.fingers[0].height, 400);
    CHECK_INT(t.fingers[0].xres, 197);
    CHECK_INT(t.fingers[0].n, 25);
    /* first minutia: bifurcation at (165, 48), angle 0x6b * 1.40625 degrees */
    CHECK_INT(t.fingers[0].m[0].type, IOP_FP_BIFURCATION);
    CHECK_NEAR(t.fingers[0].m[0].x, 165, 0.01);
    CHECK_NEAR(t.fingers[0].m[0].y, 48, 0.01);
    CHECK_NEAR(t.fingers[0].m[0].angle * 180 / M_PI, 0x6b * 1.40625, 0.01);
    iop_fp_template_free(&t);
}

TEST(all_four_formats_of_the_nist_samples_are_detected_and_agree) {
    iop_fp_template iso, a04, a09;
    iop_err e;
    REQUIRE(load("formats/fmr.iso2005", &iso, &e) == IOP_OK);
    REQUIRE(load("formats/fmr.ansi2004", &a04, &e) == IOP_OK);
    REQUIRE(load("formats/fmr.ansi2007", &a09, &e) == IOP_OK);
    CHECK_INT(iso.format, IOP_FP_ISO2005);
    CHECK_INT(a04.format, IOP_FP_ANSI2004);
    CHECK_INT(a09.format, IOP_FP_ANSI2009);
    CHECK_INT(a04.n_fingers, 3);
    CHECK_INT(a09.n_fingers, 2);
    /* the same finger (position 7) in the three encodings: same minutiae, angles within
       the coarser 2-degree ANSI unit */
    CHECK_INT(iso.fingers[0].position, 7);
    CHECK_INT(a09.fingers[0].position, 7);
    CHECK_INT(iso.fingers[0].n, a04.fingers[0].n);
    CHECK_INT(iso.fingers[0].n, a09.fingers[0].n);
    for (unsigned i = 0; i < iso.fingers[0].n; i++) {
        CHECK_NEAR(iso.fingers[0].m[i].x, a04.fingers[0].m[i].x, 0.01);
        CHECK_NEAR(iso.fingers[0].m[i].y, a09.fingers[0].m[i].y, 0.01);
        double d = fabs(iso.fingers[0].m[i].angle - a04.fingers[0].m[i].angle);
        if (d > M_PI) d = 2 * M_PI - d;
        CHECK(d < 2.5 * M_PI / 180);
    }
    iop_fp_template_free(&iso);
    iop_fp_template_free(&a04);
    iop_fp_template_free(&a09);
}

TEST(ansi_nist_type9_standard_and_extended_feature_set_are_read) {
    iop_fp_template t;
    iop_err e;
    REQUIRE(load("formats/type9.an2k", &t, &e) == IOP_OK);
    CHECK_INT(t.format, IOP_FP_ANSI_NIST);
    CHECK_INT(t.n_fingers, 1);
    CHECK_INT(t.fingers[0].n, 28);  /* 9.010 */
    iop_fp_template_free(&t);
    REQUIRE(load("formats/type9-efs.an2k", &t, &e) == IOP_OK);
    CHECK_INT(t.n_fingers, 8);      /* eight Type-9 records with 9.331 minutiae */
    CHECK_INT(t.fingers[0].position, 8);
    CHECK(t.fingers[0].n > 12);
    iop_fp_template_free(&t);
}

TEST(ansi_nist_image_records_are_skipped_by_their_length) {
    iop_fp_template t;
    iop_err e;
    /* Type-15 palm images (2.5 MB) before the Type-9 record; Type-4 binary image */
    REQUIRE(load("formats/type9-15.an2k", &t, &e) == IOP_OK);
    CHECK_INT(t.fingers[0].n, 28);
    iop_fp_template_free(&t);
    REQUIRE(load("formats/valid1.14.an2", &t, &e) == IOP_OK);
    CHECK_INT(t.fingers[0].position, 10);
    iop_fp_template_free(&t);
    REQUIRE(load("formats/type9-13.an2k", &t, &e) == IOP_OK);
    /* the extent comes from the Type-13 image with the same IDC */
    CHECK_INT(t.fingers[0].width, 191);
    CHECK_INT(t.fingers[0].height, 357);
    iop_fp_template_free(&t);
}

TEST(truncated_templates_are_rejected_with_the_byte_offset) {
    const char *files[] = {"101_1_truncate_1_byte.iso", "101_1_truncate_2_bytes.iso", "101_1_truncate_3_bytes.iso"};
    for (int i = 0; i < 3; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fingerprints/invalid/%s", files[i]);
        iop_fp_template t;
        iop_err e;
        CHECK(load(rel, &t, &e) == IOP_EFORMAT);
        CHECK(strstr(e.msg, "byte 8") != NULL);
        CHECK(strstr(e.msg, "truncated") != NULL);
    }
}

TEST(every_truncation_of_a_valid_record_is_rejected_and_never_read_past_the_end) {
    const char *files[] = {"fingerprints/fvc2002/DB2_B/103_4.iso", "formats/fmr.ansi2004", "formats/fmr.ansi2007",
                           "formats/type9.an2k", "formats/type9-efs.an2k"};
    for (int f = 0; f < 5; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", DATA, files[f]);
        char *d;
        size_t n;
        REQUIRE(iop_read_file(path, &d, &n, NULL) == IOP_OK);
        size_t rejected = 0, tried = 0;
        for (size_t cut = 0; cut + 3 < n; cut += (n > 2000 ? 7 : 1)) {
            /* a private copy of exactly `cut` bytes, so that ASan sees any over-read */
            uint8_t *c = malloc(cut ? cut : 1);
            REQUIRE(c);
            memcpy(c, d, cut);
            iop_fp_template t;
            iop_err e;
            tried++;
            if (iop_fp_parse(c, cut, IOP_FP_AUTO, &t, &e) != IOP_OK) rejected++;
            else iop_fp_template_free(&t);
            free(c);
        }
        CHECK_INT(rejected, tried);
        free(d);
    }
}

TEST(corrupted_fields_are_named_in_the_error) {
    char path[4096];
    snprintf(path, sizeof path, "%s/fingerprints/fvc2002/DB1_B/101_1.iso", DATA);
    char *d;
    size_t n;
    REQUIRE(iop_read_file(path, &d, &n, NULL) == IOP_OK);
    uint8_t *c = malloc(n);
    REQUIRE(c);
    iop_fp_template t;
    iop_err e;
    memcpy(c, d, n);
    c[24] = 11; /* finger position */
    CHECK(iop_fp_parse(c, n, IOP_FP_AUTO, &t, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "byte 24") && strstr(e.msg, "position"));
    memcpy(c, d, n);
    c[28] |= 0xC0; /* minutia type 3 (reserved) */
    CHECK(iop_fp_parse(c, n, IOP_FP_AUTO, &t, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "byte 28") && strstr(e.msg, "type"));
    memcpy(c, d, n);
    c[4] = '9'; /* version */
    CHECK(iop_fp_parse(c, n, IOP_FP_AUTO, &t, &e) == IOP_EFORMAT);
    CHECK(iop_fp_parse(c, n, IOP_FP_ANSI2009, &t, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "version") != NULL);
    free(c);
    free(d);
}

TEST(iso_writer_round_trips_every_format) {
    const char *files[] = {"fingerprints/fvc2002/DB3_B/105_2.iso", "formats/fmr.ansi2004", "formats/type9-efs.an2k"};
    for (int f = 0; f < 3; f++) {
        iop_fp_template t, back;
        iop_err e;
        REQUIRE(load(files[f], &t, &e) == IOP_OK);
        uint8_t *out;
        size_t len;
        REQUIRE(iop_fp_write_iso(&t, &out, &len, &e) == IOP_OK);
        REQUIRE(iop_fp_parse(out, len, IOP_FP_AUTO, &back, &e) == IOP_OK);
        CHECK_INT(back.format, IOP_FP_ISO2005);
        CHECK_INT(back.n_fingers, t.n_fingers);
        for (size_t i = 0; i < t.n_fingers && i < back.n_fingers; i++) {
            CHECK_INT(back.fingers[i].n, t.fingers[i].n);
            CHECK_INT(back.fingers[i].position, t.fingers[i].position);
            for (unsigned k = 0; k < t.fingers[i].n; k++) {
                CHECK(fabs(back.fingers[i].m[k].x - t.fingers[i].m[k].x) <= 0.5f);
                CHECK(fabs(back.fingers[i].m[k].y - t.fingers[i].m[k].y) <= 0.5f);
                CHECK_INT(back.fingers[i].m[k].type, t.fingers[i].m[k].type);
            }
        }
        free(out);
        iop_fp_template_free(&t);
        iop_fp_template_free(&back);
    }
}

TEST(format_names_are_the_record_interchange_names) {
    iop_fp_format f;
    CHECK(iop_fp_format_parse("iso19794-2-2005", &f, NULL) == IOP_OK && f == IOP_FP_ISO2005);
    CHECK(iop_fp_format_parse("ansi378-2004", &f, NULL) == IOP_OK && f == IOP_FP_ANSI2004);
    CHECK(iop_fp_format_parse("ansi378-2009", &f, NULL) == IOP_OK && f == IOP_FP_ANSI2009);
    CHECK(iop_fp_format_parse("ansi-nist-itl", &f, NULL) == IOP_OK && f == IOP_FP_ANSI_NIST);
    CHECK(iop_fp_format_parse("wsq", &f, NULL) == IOP_EINVAL);
}

/* ---------------------------------------------------------------- quality */

TEST(enrolment_refuses_too_few_minutiae_and_says_why) {
    iop_fp_finger f;
    iop_fp_gen_finger(5, 1, 0, 3, NULL, &f);
    iop_err e;
    CHECK(iop_fp_quality_check(&f, NULL, &e) == IOP_OK);
    f.n = 5;
    CHECK(iop_fp_quality_check(&f, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "5 minutiae") != NULL);
}

TEST(enrolment_refuses_minutiae_outside_the_image_and_invalid_angles) {
    iop_fp_finger f;
    iop_fp_gen_finger(5, 2, 0, 3, NULL, &f);
    iop_err e;
    REQUIRE(f.n > 12);
    iop_fp_finger g = f;
    g.m[3].x = (float)g.width + 4;
    CHECK(iop_fp_quality_check(&g, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "minutia 4") && strstr(e.msg, "outside"));
    g = f;
    g.m[2].angle = 7.0f;
    CHECK(iop_fp_quality_check(&g, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "angle") != NULL);
    g = f;
    for (int i = 1; i < 6; i++) g.m[i] = g.m[0];
    CHECK(iop_fp_quality_check(&g, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "closer than") != NULL);
}

/* ---------------------------------------------------------------- matcher */

TEST(matcher_scores_impressions_of_one_finger_above_other_fingers) {
    /* FVC2002 DB1: impressions 1 and 2 of each finger against first impressions of
       the other fingers */
    int wins = 0, total = 0;
    for (int f = 101; f <= 105; f++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "fingerprints/fvc2002/DB1_B/%d_1.iso", f);
        snprintf(b, sizeof b, "fingerprints/fvc2002/DB1_B/%d_2.iso", f);
        double gen = fvc_score(a, b);
        REQUIRE(gen >= 0);
        for (int o = 101; o <= 105; o++) {
            if (o == f) continue;
            char c[128];
            snprintf(c, sizeof c, "fingerprints/fvc2002/DB1_B/%d_1.iso", o);
            double imp = fvc_score(b, c);
            total++;
            if (gen > imp) wins++;
        }
    }
    CHECK(wins >= total - 1);
}

TEST(matcher_is_symmetric_and_invariant_to_rotation_and_translation) {
    iop_fp_finger a, b;
    iop_fp_gen_finger(9, 4, 0, 2, NULL, &a);
    /* b: a rotated by 30 degrees about (150, 200) and moved by (40, -25), in a larger image */
    b = a;
    b.width = b.height = 800;
    double c = cos(M_PI / 6), s = sin(M_PI / 6);
    for (unsigned i = 0; i < a.n; i++) {
        double x = a.m[i].x - 150, y = a.m[i].y - 200;
        /* image y grows downwards: a counter-clockwise turn on the image */
        b.m[i].x = (float)(c * x + s * y + 150 + 40 + 200);
        b.m[i].y = (float)(-s * x + c * y + 200 - 25 + 200);
        double t = a.m[i].angle + M_PI / 6;
        b.m[i].angle = (float)(t >= 2 * M_PI ? t - 2 * M_PI : t);
    }
    double sab, sba, saa, other;
    iop_fp_finger o;
    iop_fp_gen_finger(9, 5, 0, 2, NULL, &o);
    REQUIRE(iop_fp_compare(&a, &b, &sab, NULL) == IOP_OK);
    REQUIRE(iop_fp_compare(&b, &a, &sba, NULL) == IOP_OK);
    REQUIRE(iop_fp_compare(&a, &a, &saa, NULL) == IOP_OK);
    REQUIRE(iop_fp_compare(&a, &o, &other, NULL) == IOP_OK);
    CHECK_NEAR(sab, sba, 0.05);
    CHECK(sab > 0.5 * saa);
    CHECK(sab > 3 * other);
}

TEST(record_score_pairs_fingers_by_position_and_reports_evidence) {
    /* two records of the same person (positions 2 and 7), one of another person */
    iop_fp_finger fa[2], fb[2], fc[2];
    for (int i = 0; i < 2; i++) {
        uint8_t pos = i ? 7 : 2;
        iop_fp_gen_finger(21, 100, 0, pos, NULL, &fa[i]);
        iop_fp_gen_finger(21, 100, 1, pos, NULL, &fb[i]);
        iop_fp_gen_finger(21, 200, 1, pos, NULL, &fc[i]);
    }
    iop_fp_template ta = {IOP_FP_ISO2005, 2, fa}, tb = {IOP_FP_ISO2005, 2, fb}, tc = {IOP_FP_ISO2005, 2, fc};
    iop_fp_record_features ra, rb, rc;
    REQUIRE(iop_fp_record_features_build(&ta, &ra, NULL) == IOP_OK);
    REQUIRE(iop_fp_record_features_build(&tb, &rb, NULL) == IOP_OK);
    REQUIRE(iop_fp_record_features_build(&tc, &rc, NULL) == IOP_OK);
    iop_fp_evidence ev[IOP_FP_MAX_FINGERS];
    size_t nev = 0;
    double same = iop_fp_record_score(&ra, &rb, ev, &nev);
    double diff = iop_fp_record_score(&ra, &rc, NULL, NULL);
    CHECK_INT(nev, 2);
    CHECK(ev[0].position == 2 || ev[0].position == 7);
    CHECK(same > diff);
    iop_fp_record_features_free(&ra);
    iop_fp_record_features_free(&rb);
    iop_fp_record_features_free(&rc);
}

/* ---------------------------------------------------------------- gallery */

static iop_fp_template gen_record(uint64_t person, uint32_t imp, iop_fp_finger *buf, int nf) {
    for (int i = 0; i < nf; i++) iop_fp_gen_finger(77, person, imp, (uint8_t)(1 + i), NULL, &buf[i]);
    return (iop_fp_template){IOP_FP_ISO2005, (size_t)nf, buf};
}

TEST(art13_gallery_finds_the_mate_and_names_its_source_system_and_record) {
    iop_fp_gallery *g;
    REQUIRE(iop_fp_gallery_new(NULL, &g, NULL) == IOP_OK);
    iop_fp_finger *buf = malloc(4 * sizeof *buf);
    REQUIRE(buf);
    for (uint64_t p = 0; p < 60; p++) {
        iop_fp_template t = gen_record(p, 0, buf, 2);
        iop_fp_ref ref = {(uint8_t)(1 + p % 3), 1000 + p};
        REQUIRE(iop_fp_gallery_add(g, ref, &t, NULL) == IOP_OK);
    }
    CHECK_INT(iop_fp_gallery_records(g), 60);
    CHECK(iop_fp_gallery_fingers(g) >= 115); /* a generated finger may fail the enrolment check */
    CHECK(iop_fp_gallery_bytes(g) <= 1024);
    iop_fp_template probe = gen_record(17, 3, buf, 2);
    iop_fp_candidate c[5];
    size_t n;
    REQUIRE(iop_fp_gallery_search(g, &probe, 5, 0, c, &n, NULL) == IOP_OK);
    REQUIRE(n >= 1);
    CHECK_INT(c[0].ref.key, 1017);
    CHECK_INT(c[0].ref.system, 1 + 17 % 3);
    CHECK_INT(c[0].n_ev, 2);
    for (size_t i = 1; i < n; i++) CHECK(c[i - 1].score >= c[i].score);
    /* the exhaustive search agrees */
    REQUIRE(iop_fp_gallery_search_exhaustive(g, &probe, 1, 0, c, &n, NULL) == IOP_OK);
    CHECK_INT(c[0].ref.key, 1017);
    free(buf);
    iop_fp_gallery_free(g);
}

TEST(art13_system_filter_keeps_other_systems_out_of_the_result) {
    iop_fp_gallery *g;
    REQUIRE(iop_fp_gallery_new(NULL, &g, NULL) == IOP_OK);
    iop_fp_finger *buf = malloc(2 * sizeof *buf);
    REQUIRE(buf);
    for (uint64_t p = 0; p < 30; p++) {
        iop_fp_template t = gen_record(p, 0, buf, 1);
        iop_fp_ref ref = {(uint8_t)(p < 15 ? 2 : 4), p};
        REQUIRE(iop_fp_gallery_add(g, ref, &t, NULL) == IOP_OK);
    }
    iop_fp_template probe = gen_record(3, 2, buf, 1); /* enrolled in system 2 */
    iop_fp_candidate c[10];
    size_t n;
    REQUIRE(iop_fp_gallery_search(g, &probe, 10, 1ull << 4, c, &n, NULL) == IOP_OK);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) CHECK_INT(c[i].ref.system, 4);
    REQUIRE(iop_fp_gallery_search(g, &probe, 10, 1ull << 2, c, &n, NULL) == IOP_OK);
    REQUIRE(n > 0);
    CHECK_INT(c[0].ref.key, 3);
    free(buf);
    iop_fp_gallery_free(g);
}

TEST(removed_record_is_no_longer_found_and_its_slot_is_reused) {
    iop_fp_gallery *g;
    iop_err e;
    REQUIRE(iop_fp_gallery_new(NULL, &g, NULL) == IOP_OK);
    iop_fp_finger *buf = malloc(2 * sizeof *buf);
    REQUIRE(buf);
    for (uint64_t p = 0; p < 20; p++) {
        iop_fp_template t = gen_record(p, 0, buf, 1);
        REQUIRE(iop_fp_gallery_add(g, (iop_fp_ref){1, p}, &t, NULL) == IOP_OK);
    }
    iop_fp_template probe = gen_record(5, 1, buf, 1);
    iop_fp_candidate c[20];
    size_t n;
    REQUIRE(iop_fp_gallery_remove(g, (iop_fp_ref){1, 5}, &e) == IOP_OK);
    CHECK(iop_fp_gallery_remove(g, (iop_fp_ref){1, 5}, &e) == IOP_ENOTFOUND);
    CHECK_INT(iop_fp_gallery_records(g), 19);
    REQUIRE(iop_fp_gallery_search_exhaustive(g, &probe, 20, 0, c, &n, NULL) == IOP_OK);
    CHECK_INT(n, 19);
    for (size_t i = 0; i < n; i++) CHECK(c[i].ref.key != 5);
    /* re-adding the same reference replaces, it does not duplicate */
    iop_fp_template t = gen_record(5, 0, buf, 1);
    REQUIRE(iop_fp_gallery_add(g, (iop_fp_ref){1, 5}, &t, NULL) == IOP_OK);
    REQUIRE(iop_fp_gallery_add(g, (iop_fp_ref){1, 5}, &t, NULL) == IOP_OK);
    CHECK_INT(iop_fp_gallery_records(g), 20);
    CHECK_INT(iop_fp_gallery_fingers(g), 20);
    free(buf);
    iop_fp_gallery_free(g);
}

TEST(gallery_refuses_a_record_without_a_usable_finger) {
    iop_fp_gallery *g;
    iop_err e;
    REQUIRE(iop_fp_gallery_new(NULL, &g, NULL) == IOP_OK);
    iop_fp_finger *f = malloc(sizeof *f);
    REQUIRE(f);
    iop_fp_gen_finger(1, 1, 0, 1, NULL, f);
    f->n = 4;
    iop_fp_template t = {IOP_FP_ISO2005, 1, f};
    CHECK(iop_fp_gallery_add(g, (iop_fp_ref){3, 9}, &t, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "4 minutiae") != NULL);
    CHECK_INT(iop_fp_gallery_records(g), 0);
    free(f);
    iop_fp_gallery_free(g);
}

typedef struct search_arg { iop_fp_gallery *g; uint64_t person; int ok; } search_arg;
static void *search_thread(void *p) {
    search_arg *a = p;
    iop_fp_finger *buf = malloc(sizeof *buf);
    if (!buf) return NULL;
    for (int r = 0; r < 3; r++) {
        iop_fp_template probe = gen_record(a->person, 2 + (uint32_t)r, buf, 1);
        iop_fp_candidate c[3];
        size_t n;
        if (iop_fp_gallery_search(a->g, &probe, 3, 0, c, &n, NULL) == IOP_OK && n && c[0].ref.key == a->person)
            a->ok++;
    }
    free(buf);
    return NULL;
}

TEST(concurrent_searches_and_a_writer_give_consistent_results) {
    iop_fp_gallery_opts o = {.shortlist = 50, .threads = 2};
    iop_fp_gallery *g;
    REQUIRE(iop_fp_gallery_new(&o, &g, NULL) == IOP_OK);
    iop_fp_finger *buf = malloc(sizeof *buf);
    REQUIRE(buf);
    for (uint64_t p = 0; p < 40; p++) {
        iop_fp_template t = gen_record(p, 0, buf, 1);
        REQUIRE(iop_fp_gallery_add(g, (iop_fp_ref){1, p}, &t, NULL) == IOP_OK);
    }
    search_arg a = {g, 7, 0}, b = {g, 11, 0};
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, search_thread, &a) == 0);
    REQUIRE(pthread_create(&tb, NULL, search_thread, &b) == 0);
    for (uint64_t p = 40; p < 60; p++) { /* a writer meanwhile */
        iop_fp_template t = gen_record(p, 0, buf, 1);
        CHECK(iop_fp_gallery_add(g, (iop_fp_ref){2, p}, &t, NULL) == IOP_OK);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.ok >= 2);
    CHECK(b.ok >= 2);
    CHECK_INT(iop_fp_gallery_records(g), 60);
    free(buf);
    iop_fp_gallery_free(g);
}

/* ---------------------------------------------------------------- generator */

TEST(generator_is_deterministic_and_writes_valid_iso_records) {
    uint8_t *a, *b;
    size_t la, lb;
    REQUIRE(iop_fp_gen_iso(3, 42, 1, 6, NULL, &a, &la, NULL) == IOP_OK);
    REQUIRE(iop_fp_gen_iso(3, 42, 1, 6, NULL, &b, &lb, NULL) == IOP_OK);
    CHECK(la == lb && !memcmp(a, b, la));
    iop_fp_template t;
    REQUIRE(iop_fp_parse(a, la, IOP_FP_AUTO, &t, NULL) == IOP_OK);
    CHECK_INT(t.format, IOP_FP_ISO2005);
    CHECK_INT(t.fingers[0].position, 6);
    iop_fp_finger f;
    iop_fp_gen_finger(3, 42, 1, 6, NULL, &f);
    CHECK_INT(t.fingers[0].n, f.n);
    iop_fp_template_free(&t);
    free(b);
    REQUIRE(iop_fp_gen_iso(3, 42, 2, 6, NULL, &b, &lb, NULL) == IOP_OK);
    CHECK(la != lb || memcmp(a, b, la)); /* another impression differs */
    free(a);
    free(b);
}

TEST(generated_minutiae_have_the_statistics_of_real_templates) {
    /* 34.8 +- 11.9 minutiae, 60/40 endings/bifurcations, median nearest neighbour ~19 px */
    double sum = 0, sum2 = 0;
    size_t end = 0, bif = 0, nn_n = 0;
    static float nn[400 * IOP_FP_MAX_MINUTIAE];
    for (uint64_t id = 0; id < 100; id++)
        for (uint32_t imp = 0; imp < 4; imp++) {
            iop_fp_finger f;
            iop_fp_gen_finger(8, id, imp, 0, NULL, &f);
            sum += f.n;
            sum2 += (double)f.n * f.n;
            for (unsigned i = 0; i < f.n; i++) {
                if (f.m[i].type == IOP_FP_ENDING) end++;
                else if (f.m[i].type == IOP_FP_BIFURCATION) bif++;
                double best = 1e9;
                for (unsigned j = 0; j < f.n; j++) {
                    if (j == i) continue;
                    double dx = f.m[i].x - f.m[j].x, dy = f.m[i].y - f.m[j].y;
                    if (dx * dx + dy * dy < best) best = dx * dx + dy * dy;
                }
                if (f.n > 1) nn[nn_n++] = (float)sqrt(best);
            }
        }
    double mean = sum / 400, sd = sqrt(sum2 / 400 - mean * mean);
    CHECK(mean > 30 && mean < 40);
    CHECK(sd > 7 && sd < 16);
    CHECK_NEAR((double)end / (end + bif), 0.6, 0.05);
    /* median by counting */
    size_t below = 0;
    for (size_t i = 0; i < nn_n; i++) below += nn[i] < 19.0f;
    CHECK_NEAR((double)below / nn_n, 0.5, 0.08);
}

TEST(generated_mates_score_above_generated_strangers) {
    int wins = 0;
    for (uint64_t id = 0; id < 10; id++) {
        iop_fp_finger a, b, c;
        iop_fp_gen_finger(12, id, 0, 0, NULL, &a);
        iop_fp_gen_finger(12, id, 1, 0, NULL, &b);
        iop_fp_gen_finger(12, id + 100, 1, 0, NULL, &c);
        double g, i;
        REQUIRE(iop_fp_compare(&a, &b, &g, NULL) == IOP_OK);
        REQUIRE(iop_fp_compare(&a, &c, &i, NULL) == IOP_OK);
        wins += g > i;
    }
    CHECK(wins >= 9);
}
