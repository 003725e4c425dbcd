/*
 * sbms_fusion.h -- one calibrated record-level score from the scores of several
 * biometric modalities (face, fingerprints), for the 1:N searches of the sBMS used by
 * the European search portal and the multiple-identity detector (Reg. (EU) 2019/817
 * Art 13-14, 27-28).
 *
 * Each matcher has its own score scale.  Fusion therefore goes through calibration:
 * per modality, a map from score to the natural log-likelihood ratio
 *     LLR(s) = ln( p(s | same person) / p(s | different persons) )
 * is fitted on samples of genuine and impostor scores (prior-weighted logistic
 * regression, LLR = a * s + b, the standard calibration of forensic biometrics).
 * The fused record-level score is the sum of the LLRs of the modalities present
 * (the matchers look at independent traits); a missing modality contributes 0.
 * Any matcher plugs in by fitting its own calibration.
 *
 * Extrapolation is bounded: scores are clamped to the range seen in fitting, and an
 * LLR never exceeds what the sample can support (|LLR| <= ln(n + 1) for n samples
 * of the opposite class).
 */
#ifndef INTEROP_SBMS_FUSION_H
#define INTEROP_SBMS_FUSION_H

#include "interop/base.h"

typedef struct sbms_calib {
    double a, b;            /* LLR = a * clamp(s, lo, hi) + b */
    double lo, hi;          /* score range of the fitting samples */
    double llr_min, llr_max;/* bounds supported by the sample sizes */
    uint64_t n_genuine, n_impostor;
} sbms_calib;

/* Fits the calibration of one modality.  Needs >= 10 scores of each class, all
 * finite.  IOP_EINVAL otherwise. */
iop_code sbms_calib_fit(const double *genuine, size_t n_genuine, const double *impostor, size_t n_impostor,
                        sbms_calib *out, iop_err *err);
/* The LLR of a score (NaN in, 0 out: no evidence). */
double sbms_calib_llr(const sbms_calib *c, double score);
/* {"a":..,"b":..,"lo":..,"hi":..,"llr_min":..,"llr_max":..,"n_genuine":..,"n_impostor":..} */
iop_code sbms_calib_to_json(const sbms_calib *c, iop_buf *out);
iop_code sbms_calib_from_json(const char *json, sbms_calib *out, iop_err *err);

typedef enum sbms_modality {
    SBMS_MOD_FACE = 0,
    SBMS_MOD_FINGER,
    SBMS_MOD_COUNT
} sbms_modality;

/* The calibrations of the modalities a search fuses. */
typedef struct sbms_fusion {
    sbms_calib cal[SBMS_MOD_COUNT];
    bool have[SBMS_MOD_COUNT];
} sbms_fusion;

void sbms_fusion_init(sbms_fusion *f);
void sbms_fusion_set(sbms_fusion *f, sbms_modality m, const sbms_calib *c);
/* Record-level fused LLR: the sum over modalities with a calibration and a score
 * (scores[m] NaN = that modality was not compared). */
double sbms_fusion_llr(const sbms_fusion *f, const double scores[SBMS_MOD_COUNT]);
/* Convenience for the two modalities of the sBMS (NaN for an absent one). */
double sbms_fuse(const sbms_fusion *f, double face_score, double finger_score);
/* Posterior probability of "same person" from an LLR and a prior probability. */
double sbms_llr_posterior(double llr, double prior);

#endif
