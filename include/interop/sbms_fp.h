/*
 * sbms_fp.h -- the fingerprint part of the shared biometric matching service (sBMS,
 * Reg. (EU) 2019/817 and 2019/818, Arts 12-16): standard minutiae formats in and out,
 * an enrolment quality check, a Minutia Cylinder-Code matcher (1:1 and multi-finger
 * records), a gallery for 1:N identification kept per source system (Art 13), and a
 * generator of synthetic minutiae templates.
 *
 * The module holds no storage of its own: the sBMS service layer persists galleries and
 * the link to connected-system records through this API.
 *
 * Ownership:
 *   - iop_fp_parse() fills a caller-provided iop_fp_template; iop_fp_template_free()
 *     releases what it allocated (the fingers array), never the struct itself.
 *   - Functions returning uint8_t** / char** give malloc'd memory the caller frees.
 *   - *_new() allocates an object released by the matching *_free() (NULL-safe).
 *   - No global state: everything lives in the objects passed in.  The matcher and the
 *     generator are reentrant; a gallery allows any number of concurrent searches, and
 *     one writer at a time (add/remove take a write lock against searches).
 *
 * Coordinates are normalised on parsing: pixels with the origin at the top-left corner
 * of the image and y growing downwards; angles in radians [0, 2*pi), counter-clockwise
 * as seen on the image, from the x axis (the ISO/IEC 19794-2 convention).
 */
#ifndef INTEROP_SBMS_FP_H
#define INTEROP_SBMS_FP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "interop/base.h"

/* ------------------------------------------------------------------------------------
 * Templates
 * ---------------------------------------------------------------------------------- */

typedef enum iop_fp_format {
    IOP_FP_AUTO = 0,      /* detect from the bytes */
    IOP_FP_ISO2005,       /* ISO/IEC 19794-2:2005 finger minutiae record   "iso19794-2-2005" */
    IOP_FP_ANSI2004,      /* ANSI INCITS 378-2004                           "ansi378-2004" */
    IOP_FP_ANSI2009,      /* ANSI INCITS 378-2009                           "ansi378-2009" */
    IOP_FP_ANSI_NIST      /* ANSI/NIST-ITL 1 file with Type-9 records       "ansi-nist-itl" */
} iop_fp_format;

typedef enum iop_fp_mtype {
    IOP_FP_OTHER = 0,
    IOP_FP_ENDING = 1,
    IOP_FP_BIFURCATION = 2
} iop_fp_mtype;

typedef struct iop_fp_minutia {
    float x, y;       /* pixels at the finger's resolution, origin top-left, y down */
    float angle;      /* radians in [0, 2*pi) */
    uint8_t type;     /* iop_fp_mtype */
    uint8_t quality;  /* 0..100 as in the record; 0 = not reported */
} iop_fp_minutia;

#define IOP_FP_MAX_MINUTIAE 255
#define IOP_FP_MAX_FINGERS 32   /* finger views accepted in one record */

typedef struct iop_fp_finger {
    uint8_t position;     /* ISO/IEC 19794-2 finger position 0..10 (0 = unknown) */
    uint8_t view;         /* view number of that finger in the record */
    uint8_t impression;   /* impression type (0 live-scan plain, 1 rolled, ...) */
    uint8_t quality;      /* finger quality 0..100 (0 = not reported) */
    uint16_t width, height; /* image size in pixels (0 = unknown) */
    uint16_t xres, yres;  /* pixels per centimetre; 197 = 500 ppi */
    uint16_t n;           /* number of minutiae in m[] */
    iop_fp_minutia m[IOP_FP_MAX_MINUTIAE];
} iop_fp_finger;

typedef struct iop_fp_template {
    iop_fp_format format;     /* the format the bytes were in */
    size_t n_fingers;
    iop_fp_finger *fingers;   /* owned; freed by iop_fp_template_free */
} iop_fp_template;

/* "iso19794-2-2005", "ansi378-2004", "ansi378-2009", "ansi-nist-itl" ("auto" for AUTO). */
const char *iop_fp_format_name(iop_fp_format f);
/* The inverse of iop_fp_format_name; IOP_EINVAL for an unknown name. */
iop_code iop_fp_format_parse(const char *name, iop_fp_format *out, iop_err *err);
/* Best guess from the first bytes; IOP_FP_AUTO when it looks like none of them. */
iop_fp_format iop_fp_detect(const uint8_t *data, size_t len);

/* Parses a record.  With fmt = IOP_FP_AUTO the format is detected; otherwise the bytes
 * must be in fmt.  Strict: any inconsistency (length fields, truncation, unknown
 * version, coordinates that do not fit the field) fails with IOP_EFORMAT and a message
 * naming the field and its byte offset.  *out is only filled on success. */
iop_code iop_fp_parse(const uint8_t *data, size_t len, iop_fp_format fmt,
                      iop_fp_template *out, iop_err *err);
void iop_fp_template_free(iop_fp_template *t);

/* Serialises to ISO/IEC 19794-2:2005 (no extended data).  Coordinates are rounded to
 * whole pixels, angles to the 1.40625-degree unit.  *out is malloc'd. */
iop_code iop_fp_write_iso(const iop_fp_template *t, uint8_t **out, size_t *len, iop_err *err);
/* Same for a single finger. */
iop_code iop_fp_write_iso_finger(const iop_fp_finger *f, uint8_t **out, size_t *len, iop_err *err);

/* Enrolment quality check.  Fields left 0 take the defaults in brackets. */
typedef struct iop_fp_quality_opts {
    int min_minutiae;      /* [12] fewer cannot be matched reliably */
    int max_minutiae;      /* [200] more is an extraction artefact */
    int min_resolution;    /* [150] pixels per centimetre (about 380 ppi) */
    int max_duplicates;    /* [2] minutiae closer than 2 px to another one */
} iop_fp_quality_opts;

/* IOP_OK when the finger is fit for enrolment; otherwise IOP_EINVAL and *err gives the
 * reason (e.g. "finger 2 (position 7): 8 minutiae, at least 12 needed"). */
iop_code iop_fp_quality_check(const iop_fp_finger *f, const iop_fp_quality_opts *opts, iop_err *err);
/* Runs the check on every finger of a template. */
iop_code iop_fp_template_check(const iop_fp_template *t, const iop_fp_quality_opts *opts, iop_err *err);

/* ------------------------------------------------------------------------------------
 * Matcher: Minutia Cylinder-Code (Cappelli, Ferrara, Maltoni, IEEE TPAMI 2010) local
 * descriptors with Local Similarity Sort and Relaxation as global consolidation.
 * ---------------------------------------------------------------------------------- */

/* The matching features of one finger (normalised minutiae and cylinders).  Opaque,
 * immutable once built, safe to share between threads. */
typedef struct iop_fp_features iop_fp_features;

iop_code iop_fp_features_new(const iop_fp_finger *f, iop_fp_features **out, iop_err *err);
void iop_fp_features_free(iop_fp_features *ft);
size_t iop_fp_features_count(const iop_fp_features *ft); /* minutiae kept */

/* Similarity of two fingers in [0, 1]; 0 when either has too few minutiae.
 * Symmetric up to rounding.  Thread-safe. */
double iop_fp_score(const iop_fp_features *a, const iop_fp_features *b);
/* Convenience: builds the features of both and scores them (IOP_ENOMEM only). */
iop_code iop_fp_compare(const iop_fp_finger *a, const iop_fp_finger *b, double *score, iop_err *err);

/* A record of up to 10 fingers (one per position) for record-level scores. */
typedef struct iop_fp_record_features {
    size_t n;
    uint8_t position[IOP_FP_MAX_FINGERS];
    iop_fp_features *f[IOP_FP_MAX_FINGERS];  /* owned */
} iop_fp_record_features;

iop_code iop_fp_record_features_build(const iop_fp_template *t, iop_fp_record_features *out, iop_err *err);
void iop_fp_record_features_free(iop_fp_record_features *r);

/* Per-finger evidence of a record comparison. */
typedef struct iop_fp_evidence {
    uint8_t position;  /* the position compared (0 = unknown on either side) */
    double score;
} iop_fp_evidence;

/* Record-level fused score in [0, 1]: fingers are paired by position (a finger of
 * unknown position is compared with every finger of the other record and its best
 * score kept); the fused score is the mean of the paired scores, which keeps it on the
 * scale of a single-finger score and comparable across records with different
 * numbers of fingers.  ev (may be NULL) receives up to IOP_FP_MAX_FINGERS entries;
 * *n_ev their number.  0 when the records share no comparable finger. */
double iop_fp_record_score(const iop_fp_record_features *a, const iop_fp_record_features *b,
                           iop_fp_evidence *ev, size_t *n_ev);

/* ------------------------------------------------------------------------------------
 * Gallery for 1:N identification (Reg. 2019/817 Art 13: templates kept separate per
 * source system, each with the reference of its source record).
 * ---------------------------------------------------------------------------------- */

typedef struct iop_fp_ref {
    uint8_t system;     /* connected-system id (iop_system in interop/record.h) */
    uint64_t key;       /* record key in that system */
} iop_fp_ref;

typedef struct iop_fp_gallery iop_fp_gallery;

typedef struct iop_fp_gallery_opts {
    size_t shortlist;   /* [100] fingers passed from the second stage to the full matcher */
    int threads;        /* [1] threads used by one search (every stage) */
    size_t prescreen;   /* [10000] fingers passed from the first stage to the second */
    double screen_keep; /* [0.5] share of the selected fingers the first stage's screen passes to
                           the pair voting (never fewer than 5 x prescreen); >= 1: no screen */
} iop_fp_gallery_opts;

/* opts may be NULL (defaults). */
iop_code iop_fp_gallery_new(const iop_fp_gallery_opts *opts, iop_fp_gallery **out, iop_err *err);
void iop_fp_gallery_free(iop_fp_gallery *g);

/* Adds (or replaces) the fingers of one record.  Each finger is stored compactly: at
 * most 72 minutiae quantised to 500 ppi pixels and 1/256 turn (the ones nearest the
 * centre), at most 144 first-stage minutia pairs (5 bytes each) and a 160-byte screen
 * code, about 0.95 KiB on average.  Fingers that fail the quality check are skipped; IOP_EINVAL (with the
 * reason) when none is usable. */
iop_code iop_fp_gallery_add(iop_fp_gallery *g, iop_fp_ref ref, const iop_fp_template *t, iop_err *err);
/* Bulk enrolment (gallery build or rebuild): the n records t[i] under refs[i].  The
 * quality check and the stored form are computed on `threads` threads without holding
 * the gallery lock, then inserted under one write lock per chunk of 4,096 records.
 * rcs (may be NULL) receives each record's outcome (IOP_EINVAL: no usable finger, the
 * record is skipped); *added (may be NULL) the number of records stored.  Returns
 * IOP_OK unless memory ran out (records before the failure stay stored). */
iop_code iop_fp_gallery_add_bulk(iop_fp_gallery *g, size_t n, const iop_fp_ref *refs, const iop_fp_template *t,
                                 int threads, iop_code *rcs, size_t *added, iop_err *err);
/* Removes every finger of the record; the memory is overwritten and released.
 * IOP_ENOTFOUND when the record is not in the gallery. */
iop_code iop_fp_gallery_remove(iop_fp_gallery *g, iop_fp_ref ref, iop_err *err);
size_t iop_fp_gallery_records(const iop_fp_gallery *g);
size_t iop_fp_gallery_fingers(const iop_fp_gallery *g);
/* Bytes held per stored finger (the gallery's own accounting). */
size_t iop_fp_gallery_bytes(const iop_fp_gallery *g);

typedef struct iop_fp_candidate {
    iop_fp_ref ref;
    double score;                       /* record-level fused score */
    size_t n_ev;
    iop_fp_evidence ev[10];             /* per-finger evidence, best first */
} iop_fp_candidate;

/* 1:N identification of a probe record.  systems: bit mask of system ids to search
 * (bit i = system i), 0 = all.  Fills up to k candidates in decreasing score order;
 * *n the number filled.  Safe to call from several threads at once.
 *
 * Three stages: (1) every stored finger of a selected system with a compatible position
 * is screened by a fixed-length code of its minutia-pair features (AND + population
 * count against the probe's, weighed by how common the features are in the gallery),
 * and the `screen_keep` best share is scored by minutia-pair voting: its stored pairs
 * look up the probe's pairs with the same rotation-invariant feature (length, both directions relative to the segment),
 * each correspondence votes for one rotation and translation, and the score is the
 * largest number of agreeing correspondences; (2) the `prescreen` best fingers are
 * rescored by the minutiae that pair up once the probe is moved by the motion of the
 * winning votes; (3) the records of the `shortlist` best of those are compared with the
 * full matcher and ranked by its record-level score. */
iop_code iop_fp_gallery_search(iop_fp_gallery *g, const iop_fp_template *probe, size_t k,
                               uint64_t systems, iop_fp_candidate *out, size_t *n, iop_err *err);

/* What one search did (for benchmarks and monitoring). */
typedef struct iop_fp_search_stats {
    size_t scanned;          /* fingers the first stage considers: live, of the selected systems, of a
                                position compatible with a probe finger's (unknown matches any) --
                                the same with the screen on or off */
    size_t prescreened;      /* fingers rescored by the second stage */
    size_t shortlisted;      /* records compared with the full matcher */
    uint64_t first_cpu_ns;   /* CPU time of each stage, summed over its threads */
    uint64_t second_cpu_ns;
    uint64_t full_cpu_ns;
    size_t screened;         /* fingers the screen passed to the pair voting (of `scanned`; all of
                                them when the screen does not run) */
    uint64_t screen_cpu_ns;  /* CPU time of the screen; first_cpu_ns is the pair voting's */
} iop_fp_search_stats;
/* iop_fp_gallery_search filling *stats (may be NULL). */
iop_code iop_fp_gallery_search_ex(iop_fp_gallery *g, const iop_fp_template *probe, size_t k, uint64_t systems,
                                  iop_fp_candidate *out, size_t *n, iop_fp_search_stats *stats, iop_err *err);
/* Same with the full matcher on every gallery record (reference for the first stage). */
iop_code iop_fp_gallery_search_exhaustive(iop_fp_gallery *g, const iop_fp_template *probe, size_t k,
                                          uint64_t systems, iop_fp_candidate *out, size_t *n,
                                          iop_err *err);
/* Rank of record ref in the first stage alone (screen and pair voting, as a search
 * runs them): *rank = the number of stored fingers of other records (in the selected
 * systems) that pass the screen and score strictly above the best finger of ref that
 * passes it; SIZE_MAX when no finger of ref passes the screen.  Scans the whole
 * gallery on the calling thread.  IOP_ENOTFOUND when ref is not stored. */
iop_code iop_fp_gallery_first_stage_rank(iop_fp_gallery *g, const iop_fp_template *probe, uint64_t systems,
                                         iop_fp_ref ref, size_t *rank, iop_err *err);

/* A fixed-length minutia-pair code (the earlier first stage, kept as a baseline for
 * benchmarks and fuzzing): one bit per pair of neighbouring minutiae (distance, and
 * both directions relative to the segment, quantised: invariant to rotation and
 * translation).  A probe code also sets the neighbouring bins of values close to a bin
 * edge, so that the similarity |probe AND gallery| / |gallery| tolerates small
 * displacements.  Far less selective than the pair voting of the gallery search. */
#define IOP_FP_CODE_WORDS 64   /* 4096-bit code, 512 bytes */
typedef struct iop_fp_code { uint64_t w[IOP_FP_CODE_WORDS]; uint32_t pop; } iop_fp_code;
void iop_fp_code_make(const iop_fp_finger *f, bool probe, iop_fp_code *out);
/* In [0, 1]; probe made with probe = true, gallery with probe = false. */
double iop_fp_code_similarity(const iop_fp_code *probe, const iop_fp_code *gallery);

/* ------------------------------------------------------------------------------------
 * Synthetic minutiae (for `interop gen`): a finger identity is a master minutiae set
 * drawn from (seed, identity); each impression applies displacement, rotation,
 * non-linear distortion, missing and spurious minutiae.  The model is documented in
 * docs/fingerprints.md.
 * ---------------------------------------------------------------------------------- */

typedef struct iop_fp_gen_opts {
    double rotation_sd_deg;   /* [8]    rotation between impressions, degrees (s.d.) */
    double translation_sd;    /* [25]   translation between impressions, pixels (s.d.) */
    double distortion;        /* [0.7]  scale of the non-linear (plastic) distortion */
    double missing;           /* [0.12] probability that a master minutia is lost */
    double spurious;          /* [0.10] spurious minutiae, fraction of the count */
    double position_sd;       /* [2.0]  local jitter of positions, pixels */
    double angle_sd_deg;      /* [5]    jitter of minutia directions, degrees */
} iop_fp_gen_opts;

/* One impression of finger `identity` (position 1..10, 0 = unknown) of a population
 * drawn from seed; impression numbers give different captures of the same finger.
 * opts may be NULL.  The result is a 500 ppi finger, deterministic in all inputs. */
void iop_fp_gen_finger(uint64_t seed, uint64_t identity, uint32_t impression, uint8_t position,
                       const iop_fp_gen_opts *opts, iop_fp_finger *out);
/* Same, serialised as an ISO/IEC 19794-2:2005 record (one finger view). */
iop_code iop_fp_gen_iso(uint64_t seed, uint64_t identity, uint32_t impression, uint8_t position,
                        const iop_fp_gen_opts *opts, uint8_t **out, size_t *len, iop_err *err);

#endif
