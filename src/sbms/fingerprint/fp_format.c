/*
 * fp_format.c -- finger minutiae records in and out, for the shared biometric matching
 * service (Reg. (EU) 2019/817 Art 13: the sBMS stores templates from the connected
 * systems in the formats they exchange):
 *   ISO/IEC 19794-2:2005 finger minutiae record ("FMR\0", version " 20\0", 4-byte length),
 *   ANSI INCITS 378-2004 (same magic and version, 2-byte length or 0 + 4-byte length,
 *     CBEFF product id, angles in 2-degree units),
 *   ANSI INCITS 378-2009 ("030\0", per-view image size and resolution),
 *   ANSI/NIST-ITL 1 files: Type-1 header (1.003 lists the records), every other record
 *     skipped by its length (tagged records by field .001, binary Types 3-8 by their
 *     4-byte length), Type-9 minutiae from the standard fields 9.010-9.012 (0.01 mm
 *     units, origin bottom-left) or else the extended feature set 9.331 (0.01 mm, origin
 *     top-left), finger position from 9.006 / 9.302, extent from 9.300 or from the image
 *     record with the same IDC.
 * Every parser checks each length against the data it has and reports the field and the
 * byte offset that failed; nothing is returned on failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/sbms_fp.h"

#define TWO_PI 6.28318530717958647692

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const char *iop_fp_format_name(iop_fp_format f) {
    switch (f) {
    case IOP_FP_ISO2005: return "iso19794-2-2005";
    case IOP_FP_ANSI2004: return "ansi378-2004";
    case IOP_FP_ANSI2009: return "ansi378-2009";
    case IOP_FP_ANSI_NIST: return "ansi-nist-itl";
    case IOP_FP_AUTO: break;
    }
    return "auto";
}

iop_code iop_fp_format_parse(const char *name, iop_fp_format *out, iop_err *err) {
    static const iop_fp_format all[] = {IOP_FP_AUTO, IOP_FP_ISO2005, IOP_FP_ANSI2004,
                                        IOP_FP_ANSI2009, IOP_FP_ANSI_NIST};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, iop_fp_format_name(all[i]))) { *out = all[i]; return IOP_OK; }
    return iop_fail(err, IOP_EINVAL,
                    "unknown fingerprint format \"%s\" (expected iso19794-2-2005, ansi378-2004, "
                    "ansi378-2009 or ansi-nist-itl)", name ? name : "(null)");
}

static bool an2k_start(const uint8_t *d, size_t len) {
    /* "1.001:" (or the old "1.01:" / "1.1:") followed by a digit */
    if (len < 5 || d[0] != '1' || d[1] != '.') return false;
    size_t i = 2;
    while (i < len && i < 6 && d[i] >= '0' && d[i] <= '9') i++;
    return i > 2 && i < len && d[i] == ':';
}

iop_fp_format iop_fp_detect(const uint8_t *d, size_t len) {
    if (len >= 8 && !memcmp(d, "FMR\0", 4)) {
        if (!memcmp(d + 4, "030\0", 4)) return IOP_FP_ANSI2009;
        if (!memcmp(d + 4, " 20\0", 4)) {
            if (len < 10) return IOP_FP_ISO2005;
            if (be16(d + 8) != 0) return IOP_FP_ANSI2004;
            /* ANSI long form: 0x0000 then a 4-byte length; ISO: a 4-byte length < 64 KiB */
            if (len >= 14 && be32(d + 10) == len && be32(d + 8) != len) return IOP_FP_ANSI2004;
            return IOP_FP_ISO2005;
        }
        return IOP_FP_AUTO;
    }
    if (an2k_start(d, len)) return IOP_FP_ANSI_NIST;
    return IOP_FP_AUTO;
}

void iop_fp_template_free(iop_fp_template *t) {
    if (!t) return;
    free(t->fingers);
    t->fingers = NULL;
    t->n_fingers = 0;
}

/* ---------------------------------------------------------------- FMR (ISO / ANSI) */

static iop_code need(size_t len, size_t off, size_t n, const char *fname, const char *what, iop_err *err) {
    if (off + n <= len) return IOP_OK;
    return iop_fail(err, IOP_EFORMAT, "%s: truncated at byte %zu: %s needs %zu bytes, %zu left", fname, off,
                    what, n, off <= len ? len - off : 0);
}
#define NEED(off, n, what)                                                                  \
    do {                                                                                    \
        iop_code need_rc_ = need(len, (size_t)(off), (size_t)(n), fname, what, err);        \
        if (need_rc_) return need_rc_;                                                      \
    } while (0)

#define FMR_EXT_SLACK 2

static iop_code parse_minutiae(const uint8_t *d, size_t len, size_t *offp, iop_fp_format fmt,
                               iop_fp_finger *f, unsigned nmin, size_t view_index, bool last, iop_err *err) {
    const char *fname = iop_fp_format_name(fmt);
    size_t off = *offp;
    NEED(off, (size_t)nmin * 6, "the minutiae of the finger view");
    for (unsigned i = 0; i < nmin; i++, off += 6) {
        const uint8_t *p = d + off;
        unsigned type = p[0] >> 6, x = be16(p) & 0x3fff, y = be16(p + 2) & 0x3fff;
        unsigned a = p[4], q = p[5];
        if (type == 3)
            return iop_fail(err, IOP_EFORMAT, "%s: byte %zu: view %zu minutia %u has the reserved type 3",
                            fname, off, view_index + 1, i + 1);
        if (q > 100)
            return iop_fail(err, IOP_EFORMAT, "%s: byte %zu: view %zu minutia %u quality %u > 100",
                            fname, off + 5, view_index + 1, i + 1, q);
        double deg;
        if (fmt == IOP_FP_ISO2005) deg = a * 1.40625;
        else {
            if (a > 179)
                return iop_fail(err, IOP_EFORMAT,
                                "%s: byte %zu: view %zu minutia %u angle %u > 179 (2-degree units)",
                                fname, off + 4, view_index + 1, i + 1, a);
            deg = a * 2.0;
        }
        iop_fp_minutia *m = &f->m[i];
        m->x = (float)x;
        m->y = (float)y;
        m->angle = (float)(deg * TWO_PI / 360.0);
        m->type = (uint8_t)(type == 1 ? IOP_FP_ENDING : type == 2 ? IOP_FP_BIFURCATION : IOP_FP_OTHER);
        m->quality = (uint8_t)q;
    }
    f->n = (uint16_t)nmin;
    /* extended data block: 2-byte length then the data */
    NEED(off, 2, "the extended data length");
    unsigned ext = be16(d + off);
    off += 2;
    /* The extended data (ridge counts, core and delta) is not used for matching.  The
     * NIST reference records end the last block up to FMR_EXT_SLACK bytes away from the
     * record end (a 2-byte "CM" trailer, counted or not); that much is tolerated after
     * the last view only, everything else must fit exactly. */
    if (last && off + ext > len && off + ext <= len + FMR_EXT_SLACK) ext = (unsigned)(len - off);
    NEED(off, ext, "the extended data block");
    off += ext;
    if (last && off < len && len - off <= FMR_EXT_SLACK) off = len;
    *offp = off;
    return IOP_OK;
}

static iop_code parse_fmr(const uint8_t *d, size_t len, iop_fp_format fmt, iop_fp_template *out,
                          iop_err *err) {
    const char *fname = iop_fp_format_name(fmt);
    NEED(0, 8, "the format identifier and version");
    if (memcmp(d, "FMR\0", 4))
        return iop_fail(err, IOP_EFORMAT, "%s: byte 0: format identifier is not \"FMR\"", fname);
    const char *ver = fmt == IOP_FP_ANSI2009 ? "030" : " 20";
    if (memcmp(d + 4, ver, 4))
        return iop_fail(err, IOP_EFORMAT, "%s: byte 4: version is not \"%s\"", fname, ver);
    size_t off = 8, reclen;
    unsigned nviews, width = 0, height = 0, xres = 0, yres = 0;
    if (fmt == IOP_FP_ISO2005) {
        NEED(off, 16, "the record header");
        reclen = be32(d + 8);
        width = be16(d + 14); height = be16(d + 16);
        xres = be16(d + 18); yres = be16(d + 20);
        nviews = d[22];
        off = 24;
    } else if (fmt == IOP_FP_ANSI2004) {
        NEED(off, 2, "the record length");
        reclen = be16(d + 8);
        off = 10;
        if (reclen == 0) {
            NEED(off, 4, "the long record length");
            reclen = be32(d + 10);
            off = 14;
        }
        NEED(off, 16, "the record header");
        off += 4 + 2; /* CBEFF product id, capture equipment */
        width = be16(d + off); height = be16(d + off + 2);
        xres = be16(d + off + 4); yres = be16(d + off + 6);
        nviews = d[off + 8];
        off += 10;
    } else {
        NEED(off, 12, "the record header");
        reclen = be32(d + 8);
        nviews = d[18];
        off = 20;
    }
    if (reclen != len)
        return iop_fail(err, IOP_EFORMAT,
                        "%s: byte 8: the record length field says %zu bytes but %zu bytes were given%s",
                        fname, reclen, len, reclen > len ? " (truncated record)" : " (trailing data)");
    if (nviews == 0)
        return iop_fail(err, IOP_EFORMAT, "%s: the record holds no finger view", fname);
    if (nviews > IOP_FP_MAX_FINGERS)
        return iop_fail(err, IOP_EFORMAT, "%s: %u finger views, at most %d supported", fname, nviews,
                        IOP_FP_MAX_FINGERS);
    iop_fp_finger *fingers = calloc(nviews, sizeof *fingers);
    if (!fingers) return iop_fail(err, IOP_ENOMEM, "out of memory");
    iop_code rc = IOP_OK;
    for (unsigned v = 0; v < nviews; v++) {
        iop_fp_finger *f = &fingers[v];
        size_t hdr = fmt == IOP_FP_ANSI2009 ? 17 : 4;
        if (off + hdr > len) {
            rc = iop_fail(err, IOP_EFORMAT, "%s: truncated at byte %zu: finger view %u header needs %zu bytes",
                          fname, off, v + 1, hdr);
            break;
        }
        const uint8_t *p = d + off;
        f->position = p[0];
        if (f->position > 10) {
            rc = iop_fail(err, IOP_EFORMAT, "%s: byte %zu: finger view %u position %u > 10", fname, off,
                          v + 1, p[0]);
            break;
        }
        unsigned nmin;
        if (fmt == IOP_FP_ANSI2009) {
            f->view = p[1]; f->impression = p[2]; f->quality = p[3];
            f->width = (uint16_t)be16(p + 8); f->height = (uint16_t)be16(p + 10);
            f->xres = (uint16_t)be16(p + 12); f->yres = (uint16_t)be16(p + 14);
            nmin = p[16];
        } else {
            f->view = p[1] >> 4; f->impression = p[1] & 15; f->quality = p[2];
            f->width = (uint16_t)width; f->height = (uint16_t)height;
            f->xres = (uint16_t)xres; f->yres = (uint16_t)yres;
            nmin = p[3];
        }
        if (f->quality > 100) {
            rc = iop_fail(err, IOP_EFORMAT, "%s: byte %zu: finger view %u quality %u > 100", fname,
                          off + (fmt == IOP_FP_ANSI2009 ? 3 : 2), v + 1, f->quality);
            break;
        }
        off += hdr;
        if ((rc = parse_minutiae(d, len, &off, fmt, f, nmin, v, v + 1 == nviews, err)) != IOP_OK) break;
    }
    if (rc == IOP_OK && off != len)
        rc = iop_fail(err, IOP_EFORMAT, "%s: byte %zu: %zu bytes after the last finger view", fname, off,
                      len - off);
    if (rc != IOP_OK) { free(fingers); return rc; }
    out->format = fmt;
    out->n_fingers = nviews;
    out->fingers = fingers;
    return IOP_OK;
}

/* ---------------------------------------------------------------- ANSI/NIST-ITL */

enum { AN_FS = 0x1c, AN_GS = 0x1d, AN_RS = 0x1e, AN_US = 0x1f };

typedef struct an_field {
    unsigned type, num;
    size_t off;          /* byte offset of the value */
    const uint8_t *v;
    size_t vlen;
} an_field;

/* Reads the tag "T.NNN:" at d[*off]; the value runs to the next GS/FS (or to end for
 * the binary .999 field, which is the last of its record). */
static iop_code an_next_field(const uint8_t *d, size_t end, size_t *off, an_field *f, iop_err *err) {
    size_t i = *off, start = i;
    unsigned t = 0, n = 0;
    size_t nd = 0;
    while (i < end && d[i] >= '0' && d[i] <= '9' && nd < 3) { t = t * 10 + (d[i] - '0'); i++; nd++; }
    if (!nd || i >= end || d[i] != '.')
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: expected a field tag \"T.NNN:\"", start);
    i++;
    nd = 0;
    while (i < end && d[i] >= '0' && d[i] <= '9' && nd < 4) { n = n * 10 + (d[i] - '0'); i++; nd++; }
    if (!nd || i >= end || d[i] != ':')
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: malformed field tag", start);
    i++;
    f->type = t; f->num = n; f->off = i; f->v = d + i;
    if (n == 999) {
        /* binary image data: up to the record end (whose last byte is FS) */
        f->vlen = end - 1 - i;
        *off = end;
        return IOP_OK;
    }
    size_t j = i;
    while (j < end && d[j] != AN_GS && d[j] != AN_FS) j++;
    if (j >= end)
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: field %u.%03u is not terminated",
                        start, t, n);
    f->vlen = j - i;
    *off = j + 1;
    return IOP_OK;
}

static bool an_uint(const uint8_t *v, size_t n, unsigned long *out) {
    if (!n || n > 9) return false;
    unsigned long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

static bool an_digits(const uint8_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9') return false;
    return n > 0;
}

/* Reads the record length from the first field "T.001:LEN" (tagged record). */
static iop_code an_tagged_len(const uint8_t *d, size_t len, size_t off, unsigned want_type,
                              size_t *rlen, iop_err *err) {
    an_field f;
    size_t o = off;
    iop_code rc = an_next_field(d, len, &o, &f, err);
    if (rc) return rc;
    unsigned long l;
    if (f.num != 1 || !an_uint(f.v, f.vlen, &l))
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: record does not start with its length field %u.001",
                        off, want_type);
    if (f.type != want_type)
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: record of type %u where 1.003 announced type %u",
                        off, f.type, want_type);
    if (l < 8 || off + l > len)
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: Type-%u record length %lu %s",
                        off, want_type, l, l < 8 ? "is too small" : "runs past the end of the file (truncated)");
    if (d[off + l - 1] != AN_FS)
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: Type-%u record does not end with the FS separator",
                        off + l - 1, want_type);
    *rlen = l;
    return IOP_OK;
}

typedef struct an_img { unsigned idc, w, h; double ppmm; } an_img;

typedef struct an_min9 {
    unsigned idc, fgp;
    size_t off;       /* offset of the record, for messages */
    iop_fp_finger f;
    double maxx, maxy;     /* extent of the coordinates (pixels) */
    bool bottom_left;      /* standard fields: y from the bottom */
    unsigned roi_w, roi_h; /* EFS region of interest in pixels, 0 = none */
} an_min9;

static iop_code an_parse_type9(const uint8_t *d, size_t off, size_t rlen, double ppmm, an_min9 *r,
                               iop_err *err) {
    size_t o = off, end = off + rlen;
    const an_field *std = NULL, *efs = NULL;
    an_field fs_std = {0}, fs_efs = {0};
    unsigned long declared = 0;
    bool have_declared = false;
    memset(r, 0, sizeof *r);
    r->off = off;
    while (o < end) {
        an_field f;
        iop_code rc = an_next_field(d, end, &o, &f, err);
        if (rc) return rc;
        /* NIST's own samples carry a stray "13.005" field inside Type-9: a field of
           another record type is skipped, not interpreted */
        if (f.type != 9) continue;
        unsigned long u;
        switch (f.num) {
        case 2:
            if (an_uint(f.v, f.vlen, &u)) r->idc = (unsigned)u;
            break;
        case 6: { /* FGP: first finger position */
            size_t k = 0;
            while (k < f.vlen && f.v[k] != AN_RS && f.v[k] != AN_US) k++;
            if (an_uint(f.v, k, &u) && u <= 10) r->fgp = (unsigned)u;
            break;
        }
        case 10:
            if (!an_uint(f.v, f.vlen, &declared))
                return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: 9.010 (number of minutiae) is not a number",
                                f.off);
            have_declared = true;
            break;
        case 12: fs_std = f; std = &fs_std; break;
        case 300: { /* ROI: width^height in 0.01 mm */
            unsigned long w = 0, h = 0;
            size_t k = 0;
            while (k < f.vlen && f.v[k] != AN_US) k++;
            if (an_uint(f.v, k, &w) && k < f.vlen) {
                size_t k2 = k + 1;
                while (k2 < f.vlen && f.v[k2] != AN_US) k2++;
                if (an_uint(f.v + k + 1, k2 - k - 1, &h)) {
                    r->roi_w = (unsigned)lround(w * 0.01 * ppmm);
                    r->roi_h = (unsigned)lround(h * 0.01 * ppmm);
                }
            }
            break;
        }
        case 302: { /* FPP: friction ridge position first */
            size_t k = 0;
            while (k < f.vlen && f.v[k] != AN_US && f.v[k] != AN_RS) k++;
            if (an_uint(f.v, k, &u) && u <= 10 && !r->fgp) r->fgp = (unsigned)u;
            break;
        }
        case 331: fs_efs = f; efs = &fs_efs; break;
        default: break;
        }
    }
    const an_field *src = std ? std : efs;
    if (!src) { r->f.n = 0; return IOP_OK; }  /* a Type-9 record without minutiae */
    r->bottom_left = src == std;
    /* walk the subfields */
    size_t i = 0, count = 0;
    const uint8_t *v = src->v;
    size_t n = src->vlen;
    while (i < n) {
        size_t s = i;
        while (i < n && v[i] != AN_RS) i++;
        /* items of subfield [s, i) */
        const uint8_t *it[6];
        size_t il[6], ni = 0, k = s;
        while (k <= i && ni < 6) {
            size_t b = k;
            while (k < i && v[k] != AN_US) k++;
            it[ni] = v + b; il[ni] = k - b; ni++;
            k++;
        }
        size_t at = src->off + s;
        if (count >= IOP_FP_MAX_MINUTIAE)
            return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: more than %d minutiae in a Type-9 record",
                            at, IOP_FP_MAX_MINUTIAE);
        iop_fp_minutia *m = &r->f.m[count];
        double x, y, deg;
        char type;
        if (src == std) {
            /* ANSI/NIST-ITL 1-2007 (and the legacy fields of 1-2011), 9.012 MRC: the
               position and direction item is exactly 11 digits, XXXXYYYYTTT (X and Y in
               0.01 mm, theta in degrees); no other length is defined */
            if (ni >= 4 && il[3] == 1 && il[1] != 11 && an_digits(it[1], il[1]))
                return iop_fail(err, IOP_EFORMAT,
                                "ansi-nist-itl: byte %zu: 9.012 minutia %zu: the position item has %zu digits; "
                                "the standard fixes it at 11 (XXXXYYYYTTT: X, Y in 0.01 mm, theta in degrees)",
                                at + (size_t)(it[1] - (v + s)), count + 1, il[1]);
            if (ni < 4 || il[1] != 11 || !an_digits(it[1], 11) || il[3] != 1)
                return iop_fail(err, IOP_EFORMAT,
                                "ansi-nist-itl: byte %zu: 9.012 minutia %zu is not \"index^XXXXYYYYTTT^quality^type\"",
                                at, count + 1);
            unsigned long xx = 0, yy = 0, tt = 0, q = 0;
            an_uint(it[1], 4, &xx); an_uint(it[1] + 4, 4, &yy); an_uint(it[1] + 8, 3, &tt);
            if (tt > 359)
                return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: 9.012 minutia %zu angle %lu > 359",
                                at, count + 1, tt);
            if (il[2] && (!an_uint(it[2], il[2], &q) || q > 63))
                return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: 9.012 minutia %zu quality is not 0..63",
                                at, count + 1);
            x = xx * 0.01 * ppmm; y = yy * 0.01 * ppmm; deg = (double)tt;
            type = (char)it[3][0];
            /* 0 = manual, 1 = unknown, 2..63 = best..worst: map to 0..100 */
            m->quality = (uint8_t)(q >= 2 ? lround(100.0 - (q - 2) * 100.0 / 61.0) : 0);
        } else {
            unsigned long xx, yy, tt;
            if (ni < 4 || !an_uint(it[0], il[0], &xx) || !an_uint(it[1], il[1], &yy) ||
                !an_uint(it[2], il[2], &tt) || il[3] != 1)
                return iop_fail(err, IOP_EFORMAT,
                                "ansi-nist-itl: byte %zu: 9.331 minutia %zu is not \"X^Y^theta^type\"", at, count + 1);
            if (tt > 360) /* 360 occurs in practice for 0 */
                return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: 9.331 minutia %zu angle %lu > 359",
                                at, count + 1, tt);
            if (tt == 360) tt = 0;
            x = xx * 0.01 * ppmm; y = yy * 0.01 * ppmm; deg = (double)tt;
            type = (char)it[3][0];
            m->quality = 0;
        }
        switch (type) {
        case 'A': case 'E': m->type = IOP_FP_ENDING; break;
        case 'B': m->type = IOP_FP_BIFURCATION; break;
        case 'C': case 'D': case 'X': m->type = IOP_FP_OTHER; break;
        default:
            return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: minutia %zu has unknown type '%c'",
                            at, count + 1, type >= 32 && type < 127 ? type : '?');
        }
        if (x > 16383 || y > 16383)
            return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: minutia %zu lies outside any image", at,
                            count + 1);
        m->x = (float)x; m->y = (float)y;
        m->angle = (float)(deg * TWO_PI / 360.0);
        if (x > r->maxx) r->maxx = x;
        if (y > r->maxy) r->maxy = y;
        count++;
        i++;
    }
    if (src == std && have_declared && declared != count)
        return iop_fail(err, IOP_EFORMAT,
                        "ansi-nist-itl: byte %zu: 9.010 announces %lu minutiae but 9.012 holds %zu", src->off,
                        declared, count);
    r->f.n = (uint16_t)count;
    return IOP_OK;
}

static iop_code parse_an2k(const uint8_t *d, size_t len, iop_fp_template *out, iop_err *err) {
    size_t l1;
    if (!an2k_start(d, len))
        return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte 0: the file does not start with field 1.001");
    iop_code rc = an_tagged_len(d, len, 0, 1, &l1, err);
    if (rc) return rc;
    /* Type-1 fields: 1.003 content, 1.011 native scanning resolution */
    unsigned types[1000];
    size_t ntypes = 0;
    bool have_cnt = false;
    double ppmm = 19.69;
    size_t o = 0;
    while (o < l1) {
        an_field f;
        if ((rc = an_next_field(d, l1, &o, &f, err))) return rc;
        if (f.type != 1)
            return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: field %u.%03u inside the Type-1 record",
                            f.off, f.type, f.num);
        if (f.num == 3) {
            have_cnt = true;
            size_t i = 0;
            bool first = true;
            while (i < f.vlen) {
                size_t s = i;
                while (i < f.vlen && f.v[i] != AN_US && f.v[i] != AN_RS) i++;
                unsigned long t;
                if (!an_uint(f.v + s, i - s, &t) || t > 99)
                    return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: 1.003 record type is not a number",
                                    f.off + s);
                while (i < f.vlen && f.v[i] != AN_RS) i++;  /* skip the IDC / count */
                i++;
                if (first) { first = false; continue; }  /* "1^count" */
                if (ntypes >= sizeof types / sizeof types[0])
                    return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: 1.003 lists too many records");
                types[ntypes++] = (unsigned)t;
            }
        } else if (f.num == 11) {
            char buf[16];
            size_t n = f.vlen < sizeof buf - 1 ? f.vlen : sizeof buf - 1;
            memcpy(buf, f.v, n); buf[n] = 0;
            double v = strtod(buf, NULL);
            if (v > 1.0 && v < 200.0) ppmm = v;
        }
    }
    if (!have_cnt) return iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: the Type-1 record has no 1.003 (file content)");
    an_min9 *m9 = calloc(ntypes ? ntypes : 1, sizeof *m9);
    an_img *imgs = calloc(ntypes ? ntypes : 1, sizeof *imgs);
    if (!m9 || !imgs) { free(m9); free(imgs); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    size_t n9 = 0, nimg = 0;
    o = l1;
    for (size_t r = 0; r < ntypes && rc == IOP_OK; r++) {
        unsigned t = types[r];
        size_t rl;
        if (o >= len) {
            rc = iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: file ends before record %zu (Type-%u) announced in 1.003",
                          o, r + 2, t);
            break;
        }
        if (t >= 3 && t <= 8) {
            if (o + 4 > len || be32(d + o) < 9 || o + be32(d + o) > len) {
                rc = iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: binary Type-%u record length %s",
                              o, t, o + 4 > len ? "is truncated" : "runs past the end of the file");
                break;
            }
            rl = be32(d + o);
            if (t == 4 && rl >= 18) {
                imgs[nimg].idc = d[o + 4];
                imgs[nimg].w = be16(d + o + 13);
                imgs[nimg].h = be16(d + o + 15);
                imgs[nimg].ppmm = ppmm;
                nimg++;
            }
        } else {
            if ((rc = an_tagged_len(d, len, o, t, &rl, err))) break;
            if (t == 9) {
                if ((rc = an_parse_type9(d, o, rl, ppmm, &m9[n9], err))) break;
                if (m9[n9].f.n) n9++;
            } else if (t == 13 || t == 14) {
                /* image record: IDC, HLL, VLL, SLC, HPS */
                size_t fo = o;
                unsigned long idc = 0, w = 0, h = 0, slc = 0, hps = 0;
                while (fo < o + rl) {
                    an_field f;
                    if ((rc = an_next_field(d, o + rl, &fo, &f, err))) break;
                    unsigned long u;
                    if (!an_uint(f.v, f.vlen, &u)) continue;
                    if (f.num == 2) idc = u;
                    else if (f.num == 6) w = u;
                    else if (f.num == 7) h = u;
                    else if (f.num == 8) slc = u;
                    else if (f.num == 9) hps = u;
                }
                if (rc) break;
                imgs[nimg].idc = (unsigned)idc;
                imgs[nimg].w = (unsigned)w;
                imgs[nimg].h = (unsigned)h;
                imgs[nimg].ppmm = slc == 1 ? hps / 25.4 : slc == 2 ? hps / 10.0 : ppmm;
                nimg++;
            }
        }
        o += rl;
    }
    if (rc == IOP_OK && o != len)
        rc = iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: byte %zu: %zu bytes after the last record listed in 1.003",
                      o, len - o);
    if (rc == IOP_OK && n9 == 0)
        rc = iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: the file holds no Type-9 record with minutiae");
    if (rc == IOP_OK && n9 > IOP_FP_MAX_FINGERS)
        rc = iop_fail(err, IOP_EFORMAT, "ansi-nist-itl: %zu Type-9 records, at most %d supported", n9,
                      IOP_FP_MAX_FINGERS);
    iop_fp_finger *fingers = NULL;
    if (rc == IOP_OK && !(fingers = calloc(n9, sizeof *fingers)))
        rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    if (rc != IOP_OK) { free(m9); free(imgs); return rc; }
    for (size_t k = 0; k < n9; k++) {
        an_min9 *r = &m9[k];
        iop_fp_finger *f = &fingers[k];
        *f = r->f;
        f->position = (uint8_t)r->fgp;
        f->view = (uint8_t)k;
        /* resolution: the coordinates were converted with the native scanning resolution */
        double res = ppmm;
        unsigned w = r->roi_w, h = r->roi_h;
        for (size_t j = 0; j < nimg && !w; j++)
            if (imgs[j].idc == r->idc && imgs[j].w && imgs[j].h && fabs(imgs[j].ppmm - ppmm) < 0.5) {
                w = imgs[j].w; h = imgs[j].h;
            }
        if (!w || r->maxx >= w) w = (unsigned)ceil(r->maxx) + 1;
        if (!h || r->maxy >= h) h = (unsigned)ceil(r->maxy) + 1;
        f->width = (uint16_t)(w > 65535 ? 65535 : w);
        f->height = (uint16_t)(h > 65535 ? 65535 : h);
        f->xres = f->yres = (uint16_t)lround(res * 10.0);
        if (r->bottom_left)
            for (size_t i = 0; i < f->n; i++) {
                double y = (double)(f->height - 1) - f->m[i].y;
                f->m[i].y = (float)(y < 0 ? 0 : y);
            }
    }
    free(m9);
    free(imgs);
    out->format = IOP_FP_ANSI_NIST;
    out->n_fingers = n9;
    out->fingers = fingers;
    return IOP_OK;
}

iop_code iop_fp_parse(const uint8_t *data, size_t len, iop_fp_format fmt, iop_fp_template *out,
                      iop_err *err) {
    if (!data || !len) return iop_fail(err, IOP_EFORMAT, "fingerprint template: empty data");
    iop_fp_format det = iop_fp_detect(data, len);
    if (fmt == IOP_FP_AUTO) {
        if (det == IOP_FP_AUTO)
            return iop_fail(err, IOP_EFORMAT,
                            "fingerprint template: byte 0: not an ISO/IEC 19794-2, ANSI INCITS 378 or "
                            "ANSI/NIST-ITL record");
        fmt = det;
    }
    memset(out, 0, sizeof *out);
    switch (fmt) {
    case IOP_FP_ISO2005:
    case IOP_FP_ANSI2004:
    case IOP_FP_ANSI2009: return parse_fmr(data, len, fmt, out, err);
    case IOP_FP_ANSI_NIST: return parse_an2k(data, len, out, err);
    case IOP_FP_AUTO: break;
    }
    return iop_fail(err, IOP_EINVAL, "fingerprint template: unknown format");
}

/* ---------------------------------------------------------------- ISO writer */

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static iop_code write_iso(const iop_fp_finger *fs, size_t nf, uint8_t **out, size_t *olen, iop_err *err) {
    if (nf == 0 || nf > 255) return iop_fail(err, IOP_EINVAL, "iso19794-2-2005: %zu finger views (1..255)", nf);
    size_t len = 24;
    for (size_t i = 0; i < nf; i++) len += 4 + (size_t)fs[i].n * 6 + 2;
    uint8_t *d = calloc(1, len);
    if (!d) return iop_fail(err, IOP_ENOMEM, "out of memory");
    memcpy(d, "FMR\0 20\0", 8);
    put32(d + 8, (uint32_t)len);
    /* the record header carries one image size: the largest of the views */
    unsigned w = 0, h = 0, xr = fs[0].xres ? fs[0].xres : 197, yr = fs[0].yres ? fs[0].yres : 197;
    for (size_t i = 0; i < nf; i++) {
        if (fs[i].width > w) w = fs[i].width;
        if (fs[i].height > h) h = fs[i].height;
    }
    put16(d + 14, w); put16(d + 16, h); put16(d + 18, xr); put16(d + 20, yr);
    d[22] = (uint8_t)nf;
    size_t off = 24;
    for (size_t i = 0; i < nf; i++) {
        const iop_fp_finger *f = &fs[i];
        if (f->position > 10 || f->quality > 100 || f->n > IOP_FP_MAX_MINUTIAE) {
            free(d);
            return iop_fail(err, IOP_EINVAL, "iso19794-2-2005: finger %zu has an invalid position, quality or count", i + 1);
        }
        d[off] = f->position;
        d[off + 1] = (uint8_t)((f->view & 15) << 4 | (f->impression & 15));
        d[off + 2] = f->quality;
        d[off + 3] = (uint8_t)f->n;
        off += 4;
        for (size_t k = 0; k < f->n; k++, off += 6) {
            const iop_fp_minutia *m = &f->m[k];
            long x = lround(m->x), y = lround(m->y);
            if (!(m->x >= 0 && m->y >= 0) || x > 16383 || y > 16383) {
                free(d);
                return iop_fail(err, IOP_EINVAL, "iso19794-2-2005: finger %zu minutia %zu: coordinates out of range",
                                i + 1, k + 1);
            }
            double a = fmod(m->angle, TWO_PI);
            if (a < 0) a += TWO_PI;
            unsigned au = (unsigned)lround(a * 256.0 / TWO_PI) & 255;
            unsigned t = m->type == IOP_FP_ENDING ? 1 : m->type == IOP_FP_BIFURCATION ? 2 : 0;
            put16(d + off, (unsigned)(t << 14 | (unsigned)x));
            put16(d + off + 2, (unsigned)y);
            d[off + 4] = (uint8_t)au;
            d[off + 5] = m->quality > 100 ? 100 : m->quality;
        }
        put16(d + off, 0);
        off += 2;
    }
    *out = d;
    *olen = len;
    return IOP_OK;
}

iop_code iop_fp_write_iso(const iop_fp_template *t, uint8_t **out, size_t *len, iop_err *err) {
    return write_iso(t->fingers, t->n_fingers, out, len, err);
}

iop_code iop_fp_write_iso_finger(const iop_fp_finger *f, uint8_t **out, size_t *len, iop_err *err) {
    return write_iso(f, 1, out, len, err);
}

/* ---------------------------------------------------------------- quality check */

iop_code iop_fp_quality_check(const iop_fp_finger *f, const iop_fp_quality_opts *opts, iop_err *err) {
    int minm = opts && opts->min_minutiae ? opts->min_minutiae : 12;
    int maxm = opts && opts->max_minutiae ? opts->max_minutiae : 200;
    int minres = opts && opts->min_resolution ? opts->min_resolution : 150;
    int maxdup = opts && opts->max_duplicates ? opts->max_duplicates : 2;
    if (f->position > 10)
        return iop_fail(err, IOP_EINVAL, "finger position %u is not 0..10", f->position);
    if (f->n < minm)
        return iop_fail(err, IOP_EINVAL, "%u minutiae, at least %d needed", f->n, minm);
    if (f->n > maxm)
        return iop_fail(err, IOP_EINVAL, "%u minutiae, more than %d (extraction artefact)", f->n, maxm);
    if (f->xres && f->xres < minres)
        return iop_fail(err, IOP_EINVAL, "resolution %u px/cm below %d px/cm", f->xres, minres);
    if (f->xres && f->yres && (f->xres * 10 > f->yres * 11 || f->yres * 10 > f->xres * 11))
        return iop_fail(err, IOP_EINVAL, "resolution %ux%u px/cm is not square", f->xres, f->yres);
    int dups = 0;
    for (unsigned i = 0; i < f->n; i++) {
        const iop_fp_minutia *m = &f->m[i];
        if (!isfinite(m->x) || !isfinite(m->y) || m->x < 0 || m->y < 0 ||
            (f->width && m->x >= f->width) || (f->height && m->y >= f->height))
            return iop_fail(err, IOP_EINVAL, "minutia %u at (%.0f, %.0f) lies outside the %ux%u image", i + 1,
                            (double)m->x, (double)m->y, f->width, f->height);
        if (!isfinite(m->angle) || m->angle < 0 || m->angle >= (float)TWO_PI)
            return iop_fail(err, IOP_EINVAL, "minutia %u has an invalid angle", i + 1);
        if (m->type > IOP_FP_BIFURCATION)
            return iop_fail(err, IOP_EINVAL, "minutia %u has an invalid type %u", i + 1, m->type);
        for (unsigned j = 0; j < i; j++) {
            float dx = m->x - f->m[j].x, dy = m->y - f->m[j].y;
            if (dx * dx + dy * dy < 4.0f) { dups++; break; }
        }
    }
    if (dups > maxdup)
        return iop_fail(err, IOP_EINVAL, "%d minutiae closer than 2 px to another one (at most %d)", dups, maxdup);
    return IOP_OK;
}

iop_code iop_fp_template_check(const iop_fp_template *t, const iop_fp_quality_opts *opts, iop_err *err) {
    if (!t->n_fingers) return iop_fail(err, IOP_EINVAL, "the template holds no finger");
    for (size_t i = 0; i < t->n_fingers; i++) {
        iop_code rc = iop_fp_quality_check(&t->fingers[i], opts, err);
        if (rc) {
            iop_err_prefix(err, "finger %zu (position %u)", i + 1, t->fingers[i].position);
            return rc;
        }
    }
    return IOP_OK;
}
