/*
 * nicknames.c -- the table of given names and their hypocorisms (Robert: Bob, Rob,
 * Bobby ...).  Each line "name1,has_nickname,name2" makes name1 a root of name2; a
 * formal name is its own root.  Two given names are related when their root sets meet
 * (Bob ~ Robert, Bob ~ Rob, but not Ron ~ Bob unless a root is shared).
 */
#include <stdio.h>
#include <string.h>
#include "names/names_int.h"

typedef struct pending {
    int32_t *roots;
    size_t n, cap;
} pending;

static size_t slot_of(const nm_nick *t, const char *s, size_t len) {
    size_t mask = t->cap - 1, i = (size_t)nm_hash(s, len, 11) & mask;
    while (t->names[i] && (strlen(t->names[i]) != len || memcmp(t->names[i], s, len))) i = (i + 1) & mask;
    return i;
}

static int grow(nm_nick *t, pending **pend) {
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    char **nn = calloc(ncap, sizeof *nn);
    int32_t *nl = calloc(ncap, sizeof *nl);
    pending *np = calloc(ncap, sizeof *np);
    if (!nn || !nl || !np) { free(nn); free(nl); free(np); return -1; }
    nm_nick old = *t;
    pending *op = *pend;
    t->names = nn; t->list_of = nl; t->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.names[i]) continue;
        size_t j = slot_of(t, old.names[i], strlen(old.names[i]));
        t->names[j] = old.names[i];
        t->list_of[j] = old.list_of[i];
        np[j] = op[i];
    }
    free(old.names); free(old.list_of); free(op);
    *pend = np;
    return 0;
}

/* Returns the slot of name (inserted when new), or -1 on ENOMEM. */
static long intern(nm_nick *t, pending **pend, const char *s, size_t len) {
    if ((t->count + 1) * 2 > t->cap && grow(t, pend)) return -1;
    size_t i = slot_of(t, s, len);
    if (!t->names[i]) {
        t->names[i] = iop_strndup(s, len);
        if (!t->names[i]) return -1;
        t->list_of[i] = (int32_t)t->count; /* provisional: its root id */
        t->count++;
    }
    return (long)i;
}

static int add_root(pending *p, int32_t root) {
    for (size_t i = 0; i < p->n; i++) if (p->roots[i] == root) return 0;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 4;
        int32_t *r = realloc(p->roots, nc * sizeof *r);
        if (!r) return -1;
        p->roots = r; p->cap = nc;
    }
    p->roots[p->n++] = root;
    return 0;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Lower-cases and trims a CSV field in place into buf (ASCII letters only kept). */
static size_t clean(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') buf[k++] = c;
    }
    buf[k] = 0;
    return k;
}

iop_code nm_nick_load(nm_nick *t, const char *path, iop_err *err) {
    memset(t, 0, sizeof *t);
    if (!path) return IOP_OK;
    char *data = NULL;
    size_t len = 0;
    iop_code rc = iop_read_file(path, &data, &len, err);
    if (rc) return rc;
    pending *pend = NULL;
    size_t lineno = 0;
    char *p = data, *end = data + len;
    rc = IOP_OK;
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        char *line = p;
        p = nl ? nl + 1 : end;
        while (le > line && (le[-1] == '\r' || le[-1] == ' ')) le--;
        if (le == line) continue;
        char *c1 = memchr(line, ',', (size_t)(le - line));
        char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(le - c1 - 1)) : NULL;
        if (!c1 || !c2) {
            rc = iop_fail(err, IOP_EINVAL, "%s:%zu: expected name1,relationship,name2", path, lineno);
            break;
        }
        if (lineno == 1 && !strncmp(line, "name1,", 6)) continue;
        char a[64], b[64];
        size_t la = clean(line, (size_t)(c1 - line), a, sizeof a);
        size_t lb = clean(c2 + 1, (size_t)(le - c2 - 1), b, sizeof b);
        if (!la || !lb) {
            rc = iop_fail(err, IOP_EINVAL, "%s:%zu: empty name", path, lineno);
            break;
        }
        long sa = intern(t, &pend, a, la);
        if (sa < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        int32_t root = t->list_of[sa];
        if (add_root(&pend[sa], root)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        long sb = intern(t, &pend, b, lb);
        if (sb < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        if (add_root(&pend[sb], root)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
    }
    free(data);
    if (!rc) {
        size_t total = 0;
        for (size_t i = 0; i < t->cap; i++) if (t->names[i]) total += pend[i].n + 2;
        t->lists = malloc((total + 1) * sizeof *t->lists);
        if (!t->lists) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        size_t o = 0;
        for (size_t i = 0; !rc && i < t->cap; i++) {
            if (!t->names[i]) continue;
            int32_t self = t->list_of[i];
            add_root(&pend[i], self);
            qsort(pend[i].roots, pend[i].n, sizeof(int32_t), cmp_i32);
            t->list_of[i] = (int32_t)o;
            for (size_t j = 0; j < pend[i].n; j++) t->lists[o++] = pend[i].roots[j];
            t->lists[o++] = -1;
        }
        t->n_lists_ints = o;
    }
    for (size_t i = 0; pend && i < t->cap; i++) free(pend[i].roots);
    free(pend);
    if (rc) nm_nick_free(t);
    return rc;
}

void nm_nick_free(nm_nick *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->names[i]);
    free(t->names);
    free(t->list_of);
    free(t->lists);
    memset(t, 0, sizeof *t);
}

int32_t nm_nick_lookup(const nm_nick *t, const char *name, size_t len) {
    if (!t->cap || !t->lists) return -1;
    size_t i = slot_of(t, name, len);
    return t->names[i] ? t->list_of[i] : -1;
}

bool nm_nick_related(const nm_nick *t, int32_t a, int32_t b) {
    if (a < 0 || b < 0) return false;
    if (a == b) return true;
    const int32_t *x = t->lists + a, *y = t->lists + b;
    while (*x >= 0 && *y >= 0) {
        if (*x == *y) return true;
        if (*x < *y) x++; else y++;
    }
    return false;
}
