/*
 * retention.c -- each connected system's retention policy object: the day until which
 * a record may be kept, computed when the record is written and enforced by
 * sys_purge_expired.  The rules below are each system's basic period; the refinements
 * (notifications before deletion, consent extensions, family members) come with the
 * retention issue.
 */
#include <jansson.h>
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

/* Reads a date member of the record's system-specific fields. */
static int64_t ext_date(const rec_person *r, const char *field) {
    json_t *ext = json_loads(r->ext ? r->ext : "{}", 0, NULL);
    int64_t day = 0;
    json_t *v = json_object_get(ext, field);
    iop_date d;
    if (json_is_string(v) && iop_date_parse(json_string_value(v), &d, NULL) == IOP_OK) day = day_of(d);
    json_decref(ext);
    return day;
}

/* Reg. 2017/2226 Art 34(1)-(3): a file and its records are kept 3 years and 1 day after
 * the last exit or refusal record; where no exit follows the end of the authorised stay,
 * 5 years after that end. */
static int64_t ees_expiry(const rec_person *r, int64_t today) {
    json_t *ext = json_loads(r->ext ? r->ext : "{}", 0, NULL);
    json_t *mv = json_object_get(ext, "movements");
    int64_t last = 0;
    bool last_is_entry = false;
    size_t i;
    json_t *m;
    json_array_foreach(mv, i, m) {
        iop_date d;
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *ds = json_string_value(json_object_get(m, "date"));
        if (!type || !ds || iop_date_parse(ds, &d, NULL) != IOP_OK) continue;
        int64_t day = day_of(d);
        if (day >= last) { last = day; last_is_entry = !strcmp(type, "entry"); }
    }
    json_decref(ext);
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
