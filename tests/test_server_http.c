/* test-links: server */
/*
 * test_server_http.c -- the HTTP engine of `interop serve` on its own (src/server/http.c,
 * routes.c, metrics.c), with a dispatch function of the test instead of the API: routing
 * (404, 405 + Allow), body limits (413 from Content-Length and from a growing chunked
 * body), replies before the body is read, keep-alive, metrics, graceful shutdown, and
 * garbage on the wire.  Loopback only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "server/server_int.h"
#include "test.h"
#include "test_server_client.h"

typedef struct echo_ctx {
    atomic_int body_calls;
    atomic_int entered;   /* the slow route signals it is running */
    atomic_int release;   /* ... and waits for this */
} echo_ctx;

/* The test's dispatch: headers phase refuses requests to auth routes without an
 * Authorization header (like the API); body phase echoes route, params and body. */
static void echo_dispatch(void *ctx, srv_req *r, srv_phase phase) {
    echo_ctx *e = ctx;
    const srv_route *rt = srv_req_route(r);
    if (phase == SRV_PHASE_HEADERS) {
        if (rt->auth && !srv_req_header(r, "Authorization")) srv_reply_error(r, 401, "unauthorized", "no token");
        return;
    }
    atomic_fetch_add(&e->body_calls, 1);
    size_t len;
    const char *body = srv_req_body(r, &len);
    if (rt->id == SRV_R_ME && srv_req_header(r, "X-Slow")) {
        atomic_store(&e->entered, 1);
        while (!atomic_load(&e->release)) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    iop_buf b;
    iop_buf_init(&b);
    iop_buf_printf(&b, "{\"route\":\"%s\",\"len\":%zu,\"p0\":", rt->name, len);
    iop_buf_json_str(&b, srv_req_param(r, 0) ? srv_req_param(r, 0) : "");
    iop_buf_puts(&b, ",\"p1\":");
    iop_buf_json_str(&b, srv_req_param(r, 1) ? srv_req_param(r, 1) : "");
    iop_buf_puts(&b, ",\"body\":");
    iop_buf_json_str(&b, body);
    iop_buf_puts(&b, "}");
    srv_reply_json(r, 200, &b);
}

static srv_http *start(echo_ctx *e, size_t max_other, size_t max_load) {
    srv_http_cfg cfg = {.listen = "127.0.0.1:0", .threads = 2, .max_body_other = max_other,
                        .max_body_load = max_load, .dispatch = echo_dispatch, .ctx = e};
    srv_http *h = NULL;
    iop_err err = {0};
    if (srv_http_start(&cfg, &h, &err) != IOP_OK) {
        fprintf(stderr, "srv_http_start: %s\n", err.msg);
        return NULL;
    }
    return h;
}

TEST(route_table_matches_paths_and_extracts_parameters) {
    const srv_route *rt;
    char params[SRV_MAX_PARAMS][SRV_PARAM_MAX];
    size_t np;
    char allow[64];
    CHECK_INT(srv_route_match("GET", "/v1/records/vis/V-123", &rt, params, &np, allow, sizeof allow), SRV_MATCH_OK);
    REQUIRE(rt);
    CHECK_INT(rt->id, SRV_R_READ);
    CHECK_INT(np, 2);
    CHECK_STR(params[0], "vis");
    CHECK_STR(params[1], "V-123");
    CHECK_INT(srv_route_match("DELETE", "/v1/records/sis/x", &rt, params, &np, allow, sizeof allow), SRV_MATCH_OK);
    CHECK_INT(rt->id, SRV_R_DELETE);
    CHECK_INT(srv_route_match("PUT", "/v1/records/sis/x", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_METHOD);
    CHECK_STR(allow, "GET, DELETE");
    CHECK_INT(srv_route_match("GET", "/v1/search", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_METHOD);
    CHECK_STR(allow, "POST");
    CHECK_INT(srv_route_match("POST", "/v1/search?x=1", &rt, params, &np, allow, sizeof allow), SRV_MATCH_OK);
    /* no empty, extra or trailing segments */
    CHECK_INT(srv_route_match("GET", "/v1/records/vis/", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    CHECK_INT(srv_route_match("GET", "/v1/records/vis", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    CHECK_INT(srv_route_match("GET", "/v1/records/vis/a/b", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    CHECK_INT(srv_route_match("GET", "/health/", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    CHECK_INT(srv_route_match("GET", "//health", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    CHECK_INT(srv_route_match("GET", "health", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    CHECK_INT(srv_route_match("GET", "", &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
    /* a parameter longer than the limit does not match */
    char longp[600] = "/v1/records/vis/";
    memset(longp + strlen(longp), 'a', 400);
    longp[16 + 400] = 0;
    CHECK_INT(srv_route_match("GET", longp, &rt, params, &np, allow, sizeof allow), SRV_MATCH_NO_PATH);
}

TEST(route_matching_survives_random_paths) {
    iop_rng rng;
    iop_rng_seed(&rng, 42);
    const char alphabet[] = "/v1recodshatlmpfi{}?%-_.\x01\xff ";
    char path[300], params[SRV_MAX_PARAMS][SRV_PARAM_MAX], allow[64];
    const char *methods[] = {"GET", "POST", "DELETE", "PUT", "get", ""};
    int ok = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n = iop_rng_below(&rng, sizeof path - 1);
        for (size_t j = 0; j < n; j++) path[j] = alphabet[iop_rng_below(&rng, sizeof alphabet - 1)];
        path[n] = 0;
        if (i % 3 == 0 && n > 0) path[0] = '/';
        const srv_route *rt;
        size_t np;
        srv_match m = srv_route_match(methods[iop_rng_below(&rng, 6)], path, &rt, params, &np, allow, sizeof allow);
        if (m == SRV_MATCH_OK) {
            ok++;
            CHECK(rt != NULL);
            for (size_t k = 0; k < np; k++) CHECK(strlen(params[k]) > 0 && strlen(params[k]) < SRV_PARAM_MAX);
        }
    }
    CHECK(ok >= 0);
}

TEST(bearer_token_is_parsed_strictly) {
    size_t n;
    const char *t = srv_bearer_token("Bearer abc.def", &n);
    REQUIRE(t);
    CHECK_INT(n, 7);
    CHECK(!strncmp(t, "abc.def", n));
    CHECK(srv_bearer_token("bearer   tok  ", &n) && n == 3);
    CHECK(!srv_bearer_token("Basic dXNlcjpwYXNz", &n));
    CHECK(!srv_bearer_token("Bearer", &n));
    CHECK(!srv_bearer_token("Bearer ", &n));
    CHECK(!srv_bearer_token("Bearertok", &n));
    CHECK(!srv_bearer_token("Bearer a b", &n));
    CHECK(!srv_bearer_token("Bearer a\x01", &n));
    CHECK(!srv_bearer_token(NULL, &n));
}

TEST(iop_codes_map_to_http_statuses) {
    CHECK_INT(srv_status_of(IOP_EINVAL), 400);
    CHECK_INT(srv_status_of(IOP_EDENIED), 403);
    CHECK_INT(srv_status_of(IOP_ENOTFOUND), 404);
    CHECK_INT(srv_status_of(IOP_ELIMIT), 413);
    CHECK_INT(srv_status_of(IOP_EEXIST), 409);
    CHECK_INT(srv_status_of(IOP_EIO), 500);
    CHECK_INT(srv_status_of(IOP_EINTERNAL), 500);
    CHECK_STR(srv_code_slug(IOP_EINVAL), "invalid_input");
}

TEST(unknown_route_is_404_and_wrong_method_is_405_with_allow) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 0, 0);
    REQUIRE(h);
    unsigned port = srv_http_port(h);
    CHECK(port > 0);
    tc_resp r = tc_request(port, "GET", "/nope", NULL, NULL, 0);
    CHECK_INT(r.status, 404);
    CHECK(r.body && strstr(r.body, "\"code\":\"not_found\""));
    CHECK_STR(tc_header(&r, "Content-Type"), "application/json");
    tc_resp_free(&r);
    r = tc_request(port, "PUT", "/v1/search", "Authorization: Bearer x\r\n", "{}", 2);
    CHECK_INT(r.status, 405);
    CHECK_STR(tc_header(&r, "Allow"), "POST");
    CHECK(r.body && strstr(r.body, "method_not_allowed"));
    tc_resp_free(&r);
    r = tc_request(port, "DELETE", "/health", NULL, NULL, 0);
    CHECK_INT(r.status, 405);
    CHECK_STR(tc_header(&r, "Allow"), "GET");
    tc_resp_free(&r);
    CHECK_INT(atomic_load(&e.body_calls), 0);
    srv_http_stop(h, 0);
}

TEST(body_reaches_the_handler_intact_with_path_parameters) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 1024, 4096);
    REQUIRE(h);
    unsigned port = srv_http_port(h);
    tc_resp r = tc_request(port, "POST", "/v1/search", "Authorization: Bearer x\r\n", "{\"surnames\":[\"X\"]}", 18);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "\"route\":\"search\""));
    CHECK(r.body && strstr(r.body, "\"body\":\"{\\\"surnames\\\":[\\\"X\\\"]}\""));
    tc_resp_free(&r);
    r = tc_request(port, "GET", "/v1/records/ees/E%2D7", "Authorization: Bearer x\r\n", NULL, 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "\"p0\":\"ees\",\"p1\":\"E-7\""));
    tc_resp_free(&r);
    /* a body of exactly the limit is accepted */
    char *big = malloc(4096);
    memset(big, 'a', 4096);
    r = tc_request(port, "POST", "/v1/records", "Authorization: Bearer x\r\n", big, 4096);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "\"len\":4096"));
    tc_resp_free(&r);
    free(big);
    srv_http_stop(h, 0);
}

TEST(oversize_body_is_413_with_json_error) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 1024, 4096);
    REQUIRE(h);
    unsigned port = srv_http_port(h);
    /* declared length above the search limit: refused before the body is read */
    tc_resp r = tc_request(port, "POST", "/v1/search", "Authorization: Bearer x\r\nContent-Length: 1025\r\n", NULL, 0);
    CHECK_INT(r.status, 413);
    CHECK(r.body && strstr(r.body, "\"code\":\"too_large\""));
    CHECK(r.body && strstr(r.body, "1024"));
    tc_resp_free(&r);
    /* the load route has its own, larger limit */
    r = tc_request(port, "POST", "/v1/records", "Authorization: Bearer x\r\nContent-Length: 4097\r\n", NULL, 0);
    CHECK_INT(r.status, 413);
    tc_resp_free(&r);
    /* a chunked body that grows beyond the limit */
    int fd = tc_connect(port);
    REQUIRE(fd >= 0);
    const char *hd = "POST /v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n";
    tc_send_all(fd, hd, strlen(hd));
    char chunk[600];
    memset(chunk, 'b', sizeof chunk);
    for (int i = 0; i < 3; i++) {
        char sz[32];
        snprintf(sz, sizeof sz, "%zx\r\n", sizeof chunk);
        tc_send_all(fd, sz, strlen(sz));
        tc_send_all(fd, chunk, sizeof chunk);
        tc_send_all(fd, "\r\n", 2);
    }
    tc_send_all(fd, "0\r\n\r\n", 5);
    tc_read(fd, &r);
    close(fd);
    CHECK_INT(r.status, 413);
    tc_resp_free(&r);
    CHECK_INT(atomic_load(&e.body_calls), 0);
    srv_metrics *m = srv_http_metrics(h);
    CHECK_INT(atomic_load(&m->rejected_body), 3);
    srv_http_stop(h, 0);
}

TEST(refusal_at_headers_never_reads_the_body) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 1024, 4096);
    REQUIRE(h);
    tc_resp r = tc_request(srv_http_port(h), "POST", "/v1/search", NULL, "{}", 2);
    CHECK_INT(r.status, 401);
    CHECK(tc_header(&r, "WWW-Authenticate") != NULL);
    tc_resp_free(&r);
    /* unauthenticated routes need no token */
    r = tc_request(srv_http_port(h), "GET", "/health", NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    tc_resp_free(&r);
    CHECK_INT(atomic_load(&e.body_calls), 1);
    srv_http_stop(h, 0);
}

TEST(keep_alive_serves_several_requests_on_one_connection) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 0, 0);
    REQUIRE(h);
    int fd = tc_connect(srv_http_port(h));
    REQUIRE(fd >= 0);
    for (int i = 0; i < 5; i++) {
        char req[256];
        snprintf(req, sizeof req, "POST /v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                                  "Content-Length: 3\r\n\r\n[%d]", i);
        REQUIRE(tc_send_all(fd, req, strlen(req)) == 0);
        tc_resp r;
        REQUIRE(tc_read(fd, &r) == 0);
        CHECK_INT(r.status, 200);
        char want[32];
        snprintf(want, sizeof want, "\"body\":\"[%d]\"", i);
        CHECK(r.body && strstr(r.body, want));
        tc_resp_free(&r);
    }
    close(fd);
    srv_http_stop(h, 0);
}

TEST(metrics_count_requests_by_route_and_status) {
    srv_metrics m;
    srv_metrics_init(&m);
    srv_metrics_observe(&m, SRV_R_HEALTH, 200, 300000);
    srv_metrics_observe(&m, SRV_R_HEALTH, 200, 3000000);
    srv_metrics_observe(&m, SRV_R_COUNT, 404, 1000);
    srv_metrics_observe(&m, SRV_R_SEARCH, 418, 1000);
    iop_buf b;
    iop_buf_init(&b);
    REQUIRE(srv_metrics_render(&m, &b) == 0);
    CHECK(strstr(b.data, "interop_http_requests_total{route=\"health\",status=\"200\"} 2\n"));
    CHECK(strstr(b.data, "interop_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"));
    CHECK(strstr(b.data, "interop_http_requests_total{route=\"search\",status=\"other\"} 1\n"));
    CHECK(strstr(b.data, "interop_http_request_duration_seconds_bucket{route=\"health\",le=\"0.0005\"} 1\n"));
    CHECK(strstr(b.data, "interop_http_request_duration_seconds_bucket{route=\"health\",le=\"0.005\"} 2\n"));
    CHECK(strstr(b.data, "interop_http_request_duration_seconds_count{route=\"health\"} 2\n"));
    iop_buf_free(&b);
}

TEST(engine_metrics_see_live_requests) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 0, 0);
    REQUIRE(h);
    unsigned port = srv_http_port(h);
    for (int i = 0; i < 4; i++) {
        tc_resp r = tc_request(port, "GET", "/health", NULL, NULL, 0);
        tc_resp_free(&r);
    }
    tc_resp r = tc_request(port, "GET", "/missing", NULL, NULL, 0);
    tc_resp_free(&r);
    /* a completed request is counted by the time its connection closed; wait (bounded)
     * for the completion callbacks, which run after the reply was sent */
    srv_metrics *m = srv_http_metrics(h);
    for (int i = 0; i < 20000 && atomic_load(&m->in_flight) > 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    iop_buf b;
    iop_buf_init(&b);
    srv_metrics_render(m, &b);
    CHECK(strstr(b.data, "interop_http_requests_total{route=\"health\",status=\"200\"} 4\n"));
    CHECK(strstr(b.data, "interop_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"));
    iop_buf_free(&b);
    srv_http_stop(h, 0);
}

typedef struct slow_arg {
    unsigned port;
    tc_resp r;
} slow_arg;

static void *slow_client(void *p) {
    slow_arg *a = p;
    a->r = tc_request(a->port, "GET", "/v1/me", "Authorization: Bearer x\r\nX-Slow: 1\r\n", NULL, 0);
    return NULL;
}

typedef struct stop_arg {
    srv_http *h;
    atomic_int done;
} stop_arg;

static void *stopper(void *p) {
    stop_arg *a = p;
    srv_http_stop(a->h, 60000);
    atomic_store(&a->done, 1);
    return NULL;
}

TEST(graceful_shutdown_finishes_requests_in_flight_and_refuses_new_ones) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 0, 0);
    REQUIRE(h);
    unsigned port = srv_http_port(h);
    slow_arg sa = {.port = port};
    pthread_t ct, st;
    pthread_create(&ct, NULL, slow_client, &sa);
    while (!atomic_load(&e.entered)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    stop_arg sta = {.h = h};
    pthread_create(&st, NULL, stopper, &sta);
    /* the listening socket closes while the slow request is still running */
    bool refused = false;
    for (int i = 0; i < 20000 && !refused; i++) {
        int fd = tc_connect(port);
        if (fd < 0) refused = true;
        else {
            close(fd);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(refused);
    CHECK_INT(atomic_load(&sta.done), 0); /* still waiting for the request in flight */
    atomic_store(&e.release, 1);
    pthread_join(ct, NULL);
    pthread_join(st, NULL);
    CHECK_INT(sa.r.status, 200);
    CHECK(sa.r.body && strstr(sa.r.body, "\"route\":\"me\""));
    tc_resp_free(&sa.r);
}

TEST(garbage_on_the_wire_never_crashes_the_server) {
    echo_ctx e = {0};
    srv_http *h = start(&e, 256, 256);
    REQUIRE(h);
    unsigned port = srv_http_port(h);
    iop_rng rng;
    iop_rng_seed(&rng, 7);
    static const char *seeds[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "POST /v1/search HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /v1/search HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /v1/search HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /v1/records/%00/%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/records/a/b HTTP/1.1\r\nAuthorization: Bearer \x01\x02\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "GET /health HTTP/9.9\r\n\r\n",
        "GET /health\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nX: \r\n\tfolded\r\n\r\n",
    };
    size_t nseeds = sizeof seeds / sizeof seeds[0];
    char buf[2048];
    for (int i = 0; i < 200; i++) {
        const char *s = seeds[iop_rng_below(&rng, (uint32_t)nseeds)];
        size_t n = strlen(s);
        if (!n) n = 12;
        memcpy(buf, s, n);
        /* mutate: flip, insert random bytes, truncate, or append random junk */
        int op = (int)iop_rng_below(&rng, 4);
        if (op == 0) for (int k = 0; k < 3; k++) buf[iop_rng_below(&rng, (uint32_t)n)] = (char)iop_rng_below(&rng, 256);
        else if (op == 1) n = iop_rng_below(&rng, (uint32_t)n) + 1;
        else if (op == 2) {
            size_t extra = iop_rng_below(&rng, 1000);
            for (size_t k = 0; k < extra && n < sizeof buf; k++) buf[n++] = (char)iop_rng_below(&rng, 256);
        }
        int fd = tc_connect(port);
        REQUIRE(fd >= 0);
        tc_send_all(fd, buf, n);
        shutdown(fd, SHUT_WR);
        /* an incomplete request is held open by the server until its idle timeout: the
         * test does not wait for that, it only needs the server to survive */
        struct timeval tv = {0, 50000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        tc_resp r;
        if (tc_read(fd, &r) == 0) {
            CHECK(r.status >= 200 && r.status < 600);
            tc_resp_free(&r);
        }
        close(fd);
    }
    tc_resp r = tc_request(port, "GET", "/health", NULL, NULL, 0);
    CHECK_INT(r.status, 200);
    tc_resp_free(&r);
    srv_http_stop(h, 0);
}
