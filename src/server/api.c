/*
 * api.c -- the HTTP JSON API over an interop node (interop.h): authentication, the
 * profile and purpose headers, and one handler per route of routes.c.
 *
 * Authentication (Reg. 2019/817 Art 9(1): only duly authorised staff query the portal):
 * `Authorization: Bearer <token>` is checked when the headers are in, before any body
 * is read; a missing, malformed, unknown, revoked or expired token gets 401 with the
 * same message in every case (nothing that helps guessing).  The profile (Art 8) comes
 * from `X-Interop-Profile`; a user who holds exactly one profile may leave it out; a
 * profile the user does not hold is 403.  `X-Interop-Purpose` is passed to the portal
 * and logged with the query (Art 10(1)(b)).
 *
 * /health needs no token.  /metrics needs none unless the server was given a metrics
 * token (then `Authorization: Bearer <metrics token>`).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "interop/access.h"
#include "interop/audit.h"
#include "server/server_int.h"

/* Single flight for token verification: a token unknown to the access cache costs an
 * argon2id verification (tens of ms, 64 MiB).  When many connections present the same
 * token at once (a client opening its connection pool), only one verifies it; the others
 * wait and then hit the cache, instead of running dozens of argon2id at the same time.
 * And at most one token check per core runs at once, so wrong secrets sent in parallel
 * cost at most cores x 64 MiB of argon2id memory (a check that hits the cache takes
 * microseconds, so the cap costs no throughput). */
#define AUTH_FLIGHTS 64
typedef struct auth_flight {
    uint8_t key[16];
    bool used;
} auth_flight;

struct srv {
    iop_instance *in;
    srv_http *http;
    pthread_mutex_t af_mu;
    pthread_cond_t af_cv;
    auth_flight af[AUTH_FLIGHTS];
    int af_active, af_max;      /* token checks running; at most af_max (memory bound) */
    uint8_t af_salt[crypto_generichash_KEYBYTES];
    uint64_t started_ns;
    int64_t started_ms;
    char *metrics_token;
    char *version;
};

#define HDR_PROFILE "X-Interop-Profile"
#define HDR_PURPOSE "X-Interop-Purpose"
#define MAX_HDR_VALUE 256

/* ---- per-request caller ---- */

typedef struct req_actor {
    iop_actor a;
    char *purpose;       /* ours: the X-Interop-Purpose header */
    char *orig_purpose;  /* what iop_authenticate put there, restored before clearing */
} req_actor;

static void req_actor_free(void *p) {
    req_actor *ra = p;
    if (!ra) return;
    if (ra->purpose) ra->a.purpose = ra->orig_purpose;
    iop_actor_clear(&ra->a);
    free(ra->purpose);
    free(ra);
}

static bool header_ok(const char *v) {
    if (strlen(v) > MAX_HDR_VALUE) return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

static bool user_holds(const iop_actor *a, const char *profile) {
    for (size_t i = 0; i < a->n_profiles; i++)
        if (a->profiles[i] && !strcmp(a->profiles[i], profile)) return true;
    return false;
}

static int flight_enter(srv *s, const char *token, size_t len) {
    uint8_t key[16];
    crypto_generichash(key, sizeof key, (const unsigned char *)token, len, s->af_salt, sizeof s->af_salt);
    pthread_mutex_lock(&s->af_mu);
    for (;;) {
        bool busy = s->af_active >= s->af_max;
        for (int i = 0; i < AUTH_FLIGHTS && !busy; i++)
            busy = s->af[i].used && sodium_memcmp(s->af[i].key, key, sizeof key) == 0;
        if (!busy) break;
        pthread_cond_wait(&s->af_cv, &s->af_mu);
    }
    s->af_active++;
    int slot = -1;
    for (int i = 0; i < AUTH_FLIGHTS && slot < 0; i++)
        if (!s->af[i].used) slot = i;
    if (slot >= 0) {
        memcpy(s->af[slot].key, key, sizeof key);
        s->af[slot].used = true;
    }
    pthread_mutex_unlock(&s->af_mu);
    sodium_memzero(key, sizeof key);
    return slot;
}

static void flight_leave(srv *s, int slot) {
    pthread_mutex_lock(&s->af_mu);
    s->af_active--;
    if (slot >= 0) {
        s->af[slot].used = false;
        sodium_memzero(s->af[slot].key, sizeof s->af[slot].key);
    }
    pthread_cond_broadcast(&s->af_cv);
    pthread_mutex_unlock(&s->af_mu);
}

/* Authenticates the caller of an /v1 route; replies 401/403/400 on failure. */
static void authenticate(srv *s, srv_req *r) {
    srv_metrics *m = srv_http_metrics(s->http);
    size_t tlen = 0;
    const char *tok = srv_bearer_token(srv_req_header(r, "Authorization"), &tlen);
    if (!tok) {
        atomic_fetch_add(&m->auth_failures, 1);
        srv_reply_error(r, 401, "unauthorized", "authentication required: send 'Authorization: Bearer <token>'");
        return;
    }
    const char *profile = srv_req_header(r, HDR_PROFILE);
    const char *purpose = srv_req_header(r, HDR_PURPOSE);
    if (profile && (!*profile || !header_ok(profile))) {
        srv_reply_error(r, 400, "invalid_input", "header " HDR_PROFILE ": empty, too long or has control characters");
        return;
    }
    if (purpose && (!*purpose || !header_ok(purpose))) {
        srv_reply_error(r, 400, "invalid_input", "header " HDR_PURPOSE ": empty, too long or has control characters");
        return;
    }
    char *token = iop_strndup(tok, tlen);
    req_actor *ra = calloc(1, sizeof *ra);
    if (!token || !ra) {
        free(token);
        free(ra);
        srv_reply_error(r, 500, "out_of_memory", "out of memory");
        return;
    }
    iop_err err = {0};
    int slot = flight_enter(s, token, tlen);
    iop_code rc = iop_authenticate(s->in, token, NULL, NULL, &ra->a, &err);
    flight_leave(s, slot);
    sodium_memzero(token, tlen);
    free(token);
    if (rc) {
        free(ra);
        if (rc == IOP_EDENIED || rc == IOP_ENOTFOUND || rc == IOP_EINVAL) {
            atomic_fetch_add(&m->auth_failures, 1);
            srv_reply_error(r, 401, "unauthorized", "invalid, revoked or expired token");
        } else {
            srv_reply_err(r, &err);
        }
        return;
    }
    srv_req_set_app(r, ra, req_actor_free);
    srv_req_set_who(r, ra->a.user);
    ra->a.profile = NULL;
    if (profile) {
        const esp_profile *p = user_holds(&ra->a, profile) ? esp_profile_find(iop_profiles(s->in), profile) : NULL;
        if (!p) {
            srv_reply_error(r, 403, "forbidden", "the user does not hold the profile named in " HDR_PROFILE);
            return;
        }
        ra->a.profile = p;
    } else if (ra->a.n_profiles == 1) {
        ra->a.profile = esp_profile_find(iop_profiles(s->in), ra->a.profiles[0]);
    }
    if (purpose) {
        ra->purpose = iop_strdup(purpose);
        ra->orig_purpose = ra->a.purpose;
        ra->a.purpose = ra->purpose;
    }
}

/* The routes that act under a profile need one. */
static const iop_actor *acting(srv *s, srv_req *r) {
    req_actor *ra = srv_req_app(r);
    if (ra->a.profile) return &ra->a;
    iop_buf b;
    iop_buf_init(&b);
    if (ra->a.n_profiles == 0) {
        srv_reply_error(r, 403, "forbidden", "the user holds no profile of the search portal");
        return NULL;
    }
    iop_buf_puts(&b, "the user holds several profiles: choose one with " HDR_PROFILE " (one of:");
    for (size_t i = 0; i < ra->a.n_profiles; i++) iop_buf_printf(&b, " %s", ra->a.profiles[i]);
    iop_buf_puts(&b, ")");
    srv_reply_error(r, 400, "profile_required", b.data);
    iop_buf_free(&b);
    (void)s;
    return NULL;
}

/* ---- handlers ---- */

static void h_health(srv *s, srv_req *r) {
    iop_buf b;
    iop_buf_init(&b);
    char started[32];
    iop_time_format(s->started_ms, started);
    iop_buf_puts(&b, "{\"status\":\"ok\",\"version\":");
    iop_buf_json_str(&b, s->version);
    iop_buf_printf(&b, ",\"uptime_s\":%.3f,\"started\":\"%s\"}\n", (double)(iop_mono_ns() - s->started_ns) / 1e9,
                   started);
    srv_reply_json(r, 200, &b);
}

static bool metrics_allowed(srv *s, srv_req *r) {
    if (!s->metrics_token) return true;
    size_t n = 0;
    const char *tok = srv_bearer_token(srv_req_header(r, "Authorization"), &n);
    if (!tok) return false;
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)tok, n, NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)s->metrics_token, strlen(s->metrics_token), NULL, 0);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

static void h_metrics(srv *s, srv_req *r) {
    if (!metrics_allowed(s, r)) {
        atomic_fetch_add(&srv_http_metrics(s->http)->auth_failures, 1);
        srv_reply_error(r, 401, "unauthorized", "the metrics token is required");
        return;
    }
    iop_buf b;
    iop_buf_init(&b);
    srv_metrics_render(srv_http_metrics(s->http), &b);
    iop_buf_printf(&b,
                   "# HELP interop_uptime_seconds Seconds since the server started.\n"
                   "# TYPE interop_uptime_seconds gauge\n"
                   "interop_uptime_seconds %.3f\n",
                   (double)(iop_mono_ns() - s->started_ns) / 1e9);
    uint64_t hits = 0, misses = 0;
    access_cache_stats(iop_access_db(s->in), &hits, &misses);
    iop_buf_printf(&b,
                   "# HELP interop_auth_cache_hits_total Token checks answered by the verified-token cache.\n"
                   "# TYPE interop_auth_cache_hits_total counter\n"
                   "interop_auth_cache_hits_total %llu\n"
                   "# HELP interop_auth_cache_misses_total Token checks that needed an argon2id verification.\n"
                   "# TYPE interop_auth_cache_misses_total counter\n"
                   "interop_auth_cache_misses_total %llu\n",
                   (unsigned long long)hits, (unsigned long long)misses);
    audit_stats as;
    audit_get_stats(iop_audit_log(s->in), &as);
    iop_buf_printf(&b,
                   "# HELP interop_audit_entries_total Access-log entries committed (Reg. 2019/817 Art 10).\n"
                   "# TYPE interop_audit_entries_total counter\n"
                   "interop_audit_entries_total %llu\n"
                   "# HELP interop_audit_batches_total Access-log transactions committed (group commits).\n"
                   "# TYPE interop_audit_batches_total counter\n"
                   "interop_audit_batches_total %llu\n"
                   "# HELP interop_audit_failed_total Access-log entries whose transaction failed.\n"
                   "# TYPE interop_audit_failed_total counter\n"
                   "interop_audit_failed_total %llu\n"
                   "# HELP interop_audit_commit_seconds_total Time spent committing the access log, fsync included.\n"
                   "# TYPE interop_audit_commit_seconds_total counter\n"
                   "interop_audit_commit_seconds_total %.6f\n"
                   "# HELP interop_audit_queued Access-log entries waiting for the writer.\n"
                   "# TYPE interop_audit_queued gauge\n"
                   "interop_audit_queued %llu\n",
                   (unsigned long long)as.appended, (unsigned long long)as.batches, (unsigned long long)as.failed,
                   (double)as.commit_ns / 1e9, (unsigned long long)as.queued);
    iop_counts c;
    iop_err err = {0};
    if (iop_count(s->in, &c, &err) == IOP_OK) {
        iop_buf_puts(&b, "# HELP interop_records Records stored, by connected system.\n"
                         "# TYPE interop_records gauge\n");
        for (int i = 0; i < IOP_SYS_COUNT; i++)
            iop_buf_printf(&b, "interop_records{system=\"%s\"} %lld\n", iop_system_name((iop_system)i),
                           (long long)c.records[i]);
        iop_buf_printf(&b,
                       "# HELP interop_cir_files Individual files in the common identity repository.\n"
                       "# TYPE interop_cir_files gauge\n"
                       "interop_cir_files %lld\n",
                       (long long)c.cir_files);
    } else {
        iop_buf_puts(&b, "# the record counts are unavailable: ");
        for (const char *p = err.msg; *p; p++) iop_buf_append(&b, *p == '\n' ? " " : p, 1);
        iop_buf_puts(&b, "\n");
    }
    srv_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static void h_search(srv *s, srv_req *r) {
    const iop_actor *a = acting(s, r);
    if (!a) return;
    size_t len;
    const char *body = srv_req_body(r, &len);
    iop_buf out;
    iop_buf_init(&out);
    iop_err err = {0};
    iop_code rc = iop_search_json(s->in, a, body, len, &out, &err);
    if (rc) {
        iop_buf_free(&out);
        srv_reply_err(r, &err);
        return;
    }
    srv_reply_json(r, 200, &out);
}

static void write_stats(iop_buf *b, const iop_load_stats *st) {
    iop_buf_printf(b, "{\"records\":%zu,\"per_system\":{", st->records);
    bool first = true;
    for (int i = 0; i < IOP_SYS_COUNT; i++) {
        if (!st->per_system[i]) continue;
        iop_buf_printf(b, "%s\"%s\":%zu", first ? "" : ",", iop_system_name((iop_system)i), st->per_system[i]);
        first = false;
    }
    iop_buf_printf(b, "},\"cir_files\":%zu}\n", st->cir_files);
}

/* A JSON array of records: each element parsed strictly, then one all-or-nothing load. */
static iop_code load_array(srv *s, const iop_actor *a, const char *body, size_t len, iop_load_stats *st, iop_err *err) {
    json_error_t je;
    json_t *arr = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!arr) return iop_fail(err, IOP_EINVAL, "request body: line %d, column %d: %s", je.line, je.column, je.text);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return iop_fail(err, IOP_EINVAL, "request body: expected a JSON array of records or JSON Lines");
    }
    size_t n = json_array_size(arr);
    rec_person *recs = n ? calloc(n, sizeof *recs) : NULL;
    if (n && !recs) {
        json_decref(arr);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    iop_code rc = IOP_OK;
    size_t parsed = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *el = json_array_get(arr, i);
        if (!json_is_object(el)) {
            rc = iop_fail(err, IOP_EINVAL, "request body: records[%zu]: expected a JSON object", i);
            break;
        }
        char *txt = json_dumps(el, JSON_COMPACT);
        if (!txt) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        rc = rec_parse(txt, strlen(txt), &recs[i], err);
        free(txt);
        if (rc) iop_err_prefix(err, "request body: records[%zu]", i);
        else parsed++;
    }
    json_decref(arr);
    if (!rc) {
        if (n == 0) rc = iop_fail(err, IOP_EINVAL, "request body: no records");
        else rc = iop_load_records(s->in, a, recs, n, st, err);
    }
    for (size_t i = 0; i < parsed; i++) rec_person_clear(&recs[i]);
    free(recs);
    return rc;
}

static void h_load(srv *s, srv_req *r) {
    const iop_actor *a = acting(s, r);
    if (!a) return;
    size_t len;
    const char *body = srv_req_body(r, &len);
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
    iop_load_stats st;
    memset(&st, 0, sizeof st);
    iop_err err = {0};
    iop_code rc;
    if (i == len) rc = iop_fail(&err, IOP_EINVAL, "request body: no records (send JSON Lines or a JSON array)");
    else if (body[i] == '[') rc = load_array(s, a, body, len, &st, &err);
    else rc = iop_load_jsonl(s->in, a, "request body", body, len, 0, &st, &err);
    if (rc) {
        srv_reply_err(r, &err);
        return;
    }
    iop_buf b;
    iop_buf_init(&b);
    write_stats(&b, &st);
    srv_reply_json(r, 200, &b);
}

static bool path_system(srv_req *r, iop_system *sys) {
    iop_err err = {0};
    const char *name = srv_req_param(r, 0);
    if (iop_system_parse(name, sys, &err) != IOP_OK) {
        char msg[SRV_PARAM_MAX + 128];
        snprintf(msg, sizeof msg,
                 "path: unknown system '%.64s' (one of sis, vis, eurodac, ees, etias, ecris-tcn, europol, interpol)",
                 name);
        srv_reply_error(r, 400, "invalid_input", msg);
        return false;
    }
    return true;
}

static void h_read(srv *s, srv_req *r) {
    const iop_actor *a = acting(s, r);
    if (!a) return;
    iop_system sys;
    if (!path_system(r, &sys)) return;
    iop_buf out;
    iop_buf_init(&out);
    iop_err err = {0};
    if (iop_read_json(s->in, a, sys, srv_req_param(r, 1), &out, &err)) {
        iop_buf_free(&out);
        srv_reply_err(r, &err);
        return;
    }
    srv_reply_json(r, 200, &out);
}

static void h_delete(srv *s, srv_req *r) {
    const iop_actor *a = acting(s, r);
    if (!a) return;
    iop_system sys;
    if (!path_system(r, &sys)) return;
    iop_err err = {0};
    if (iop_delete(s->in, a, sys, srv_req_param(r, 1), &err)) {
        srv_reply_err(r, &err);
        return;
    }
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_printf(&b, "{\"deleted\":{\"system\":\"%s\",\"id\":", iop_system_name(sys));
    iop_buf_json_str(&b, srv_req_param(r, 1));
    iop_buf_puts(&b, "}}\n");
    srv_reply_json(r, 200, &b);
}

static void put_field(iop_buf *b, const char *key, const char *v, bool comma) {
    iop_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (v) iop_buf_json_str(b, v);
    else iop_buf_puts(b, "null");
}

static void h_me(srv *s, srv_req *r) {
    req_actor *ra = srv_req_app(r);
    const iop_actor *a = &ra->a;
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, "{");
    put_field(&b, "user", a->user, false);
    put_field(&b, "authority", a->authority, true);
    put_field(&b, "authority_type", a->authority_type, true);
    put_field(&b, "member_state", a->member_state, true);
    iop_buf_puts(&b, ",\"profiles\":[");
    for (size_t i = 0; i < a->n_profiles; i++) {
        if (i) iop_buf_puts(&b, ",");
        iop_buf_json_str(&b, a->profiles[i]);
    }
    iop_buf_puts(&b, "]");
    put_field(&b, "profile", a->profile ? esp_profile_name(a->profile) : NULL, true);
    put_field(&b, "purpose", a->purpose, true);
    iop_buf_puts(&b, "}\n");
    (void)s;
    srv_reply_json(r, 200, &b);
}

static void h_profiles(srv *s, srv_req *r) {
    req_actor *ra = srv_req_app(r);
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, "{\"profiles\":[");
    bool first = true;
    for (size_t i = 0; i < ra->a.n_profiles; i++) {
        const esp_profile *p = esp_profile_find(iop_profiles(s->in), ra->a.profiles[i]);
        if (!p) continue; /* a profile name the profiles file no longer defines */
        if (!first) iop_buf_puts(&b, ",");
        first = false;
        if (esp_profile_to_json(p, &b)) {
            iop_buf_free(&b);
            srv_reply_error(r, 500, "internal", "cannot write the profile as JSON");
            return;
        }
    }
    iop_buf_puts(&b, "]}\n");
    srv_reply_json(r, 200, &b);
}

static void dispatch(void *ctx, srv_req *r, srv_phase phase) {
    srv *s = ctx;
    const srv_route *rt = srv_req_route(r);
    if (phase == SRV_PHASE_HEADERS) {
        if (rt->auth) authenticate(s, r);
        return;
    }
    switch (rt->id) {
    case SRV_R_HEALTH: h_health(s, r); break;
    case SRV_R_METRICS: h_metrics(s, r); break;
    case SRV_R_SEARCH: h_search(s, r); break;
    case SRV_R_LOAD: h_load(s, r); break;
    case SRV_R_READ: h_read(s, r); break;
    case SRV_R_DELETE: h_delete(s, r); break;
    case SRV_R_ME: h_me(s, r); break;
    case SRV_R_PROFILES: h_profiles(s, r); break;
    case SRV_R_COUNT: break;
    }
}

/* ---- lifecycle ---- */

iop_code srv_start(iop_instance *in, const srv_opts *opts, srv **out, iop_err *err) {
    *out = NULL;
    srv_opts o = {0};
    if (opts) o = *opts;
    if (sodium_init() < 0) return iop_fail(err, IOP_EINTERNAL, "libsodium failed to initialise");
    srv *s = calloc(1, sizeof *s);
    if (!s) return iop_fail(err, IOP_ENOMEM, "out of memory");
    s->in = in;
    pthread_mutex_init(&s->af_mu, NULL);
    pthread_cond_init(&s->af_cv, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->af_max = cores < 2 ? 2 : cores > AUTH_FLIGHTS ? AUTH_FLIGHTS : (int)cores;
    randombytes_buf(s->af_salt, sizeof s->af_salt);
    s->started_ns = iop_mono_ns();
    s->started_ms = iop_now_ms();
    s->version = iop_strdup(o.version ? o.version : IOP_SERVER_VERSION);
    if (o.metrics_token) {
        if (!*o.metrics_token) {
            free(s->version);
            pthread_cond_destroy(&s->af_cv);
            pthread_mutex_destroy(&s->af_mu);
            free(s);
            return iop_fail(err, IOP_EINVAL, "--metrics-token: empty token");
        }
        s->metrics_token = iop_strdup(o.metrics_token);
    }
    srv_http_cfg cfg = {
        .listen = o.listen,
        .threads = o.threads,
        .max_body_load = o.max_body_load,
        .max_body_other = o.max_body_other,
        .max_connections = o.max_connections,
        .timeout_s = o.timeout_s,
        .tls_cert = o.tls_cert,
        .tls_key = o.tls_key,
        .log_requests = o.log_requests,
        .dispatch = dispatch,
        .ctx = s,
    };
    iop_code rc = srv_http_start(&cfg, &s->http, err);
    if (rc) {
        free(s->metrics_token);
        free(s->version);
        pthread_cond_destroy(&s->af_cv);
        pthread_mutex_destroy(&s->af_mu);
        free(s);
        return rc;
    }
    *out = s;
    return IOP_OK;
}

uint16_t srv_port(const srv *s) { return srv_http_port(s->http); }
unsigned srv_in_flight(const srv *s) { return (unsigned)atomic_load(&srv_http_metrics(s->http)->in_flight); }

void srv_stop(srv *s, unsigned grace_ms) {
    if (!s) return;
    srv_http_stop(s->http, grace_ms);
    if (s->metrics_token) sodium_memzero(s->metrics_token, strlen(s->metrics_token));
    free(s->metrics_token);
    free(s->version);
    pthread_cond_destroy(&s->af_cv);
    pthread_mutex_destroy(&s->af_mu);
    free(s);
}
