/* cmd_names.c -- `interop names`: compare two identity records, show how a record is
 * read, and evaluate the names engine on the shared FEBRL and Wikidata sets. */
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
            "usage: interop names compare A.json B.json [--data DIR] [--json]\n"
            "       interop names show RECORD.json [--data DIR]\n"
            "       interop names eval febrl [DIR] [--threshold T] [--data DIR]\n"
            "       interop names eval xscript [FILE.tsv ...] [--limit N] [--data DIR]\n\n"
            "compare  reads one person record (interchange format) per file and prints the\n"
            "         verdict (same / similar / different), the score in [0,1] and the\n"
            "         evidence per field; --json prints the same as one JSON object.\n"
            "show     prints how a record is read: transliterated variants, phonetic keys.\n"
            "eval febrl    pairwise precision, recall and F1 on FEBRL dataset 3 (de-duplication)\n"
            "              and 4a<->4b (linkage); DIR defaults to <data>/febrl.\n"
            "eval xscript  Latin -> native-script search (top-10 recall) and false 'same'\n"
            "              verdicts on shuffled pairs, per script; default files: the\n"
            "              <data>/names/wikidata_{russian,arabic,hebrew,chinese}_dev.tsv.\n"
            "--data DIR    the shared data directory (default %s);\n"
            "              the nickname table is DIR/names/nicknames.csv.\n",
            IOP_DEFAULT_SHARED_DATA);
}

static int open_engine(const char *data, names_engine **eng) {
    char path[4096];
    snprintf(path, sizeof path, "%s/names/nicknames.csv", data);
    iop_err err;
    if (names_engine_new(path, eng, &err)) {
        fprintf(stderr, "interop names: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int load_ident(const names_engine *eng, const char *file, names_ident **out) {
    char *text;
    size_t len;
    iop_err err;
    if (iop_read_file(file, &text, &len, &err)) {
        fprintf(stderr, "interop names: %s\n", err.msg);
        return 1;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = 0;
    rec_person p;
    if (rec_parse(text, len, &p, &err)) {
        fprintf(stderr, "interop names: %s: %s\n", file, err.msg);
        free(text);
        return 1;
    }
    free(text);
    iop_code rc = names_prepare(eng, &p, out, &err);
    rec_person_clear(&p);
    if (rc) {
        fprintf(stderr, "interop names: %s: %s\n", file, err.msg);
        return 1;
    }
    return 0;
}

static int do_compare(int argc, char **argv) {
    const char *data = IOP_DEFAULT_SHARED_DATA, *files[2] = {0};
    int nf = 0;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) return cli_usage_error("names", "--data needs a directory");
            data = argv[i];
        } else if (argv[i][0] == '-') return cli_usage_error("names", "unknown option '%s'", argv[i]);
        else if (nf < 2) files[nf++] = argv[i];
        else return cli_usage_error("names", "compare takes two files");
    }
    if (nf != 2) return cli_usage_error("names", "compare needs two record files");
    names_engine *eng;
    if (open_engine(data, &eng)) return 1;
    names_ident *a = NULL, *b = NULL;
    int rc = load_ident(eng, files[0], &a);
    if (!rc) rc = load_ident(eng, files[1], &b);
    if (!rc) {
        names_result r;
        names_compare(eng, a, b, &r);
        if (json) {
            iop_buf o;
            iop_buf_init(&o);
            names_result_json(&r, &o);
            printf("%s\n", o.data);
            iop_buf_free(&o);
        } else {
            printf("verdict: %s\nscore: %.4f\n", names_verdict_name(r.verdict), r.score);
            for (int f = 0; f < NAMES_F_COUNT; f++)
                printf("  %-18s %-9s %+6.2f  %s\n", names_field_name((names_field)f),
                       names_agreement_name(r.ev[f].agreement), r.ev[f].weight, r.ev[f].reason);
        }
    }
    names_ident_free(a);
    names_ident_free(b);
    names_engine_free(eng);
    return rc;
}

static int do_show(int argc, char **argv) {
    const char *data = IOP_DEFAULT_SHARED_DATA, *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) return cli_usage_error("names", "--data needs a directory");
            data = argv[i];
        } else if (argv[i][0] == '-') return cli_usage_error("names", "unknown option '%s'", argv[i]);
        else if (!file) file = argv[i];
        else return cli_usage_error("names", "show takes one file");
    }
    if (!file) return cli_usage_error("names", "show needs a record file");
    names_engine *eng;
    if (open_engine(data, &eng)) return 1;
    names_ident *a = NULL;
    int rc = load_ident(eng, file, &a);
    if (!rc) {
        iop_buf o;
        iop_buf_init(&o);
        names_ident_json(eng, a, &o);
        printf("%s\n", o.data);
        iop_buf_free(&o);
    }
    names_ident_free(a);
    names_engine_free(eng);
    return rc;
}

static int do_eval(int argc, char **argv) {
    if (argc < 3) return cli_usage_error("names", "eval needs 'febrl' or 'xscript'");
    if (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) { usage(stdout); return 0; }
    const char *data = IOP_DEFAULT_SHARED_DATA;
    const char *files[16];
    int nf = 0;
    double threshold = 0;
    size_t limit = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--data") || !strcmp(argv[i], "--threshold") || !strcmp(argv[i], "--limit")) {
            if (i + 1 >= argc) return cli_usage_error("names", "%s needs a value", argv[i]);
            const char *v = argv[++i];
            if (!strcmp(argv[i - 1], "--data")) data = v;
            else {
                char *end;
                double d = strtod(v, &end);
                if (*end || d < 0 || (!strcmp(argv[i - 1], "--threshold") && d > 1))
                    return cli_usage_error("names", "bad value '%s' for %s", v, argv[i - 1]);
                if (!strcmp(argv[i - 1], "--threshold")) threshold = d; else limit = (size_t)d;
            }
        } else if (argv[i][0] == '-') return cli_usage_error("names", "unknown option '%s'", argv[i]);
        else if (nf < 16) files[nf++] = argv[i];
        else return cli_usage_error("names", "too many files");
    }
    names_engine *eng;
    if (open_engine(data, &eng)) return 1;
    int rc = 0;
    iop_err err;
    if (!strcmp(argv[2], "febrl")) {
        char dir[4096];
        if (nf > 1) { names_engine_free(eng); return cli_usage_error("names", "eval febrl takes one directory"); }
        if (nf) snprintf(dir, sizeof dir, "%s", files[0]);
        else snprintf(dir, sizeof dir, "%s/febrl", data);
        static const struct { const char *which, *label; double target; } sets[] = {
            {"3", "dataset 3 (de-duplication)", 0.99}, {"4", "dataset 4a<->4b (linkage)", 0.995}};
        for (int s = 0; s < 2; s++) {
            names_eval_result r;
            if (names_eval_febrl(eng, dir, sets[s].which, threshold, &r, &err)) {
                fprintf(stderr, "interop names: %s\n", err.msg);
                rc = 1;
                break;
            }
            printf("FEBRL %s: %zu records, %zu true pairs, %zu predicted, %zu correct\n"
                   "  precision %.4f  recall %.4f  F1 %.4f  (target F1 >= %.3f, ratio %.3f)  %.2f s\n",
                   sets[s].label, r.records, r.true_pairs, r.predicted_pairs, r.correct_pairs, r.precision, r.recall,
                   r.f1, sets[s].target, r.f1 / sets[s].target, r.seconds);
            bool any = false;
            for (int bin = 0; bin < 10; bin++) any |= r.calib_pairs[bin] > 0;
            if (any) {
                printf("  score reliability over all %s candidate pairs (score bin: pairs, mean score, true-match rate):\n",
                       sets[s].which);
                for (int bin = 0; bin < 10; bin++)
                    if (r.calib_pairs[bin])
                        printf("    [%.1f,%.1f): %6zu  %.3f  %.3f\n", bin / 10.0, (bin + 1) / 10.0, r.calib_pairs[bin],
                               r.calib_mean_score[bin], r.calib_true_rate[bin]);
            }
        }
    } else if (!strcmp(argv[2], "xscript")) {
        static const char *scripts[] = {"russian", "arabic", "hebrew", "chinese"};
        char paths[4][4096];
        if (!nf) {
            for (int s = 0; s < 4; s++) {
                snprintf(paths[s], sizeof paths[s], "%s/names/wikidata_%s_dev.tsv", data, scripts[s]);
                files[s] = paths[s];
            }
            nf = 4;
        }
        for (int s = 0; s < nf; s++) {
            names_xscript_result r;
            if (names_eval_xscript(eng, files[s], limit, &r, &err)) {
                fprintf(stderr, "interop names: %s\n", err.msg);
                rc = 1;
                break;
            }
            const char *base = strrchr(files[s], '/');
            printf("%s: %zu pairs, top-10 recall %.4f (target >= 0.95, ratio %.3f), top-1 %.4f; "
                   "false same %zu / %zu shuffled = %.5f (target < 0.001)\n",
                   base ? base + 1 : files[s], r.pairs, r.recall_top10, r.recall_top10 / 0.95,
                   r.pairs ? (double)r.found_top1 / (double)r.pairs : 0, r.false_same, r.shuffled, r.false_same_rate);
        }
    } else {
        rc = cli_usage_error("names", "unknown evaluation '%s' (febrl or xscript)", argv[2]);
    }
    names_engine_free(eng);
    return rc;
}

int cmd_names(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "compare")) return do_compare(argc, argv);
    if (!strcmp(argv[1], "show")) return do_show(argc, argv);
    if (!strcmp(argv[1], "eval")) return do_eval(argc, argv);
    return cli_usage_error("names", "unknown subcommand '%s'", argv[1]);
}
