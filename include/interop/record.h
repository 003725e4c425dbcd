/*
 * record.h -- the person-record interchange format (JSON Lines, one record per line),
 * used by `interop load`, the HTTP API and `interop gen`.  docs/interchange-format.md
 * documents it for users; this header is its contract in C.
 *
 * A record belongs to one connected system (SIS, VIS, Eurodac, EES, ETIAS, ECRIS-TCN)
 * or to one of the two further sources the portal can query (Europol data, Interpol
 * SLTD).  The common identity fields are parsed into rec_person; the fields that only
 * one system has are validated against that system's schema (record/schema.c) and kept
 * as canonical JSON text in rec_person.ext.  An unknown field is an error, never dropped.
 */
#ifndef INTEROP_RECORD_H
#define INTEROP_RECORD_H

#include "interop/base.h"

typedef enum iop_system {
    IOP_SYS_SIS = 0,
    IOP_SYS_VIS,
    IOP_SYS_EURODAC,
    IOP_SYS_EES,
    IOP_SYS_ETIAS,
    IOP_SYS_ECRIS_TCN,
    IOP_SYS_EUROPOL,
    IOP_SYS_INTERPOL,
    IOP_SYS_COUNT
} iop_system;

/* "sis", "vis", "eurodac", "ees", "etias", "ecris-tcn", "europol", "interpol" */
const char *iop_system_name(iop_system s);
/* Accepts the names above; returns IOP_ENOTFOUND for anything else. */
iop_code iop_system_parse(const char *name, iop_system *out, iop_err *err);
/* True for the systems whose identity data the CIR holds (Reg. 2019/817 Art 18,
 * 2019/818 Art 18): EES, VIS, ETIAS, Eurodac, ECRIS-TCN -- not SIS, Europol, Interpol. */
bool iop_system_in_cir(iop_system s);

typedef struct rec_document {
    char *type;     /* "passport", "id_card", "residence_permit", "visa", "other" */
    char *number;   /* as printed */
    char *country;  /* ISO 3166-1 alpha-3 issuing country, e.g. "UKR" */
    iop_date expiry;/* year 0 when unknown */
} rec_document;

typedef struct rec_blob {
    char *format;   /* fingerprints: "iso19794-2-2005", "ansi378-2004", "ansi378-2009",
                       "ansi-nist-itl"; face: "f32" (little-endian float32 feature vector) */
    uint8_t *data;  /* decoded from base64 */
    size_t len;
} rec_blob;

typedef struct rec_finger {
    int position;   /* ISO/IEC 19794-2 finger position 0..10 (1 = right thumb ... 10 = left little) */
    rec_blob tpl;
} rec_finger;

typedef struct rec_person {
    char *id;               /* unique within its system */
    iop_system system;
    char *kind;             /* record type within the system, e.g. "person_alert" */
    char **surnames;        size_t n_surnames;
    char **given_names;     size_t n_given_names;
    char *surname_at_birth; /* NULL when absent */
    char **aliases;         size_t n_aliases;   /* full names, free text */
    iop_date dob;           /* year 0 when absent */
    char sex;               /* 'M', 'F', 'X' or 'U' (unknown) */
    char **nationalities;   size_t n_nationalities; /* ISO 3166-1 alpha-3 */
    char *place_of_birth;
    rec_document *documents; size_t n_documents;
    rec_finger *fingers;    size_t n_fingers;
    rec_blob *face;         /* NULL when absent */
    char *ext;              /* system-specific fields: canonical JSON object text, "{}" if none */
} rec_person;

/* Parses one JSON object (one line of a .jsonl file).  On error *err says which field
 * is wrong and why; callers prefix file and line.  *out is filled only on success and
 * must be released with rec_person_clear(). */
iop_code rec_parse(const char *json, size_t len, rec_person *out, iop_err *err);
/* Writes the record as one JSON object without a trailing newline.  With
 * with_biometrics false, the "biometrics" member is left out. */
iop_code rec_to_json(const rec_person *p, bool with_biometrics, iop_buf *out);
void rec_person_clear(rec_person *p);
/* Deep copy. */
iop_code rec_person_copy(const rec_person *src, rec_person *dst);

/* Each system-specific field belongs to a data category; the portal's profiles decide
 * which categories a reply may show (Reg. 2019/817 Art 8(1)(d)).  Categories:
 *   "identity"   names, date of birth, sex, nationalities, place of birth, aliases
 *   "documents"  travel documents
 *   "biometrics" fingerprints, facial image
 *   "alert"      SIS/Interpol/Europol alert details (category, action, issuing state)
 *   "travel"     EES entry/exit/refusal records
 *   "application" VIS/ETIAS application details and decisions
 *   "asylum"     Eurodac category and Member State of origin
 *   "conviction" ECRIS-TCN convicting Member State
 * Returns NULL for a field the system does not have. */
const char *rec_ext_field_category(iop_system s, const char *field);
/* The record kinds a system accepts, NULL-terminated. */
const char *const *rec_system_kinds(iop_system s);

#endif
