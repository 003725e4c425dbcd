/*
 * schema.c -- the connected systems, their record kinds and their system-specific
 * fields, with the data category each field belongs to (the portal's profiles decide
 * which categories a reply may show, Reg. 2019/817 Art 8(1)(d)).
 *
 * Field lists follow the data each instrument records (legal-rules §1.4, §2.2, §3.1,
 * §4.1): SIS alert categories of Reg. 2018/1860 Art 3, 2018/1861 Art 24 and 2018/1862
 * Arts 26-40; VIS application data (Reg. 767/2008 Art 9); Eurodac categories (Reg.
 * 2024/1358); EES individual file and entry/exit/refusal records (Reg. 2017/2226
 * Arts 16-18); ETIAS application (Reg. 2018/1240 Art 17(2)); ECRIS-TCN convicting
 * Member State (Reg. 2019/816 Art 5).
 */
#include <string.h>
#include "record/schema.h"

static const char *const sis_categories[] = {
    "refusal_of_entry",   /* Reg. 2018/1861 Art 24 */
    "return",             /* Reg. 2018/1860 Art 3 */
    "arrest",             /* Reg. 2018/1862 Art 26 */
    "missing",            /* Art 32 */
    "vulnerable",         /* Art 32 */
    "judicial_procedure", /* Art 34 */
    "discreet_check",     /* Art 36 */
    "inquiry_check",      /* Art 36 */
    "specific_check",     /* Art 36 */
    "information_alert",  /* Art 37a */
    "unknown_wanted",     /* Art 40 */
    "document_seizure",   /* Art 38: objects (documents) for seizure or use as evidence */
    NULL};
static const char *const vis_status[] = {"lodged", "issued", "refused", "annulled", "revoked", "extended", NULL};
static const char *const vis_types[] = {"A", "C", "LTV", "D", NULL};
static const char *const movement_types[] = {"entry", "exit", "refusal", NULL};
static const char *const etias_status[] = {"submitted", "issued", "refused", "annulled", "revoked", NULL};
static const char *const education[] = {"primary", "secondary", "higher", "none", NULL};
static const char *const sltd_status[] = {"stolen", "lost", "revoked", "invalid", NULL};

static const rec_field movement_fields[] = {
    {"type", RF_ENUM, NULL, true, movement_types, NULL},
    {"date", RF_DATE, NULL, true, NULL, NULL},
    {"bcp", RF_STRING, NULL, false, NULL, NULL},
    {"authority", RF_STRING, NULL, false, NULL, NULL},
    {"visa_sticker", RF_STRING, NULL, false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};

static const rec_field sis_fields[] = {
    {"category", RF_ENUM, "alert", true, sis_categories, NULL},
    {"issuing_state", RF_COUNTRY, "alert", true, NULL, NULL},
    {"action", RF_STRING, "alert", false, NULL, NULL},
    {"review_date", RF_DATE, "alert", false, NULL, NULL},
    {"warning_markers", RF_STRINGS, "alert", false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field vis_fields[] = {
    {"application_number", RF_STRING, "application", true, NULL, NULL},
    {"status", RF_ENUM, "application", false, vis_status, NULL},
    {"visa_type", RF_ENUM, "application", false, vis_types, NULL},
    {"issuing_state", RF_COUNTRY, "application", false, NULL, NULL},
    {"lodged_on", RF_DATE, "application", false, NULL, NULL},
    {"valid_from", RF_DATE, "application", false, NULL, NULL},
    {"valid_until", RF_DATE, "application", false, NULL, NULL},
    {"country_of_birth", RF_COUNTRY, "identity", false, NULL, NULL},
    {"sticker_number", RF_STRING, "application", false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field eurodac_fields[] = {
    {"member_state_of_origin", RF_COUNTRY, "asylum", true, NULL, NULL},
    {"fingerprinted_on", RF_DATE, "asylum", false, NULL, NULL},
    {"reference_number", RF_STRING, "asylum", false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field ees_fields[] = {
    {"visa_holder", RF_BOOL, "travel", false, NULL, NULL},
    {"authorised_stay_until", RF_DATE, "travel", false, NULL, NULL},
    {"movements", RF_OBJECTS, "travel", false, NULL, movement_fields},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field etias_fields[] = {
    {"application_number", RF_STRING, "application", true, NULL, NULL},
    {"status", RF_ENUM, "application", false, etias_status, NULL},
    {"submitted_on", RF_DATE, "application", false, NULL, NULL},
    {"valid_until", RF_DATE, "application", false, NULL, NULL},
    {"country_of_birth", RF_COUNTRY, "identity", false, NULL, NULL},
    {"parents_first_names", RF_STRINGS, "identity", false, NULL, NULL},
    {"email", RF_STRING, "application", false, NULL, NULL},
    {"occupation", RF_STRING, "application", false, NULL, NULL},
    {"education", RF_ENUM, "application", false, education, NULL},
    {"member_state_first_stay", RF_COUNTRY, "application", false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field ecris_fields[] = {
    {"convicting_state", RF_COUNTRY, "conviction", true, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field europol_fields[] = {
    {"crime_area", RF_STRING, "alert", false, NULL, NULL},
    {"data_owner", RF_STRING, "alert", false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};
static const rec_field interpol_fields[] = {
    {"status", RF_ENUM, "alert", false, sltd_status, NULL},
    {"reported_by", RF_COUNTRY, "alert", false, NULL, NULL},
    {NULL, 0, NULL, false, NULL, NULL}};

static const char *const sis_kinds[] = {"person_alert", "document_alert", NULL};
static const char *const vis_kinds[] = {"visa_application", NULL};
static const char *const eurodac_kinds[] = {"applicant", "irregular_crosser", "illegal_stay", NULL};
static const char *const ees_kinds[] = {"individual_file", "refusal_file", NULL};
static const char *const etias_kinds[] = {"application", NULL};
static const char *const ecris_kinds[] = {"record", NULL};
static const char *const europol_kinds[] = {"person", NULL};
static const char *const interpol_kinds[] = {"sltd_document", NULL};

static const struct {
    const char *name;
    const char *const *kinds;
    const rec_field *fields;
    bool in_cir;
} systems[IOP_SYS_COUNT] = {
    [IOP_SYS_SIS] = {"sis", sis_kinds, sis_fields, false},
    [IOP_SYS_VIS] = {"vis", vis_kinds, vis_fields, true},
    [IOP_SYS_EURODAC] = {"eurodac", eurodac_kinds, eurodac_fields, true},
    [IOP_SYS_EES] = {"ees", ees_kinds, ees_fields, true},
    [IOP_SYS_ETIAS] = {"etias", etias_kinds, etias_fields, true},
    [IOP_SYS_ECRIS_TCN] = {"ecris-tcn", ecris_kinds, ecris_fields, true},
    [IOP_SYS_EUROPOL] = {"europol", europol_kinds, europol_fields, false},
    [IOP_SYS_INTERPOL] = {"interpol", interpol_kinds, interpol_fields, false},
};

const char *iop_system_name(iop_system s) {
    return (unsigned)s < IOP_SYS_COUNT ? systems[s].name : "unknown";
}

iop_code iop_system_parse(const char *name, iop_system *out, iop_err *err) {
    for (int i = 0; i < IOP_SYS_COUNT; i++)
        if (!strcmp(name, systems[i].name)) { *out = (iop_system)i; return IOP_OK; }
    return iop_fail(err, IOP_ENOTFOUND,
                    "unknown system '%s' (expected sis, vis, eurodac, ees, etias, ecris-tcn, europol or interpol)", name);
}

bool iop_system_in_cir(iop_system s) { return (unsigned)s < IOP_SYS_COUNT && systems[s].in_cir; }

const char *const *rec_system_kinds(iop_system s) {
    return (unsigned)s < IOP_SYS_COUNT ? systems[s].kinds : NULL;
}

const rec_field *rec_system_fields(iop_system s) {
    return (unsigned)s < IOP_SYS_COUNT ? systems[s].fields : NULL;
}

const rec_field *rec_field_find(const rec_field *fields, const char *name) {
    for (const rec_field *f = fields; f && f->name; f++)
        if (!strcmp(f->name, name)) return f;
    return NULL;
}

const char *rec_ext_field_category(iop_system s, const char *field) {
    const rec_field *f = rec_field_find(rec_system_fields(s), field);
    return f ? f->category : NULL;
}

bool rec_kind_is_document_only(iop_system s, const char *kind) {
    return (s == IOP_SYS_INTERPOL && !strcmp(kind, "sltd_document")) ||
           (s == IOP_SYS_SIS && !strcmp(kind, "document_alert"));
}
