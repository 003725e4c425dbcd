/* cmd_resolve.c -- `interop resolve`: cluster person records (JSON Lines, interchange
 * format) into persons with the names engine; prints record_id<TAB>cluster_id, the
 * cluster being named by the id of its first record in the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "interop/names.h"
#include "interop/record.h"

#ifndef IOP_DEFAULT_SHARED_DATA
#define IOP_DEFAULT_SHARED_DATA "../shared/data"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: interop resolve FILE.jsonl [--threshold T] [--data DIR] [--model FILE]\n\n"
            "Reads person records (one JSON object per line, interchange format), links every\n"
            "pair whose score reaches T (default %.2f, in [0,1]) and prints, for every record,\n"
            "record_id<TAB>cluster_id where cluster_id is the id of the first record of its\n"
            "cluster.  --data DIR: the shared data directory holding names/nicknames.csv\n"
            "(default %s).  --model FILE: a learned transliteration model from\n"
            "'interop names train' (default: $IOP_NAMES_MODEL if set) for records in\n"
            "non-Latin scripts.\n",
            NAMES_SIMILAR_SCORE, IOP_DEFAULT_SHARED_DATA);
}

int cmd_resolve(int argc, char **argv) {
    const char *file = NULL, *data = IOP_DEFAULT_SHARED_DATA, *model = getenv("IOP_NAMES_MODEL");
    double threshold = NAMES_SIMILAR_SCORE;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--threshold")) {
            if (++i >= argc) return cli_usage_error("resolve", "--threshold needs a value");
            char *end;
            threshold = strtod(argv[i], &end);
            if (*end || !(threshold > 0 && threshold <= 1))
                return cli_usage_error("resolve", "--threshold must be a number in (0,1], not '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) return cli_usage_error("resolve", "--data needs a directory");
            data = argv[i];
        } else if (!strcmp(argv[i], "--model")) {
            if (++i >= argc) return cli_usage_error("resolve", "--model needs a file");
            model = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("resolve", "unknown option '%s'", argv[i]);
        else if (!file) file = argv[i];
        else return cli_usage_error("resolve", "one input file only");
    }
    if (!file) return cli_usage_error("resolve", "missing FILE.jsonl");
    iop_err err;
    char path[4096];
    snprintf(path, sizeof path, "%s/names/nicknames.csv", data);
    names_engine *eng;
    if (names_engine_new(path, &eng, &err)) { fprintf(stderr, "interop resolve: %s\n", err.msg); return 1; }
    if (model && *model) {
        names_tlm *m;
        if (names_tlm_load(model, &m, &err)) {
            fprintf(stderr, "interop resolve: %s\n", err.msg);
            names_engine_free(eng);
            return 1;
        }
        names_engine_set_model(eng, m);
    }
    char *text;
    size_t len;
    if (iop_read_file(file, &text, &len, &err)) {
        fprintf(stderr, "interop resolve: %s\n", err.msg);
        names_engine_free(eng);
        return 1;
    }
    size_t n = 0, cap = 0, lineno = 0;
    names_ident **ids = NULL;
    char **rid = NULL;
    int rc = 0;
    char *p = text, *end = text + len;
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        char *line = p;
        p = nl ? nl + 1 : end;
        lineno++;
        while (le > line && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t')) le--;
        if (le == line) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            names_ident **ni = realloc(ids, cap * sizeof *ni);
            char **nr = ni ? realloc(rid, cap * sizeof *nr) : NULL;
            if (ni) ids = ni;
            if (!ni || !nr) { fprintf(stderr, "interop resolve: out of memory\n"); rc = 1; break; }
            rid = nr;
        }
        rec_person rec;
        if (rec_parse(line, (size_t)(le - line), &rec, &err)) {
            fprintf(stderr, "interop resolve: %s:%zu: %s\n", file, lineno, err.msg);
            rc = 1;
            break;
        }
        iop_code c = names_prepare(eng, &rec, &ids[n], &err);
        if (c) {
            fprintf(stderr, "interop resolve: %s:%zu: %s\n", file, lineno, err.msg);
            rec_person_clear(&rec);
            rc = 1;
            break;
        }
        rid[n] = rec.id;
        rec.id = NULL;
        rec_person_clear(&rec);
        n++;
    }
    free(text);
    size_t *cl = NULL;
    if (!rc) {
        cl = malloc((n ? n : 1) * sizeof *cl);
        if (!cl) { fprintf(stderr, "interop resolve: out of memory\n"); rc = 1; }
        else if (names_resolve(eng, ids, n, threshold, cl, &err)) {
            fprintf(stderr, "interop resolve: %s\n", err.msg);
            rc = 1;
        }
    }
    if (!rc)
        for (size_t i = 0; i < n; i++) printf("%s\t%s\n", rid[i], rid[cl[i]]);
    for (size_t i = 0; i < n; i++) { names_ident_free(ids[i]); free(rid[i]); }
    free(ids);
    free(rid);
    free(cl);
    names_engine_free(eng);
    return rc;
}
