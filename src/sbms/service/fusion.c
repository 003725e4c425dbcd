/*
 * fusion.c -- score-to-LLR calibration per biometric modality and fusion of the
 * calibrated scores into one record-level score (Reg. 2019/817 Art 13-14: the sBMS
 * compares the biometric data of the systems; the ESP and the MID rank and link on
 * one score per record).
 *
 * Calibration is prior-weighted logistic regression (Brümmer's linear calibration,
 * as used in the BOSARIS and FoCal toolkits): minimise
 *     0.5/Ng * sum_genuine log(1 + e^-(a s + b)) + 0.5/Ni * sum_impostor log(1 + e^(a s + b))
 * with Newton's method; with equal class weights the fitted log-odds a s + b is the
 * log-likelihood ratio.  A small ridge term keeps the fit finite when the samples
 * are separable.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>
#include "interop/sbms_fusion.h"

static double fus_log1pexp(double x) { return x > 30 ? x : x < -30 ? exp(x) : log1p(exp(x)); }
static double fus_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

/* The objective at (a, b) on scores scaled to (s - lo) / span. */
static double fus_objective(const double *g, size_t ng, const double *im, size_t ni, double lo, double span,
                            double a, double b, double ridge) {
    double sg = 0, si = 0;
    for (size_t i = 0; i < ng; i++) sg += fus_log1pexp(-(a * (g[i] - lo) / span + b));
    for (size_t i = 0; i < ni; i++) si += fus_log1pexp(a * (im[i] - lo) / span + b);
    return 0.5 * sg / ng + 0.5 * si / ni + 0.5 * ridge * a * a;
}

iop_code sbms_calib_fit(const double *genuine, size_t ng, const double *impostor, size_t ni, sbms_calib *out,
                        iop_err *err) {
    if (ng < 10 || ni < 10)
        return iop_fail(err, IOP_EINVAL, "calibration: %zu genuine and %zu impostor scores, at least 10 of each needed",
                        ng, ni);
    double lo = INFINITY, hi = -INFINITY, mg = 0, mi = 0;
    for (size_t i = 0; i < ng; i++) {
        if (!isfinite(genuine[i])) return iop_fail(err, IOP_EINVAL, "calibration: genuine score %zu is not finite", i);
        lo = fmin(lo, genuine[i]); hi = fmax(hi, genuine[i]); mg += genuine[i];
    }
    for (size_t i = 0; i < ni; i++) {
        if (!isfinite(impostor[i])) return iop_fail(err, IOP_EINVAL, "calibration: impostor score %zu is not finite", i);
        lo = fmin(lo, impostor[i]); hi = fmax(hi, impostor[i]); mi += impostor[i];
    }
    mg /= ng; mi /= ni;
    double span = hi - lo;
    if (!(span > 0)) return iop_fail(err, IOP_EINVAL, "calibration: all scores are equal");
    /* work on s' = (s - lo) / span for conditioning; ridge on the slope there */
    const double ridge = 1e-6;
    double a = 0, b = 0;
    double wg = 0.5 / ng, wi = 0.5 / ni;
    for (int it = 0; it < 100; it++) {
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (int cls = 0; cls < 2; cls++) {
            const double *s = cls ? impostor : genuine;
            size_t n = cls ? ni : ng;
            double w = cls ? wi : wg, y = cls ? 0 : 1;
            for (size_t i = 0; i < n; i++) {
                double x = (s[i] - lo) / span;
                double p = fus_sigmoid(a * x + b);
                double r = (p - y) * w, h = p * (1 - p) * w;
                ga += r * x; gb += r;
                haa += h * x * x; hab += h * x; hbb += h;
            }
        }
        ga += ridge * a; haa += ridge;
        double det = haa * hbb - hab * hab;
        if (!(det > 1e-300)) break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        /* damped step: halve until the objective does not grow */
        double f0 = fus_objective(genuine, ng, impostor, ni, lo, span, a, b, ridge), step = 1;
        for (int h = 0; h < 30; h++, step *= 0.5)
            if (fus_objective(genuine, ng, impostor, ni, lo, span, a - step * da, b - step * db, ridge) <= f0) break;
        a -= step * da; b -= step * db;
        if (fabs(step * da) < 1e-10 && fabs(step * db) < 1e-10) break;
    }
    if (!isfinite(a) || !isfinite(b)) return iop_fail(err, IOP_EINTERNAL, "calibration: the fit did not converge");
    if (!(a > 0) || !(mg > mi))
        return iop_fail(err, IOP_EINVAL, "calibration: the scores do not separate genuine from impostor pairs");
    memset(out, 0, sizeof *out);
    out->a = a / span;
    out->b = b - a * lo / span;
    out->lo = lo;
    out->hi = hi;
    out->llr_max = log((double)ni + 1);
    out->llr_min = -log((double)ng + 1);
    out->n_genuine = ng;
    out->n_impostor = ni;
    return IOP_OK;
}

double sbms_calib_llr(const sbms_calib *c, double s) {
    if (isnan(s)) return 0.0;
    if (s < c->lo) s = c->lo;
    if (s > c->hi) s = c->hi;
    double l = c->a * s + c->b;
    if (l > c->llr_max) l = c->llr_max;
    if (l < c->llr_min) l = c->llr_min;
    return l;
}

iop_code sbms_calib_to_json(const sbms_calib *c, iop_buf *out) {
    int r = iop_buf_printf(out,
                           "{\"a\":%.17g,\"b\":%.17g,\"lo\":%.17g,\"hi\":%.17g,\"llr_min\":%.17g,\"llr_max\":%.17g,"
                           "\"n_genuine\":%llu,\"n_impostor\":%llu}",
                           c->a, c->b, c->lo, c->hi, c->llr_min, c->llr_max, (unsigned long long)c->n_genuine,
                           (unsigned long long)c->n_impostor);
    return r < 0 ? IOP_ENOMEM : IOP_OK;
}

iop_code sbms_calib_from_json(const char *json, sbms_calib *out, iop_err *err) {
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return iop_fail(err, IOP_EINVAL, "calibration: not a JSON object (line %d, column %d: %s)", je.line,
                        je.column, je.text);
    }
    static const char *const names[] = {"a", "b", "lo", "hi", "llr_min", "llr_max", "n_genuine", "n_impostor"};
    double v[8];
    iop_code rc = IOP_OK;
    for (size_t i = 0; i < 8 && rc == IOP_OK; i++) {
        json_t *x = json_object_get(o, names[i]);
        if (!x || !json_is_number(x)) rc = iop_fail(err, IOP_EINVAL, "calibration: field \"%s\" missing or not a number", names[i]);
        else v[i] = json_number_value(x);
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        bool known = false;
        for (size_t i = 0; i < 8; i++) known |= strcmp(key, names[i]) == 0;
        if (!known && rc == IOP_OK) rc = iop_fail(err, IOP_EINVAL, "calibration: unknown field \"%s\"", key);
    }
    json_decref(o);
    if (rc != IOP_OK) return rc;
    if (!(v[3] >= v[2]) || !(v[5] >= v[4]) || v[6] < 0 || v[7] < 0)
        return iop_fail(err, IOP_EINVAL, "calibration: inconsistent ranges (lo > hi or llr_min > llr_max)");
    out->a = v[0]; out->b = v[1]; out->lo = v[2]; out->hi = v[3];
    out->llr_min = v[4]; out->llr_max = v[5];
    out->n_genuine = (uint64_t)v[6]; out->n_impostor = (uint64_t)v[7];
    return IOP_OK;
}

void sbms_fusion_init(sbms_fusion *f) { memset(f, 0, sizeof *f); }

void sbms_fusion_set(sbms_fusion *f, sbms_modality m, const sbms_calib *c) {
    if ((unsigned)m >= SBMS_MOD_COUNT) return;
    f->cal[m] = *c;
    f->have[m] = true;
}

double sbms_fusion_llr(const sbms_fusion *f, const double scores[SBMS_MOD_COUNT]) {
    double l = 0;
    for (int m = 0; m < SBMS_MOD_COUNT; m++)
        if (f->have[m] && !isnan(scores[m])) l += sbms_calib_llr(&f->cal[m], scores[m]);
    return l;
}

double sbms_fuse(const sbms_fusion *f, double face_score, double finger_score) {
    double s[SBMS_MOD_COUNT] = {face_score, finger_score};
    return sbms_fusion_llr(f, s);
}

double sbms_llr_posterior(double llr, double prior) {
    if (!(prior > 0)) return 0;
    if (!(prior < 1)) return 1;
    return fus_sigmoid(llr + log(prior / (1 - prior)));
}
