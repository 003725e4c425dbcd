/* util.c -- base64, strings, files, directories and the deterministic PRNG. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include "interop/base.h"
#include "interop/json.h"

char *iop_base64_encode(const uint8_t *p, size_t n) {
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(cap);
    if (!out) return NULL;
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

/* One decoder in the code base: json.c's (same verdicts and messages as the libsodium
 * decoder it replaced, several times faster). */
iop_code iop_base64_decode(const char *s, uint8_t **out, size_t *outlen, iop_err *err) {
    return iop_json_base64_decode(s, strlen(s), out, outlen, err);
}

char *iop_strdup(const char *s) { return s ? strdup(s) : NULL; }
char *iop_strndup(const char *s, size_t n) { return s ? strndup(s, n) : NULL; }
bool iop_str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

iop_code iop_read_file(const char *path, char **data, size_t *len, iop_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return iop_fail(err, IOP_EIO, "%s: %s", path, strerror(errno));
    iop_buf b;
    iop_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (iop_buf_append(&b, chunk, n)) {
            fclose(f);
            iop_buf_free(&b);
            return iop_fail(err, IOP_ENOMEM, "%s: out of memory", path);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { iop_buf_free(&b); return iop_fail(err, IOP_EIO, "%s: read error", path); }
    *len = b.len;
    *data = iop_buf_steal(&b);
    return IOP_OK;
}

iop_code iop_mkdirs(const char *path, iop_err *err) {
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return iop_fail(err, IOP_EINVAL, "invalid directory path '%s'", path);
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return iop_fail(err, IOP_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    return IOP_OK;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void iop_rng_seed(iop_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t iop_rng_next(iop_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double iop_rng_uniform(iop_rng *r) { return (double)(iop_rng_next(r) >> 11) * 0x1.0p-53; }

uint32_t iop_rng_below(iop_rng *r, uint32_t n) {
    return n ? (uint32_t)(((iop_rng_next(r) >> 32) * (uint64_t)n) >> 32) : 0;
}

double iop_rng_normal(iop_rng *r) {
    double u1 = iop_rng_uniform(r), u2 = iop_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
