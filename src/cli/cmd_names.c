/* cmd_names.c -- `interop names`: compare two identity records, show how a record is
 * read, and evaluate the names engine on the shared FEBRL and Wikidata sets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "interop/names.h"
#include "interop/record.h"

#ifndef IOP_DEFAULT_SHARED_DATA
#define IOP_DEFAULT_SHARED_DATA "../shared/data"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: interop names compare A.json B.json [--data DIR] [--model FILE] [--json]\n"
            "       interop names show RECORD.json [--data DIR] [--model FILE]\n"
            "       interop names train --out FILE [--data DIR]\n"
            "       interop names eval febrl [DIR] [--threshold T] [--data DIR] [--model FILE]\n"
            "       interop names eval xscript [FILE.tsv ...] [--limit N] [--folds K | --rules | --model FILE]\n"
            "                                  [--fold F] [--misses FILE] [--data DIR]\n\n"
            "compare  reads one person record (interchange format) per file and prints the\n"
            "         verdict (same / similar / different), the score in [0,1] and the\n"
            "         evidence per field; --json prints the same as one JSON object.\n"
            "show     prints how a record is read: transliterated variants, phonetic keys.\n"
            "eval febrl    pairwise precision, recall and F1 on FEBRL dataset 3 (de-duplication)\n"
            "              and 4a<->4b (linkage); DIR defaults to <data>/febrl.\n"
            "train    learns the transliteration model (native characters -> Latin letters)\n"
            "         from <data>/names/wikidata_*_dev.tsv and google_ar2en_train.txt and\n"
            "         writes it to FILE; use it with --model FILE (or IOP_NAMES_MODEL=FILE).\n"
            "eval xscript  Latin -> native-script search (top-1, top-10) and false 'same'\n"
            "              verdicts on shuffled pairs, per script; default files: the\n"
            "              <data>/names/wikidata_{russian,arabic,hebrew,chinese}_dev.tsv.\n"
            "              Default: K-fold cross-validation of the learned model (K = 5: a\n"
            "              model trained on the other folds, plus google_ar2en_train.txt for\n"
            "              Arabic, searches each held-out fold); --rules: rule-based\n"
            "              readings only; --model FILE: that model as it is (not\n"
            "              cross-validated: figures on its own training pairs are optimistic).\n"
            "              --fold F searches only fold F (0 .. K-1; its model is still\n"
            "              trained on the other folds); --misses FILE writes one line per\n"
            "              pair not found in the top 10: Latin, native, where the native\n"
            "              record stood (not-candidate (N candidates) / model-rank R of N /\n"
            "              scored-below-ten), the first hit, its score, the pair's score.\n"
            "--model FILE  a model from 'names train' (default: $IOP_NAMES_MODEL if set).\n"
            "IOP_NAMES_JA=FILE  Japanese readings of kanji names (MeCab IPA dictionary\n"
            "              Noun.name.csv; default " NAMES_JA_DEFAULT_PATH "\n"
            "              when present, Debian package mecab-ipadic; empty: none).\n"
            "--data DIR    the shared data directory (default %s);\n"
            "              the nickname table is DIR/names/nicknames.csv.\n",
            IOP_DEFAULT_SHARED_DATA);
}

static int open_engine(const char *data, const char *model, names_engine **eng) {
    char path[4096];
    snprintf(path, sizeof path, "%s/names/nicknames.csv", data);
    iop_err err;
    if (names_engine_new(path, eng, &err)) {
        fprintf(stderr, "interop names: %s\n", err.msg);
        return 1;
    }
    if (model && *model) {
        names_tlm *m;
        if (names_tlm_load(model, &m, &err)) {
            fprintf(stderr, "interop names: %s\n", err.msg);
            names_engine_free(*eng);
            *eng = NULL;
            return 1;
        }
        names_engine_set_model(*eng, m);
    }
    /* Japanese readings of kanji names: $IOP_NAMES_JA (empty: none), else MeCab's IPA
     * dictionary where Debian's mecab-ipadic installs it, when it is there */
    const char *ja = getenv("IOP_NAMES_JA");
    bool given = ja != NULL;
    if (!ja) ja = NAMES_JA_DEFAULT_PATH;
    FILE *f = *ja ? fopen(ja, "r") : NULL;
    if (f) fclose(f);
    if (*ja && (f || given) && names_engine_load_ja(*eng, ja, &err)) {
        fprintf(stderr, "interop names: %s\n", err.msg);
        names_engine_free(*eng);
        *eng = NULL;
        return 1;
    }
    return 0;
}

static int do_train(int argc, char **argv) {
    const char *data = IOP_DEFAULT_SHARED_DATA, *outp = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--data") || !strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) return cli_usage_error("names", "%s needs a value", argv[i]);
            if (!strcmp(argv[i], "--data")) data = argv[++i]; else outp = argv[++i];
        } else return cli_usage_error("names", "train: unknown argument '%s'", argv[i]);
    }
    if (!outp) return cli_usage_error("names", "train needs --out FILE");
    static const char *scripts[] = {"russian", "arabic", "hebrew", "chinese"};
    char *bufs[5] = {0};
    names_tl_pair *ps[5] = {0};
    size_t ns[5] = {0}, total = 0;
    iop_err err;
    int rc = 0;
    iop_buf prov;
    iop_buf_init(&prov);
    iop_buf_puts(&prov, "trained by 'interop names train' from (file, pairs, licence):");
    for (int s = 0; s < 5 && !rc; s++) {
        char path[4096];
        if (s < 4) snprintf(path, sizeof path, "%s/names/wikidata_%s_dev.tsv", data, scripts[s]);
        else snprintf(path, sizeof path, "%s/names/google_ar2en_train.txt", data);
        if (names_tl_read_pairs(path, s < 4, &bufs[s], &ps[s], &ns[s], &err)) {
            fprintf(stderr, "interop names: %s\n", err.msg);
            rc = 1;
            break;
        }
        const char *base = strrchr(path, '/');
        iop_buf_printf(&prov, "\n  %s %zu %s", base ? base + 1 : path, ns[s],
                       s < 4 ? "CC0-1.0 (LICENSE.wikidata-pairs)" : "Apache-2.0 (LICENSE.google-transliteration)");
        total += ns[s];
    }
    names_tl_pair *all = rc ? NULL : malloc((total + 1) * sizeof *all);
    if (!rc && !all) { fprintf(stderr, "interop names: out of memory\n"); rc = 1; }
    size_t k = 0;
    for (int s = 0; s < 5 && !rc; s++)
        for (size_t i = 0; i < ns[s]; i++) all[k++] = ps[s][i];
    names_engine *eng = NULL;
    if (!rc) rc = open_engine(data, NULL, &eng);
    names_tlm *m = NULL;
    uint64_t t0 = iop_mono_ns();
    if (!rc && names_tlm_train(eng, all, k, &m, &err)) { fprintf(stderr, "interop names: %s\n", err.msg); rc = 1; }
    if (!rc && names_tlm_save(m, outp, prov.data, &err)) { fprintf(stderr, "interop names: %s\n", err.msg); rc = 1; }
    if (!rc)
        printf("model: %zu pairs, %zu native characters, %zu entries, %.1f s; written to %s\n", k,
               names_tlm_characters(m), names_tlm_entries(m), (double)(iop_mono_ns() - t0) / 1e9, outp);
    names_tlm_free(m);
    names_engine_free(eng);
    free(all);
    for (int s = 0; s < 5; s++) { free(ps[s]); free(bufs[s]); }
    iop_buf_free(&prov);
    return rc;
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

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env_model(void) { return getenv("IOP_NAMES_MODEL"); }

static int do_compare(int argc, char **argv) {
    const char *data = IOP_DEFAULT_SHARED_DATA, *files[2] = {0}, *model = env_model();
    int nf = 0;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--model")) {
            if (++i >= argc) return cli_usage_error("names", "--model needs a file");
            model = argv[i];
        } else if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) return cli_usage_error("names", "--data needs a directory");
            data = argv[i];
        } else if (argv[i][0] == '-') return cli_usage_error("names", "unknown option '%s'", argv[i]);
        else if (nf < 2) files[nf++] = argv[i];
        else return cli_usage_error("names", "compare takes two files");
    }
    if (nf != 2) return cli_usage_error("names", "compare needs two record files");
    names_engine *eng;
    if (open_engine(data, model, &eng)) return 1;
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
    const char *data = IOP_DEFAULT_SHARED_DATA, *file = NULL, *model = env_model();
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--model")) {
            if (++i >= argc) return cli_usage_error("names", "--model needs a file");
            model = argv[i];
        } else if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) return cli_usage_error("names", "--data needs a directory");
            data = argv[i];
        } else if (argv[i][0] == '-') return cli_usage_error("names", "unknown option '%s'", argv[i]);
        else if (!file) file = argv[i];
        else return cli_usage_error("names", "show takes one file");
    }
    if (!file) return cli_usage_error("names", "show needs a record file");
    names_engine *eng;
    if (open_engine(data, model, &eng)) return 1;
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
    const char *data = IOP_DEFAULT_SHARED_DATA, *model = env_model();
    const char *files[16];
    int nf = 0, folds = 5, only_fold = -1;
    const char *misses_path = NULL;
    bool rules = false, model_given = false;
    double threshold = 0;
    size_t limit = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--rules")) { rules = true; continue; }
        if (!strcmp(argv[i], "--data") || !strcmp(argv[i], "--threshold") || !strcmp(argv[i], "--limit") ||
            !strcmp(argv[i], "--model") || !strcmp(argv[i], "--folds") || !strcmp(argv[i], "--fold") ||
            !strcmp(argv[i], "--misses")) {
            if (i + 1 >= argc) return cli_usage_error("names", "%s needs a value", argv[i]);
            const char *v = argv[++i];
            if (!strcmp(argv[i - 1], "--data")) data = v;
            else if (!strcmp(argv[i - 1], "--model")) { model = v; model_given = true; }
            else if (!strcmp(argv[i - 1], "--misses")) misses_path = v;
            else if (!strcmp(argv[i - 1], "--fold")) {
                char *end;
                long f = strtol(v, &end, 10);
                if (*end || !*v || f < 0 || f > 19) return cli_usage_error("names", "--fold must be 0..19, not '%s'", v);
                only_fold = (int)f;
            }
            else if (!strcmp(argv[i - 1], "--folds")) {
                char *end;
                long k = strtol(v, &end, 10);
                if (*end || k < 2 || k > 20) return cli_usage_error("names", "--folds must be 2..20, not '%s'", v);
                folds = (int)k;
            } else {
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
    bool xs = !strcmp(argv[2], "xscript");
    if (xs && rules && model_given) return cli_usage_error("names", "--rules and --model exclude each other");
    if (only_fold >= folds) return cli_usage_error("names", "--fold %d needs --folds > %d", only_fold, only_fold);
    /* eval xscript: a model only with --model (the default is cross-validation) */
    if (xs && !model_given) model = NULL;
    names_engine *eng;
    if (open_engine(data, model, &eng)) return 1;
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
        FILE *mf = NULL;
        if (misses_path && !(mf = fopen(misses_path, "w"))) {
            fprintf(stderr, "interop names: %s: %s\n", misses_path, strerror(errno));
            names_engine_free(eng);
            return 1;
        }
        const char *mode = model ? "given model, not cross-validated" : rules ? "rule-based readings, no model" : NULL;
        if (mode) printf("cross-script search (%s)\n", mode);
        else printf("cross-script search (learned model, %d-fold cross-validation: each fold searched with a model "
                    "trained on the other folds%s)\n", folds, " + google_ar2en_train.txt for Arabic");
        for (int s = 0; s < nf; s++) {
            names_xscript_result r;
            const char *base = strrchr(files[s], '/');
            base = base ? base + 1 : files[s];
            char extra[4096];
            snprintf(extra, sizeof extra, "%s/names/google_ar2en_train.txt", data);
            FILE *ef = strstr(base, "arabic") ? fopen(extra, "r") : NULL;
            if (ef) fclose(ef);
            double c0 = cpu_now();
            uint64_t w0 = iop_mono_ns();
            names_xscript_opts xo = {.folds = mode ? 0 : folds, .only_fold = mode ? -1 : only_fold, .limit = limit,
                                     .misses = mf};
            iop_code e = names_eval_xscript_opt(eng, files[s], ef ? extra : NULL, &xo, &r, &err);
            if (e) {
                fprintf(stderr, "interop names: %s\n", err.msg);
                rc = 1;
                break;
            }
            printf("%s: %zu pairs, top-1 %.4f, top-10 %.4f (target >= 0.95, ratio %.4f); "
                   "false same %zu / %zu shuffled = %.5f (target < 0.001); %s; %.1f s wall, %.1f s CPU\n",
                   base, r.pairs, r.pairs ? (double)r.found_top1 / (double)r.pairs : 0, r.recall_top10,
                   r.recall_top10 / 0.95, r.false_same, r.shuffled, r.false_same_rate,
                   r.folds ? "cross-validated" : "not cross-validated", (double)(iop_mono_ns() - w0) / 1e9,
                   cpu_now() - c0);
            printf("  search of a Latin form among %zu native-script records, one core, CPU time: p50 %.3f ms, "
                   "p99 %.3f ms, mean %.3f ms (target p99 <= 5 ms, ratio %.2f)\n",
                   r.records, r.search_p50_ms, r.search_p99_ms, r.search_mean_ms, r.search_p99_ms / 5.0);
        }
        if (mf && fclose(mf)) {
            fprintf(stderr, "interop names: %s: %s\n", misses_path, strerror(errno));
            rc = 1;
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
    if (!strcmp(argv[1], "train")) return do_train(argc, argv);
    return cli_usage_error("names", "unknown subcommand '%s'", argv[1]);
}
