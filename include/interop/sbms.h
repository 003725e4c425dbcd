/*
 * sbms.h -- the shared biometric matching service as a component of the node
 * (Reg. 2019/817 and 2019/818 Arts 12-16): it stores the biometric templates of the
 * connected systems' records -- fingerprints (sbms_fp.h) and facial images
 * (sbms_face.h) -- logically separated by source system, each with a reference to the
 * source system and record (Art 13(1)-(2)); it enters a template only after an
 * automated quality check (Art 13(3)); it answers 1:N searches across the systems a
 * caller may query, fusing fingerprint and face scores into one calibrated record-level
 * score (sbms_fusion.h); templates live only as long as the source record (Art 15).
 *
 * Store: DIR/sbms.db holds the quality-checked templates per (system, record id) and the
 * mapping to the galleries' numeric record keys; the in-memory galleries are rebuilt
 * from it at open.
 *
 * Threading: sbms_search may run on many threads at once; sbms_check is pure; sbms_enrol
 * and sbms_remove are called by one writer at a time (the node serialises writes).
 */
#ifndef INTEROP_SBMS_H
#define INTEROP_SBMS_H

#include "interop/record.h"
#include "interop/sbms_fusion.h"

typedef struct sbms sbms;

typedef struct sbms_config {
    uint32_t face_dim;      /* dimension of face templates; 0 = the one stored, else taken from the first
                               face enrolled (a store fixes its dimension with its first face) */
    /* Score calibrations (sbms_fusion.h).  NULL = the ones stored in sbms.db; a new store
     * stores the shipped defaults, fitted on the synthetic generators' genuine / impostor
     * scores by sbms_calib_synthetic (docs/sbms.md).  Given ones replace the stored ones (read-write opens). */
    const sbms_calib *face_calib;     /* face: cosine similarity -> LLR */
    const sbms_calib *finger_calib;   /* fingerprints: one finger comparison score -> LLR */
    int fp_threads;         /* threads of one fingerprint first-stage scan; 0 = 2 */
    size_t fp_shortlist;    /* fingers the first stage passes to the full matcher; 0 = the gallery's default */
    uint32_t face_threads;  /* threads of one face scan; 0 = online CPUs */
} sbms_config;

/* Opens (flags: STORE_CREATE creates DIR and DIR/sbms.db; STORE_READONLY refuses
 * enrol/remove) and rebuilds the in-memory galleries from the store.  cfg may be NULL.
 * *out is released with sbms_close (NULL-safe). */
iop_code sbms_open(const char *dir, int flags, const sbms_config *cfg, sbms **out, iop_err *err);
void sbms_close(sbms *s);

/* True for the systems whose templates the sBMS keeps: SIS, VIS, Eurodac, EES,
 * ECRIS-TCN (Art 13).  ETIAS holds no biometrics; Europol and Interpol data are not
 * part of the sBMS: check, enrol and search ignore those systems. */
bool sbms_system_stored(iop_system sys);

/* Checks the biometric data of records before anything is written: every template
 * parses and passes the quality check (Art 13(3), Art 37).  On failure *err names the
 * record and field, e.g. "record 'EES-1': field 'biometrics.fingerprints[2]': ...". */
iop_code sbms_check(sbms *s, const rec_person *recs, size_t n, iop_err *err);
/* Stores the records' templates (replacing earlier ones of the same records; a record
 * without biometrics removes what it had) in one transaction, then updates the galleries. */
iop_code sbms_enrol(sbms *s, const rec_person *recs, size_t n, iop_err *err);
/* Erases the templates of a record (Art 15).  OK when it had none. */
iop_code sbms_remove(sbms *s, iop_system sys, const char *record_id, iop_err *err);

typedef struct sbms_probe {
    const rec_finger *fingers; size_t n_fingers;   /* any supported format */
    const rec_blob *face;                          /* NULL: none */
} sbms_probe;

typedef struct sbms_hit {
    iop_system system;
    char record_id[132];
    double score;          /* fused, calibrated: probability-like in [0,1] = 1 / (1 + e^-llr),
                              the posterior of "same person" at even prior odds */
    double llr;            /* fused log-likelihood ratio: face LLR + the sum of the finger LLRs */
    double fp_score;       /* fingerprint record-level score (matcher scale), < 0 when not compared */
    double face_score;     /* face similarity, < 0 when not compared */
    int fingers_matched;   /* fingers with a positive comparison */
} sbms_hit;

/* 1:N identification over the systems listed (the caller's profile decides which; no
 * system listed = nothing searched, never "all"); at most k hits, best first (by llr),
 * with score >= min_score.  Candidates come from each modality's gallery (depth
 * max(k, 20)); a candidate found by one modality is compared 1:1 in the other when
 * both the probe and the record have it.  out holds k entries. */
iop_code sbms_search(sbms *s, const sbms_probe *probe, const iop_system *systems, size_t n_systems, size_t k,
                     double min_score, sbms_hit *out, size_t *n_out, iop_err *err);

/* Fits the calibration of one modality on the synthetic generators (sbms_face.h,
 * sbms_fp.h: n_pairs genuine and n_pairs impostor comparisons, deterministic; face
 * generator at face_dim if a power of two, else 512).  The shipped defaults a new store
 * starts with were fitted by this function (docs/sbms.md). */
iop_code sbms_calib_synthetic(sbms_modality m, uint32_t face_dim, size_t n_pairs, sbms_calib *out, iop_err *err);

typedef struct sbms_stats {
    size_t records[IOP_SYS_COUNT];
    size_t fingers, faces;
    size_t memory_bytes;
} sbms_stats;
void sbms_get_stats(sbms *s, sbms_stats *out);

#endif
