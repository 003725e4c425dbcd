/* cmd_face.c -- `interop face`: compare two face templates, and evaluate 1:N
 * identification on generated data -- face alone, fingerprints alone, and both fused
 * into one calibrated record-level score (Reg. 2019/817 Art 13; EES accuracy targets
 * are stated as FNIR at FPIR 0.1 %). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "interop/record.h"
#include "interop/sbms_face.h"
#include "interop/sbms_fp.h"
#include "interop/sbms_fusion.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: interop face compare A B [--dim N] [--json]\n"
            "       interop face eval [--gallery N] [--mated M] [--nonmated M] [--dim N] [--seed S]\n"
            "                         [--fingers F] [--no-fingerprints] [--nprobe P] [--json]\n\n"
            "compare  prints the similarity (cosine, -1..1) of two face templates.  A and B are\n"
            "         each a person record (JSON, the \"face\" template of its biometrics), a raw\n"
            "         file of little-endian float32 values, a file holding those bytes in\n"
            "         base64, or gen:SEED:PERSON:CAPTURE (a generated template).  The dimension\n"
            "         is taken from the templates unless --dim is given (default 512 for gen:).\n"
            "eval     builds a gallery of N generated persons (one capture each), searches M\n"
            "         mated probes (another capture of an enrolled person) and M' non-mated\n"
            "         probes (persons not enrolled), and prints FNIR at FPIR 0.1 %% and 1 %% for\n"
            "         face alone, fingerprints alone (F fingers per person, the fingerprint\n"
            "         matcher and generator) and both fused (score-to-LLR calibration per\n"
            "         modality fitted on separate generated persons, LLRs summed).\n"
            "         Defaults: --gallery 5000 --mated 500 --nonmated 2000 --dim 512 --seed 1\n"
            "         --fingers 2; --nprobe P searches faces through an IVF index instead of the\n"
            "         exact scan; --no-fingerprints measures face alone.\n");
}

static int parse_u64(const char *cmd, const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out) {
    char *end;
    if (!v) return cli_usage_error(cmd, "%s needs a value", opt);
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || end == v || x < lo || x > hi)
        return cli_usage_error(cmd, "%s: \"%s\" is not a number in %llu..%llu", opt, v, (unsigned long long)lo,
                               (unsigned long long)hi);
    *out = x;
    return 0;
}

/* ------------------------------------------------------------------ compare */

static bool all_base64(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              c == '=' || c == '\n' || c == '\r'))
            return false;
    }
    return true;
}

/* Loads a template; *dim 0 = infer.  *out is malloc'd, unit length. */
static int load_template(const char *arg, uint32_t *dim, float **out) {
    iop_err err;
    *out = NULL;
    if (strncmp(arg, "gen:", 4) == 0) {
        unsigned long long seed, person;
        unsigned capture;
        char tail;
        if (sscanf(arg + 4, "%llu:%llu:%u%c", &seed, &person, &capture, &tail) != 3)
            return cli_usage_error("face", "\"%s\": expected gen:SEED:PERSON:CAPTURE", arg);
        if (!*dim) *dim = 512;
        sbms_face_gen_params p;
        sbms_face_gen_defaults(&p, *dim);
        sbms_face_gen *gen;
        if (sbms_face_gen_new(&p, seed, &gen, &err)) {
            fprintf(stderr, "interop face: %s\n", err.msg);
            return 1;
        }
        *out = malloc(sizeof(float) * *dim);
        if (!*out) { sbms_face_gen_free(gen); fprintf(stderr, "interop face: out of memory\n"); return 1; }
        sbms_face_gen_capture(gen, person, capture, *out);
        sbms_face_gen_free(gen);
        return 0;
    }
    char *text;
    size_t len;
    if (iop_read_file(arg, &text, &len, &err)) {
        fprintf(stderr, "interop face: %s\n", err.msg);
        return 1;
    }
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    rec_person person;
    bool have_person = false;
    size_t s = 0;
    while (s < len && (text[s] == ' ' || text[s] == '\n' || text[s] == '\t' || text[s] == '\r')) s++;
    int rc = 0;
    if (s < len && text[s] == '{') {
        size_t e = len;
        while (e > s && (text[e - 1] == '\n' || text[e - 1] == '\r' || text[e - 1] == ' ')) e--;
        if (rec_parse(text + s, e - s, &person, &err)) {
            fprintf(stderr, "interop face: %s: %s\n", arg, err.msg);
            rc = 1;
        } else {
            have_person = true;
            if (!person.face) {
                fprintf(stderr, "interop face: %s: the record has no face template\n", arg);
                rc = 1;
            } else if (strcmp(person.face->format, "f32") != 0) {
                fprintf(stderr, "interop face: %s: face template format \"%s\" (expected \"f32\")\n", arg,
                        person.face->format);
                rc = 1;
            } else {
                bytes = person.face->data;
                nbytes = person.face->len;
            }
        }
    } else if (len > 0 && all_base64(text, len)) {
        /* base64 of the float32 bytes (raw float data is never all base64 characters) */
        size_t e = len;
        while (e && (text[e - 1] == '\n' || text[e - 1] == '\r')) text[--e] = 0;
        uint8_t *dec;
        if (iop_base64_decode(text, &dec, &nbytes, &err)) {
            fprintf(stderr, "interop face: %s: not valid base64: %s\n", arg, err.msg);
            rc = 1;
        } else {
            free(text);
            text = (char *)dec;
            bytes = dec;
        }
    } else {
        bytes = (uint8_t *)text; /* raw little-endian float32 */
        nbytes = len;
    }
    if (rc == 0) {
        if (!*dim) *dim = (uint32_t)(nbytes / 4);
        *out = malloc(sizeof(float) * (*dim ? *dim : 1));
        if (!*out) {
            fprintf(stderr, "interop face: out of memory\n");
            rc = 1;
        } else if (sbms_face_parse("f32", bytes, nbytes, *dim, *out, &err)) {
            fprintf(stderr, "interop face: %s: %s\n", arg, err.msg);
            free(*out);
            *out = NULL;
            rc = 1;
        }
    }
    if (have_person) rec_person_clear(&person);
    free(text);
    return rc;
}

static int face_compare(int argc, char **argv) {
    const char *files[2] = {0};
    int nf = 0;
    uint64_t dim = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--dim")) {
            int r = parse_u64("face", "--dim", i + 1 < argc ? argv[++i] : NULL, SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX, &dim);
            if (r) return r;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("face", "unknown option %s", argv[i]);
        else if (nf < 2) files[nf++] = argv[i];
        else return cli_usage_error("face", "compare takes two templates");
    }
    if (nf != 2) return cli_usage_error("face", "compare takes two templates (A B)");
    uint32_t da = (uint32_t)dim, db = (uint32_t)dim;
    float *a, *b;
    if (load_template(files[0], &da, &a)) return 1;
    if (!dim && strncmp(files[1], "gen:", 4) == 0) db = da;
    if (load_template(files[1], &db, &b)) { free(a); return 1; }
    if (da != db) {
        fprintf(stderr, "interop face: the templates have different dimensions (%u and %u)\n", da, db);
        free(a); free(b);
        return 1;
    }
    float s = sbms_face_score(a, b, da);
    if (json) printf("{\"score\":%.6f,\"dim\":%u}\n", s, da);
    else printf("score %.6f (cosine similarity, dimension %u)\n", s, da);
    free(a); free(b);
    return 0;
}

/* ------------------------------------------------------------------ eval */

typedef struct fp_ctx {
    uint64_t seed;
    int fingers;
    iop_fp_finger *buf;  /* fingers */
} fp_ctx;

static const uint8_t FP_POSITIONS[10] = {2, 7, 1, 6, 3, 8, 4, 9, 5, 10};

static void fp_template(fp_ctx *c, uint64_t person, uint32_t impression, iop_fp_template *t) {
    for (int f = 0; f < c->fingers; f++)
        iop_fp_gen_finger(c->seed, person * 10 + FP_POSITIONS[f], impression, FP_POSITIONS[f], NULL, &c->buf[f]);
    t->format = IOP_FP_ISO2005;
    t->n_fingers = (size_t)c->fingers;
    t->fingers = c->buf;
}

/* Score of a probe whose features are built against the record (person, impression). */
static double fp_score_against(fp_ctx *c, const iop_fp_record_features *probe, uint64_t person, uint32_t impression) {
    iop_fp_template t;
    iop_fp_record_features rb;
    fp_template(c, person, impression, &t);
    if (iop_fp_record_features_build(&t, &rb, NULL)) return NAN;
    double s = iop_fp_record_score(probe, &rb, NULL, NULL);
    iop_fp_record_features_free(&rb);
    return s;
}

static double fp_pair_score(fp_ctx *c, uint64_t pa, uint32_t ia, uint64_t pb, uint32_t ib) {
    iop_fp_template t;
    iop_fp_record_features ra, rb;
    fp_template(c, pa, ia, &t);
    if (iop_fp_record_features_build(&t, &ra, NULL)) return NAN;
    fp_template(c, pb, ib, &t);
    if (iop_fp_record_features_build(&t, &rb, NULL)) { iop_fp_record_features_free(&ra); return NAN; }
    double s = iop_fp_record_score(&ra, &rb, NULL, NULL);
    iop_fp_record_features_free(&ra);
    iop_fp_record_features_free(&rb);
    return s;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Threshold for a false-positive identification rate: the smallest score T such
 * that at most fpir * n non-mated top scores are >= T (just above the
 * (floor(fpir*n)+1)-th highest). */
static double threshold_at(const double *nonmated_top, size_t n, double fpir) {
    double *s = malloc(sizeof(double) * n);
    memcpy(s, nonmated_top, sizeof(double) * n);
    qsort(s, n, sizeof(double), cmp_desc);
    size_t allowed = (size_t)floor(fpir * (double)n);
    double t = allowed < n ? nextafter(s[allowed], INFINITY) : -INFINITY;
    free(s);
    return t;
}

/* FNIR: mated searches whose mate is not among the candidates with a score >= t. */
static double fnir_at(const double *mate_score, size_t n, double t) {
    size_t miss = 0;
    for (size_t i = 0; i < n; i++) miss += !(mate_score[i] >= t);
    return (double)miss / (double)n;
}

#define EVAL_K 10

typedef struct cand { uint64_t person; double face, fp, fused; } cand;

static cand *cand_get(cand *c, size_t *n, uint64_t person) {
    for (size_t i = 0; i < *n; i++) if (c[i].person == person) return &c[i];
    c[*n] = (cand){person, NAN, NAN, NAN};
    return &c[(*n)++];
}

static int face_eval(int argc, char **argv) {
    uint64_t n_gal = 5000, n_mated = 500, n_non = 2000, dim = 512, seed = 1, fingers = 2, nprobe = 0;
    bool use_fp = true, json = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(o, "--json")) json = true;
        else if (!strcmp(o, "--no-fingerprints")) use_fp = false;
        else if (!strcmp(o, "--gallery")) { r = parse_u64("face", o, v, 10, 100000000, &n_gal); i++; }
        else if (!strcmp(o, "--mated")) { r = parse_u64("face", o, v, 10, 10000000, &n_mated); i++; }
        else if (!strcmp(o, "--nonmated")) { r = parse_u64("face", o, v, 10, 10000000, &n_non); i++; }
        else if (!strcmp(o, "--dim")) { r = parse_u64("face", o, v, SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX, &dim); i++; }
        else if (!strcmp(o, "--seed")) { r = parse_u64("face", o, v, 0, UINT64_MAX, &seed); i++; }
        else if (!strcmp(o, "--fingers")) { r = parse_u64("face", o, v, 1, 10, &fingers); i++; }
        else if (!strcmp(o, "--nprobe")) { r = parse_u64("face", o, v, 1, 65536, &nprobe); i++; }
        else return cli_usage_error("face", "unknown option %s", o);
        if (r) return r;
    }
    if (n_mated > n_gal) return cli_usage_error("face", "--mated %llu exceeds --gallery %llu",
                                                (unsigned long long)n_mated, (unsigned long long)n_gal);
    iop_err err;
    sbms_face_gen_params gp;
    sbms_face_gen_defaults(&gp, (uint32_t)dim);
    sbms_face_gen *gen = NULL;
    sbms_face_gallery *fg = NULL;
    iop_fp_gallery *pg = NULL;
    float *v = malloc(sizeof(float) * dim), *w = malloc(sizeof(float) * dim);
    fp_ctx fc = {seed ^ 0xf1f1f1ULL, (int)fingers, calloc(fingers, sizeof(iop_fp_finger))};
    double *face_g = NULL, *face_i = NULL, *fp_g = NULL, *fp_i = NULL;
    double *mate[3] = {0}, *top[3] = {0};
    int rc = 1;
    if (!v || !w || !fc.buf) { fprintf(stderr, "interop face: out of memory\n"); goto out; }
    if (sbms_face_gen_new(&gp, seed, &gen, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
    sbms_face_opts fo = {.dim = (uint32_t)dim};
    if (sbms_face_gallery_new(&fo, &fg, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
    uint64_t t0 = iop_mono_ns();

    /* calibration on persons that are neither enrolled nor probes */
    const uint64_t CAL_BASE = 1ULL << 40;
    const size_t NCAL_FACE = 5000, NCAL_FP = use_fp ? 300 : 0;
    face_g = malloc(sizeof(double) * NCAL_FACE);
    face_i = malloc(sizeof(double) * NCAL_FACE);
    fp_g = malloc(sizeof(double) * (NCAL_FP + 1));
    fp_i = malloc(sizeof(double) * (NCAL_FP + 1));
    for (int m = 0; m < 3; m++) {
        mate[m] = malloc(sizeof(double) * n_mated);
        top[m] = malloc(sizeof(double) * n_non);
    }
    if (!face_g || !face_i || !fp_g || !fp_i || !mate[2] || !top[2]) { fprintf(stderr, "interop face: out of memory\n"); goto out; }
    for (size_t i = 0; i < NCAL_FACE; i++) {
        sbms_face_gen_capture(gen, CAL_BASE + i, 0, v);
        sbms_face_gen_capture(gen, CAL_BASE + i, 1, w);
        face_g[i] = sbms_face_score(v, w, (uint32_t)dim);
        sbms_face_gen_capture(gen, CAL_BASE + NCAL_FACE + i, 1, w);
        face_i[i] = sbms_face_score(v, w, (uint32_t)dim);
    }
    sbms_fusion fus;
    sbms_fusion_init(&fus);
    sbms_calib cal;
    if (sbms_calib_fit(face_g, NCAL_FACE, face_i, NCAL_FACE, &cal, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
    sbms_fusion_set(&fus, SBMS_MOD_FACE, &cal);
    size_t nfg = 0, nfi = 0;
    for (size_t i = 0; i < NCAL_FP; i++) {
        double g = fp_pair_score(&fc, CAL_BASE + i, 0, CAL_BASE + i, 1);
        double im = fp_pair_score(&fc, CAL_BASE + i, 0, CAL_BASE + NCAL_FP + i, 1);
        if (!isnan(g)) fp_g[nfg++] = g;
        if (!isnan(im)) fp_i[nfi++] = im;
    }
    if (use_fp) {
        if (sbms_calib_fit(fp_g, nfg, fp_i, nfi, &cal, &err)) { fprintf(stderr, "interop face: fingerprints: %s\n", err.msg); goto out; }
        sbms_fusion_set(&fus, SBMS_MOD_FINGER, &cal);
    }
    uint64_t t_cal = iop_mono_ns();

    /* enrolment */
    {
        const size_t B = 4096;
        float *batch = malloc(sizeof(float) * dim * B);
        sbms_face_ref *refs = malloc(sizeof(sbms_face_ref) * B);
        if (!batch || !refs) { free(batch); free(refs); fprintf(stderr, "interop face: out of memory\n"); goto out; }
        for (uint64_t p = 0; p < n_gal; p += B) {
            size_t m = n_gal - p < B ? (size_t)(n_gal - p) : B;
            for (size_t i = 0; i < m; i++) {
                sbms_face_gen_capture(gen, p + i, 0, batch + i * dim);
                refs[i] = (sbms_face_ref){IOP_SYS_EES, p + i};
            }
            if (sbms_face_gallery_add_batch(fg, refs, batch, m, NULL, &err)) {
                fprintf(stderr, "interop face: %s\n", err.msg);
                free(batch); free(refs);
                goto out;
            }
        }
        free(batch); free(refs);
    }
    if (nprobe) {
        uint32_t nlist = 1;
        while ((uint64_t)nlist * nlist < n_gal) nlist <<= 1;
        if (sbms_face_gallery_build_index(fg, nlist, 10, seed, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
    }
    if (use_fp) {
        if (iop_fp_gallery_new(NULL, &pg, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
        for (uint64_t p = 0; p < n_gal; p++) {
            iop_fp_template t;
            fp_template(&fc, p, 0, &t);
            if (iop_fp_gallery_add(pg, (iop_fp_ref){IOP_SYS_EES, p}, &t, &err)) {
                fprintf(stderr, "interop face: fingerprints of person %llu: %s\n", (unsigned long long)p, err.msg);
                goto out;
            }
        }
    }
    uint64_t t_enrol = iop_mono_ns();

    /* searches: mated probes first, then non-mated */
    size_t nrank1[3] = {0};
    for (uint64_t s = 0; s < n_mated + n_non; s++) {
        bool mated = s < n_mated;
        uint64_t person = mated ? s * n_gal / n_mated : n_gal + (s - n_mated);
        cand c[2 * EVAL_K];
        size_t nc = 0;
        sbms_face_hit hits[EVAL_K];
        size_t nh = 0;
        sbms_face_gen_capture(gen, person, 1, v);
        sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = EVAL_K, .min_score = -1, .nprobe = (uint32_t)nprobe};
        if (sbms_face_gallery_search(fg, v, &q, hits, &nh, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
        for (size_t i = 0; i < nh; i++) cand_get(c, &nc, hits[i].ref.key)->face = hits[i].score;
        if (use_fp) {
            iop_fp_template t;
            fp_template(&fc, person, 1, &t);
            iop_fp_candidate fpc[EVAL_K];
            size_t nf = 0;
            if (iop_fp_gallery_search(pg, &t, EVAL_K, 0, fpc, &nf, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
            for (size_t i = 0; i < nf; i++) cand_get(c, &nc, fpc[i].ref.key)->fp = fpc[i].score;
            iop_fp_record_features pf;
            bool have_pf = iop_fp_record_features_build(&t, &pf, NULL) == IOP_OK;
            /* candidates of one modality are scored 1:1 in the other before fusion */
            for (size_t i = 0; i < nc; i++) {
                if (isnan(c[i].face)) {
                    float sc;
                    if (sbms_face_gallery_verify(fg, (sbms_face_ref){IOP_SYS_EES, c[i].person}, v, &sc, NULL) == IOP_OK)
                        c[i].face = sc;
                }
                if (isnan(c[i].fp) && have_pf) c[i].fp = fp_score_against(&fc, &pf, c[i].person, 0);
            }
            if (have_pf) iop_fp_record_features_free(&pf);
        }
        double best[3] = {-INFINITY, -INFINITY, -INFINITY}, mate_s[3] = {-INFINITY, -INFINITY, -INFINITY};
        uint64_t best_p[3] = {UINT64_MAX, UINT64_MAX, UINT64_MAX};
        for (size_t i = 0; i < nc; i++) {
            c[i].fused = sbms_fuse(&fus, c[i].face, use_fp ? c[i].fp : NAN);
            double sc[3] = {isnan(c[i].face) ? -INFINITY : c[i].face, isnan(c[i].fp) ? -INFINITY : c[i].fp, c[i].fused};
            for (int m = 0; m < 3; m++) {
                if (sc[m] > best[m]) { best[m] = sc[m]; best_p[m] = c[i].person; }
                if (mated && c[i].person == person) mate_s[m] = sc[m];
            }
        }
        for (int m = 0; m < 3; m++) {
            if (mated) { mate[m][s] = mate_s[m]; nrank1[m] += best_p[m] == person; }
            else top[m][s - n_mated] = best[m];
        }
    }
    uint64_t t_search = iop_mono_ns();

    static const char *const names[3] = {"face", "fingerprints", "face + fingerprints (fused LLR)"};
    static const double fpirs[2] = {0.001, 0.01};
    if (json) {
        printf("{\"gallery\":%llu,\"mated\":%llu,\"nonmated\":%llu,\"dim\":%llu,\"fingers\":%llu,\"nprobe\":%llu,\"results\":[",
               (unsigned long long)n_gal, (unsigned long long)n_mated, (unsigned long long)n_non,
               (unsigned long long)dim, (unsigned long long)(use_fp ? fingers : 0), (unsigned long long)nprobe);
    } else {
        printf("1:N on generated data: gallery %llu persons, %llu mated and %llu non-mated searches, "
               "face %llu-d%s%s, candidate list %d\n",
               (unsigned long long)n_gal, (unsigned long long)n_mated, (unsigned long long)n_non,
               (unsigned long long)dim, nprobe ? " (IVF index)" : " (exact scan)",
               use_fp ? ", fingerprints enrolled and searched" : ", fingerprints not used", EVAL_K);
        printf("%-32s %14s %14s %8s\n", "", "FNIR@FPIR0.1%", "FNIR@FPIR1%", "rank-1");
    }
    int first = 1;
    for (int m = 0; m < 3; m++) {
        if (m > 0 && !use_fp) continue;
        double fn[2], th[2];
        for (int k = 0; k < 2; k++) {
            th[k] = threshold_at(top[m], n_non, fpirs[k]);
            fn[k] = fnir_at(mate[m], n_mated, th[k]);
        }
        double r1 = (double)nrank1[m] / (double)n_mated;
        if (json)
            printf("%s{\"method\":\"%s\",\"fnir_at_fpir_0.001\":%.5f,\"threshold_0.001\":%.5f,"
                   "\"fnir_at_fpir_0.01\":%.5f,\"threshold_0.01\":%.5f,\"rank1\":%.5f}",
                   first ? "" : ",", m == 0 ? "face" : m == 1 ? "fingerprints" : "fused", fn[0], th[0], fn[1], th[1], r1);
        else
            printf("%-32s %13.2f%% %13.2f%% %7.2f%%   (thresholds %.4g / %.4g)\n", names[m], 100 * fn[0], 100 * fn[1],
                   100 * r1, th[0], th[1]);
        first = 0;
    }
    if (json) printf("]}\n");
    else {
        printf("FPIR resolution: %llu non-mated searches (0.1%% = %.1f searches)\n", (unsigned long long)n_non,
               0.001 * (double)n_non);
        printf("time: calibration %.1f s, enrolment %.1f s, searches %.1f s\n", (double)(t_cal - t0) * 1e-9,
               (double)(t_enrol - t_cal) * 1e-9, (double)(t_search - t_enrol) * 1e-9);
    }
    rc = 0;
out:
    sbms_face_gallery_free(fg);
    iop_fp_gallery_free(pg);
    sbms_face_gen_free(gen);
    free(v); free(w); free(fc.buf);
    free(face_g); free(face_i); free(fp_g); free(fp_i);
    for (int m = 0; m < 3; m++) { free(mate[m]); free(top[m]); }
    return rc;
}

int cmd_face(int argc, char **argv) {
    if (argc < 2) return cli_usage_error("face", "missing subcommand (compare or eval)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "compare")) return face_compare(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return face_eval(argc - 1, argv + 1);
    return cli_usage_error("face", "unknown subcommand \"%s\" (compare or eval)", argv[1]);
}
