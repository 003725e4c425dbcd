/*
 * resolve.c -- clustering identities into persons (the multiple-identity detector's
 * first step, Reg. 2019/817 Art 27-28, and `interop resolve`): every identity is
 * indexed, every identity searches its top candidates (two threads), pairs whose
 * score reaches the threshold are linked, and the clusters are the connected
 * components (union-find, the smallest index is a cluster's name).
 */
#include <stdatomic.h>
#include <string.h>
#include "names/names_int.h"

#define RESOLVE_K 12
#define RESOLVE_BUDGET 512 /* candidates before frequent keys are skipped: links need strong keys */

static const names_ident *arr_get(void *user, uint64_t id) { return ((names_ident *const *)user)[id]; }

typedef struct link {
    uint32_t a, b;
} link;

#define RESOLVE_CHUNK 256 /* identities a thread claims at a time: both threads finish together */

typedef struct worker {
    const names_engine *eng;
    const names_index *ix;
    names_ident *const *idents;
    atomic_size_t *next;
    size_t n;
    double threshold;
    link *links;
    size_t nl, cap;
    bool oom;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    names_hit hits[RESOLVE_K];
    for (;;) {
    size_t from = atomic_fetch_add(w->next, RESOLVE_CHUNK);
    if (from >= w->n) break;
    size_t to = from + RESOLVE_CHUNK < w->n ? from + RESOLVE_CHUNK : w->n;
    for (size_t i = from; i < to; i++) {
        size_t nh = nm_index_search(w->ix, w->idents[i], RESOLVE_K, w->threshold, hits, RESOLVE_BUDGET, NULL);
        for (size_t h = 0; h < nh; h++) {
            if (hits[h].id <= i) continue; /* each pair once, from its smaller end */
            if (w->nl == w->cap) {
                size_t nc = w->cap ? w->cap * 2 : 1024;
                link *l = realloc(w->links, nc * sizeof *l);
                if (!l) { w->oom = true; return NULL; }
                w->links = l;
                w->cap = nc;
            }
            w->links[w->nl].a = (uint32_t)i;
            w->links[w->nl].b = (uint32_t)hits[h].id;
            w->nl++;
        }
    }
    }
    return NULL;
}

static size_t find(size_t *p, size_t x) {
    while (p[x] != x) { p[x] = p[p[x]]; x = p[x]; }
    return x;
}

iop_code names_resolve(const names_engine *eng, names_ident *const *idents, size_t n, double threshold,
                       size_t *cluster_of, iop_err *err) {
    if (threshold <= 0) threshold = NAMES_SIMILAR_SCORE;
    if (n >= UINT32_MAX) return iop_fail(err, IOP_ELIMIT, "too many identities (%zu)", n);
    names_store st = {arr_get, NULL, (void *)idents};
    names_index *ix;
    iop_code rc = names_index_new(eng, &st, &ix, err);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++) rc = names_index_add(ix, i, idents[i], err);
    if (!rc) rc = names_index_optimize(ix, err);
    if (rc) { names_index_free(ix); return rc; }
    worker w[2];
    memset(w, 0, sizeof w);
    int nt = n > 2000 ? 2 : 1;
    pthread_t th[2];
    atomic_size_t next;
    atomic_init(&next, 0);
    for (int t = 0; t < nt; t++) {
        w[t].eng = eng;
        w[t].ix = ix;
        w[t].idents = idents;
        w[t].next = &next;
        w[t].n = n;
        w[t].threshold = threshold;
    }
    bool started1 = nt == 2 && pthread_create(&th[1], NULL, work, &w[1]) == 0;
    work(&w[0]);
    if (nt == 2) {
        if (started1) pthread_join(th[1], NULL);
        else work(&w[1]);
    }
    names_index_free(ix);
    if (w[0].oom || w[1].oom) {
        free(w[0].links);
        free(w[1].links);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) cluster_of[i] = i;
    for (int t = 0; t < nt; t++) {
        for (size_t l = 0; l < w[t].nl; l++) {
            size_t ra = find(cluster_of, w[t].links[l].a), rb = find(cluster_of, w[t].links[l].b);
            if (ra == rb) continue;
            if (ra < rb) cluster_of[rb] = ra; else cluster_of[ra] = rb;
        }
        free(w[t].links);
    }
    for (size_t i = 0; i < n; i++) cluster_of[i] = find(cluster_of, i);
    return IOP_OK;
}
