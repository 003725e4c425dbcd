/* cmd_gen.c -- `interop gen`: writes a synthetic population with ground truth
 * (docs/population-model.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "interop/gen.h"

#ifndef IOP_DEFAULT_SHARED_DATA
#define IOP_DEFAULT_SHARED_DATA "../shared/data"
#endif

static void help(void) {
    printf("usage: interop gen --persons N --seed S --out DIR [options]\n\n"
           "Writes a synthetic population of third-country nationals spread over the connected\n"
           "systems, deterministically for a seed:\n"
           "  DIR/<system>.jsonl   records in the interchange format (sis, vis, eurodac, ees, etias,\n"
           "                       ecris-tcn, europol, interpol)\n"
           "  DIR/truth.csv        system,record_id,person_id\n"
           "  DIR/annotations.csv  identity shown, script and errors applied, per record\n"
           "  DIR/persons.csv      the true identities (one row per identity of a person)\n"
           "  DIR/gen.json         the parameters of the run and its counts\n\n"
           "options:\n"
           "  --persons N          population size (required)\n"
           "  --seed S             random seed (required)\n"
           "  --out DIR            output directory, created if missing (required)\n"
           "  --data DIR           shared data directory with names/ and febrl/\n"
           "                       (default $IOP_SHARED_DATA, else %s)\n"
           "  --reference DATE     the population's reference date (default 2026-06-30)\n"
           "  --no-biometrics      leave out fingerprints and face templates\n"
           "  --face-dim N         face template dimension, power of two 128..1024 (default 128)\n"
           "  --threads N          workers computing the biometric templates (default: the\n"
           "                       online CPUs); the output does not depend on it\n"
           "  --multi-identity X   share of migrants with several identities (default 0.12;\n"
           "                       travellers and residents scale with it)\n"
           "  --error-scale X      multiply every record-level error rate by X (default 1)\n"
           "  --quiet              no progress or summary on stderr\n",
           IOP_DEFAULT_SHARED_DATA);
}

static int parse_u64(const char *opt, const char *s, uint64_t *out) {
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || e == s || *e || s[0] == '-') return cli_usage_error("gen", "%s: '%s' is not a non-negative integer", opt, s);
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v >= lo && v <= hi))
        return cli_usage_error("gen", "%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
    *out = v;
    return 0;
}

int cmd_gen(int argc, char **argv) {
    gen_params p;
    gen_params_default(&p);
    p.progress = stderr;
    bool have_n = false, have_seed = false, quiet = false;
    double mi = -1, scale = 1;
    const char *env = getenv("IOP_SHARED_DATA");
    p.data_dir = env && *env ? env : IOP_DEFAULT_SHARED_DATA;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(); return 0; }
        if (!strcmp(a, "--no-biometrics")) { p.biometrics = false; continue; }
        if (!strcmp(a, "--quiet")) { quiet = true; continue; }
        if (i + 1 >= argc) return cli_usage_error("gen", "%s: unknown option or missing value", a);
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--persons")) { rc = parse_u64(a, v, &p.persons); have_n = true; }
        else if (!strcmp(a, "--seed")) { rc = parse_u64(a, v, &p.seed); have_seed = true; }
        else if (!strcmp(a, "--out")) p.out_dir = v;
        else if (!strcmp(a, "--data")) p.data_dir = v;
        else if (!strcmp(a, "--reference")) {
            iop_err e;
            if (iop_date_parse(v, &p.reference, &e) || !p.reference.day)
                return cli_usage_error("gen", "--reference: '%s' is not a full date YYYY-MM-DD", v);
        } else if (!strcmp(a, "--face-dim")) {
            uint64_t d;
            if (!(rc = parse_u64(a, v, &d))) {
                if (d < 128 || d > 1024 || (d & (d - 1))) return cli_usage_error("gen", "--face-dim: %s is not a power of two in 128..1024", v);
                p.face_dim = (uint32_t)d;
            }
        } else if (!strcmp(a, "--threads")) {
            uint64_t t;
            if (!(rc = parse_u64(a, v, &t))) {
                if (t < 1 || t > 16) return cli_usage_error("gen", "--threads: %s is not in 1..16", v);
                p.threads = (int)t;
            }
        } else if (!strcmp(a, "--multi-identity")) rc = parse_double(a, v, 0, 1, &mi);
        else if (!strcmp(a, "--error-scale")) rc = parse_double(a, v, 0, 20, &scale);
        else return cli_usage_error("gen", "unknown option '%s'", a);
        if (rc) return rc;
    }
    if (!have_n) return cli_usage_error("gen", "--persons is required");
    if (!have_seed) return cli_usage_error("gen", "--seed is required");
    if (!p.out_dir) return cli_usage_error("gen", "--out is required");
    if (p.persons == 0) return cli_usage_error("gen", "--persons: must be at least 1");
    if (mi >= 0) {
        double f = mi / p.multi_identity_migrant;
        p.multi_identity_migrant = mi;
        p.multi_identity_traveller = p.multi_identity_traveller * f > 1 ? 1 : p.multi_identity_traveller * f;
        p.multi_identity_resident = p.multi_identity_resident * f > 1 ? 1 : p.multi_identity_resident * f;
    }
    for (int i = 0; i < GEN_ERR_COUNT; i++) p.rate[i] = p.rate[i] * scale > 1 ? 1 : p.rate[i] * scale;
    if (quiet) p.progress = NULL;

    gen_stats st;
    iop_err err;
    iop_err_clear(&err);
    if (gen_run(&p, &st, &err)) {
        fprintf(stderr, "interop gen: %s\n", err.msg);
        return 1;
    }
    if (!quiet) {
        fprintf(stderr, "gen: %llu persons (%llu with several identities), %llu records in %.1f s -> %s\n",
                (unsigned long long)st.persons, (unsigned long long)st.multi_identity_persons,
                (unsigned long long)st.records, st.seconds, p.out_dir);
        fprintf(stderr, "gen: records per system:");
        for (int s = 0; s < IOP_SYS_COUNT; s++)
            fprintf(stderr, " %s %llu", iop_system_name((iop_system)s), (unsigned long long)st.per_system[s]);
        fprintf(stderr, "\n");
        if (p.biometrics && !st.biometrics_filled)
            fprintf(stderr, "gen: note: this build has no synthetic biometric generators; records carry no biometrics\n");
    }
    return 0;
}
