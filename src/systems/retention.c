/*
 * retention.c -- each connected system's retention policy object: the day until which
 * a record may be kept, computed when the record is written and enforced by
 * sys_purge_expired.  The rules below are each system's basic period; the refinements
 * (notifications before deletion, consent extensions, family members) come with the
 * retention issue.
 */
#include <stdio.h>
#include <string.h>
#include "interop/systems.h"

static int64_t day_of(iop_date d) {
    if (!d.year) return 0;
    return iop_days_from_civil(d.year, d.month ? d.month : 12, d.day ? d.day : 28);
}

static int64_t plus_years(int64_t day, int years) {
    if (!day) return 0;
    int y, m, d;
    iop_civil_from_days(day, &y, &m, &d);
    if (m == 2 && d == 29) d = 28;
    return iop_days_from_civil(y + years, m, d);
}

/* The record's system-specific fields are canonical compact JSON (record.c): a
 * top-level member "name":"value" is found by its text, preceded by '{' or ',' (inside a
 * string value a quote is always escaped, so the pattern cannot match there). */
static const char *ext_member(const char *ext, const char *field) {
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", field);
    size_t n = strlen(pat);
    for (const char *p = ext ? strstr(ext, pat) : NULL; p; p = strstr(p + 1, pat))
        if (p > ext && (p[-1] == '{' || p[-1] == ',')) return p + n;
    return NULL;
}

static int64_t date_at(const char *v) {
    iop_date d;
    char buf[11];
    if (!v || *v != '"') return 0;
    size_t n = 0;
    while (n < 10 && v[1 + n] && v[1 + n] != '"') { buf[n] = v[1 + n]; n++; }
    buf[n] = 0;
    return iop_date_parse(buf, &d, NULL) == IOP_OK ? day_of(d) : 0;
}

static int64_t ext_date(const rec_person *r, const char *field) { return date_at(ext_member(r->ext, field)); }

/* Reg. 2017/2226 Art 34(1)-(3): a file and its records are kept 3 years and 1 day after
 * the last exit or refusal record; where no exit follows the end of the authorised stay,
 * 5 years after that end.  Walks the movements array without building a JSON tree:
 * every object in it has "date" and "type" string members. */
static int64_t ees_expiry(const rec_person *r, int64_t today) {
    const char *p = ext_member(r->ext, "movements");
    int64_t last = 0;
    bool last_is_entry = false;
    if (p && *p == '[') {
        int depth = 0;
        bool in_str = false;
        int64_t day = 0;
        int type = -1; /* 0 entry, 1 exit/refusal */
        for (p++; *p; p++) {
            char ch = *p;
            if (in_str) {
                if (ch == '\\' && p[1]) p++;
                else if (ch == '"') in_str = false;
                continue;
            }
            if (ch == '"') {
                if (depth == 1 && !strncmp(p, "\"date\":", 7)) { day = date_at(p + 7); p += 6; continue; }
                if (depth == 1 && !strncmp(p, "\"type\":\"", 8)) {
                    type = !strncmp(p + 8, "entry\"", 6) ? 0 : 1;
                    p += 6; /* the loop's step lands on the value's opening quote */
                    continue;
                }
                in_str = true;
            } else if (ch == '{') {
                if (++depth == 1) { day = 0; type = -1; }
            } else if (ch == '}') {
                if (--depth == 0 && day && type >= 0 && day >= last) { last = day; last_is_entry = type == 0; }
            } else if (ch == ']' && depth == 0) {
                break;
            }
        }
    }
    int64_t stay_end = ext_date(r, "authorised_stay_until");
    if (last_is_entry) return stay_end ? plus_years(stay_end, 5) : 0;
    if (last) return plus_years(last, 3) + 1;
    return plus_years(today, 3) + 1;
}

/* Reg. 767/2008 Art 23(1): 5 years, from the visa's expiry or the decision. */
static int64_t vis_expiry(const rec_person *r, int64_t today) {
    int64_t d = ext_date(r, "valid_until");
    if (!d) d = ext_date(r, "lodged_on");
    return plus_years(d ? d : today, 5);
}

/* Reg. 2018/1240 Art 54(1): the validity of the authorisation, or 5 years from the
 * refusal, annulment or revocation. */
static int64_t etias_expiry(const rec_person *r, int64_t today) {
    int64_t d = ext_date(r, "valid_until");
    if (d) return d;
    d = ext_date(r, "submitted_on");
    return plus_years(d ? d : today, 5);
}

/* Reg. (EU) 2024/1358 Art 29: applicants 10 years from the taking of fingerprints;
 * irregular crossers and illegally staying persons 5 years. */
static int64_t eurodac_expiry(const rec_person *r, int64_t today) {
    int64_t d = ext_date(r, "fingerprinted_on");
    return plus_years(d ? d : today, !strcmp(r->kind, "applicant") ? 10 : 5);
}

/* Reg. 2018/1861 Art 39 / 2018/1862 Art 53: an alert is kept until its review date
 * unless the issuing Member State extends it. */
static int64_t sis_expiry(const rec_person *r, int64_t today) {
    (void)today;
    return ext_date(r, "review_date");
}

/* Reg. 2019/816 Art 8: as long as the conviction is in the national criminal record;
 * Europol and Interpol data: as their owners decide.  Deleted by the owner. */
static int64_t owner_deletes(const rec_person *r, int64_t today) {
    (void)r; (void)today;
    return 0;
}

static const sys_retention policies[IOP_SYS_COUNT] = {
    [IOP_SYS_SIS] = {"Reg. 2018/1861 Art 39, Reg. 2018/1862 Art 53 (review date)", sis_expiry},
    [IOP_SYS_VIS] = {"Reg. 767/2008 Art 23 (5 years)", vis_expiry},
    [IOP_SYS_EURODAC] = {"Reg. 2024/1358 Art 29 (10 / 5 years)", eurodac_expiry},
    [IOP_SYS_EES] = {"Reg. 2017/2226 Art 34 (3 years and 1 day / 5 years)", ees_expiry},
    [IOP_SYS_ETIAS] = {"Reg. 2018/1240 Art 54 (validity / 5 years)", etias_expiry},
    [IOP_SYS_ECRIS_TCN] = {"Reg. 2019/816 Art 8 (while in the national record)", owner_deletes},
    [IOP_SYS_EUROPOL] = {"Reg. 2016/794 Art 31 (owner decides)", owner_deletes},
    [IOP_SYS_INTERPOL] = {"Interpol rules (owner decides)", owner_deletes},
};

const sys_retention *sys_retention_policy(iop_system s) {
    return (unsigned)s < IOP_SYS_COUNT ? &policies[s] : NULL;
}
