/*
 * metrics.c -- the server's own counters in Prometheus text format: requests by route
 * and status, a latency histogram by route, requests in flight.  Lock-free: relaxed
 * atomic increments from every polling thread, a consistent-enough snapshot on render.
 */
#include <stdio.h>
#include "server/server_int.h"

static const double bucket_s[SRV_N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05,
                                               0.1,    0.25,  0.5,    1.0,   2.5,  5.0,  10.0};
static const int statuses[SRV_N_STATUS - 1] = {200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 500, 503};

void srv_metrics_init(srv_metrics *m) {
    for (int r = 0; r <= SRV_R_COUNT; r++) {
        for (int s = 0; s < SRV_N_STATUS; s++) atomic_init(&m->count[r][s], 0);
        for (int b = 0; b <= SRV_N_BUCKETS; b++) atomic_init(&m->hist[r][b], 0);
        atomic_init(&m->sum_us[r], 0);
    }
    atomic_init(&m->in_flight, 0);
    atomic_init(&m->rejected_body, 0);
    atomic_init(&m->auth_failures, 0);
}

static int status_index(int status) {
    for (int i = 0; i < SRV_N_STATUS - 1; i++)
        if (statuses[i] == status) return i;
    return SRV_N_STATUS - 1; /* other */
}

void srv_metrics_observe(srv_metrics *m, int route, int status, uint64_t dur_ns) {
    if (route < 0 || route > SRV_R_COUNT) route = SRV_R_COUNT;
    atomic_fetch_add_explicit(&m->count[route][status_index(status)], 1, memory_order_relaxed);
    double s = (double)dur_ns / 1e9;
    int b = 0;
    while (b < SRV_N_BUCKETS && s > bucket_s[b]) b++;
    atomic_fetch_add_explicit(&m->hist[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us[route], dur_ns / 1000, memory_order_relaxed);
}

static const char *route_label(int r) { return r < SRV_R_COUNT ? srv_routes[r].name : "unmatched"; }

int srv_metrics_render(srv_metrics *m, iop_buf *out) {
    int rc = 0;
    rc |= iop_buf_puts(out, "# HELP interop_http_requests_total HTTP requests answered, by route and status.\n"
                            "# TYPE interop_http_requests_total counter\n");
    for (int r = 0; r <= SRV_R_COUNT; r++)
        for (int s = 0; s < SRV_N_STATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->count[r][s], memory_order_relaxed);
            if (!v) continue;
            char code[16];
            if (s < SRV_N_STATUS - 1) snprintf(code, sizeof code, "%d", statuses[s]);
            else snprintf(code, sizeof code, "other");
            rc |= iop_buf_printf(out, "interop_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                                 route_label(r), code, (unsigned long long)v);
        }
    rc |= iop_buf_puts(out, "# HELP interop_http_request_duration_seconds Time from request headers to reply, by route.\n"
                            "# TYPE interop_http_request_duration_seconds histogram\n");
    for (int r = 0; r <= SRV_R_COUNT; r++) {
        uint64_t cum = 0;
        for (int b = 0; b <= SRV_N_BUCKETS; b++) {
            cum += atomic_load_explicit(&m->hist[r][b], memory_order_relaxed);
            if (b < SRV_N_BUCKETS)
                rc |= iop_buf_printf(out, "interop_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                                     route_label(r), bucket_s[b], (unsigned long long)cum);
            else
                rc |= iop_buf_printf(out, "interop_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                                     route_label(r), (unsigned long long)cum);
        }
        rc |= iop_buf_printf(out, "interop_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_label(r),
                             (double)atomic_load_explicit(&m->sum_us[r], memory_order_relaxed) / 1e6);
        rc |= iop_buf_printf(out, "interop_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_label(r),
                             (unsigned long long)cum);
    }
    rc |= iop_buf_printf(out,
                         "# HELP interop_http_in_flight Requests being handled.\n"
                         "# TYPE interop_http_in_flight gauge\n"
                         "interop_http_in_flight %llu\n"
                         "# HELP interop_http_body_rejected_total Requests refused for an oversize body.\n"
                         "# TYPE interop_http_body_rejected_total counter\n"
                         "interop_http_body_rejected_total %llu\n"
                         "# HELP interop_http_auth_failures_total Requests refused for a missing or bad token.\n"
                         "# TYPE interop_http_auth_failures_total counter\n"
                         "interop_http_auth_failures_total %llu\n",
                         (unsigned long long)atomic_load(&m->in_flight),
                         (unsigned long long)atomic_load(&m->rejected_body),
                         (unsigned long long)atomic_load(&m->auth_failures));
    return rc ? -1 : 0;
}
