/*
 * cir.h -- the common identity repository (Reg. 2019/817 and 2019/818 Arts 17-24).
 *
 * One individual file per person registered in EES, VIS, ETIAS, Eurodac or ECRIS-TCN
 * (not SIS, Europol, Interpol), holding the shared identity data (Art 18(1)) logically
 * separated by source system, with a reference to the source system and to the record
 * in it (Art 18(2), (4)).  The files follow their source records automatically
 * (Art 19(1)): cir_follow_put / cir_follow_delete are called by the component that wrote
 * the source system, inside the same load.  A file lives only while at least one source
 * record exists (Art 23(2)).  Merging files on a white or red link (Art 19(2)) belongs
 * to the multiple-identity detector (later issue): cir_merge is its entry point.
 *
 * Store: DIR/cir.db.
 */
#ifndef INTEROP_CIR_H
#define INTEROP_CIR_H

#include "interop/record.h"

typedef struct cir cir;

iop_code cir_open(const char *dir, int flags, cir **out, iop_err *err);
void cir_close(cir *c);

/* Creates or updates the individual files of these source records (all from one system
 * in the CIR) in one transaction. */
iop_code cir_follow_put(cir *c, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err);
/* The same in two steps, so the CIR's writes can run beside the source system's and
 * commit only once the source committed: prepare leaves the transaction open (on error
 * it is rolled back); finish commits it or rolls it back. */
iop_code cir_follow_put_prepare(cir *c, const rec_person *recs, size_t n, int64_t now_ms, iop_err *err);
iop_code cir_follow_finish(cir *c, bool commit, iop_err *err);
/* Removes the system's data set from its file; removes the file when it was the last. */
iop_code cir_follow_delete(cir *c, iop_system s, const char *record_id, int64_t now_ms, iop_err *err);

/* A reference from an individual file to a source record. */
typedef struct cir_ref {
    iop_system system;
    char id[132];
} cir_ref;

typedef struct cir_file {
    char id[40];           /* "CIR-..." */
    cir_ref *refs; size_t n_refs;
    char *body;            /* JSON: {"id":..,"data":{"<system>":[{record identity data}]}} */
} cir_file;
void cir_file_clear(cir_file *f);

/* The individual file holding a source record: IOP_ENOTFOUND when none. */
iop_code cir_file_of(cir *c, iop_system s, const char *record_id, cir_file *out, iop_err *err);
iop_code cir_get(cir *c, const char *file_id, cir_file *out, iop_err *err);
iop_code cir_count(cir *c, int64_t *files, iop_err *err);
/* Adds the data sets of file `from` to file `into` and removes `from` (Art 19(2)). */
iop_code cir_merge(cir *c, const char *into, const char *from, int64_t now_ms, iop_err *err);

#endif
