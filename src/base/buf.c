/* buf.c -- the growable, NUL-terminated byte buffer used for all text building. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/base.h"
#include "interop/json.h"

void iop_buf_init(iop_buf *b) { b->data = NULL; b->len = b->cap = 0; }
void iop_buf_free(iop_buf *b) { free(b->data); iop_buf_init(b); }
void iop_buf_reset(iop_buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }

int iop_buf_reserve(iop_buf *b, size_t extra) {
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int iop_buf_append(iop_buf *b, const void *p, size_t n) {
    if (iop_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int iop_buf_puts(iop_buf *b, const char *s) { return iop_buf_append(b, s, strlen(s)); }

int iop_buf_vprintf(iop_buf *b, const char *fmt, va_list ap) {
    /* one formatting pass into the spare room; a second only when it did not fit */
    if (iop_buf_reserve(b, 128)) return -1;
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) { b->data[b->len] = 0; return -1; }
    if ((size_t)n >= room) {
        if (iop_buf_reserve(b, (size_t)n)) { b->data[b->len] = 0; return -1; }
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
    return 0;
}

int iop_buf_printf(iop_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = iop_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

/* One JSON string writer in the code base: json.c's (vectorised scan of the runs that
 * need no escape). */
int iop_buf_json_str(iop_buf *b, const char *s) { return iop_json_write_str(b, s, strlen(s)); }

int iop_buf_fixed(iop_buf *b, double v, int decimals) {
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (decimals < 0) decimals = 0;
    if (decimals > 9) decimals = 9;
    if (v != v || v > 1e300 || v < -1e300) return iop_buf_append(b, "null", 4);
    if (v >= 1e15 || v <= -1e15) return iop_buf_printf(b, "%.*f", decimals, v);
    char tmp[48], *p = tmp + sizeof tmp;
    bool neg = v < 0;
    double a = neg ? -v : v;
    /* scaled and rounded half away from zero; the 1e15 bound keeps it exact in 64 bits */
    uint64_t n = (uint64_t)(a * pow10[decimals] + 0.5);
    for (int i = 0; i < decimals; i++) { *--p = (char)('0' + n % 10); n /= 10; }
    if (decimals) *--p = '.';
    do { *--p = (char)('0' + n % 10); n /= 10; } while (n);
    bool zero = true;
    for (const char *q = p; q < tmp + sizeof tmp; q++) zero &= *q == '0' || *q == '.';
    if (neg && !zero) *--p = '-'; /* no "-0.00" */
    return iop_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

char *iop_buf_steal(iop_buf *b) {
    char *p = b->data;
    if (!p) p = calloc(1, 1);
    iop_buf_init(b);
    return p;
}
