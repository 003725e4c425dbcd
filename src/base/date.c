/* date.c -- partial dates of birth ("YYYY-MM-DD", "YYYY-MM", "YYYY") and civil-day
 * arithmetic (Howard Hinnant's days_from_civil algorithm, proleptic Gregorian). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "interop/base.h"

static int days_in_month(int y, int m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

bool iop_date_valid(iop_date d) {
    if (d.year < 1800 || d.year > 2200) return false;
    if (d.month == 0) return d.day == 0;
    if (d.month < 1 || d.month > 12) return false;
    if (d.day == 0) return true;
    return d.day >= 1 && d.day <= days_in_month(d.year, d.month);
}

static int digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

iop_code iop_date_parse(const char *s, iop_date *out, iop_err *err) {
    iop_date d = {0, 0, 0};
    size_t n = strlen(s);
    if (n != 4 && n != 7 && n != 10)
        return iop_fail(err, IOP_EINVAL, "invalid date '%s': expected YYYY-MM-DD, YYYY-MM or YYYY", s);
    int y = digits(s, 4), m = 0, dd = 0;
    if (y < 0) return iop_fail(err, IOP_EINVAL, "invalid date '%s': the year is not 4 digits", s);
    if (n >= 7) {
        if (s[4] != '-' || (m = digits(s + 5, 2)) < 0)
            return iop_fail(err, IOP_EINVAL, "invalid date '%s': expected YYYY-MM", s);
    }
    if (n == 10) {
        if (s[7] != '-' || (dd = digits(s + 8, 2)) < 0)
            return iop_fail(err, IOP_EINVAL, "invalid date '%s': expected YYYY-MM-DD", s);
    }
    d.year = (int16_t)y; d.month = (int8_t)m; d.day = (int8_t)dd;
    if (y < 1800 || y > 2200)
        return iop_fail(err, IOP_EINVAL, "invalid date '%s': year outside 1800..2200", s);
    if (n >= 7 && (m < 1 || m > 12))
        return iop_fail(err, IOP_EINVAL, "invalid date '%s': month must be 01..12", s);
    if (n == 10 && (dd < 1 || dd > days_in_month(y, m)))
        return iop_fail(err, IOP_EINVAL, "invalid date '%s': day out of range for the month", s);
    *out = d;
    return IOP_OK;
}

void iop_date_format(iop_date d, char *buf) {
    if (d.year == 0) buf[0] = 0;
    else {
        /* written digit by digit: every record's dates pass here when it is stored */
        unsigned y = (unsigned)d.year % 10000u, m = (unsigned)d.month % 100u, dd = (unsigned)d.day % 100u;
        char *o = buf;
        *o++ = (char)('0' + y / 1000);
        *o++ = (char)('0' + y / 100 % 10);
        *o++ = (char)('0' + y / 10 % 10);
        *o++ = (char)('0' + y % 10);
        if (d.month) {
            *o++ = '-';
            *o++ = (char)('0' + m / 10);
            *o++ = (char)('0' + m % 10);
            if (d.day) {
                *o++ = '-';
                *o++ = (char)('0' + dd / 10);
                *o++ = (char)('0' + dd % 10);
            }
        }
        *o = 0;
    }
}

int64_t iop_days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153u * (unsigned)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (unsigned)d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void iop_civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

iop_date iop_date_today(void) {
    int y, m, d;
    iop_civil_from_days(iop_now_ms() / 86400000, &y, &m, &d);
    iop_date r = {(int16_t)y, (int8_t)m, (int8_t)d};
    return r;
}

int64_t iop_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t iop_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void iop_time_format(int64_t ms, char *buf) {
    int y, m, d;
    int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    int64_t rem = ms - days * 86400000;
    iop_civil_from_days(days, &y, &m, &d);
    snprintf(buf, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u, (unsigned)(rem / 3600000) % 100u, (unsigned)(rem / 60000 % 60),
             (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
}
