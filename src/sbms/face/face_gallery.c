/*
 * face_gallery.c -- the stored face templates of the sBMS and their 1:N search
 * (Reg. (EU) 2019/817 and 2019/818, Art 12-13: the sBMS stores the biometric
 * templates of the connected systems, logically separated by source system, each
 * with a reference to the record it belongs to, and compares them).
 *
 * Layout.  Each source system has its own partition (Art 13(1) separation); a
 * partition is `nlist` lists (1 without an index, one per k-means centroid with
 * one).  A list is three parallel arrays: the int8 codes (stride bytes each, 64-byte
 * aligned, one template after the other so a scan reads memory sequentially), a float
 * scale per template, and the record key.  A hash map (open addressing, linear
 * probing, backward-shift deletion: no tombstones) finds a reference's list and
 * position.  Per 512-d template: 512 + 4 + 8 bytes plus 16 bytes of map.
 *
 * Removal moves the list's last template into the hole and wipes the vacated bytes;
 * buffers are wiped before they are freed or regrown, so a removed template is not
 * left anywhere in the gallery's memory.
 *
 * Search.  The probe is quantised like a template; the selected lists (systems in
 * the caller's mask, and, with an index, the nprobe lists nearest the probe) are cut
 * into chunks of about 2 MiB that the gallery's threads claim in turn (so a thread
 * that loses its core does not hold up the search); each thread scores blocks of 256
 * templates with the dot kernel and keeps its own top-k heap; the heaps are merged
 * (ties broken by reference, so the result does not depend on the split).
 * Searches hold the read lock, writers the write lock.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "interop/sbms_face.h"
#include "sbms/face/face_internal.h"

#define FACE_BLOCK 256
#define FACE_K_MAX 10000
#define FACE_PAR_BYTES ((size_t)1 << 21) /* below this a scan stays on one thread */
#define FACE_MAX_THREADS 64

typedef struct face_list {
    int8_t *codes;
    float *scales;
    uint64_t *keys;
    uint32_t n, cap;
} face_list;

struct sbms_face_gallery {
    uint32_t dim, stride, threads;
    face_dot_fn dot;
    const char *kname;
    pthread_rwlock_t lock;
    uint32_t nlist;            /* lists per system: 1, or the index's centroids */
    int8_t *cent_codes;        /* nlist * stride, with an index */
    float *cent_scales;
    face_list *parts[SBMS_FACE_SYSTEMS];
    size_t count;
    uint64_t *map;             /* slot = (gid + 1) << 32 | pos; 0 = empty */
    size_t map_cap;            /* power of two */
};

/* ---------------------------------------------------------------- helpers */

static void face_wipe(void *p, size_t n) {
    if (p && n) explicit_bzero(p, n);
}

/* 64-byte aligned; buffers of 4 MiB and more are 2 MiB aligned and marked for
 * transparent huge pages, which saves the scan a TLB miss every 4 KiB. */
static void *face_aligned(size_t n) {
    void *p = NULL;
    if (n == 0) n = 64;
    n = (n + 63) & ~(size_t)63;
    size_t align = n >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    if (posix_memalign(&p, align, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(p, n & ~(align - 1), MADV_HUGEPAGE);
#endif
    return p;
}

static uint64_t face_mix(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t face_hash(uint8_t sys, uint64_t key) { return face_mix(key ^ ((uint64_t)sys * 0x9e3779b97f4a7c15ULL)); }

static void face_list_release(face_list *l, uint32_t stride) {
    face_wipe(l->codes, (size_t)l->cap * stride);
    face_wipe(l->scales, (size_t)l->cap * sizeof(float));
    face_wipe(l->keys, (size_t)l->cap * sizeof(uint64_t));
    free(l->codes); free(l->scales); free(l->keys);
    memset(l, 0, sizeof *l);
}

/* Resizes a list's arrays to cap (>= n), wiping the old buffers. */
static int face_list_resize(face_list *l, uint32_t stride, uint32_t cap) {
    int8_t *c = face_aligned((size_t)cap * stride);
    float *s = malloc(sizeof(float) * (cap ? cap : 1));
    uint64_t *k = malloc(sizeof(uint64_t) * (cap ? cap : 1));
    if (!c || !s || !k) { free(c); free(s); free(k); return -1; }
    if (l->n) {
        memcpy(c, l->codes, (size_t)l->n * stride);
        memcpy(s, l->scales, sizeof(float) * l->n);
        memcpy(k, l->keys, sizeof(uint64_t) * l->n);
    }
    uint32_t n = l->n;
    face_list_release(l, stride);
    l->codes = c; l->scales = s; l->keys = k; l->n = n; l->cap = cap;
    return 0;
}

/* q and qa hold stride bytes: the codes and their absolute values. */
static void face_probe_from_code(face_probe *p, int8_t *q, uint8_t *qa, const int8_t *code, uint32_t stride,
                                 float scale) {
    for (uint32_t j = 0; j < stride; j++) {
        q[j] = code[j];
        qa[j] = (uint8_t)(code[j] < 0 ? -code[j] : code[j]);
    }
    p->q = q; p->qa = qa; p->scale = scale;
}

/* Runs fn(ctx, begin, end) over [0, n) split into `threads` shares. */
typedef void (*face_range_fn)(void *ctx, size_t begin, size_t end, uint32_t worker);
typedef struct face_job { face_range_fn fn; void *ctx; size_t b, e; uint32_t w; } face_job;
static void *face_job_run(void *a) {
    face_job *j = a;
    j->fn(j->ctx, j->b, j->e, j->w);
    return NULL;
}
static void face_parallel(uint32_t threads, size_t n, face_range_fn fn, void *ctx) {
    if (threads < 1) threads = 1;
    if (threads > FACE_MAX_THREADS) threads = FACE_MAX_THREADS;
    if ((size_t)threads > n) threads = n ? (uint32_t)n : 1;
    face_job jobs[FACE_MAX_THREADS];
    pthread_t tid[FACE_MAX_THREADS];
    bool started[FACE_MAX_THREADS] = {0};
    for (uint32_t t = 0; t < threads; t++) {
        jobs[t] = (face_job){fn, ctx, n * t / threads, n * (t + 1) / threads, t};
    }
    for (uint32_t t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, face_job_run, &jobs[t]) == 0;
    face_job_run(&jobs[0]);
    for (uint32_t t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else face_job_run(&jobs[t]); /* could not start a thread: do its share here */
    }
}

/* Runs fn(ctx, begin, end) over [0, n) in chunks of `chunk` that `threads` workers
 * claim one after the other (an atomic counter).  Used by the scan: when another
 * process takes a core for a while, the other worker keeps claiming chunks instead of
 * the whole search waiting for the slower half. */
typedef struct face_dyn {
    face_range_fn fn;
    void *ctx;
    size_t n, chunk;
    atomic_size_t next;
} face_dyn;
typedef struct face_dyn_job { face_dyn *d; uint32_t w; } face_dyn_job;
static void *face_dyn_run(void *a) {
    face_dyn_job *j = a;
    face_dyn *d = j->d;
    for (;;) {
        size_t b = atomic_fetch_add_explicit(&d->next, d->chunk, memory_order_relaxed);
        if (b >= d->n) break;
        size_t e = d->n - b < d->chunk ? d->n : b + d->chunk;
        d->fn(d->ctx, b, e, j->w);
    }
    return NULL;
}
static void face_parallel_dyn(uint32_t threads, size_t n, size_t chunk, face_range_fn fn, void *ctx) {
    if (threads < 1) threads = 1;
    if (threads > FACE_MAX_THREADS) threads = FACE_MAX_THREADS;
    if (chunk < 1) chunk = 1;
    face_dyn d = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk};
    atomic_init(&d.next, 0);
    face_dyn_job jobs[FACE_MAX_THREADS];
    pthread_t tid[FACE_MAX_THREADS];
    bool started[FACE_MAX_THREADS] = {0};
    for (uint32_t t = 0; t < threads; t++) jobs[t] = (face_dyn_job){&d, t};
    for (uint32_t t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, face_dyn_run, &jobs[t]) == 0;
    face_dyn_run(&jobs[0]); /* a worker that could not start simply claims nothing */
    for (uint32_t t = 1; t < threads; t++)
        if (started[t]) pthread_join(tid[t], NULL);
}

/* ---------------------------------------------------------------- map */

static inline face_list *face_gid_list(sbms_face_gallery *g, uint32_t gid) {
    return &g->parts[gid / g->nlist][gid % g->nlist];
}

static size_t face_map_find(sbms_face_gallery *g, uint8_t sys, uint64_t key) {
    if (!g->map_cap) return SIZE_MAX;
    size_t mask = g->map_cap - 1, i = face_hash(sys, key) & mask;
    for (;;) {
        uint64_t s = g->map[i];
        if (!s) return SIZE_MAX;
        uint32_t gid = (uint32_t)(s >> 32) - 1, pos = (uint32_t)s;
        if (gid / g->nlist == sys && face_gid_list(g, gid)->keys[pos] == key) return i;
        i = (i + 1) & mask;
    }
}

static void face_map_put(sbms_face_gallery *g, uint8_t sys, uint64_t key, uint32_t gid, uint32_t pos) {
    size_t mask = g->map_cap - 1, i = face_hash(sys, key) & mask;
    while (g->map[i]) i = (i + 1) & mask;
    g->map[i] = ((uint64_t)gid + 1) << 32 | pos;
}

static void face_map_delete(sbms_face_gallery *g, size_t i) {
    size_t mask = g->map_cap - 1, j = i;
    g->map[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        uint64_t s = g->map[j];
        if (!s) return;
        uint32_t gid = (uint32_t)(s >> 32) - 1, pos = (uint32_t)s;
        size_t home = face_hash((uint8_t)(gid / g->nlist), face_gid_list(g, gid)->keys[pos]) & mask;
        /* move s back to i if its home is not cyclically in (i, j] */
        bool stay = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stay) {
            g->map[i] = s;
            g->map[j] = 0;
            i = j;
        }
    }
}

/* Rebuilds the map with room for `want` entries at load <= 1/2. */
static int face_map_rebuild(sbms_face_gallery *g, size_t want) {
    size_t cap = 16;
    while (cap < want * 2) cap <<= 1;
    uint64_t *m = calloc(cap, sizeof(uint64_t));
    if (!m) return -1;
    free(g->map);
    g->map = m;
    g->map_cap = cap;
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) {
        if (!g->parts[s]) continue;
        for (uint32_t c = 0; c < g->nlist; c++) {
            face_list *l = &g->parts[s][c];
            for (uint32_t p = 0; p < l->n; p++) face_map_put(g, (uint8_t)s, l->keys[p], s * g->nlist + c, p);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

iop_code sbms_face_gallery_new(const sbms_face_opts *opts, sbms_face_gallery **out, iop_err *err) {
    *out = NULL;
    if (!opts) return iop_fail(err, IOP_EINVAL, "face gallery: no options");
    if (opts->dim < SBMS_FACE_DIM_MIN || opts->dim > SBMS_FACE_DIM_MAX)
        return iop_fail(err, IOP_EINVAL, "face gallery: dimension %u outside %d..%d", opts->dim,
                        SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX);
    bool avx2 = face_cpu_has_avx2();
    if (opts->kernel == SBMS_FACE_KERNEL_AVX2 && !avx2)
        return iop_fail(err, IOP_EINVAL, "face gallery: the AVX2 kernel was asked for but this CPU has no AVX2");
    if (opts->kernel > SBMS_FACE_KERNEL_AVX512VNNI)
        return iop_fail(err, IOP_EINVAL, "face gallery: unknown kernel %d", (int)opts->kernel);
    sbms_face_gallery *g = calloc(1, sizeof *g);
    if (!g) return iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
    g->dim = opts->dim;
    g->stride = face_stride(opts->dim);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    g->threads = opts->threads ? opts->threads : (cpus > 0 ? (uint32_t)cpus : 1);
    if (g->threads > FACE_MAX_THREADS) g->threads = FACE_MAX_THREADS;
    bool vnni = face_cpu_has_avx512vnni();
    if (opts->kernel == SBMS_FACE_KERNEL_AVX512VNNI && !vnni) {
        free(g);
        return iop_fail(err, IOP_EINVAL, "face gallery: the AVX-512 VNNI kernel was asked for but this CPU has none");
    }
    if (opts->kernel == SBMS_FACE_KERNEL_SCALAR || !avx2) {
        g->dot = face_dot_scalar; g->kname = "scalar";
    } else if (opts->kernel == SBMS_FACE_KERNEL_AVX512VNNI || (opts->kernel == SBMS_FACE_KERNEL_AUTO && vnni)) {
        g->dot = face_dot_vnni; g->kname = "avx512vnni";
    } else {
        g->dot = face_dot_avx2; g->kname = "avx2";
    }
    g->nlist = 1;
    if (pthread_rwlock_init(&g->lock, NULL) != 0) {
        free(g);
        return iop_fail(err, IOP_EINTERNAL, "face gallery: cannot create its lock");
    }
    *out = g;
    return IOP_OK;
}

static void face_parts_release(sbms_face_gallery *g) {
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) {
        if (!g->parts[s]) continue;
        for (uint32_t c = 0; c < g->nlist; c++) face_list_release(&g->parts[s][c], g->stride);
        free(g->parts[s]);
        g->parts[s] = NULL;
    }
}

void sbms_face_gallery_free(sbms_face_gallery *g) {
    if (!g) return;
    face_parts_release(g);
    free(g->map);
    free(g->cent_codes);
    free(g->cent_scales);
    pthread_rwlock_destroy(&g->lock);
    free(g);
}

uint32_t sbms_face_gallery_dim(const sbms_face_gallery *g) { return g->dim; }
const char *sbms_face_gallery_kernel_name(const sbms_face_gallery *g) { return g->kname; }

size_t sbms_face_gallery_count(sbms_face_gallery *g) {
    pthread_rwlock_rdlock(&g->lock);
    size_t n = g->count;
    pthread_rwlock_unlock(&g->lock);
    return n;
}

size_t sbms_face_gallery_count_system(sbms_face_gallery *g, uint8_t system) {
    size_t n = 0;
    if (system >= SBMS_FACE_SYSTEMS) return 0;
    pthread_rwlock_rdlock(&g->lock);
    if (g->parts[system])
        for (uint32_t c = 0; c < g->nlist; c++) n += g->parts[system][c].n;
    pthread_rwlock_unlock(&g->lock);
    return n;
}

size_t sbms_face_gallery_bytes(sbms_face_gallery *g) {
    pthread_rwlock_rdlock(&g->lock);
    size_t b = sizeof *g + g->map_cap * sizeof(uint64_t);
    if (g->cent_codes) b += (size_t)g->nlist * (g->stride + sizeof(float));
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) {
        if (!g->parts[s]) continue;
        b += (size_t)g->nlist * sizeof(face_list);
        for (uint32_t c = 0; c < g->nlist; c++) {
            const face_list *l = &g->parts[s][c];
            b += (((size_t)l->cap * g->stride + 63) & ~(size_t)63) + (size_t)l->cap * (sizeof(float) + sizeof(uint64_t));
        }
    }
    pthread_rwlock_unlock(&g->lock);
    return b;
}

static iop_code face_part(sbms_face_gallery *g, uint8_t system, face_list **out, iop_err *err) {
    if (system >= SBMS_FACE_SYSTEMS)
        return iop_fail(err, IOP_EINVAL, "face gallery: system id %u out of range (< %d)", system, SBMS_FACE_SYSTEMS);
    if (!g->parts[system]) {
        g->parts[system] = calloc(g->nlist, sizeof(face_list));
        if (!g->parts[system]) return iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
    }
    *out = g->parts[system];
    return IOP_OK;
}

iop_code sbms_face_gallery_reserve(sbms_face_gallery *g, uint8_t system, size_t n, iop_err *err) {
    if (n > UINT32_MAX / 2) return iop_fail(err, IOP_ELIMIT, "face gallery: %zu templates is more than one system holds", n);
    pthread_rwlock_wrlock(&g->lock);
    face_list *lists;
    iop_code rc = face_part(g, system, &lists, err);
    if (rc == IOP_OK && g->nlist == 1 && lists[0].cap < n && face_list_resize(&lists[0], g->stride, (uint32_t)n) != 0)
        rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory reserving %zu templates", n);
    if (rc == IOP_OK && g->map_cap < (g->count + n) * 2 && face_map_rebuild(g, g->count + n) != 0)
        rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory reserving %zu templates", n);
    pthread_rwlock_unlock(&g->lock);
    return rc;
}

/* ---------------------------------------------------------------- add / remove */

/* The index list nearest a quantised template (0 without an index). */
static uint32_t face_nearest_list(const sbms_face_gallery *g, const int8_t *code, float scale, int32_t *buf,
                                  int8_t *q, uint8_t *qa) {
    if (g->nlist == 1) return 0;
    face_probe p;
    face_probe_from_code(&p, q, qa, code, g->stride, scale);
    g->dot(&p, g->cent_codes, g->stride, g->nlist, buf);
    uint32_t best = 0;
    float bs = -INFINITY;
    for (uint32_t c = 0; c < g->nlist; c++) {
        float s = (float)buf[c] * g->cent_scales[c];
        if (s > bs) { bs = s; best = c; }
    }
    return best;
}

iop_code sbms_face_gallery_add(sbms_face_gallery *g, sbms_face_ref ref, const float *vec, iop_err *err) {
    if (ref.system >= SBMS_FACE_SYSTEMS)
        return iop_fail(err, IOP_EINVAL, "face gallery: system id %u out of range (< %d)", ref.system, SBMS_FACE_SYSTEMS);
    float *unit = malloc(sizeof(float) * g->dim);
    int8_t *code = face_aligned(g->stride * 2);
    uint8_t *qa = face_aligned(g->stride);
    if (!unit || !code || !qa) {
        free(unit); free(code); free(qa);
        return iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
    }
    memcpy(unit, vec, sizeof(float) * g->dim);
    iop_code rc = sbms_face_normalise(unit, g->dim, err);
    float scale = 0.0f;
    if (rc == IOP_OK) scale = face_quantise(unit, g->dim, g->stride, code);
    face_wipe(unit, sizeof(float) * g->dim);
    free(unit);
    if (rc != IOP_OK) { free(code); free(qa); return rc; }

    pthread_rwlock_wrlock(&g->lock);
    face_list *lists = NULL;
    int32_t *buf = NULL;
    if (face_map_find(g, ref.system, ref.key) != SIZE_MAX) {
        rc = iop_fail(err, IOP_EEXIST, "face gallery: system %u already holds a template for record %llu",
                      ref.system, (unsigned long long)ref.key);
        goto done;
    }
    if ((rc = face_part(g, ref.system, &lists, err)) != IOP_OK) goto done;
    if (g->nlist > 1 && !(buf = malloc(sizeof(int32_t) * g->nlist))) {
        rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
        goto done;
    }
    uint32_t c = face_nearest_list(g, code, scale, buf, code + g->stride, qa);
    face_list *l = &lists[c];
    if (l->n == UINT32_MAX / 2) { rc = iop_fail(err, IOP_ELIMIT, "face gallery: list full"); goto done; }
    if (l->n == l->cap && face_list_resize(l, g->stride, l->cap ? l->cap * 2 : 16) != 0) {
        rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
        goto done;
    }
    if ((g->count + 1) * 2 > g->map_cap && face_map_rebuild(g, g->count + 1 > 8 ? (g->count + 1) * 2 : 16) != 0) {
        rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
        goto done;
    }
    memcpy(l->codes + (size_t)l->n * g->stride, code, g->stride);
    l->scales[l->n] = scale;
    l->keys[l->n] = ref.key;
    face_map_put(g, ref.system, ref.key, (uint32_t)ref.system * g->nlist + c, l->n);
    l->n++;
    g->count++;
done:
    pthread_rwlock_unlock(&g->lock);
    face_wipe(code, g->stride * 2);
    free(code); free(qa); free(buf);
    return rc;
}

typedef struct face_batch {
    const sbms_face_gallery *g;
    const float *vecs;
    int8_t *codes;
    float *scales;
    uint32_t *list;
    size_t bad;             /* lowest index of a vector that failed, or SIZE_MAX */
    pthread_mutex_t mu;
    int32_t *bufs[FACE_MAX_THREADS];
    int8_t *qs[FACE_MAX_THREADS];
    uint8_t *qas[FACE_MAX_THREADS];
} face_batch;

static void face_batch_quantise(void *ctx, size_t begin, size_t end, uint32_t w) {
    face_batch *b = ctx;
    const sbms_face_gallery *g = b->g;
    float unit[SBMS_FACE_DIM_MAX];
    for (size_t i = begin; i < end; i++) {
        memcpy(unit, b->vecs + i * g->dim, sizeof(float) * g->dim);
        if (sbms_face_normalise(unit, g->dim, NULL) != IOP_OK) {
            pthread_mutex_lock(&b->mu);
            if (i < b->bad) b->bad = i;
            pthread_mutex_unlock(&b->mu);
            break;
        }
        b->scales[i] = face_quantise(unit, g->dim, g->stride, b->codes + i * g->stride);
    }
    face_wipe(unit, sizeof unit);
    (void)w;
}

static void face_batch_lists(void *ctx, size_t begin, size_t end, uint32_t w) {
    face_batch *b = ctx;
    for (size_t i = begin; i < end && i < b->bad; i++)
        b->list[i] = face_nearest_list(b->g, b->codes + i * b->g->stride, b->scales[i], b->bufs[w], b->qs[w],
                                       b->qas[w]);
}

iop_code sbms_face_gallery_add_batch(sbms_face_gallery *g, const sbms_face_ref *refs, const float *vecs,
                                     size_t n, size_t *added, iop_err *err) {
    if (added) *added = 0;
    if (n == 0) return IOP_OK;
    iop_code rc = IOP_OK;
    face_batch b;
    memset(&b, 0, sizeof b);
    b.g = g; b.vecs = vecs; b.bad = SIZE_MAX;
    pthread_mutex_init(&b.mu, NULL);
    b.codes = face_aligned(n * g->stride);
    b.scales = malloc(sizeof(float) * n);
    b.list = calloc(n, sizeof(uint32_t));
    if (!b.codes || !b.scales || !b.list) { rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory"); goto out; }
    face_parallel(g->threads, n, face_batch_quantise, &b);
    pthread_rwlock_wrlock(&g->lock);
    if (g->nlist > 1) {
        for (uint32_t t = 0; t < g->threads; t++) {
            b.bufs[t] = malloc(sizeof(int32_t) * g->nlist);
            b.qs[t] = face_aligned(g->stride);
            b.qas[t] = face_aligned(g->stride);
            if (!b.bufs[t] || !b.qs[t] || !b.qas[t]) {
                pthread_rwlock_unlock(&g->lock);
                rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
                goto out;
            }
        }
        face_parallel(g->threads, n, face_batch_lists, &b);
    }
    size_t i = 0;
    for (; i < n && i < b.bad; i++) {
        sbms_face_ref ref = refs[i];
        face_list *lists;
        if (ref.system >= SBMS_FACE_SYSTEMS) {
            rc = iop_fail(err, IOP_EINVAL, "face gallery: template %zu: system id %u out of range (< %d)", i,
                          ref.system, SBMS_FACE_SYSTEMS);
            break;
        }
        if (face_map_find(g, ref.system, ref.key) != SIZE_MAX) {
            rc = iop_fail(err, IOP_EEXIST, "face gallery: template %zu: system %u already holds record %llu", i,
                          ref.system, (unsigned long long)ref.key);
            break;
        }
        if ((rc = face_part(g, ref.system, &lists, err)) != IOP_OK) break;
        face_list *l = &lists[b.list[i]];
        if (l->n == l->cap && face_list_resize(l, g->stride, l->cap ? l->cap * 2 : 16) != 0) {
            rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
            break;
        }
        if ((g->count + 1) * 2 > g->map_cap && face_map_rebuild(g, (g->count + 1) * 2) != 0) {
            rc = iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
            break;
        }
        memcpy(l->codes + (size_t)l->n * g->stride, b.codes + i * g->stride, g->stride);
        l->scales[l->n] = b.scales[i];
        l->keys[l->n] = ref.key;
        face_map_put(g, ref.system, ref.key, (uint32_t)ref.system * g->nlist + b.list[i], l->n);
        l->n++;
        g->count++;
    }
    pthread_rwlock_unlock(&g->lock);
    if (added) *added = i;
    if (rc == IOP_OK && i < n)
        rc = iop_fail(err, IOP_EFORMAT, "face gallery: template %zu is zero or not finite", i);
out:
    for (uint32_t t = 0; t < FACE_MAX_THREADS; t++) { free(b.bufs[t]); free(b.qs[t]); free(b.qas[t]); }
    if (b.codes) face_wipe(b.codes, n * g->stride);
    free(b.codes); free(b.scales); free(b.list);
    pthread_mutex_destroy(&b.mu);
    return rc;
}

iop_code sbms_face_gallery_add_blob(sbms_face_gallery *g, sbms_face_ref ref, const rec_blob *blob, iop_err *err) {
    float *v = malloc(sizeof(float) * g->dim);
    if (!v) return iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
    iop_code rc = sbms_face_from_blob(blob, g->dim, v, err);
    if (rc == IOP_OK) rc = sbms_face_gallery_add(g, ref, v, err);
    face_wipe(v, sizeof(float) * g->dim);
    free(v);
    return rc;
}

iop_code sbms_face_gallery_remove(sbms_face_gallery *g, sbms_face_ref ref, iop_err *err) {
    pthread_rwlock_wrlock(&g->lock);
    iop_code rc = IOP_OK;
    size_t slot = ref.system < SBMS_FACE_SYSTEMS ? face_map_find(g, ref.system, ref.key) : SIZE_MAX;
    if (slot == SIZE_MAX) {
        rc = iop_fail(err, IOP_ENOTFOUND, "face gallery: system %u holds no template for record %llu",
                      ref.system, (unsigned long long)ref.key);
        goto done;
    }
    uint64_t s = g->map[slot];
    uint32_t gid = (uint32_t)(s >> 32) - 1, pos = (uint32_t)s;
    face_list *l = face_gid_list(g, gid);
    face_map_delete(g, slot);
    uint32_t last = l->n - 1;
    if (pos != last) {
        memcpy(l->codes + (size_t)pos * g->stride, l->codes + (size_t)last * g->stride, g->stride);
        l->scales[pos] = l->scales[last];
        l->keys[pos] = l->keys[last];
        size_t ms = face_map_find(g, ref.system, l->keys[pos]);
        /* the moved template is found through its old position (last) */
        if (ms == SIZE_MAX) { rc = iop_fail(err, IOP_EINTERNAL, "face gallery: map lost a template"); goto done; }
        g->map[ms] = ((uint64_t)gid + 1) << 32 | pos;
    }
    face_wipe(l->codes + (size_t)last * g->stride, g->stride);
    l->scales[last] = 0.0f;
    l->keys[last] = 0;
    l->n--;
    g->count--;
    if (l->cap > 64 && l->n < l->cap / 4) face_list_resize(l, g->stride, l->cap / 2); /* best effort */
done:
    pthread_rwlock_unlock(&g->lock);
    return rc;
}

bool sbms_face_gallery_contains(sbms_face_gallery *g, sbms_face_ref ref) {
    if (ref.system >= SBMS_FACE_SYSTEMS) return false;
    pthread_rwlock_rdlock(&g->lock);
    bool r = face_map_find(g, ref.system, ref.key) != SIZE_MAX;
    pthread_rwlock_unlock(&g->lock);
    return r;
}

iop_code sbms_face_gallery_get(sbms_face_gallery *g, sbms_face_ref ref, float *out, iop_err *err) {
    pthread_rwlock_rdlock(&g->lock);
    size_t slot = ref.system < SBMS_FACE_SYSTEMS ? face_map_find(g, ref.system, ref.key) : SIZE_MAX;
    if (slot == SIZE_MAX) {
        pthread_rwlock_unlock(&g->lock);
        return iop_fail(err, IOP_ENOTFOUND, "face gallery: system %u holds no template for record %llu",
                        ref.system, (unsigned long long)ref.key);
    }
    uint64_t s = g->map[slot];
    face_list *l = face_gid_list(g, (uint32_t)(s >> 32) - 1);
    const int8_t *code = l->codes + (size_t)(uint32_t)s * g->stride;
    for (uint32_t i = 0; i < g->dim; i++) out[i] = (float)code[i];
    pthread_rwlock_unlock(&g->lock);
    return sbms_face_normalise(out, g->dim, err);
}

iop_code sbms_face_gallery_verify(sbms_face_gallery *g, sbms_face_ref ref, const float *probe, float *score,
                                  iop_err *err) {
    float *v = malloc(sizeof(float) * g->dim);
    if (!v) return iop_fail(err, IOP_ENOMEM, "face gallery: out of memory");
    iop_code rc = sbms_face_gallery_get(g, ref, v, err);
    if (rc == IOP_OK) *score = sbms_face_score(v, probe, g->dim);
    face_wipe(v, sizeof(float) * g->dim);
    free(v);
    return rc;
}

/* ---------------------------------------------------------------- search */

typedef struct face_cand { float s; uint8_t sys; uint64_t key; } face_cand;

/* a is a worse candidate than b: lower score, or equal score and larger reference */
static inline bool face_worse(const face_cand *a, const face_cand *b) {
    if (a->s != b->s) return a->s < b->s;
    if (a->sys != b->sys) return a->sys > b->sys;
    return a->key > b->key;
}

typedef struct face_heap { face_cand *e; size_t n, k; } face_heap;

static void face_heap_down(face_heap *h, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && face_worse(&h->e[l], &h->e[m])) m = l;
        if (r < h->n && face_worse(&h->e[r], &h->e[m])) m = r;
        if (m == i) return;
        face_cand t = h->e[i]; h->e[i] = h->e[m]; h->e[m] = t;
        i = m;
    }
}

static void face_heap_offer(face_heap *h, const face_cand *c) {
    if (h->n < h->k) {
        size_t i = h->n++;
        h->e[i] = *c;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!face_worse(&h->e[i], &h->e[p])) break;
            face_cand t = h->e[i]; h->e[i] = h->e[p]; h->e[p] = t;
            i = p;
        }
    } else if (face_worse(&h->e[0], c)) {
        h->e[0] = *c;
        face_heap_down(h, 0);
    }
}

typedef struct face_seg { const face_list *l; uint8_t sys; size_t first; /* global index of l's 0 */ } face_seg;

typedef struct face_scan {
    const sbms_face_gallery *g;
    const face_probe *p;
    const face_seg *segs;
    size_t nseg;
    float min_score;
    face_heap heaps[FACE_MAX_THREADS];
    int32_t *bufs[FACE_MAX_THREADS];
} face_scan;

static void face_scan_range(void *ctx, size_t begin, size_t end, uint32_t w) {
    face_scan *sc = ctx;
    const sbms_face_gallery *g = sc->g;
    face_heap *h = &sc->heaps[w];
    int32_t *buf = sc->bufs[w];
    const float qs = sc->p->scale;
    /* the first segment that ends after begin (segments are in order of `first`) */
    size_t lo_ = 0, hi_ = sc->nseg;
    while (lo_ < hi_) {
        size_t mid = (lo_ + hi_) / 2;
        if (sc->segs[mid].first + sc->segs[mid].l->n <= begin) lo_ = mid + 1;
        else hi_ = mid;
    }
    for (size_t si = lo_; si < sc->nseg && begin < end; si++) {
        const face_seg *sg = &sc->segs[si];
        size_t lo = sg->first, hi = sg->first + sg->l->n;
        if (hi <= begin) continue;
        if (lo >= end) break;
        size_t a = begin - lo, b = (end < hi ? end : hi) - lo;
        for (size_t i = a; i < b; i += FACE_BLOCK) {
            size_t cnt = b - i < FACE_BLOCK ? b - i : FACE_BLOCK;
            g->dot(sc->p, sg->l->codes + i * g->stride, g->stride, cnt, buf);
            const float *sc_ = sg->l->scales + i;
            float thr = h->n == h->k ? h->e[0].s : -INFINITY;
            if (thr < sc->min_score) thr = sc->min_score;
            for (size_t j = 0; j < cnt; j++) {
                float s = (float)buf[j] * qs * sc_[j];
                if (s < thr) continue;
                face_cand c = {s, sg->sys, sg->l->keys[i + j]};
                face_heap_offer(h, &c);
                if (h->n == h->k && h->e[0].s > thr) thr = h->e[0].s;
            }
        }
        begin = hi;
    }
}

static int face_cand_cmp(const void *a, const void *b) {
    const face_cand *x = a, *y = b;
    if (face_worse(x, y)) return 1;
    if (face_worse(y, x)) return -1;
    return 0;
}

static int face_cent_cmp(const void *a, const void *b) {
    const float *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

iop_code sbms_face_gallery_search(sbms_face_gallery *g, const float *probe, const sbms_face_query *q,
                                  sbms_face_hit *hits, size_t *n_hits, iop_err *err) {
    *n_hits = 0;
    if (!q || q->k < 1 || q->k > FACE_K_MAX)
        return iop_fail(err, IOP_EINVAL, "face search: k must be 1..%d", FACE_K_MAX);
    iop_code rc = IOP_OK;
    float *unit = malloc(sizeof(float) * g->dim);
    int8_t *qc = face_aligned(g->stride);
    uint8_t *qa = face_aligned(g->stride);
    face_seg *segs = NULL;
    float *cent = NULL;
    face_scan sc;
    memset(&sc, 0, sizeof sc);
    if (!unit || !qc || !qa) { rc = iop_fail(err, IOP_ENOMEM, "face search: out of memory"); goto out; }
    memcpy(unit, probe, sizeof(float) * g->dim);
    if ((rc = sbms_face_normalise(unit, g->dim, err)) != IOP_OK) goto out;
    face_probe p;
    p.scale = face_quantise(unit, g->dim, g->stride, qc);
    face_probe_from_code(&p, qc, qa, qc, g->stride, p.scale);

    pthread_rwlock_rdlock(&g->lock);
    /* which lists: all of them, or the nprobe nearest the probe */
    uint32_t nsel = g->nlist;
    if (q->nprobe > 0 && g->nlist > 1 && q->nprobe < g->nlist) {
        nsel = q->nprobe;
        int32_t *buf = malloc(sizeof(int32_t) * g->nlist);
        cent = malloc(sizeof(float) * 2 * g->nlist);
        if (!buf || !cent) {
            free(buf);
            pthread_rwlock_unlock(&g->lock);
            rc = iop_fail(err, IOP_ENOMEM, "face search: out of memory");
            goto out;
        }
        g->dot(&p, g->cent_codes, g->stride, g->nlist, buf);
        for (uint32_t c = 0; c < g->nlist; c++) {
            cent[2 * c] = (float)buf[c] * g->cent_scales[c];
            cent[2 * c + 1] = (float)c;
        }
        free(buf);
        qsort(cent, g->nlist, 2 * sizeof(float), face_cent_cmp);
    }
    size_t nseg = 0, total = 0;
    size_t nsys = 0;
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) nsys += g->parts[s] && (q->systems >> s & 1);
    segs = malloc(sizeof(face_seg) * ((size_t)nsel * nsys + 1));
    if (!segs) {
        pthread_rwlock_unlock(&g->lock);
        rc = iop_fail(err, IOP_ENOMEM, "face search: out of memory");
        goto out;
    }
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) {
        if (!g->parts[s] || !(q->systems >> s & 1)) continue;
        for (uint32_t i = 0; i < nsel; i++) {
            uint32_t c = cent ? (uint32_t)cent[2 * i + 1] : i;
            const face_list *l = &g->parts[s][c];
            if (!l->n) continue;
            segs[nseg++] = (face_seg){l, (uint8_t)s, total};
            total += l->n;
        }
    }
    uint32_t threads = total * g->stride >= FACE_PAR_BYTES ? g->threads : 1;
    if ((size_t)threads > total) threads = total ? (uint32_t)total : 1;
    sc.g = g; sc.p = &p; sc.segs = segs; sc.nseg = nseg;
    sc.min_score = q->min_score;
    for (uint32_t t = 0; t < threads; t++) {
        sc.heaps[t].k = q->k;
        sc.heaps[t].e = malloc(sizeof(face_cand) * q->k);
        sc.bufs[t] = malloc(sizeof(int32_t) * FACE_BLOCK);
        if (!sc.heaps[t].e || !sc.bufs[t]) {
            pthread_rwlock_unlock(&g->lock);
            rc = iop_fail(err, IOP_ENOMEM, "face search: out of memory");
            goto out;
        }
    }
    /* chunks of about 2 MiB, at least 8 per thread when the scan is smaller */
    size_t chunk = ((size_t)2 << 20) / g->stride;
    if (chunk > total / (8 * (size_t)threads)) chunk = total / (8 * (size_t)threads);
    chunk = (chunk + 63) & ~(size_t)63;
    if (chunk < 64) chunk = 64;
    face_parallel_dyn(threads, total, chunk, face_scan_range, &sc);
    pthread_rwlock_unlock(&g->lock);

    /* merge the per-thread heaps */
    size_t all = 0;
    for (uint32_t t = 0; t < threads; t++) all += sc.heaps[t].n;
    face_cand *m = malloc(sizeof(face_cand) * (all ? all : 1));
    if (!m) { rc = iop_fail(err, IOP_ENOMEM, "face search: out of memory"); goto out; }
    all = 0;
    for (uint32_t t = 0; t < threads; t++) {
        memcpy(m + all, sc.heaps[t].e, sizeof(face_cand) * sc.heaps[t].n);
        all += sc.heaps[t].n;
    }
    qsort(m, all, sizeof(face_cand), face_cand_cmp);
    size_t n = all < q->k ? all : q->k;
    for (size_t i = 0; i < n; i++) {
        float s = m[i].s;
        hits[i].ref.system = m[i].sys;
        hits[i].ref.key = m[i].key;
        hits[i].score = s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
    }
    *n_hits = n;
    free(m);
out:
    for (uint32_t t = 0; t < FACE_MAX_THREADS; t++) { free(sc.heaps[t].e); free(sc.bufs[t]); }
    if (unit) face_wipe(unit, sizeof(float) * g->dim);
    free(unit); free(qc); free(qa); free(segs); free(cent);
    return rc;
}

/* ---------------------------------------------------------------- index */

typedef struct face_assign {
    const sbms_face_gallery *g;
    const int8_t *codes;       /* n templates, stride each */
    const float *scales;
    const int8_t *cent_codes;
    const float *cent_scales;
    uint32_t ncent;
    uint32_t *out;
    int32_t *bufs[FACE_MAX_THREADS];
    int8_t *qs[FACE_MAX_THREADS];
    uint8_t *qas[FACE_MAX_THREADS];
} face_assign;

static void face_assign_range(void *ctx, size_t begin, size_t end, uint32_t w) {
    face_assign *a = ctx;
    const sbms_face_gallery *g = a->g;
    for (size_t i = begin; i < end; i++) {
        face_probe p;
        face_probe_from_code(&p, a->qs[w], a->qas[w], a->codes + i * g->stride, g->stride, a->scales[i]);
        g->dot(&p, a->cent_codes, g->stride, a->ncent, a->bufs[w]);
        uint32_t best = 0;
        float bs = -INFINITY;
        for (uint32_t c = 0; c < a->ncent; c++) {
            float s = (float)a->bufs[w][c] * a->cent_scales[c];
            if (s > bs) { bs = s; best = c; }
        }
        a->out[i] = best;
    }
}

static int face_assign_alloc(face_assign *a, uint32_t threads, uint32_t ncent, uint32_t stride) {
    for (uint32_t t = 0; t < threads; t++) {
        a->bufs[t] = malloc(sizeof(int32_t) * ncent);
        a->qs[t] = face_aligned(stride);
        a->qas[t] = face_aligned(stride);
        if (!a->bufs[t] || !a->qs[t] || !a->qas[t]) return -1;
    }
    return 0;
}

static void face_assign_free(face_assign *a) {
    for (uint32_t t = 0; t < FACE_MAX_THREADS; t++) { free(a->bufs[t]); free(a->qs[t]); free(a->qas[t]); }
}

iop_code sbms_face_gallery_build_index(sbms_face_gallery *g, uint32_t nlist, uint32_t iters, uint64_t seed,
                                       iop_err *err) {
    iop_code rc = IOP_OK;
    pthread_rwlock_wrlock(&g->lock);
    const uint32_t stride = g->stride, dim = g->dim;
    size_t n = g->count, ns = 0;
    int8_t *scodes = NULL, *ccodes = NULL;
    float *sscales = NULL, *cscales = NULL, *cent = NULL;
    uint32_t *assign = NULL, *counts = NULL;
    face_list *newparts[SBMS_FACE_SYSTEMS] = {0};
    face_assign fa;
    memset(&fa, 0, sizeof fa);
    if (nlist < 1 || nlist > 65536 || nlist > n) {
        rc = iop_fail(err, IOP_EINVAL, "face index: %u lists for %zu templates (need 1..min(65536, templates))", nlist, n);
        goto out;
    }
    /* a systematic sample of the gallery, at most 64 per list and 2^20 in all */
    ns = (size_t)nlist * 64;
    if (ns < 20000) ns = 20000;
    if (ns > ((size_t)1 << 20)) ns = (size_t)1 << 20;
    if (ns > n) ns = n;
    scodes = face_aligned(ns * stride);
    sscales = malloc(sizeof(float) * ns);
    cent = malloc(sizeof(float) * (size_t)nlist * dim);
    ccodes = face_aligned((size_t)nlist * stride);
    cscales = malloc(sizeof(float) * nlist);
    assign = malloc(sizeof(uint32_t) * (n > ns ? n : ns));
    counts = calloc(nlist, sizeof(uint32_t));
    if (!scodes || !sscales || !cent || !ccodes || !cscales || !assign || !counts ||
        face_assign_alloc(&fa, g->threads, nlist, stride) != 0) {
        rc = iop_fail(err, IOP_ENOMEM, "face index: out of memory");
        goto out;
    }
    {
        size_t gi = 0, si = 0;
        for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS && si < ns; s++) {
            if (!g->parts[s]) continue;
            for (uint32_t c = 0; c < g->nlist && si < ns; c++) {
                const face_list *l = &g->parts[s][c];
                for (uint32_t p = 0; p < l->n && si < ns; p++, gi++) {
                    if (gi != si * n / ns) continue; /* take every (n/ns)-th template */
                    memcpy(scodes + si * stride, l->codes + (size_t)p * stride, stride);
                    sscales[si] = l->scales[p];
                    si++;
                }
            }
        }
        ns = si;
    }
    /* spherical k-means: initial centroids are distinct sample points in random order */
    iop_rng rng;
    iop_rng_seed(&rng, seed);
    for (uint32_t c = 0; c < nlist; c++) {
        size_t pick = c + iop_rng_below(&rng, (uint32_t)(ns - c)); /* partial Fisher-Yates */
        uint8_t tmp[SBMS_FACE_DIM_MAX];
        memcpy(tmp, scodes + (size_t)c * stride, stride);
        memcpy(scodes + (size_t)c * stride, scodes + pick * stride, stride);
        memcpy(scodes + pick * stride, tmp, stride);
        float ts = sscales[c]; sscales[c] = sscales[pick]; sscales[pick] = ts;
        for (uint32_t j = 0; j < dim; j++) cent[(size_t)c * dim + j] = (float)scodes[(size_t)c * stride + j];
        sbms_face_normalise(cent + (size_t)c * dim, dim, NULL);
    }
    fa.g = g; fa.codes = scodes; fa.scales = sscales; fa.cent_codes = ccodes; fa.cent_scales = cscales;
    fa.ncent = nlist; fa.out = assign;
    for (uint32_t it = 0; it <= iters; it++) {
        for (uint32_t c = 0; c < nlist; c++)
            cscales[c] = face_quantise(cent + (size_t)c * dim, dim, stride, ccodes + (size_t)c * stride);
        if (it == iters) break;
        face_parallel(g->threads, ns, face_assign_range, &fa);
        memset(cent, 0, sizeof(float) * (size_t)nlist * dim);
        memset(counts, 0, sizeof(uint32_t) * nlist);
        for (size_t i = 0; i < ns; i++) {
            float *ct = cent + (size_t)assign[i] * dim;
            const int8_t *sc = scodes + i * stride;
            float w = sscales[i];
            for (uint32_t j = 0; j < dim; j++) ct[j] += w * (float)sc[j];
            counts[assign[i]]++;
        }
        for (uint32_t c = 0; c < nlist; c++) {
            float *ct = cent + (size_t)c * dim;
            if (!counts[c] || sbms_face_normalise(ct, dim, NULL) != IOP_OK) {
                /* an empty list takes a random sample point */
                size_t pick = iop_rng_below(&rng, (uint32_t)ns);
                for (uint32_t j = 0; j < dim; j++) ct[j] = (float)scodes[pick * stride + j];
                sbms_face_normalise(ct, dim, NULL);
            }
        }
    }
    /* move every template of every system into its nearest list */
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) {
        if (!g->parts[s]) continue;
        size_t ps = 0;
        for (uint32_t c = 0; c < g->nlist; c++) ps += g->parts[s][c].n;
        newparts[s] = calloc(nlist, sizeof(face_list));
        if (!newparts[s]) { rc = iop_fail(err, IOP_ENOMEM, "face index: out of memory"); goto out; }
        memset(counts, 0, sizeof(uint32_t) * nlist);
        size_t off = 0;
        for (uint32_t c = 0; c < g->nlist; c++) {
            const face_list *l = &g->parts[s][c];
            fa.codes = l->codes; fa.scales = l->scales; fa.out = assign + off;
            face_parallel(g->threads, l->n, face_assign_range, &fa);
            for (uint32_t p = 0; p < l->n; p++) counts[assign[off + p]]++;
            off += l->n;
        }
        for (uint32_t c = 0; c < nlist; c++)
            if (face_list_resize(&newparts[s][c], stride, counts[c] ? counts[c] : 1) != 0) {
                rc = iop_fail(err, IOP_ENOMEM, "face index: out of memory");
                goto out;
            }
        off = 0;
        for (uint32_t c = 0; c < g->nlist; c++) {
            const face_list *l = &g->parts[s][c];
            for (uint32_t p = 0; p < l->n; p++) {
                face_list *d = &newparts[s][assign[off + p]];
                memcpy(d->codes + (size_t)d->n * stride, l->codes + (size_t)p * stride, stride);
                d->scales[d->n] = l->scales[p];
                d->keys[d->n] = l->keys[p];
                d->n++;
            }
            off += l->n;
        }
        (void)ps;
    }
    /* commit: the old lists are wiped and freed, the map rebuilt */
    face_parts_release(g);
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) { g->parts[s] = newparts[s]; newparts[s] = NULL; }
    g->nlist = nlist;
    free(g->cent_codes); free(g->cent_scales);
    g->cent_codes = ccodes; g->cent_scales = cscales;
    ccodes = NULL; cscales = NULL;
    if (face_map_rebuild(g, g->count) != 0) rc = iop_fail(err, IOP_ENOMEM, "face index: out of memory (map)");
out:
    for (uint32_t s = 0; s < SBMS_FACE_SYSTEMS; s++) {
        if (!newparts[s]) continue;
        for (uint32_t c = 0; c < nlist; c++) face_list_release(&newparts[s][c], stride);
        free(newparts[s]);
    }
    face_assign_free(&fa);
    if (scodes) face_wipe(scodes, ns * stride);
    free(scodes); free(sscales); free(cent); free(ccodes); free(cscales); free(assign); free(counts);
    pthread_rwlock_unlock(&g->lock);
    return rc;
}

uint32_t sbms_face_gallery_nlist(sbms_face_gallery *g) {
    pthread_rwlock_rdlock(&g->lock);
    uint32_t n = g->cent_codes ? g->nlist : 0;
    pthread_rwlock_unlock(&g->lock);
    return n;
}
