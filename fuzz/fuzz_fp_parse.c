/*
 * fuzz_fp_parse.c -- libFuzzer target for the fingerprint template parsers (ISO/IEC
 * 19794-2:2005, ANSI INCITS 378-2004/2009, ANSI/NIST-ITL Type-9): any input must either
 * be rejected with a message or give a template that the quality check, the ISO writer
 * (whose output must parse back), the matcher and the first-stage code accept.
 *
 * Build and run (seeds: the shared samples):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -std=c17 -Iinclude -Isrc \
 *     fuzz/fuzz_fp_parse.c src/sbms/fingerprint/fp_[fgm]*.c src/base/[bdeu]*.c -ljansson -lsodium -lm -lpthread \
 *     -o build/fuzz_fp_parse
 *   mkdir -p /tmp/fp-corpus && cp ../shared/data/formats/fmr.iso2005 ../shared/data/formats/type9.an2k /tmp/fp-corpus
 *   build/fuzz_fp_parse -max_total_time=300 -max_len=65536 /tmp/fp-corpus
 * Without libFuzzer, -DFUZZ_REPLAY builds a main() that runs the target on each file given.
 */
#include <stdio.h>
#include <stdlib.h>
#include "interop/sbms_fp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    iop_fp_template t;
    iop_err err;
    if (iop_fp_parse(data, size, IOP_FP_AUTO, &t, &err) != IOP_OK) {
        if (!err.msg[0]) abort(); /* every rejection says why */
        return 0;
    }
    (void)iop_fp_template_check(&t, NULL, &err);
    uint8_t *iso;
    size_t len;
    if (iop_fp_write_iso(&t, &iso, &len, &err) == IOP_OK) {
        iop_fp_template back;
        if (iop_fp_parse(iso, len, IOP_FP_ISO2005, &back, &err) != IOP_OK) abort();
        if (back.n_fingers != t.n_fingers) abort();
        iop_fp_template_free(&back);
        free(iso);
    }
    iop_fp_record_features rf;
    if (iop_fp_record_features_build(&t, &rf, &err) == IOP_OK) {
        double s = iop_fp_record_score(&rf, &rf, NULL, NULL);
        if (!(s >= 0 && s <= 1)) abort();
        iop_fp_record_features_free(&rf);
    }
    iop_fp_code c;
    iop_fp_code_make(&t.fingers[0], true, &c);
    iop_fp_template_free(&t);
    return 0;
}

#ifdef FUZZ_REPLAY
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *d;
        size_t n;
        if (iop_read_file(argv[i], &d, &n, NULL)) continue;
        LLVMFuzzerTestOneInput((const uint8_t *)d, n);
        free(d);
    }
    return 0;
}
#endif
