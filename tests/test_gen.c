/* test-links: gen record sbms_fp */
/*
 * test_gen.c -- the synthetic population generator (interop gen): deterministic for a
 * seed, every record valid in the interchange format, ground truth complete, the
 * documented shares and error rates observed within statistical tolerance, and the
 * life paths consistent (visa-required nationals go through VIS, visa-exempt ones
 * through ETIAS, Reg. (EU) 2018/1806).
 */
#include <math.h>
#include <stdint.h>
#include <sys/wait.h>
#include <jansson.h>
#include "gen/gen_internal.h"
#include "interop/gen.h"
#include "interop/record.h"
#include "interop/sbms_fp.h"
#include "test.h"

#define N_POP 6000

/* ---- helpers ---- */

static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *d = NULL;
    size_t l = 0;
    if (iop_read_file(path, &d, &l, NULL)) return NULL;
    if (len) *len = l;
    return d;
}

static iop_code run(const char *dir, uint64_t n, uint64_t seed, gen_params *pp, gen_stats *st, iop_err *e) {
    gen_params p;
    if (pp) p = *pp;
    else gen_params_default(&p);
    p.persons = n;
    p.seed = seed;
    p.out_dir = dir;
    p.data_dir = IOP_SHARED_DATA;
    p.progress = NULL;
    return gen_run(&p, st, e);
}

/* The default population, generated once for the tests that only read it. */
static const char *population(gen_stats *st_out) {
    static char dir[1024];
    static gen_stats st;
    static bool done;
    if (!done) {
        snprintf(dir, sizeof dir, "%s", test_tmpdir("gen-pop"));
        iop_err e;
        gen_params p;
        gen_params_default(&p);
        p.biometrics = false; /* the statistics do not need them; the biometric test has its own */
        if (run(dir, N_POP, 42, &p, &st, &e)) {
            test_failed(__FILE__, __LINE__, "gen_run: %s", e.msg);
            return NULL;
        }
        done = true;
    }
    if (st_out) *st_out = st;
    return dir;
}

/* splits a CSV line in place (no quoting in the generator's files) */
static int split(char *s, char **f, int max) {
    int n = 0;
    f[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == ',') { *p = 0; f[n++] = p + 1; }
    return n;
}

/* ---- a tiny string set ---- */
typedef struct sset { char **k; size_t cap, n; } sset;
static uint64_t h64(const char *s) { uint64_t h = 1469598103934665603ull; for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull; return h; }
static void sset_init(sset *s, size_t cap) { s->cap = cap; s->n = 0; s->k = calloc(cap, sizeof *s->k); }
static void sset_free(sset *s) { for (size_t i = 0; i < s->cap; i++) free(s->k[i]); free(s->k); }
/* returns false if already present */
static bool sset_add(sset *s, const char *key) {
    size_t i = h64(key) & (s->cap - 1);
    while (s->k[i]) { if (!strcmp(s->k[i], key)) return false; i = (i + 1) & (s->cap - 1); }
    s->k[i] = strdup(key);
    s->n++;
    return true;
}
static bool sset_has(const sset *s, const char *key) {
    size_t i = h64(key) & (s->cap - 1);
    while (s->k[i]) { if (!strcmp(s->k[i], key)) return true; i = (i + 1) & (s->cap - 1); }
    return false;
}

/* persons.csv by "person/identity": the 11 fields of each row */
typedef struct idtab { char *data; char **key; char *(*row)[11]; size_t cap; } idtab;

static bool idtab_load(const char *dir, idtab *t) {
    memset(t, 0, sizeof *t);
    t->cap = 1 << 15;
    t->data = slurp(dir, "persons.csv", NULL);
    t->key = calloc(t->cap, sizeof *t->key);
    t->row = calloc(t->cap, sizeof *t->row);
    if (!t->data || !t->key || !t->row) return false;
    char *save = NULL;
    for (char *l = strtok_r(t->data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *f[12];
        if (split(l, f, 12) != 11 || !strcmp(f[0], "person_id")) continue;
        char k[64];
        snprintf(k, sizeof k, "%s/%s", f[0], f[1]);
        size_t i = h64(k) & (t->cap - 1);
        while (t->key[i]) i = (i + 1) & (t->cap - 1);
        t->key[i] = strdup(k);
        for (int j = 0; j < 11; j++) t->row[i][j] = f[j];
    }
    return true;
}

static char *const *idtab_get(const idtab *t, const char *pid, int idn) {
    char k[64];
    snprintf(k, sizeof k, "%s/%d", pid, idn);
    size_t i = h64(k) & (t->cap - 1);
    while (t->key[i] && strcmp(t->key[i], k)) i = (i + 1) & (t->cap - 1);
    return t->key[i] ? t->row[i] : NULL;
}

static void idtab_free(idtab *t) {
    for (size_t i = 0; t->key && i < t->cap; i++) free(t->key[i]);
    free(t->key);
    free(t->row);
    free(t->data);
}

/* binomial tolerance: |observed - expected| within 4.5 standard deviations (+1 for small counts) */
static bool within(double applied, double eligible, double rate) {
    double sd = sqrt(eligible * rate * (1 - rate));
    return fabs(applied - eligible * rate) <= 4.5 * sd + 1;
}

/* ---- tests ---- */

TEST(gen_same_seed_gives_identical_files_whatever_the_threads_other_seed_differs) {
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s", test_tmpdir("gen-det-a"));
    snprintf(b, sizeof b, "%s", test_tmpdir("gen-det-b"));
    snprintf(c, sizeof c, "%s", test_tmpdir("gen-det-c"));
    iop_err e;
    gen_params p;
    gen_params_default(&p);
    p.threads = 1;
    REQUIRE(run(a, 400, 9, &p, NULL, &e) == IOP_OK);
    p.threads = 3; /* the biometric workers do not change the output */
    REQUIRE(run(b, 400, 9, &p, NULL, &e) == IOP_OK);
    REQUIRE(run(c, 400, 10, &p, NULL, &e) == IOP_OK);
    const char *files[] = {"sis.jsonl", "vis.jsonl", "eurodac.jsonl", "ees.jsonl", "etias.jsonl", "ecris-tcn.jsonl",
                           "europol.jsonl", "interpol.jsonl", "truth.csv", "annotations.csv", "persons.csv", "gen.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        size_t la = 0, lb = 0;
        char *x = slurp(a, files[i], &la), *y = slurp(b, files[i], &lb);
        REQUIRE(x && y);
        if (la != lb || memcmp(x, y, la)) test_failed(__FILE__, __LINE__, "%s differs between two runs with seed 9 (1 and 3 threads)", files[i]);
        free(x);
        free(y);
    }
    size_t la = 0, lc = 0;
    char *x = slurp(a, "persons.csv", &la), *z = slurp(c, "persons.csv", &lc);
    REQUIRE(x && z);
    CHECK(la != lc || memcmp(x, z, la) != 0);
    free(x);
    free(z);
}

TEST(gen_every_line_parses_as_an_interchange_record_of_its_system) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    size_t total = 0;
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s.jsonl", iop_system_name((iop_system)s));
        size_t len;
        char *d = slurp(dir, name, &len);
        REQUIRE(d);
        size_t line = 0;
        for (char *p = d; *p;) {
            char *e = strchr(p, '\n');
            REQUIRE(e);
            line++;
            rec_person r;
            iop_err err;
            if (rec_parse(p, (size_t)(e - p), &r, &err)) {
                test_failed(__FILE__, __LINE__, "%s:%zu: %s", name, line, err.msg);
            } else {
                CHECK_INT(r.system, s);
                rec_person_clear(&r);
            }
            p = e + 1;
        }
        CHECK(line > 0); /* every system receives records */
        total += line;
        free(d);
    }
    gen_stats st;
    population(&st);
    CHECK_INT(total, st.records);
}

TEST(gen_truth_lists_every_record_once_with_a_known_person) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    sset persons, truth;
    sset_init(&persons, 1 << 15);
    sset_init(&truth, 1 << 17);
    char *pc = slurp(dir, "persons.csv", NULL);
    REQUIRE(pc);
    char *save = NULL;
    for (char *l = strtok_r(pc, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *f[12];
        if (split(l, f, 12) >= 2) sset_add(&persons, f[0]);
    }
    free(pc);
    CHECK_INT(persons.n, N_POP + 1); /* + the header */
    char *tc = slurp(dir, "truth.csv", NULL);
    REQUIRE(tc);
    save = NULL;
    size_t rows = 0;
    for (char *l = strtok_r(tc, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!rows++) { CHECK_STR(l, "system,record_id,person_id"); continue; }
        char *f[4];
        REQUIRE(split(l, f, 4) == 3);
        char key[128];
        snprintf(key, sizeof key, "%s/%s", f[0], f[1]);
        if (!sset_add(&truth, key)) test_failed(__FILE__, __LINE__, "record %s listed twice in truth.csv", key);
        if (!sset_has(&persons, f[2])) test_failed(__FILE__, __LINE__, "record %s: unknown person %s", key, f[2]);
    }
    free(tc);
    /* every record id of every file is in the truth */
    size_t recs = 0;
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s.jsonl", iop_system_name((iop_system)s));
        char *d = slurp(dir, name, NULL);
        REQUIRE(d);
        for (char *p = d; (p = strstr(p, "{\"id\":\""));) {
            p += 7;
            char *q = strchr(p, '"');
            REQUIRE(q);
            char key[128];
            snprintf(key, sizeof key, "%s/%.*s", iop_system_name((iop_system)s), (int)(q - p), p);
            if (!sset_has(&truth, key)) test_failed(__FILE__, __LINE__, "record %s missing from truth.csv", key);
            recs++;
        }
        free(d);
    }
    CHECK_INT(recs, rows - 1);
    sset_free(&persons);
    sset_free(&truth);
}

TEST(gen_multiple_identity_share_matches_the_parameters) {
    gen_params p;
    gen_params_default(&p);
    const char *dir = population(NULL);
    REQUIRE(dir);
    char *pc = slurp(dir, "persons.csv", NULL);
    REQUIRE(pc);
    /* persons.csv: one row per identity; identity 0 first */
    double expected = 0, var = 0;
    long multi = 0, n = 0;
    char *save = NULL;
    char last[32] = "";
    int64_t ref = iop_days_from_civil(p.reference.year, p.reference.month, p.reference.day);
    bool first = true;
    for (char *l = strtok_r(pc, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (first) { first = false; continue; }
        char *f[12];
        REQUIRE(split(l, f, 12) == 11);
        if (!strcmp(f[1], "1")) { multi++; continue; }
        if (strcmp(f[1], "0")) continue;
        snprintf(last, sizeof last, "%s", f[0]);
        n++;
        iop_date d;
        REQUIRE(iop_date_parse(f[6], &d, NULL) == IOP_OK);
        int64_t age = (ref - iop_days_from_civil(d.year, d.month ? d.month : 6, d.day ? d.day : 15)) / 365;
        double r = !strcmp(f[9], "traveller") ? p.multi_identity_traveller
                 : !strcmp(f[9], "migrant") ? p.multi_identity_migrant : p.multi_identity_resident;
        if (age >= 17) { expected += r; var += r * (1 - r); }
        else if (age >= 15) { expected += r / 2; var += r / 2; } /* the year-of-birth boundary */
    }
    free(pc);
    CHECK_INT(n, N_POP);
    if (fabs((double)multi - expected) > 4.5 * sqrt(var) + 2)
        test_failed(__FILE__, __LINE__, "%ld persons with several identities, expected %.1f +- %.1f", multi, expected, 4.5 * sqrt(var));
    gen_stats st;
    population(&st);
    CHECK_INT(st.multi_identity_persons, multi);
}

TEST(gen_error_rates_match_the_parameters_and_the_annotations) {
    gen_params p;
    gen_params_default(&p);
    gen_stats st;
    const char *dir = population(&st);
    REQUIRE(dir);
    for (int e = 0; e < GEN_ERR_COUNT; e++) {
        CHECK(st.err_eligible[e] > 50);
        if (!within((double)st.err_applied[e], (double)st.err_eligible[e], p.rate[e]))
            test_failed(__FILE__, __LINE__, "%s: %llu of %llu records, rate %.3f expected", gen_error_name((gen_error)e),
                        (unsigned long long)st.err_applied[e], (unsigned long long)st.err_eligible[e], p.rate[e]);
    }
    /* the annotations count the same errors */
    char *ac = slurp(dir, "annotations.csv", NULL);
    REQUIRE(ac);
    uint64_t seen[GEN_ERR_COUNT] = {0};
    char *save = NULL;
    for (char *l = strtok_r(ac, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        for (int e = 0; e < GEN_ERR_COUNT; e++) {
            const char *nm = gen_error_name((gen_error)e);
            for (const char *q = l; (q = strstr(q, nm)); q += strlen(nm)) {
                char before = q[-1], after = q[strlen(nm)];
                if ((before == ',' || before == ';') && (after == 0 || after == ';')) seen[e]++;
            }
        }
    free(ac);
    for (int e = 0; e < GEN_ERR_COUNT; e++) CHECK_INT(seen[e], st.err_applied[e]);
}

/* With every error rate at zero, each record shows its identity exactly as persons.csv
 * has it (names in the documents' spelling, possibly in capitals; the date of birth). */
TEST(gen_without_errors_records_show_the_true_identity) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("gen-clean"));
    gen_params p;
    gen_params_default(&p);
    for (int e = 0; e < GEN_ERR_COUNT; e++) p.rate[e] = 0;
    p.biometrics = false;
    gen_stats st;
    iop_err err;
    REQUIRE(run(dir, 1500, 5, &p, &st, &err) == IOP_OK);
    for (int e = 0; e < GEN_ERR_COUNT; e++) CHECK_INT(st.err_applied[e], 0);
    idtab ids;
    REQUIRE(idtab_load(dir, &ids));
    gen_arena a = {0};
    /* annotations give the identity of each record; check the EES and VIS records */
    char *an = slurp(dir, "annotations.csv", NULL);
    REQUIRE(an);
    size_t checked = 0;
    const char *files[] = {"ees.jsonl", "vis.jsonl", "etias.jsonl"};
    for (size_t fi = 0; fi < 3; fi++) {
        char *d = slurp(dir, files[fi], NULL);
        REQUIRE(d);
        char *s2 = NULL;
        for (char *l = strtok_r(d, "\n", &s2); l; l = strtok_r(NULL, "\n", &s2)) {
            rec_person r;
            iop_err pe;
            if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "%s: %s", files[fi], pe.msg); continue; }
            /* find the annotation row */
            char pat[64];
            snprintf(pat, sizeof pat, ",%s,", r.id);
            char *row = strstr(an, pat);
            REQUIRE(row);
            char pid[24];
            int idn;
            REQUIRE(sscanf(row + strlen(pat), "%23[^,],%d", pid, &idn) == 2);
            char *const *t = idtab_get(&ids, pid, idn);
            REQUIRE(t);
            char want[256];
            snprintf(want, sizeof want, "%s|%s", gen_upper(&a, t[2]), t[6]);
            char dob[16];
            iop_date_format(r.dob, dob);
            char v[256];
            snprintf(v, sizeof v, "%s|%s", gen_upper(&a, r.surnames[0]), dob);
            /* a date of birth known only by its year is recorded as "YYYY" or "YYYY-01-01" */
            const char *bar = strchr(want, '|');
            bool year_only = bar && strlen(bar + 1) == 4;
            if (year_only && (!strcmp(dob + 4, "-01-01") || !dob[4])) snprintf(v, sizeof v, "%s|%.4s", gen_upper(&a, r.surnames[0]), dob);
            if (strcmp(v, want)) test_failed(__FILE__, __LINE__, "%s shows '%s', persons.csv has '%s'", r.id, v, want);
            checked++;
            rec_person_clear(&r);
            gen_arena_reset(&a);
        }
        free(d);
    }
    CHECK(checked > 1000);
    free(an);
    idtab_free(&ids);
    gen_arena_free(&a);
}

/* Each error the annotations name is visible in the record, and a record without it
 * shows that part of its identity as persons.csv has it. */
TEST(gen_annotated_errors_are_the_differences_from_the_true_identity) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    idtab ids;
    REQUIRE(idtab_load(dir, &ids));
    char *an = slurp(dir, "annotations.csv", NULL);
    REQUIRE(an);
    gen_arena a = {0};
    size_t n_typo = 0, n_swap = 0, n_ocr = 0, n_clean = 0;
    const char *files[] = {"vis.jsonl", "etias.jsonl", "ees.jsonl", "eurodac.jsonl"};
    for (size_t fi = 0; fi < 4; fi++) {
        char *d = slurp(dir, files[fi], NULL);
        REQUIRE(d);
        char *s2 = NULL;
        for (char *l = strtok_r(d, "\n", &s2); l; l = strtok_r(NULL, "\n", &s2)) {
            rec_person r;
            iop_err pe;
            if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "%s: %s", files[fi], pe.msg); continue; }
            char pat[64];
            snprintf(pat, sizeof pat, ",%s,", r.id);
            char *ar = strstr(an, pat);
            char pid[24], script[16], errs[200] = "";
            int idn;
            if (!ar || sscanf(ar + strlen(pat), "%23[^,],%d,%15[^,],%199[^\n]", pid, &idn, script, errs) < 3) {
                test_failed(__FILE__, __LINE__, "%s: no annotation", r.id);
                rec_person_clear(&r);
                continue;
            }
            if (errs[0] == '\n') errs[0] = 0;
            char *const *t = idtab_get(&ids, pid, idn);
            REQUIRE(t);
            bool name_changed = strstr(errs, "translit") || strstr(errs, "native_script") || strstr(errs, "swap_order");
            const char *want = gen_upper(&a, t[2]), *got = r.n_surnames ? gen_upper(&a, r.surnames[0]) : "";
            if (!name_changed && !strstr(errs, "typo_surname")) {
                if (strcmp(want, got)) test_failed(__FILE__, __LINE__, "%s: surname %s, true %s, errors '%s'", r.id, got, want, errs);
                else n_clean++;
            } else if (!name_changed) {
                if (!strcmp(want, got)) test_failed(__FILE__, __LINE__, "%s: typo_surname but the surname is the true one", r.id);
                n_typo++;
            }
            if (strstr(errs, "swap_order") && !strstr(errs, "translit") && !strstr(errs, "native_script") &&
                !strstr(errs, "typo_surname")) {
                /* the true surname is in the given-name field */
                bool found = false;
                for (size_t g = 0; g < r.n_given_names; g++) found |= !strcmp(gen_upper(&a, r.given_names[g]), want);
                if (!found) test_failed(__FILE__, __LINE__, "%s: swap_order but the surname is not among the given names", r.id);
                n_swap++;
            }
            if (r.n_documents) {
                bool ocr = strstr(errs, "doc_ocr") != NULL;
                bool same = !strcmp(r.documents[0].number, t[10]);
                if (ocr == same) test_failed(__FILE__, __LINE__, "%s: document %s, true %s, errors '%s'", r.id, r.documents[0].number, t[10], errs);
                if (ocr) {
                    n_ocr++;
                    CHECK_INT(strlen(r.documents[0].number), strlen(t[10]));
                }
            }
            char dob[16];
            iop_date_format(r.dob, dob);
            if (strstr(errs, "dob_swap")) {
                iop_date td;
                REQUIRE(iop_date_parse(t[6], &td, NULL) == IOP_OK);
                CHECK(r.dob.year == td.year && r.dob.month == td.day && r.dob.day == td.month);
            } else if (strstr(errs, "dob_partial")) {
                CHECK(r.dob.day == 0 && !strncmp(dob, t[6], strlen(dob)));
            } else if (!strstr(errs, "dob_typo") && strlen(t[6]) == 10) {
                CHECK_STR(dob, t[6]);
            }
            rec_person_clear(&r);
            gen_arena_reset(&a);
        }
        free(d);
    }
    CHECK(n_typo > 50);
    CHECK(n_swap > 20);
    CHECK(n_ocr > 50);
    CHECK(n_clean > 5000);
    gen_arena_free(&a);
    free(an);
    idtab_free(&ids);
}

TEST(gen_some_records_carry_names_in_native_scripts) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    int found[5] = {0}; /* cyrillic, arabic, hebrew, han, latin-with-diacritics */
    const char *files[] = {"vis.jsonl", "eurodac.jsonl", "ees.jsonl", "etias.jsonl", "sis.jsonl"};
    for (size_t fi = 0; fi < 5; fi++) {
        char *d = slurp(dir, files[fi], NULL);
        REQUIRE(d);
        char *save = NULL;
        for (char *l = strtok_r(d, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            rec_person r;
            iop_err pe;
            if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "%s: %s", files[fi], pe.msg); continue; }
            if (r.n_surnames) {
                uint32_t cp[64];
                size_t n = gen_utf8_decode(r.surnames[0], cp, 64);
                for (size_t i = 0; i < n; i++) {
                    if (cp[i] >= 0x400 && cp[i] <= 0x4FF) found[0]++;
                    else if (cp[i] >= 0x600 && cp[i] <= 0x6FF) found[1]++;
                    else if (cp[i] >= 0x590 && cp[i] <= 0x5FF) found[2]++;
                    else if (cp[i] >= 0x4E00 && cp[i] <= 0x9FFF) found[3]++;
                    else if (cp[i] >= 0xC0 && cp[i] <= 0x17F) found[4]++;
                }
            }
            rec_person_clear(&r);
        }
        free(d);
    }
    CHECK(found[0] > 0);
    CHECK(found[1] > 0);
    CHECK(found[2] > 0);
    CHECK(found[3] > 0);
    CHECK(found[4] > 0);
}

TEST(gen_visa_required_travel_through_vis_and_exempt_through_etias_reg_2018_1806) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    size_t n_vis = 0, n_etias = 0;
    for (int k = 0; k < 2; k++) {
        char *d = slurp(dir, k ? "etias.jsonl" : "vis.jsonl", NULL);
        REQUIRE(d);
        char *save = NULL;
        for (char *l = strtok_r(d, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            rec_person r;
            iop_err pe;
            if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "%s: %s", k ? "etias" : "vis", pe.msg); continue; }
            const gen_country *c = NULL;
            for (size_t i = 0; r.n_nationalities == 1 && i < gen_n_countries; i++)
                if (!strcmp(gen_countries[i].code, r.nationalities[0])) c = &gen_countries[i];
            if (!c) { test_failed(__FILE__, __LINE__, "%s: not one known nationality", r.id); rec_person_clear(&r); continue; }
            if (c->visa_required == (k == 1)) test_failed(__FILE__, __LINE__, "%s: a %s national in %s", r.id, c->code, k ? "ETIAS" : "VIS");
            if (k) n_etias++; else n_vis++;
            rec_person_clear(&r);
        }
        free(d);
    }
    CHECK(n_vis > 100);
    CHECK(n_etias > 100);
}

TEST(gen_ees_visa_holders_have_a_vis_record_reg_2017_2226_art_16) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    /* person ids with a VIS record */
    sset vis, eesrec;
    sset_init(&vis, 1 << 15);
    sset_init(&eesrec, 1 << 15);
    char *tc = slurp(dir, "truth.csv", NULL);
    REQUIRE(tc);
    char *save = NULL;
    for (char *l = strtok_r(tc, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        if (split(l, f, 4) != 3) continue;
        if (!strcmp(f[0], "vis")) sset_add(&vis, f[2]);
        if (!strcmp(f[0], "ees")) {
            char k[96];
            snprintf(k, sizeof k, "%s=%s", f[1], f[2]);
            sset_add(&eesrec, k);
        }
    }
    free(tc);
    char *d = slurp(dir, "ees.jsonl", NULL);
    REQUIRE(d);
    size_t holders = 0;
    save = NULL;
    for (char *l = strtok_r(d, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!strstr(l, "\"visa_holder\":true") || !strstr(l, "individual_file")) continue;
        rec_person r;
        iop_err pe;
        if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "ees.jsonl: %s", pe.msg); continue; }
        /* the person of this record */
        bool ok = false;
        for (size_t i = 0; i < eesrec.cap && !ok; i++) {
            const char *k = eesrec.k[i];
            if (!k) continue;
            size_t il = strlen(r.id);
            if (!strncmp(k, r.id, il) && k[il] == '=') ok = sset_has(&vis, k + il + 1);
        }
        if (!ok) test_failed(__FILE__, __LINE__, "%s: a visa holder without a VIS application", r.id);
        holders++;
        rec_person_clear(&r);
        if (holders >= 300) break; /* a sample keeps the test fast under ASan */
    }
    CHECK(holders > 50);
    free(d);
    sset_free(&vis);
    sset_free(&eesrec);
}

/* VIS: ten fingers (from the age of 6) and the face; EES: the face of visa holders
 * (Reg. 2017/2226 Art 16(1)(d)), four fingers of the right hand and the face of
 * visa-exempt persons (Art 17(1)); ETIAS: no biometrics; a person's captures are
 * different impressions of the same fingers. */
TEST(gen_biometrics_follow_each_systems_rules_and_the_quality_minimum_art_37) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("gen-bio"));
    gen_stats st;
    iop_err e;
    REQUIRE(run(dir, 300, 11, NULL, &st, &e) == IOP_OK);
    if (!st.biometrics_filled) return; /* a build without the sBMS generators */
    const char *files[] = {"vis.jsonl", "ees.jsonl", "etias.jsonl", "eurodac.jsonl"};
    size_t checked = 0, bad = 0, fingers10 = 0, records10 = 0;
    for (size_t fi = 0; fi < 4; fi++) {
        char *d = slurp(dir, files[fi], NULL);
        REQUIRE(d);
        char *save = NULL;
        for (char *l = strtok_r(d, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            rec_person r;
            iop_err pe;
            if (rec_parse(l, strlen(l), &r, &pe)) {
                if (++bad <= 3) test_failed(__FILE__, __LINE__, "%s: %s", files[fi], pe.msg);
                continue;
            }
            checked++;
            /* a finger that fails the enrolment quality check four times is left out */
            int lo = 1, hi = 10;
            if (fi == 0) {
                CHECK(r.face != NULL);
                CHECK(r.n_fingers >= 8 || r.n_fingers == 0);
                fingers10 += r.n_fingers;
                records10 += r.n_fingers > 0;
            } else if (fi == 1) {
                CHECK(r.face != NULL);
                bool holder = strstr(l, "\"visa_holder\":true") != NULL;
                if (holder) CHECK_INT(r.n_fingers, 0);
                CHECK(r.n_fingers <= 4);
                lo = 2;
                hi = 5;
            } else if (fi == 2) {
                CHECK(r.face == NULL && r.n_fingers == 0);
            }
            int prev = 0;
            for (size_t i = 0; i < r.n_fingers; i++) {
                CHECK_STR(r.fingers[i].tpl.format, "iso19794-2-2005");
                CHECK(r.fingers[i].position >= lo && r.fingers[i].position <= hi && r.fingers[i].position > prev);
                prev = r.fingers[i].position;
                /* Reg. 2019/817 Art 37: only data of the minimum quality are entered */
                iop_fp_template t;
                iop_err fe;
                if (iop_fp_parse(r.fingers[i].tpl.data, r.fingers[i].tpl.len, IOP_FP_ISO2005, &t, &fe)) {
                    test_failed(__FILE__, __LINE__, "%s finger %zu: %s", r.id, i, fe.msg);
                    continue;
                }
                if (iop_fp_template_check(&t, NULL, &fe)) test_failed(__FILE__, __LINE__, "%s finger %zu: %s", r.id, i, fe.msg);
                iop_fp_template_free(&t);
            }
            if (r.face) CHECK_INT(r.face->len, 128 * 4);
            rec_person_clear(&r);
        }
        free(d);
    }
    if (bad > 3) test_failed(__FILE__, __LINE__, "%zu records with biometrics did not parse", bad);
    CHECK(checked > 200);
    CHECK(records10 > 50 && fingers10 >= records10 * 99 / 10); /* left-out fingers are rare */
    /* the seam: two captures of the same person are different impressions */
    gen_bio *b;
    REQUIRE(gen_bio_new(11, 128, &b, &e) == IOP_OK);
    rec_person x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    int pos[] = {2};
    REQUIRE(gen_bio_fill(b, 5, 0, pos, 1, true, &x, &e) == IOP_OK);
    REQUIRE(gen_bio_fill(b, 5, 1, pos, 1, true, &y, &e) == IOP_OK);
    CHECK(x.n_fingers == 1 && y.n_fingers == 1);
    CHECK(x.fingers[0].tpl.len != y.fingers[0].tpl.len || memcmp(x.fingers[0].tpl.data, y.fingers[0].tpl.data, x.fingers[0].tpl.len));
    CHECK(memcmp(x.face->data, y.face->data, x.face->len) != 0);
    gen_bio_clear(&x);
    gen_bio_clear(&y);
    gen_bio_free(b);
}

/* Another identity may travel on a stolen passport: Interpol SLTD lists it as stolen,
 * and the truth ties it to the person who uses it. */
TEST(gen_stolen_documents_of_other_identities_are_in_sltd_as_stolen) {
    const char *dir = population(NULL);
    REQUIRE(dir);
    sset docs; /* "person|number" of identities >= 1 */
    sset_init(&docs, 1 << 12);
    char *pc = slurp(dir, "persons.csv", NULL);
    REQUIRE(pc);
    char *save = NULL;
    for (char *l = strtok_r(pc, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *f[12];
        if (split(l, f, 12) != 11 || !strcmp(f[1], "0") || !strcmp(f[1], "identity") || !*f[10]) continue;
        char k[96];
        snprintf(k, sizeof k, "%s|%s", f[0], f[10]);
        sset_add(&docs, k);
    }
    free(pc);
    char *tc = slurp(dir, "truth.csv", NULL), *d = slurp(dir, "interpol.jsonl", NULL);
    REQUIRE(tc && d);
    size_t found = 0;
    save = NULL;
    for (char *l = strtok_r(d, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        rec_person r;
        iop_err pe;
        if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "interpol: %s", pe.msg); continue; }
        char pat[48];
        snprintf(pat, sizeof pat, ",%s,", r.id);
        char *row = strstr(tc, pat);
        if (row && r.n_documents == 1) {
            char pid[24], k[96];
            if (sscanf(row + strlen(pat), "%23[^\n]", pid) == 1) {
                snprintf(k, sizeof k, "%s|%s", pid, r.documents[0].number);
                if (sset_has(&docs, k)) {
                    found++;
                    CHECK(strstr(l, "\"status\":\"stolen\"") != NULL);
                    CHECK_INT(r.n_surnames, 0);
                }
            }
        } else if (!row) test_failed(__FILE__, __LINE__, "%s not in truth.csv", r.id);
        rec_person_clear(&r);
    }
    CHECK(found > 0);
    free(tc);
    free(d);
    sset_free(&docs);
}

/* EES keeps entry/exit records 3 years (Reg. 2017/2226 Art 34): movements lie in the
 * 3 years before the reference date, entries and exits alternate, an exit follows its
 * entry, and a stay ends within 90 days unless the person overstayed (no exit). */
TEST(gen_ees_movements_alternate_within_the_retention_period_art_34) {
    gen_params p;
    gen_params_default(&p);
    int64_t ref = iop_days_from_civil(p.reference.year, p.reference.month, p.reference.day);
    const char *dir = population(NULL);
    REQUIRE(dir);
    char *d = slurp(dir, "ees.jsonl", NULL);
    REQUIRE(d);
    size_t files = 0, moves = 0;
    char *save = NULL;
    for (char *l = strtok_r(d, "\n", &save); l && files < 2000; l = strtok_r(NULL, "\n", &save)) {
        rec_person r;
        iop_err pe;
        if (rec_parse(l, strlen(l), &r, &pe)) { test_failed(__FILE__, __LINE__, "ees: %s", pe.msg); continue; }
        json_t *ext = json_loads(r.ext, 0, NULL), *mv = ext ? json_object_get(ext, "movements") : NULL;
        if (!json_is_array(mv) || !json_array_size(mv)) {
            test_failed(__FILE__, __LINE__, "%s: no movements", r.id);
        } else if (!strcmp(r.kind, "individual_file")) {
            files++;
            int64_t last = 0;
            const char *expect = "entry";
            for (size_t i = 0; i < json_array_size(mv); i++) {
                json_t *m = json_array_get(mv, i);
                const char *type = json_string_value(json_object_get(m, "type"));
                iop_date dt;
                REQUIRE(iop_date_parse(json_string_value(json_object_get(m, "date")), &dt, NULL) == IOP_OK);
                int64_t day = iop_days_from_civil(dt.year, dt.month, dt.day);
                if (strcmp(type, expect)) test_failed(__FILE__, __LINE__, "%s: movement %zu is an %s, expected an %s", r.id, i, type, expect);
                if (day > ref || day < ref - 3 * 365 - 1) test_failed(__FILE__, __LINE__, "%s: movement %zu outside the 3 years", r.id, i);
                if (!strcmp(type, "exit") && (day <= last || day - last > 90))
                    test_failed(__FILE__, __LINE__, "%s: exit %zu is not 1..90 days after its entry", r.id, i);
                if (!strcmp(type, "entry") && day <= last && i) test_failed(__FILE__, __LINE__, "%s: entries out of order", r.id);
                last = day;
                expect = strcmp(type, "entry") ? "entry" : "exit";
                moves++;
            }
        }
        json_decref(ext);
        rec_person_clear(&r);
    }
    free(d);
    CHECK(files > 500);
    CHECK(moves > files);
}

TEST(gen_tiny_populations_are_complete) {
    for (uint64_t n = 1; n <= 3; n++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", test_tmpdir("gen-tiny"));
        gen_stats st;
        iop_err e;
        REQUIRE(run(dir, n, 77, NULL, &st, &e) == IOP_OK);
        CHECK_INT(st.persons, n);
        char *pc = slurp(dir, "persons.csv", NULL);
        REQUIRE(pc);
        CHECK(strstr(pc, "P000000001,0,") != NULL);
        free(pc);
    }
}

TEST(gen_rejects_bad_parameters_with_a_clear_error) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("gen-bad"));
    iop_err e;
    CHECK(run(dir, 0, 1, NULL, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "--persons") != NULL);
    gen_params p;
    gen_params_default(&p);
    p.rate[GEN_ERR_DOC_OCR] = 1.5;
    CHECK(run(dir, 10, 1, &p, NULL, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "doc_ocr") != NULL);
    gen_params_default(&p);
    p.persons = 10;
    p.out_dir = dir;
    p.data_dir = "/nonexistent/shared-data";
    CHECK(gen_run(&p, NULL, &e) != IOP_OK);
    CHECK(strstr(e.msg, "/nonexistent/shared-data") != NULL);
}

TEST(gen_ocr_and_typo_change_exactly_what_they_say) {
    gen_arena a = {0};
    iop_rng r;
    iop_rng_seed(&r, 3);
    for (int i = 0; i < 200; i++) {
        const char *o = gen_ocr(&a, "AB1250863", &r);
        CHECK(strcmp(o, "AB1250863") != 0);
        CHECK_INT(strlen(o), 9);
        int diff = 0;
        for (int k = 0; k < 9; k++) diff += o[k] != "AB1250863"[k];
        CHECK_INT(diff, 1);
        const char *t = gen_typo(&a, "Petrov", &r);
        CHECK(strcmp(t, "Petrov") != 0);
        CHECK(t[0] == 'P'); /* the first letter is kept */
        const char *u = gen_typo(&a, "Иванов", &r);
        CHECK(strcmp(u, "Иванов") != 0);
    }
    CHECK_STR(gen_ocr(&a, "ACDEFH", &r), "ACDEFH"); /* nothing confusable */
    CHECK_STR(gen_cyr_romanise(&a, "Щукина", 0), "Shchukina");
    CHECK_STR(gen_cyr_romanise(&a, "Юрий", 1), "Yuriy");
    CHECK_STR(gen_cyr_romanise(&a, "Юрий", 2), "Jurij");
    CHECK_STR(gen_cyr_feminine(&a, "Иванов"), "Иванова");
    CHECK_STR(gen_cyr_feminine(&a, "Достоевский"), "Достоевская");
    CHECK_STR(gen_fold_diacritics(&a, "Öztürk", false), "Ozturk");
    CHECK_STR(gen_fold_diacritics(&a, "Öztürk", true), "Oeztuerk");
    CHECK_STR(gen_upper(&a, "Şahin"), "ŞAHIN");
    gen_arena_free(&a);
}

TEST(gen_cli_answers_help_and_rejects_missing_options) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' gen --help > /dev/null", IOP_BINARY);
    CHECK_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' gen --seed 1 --out /tmp/x 2> /dev/null", IOP_BINARY);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    snprintf(cmd, sizeof cmd, "'%s' gen --persons ten --seed 1 --out /tmp/x 2> /dev/null", IOP_BINARY);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}
