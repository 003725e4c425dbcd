/*
 * json.h -- a strict RFC 8259 JSON parser into an arena DOM, and a compact writer.
 *
 * Made for the hot paths of the core (record parsing, reply filtering, CIR files):
 * a document is parsed into one flat array of nodes (pre-order: a container's first
 * child directly follows it, siblings are linked by offsets) and one string arena that
 * holds every string and key unescaped and NUL-terminated.  A parser keeps both between
 * documents, so parsing many lines costs no allocation once the arrays have grown.
 *
 * Strictness (the input is rejected, with the byte offset, line and column of the
 * fault): anything but one value surrounded by optional whitespace (space, tab, CR,
 * LF); a byte order mark; trailing commas; leading zeros, "+1", ".5", "1.", hex, NaN,
 * Infinity; raw control characters (< 0x20) in strings; unknown escapes; lone or
 * mismatched UTF-16 surrogates in \u escapes; invalid UTF-8 (overlong forms, encoded
 * surrogates, code points above U+10FFFF, truncated sequences); a string containing
 * \u0000 (strings are NUL-terminated; IOP_JSON_ALLOW_NUL lifts this, the length then
 * tells the truth); duplicate keys in one object (IOP_JSON_ALLOW_DUPLICATES lifts this;
 * lookup then finds the first); nesting deeper than IOP_JSON_MAX_DEPTH; a number whose
 * magnitude overflows a double.
 * Numbers: an integer literal (no fraction, no exponent) that fits int64 is
 * IOP_JSON_INT; every other number is IOP_JSON_REAL (a double).
 *
 * Ownership: the nodes and strings belong to the parser and stay valid until its next
 * iop_json_parse() or iop_json_parser_free().  Nothing is retained from the input.
 */
#ifndef INTEROP_JSON_H
#define INTEROP_JSON_H

#include "interop/base.h"

#define IOP_JSON_MAX_DEPTH 512

typedef enum iop_json_type {
    IOP_JSON_NULL = 0,
    IOP_JSON_FALSE,
    IOP_JSON_TRUE,
    IOP_JSON_INT,
    IOP_JSON_REAL,
    IOP_JSON_STRING,
    IOP_JSON_ARRAY,
    IOP_JSON_OBJECT
} iop_json_type;

/* One value.  Read the fields directly or through the helpers below. */
typedef struct iop_json {
    uint8_t type;       /* iop_json_type */
    uint8_t has_ctrl;   /* a string: true when it holds a character below U+0020 (escaped in the
                           text, like \n or \u0000); false guarantees none */
    uint8_t escaped;    /* a string: its text had a backslash escape (else it holds no '"', '\\' or
                           control character and is written back as is) */
    uint8_t key_escaped;/* the same for the key of an object member */
    uint32_t len;       /* string: bytes (without the NUL); array/object: number of children */
    uint32_t next;      /* distance in nodes to the next sibling; 0 for the last child */
    uint32_t key_len;   /* a member of an object: bytes of its key */
    const char *key;    /* a member of an object: its key, NUL-terminated; else NULL */
    union {
        int64_t i;      /* IOP_JSON_INT */
        double d;       /* IOP_JSON_REAL */
        const char *s;  /* IOP_JSON_STRING: NUL-terminated */
    } v;
} iop_json;

enum {
    IOP_JSON_ALLOW_DUPLICATES = 1u << 0, /* accept repeated keys in an object */
    IOP_JSON_ALLOW_NUL = 1u << 1,        /* accept \u0000 inside strings */
};

typedef struct iop_json_parser iop_json_parser;

iop_json_parser *iop_json_parser_new(void); /* NULL when out of memory */
void iop_json_parser_free(iop_json_parser *p);

/* Parses text[0..len) (need not be NUL-terminated).  On success *root is the top-level
 * value (any type), owned by the parser.  On failure *err reads
 * "malformed JSON at line L, column C (byte B): <what>" (column in characters, byte
 * offset from 0) and iop_json_error_offset() gives B. */
iop_code iop_json_parse(iop_json_parser *p, const char *text, size_t len, unsigned flags, const iop_json **root,
                        iop_err *err);
/* The byte offset of the last parse error (0 when the last parse succeeded). */
size_t iop_json_error_offset(const iop_json_parser *p);

/* ---- navigation ---- */
static inline bool iop_json_is(const iop_json *v, iop_json_type t) { return v && v->type == t; }
static inline bool iop_json_is_string(const iop_json *v) { return v && v->type == IOP_JSON_STRING; }
static inline bool iop_json_is_object(const iop_json *v) { return v && v->type == IOP_JSON_OBJECT; }
static inline bool iop_json_is_array(const iop_json *v) { return v && v->type == IOP_JSON_ARRAY; }
static inline bool iop_json_is_bool(const iop_json *v) {
    return v && (v->type == IOP_JSON_TRUE || v->type == IOP_JSON_FALSE);
}
/* The first child of an array or object (NULL when empty or not a container). */
static inline const iop_json *iop_json_first(const iop_json *v) {
    return v && (v->type == IOP_JSON_ARRAY || v->type == IOP_JSON_OBJECT) && v->len ? v + 1 : NULL;
}
/* The next sibling inside the same container (NULL after the last). */
static inline const iop_json *iop_json_next(const iop_json *v) { return v->next ? v + v->next : NULL; }
/* Children count of an array or object; 0 otherwise. */
static inline size_t iop_json_size(const iop_json *v) {
    return v && (v->type == IOP_JSON_ARRAY || v->type == IOP_JSON_OBJECT) ? v->len : 0;
}
/* The string value (NULL when v is not a string). */
static inline const char *iop_json_str(const iop_json *v) { return v && v->type == IOP_JSON_STRING ? v->v.s : NULL; }
/* Member `key` of an object (linear scan; the first when duplicates were allowed). */
const iop_json *iop_json_get(const iop_json *obj, const char *key);
/* Element i of an array (linear walk). */
const iop_json *iop_json_at(const iop_json *arr, size_t i);
/* Compares a member's key with a NUL-terminated string. */
bool iop_json_key_is(const iop_json *member, const char *key);

/* Decodes standard base64 (padding required), e.g. a string value's v.s and len, into a
 * malloc'd buffer the caller frees.  Table-driven; accepts and rejects exactly what
 * iop_base64_decode does, with the same message ("invalid base64 at character N"). */
iop_code iop_json_base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen, iop_err *err);

/* ---- writing ---- */
/* Appends s[0..len) as a JSON string literal, quotes included, escaped like
 * iop_buf_json_str (", \, \n, \r, \t short; other control characters \u00xx). */
int iop_json_write_str(iop_buf *b, const char *s, size_t len);
/* Appends v compactly (no whitespace), members in document order.  Reals are written
 * with 17 significant digits and always carry a '.' or an exponent, the exponent without
 * '+' or leading zeros ("1.0", "1e300", "2.5e-7"), as jansson writes them.  0 or -1 (ENOMEM). */
int iop_json_write(iop_buf *b, const iop_json *v);
/* Canonical form: like iop_json_write with every object's members sorted by key
 * (bytewise) at every depth -- the same bytes jansson writes with
 * JSON_COMPACT | JSON_SORT_KEYS for values without control characters in strings. */
int iop_json_write_canonical(iop_buf *b, const iop_json *v);

#endif
