/* test-links: base */
/*
 * test_json.c -- the strict JSON parser and writers (include/interop/json.h): RFC 8259
 * acceptance and rejection (the cases of the usual JSON test suites), error positions,
 * numbers, strings, duplicate keys, depth, parser reuse, the writers, and a
 * differential test against jansson on generated records and on their mutations.
 */
#include <jansson.h>
#include <math.h>
#include "interop/json.h"
#include "test.h"

typedef struct pj { iop_json_parser *p; const iop_json *root; iop_err e; iop_code rc; } pj;

static pj P(const char *s, unsigned flags) {
    pj r = {.p = iop_json_parser_new()};
    r.rc = iop_json_parse(r.p, s, strlen(s), flags, &r.root, &r.e);
    return r;
}
static void done(pj *r) { iop_json_parser_free(r->p); }

static bool accepts(const char *s) {
    pj r = P(s, 0);
    bool ok = r.rc == IOP_OK;
    done(&r);
    return ok;
}

TEST(rfc8259_valid_documents_are_accepted) {
    static const char *const ok[] = {
        "{}", "[]", "0", "-0", "1", "-1", "1.5", "-1.5e-3", "1E+2", "1e2", "0.0", "\"\"", "\"x\"", "true", "false",
        "null", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", "[[[[]]]]", "{\"a\":{\"b\":{\"c\":null}}}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u4e2d\"", "\"\\ud83d\\ude00\"", "\"é中😀\"", "\"\x7f\"",
        "[1,\"a\",true,false,null,{},[]]", "{\"\":0}", "123456789012345678901234567890", "1e-400",
        NULL};
    for (int i = 0; ok[i]; i++) {
        pj r = P(ok[i], 0);
        if (r.rc) test_failed(__FILE__, __LINE__, "rejected valid JSON %s: %s", ok[i], r.e.msg);
        done(&r);
    }
}

TEST(rfc8259_invalid_documents_are_rejected_with_the_reason) {
    static const struct { const char *in, *why; } bad[] = {
        {"", "end of input"},
        {"   ", "end of input"},
        {"[1,]", "trailing comma"},
        {"{\"a\":1,}", "trailing comma"},
        {"[,1]", "expected a value"},
        {"{,}", "expected a string key"},
        {"[1 2]", "expected ','"},
        {"{\"a\" 1}", "expected ':'"},
        {"{\"a\":1 \"b\":2}", "expected ','"},
        {"{a:1}", "expected a string key"},
        {"{'a':1}", "expected a string key"},
        {"01", "leading zero"},
        {"-01", "leading zero"},
        {"+1", "expected a value"},
        {".5", "expected a value"},
        {"1.", "after the decimal point"},
        {"1.e5", "after the decimal point"},
        {"1e", "exponent"},
        {"1e+", "exponent"},
        {"-", "expected a digit"},
        {"0x10", "after the JSON value"},
        {"NaN", "expected a value"},
        {"Infinity", "expected a value"},
        {"-Infinity", "expected a digit"},
        {"1e400", "out of range"},
        {"-1e400", "out of range"},
        {"tru", "expected a value"},
        {"nul", "expected a value"},
        {"True", "expected a value"},
        {"\"abc", "unterminated string"},
        {"\"abc\\", "unterminated string"},
        {"\"a\tb\"", "control character 0x09"},
        {"\"a\nb\"", "control character 0x0a"},
        {"\"\x01\"", "control character 0x01"},
        {"\"\\x41\"", "invalid escape"},
        {"\"\\'\"", "invalid escape"},
        {"\"\\u12\"", "4 hex digits"},
        {"\"\\u12G4\"", "4 hex digits"},
        {"\"\\ud800\"", "lone UTF-16 high surrogate"},
        {"\"\\ud800x\"", "lone UTF-16 high surrogate"},
        {"\"\\ud800\\u0041\"", "lone UTF-16 high surrogate"},
        {"\"\\udc00\"", "lone UTF-16 low surrogate"},
        {"\"\\u0000\"", "\\u0000"},
        {"\"\xc3\"", "invalid UTF-8"},
        {"\"\xc3(\"", "invalid UTF-8"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},             /* overlong '/' */
        {"\"\xe0\x80\xaf\"", "invalid UTF-8"},         /* overlong */
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},         /* encoded surrogate U+D800 */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},     /* above U+10FFFF */
        {"\"\xf5\x80\x80\x80\"", "invalid UTF-8"},
        {"\"\xff\"", "invalid UTF-8"},
        {"\"\x80\"", "invalid UTF-8"},
        {"\xef\xbb\xbf{}", "byte order mark"},
        {"{} {}", "after the JSON value"},
        {"[] x", "after the JSON value"},
        {"\f[]", "expected a value"},                  /* form feed is not JSON whitespace */
        {"[\v]", "expected a value"},
        {"\xc2\xa0[]", "expected a value"},            /* no-break space */
        {"{\"a\":1,\"a\":2}", "duplicate key \"a\""},
        {"[1]]", "after the JSON value"},
        {"{\"a\":1}}", "after the JSON value"},
        {"[1}", "expected ','"},
        {"{\"a\":1]", "expected ','"},
        {NULL, NULL}};
    for (int i = 0; bad[i].in; i++) {
        pj r = P(bad[i].in, 0);
        if (r.rc != IOP_EINVAL) test_failed(__FILE__, __LINE__, "accepted invalid JSON #%d [%s]", i, bad[i].in);
        else if (!strstr(r.e.msg, bad[i].why) || !strstr(r.e.msg, "malformed JSON at line"))
            test_failed(__FILE__, __LINE__, "#%d [%s]: message '%s' does not say '%s'", i, bad[i].in, r.e.msg, bad[i].why);
        done(&r);
    }
}

TEST(errors_give_byte_offset_line_and_column_of_the_fault) {
    pj r = P("{\"id\":\"x\",}", 0);
    CHECK(r.rc == IOP_EINVAL);
    CHECK_INT(iop_json_error_offset(r.p), 10);
    CHECK(strstr(r.e.msg, "line 1, column 11 (byte 10)") != NULL);
    done(&r);
    /* lines count LF; columns count characters, not bytes */
    r = P("{\n  \"név\": \"é\",\n  \"b\": tru\n}", 0);
    CHECK(r.rc == IOP_EINVAL);
    CHECK(strstr(r.e.msg, "line 3, column 8") != NULL);
    CHECK_INT(iop_json_error_offset(r.p), 25);
    done(&r);
    /* the fault inside a string is the byte that is wrong */
    r = P("[\"ab\xff\"]", 0);
    CHECK_INT(iop_json_error_offset(r.p), 4);
    done(&r);
    /* a success resets the offset */
    iop_json_parser *p = iop_json_parser_new();
    const iop_json *root;
    iop_err e;
    CHECK(iop_json_parse(p, "[1,", 3, 0, &root, &e) == IOP_EINVAL);
    CHECK_INT(iop_json_error_offset(p), 3);
    CHECK(iop_json_parse(p, "[1]", 3, 0, &root, &e) == IOP_OK);
    CHECK_INT(iop_json_error_offset(p), 0);
    iop_json_parser_free(p);
}

TEST(numbers_are_int64_when_integral_else_double) {
    pj r = P("[0,-0,9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809,1.0,1e2,"
             "-2.5E-3,123456789012345678901234567890,1e-400]", 0);
    REQUIRE(r.rc == IOP_OK);
    const iop_json *a = r.root;
    CHECK_INT(a->len, 11);
    CHECK(iop_json_at(a, 0)->type == IOP_JSON_INT && iop_json_at(a, 0)->v.i == 0);
    CHECK(iop_json_at(a, 1)->type == IOP_JSON_INT && iop_json_at(a, 1)->v.i == 0);
    CHECK(iop_json_at(a, 2)->type == IOP_JSON_INT && iop_json_at(a, 2)->v.i == INT64_MAX);
    CHECK(iop_json_at(a, 3)->type == IOP_JSON_INT && iop_json_at(a, 3)->v.i == INT64_MIN);
    CHECK(iop_json_at(a, 4)->type == IOP_JSON_REAL);
    CHECK_NEAR(iop_json_at(a, 4)->v.d, 9223372036854775808.0, 1);
    CHECK(iop_json_at(a, 5)->type == IOP_JSON_REAL && iop_json_at(a, 5)->v.d < -9.2e18);
    CHECK(iop_json_at(a, 6)->type == IOP_JSON_REAL && iop_json_at(a, 6)->v.d == 1.0);
    CHECK(iop_json_at(a, 7)->type == IOP_JSON_REAL && iop_json_at(a, 7)->v.d == 100.0);
    CHECK_NEAR(iop_json_at(a, 8)->v.d, -0.0025, 1e-15);
    CHECK_NEAR(iop_json_at(a, 9)->v.d, 1.2345678901234568e29, 1e15);
    CHECK(iop_json_at(a, 10)->type == IOP_JSON_REAL && iop_json_at(a, 10)->v.d == 0.0);
    CHECK(iop_json_at(a, 11) == NULL);
    done(&r);
}

TEST(strings_are_unescaped_nul_terminated_with_length) {
    pj r = P("{\"k\\u00e9y\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"}", 0);
    REQUIRE(r.rc == IOP_OK);
    const iop_json *m = iop_json_first(r.root);
    CHECK_STR(m->key, "kéy");
    CHECK_INT(m->key_len, 4);
    CHECK_STR(m->v.s, "a\"b\\c/d\b\f\n\r\tAé€😀");
    CHECK_INT(m->len, strlen("a\"b\\c/d\b\f\n\r\tAé€😀"));
    CHECK(iop_json_get(r.root, "kéy") == m);
    CHECK(iop_json_get(r.root, "key") == NULL);
    CHECK(m->has_ctrl); /* \b \f \n \r \t */
    done(&r);
    /* has_ctrl: set by every escape below U+0020, never without one */
    r = P("[\"plain é\",\"a\\u001fb\",\"\\u0020\",\"\\/\\\"\",\"x\\ty\"]", 0);
    REQUIRE(r.rc == IOP_OK);
    CHECK(!iop_json_at(r.root, 0)->has_ctrl);
    CHECK(iop_json_at(r.root, 1)->has_ctrl);
    CHECK(!iop_json_at(r.root, 2)->has_ctrl);
    CHECK(!iop_json_at(r.root, 3)->has_ctrl);
    CHECK(iop_json_at(r.root, 4)->has_ctrl);
    /* escaped: the text had a backslash, so writing needs the escaping pass */
    CHECK(!iop_json_at(r.root, 0)->escaped);
    CHECK(iop_json_at(r.root, 2)->escaped);
    CHECK(iop_json_at(r.root, 3)->escaped);
    done(&r);
    r = P("{\"a\\\"b\":\"x\",\"c\":\"y\"}", 0);
    REQUIRE(r.rc == IOP_OK);
    CHECK(iop_json_first(r.root)->key_escaped);
    CHECK(!iop_json_at(r.root, 0) && !iop_json_next(iop_json_first(r.root))->key_escaped);
    done(&r);
    /* \u0000 only on request, and then the length tells the truth */
    r = P("[\"a\\u0000b\"]", IOP_JSON_ALLOW_NUL);
    REQUIRE(r.rc == IOP_OK);
    CHECK_INT(iop_json_first(r.root)->len, 3);
    CHECK(!memcmp(iop_json_first(r.root)->v.s, "a\0b", 4));
    done(&r);
}

TEST(duplicate_keys_are_an_error_unless_allowed) {
    CHECK(!accepts("{\"a\":1,\"b\":{\"a\":1,\"a\":2}}"));
    CHECK(accepts("{\"a\":1,\"b\":{\"a\":2}}")); /* the same key at two depths is fine */
    CHECK(!accepts("{\"a\":1,\"\\u0061\":2}"));  /* compared after unescaping */
    /* a large object: checked at its closing brace */
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, "{");
    for (int i = 0; i < 200; i++) iop_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    iop_buf_puts(&b, "}");
    CHECK(accepts(b.data));
    b.len--;
    iop_buf_puts(&b, ",\"k117\":0}");
    pj r = P(b.data, 0);
    CHECK(r.rc == IOP_EINVAL && strstr(r.e.msg, "duplicate key \"k117\""));
    done(&r);
    r = P(b.data, IOP_JSON_ALLOW_DUPLICATES);
    REQUIRE(r.rc == IOP_OK);
    CHECK_INT(iop_json_get(r.root, "k117")->v.i, 117); /* lookup finds the first */
    CHECK_INT(iop_json_size(r.root), 201);
    done(&r);
    iop_buf_free(&b);
}

TEST(nesting_is_limited_without_using_the_c_stack) {
    iop_buf b;
    iop_buf_init(&b);
    for (int i = 0; i < IOP_JSON_MAX_DEPTH; i++) iop_buf_puts(&b, "[");
    for (int i = 0; i < IOP_JSON_MAX_DEPTH; i++) iop_buf_puts(&b, "]");
    CHECK(accepts(b.data));
    iop_buf_reset(&b);
    for (int i = 0; i <= IOP_JSON_MAX_DEPTH; i++) iop_buf_puts(&b, "{\"a\":");
    iop_buf_puts(&b, "1");
    for (int i = 0; i <= IOP_JSON_MAX_DEPTH; i++) iop_buf_puts(&b, "}");
    pj r = P(b.data, 0);
    CHECK(r.rc == IOP_EINVAL && strstr(r.e.msg, "nesting deeper than"));
    done(&r);
    iop_buf_reset(&b);
    for (int i = 0; i < 200000; i++) iop_buf_puts(&b, "[");
    CHECK(!accepts(b.data));
    iop_buf_free(&b);
}

TEST(one_parser_parses_many_documents) {
    iop_json_parser *p = iop_json_parser_new();
    REQUIRE(p);
    iop_err e;
    for (int i = 0; i < 2000; i++) {
        char doc[128];
        int n = snprintf(doc, sizeof doc, "{\"i\":%d,\"s\":\"v%d\",\"a\":[%d,%d.5,true]}", i, i * 7, i, i);
        const iop_json *root;
        REQUIRE(iop_json_parse(p, doc, (size_t)n, 0, &root, &e) == IOP_OK);
        CHECK_INT(iop_json_get(root, "i")->v.i, i);
        char want[32];
        snprintf(want, sizeof want, "v%d", i * 7);
        CHECK_STR(iop_json_str(iop_json_get(root, "s")), want);
        CHECK_NEAR(iop_json_at(iop_json_get(root, "a"), 1)->v.d, i + 0.5, 1e-9);
        if (i % 500 == 0) { /* a big one in between, then small ones again */
            iop_buf b;
            iop_buf_init(&b);
            iop_buf_puts(&b, "[");
            for (int k = 0; k < 5000; k++) iop_buf_printf(&b, "%s\"%d\"", k ? "," : "", k);
            iop_buf_puts(&b, "]");
            REQUIRE(iop_json_parse(p, b.data, b.len, 0, &root, &e) == IOP_OK);
            CHECK_INT(iop_json_size(root), 5000);
            CHECK_STR(iop_json_str(iop_json_at(root, 4999)), "4999");
            iop_buf_free(&b);
        }
    }
    /* the input need not be NUL-terminated: only len bytes are read */
    const char *s = "[12345]6789";
    const iop_json *root;
    REQUIRE(iop_json_parse(p, s, 7, 0, &root, &e) == IOP_OK);
    CHECK_INT(iop_json_first(root)->v.i, 12345);
    REQUIRE(iop_json_parse(p, "1.25e1xyz", 6, 0, &root, &e) == IOP_OK);
    CHECK_NEAR(root->v.d, 12.5, 1e-12);
    iop_json_parser_free(p);
}

static char *written(const char *in, bool canonical) {
    pj r = P(in, 0);
    if (r.rc) { done(&r); return strdup(r.e.msg); }
    iop_buf b;
    iop_buf_init(&b);
    if (canonical ? iop_json_write_canonical(&b, r.root) : iop_json_write(&b, r.root)) { done(&r); return NULL; }
    done(&r);
    return iop_buf_steal(&b);
}

TEST(writer_is_compact_and_canonical_form_sorts_keys_at_every_depth) {
    char *s = written(" { \"b\" : [ 1 , 2.5 , \"x\\u0001\\n\\\"\" ] , \"a\" : { \"z\" : null , \"y\" : true } } ", false);
    CHECK_STR(s, "{\"b\":[1,2.5,\"x\\u0001\\n\\\"\"],\"a\":{\"z\":null,\"y\":true}}");
    free(s);
    s = written("{\"b\":[1,{\"d\":1,\"c\":2}],\"a\":{\"z\":null,\"y\":false},\"ab\":0,\"\":1}", true);
    CHECK_STR(s, "{\"\":1,\"a\":{\"y\":false,\"z\":null},\"ab\":0,\"b\":[1,{\"c\":2,\"d\":1}]}");
    free(s);
    s = written("[1.0,1e2,-0.5,1e300,0.1,-9223372036854775808,1e-5]", false);
    CHECK_STR(s, "[1.0,100.0,-0.5,1.0000000000000001e300,0.10000000000000001,-9223372036854775808,1.0000000000000001e-5]");
    free(s);
    /* escaping like iop_buf_json_str */
    iop_buf a, b;
    iop_buf_init(&a);
    iop_buf_init(&b);
    const char *raw = "é \"q\" \\ \t\r\n\x01\x1f\x7f/";
    iop_buf_json_str(&a, raw);
    iop_json_write_str(&b, raw, strlen(raw));
    CHECK_STR(b.data, a.data);
    iop_buf_free(&a);
    iop_buf_free(&b);
}

/* ---- differential test against jansson ---- */

static void rand_str(iop_rng *g, iop_buf *b) {
    static const char *const parts[] = {"Iuliia", "Шеглова", "Müller", "O'Brien", "محمد", "李", "😀", " ", "-",
                                        "\\\"", "\\\\", "\\n", "\\t", "\\u00e9", "\\ud83d\\ude00", "\\/", "2024-02-29",
                                        "DEU", "A1B2", ""};
    iop_buf_puts(b, "\"");
    int n = (int)iop_rng_below(g, 4);
    for (int i = 0; i < n; i++) iop_buf_puts(b, parts[iop_rng_below(g, sizeof parts / sizeof *parts)]);
    iop_buf_puts(b, "\"");
}

static void ws(iop_rng *g, iop_buf *b) {
    static const char *const w[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    iop_buf_puts(b, w[iop_rng_below(g, 7)]);
}

static void rand_value(iop_rng *g, iop_buf *b, int depth) {
    unsigned k = iop_rng_below(g, depth > 4 ? 6 : 9);
    switch (k) {
    case 0: iop_buf_puts(b, "null"); break;
    case 1: iop_buf_puts(b, iop_rng_below(g, 2) ? "true" : "false"); break;
    case 2: iop_buf_printf(b, "%lld", (long long)(iop_rng_next(g) >> iop_rng_below(g, 63)) * (iop_rng_below(g, 2) ? 1 : -1)); break;
    case 3: iop_buf_printf(b, "%.*g", 1 + (int)iop_rng_below(g, 17), (iop_rng_uniform(g) - 0.5) * pow(10.0, (double)((int)iop_rng_below(g, 40) - 20))); break;
    case 4: iop_buf_printf(b, "%de%d", (int)iop_rng_below(g, 1000), (int)iop_rng_below(g, 40) - 20); break;
    case 5: rand_str(g, b); break;
    case 6: case 7: {
        iop_buf_puts(b, "[");
        int n = (int)iop_rng_below(g, 5);
        for (int i = 0; i < n; i++) {
            if (i) iop_buf_puts(b, ",");
            ws(g, b);
            rand_value(g, b, depth + 1);
            ws(g, b);
        }
        iop_buf_puts(b, "]");
        break;
    }
    default: {
        iop_buf_puts(b, "{");
        int n = (int)iop_rng_below(g, 6);
        for (int i = 0; i < n; i++) {
            if (i) iop_buf_puts(b, ",");
            ws(g, b);
            static const char *const keys[] = {"id", "system", "surnames", "given_names", "dob", "documents",
                                               "number", "z", "a", "é", "ab", "b"};
            /* distinct keys: the index makes them unique */
            iop_buf_printf(b, "\"%s%d\"", keys[iop_rng_below(g, 12)], i);
            ws(g, b);
            iop_buf_puts(b, ":");
            ws(g, b);
            rand_value(g, b, depth + 1);
        }
        iop_buf_puts(b, "}");
    }
    }
}

/* A record-shaped document: the members of the interchange format with random values. */
static void rand_record(iop_rng *g, iop_buf *b) {
    iop_buf_printf(b, "{\"id\":\"VIS-%09u\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[", iop_rng_below(g, 1000000000));
    rand_str(g, b);
    iop_buf_puts(b, "],\"given_names\":[");
    rand_str(g, b);
    iop_buf_puts(b, ",");
    rand_str(g, b);
    iop_buf_printf(b, "],\"dob\":\"%04u-%02u-%02u\",\"sex\":\"F\",\"documents\":[{\"number\":", 1900 + iop_rng_below(g, 120),
                   1 + iop_rng_below(g, 12), 1 + iop_rng_below(g, 28));
    rand_str(g, b);
    iop_buf_puts(b, ",\"type\":\"passport\"}],\"extra\":");
    rand_value(g, b, 1);
    iop_buf_puts(b, ",\"biometrics\":{\"fingerprints\":[{\"position\":2,\"format\":\"iso19794-2-2005\",\"data\":\"Rk1SACAyMAAAAACo\"}]}}");
}

/* jansson's verdict and canonical form (NULL when it rejects) */
static char *jansson_canonical(const char *s, size_t n, bool *too_big) {
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    *too_big = !j && strstr(je.text, "too big");
    if (!j) return NULL;
    char *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

TEST(differential_against_jansson_on_generated_records_and_mutations) {
    iop_rng g;
    iop_rng_seed(&g, 20261122);
    iop_json_parser *p = iop_json_parser_new();
    REQUIRE(p);
    iop_buf b, out;
    iop_buf_init(&b);
    iop_buf_init(&out);
    int agree = 0, compared = 0, rejected = 0;
    for (int it = 0; it < 3000; it++) {
        iop_buf_reset(&b);
        if (it % 2) rand_record(&g, &b);
        else rand_value(&g, &b, 0);
        /* every other document is mutated: a byte deleted, replaced or inserted */
        if (it % 4 >= 2 && b.len) {
            static const char subst[] = "{}[],:\"\\ 0-.e1tnu\x01\xc3\xff";
            size_t at = iop_rng_below(&g, (uint32_t)b.len);
            unsigned op = iop_rng_below(&g, 3);
            char c = subst[iop_rng_below(&g, sizeof subst - 1)];
            if (op == 0) { memmove(b.data + at, b.data + at + 1, b.len - at - 1); b.len--; }
            else if (op == 1) b.data[at] = c;
            else { iop_buf_append(&b, "", 1); memmove(b.data + at + 1, b.data + at, b.len - at - 1); b.data[at] = c; }
            b.data[b.len] = 0;
        }
        bool too_big;
        char *want = jansson_canonical(b.data, b.len, &too_big);
        const iop_json *root;
        iop_err e;
        iop_code rc = iop_json_parse(p, b.data, b.len, 0, &root, &e);
        if (too_big) { free(want); continue; } /* jansson refuses integers beyond int64; we make them reals */
        compared++;
        if (!want) {
            rejected++;
            if (rc == IOP_OK) test_failed(__FILE__, __LINE__, "accepted what jansson rejects: %s", b.data);
            else agree++;
            continue;
        }
        if (rc != IOP_OK) {
            test_failed(__FILE__, __LINE__, "rejected what jansson accepts: %s (%s)", b.data, e.msg);
        } else {
            iop_buf_reset(&out);
            REQUIRE(iop_json_write_canonical(&out, root) == 0);
            if (strcmp(out.data, want)) test_failed(__FILE__, __LINE__, "canonical form differs:\n  %s\n  %s", out.data, want);
            else agree++;
        }
        free(want);
    }
    CHECK(compared > 2500);
    CHECK(rejected > 200);        /* the mutations did produce invalid documents */
    CHECK(compared - rejected > 1500);
    CHECK_INT(agree, compared);
    iop_buf_free(&b);
    iop_buf_free(&out);
    iop_json_parser_free(p);
}

TEST(base64_decoder_agrees_with_iop_base64_decode) {
    iop_rng g;
    iop_rng_seed(&g, 64);
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n*";
    int agreed = 0, invalid = 0;
    for (int it = 0; it < 20000; it++) {
        char s[80];
        size_t n;
        if (it % 3 == 0) { /* a valid encoding, sometimes damaged (long enough for 16-character blocks) */
            uint8_t raw[44];
            size_t rn = iop_rng_below(&g, sizeof raw);
            for (size_t i = 0; i < rn; i++) raw[i] = (uint8_t)iop_rng_next(&g);
            char *enc = iop_base64_encode(raw, rn);
            snprintf(s, sizeof s, "%s", enc);
            free(enc);
            n = strlen(s);
            if (n && iop_rng_below(&g, 2)) s[iop_rng_below(&g, (uint32_t)n)] = alpha[iop_rng_below(&g, sizeof alpha - 1)];
        } else {
            n = iop_rng_below(&g, it % 2 ? 12 : 70);
            for (size_t i = 0; i < n; i++) s[i] = alpha[iop_rng_below(&g, it % 3 == 1 ? 64 : sizeof alpha - 1)];
            s[n] = 0;
        }
        uint8_t *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        iop_err ea, eb;
        iop_code ra = iop_base64_decode(s, &a, &al, &ea), rb = iop_json_base64_decode(s, n, &b, &bl, &eb);
        if (ra != rb) test_failed(__FILE__, __LINE__, "'%s': iop_base64_decode %d, iop_json_base64_decode %d", s, ra, rb);
        else if (ra == IOP_OK && (al != bl || memcmp(a, b, al)))
            test_failed(__FILE__, __LINE__, "'%s': decoded bytes differ", s);
        else if (ra && strcmp(ea.msg, eb.msg))
            test_failed(__FILE__, __LINE__, "'%s': '%s' against '%s'", s, ea.msg, eb.msg);
        else agreed++;
        invalid += ra != IOP_OK;
        free(a);
        free(b);
    }
    CHECK_INT(agreed, 20000);
    CHECK(invalid > 3000 && invalid < 17000);
    /* every ASCII byte in every position of a long valid string (bytes >= 0x80 cannot
     * stand alone in JSON text; libsodium's decoder lets some 0xFE/0xFF through, ours
     * refuses every byte outside the alphabet) */
    char *enc;
    uint8_t raw[300];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)(i * 7 + 3);
    enc = iop_base64_encode(raw, sizeof raw);
    size_t n = strlen(enc);
    for (size_t pos = 0; pos < 48; pos++) {
        for (int c = 1; c < 128; c++) {
            char save = enc[pos];
            enc[pos] = (char)c;
            uint8_t *a = NULL, *b = NULL;
            size_t al = 0, bl = 0;
            iop_err ea, eb;
            iop_code ra = iop_base64_decode(enc, &a, &al, &ea), rb = iop_json_base64_decode(enc, n, &b, &bl, &eb);
            if (ra != rb || (ra == IOP_OK && (al != bl || memcmp(a, b, al))) || (ra && strcmp(ea.msg, eb.msg)))
                test_failed(__FILE__, __LINE__, "byte 0x%02x at %zu: %d/%d %s / %s", c, pos, ra, rb, ra ? ea.msg : "", rb ? eb.msg : "");
            free(a);
            free(b);
            enc[pos] = save;
        }
    }
    free(enc);
    uint8_t *b = NULL;
    size_t bl;
    CHECK(iop_json_base64_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xff", 32, &b, &bl, NULL) == IOP_EINVAL);
    free(b);
}
