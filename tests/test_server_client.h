/*
 * test_server_client.h -- a tiny HTTP/1.1 client over loopback sockets for the server
 * tests: sends raw request bytes, reads one response (Content-Length or until close),
 * parses the status, headers and body.  Loopback (127.0.0.1) only.
 */
#ifndef INTEROP_TEST_SERVER_CLIENT_H
#define INTEROP_TEST_SERVER_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct tc_resp {
    int status;        /* 0 when no response could be read */
    char *head;        /* status line and headers */
    char *body;        /* NUL-terminated */
    size_t body_len;
} tc_resp;

static void tc_resp_free(tc_resp *r) {
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int tc_connect(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {60, 0}; /* a hung server fails the test instead of hanging it */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int tc_send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        c += w, n -= (size_t)w;
    }
    return 0;
}

/* Value of header `name` in r->head (static buffer), NULL when absent. */
static const char *tc_header(const tc_resp *r, const char *name) {
    static __thread char val[512];
    if (!r->head) return NULL;
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= sizeof val) n = sizeof val - 1;
            memcpy(val, v, n);
            val[n] = 0;
            return val;
        }
    }
    return NULL;
}

/* Reads one response from fd. */
static int tc_read(int fd, tc_resp *out) {
    memset(out, 0, sizeof *out);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    if (!buf) return -1;
    size_t head_end = 0;
    long long clen = -1;
    for (;;) {
        if (head_end && clen >= 0 && len >= head_end + (size_t)clen) break;
        if (len + 4096 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); return -1; }
            buf = nb;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = 0;
        if (!head_end) {
            char *e = strstr(buf, "\r\n\r\n");
            if (e) {
                head_end = (size_t)(e - buf) + 4;
                out->head = strndup(buf, head_end);
                const char *cl = tc_header(out, "Content-Length");
                clen = cl ? atoll(cl) : -1;
            }
        }
    }
    if (!head_end) { free(buf); free(out->head); out->head = NULL; return -1; }
    size_t blen = len - head_end;
    if (clen >= 0 && (size_t)clen < blen) blen = (size_t)clen;
    out->body = malloc(blen + 1);
    memcpy(out->body, buf + head_end, blen);
    out->body[blen] = 0;
    out->body_len = blen;
    if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) out->status = 0;
    free(buf);
    return 0;
}

/* One request on a fresh connection ("Connection: close" is added). extra_headers:
 * "Name: value\r\n..." or NULL. */
static tc_resp tc_request(unsigned port, const char *method, const char *path, const char *extra_headers,
                          const char *body, size_t body_len) {
    tc_resp r = {0};
    int fd = tc_connect(port);
    if (fd < 0) return r;
    char head[4096];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method, path,
                     extra_headers ? extra_headers : "");
    if (body) n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (tc_send_all(fd, head, (size_t)n) == 0) {
        if (body) tc_send_all(fd, body, body_len); /* the server may reply before reading it all */
        tc_read(fd, &r);
    }
    close(fd);
    return r;
}

#endif
