/* bench-links: names record */
/*
 * bench_names.c -- speed and memory of the names engine on generated identities:
 *   compare throughput (anchor: plain-C Jaro-Winkler ~5.9 M comparisons/s per core),
 *   index build of N identities (target: 10 M in <= 5 min on 2 cores), memory per
 *   identity (target <= 400 B), top-10 search latency p50/p99 on one core (target p99
 *   <= 5 ms; anchor SimString trigram index 1-8 ms) with recall of corrupted queries,
 *   resolve of R records (target 1 M in <= 60 s; anchor Splink ~1 M per minute).
 * IOP_BENCH_SCALE=small: N = 200,000, R = 100,000.  Default N = 10,000,000, R = 1,000,000.
 * IOP_BENCH_N and IOP_BENCH_R set other sizes (R = 0 skips resolve).
 *
 * The generator is deterministic: identity i is a pure function of i (given names from
 * the nickname table, surnames from the Latin column of the Wikidata pair files, both
 * Zipf-skewed; dates 1930-2009; sex; one of 40 nationalities; a passport number), so
 * the search's store regenerates and prepares candidates on demand instead of holding
 * 10 M prepared identities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include "interop/names.h"

static char **GIV, **SUR;
static size_t NG, NS;
static names_engine *ENG;

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void pool_add(char ***p, size_t *n, size_t *cap, const char *s, size_t len) {
    if (len < 2 || len > 20) return;
    for (size_t i = 0; i < len; i++) if (!((s[i] >= 'a' && s[i] <= 'z'))) return;
    if (*n == *cap) { *cap = *cap ? *cap * 2 : 4096; *p = realloc(*p, *cap * sizeof **p); }
    (*p)[(*n)++] = strndup(s, len);
}

static void uniq(char **p, size_t *n) {
    qsort(p, *n, sizeof *p, cmpstr);
    size_t u = 0;
    for (size_t i = 0; i < *n; i++) {
        if (u && !strcmp(p[u - 1], p[i])) { free(p[i]); continue; }
        p[u++] = p[i];
    }
    *n = u;
}

static void load_pools(void) {
    size_t cg = 0, cs = 0;
    char *d; size_t len;
    if (iop_read_file(IOP_SHARED_DATA "/names/nicknames.csv", &d, &len, NULL) == IOP_OK) {
        for (char *l = strtok(d, "\n"); l; l = strtok(NULL, "\n")) {
            char *c1 = strchr(l, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            if (!c2) continue;
            pool_add(&GIV, &NG, &cg, l, (size_t)(c1 - l));
        }
        free(d);
    }
    static const char *files[] = {"russian", "arabic", "hebrew", "chinese"};
    for (int f = 0; f < 4; f++) {
        char path[512];
        snprintf(path, sizeof path, IOP_SHARED_DATA "/names/wikidata_%s_dev.tsv", files[f]);
        if (iop_read_file(path, &d, &len, NULL)) continue;
        for (char *l = strtok(d, "\n"); l; l = strtok(NULL, "\n")) {
            char *t = strchr(l, '\t');
            if (t) pool_add(&SUR, &NS, &cs, l, (size_t)(t - l));
        }
        free(d);
    }
    uniq(GIV, &NG);
    uniq(SUR, &NS);
}

static const char *NAT[40] = {"AFG", "ALB", "DZA", "ARM", "AZE", "BLR", "BIH", "BRA", "CHN", "COL", "EGY", "ERI",
                              "ETH", "GEO", "GHA", "IND", "IRN", "IRQ", "ISR", "JOR", "KAZ", "LBN", "LBY", "MAR",
                              "MDA", "NGA", "PAK", "PSE", "RUS", "SEN", "SOM", "SRB", "SYR", "TUN", "TUR", "UKR",
                              "USA", "UZB", "VNM", "YEM"};

typedef struct gen {
    char given[2][32], sur[40], num[16];
    int ng;
    names_fields f;
    const char *gp[2], *sp;
    rec_document doc;
    const char *nat;
} gen;

static void generate(uint64_t i, gen *g) {
    iop_rng r;
    iop_rng_seed(&r, i * 0x9E3779B97F4A7C15ull + 12345);
    double u = iop_rng_uniform(&r);
    snprintf(g->given[0], sizeof g->given[0], "%s", GIV[(size_t)(u * u * (double)NG)]);
    g->ng = iop_rng_below(&r, 10) == 0 ? 2 : 1;
    snprintf(g->given[1], sizeof g->given[1], "%s", GIV[iop_rng_below(&r, (uint32_t)NG)]);
    u = iop_rng_uniform(&r);
    snprintf(g->sur, sizeof g->sur, "%s", SUR[(size_t)(u * u * (double)NS)]);
    for (int k = 0; k < 9; k++) g->num[k] = (char)(k < 2 ? 'A' + iop_rng_below(&r, 26) : '0' + iop_rng_below(&r, 10));
    g->num[9] = 0;
    memset(&g->f, 0, sizeof g->f);
    g->gp[0] = g->given[0];
    g->gp[1] = g->given[1];
    g->sp = g->sur;
    g->f.given_names = g->gp;
    g->f.n_given_names = (size_t)g->ng;
    g->f.surnames = &g->sp;
    g->f.n_surnames = 1;
    g->f.dob = (iop_date){(int16_t)(1930 + iop_rng_below(&r, 80)), (int8_t)(1 + iop_rng_below(&r, 12)),
                          (int8_t)(1 + iop_rng_below(&r, 28))};
    g->f.sex = iop_rng_below(&r, 2) ? 'M' : 'F';
    g->nat = NAT[iop_rng_below(&r, 40)];
    g->f.nationalities = &g->nat;
    g->f.n_nationalities = 1;
    g->doc = (rec_document){"passport", g->num, (char *)g->nat, {0, 0, 0}};
    g->f.documents = &g->doc;
    g->f.n_documents = 1;
}

/* a plausible second record of the same person: one typo, maybe a date swap, no document */
static void corrupt(gen *g, iop_rng *r) {
    size_t l = strlen(g->sur);
    int kind = (int)iop_rng_below(r, 4);
    size_t p = 1 + iop_rng_below(r, (uint32_t)(l > 2 ? l - 1 : 1));
    if (kind == 0 && l > 3) memmove(g->sur + p, g->sur + p + 1, l - p);              /* deletion */
    else if (kind == 1 && p + 1 < l) { char t = g->sur[p]; g->sur[p] = g->sur[p + 1]; g->sur[p + 1] = t; }
    else if (kind == 2) g->sur[p < l ? p : l - 1] = (char)('a' + iop_rng_below(r, 26)); /* substitution */
    if (iop_rng_below(r, 4) == 0 && g->f.dob.day <= 12) { int8_t t = g->f.dob.day; g->f.dob.day = g->f.dob.month; g->f.dob.month = t; }
    if (iop_rng_below(r, 3) == 0) g->f.n_given_names = 1;
    g->f.n_documents = 0;
}

static const names_ident *regen_get(void *user, uint64_t id) {
    (void)user;
    gen g;
    generate(id, &g);
    names_ident *x = NULL;
    names_prepare_fields(ENG, &g.f, &x, NULL);
    return x;
}

static void regen_put(void *user, const names_ident *x) { (void)user; names_ident_free((names_ident *)x); }

typedef struct prep_job {
    size_t from, to;
    names_ident **out;
} prep_job;

static void *prep_run(void *arg) {
    prep_job *j = arg;
    for (size_t i = j->from; i < j->to; i++) {
        gen g;
        generate(i, &g);
        j->out[i - j->from] = NULL;
        names_prepare_fields(ENG, &g.f, &j->out[i - j->from], NULL);
    }
    return NULL;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double secs(uint64_t t0) { return (double)(iop_mono_ns() - t0) / 1e9; }

static uint64_t cpu_ns(void) { /* this thread's CPU time: the machine is shared, wall time is noisy */
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t proc_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *sc = getenv("IOP_BENCH_SCALE");
    bool small = sc && !strcmp(sc, "small");
    size_t N = small ? 200000 : 10000000, R = small ? 100000 : 1000000, Q = 2000;
    /* IOP_BENCH_N / IOP_BENCH_R override the sizes (R = 0 skips the resolve phase) */
    if (getenv("IOP_BENCH_N")) N = (size_t)strtoull(getenv("IOP_BENCH_N"), NULL, 10);
    if (getenv("IOP_BENCH_R")) R = (size_t)strtoull(getenv("IOP_BENCH_R"), NULL, 10);
    if (N < 1000) N = 1000;
    iop_err err;
    if (names_engine_new(IOP_SHARED_DATA "/names/nicknames.csv", &ENG, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    load_pools();
    printf("name pools: %zu given names, %zu surnames\n", NG, NS);

    /* 1. compare throughput */
    {
        enum { P = 2000 };
        names_ident *ids[P];
        for (int i = 0; i < P; i++) {
            gen g;
            generate((uint64_t)i, &g);
            if (i % 2) { iop_rng r; iop_rng_seed(&r, (uint64_t)i); generate((uint64_t)i - 1, &g); corrupt(&g, &r); }
            names_prepare_fields(ENG, &g.f, &ids[i], NULL);
        }
        for (int quick = 0; quick < 2; quick++) {
            uint64_t t0 = cpu_ns();
            size_t n = 0;
            double sink = 0;
            for (int rep = 0; rep < 100; rep++)
                for (int i = 0; i < P; i += 2) {
                    names_result res;
                    if (quick) names_compare_quick(ENG, ids[i], ids[(i + 1 + rep * 2) % P], &res);
                    else names_compare(ENG, ids[i], ids[(i + 1 + rep * 2) % P], &res);
                    sink += res.score;
                    n++;
                }
            double s = (double)(cpu_ns() - t0) / 1e9;
            printf("compare%s: %.2f M comparisons/s per core (CPU time; %s; anchor plain-C Jaro-Winkler 5.9 M/s, "
                   "ratio %.2f)%s\n", quick ? " (quick)" : "", (double)n / s / 1e6,
                   quick ? "all fields, no reason sentences" : "all fields with reason sentences",
                   (double)n / s / 5.9e6, sink < 0 ? "!" : "");
        }
        for (int i = 0; i < P; i++) names_ident_free(ids[i]);
    }

    /* 2. index build */
    names_store st = {regen_get, regen_put, NULL};
    names_index *ix;
    if (names_index_new(ENG, &st, &ix, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    uint64_t t0 = iop_mono_ns(), pc0 = proc_cpu_ns();
    /* two threads prepare a batch, the main thread adds it (adds need exclusive access) */
    enum { BATCH = 16384 };
    names_ident **batch = malloc(BATCH * sizeof *batch);
    for (size_t base = 0; base < N; base += BATCH) {
        size_t n = N - base < BATCH ? N - base : BATCH;
        prep_job jobs[2] = {{base, base + n / 2, batch}, {base + n / 2, base + n, batch + n / 2}};
        pthread_t th;
        bool two = pthread_create(&th, NULL, prep_run, &jobs[1]) == 0;
        prep_run(&jobs[0]);
        if (two) pthread_join(th, NULL); else prep_run(&jobs[1]);
        for (size_t i = 0; i < n; i++) {
            if (!batch[i] || names_index_add(ix, base + i, batch[i], &err)) {
                fprintf(stderr, "identity %zu: %s\n", base + i, batch[i] ? err.msg : "prepare failed");
                return 1;
            }
            names_ident_free(batch[i]);
        }
    }
    free(batch);
    if (names_index_optimize(ix, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double build = secs(t0), build_cpu = (double)(proc_cpu_ns() - pc0) / 1e9;
    double target_build = 300.0 * (double)N / 1e7;
    printf("index build (2 threads prepare, 1 adds; generate + prepare + add + optimize): %zu identities in %.1f s wall, %.1f s CPU "
           "(target <= %.0f s for this size, ratio %.2f wall)\n", N, build, build_cpu, target_build, build / target_build);
    double bpi = (double)names_index_memory(ix) / (double)N;
    printf("index memory: %.0f bytes per identity (target <= 400, ratio %.2f)\n", bpi, bpi / 400.0);

    /* 3. search latency and recall of corrupted queries */
    double *lat = malloc(Q * sizeof *lat), *clat = malloc(Q * sizeof *clat);
    size_t found = 0, found1 = 0;
    iop_rng r;
    iop_rng_seed(&r, 42);
    for (size_t q = 0; q < Q; q++) {
        uint64_t src = iop_rng_next(&r) % N;
        gen g;
        generate(src, &g);
        corrupt(&g, &r);
        names_ident *x;
        names_prepare_fields(ENG, &g.f, &x, NULL);
        names_hit hits[10];
        uint64_t s0 = iop_mono_ns(), c0 = cpu_ns();
        size_t nh = names_index_search(ix, x, 10, 0, hits);
        lat[q] = (double)(iop_mono_ns() - s0) / 1e6;
        clat[q] = (double)(cpu_ns() - c0) / 1e6;
        for (size_t h = 0; h < nh; h++) if (hits[h].id == src) { found++; found1 += h == 0; break; }
        names_ident_free(x);
    }
    qsort(lat, Q, sizeof *lat, cmpd);
    qsort(clat, Q, sizeof *clat, cmpd);
    printf("search top-10 (1 core, %zu corrupted queries, candidates re-prepared by the store): CPU p50 %.2f ms, "
           "p99 %.2f ms (target p99 <= 5 ms, ratio %.2f; anchor SimString 1-8 ms); wall p50 %.2f ms p99 %.2f ms\n",
           Q, clat[Q / 2], clat[Q * 99 / 100], clat[Q * 99 / 100] / 5.0, lat[Q / 2], lat[Q * 99 / 100]);
    free(clat);
    printf("search recall: source record in top 10 for %.2f %%, first for %.2f %%\n", 100.0 * (double)found / (double)Q,
           100.0 * (double)found1 / (double)Q);
    free(lat);
    names_index_free(ix);

    /* 4. resolve: R records, 20 % of them second records of an earlier person */
    if (R) {
        names_ident **ids = malloc(R * sizeof *ids);
        uint64_t *truth = malloc(R * sizeof *truth);
        size_t *cl = malloc(R * sizeof *cl);
        iop_rng_seed(&r, 7);
        uint64_t t1 = iop_mono_ns(), pc1 = proc_cpu_ns();
        for (size_t i = 0; i < R; i++) {
            gen g;
            uint64_t person = i;
            if (i > 10 && iop_rng_below(&r, 5) == 0) person = iop_rng_next(&r) % i;
            if (person != i) person = truth[person]; /* the earlier record's person */
            truth[i] = person;
            generate(person, &g);
            if (person != i) corrupt(&g, &r);
            names_prepare_fields(ENG, &g.f, &ids[i], NULL);
        }
        double prep = secs(t1);
        if (names_resolve(ENG, ids, R, 0, cl, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double total = secs(t1), total_cpu = (double)(proc_cpu_ns() - pc1) / 1e9;
        double target = 60.0 * (double)R / 1e6;
        /* pairwise quality against the generator's truth: count same-person pairs */
        size_t tp = 0, pp = 0, tt = 0;
        {
            /* sort indices by (cluster) and by (truth) to count pairs */
            size_t *cnt_c = calloc(R, sizeof *cnt_c), *cnt_t = calloc(R, sizeof *cnt_t);
            for (size_t i = 0; i < R; i++) { cnt_c[cl[i]]++; cnt_t[truth[i]]++; }
            for (size_t i = 0; i < R; i++) { pp += cnt_c[i] * (cnt_c[i] - (cnt_c[i] ? 1 : 0)) / 2; tt += cnt_t[i] * (cnt_t[i] - (cnt_t[i] ? 1 : 0)) / 2; }
            /* correct pairs: records sharing both cluster and truth -- group by (cluster, truth) with a hash */
            size_t cap = 1; while (cap < R * 2) cap <<= 1;
            uint64_t *key = calloc(cap, sizeof *key); size_t *val = calloc(cap, sizeof *val);
            for (size_t i = 0; i < R; i++) {
                uint64_t k = ((uint64_t)cl[i] << 32 | truth[i]) + 1;
                size_t h = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
                while (key[h] && key[h] != k) h = (h + 1) & (cap - 1);
                key[h] = k; val[h]++;
            }
            for (size_t h = 0; h < cap; h++) if (val[h] > 1) tp += val[h] * (val[h] - 1) / 2;
            free(key); free(val); free(cnt_c); free(cnt_t);
        }
        double prec = pp ? (double)tp / (double)pp : 1, rec = tt ? (double)tp / (double)tt : 1;
        printf("resolve (2 threads): %zu records in %.1f s wall, %.1f s CPU, prepare %.1f s (target <= %.0f s, ratio %.2f "
               "wall; anchor Splink ~1 M/min); pairwise precision %.4f recall %.4f\n", R, total, total_cpu, prep, target,
               total / target, prec, rec);
        for (size_t i = 0; i < R; i++) names_ident_free(ids[i]);
        free(ids); free(truth); free(cl);
    }
    names_engine_free(ENG);
    for (size_t i = 0; i < NG; i++) free(GIV[i]);
    for (size_t i = 0; i < NS; i++) free(SUR[i]);
    free(GIV); free(SUR);
    return 0;
}
