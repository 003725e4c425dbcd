/* test-links: sbms */
/*
 * test_sbms.c -- the sBMS service layer (Reg. 2019/817 and 2019/818 Arts 12-16):
 * enrolment of connected-system records' templates, 1:N search with fused scores,
 * logical separation by system (Art 13), quality gate (Art 13(3), Art 37), erasure
 * (Art 15) and the rebuild of the galleries from sbms.db.
 */
#include <math.h>
#include <pthread.h>
#include "interop/sbms.h"
#include "interop/sbms_face.h"
#include "interop/sbms_fp.h"
#include "interop/store.h"
#include "test.h"

#define SEED 77
#define DIM 256
#define NPERS 40

static sbms_face_gen *face_gen(void) {
    sbms_face_gen_params p;
    sbms_face_gen_defaults(&p, DIM);
    sbms_face_gen *g = NULL;
    if (sbms_face_gen_new(&p, SEED, &g, NULL)) return NULL;
    return g;
}

/* Record `id` of system sys with capture `cap` of person `who`: n_fp fingers
 * (positions 1..n_fp) and, if face, a face template. */
static void make_rec(sbms_face_gen *g, rec_person *r, iop_system sys, const char *id, uint64_t who, uint32_t cap,
                     size_t n_fp, bool face) {
    memset(r, 0, sizeof *r);
    r->id = iop_strdup(id);
    r->system = sys;
    r->n_fingers = n_fp;
    r->fingers = n_fp ? calloc(n_fp, sizeof *r->fingers) : NULL;
    for (size_t i = 0; i < n_fp; i++) {
        r->fingers[i].position = (int)i + 1;
        r->fingers[i].tpl.format = iop_strdup("iso19794-2-2005");
        iop_fp_gen_iso(SEED, who, cap, (uint8_t)(i + 1), NULL, &r->fingers[i].tpl.data, &r->fingers[i].tpl.len, NULL);
    }
    if (face) {
        float v[DIM];
        sbms_face_gen_capture(g, who, cap, v);
        r->face = calloc(1, sizeof *r->face);
        r->face->format = iop_strdup("f32");
        r->face->data = malloc(DIM * 4);
        r->face->len = DIM * 4;
        sbms_face_to_f32(v, DIM, r->face->data);
    }
}

static void free_rec(rec_person *r) {
    free(r->id);
    for (size_t i = 0; i < r->n_fingers; i++) { free(r->fingers[i].tpl.format); free(r->fingers[i].tpl.data); }
    free(r->fingers);
    if (r->face) { free(r->face->format); free(r->face->data); free(r->face); }
    memset(r, 0, sizeof *r);
}

/* The n-th person whose fingers 1..3 (capture 0) pass the quality check: the generator
 * also makes fingers with too few minutiae, which the sBMS rightly refuses. */
static uint64_t ident(int n) {
    uint64_t who = 0;
    for (int found = -1;; who++) {
        bool ok = true;
        iop_fp_finger f;
        for (int pos = 1; pos <= 3 && ok; pos++) {
            iop_fp_gen_finger(SEED, who, 0, (uint8_t)pos, NULL, &f);
            ok = iop_fp_quality_check(&f, NULL, NULL) == IOP_OK;
        }
        if (ok && ++found == n) return who;
    }
}

static const iop_system all_sys[] = {IOP_SYS_SIS, IOP_SYS_VIS, IOP_SYS_EURODAC, IOP_SYS_EES, IOP_SYS_ECRIS_TCN};

/* Enrols NPERS persons: person p as "<SYS>-p" in EES (even p) or VIS (odd p), 2 fingers
 * and a face, capture 0. */
static bool enrol_population(sbms *s, sbms_face_gen *g) {
    rec_person recs[NPERS];
    char id[32];
    for (int p = 0; p < NPERS; p++) {
        snprintf(id, sizeof id, "%s-%d", p % 2 ? "VIS" : "EES", p);
        make_rec(g, &recs[p], p % 2 ? IOP_SYS_VIS : IOP_SYS_EES, id, ident(p), 0, 2, true);
    }
    iop_err e;
    iop_code rc = sbms_enrol(s, recs, NPERS, &e);
    if (rc) fprintf(stderr, "enrol: %s\n", e.msg);
    for (int p = 0; p < NPERS; p++) free_rec(&recs[p]);
    return rc == IOP_OK;
}

static iop_code search_rec(sbms *s, const rec_person *probe_rec, bool fingers, bool face, const iop_system *sys,
                           size_t nsys, size_t k, sbms_hit *hits, size_t *n, iop_err *e) {
    sbms_probe pr = {.fingers = fingers ? probe_rec->fingers : NULL, .n_fingers = fingers ? probe_rec->n_fingers : 0,
                     .face = face ? probe_rec->face : NULL};
    return sbms_search(s, &pr, sys, nsys, k, 0.0, hits, n, e);
}

TEST(search_finds_the_mate_first_by_fingerprints_face_and_fused) {
    const char *dir = test_tmpdir("sbms_mate");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    REQUIRE(enrol_population(s, g));
    sbms_stats st;
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_EES], NPERS / 2);
    CHECK_INT(st.records[IOP_SYS_VIS], NPERS / 2);
    CHECK_INT(st.fingers, 2 * NPERS);
    CHECK_INT(st.faces, NPERS);
    CHECK(st.memory_bytes > 0);
    int modes[3][2] = {{1, 0}, {0, 1}, {1, 1}};
    for (int p = 3; p < NPERS; p += 9) {
        rec_person probe;
        make_rec(g, &probe, IOP_SYS_EES, "probe", ident(p), 1, 2, true);
        char want[32];
        snprintf(want, sizeof want, "%s-%d", p % 2 ? "VIS" : "EES", p);
        for (int m = 0; m < 3; m++) {
            sbms_hit hits[5];
            size_t n = 0;
            CHECK(search_rec(s, &probe, modes[m][0], modes[m][1], all_sys, 5, 5, hits, &n, &e) == IOP_OK);
            REQUIRE(n >= 1);
            CHECK_STR(hits[0].record_id, want);
            CHECK_INT(hits[0].system, p % 2 ? IOP_SYS_VIS : IOP_SYS_EES);
            CHECK(hits[0].llr > 0);
            CHECK(hits[0].score > 0.5 && hits[0].score <= 1.0);
            for (size_t i = 1; i < n; i++) CHECK(hits[i].llr <= hits[i - 1].llr);
            if (modes[m][0]) CHECK(hits[0].fp_score > 0 && hits[0].fingers_matched >= 1);
            if (modes[m][1]) CHECK(hits[0].face_score > 0.2);
            /* with both in the probe, a candidate of one modality is compared 1:1 in the other */
            if (modes[m][0] && modes[m][1]) CHECK(hits[0].fp_score >= 0 && hits[0].face_score >= 0);
            if (!modes[m][0]) CHECK(hits[0].fp_score < 0);
            if (!modes[m][1]) CHECK(hits[0].face_score < 0);
            if (n > 1) CHECK(hits[0].llr - hits[1].llr > 1.0);
        }
        /* fused evidence is stronger than either modality alone */
        sbms_hit hf[1], hc[1], hb[1];
        size_t n1, n2, n3;
        search_rec(s, &probe, true, false, all_sys, 5, 1, hf, &n1, &e);
        search_rec(s, &probe, false, true, all_sys, 5, 1, hc, &n2, &e);
        search_rec(s, &probe, true, true, all_sys, 5, 1, hb, &n3, &e);
        REQUIRE(n1 == 1 && n2 == 1 && n3 == 1);
        CHECK(hb[0].llr > hf[0].llr && hb[0].llr > hc[0].llr);
        CHECK_NEAR(hb[0].llr, hf[0].llr + hc[0].llr, 1e-6); /* independent traits: the LLRs add */
        free_rec(&probe);
    }
    /* a person never enrolled: no hit above even odds with fused evidence */
    rec_person stranger;
    make_rec(g, &stranger, IOP_SYS_EES, "x", ident(NPERS + 1), 1, 2, true);
    sbms_hit hits[5];
    size_t n = 0;
    sbms_probe pr = {.fingers = stranger.fingers, .n_fingers = 2, .face = stranger.face};
    CHECK(sbms_search(s, &pr, all_sys, 5, 5, 0.5, hits, &n, &e) == IOP_OK);
    CHECK_INT(n, 0);
    free_rec(&stranger);
    sbms_close(s);
    sbms_face_gen_free(g);
}

TEST(art13_system_filter_hides_other_systems_templates) {
    const char *dir = test_tmpdir("sbms_filter");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    REQUIRE(enrol_population(s, g));
    rec_person sis;
    make_rec(g, &sis, IOP_SYS_SIS, "SIS-A", ident(NPERS + 2), 0, 2, true);
    REQUIRE(sbms_enrol(s, &sis, 1, &e) == IOP_OK);
    rec_person probe;
    make_rec(g, &probe, IOP_SYS_EES, "p", ident(NPERS + 2), 1, 2, true);
    sbms_hit hits[50];
    size_t n = 0;
    const iop_system cir_only[] = {IOP_SYS_EES, IOP_SYS_VIS};
    REQUIRE(search_rec(s, &probe, true, true, cir_only, 2, 50, hits, &n, &e) == IOP_OK);
    CHECK(n > 0); /* the other records come back, with low scores */
    for (size_t i = 0; i < n; i++) {
        CHECK(hits[i].system == IOP_SYS_EES || hits[i].system == IOP_SYS_VIS);
        CHECK(strcmp(hits[i].record_id, "SIS-A") != 0);
    }
    /* EES alone: no VIS record either */
    const iop_system ees[] = {IOP_SYS_EES};
    REQUIRE(search_rec(s, &probe, true, true, ees, 1, 50, hits, &n, &e) == IOP_OK);
    for (size_t i = 0; i < n; i++) CHECK_INT(hits[i].system, IOP_SYS_EES);
    /* SIS listed: found first */
    const iop_system with_sis[] = {IOP_SYS_EES, IOP_SYS_SIS};
    REQUIRE(search_rec(s, &probe, true, true, with_sis, 2, 5, hits, &n, &e) == IOP_OK);
    REQUIRE(n >= 1);
    CHECK_STR(hits[0].record_id, "SIS-A");
    CHECK_INT(hits[0].system, IOP_SYS_SIS);
    /* no system listed: nothing searched (never "all") */
    REQUIRE(search_rec(s, &probe, true, true, NULL, 0, 5, hits, &n, &e) == IOP_OK);
    CHECK_INT(n, 0);
    /* Europol / Interpol / ETIAS are not in the sBMS: listing them finds nothing */
    const iop_system outside[] = {IOP_SYS_EUROPOL, IOP_SYS_INTERPOL, IOP_SYS_ETIAS};
    REQUIRE(search_rec(s, &probe, true, true, outside, 3, 5, hits, &n, &e) == IOP_OK);
    CHECK_INT(n, 0);
    free_rec(&probe);
    free_rec(&sis);
    sbms_close(s);
    sbms_face_gen_free(g);
}

TEST(art13_europol_interpol_and_etias_biometrics_are_not_stored) {
    const char *dir = test_tmpdir("sbms_outside");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    rec_person r[3];
    make_rec(g, &r[0], IOP_SYS_EUROPOL, "EU-1", 1, 0, 2, true);
    make_rec(g, &r[1], IOP_SYS_INTERPOL, "IP-1", 2, 0, 2, true);
    make_rec(g, &r[2], IOP_SYS_ETIAS, "ET-1", 3, 0, 2, true);
    CHECK(sbms_check(s, r, 3, &e) == IOP_OK);
    CHECK(sbms_enrol(s, r, 3, &e) == IOP_OK);
    sbms_stats st;
    sbms_get_stats(s, &st);
    CHECK_INT(st.fingers, 0);
    CHECK_INT(st.faces, 0);
    for (int i = 0; i < IOP_SYS_COUNT; i++) CHECK_INT(st.records[i], 0);
    for (int i = 0; i < 3; i++) free_rec(&r[i]);
    sbms_close(s);
    sbms_face_gen_free(g);
}

/* Searches whether the bytes of needle occur in the file. */
static bool file_contains(const char *path, const uint8_t *needle, size_t n) {
    char *data = NULL;
    size_t len = 0;
    if (iop_read_file(path, &data, &len, NULL)) return false;
    bool found = false;
    for (size_t i = 0; i + n <= len && !found; i++) found = memcmp(data + i, needle, n) == 0;
    free(data);
    return found;
}

TEST(art15_remove_erases_templates_from_galleries_and_store) {
    const char *dir = test_tmpdir("sbms_remove");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    REQUIRE(enrol_population(s, g));
    rec_person probe;
    make_rec(g, &probe, IOP_SYS_EES, "p", ident(6), 1, 2, true);
    sbms_hit hits[NPERS];
    size_t n = 0;
    REQUIRE(search_rec(s, &probe, true, true, all_sys, 5, 1, hits, &n, &e) == IOP_OK);
    REQUIRE(n == 1);
    CHECK_STR(hits[0].record_id, "EES-6");
    /* the stored face of EES-6 (normalised float32) as it sits in sbms.db */
    float v[DIM];
    sbms_face_gen_capture(g, ident(6), 0, v);
    uint8_t bytes[DIM * 4];
    sbms_face_to_f32(v, DIM, bytes);

    REQUIRE(sbms_remove(s, IOP_SYS_EES, "EES-6", &e) == IOP_OK);
    CHECK(sbms_remove(s, IOP_SYS_EES, "EES-6", &e) == IOP_OK); /* already gone: fine */
    REQUIRE(search_rec(s, &probe, true, true, all_sys, 5, NPERS, hits, &n, &e) == IOP_OK);
    CHECK_INT(n, NPERS - 1);
    for (size_t i = 0; i < n; i++) CHECK(strcmp(hits[i].record_id, "EES-6") != 0);
    REQUIRE(n >= 1);
    CHECK(hits[0].llr < 0); /* nobody else matches */
    sbms_stats st;
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_EES], NPERS / 2 - 1);
    CHECK_INT(st.faces, NPERS - 1);
    CHECK_INT(st.fingers, 2 * (NPERS - 1));
    sbms_close(s);

    /* the bytes are gone from the file (secure delete), and reopening does not bring it back */
    char path[600];
    snprintf(path, sizeof path, "%s/sbms.db", dir);
    CHECK(!file_contains(path, bytes + 64, 256));
    REQUIRE(sbms_open(dir, 0, NULL, &s, &e) == IOP_OK);
    REQUIRE(search_rec(s, &probe, true, true, all_sys, 5, NPERS, hits, &n, &e) == IOP_OK);
    CHECK_INT(n, NPERS - 1);
    for (size_t i = 0; i < n; i++) CHECK(strcmp(hits[i].record_id, "EES-6") != 0);
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_EES], NPERS / 2 - 1);
    CHECK_INT(st.faces, NPERS - 1);
    free_rec(&probe);
    sbms_close(s);
    sbms_face_gen_free(g);
}

TEST(enrol_replaces_a_records_templates_and_no_biometrics_removes_them) {
    const char *dir = test_tmpdir("sbms_replace");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    REQUIRE(enrol_population(s, g));
    /* EES-4 now holds person 1004's templates */
    rec_person r;
    make_rec(g, &r, IOP_SYS_EES, "EES-4", ident(NPERS + 3), 0, 1, false);
    REQUIRE(sbms_enrol(s, &r, 1, &e) == IOP_OK);
    free_rec(&r);
    sbms_stats st;
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_EES], NPERS / 2);
    CHECK_INT(st.fingers, 2 * NPERS - 1);
    CHECK_INT(st.faces, NPERS - 1);
    rec_person probe;
    make_rec(g, &probe, IOP_SYS_EES, "p", ident(NPERS + 3), 1, 1, false);
    sbms_hit hits[3];
    size_t n = 0;
    REQUIRE(search_rec(s, &probe, true, false, all_sys, 5, 3, hits, &n, &e) == IOP_OK);
    REQUIRE(n >= 1);
    CHECK_STR(hits[0].record_id, "EES-4");
    CHECK(hits[0].face_score < 0); /* it has no face any more */
    free_rec(&probe);
    /* the old person 4 is no longer found under EES-4 */
    make_rec(g, &probe, IOP_SYS_EES, "p", ident(4), 1, 0, true);
    REQUIRE(search_rec(s, &probe, false, true, all_sys, 5, 3, hits, &n, &e) == IOP_OK);
    for (size_t i = 0; i < n; i++) CHECK(strcmp(hits[i].record_id, "EES-4") != 0 || hits[i].llr < 0);
    free_rec(&probe);
    /* a record sent again without biometrics loses them */
    make_rec(g, &r, IOP_SYS_EES, "EES-4", ident(NPERS + 3), 0, 0, false);
    REQUIRE(sbms_enrol(s, &r, 1, &e) == IOP_OK);
    free_rec(&r);
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_EES], NPERS / 2 - 1);
    CHECK_INT(st.fingers, 2 * NPERS - 2);
    sbms_close(s);
    REQUIRE(sbms_open(dir, 0, NULL, &s, &e) == IOP_OK);
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_EES], NPERS / 2 - 1);
    CHECK_INT(st.fingers, 2 * NPERS - 2);
    sbms_close(s);
    sbms_face_gen_free(g);
}

TEST(art13_3_bad_templates_are_rejected_naming_record_and_field) {
    const char *dir = test_tmpdir("sbms_bad");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    rec_person r[3];
    make_rec(g, &r[0], IOP_SYS_EES, "EES-1", ident(1), 0, 2, true);
    make_rec(g, &r[1], IOP_SYS_EES, "EES-7", ident(7), 0, 3, true);
    make_rec(g, &r[2], IOP_SYS_VIS, "VIS-2", ident(2), 0, 2, true);
    CHECK(sbms_check(s, r, 3, &e) == IOP_OK);

    /* truncated template */
    size_t keep = r[1].fingers[1].tpl.len;
    r[1].fingers[1].tpl.len = keep - 7;
    CHECK(sbms_check(s, r, 3, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "record 'EES-7'") != NULL);
    CHECK(strstr(e.msg, "biometrics.fingerprints[1]") != NULL);
    /* nothing of the batch is written */
    CHECK(sbms_enrol(s, r, 3, &e) != IOP_OK);
    sbms_stats st;
    sbms_get_stats(s, &st);
    CHECK_INT(st.fingers, 0);
    CHECK_INT(st.faces, 0);
    r[1].fingers[1].tpl.len = keep;

    /* too few minutiae: below the minimum quality */
    iop_fp_finger *f = malloc(sizeof *f);
    iop_fp_gen_finger(SEED, ident(7), 0, 3, NULL, f);
    f->n = 6;
    free(r[1].fingers[2].tpl.data);
    REQUIRE(iop_fp_write_iso_finger(f, &r[1].fingers[2].tpl.data, &r[1].fingers[2].tpl.len, NULL) == IOP_OK);
    free(f);
    CHECK(sbms_check(s, r, 3, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "record 'EES-7'") != NULL);
    CHECK(strstr(e.msg, "biometrics.fingerprints[2]") != NULL);
    CHECK(strstr(e.msg, "quality") != NULL);
    free_rec(&r[1]);
    make_rec(g, &r[1], IOP_SYS_EES, "EES-7", ident(7), 0, 3, true);

    /* a finger position that contradicts the template */
    r[2].fingers[0].position = 9;
    CHECK(sbms_check(s, r, 3, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "record 'VIS-2'") != NULL);
    CHECK(strstr(e.msg, "biometrics.fingerprints[0]") != NULL);
    r[2].fingers[0].position = 1;

    /* face: dimension mismatch within the batch, a NaN, an unknown format */
    r[2].face->len = 128 * 4;
    CHECK(sbms_check(s, r, 3, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "record 'VIS-2'") != NULL && strstr(e.msg, "biometrics.face") != NULL);
    CHECK(strstr(e.msg, "dimension") != NULL);
    r[2].face->len = DIM * 4;
    float nan = NAN;
    memcpy(r[2].face->data + 40, &nan, 4);
    CHECK(sbms_check(s, r, 3, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "record 'VIS-2'") != NULL && strstr(e.msg, "biometrics.face") != NULL);
    free_rec(&r[2]);
    make_rec(g, &r[2], IOP_SYS_VIS, "VIS-2", ident(2), 0, 2, true);
    free(r[2].fingers[1].tpl.format);
    r[2].fingers[1].tpl.format = iop_strdup("wsq");
    CHECK(sbms_check(s, r, 3, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "biometrics.fingerprints[1].format") != NULL);
    free_rec(&r[2]);
    make_rec(g, &r[2], IOP_SYS_VIS, "VIS-2", ident(2), 0, 2, true);

    /* once the gallery holds dimension 256, a 128-dimension face is refused */
    REQUIRE(sbms_enrol(s, r, 3, &e) == IOP_OK);
    free_rec(&r[0]);
    make_rec(g, &r[0], IOP_SYS_EES, "EES-9", 9, 0, 0, false);
    r[0].face = calloc(1, sizeof *r[0].face);
    r[0].face->format = iop_strdup("f32");
    r[0].face->len = 128 * 4;
    r[0].face->data = malloc(128 * 4);
    float one = 1.0f;
    for (int i = 0; i < 128; i++) memcpy(r[0].face->data + 4 * i, &one, 4);
    CHECK(sbms_check(s, r, 1, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "record 'EES-9'") != NULL && strstr(e.msg, "dimension 128") != NULL);
    CHECK(sbms_enrol(s, r, 1, &e) == IOP_EINVAL);
    /* and a probe of the wrong dimension too */
    sbms_probe pr = {.face = r[0].face};
    sbms_hit h[2];
    size_t n;
    CHECK(sbms_search(s, &pr, all_sys, 5, 2, 0, h, &n, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "dimension") != NULL);
    sbms_probe empty = {0};
    CHECK(sbms_search(s, &empty, all_sys, 5, 2, 0, h, &n, &e) == IOP_EINVAL);
    for (int i = 0; i < 3; i++) free_rec(&r[i]);
    sbms_close(s);
    sbms_face_gen_free(g);
}

TEST(reopen_rebuilds_the_galleries_identically) {
    const char *dir = test_tmpdir("sbms_reopen");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    REQUIRE(enrol_population(s, g));
    REQUIRE(sbms_remove(s, IOP_SYS_VIS, "VIS-13", &e) == IOP_OK);
    enum { NP = 4, K = 10 };
    sbms_hit before[NP][K], after[NP][K];
    size_t nb[NP], na[NP];
    sbms_stats sb, sa;
    sbms_get_stats(s, &sb);
    for (int q = 0; q < NP; q++) {
        rec_person probe;
        make_rec(g, &probe, IOP_SYS_EES, "p", ident(q * 7 + 1), 1, 2, true);
        REQUIRE(search_rec(s, &probe, q != 1, q != 2, all_sys, 5, K, before[q], &nb[q], &e) == IOP_OK);
        free_rec(&probe);
    }
    sbms_close(s);
    if (sbms_open(dir, STORE_READONLY, NULL, &s, &e)) fprintf(stderr, "%s\n", e.msg);
    REQUIRE(s);
    sbms_get_stats(s, &sa);
    CHECK_INT(sa.fingers, sb.fingers);
    CHECK_INT(sa.faces, sb.faces);
    for (int i = 0; i < IOP_SYS_COUNT; i++) CHECK_INT(sa.records[i], sb.records[i]);
    for (int q = 0; q < NP; q++) {
        rec_person probe;
        make_rec(g, &probe, IOP_SYS_EES, "p", ident(q * 7 + 1), 1, 2, true);
        REQUIRE(search_rec(s, &probe, q != 1, q != 2, all_sys, 5, K, after[q], &na[q], &e) == IOP_OK);
        free_rec(&probe);
        CHECK_INT(na[q], nb[q]);
        for (size_t i = 0; i < na[q] && i < nb[q]; i++) {
            CHECK_STR(after[q][i].record_id, before[q][i].record_id);
            CHECK(after[q][i].llr == before[q][i].llr);
            CHECK(after[q][i].fp_score == before[q][i].fp_score);
            CHECK(after[q][i].face_score == before[q][i].face_score);
        }
    }
    /* read-only: writes refused */
    CHECK(sbms_remove(s, IOP_SYS_EES, "EES-2", &e) == IOP_EDENIED);
    sbms_close(s);
    /* a configured face dimension that contradicts the store is refused */
    sbms_config c = {.face_dim = 512};
    CHECK(sbms_open(dir, 0, &c, &s, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "256") != NULL);
    sbms_face_gen_free(g);
}

TEST(calibrations_are_fitted_once_stored_and_can_be_replaced) {
    const char *dir = test_tmpdir("sbms_calib");
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    sbms_close(s);
    char path[600];
    snprintf(path, sizeof path, "%s/sbms.db", dir);
    store *db = NULL;
    REQUIRE(store_open(path, STORE_READONLY, &e, &db) == IOP_OK);
    char *fj = NULL, *pj = NULL;
    REQUIRE(store_meta_get(db, "calibration.face", &fj, &e) == IOP_OK);
    REQUIRE(store_meta_get(db, "calibration.finger", &pj, &e) == IOP_OK);
    store_close(db);
    sbms_calib cf, cp;
    REQUIRE(sbms_calib_from_json(fj, &cf, &e) == IOP_OK);
    REQUIRE(sbms_calib_from_json(pj, &cp, &e) == IOP_OK);
    free(fj);
    free(pj);
    /* increasing maps that separate: a good match scores positive, a poor one negative */
    CHECK(cf.a > 0 && cp.a > 0);
    CHECK(sbms_calib_llr(&cf, 0.8) > 0 && sbms_calib_llr(&cf, 0.0) < 0);
    CHECK(sbms_calib_llr(&cp, cp.hi) > 0 && sbms_calib_llr(&cp, cp.lo) < 0);
    /* a given calibration replaces the stored one */
    sbms_calib mine = cp;
    mine.b -= 1.0;
    sbms_config c = {.finger_calib = &mine};
    REQUIRE(sbms_open(dir, 0, &c, &s, &e) == IOP_OK);
    sbms_close(s);
    REQUIRE(store_open(path, STORE_READONLY, &e, &db) == IOP_OK);
    REQUIRE(store_meta_get(db, "calibration.finger", &pj, &e) == IOP_OK);
    store_close(db);
    sbms_calib back;
    REQUIRE(sbms_calib_from_json(pj, &back, &e) == IOP_OK);
    free(pj);
    CHECK_NEAR(back.b, cp.b - 1.0, 1e-12);
}

typedef struct search_job {
    sbms *s;
    sbms_face_gen *g;
    int rounds, found, errors;
} search_job;

static void *search_loop(void *arg) {
    search_job *j = arg;
    rec_person probe;
    make_rec(j->g, &probe, IOP_SYS_EES, "p", ident(2), 1, 2, true);
    for (int r = 0; r < j->rounds; r++) {
        sbms_hit hits[5];
        size_t n = 0;
        iop_err e;
        if (search_rec(j->s, &probe, r % 3 != 1, r % 3 != 0, all_sys, 5, 5, hits, &n, &e) != IOP_OK) j->errors++;
        else if (n && !strcmp(hits[0].record_id, "EES-2")) j->found++;
    }
    free_rec(&probe);
    return NULL;
}

TEST(searches_run_concurrently_with_enrolment_and_removal) {
    const char *dir = test_tmpdir("sbms_threads");
    sbms_face_gen *g = face_gen();
    REQUIRE(g);
    sbms *s = NULL;
    iop_err e;
    REQUIRE(sbms_open(dir, STORE_CREATE, NULL, &s, &e) == IOP_OK);
    REQUIRE(enrol_population(s, g));
    search_job jobs[2] = {{s, g, 6, 0, 0}, {s, g, 6, 0, 0}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++) REQUIRE(pthread_create(&th[t], NULL, search_loop, &jobs[t]) == 0);
    /* meanwhile: new records come and go (EES-2, the mate, stays) */
    for (int r = 0; r < 6; r++) {
        rec_person x;
        char id[32];
        snprintf(id, sizeof id, "SIS-T%d", r);
        make_rec(g, &x, IOP_SYS_SIS, id, ident(NPERS + 10 + r), 0, 2, true);
        CHECK(sbms_enrol(s, &x, 1, &e) == IOP_OK);
        free_rec(&x);
        if (r % 2) CHECK(sbms_remove(s, IOP_SYS_SIS, id, &e) == IOP_OK);
    }
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 2; t++) {
        CHECK_INT(jobs[t].errors, 0);
        CHECK_INT(jobs[t].found, jobs[t].rounds);
    }
    sbms_stats st;
    sbms_get_stats(s, &st);
    CHECK_INT(st.records[IOP_SYS_SIS], 3);
    sbms_close(s);
    sbms_face_gen_free(g);
}
