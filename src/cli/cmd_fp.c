/*
 * cmd_fp.c -- `interop fp`: the fingerprint part of the shared biometric matching
 * service from the command line (Reg. (EU) 2019/817 Arts 12-16).
 *   fp compare A B        one score for two templates (any supported format)
 *   fp scores             lines "pathA<TAB>pathB" on stdin -> "pathA<TAB>pathB<TAB>score"
 *   fp eval DIR           FVC protocol per database: EER, FMR100, FMR1000, ZeroFMR, speed
 *   fp info FILE          the parsed template (format, fingers, minutiae) and quality check
 *   fp convert IN OUT     any supported format -> ISO/IEC 19794-2:2005
 *   fp gen ...            synthetic minutiae templates (ISO/IEC 19794-2:2005 files)
 *   fp identify ...       1:N search of probes in a gallery built from a directory
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli/cli.h"
#include "interop/sbms_fp.h"

static const char *FP_HELP =
    "usage: interop fp <command> [options]\n"
    "\n"
    "Fingerprint templates and matching (shared biometric matching service).\n"
    "Supported formats (detected automatically): ISO/IEC 19794-2:2005, ANSI INCITS 378-2004\n"
    "and -2009, ANSI/NIST-ITL 1 files with Type-9 minutiae.\n"
    "\n"
    "commands:\n"
    "  compare A B          print the similarity score (0..1) of two templates\n"
    "  scores               read \"pathA<TAB>pathB\" lines on stdin, print \"pathA<TAB>pathB<TAB>score\"\n"
    "  eval DIR             FVC protocol on DIR/<db>/<finger>_<impression>.<ext>: per database EER,\n"
    "                       FMR100, FMR1000, ZeroFMR and comparisons per second\n"
    "  info FILE            show the parsed template and the enrolment quality check\n"
    "  convert IN OUT       write IN as an ISO/IEC 19794-2:2005 record\n"
    "  gen DIR              write synthetic templates DIR/<finger>_<impression>.iso\n"
    "  stats FILE|DIR...    minutiae count, types and nearest-neighbour distance of templates\n"
    "  identify DIR PROBE...  1:N search of probe templates among the templates of DIR\n"
    "\n"
    "Run `interop fp <command> --help` for the options of a command.\n";

static bool want_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

static iop_code load_template(const char *path, iop_fp_template *t, iop_err *err) {
    char *data;
    size_t len;
    iop_code rc = iop_read_file(path, &data, &len, err);
    if (rc) return rc;
    rc = iop_fp_parse((const uint8_t *)data, len, IOP_FP_AUTO, t, err);
    free(data);
    if (rc) iop_err_prefix(err, "%s", path);
    return rc;
}

static iop_code load_features(const char *path, iop_fp_record_features *r, iop_err *err) {
    iop_fp_template t;
    iop_code rc = load_template(path, &t, err);
    if (rc) return rc;
    rc = iop_fp_record_features_build(&t, r, err);
    iop_fp_template_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- compare / scores */

static int fp_compare(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp compare A B\n\n"
               "Prints the similarity score in [0, 1] of two fingerprint templates (any supported\n"
               "format).  Multi-finger records are compared finger by finger (by position) and\n"
               "fused into one record-level score.\n");
        return 0;
    }
    if (argc != 3) return cli_usage_error("fp compare", "expected two template files");
    iop_err err;
    iop_fp_record_features a, b;
    if (load_features(argv[1], &a, &err)) { fprintf(stderr, "interop fp compare: %s\n", err.msg); return 1; }
    if (load_features(argv[2], &b, &err)) {
        iop_fp_record_features_free(&a);
        fprintf(stderr, "interop fp compare: %s\n", err.msg);
        return 1;
    }
    printf("%.6f\n", iop_fp_record_score(&a, &b, NULL, NULL));
    iop_fp_record_features_free(&a);
    iop_fp_record_features_free(&b);
    return 0;
}

static int fp_scores(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp scores < pairs.tsv\n\n"
               "Reads lines \"pathA<TAB>pathB\" on stdin and prints \"pathA<TAB>pathB<TAB>score\" for each.\n"
               "A line whose templates cannot be read is reported on stderr (with its line number)\n"
               "and the exit status is 1.\n");
        return 0;
    }
    if (argc != 1) return cli_usage_error("fp scores", "no arguments expected (pairs are read on stdin)");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        char *tab = strchr(line, '\t');
        if (!tab || strchr(tab + 1, '\t')) {
            fprintf(stderr, "interop fp scores: stdin line %ld: expected \"pathA<TAB>pathB\"\n", lineno);
            status = 1;
            continue;
        }
        *tab = 0;
        iop_err err;
        iop_fp_record_features a, b;
        if (load_features(line, &a, &err)) {
            fprintf(stderr, "interop fp scores: stdin line %ld: %s\n", lineno, err.msg);
            status = 1;
            continue;
        }
        if (load_features(tab + 1, &b, &err)) {
            fprintf(stderr, "interop fp scores: stdin line %ld: %s\n", lineno, err.msg);
            iop_fp_record_features_free(&a);
            status = 1;
            continue;
        }
        printf("%s\t%s\t%.6f\n", line, tab + 1, iop_fp_record_score(&a, &b, NULL, NULL));
        iop_fp_record_features_free(&a);
        iop_fp_record_features_free(&b);
    }
    free(line);
    return status;
}

/* ---------------------------------------------------------------- eval */

typedef struct ev_item {
    char *path;
    long finger, impression;
    iop_fp_record_features f;
} ev_item;

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_item(const void *a, const void *b) {
    const ev_item *p = a, *q = b;
    if (p->finger != q->finger) return p->finger < q->finger ? -1 : 1;
    return (p->impression > q->impression) - (p->impression < q->impression);
}

typedef struct ev_result { double eer, fmr100, fmr1000, zerofmr; } ev_result;

/* FVC error rates from the genuine and impostor scores (both sorted ascending). */
static ev_result fvc_rates(const double *gen, size_t ng, const double *imp, size_t ni) {
    /* thresholds: every distinct score, plus one above all */
    size_t nt = ng + ni + 1;
    double *th = malloc(nt * sizeof *th);
    ev_result r = {1, 1, 1, 1};
    if (!th) return r;
    memcpy(th, gen, ng * sizeof *th);
    memcpy(th + ng, imp, ni * sizeof *th);
    th[nt - 1] = INFINITY;
    qsort(th, nt, sizeof *th, cmp_dbl);
    size_t gi = 0, ii = 0;
    double t1_fnmr = 0, t1_fmr = 1, t2_fnmr = 1, t2_fmr = 0;
    bool have_t2 = false;
    for (size_t k = 0; k < nt; k++) {
        if (k && th[k] == th[k - 1]) continue;
        double t = th[k];
        while (gi < ng && gen[gi] < t) gi++;
        while (ii < ni && imp[ii] < t) ii++;
        double fnmr = (double)gi / ng, fmr = (double)(ni - ii) / ni;
        if (fnmr <= fmr) { t1_fnmr = fnmr; t1_fmr = fmr; }
        if (fnmr >= fmr && !have_t2) { t2_fnmr = fnmr; t2_fmr = fmr; have_t2 = true; }
        if (fmr <= 0.01 && fnmr < r.fmr100) r.fmr100 = fnmr;
        if (fmr <= 0.001 && fnmr < r.fmr1000) r.fmr1000 = fnmr;
        if (fmr == 0 && fnmr < r.zerofmr) r.zerofmr = fnmr;
    }
    if (t1_fnmr + t1_fmr <= t2_fnmr + t2_fmr) r.eer = (t1_fnmr + t1_fmr) / 2;
    else r.eer = (t2_fnmr + t2_fmr) / 2;
    free(th);
    return r;
}

static double bozorth3_anchor(const char *db) {
    /* measured on the FVC2002 B sets of the shared data (all cross-finger impostors) */
    if (!strcmp(db, "DB1_B")) return 10.1;
    if (!strcmp(db, "DB2_B")) return 9.0;
    if (!strcmp(db, "DB3_B")) return 13.9;
    if (!strcmp(db, "DB4_B")) return 5.5;
    return -1;
}

/* Evaluates one database directory; returns 0, 1 on error; *eer set. */
static int eval_db(const char *dir, const char *name, bool verbose, double *eer_out) {
    DIR *dh = opendir(dir);
    if (!dh) { fprintf(stderr, "interop fp eval: %s: %s\n", dir, strerror(errno)); return 1; }
    ev_item *items = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int status = 0;
    struct timespec f0, f1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &f0);
    while ((de = readdir(dh))) {
        long fi, im;
        char tail;
        if (de->d_name[0] == '.') continue;
        if (sscanf(de->d_name, "%ld_%ld%c", &fi, &im, &tail) != 3 || tail != '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 128;
            ev_item *ni = realloc(items, cap * sizeof *ni);
            if (!ni) { status = 1; break; }
            items = ni;
        }
        size_t pl = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(pl);
        if (!path) { status = 1; break; }
        snprintf(path, pl, "%s/%s", dir, de->d_name);
        iop_err err;
        if (load_features(path, &items[n].f, &err)) {
            fprintf(stderr, "interop fp eval: %s\n", err.msg);
            free(path);
            status = 1;
            continue;
        }
        items[n].path = path;
        items[n].finger = fi;
        items[n].impression = im;
        n++;
    }
    closedir(dh);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &f1);
    uint64_t t_feat = (uint64_t)(f1.tv_sec - f0.tv_sec) * 1000000000ull + (uint64_t)(f1.tv_nsec - f0.tv_nsec);
    if (status || n < 2) {
        if (!status) fprintf(stderr, "interop fp eval: %s: fewer than two <finger>_<impression> templates\n", dir);
        for (size_t i = 0; i < n; i++) { free(items[i].path); iop_fp_record_features_free(&items[i].f); }
        free(items);
        return 1;
    }
    qsort(items, n, sizeof *items, cmp_item);
    size_t ng = 0, ni = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (items[i].finger == items[j].finger) ng++;
            else ni++;
        }
    double *gen = malloc((ng ? ng : 1) * sizeof *gen), *imp = malloc((ni ? ni : 1) * sizeof *imp);
    if (!gen || !imp) { free(gen); free(imp); status = 1; goto out; }
    size_t g = 0, k = 0;
    /* CPU time of this (single) thread: the rate stays meaningful on a busy machine */
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double s = iop_fp_record_score(&items[i].f, &items[j].f, NULL, NULL);
            if (items[i].finger == items[j].finger) gen[g++] = s;
            else imp[k++] = s;
            if (verbose)
                printf("%s\t%s\t%.6f\t%s\n", items[i].path, items[j].path, s,
                       items[i].finger == items[j].finger ? "genuine" : "impostor");
        }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double secs = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    if (!ng || !ni) {
        fprintf(stderr, "interop fp eval: %s: needs several impressions of several fingers\n", dir);
        free(gen); free(imp); status = 1; goto out;
    }
    qsort(gen, ng, sizeof *gen, cmp_dbl);
    qsort(imp, ni, sizeof *imp, cmp_dbl);
    ev_result r = fvc_rates(gen, ng, imp, ni);
    double gm = 0, gs = 0, im = 0, is = 0;
    for (size_t q = 0; q < ng; q++) gm += gen[q];
    for (size_t q = 0; q < ni; q++) im += imp[q];
    gm /= ng; im /= ni;
    for (size_t q = 0; q < ng; q++) gs += (gen[q] - gm) * (gen[q] - gm);
    for (size_t q = 0; q < ni; q++) is += (imp[q] - im) * (imp[q] - im);
    gs = sqrt(gs / ng); is = sqrt(is / ni);
    double anchor = bozorth3_anchor(name);
    printf("%-6s EER %6.2f %%  FMR100 %6.2f %%  FMR1000 %6.2f %%  ZeroFMR %6.2f %%  "
           "genuine %zu impostor %zu  %.0f comparisons/s per core (features %.2f ms/template)",
           name, r.eer * 100, r.fmr100 * 100, r.fmr1000 * 100, r.zerofmr * 100, ng, ni,
           (double)(ng + ni) / (secs > 0 ? secs : 1e-9), (double)t_feat / 1e6 / (double)n);
    if (anchor > 0) printf("  [bozorth3 EER %.1f %%, ratio %.2f]", anchor, r.eer * 100 / anchor);
    printf("\n       scores: genuine mean %.4f sd %.4f median %.4f p10 %.4f | impostor mean %.4f sd %.4f "
           "median %.4f p99 %.4f max %.4f\n",
           gm, gs, gen[ng / 2], gen[ng / 10], im, is, imp[ni / 2], imp[(size_t)(ni * 0.99)], imp[ni - 1]);
    *eer_out = r.eer;
    free(gen);
    free(imp);
out:
    for (size_t i = 0; i < n; i++) { free(items[i].path); iop_fp_record_features_free(&items[i].f); }
    free(items);
    return status;
}

static int fp_eval(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp eval [--scores] DIR\n\n"
               "FVC protocol.  DIR holds one sub-directory per database (e.g. DB1_B ... DB4_B) with\n"
               "templates named <finger>_<impression>.<ext>, or is itself such a database.\n"
               "Genuine pairs: all pairs of impressions of a finger; impostor pairs: all pairs of\n"
               "impressions of different fingers.  Prints per database EER, FMR100, FMR1000,\n"
               "ZeroFMR (FNMR at the given FMR) and comparisons per second on one core, and the mean\n"
               "EER.  --scores also prints every pair with its score.\n");
        return 0;
    }
    bool verbose = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--scores")) verbose = true;
        else if (argv[i][0] == '-') return cli_usage_error("fp eval", "unknown option %s", argv[i]);
        else if (!dir) dir = argv[i];
        else return cli_usage_error("fp eval", "one directory expected");
    }
    if (!dir) return cli_usage_error("fp eval", "expected a directory");
    DIR *dh = opendir(dir);
    if (!dh) { fprintf(stderr, "interop fp eval: %s: %s\n", dir, strerror(errno)); return 1; }
    char **subs = NULL;
    size_t ns = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.') continue;
        size_t pl = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(pl);
        if (!p) break;
        snprintf(p, pl, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) || !S_ISDIR(st.st_mode)) { free(p); continue; }
        free(p);
        if (ns == cap) {
            cap = cap ? cap * 2 : 8;
            char **nsb = realloc(subs, cap * sizeof *nsb);
            if (!nsb) break;
            subs = nsb;
        }
        subs[ns++] = iop_strdup(de->d_name);
    }
    closedir(dh);
    int status = 0;
    if (ns == 0) {
        const char *base = strrchr(dir, '/');
        double eer;
        status = eval_db(dir, base && base[1] ? base + 1 : dir, verbose, &eer);
    } else {
        qsort(subs, ns, sizeof *subs, cmp_str);
        double sum = 0, asum = 0;
        size_t ok = 0, na = 0;
        for (size_t i = 0; i < ns; i++) {
            size_t pl = strlen(dir) + strlen(subs[i]) + 2;
            char *p = malloc(pl);
            if (!p) { status = 1; break; }
            snprintf(p, pl, "%s/%s", dir, subs[i]);
            double eer;
            if (eval_db(p, subs[i], verbose, &eer)) status = 1;
            else {
                sum += eer; ok++;
                double a = bozorth3_anchor(subs[i]);
                if (a > 0) { asum += a; na++; }
            }
            free(p);
        }
        if (ok) {
            printf("mean EER %.2f %% over %zu databases (target <= 2.0 %%", sum / ok * 100, ok);
            if (na == ok) printf("; bozorth3 mean %.1f %%, ratio %.2f", asum / na, sum / ok * 100 / (asum / na));
            printf(")\n");
        }
    }
    for (size_t i = 0; i < ns; i++) free(subs[i]);
    free(subs);
    return status;
}

/* ---------------------------------------------------------------- info / convert */

static const char *mtype_name(uint8_t t) {
    return t == IOP_FP_ENDING ? "ending" : t == IOP_FP_BIFURCATION ? "bifurcation" : "other";
}

static int fp_info(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp info [--minutiae] FILE\n\n"
               "Parses a template and prints its format, each finger view (position, image size,\n"
               "resolution, minutiae count) and the result of the enrolment quality check.\n"
               "--minutiae also lists the minutiae (x y in pixels from the top-left, angle in degrees,\n"
               "type, quality).  Exit status 1 when the file is not a valid template.\n");
        return 0;
    }
    bool all = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--minutiae")) all = true;
        else if (argv[i][0] == '-') return cli_usage_error("fp info", "unknown option %s", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_error("fp info", "one file expected");
    }
    if (!path) return cli_usage_error("fp info", "expected a template file");
    iop_err err;
    iop_fp_template t;
    if (load_template(path, &t, &err)) { fprintf(stderr, "interop fp info: %s\n", err.msg); return 1; }
    printf("format %s, %zu finger view(s)\n", iop_fp_format_name(t.format), t.n_fingers);
    for (size_t i = 0; i < t.n_fingers; i++) {
        const iop_fp_finger *f = &t.fingers[i];
        iop_err qe;
        iop_code q = iop_fp_quality_check(f, NULL, &qe);
        printf("finger %zu: position %u view %u impression %u quality %u, image %ux%u at %ux%u px/cm, "
               "%u minutiae, enrolment check: %s\n",
               i + 1, f->position, f->view, f->impression, f->quality, f->width, f->height, f->xres, f->yres,
               f->n, q ? qe.msg : "ok");
        if (all)
            for (unsigned k = 0; k < f->n; k++)
                printf("  %3u  %7.1f %7.1f  %6.1f  %-11s %3u\n", k + 1, (double)f->m[k].x, (double)f->m[k].y,
                       f->m[k].angle * 180.0 / M_PI, mtype_name(f->m[k].type), f->m[k].quality);
    }
    iop_fp_template_free(&t);
    return 0;
}

static int fp_convert(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp convert IN OUT\n\n"
               "Reads a template in any supported format and writes it as an ISO/IEC 19794-2:2005\n"
               "finger minutiae record.\n");
        return 0;
    }
    if (argc != 3) return cli_usage_error("fp convert", "expected IN and OUT");
    iop_err err;
    iop_fp_template t;
    if (load_template(argv[1], &t, &err)) { fprintf(stderr, "interop fp convert: %s\n", err.msg); return 1; }
    uint8_t *out;
    size_t len;
    iop_code rc = iop_fp_write_iso(&t, &out, &len, &err);
    iop_fp_template_free(&t);
    if (rc) { fprintf(stderr, "interop fp convert: %s\n", err.msg); return 1; }
    FILE *fh = fopen(argv[2], "wb");
    int status = 0;
    if (!fh || fwrite(out, 1, len, fh) != len) {
        fprintf(stderr, "interop fp convert: %s: %s\n", argv[2], strerror(errno));
        status = 1;
    }
    if (fh && fclose(fh) && !status) {
        fprintf(stderr, "interop fp convert: %s: %s\n", argv[2], strerror(errno));
        status = 1;
    }
    free(out);
    return status;
}


/* ---------------------------------------------------------------- gen / stats */

static bool parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || *s == '-') return false;
    *out = v;
    return true;
}

static int fp_gen(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp gen [--seed N] [--fingers N] [--impressions N] [--position P] DIR\n\n"
               "Writes synthetic minutiae templates DIR/<finger>_<impression>.iso (ISO/IEC 19794-2:2005,\n"
               "500 ppi, 300x400 image), laid out like an FVC database so that `interop fp eval` and\n"
               "`interop fp stats` run on it.  Fingers are numbered from 101.  Defaults: seed 1,\n"
               "10 fingers, 8 impressions, position 0.  The model is described in docs/fingerprints.md.\n");
        return 0;
    }
    uint64_t seed = 1, fingers = 10, imps = 8, pos = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        uint64_t *dst = NULL;
        if (!strcmp(argv[i], "--seed")) dst = &seed;
        else if (!strcmp(argv[i], "--fingers")) dst = &fingers;
        else if (!strcmp(argv[i], "--impressions")) dst = &imps;
        else if (!strcmp(argv[i], "--position")) dst = &pos;
        else if (argv[i][0] == '-') return cli_usage_error("fp gen", "unknown option %s", argv[i]);
        else if (!dir) { dir = argv[i]; continue; }
        else return cli_usage_error("fp gen", "one directory expected");
        if (i + 1 >= argc || !parse_u64(argv[i + 1], dst))
            return cli_usage_error("fp gen", "%s needs a non-negative number", argv[i]);
        i++;
    }
    if (!dir) return cli_usage_error("fp gen", "expected an output directory");
    if (!fingers || fingers > 100000 || !imps || imps > 1000 || pos > 10)
        return cli_usage_error("fp gen", "--fingers 1..100000, --impressions 1..1000, --position 0..10");
    iop_err err;
    if (iop_mkdirs(dir, &err)) { fprintf(stderr, "interop fp gen: %s\n", err.msg); return 1; }
    for (uint64_t f = 0; f < fingers; f++)
        for (uint64_t m = 0; m < imps; m++) {
            uint8_t *data;
            size_t len;
            if (iop_fp_gen_iso(seed, f, (uint32_t)m, (uint8_t)pos, NULL, &data, &len, &err)) {
                fprintf(stderr, "interop fp gen: %s\n", err.msg);
                return 1;
            }
            char path[4096];
            snprintf(path, sizeof path, "%s/%llu_%llu.iso", dir, (unsigned long long)(101 + f),
                     (unsigned long long)(m + 1));
            FILE *fh = fopen(path, "wb");
            bool ok = fh && fwrite(data, 1, len, fh) == len;
            if (fh && fclose(fh)) ok = false;
            free(data);
            if (!ok) { fprintf(stderr, "interop fp gen: %s: %s\n", path, strerror(errno)); return 1; }
        }
    printf("wrote %llu templates to %s\n", (unsigned long long)(fingers * imps), dir);
    return 0;
}

static int fp_stats(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp stats FILE|DIR...\n\n"
               "Minutiae statistics of templates (files, or every file of the directories, recursively\n"
               "one level): minutiae per finger (mean, s.d.), ridge endings / bifurcations, median\n"
               "nearest-neighbour distance (pixels at 500 ppi).  Used to compare generated templates\n"
               "with real ones.\n");
        return 0;
    }
    if (argc < 2) return cli_usage_error("fp stats", "expected files or directories");
    double sum = 0, sum2 = 0;
    size_t nf = 0, nend = 0, nbif = 0, nother = 0, nnn = 0, nncap = 0;
    float *nn = NULL;
    int status = 0;
    for (int a = 1; a < argc; a++) {
        char **paths = NULL;
        size_t np = 0;
        struct stat st;
        if (stat(argv[a], &st)) { fprintf(stderr, "interop fp stats: %s: %s\n", argv[a], strerror(errno)); status = 1; continue; }
        if (S_ISDIR(st.st_mode)) {
            /* the directory and its sub-directories (one level) */
            char *dirs[256];
            size_t nd = 0;
            dirs[nd++] = iop_strdup(argv[a]);
            for (size_t di = 0; di < nd; di++) {
                DIR *dh = opendir(dirs[di]);
                if (!dh) continue;
                struct dirent *de;
                while ((de = readdir(dh))) {
                    if (de->d_name[0] == '.') continue;
                    size_t pl = strlen(dirs[di]) + strlen(de->d_name) + 2;
                    char *p = malloc(pl);
                    if (!p) break;
                    snprintf(p, pl, "%s/%s", dirs[di], de->d_name);
                    if (!stat(p, &st) && S_ISDIR(st.st_mode)) {
                        if (di == 0 && nd < 256) dirs[nd++] = p; else free(p);
                        continue;
                    }
                    char **npaths = realloc(paths, (np + 1) * sizeof *npaths);
                    if (!npaths) { free(p); break; }
                    paths = npaths;
                    paths[np++] = p;
                }
                closedir(dh);
            }
            for (size_t di = 0; di < nd; di++) free(dirs[di]);
        } else {
            paths = malloc(sizeof *paths);
            if (paths) paths[np++] = iop_strdup(argv[a]);
        }
        for (size_t i = 0; i < np; i++) {
            iop_err err;
            iop_fp_template t;
            if (load_template(paths[i], &t, &err)) { fprintf(stderr, "interop fp stats: %s\n", err.msg); status = 1; continue; }
            for (size_t k = 0; k < t.n_fingers; k++) {
                const iop_fp_finger *f = &t.fingers[k];
                double sc = f->xres ? 197.0 / f->xres : 1.0;
                sum += f->n; sum2 += (double)f->n * f->n; nf++;
                for (unsigned q = 0; q < f->n; q++) {
                    if (f->m[q].type == IOP_FP_ENDING) nend++;
                    else if (f->m[q].type == IOP_FP_BIFURCATION) nbif++;
                    else nother++;
                    double best = INFINITY;
                    for (unsigned w = 0; w < f->n; w++) {
                        if (w == q) continue;
                        double dx = f->m[q].x - f->m[w].x, dy = f->m[q].y - f->m[w].y, d = sqrt(dx * dx + dy * dy) * sc;
                        if (d < best) best = d;
                    }
                    if (!isfinite(best)) continue;
                    if (nnn == nncap) {
                        nncap = nncap ? nncap * 2 : 1024;
                        float *nw = realloc(nn, nncap * sizeof *nw);
                        if (!nw) { status = 1; break; }
                        nn = nw;
                    }
                    nn[nnn++] = (float)best;
                }
            }
            iop_fp_template_free(&t);
        }
        for (size_t i = 0; i < np; i++) free(paths[i]);
        free(paths);
    }
    if (nf) {
        double mean = sum / nf, sd = sqrt(sum2 / nf - mean * mean);
        double *v = malloc((nnn ? nnn : 1) * sizeof *v);
        double med = 0;
        if (v && nnn) {
            for (size_t i = 0; i < nnn; i++) v[i] = nn[i];
            qsort(v, nnn, sizeof *v, cmp_dbl);
            med = v[nnn / 2];
        }
        free(v);
        size_t nm = nend + nbif + nother;
        printf("%zu fingers: %.1f +- %.1f minutiae per finger (FVC2002 templates: 34.8 +- 11.9); "
               "%.0f %% ridge endings, %.0f %% bifurcations, %.0f %% other (60/40); "
               "median nearest-neighbour distance %.1f px at 500 ppi (19)\n",
               nf, mean, sd, nm ? 100.0 * nend / nm : 0, nm ? 100.0 * nbif / nm : 0, nm ? 100.0 * nother / nm : 0, med);
    }
    free(nn);
    return status;
}

/* ---------------------------------------------------------------- identify */

static int fp_identify(int argc, char **argv) {
    if (want_help(argc, argv)) {
        printf("usage: interop fp identify [--k N] [--shortlist N] [--threads N] [--exhaustive] GALLERY_DIR PROBE...\n\n"
               "1:N identification: enrols every template of GALLERY_DIR (templates failing the\n"
               "enrolment check are reported and skipped) and searches each PROBE file, printing\n"
               "for each the best N candidates (default 5): rank, file, fused score and the\n"
               "per-finger evidence (position:score).  --exhaustive runs the full matcher on every\n"
               "gallery record instead of the staged search (default shortlist 100).\n");
        return 0;
    }
    uint64_t k = 5, shortlist = 0, threads = 2;
    bool exhaustive = false;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        uint64_t *dst = NULL;
        if (!strcmp(argv[first], "--exhaustive")) { exhaustive = true; continue; }
        if (!strcmp(argv[first], "--k")) dst = &k;
        else if (!strcmp(argv[first], "--shortlist")) dst = &shortlist;
        else if (!strcmp(argv[first], "--threads")) dst = &threads;
        else return cli_usage_error("fp identify", "unknown option %s", argv[first]);
        if (first + 1 >= argc || !parse_u64(argv[first + 1], dst))
            return cli_usage_error("fp identify", "%s needs a number", argv[first]);
        first++;
    }
    if (argc - first < 2) return cli_usage_error("fp identify", "expected a gallery directory and probe files");
    if (!k || k > 1000 || threads < 1 || threads > 64)
        return cli_usage_error("fp identify", "--k 1..1000, --threads 1..64");
    const char *dir = argv[first];
    DIR *dh = opendir(dir);
    if (!dh) { fprintf(stderr, "interop fp identify: %s: %s\n", dir, strerror(errno)); return 1; }
    iop_fp_gallery_opts o = {.shortlist = shortlist, .threads = (int)threads};
    iop_fp_gallery *g;
    iop_err err;
    if (iop_fp_gallery_new(&o, &g, &err)) { closedir(dh); fprintf(stderr, "interop fp identify: %s\n", err.msg); return 1; }
    char **names = NULL;
    size_t nn = 0;
    struct dirent *de;
    int status = 0;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.') continue;
        size_t pl = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(pl);
        if (!p) { status = 1; break; }
        snprintf(p, pl, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) || !S_ISREG(st.st_mode)) { free(p); continue; }
        iop_fp_template t;
        if (load_template(p, &t, &err)) { fprintf(stderr, "interop fp identify: skipped: %s\n", err.msg); free(p); continue; }
        iop_fp_ref ref = {0, nn};
        if (iop_fp_gallery_add(g, ref, &t, &err)) {
            fprintf(stderr, "interop fp identify: skipped %s: %s\n", p, err.msg);
            free(p);
        } else {
            char **nw = realloc(names, (nn + 1) * sizeof *nw);
            if (!nw) { free(p); iop_fp_template_free(&t); status = 1; break; }
            names = nw;
            names[nn++] = p;
        }
        iop_fp_template_free(&t);
    }
    closedir(dh);
    iop_fp_candidate *c = calloc(k, sizeof *c);
    if (!c) status = 1;
    for (int i = first + 1; i < argc && c; i++) {
        iop_fp_template t;
        if (load_template(argv[i], &t, &err)) { fprintf(stderr, "interop fp identify: %s\n", err.msg); status = 1; continue; }
        size_t n = 0;
        uint64_t t0 = iop_mono_ns();
        iop_code rc = exhaustive ? iop_fp_gallery_search_exhaustive(g, &t, k, 0, c, &n, &err)
                                 : iop_fp_gallery_search(g, &t, k, 0, c, &n, &err);
        double ms = (double)(iop_mono_ns() - t0) / 1e6;
        iop_fp_template_free(&t);
        if (rc) { fprintf(stderr, "interop fp identify: %s: %s\n", argv[i], err.msg); status = 1; continue; }
        printf("%s: %zu candidates from %zu fingers in %.1f ms\n", argv[i], n, iop_fp_gallery_fingers(g), ms);
        for (size_t r = 0; r < n; r++) {
            printf("  %zu\t%s\t%.6f\t", r + 1, c[r].ref.key < nn ? names[c[r].ref.key] : "?", c[r].score);
            for (size_t e = 0; e < c[r].n_ev; e++) printf("%s%u:%.4f", e ? "," : "", c[r].ev[e].position, c[r].ev[e].score);
            printf("\n");
        }
    }
    free(c);
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    iop_fp_gallery_free(g);
    return status;
}

int cmd_fp(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (argc < 2) { fputs(FP_HELP, stderr); return 2; }
        fputs(FP_HELP, stdout);
        return 0;
    }
    const char *c = argv[1];
    if (!strcmp(c, "compare")) return fp_compare(argc - 1, argv + 1);
    if (!strcmp(c, "scores")) return fp_scores(argc - 1, argv + 1);
    if (!strcmp(c, "eval")) return fp_eval(argc - 1, argv + 1);
    if (!strcmp(c, "info")) return fp_info(argc - 1, argv + 1);
    if (!strcmp(c, "convert")) return fp_convert(argc - 1, argv + 1);
    if (!strcmp(c, "gen")) return fp_gen(argc - 1, argv + 1);
    if (!strcmp(c, "stats")) return fp_stats(argc - 1, argv + 1);
    if (!strcmp(c, "identify")) return fp_identify(argc - 1, argv + 1);
    return cli_usage_error("fp", "unknown command \"%s\" (try interop fp --help)", c);
}
