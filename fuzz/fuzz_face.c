/*
 * fuzz_face.c -- libFuzzer harness for the inputs of the face matcher that come from
 * outside: the "f32" template bytes (sbms_face_parse, then enrolment and search in a
 * small gallery) and a stored calibration (sbms_calib_from_json).
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     fuzz/fuzz_face.c $(ls src/sbms/face/face_[gkt]*.c) src/sbms/service/fusion.c \
 *     $(ls src/base/[a-z]*.c) -ljansson -lsodium -lm -lpthread -o fuzz_face
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "interop/sbms_face.h"
#include "interop/sbms_fusion.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) {
        /* a calibration in JSON */
        char *s = malloc(size);
        if (!s) return 0;
        memcpy(s, data + 1, size - 1);
        s[size - 1] = 0;
        sbms_calib c;
        if (sbms_calib_from_json(s, &c, NULL) == IOP_OK) (void)sbms_calib_llr(&c, 0.5);
        free(s);
        return 0;
    }
    /* a template of the dimension its length implies (rejects anything else) */
    uint32_t dim = (uint32_t)((size - 1) / 4);
    float *v = malloc(sizeof(float) * (dim ? dim : 1));
    if (!v) return 0;
    iop_err e;
    if (sbms_face_parse("f32", data + 1, size - 1, dim, v, &e) == IOP_OK) {
        sbms_face_opts o = {.dim = dim, .threads = 1};
        sbms_face_gallery *g;
        if (sbms_face_gallery_new(&o, &g, NULL) == IOP_OK) {
            sbms_face_gallery_add(g, (sbms_face_ref){0, 1}, v, NULL);
            sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = 1, .min_score = -1};
            sbms_face_hit h[1];
            size_t n;
            if (sbms_face_gallery_search(g, v, &q, h, &n, NULL) == IOP_OK && n == 1 && !(h[0].score > 0.98f))
                abort(); /* a template must match itself */
            sbms_face_gallery_remove(g, (sbms_face_ref){0, 1}, NULL);
            sbms_face_gallery_free(g);
        }
    }
    free(v);
    return 0;
}
