/*
 * cmd_serve.c -- `interop serve`: runs the HTTP JSON API (server.h) over a data
 * directory until SIGINT or SIGTERM, then shuts down gracefully: stops accepting,
 * lets the requests in flight finish, closes the node (which flushes the access log).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "cli/cli.h"
#include "interop/server.h"

static void serve_help(void) {
    printf("usage: interop serve [options]\n"
           "\n"
           "Runs the HTTP JSON API of the node in --dir until SIGINT or SIGTERM (graceful\n"
           "shutdown: stop accepting, finish requests in flight, flush the access log).\n"
           "Routes: GET /health, GET /metrics, POST /v1/search, POST /v1/records,\n"
           "GET|DELETE /v1/records/{system}/{id}, GET /v1/me, GET /v1/profiles\n"
           "(docs/openapi.yaml, docs/api.md).  /v1 routes take 'Authorization: Bearer <token>'\n"
           "(tokens from 'interop user token'), 'X-Interop-Profile' and 'X-Interop-Purpose'.\n"
           "\n"
           "options:\n"
           "  --dir DIR              data directory (default $INTEROP_DIR or ./var)\n"
           "  --listen ADDR:PORT     address to bind (default 127.0.0.1:8080; [::1]:8080 for IPv6;\n"
           "                         port 0 picks a free port)\n"
           "  --threads N            HTTP polling threads (default: one per core)\n"
           "  --search-threads N     fan-out threads per query (default: one per core)\n"
           "  --readers N            queries running at once with open store handles (default 16)\n"
           "  --exact-keys-only      search indexes without sound keys (faster start, less memory;\n"
           "                         other spellings and scripts found less often)\n"
           "  --max-body-load SIZE   body limit of POST /v1/records (default 16M; K, M, G suffixes)\n"
           "  --max-body SIZE        body limit of every other route (default 64K)\n"
           "  --max-connections N    open connections at most (default 1024)\n"
           "  --timeout S            idle connection timeout in seconds (default 30)\n"
           "  --grace S              seconds in-flight requests get at shutdown (default 10)\n"
           "  --tls-cert FILE        PEM certificate: serve HTTPS (needs --tls-key)\n"
           "  --tls-key FILE         PEM private key of the certificate\n"
           "  --metrics-token-file FILE\n"
           "                         require 'Authorization: Bearer <token>' on /metrics, the token\n"
           "                         being the first line of FILE (or $INTEROP_METRICS_TOKEN);\n"
           "                         without either, /metrics is open (bind to loopback)\n"
           "  --profiles FILE        profiles file (default DIR/profiles.json)\n"
           "  --log-requests         one line per request on stderr (time, user, method, path,\n"
           "                         status, duration; never tokens or bodies)\n"
           "  -h, --help             this help\n");
}

static int parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024ull, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024ull * 1024, end++;
    else if (*end == 'g' || *end == 'G') mul = 1024ull * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v == 0 || v > (1ull << 40) / mul) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

static int parse_uint(const char *s, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max) return -1;
    *out = v;
    return 0;
}

static char *read_token_file(const char *path) {
    char *data = NULL;
    size_t len = 0;
    iop_err err = {0};
    if (iop_read_file(path, &data, &len, &err)) {
        fprintf(stderr, "interop serve: %s\n", err.msg);
        return NULL;
    }
    data[strcspn(data, "\r\n")] = 0;
    if (!*data) {
        fprintf(stderr, "interop serve: %s: the first line is empty\n", path);
        free(data);
        return NULL;
    }
    return data;
}

int cmd_serve(int argc, char **argv) {
    const char *dir = NULL, *profiles = NULL, *token_file = NULL;
    srv_opts so = {0};
    iop_open_opts oo = {0};
    long grace_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { serve_help(); return 0; }
        if (!strcmp(a, "--log-requests")) { so.log_requests = true; continue; }
        if (!strcmp(a, "--exact-keys-only")) { oo.exact_keys_only = true; continue; }
        if (i + 1 >= argc) return cli_usage_error("serve", "unknown option or missing value: %s", a);
        const char *v = argv[++i];
        long n;
        if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--listen")) so.listen = v;
        else if (!strcmp(a, "--profiles")) profiles = v;
        else if (!strcmp(a, "--tls-cert")) so.tls_cert = v;
        else if (!strcmp(a, "--tls-key")) so.tls_key = v;
        else if (!strcmp(a, "--metrics-token-file")) token_file = v;
        else if (!strcmp(a, "--threads")) {
            if (parse_uint(v, 256, &n) || n == 0) return cli_usage_error("serve", "--threads: expected 1..256, got '%s'", v);
            so.threads = (int)n;
        } else if (!strcmp(a, "--search-threads")) {
            if (parse_uint(v, 256, &n) || n == 0)
                return cli_usage_error("serve", "--search-threads: expected 1..256, got '%s'", v);
            oo.search_threads = (int)n;
        } else if (!strcmp(a, "--readers")) {
            if (parse_uint(v, 1024, &n) || n == 0) return cli_usage_error("serve", "--readers: expected 1..1024, got '%s'", v);
            oo.readers = (int)n;
        } else if (!strcmp(a, "--max-body-load")) {
            if (parse_size(v, &so.max_body_load)) return cli_usage_error("serve", "--max-body-load: bad size '%s'", v);
        } else if (!strcmp(a, "--max-body")) {
            if (parse_size(v, &so.max_body_other)) return cli_usage_error("serve", "--max-body: bad size '%s'", v);
        } else if (!strcmp(a, "--max-connections")) {
            if (parse_uint(v, 1000000, &n) || n == 0)
                return cli_usage_error("serve", "--max-connections: expected 1..1000000, got '%s'", v);
            so.max_connections = (unsigned)n;
        } else if (!strcmp(a, "--timeout")) {
            if (parse_uint(v, 86400, &n) || n == 0) return cli_usage_error("serve", "--timeout: expected 1..86400 s, got '%s'", v);
            so.timeout_s = (unsigned)n;
        } else if (!strcmp(a, "--grace")) {
            if (parse_uint(v, 3600, &n) || n == 0) return cli_usage_error("serve", "--grace: expected 1..3600 s, got '%s'", v);
            grace_s = n;
        } else {
            return cli_usage_error("serve", "unknown option '%s'", a);
        }
    }
    if ((so.tls_cert != NULL) != (so.tls_key != NULL))
        return cli_usage_error("serve", "--tls-cert and --tls-key go together");

    char *metrics_token = NULL;
    if (token_file) {
        if (!(metrics_token = read_token_file(token_file))) return 1;
    } else if (getenv("INTEROP_METRICS_TOKEN") && *getenv("INTEROP_METRICS_TOKEN")) {
        metrics_token = iop_strdup(getenv("INTEROP_METRICS_TOKEN"));
    }
    so.metrics_token = metrics_token;
    oo.profiles_path = profiles;
    dir = cli_data_dir(dir);

    /* Every thread started from here on (store readers, HTTP pool) inherits this mask, so
     * SIGINT/SIGTERM reach only sigwait below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    iop_err err = {0};
    iop_instance *in = NULL;
    if (iop_open(dir, &oo, &in, &err)) {
        fprintf(stderr, "interop serve: %s\n", err.msg);
        free(metrics_token);
        return 1;
    }
    /* the search indexes are built before the first request, not by it */
    if (esp_warm(iop_portal(in), &err)) {
        fprintf(stderr, "interop serve: %s\n", err.msg);
        iop_close(in);
        free(metrics_token);
        return 1;
    }
    srv *s = NULL;
    if (srv_start(in, &so, &s, &err)) {
        fprintf(stderr, "interop serve: %s\n", err.msg);
        iop_close(in);
        free(metrics_token);
        return 1;
    }
    const char *listen = so.listen ? so.listen : "127.0.0.1:8080";
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon && (host[0] != '[' || colon[-1] == ']')) *colon = 0;
    fprintf(stderr, "interop serve: %s://%s:%u/ over %s (/metrics %s)\n", so.tls_cert ? "https" : "http",
            host[0] ? host : "127.0.0.1", (unsigned)srv_port(s), dir,
            metrics_token ? "needs the metrics token" : "open");
    fflush(stderr);

    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    fprintf(stderr, "interop serve: %s received, finishing %u request(s) in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", srv_in_flight(s));
    srv_stop(s, (unsigned)grace_s * 1000u);
    iop_close(in);
    free(metrics_token);
    fprintf(stderr, "interop serve: stopped\n");
    return 0;
}
