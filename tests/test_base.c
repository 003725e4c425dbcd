/* test-links: base */
#include "interop/base.h"
#include "test.h"

TEST(date_accepts_full_partial_and_year_only) {
    iop_date d;
    CHECK(iop_date_parse("1990-02-28", &d, NULL) == IOP_OK);
    CHECK_INT(d.year, 1990); CHECK_INT(d.month, 2); CHECK_INT(d.day, 28);
    CHECK(iop_date_parse("1990-02", &d, NULL) == IOP_OK);
    CHECK_INT(d.day, 0);
    CHECK(iop_date_parse("1990", &d, NULL) == IOP_OK);
    CHECK_INT(d.month, 0);
}

TEST(date_rejects_impossible_days_and_trailing_text) {
    iop_date d;
    iop_err e;
    CHECK(iop_date_parse("1990-02-30", &d, &e) == IOP_EINVAL);
    CHECK(strstr(e.msg, "day out of range") != NULL);
    CHECK(iop_date_parse("2000-02-29", &d, NULL) == IOP_OK);
    CHECK(iop_date_parse("1900-02-29", &d, NULL) == IOP_EINVAL);
    CHECK(iop_date_parse("1990-13-01", &d, NULL) == IOP_EINVAL);
    CHECK(iop_date_parse("1990-01-01x", &d, NULL) == IOP_EINVAL);
    CHECK(iop_date_parse("90-01-01", &d, NULL) == IOP_EINVAL);
    CHECK(iop_date_parse("", &d, NULL) == IOP_EINVAL);
}

TEST(date_format_writes_what_it_parses_at_every_precision) {
    /* every day of 1890..2030, and each year and month alone: formatted as parsed */
    char buf[11], want[16];
    size_t n = 0;
    for (int y = 1890; y <= 2030; y++) {
        snprintf(want, sizeof want, "%04d", y);
        iop_date_format((iop_date){(int16_t)y, 0, 0}, buf);
        CHECK_STR(buf, want);
        for (int m = 1; m <= 12; m++) {
            snprintf(want, sizeof want, "%04d-%02d", y, m);
            iop_date_format((iop_date){(int16_t)y, (int8_t)m, 0}, buf);
            CHECK_STR(buf, want);
            for (int d = 1; d <= 31; d++) {
                snprintf(want, sizeof want, "%04d-%02d-%02d", y, m, d);
                iop_date p;
                if (iop_date_parse(want, &p, NULL) != IOP_OK) continue; /* no such day */
                iop_date_format(p, buf);
                if (strcmp(buf, want)) CHECK_STR(buf, want);
                n++;
            }
        }
    }
    CHECK_INT((long long)n, 51499); /* the days of 141 years: 141 * 365 + 34 leap days (not 1900) */
    iop_date_format((iop_date){0, 0, 0}, buf);
    CHECK_STR(buf, "");
    iop_date_format((iop_date){7, 1, 2}, buf);
    CHECK_STR(buf, "0007-01-02");
}

TEST(civil_days_round_trip) {
    for (int64_t z = -100000; z < 100000; z += 37) {
        int y, m, d;
        iop_civil_from_days(z, &y, &m, &d);
        CHECK_INT(iop_days_from_civil(y, m, d), z);
    }
    CHECK_INT(iop_days_from_civil(1970, 1, 1), 0);
}

TEST(base64_round_trip_and_rejects_garbage) {
    const uint8_t in[] = {0, 1, 2, 250, 251, 252, 253};
    char *s = iop_base64_encode(in, sizeof in);
    uint8_t *out; size_t n;
    REQUIRE(iop_base64_decode(s, &out, &n, NULL) == IOP_OK);
    CHECK_INT(n, sizeof in);
    CHECK(memcmp(in, out, n) == 0);
    free(out); free(s);
    iop_err e;
    CHECK(iop_base64_decode("AB$=", &out, &n, &e) == IOP_EINVAL);
}

TEST(buf_json_string_escapes_controls) {
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_json_str(&b, "a\"b\\c\n\x01");
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    iop_buf_free(&b);
}

TEST(rng_is_deterministic_for_a_seed) {
    iop_rng a, b;
    iop_rng_seed(&a, 42); iop_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(iop_rng_next(&a) == iop_rng_next(&b));
}

TEST(buf_fixed_writes_what_printf_writes_for_scores) {
    iop_rng r;
    iop_rng_seed(&r, 7);
    char want[64];
    iop_buf b;
    iop_buf_init(&b);
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        double v = (iop_rng_uniform(&r) - 0.5) * (i % 3 == 0 ? 20.0 : i % 3 == 1 ? 2.0 : 2e6);
        int d = i % 6;
        iop_buf_reset(&b);
        REQUIRE(iop_buf_fixed(&b, v, d) == 0);
        snprintf(want, sizeof want, "%.*f", d, v);
        if (!strcmp(want, "-0") || !strncmp(want, "-0.", 3)) {
            /* printf keeps the sign of a negative value that rounds to zero; JSON needs none */
            bool zero = strspn(want + 1, "0.") == strlen(want + 1);
            if (zero) memmove(want, want + 1, strlen(want));
        }
        if (strcmp(b.data, want)) bad++;
    }
    CHECK_INT(bad, 0);
    iop_buf_reset(&b);
    iop_buf_fixed(&b, 0.0 / 0.0, 2);
    CHECK_STR(b.data, "null");
    iop_buf_reset(&b);
    iop_buf_fixed(&b, 1.0, 3);
    CHECK_STR(b.data, "1.000");
    iop_buf_free(&b);
}
