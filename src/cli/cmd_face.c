/* cmd_face.c -- `interop face`: compare two face templates, and evaluate 1:N
 * identification on generated data -- face alone, fingerprints alone, and both fused
 * into one calibrated record-level score (Reg. 2019/817 Art 13; EES accuracy targets
 * are stated as FNIR at FPIR 0.1 %). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "interop/gen.h"
#include "interop/record.h"
#include "interop/sbms.h"
#include "interop/sbms_face.h"
#include "interop/sbms_fp.h"
#include "interop/sbms_fusion.h"
#include "interop/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: interop face compare A B [--dim N] [--json]\n"
            "       interop face eval [--gallery N] [--mated M] [--nonmated M] [--large] [--dim N] [--seed S]\n"
            "                         [--fingers F] [--no-fingerprints] [--shortlist L] [--threads T]\n"
            "                         [--calib-seed S] [--calib-pairs N] [--shipped-calibration] [--json]\n\n"
            "compare  prints the similarity (cosine, -1..1) of two face templates.  A and B are\n"
            "         each a person record (JSON, the \"face\" template of its biometrics), a raw\n"
            "         file of little-endian float32 values, a file holding those bytes in\n"
            "         base64, or gen:SEED:PERSON:CAPTURE (a generated template).  The dimension\n"
            "         is taken from the templates unless --dim is given (default 512 for gen:).\n"
            "eval     a 1:N open-set experiment through the sBMS search the ESP runs: enrols N\n"
            "         generated persons (face + F fingers, the generators of `interop gen`) in a\n"
            "         temporary sBMS store, runs M mated searches (a new capture of an enrolled\n"
            "         person) and M' non-mated searches (persons never enrolled), each with the\n"
            "         face alone, the fingerprints alone and both fused, and prints FNIR at FPIR\n"
            "         0.1 %% and 1 %% (thresholds chosen on the non-mated scores) beside the EES\n"
            "         targets (FNIR 1.5 %% fingerprints, 1 %% fingerprints + face, at FPIR 0.1 %%).\n"
            "         Defaults: --gallery 1000 --mated 200 --nonmated 1000 --dim 512 --seed 1\n"
            "         --fingers 2 --shortlist 20 (fingers the fingerprint first stage passes to the\n"
            "         full matcher) --threads = online CPUs.  --large: gallery 20000, 1000 mated,\n"
            "         10000 non-mated, 4 fingers (as EES enrols; about 40 minutes of CPU).\n"
            "         Calibration (score -> LLR per modality) is fitted on generated persons of\n"
            "         --calib-seed S (default: --seed + 1; must differ from --seed), or\n"
            "         --shipped-calibration uses the defaults the sBMS stores in a new store.\n"
            "         --calib-pairs N: genuine and impostor pairs per modality (default 5000\n"
            "         face, 1000 finger).\n"
            "         --no-fingerprints measures the face alone.\n");
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

/* ------------------------------------------------------------------ eval
 *
 * A 1:N open-set experiment through the sBMS service itself (sbms.h), i.e. the search
 * the ESP and the MID run: generated persons (the biometric seam of `interop gen`,
 * gen_bio) are enrolled into a temporary sBMS store; mated searches probe with a new
 * capture of an enrolled person, non-mated searches with persons never enrolled.  Each
 * probe is searched three times: face only, fingerprints only, and both (fused LLR).
 * The score thresholded is the one the ESP ranks on: the record-level LLR.
 *   FPIR(T) = share of non-mated searches whose best candidate scores >= T;
 *   FNIR(T) = share of mated searches whose mate is not among the candidates with a
 *             score >= T.
 * T is chosen on the non-mated scores (the lowest that keeps FPIR at or below the
 * target).  The calibrations are the service's shipped defaults (fitted on generated
 * persons of the service's own calibration seed) or, with --calib-seed, refitted on
 * generated persons of another seed: never fitted on the persons evaluated. */

#define EVAL_K 10
enum { M_FACE, M_FP, M_FUSED, M_COUNT };

static const int EVAL_POSITIONS[10] = {2, 7, 3, 8, 1, 6, 4, 9, 5, 10}; /* index, middle, thumb, ... */

typedef struct eval_cfg {
    uint64_t n_gal, n_mated, n_non, dim, seed, fingers, shortlist, threads, calib_seed, calib_face, calib_finger;
    bool use_fp, refit, json;
} eval_cfg;

typedef struct eval_run {
    const eval_cfg *c;
    sbms *s;
    gen_bio *bio;
    double *mate[M_COUNT], *top[M_COUNT];
    uint8_t *rank1[M_COUNT];
    int tid;
    uint64_t cpu_ns[M_COUNT + 1]; /* thread CPU per search mode; [M_COUNT]: generating probes */
    iop_code rc;
    iop_err err;
} eval_run;

static uint64_t eval_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t eval_thread_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t eval_person(const eval_cfg *c, uint64_t s) {
    return s < c->n_mated ? s * c->n_gal / c->n_mated : c->n_gal + (s - c->n_mated);
}

/* One probe: the three searches, their best score and the mate's score. */
static iop_code eval_probe(eval_run *r, uint64_t s, iop_err *err) {
    const eval_cfg *c = r->c;
    bool mated = s < c->n_mated;
    uint64_t person = eval_person(c, s);
    rec_person p;
    memset(&p, 0, sizeof p);
    uint64_t t0 = eval_thread_ns();
    iop_code rc = gen_bio_fill(r->bio, person, 1, EVAL_POSITIONS, c->use_fp ? (size_t)c->fingers : 0, true, &p, err);
    uint64_t t1 = eval_thread_ns();
    r->cpu_ns[M_COUNT] += t1 - t0;
    char mate_id[32];
    snprintf(mate_id, sizeof mate_id, "EES-%llu", (unsigned long long)person);
    const iop_system sys = IOP_SYS_EES;
    for (int m = 0; m < M_COUNT && !rc; m++) {
        if (m != M_FACE && !c->use_fp) continue;
        sbms_probe pr = {.fingers = m == M_FACE ? NULL : p.fingers,
                         .n_fingers = m == M_FACE ? 0 : p.n_fingers,
                         .face = m == M_FP ? NULL : p.face};
        sbms_hit hits[EVAL_K];
        size_t nh = 0;
        if (pr.n_fingers || pr.face) rc = sbms_search(r->s, &pr, &sys, 1, EVAL_K, 0, hits, &nh, err);
        uint64_t t2 = eval_thread_ns();
        r->cpu_ns[m] += t2 - t1;
        t1 = t2;
        if (rc) break;
        double best = nh ? hits[0].llr : -INFINITY, mate = -INFINITY;
        for (size_t i = 0; i < nh; i++)
            if (!strcmp(hits[i].record_id, mate_id)) { mate = hits[i].llr; break; }
        if (mated) {
            r->mate[m][s] = mate;
            r->rank1[m][s] = nh && !strcmp(hits[0].record_id, mate_id);
        } else r->top[m][s - c->n_mated] = best;
    }
    gen_bio_clear(&p);
    return rc;
}

static void *eval_worker(void *arg) {
    eval_run *r = arg;
    uint64_t total = r->c->n_mated + r->c->n_non;
    for (uint64_t s = (uint64_t)r->tid; s < total && !r->rc; s += r->c->threads) r->rc = eval_probe(r, s, &r->err);
    return NULL;
}

/* Refits both calibrations on generated persons of calib_seed, the way the service's
 * shipped defaults were fitted: face cosine of captures 0 and 1 (genuine) and of
 * capture 0 against another person's capture 1 (impostor); one finger comparison score
 * of the ISO templates that enrolment stores, genuine and impostor at the same position. */
static iop_code eval_refit(const eval_cfg *c, sbms_calib *face, sbms_calib *finger, iop_err *err) {
    const size_t NFACE = (size_t)c->calib_face, NFINGER = (size_t)c->calib_finger;
    gen_bio *bio = NULL;
    iop_code rc = gen_bio_new(c->calib_seed, (uint32_t)c->dim, &bio, err);
    if (rc) return rc;
    double *g = malloc(sizeof(double) * NFACE), *im = malloc(sizeof(double) * NFACE);
    float *a = malloc(sizeof(float) * c->dim), *b = malloc(sizeof(float) * c->dim);
    if (!g || !im || !a || !b) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    const uint64_t base = 1ULL << 40;
    for (size_t i = 0; !rc && i < NFACE; i++) {
        rec_person p[3];
        memset(p, 0, sizeof p);
        uint64_t who[3] = {base + i, base + i, base + NFACE + i};
        for (int j = 0; j < 3 && !rc; j++) rc = gen_bio_fill(bio, who[j], j ? 1 : 0, NULL, 0, true, &p[j], err);
        if (!rc) {
            float *v[3] = {a, b, b};
            sbms_face_parse("f32", p[0].face->data, p[0].face->len, (uint32_t)c->dim, v[0], NULL);
            sbms_face_parse("f32", p[1].face->data, p[1].face->len, (uint32_t)c->dim, v[1], NULL);
            g[i] = sbms_face_score(a, b, (uint32_t)c->dim);
            sbms_face_parse("f32", p[2].face->data, p[2].face->len, (uint32_t)c->dim, v[2], NULL);
            im[i] = sbms_face_score(a, b, (uint32_t)c->dim);
        }
        for (int j = 0; j < 3; j++) gen_bio_clear(&p[j]);
    }
    if (!rc) rc = sbms_calib_fit(g, NFACE, im, NFACE, face, err);
    size_t ng = 0, ni = 0;
    for (size_t i = 0; !rc && c->use_fp && i < NFINGER; i++) {
        int pos = EVAL_POSITIONS[i % 10];
        uint64_t who[3] = {base + i, base + i, base + NFINGER + i};
        iop_fp_features *ft[3] = {0};
        bool ok = true;
        for (int j = 0; j < 3 && !rc && ok; j++) {
            rec_person p;
            memset(&p, 0, sizeof p);
            rc = gen_bio_fill(bio, who[j], j ? 1 : 0, &pos, 1, false, &p, err);
            if (!rc && p.n_fingers == 1) {
                iop_fp_template t;
                if (iop_fp_parse(p.fingers[0].tpl.data, p.fingers[0].tpl.len, IOP_FP_ISO2005, &t, NULL) == IOP_OK) {
                    rc = iop_fp_features_new(&t.fingers[0], &ft[j], err);
                    iop_fp_template_free(&t);
                } else ok = false;
            } else ok = false; /* below the enrolment quality after the retakes: never stored */
            gen_bio_clear(&p);
        }
        if (!rc && ok) {
            g[ng++] = iop_fp_score(ft[0], ft[1]);
            im[ni++] = iop_fp_score(ft[0], ft[2]);
        }
        for (int j = 0; j < 3; j++) iop_fp_features_free(ft[j]);
    }
    if (!rc && c->use_fp) rc = sbms_calib_fit(g, ng, im, ni, finger, err);
    free(g); free(im); free(a); free(b);
    gen_bio_free(bio);
    return rc;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The lowest threshold T with at most floor(fpir * n) non-mated best scores >= T. */
static double threshold_at(const double *nonmated_top, size_t n, double fpir) {
    double *s = malloc(sizeof(double) * n);
    if (!s) return INFINITY;
    memcpy(s, nonmated_top, sizeof(double) * n);
    qsort(s, n, sizeof(double), cmp_desc);
    size_t allowed = (size_t)floor(fpir * (double)n + 1e-9);
    double t = allowed < n ? nextafter(s[allowed], INFINITY) : -INFINITY;
    free(s);
    return t;
}

static size_t misses_at(const double *mate_score, size_t n, double t) {
    size_t miss = 0;
    for (size_t i = 0; i < n; i++) miss += !(mate_score[i] >= t);
    return miss;
}

/* Removes the temporary store directory (the files SQLite made in it, then the directory). */
static void eval_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        iop_buf path;
        iop_buf_init(&path);
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            path.len = 0;
            if (iop_buf_printf(&path, "%s/%s", dir, e->d_name) >= 0) unlink(path.data);
        }
        iop_buf_free(&path);
        closedir(d);
    }
    rmdir(dir);
}

static int face_eval(int argc, char **argv) {
    eval_cfg c = {.n_gal = 1000, .n_mated = 200, .n_non = 1000, .dim = 512, .seed = 1, .fingers = 2,
                  .shortlist = 20, .threads = 0, .calib_face = 5000, .calib_finger = 1000, .use_fp = true,
                  .refit = true};
    bool calib_given = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(o, "--json")) c.json = true;
        else if (!strcmp(o, "--no-fingerprints")) c.use_fp = false;
        else if (!strcmp(o, "--large")) { c.n_gal = 20000; c.n_mated = 1000; c.n_non = 10000; c.fingers = 4; }
        else if (!strcmp(o, "--shipped-calibration")) c.refit = false;
        else if (!strcmp(o, "--calib-pairs")) {
            r = parse_u64("face", o, v, 20, 1000000, &c.calib_face);
            c.calib_finger = c.calib_face;
            i++;
        }
        else if (!strcmp(o, "--gallery")) { r = parse_u64("face", o, v, 10, 10000000, &c.n_gal); i++; }
        else if (!strcmp(o, "--mated")) { r = parse_u64("face", o, v, 10, 10000000, &c.n_mated); i++; }
        else if (!strcmp(o, "--nonmated")) { r = parse_u64("face", o, v, 10, 10000000, &c.n_non); i++; }
        else if (!strcmp(o, "--dim")) { r = parse_u64("face", o, v, SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX, &c.dim); i++; }
        else if (!strcmp(o, "--seed")) { r = parse_u64("face", o, v, 0, UINT64_MAX, &c.seed); i++; }
        else if (!strcmp(o, "--fingers")) { r = parse_u64("face", o, v, 1, 10, &c.fingers); i++; }
        else if (!strcmp(o, "--shortlist")) { r = parse_u64("face", o, v, 1, 100000, &c.shortlist); i++; }
        else if (!strcmp(o, "--threads")) { r = parse_u64("face", o, v, 1, 64, &c.threads); i++; }
        else if (!strcmp(o, "--calib-seed")) { r = parse_u64("face", o, v, 0, UINT64_MAX, &c.calib_seed); calib_given = true; i++; }
        else return cli_usage_error("face", "unknown option %s", o);
        if (r) return r;
    }
    if (c.n_mated > c.n_gal)
        return cli_usage_error("face", "--mated %llu exceeds --gallery %llu", (unsigned long long)c.n_mated,
                               (unsigned long long)c.n_gal);
    if (c.dim & (c.dim - 1)) return cli_usage_error("face", "--dim %llu: the generator needs a power of two", (unsigned long long)c.dim);
    if (!calib_given) c.calib_seed = c.seed + 1;
    if (c.refit && c.calib_seed == c.seed)
        return cli_usage_error("face", "--calib-seed must differ from --seed (calibration is never fitted on the persons evaluated)");
    if (!c.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.threads = n > 0 ? (uint64_t)n : 1;
    }

    iop_err err;
    int rc = 1;
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/interop-face-eval-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) { fprintf(stderr, "interop face: cannot create a temporary directory %s: %s\n", dir, strerror(errno)); return 1; }
    eval_run *runs = calloc(c.threads, sizeof *runs);
    pthread_t *th = calloc(c.threads, sizeof *th);
    double *mate[M_COUNT] = {0}, *top[M_COUNT] = {0};
    uint8_t *rank1[M_COUNT] = {0};
    rec_person *batch = NULL;
    char (*ids)[32] = NULL;
    sbms *s = NULL;
    gen_bio *bio = NULL;
    const size_t B = 500;
    bool ok = runs && th;
    for (int m = 0; m < M_COUNT && ok; m++) {
        mate[m] = malloc(sizeof(double) * c.n_mated);
        top[m] = malloc(sizeof(double) * c.n_non);
        rank1[m] = calloc(c.n_mated, 1);
        ok = mate[m] && top[m] && rank1[m];
    }
    batch = calloc(B, sizeof *batch);
    ids = calloc(B, sizeof *ids);
    if (!ok || !batch || !ids) { fprintf(stderr, "interop face: out of memory\n"); goto out; }

    uint64_t w0 = iop_mono_ns(), c0 = eval_cpu_ns();
    sbms_calib fcal = {0}, pcal = {0};
    if (c.refit && eval_refit(&c, &fcal, &pcal, &err)) { fprintf(stderr, "interop face: calibration: %s\n", err.msg); goto out; }
    uint64_t w1 = iop_mono_ns(), c1 = eval_cpu_ns();
    sbms_config cfg = {.face_dim = (uint32_t)c.dim, .face_calib = c.refit ? &fcal : NULL,
                       .finger_calib = c.refit && c.use_fp ? &pcal : NULL, .fp_threads = 1, .fp_shortlist = c.shortlist,
                       .face_threads = 1};
    if (sbms_open(dir, STORE_CREATE, &cfg, &s, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }
    if (gen_bio_new(c.seed, (uint32_t)c.dim, &bio, &err)) { fprintf(stderr, "interop face: %s\n", err.msg); goto out; }

    /* enrolment: capture 0 of persons 0..N-1, as EES records */
    for (uint64_t p = 0; p < c.n_gal; p += B) {
        size_t m = c.n_gal - p < B ? (size_t)(c.n_gal - p) : B;
        iop_code e = IOP_OK;
        for (size_t i = 0; i < m && !e; i++) {
            memset(&batch[i], 0, sizeof batch[i]);
            snprintf(ids[i], sizeof ids[i], "EES-%llu", (unsigned long long)(p + i));
            batch[i].id = ids[i];
            batch[i].system = IOP_SYS_EES;
            e = gen_bio_fill(bio, p + i, 0, EVAL_POSITIONS, c.use_fp ? (size_t)c.fingers : 0, true, &batch[i], &err);
        }
        if (!e) e = sbms_enrol(s, batch, m, &err);
        for (size_t i = 0; i < m; i++) gen_bio_clear(&batch[i]);
        if (e) { fprintf(stderr, "interop face: enrolment: %s\n", err.msg); goto out; }
    }
    uint64_t w2 = iop_mono_ns(), c2 = eval_cpu_ns();

    /* searches, spread over the threads; results land at the probe's index */
    for (uint64_t t = 0; t < c.threads; t++) {
        runs[t] = (eval_run){.c = &c, .s = s, .bio = bio, .tid = (int)t};
        for (int m = 0; m < M_COUNT; m++) { runs[t].mate[m] = mate[m]; runs[t].top[m] = top[m]; runs[t].rank1[m] = rank1[m]; }
    }
    uint64_t started = 0;
    for (uint64_t t = 1; t < c.threads; t++, started++)
        if (pthread_create(&th[t], NULL, eval_worker, &runs[t])) break;
    eval_worker(&runs[0]);
    for (uint64_t t = 1; t <= started; t++) pthread_join(th[t], NULL);
    if (started + 1 < c.threads)
        for (uint64_t t = started + 1; t < c.threads; t++) eval_worker(&runs[t]);
    for (uint64_t t = 0; t < c.threads; t++)
        if (runs[t].rc) { fprintf(stderr, "interop face: search: %s\n", runs[t].err.msg); goto out; }
    uint64_t w3 = iop_mono_ns(), c3 = eval_cpu_ns();

    static const char *const names[M_COUNT] = {"face", "fingerprints", "face + fingerprints (fused)"};
    static const char *const keys[M_COUNT] = {"face", "fingerprints", "fused"};
    static const double fpirs[2] = {0.001, 0.01};
    static const double anchor[M_COUNT] = {NAN, 0.015, 0.01}; /* EES: FNIR at FPIR 0.1 % */
    uint64_t nsearch = (c.n_mated + c.n_non) * (c.use_fp ? 3 : 1);
    if (c.json) {
        printf("{\"gallery\":%llu,\"mated\":%llu,\"nonmated\":%llu,\"dim\":%llu,\"fingers\":%llu,\"seed\":%llu,"
               "\"calibration\":\"%s\",\"calib_seed\":%llu,\"shortlist\":%llu,\"search_cpu_s\":%.3f,\"results\":[",
               (unsigned long long)c.n_gal, (unsigned long long)c.n_mated, (unsigned long long)c.n_non,
               (unsigned long long)c.dim, (unsigned long long)(c.use_fp ? c.fingers : 0), (unsigned long long)c.seed,
               c.refit ? "fitted" : "shipped", (unsigned long long)(c.refit ? c.calib_seed : 0),
               (unsigned long long)c.shortlist, (double)(c3 - c2) * 1e-9);
    } else {
        printf("1:N open-set identification through the sBMS search (the one the ESP runs), generated data:\n"
               "  gallery %llu persons enrolled as EES records (capture 0: face %llu-d%s, seed %llu)\n"
               "  %llu mated searches (capture 1 of an enrolled person), %llu non-mated (persons never enrolled),"
               " candidate list %d\n",
               (unsigned long long)c.n_gal, (unsigned long long)c.dim,
               c.use_fp ? "" : ", no fingerprints", (unsigned long long)c.seed,
               (unsigned long long)c.n_mated, (unsigned long long)c.n_non, EVAL_K);
        if (c.use_fp)
            printf("  fingerprints: %llu per person (ISO/IEC 19794-2), first-stage shortlist %llu fingers\n",
                   (unsigned long long)c.fingers, (unsigned long long)c.shortlist);
        if (c.refit) {
            printf("  calibration fitted on generated persons of seed %llu (%llu face pairs, %llu finger pairs):\n"
                   "    face LLR = %.4g * cosine %+.4g on [%.3f, %.3f]",
                   (unsigned long long)c.calib_seed, (unsigned long long)c.calib_face,
                   (unsigned long long)(c.use_fp ? c.calib_finger : 0), fcal.a, fcal.b, fcal.lo, fcal.hi);
            if (c.use_fp) printf("; finger LLR = %.4g * score %+.4g on [%.3f, %.3f]", pcal.a, pcal.b, pcal.lo, pcal.hi);
            printf("\n");
        }
        else
            printf("  calibration: the sBMS shipped defaults (fitted on the service's own calibration seed)\n");
        printf("  score thresholded: the record-level LLR the ESP ranks on\n\n");
        printf("%-28s %15s %15s %8s   %s\n", "", "FNIR@FPIR0.1%", "FNIR@FPIR1%", "rank-1", "anchor: EES target FNIR @ FPIR 0.1%");
    }
    for (int m = 0; m < M_COUNT; m++) {
        if (m != M_FACE && !c.use_fp) continue;
        double th_[2], fn[2];
        size_t miss[2];
        for (int k = 0; k < 2; k++) {
            th_[k] = threshold_at(top[m], c.n_non, fpirs[k]);
            miss[k] = misses_at(mate[m], c.n_mated, th_[k]);
            fn[k] = (double)miss[k] / (double)c.n_mated;
        }
        size_t r1 = 0;
        for (uint64_t i = 0; i < c.n_mated; i++) r1 += rank1[m][i];
        if (c.json) {
            printf("%s{\"method\":\"%s\",\"fnir_at_fpir_0.001\":%.5f,\"threshold_0.001\":%.5f,"
                   "\"fnir_at_fpir_0.01\":%.5f,\"threshold_0.01\":%.5f,\"rank1\":%.5f",
                   m ? "," : "", keys[m], fn[0], th_[0], fn[1], th_[1], (double)r1 / (double)c.n_mated);
            if (!isnan(anchor[m])) printf(",\"target_fnir_at_fpir_0.001\":%.3f,\"ratio\":%.3f", anchor[m], fn[0] / anchor[m]);
            printf("}");
        } else {
            char a[64] = "--";
            if (!isnan(anchor[m])) snprintf(a, sizeof a, "%.1f %% (ratio %.2f, <= 1 met)", 100 * anchor[m], fn[0] / anchor[m]);
            printf("%-28s %6.2f%% (%4zu) %6.2f%% (%4zu) %7.2f%%   %s\n", names[m], 100 * fn[0], miss[0], 100 * fn[1],
                   miss[1], 100.0 * (double)r1 / (double)c.n_mated, a);
        }
    }
    if (c.json) printf("]}\n");
    else {
        printf("\n(misses in brackets.  The LLR thresholds are chosen on the non-mated searches: FPIR 0.1 %% lets\n"
               " %llu of the %llu non-mated searches through, FPIR 1 %% %llu.  1 mated miss = %.2f %%; 0 misses bound\n"
               " the FNIR below %.2f %% at 95 %% confidence.)\n",
               (unsigned long long)(c.n_non / 1000), (unsigned long long)c.n_non, (unsigned long long)(c.n_non / 100),
               100.0 / (double)c.n_mated, 300.0 / (double)c.n_mated);
        uint64_t mode_ns[M_COUNT + 1] = {0};
        for (uint64_t t = 0; t < c.threads; t++)
            for (int m = 0; m <= M_COUNT; m++) mode_ns[m] += runs[t].cpu_ns[m];
        double per = 1e-6 / (double)(c.n_mated + c.n_non);
        printf("time: calibration %.1f s (CPU %.1f s), enrolment %.1f s (CPU %.1f s), %llu searches on %llu threads"
               " %.1f s (CPU %.1f s)\n",
               (double)(w1 - w0) * 1e-9, (double)(c1 - c0) * 1e-9, (double)(w2 - w1) * 1e-9,
               (double)(c2 - c1) * 1e-9, (unsigned long long)nsearch, (unsigned long long)c.threads,
               (double)(w3 - w2) * 1e-9, (double)(c3 - c2) * 1e-9);
        printf("CPU per probe: face search %.1f ms", (double)mode_ns[M_FACE] * per);
        if (c.use_fp)
            printf(", fingerprint search %.1f ms, fused search %.1f ms", (double)mode_ns[M_FP] * per,
                   (double)mode_ns[M_FUSED] * per);
        printf(", generating the probe %.1f ms\n", (double)mode_ns[M_COUNT] * per);
    }
    rc = 0;
out:
    sbms_close(s);
    gen_bio_free(bio);
    eval_rmdir(dir);
    free(runs); free(th); free(batch); free(ids);
    for (int m = 0; m < M_COUNT; m++) { free(mate[m]); free(top[m]); free(rank1[m]); }
    return rc;
}

int cmd_face(int argc, char **argv) {
    if (argc < 2) return cli_usage_error("face", "missing subcommand (compare or eval)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "compare")) return face_compare(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return face_eval(argc - 1, argv + 1);
    return cli_usage_error("face", "unknown subcommand \"%s\" (compare or eval)", argv[1]);
}
