/*
 * fuzz_json.c -- libFuzzer target for the strict JSON parser (include/interop/json.h)
 * and the record parser built on it.  The first input byte picks the parser flags; the
 * rest is the document.  Properties checked:
 *   - parsing never crashes, never reads past len, and either succeeds or fails with
 *     IOP_EINVAL and an error offset inside the input;
 *   - a parsed document written compactly parses again to the same compact text, and
 *     its canonical form is stable the same way (write . parse is the identity);
 *   - the DOM is consistent: sizes match the children reached through next links;
 *   - jansson accepts exactly what we accept (flags 0, no NUL byte in the input --
 *     jansson stops at one; integers beyond int64 aside, which jansson refuses and we
 *     read as reals), with the same canonical form;
 *   - rec_parse either fills a record or fails with a message, never both.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE -Iinclude -Isrc \
 *     fuzz/fuzz_json.c src/record/[a-z]*.c src/base/[a-z]*.c \
 *     $(pkg-config --cflags --libs jansson libsodium) -lm -o fuzz_json
 *   ./fuzz_json -max_len=4096
 * Without libFuzzer, -DFUZZ_MAIN builds a driver that runs the files given as arguments.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/json.h"
#include "interop/record.h"

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_json: property violated: %s\n", what);
        abort();
    }
}

static size_t count_nodes(const iop_json *v) {
    size_t n = 1;
    size_t kids = 0;
    for (const iop_json *c = iop_json_first(v); c; c = iop_json_next(c)) {
        kids++;
        check(v->type != IOP_JSON_OBJECT || c->key != NULL, "object member without key");
        check(v->type != IOP_JSON_ARRAY || c->key == NULL, "array element with key");
        n += count_nodes(c);
    }
    check(kids == iop_json_size(v), "size differs from the children reached");
    if (v->type == IOP_JSON_STRING) {
        check(v->v.s[v->len] == 0, "string not NUL-terminated at its length");
        bool ctrl = false;
        for (size_t i = 0; i < v->len; i++) ctrl |= (unsigned char)v->v.s[i] < 0x20;
        check(ctrl == (bool)v->has_ctrl, "has_ctrl says whether the string holds a control character");
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned flags = data[0] & 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    iop_json_parser *p = iop_json_parser_new(), *q = iop_json_parser_new();
    if (!p || !q) abort();
    const iop_json *root, *again;
    iop_err e;
    iop_code rc = iop_json_parse(p, text, len, flags, &root, &e);
    if (rc) {
        check(rc == IOP_EINVAL && iop_json_error_offset(p) <= len, "error code or offset");
        check(strstr(e.msg, "malformed JSON at line") != NULL, "error message");
    } else {
        count_nodes(root);
        iop_buf a, b;
        iop_buf_init(&a);
        iop_buf_init(&b);
        check(iop_json_write(&a, root) == 0, "write");
        check(iop_json_parse(q, a.data, a.len, flags, &again, &e) == IOP_OK, "written text parses");
        check(iop_json_write(&b, again) == 0 && a.len == b.len && !memcmp(a.data, b.data, a.len), "write is stable");
        iop_buf_reset(&a);
        iop_buf_reset(&b);
        check(iop_json_write_canonical(&a, root) == 0 && iop_json_write_canonical(&b, again) == 0, "canonical");
        check(a.len == b.len && !memcmp(a.data, b.data, a.len), "canonical form is stable");
        iop_buf_free(&a);
        iop_buf_free(&b);
    }
    if (flags == 0 && !memchr(text, 0, len)) { /* jansson stops reading at a NUL byte */
        json_error_t je;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!j && strstr(je.text, "too big")) {
            /* jansson refuses integers beyond int64 */
        } else if (!j) {
            check(rc != IOP_OK, "accepted what jansson rejects");
        } else {
            check(rc == IOP_OK, "rejected what jansson accepts");
            bool ctl = false; /* jansson escapes \b and \f differently; compare only without them */
            for (size_t i = 0; i < len; i++) ctl |= text[i] == '\\' && i + 1 < len && (text[i + 1] == 'b' || text[i + 1] == 'f' || text[i + 1] == 'u');
            if (!ctl) {
                char *want = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
                iop_buf a;
                iop_buf_init(&a);
                check(iop_json_write_canonical(&a, root) == 0, "canonical");
                check(want && !strcmp(want, a.data), "canonical form equals jansson's");
                free(want);
                iop_buf_free(&a);
            }
            json_decref(j);
        }
    }
    rec_person r;
    memset(&e, 0, sizeof e);
    if (rec_parse(text, len, &r, &e) == IOP_OK) {
        check(r.id && r.kind && r.ext, "a parsed record has id, kind and ext");
        rec_person_clear(&r);
    } else {
        check(e.msg[0] != 0, "a refused record says why");
    }
    iop_json_parser_free(p);
    iop_json_parser_free(q);
    return 0;
}

#ifdef FUZZ_MAIN
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *d;
        size_t n;
        iop_err e;
        if (iop_read_file(argv[i], &d, &n, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        LLVMFuzzerTestOneInput((const uint8_t *)d, n);
        free(d);
    }
    return 0;
}
#endif
