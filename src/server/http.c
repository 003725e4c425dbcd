/*
 * http.c -- the HTTP engine of `interop serve` on libmicrohttpd.
 *
 * Design: libmicrohttpd runs a pool of polling threads (epoll where the build has it);
 * each request is handled synchronously on the thread that read it.  For every request
 * the engine
 *   1. matches method and path against the routing table (404, 405 with Allow),
 *   2. refuses a declared Content-Length above the route's limit at once (413),
 *   3. calls dispatch(HEADERS) -- the API authenticates here, so a bad token is refused
 *      before any body is read,
 *   4. collects the body up to the limit (a chunked body that grows beyond it is drained
 *      and refused with 413),
 *   5. calls dispatch(BODY), which must reply.
 * Replies are JSON with Cache-Control: no-store.  Every request ends in the completion
 * callback, which records its route, status and latency in the metrics.
 *
 * Shutdown is graceful: the listening socket is closed first (MHD_quiesce_daemon), the
 * requests in flight get up to grace_ms to finish, then the daemon stops.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include "server/server_int.h"

struct srv_http {
    struct MHD_Daemon *d;
    srv_http_cfg cfg;
    char *cert_pem, *key_pem;
    srv_metrics m;
    uint16_t port;
    pthread_mutex_t log_mu;
    char last_log[256];
};

struct srv_req {
    srv_http *h;
    struct MHD_Connection *c;
    const srv_route *route;
    int route_idx; /* SRV_R_COUNT when unmatched */
    char params[SRV_MAX_PARAMS][SRV_PARAM_MAX];
    size_t n_params;
    iop_buf body;
    size_t limit;
    bool too_large;
    bool queue_failed;
    uint64_t t0;
    int status; /* 0 until replied */
    char method[12];
    char path[160];
    char who[64];
    void *app;
    void (*app_free)(void *);
};

/* ---- small helpers ---- */

int srv_status_of(iop_code c) {
    switch (c) {
    case IOP_OK: return 200;
    case IOP_EINVAL: case IOP_EFORMAT: return 400;
    case IOP_EDENIED: return 403;
    case IOP_ENOTFOUND: return 404;
    case IOP_EEXIST: return 409;
    case IOP_ELIMIT: return 413;
    default: return 500;
    }
}

const char *srv_code_slug(iop_code c) {
    switch (c) {
    case IOP_OK: return "ok";
    case IOP_EINVAL: return "invalid_input";
    case IOP_EFORMAT: return "invalid_format";
    case IOP_EDENIED: return "forbidden";
    case IOP_ENOTFOUND: return "not_found";
    case IOP_EEXIST: return "conflict";
    case IOP_ELIMIT: return "too_large";
    case IOP_ENOMEM: return "out_of_memory";
    case IOP_EIO: return "io_error";
    case IOP_ECORRUPT: return "corrupt";
    default: return "internal";
    }
}

const char *srv_bearer_token(const char *h, size_t *len) {
    if (!h) return NULL;
    while (*h == ' ' || *h == '\t') h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t') h++;
    size_t n = 0;
    while (h[n] && h[n] != ' ' && h[n] != '\t') n++;
    const char *end = h + n;
    while (*end == ' ' || *end == '\t') end++;
    if (n == 0 || *end) return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] < 0x21 || (unsigned char)h[i] > 0x7e) return NULL;
    if (len) *len = n;
    return h;
}

/* ---- request accessors ---- */

const srv_route *srv_req_route(const srv_req *r) { return r->route; }
const char *srv_req_param(const srv_req *r, size_t i) { return i < r->n_params ? r->params[i] : NULL; }
const char *srv_req_header(const srv_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}
const char *srv_req_body(const srv_req *r, size_t *len) {
    if (len) *len = r->body.len;
    return r->body.data ? r->body.data : "";
}
void srv_req_set_app(srv_req *r, void *app, void (*free_fn)(void *)) {
    if (r->app && r->app_free) r->app_free(r->app);
    r->app = app;
    r->app_free = free_fn;
}
void *srv_req_app(const srv_req *r) { return r->app; }
bool srv_req_replied(const srv_req *r) { return r->status != 0; }
void srv_req_set_who(srv_req *r, const char *who) { snprintf(r->who, sizeof r->who, "%s", who ? who : "-"); }

/* Copies s printable (control and non-ASCII bytes as '?'), truncated to cap-1. */
static void copy_printable(char *dst, size_t cap, const char *s) {
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++) dst[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = 0;
}

static void log_request(const srv_req *r, int status, uint64_t dur_ns) {
    char t[32];
    iop_time_format(iop_now_ms(), t);
    fprintf(stderr, "%s %s %s %s %d %.2fms\n", t, r->who[0] ? r->who : "-", r->method, r->path, status,
            (double)dur_ns / 1e6);
}

/* ---- replies ---- */

static void reply_raw(srv_req *r, int status, const char *content_type, char *data, size_t len, const char *allow) {
    if (r->status) { free(data); return; }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(data); r->status = 500; r->queue_failed = true; return; }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"interop\"");
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (MHD_queue_response(r->c, (unsigned)status, resp) != MHD_YES) r->queue_failed = true;
    MHD_destroy_response(resp);
    r->status = status;
}

void srv_reply(srv_req *r, int status, const char *content_type, iop_buf *b) {
    size_t len = b->len;
    char *data = iop_buf_steal(b);
    reply_raw(r, status, content_type, data, len, NULL);
}

void srv_reply_json(srv_req *r, int status, iop_buf *b) { srv_reply(r, status, "application/json", b); }

static void reply_error_allow(srv_req *r, int status, const char *code, const char *msg, const char *allow) {
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_puts(&b, "{\"error\":{\"code\":");
    iop_buf_json_str(&b, code);
    iop_buf_puts(&b, ",\"message\":");
    iop_buf_json_str(&b, msg);
    iop_buf_puts(&b, "}}\n");
    size_t len = b.len;
    char *data = iop_buf_steal(&b);
    reply_raw(r, status, "application/json", data, len, allow);
}

void srv_reply_error(srv_req *r, int status, const char *code, const char *msg) {
    reply_error_allow(r, status, code, msg, NULL);
}

void srv_reply_err(srv_req *r, const iop_err *e) {
    srv_reply_error(r, srv_status_of(e->code), srv_code_slug(e->code), e->msg[0] ? e->msg : iop_code_name(e->code));
}

/* ---- libmicrohttpd callbacks ---- */

static void req_free(srv_req *r) {
    if (!r) return;
    if (r->app && r->app_free) r->app_free(r->app);
    iop_buf_free(&r->body);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    srv_http *h = cls;
    srv_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    int status = r->status;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !status) status = 499; /* client went away */
    uint64_t dur = iop_mono_ns() - r->t0;
    srv_metrics_observe(&h->m, r->route_idx, status, dur);
    if (h->cfg.log_requests) log_request(r, status, dur);
    atomic_fetch_sub(&h->m.in_flight, 1);
    req_free(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    (void)version;
    srv_http *h = cls;
    srv_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->h = h;
        r->c = c;
        r->t0 = iop_mono_ns();
        r->route_idx = SRV_R_COUNT;
        if (h->cfg.log_requests) {
            copy_printable(r->method, sizeof r->method, method);
            copy_printable(r->path, sizeof r->path, url);
        }
        iop_buf_init(&r->body);
        *con_cls = r;
        atomic_fetch_add(&h->m.in_flight, 1);

        char allow[64];
        switch (srv_route_match(method, url, &r->route, r->params, &r->n_params, allow, sizeof allow)) {
        case SRV_MATCH_NO_PATH:
            srv_reply_error(r, 404, "not_found", "no such route");
            return r->queue_failed ? MHD_NO : MHD_YES;
        case SRV_MATCH_NO_METHOD: {
            char msg[128];
            snprintf(msg, sizeof msg, "method %.16s not allowed here (allowed: %s)", method, allow);
            reply_error_allow(r, 405, "method_not_allowed", msg, allow);
            return r->queue_failed ? MHD_NO : MHD_YES;
        }
        case SRV_MATCH_OK: break;
        }
        r->route_idx = (int)r->route->id;
        r->limit = r->route->big_body ? h->cfg.max_body_load : h->cfg.max_body_other;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && *end == 0 && n > r->limit) {
                char msg[160];
                snprintf(msg, sizeof msg, "request body of %llu bytes exceeds the limit of %zu bytes for %s %s", n,
                         r->limit, r->route->method, r->route->path);
                atomic_fetch_add(&h->m.rejected_body, 1);
                srv_reply_error(r, 413, "too_large", msg);
                return r->queue_failed ? MHD_NO : MHD_YES;
            }
        }
        h->cfg.dispatch(h->cfg.ctx, r, SRV_PHASE_HEADERS);
        return r->queue_failed ? MHD_NO : MHD_YES;
    }
    if (r->status) { /* replied already: drain whatever the client still sends */
        *upload_data_size = 0;
        return r->queue_failed ? MHD_NO : MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large) return MHD_YES;
        if (r->body.len + n > r->limit) {
            r->too_large = true;
            iop_buf_free(&r->body);
            return MHD_YES;
        }
        if (iop_buf_append(&r->body, upload_data, n) != 0) {
            srv_reply_error(r, 500, "out_of_memory", "out of memory reading the request body");
            return r->queue_failed ? MHD_NO : MHD_YES;
        }
        return MHD_YES;
    }
    if (r->too_large) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes for %s %s", r->limit,
                 r->route->method, r->route->path);
        atomic_fetch_add(&h->m.rejected_body, 1);
        srv_reply_error(r, 413, "too_large", msg);
        return r->queue_failed ? MHD_NO : MHD_YES;
    }
    if (!r->body.data) iop_buf_puts(&r->body, "");
    h->cfg.dispatch(h->cfg.ctx, r, SRV_PHASE_BODY);
    if (!r->status) srv_reply_error(r, 500, "internal", "the request was not answered");
    return r->queue_failed ? MHD_NO : MHD_YES;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    srv_http *h = cls;
    pthread_mutex_lock(&h->log_mu);
    vsnprintf(h->last_log, sizeof h->last_log, fmt, ap);
    size_t n = strlen(h->last_log);
    while (n && (h->last_log[n - 1] == '\n' || h->last_log[n - 1] == '\r')) h->last_log[--n] = 0;
    pthread_mutex_unlock(&h->log_mu);
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" (= 127.0.0.1) or "PORT". */
static iop_code parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl, bool *v6, iop_err *err) {
    char host[256] = "127.0.0.1", port[16];
    const char *colon = strrchr(listen, ':');
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof host)
            return iop_fail(err, IOP_EINVAL, "--listen '%s': expected [IPV6]:PORT", listen);
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = 0;
        colon = rb + 1;
    } else if (colon) {
        if ((size_t)(colon - listen) >= sizeof host)
            return iop_fail(err, IOP_EINVAL, "--listen '%s': host name too long", listen);
        if (colon > listen) {
            memcpy(host, listen, (size_t)(colon - listen));
            host[colon - listen] = 0;
        }
    }
    const char *p = colon ? colon + 1 : listen;
    char *end;
    long pn = strtol(p, &end, 10);
    if (!*p || *end || pn < 0 || pn > 65535)
        return iop_fail(err, IOP_EINVAL, "--listen '%s': port must be a number 0..65535", listen);
    snprintf(port, sizeof port, "%ld", pn);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) return iop_fail(err, IOP_EINVAL, "--listen '%s': %s", listen, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return IOP_OK;
}

iop_code srv_http_start(const srv_http_cfg *cfg, srv_http **out, iop_err *err) {
    *out = NULL;
    if (!cfg->dispatch) return iop_fail(err, IOP_EINVAL, "server: no dispatch function");
    srv_http *h = calloc(1, sizeof *h);
    if (!h) return iop_fail(err, IOP_ENOMEM, "out of memory");
    h->cfg = *cfg;
    if (!h->cfg.listen) h->cfg.listen = "127.0.0.1:8080";
    if (h->cfg.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        h->cfg.threads = n > 0 ? (int)n : 1;
    }
    if (h->cfg.threads > 256) h->cfg.threads = 256;
    if (!h->cfg.max_body_load) h->cfg.max_body_load = 16u << 20;
    if (!h->cfg.max_body_other) h->cfg.max_body_other = 64u << 10;
    if (!h->cfg.max_connections) h->cfg.max_connections = 1024;
    if (!h->cfg.timeout_s) h->cfg.timeout_s = 30;
    h->cfg.listen = NULL; /* not kept: the caller's string */
    srv_metrics_init(&h->m);
    pthread_mutex_init(&h->log_mu, NULL);

    struct sockaddr_storage ss;
    socklen_t sl = 0;
    bool v6 = false;
    iop_code rc = parse_listen(cfg->listen ? cfg->listen : "127.0.0.1:8080", &ss, &sl, &v6, err);
    if (rc) goto fail;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES) flags |= MHD_USE_EPOLL;
    if (v6) flags |= MHD_USE_IPv6;
    if ((cfg->tls_cert != NULL) != (cfg->tls_key != NULL)) {
        rc = iop_fail(err, IOP_EINVAL, "TLS needs both a certificate (--tls-cert) and a key (--tls-key)");
        goto fail;
    }
    if (cfg->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            rc = iop_fail(err, IOP_EINVAL, "this libmicrohttpd has no TLS support");
            goto fail;
        }
        size_t n;
        if ((rc = iop_read_file(cfg->tls_cert, &h->cert_pem, &n, err))) goto fail;
        if ((rc = iop_read_file(cfg->tls_key, &h->key_pem, &n, err))) goto fail;
        if (!strstr(h->cert_pem, "-----BEGIN ")) {
            rc = iop_fail(err, IOP_EINVAL, "%s: not a PEM certificate", cfg->tls_cert);
            goto fail;
        }
        if (!strstr(h->key_pem, "-----BEGIN ")) {
            rc = iop_fail(err, IOP_EINVAL, "%s: not a PEM private key", cfg->tls_key);
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    h->cfg.tls_cert = h->cfg.tls_key = NULL;

    struct MHD_OptionItem opts[16];
    int no = 0;
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_log, h};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, h->cfg.threads, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, h->cfg.max_connections, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.timeout_s, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
    if (h->cert_pem) {
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert_pem};
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->key_pem};
    }
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    uint16_t want_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* published before the workers start: a request arriving at once reaches the
     * server's handle through *out (the metrics of authentication read it) */
    *out = h;
    h->d = MHD_start_daemon(flags, want_port, NULL, NULL, on_access, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->d) {
        *out = NULL;
        rc = iop_fail(err, IOP_EIO, "cannot start the HTTP server on %s%s%s", cfg->listen ? cfg->listen : "127.0.0.1:8080",
                      h->last_log[0] ? ": " : "", h->last_log);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : want_port;
    return IOP_OK;
fail:
    free(h->cert_pem);
    free(h->key_pem);
    pthread_mutex_destroy(&h->log_mu);
    free(h);
    return rc;
}

uint16_t srv_http_port(const srv_http *h) { return h->port; }
srv_metrics *srv_http_metrics(srv_http *h) { return &h->m; }

void srv_http_stop(srv_http *h, unsigned grace_ms) {
    if (!h) return;
    if (!grace_ms) grace_ms = 10000;
    MHD_socket ls = MHD_quiesce_daemon(h->d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    uint64_t deadline = iop_mono_ns() + (uint64_t)grace_ms * 1000000u;
    while (atomic_load(&h->m.in_flight) > 0 && iop_mono_ns() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    free(h->cert_pem);
    free(h->key_pem);
    pthread_mutex_destroy(&h->log_mu);
    free(h);
}
