/*
 * server.h -- the HTTP JSON API of an interop node (`interop serve`): a thin layer over
 * interop.h (authenticate, search, load, read, delete, counts) on libmicrohttpd.
 *
 * Routes (docs/openapi.yaml describes each; srv_route_at() lists them from the code):
 *   GET    /health                       liveness, version, uptime (no authentication)
 *   GET    /metrics                      Prometheus text (no authentication unless a
 *                                        metrics token is configured)
 *   POST   /v1/search                    a query through the European search portal
 *   POST   /v1/records                   JSON Lines or a JSON array of records, all-or-nothing
 *   GET    /v1/records/{system}/{id}     one record as the caller's profile may see it
 *   DELETE /v1/records/{system}/{id}     deletes a record (and what follows it: CIR, templates)
 *   GET    /v1/me                        the caller: user, authority, profiles
 *   GET    /v1/profiles                  the caller's profiles (Reg. 2019/817 Art 8)
 *
 * Every /v1 route takes `Authorization: Bearer <token>`; `X-Interop-Profile` chooses the
 * profile (optional when the user holds one), `X-Interop-Purpose` states the purpose
 * (logged, Art 10).  Errors are {"error":{"code":"...","message":"..."}} with the HTTP
 * status mapped from iop_code (EINVAL 400, EDENIED 403, ENOTFOUND 404, EEXIST 409,
 * ELIMIT 413, others 500); 401 for a missing or bad token.
 *
 * Threading: libmicrohttpd runs a pool of `threads` polling threads (epoll where
 * available); each request is handled on one of them.  No global state: two servers
 * may run in one process over two instances.
 */
#ifndef INTEROP_SERVER_H
#define INTEROP_SERVER_H

#include <stdint.h>
#include "interop/interop.h"

typedef struct srv srv;

typedef struct srv_opts {
    const char *listen;          /* "HOST:PORT" (IPv4 or [IPv6]); NULL = "127.0.0.1:8080";
                                    port 0 = an ephemeral port (srv_port tells which) */
    int threads;                 /* polling threads; 0 = one per core */
    size_t max_body_load;        /* bytes, POST /v1/records; 0 = 16 MiB */
    size_t max_body_other;       /* bytes, every other route; 0 = 64 KiB */
    unsigned max_connections;    /* 0 = 1024 */
    unsigned timeout_s;          /* idle connection timeout; 0 = 30 s */
    const char *tls_cert;        /* PEM file; both or neither of cert and key */
    const char *tls_key;         /* PEM file */
    const char *metrics_token;   /* NULL = /metrics needs no token; else `Bearer <it>` */
    const char *version;         /* reported by /health; NULL = IOP_SERVER_VERSION */
    bool log_requests;           /* one line per request on stderr: time, user, method,
                                    path, status, duration (never tokens or bodies) */
} srv_opts;

#define IOP_SERVER_VERSION "0.1.0"

/* Starts serving `in` (borrowed: it must outlive the server).  On return the socket is
 * bound and listening.  *out is released with srv_stop. */
iop_code srv_start(iop_instance *in, const srv_opts *opts, srv **out, iop_err *err);
/* The bound TCP port (useful with port 0). */
uint16_t srv_port(const srv *s);
/* Graceful stop: stops accepting connections, lets the requests in flight finish (up to
 * grace_ms; 0 = 10 s), then closes every connection and frees s.  The instance is not
 * closed (the caller closes it, which flushes the log).  NULL-safe. */
void srv_stop(srv *s, unsigned grace_ms);
/* Requests being handled right now. */
unsigned srv_in_flight(const srv *s);

/* The routing table, as the code dispatches it (the OpenAPI test compares it with
 * docs/openapi.yaml).  Paths use {name} for parameters. */
typedef struct srv_route_info {
    const char *method;
    const char *path;
    const char *name;   /* route label in /metrics */
    bool auth;          /* needs a bearer token */
} srv_route_info;
size_t srv_route_count(void);
srv_route_info srv_route_at(size_t i);

#endif
