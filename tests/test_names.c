/* test-links: names record */
/*
 * test_names.c -- the rules of the biographic identity-matching engine (Reg. 2019/817
 * Art 28, Delegated Reg. 2023/333: same / similar / different identity data), one test
 * per transliteration scheme, date rule and name-structure rule.
 */
#include <pthread.h>
#include <unistd.h>
#include "interop/names.h"
#include "test.h"

static names_engine *engine(void) {
    static names_engine *e;
    if (!e) {
        iop_err err;
        if (names_engine_new(IOP_SHARED_DATA "/names/nicknames.csv", &e, &err)) {
            fprintf(stderr, "engine: %s\n", err.msg);
            abort();
        }
    }
    return e;
}

/* "Given Names|Surnames" with optional date */
static names_ident *mk(const char *given, const char *sur, const char *dob) {
    names_fields f = {0};
    const char *g = given, *s = sur;
    if (given && *given) { f.given_names = &g; f.n_given_names = 1; }
    if (sur && *sur) { f.surnames = &s; f.n_surnames = 1; }
    if (dob) iop_date_parse(dob, &f.dob, NULL);
    names_ident *id = NULL;
    iop_err err;
    if (names_prepare_fields(engine(), &f, &id, &err)) fprintf(stderr, "prepare: %s\n", err.msg);
    return id;
}

static names_result cmp(names_ident *a, names_ident *b) {
    names_result r, r2;
    names_compare(engine(), a, b, &r);
    names_compare(engine(), b, a, &r2);
    if (r.verdict != r2.verdict || r.score - r2.score > 1e-9 || r2.score - r.score > 1e-9)
        test_failed(__FILE__, __LINE__, "compare is not symmetric: %s %.4f / %s %.4f", names_verdict_name(r.verdict),
                    r.score, names_verdict_name(r2.verdict), r2.score);
    names_ident_free(a);
    names_ident_free(b);
    return r;
}

static names_verdict vname(const char *g1, const char *s1, const char *g2, const char *s2) {
    return cmp(mk(g1, s1, NULL), mk(g2, s2, NULL)).verdict;
}

static names_agreement name_agreement(const char *g1, const char *s1, const char *g2, const char *s2) {
    return cmp(mk(g1, s1, NULL), mk(g2, s2, NULL)).ev[NAMES_F_NAME].agreement;
}

static bool json_has(names_ident *id, const char *needle) {
    iop_buf b;
    iop_buf_init(&b);
    names_ident_json(engine(), id, &b);
    bool r = b.data && strstr(b.data, needle);
    if (!r) fprintf(stderr, "  (%s not in %s)\n", needle, b.data);
    iop_buf_free(&b);
    names_ident_free(id);
    return r;
}

/* ---- Commission glossary example (Art 28(5), Delegated Reg. 2023/333) ---- */
TEST(art28_smith_smith_same_smieth_similar_johnsson_different) {
    CHECK_INT(vname(NULL, "Smith", NULL, "Smith"), NAMES_SAME);
    CHECK_INT(vname(NULL, "Smith", NULL, "Smieth"), NAMES_SIMILAR);
    CHECK_INT(vname(NULL, "Smith", NULL, "Johnsson"), NAMES_DIFFERENT);
}

/* ---- transliteration schemes ---- */
TEST(translit_icao_9303_cyrillic_yu_iu_shch) {
    CHECK(json_has(mk("Юлия", "Щеглова", NULL), "\"iuliia\""));
    CHECK(json_has(mk("Юлия", "Щеглова", NULL), "\"shcheglova\""));
    CHECK_INT(name_agreement("Юлия", "Щеглова", "IULIIA", "SHCHEGLOVA"), NAMES_AGREE_SAME);
}

TEST(translit_icao_9303_latin_umlaut_ae_oe_ue) {
    CHECK(json_has(mk("Jürgen", "Müller", NULL), "\"mueller\""));
    CHECK_INT(name_agreement("Jürgen", "Müller", "JUERGEN", "MUELLER"), NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Jürgen", "Müller", "JURGEN", "MULLER"), NAMES_AGREE_SAME); /* the plain form too */
    CHECK_INT(name_agreement("Åsa", "Sørensen", "AASA", "SOERENSEN"), NAMES_AGREE_SAME);
}

TEST(translit_bgn_pcgn_russian_ya_yu_ye) {
    CHECK(json_has(mk("Юлия", "Щеглова", NULL), "\"yuliya\""));
    CHECK_INT(name_agreement("Юлия", "Щеглова", "Yuliya", "Shcheglova"), NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Евгений", "Ерёменко", "Yevgeniy", "Yeremenko"), NAMES_AGREE_SAME);
}

TEST(translit_slavic_latin_letters_read_as_serbian_cyrillic_bgn_ch_sh_zh) {
    CHECK(json_has(mk("Dražen", "Čović", NULL), "\"chovich\""));
    CHECK(json_has(mk("Dražen", "Čović", NULL), "\"covic\"")); /* the plain letters stay */
    CHECK_INT(name_agreement("Dražen", "Čović", "DRAZHEN", "CHOVICH"), NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Dražen", "Čović", "DRAZEN", "COVIC"), NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Vojislav", "Šešelj", "Vojislav", "Sheshelj"), NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Đorđe", "Šešelj", "Djordje", "Sheshelj"), NAMES_AGREE_SAME);
    /* one reading per name: mixing them is similar, not same */
    CHECK_INT(name_agreement("Đorđe", "Šešelj", "Djordje", "Seselj"), NAMES_AGREE_SIMILAR);
}

TEST(translit_icu_any_latin_and_other_romanisations_similar) {
    CHECK(json_has(mk("Юлия", "Щеглова", NULL), "\"seglova\"")); /* ICU ISO-9 based, ASCII-folded */
    CHECK(vname("Юлия", "Щеглова", "Julia", "Scheglova") >= NAMES_SIMILAR);
    CHECK(vname("Юлия", "Щеглова", "Ioulia", "Chtcheglova") >= NAMES_SIMILAR);
}

TEST(translit_greek_icao) {
    CHECK_INT(name_agreement("Αλέξανδρος", "Παπαδόπουλος", "Alexandros", "Papadopoulos"), NAMES_AGREE_SAME);
}

TEST(translit_arabic_hebrew_chinese_through_icu) {
    CHECK(vname(NULL, "اشكنازي", NULL, "Ashkenazi") >= NAMES_SIMILAR);
    CHECK(vname(NULL, "קרביץ", NULL, "Kravitz") >= NAMES_SIMILAR);
    CHECK_INT(name_agreement("泽东", "毛", "Zedong", "Mao"), NAMES_AGREE_SAME);
    CHECK_INT(vname(NULL, "اشكنازي", NULL, "Johnsson"), NAMES_DIFFERENT);
}

/* ---- name structure ---- */
TEST(name_given_and_surname_swapped_is_similar) {
    names_result r = cmp(mk("Maria", "Rossi", NULL), mk("Rossi", "Maria", NULL));
    CHECK_INT(r.verdict, NAMES_SIMILAR);
    CHECK(strstr(r.ev[NAMES_F_NAME].reason, "swapped") != NULL);
}

TEST(name_compound_surname_hyphen_or_space_same_part_missing_similar) {
    CHECK_INT(name_agreement("Ana", "García-López", "Ana", "GARCIA LOPEZ"), NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Ana", "García López", "Ana", "Garcia"), NAMES_AGREE_SIMILAR);
}

TEST(name_particles_van_der_al_bin) {
    CHECK(name_agreement("Jan", "van der Meer", "Jan", "Vandermeer") >= NAMES_AGREE_SAME);
    CHECK_INT(name_agreement("Jan", "van der Meer", "Jan", "Meer") , NAMES_AGREE_SAME);
    CHECK(vname("Omar", "Al-Hassan", "Omar", "Hassan") >= NAMES_SIMILAR);
    CHECK(vname("Ahmad", "bin Salleh", "Ahmad", "Salleh") >= NAMES_SIMILAR);
}

TEST(name_missing_middle_name_is_similar_not_same) {
    names_fields f = {0};
    const char *g[] = {"John", "Paul"}, *s = "Smith";
    f.given_names = g; f.n_given_names = 2; f.surnames = &s; f.n_surnames = 1;
    names_ident *a;
    REQUIRE(names_prepare_fields(engine(), &f, &a, NULL) == IOP_OK);
    names_result r = cmp(a, mk("John", "Smith", NULL));
    CHECK_INT(r.verdict, NAMES_SIMILAR);
    CHECK_INT(r.ev[NAMES_F_NAME].agreement, NAMES_AGREE_SIMILAR);
}

TEST(name_initial_matches_full_given_name) {
    names_result r = cmp(mk("J.", "Smith", NULL), mk("John", "Smith", NULL));
    CHECK_INT(r.verdict, NAMES_SIMILAR);
    CHECK(strstr(r.ev[NAMES_F_NAME].reason, "initial") != NULL);
    CHECK_INT(vname("K.", "Smith", "John", "Smith"), NAMES_DIFFERENT);
}

TEST(name_nickname_table_bob_robert) {
    names_result r = cmp(mk("Bob", "Miller", "1970-01-01"), mk("Robert", "Miller", "1970-01-01"));
    CHECK_INT(r.verdict, NAMES_SIMILAR);
    CHECK(strstr(r.ev[NAMES_F_NAME].reason, "nickname") != NULL);
    CHECK(engine() && names_engine_nickname_count(engine()) > 500);
}

TEST(name_phonetic_nysiis_spelling_variants_similar) {
    CHECK(vname("Catherine", "Schmidt", "Katherine", "Schmitt") >= NAMES_SIMILAR);
}

TEST(name_surname_at_birth_and_alias_match) {
    names_fields f = {0};
    const char *g = "Anna", *s = "Schneider", *al = "Anna Kowalska";
    f.given_names = &g; f.n_given_names = 1; f.surnames = &s; f.n_surnames = 1;
    f.surname_at_birth = "Meyer";
    names_ident *a;
    REQUIRE(names_prepare_fields(engine(), &f, &a, NULL) == IOP_OK);
    names_result r = cmp(a, mk("Anna", "Meyer", NULL));
    CHECK(r.verdict >= NAMES_SIMILAR);
    CHECK(strstr(r.ev[NAMES_F_NAME].reason, "surname at birth") != NULL);
    f.surname_at_birth = NULL;
    f.aliases = &al; f.n_aliases = 1;
    REQUIRE(names_prepare_fields(engine(), &f, &a, NULL) == IOP_OK);
    r = cmp(a, mk("Anna", "Kowalska", NULL));
    CHECK(r.verdict >= NAMES_SIMILAR);
    CHECK(strstr(r.ev[NAMES_F_NAME].reason, "alias") != NULL);
}

/* ---- dates of birth ---- */
static names_evidence dob_ev(const char *a, const char *b) {
    return cmp(mk("Eva", "Novak", a), mk("Eva", "Novak", b)).ev[NAMES_F_DOB];
}

TEST(dob_same_full_date_is_same_verdict) {
    CHECK_INT(cmp(mk("Eva", "Novak", "1985-07-21"), mk("Eva", "Novak", "1985-07-21")).verdict, NAMES_SAME);
    CHECK_INT(dob_ev("1985-07-21", "1985-07-21").agreement, NAMES_AGREE_SAME);
}

TEST(dob_partial_date_unknown_day_or_month_agrees_on_known_parts) {
    CHECK_INT(dob_ev("1985-07", "1985-07-21").agreement, NAMES_AGREE_SIMILAR);
    CHECK_INT(dob_ev("1985", "1985-07-21").agreement, NAMES_AGREE_SIMILAR);
    CHECK_INT(dob_ev("1985-08", "1985-07-21").agreement, NAMES_AGREE_DIFFERENT);
}

TEST(dob_day_month_swap_is_similar) {
    names_evidence e = dob_ev("1985-07-11", "1985-11-07");
    CHECK_INT(e.agreement, NAMES_AGREE_SIMILAR);
    CHECK(strstr(e.reason, "swapped") != NULL);
}

TEST(dob_one_digit_typo_is_similar) {
    names_evidence e = dob_ev("1985-07-21", "1985-07-24");
    CHECK_INT(e.agreement, NAMES_AGREE_SIMILAR);
    CHECK(strstr(e.reason, "one digit") != NULL);
    CHECK_INT(dob_ev("1985-07-21", "1958-07-21").agreement, NAMES_AGREE_SIMILAR); /* transposed digits */
}

TEST(dob_one_year_apart_is_similar_far_apart_different) {
    CHECK_INT(dob_ev("1985-07-21", "1986-07-21").agreement, NAMES_AGREE_SIMILAR);
    CHECK_INT(dob_ev("1979-07-21", "1980-07-21").agreement, NAMES_AGREE_SIMILAR); /* several digits, one year */
    names_result r = cmp(mk("Eva", "Novak", "1985-07-21"), mk("Eva", "Novak", "1962-03-02"));
    CHECK_INT(r.ev[NAMES_F_DOB].agreement, NAMES_AGREE_DIFFERENT);
    CHECK_INT(r.verdict, NAMES_DIFFERENT); /* same name, other person */
}

TEST(dob_absent_on_one_side_is_neutral) {
    names_result r = cmp(mk("Eva", "Novak", NULL), mk("Eva", "Novak", "1985-07-21"));
    CHECK_INT(r.ev[NAMES_F_DOB].agreement, NAMES_ABSENT);
    CHECK_NEAR(r.ev[NAMES_F_DOB].weight, 0, 1e-12);
    CHECK_INT(r.verdict, NAMES_SIMILAR);
}

/* ---- sex, nationality, documents ---- */
TEST(sex_different_prevents_same_verdict) {
    names_fields f = {0};
    const char *g = "Alex", *s = "Weber";
    f.given_names = &g; f.n_given_names = 1; f.surnames = &s; f.n_surnames = 1;
    iop_date_parse("1990-01-02", &f.dob, NULL);
    f.sex = 'M';
    names_ident *a, *b;
    REQUIRE(names_prepare_fields(engine(), &f, &a, NULL) == IOP_OK);
    f.sex = 'F';
    REQUIRE(names_prepare_fields(engine(), &f, &b, NULL) == IOP_OK);
    names_result r = cmp(a, b);
    CHECK(r.verdict != NAMES_SAME);
    CHECK_INT(r.ev[NAMES_F_SEX].agreement, NAMES_AGREE_DIFFERENT);
}

static names_ident *with_doc(const char *num, const char *country, const char *nat) {
    names_fields f = {0};
    const char *g = "Lena", *s = "Berg";
    f.given_names = &g; f.n_given_names = 1; f.surnames = &s; f.n_surnames = 1;
    rec_document d = {"passport", (char *)num, (char *)country, {0, 0, 0}};
    f.documents = &d; f.n_documents = 1;
    if (nat) { f.nationalities = &nat; f.n_nationalities = 1; }
    names_ident *id = NULL;
    names_prepare_fields(engine(), &f, &id, NULL);
    return id;
}

TEST(documents_same_number_same_country_is_strong_evidence) {
    names_result r = cmp(with_doc("AB 123456", "SWE", "SWE"), with_doc("ab123456", "SWE", "SWE"));
    CHECK_INT(r.ev[NAMES_F_DOCUMENTS].agreement, NAMES_AGREE_SAME);
    CHECK(r.score > 0.99);
}

TEST(documents_ocr_confusions_0_O_1_I_5_S_8_B) {
    names_result r = cmp(with_doc("0I5B12345", "SWE", NULL), with_doc("O1S812345", "SWE", NULL));
    CHECK_INT(r.ev[NAMES_F_DOCUMENTS].agreement, NAMES_AGREE_SIMILAR);
    CHECK(strstr(r.ev[NAMES_F_DOCUMENTS].reason, "OCR") != NULL);
}

TEST(documents_same_number_other_issuing_country_is_weak) {
    names_result r = cmp(with_doc("X1234567", "SWE", NULL), with_doc("X1234567", "NOR", NULL));
    CHECK_INT(r.ev[NAMES_F_DOCUMENTS].agreement, NAMES_AGREE_SIMILAR);
    CHECK(r.ev[NAMES_F_DOCUMENTS].weight < 5);
}

TEST(nationality_disjoint_is_different_shared_is_same) {
    CHECK_INT(cmp(with_doc("1", "SWE", "SWE"), with_doc("2", "SWE", "NOR")).ev[NAMES_F_NATIONALITY].agreement,
              NAMES_AGREE_DIFFERENT);
    CHECK_INT(cmp(with_doc("1", "SWE", "swe"), with_doc("2", "SWE", "SWE")).ev[NAMES_F_NATIONALITY].agreement,
              NAMES_AGREE_SAME);
}

/* ---- bad input ---- */
TEST(bad_input_invalid_utf8_is_an_error_with_byte_offset) {
    names_fields f = {0};
    const char *s = "Sm\xC3(th";
    f.surnames = &s; f.n_surnames = 1;
    names_ident *id = NULL;
    iop_err err;
    CHECK(names_prepare_fields(engine(), &f, &id, &err) == IOP_EINVAL);
    CHECK(id == NULL);
    CHECK(strstr(err.msg, "surnames[0]") != NULL);
    CHECK(strstr(err.msg, "byte 2") != NULL);
}

TEST(bad_input_future_or_invalid_date_is_an_error) {
    names_fields f = {0};
    f.dob = (iop_date){2199, 1, 1};
    names_ident *id = NULL;
    iop_err err;
    CHECK(names_prepare_fields(engine(), &f, &id, &err) == IOP_EINVAL);
    CHECK(strstr(err.msg, "future") != NULL);
    f.dob = (iop_date){1990, 2, 30};
    CHECK(names_prepare_fields(engine(), &f, &id, &err) == IOP_EINVAL);
}

TEST(bad_input_empty_names_are_absent_and_compare_is_total) {
    names_ident *a = mk("", "  -- ", NULL), *b = mk(NULL, NULL, NULL);
    REQUIRE(a && b);
    names_result r = cmp(a, b);
    CHECK_INT(r.ev[NAMES_F_NAME].agreement, NAMES_ABSENT);
    CHECK(r.score >= 0 && r.score <= 1);
    CHECK_INT(r.verdict, NAMES_DIFFERENT);
}

TEST(result_json_lists_every_field_with_reason) {
    names_result r = cmp(mk("Bob", "Miller", "1970-01-01"), mk("Robert", "Miller", "1970-01-01"));
    iop_buf b;
    iop_buf_init(&b);
    CHECK(names_result_json(&r, &b) == 0);
    CHECK(strstr(b.data, "\"verdict\":\"similar\"") != NULL);
    CHECK(strstr(b.data, "\"date_of_birth\":{\"agreement\":\"same\"") != NULL);
    CHECK(strstr(b.data, "\"documents\":{\"agreement\":\"absent\"") != NULL);
    iop_buf_free(&b);
}

TEST(nickname_table_malformed_line_names_file_and_line) {
    const char *dir = test_tmpdir("names_nick");
    char path[512];
    snprintf(path, sizeof path, "%s/nick.csv", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("name1,relationship,name2\nrobert,has_nickname,bob\nbroken line\n", f);
    fclose(f);
    names_engine *e = NULL;
    iop_err err;
    CHECK(names_engine_new(path, &e, &err) == IOP_EINVAL);
    CHECK(strstr(err.msg, ":3:") != NULL);
}

/* ---- index and search ---- */
typedef struct store_ctx {
    names_ident **ids;
} store_ctx;

static const names_ident *sget(void *u, uint64_t id) { return ((store_ctx *)u)->ids[id]; }

static const char *GIVEN[] = {"Anna", "Boris", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Irina", "Jonas"};
static const char *SUR[] = {"Ivanova", "Novak", "Schneider", "Rossi", "Haddad", "Kowalski", "Dubois", "Jensen",
                            "Petrov", "Garcia", "Smith", "Nagy", "Horvat", "Popescu", "Berg", "Costa"};

static names_ident *person(int i) {
    char dob[16];
    snprintf(dob, sizeof dob, "%04d-%02d-%02d", 1940 + i % 60, 1 + i % 12, 1 + i % 28);
    char sur[64];
    snprintf(sur, sizeof sur, "%s%s", SUR[i % 16], i / 160 ? "" : "");
    return mk(GIVEN[(i / 16) % 10], sur, dob);
}

TEST(index_search_finds_the_corrupted_record_first_and_honours_remove) {
    enum { N = 2000 };
    names_ident **ids = calloc(N, sizeof *ids);
    store_ctx sc = {ids};
    names_store st = {sget, NULL, &sc};
    names_index *ix;
    REQUIRE(names_index_new(engine(), &st, &ix, NULL) == IOP_OK);
    for (int i = 0; i < N; i++) {
        ids[i] = person(i);
        REQUIRE(names_index_add(ix, (uint64_t)i, ids[i], NULL) == IOP_OK);
    }
    iop_err err;
    CHECK(names_index_add(ix, 5, ids[5], &err) == IOP_EEXIST);
    CHECK_INT(names_index_count(ix), N);
    /* query: record 777 with a typo in the surname and the day/month swapped */
    char dob[16];
    int i = 777;
    snprintf(dob, sizeof dob, "%04d-%02d-%02d", 1940 + i % 60, 1 + i % 28 > 12 ? 1 + i % 12 : 1 + i % 28,
             1 + i % 28 > 12 ? 1 + i % 28 : 1 + i % 12);
    names_ident *q = mk(GIVEN[(i / 16) % 10], "Schnieder", dob);
    names_hit hits[10];
    size_t nh = names_index_search(ix, q, 10, 0, hits);
    REQUIRE(nh > 0);
    /* several records share name and date pattern; 777 must be among the best */
    bool found = false;
    for (size_t h = 0; h < nh && h < 3; h++) found |= hits[h].id == 777;
    CHECK(found);
    for (size_t h = 1; h < nh; h++) CHECK(hits[h - 1].score >= hits[h].score);
    CHECK(names_index_remove(ix, 777) == IOP_OK);
    CHECK(names_index_remove(ix, 777) == IOP_ENOTFOUND);
    nh = names_index_search(ix, q, 10, 0, hits);
    for (size_t h = 0; h < nh; h++) CHECK(hits[h].id != 777);
    CHECK(names_index_optimize(ix, NULL) == IOP_OK);
    nh = names_index_search(ix, q, 10, 0, hits);
    for (size_t h = 0; h < nh; h++) CHECK(hits[h].id != 777);
    CHECK_INT(names_index_count(ix), N - 1);
    names_ident_free(q);
    names_index_free(ix);
    for (int k = 0; k < N; k++) names_ident_free(ids[k]);
    free(ids);
}

TEST(index_finds_native_script_record_from_latin_query) {
    names_ident *ids[4] = {mk("Юлия", "Щеглова", NULL), mk(NULL, "Ashkenazi", NULL), mk("Олег", "Петров", NULL),
                           mk(NULL, "اشكنازي", NULL)};
    store_ctx sc = {ids};
    names_store st = {sget, NULL, &sc};
    names_index *ix;
    REQUIRE(names_index_new(engine(), &st, &ix, NULL) == IOP_OK);
    for (int i = 0; i < 4; i++) REQUIRE(names_index_add(ix, (uint64_t)i, ids[i], NULL) == IOP_OK);
    names_ident *q = mk("Yulia", "Shcheglova", NULL);
    names_hit hits[4];
    size_t nh = names_index_search(ix, q, 4, 0, hits);
    CHECK(nh >= 1 && hits[0].id == 0);
    names_ident_free(q);
    q = mk(NULL, "Ashkenazy", NULL);
    nh = names_index_search(ix, q, 4, 0, hits);
    bool arabic = false;
    for (size_t h = 0; h < nh; h++) arabic |= hits[h].id == 3;
    CHECK(arabic);
    names_ident_free(q);
    names_index_free(ix);
    for (int i = 0; i < 4; i++) names_ident_free(ids[i]);
}

typedef struct thr {
    names_index *ix;
    names_ident **q;
    int n;
    uint64_t top[64];
} thr;

static void *searcher(void *arg) {
    thr *t = arg;
    for (int i = 0; i < t->n; i++) {
        names_hit h[3];
        size_t nh = names_index_search(t->ix, t->q[i], 3, 0, h);
        t->top[i] = nh ? h[0].id : UINT64_MAX;
    }
    return NULL;
}

TEST(index_concurrent_searches_on_two_threads_agree_with_serial) {
    enum { N = 500, Q = 64 };
    names_ident **ids = calloc(N, sizeof *ids);
    store_ctx sc = {ids};
    names_store st = {sget, NULL, &sc};
    names_index *ix;
    REQUIRE(names_index_new(engine(), &st, &ix, NULL) == IOP_OK);
    for (int i = 0; i < N; i++) {
        ids[i] = person(i * 7);
        REQUIRE(names_index_add(ix, (uint64_t)i, ids[i], NULL) == IOP_OK);
    }
    names_ident *q[Q];
    for (int i = 0; i < Q; i++) q[i] = person(i * 7 * 3);
    thr a = {ix, q, Q, {0}}, b = {ix, q, Q, {0}}, s = {ix, q, Q, {0}};
    searcher(&s);
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, searcher, &a) == 0);
    REQUIRE(pthread_create(&tb, NULL, searcher, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int i = 0; i < Q; i++) {
        CHECK(a.top[i] == s.top[i]);
        CHECK(b.top[i] == s.top[i]);
    }
    for (int i = 0; i < Q; i++) names_ident_free(q[i]);
    names_index_free(ix);
    for (int i = 0; i < N; i++) names_ident_free(ids[i]);
    free(ids);
}

TEST(resolve_clusters_spelling_variants_and_keeps_strangers_apart) {
    names_ident *ids[6] = {mk("Maria", "Rossi", "1980-05-06"), mk("Mario", "Bianchi", "1975-01-02"),
                           mk("Maria", "Rosi", "1980-05-06"),  mk("Rossi", "Maria", "1980-06-05"),
                           mk("Mario", "Bianchi", "1957-01-02"), mk("Giulia", "Verdi", "1990-09-09")};
    size_t cl[6];
    REQUIRE(names_resolve(engine(), ids, 6, 0, cl, NULL) == IOP_OK);
    CHECK_INT(cl[0], 0);
    CHECK_INT(cl[2], 0);
    CHECK_INT(cl[3], 0);
    CHECK_INT(cl[1], 1);
    CHECK_INT(cl[5], 5);
    for (int i = 0; i < 6; i++) names_ident_free(ids[i]);
}

/* ---- public data ---- */
TEST(febrl_dataset3_dedup_f1_at_least_0_99) {
    names_eval_result r;
    iop_err err;
    REQUIRE(names_eval_febrl(engine(), IOP_SHARED_DATA "/febrl", "3", 0, &r, &err) == IOP_OK);
    CHECK_INT(r.records, 5000);
    CHECK(r.f1 >= 0.99);
}

TEST(febrl_dataset4_linkage_f1_at_least_0_995) {
    names_eval_result r;
    iop_err err;
    REQUIRE(names_eval_febrl(engine(), IOP_SHARED_DATA "/febrl", "4", 0, &r, &err) == IOP_OK);
    CHECK_INT(r.true_pairs, 5000);
    CHECK(r.f1 >= 0.995);
}

TEST(xscript_russian_sample_found_and_no_false_same) {
    names_xscript_result r;
    iop_err err;
    REQUIRE(names_eval_xscript(engine(), IOP_SHARED_DATA "/names/wikidata_russian_dev.tsv", 1500, &r, &err) == IOP_OK);
    CHECK_INT(r.pairs, 1500);
    CHECK(r.recall_top10 >= 0.8);
    CHECK(r.false_same_rate < 0.001);
}

TEST(index_saved_and_loaded_answers_the_same_and_truncation_is_refused) {
    enum { N = 300 };
    names_ident **ids = calloc(N, sizeof *ids);
    store_ctx sc = {ids};
    names_store st = {sget, NULL, &sc};
    names_index *ix, *ix2 = NULL;
    REQUIRE(names_index_new(engine(), &st, &ix, NULL) == IOP_OK);
    for (int i = 0; i < N; i++) {
        ids[i] = person(i * 3);
        REQUIRE(names_index_add(ix, (uint64_t)i, ids[i], NULL) == IOP_OK);
    }
    CHECK(names_index_remove(ix, 10) == IOP_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/ix.bin", test_tmpdir("names_ix_save"));
    iop_err err;
    REQUIRE(names_index_save(ix, path, &err) == IOP_OK);
    REQUIRE(names_index_load(engine(), &st, path, &ix2, &err) == IOP_OK);
    CHECK_INT(names_index_count(ix2), N - 1);
    for (int q = 0; q < N; q += 17) {
        names_hit h1[5], h2[5];
        size_t n1 = names_index_search(ix, ids[q], 5, 0, h1), n2 = names_index_search(ix2, ids[q], 5, 0, h2);
        CHECK_INT(n1, n2);
        for (size_t k = 0; k < n1 && k < n2; k++) CHECK(h1[k].id == h2[k].id);
    }
    /* truncate the file: refused with a clear error */
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    REQUIRE(truncate(path, size - 7) == 0);
    names_index *ix3 = NULL;
    CHECK(names_index_load(engine(), &st, path, &ix3, &err) == IOP_ECORRUPT);
    CHECK(strstr(err.msg, "truncated") != NULL);
    CHECK(ix3 == NULL);
    names_index_free(ix);
    names_index_free(ix2);
    for (int i = 0; i < N; i++) names_ident_free(ids[i]);
    free(ids);
}
