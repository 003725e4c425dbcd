/*
 * gen_bio.c -- the biometric seam of the population generator: one capture of one
 * person's fingerprints (ISO/IEC 19794-2:2005 minutiae records from the sBMS synthetic
 * finger generator, interop/sbms_fp.h) and face (a float32 template from the sBMS
 * synthetic face generator, interop/sbms_face.h).  A person's biometric identity is a
 * number shared by all of their identities; each capture is a new impression.
 *
 * The finger generator's master minutiae depend on (seed, identity, position): the
 * person's biometric identity and the finger position give each finger its own ridges.
 */
#include <stdlib.h>
#include <string.h>
#include "gen/gen_internal.h"
#include "interop/sbms_face.h"
#include "interop/sbms_fp.h"

/* Set to 1 once the sBMS synthetic generators are part of the build. */
#define GEN_SYNTHETIC_BIOMETRICS 1
/* Captures of one finger at most, until one passes the enrolment quality check. */
#define GEN_BIO_RETAKES 4u

struct gen_bio {
    uint64_t seed;
    uint32_t dim;
#if GEN_SYNTHETIC_BIOMETRICS
    sbms_face_gen *face;
#endif
};

iop_code gen_bio_new(uint64_t seed, uint32_t face_dim, gen_bio **out, iop_err *err) {
    *out = NULL;
    if (face_dim < SBMS_FACE_DIM_MIN || face_dim > SBMS_FACE_DIM_MAX || (face_dim & (face_dim - 1)))
        return iop_fail(err, IOP_EINVAL, "face template dimension %u: expected a power of two in %d..%d", face_dim,
                        SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX);
#if GEN_SYNTHETIC_BIOMETRICS
    gen_bio *b = calloc(1, sizeof *b);
    if (!b) return iop_fail(err, IOP_ENOMEM, "out of memory");
    b->seed = seed;
    b->dim = face_dim;
    sbms_face_gen_params fp;
    sbms_face_gen_defaults(&fp, face_dim);
    iop_code rc = sbms_face_gen_new(&fp, seed, &b->face, err);
    if (rc) { free(b); return rc; }
    *out = b;
    return IOP_OK;
#else
    (void)seed;
    return iop_fail(err, IOP_ENOTFOUND, "this build has no synthetic biometric generators");
#endif
}

void gen_bio_free(gen_bio *b) {
    if (!b) return;
#if GEN_SYNTHETIC_BIOMETRICS
    sbms_face_gen_free(b->face);
#endif
    free(b);
}

void gen_bio_clear(rec_person *p) {
    for (size_t i = 0; i < p->n_fingers; i++) free(p->fingers[i].tpl.data);
    free(p->fingers);
    p->fingers = NULL;
    p->n_fingers = 0;
    if (p->face) {
        free(p->face->data);
        free(p->face);
        p->face = NULL;
    }
}

iop_code gen_bio_fill(gen_bio *b, uint64_t bio_id, uint32_t capture, const int *positions, size_t n_positions,
                      bool face, rec_person *out, iop_err *err) {
    out->fingers = NULL;
    out->n_fingers = 0;
    out->face = NULL;
    if (!b) return IOP_OK;
#if GEN_SYNTHETIC_BIOMETRICS
    if (n_positions) {
        out->fingers = calloc(n_positions, sizeof *out->fingers);
        if (!out->fingers) return iop_fail(err, IOP_ENOMEM, "out of memory");
        iop_fp_finger *fp = malloc(sizeof *fp);
        if (!fp) return iop_fail(err, IOP_ENOMEM, "out of memory");
        for (size_t i = 0; i < n_positions; i++) {
            /* enrolment: a capture below the minimum quality (Reg. 2019/817 Art 37) is
             * taken again, up to GEN_BIO_RETAKES times; a finger that never passes is
             * left out of the record, as a border guard would */
            bool ok = false;
            for (uint32_t t = 0; t < GEN_BIO_RETAKES && !ok; t++) {
                iop_fp_gen_finger(b->seed, bio_id, capture * GEN_BIO_RETAKES + t, (uint8_t)positions[i], NULL, fp);
                ok = iop_fp_quality_check(fp, NULL, NULL) == IOP_OK;
            }
            if (!ok) continue;
            rec_finger *f = &out->fingers[out->n_fingers];
            f->position = positions[i];
            f->tpl.format = "iso19794-2-2005";
            iop_code rc = iop_fp_write_iso_finger(fp, &f->tpl.data, &f->tpl.len, err);
            if (rc) { free(fp); return rc; }
            out->n_fingers++;
        }
        free(fp);
    }
    if (face) {
        out->face = calloc(1, sizeof *out->face);
        float *v = malloc(b->dim * sizeof *v);
        uint8_t *bytes = malloc(b->dim * 4);
        if (!out->face || !v || !bytes) { free(v); free(bytes); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
        sbms_face_gen_capture(b->face, bio_id, capture, v);
        sbms_face_to_f32(v, b->dim, bytes);
        free(v);
        out->face->format = "f32";
        out->face->data = bytes;
        out->face->len = b->dim * 4;
    }
    return IOP_OK;
#else
    (void)bio_id; (void)capture; (void)positions; (void)n_positions; (void)face; (void)err;
    return IOP_OK;
#endif
}

/* Appends the "biometrics" member (with its leading comma) of one capture to out. */
iop_code gen_bio_fragment(gen_bio *b, uint64_t bio_id, uint32_t capture, uint16_t finger_mask, bool face,
                          iop_buf *out, iop_err *err) {
    int pos[10];
    size_t n = 0;
    for (int i = 1; i <= 10; i++)
        if (finger_mask & (1u << i)) pos[n++] = i;
    if (!b || (!n && !face)) return IOP_OK;
    rec_person p;
    memset(&p, 0, sizeof p);
    iop_code rc = gen_bio_fill(b, bio_id, capture, pos, n, face, &p, err);
    int bad = 0;
    if (!rc) {
        bad |= iop_buf_puts(out, ",\"biometrics\":{");
        if (p.n_fingers) {
            bad |= iop_buf_puts(out, "\"fingerprints\":[");
            for (size_t i = 0; i < p.n_fingers && !bad; i++) {
                char *b64 = iop_base64_encode(p.fingers[i].tpl.data, p.fingers[i].tpl.len);
                if (!b64) { bad = 1; break; }
                bad |= iop_buf_printf(out, "%s{\"position\":%d,\"format\":\"%s\",\"data\":\"%s\"}", i ? "," : "",
                                      p.fingers[i].position, p.fingers[i].tpl.format, b64);
                free(b64);
            }
            bad |= iop_buf_puts(out, "]");
        }
        if (p.face) {
            char *b64 = iop_base64_encode(p.face->data, p.face->len);
            if (!b64) bad = 1;
            else bad |= iop_buf_printf(out, "%s\"face\":{\"format\":\"%s\",\"data\":\"%s\"}", p.n_fingers ? "," : "",
                                       p.face->format, b64);
            free(b64);
        }
        bad |= iop_buf_puts(out, "}");
        if (bad) rc = iop_fail(err, IOP_ENOMEM, "out of memory writing biometrics");
    }
    gen_bio_clear(&p);
    return rc;
}
