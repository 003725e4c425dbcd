/*
 * json.c -- a strict RFC 8259 JSON parser into an arena DOM, and a compact and a
 * canonical (sorted keys) writer.  The contract is include/interop/json.h.
 *
 * The parser is iterative (an explicit stack of open containers, no recursion), so
 * a deeply nested input costs an error, never the C stack.  Nodes are appended to one
 * array in document order; strings are unescaped into an arena of len + 1 bytes, which
 * always suffices: a string of n source bytes between its quotes never unescapes to
 * more than n bytes, and its NUL takes the place of a quote.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "interop/json.h"

#define NONE UINT32_MAX
#define DUP_LINEAR 32 /* objects up to this many members are checked for duplicates as keys arrive */

#define INLINE_DEPTH 64 /* open containers tracked without allocation */

struct iop_json_parser {
    iop_json *nodes;
    size_t ncap, n;
    char *str;
    size_t scap, spos;
    void *block;          /* one allocation: the string arena, then the nodes until they outgrow it */
    bool nodes_in_block;
    size_t err_off;
    uint32_t *open, *last; /* node index of each open container and its last child so far
                              (NONE before the first); the inline arrays or, for deep
                              documents, IOP_JSON_MAX_DEPTH entries on the heap */
    int depth_cap;
    uint32_t open_in[INLINE_DEPTH], last_in[INLINE_DEPTH];
};

iop_json_parser *iop_json_parser_new(void) {
    iop_json_parser *p = malloc(sizeof *p); /* the stacks need no clearing */
    if (p) {
        p->nodes = NULL;
        p->str = NULL;
        p->block = NULL;
        p->nodes_in_block = false;
        p->ncap = p->n = p->scap = p->spos = p->err_off = 0;
        p->open = p->open_in;
        p->last = p->last_in;
        p->depth_cap = INLINE_DEPTH;
    }
    return p;
}

static void release_buffers(iop_json_parser *p) {
    if (!p->nodes_in_block) free(p->nodes);
    free(p->block);
    p->nodes = NULL;
    p->str = NULL;
    p->block = NULL;
    p->nodes_in_block = false;
    p->ncap = p->scap = 0;
}

void iop_json_parser_free(iop_json_parser *p) {
    if (!p) return;
    release_buffers(p);
    if (p->open != p->open_in) {
        free(p->open);
        free(p->last);
    }
    free(p);
}

static int grow_stack(iop_json_parser *p) {
    uint32_t *o = malloc(IOP_JSON_MAX_DEPTH * sizeof *o), *l = malloc(IOP_JSON_MAX_DEPTH * sizeof *l);
    if (!o || !l) { free(o); free(l); return -1; }
    memcpy(o, p->open, (size_t)p->depth_cap * sizeof *o);
    memcpy(l, p->last, (size_t)p->depth_cap * sizeof *l);
    p->open = o;
    p->last = l;
    p->depth_cap = IOP_JSON_MAX_DEPTH;
    return 0;
}

size_t iop_json_error_offset(const iop_json_parser *p) { return p->err_off; }

/* ---- errors ---- */

static iop_code perr(iop_json_parser *p, const char *text, size_t len, size_t off, iop_err *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static iop_code perr(iop_json_parser *p, const char *text, size_t len, size_t off, iop_err *err, const char *fmt, ...) {
    if (off > len) off = len;
    p->err_off = off;
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') { line++; col = 1; }
        else if ((c & 0xC0) != 0x80) col++;
    }
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return iop_fail(err, IOP_EINVAL, "malformed JSON at line %u, column %u (byte %zu): %s", line, col, off, what);
}

/* A printable description of the byte at off, for messages. */
static const char *byte_desc(const char *text, size_t len, size_t off, char *buf, size_t cap) {
    if (off >= len) return "end of input";
    unsigned char c = (unsigned char)text[off];
    if (c >= 0x21 && c < 0x7F) snprintf(buf, cap, "'%c'", c);
    else snprintf(buf, cap, "byte 0x%02x", c);
    return buf;
}

/* ---- parsing ---- */

static const uint8_t ws_tab[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* A byte that stands for itself inside a string: printable ASCII but " and \. */
static inline bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* Eight bytes at once: true when none of them ends a plain run (SWAR: a byte below
 * 0x20, at or above 0x80, a quote or a backslash). */
static inline bool word_plain(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t bad = (x & high) | ((x - ones * 0x20) & ~x & high) | ((q - ones) & ~q & high) | ((bs - ones) & ~bs & high);
    return !bad;
}

static inline size_t skip_ws(const char *s, size_t len, size_t pos) {
    while (pos < len && ws_tab[(unsigned char)s[pos]]) pos++;
    return pos;
}

static int grow_nodes(iop_json_parser *p) {
    size_t cap = p->ncap * 2;
    if (cap > NONE) return -1;
    iop_json *n;
    if (p->nodes_in_block) { /* out of the block onto the heap */
        if ((n = malloc(cap * sizeof *n))) memcpy(n, p->nodes, p->n * sizeof *n);
    } else n = realloc(p->nodes, cap * sizeof *n);
    if (!n) return -1;
    p->nodes = n;
    p->ncap = cap;
    p->nodes_in_block = false;
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long hex4(const char *s, size_t len, size_t pos) {
    if (pos + 4 > len) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s[pos + (size_t)i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The length of a valid UTF-8 sequence at s[pos] (lead byte >= 0x80), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t len, size_t pos) {
    unsigned char c = s[pos];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        else if (c == 0xED) hi = 0x9F;  /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;       /* overlong */
        else if (c == 0xF4) hi = 0x8F;  /* above U+10FFFF */
    } else return 0;
    if (pos + n > len) return 0;
    if (s[pos + 1] < lo || s[pos + 1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[pos + i] < 0x80 || s[pos + i] > 0xBF) return 0;
    return n;
}

static size_t put_utf8(char *d, unsigned long cp) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12)); d[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18)); d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses the string whose opening quote is at *pos into the arena. */
static inline __attribute__((always_inline)) iop_code parse_string(iop_json_parser *p, const char *text, size_t len,
                                                                   size_t *pos, unsigned flags, const char **out,
                                                                   uint32_t *out_len, bool *ctrl, bool *esc, iop_err *err) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = *pos + 1, open = *pos;
    char *d = p->str + p->spos, *d0 = d;
    for (;;) {
#ifdef __SSE2__
        /* sixteen bytes at once: a signed compare below 0x20 also catches bytes >= 0x80 */
        while (i + 16 <= len) {
            __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i stop = _mm_or_si128(_mm_cmplt_epi8(w, _mm_set1_epi8(0x20)),
                                        _mm_or_si128(_mm_cmpeq_epi8(w, _mm_set1_epi8('"')),
                                                     _mm_cmpeq_epi8(w, _mm_set1_epi8('\\'))));
            _mm_storeu_si128((__m128i *)(void *)d, w); /* the arena has room: see the file comment */
            unsigned m = (unsigned)_mm_movemask_epi8(stop);
            if (m) {
                unsigned k = (unsigned)__builtin_ctz(m);
                d += k;
                i += k;
                goto special;
            }
            d += 16;
            i += 16;
        }
#endif
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_plain(w)) break;
            memcpy(d, &w, 8);
            d += 8;
            i += 8;
        }
        size_t st = i;
        while (i < len && plain(s[i])) i++;
        if (i > st) { memcpy(d, s + st, i - st); d += i - st; }
        if (i >= len) return perr(p, text, len, open, err, "unterminated string");
#ifdef __SSE2__
    special:;
#endif
        unsigned char c = s[i];
        if (c == '"') { i++; break; }
        if (c == '\\') {
            *esc = true;
            if (i + 1 >= len) return perr(p, text, len, open, err, "unterminated string");
            unsigned char e = s[i + 1];
            switch (e) {
            case '"': *d++ = '"'; i += 2; continue;
            case '\\': *d++ = '\\'; i += 2; continue;
            case '/': *d++ = '/'; i += 2; continue;
            case 'b': *d++ = '\b'; i += 2; *ctrl = true; continue;
            case 'f': *d++ = '\f'; i += 2; *ctrl = true; continue;
            case 'n': *d++ = '\n'; i += 2; *ctrl = true; continue;
            case 'r': *d++ = '\r'; i += 2; *ctrl = true; continue;
            case 't': *d++ = '\t'; i += 2; *ctrl = true; continue;
            case 'u': break;
            default: {
                char b[16];
                return perr(p, text, len, i, err, "invalid escape '\\%s' in a string",
                            e >= 0x21 && e < 0x7F ? (b[0] = (char)e, b[1] = 0, b) : "?");
            }
            }
            long u = hex4(text, len, i + 2);
            if (u < 0) return perr(p, text, len, i, err, "\\u must be followed by 4 hex digits");
            unsigned long cp = (unsigned long)u;
            size_t at = i;
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return perr(p, text, len, at, err, "lone UTF-16 low surrogate \\u%04lX", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = (i + 1 < len && s[i] == '\\' && s[i + 1] == 'u') ? hex4(text, len, i + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return perr(p, text, len, at, err, "lone UTF-16 high surrogate \\u%04lX", cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                i += 6;
            }
            if (cp == 0 && !(flags & IOP_JSON_ALLOW_NUL))
                return perr(p, text, len, at, err, "\\u0000 is not allowed in a string");
            if (cp < 0x20) *ctrl = true;
            d += put_utf8(d, cp);
            continue;
        }
        if (c < 0x20) return perr(p, text, len, i, err, "control character 0x%02x in a string must be escaped", c);
        size_t n = utf8_len(s, len, i);
        if (!n) return perr(p, text, len, i, err, "invalid UTF-8 in a string");
        memcpy(d, s + i, n);
        d += n;
        i += n;
    }
    *d = 0;
    *out = d0;
    *out_len = (uint32_t)(d - d0);
    p->spos += (size_t)(d - d0) + 1;
    *pos = i;
    return IOP_OK;
}

static iop_code parse_number(iop_json_parser *p, const char *text, size_t len, size_t *pos, iop_json *v, iop_err *err) {
    size_t i = *pos, st = i;
    bool neg = false, integral = true, big = false;
    uint64_t u = 0;
    if (text[i] == '-') { neg = true; i++; }
    if (i >= len || text[i] < '0' || text[i] > '9')
        return perr(p, text, len, i, err, "expected a digit in a number");
    if (text[i] == '0') {
        i++;
        if (i < len && text[i] >= '0' && text[i] <= '9') return perr(p, text, len, st, err, "leading zero in a number");
    } else {
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            unsigned dgt = (unsigned)(text[i] - '0');
            if (u > (UINT64_MAX - dgt) / 10) big = true;
            else u = u * 10 + dgt;
            i++;
        }
    }
    if (i < len && text[i] == '.') {
        integral = false;
        i++;
        if (i >= len || text[i] < '0' || text[i] > '9')
            return perr(p, text, len, i, err, "expected a digit after the decimal point");
        while (i < len && text[i] >= '0' && text[i] <= '9') i++;
    }
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        integral = false;
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-')) i++;
        if (i >= len || text[i] < '0' || text[i] > '9')
            return perr(p, text, len, i, err, "expected a digit in the exponent");
        while (i < len && text[i] >= '0' && text[i] <= '9') i++;
    }
    *pos = i;
    if (integral && !big && (u <= (uint64_t)INT64_MAX || (neg && u == (uint64_t)INT64_MAX + 1))) {
        v->type = IOP_JSON_INT;
        v->v.i = neg ? (int64_t)(0 - u) : (int64_t)u;
        return IOP_OK;
    }
    /* strtod needs a terminated copy: the arena's free tail has room for it (the
     * number's bytes are input that no string uses) */
    char *tmp = p->str + p->spos;
    memcpy(tmp, text + st, i - st);
    tmp[i - st] = 0;
    errno = 0;
    double d = strtod(tmp, NULL);
    if (isinf(d)) return perr(p, text, len, st, err, "number out of range");
    v->type = IOP_JSON_REAL;
    v->v.d = d;
    return IOP_OK;
}

static bool same_key(const iop_json *a, const char *k, uint32_t kl) {
    return a->key_len == kl && !memcmp(a->key, k, kl);
}

static int cmp_member(const void *a, const void *b) {
    const iop_json *x = *(const iop_json *const *)a, *y = *(const iop_json *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

/* Duplicate check of a large object at its closing brace; returns a duplicate or NULL. */
static const iop_json *large_dup(const iop_json *obj, bool *oom) {
    const iop_json **m = malloc(obj->len * sizeof *m);
    if (!m) { *oom = true; return NULL; }
    size_t n = 0;
    for (const iop_json *c = iop_json_first(obj); c; c = iop_json_next(c)) m[n++] = c;
    qsort(m, n, sizeof *m, cmp_member);
    const iop_json *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (!cmp_member(&m[i - 1], &m[i])) dup = m[i];
    free(m);
    return dup;
}

iop_code iop_json_parse(iop_json_parser *p, const char *text, size_t len, unsigned flags, const iop_json **root,
                        iop_err *err) {
    p->n = 0;
    p->spos = 0;
    p->err_off = 0;
    if (len >= NONE) return perr(p, text, len, 0, err, "document larger than 4 GiB");
    if (p->scap < len + 1) {
        /* one block: the arena (len + 1 bytes, rounded up to 8) and room for the nodes of
         * a typical document of this size */
        size_t need = (len + 8) & ~(size_t)7, est = len / 16 + 32;
        release_buffers(p);
        if (!(p->block = malloc(need + est * sizeof(iop_json))))
            return iop_fail(err, IOP_ENOMEM, "out of memory for a JSON document of %zu bytes", len);
        p->str = p->block;
        p->scap = need;
        p->nodes = (iop_json *)(void *)((char *)p->block + need);
        p->ncap = est;
        p->nodes_in_block = true;
    }
    char b[16];
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF)
        return perr(p, text, len, 0, err, "a byte order mark is not allowed");
    size_t pos = skip_ws(text, len, 0);
    int depth = 0;
    const char *key = NULL;
    uint32_t key_len = 0;
    bool key_esc = false;
    iop_code rc;

value:
    if (pos >= len) return perr(p, text, len, pos, err, "unexpected end of input, expected a value");
    if (p->n == p->ncap && grow_nodes(p)) return iop_fail(err, IOP_ENOMEM, "out of memory");
    {
        uint32_t idx = (uint32_t)p->n++;
        iop_json *v = &p->nodes[idx];
        memset(v, 0, sizeof *v);
        v->key = key;
        v->key_len = key_len;
        v->key_escaped = key_esc;
        key = NULL;
        key_len = 0;
        if (depth > 0) {
            uint32_t last = p->last[depth - 1];
            if (last != NONE) p->nodes[last].next = idx - last;
            p->last[depth - 1] = idx;
            p->nodes[p->open[depth - 1]].len++;
        }
        char c = text[pos];
        switch (c) {
        case '{':
        case '[':
            if (depth == IOP_JSON_MAX_DEPTH)
                return perr(p, text, len, pos, err, "nesting deeper than %d levels", IOP_JSON_MAX_DEPTH);
            if (depth == p->depth_cap && grow_stack(p)) return iop_fail(err, IOP_ENOMEM, "out of memory");
            v->type = c == '{' ? IOP_JSON_OBJECT : IOP_JSON_ARRAY;
            p->open[depth] = idx;
            p->last[depth] = NONE;
            depth++;
            pos = skip_ws(text, len, pos + 1);
            if (pos < len && text[pos] == (c == '{' ? '}' : ']')) {
                pos++;
                depth--;
                goto after;
            }
            if (c == '{') goto member;
            goto value;
        case '"':
            v->type = IOP_JSON_STRING;
            {
                const char *s = NULL;
                uint32_t sl = 0;
                bool ctrl = false, esc = false;
                if ((rc = parse_string(p, text, len, &pos, flags, &s, &sl, &ctrl, &esc, err))) return rc;
                v = &p->nodes[idx];
                v->v.s = s;
                v->len = sl;
                v->has_ctrl = ctrl;
                v->escaped = esc;
            }
            goto after;
        case 't':
            if (len - pos >= 4 && !memcmp(text + pos, "true", 4)) { v->type = IOP_JSON_TRUE; pos += 4; goto after; }
            break;
        case 'f':
            if (len - pos >= 5 && !memcmp(text + pos, "false", 5)) { v->type = IOP_JSON_FALSE; pos += 5; goto after; }
            break;
        case 'n':
            if (len - pos >= 4 && !memcmp(text + pos, "null", 4)) { v->type = IOP_JSON_NULL; pos += 4; goto after; }
            break;
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                if ((rc = parse_number(p, text, len, &pos, v, err))) return rc;
                goto after;
            }
            if (c == ']' && depth > 0 && p->nodes[p->open[depth - 1]].type == IOP_JSON_ARRAY)
                return perr(p, text, len, pos, err, "trailing comma before ']'");
        }
        return perr(p, text, len, pos, err, "unexpected %s, expected a value", byte_desc(text, len, pos, b, sizeof b));
    }

member:
    /* pos is at the key's opening quote (whitespace skipped) */
    if (pos >= len || text[pos] != '"') {
        if (pos < len && text[pos] == '}') return perr(p, text, len, pos, err, "trailing comma before '}'");
        return perr(p, text, len, pos, err, "unexpected %s, expected a string key", byte_desc(text, len, pos, b, sizeof b));
    }
    {
        size_t kpos = pos;
        bool kctrl = false;
        key_esc = false;
        if ((rc = parse_string(p, text, len, &pos, flags, &key, &key_len, &kctrl, &key_esc, err))) return rc;
        const iop_json *obj = &p->nodes[p->open[depth - 1]];
        if (!(flags & IOP_JSON_ALLOW_DUPLICATES) && obj->len < DUP_LINEAR)
            for (const iop_json *m = iop_json_first(obj); m; m = iop_json_next(m))
                if (same_key(m, key, key_len)) return perr(p, text, len, kpos, err, "duplicate key \"%.64s\"", key);
        pos = skip_ws(text, len, pos);
        if (pos >= len || text[pos] != ':')
            return perr(p, text, len, pos, err, "unexpected %s, expected ':' after a key", byte_desc(text, len, pos, b, sizeof b));
        pos = skip_ws(text, len, pos + 1);
        goto value;
    }

after:
    pos = skip_ws(text, len, pos);
    if (depth == 0) {
        if (pos != len) return perr(p, text, len, pos, err, "unexpected data after the JSON value");
        *root = p->nodes;
        return IOP_OK;
    }
    {
        iop_json *parent = &p->nodes[p->open[depth - 1]];
        bool obj = parent->type == IOP_JSON_OBJECT;
        char close = obj ? '}' : ']';
        if (pos < len && text[pos] == ',') {
            pos = skip_ws(text, len, pos + 1);
            if (obj) goto member;
            goto value;
        }
        if (pos < len && text[pos] == close) {
            pos++;
            if (obj && parent->len >= DUP_LINEAR && !(flags & IOP_JSON_ALLOW_DUPLICATES)) {
                bool oom = false;
                const iop_json *dup = large_dup(parent, &oom);
                if (oom) return iop_fail(err, IOP_ENOMEM, "out of memory");
                if (dup) return perr(p, text, len, pos - 1, err, "duplicate key \"%.64s\" in the object closing here", dup->key);
            }
            depth--;
            goto after;
        }
        return perr(p, text, len, pos, err, "unexpected %s, expected ',' or '%c'", byte_desc(text, len, pos, b, sizeof b),
                    close);
    }
}

/* ---- base64 ---- */

/* The value (0..63) of a character of the standard alphabet, 255 for any other byte. */
static const uint8_t b64_tab[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 62, 255, 255, 255, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 255, 255, 255, 255, 255, 255,
    255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 255, 255, 255, 255, 255,
    255, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <tmmintrin.h>
#define B64_SSSE3 1
/* Sixteen characters into twelve bytes with SSSE3 (the pshufb lookups of W. Mula's
 * "Base64 decoding with SIMD instructions").  Decodes whole blocks of 16 valid
 * characters from u[*i] on and stops before the first block holding anything else
 * (padding included); the scalar code finishes.  bin needs 4 bytes of slack. */
__attribute__((target("ssse3"))) static void b64_blocks_ssse3(const unsigned char *u, size_t n, size_t *i, uint8_t *bin,
                                                              size_t *o) {
    /* per low nibble, the high nibbles (as bits 2..7) that make a base64 character:
     * 0: 3,5,7  1-9: 3..7  10: 4..7  11: 2,4,6 ('+')  12-14: 4,6  15: 2,4,6 ('/') */
    const __m128i valid_hi = _mm_setr_epi8((char)0xA8, (char)0xF8, (char)0xF8, (char)0xF8, (char)0xF8, (char)0xF8,
                                           (char)0xF8, (char)0xF8, (char)0xF8, (char)0xF8, (char)0xF0, 0x54, 0x50, 0x50,
                                           0x50, 0x54);
    const __m128i hi_bit = _mm_setr_epi8(0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, (char)0x80, 0, 0, 0, 0, 0, 0, 0, 0);
    /* value = character + shift[high nibble]: '+' 43+19, '0' 48+4, 'A' 65-65, 'a' 97-71;
     * '/' (high nibble 2 like '+') gets 19-3 */
    const __m128i shift = _mm_setr_epi8(0, 0, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i nib = _mm_set1_epi8(0x0F), slash = _mm_set1_epi8('/'), zero = _mm_setzero_si128();
    const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    size_t k = *i, w = *o;
    while (k + 16 <= n) {
        __m128i in = _mm_loadu_si128((const __m128i *)(const void *)(u + k));
        __m128i hi = _mm_and_si128(_mm_srli_epi32(in, 4), nib), lo = _mm_and_si128(in, nib);
        __m128i ok = _mm_and_si128(_mm_shuffle_epi8(valid_hi, lo), _mm_shuffle_epi8(hi_bit, hi));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(ok, zero))) break;
        __m128i sh = _mm_add_epi8(_mm_shuffle_epi8(shift, hi), _mm_and_si128(_mm_cmpeq_epi8(in, slash), _mm_set1_epi8(-3)));
        __m128i v = _mm_add_epi8(in, sh);
        __m128i pairs = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140));   /* a<<6|b, c<<6|d */
        __m128i quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x00011000));  /* ab<<12|cd */
        _mm_storeu_si128((__m128i *)(void *)(bin + w), _mm_shuffle_epi8(quads, pack));
        k += 16;
        w += 12;
    }
    *i = k;
    *o = w;
}
#endif

iop_code iop_json_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen, iop_err *err) {
    uint8_t *bin = malloc(n / 4 * 3 + 4);
    if (!bin) return iop_fail(err, IOP_ENOMEM, "out of memory decoding base64");
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
#ifdef B64_SSSE3
    if (n >= 16 && __builtin_cpu_supports("ssse3")) b64_blocks_ssse3(u, n, &i, bin, &o);
#endif
    /* whole quantums of four characters */
    while (i + 4 <= n) {
        unsigned a = b64_tab[u[i]], b = b64_tab[u[i + 1]], c = b64_tab[u[i + 2]], d = b64_tab[u[i + 3]];
        if ((a | b | c | d) & 0x80) break;
        uint32_t q = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
        bin[o] = (uint8_t)(q >> 16);
        bin[o + 1] = (uint8_t)(q >> 8);
        bin[o + 2] = (uint8_t)q;
        o += 3;
        i += 4;
    }
    /* the rest: up to three characters, then the padding that completes them */
    unsigned acc = 0, bits = 0;
    while (i < n) {
        unsigned v = b64_tab[u[i]];
        if (v & 0x80) break;
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bin[o++] = (uint8_t)(acc >> bits);
        }
        i++;
    }
    bool ok = bits <= 4 && !(acc & ((1u << bits) - 1));
    for (unsigned pad = bits / 2; ok && pad; pad--) {
        if (i < n && u[i] == '=') i++;
        else ok = false;
    }
    if (!ok || i != n) {
        free(bin);
        return iop_fail(err, IOP_EINVAL, "invalid base64 at character %zu", i);
    }
    *out = bin;
    *outlen = o;
    return IOP_OK;
}

/* ---- navigation ---- */

const iop_json *iop_json_get(const iop_json *obj, const char *key) {
    if (!iop_json_is_object(obj)) return NULL;
    size_t kl = strlen(key);
    for (const iop_json *m = iop_json_first(obj); m; m = iop_json_next(m))
        if (m->key_len == kl && !memcmp(m->key, key, kl)) return m;
    return NULL;
}

const iop_json *iop_json_at(const iop_json *arr, size_t i) {
    if (!iop_json_is_array(arr) || i >= arr->len) return NULL;
    const iop_json *c = iop_json_first(arr);
    while (i--) c = iop_json_next(c);
    return c;
}

bool iop_json_key_is(const iop_json *m, const char *key) {
    if (!m->key) return false;
    size_t kl = strlen(key);
    return m->key_len == kl && !memcmp(m->key, key, kl);
}

/* ---- writing ---- */

/* iop_buf_append with the common case (room enough) inline. */
static inline int put(iop_buf *b, const void *src, size_t n) {
    if (b->len + n + 1 > b->cap && iop_buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

static inline int put1(iop_buf *b, char c) {
    if (b->len + 2 > b->cap && iop_buf_reserve(b, 1)) return -1;
    b->data[b->len++] = c;
    b->data[b->len] = 0;
    return 0;
}

int iop_json_write_str(iop_buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    if (iop_buf_reserve(b, len + 2)) return -1;
    b->data[b->len++] = '"';
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t st = i;
#ifdef __SSE2__
        /* sixteen bytes at once: stop at a byte <= 0x1f, a quote or a backslash */
        while (i + 16 <= len) {
            __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
            __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(w, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
            __m128i stop = _mm_or_si128(low, _mm_or_si128(_mm_cmpeq_epi8(w, _mm_set1_epi8('"')),
                                                          _mm_cmpeq_epi8(w, _mm_set1_epi8('\\'))));
            unsigned m = (unsigned)_mm_movemask_epi8(stop);
            if (m) { i += (unsigned)__builtin_ctz(m); break; }
            i += 16;
        }
#endif
        while (i < len && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') i++;
        if (i > st && put(b, u + st, i - st)) return -1;
        if (i >= len) break;
        char esc[7];
        size_t n = 2;
        esc[0] = '\\';
        switch (u[i]) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[u[i] >> 4]; esc[5] = hex[u[i] & 15];
            n = 6;
        }
        if (put(b, esc, n)) return -1;
        i++;
    }
    return put1(b, '"');
}

static int write_real(iop_buf *b, double d) {
    char t[40];
    int n = snprintf(t, sizeof t, "%.17g", d);
    if (n <= 0 || (size_t)n >= sizeof t) return -1;
    char *e = strchr(t, 'e');
    if (e) { /* the exponent without '+' and leading zeros, as jansson writes it */
        char *to = e + 1, *from = e + 1;
        if (*from == '-') { to++; from++; }
        else if (*from == '+') from++;
        while (*from == '0' && from[1]) from++;
        memmove(to, from, strlen(from) + 1);
    } else if (!strchr(t, '.')) memcpy(t + n, ".0", 3);
    return iop_buf_puts(b, t);
}

static int write_value(iop_buf *b, const iop_json *v, bool sorted, int depth);

/* A string that had no escape in its text needs none when written. */
static inline int write_plain_or_escaped(iop_buf *b, const char *s, size_t len, bool escaped) {
    if (escaped) return iop_json_write_str(b, s, len);
    if (b->len + len + 3 > b->cap && iop_buf_reserve(b, len + 2)) return -1;
    char *d = b->data + b->len;
    d[0] = '"';
    memcpy(d + 1, s, len);
    d[len + 1] = '"';
    d[len + 2] = 0;
    b->len += len + 2;
    return 0;
}

static int write_member(iop_buf *b, const iop_json *m, bool sorted, int depth) {
    if (write_plain_or_escaped(b, m->key, m->key_len, m->key_escaped) || put1(b, ':')) return -1;
    return write_value(b, m, sorted, depth);
}

static int write_value(iop_buf *b, const iop_json *v, bool sorted, int depth) {
    if (depth > IOP_JSON_MAX_DEPTH) return -1;
    switch ((iop_json_type)v->type) {
    case IOP_JSON_NULL: return put(b, "null", 4);
    case IOP_JSON_FALSE: return put(b, "false", 5);
    case IOP_JSON_TRUE: return put(b, "true", 4);
    case IOP_JSON_INT: {
        char t[24];
        int n = snprintf(t, sizeof t, "%lld", (long long)v->v.i);
        return put(b, t, (size_t)n);
    }
    case IOP_JSON_REAL: return write_real(b, v->v.d);
    case IOP_JSON_STRING: return write_plain_or_escaped(b, v->v.s, v->len, v->escaped);
    case IOP_JSON_ARRAY: {
        if (put1(b, '[')) return -1;
        for (const iop_json *c = iop_json_first(v); c; c = iop_json_next(c)) {
            if (c != v + 1 && put1(b, ',')) return -1;
            if (write_value(b, c, sorted, depth + 1)) return -1;
        }
        return put1(b, ']');
    }
    case IOP_JSON_OBJECT: {
        if (put1(b, '{')) return -1;
        if (!sorted || v->len < 2) {
            for (const iop_json *c = iop_json_first(v); c; c = iop_json_next(c)) {
                if (c != v + 1 && put1(b, ',')) return -1;
                if (write_member(b, c, sorted, depth + 1)) return -1;
            }
        } else {
            const iop_json *stack_m[32], **m = v->len <= 32 ? stack_m : malloc(v->len * sizeof *m);
            if (!m) return -1;
            size_t n = 0;
            for (const iop_json *c = iop_json_first(v); c; c = iop_json_next(c)) m[n++] = c;
            if (n <= 32) { /* insertion sort: the usual object is small */
                for (size_t i = 1; i < n; i++) {
                    const iop_json *x = m[i];
                    size_t j = i;
                    while (j > 0 && cmp_member(&m[j - 1], &x) > 0) { m[j] = m[j - 1]; j--; }
                    m[j] = x;
                }
            } else qsort(m, n, sizeof *m, cmp_member);
            int r = 0;
            for (size_t i = 0; i < n && !r; i++) {
                if (i) r = put1(b, ',');
                if (!r) r = write_member(b, m[i], sorted, depth + 1);
            }
            if (m != stack_m) free(m);
            if (r) return -1;
        }
        return put1(b, '}');
    }
    }
    return -1;
}

int iop_json_write(iop_buf *b, const iop_json *v) { return write_value(b, v, false, 0); }

int iop_json_write_canonical(iop_buf *b, const iop_json *v) { return write_value(b, v, true, 0); }
