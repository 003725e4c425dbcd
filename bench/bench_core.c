/* bench-links: instance gen */
/*
 * bench_core -- the core issue's targets on a generated population:
 *   load with durable commits: >= 20,000 records/s
 *   portal search by name + date of birth, in-process: p99 <= 5 ms
 * Usage: bench_core [persons] (default 1,000,000; IOP_BENCH_SCALE=small: 20,000)
 * Work directory: $IOP_BENCH_DIR or ./var/bench (the population is generated once per
 * size and seed and reused).  IOP_BENCH_REUSE=1 searches an already loaded node;
 * IOP_BENCH_EXACT_KEYS=1 builds the search indexes without sound keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "interop/access.h"
#include "interop/gen.h"
#include "interop/interop.h"
#include "interop/systems.h"

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p) {
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

typedef struct query {
    char q[512];
    long person;            /* the number of the person_id */
    char recs[8][24];       /* the person's records in the systems a border guard queries */
    int n_recs;
} query;

/* Queries from persons.csv: surname, first given name, date of birth of true identities. */
static size_t read_queries(const char *path, query *qs, size_t max) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[2048];
    size_t n = 0, row = 0;
    if (!fgets(line, sizeof line, f)) { fclose(f); return 0; }
    while (n < max && fgets(line, sizeof line, f)) {
        /* person_id,identity,surname,given_names,native_name,sex,dob,... ; every 7th row */
        if (row++ % 7) continue;
        char *fields[12] = {0}, *p = line;
        int k = 0;
        while (p && k < 12) {
            fields[k++] = p;
            p = strchr(p, ',');
            if (p) *p++ = 0;
        }
        if (k < 7 || !fields[2][0] || !fields[6][0]) continue;
        char given[256];
        snprintf(given, sizeof given, "%s", fields[3]);
        char *sp = strchr(given, ' ');
        if (sp) *sp = 0;
        snprintf(qs[n].q, sizeof qs[n].q, "{\"surnames\":[\"%s\"],\"given_names\":[\"%s\"],\"dob\":\"%s\"}", fields[2],
                 given, fields[6]);
        qs[n].person = atol(fields[0] + 1);
        qs[n].n_recs = 0;
        n++;
    }
    fclose(f);
    return n;
}

/* The records of the queried persons (truth.csv: system,record_id,person_id) in the
 * systems the border guard profile queries, for the share of queries finding the person. */
static void read_truth(const char *path, query *qs, size_t nq) {
    long maxp = 0;
    for (size_t i = 0; i < nq; i++) maxp = qs[i].person > maxp ? qs[i].person : maxp;
    int32_t *at = calloc((size_t)maxp + 1, sizeof *at); /* person -> query index + 1 */
    FILE *f = fopen(path, "r");
    if (!at || !f) { free(at); if (f) fclose(f); return; }
    for (size_t i = 0; i < nq; i++) at[qs[i].person] = (int32_t)i + 1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2 || c2[1] != 'P') continue;
        *c1 = *c2 = 0;
        if (strcmp(line, "sis") && strcmp(line, "vis") && strcmp(line, "ees") && strcmp(line, "etias") && strcmp(line, "interpol"))
            continue;
        long pn = atol(c2 + 2);
        if (pn > maxp || !at[pn]) continue;
        query *q = &qs[at[pn] - 1];
        if (q->n_recs < 8) snprintf(q->recs[q->n_recs++], sizeof q->recs[0], "%s", c1 + 1);
    }
    fclose(f);
    free(at);
}

static void progress(void *ctx, const iop_load_stats *st) {
    (void)ctx;
    if (st->records % 200000 < 5000) fprintf(stderr, "  ... %zu records\n", st->records);
}

int main(int argc, char **argv) {
    const char *scale = getenv("IOP_BENCH_SCALE");
    uint64_t persons = (scale && !strcmp(scale, "small")) ? 20000 : 1000000;
    if (argc > 1) persons = strtoull(argv[1], NULL, 10);
    const char *base = getenv("IOP_BENCH_DIR") ? getenv("IOP_BENCH_DIR") : "var/bench";
    char pop[1024], node[1024], cmd[2300];
    snprintf(pop, sizeof pop, "%s/population-%llu", base, (unsigned long long)persons);
    snprintf(node, sizeof node, "%s/node-%llu", base, (unsigned long long)persons);
    iop_err err = {0};
    struct stat st;
    char truth[1100];
    snprintf(truth, sizeof truth, "%s/persons.csv", pop);
    if (stat(truth, &st) != 0) {
        gen_params gp;
        gen_params_default(&gp);
        gp.persons = persons;
        gp.seed = 1;
        gp.out_dir = pop;
        gp.data_dir = IOP_SHARED_DATA;
        gp.biometrics = false;
        gp.progress = stderr;
        gen_stats gs;
        fprintf(stderr, "generating %llu persons into %s\n", (unsigned long long)persons, pop);
        if (gen_run(&gp, &gs, &err)) { fprintf(stderr, "gen: %s\n", err.msg); return 1; }
    }
    /* IOP_BENCH_REUSE=1: search an already loaded node (profiling the search alone) */
    bool reuse = getenv("IOP_BENCH_REUSE") && stat(node, &st) == 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", node);
    if (!reuse && system(cmd) != 0) return 1;
    iop_instance *in;
    /* IOP_BENCH_EXACT_KEYS=1: search indexes without sound keys (iop_open_opts.exact_keys_only) */
    iop_open_opts oo = {.exact_keys_only = getenv("IOP_BENCH_EXACT_KEYS") && atoi(getenv("IOP_BENCH_EXACT_KEYS"))};
    if ((!reuse && iop_init_dir(node, NULL, &err)) || iop_open(node, &oo, &in, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const esp_profile *integ = esp_profile_find(iop_profiles(in), "integrator");
    iop_actor op = {.user = "bench", .authority = "bench", .profile = integ};

    /* ---- load ---- */
    static const char *const systems[] = {"vis", "etias", "ees", "eurodac", "sis", "ecris-tcn", "europol", "interpol"};
    iop_load_stats ls = {0};
    uint64_t t0 = iop_mono_ns();
    double c0 = cpu_s();
    for (size_t i = 0; !reuse && i < sizeof systems / sizeof *systems; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.jsonl", pop, systems[i]);
        if (iop_load_file(in, &op, path, 5000, progress, NULL, &ls, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    double load_s = (double)(iop_mono_ns() - t0) / 1e9;
    double rps = (double)ls.records / load_s;
    double load_cpu = cpu_s() - c0;

    /* ---- the search indexes, built from the stores as a server does before it listens ---- */
    uint64_t tw = iop_mono_ns();
    double cw = cpu_s();
    if (esp_warm(iop_portal(in), &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double warm_s = (double)(iop_mono_ns() - tw) / 1e9, warm_cpu = cpu_s() - cw;

    /* ---- search ---- */
    size_t maxq = getenv("IOP_BENCH_QUERIES") ? (size_t)atol(getenv("IOP_BENCH_QUERIES")) : 20000;
    if (!maxq) maxq = 20000;
    query *qs = calloc(maxq, sizeof *qs);
    size_t nq = read_queries(truth, qs, maxq);
    char tpath[1100];
    snprintf(tpath, sizeof tpath, "%s/truth.csv", pop);
    read_truth(tpath, qs, nq);
    access_authority_type t;
    access_authority_type_parse("border_guard", &t, NULL);
    const char *prof = "border_guard";
    access_user_spec spec = {.name = "bg", .authority = "bench", .authority_type = t, .member_state = "DEU",
                             .profiles = &prof, .n_profiles = 1};
    iop_actor bg;
    if ((access_user_add(iop_access_db(in), &spec, NULL, &err) && !reuse) || iop_actor_local(in, "bg", NULL, "bench", &bg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    uint64_t *lat = calloc(nq ? nq : 1, sizeof *lat);
    iop_buf reply;
    iop_buf_init(&reply);
    size_t found = 0, with_person = 0, found_person = 0, shown = 0;
    double c1 = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 0 warms the page cache */
        if (pass) c1 = cpu_s();
        for (size_t i = 0; i < nq; i++) {
            iop_buf_reset(&reply);
            uint64_t a = iop_mono_ns();
            if (iop_search_json(in, &bg, qs[i].q, strlen(qs[i].q), &reply, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            lat[i] = iop_mono_ns() - a;
            if (!pass) continue;
            if (strstr(reply.data, "\"hits\":[{")) found++;
            for (const char *h = reply.data; (h = strstr(h, "{\"score\":")); h++) shown++;
            if (qs[i].n_recs) with_person++;
            for (int r = 0; r < qs[i].n_recs; r++) {
                char needle[48];
                snprintf(needle, sizeof needle, "\"id\":\"%s\"", qs[i].recs[r]);
                if (strstr(reply.data, needle)) { found_person++; break; }
            }
        }
    }
    double search_cpu = cpu_s() - c1;
    qsort(lat, nq, sizeof *lat, cmp_u64);
    printf("bench_core: %llu persons, %zu records (biometrics off)\n", (unsigned long long)persons, ls.records);
    if (!reuse) {
        printf("load, durable commits (batches of 5000): %.0f records/s (target >= 20000, ratio %.2f)\n", rps, rps / 20000);
        printf("  load CPU time: %.1f us per record (user+sys, all threads)\n", load_cpu * 1e6 / (double)ls.records);
    }
    sys_index_stats ist;
    esp_index_stats(iop_portal(in), &ist);
    printf("search indexes built from the stores: %.2f s (%.2f s CPU) for %zu records; %zu keys, %zu postings, "
           "%.0f MB (%.0f bytes per record)\n", warm_s, warm_cpu, ist.records, ist.keys, ist.postings, ist.bytes / 1e6,
           ist.records ? (double)ist.bytes / (double)ist.records : 0);
    printf("search name+dob in-process, border_guard profile (5 systems), %zu queries: p50 %.2f ms, p99 %.2f ms "
           "(target p99 <= 5 ms, ratio %.2f); queries with hits: %.1f%%\n",
           nq, pct(lat, nq, 0.5), pct(lat, nq, 0.99), pct(lat, nq, 0.99) / 5.0, nq ? 100.0 * found / nq : 0);
    printf("  search CPU time: %.0f us per query (user+sys, all threads)\n", nq ? search_cpu * 1e6 / (double)nq : 0);
    printf("  the queried person found (one of its records shown) in %.1f%% of the %zu queries whose person has a record "
           "in the queried systems; %.2f hits shown per query\n", with_person ? 100.0 * found_person / with_person : 0,
           with_person, nq ? (double)shown / nq : 0);
    iop_buf_free(&reply);
    free(lat);
    free(qs);
    iop_actor_clear(&bg);
    iop_close(in);
    return 0;
}
