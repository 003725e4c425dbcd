/*
 * base.h -- the helpers every interop module shares: errors as values, a growable
 * buffer, partial dates, base64, clocks and small string utilities.
 *
 * Conventions used across the code base:
 *   - Functions that can fail return an iop_code (IOP_OK == 0) and, when given a
 *     non-NULL iop_err*, fill it with a sentence that says what was wrong and where
 *     (file, line, field).  iop_fail() sets the error and returns its code, so a
 *     failure path reads `return iop_fail(err, IOP_EINVAL, "...", ...);`.
 *   - Ownership: a function named *_new / *_open allocates and its *_free / *_close
 *     releases; strings returned through out-parameters are malloc'd and the caller
 *     frees them unless the header says otherwise.
 *   - No hidden global state: every module works on a context passed in.
 */
#ifndef INTEROP_BASE_H
#define INTEROP_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum iop_code {
    IOP_OK = 0,
    IOP_EINVAL,    /* bad input: malformed, out of range, unknown field */
    IOP_ENOMEM,    /* out of memory */
    IOP_EIO,       /* file system or database failure */
    IOP_ENOTFOUND, /* no such record, user, profile, system */
    IOP_EEXIST,    /* already exists */
    IOP_EDENIED,   /* not allowed for this user, profile or purpose */
    IOP_ECORRUPT,  /* stored data or a log chain failed its integrity check */
    IOP_ELIMIT,    /* a size or count limit was exceeded */
    IOP_EFORMAT,   /* a binary format (biometric template, ...) is invalid */
    IOP_EINTERNAL  /* a bug: an invariant did not hold */
} iop_code;

#define IOP_ERR_MSG 512
typedef struct iop_err {
    iop_code code;
    char msg[IOP_ERR_MSG];
} iop_err;

/* Sets *err (if not NULL) and returns code. */
iop_code iop_fail(iop_err *err, iop_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message already in *err with "prefix: " (e.g. a file and line). */
void iop_err_prefix(iop_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *iop_code_name(iop_code code); /* "invalid input", "not found", ... */
void iop_err_clear(iop_err *err);

/* ---- growable byte buffer (always NUL-terminated) ---- */
typedef struct iop_buf {
    char *data;
    size_t len, cap;
} iop_buf;

void iop_buf_init(iop_buf *b);
void iop_buf_free(iop_buf *b);
void iop_buf_reset(iop_buf *b);                /* len = 0, keeps the memory */
int iop_buf_reserve(iop_buf *b, size_t extra); /* 0 or -1 on ENOMEM */
int iop_buf_append(iop_buf *b, const void *p, size_t n);
int iop_buf_puts(iop_buf *b, const char *s);
int iop_buf_printf(iop_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int iop_buf_vprintf(iop_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
int iop_buf_json_str(iop_buf *b, const char *s);
/* Appends v with exactly `decimals` digits after the point (0..9), rounded half away from
 * zero, as "%.*f" prints it for |v| < 1e15; NaN and infinities as JSON cannot hold them:
 * "null".  For the hot paths that write scores into replies. */
int iop_buf_fixed(iop_buf *b, double v, int decimals);
char *iop_buf_steal(iop_buf *b); /* returns data (caller frees), leaves b empty */

/* ---- partial dates: "YYYY-MM-DD", "YYYY-MM" or "YYYY"; 0 = unknown part ---- */
typedef struct iop_date {
    int16_t year;  /* 0 = no date at all */
    int8_t month;  /* 1..12, 0 = unknown */
    int8_t day;    /* 1..31, 0 = unknown */
} iop_date;

/* Strict: rejects "1990-13-01", "1990-02-30", "90-01-01", trailing text. The
 * accepted years are 1800..2200. */
iop_code iop_date_parse(const char *s, iop_date *out, iop_err *err);
/* Writes the shortest form that keeps every known part; buf >= 11 bytes. */
void iop_date_format(iop_date d, char *buf);
bool iop_date_valid(iop_date d);
/* Days since 1970-01-01 of a full date (month/day must be known). */
int64_t iop_days_from_civil(int y, int m, int d);
void iop_civil_from_days(int64_t z, int *y, int *m, int *d);
/* Today's date in UTC. */
iop_date iop_date_today(void);

/* ---- base64 (standard alphabet, padding required on decode) ---- */
char *iop_base64_encode(const uint8_t *p, size_t n);                  /* caller frees */
iop_code iop_base64_decode(const char *s, uint8_t **out, size_t *outlen, iop_err *err);

/* ---- clocks ---- */
int64_t iop_now_ms(void);       /* wall clock, ms since the epoch (UTC) */
uint64_t iop_mono_ns(void);     /* monotonic, ns */
/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ"; buf >= 25 bytes. */
void iop_time_format(int64_t ms, char *buf);

/* ---- strings ---- */
char *iop_strdup(const char *s);          /* NULL-safe */
char *iop_strndup(const char *s, size_t n);
bool iop_str_eq(const char *a, const char *b); /* NULL-safe */
/* Reads a whole file; adds a NUL after the data. */
iop_code iop_read_file(const char *path, char **data, size_t *len, iop_err *err);
/* Creates a directory and its parents (mode 0700); ok if it exists. */
iop_code iop_mkdirs(const char *path, iop_err *err);
/* Deterministic 64-bit PRNG (splitmix64 seeded xoshiro256**), for generators and tests. */
typedef struct iop_rng { uint64_t s[4]; } iop_rng;
void iop_rng_seed(iop_rng *r, uint64_t seed);
uint64_t iop_rng_next(iop_rng *r);
double iop_rng_uniform(iop_rng *r);               /* [0,1) */
uint32_t iop_rng_below(iop_rng *r, uint32_t n);   /* [0,n) */
double iop_rng_normal(iop_rng *r);                /* N(0,1) */

#endif
