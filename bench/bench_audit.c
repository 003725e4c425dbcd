/* bench-links: audit access */
/*
 * bench_audit.c -- throughput of the access logs with group commit (anchor: the HTTP
 * server logs every search at >= 5,000 searches/s, each append durable before the
 * reply), the cost of verifying the chain, and bearer-token authentication with and
 * without the verified-token cache (argon2id per request vs cached).
 *
 *   build/bench/bench_audit                 full size: 64 durable appenders x 2,500 entries,
 *                                           200,000 durable appends through callbacks (512
 *                                           in flight), then 4 queued appenders x 50,000
 *   IOP_BENCH_SCALE=small build/bench/bench_audit
 *
 * Prints medians of 3 runs and the ratio to the anchor.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "interop/access.h"
#include "interop/audit.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* A new, empty log in dir (removed and re-created); exits on failure. */
static audit_log *fresh_log(const char *dir, const audit_options *o) {
    char path[1024], cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) exit(1);
    snprintf(path, sizeof path, "%s/audit.db", dir);
    audit_log *log;
    iop_err e;
    if (audit_open(path, o, &log, &e) != IOP_OK) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return log;
}

typedef struct appender {
    audit_log *log;
    int n, id, failures;
    double *lat_ms; /* per append */
} appender;

static void *append_main(void *arg) {
    appender *a = arg;
    const char *systems[] = {"sis", "vis", "ees", "etias", "eurodac", "ecris_tcn"};
    audit_count counts[] = {{"sis", 0}, {"vis", 1}, {"ees", 2}, {"etias", 0}, {"eurodac", 0}, {"ecris_tcn", 0}};
    char actor[32], detail[160];
    snprintf(actor, sizeof actor, "officer%03d", a->id);
    for (int i = 0; i < a->n; i++) {
        snprintf(detail, sizeof detail,
                 "{\"query\":{\"surnames\":[\"KOWALSKI\"],\"given_names\":[\"JAN\"],\"dob\":\"1979-03-%02d\"},"
                 "\"request\":\"r%d-%d\"}", 1 + i % 28, a->id, i);
        audit_entry e = {.actor = actor, .authority = "PL Border Guard", .profile = "border_guard",
                         .purpose = "border check", .component = "esp", .operation = "query",
                         .systems = systems, .n_systems = 6, .counts = counts, .n_counts = 6, .detail = detail};
        uint64_t t0 = iop_mono_ns();
        if (audit_append(a->log, &e, NULL, NULL) != IOP_OK) a->failures++;
        a->lat_ms[i] = (double)(iop_mono_ns() - t0) / 1e6;
    }
    return NULL;
}

/* One run: T threads append n each to a fresh log; returns appends/s, fills p50/p99. */
static double run_appends(const char *dir, int T, int n, bool wait, double *p50, double *p99) {
    audit_options o = {.no_wait_durable = !wait};
    audit_log *log = fresh_log(dir, &o);
    appender *a = calloc((size_t)T, sizeof *a);
    pthread_t *th = calloc((size_t)T, sizeof *th);
    double *lat = calloc((size_t)T * (size_t)n, sizeof *lat);
    uint64_t t0 = iop_mono_ns();
    for (int t = 0; t < T; t++) {
        a[t] = (appender){.log = log, .n = n, .id = t, .lat_ms = lat + (size_t)t * (size_t)n};
        pthread_create(&th[t], NULL, append_main, &a[t]);
    }
    int fails = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        fails += a[t].failures;
    }
    iop_err e;
    if (audit_flush(log, &e) != IOP_OK) fprintf(stderr, "flush: %s\n", e.msg);
    double secs = (double)(iop_mono_ns() - t0) / 1e9;
    audit_stats st;
    audit_get_stats(log, &st);
    if (getenv("IOP_BENCH_VERBOSE"))
        fprintf(stderr, "  %llu entries in %llu transactions (%.1f per commit), %.2f ms per commit\n",
                (unsigned long long)st.appended, (unsigned long long)st.batches,
                (double)st.appended / (double)(st.batches ? st.batches : 1),
                (double)st.commit_ns / 1e6 / (double)(st.batches ? st.batches : 1));
    audit_close(log, NULL);
    if (fails) fprintf(stderr, "%d appends failed\n", fails);
    size_t total = (size_t)T * (size_t)n;
    qsort(lat, total, sizeof *lat, cmp_d);
    *p50 = lat[total / 2];
    *p99 = lat[total * 99 / 100];
    free(lat);
    free(a);
    free(th);
    return (double)total / secs;
}

/* Callback mode: a producer keeps up to `window` entries in flight, as a server
 * does that suspends each request until its log entry is durable. */
typedef struct inflight {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_flight, done;
    double *lat_ms;
    uint64_t *t_start;
} inflight;

typedef struct cbreq {
    inflight *f;
    int i;
} cbreq;

static void on_committed(void *ctx, iop_code rc, int64_t seq, const char *msg) {
    cbreq *r = ctx;
    inflight *f = r->f;
    (void)seq;
    if (rc) fprintf(stderr, "append failed: %s\n", msg);
    f->lat_ms[r->i] = (double)(iop_mono_ns() - f->t_start[r->i]) / 1e6;
    pthread_mutex_lock(&f->mu);
    f->in_flight--;
    f->done++;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static double run_callbacks(const char *dir, int n, int window, double *p50, double *p99) {
    audit_log *log = fresh_log(dir, NULL);
    iop_err e;
    inflight f = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    f.lat_ms = calloc((size_t)n, sizeof *f.lat_ms);
    f.t_start = calloc((size_t)n, sizeof *f.t_start);
    cbreq *reqs = calloc((size_t)n, sizeof *reqs);
    const char *systems[] = {"sis", "vis", "ees", "etias", "eurodac", "ecris_tcn"};
    audit_count counts[] = {{"sis", 0}, {"vis", 1}, {"ees", 2}, {"etias", 0}, {"eurodac", 0}, {"ecris_tcn", 0}};
    char detail[160];
    uint64_t t0 = iop_mono_ns();
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&f.mu);
        while (f.in_flight >= window) pthread_cond_wait(&f.cv, &f.mu);
        f.in_flight++;
        pthread_mutex_unlock(&f.mu);
        snprintf(detail, sizeof detail, "{\"query\":{\"surnames\":[\"KOWALSKI\"],\"dob\":\"1979-03-%02d\"},"
                 "\"request\":\"r%d\"}", 1 + i % 28, i);
        audit_entry en = {.actor = "officer001", .authority = "PL Border Guard", .profile = "border_guard",
                          .purpose = "border check", .component = "esp", .operation = "query",
                          .systems = systems, .n_systems = 6, .counts = counts, .n_counts = 6, .detail = detail};
        reqs[i] = (cbreq){.f = &f, .i = i};
        f.t_start[i] = iop_mono_ns();
        if (audit_append_cb(log, &en, on_committed, &reqs[i], &e) != IOP_OK) {
            fprintf(stderr, "%s\n", e.msg);
            exit(1);
        }
    }
    pthread_mutex_lock(&f.mu);
    while (f.done < n) pthread_cond_wait(&f.cv, &f.mu);
    pthread_mutex_unlock(&f.mu);
    double secs = (double)(iop_mono_ns() - t0) / 1e9;
    audit_close(log, NULL);
    qsort(f.lat_ms, (size_t)n, sizeof *f.lat_ms, cmp_d);
    *p50 = f.lat_ms[n / 2];
    *p99 = f.lat_ms[(size_t)n * 99 / 100];
    free(f.lat_ms);
    free(f.t_start);
    free(reqs);
    return (double)n / secs;
}

typedef struct authw {
    access_db *db;
    const char *token;
    int n, fails;
} authw;

static void *auth_main(void *arg) {
    authw *w = arg;
    for (int i = 0; i < w->n; i++) {
        access_user u;
        if (access_authenticate(w->db, w->token, &u, NULL) != IOP_OK) w->fails++;
        else access_user_free(&u);
    }
    return NULL;
}

int main(void) {
    const char *scale = getenv("IOP_BENCH_SCALE");
    bool small = scale && !strcmp(scale, "small");
    int T = getenv("IOP_BENCH_THREADS") ? atoi(getenv("IOP_BENCH_THREADS")) : 64, n = small ? 300 : 2500;
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/iop-bench-audit-%d", tmp ? tmp : "/tmp", (int)getpid());

    double rate[3], p50[3], p99[3];
    for (int r = 0; r < 3; r++) rate[r] = run_appends(dir, T, n, true, &p50[r], &p99[r]);
    double mr = median(rate, 3), m50 = median(p50, 3), m99 = median(p99, 3);
    printf("audit appends, each durable before return (group commit, %d threads x %d): %.0f appends/s "
           "(target >= 5000, ratio %.2f)\n", T, n, mr, mr / 5000.0);
    printf("audit append latency (durable): p50 %.2f ms, p99 %.2f ms\n", m50, m99);
    int n3 = small ? 20000 : 200000, window = 512;
    for (int r = 0; r < 3; r++) rate[r] = run_callbacks(dir, n3, window, &p50[r], &p99[r]);
    mr = median(rate, 3);
    m50 = median(p50, 3);
    m99 = median(p99, 3);
    printf("audit appends, durable before completion (callback, %d in flight, %d entries): %.0f appends/s "
           "(target >= 5000, ratio %.2f), append-to-durable p50 %.2f ms, p99 %.2f ms\n", window, n3, mr, mr / 5000.0,
           m50, m99);
    int T2 = 4, n2 = small ? 5000 : 50000;
    for (int r = 0; r < 3; r++) rate[r] = run_appends(dir, T2, n2, false, &p50[r], &p99[r]);
    mr = median(rate, 3);
    m99 = median(p99, 3);
    printf("audit appends, queued and group-committed, all durable at the end (%d threads x %d): %.0f appends/s "
           "(target >= 5000, ratio %.2f), p99 enqueue %.3f ms\n", T2, n2, mr, mr / 5000.0, m99);

    /* verification of the chain just written */
    char path[1024];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    audit_log *log;
    iop_err e;
    if (audit_open_read_only(path, NULL, &log, &e) != IOP_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double vt[3];
    audit_verify_result vr;
    for (int r = 0; r < 3; r++) {
        uint64_t t0 = iop_mono_ns();
        if (audit_verify(log, &vr, &e) != IOP_OK) {
            fprintf(stderr, "verify: %s\n", e.msg);
            return 1;
        }
        vt[r] = (double)(iop_mono_ns() - t0) / 1e9;
    }
    double mv = median(vt, 3);
    printf("audit verify: %lld entries in %.3f s (%.0f entries/s)\n", (long long)vr.entries, mv,
           (double)vr.entries / mv);
    audit_close(log, NULL);

    /* token authentication */
    snprintf(path, sizeof path, "%s/access.db", dir);
    access_db *db;
    if (access_open(path, NULL, &db, &e) != IOP_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const char *profiles[] = {"border_guard"};
    access_user_spec s = {.name = "bench", .authority = "PL Border Guard", .authority_type = ACCESS_BORDER_GUARD,
                          .member_state = "POL", .profiles = profiles, .n_profiles = 1};
    char *tok;
    if (access_user_add(db, &s, NULL, &e) || access_token_create(db, "bench", 0, NULL, &tok, NULL, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    /* uncached: a fresh handle each time has an empty cache -> argon2id */
    double ut[3];
    for (int r = 0; r < 3; r++) {
        access_db *fresh;
        access_open(path, NULL, &fresh, NULL);
        access_user u;
        uint64_t t0 = iop_mono_ns();
        access_authenticate(fresh, tok, &u, NULL);
        ut[r] = (double)(iop_mono_ns() - t0) / 1e6;
        access_user_free(&u);
        access_close(fresh);
    }
    printf("token authentication, uncached (argon2id interactive): %.1f ms\n", median(ut, 3));
    int AT = 4, an = small ? 5000 : 25000;
    double at[3];
    for (int r = 0; r < 3; r++) {
        authw w[4];
        pthread_t th[4];
        uint64_t t0 = iop_mono_ns();
        for (int t = 0; t < AT; t++) {
            w[t] = (authw){.db = db, .token = tok, .n = an};
            pthread_create(&th[t], NULL, auth_main, &w[t]);
        }
        for (int t = 0; t < AT; t++) pthread_join(th[t], NULL);
        at[r] = (double)AT * an / ((double)(iop_mono_ns() - t0) / 1e9);
    }
    double ma = median(at, 3);
    printf("token authentication, cached (%d threads): %.0f auth/s (target >= 5000, ratio %.2f)\n", AT, ma,
           ma / 5000.0);
    free(tok);
    access_close(db);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
