/* test-links: names */
/*
 * test_latin_ascii.c -- the names engine's plain reading of Latin text (the third
 * transliteration of every name piece) is ICU's "Any-Latin; Latin-ASCII", whether the
 * engine asks ICU or reads Latin text from its own table: checked here for every code
 * point up to Latin Extended-B and of Latin Extended Additional, in upper and lower case,
 * folded and not, and on the Latin names of the shared cross-script pairs.
 */
#include <unicode/ustring.h>
#include <unicode/utrans.h>
#include <utf8proc.h>
#include "interop/names.h"
#include "names/names_int.h"
#include "test.h"

typedef struct icu_ref {
    UTransliterator *t;
} icu_ref;

static bool ref_open(icu_ref *r) {
    UChar id[64];
    u_uastrcpy(id, "Any-Latin; Latin-ASCII");
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    r->t = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, &pe, &st);
    return U_SUCCESS(st) && r->t;
}

/* ICU's reading of s, lower-cased, letters and digits only (what the engine keeps) */
static void ref_read(icu_ref *r, const char *s, char *out, size_t cap) {
    UChar u[512];
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = 0, limit;
    size_t o = 0;
    u_strFromUTF8(u, 512, &ulen, s, -1, &st);
    limit = ulen;
    if (U_SUCCESS(st)) utrans_transUChars(r->t, u, &ulen, 512, 0, &limit, &st);
    for (int32_t i = 0; U_SUCCESS(st) && i < ulen && o + 1 < cap; i++) {
        UChar c = u[i];
        if (c >= 'A' && c <= 'Z') c = (UChar)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out[o++] = (char)c;
    }
    out[o] = 0;
}

static bool agrees(const names_engine *eng, icu_ref *r, const char *s) {
    char want[512];
    ref_read(r, s, want, sizeof want);
    iop_buf got;
    iop_buf_init(&got);
    nm_translit_icu(eng, s, strlen(s), &got);
    bool ok = !strcmp(got.data ? got.data : "", want);
    if (!ok) fprintf(stderr, "  '%s': engine '%s', ICU '%s'\n", s, got.data ? got.data : "", want);
    iop_buf_free(&got);
    return ok;
}

TEST(plain_reading_of_every_latin_code_point_is_icu_latin_ascii) {
    names_engine *eng;
    iop_err err;
    REQUIRE(names_engine_new(NULL, &eng, &err) == IOP_OK);
    icu_ref r;
    REQUIRE(ref_open(&r));
    const int32_t ranges[][2] = {{0x20, 0x7E}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x1E00, 0x1EFF}};
    size_t checked = 0, bad = 0;
    for (size_t k = 0; k < sizeof ranges / sizeof *ranges; k++)
        for (int32_t c = ranges[k][0]; c <= ranges[k][1]; c++) {
            utf8proc_uint8_t u[4];
            utf8proc_ssize_t n = utf8proc_encode_char(c, u);
            char s[32];
            /* inside a word, alone, and after a capital (ICU's case context) */
            const char *ctx[][2] = {{"x", "y"}, {"", ""}, {"A", "b"}};
            for (size_t j = 0; j < 3; j++) {
                snprintf(s, sizeof s, "%s%.*s%s", ctx[j][0], (int)n, (const char *)u, ctx[j][1]);
                checked++;
                if (!agrees(eng, &r, s)) bad++;
                char *f = nm_fold(s, strlen(s));
                if (f) {
                    checked++;
                    if (!agrees(eng, &r, f)) bad++;
                    free(f);
                }
            }
        }
    CHECK(checked > 5000);
    CHECK_INT((long long)bad, 0);
    utrans_close(r.t);
    names_engine_free(eng);
}

TEST(plain_reading_of_the_latin_names_of_the_cross_script_pairs_is_icu_latin_ascii) {
    names_engine *eng;
    iop_err err;
    REQUIRE(names_engine_new(NULL, &eng, &err) == IOP_OK);
    icu_ref r;
    REQUIRE(ref_open(&r));
    static const char *files[] = {"russian", "arabic", "hebrew", "chinese"};
    size_t checked = 0, bad = 0;
    for (size_t k = 0; k < 4; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/names/wikidata_%s_dev.tsv", IOP_SHARED_DATA, files[k]);
        FILE *fp = fopen(path, "r");
        REQUIRE(fp != NULL);
        char line[1024];
        for (size_t ln = 0; fgets(line, sizeof line, fp) && ln < 3000; ln++) {
            /* every tab-separated field: Latin ones take the table, others ICU */
            for (char *f = strtok(line, "\t\r\n"); f; f = strtok(NULL, "\t\r\n")) {
                checked++;
                if (!agrees(eng, &r, f)) bad++;
            }
        }
        fclose(fp);
    }
    CHECK(checked > 10000);
    CHECK_INT((long long)bad, 0);
    utrans_close(r.t);
    names_engine_free(eng);
}
