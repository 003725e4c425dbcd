/*
 * face_tpl.c -- face templates in the interchange format: the "f32" blob (dim
 * little-endian IEEE-754 float32 values) is checked value by value, normalised to
 * unit length, and scored 1:1 by cosine similarity (Reg. 2019/817 Art 13(1): the
 * sBMS stores templates, never the images).
 */
#include <math.h>
#include <string.h>
#include "interop/sbms_face.h"

static float face_f32_le(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void sbms_face_to_f32(const float *vec, uint32_t dim, uint8_t *out) {
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &vec[i], sizeof u);
        out[4 * i] = (uint8_t)u;
        out[4 * i + 1] = (uint8_t)(u >> 8);
        out[4 * i + 2] = (uint8_t)(u >> 16);
        out[4 * i + 3] = (uint8_t)(u >> 24);
    }
}

iop_code sbms_face_normalise(float *vec, uint32_t dim, iop_err *err) {
    double ss = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(vec[i]))
            return iop_fail(err, IOP_EFORMAT, "face template: value %u is not a finite number", i);
        ss += (double)vec[i] * vec[i];
    }
    if (!(ss > 0.0) || !isfinite(ss))
        return iop_fail(err, IOP_EFORMAT, "face template: the vector has no length (all zero or too large)");
    double inv = 1.0 / sqrt(ss);
    for (uint32_t i = 0; i < dim; i++) vec[i] = (float)(vec[i] * inv);
    return IOP_OK;
}

iop_code sbms_face_parse(const char *format, const uint8_t *data, size_t len, uint32_t dim,
                         float *out, iop_err *err) {
    if (dim < SBMS_FACE_DIM_MIN || dim > SBMS_FACE_DIM_MAX)
        return iop_fail(err, IOP_EINVAL, "face template: dimension %u outside %d..%d", dim,
                        SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX);
    if (!format || strcmp(format, "f32") != 0)
        return iop_fail(err, IOP_EFORMAT, "face template: format \"%s\" is not supported (expected \"f32\")",
                        format ? format : "(none)");
    if (!data || len != (size_t)dim * 4)
        return iop_fail(err, IOP_EFORMAT,
                        "face template: %zu bytes, expected %u (%u float32 values)", len, dim * 4, dim);
    double ss = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        float f = face_f32_le(data + 4 * (size_t)i);
        if (!isfinite(f))
            return iop_fail(err, IOP_EFORMAT, "face template: value %u at byte offset %u is not a finite number",
                            i, 4 * i);
        out[i] = f;
        ss += (double)f * f;
    }
    if (!(ss > 0.0) || !isfinite(ss)) {
        memset(out, 0, sizeof(float) * dim);
        return iop_fail(err, IOP_EFORMAT, "face template: the vector is zero or too large to normalise");
    }
    double inv = 1.0 / sqrt(ss);
    for (uint32_t i = 0; i < dim; i++) out[i] = (float)(out[i] * inv);
    return IOP_OK;
}

iop_code sbms_face_from_blob(const rec_blob *blob, uint32_t dim, float *out, iop_err *err) {
    if (!blob) return iop_fail(err, IOP_EINVAL, "face template: missing");
    return sbms_face_parse(blob->format, blob->data, blob->len, dim, out, err);
}

float sbms_face_score(const float *a, const float *b, uint32_t dim) {
    double s = 0.0;
    for (uint32_t i = 0; i < dim; i++) s += (double)a[i] * b[i];
    if (s > 1.0) s = 1.0;
    if (s < -1.0) s = -1.0;
    return (float)s;
}
