/* test-links: names record */
/*
 * test_names_ja.c -- readings of names the rule-based schemes cannot give:
 *   - Japanese names written in kanji are read in Japanese (荒木 = Araki) from the
 *     person names of MeCab's IPA dictionary (mecab-ipadic Noun.name.csv, EUC-JP),
 *     whole or as surname + given name (村上志保美 = Murakami Shihomi); a malformed
 *     dictionary is refused with its line;
 *   - an Arabic name written with the definite article (النجار) is read with and
 *     without it by the learned model (Najar as well as Alnajar).
 */
#include <stdlib.h>
#include <string.h>
#include "interop/names.h"
#include "test.h"

/* four dictionary rows in EUC-JP: 荒木 アラキ (surname), 志保美 シホミ (given name),
 * 村上 ムラカミ (surname), 庄司 ショウジ / ショージ (surname) */
static const char *JA_ROWS =
    "\xB9\xD3\xCC\xDA,1290,1290,7582,\xCC\xBE\xBB\xEC,\xB8\xC7\xCD\xAD\xCC\xBE\xBB\xEC,\xBF\xCD\xCC\xBE,\xC0\xAB,*,*,"
    "\xB9\xD3\xCC\xDA,\xA5\xA2\xA5\xE9\xA5\xAD,\xA5\xA2\xA5\xE9\xA5\xAD\n"
    "\xBB\xD6\xCA\xDD\xC8\xFE,1291,1291,8000,\xCC\xBE\xBB\xEC,\xB8\xC7\xCD\xAD\xCC\xBE\xBB\xEC,\xBF\xCD\xCC\xBE,\xCC\xBE,*,*,"
    "\xBB\xD6\xCA\xDD\xC8\xFE,\xA5\xB7\xA5\xDB\xA5\xDF,\xA5\xB7\xA5\xDB\xA5\xDF\n"
    "\xC2\xBC\xBE\xE5,1290,1290,5000,\xCC\xBE\xBB\xEC,\xB8\xC7\xCD\xAD\xCC\xBE\xBB\xEC,\xBF\xCD\xCC\xBE,\xC0\xAB,*,*,"
    "\xC2\xBC\xBE\xE5,\xA5\xE0\xA5\xE9\xA5\xAB\xA5\xDF,\xA5\xE0\xA5\xE9\xA5\xAB\xA5\xDF\n"
    "\xBE\xB1\xBB\xCA,1290,1290,7124,\xCC\xBE\xBB\xEC,\xB8\xC7\xCD\xAD\xCC\xBE\xBB\xEC,\xBF\xCD\xCC\xBE,\xC0\xAB,*,*,"
    "\xBE\xB1\xBB\xCA,\xA5\xB7\xA5\xE7\xA5\xA6\xA5\xB8,\xA5\xB7\xA5\xE7\xA1\xBC\xA5\xB8\n";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static names_ident *prep(const names_engine *eng, const char *surname) {
    names_fields f = {0};
    f.surnames = &surname;
    f.n_surnames = 1;
    names_ident *id = NULL;
    iop_err err;
    if (names_prepare_fields(eng, &f, &id, &err) != IOP_OK) { /* the tests' names are all valid */
        fprintf(stderr, "prepare %s: %s\n", surname, err.msg);
        abort();
    }
    return id;
}

static names_verdict verdict(const names_engine *eng, const char *a, const char *b, double *score) {
    names_ident *x = prep(eng, a), *y = prep(eng, b);
    names_result r;
    names_compare(eng, x, y, &r);
    names_ident_free(x);
    names_ident_free(y);
    if (score) *score = r.score;
    return r.verdict;
}

TEST(japanese_name_in_kanji_is_read_in_japanese_from_the_ipa_dictionary) {
    char path[512];
    snprintf(path, sizeof path, "%s/Noun.name.csv", test_tmpdir("names_ja"));
    write_file(path, JA_ROWS);
    names_engine *plain = NULL, *eng = NULL;
    iop_err err;
    REQUIRE(names_engine_new(NULL, &plain, &err) == IOP_OK);
    REQUIRE(names_engine_new(NULL, &eng, &err) == IOP_OK);
    REQUIRE(names_engine_load_ja(eng, path, &err) == IOP_OK);
    CHECK_INT((int)names_ja_count(names_engine_ja(eng)), 4);
    /* the characters' Chinese reading (huangmu) does not give Araki; the Japanese one does */
    CHECK(verdict(plain, "荒木", "Araki", NULL) == NAMES_DIFFERENT);
    CHECK(verdict(eng, "荒木", "Araki", NULL) != NAMES_DIFFERENT);
    /* reading and pronunciation: Shouji and Shoji */
    CHECK(verdict(eng, "庄司", "Shoji", NULL) != NAMES_DIFFERENT);
    CHECK(verdict(eng, "庄司", "Shouji", NULL) != NAMES_DIFFERENT);
    /* surname + given name in one piece, either part found */
    double s1, s2;
    CHECK(verdict(eng, "村上志保美", "Shihomi", &s1) != NAMES_DIFFERENT);
    CHECK(verdict(eng, "村上志保美", "Murakami", &s2) != NAMES_DIFFERENT);
    CHECK(verdict(plain, "村上志保美", "Shihomi", NULL) == NAMES_DIFFERENT);
    /* other names stay apart */
    CHECK(verdict(eng, "荒木", "Tanaka", NULL) == NAMES_DIFFERENT);
    CHECK(verdict(eng, "村上志保美", "Shihori", &s1) != NAMES_SAME);
    /* the reading is a variant shown by names_ident_json */
    names_ident *id = prep(eng, "荒木");
    iop_buf b;
    iop_buf_init(&b);
    REQUIRE(names_ident_json(eng, id, &b) == 0);
    CHECK(strstr(b.data, "\"japanese-reading\"") != NULL);
    CHECK(strstr(b.data, "\"araki\"") != NULL);
    iop_buf_free(&b);
    names_ident_free(id);
    names_engine_free(eng);
    names_engine_free(plain);
}

TEST(japanese_reading_finds_the_kanji_record_in_the_index) {
    char path[512];
    snprintf(path, sizeof path, "%s/Noun.name.csv", test_tmpdir("names_ja"));
    write_file(path, JA_ROWS);
    names_engine *eng = NULL;
    iop_err err;
    REQUIRE(names_engine_new(NULL, &eng, &err) == IOP_OK);
    REQUIRE(names_engine_load_ja(eng, path, &err) == IOP_OK);
    static const char *nat[] = {"王伟", "李娜", "荒木", "张敏", "村上志保美", "刘洋", "陈静", "庄司"};
    names_ident *ids[8];
    for (int i = 0; i < 8; i++) ids[i] = prep(eng, nat[i]);
    names_index *ix = NULL;
    REQUIRE(names_index_new(eng, NULL, &ix, &err) == IOP_OK);
    for (int i = 0; i < 8; i++) REQUIRE(names_index_add(ix, (uint64_t)i, ids[i], &err) == IOP_OK);
    static const struct { const char *lat; uint64_t want; } q[] = {{"Araki", 2}, {"Shihomi", 4}, {"Shoji", 7}};
    for (int k = 0; k < 3; k++) {
        names_ident *qi = prep(eng, q[k].lat);
        names_hit hits[10];
        size_t nh = names_index_search(ix, qi, 10, 0, hits);
        bool found = false;
        for (size_t h = 0; h < nh; h++) found |= hits[h].id == q[k].want;
        CHECK(found);
        names_ident_free(qi);
    }
    names_index_free(ix);
    for (int i = 0; i < 8; i++) names_ident_free(ids[i]);
    names_engine_free(eng);
}

TEST(japanese_dictionary_errors_name_the_line) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", test_tmpdir("names_ja"));
    char text[2048];
    snprintf(text, sizeof text, "%s%s", JA_ROWS, "\xB9\xD3\xCC\xDA,1290,1290\n");
    write_file(path, text);
    names_ja *ja = NULL;
    iop_err err;
    CHECK_INT(names_ja_load(path, &ja, &err), IOP_EINVAL);
    CHECK(strstr(err.msg, "bad.csv:5:") != NULL);
    CHECK(ja == NULL);
    write_file(path, "\xFF\xFF\xFF,1,1,1\n"); /* not EUC-JP */
    CHECK_INT(names_ja_load(path, &ja, &err), IOP_EINVAL);
    write_file(path, "a,1,1,1,x,y,z,w,*,*,a,b,c\n"); /* no person name */
    CHECK_INT(names_ja_load(path, &ja, &err), IOP_EINVAL);
    snprintf(path, sizeof path, "%s/missing.csv", test_tmpdir("names_ja"));
    CHECK(names_ja_load(path, &ja, &err) != IOP_OK);
}

/* Arabic letters and their romanisation (one a line: letter, Latin) */
static const char *AR[][2] = {{"ب", "b"}, {"ت", "t"}, {"ج", "j"}, {"د", "d"}, {"ر", "r"}, {"ز", "z"}, {"س", "s"},
                              {"ف", "f"}, {"ك", "k"}, {"م", "m"}, {"ن", "n"}, {"ه", "h"}, {"ا", "a"}, {"ل", "l"},
                              {"و", "u"}, {"ي", "i"}};

TEST(arabic_definite_article_is_optional_in_the_romanisation) {
    static char nat[400][64], lat[400][64];
    static names_tl_pair p[400];
    iop_rng r;
    iop_rng_seed(&r, 11);
    for (int i = 0; i < 400; i++) {
        size_t a = 0, b = 0;
        int L = 3 + (int)iop_rng_below(&r, 4);
        for (int k = 0; k < L; k++) {
            unsigned c = iop_rng_below(&r, 16);
            memcpy(nat[i] + a, AR[c][0], strlen(AR[c][0]));
            a += strlen(AR[c][0]);
            memcpy(lat[i] + b, AR[c][1], strlen(AR[c][1]));
            b += strlen(AR[c][1]);
        }
        nat[i][a] = lat[i][b] = 0;
        p[i] = (names_tl_pair){nat[i], lat[i]};
    }
    names_tlm *m = NULL;
    iop_err err;
    REQUIRE(names_tlm_train(NULL, p, 400, &m, &err) == IOP_OK);
    double bare = names_tlm_probability(m, "نجار", "najar");
    double with_article = names_tlm_probability(m, "النجار", "najar");
    CHECK(bare > 0.8);
    CHECK(with_article > 0.8);                                       /* Najar for al-Najar */
    CHECK(names_tlm_probability(m, "النجار", "alnajar") > 0.8);      /* and al-Najar itself */
    CHECK(names_tlm_probability(m, "البستم", "najar") < 0.2);        /* another name stays apart */
    CHECK(names_tlm_probability(m, "لنجار", "najar") < with_article); /* only the article, not any letters */
    names_tlm_free(m);
}
