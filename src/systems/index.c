/*
 * index.c -- a connected system's search index, in memory (systems.h: sys_index).
 *
 * The index holds, per live record, one block "id\0kind\0summary\0" (a slot), a map from
 * record id to slot, and a hash table from search key to the slots holding it.  Keys are
 * 64-bit hashes of "tag, token[, year]" -- a collision only adds a candidate, which the
 * caller's ranking then scores like any other.  Nothing is stored twice: the keys are
 * derived from the summary the store already keeps, so the store needs no key rows and
 * every write saves their B-tree inserts.
 *
 * Following the store: the index remembers the sequence number of the last change it
 * applied; a search first asks the store for its last change (one B-tree descent) and,
 * when it moved, replays the change log from there in chunks (the log is written by
 * triggers, so every writer of the file is followed; a log that went backwards -- a
 * restored store -- makes the index rebuild).  A change that leaves a record as it was
 * (a replay, a load run again) costs nothing.  A replaced or deleted record's slot is
 * freed and marked dead; its postings are skipped by searches and dropped from a list
 * before the list grows.  A search looks at the newest live postings of a key first.
 * Locking: searches hold a read lock; applying changes holds the write lock; the
 * read-only store handle is used under its own mutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "interop/store.h"
#include "interop/systems.h"

#define DOC_HOLDERS 64        /* holders of a document number returned at most */
#define POSTINGS_PER_KEY 50000 /* postings of one key looked at, at most, per search */
#define MAX_RECORD_KEYS 1024
#define MAX_SLOTS 0x7fffffffu  /* slot numbers stay below the dead/empty markers */
#define DEAD_FLAG 0x80000000u

typedef struct kent {
    uint64_t h;     /* 0: empty */
    uint32_t n;     /* postings */
    uint32_t cap;   /* 0: the postings are inline (n <= 2) */
    union {
        uint32_t in[2];
        uint32_t *list;
    } u;
} kent;

typedef struct slot_meta {
    uint64_t tokens; /* sys_token_mask of each name token */
    iop_date dob;
    char sex;
} slot_meta;

struct sys_index {
    iop_system sys;
    store *st;
    pthread_mutex_t st_mu;  /* the store handle */
    pthread_rwlock_t rw;    /* the tables */
    char **slots;           /* NULL: dead */
    slot_meta *meta;        /* per slot: the ranking fields a caller bounds its score with */
    uint64_t *dead;         /* a bit per slot, set when dead: searches test it in cache */
    uint32_t n_slots, cap_slots;
    size_t n_dead;
    size_t live;
    uint32_t *ids;          /* slot + 1 by id hash, 0 empty */
    size_t ids_cap, ids_n;
    kent *keys;
    size_t keys_cap, keys_n;
    size_t postings, bytes_lists, bytes_slots;
    int64_t seq;
    store_mark mark;        /* the store's committed state when seq was read */
    sys_sound_fn sound;     /* sound keys of a record's identity, or NULL */
    void *sound_ctx;
};

/* ---- hashing ---- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t hash_bytes(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t key_hash(char tag, const char *tok, size_t len, int year) {
    uint64_t h = hash_bytes(0xcbf29ce484222325ULL, &tag, 1);
    h = hash_bytes(h, tok, len);
    if (tag == 'y') h = (h ^ (uint64_t)(uint32_t)year) * 0x100000001b3ULL;
    h = mix64(h);
    return h ? h : 1;
}

static uint64_t id_hash(const char *id) { return mix64(hash_bytes(0xcbf29ce484222325ULL, id, strlen(id))); }

/* Two bits of 64 per token (a filter: at ~6 tokens a record, a token it does not hold
 * passes for one in ~30). */
uint64_t sys_token_mask(const char *token, size_t len) {
    uint64_t h = mix64(hash_bytes(0x84222325cbf29ce4ULL, token, len));
    return (1ull << (h & 63)) | (1ull << ((h >> 6) & 63));
}

/* ---- summary fields (systems.c: record_summary) ---- */

typedef struct span {
    const char *p;
    size_t n;
} span;

enum { F_CAT, F_TOKENS, F_SURNAMES, F_DOB, F_SEX, F_NATS, F_DOCS, F_STOKENS, F_GIVEN, F_BIRTH, F_ALIASES, F_POB, F_DTYPES, F_COUNT };

/* Splits a summary into its fields; returns how many it has. */
static int sum_fields(const char *s, span f[F_COUNT]) {
    int k = 0;
    memset(f, 0, sizeof(span) * F_COUNT);
    while (k < F_COUNT) {
        const char *e = strchr(s, '\x1f');
        f[k].p = s;
        f[k].n = e ? (size_t)(e - s) : strlen(s);
        k++;
        if (!e) break;
        s = e + 1;
    }
    return k;
}

/* The next item of a 0x1E-separated list in span *rest; false at the end. */
static bool next_item(span *rest, span *item) {
    if (!rest->p || rest->n == 0) return false;
    const char *e = memchr(rest->p, '\x1e', rest->n);
    item->p = rest->p;
    item->n = e ? (size_t)(e - rest->p) : rest->n;
    if (e) { rest->n -= item->n + 1; rest->p = e + 1; }
    else { rest->p = NULL; rest->n = 0; }
    return true;
}

static int year_of(span d) {
    if (d.n < 4) return 0;
    int y = 0;
    for (int i = 0; i < 4; i++) {
        if (d.p[i] < '0' || d.p[i] > '9') return 0;
        y = y * 10 + (d.p[i] - '0');
    }
    return y;
}

#define MAX_SOUNDS 64

/* A date of birth as one number, as precise as it is known: yyyymmdd, yyyymm00, yyyy0000. */
static int date_code(iop_date d) { return d.year * 10000 + d.month * 100 + d.day; }
#define SOUND_MAX_POSTINGS 1000 /* a query's sound key holding more records is not looked at */

/* The keys of a record, from its summary, without duplicates; *meta its ranking fields
 * as sys_candidate_parse reads them. */
static size_t summary_keys(const sys_index *x, const char *summary, uint64_t *out, size_t max, slot_meta *meta) {
    span f[F_COUNT];
    int k = sum_fields(summary, f);
    if (k < F_DOCS + 1) return 0; /* not a summary this index understands: never a candidate */
    size_t n = 0;
    {
        span r = f[F_TOKENS], t;
        while (next_item(&r, &t)) meta->tokens |= sys_token_mask(t.p, t.n);
        char d[32];
        if (f[F_DOB].n && f[F_DOB].n < sizeof d) {
            memcpy(d, f[F_DOB].p, f[F_DOB].n);
            d[f[F_DOB].n] = 0;
            iop_date_parse(d, &meta->dob, NULL);
        }
        meta->sex = f[F_SEX].n ? f[F_SEX].p[0] : 'U';
    }
    int year = year_of(f[F_DOB]);
    span rest, it;
    uint64_t h;
#define ADD(x)                                                        \
    do {                                                              \
        h = (x);                                                      \
        bool dup = false;                                             \
        for (size_t i_ = 0; i_ < n && !dup; i_++) dup = out[i_] == h; \
        if (!dup && n < max) out[n++] = h;                            \
    } while (0)
    /* document numbers first: a record with very many names keeps them */
    rest = f[F_DOCS];
    while (next_item(&rest, &it)) {
        const char *colon = memchr(it.p, ':', it.n);
        size_t len = colon ? (size_t)(colon - it.p) : it.n;
        if (len) ADD(key_hash('d', it.p, len, 0));
    }
    /* surname tokens; a summary written before they were kept apart: every token */
    rest = k > F_STOKENS ? f[F_STOKENS] : f[F_TOKENS];
    while (next_item(&rest, &it)) ADD(key_hash('n', it.p, it.n, 0));
    rest = f[F_TOKENS];
    while (next_item(&rest, &it)) ADD(key_hash('y', it.p, it.n, year));
    /* sound keys with the date of birth, from the identity as recorded */
    if (x->sound && year && k == F_COUNT) {
        size_t ls = strlen(summary);
        char stack[2048], *buf = ls < sizeof stack ? stack : malloc(ls + 1);
        sys_candidate *cand = malloc(sizeof *cand);
        if (buf && cand && sys_candidate_parse("", "", summary, buf, cand) && cand->has_identity) {
            uint32_t snd[MAX_SOUNDS];
            size_t ns = x->sound(x->sound_ctx, cand, snd, MAX_SOUNDS);
            /* with the date of birth as precise as the record knows it */
            int dc = date_code(cand->dob);
            for (size_t i = 0; i < ns; i++) ADD(key_hash('s', (const char *)&snd[i], sizeof snd[i], dc));
        }
        free(cand);
        if (buf != stack) free(buf);
    }
#undef ADD
    return n;
}

/* ---- tables ---- */

/* The large tables are read at random places on every search: backed by 2 MiB pages
 * where the system allows them (transparent huge pages in "madvise" mode), a lookup
 * costs one cache miss instead of a cache miss and a page-table walk. */
static void huge_pages(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    const uintptr_t H = 2u << 20;
    uintptr_t a = ((uintptr_t)p + H - 1) & ~(H - 1), b = ((uintptr_t)p + n) & ~(H - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

static const char *slot_id(const sys_index *x, uint32_t s) { return x->slots[s]; }

static inline bool is_dead(const sys_index *x, uint32_t s) { return x->n_dead && (x->dead[s / 64] >> (s % 64)) & 1; }

static int ids_grow(sys_index *x) {
    size_t cap = x->ids_cap ? x->ids_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < x->ids_cap; i++) {
        uint32_t v = x->ids[i];
        if (!v) continue;
        size_t j = id_hash(slot_id(x, v - 1)) & (cap - 1);
        while (t[j]) j = (j + 1) & (cap - 1);
        t[j] = v;
    }
    free(x->ids);
    x->ids = t;
    huge_pages(t, cap * sizeof *t);
    x->ids_cap = cap;
    return 0;
}

/* The table position holding id, or SIZE_MAX. */
static size_t ids_find(const sys_index *x, const char *id) {
    if (!x->ids_cap) return SIZE_MAX;
    size_t j = id_hash(id) & (x->ids_cap - 1);
    while (x->ids[j]) {
        if (!strcmp(slot_id(x, x->ids[j] - 1), id)) return j;
        j = (j + 1) & (x->ids_cap - 1);
    }
    return SIZE_MAX;
}

/* Removes position j (linear probing: the following run is shifted back). */
static void ids_remove(sys_index *x, size_t j) {
    size_t mask = x->ids_cap - 1;
    x->ids[j] = 0;
    x->ids_n--;
    for (size_t i = (j + 1) & mask; x->ids[i]; i = (i + 1) & mask) {
        uint32_t v = x->ids[i];
        size_t home = id_hash(slot_id(x, v - 1)) & mask;
        /* v may move to j when j lies cyclically in [home, i) */
        bool move = (i > j) ? (home <= j || home > i) : (home <= j && home > i);
        if (move) {
            x->ids[j] = v;
            x->ids[i] = 0;
            j = i;
        }
    }
}

static kent *keys_slot(sys_index *x, uint64_t h) {
    size_t j = h & (x->keys_cap - 1);
    while (x->keys[j].h && x->keys[j].h != h) j = (j + 1) & (x->keys_cap - 1);
    return &x->keys[j];
}

static const kent *keys_find(const sys_index *x, uint64_t h) {
    if (!x->keys_cap) return NULL;
    size_t j = h & (x->keys_cap - 1);
    while (x->keys[j].h) {
        if (x->keys[j].h == h) return &x->keys[j];
        j = (j + 1) & (x->keys_cap - 1);
    }
    return NULL;
}

static int keys_grow(sys_index *x) {
    size_t old = x->keys_cap;
    kent *ok = x->keys;
    size_t cap = old ? old * 2 : 4096;
    kent *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    x->keys = t;
    huge_pages(t, cap * sizeof *t);
    x->keys_cap = cap;
    for (size_t i = 0; i < old; i++)
        if (ok[i].h) *keys_slot(x, ok[i].h) = ok[i];
    free(ok);
    return 0;
}

static int posting_add(sys_index *x, uint64_t h, uint32_t slot) {
    if ((x->keys_n + 1) * 10 > x->keys_cap * 7 && keys_grow(x)) return -1;
    kent *e = keys_slot(x, h);
    if (!e->h) { e->h = h; x->keys_n++; }
    if (e->cap == 0 && e->n < 2) {
        e->u.in[e->n++] = slot;
    } else {
        if (e->cap && e->n == e->cap) {
            /* postings of replaced and deleted records go before the list grows */
            uint32_t w = 0;
            for (uint32_t i = 0; i < e->n; i++)
                if (!is_dead(x, e->u.list[i])) e->u.list[w++] = e->u.list[i];
            x->postings -= e->n - w;
            e->n = w;
        }
        if (e->cap == 0 || e->n == e->cap || (e->n * 4 >= e->cap * 3 && e->n + 1 >= e->cap)) {
            uint32_t cap = e->cap ? e->cap * 2 : 4;
            uint32_t *l = malloc(cap * sizeof *l);
            if (!l) return -1;
            if (e->cap == 0) memcpy(l, e->u.in, sizeof e->u.in);
            else { memcpy(l, e->u.list, e->n * sizeof *l); free(e->u.list); }
            x->bytes_lists += (size_t)(cap - e->cap) * sizeof *l;
            e->u.list = l;
            e->cap = cap;
        }
        e->u.list[e->n++] = slot;
    }
    x->postings++;
    return 0;
}

static const uint32_t *postings_of(const kent *e) { return e->cap ? e->u.list : e->u.in; }

static void record_remove(sys_index *x, const char *id);

/* Adds a record (its id must not be in the index). */
static int record_add(sys_index *x, const char *id, const char *kind, const char *summary) {
    if (!id || !kind) return 0;
    if (x->n_slots >= MAX_SLOTS) return -1;
    size_t li = strlen(id), lk = strlen(kind), ls = summary ? strlen(summary) : 0;
    if (x->n_slots == x->cap_slots) {
        uint32_t cap = x->cap_slots ? (x->cap_slots > MAX_SLOTS / 2 ? MAX_SLOTS : x->cap_slots * 2) : 1024;
        char **s = realloc(x->slots, (size_t)cap * sizeof *s);
        if (!s) return -1;
        x->slots = s;
        huge_pages(s, (size_t)cap * sizeof *s);
        slot_meta *m = realloc(x->meta, (size_t)cap * sizeof *m);
        if (!m) return -1;
        x->meta = m;
        huge_pages(m, (size_t)cap * sizeof *m);
        uint64_t *dead = realloc(x->dead, ((size_t)cap / 64 + 1) * sizeof *dead);
        if (!dead) return -1;
        memset(dead + (x->cap_slots ? x->cap_slots / 64 + 1 : 0), 0,
               ((size_t)cap / 64 + 1 - (x->cap_slots ? x->cap_slots / 64 + 1 : 0)) * sizeof *dead);
        x->dead = dead;
        x->cap_slots = cap;
    }
    if ((x->ids_n + 1) * 10 > x->ids_cap * 6 && ids_grow(x)) return -1;
    char *d = malloc(li + lk + ls + 3);
    if (!d) return -1;
    memcpy(d, id, li + 1);
    memcpy(d + li + 1, kind, lk + 1);
    memcpy(d + li + lk + 2, summary ? summary : "", ls + 1);
    uint32_t slot = x->n_slots++;
    x->slots[slot] = d;
    x->bytes_slots += li + lk + ls + 3;
    size_t j = id_hash(id) & (x->ids_cap - 1);
    while (x->ids[j]) j = (j + 1) & (x->ids_cap - 1);
    x->ids[j] = slot + 1;
    x->ids_n++;
    x->live++;
    uint64_t keys[MAX_RECORD_KEYS];
    slot_meta *meta = &x->meta[slot];
    *meta = (slot_meta){.sex = 'U'};
    size_t nk = summary ? summary_keys(x, summary, keys, MAX_RECORD_KEYS, meta) : 0;
    for (size_t i = 0; i < nk; i++)
        if (posting_add(x, keys[i], slot)) {
            record_remove(x, id); /* not half in the index */
            return -1;
        }
    return 0;
}

static void record_remove(sys_index *x, const char *id) {
    if (!id) return;
    size_t j = ids_find(x, id);
    if (j == SIZE_MAX) return;
    uint32_t slot = x->ids[j] - 1;
    ids_remove(x, j);
    char *d = x->slots[slot];
    x->bytes_slots -= strlen(d) + 1;
    d += strlen(d) + 1;
    x->bytes_slots -= strlen(d) + 1;
    d += strlen(d) + 1;
    x->bytes_slots -= strlen(d) + 1;
    free(x->slots[slot]);
    x->slots[slot] = NULL;
    x->dead[slot / 64] |= 1ull << (slot % 64);
    x->n_dead++;
    x->live--;
}

/* ---- building and following ---- */

typedef struct apply_ctx {
    sys_index *x;
    bool nomem;
    int64_t next; /* the change expected next (replay): another one means trimmed changes */
    bool gap;
} apply_ctx;

static int scan_cb(void *ctx, const store_doc *d) {
    apply_ctx *a = ctx;
    record_remove(a->x, d->id); /* ids are unique in a scan; kept for safety */
    if (record_add(a->x, d->id, d->kind, d->summary)) { a->nomem = true; return 1; }
    return 0;
}

/* Whether the record in the index already has this kind and summary (a change replayed
 * twice, or a record rewritten unchanged: nothing to do). */
static bool same_state(const sys_index *x, const char *id, const char *kind, const char *summary) {
    size_t j = ids_find(x, id);
    if (j == SIZE_MAX || !kind) return false;
    const char *d = x->slots[x->ids[j] - 1];
    const char *k = d + strlen(d) + 1;
    const char *sum = k + strlen(k) + 1;
    return !strcmp(k, kind) && !strcmp(sum, summary ? summary : "");
}

static int change_cb(void *ctx, const store_change *c) {
    apply_ctx *a = ctx;
    if (c->seq != a->next) { a->gap = true; return 1; } /* the log was trimmed past this index */
    a->next = c->seq + 1;
    if (same_state(a->x, c->id, c->kind, c->summary)) return 0;
    record_remove(a->x, c->id);
    if (c->kind && record_add(a->x, c->id, c->kind, c->summary)) { a->nomem = true; return 1; }
    return 0;
}

/* Frees the tables (the index is then empty). */
static void tables_free(sys_index *x) {
    for (uint32_t i = 0; i < x->n_slots; i++) free(x->slots[i]);
    free(x->slots);
    free(x->meta);
    x->meta = NULL;
    free(x->dead);
    x->dead = NULL;
    x->n_dead = 0;
    free(x->ids);
    for (size_t i = 0; i < x->keys_cap; i++)
        if (x->keys[i].h && x->keys[i].cap) free(x->keys[i].u.list);
    free(x->keys);
    x->slots = NULL;
    x->n_slots = x->cap_slots = 0;
    x->live = 0;
    x->ids = NULL;
    x->ids_cap = x->ids_n = 0;
    x->keys = NULL;
    x->keys_cap = x->keys_n = 0;
    x->postings = x->bytes_lists = x->bytes_slots = 0;
}

/* (Re)builds the tables from a scan of the store (the store mutex held). */
static iop_code build(sys_index *x, iop_err *err) {
    tables_free(x);
    apply_ctx a = {.x = x};
    iop_code rc = store_scan_summaries(x->st, scan_cb, &a, &x->seq, err);
    if (!rc && a.nomem) rc = iop_fail(err, IOP_ENOMEM, "%s search index: out of memory", iop_system_name(x->sys));
    return rc;
}

void sys_index_close(sys_index *x) {
    if (!x) return;
    tables_free(x);
    store_close(x->st);
    pthread_mutex_destroy(&x->st_mu);
    pthread_rwlock_destroy(&x->rw);
    free(x);
}

iop_code sys_index_open(iop_system s, const char *dir, sys_index **out, iop_err *err) {
    return sys_index_open_sounds(s, dir, NULL, NULL, out, err);
}

iop_code sys_index_open_sounds(iop_system s, const char *dir, sys_sound_fn fn, void *ctx, sys_index **out,
                               iop_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/systems/%s.db", dir, iop_system_name(s));
    sys_index *x = calloc(1, sizeof *x);
    if (!x) return iop_fail(err, IOP_ENOMEM, "out of memory");
    x->sys = s;
    x->sound = fn;
    x->sound_ctx = ctx;
    pthread_mutex_init(&x->st_mu, NULL);
    pthread_rwlock_init(&x->rw, NULL);
    iop_code rc = store_open(path, STORE_READONLY, err, &x->st);
    if (!rc) rc = build(x, err);
    if (rc) {
        iop_err_prefix(err, "%s search index", iop_system_name(s));
        sys_index_close(x);
        return rc;
    }
    *out = x;
    return IOP_OK;
}

#define SYNC_CHUNK 4096 /* changes applied per hold of the write lock */

iop_code sys_index_sync(sys_index *x, iop_err *err) {
    pthread_mutex_lock(&x->st_mu);
    /* nothing committed since the last sync: no read of the log at all */
    if (!store_changed_since(x->st, &x->mark)) {
        pthread_mutex_unlock(&x->st_mu);
        return IOP_OK;
    }
    store_mark_take(x->st, &x->mark); /* before reading: a commit after it is seen next time */
    int64_t last = 0;
    iop_code rc = store_last_change(x->st, &last, err);
    if (!rc && last < x->seq) {
        /* the change log went backwards (restored or rewritten store): start again */
        pthread_rwlock_wrlock(&x->rw);
        rc = build(x, err);
        pthread_rwlock_unlock(&x->rw);
    }
    /* replay in chunks, so searches on other threads get the lock between them */
    while (!rc && last > x->seq) {
        pthread_rwlock_wrlock(&x->rw);
        apply_ctx a = {.x = x, .next = x->seq + 1};
        int64_t seen = x->seq;
        rc = store_changes_since(x->st, x->seq, SYNC_CHUNK, change_cb, &a, &seen, err);
        if (!rc && a.nomem) rc = iop_fail(err, IOP_ENOMEM, "%s search index: out of memory", iop_system_name(x->sys));
        bool moved = seen > x->seq;
        x->seq = seen; /* the changes applied; a failed one is tried again next time */
        if (!rc && a.gap) {
            /* changes this index has not seen were trimmed from the log: start again */
            rc = build(x, err);
            moved = true;
        }
        pthread_rwlock_unlock(&x->rw);
        if (!moved) break; /* nothing after seq in this snapshot (a newer one comes next time) */
    }
    if (rc || last > x->seq) x->mark.valid = false; /* not caught up: read the log next time */
    pthread_mutex_unlock(&x->st_mu);
    return rc;
}

void sys_index_stats_get(sys_index *x, sys_index_stats *st) {
    pthread_rwlock_rdlock(&x->rw);
    st->records = x->live;
    st->keys = x->keys_n;
    st->postings = x->postings;
    st->bytes = sizeof *x + x->cap_slots * (sizeof(char *) + sizeof(slot_meta)) + x->ids_cap * sizeof(uint32_t) + x->keys_cap * sizeof(kent) +
                x->bytes_lists + x->bytes_slots + x->live * 16 /* allocator overhead per slot */;
    st->seq = x->seq;
    pthread_rwlock_unlock(&x->rw);
}

/* ---- searching ---- */

/* Slot -> count of query keys met (DEAD_FLAG: already returned), open addressing. */
typedef struct counts {
    uint32_t *slot; /* slot + 1, 0 empty */
    uint32_t *n;
    uint32_t *order; /* the table positions in use, in the order they were taken */
    size_t cap, used;
} counts;

/* (the table is at least twice as large as the postings counted into it: it never fills) */
static uint32_t *counts_at(counts *c, uint32_t slot) {
    size_t j = mix64(slot) & (c->cap - 1);
    while (c->slot[j] && c->slot[j] != slot + 1) j = (j + 1) & (c->cap - 1);
    if (!c->slot[j]) { c->slot[j] = slot + 1; c->n[j] = 0; c->order[c->used++] = (uint32_t)j; }
    return &c->n[j];
}

typedef struct qkeys {
    uint64_t h[256];
    size_t n;
} qkeys;

static void qkeys_add(qkeys *k, uint64_t h) {
    for (size_t i = 0; i < k->n; i++)
        if (k->h[i] == h) return;
    if (k->n < sizeof k->h / sizeof *k->h) k->h[k->n++] = h;
}

/* Adds the keys of each token of a name (sys_name_key, split on spaces). */
static void name_qkeys(qkeys *k, const char *name, bool normalised, char tag, int year) {
    char norm[512];
    if (normalised) {
        size_t l = strnlen(name, sizeof norm - 1);
        memcpy(norm, name, l);
        norm[l] = 0;
    } else sys_name_key(name, norm, sizeof norm);
    for (char *p = norm; *p;) {
        while (*p == ' ') p++;
        char *e = p;
        while (*e && *e != ' ') e++;
        if (e > p) qkeys_add(k, key_hash(tag, p, (size_t)(e - p), year));
        p = e;
    }
}

/* Decodes a slot into a candidate (buf holds the split summary) and calls fn. */
/* Splits a 0x1E-separated list in place into out[], at most SYS_CAND_MAX items. */
static size_t split_list(char *s, const char **out) {
    size_t n = 0;
    if (!*s) return 0;
    for (;;) {
        if (n < SYS_CAND_MAX) out[n++] = s;
        char *e = strchr(s, '\x1e');
        if (!e) return n;
        *e = 0;
        s = e + 1;
    }
}

/* Splits the first `upto` fields of a summary of ls bytes into buf (the rest is not
 * copied); returns the number of fields the summary has (at most F_COUNT). */
static int split_fields(const char *summary, size_t ls, int upto, char *buf, char *f[F_COUNT]) {
    const char *p = summary, *end = summary + ls;
    char *w = buf;
    int k = 0;
    while (k < F_COUNT) {
        const char *e = memchr(p, '\x1f', (size_t)(end - p));
        const char *fe = e ? e : end;
        if (k < upto) {
            memcpy(w, p, (size_t)(fe - p));
            f[k] = w;
            w += fe - p;
            *w++ = 0;
        }
        k++;
        if (!e) break;
        p = e + 1;
    }
    return k;
}

/* Fills the ranking fields from split fields: category, tokens, surnames, date of birth,
 * sex, nationalities, documents (doc_types cleared); the identity fields cleared. */
static void fill_ranking(const char *id, const char *kind, const char *summary, char *f[F_COUNT], sys_candidate *out) {
    out->dob = (iop_date){0};
    out->has_identity = false;
    out->sound_hits = 0;
    out->meta = (sys_cand_meta){.sex = 'U'};
    out->n_given_names = out->n_aliases = 0;
    out->surname_at_birth = out->place_of_birth = NULL;
    out->id = id;
    out->kind = kind;
    out->body = "";
    out->summary = summary;
    out->category = f[F_CAT][0] ? f[F_CAT] : NULL;
    out->n_tokens = split_list(f[F_TOKENS], out->tokens);
    out->n_surnames = split_list(f[F_SURNAMES], out->surnames);
    out->n_nationalities = split_list(f[F_NATS], out->nationalities);
    out->n_docs = split_list(f[F_DOCS], out->doc_keys);
    for (size_t i = 0; i < out->n_docs; i++) {
        char *colon = strchr(out->doc_keys[i], ':');
        if (colon) *colon = 0;
        out->doc_countries[i] = colon ? colon + 1 : "";
        out->doc_types[i] = NULL;
    }
    if (f[F_DOB][0]) iop_date_parse(f[F_DOB], &out->dob, NULL);
    out->sex = f[F_SEX][0] ? f[F_SEX][0] : 'U';
}

bool sys_candidate_parse(const char *id, const char *kind, const char *summary, char *buf, sys_candidate *out) {
    char *f[F_COUNT] = {0};
    int k = split_fields(summary, strlen(summary), F_COUNT, buf, f);
    if (k < F_DOCS + 1) return false;
    fill_ranking(id, kind, summary, f, out);
    if (k == F_COUNT) {
        out->has_identity = true;
        out->n_given_names = split_list(f[F_GIVEN], out->given_names);
        out->surname_at_birth = f[F_BIRTH][0] ? f[F_BIRTH] : NULL;
        out->n_aliases = split_list(f[F_ALIASES], out->aliases);
        out->place_of_birth = f[F_POB][0] ? f[F_POB] : NULL;
        const char *types[SYS_CAND_MAX];
        size_t nt = split_list(f[F_DTYPES], types);
        /* an empty type is kept as an empty item: the list follows the documents */
        for (size_t i = 0; i < out->n_docs; i++) out->doc_types[i] = i < nt && types[i][0] ? types[i] : NULL;
    }
    return true;
}

/* What the index holds of a slot beside its summary, as a caller sees it. */
static sys_cand_meta meta_of(const sys_index *x, uint32_t slot, uint32_t sounds) {
    const slot_meta *sm = &x->meta[slot];
    return (sys_cand_meta){.tokens = sm->tokens, .dob = sm->dob, .sex = sm->sex, .sound_hits = sounds};
}

static int emit(const sys_index *x, uint32_t slot, uint32_t sounds, sys_cand_fn fn, void *ctx) {
    const char *d = x->slots[slot];
    const char *kind = d + strlen(d) + 1;
    const char *sum = kind + strlen(kind) + 1;
    char stack[2048], *buf = stack;
    size_t ls = strlen(sum);
    if (ls >= sizeof stack && !(buf = malloc(ls + 1))) return 0;
    sys_candidate cand;
    char *f[F_COUNT];
    int r = 0;
    /* the ranking fields only: a caller keeping the candidate parses its identity from
     * cand.summary (sys_candidate_parse) */
    if (split_fields(sum, ls, F_DOCS + 1, buf, f) >= F_DOCS + 1) {
        fill_ranking(d, kind, sum, f, &cand);
        cand.sound_hits = sounds;
        cand.meta = meta_of(x, slot, sounds);
        r = fn(ctx, &cand);
    }
    if (buf != stack) free(buf);
    return r;
}

typedef struct cand_ref {
    uint32_t count, slot, sounds;
} cand_ref;

/* A record's count while searching: keys met (low 16 bits), sound keys among them (bits
 * 16-30); DEAD_FLAG (bit 31): already returned. */
#define CNT_TOTAL(v) ((v) & 0xffffu)
#define CNT_SOUND(v) (((v) >> 16) & 0x7fffu)
#define CNT_ONE_SOUND 0x10001u

static int cmp_ref(const void *a, const void *b) {
    const cand_ref *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

iop_code sys_index_search(sys_index *x, const sys_query *q, sys_cand_fn fn, void *ctx, iop_err *err) {
    iop_code rc = sys_index_sync(x, err);
    if (rc) return rc;
    size_t limit = q->limit ? q->limit : 100;
    /* the query's keys: with a year of birth, surnames with the year, its neighbours
     * (one-digit typos, +-1 year) and no date; given names (which catch a swapped name
     * order) only with the year itself -- a common given name with neighbouring years
     * would flood the candidates.  Without a year: surnames alone. */
    qkeys nk = {.n = 0};
    size_t first_sound = SIZE_MAX; /* the query keys from here on are sound keys */
    if (q->dob.year) {
        const int years[] = {q->dob.year, q->dob.year - 1, q->dob.year + 1, 0};
        for (int y = 0; y < 4; y++)
            for (size_t i = 0; i < q->n_surnames; i++) name_qkeys(&nk, q->surnames[i], q->normalised, 'y', years[y]);
        for (size_t i = 0; i < q->n_given_names; i++) name_qkeys(&nk, q->given_names[i], q->normalised, 'y', q->dob.year);
        first_sound = nk.n;
        /* sound keys: other spellings and scripts */
        /* ... with the query's date and its coarser forms (records knowing less of theirs) */
        int dcs[3] = {date_code(q->dob), 0, 0}, ndc = 1;
        if (q->dob.month) dcs[ndc++] = date_code((iop_date){q->dob.year, 0, 0});
        if (q->dob.month && q->dob.day) dcs[ndc++] = date_code((iop_date){q->dob.year, q->dob.month, 0});
        for (int d = 0; d < ndc; d++)
            for (size_t i = 0; i < q->n_sounds && nk.n < sizeof nk.h / sizeof *nk.h; i++)
                nk.h[nk.n++] = key_hash('s', (const char *)&q->sounds[i], sizeof q->sounds[i], dcs[d]);
    } else {
        for (size_t i = 0; i < q->n_surnames; i++) name_qkeys(&nk, q->surnames[i], q->normalised, 'n', 0);
    }
    uint64_t dh = 0;
    if (q->doc_number) {
        char dk[256];
        sys_doc_key(q->doc_number, dk, sizeof dk);
        if (dk[0]) dh = key_hash('d', dk, strlen(dk), 0);
    }

    pthread_rwlock_rdlock(&x->rw);
    const kent *lists[256 + 1];
    uint32_t add[256 + 1]; /* what meeting the key adds to a record's count */
    size_t total = 0, nl = 0;
    /* the keys' table entries lie anywhere in memory: all are fetched at once, then
     * read, and the newest postings of each found key likewise */
    if (x->keys_cap)
        for (size_t i = 0; i < nk.n; i++) __builtin_prefetch(&x->keys[nk.h[i] & (x->keys_cap - 1)]);
    const kent *doc = dh ? keys_find(x, dh) : NULL;
    if (doc) total += doc->n < DOC_HOLDERS * 4 ? doc->n : DOC_HOLDERS * 4;
    for (size_t i = 0; i < nk.n; i++) {
        const kent *e = keys_find(x, nk.h[i]);
        if (!e) continue;
        /* a sound shared by very many people born that year tells nothing */
        if (i >= first_sound && e->n > SOUND_MAX_POSTINGS) continue;
        add[nl] = i >= first_sound ? CNT_ONE_SOUND : 1;
        lists[nl++] = e;
        total += e->n < POSTINGS_PER_KEY ? e->n : POSTINGS_PER_KEY;
        if (e->cap) __builtin_prefetch(e->u.list + e->n - 1);
    }
    counts c = {0};
    c.cap = 16;
    while (c.cap < total * 2 + 16) c.cap *= 2;
    c.slot = calloc(c.cap, sizeof *c.slot);
    c.n = malloc(c.cap * sizeof *c.n);
    c.order = malloc((total + 1) * sizeof *c.order);
    int stop = 0;
    if (!c.slot || !c.n || !c.order) {
        rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        goto done;
    }
    /* document holders first */
    if (doc) {
        const uint32_t *p = postings_of(doc);
        size_t shown = 0;
        for (uint32_t i = 0; i < doc->n && shown < DOC_HOLDERS && !stop; i++) {
            if (is_dead(x, p[i])) continue;
            uint32_t *n = counts_at(&c, p[i]);
            if (*n & DEAD_FLAG) continue;
            *n = DEAD_FLAG;
            shown++;
            stop = emit(x, p[i], 0, fn, ctx);
        }
    }
    if (stop || !nl) goto done;
    /* then by names: count the keys each record meets */
    uint32_t best = 0;
    for (size_t l = 0; l < nl; l++) {
        /* newest first, live postings only, at most POSTINGS_PER_KEY of them */
        const uint32_t *p = postings_of(lists[l]);
        uint32_t seen = 0;
        for (uint32_t i = lists[l]->n; i-- > 0 && seen < POSTINGS_PER_KEY;) {
            if (is_dead(x, p[i])) continue;
            seen++;
            uint32_t *n = counts_at(&c, p[i]);
            if (*n & DEAD_FLAG) continue;
            *n += add[l];
            if (CNT_TOTAL(*n) > best) best = CNT_TOTAL(*n);
        }
    }
    /* the threshold count: the records meeting the most keys, limit of them at most */
    size_t hist[257] = {0};
    for (size_t u = 0; u < c.used; u++) {
        uint32_t v = c.n[c.order[u]];
        if (!(v & DEAD_FLAG)) hist[CNT_TOTAL(v) > 256 ? 256 : CNT_TOTAL(v)]++;
    }
    uint32_t thr = best > 256 ? 256 : best;
    size_t upto = 0;
    while (thr > 1 && upto + hist[thr] < limit) upto += hist[thr--];
    if (thr == 0) goto done;
    /* the kept records, most keys met first, then in slot (arrival) order */
    cand_ref *pick = malloc((upto + hist[thr] + 1) * sizeof *pick);
    if (!pick) {
        rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        goto done;
    }
    /* those above the threshold count (upto of them, fewer than limit) first, the ties
     * after them; of the ties only the oldest limit - upto are kept, selected with a
     * bounded heap so that only what is emitted gets sorted */
    size_t na = 0, nt = 0, need = limit - upto;
    cand_ref *ties = pick + upto;
    for (size_t u = 0; u < c.used; u++) {
        size_t j = c.order[u];
        if (c.n[j] & DEAD_FLAG) continue;
        uint32_t n = CNT_TOTAL(c.n[j]) > 256 ? 256 : CNT_TOTAL(c.n[j]);
        cand_ref r = {.count = n, .slot = c.slot[j] - 1, .sounds = CNT_SOUND(c.n[j])};
        if (n > thr) pick[na++] = r;
        else if (n == thr) {
            if (nt < need) {
                /* max-heap on the slot: the newest kept tie on top */
                size_t i = nt++;
                while (i && ties[(i - 1) / 2].slot < r.slot) { ties[i] = ties[(i - 1) / 2]; i = (i - 1) / 2; }
                ties[i] = r;
            } else if (need && r.slot < ties[0].slot) {
                size_t i = 0;
                for (;;) {
                    size_t l = 2 * i + 1, m = i;
                    uint32_t big = r.slot;
                    if (l < nt && ties[l].slot > big) { m = l; big = ties[l].slot; }
                    if (l + 1 < nt && ties[l + 1].slot > big) m = l + 1;
                    if (m == i) break;
                    ties[i] = ties[m];
                    i = m;
                }
                ties[i] = r;
            }
        }
    }
    size_t np = upto + nt;
    qsort(pick, np, sizeof *pick, cmp_ref);
    size_t upto_emit = np < limit ? np : limit;
    if (q->pre) {
        /* the caller's test on the fields held beside the slots (one line each, fetched
         * at once): only the candidates it keeps have their summaries read */
        for (size_t i = 0; i < upto_emit; i++) __builtin_prefetch(&x->meta[pick[i].slot]);
        size_t kept = 0;
        for (size_t i = 0; i < upto_emit; i++) {
            sys_cand_meta m = meta_of(x, pick[i].slot, pick[i].sounds);
            if (q->pre(ctx, &m)) pick[kept++] = pick[i];
        }
        upto_emit = kept;
    }
    /* the slots lie anywhere in memory: the pointers of all those emitted are fetched
     * at once, then their records' first lines, a few candidates ahead */
    for (size_t i = 0; i < upto_emit; i++) __builtin_prefetch(&x->slots[pick[i].slot]);
    for (size_t i = 0; i < upto_emit && i < 4; i++) __builtin_prefetch(x->slots[pick[i].slot]);
    for (size_t i = 0; i < upto_emit && !stop; i++) {
        if (i + 4 < upto_emit) {
            const char *ahead = x->slots[pick[i + 4].slot];
            for (int l = 0; l < 4; l++) __builtin_prefetch(ahead + 64 * l);
        }
        stop = emit(x, pick[i].slot, pick[i].sounds, fn, ctx);
    }
    free(pick);
done:
    pthread_rwlock_unlock(&x->rw);
    free(c.slot);
    free(c.n);
    free(c.order);
    return rc;
}
