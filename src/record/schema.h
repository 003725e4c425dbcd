/* schema.h -- internal: the table of system-specific fields (see schema.c). */
#ifndef INTEROP_RECORD_SCHEMA_H
#define INTEROP_RECORD_SCHEMA_H
#include "interop/record.h"

typedef enum rec_ftype { RF_STRING = 1, RF_STRINGS, RF_DATE, RF_ENUM, RF_BOOL, RF_COUNTRY, RF_OBJECTS } rec_ftype;

typedef struct rec_field {
    const char *name;
    rec_ftype type;
    const char *category;       /* data category (record.h); NULL inside objects */
    bool required;
    const char *const *values;  /* RF_ENUM: allowed values */
    const struct rec_field *sub;/* RF_OBJECTS: fields of each object */
} rec_field;

const rec_field *rec_system_fields(iop_system s);
const rec_field *rec_field_find(const rec_field *fields, const char *name);
/* Kinds that describe a document, not a person: names may be empty. */
bool rec_kind_is_document_only(iop_system s, const char *kind);
#endif
