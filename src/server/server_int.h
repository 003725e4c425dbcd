/*
 * server_int.h -- the server's internal layers:
 *   routes.c    the routing table (data only) and path matching
 *   metrics.c   request counters and latency histograms, Prometheus text
 *   http.c      the libmicrohttpd engine: request bodies, limits, replies, shutdown
 *   handlers.c  the API: authentication and one handler per route over interop.h
 *   server.c    srv_start / srv_stop: wires the engine to the handlers
 * The engine knows nothing of the instance: it routes, enforces limits and calls a
 * dispatch function twice per request (headers, then complete body), so the HTTP layer
 * is tested on its own (tests/test_server_http.c).
 */
#ifndef INTEROP_SERVER_INT_H
#define INTEROP_SERVER_INT_H

#include <stdatomic.h>
#include "interop/server.h"

/* ---- routes ---- */
typedef enum srv_route_id {
    SRV_R_HEALTH, SRV_R_METRICS, SRV_R_SEARCH, SRV_R_LOAD, SRV_R_READ, SRV_R_DELETE, SRV_R_ME,
    SRV_R_PROFILES, SRV_R_COUNT
} srv_route_id;

typedef struct srv_route {
    srv_route_id id;
    const char *method;
    const char *path;   /* "/v1/records/{system}/{id}" */
    const char *name;
    bool auth;
    bool big_body;      /* max_body_load instead of max_body_other */
} srv_route;

#define SRV_MAX_PARAMS 4
#define SRV_PARAM_MAX 256

typedef enum srv_match {
    SRV_MATCH_OK,          /* route found */
    SRV_MATCH_NO_PATH,     /* 404 */
    SRV_MATCH_NO_METHOD    /* 405: the path exists with another method (allow lists them) */
} srv_match;

extern const srv_route srv_routes[SRV_R_COUNT];
/* Matches method and path (no query string: it is cut at '?').  On SRV_MATCH_OK *route
 * is set and params[0..n) hold the path parameters (decoded, NUL-terminated, each at
 * most SRV_PARAM_MAX-1 bytes; a longer segment does not match).  On SRV_MATCH_NO_METHOD
 * allow receives "GET, DELETE" etc. */
srv_match srv_route_match(const char *method, const char *path, const srv_route **route,
                          char params[SRV_MAX_PARAMS][SRV_PARAM_MAX], size_t *n_params, char *allow,
                          size_t allow_len);

/* ---- metrics ---- */
#define SRV_N_BUCKETS 14
#define SRV_N_STATUS 14
typedef struct srv_metrics {
    _Atomic uint64_t count[SRV_R_COUNT + 1][SRV_N_STATUS]; /* last route: unmatched */
    _Atomic uint64_t hist[SRV_R_COUNT + 1][SRV_N_BUCKETS + 1]; /* cumulative in render */
    _Atomic uint64_t sum_us[SRV_R_COUNT + 1];
    _Atomic uint64_t in_flight;
    _Atomic uint64_t rejected_body;  /* 413 before dispatch */
    _Atomic uint64_t auth_failures;
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
/* route: 0..SRV_R_COUNT (SRV_R_COUNT = unmatched). */
void srv_metrics_observe(srv_metrics *m, int route, int status, uint64_t dur_ns);
/* Appends the Prometheus exposition text of the HTTP metrics. */
int srv_metrics_render(srv_metrics *m, iop_buf *out);

/* ---- the engine ---- */
typedef struct srv_req srv_req;
typedef enum srv_phase { SRV_PHASE_HEADERS, SRV_PHASE_BODY } srv_phase;
/* Called with SRV_PHASE_HEADERS once the headers are in (may reply, e.g. 401, and then
 * the body is never read), then with SRV_PHASE_BODY once the whole body is in (must
 * reply; if it does not, the engine answers 500). */
typedef void (*srv_dispatch_fn)(void *ctx, srv_req *r, srv_phase phase);

typedef struct srv_http srv_http;
typedef struct srv_http_cfg {
    const char *listen;
    int threads;
    size_t max_body_load, max_body_other;
    unsigned max_connections, timeout_s;
    const char *tls_cert, *tls_key;
    bool log_requests;
    srv_dispatch_fn dispatch;
    void *ctx;
} srv_http_cfg;

iop_code srv_http_start(const srv_http_cfg *cfg, srv_http **out, iop_err *err);
uint16_t srv_http_port(const srv_http *h);
srv_metrics *srv_http_metrics(srv_http *h);
void srv_http_stop(srv_http *h, unsigned grace_ms);

/* Request accessors (valid during dispatch). */
const srv_route *srv_req_route(const srv_req *r);
const char *srv_req_param(const srv_req *r, size_t i);
const char *srv_req_header(const srv_req *r, const char *name);
const char *srv_req_body(const srv_req *r, size_t *len);   /* NUL-terminated */
/* Per-request application data, freed with free_fn when the request ends. */
void srv_req_set_app(srv_req *r, void *app, void (*free_fn)(void *));
void *srv_req_app(const srv_req *r);
bool srv_req_replied(const srv_req *r);
/* The user name shown in the request log line. */
void srv_req_set_who(srv_req *r, const char *who);

/* Replies (exactly one per request; later calls are ignored).  The body is taken over
 * (b is left empty). */
void srv_reply(srv_req *r, int status, const char *content_type, iop_buf *b);
void srv_reply_json(srv_req *r, int status, iop_buf *b);
/* {"error":{"code":code,"message":msg}} */
void srv_reply_error(srv_req *r, int status, const char *code, const char *msg);
/* Status and code from an iop_err (EINVAL 400, EDENIED 403, ...). */
void srv_reply_err(srv_req *r, const iop_err *e);
int srv_status_of(iop_code c);
const char *srv_code_slug(iop_code c);

/* Splits "Bearer <token>" (case-insensitive scheme, spaces tolerated); NULL if absent
 * or malformed.  Returns a pointer into h. */
const char *srv_bearer_token(const char *h, size_t *len);

#endif
