/* err.c -- errors as values: iop_fail() and the code names. */
#include <stdio.h>
#include <string.h>
#include "interop/base.h"

iop_code iop_fail(iop_err *err, iop_code code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void iop_err_prefix(iop_err *err, const char *fmt, ...) {
    if (!err) return;
    char pre[256], old[IOP_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t np = strlen(pre), no = strlen(old);
    if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
    if (np + 2 + no > sizeof err->msg - 1) no = sizeof err->msg - 1 - np - 2;
    memcpy(err->msg, pre, np);
    memcpy(err->msg + np, ": ", 2);
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = 0;
}

void iop_err_clear(iop_err *err) {
    if (err) { err->code = IOP_OK; err->msg[0] = 0; }
}

const char *iop_code_name(iop_code code) {
    switch (code) {
    case IOP_OK: return "ok";
    case IOP_EINVAL: return "invalid input";
    case IOP_ENOMEM: return "out of memory";
    case IOP_EIO: return "input/output error";
    case IOP_ENOTFOUND: return "not found";
    case IOP_EEXIST: return "already exists";
    case IOP_EDENIED: return "access denied";
    case IOP_ECORRUPT: return "integrity check failed";
    case IOP_ELIMIT: return "limit exceeded";
    case IOP_EFORMAT: return "invalid format";
    case IOP_EINTERNAL: return "internal error";
    }
    return "unknown error";
}
