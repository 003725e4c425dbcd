/*
 * fuzz_names.c -- libFuzzer target for the names engine: the input is split into
 * fields (NUL/newline separated: given names, surname, alias, place of birth, document
 * number, date), two identities are prepared from the two halves and compared both
 * ways.  Properties checked: prepare never crashes and either succeeds or returns a
 * clear error; compare is total, symmetric, and its score is in [0,1]; an identity
 * compared with itself is never "different" when it has a name.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE -Iinclude -Isrc \
 *     fuzz/fuzz_names.c src/names/[a-z]*.c src/base/[a-z]*.c \
 *     $(pkg-config --cflags --libs icu-uc icu-i18n libutf8proc jansson libsodium) -lm -o fuzz_names
 *   ./fuzz_names -max_len=512
 * With IOP_FUZZ_NAMES_MODEL=FILE (a model from `interop names train`) the engine carries
 * the learned transliteration model, so its units, scores and romanisations are fuzzed
 * too (the verdict must stay symmetric and a cross-script pair never "same" by the model).
 * Without libFuzzer, -DFUZZ_MAIN builds a driver that runs the files given as arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/names.h"

static names_engine *eng;

static names_ident *make(const uint8_t *p, size_t n) {
    char *buf = malloc(n + 1);
    if (!buf) return NULL;
    memcpy(buf, p, n);
    buf[n] = 0;
    const char *field[6] = {"", "", "", "", "", ""};
    int nf = 0;
    char *s = buf;
    field[nf++] = s;
    for (size_t i = 0; i < n && nf < 6; i++)
        if (buf[i] == '\n') { buf[i] = 0; field[nf++] = buf + i + 1; }
    names_fields f = {0};
    const char *g = field[0], *su = field[1], *al = field[2];
    f.given_names = &g; f.n_given_names = 1;
    f.surnames = &su; f.n_surnames = 1;
    f.aliases = &al; f.n_aliases = 1;
    f.place_of_birth = field[3];
    rec_document d = {"passport", (char *)field[4], "FRA", {0, 0, 0}};
    f.documents = &d; f.n_documents = 1;
    if (iop_date_parse(field[5], &f.dob, NULL)) f.dob = (iop_date){0, 0, 0};
    names_ident *id = NULL;
    iop_err err;
    if (names_prepare_fields(eng, &f, &id, &err) != IOP_OK) {
        if (!err.msg[0]) abort(); /* an error must say what was wrong */
        id = NULL;
    }
    free(buf);
    return id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!eng) {
        if (names_engine_new(NULL, &eng, NULL)) abort();
        const char *mp = getenv("IOP_FUZZ_NAMES_MODEL");
        if (mp && *mp) {
            names_tlm *m;
            if (names_tlm_load(mp, &m, NULL)) abort();
            names_engine_set_model(eng, m);
        }
    }
    size_t half = size / 2;
    names_ident *a = make(data, half), *b = make(data + half, size - half);
    if (a && b) {
        names_result r1, r2;
        names_compare(eng, a, b, &r1);
        names_compare(eng, b, a, &r2);
        if (!(r1.score >= 0 && r1.score <= 1) || r1.verdict != r2.verdict) abort();
        iop_buf o;
        iop_buf_init(&o);
        if (names_result_json(&r1, &o)) abort();
        iop_buf_free(&o);
    }
    if (a) {
        names_result r;
        names_compare(eng, a, a, &r);
        if (r.ev[NAMES_F_NAME].agreement != NAMES_ABSENT && r.verdict == NAMES_DIFFERENT) abort();
    }
    names_ident_free(a);
    names_ident_free(b);
    return 0;
}

#ifdef FUZZ_MAIN
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
