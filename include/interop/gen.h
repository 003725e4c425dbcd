/*
 * gen.h -- the synthetic population generator behind `interop gen`: a population of
 * third-country nationals spread over the connected systems (SIS, VIS, Eurodac, EES,
 * ETIAS, ECRIS-TCN) and the two further sources (Europol data, Interpol SLTD), with
 * the ground truth needed to evaluate identity matching (Reg. (EU) 2019/817 and
 * 2019/818: the search portal, the identity repository and the multiple-identity
 * detector must find the same person across systems).
 *
 * The model (life paths, shares, error rates) is documented in docs/population-model.md;
 * every share and rate is a field of gen_params so tests and users can change it.
 *
 * Output, all in params.out_dir, written as a stream (one person at a time):
 *   <system>.jsonl     one record per line in the interchange format (interop/record.h)
 *   truth.csv          system,record_id,person_id   -- one row per record
 *   annotations.csv    system,record_id,person_id,identity,script,errors
 *                      which identity of the person the record shows (0 = the true one),
 *                      the script of its names (latin|cyrillic|arabic|hebrew|han) and the
 *                      errors applied to it, ';'-separated (names in gen_error_name)
 *   persons.csv        person_id,identity,surname,given_names,native_name,sex,dob,
 *                      nationality,culture,path,document_number -- one row per identity
 *                      of a person (Latin forms as in the documents; native_name is the
 *                      native-script form, surname first, empty for Latin-script names)
 *   gen.json           the parameters of the run and its counts
 *
 * Determinism: the output is a pure function of the parameters (seed, sizes, rates,
 * reference date) and of the name data read from params.data_dir.
 *
 * Ownership: gen_run allocates and frees everything it uses; gen_bio_* below document
 * their own.  No global state.
 */
#ifndef INTEROP_GEN_H
#define INTEROP_GEN_H

#include <stdio.h>
#include "interop/base.h"
#include "interop/record.h"

/* Record-level errors and variations the generator applies (per record). */
typedef enum gen_error {
    GEN_ERR_TYPO_SURNAME = 0, /* one edit (substitute/insert/delete/transpose) in a surname */
    GEN_ERR_TYPO_GIVEN,       /* one edit in a given name */
    GEN_ERR_SWAP_ORDER,       /* surname and given names recorded in each other's field */
    GEN_ERR_DOB_PARTIAL,      /* date of birth recorded as year-month or year only */
    GEN_ERR_DOB_SWAP,         /* day and month swapped (only when the result is a date) */
    GEN_ERR_DOB_TYPO,         /* one digit of the year, month or day wrong */
    GEN_ERR_DOC_OCR,          /* document number read with 0/O, 1/I, 5/S, 8/B, 2/Z, 6/G confusion */
    GEN_ERR_NICKNAME,         /* a hypocorism instead of the given name (Anglo names) */
    GEN_ERR_TRANSLIT,         /* another romanisation of a non-Latin or diacritic name */
    GEN_ERR_NATIVE_SCRIPT,    /* names recorded in the native script (Cyrillic, Arabic, ...) */
    GEN_ERR_DROP_GIVEN,       /* the second given name left out */
    GEN_ERR_COUNT
} gen_error;

/* "typo_surname", "typo_given", "swap_order", "dob_partial", "dob_swap", "dob_typo",
 * "doc_ocr", "nickname", "translit", "native_script", "drop_given". */
const char *gen_error_name(gen_error e);

/* The life path of a person: what brought them into the systems. */
typedef enum gen_path {
    GEN_PATH_TRAVELLER = 0,   /* short-stay visitor: VIS (visa required) or ETIAS, then EES */
    GEN_PATH_MIGRANT,         /* asylum applicant / irregular crosser / illegal stay: Eurodac */
    GEN_PATH_RESIDENT,        /* lives in the EU: seen only by ECRIS-TCN, SIS, Europol, SLTD */
    GEN_PATH_COUNT
} gen_path;
const char *gen_path_name(gen_path p); /* "traveller", "migrant", "resident" */

typedef struct gen_params {
    uint64_t persons;          /* population size (>= 1) */
    uint64_t seed;             /* everything is drawn from it */
    const char *out_dir;       /* created if missing */
    const char *data_dir;      /* the shared data directory (holds names/ and febrl/) */
    iop_date reference;        /* the population's "today"; default 2026-06-30 */
    bool biometrics;           /* fill fingerprints and face templates [true] */
    uint32_t face_dim;         /* face template dimension, power of two 128..1024 [128] */
    int threads;               /* workers computing biometrics; 0 = online CPUs (max 16) [0] */
    FILE *progress;            /* progress lines (NULL = none) */

    /* life paths (the rest of persons are residents) */
    double share_traveller;    /* [0.88] */
    double share_migrant;      /* [0.08] */
    /* persons holding more than one identity, by path */
    double multi_identity_traveller; /* [0.01] */
    double multi_identity_migrant;   /* [0.12] */
    double multi_identity_resident;  /* [0.10] */

    /* record-level error rates (probability per eligible record) */
    double rate[GEN_ERR_COUNT];
} gen_params;

/* Fills the documented defaults (docs/population-model.md); out_dir and data_dir NULL. */
void gen_params_default(gen_params *p);

typedef struct gen_stats {
    uint64_t persons;
    uint64_t multi_identity_persons;
    uint64_t identities;                 /* over all persons */
    uint64_t records;
    uint64_t per_system[IOP_SYS_COUNT];
    uint64_t per_path[GEN_PATH_COUNT];
    uint64_t err_applied[GEN_ERR_COUNT]; /* records the error was applied to */
    uint64_t err_eligible[GEN_ERR_COUNT];/* records it could have been applied to */
    uint64_t bytes;                      /* bytes written to the .jsonl files */
    bool biometrics_filled;              /* false when the build has no synthetic generator */
    double seconds;
} gen_stats;

/* Generates the population described by *p.  On failure *err says what and where (the
 * file being written, the name data file and line).  stats may be NULL. */
iop_code gen_run(const gen_params *p, gen_stats *stats, iop_err *err);

/* ---- the biometric seam: one capture of one person's biometrics ----
 * A person's biometric identity is a number (the same for all of their identities:
 * that is what makes a multiple identity detectable); each capture (each record) is a
 * new impression of the same fingers and a new photograph of the same face. */
typedef struct gen_bio gen_bio;

/* dim: face template dimension (power of two, 128..1024). */
iop_code gen_bio_new(uint64_t seed, uint32_t face_dim, gen_bio **out, iop_err *err);
void gen_bio_free(gen_bio *b);
/* Fills out->fingers (one template per position in positions[0..n_positions), ISO/IEC
 * 19794-2:2005) and, if face, out->face ("f32").  The arrays and blobs are malloc'd and
 * released by gen_bio_clear(out), which leaves the rest of *out alone. */
iop_code gen_bio_fill(gen_bio *b, uint64_t bio_id, uint32_t capture, const int *positions,
                      size_t n_positions, bool face, rec_person *out, iop_err *err);
void gen_bio_clear(rec_person *out);

#endif
