/*
 * sbms.c -- the shared biometric matching service as a component of the node
 * (Reg. (EU) 2019/817 and 2019/818, Arts 12-16).
 *
 *   store     DIR/sbms.db (store.h): one document per (system, record) that has
 *             biometrics, id "<system>:<record id>", kind "template".  Its blob holds
 *             the quality-checked templates in one normalised form -- the fingers as a
 *             single ISO/IEC 19794-2:2005 record (whatever format they came in) and the
 *             face as the unit-length float32 vector -- and its summary the numeric
 *             record key the galleries use ("k=<key> f=<fingers> d=<face dim>").
 *             Settings (face dimension, score calibrations) live in store_meta.
 *   galleries the fingerprint gallery (sbms_fp.h) and the face gallery (sbms_face.h),
 *             both partitioned by source system with the back-reference (system, key)
 *             of each template (Art 13(1)-(2)); rebuilt from the store at open by the
 *             same code path enrolment uses, so a reopened service is identical.
 *   key map   (system, record id) <-> key, a hash table plus a key-indexed array.
 *   writes    durable first (one transaction per batch), then the galleries (Art 15:
 *             a removed record's templates are deleted from the store with
 *             secure_delete, then wiped from the galleries).
 *   search    candidates from each modality restricted to the systems asked for, the
 *             other modality compared 1:1, fusion of calibrated LLRs (sbms_fusion.h):
 *             face LLR + sum of the LLRs of the paired fingers.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/sbms.h"
#include "interop/sbms_face.h"
#include "interop/sbms_fp.h"
#include "interop/store.h"

#define SBMS_BLOB_MAGIC "SBT1"
#define SBMS_BLOB_HEAD 16           /* magic, u32 face dim, u32 iso length, u32 reserved */
#define SBMS_DEPTH_MIN 20           /* candidates asked of each modality, at least */
#define SBMS_DEPTH_MAX 2000
#define SBMS_CALIB_SEED 0x5b3d5ca11b7a7eULL
#define SBMS_NO_KEY UINT64_MAX

/* ------------------------------------------------------------------------------------
 * key map
 * ---------------------------------------------------------------------------------- */

typedef struct sbms_ent {
    char *id;           /* record id; NULL = free key */
    uint8_t system;
    uint8_t n_fingers;  /* fingers in the fingerprint gallery (0 = none) */
    bool face;          /* a template in the face gallery */
} sbms_ent;

typedef struct sbms_map {
    sbms_ent *ent;      /* indexed by key */
    size_t n_ent, cap_ent;
    uint64_t *slot;     /* open addressing: key + 1; 0 empty; UINT64_MAX tombstone */
    size_t cap_slot, used_slot; /* used = live + tombstones */
    size_t live;
} sbms_map;

#define MAP_EMPTY 0
#define MAP_TOMB UINT64_MAX

static uint64_t map_hash(uint8_t sys, const char *id) {
    uint64_t h = 1469598103934665603ULL ^ sys;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    h ^= h >> 29;
    return h * 0xbf58476d1ce4e5b9ULL;
}

/* Slot of (sys, id), or the first free slot for it when absent (*found false). */
static size_t map_find(const sbms_map *m, uint8_t sys, const char *id, bool *found) {
    size_t mask = m->cap_slot - 1, i = map_hash(sys, id) & mask, free_at = SIZE_MAX;
    for (;; i = (i + 1) & mask) {
        uint64_t v = m->slot[i];
        if (v == MAP_EMPTY) { *found = false; return free_at != SIZE_MAX ? free_at : i; }
        if (v == MAP_TOMB) { if (free_at == SIZE_MAX) free_at = i; continue; }
        const sbms_ent *e = &m->ent[v - 1];
        if (e->system == sys && strcmp(e->id, id) == 0) { *found = true; return i; }
    }
}

static int map_rehash(sbms_map *m, size_t cap) {
    uint64_t *ns = calloc(cap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap_slot; i++) {
        uint64_t v = m->slot[i];
        if (v == MAP_EMPTY || v == MAP_TOMB) continue;
        const sbms_ent *e = &m->ent[v - 1];
        size_t j = map_hash(e->system, e->id) & (cap - 1);
        while (ns[j]) j = (j + 1) & (cap - 1);
        ns[j] = v;
    }
    free(m->slot);
    m->slot = ns;
    m->cap_slot = cap;
    m->used_slot = m->live;
    return 0;
}

static uint64_t map_get(const sbms_map *m, uint8_t sys, const char *id) {
    if (!m->cap_slot) return SBMS_NO_KEY;
    bool found;
    size_t at = map_find(m, sys, id, &found);
    return found ? m->slot[at] - 1 : SBMS_NO_KEY;
}

/* Inserts (sys, id) under key (which must be free).  -1 on ENOMEM. */
static int map_put(sbms_map *m, uint8_t sys, const char *id, uint64_t key) {
    if ((m->used_slot + 1) * 4 > m->cap_slot * 3) {
        size_t cap = m->cap_slot ? m->cap_slot : 1024;
        while ((m->live + 1) * 2 > cap) cap *= 2;
        if (map_rehash(m, cap)) return -1;
    }
    if (key >= m->cap_ent) {
        size_t cap = m->cap_ent ? m->cap_ent : 1024;
        while (cap <= key) cap *= 2;
        sbms_ent *ne = realloc(m->ent, cap * sizeof *ne);
        if (!ne) return -1;
        memset(ne + m->cap_ent, 0, (cap - m->cap_ent) * sizeof *ne);
        m->ent = ne;
        m->cap_ent = cap;
    }
    char *copy = iop_strdup(id);
    if (!copy) return -1;
    bool found;
    size_t at = map_find(m, sys, id, &found);
    if (found) { free(copy); return -1; }
    if (m->slot[at] == MAP_EMPTY) m->used_slot++;
    m->slot[at] = key + 1;
    m->ent[key] = (sbms_ent){.id = copy, .system = sys};
    if (key >= m->n_ent) m->n_ent = key + 1;
    m->live++;
    return 0;
}

static void map_del(sbms_map *m, uint64_t key) {
    if (key >= m->n_ent || !m->ent[key].id) return;
    bool found;
    size_t at = map_find(m, m->ent[key].system, m->ent[key].id, &found);
    if (found) m->slot[at] = MAP_TOMB;
    free(m->ent[key].id);
    memset(&m->ent[key], 0, sizeof m->ent[key]);
    m->live--;
}

static void map_free(sbms_map *m) {
    for (size_t i = 0; i < m->n_ent; i++) free(m->ent[i].id);
    free(m->ent);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------------------------
 * the service
 * ---------------------------------------------------------------------------------- */

struct sbms {
    char *db_path;
    store *db;                  /* the writer's handle */
    store *rd;                  /* read-only handle for 1:1 fingerprint comparisons in searches */
    pthread_mutex_t rd_mu;
    bool readonly;
    iop_fp_gallery *fp;
    sbms_face_gallery *face;    /* NULL until the dimension is known */
    uint32_t face_dim;          /* 0 = not fixed yet */
    uint32_t face_threads;
    sbms_fusion fus;
    pthread_rwlock_t map_lock;  /* guards map and next_key */
    sbms_map map;
    uint64_t next_key;
    size_t records[IOP_SYS_COUNT];
};

bool sbms_system_stored(iop_system sys) {
    return sys == IOP_SYS_SIS || sys == IOP_SYS_VIS || sys == IOP_SYS_EURODAC || sys == IOP_SYS_EES ||
           sys == IOP_SYS_ECRIS_TCN;
}

/* One record's templates, checked and normalised. */
typedef struct sbms_prep {
    uint8_t *iso;       /* ISO/IEC 19794-2:2005 record of all fingers; NULL = none */
    size_t iso_len;
    size_t n_fingers;
    float *face;        /* unit vector[dim]; NULL = none */
    uint32_t dim;
} sbms_prep;

static void prep_clear(sbms_prep *p) {
    free(p->iso);
    free(p->face);
    memset(p, 0, sizeof *p);
}

static bool has_biometrics(const rec_person *r) { return r->n_fingers > 0 || r->face != NULL; }

/* Parses and quality-checks one record's biometrics; *dim is the face dimension in
 * force (0 = not fixed: the first face fixes it).  With out NULL only checks. */
static iop_code prep_record(const rec_person *r, uint32_t *dim, sbms_prep *out, iop_err *err) {
    const char *rid = r->id ? r->id : "(no id)";
    iop_code rc = IOP_OK;
    iop_fp_template all = {.format = IOP_FP_ISO2005};
    if (r->n_fingers > IOP_FP_MAX_FINGERS)
        return iop_fail(err, IOP_ELIMIT, "record '%s': field 'biometrics.fingerprints': %zu templates, at most %d",
                        rid, r->n_fingers, IOP_FP_MAX_FINGERS);
    for (size_t i = 0; i < r->n_fingers; i++) {
        const rec_finger *f = &r->fingers[i];
        iop_fp_format fmt = IOP_FP_AUTO;
        iop_fp_template t;
        iop_err e;
        if (f->position < 0 || f->position > 10) {
            rc = iop_fail(err, IOP_EINVAL, "record '%s': field 'biometrics.fingerprints[%zu].position': %d, expected 0..10",
                          rid, i, f->position);
            goto out;
        }
        if (!f->tpl.data || !f->tpl.len) {
            rc = iop_fail(err, IOP_EFORMAT, "record '%s': field 'biometrics.fingerprints[%zu]': empty template", rid, i);
            goto out;
        }
        if (f->tpl.format && iop_fp_format_parse(f->tpl.format, &fmt, &e) != IOP_OK) {
            rc = iop_fail(err, IOP_EINVAL, "record '%s': field 'biometrics.fingerprints[%zu].format': %s", rid, i, e.msg);
            goto out;
        }
        if (iop_fp_parse(f->tpl.data, f->tpl.len, fmt, &t, &e) != IOP_OK) {
            rc = iop_fail(err, e.code, "record '%s': field 'biometrics.fingerprints[%zu]': %s", rid, i, e.msg);
            goto out;
        }
        if (!t.n_fingers) {
            iop_fp_template_free(&t);
            rc = iop_fail(err, IOP_EFORMAT, "record '%s': field 'biometrics.fingerprints[%zu]': no finger view", rid, i);
            goto out;
        }
        for (size_t v = 0; v < t.n_fingers; v++) {
            iop_fp_finger *fv = &t.fingers[v];
            if (f->position && fv->position && fv->position != f->position) {
                rc = iop_fail(err, IOP_EINVAL,
                              "record '%s': field 'biometrics.fingerprints[%zu]': the template says finger position %u, "
                              "the record %d", rid, i, fv->position, f->position);
            } else {
                if (!fv->position) fv->position = (uint8_t)f->position;
                if (iop_fp_quality_check(fv, NULL, &e) != IOP_OK)
                    rc = iop_fail(err, IOP_EINVAL,
                                  "record '%s': field 'biometrics.fingerprints[%zu]': below the minimum quality (Art 13(3), "
                                  "Art 37): %s", rid, i, e.msg);
                else if (all.n_fingers >= IOP_FP_MAX_FINGERS)
                    rc = iop_fail(err, IOP_ELIMIT, "record '%s': field 'biometrics.fingerprints[%zu]': more than %d finger "
                                  "views in the record", rid, i, IOP_FP_MAX_FINGERS);
            }
            if (rc) break;
            if (out) {
                iop_fp_finger *na = realloc(all.fingers, (all.n_fingers + 1) * sizeof *na);
                if (!na) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                all.fingers = na;
                all.fingers[all.n_fingers] = *fv;
            }
            all.n_fingers++;
        }
        iop_fp_template_free(&t);
        if (rc) goto out;
    }
    if (r->face) {
        const rec_blob *b = r->face;
        if (!b->format || strcmp(b->format, "f32") != 0) {
            rc = iop_fail(err, IOP_EINVAL, "record '%s': field 'biometrics.face.format': \"%s\", expected \"f32\"", rid,
                          b->format ? b->format : "");
            goto out;
        }
        if (b->len % 4 || b->len / 4 < SBMS_FACE_DIM_MIN || b->len / 4 > SBMS_FACE_DIM_MAX) {
            rc = iop_fail(err, IOP_EFORMAT, "record '%s': field 'biometrics.face': %zu bytes, expected 4 x %d..%d float32",
                          rid, b->len, SBMS_FACE_DIM_MIN, SBMS_FACE_DIM_MAX);
            goto out;
        }
        uint32_t d = (uint32_t)(b->len / 4);
        if (*dim && d != *dim) {
            rc = iop_fail(err, IOP_EINVAL, "record '%s': field 'biometrics.face': dimension %u, the face gallery holds "
                          "dimension %u", rid, d, *dim);
            goto out;
        }
        float *v = malloc(sizeof(float) * d);
        if (!v) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        iop_err e;
        if (sbms_face_from_blob(b, d, v, &e) != IOP_OK) {
            free(v);
            rc = iop_fail(err, e.code, "record '%s': field 'biometrics.face': %s", rid, e.msg);
            goto out;
        }
        *dim = d;
        if (out) { out->face = v; out->dim = d; }
        else free(v);
    }
    if (out && all.n_fingers) {
        iop_err e;
        if (iop_fp_write_iso(&all, &out->iso, &out->iso_len, &e) != IOP_OK) {
            rc = iop_fail(err, e.code, "record '%s': field 'biometrics.fingerprints': %s", rid, e.msg);
            goto out;
        }
        out->n_fingers = all.n_fingers;
    }
out:
    free(all.fingers);
    if (rc && out) prep_clear(out);
    return rc;
}

iop_code sbms_check(sbms *s, const rec_person *recs, size_t n, iop_err *err) {
    uint32_t dim = s ? s->face_dim : 0;
    for (size_t i = 0; i < n; i++) {
        if (!sbms_system_stored(recs[i].system)) continue;
        iop_code rc = prep_record(&recs[i], &dim, NULL, err);
        if (rc) return rc;
    }
    return IOP_OK;
}

/* ---- blob and document ---- */

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *blob_make(const sbms_prep *p, size_t *len) {
    size_t n = SBMS_BLOB_HEAD + p->iso_len + (p->face ? (size_t)p->dim * 4 : 0);
    uint8_t *b = malloc(n);
    if (!b) return NULL;
    memcpy(b, SBMS_BLOB_MAGIC, 4);
    put_u32(b + 4, p->face ? p->dim : 0);
    put_u32(b + 8, (uint32_t)p->iso_len);
    put_u32(b + 12, 0);
    if (p->iso_len) memcpy(b + SBMS_BLOB_HEAD, p->iso, p->iso_len);
    if (p->face) sbms_face_to_f32(p->face, p->dim, b + SBMS_BLOB_HEAD + p->iso_len);
    *len = n;
    return b;
}

/* Splits a stored blob; *face points into it (little-endian float32 bytes). */
static iop_code blob_split(const char *doc_id, const uint8_t *b, size_t len, const uint8_t **iso, size_t *iso_len,
                           const uint8_t **face, uint32_t *dim, iop_err *err) {
    if (len < SBMS_BLOB_HEAD || memcmp(b, SBMS_BLOB_MAGIC, 4) != 0)
        return iop_fail(err, IOP_ECORRUPT, "sbms.db: document '%s': not a template blob", doc_id);
    *dim = get_u32(b + 4);
    *iso_len = get_u32(b + 8);
    if ((uint64_t)SBMS_BLOB_HEAD + *iso_len + (uint64_t)*dim * 4 != len)
        return iop_fail(err, IOP_ECORRUPT, "sbms.db: document '%s': blob of %zu bytes, its header says %llu", doc_id, len,
                        (unsigned long long)(SBMS_BLOB_HEAD + *iso_len + (uint64_t)*dim * 4));
    *iso = *iso_len ? b + SBMS_BLOB_HEAD : NULL;
    *face = *dim ? b + SBMS_BLOB_HEAD + *iso_len : NULL;
    return IOP_OK;
}

static int doc_id(iop_buf *b, iop_system sys, const char *id) {
    iop_buf_reset(b);
    return iop_buf_printf(b, "%s:%s", iop_system_name(sys), id);
}

/* ---- galleries ---- */

static iop_code face_gallery_ensure(sbms *s, uint32_t dim, iop_err *err) {
    if (s->face) {
        if (dim != s->face_dim)
            return iop_fail(err, IOP_EINVAL, "face dimension %u, the face gallery holds dimension %u", dim, s->face_dim);
        return IOP_OK;
    }
    sbms_face_opts o = {.dim = dim, .threads = s->face_threads};
    sbms_face_gallery *fg = NULL;
    iop_code rc = sbms_face_gallery_new(&o, &fg, err);
    if (rc) return rc;
    pthread_rwlock_wrlock(&s->map_lock); /* searches read face / face_dim under the read lock */
    s->face = fg;
    s->face_dim = dim;
    pthread_rwlock_unlock(&s->map_lock);
    return IOP_OK;
}

/* Adds one record's stored templates to the galleries (enrolment and rebuild). */
static iop_code gallery_add(sbms *s, uint8_t sys, uint64_t key, const char *doc, const uint8_t *iso, size_t iso_len,
                            const float *face, uint32_t dim, size_t *n_fingers, iop_err *err) {
    *n_fingers = 0;
    if (iso) {
        iop_fp_template t;
        iop_code rc = iop_fp_parse(iso, iso_len, IOP_FP_ISO2005, &t, err);
        if (rc) { iop_err_prefix(err, "sbms.db: document '%s'", doc); return IOP_ECORRUPT; }
        rc = iop_fp_gallery_add(s->fp, (iop_fp_ref){sys, key}, &t, err);
        *n_fingers = t.n_fingers;
        iop_fp_template_free(&t);
        if (rc) { iop_err_prefix(err, "document '%s'", doc); return rc; }
    }
    if (face) {
        iop_code rc = face_gallery_ensure(s, dim, err);
        if (!rc) {
            sbms_face_ref ref = {sys, key};
            rc = sbms_face_gallery_add_batch(s->face, &ref, face, 1, NULL, err);
        }
        if (rc) { iop_err_prefix(err, "document '%s'", doc); return rc; }
    }
    return IOP_OK;
}

/* Wipes a record's templates from the galleries (the writer's thread: the map only
 * changes there, so reading it needs no lock; changing it takes the write lock). */
static void gallery_drop(sbms *s, uint64_t key) {
    sbms_ent *e = &s->map.ent[key];
    if (e->n_fingers) iop_fp_gallery_remove(s->fp, (iop_fp_ref){e->system, key}, NULL);
    if (e->face && s->face) sbms_face_gallery_remove(s->face, (sbms_face_ref){e->system, key}, NULL);
    pthread_rwlock_wrlock(&s->map_lock);
    if (e->n_fingers || e->face) s->records[e->system]--;
    e->n_fingers = 0;
    e->face = false;
    pthread_rwlock_unlock(&s->map_lock);
}

/* ---- rebuild at open ---- */

#define REBUILD_BATCH 4096

typedef struct rebuild_ctx {
    sbms *s;
    iop_err *err;
    iop_code rc;
    float *fvec;            /* REBUILD_BATCH face vectors */
    sbms_face_ref *frefs;
    size_t nf;
    iop_fp_template *ftpl;  /* REBUILD_BATCH fingerprint templates, added in bulk */
    iop_fp_ref *fprefs;
    iop_code *fprcs;
    size_t nfp;
} rebuild_ctx;

static iop_code rebuild_flush_fp(rebuild_ctx *c) {
    if (!c->nfp) return IOP_OK;
    /* the stored forms are computed on two threads, then inserted under one lock */
    iop_code rc = iop_fp_gallery_add_bulk(c->s->fp, c->nfp, c->fprefs, c->ftpl, 2, c->fprcs, NULL, c->err);
    for (size_t i = 0; !rc && i < c->nfp; i++)
        if (c->fprcs[i] != IOP_OK)
            rc = iop_fail(c->err, IOP_ECORRUPT, "sbms.db: record key %llu: its stored fingerprints are refused on rebuild",
                          (unsigned long long)c->fprefs[i].key);
    for (size_t i = 0; i < c->nfp; i++) iop_fp_template_free(&c->ftpl[i]);
    c->nfp = 0;
    return rc;
}

static iop_code rebuild_flush(rebuild_ctx *c) {
    iop_code rc = rebuild_flush_fp(c);
    if (rc || !c->nf) return rc;
    rc = sbms_face_gallery_add_batch(c->s->face, c->frefs, c->fvec, c->nf, NULL, c->err);
    c->nf = 0;
    return rc;
}

static int rebuild_doc(void *ctx, const store_doc *d) {
    rebuild_ctx *c = ctx;
    sbms *s = c->s;
    const char *colon = strchr(d->id, ':');
    char sysname[16];
    iop_system sys;
    unsigned long long key;
    unsigned nf, dim;
    if (!colon || (size_t)(colon - d->id) >= sizeof sysname) goto corrupt;
    memcpy(sysname, d->id, (size_t)(colon - d->id));
    sysname[colon - d->id] = 0;
    if (iop_system_parse(sysname, &sys, NULL) != IOP_OK || !sbms_system_stored(sys)) goto corrupt;
    if (!d->summary || sscanf(d->summary, "k=%llu f=%u d=%u", &key, &nf, &dim) != 3 || key >= (1ULL << 40)) goto corrupt;
    const uint8_t *iso, *face;
    size_t iso_len;
    uint32_t bdim;
    if ((c->rc = blob_split(d->id, d->blob, d->blob_len, &iso, &iso_len, &face, &bdim, c->err))) return 1;
    if (bdim != dim || (nf == 0) != (iso == NULL)) goto corrupt;
    if (map_put(&s->map, (uint8_t)sys, colon + 1, key)) {
        c->rc = iop_fail(c->err, IOP_ECORRUPT, "sbms.db: document '%s': key %llu or record stored twice", d->id, key);
        return 1;
    }
    if (key >= s->next_key) s->next_key = key + 1;
    size_t got = 0;
    if (iso) {
        iop_fp_template *t = &c->ftpl[c->nfp];
        if (iop_fp_parse(iso, iso_len, IOP_FP_ISO2005, t, c->err)) {
            iop_err_prefix(c->err, "sbms.db: document '%s'", d->id);
            c->rc = IOP_ECORRUPT;
            return 1;
        }
        got = t->n_fingers;
        c->fprefs[c->nfp++] = (iop_fp_ref){(uint8_t)sys, key};
        if (c->nfp == REBUILD_BATCH && (c->rc = rebuild_flush_fp(c))) return 1;
    }
    if (face) {
        if ((c->rc = face_gallery_ensure(s, bdim, c->err))) { iop_err_prefix(c->err, "sbms.db: document '%s'", d->id); return 1; }
        for (uint32_t i = 0; i < bdim; i++) {
            uint32_t u = get_u32(face + 4 * i);
            memcpy(&c->fvec[c->nf * bdim + i], &u, 4);
        }
        c->frefs[c->nf++] = (sbms_face_ref){(uint8_t)sys, key};
        if (c->nf == REBUILD_BATCH && (c->rc = rebuild_flush(c))) return 1;
    }
    s->map.ent[key].n_fingers = (uint8_t)got;
    s->map.ent[key].face = face != NULL;
    s->records[sys]++;
    return 0;
corrupt:
    c->rc = iop_fail(c->err, IOP_ECORRUPT, "sbms.db: document '%s': malformed template document", d->id);
    return 1;
}

/* ---- calibration ----
 * Shipped defaults: sbms_calib_synthetic(m, 512, 5000 pairs face / 2000 pairs finger)
 * on the synthetic generators' defaults (docs/sbms.md; `bench_sbms --calibrate`
 * prints them again). */
static const sbms_calib sbms_default_face_calib = {
    .a = 35.918788520640959, .b = -12.149178695025585, .lo = -0.34716790914535522, .hi = 0.86441254615783691,
    .llr_min = -8.5173931714189042, .llr_max = 8.5173931714189042, .n_genuine = 5000, .n_impostor = 5000};
static const sbms_calib sbms_default_finger_calib = {
    .a = 1059.9504795749622, .b = -10.745837462819491, .lo = 0, .hi = 0.12766705063570941,
    .llr_min = -7.5963923040641959, .llr_max = 7.5963923040641959, .n_genuine = 1990, .n_impostor = 1990};

static iop_code fit_face_calib(uint32_t dim, size_t npairs, sbms_calib *out, iop_err *err) {
    uint32_t gd = dim >= SBMS_FACE_DIM_MIN && dim <= SBMS_FACE_DIM_MAX && !(dim & (dim - 1)) ? dim : 512;
    sbms_face_gen_params p;
    sbms_face_gen_defaults(&p, gd);
    sbms_face_gen *gen = NULL;
    iop_code rc = sbms_face_gen_new(&p, SBMS_CALIB_SEED, &gen, err);
    if (rc) return rc;
    double *g = malloc(sizeof(double) * npairs), *im = malloc(sizeof(double) * npairs);
    float *a = malloc(sizeof(float) * gd), *b = malloc(sizeof(float) * gd);
    if (!g || !im || !a || !b) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < npairs; i++) {
        sbms_face_gen_capture(gen, i, 0, a);
        sbms_face_gen_capture(gen, i, 1, b);
        g[i] = sbms_face_score(a, b, gd);
        sbms_face_gen_capture(gen, i + npairs, 1, b);
        im[i] = sbms_face_score(a, b, gd);
    }
    if (!rc) rc = sbms_calib_fit(g, npairs, im, npairs, out, err);
    free(g); free(im); free(a); free(b);
    sbms_face_gen_free(gen);
    return rc;
}

/* Scores of one finger against another impression of the same finger (genuine) and of
 * another identity's finger at the same position (impostor), through the ISO round trip
 * that enrolment applies. */
static iop_code fit_finger_calib(size_t npairs, sbms_calib *out, iop_err *err) {
    double *g = malloc(sizeof(double) * npairs), *im = malloc(sizeof(double) * npairs);
    iop_fp_finger *f = malloc(3 * sizeof *f);
    iop_code rc = IOP_OK;
    if (!g || !im || !f) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t ng = 0, ni = 0;
    for (size_t i = 0; !rc && i < npairs; i++) {
        uint8_t pos = (uint8_t)(1 + i % 10);
        uint64_t id = 1000000 + i;
        iop_fp_gen_finger(SBMS_CALIB_SEED, id, 0, pos, NULL, &f[0]);
        iop_fp_gen_finger(SBMS_CALIB_SEED, id, 1, pos, NULL, &f[1]);
        iop_fp_gen_finger(SBMS_CALIB_SEED, id + npairs, 1, pos, NULL, &f[2]);
        if (iop_fp_quality_check(&f[0], NULL, NULL) != IOP_OK) continue; /* never enrolled */
        iop_fp_features *ft[3] = {0};
        for (int j = 0; j < 3 && !rc; j++) {
            uint8_t *iso = NULL;
            size_t len = 0;
            iop_fp_template t;
            rc = iop_fp_write_iso_finger(&f[j], &iso, &len, err);
            if (!rc) rc = iop_fp_parse(iso, len, IOP_FP_ISO2005, &t, err);
            free(iso);
            if (rc) break;
            rc = iop_fp_features_new(&t.fingers[0], &ft[j], err);
            iop_fp_template_free(&t);
        }
        if (!rc) {
            g[ng++] = iop_fp_score(ft[0], ft[1]);
            im[ni++] = iop_fp_score(ft[0], ft[2]);
        }
        for (int j = 0; j < 3; j++) iop_fp_features_free(ft[j]);
    }
    if (!rc) rc = sbms_calib_fit(g, ng, im, ni, out, err);
    free(g); free(im); free(f);
    return rc;
}

iop_code sbms_calib_synthetic(sbms_modality m, uint32_t face_dim, size_t n_pairs, sbms_calib *out, iop_err *err) {
    if (n_pairs < 10) return iop_fail(err, IOP_EINVAL, "calibration: %zu pairs, at least 10 needed", n_pairs);
    if (m == SBMS_MOD_FACE) return fit_face_calib(face_dim, n_pairs, out, err);
    if (m == SBMS_MOD_FINGER) return fit_finger_calib(n_pairs, out, err);
    return iop_fail(err, IOP_EINVAL, "calibration: unknown modality %d", (int)m);
}

static iop_code load_calib(sbms *s, sbms_modality m, const char *meta_key, const sbms_calib *given, iop_err *err) {
    sbms_calib c;
    iop_code rc;
    if (given) {
        c = *given;
        if (!s->readonly) {
            iop_buf b;
            iop_buf_init(&b);
            rc = sbms_calib_to_json(&c, &b);
            if (!rc) rc = store_meta_set(s->db, meta_key, b.data, err);
            iop_buf_free(&b);
            if (rc) return rc;
        }
        sbms_fusion_set(&s->fus, m, &c);
        return IOP_OK;
    }
    char *v = NULL;
    rc = store_meta_get(s->db, meta_key, &v, err);
    if (rc == IOP_OK) {
        rc = sbms_calib_from_json(v, &c, err);
        free(v);
        if (rc) { iop_err_prefix(err, "sbms.db: setting '%s'", meta_key); return IOP_ECORRUPT; }
        sbms_fusion_set(&s->fus, m, &c);
        return IOP_OK;
    }
    if (rc != IOP_ENOTFOUND) return rc;
    c = m == SBMS_MOD_FACE ? sbms_default_face_calib : sbms_default_finger_calib;
    sbms_fusion_set(&s->fus, m, &c);
    if (s->readonly) return IOP_OK;
    iop_buf b;
    iop_buf_init(&b);
    rc = sbms_calib_to_json(&c, &b);
    if (!rc) rc = store_meta_set(s->db, meta_key, b.data, err);
    iop_buf_free(&b);
    return rc;
}

/* ---- open / close ---- */

static const store_migration sbms_migrations[] = {
    {1, "CREATE TABLE IF NOT EXISTS sbms_format(version INTEGER NOT NULL); DELETE FROM sbms_format;"
        "INSERT INTO sbms_format(version) VALUES(1);"},
};

iop_code sbms_open(const char *dir, int flags, const sbms_config *cfg, sbms **out, iop_err *err) {
    *out = NULL;
    sbms_config dc = {0};
    if (!cfg) cfg = &dc;
    if (!dir || !*dir) return iop_fail(err, IOP_EINVAL, "sbms: no directory given");
    if (cfg->face_dim && (cfg->face_dim < SBMS_FACE_DIM_MIN || cfg->face_dim > SBMS_FACE_DIM_MAX))
        return iop_fail(err, IOP_EINVAL, "sbms: face dimension %u, expected %d..%d", cfg->face_dim, SBMS_FACE_DIM_MIN,
                        SBMS_FACE_DIM_MAX);
    iop_code rc;
    if ((flags & STORE_CREATE) && !(flags & STORE_READONLY) && (rc = iop_mkdirs(dir, err))) return rc;
    sbms *s = calloc(1, sizeof *s);
    if (!s) return iop_fail(err, IOP_ENOMEM, "out of memory");
    pthread_mutex_init(&s->rd_mu, NULL);
    pthread_rwlock_init(&s->map_lock, NULL);
    s->readonly = flags & STORE_READONLY;
    s->face_threads = cfg->face_threads;
    sbms_fusion_init(&s->fus);
    iop_buf p;
    iop_buf_init(&p);
    if (iop_buf_printf(&p, "%s/sbms.db", dir) < 0) { iop_buf_free(&p); sbms_close(s); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    s->db_path = iop_buf_steal(&p);
    rc = store_open(s->db_path, s->readonly ? STORE_READONLY : (flags & STORE_CREATE), err, &s->db);
    if (rc) goto fail;
    if (!s->readonly) {
        if ((rc = store_migrate(s->db, sbms_migrations, sizeof sbms_migrations / sizeof *sbms_migrations, err))) goto fail;
        /* Art 15: erased templates must not stay readable in free pages of the file */
        if ((rc = store_exec(s->db, "PRAGMA secure_delete=ON", err))) goto fail;
    }
    if ((rc = store_open(s->db_path, STORE_READONLY, err, &s->rd))) goto fail;

    /* face dimension: stored, else configured, else fixed by the first face */
    char *v = NULL;
    rc = store_meta_get(s->db, "face_dim", &v, err);
    if (rc == IOP_OK) {
        char *end;
        unsigned long d = strtoul(v, &end, 10);
        bool bad = *end || end == v;
        free(v);
        if (bad || d < SBMS_FACE_DIM_MIN || d > SBMS_FACE_DIM_MAX) {
            rc = iop_fail(err, IOP_ECORRUPT, "sbms.db: setting 'face_dim' is not a dimension");
            goto fail;
        }
        if (cfg->face_dim && cfg->face_dim != d) {
            rc = iop_fail(err, IOP_EINVAL, "sbms: face dimension %u configured, the store holds dimension %lu",
                          cfg->face_dim, d);
            goto fail;
        }
        s->face_dim = (uint32_t)d;
    } else if (rc == IOP_ENOTFOUND) {
        s->face_dim = cfg->face_dim;
    } else goto fail;
    if (s->face_dim && (rc = face_gallery_ensure(s, s->face_dim, err))) goto fail;

    if ((rc = load_calib(s, SBMS_MOD_FACE, "calibration.face", cfg->face_calib, err))) goto fail;
    if ((rc = load_calib(s, SBMS_MOD_FINGER, "calibration.finger", cfg->finger_calib, err))) goto fail;

    /* a probe's first stage on two threads: under a second per probe at a million fingers */
    iop_fp_gallery_opts fo = {.threads = cfg->fp_threads > 0 ? cfg->fp_threads : 2, .shortlist = cfg->fp_shortlist};
    if ((rc = iop_fp_gallery_new(&fo, &s->fp, err))) goto fail;

    rebuild_ctx c = {.s = s, .err = err};
    c.fvec = malloc(sizeof(float) * REBUILD_BATCH * SBMS_FACE_DIM_MAX);
    c.frefs = malloc(sizeof(sbms_face_ref) * REBUILD_BATCH);
    c.ftpl = calloc(REBUILD_BATCH, sizeof *c.ftpl);
    c.fprefs = malloc(sizeof *c.fprefs * REBUILD_BATCH);
    c.fprcs = malloc(sizeof *c.fprcs * REBUILD_BATCH);
    if (!c.fvec || !c.frefs || !c.ftpl || !c.fprefs || !c.fprcs) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    if (!rc) rc = store_begin(s->rd, err);
    if (!rc) {
        rc = store_scan(s->rd, true, rebuild_doc, &c, err);
        if (!rc) rc = c.rc;
        if (!rc) rc = rebuild_flush(&c);
        store_rollback(s->rd);
    }
    for (size_t i = 0; c.ftpl && i < c.nfp; i++) iop_fp_template_free(&c.ftpl[i]); /* after a failure */
    free(c.fvec);
    free(c.frefs);
    free(c.ftpl);
    free(c.fprefs);
    free(c.fprcs);
    if (rc) goto fail;
    *out = s;
    return IOP_OK;
fail:
    sbms_close(s);
    return rc;
}

void sbms_close(sbms *s) {
    if (!s) return;
    store_close(s->db);
    store_close(s->rd);
    iop_fp_gallery_free(s->fp);
    sbms_face_gallery_free(s->face);
    map_free(&s->map);
    pthread_mutex_destroy(&s->rd_mu);
    pthread_rwlock_destroy(&s->map_lock);
    free(s->db_path);
    free(s);
}

/* ---- enrol / remove ---- */

iop_code sbms_enrol(sbms *s, const rec_person *recs, size_t n, iop_err *err) {
    if (s->readonly) return iop_fail(err, IOP_EDENIED, "sbms: opened read-only");
    if (!n) return IOP_OK;
    sbms_prep *prep = calloc(n, sizeof *prep);
    uint64_t *keys = malloc(n * sizeof *keys);
    bool *fresh = calloc(n, sizeof *fresh);
    iop_buf id, body;
    iop_buf_init(&id);
    iop_buf_init(&body);
    iop_code rc = IOP_OK;
    if (!prep || !keys || !fresh) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
    uint32_t dim = s->face_dim;
    for (size_t i = 0; i < n && !rc; i++) {
        keys[i] = SBMS_NO_KEY;
        if (!sbms_system_stored(recs[i].system)) continue;
        if (!recs[i].id || !*recs[i].id) { rc = iop_fail(err, IOP_EINVAL, "record %zu of the batch has no id", i); break; }
        if (strlen(recs[i].id) >= sizeof ((sbms_hit *)0)->record_id) {
            rc = iop_fail(err, IOP_ELIMIT, "record '%.40s...': id longer than %zu bytes", recs[i].id,
                          sizeof ((sbms_hit *)0)->record_id - 1);
            break;
        }
        rc = prep_record(&recs[i], &dim, &prep[i], err);
    }
    if (rc) goto out;

    /* keys: a record keeps its key; a new one takes the next (entries added now are
     * invisible to searches until the galleries hold their templates) */
    pthread_rwlock_wrlock(&s->map_lock);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!sbms_system_stored(recs[i].system)) continue;
        uint64_t k = map_get(&s->map, (uint8_t)recs[i].system, recs[i].id);
        if (k == SBMS_NO_KEY && has_biometrics(&recs[i])) {
            k = s->next_key;
            if (map_put(&s->map, (uint8_t)recs[i].system, recs[i].id, k)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
            else { s->next_key++; fresh[i] = true; }
        }
        keys[i] = k;
    }
    pthread_rwlock_unlock(&s->map_lock);

    /* durable first: one transaction */
    if (!rc) rc = store_begin(s->db, err);
    if (!rc) {
        for (size_t i = 0; i < n && !rc; i++) {
            if (!sbms_system_stored(recs[i].system)) continue;
            if (doc_id(&id, recs[i].system, recs[i].id) < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
            if (!has_biometrics(&recs[i])) {
                if (keys[i] == SBMS_NO_KEY) continue;
                rc = store_delete(s->db, id.data, err);
                if (rc == IOP_ENOTFOUND) rc = IOP_OK;
                continue;
            }
            char summary[96];
            snprintf(summary, sizeof summary, "k=%llu f=%zu d=%u", (unsigned long long)keys[i], prep[i].n_fingers,
                     prep[i].face ? prep[i].dim : 0);
            iop_buf_reset(&body);
            int w = iop_buf_printf(&body, "{\"system\":\"%s\",\"record\":", iop_system_name(recs[i].system));
            w |= iop_buf_json_str(&body, recs[i].id);
            w |= iop_buf_printf(&body, ",\"key\":%llu,\"fingers\":%zu,\"fingerprint_format\":\"iso19794-2-2005\","
                                "\"face_dim\":%u}", (unsigned long long)keys[i], prep[i].n_fingers,
                                prep[i].face ? prep[i].dim : 0);
            size_t blen = 0;
            uint8_t *blob = blob_make(&prep[i], &blen);
            if (w < 0 || !blob) { free(blob); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
            int64_t now = iop_now_ms();
            store_doc d = {.id = id.data, .kind = "template", .body = body.data, .summary = summary, .blob = blob,
                           .blob_len = blen, .created_ms = now, .updated_ms = now};
            rc = store_put(s->db, &d, NULL, 0, err);
            free(blob);
            if (rc) iop_err_prefix(err, "record '%s'", recs[i].id);
        }
        if (!rc && dim && !s->face_dim) {
            char dv[16];
            snprintf(dv, sizeof dv, "%u", dim);
            rc = store_meta_set(s->db, "face_dim", dv, err);
        }
        if (!rc) rc = store_commit(s->db, err);
        if (rc) store_rollback(s->db);
    }
    if (rc) {
        pthread_rwlock_wrlock(&s->map_lock);
        for (size_t i = 0; i < n; i++)
            if (fresh[i]) map_del(&s->map, keys[i]);
        pthread_rwlock_unlock(&s->map_lock);
        goto out;
    }

    /* then the galleries */
    for (size_t i = 0; i < n; i++) {
        if (keys[i] == SBMS_NO_KEY) continue;
        uint8_t sys = (uint8_t)recs[i].system;
        gallery_drop(s, keys[i]);
        if (!has_biometrics(&recs[i])) {
            pthread_rwlock_wrlock(&s->map_lock);
            map_del(&s->map, keys[i]);
            pthread_rwlock_unlock(&s->map_lock);
            continue;
        }
        if (doc_id(&id, recs[i].system, recs[i].id) < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        size_t got = 0;
        iop_code grc = gallery_add(s, sys, keys[i], id.data, prep[i].iso, prep[i].iso_len, prep[i].face, prep[i].dim,
                                   &got, err);
        if (grc) { rc = grc; break; } /* stored durably; the next open rebuilds it */
        pthread_rwlock_wrlock(&s->map_lock);
        s->map.ent[keys[i]].n_fingers = (uint8_t)got;
        s->map.ent[keys[i]].face = prep[i].face != NULL;
        s->records[sys]++;
        pthread_rwlock_unlock(&s->map_lock);
    }
out:
    if (prep)
        for (size_t i = 0; i < n; i++) prep_clear(&prep[i]);
    free(prep);
    free(keys);
    free(fresh);
    iop_buf_free(&id);
    iop_buf_free(&body);
    return rc;
}

iop_code sbms_remove(sbms *s, iop_system sys, const char *record_id, iop_err *err) {
    if (s->readonly) return iop_fail(err, IOP_EDENIED, "sbms: opened read-only");
    if (!record_id) return iop_fail(err, IOP_EINVAL, "sbms_remove: no record id");
    if ((unsigned)sys >= IOP_SYS_COUNT) return iop_fail(err, IOP_EINVAL, "sbms_remove: unknown system %d", (int)sys);
    if (!sbms_system_stored(sys)) return IOP_OK;
    iop_buf id;
    iop_buf_init(&id);
    if (doc_id(&id, sys, record_id) < 0) return iop_fail(err, IOP_ENOMEM, "out of memory");
    iop_code rc = store_delete(s->db, id.data, err);
    iop_buf_free(&id);
    if (rc == IOP_ENOTFOUND) rc = IOP_OK;
    if (rc) return rc;
    pthread_rwlock_rdlock(&s->map_lock);
    uint64_t k = map_get(&s->map, (uint8_t)sys, record_id);
    pthread_rwlock_unlock(&s->map_lock);
    if (k == SBMS_NO_KEY) return IOP_OK;
    gallery_drop(s, k);
    pthread_rwlock_wrlock(&s->map_lock);
    map_del(&s->map, k);
    pthread_rwlock_unlock(&s->map_lock);
    return IOP_OK;
}

/* ---- search ---- */

typedef struct sbms_cand {
    uint64_t key;
    uint8_t system;
    double fp, face;        /* NaN: not compared */
    double fp_llr;
    int fingers_pos;
    double llr;
    char id[132];
} sbms_cand;

static sbms_cand *cand_at(sbms_cand *c, size_t *n, uint8_t sys, uint64_t key) {
    for (size_t i = 0; i < *n; i++)
        if (c[i].key == key) return &c[i];
    c[*n] = (sbms_cand){.key = key, .system = sys, .fp = NAN, .face = NAN};
    return &c[(*n)++];
}

/* Fingerprint LLR from per-finger evidence: the sum of the calibrated finger LLRs. */
static void finger_llr(const sbms *s, const iop_fp_evidence *ev, size_t n_ev, sbms_cand *c) {
    c->fp_llr = 0;
    c->fingers_pos = 0;
    for (size_t i = 0; i < n_ev; i++) {
        double l = sbms_calib_llr(&s->fus.cal[SBMS_MOD_FINGER], ev[i].score);
        c->fp_llr += l;
        if (l > 0) c->fingers_pos++;
    }
}

/* 1:1 fingerprint comparison of the probe with a stored record, read from the store. */
typedef struct fp_read { const uint8_t *iso; size_t iso_len; uint8_t *copy; iop_code rc; iop_err *err; } fp_read;

static int fp_read_doc(void *ctx, const store_doc *d) {
    fp_read *r = ctx;
    const uint8_t *iso, *face;
    size_t iso_len;
    uint32_t dim;
    r->rc = blob_split(d->id, d->blob, d->blob_len, &iso, &iso_len, &face, &dim, r->err);
    if (!r->rc && iso) {
        r->copy = malloc(iso_len);
        if (!r->copy) r->rc = iop_fail(r->err, IOP_ENOMEM, "out of memory");
        else { memcpy(r->copy, iso, iso_len); r->iso_len = iso_len; }
    }
    return 1;
}

static iop_code fp_verify(sbms *s, const iop_fp_record_features *pf, sbms_cand *c, iop_err *err) {
    iop_buf id;
    iop_buf_init(&id);
    if (doc_id(&id, (iop_system)c->system, c->id) < 0) return iop_fail(err, IOP_ENOMEM, "out of memory");
    fp_read r = {.err = err};
    pthread_mutex_lock(&s->rd_mu);
    iop_code rc = store_get(s->rd, id.data, true, fp_read_doc, &r, err);
    pthread_mutex_unlock(&s->rd_mu);
    iop_buf_free(&id);
    if (rc == IOP_ENOTFOUND) return IOP_OK; /* removed meanwhile */
    if (!rc) rc = r.rc;
    if (rc || !r.copy) { free(r.copy); return rc; }
    iop_fp_template t;
    rc = iop_fp_parse(r.copy, r.iso_len, IOP_FP_ISO2005, &t, err);
    free(r.copy);
    if (rc) return rc;
    iop_fp_record_features rf;
    rc = iop_fp_record_features_build(&t, &rf, err);
    iop_fp_template_free(&t);
    if (rc) return rc;
    iop_fp_evidence ev[IOP_FP_MAX_FINGERS];
    size_t n_ev = 0;
    c->fp = iop_fp_record_score(pf, &rf, ev, &n_ev);
    finger_llr(s, ev, n_ev, c);
    iop_fp_record_features_free(&rf);
    return IOP_OK;
}

static int cand_cmp(const void *a, const void *b) {
    const sbms_cand *x = a, *y = b;
    if (x->llr != y->llr) return x->llr > y->llr ? -1 : 1;
    if (x->system != y->system) return x->system < y->system ? -1 : 1;
    return strcmp(x->id, y->id);
}

iop_code sbms_search(sbms *s, const sbms_probe *probe, const iop_system *systems, size_t n_systems, size_t k,
                     double min_score, sbms_hit *out, size_t *n_out, iop_err *err) {
    *n_out = 0;
    if (!probe || (!probe->n_fingers && !probe->face))
        return iop_fail(err, IOP_EINVAL, "sbms search: the probe holds no fingerprint and no face");
    if (probe->n_fingers > IOP_FP_MAX_FINGERS)
        return iop_fail(err, IOP_ELIMIT, "sbms search: %zu probe fingerprints, at most %d", probe->n_fingers,
                        IOP_FP_MAX_FINGERS);
    uint64_t mask = 0;
    for (size_t i = 0; i < n_systems; i++) {
        if ((unsigned)systems[i] >= IOP_SYS_COUNT)
            return iop_fail(err, IOP_EINVAL, "sbms search: systems[%zu]: unknown system %d", i, (int)systems[i]);
        if (sbms_system_stored(systems[i])) mask |= 1ULL << systems[i];
    }
    pthread_rwlock_rdlock(&s->map_lock);
    sbms_face_gallery *face = s->face;
    uint32_t face_dim = s->face_dim;
    pthread_rwlock_unlock(&s->map_lock);
    iop_code rc = IOP_OK;
    iop_fp_template pt = {.format = IOP_FP_ISO2005};
    iop_fp_record_features pf;
    bool have_pf = false;
    float *pv = NULL;
    sbms_cand *cand = NULL;
    iop_fp_candidate *fc = NULL;
    sbms_face_hit *fh = NULL;
    /* the probe: parsed and checked before anything is searched */
    for (size_t i = 0; i < probe->n_fingers; i++) {
        const rec_finger *f = &probe->fingers[i];
        iop_fp_format fmt = IOP_FP_AUTO;
        iop_fp_template t;
        iop_err e;
        if (f->tpl.format && iop_fp_format_parse(f->tpl.format, &fmt, &e) != IOP_OK) {
            rc = iop_fail(err, IOP_EINVAL, "probe: field 'fingerprints[%zu].format': %s", i, e.msg);
            goto out;
        }
        if (!f->tpl.data || iop_fp_parse(f->tpl.data, f->tpl.len, fmt, &t, &e) != IOP_OK) {
            rc = iop_fail(err, f->tpl.data ? e.code : IOP_EFORMAT, "probe: field 'fingerprints[%zu]': %s", i,
                          f->tpl.data ? e.msg : "empty template");
            goto out;
        }
        for (size_t v = 0; v < t.n_fingers && pt.n_fingers < IOP_FP_MAX_FINGERS; v++) {
            iop_fp_finger *na = realloc(pt.fingers, (pt.n_fingers + 1) * sizeof *na);
            if (!na) { iop_fp_template_free(&t); rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
            pt.fingers = na;
            pt.fingers[pt.n_fingers] = t.fingers[v];
            if (!pt.fingers[pt.n_fingers].position && f->position > 0 && f->position <= 10)
                pt.fingers[pt.n_fingers].position = (uint8_t)f->position;
            pt.n_fingers++;
        }
        iop_fp_template_free(&t);
    }
    if (probe->face) {
        uint32_t d = face_dim ? face_dim : (uint32_t)(probe->face->len / 4);
        if (!face_dim && (d < SBMS_FACE_DIM_MIN || d > SBMS_FACE_DIM_MAX)) d = SBMS_FACE_DIM_MIN;
        pv = malloc(sizeof(float) * d);
        iop_err e;
        if (!pv) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        if (probe->face->len != (size_t)d * 4) {
            rc = iop_fail(err, IOP_EINVAL, "probe: field 'face': dimension %zu, the face gallery holds dimension %u",
                          probe->face->len / 4, d);
            goto out;
        }
        if (sbms_face_from_blob(probe->face, d, pv, &e) != IOP_OK) {
            rc = iop_fail(err, e.code, "probe: field 'face': %s", e.msg);
            goto out;
        }
    }
    if (!k || !mask) goto out;

    size_t depth = k < SBMS_DEPTH_MIN ? SBMS_DEPTH_MIN : k > SBMS_DEPTH_MAX ? SBMS_DEPTH_MAX : k;
    cand = malloc(2 * depth * sizeof *cand);
    if (!cand) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
    size_t nc = 0, nf = 0, nh = 0;
    if (pt.n_fingers) {
        if ((rc = iop_fp_record_features_build(&pt, &pf, err))) goto out;
        have_pf = true;
        if (iop_fp_gallery_records(s->fp)) {
            fc = malloc(depth * sizeof *fc);
            if (!fc) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
            if ((rc = iop_fp_gallery_search(s->fp, &pt, depth, mask, fc, &nf, err))) goto out;
        }
    }
    if (pv && face && sbms_face_gallery_count(face)) {
        fh = malloc(depth * sizeof *fh);
        if (!fh) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto out; }
        sbms_face_query q = {.systems = mask, .k = depth, .min_score = -1, .nprobe = 0};
        if ((rc = sbms_face_gallery_search(face, pv, &q, fh, &nh, err))) goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        sbms_cand *c = cand_at(cand, &nc, fc[i].ref.system, fc[i].ref.key);
        c->fp = fc[i].score;
        finger_llr(s, fc[i].ev, fc[i].n_ev, c);
    }
    for (size_t i = 0; i < nh; i++) cand_at(cand, &nc, fh[i].ref.system, fh[i].ref.key)->face = fh[i].score;

    /* names and what each record holds; drop keys removed meanwhile */
    size_t kept = 0;
    pthread_rwlock_rdlock(&s->map_lock);
    bool need_fp[2 * SBMS_DEPTH_MAX];
    for (size_t i = 0; i < nc; i++) {
        sbms_cand *c = &cand[i];
        if (c->key >= s->map.n_ent || !s->map.ent[c->key].id) continue;
        const sbms_ent *e = &s->map.ent[c->key];
        snprintf(c->id, sizeof c->id, "%s", e->id);
        need_fp[kept] = have_pf && isnan(c->fp) && e->n_fingers;
        bool need_face = pv && face && isnan(c->face) && e->face;
        cand[kept++] = *c;
        if (need_face) {
            float sc;
            if (sbms_face_gallery_verify(face, (sbms_face_ref){c->system, c->key}, pv, &sc, NULL) == IOP_OK)
                cand[kept - 1].face = sc;
        }
    }
    pthread_rwlock_unlock(&s->map_lock);
    nc = kept;
    for (size_t i = 0; i < nc; i++) {
        if (need_fp[i] && (rc = fp_verify(s, &pf, &cand[i], err))) goto out;
        double fl = isnan(cand[i].fp) ? 0 : cand[i].fp_llr;
        double al = isnan(cand[i].face) ? 0 : sbms_calib_llr(&s->fus.cal[SBMS_MOD_FACE], cand[i].face);
        cand[i].llr = fl + al;
    }
    qsort(cand, nc, sizeof *cand, cand_cmp);
    size_t n = 0;
    for (size_t i = 0; i < nc && n < k; i++) {
        double score = sbms_llr_posterior(cand[i].llr, 0.5);
        if (score < min_score) continue;
        sbms_hit *h = &out[n++];
        memset(h, 0, sizeof *h);
        h->system = (iop_system)cand[i].system;
        snprintf(h->record_id, sizeof h->record_id, "%s", cand[i].id);
        h->score = score;
        h->llr = cand[i].llr;
        h->fp_score = isnan(cand[i].fp) ? -1 : cand[i].fp;
        h->face_score = isnan(cand[i].face) ? -1 : cand[i].face;
        h->fingers_matched = isnan(cand[i].fp) ? 0 : cand[i].fingers_pos;
    }
    *n_out = n;
out:
    if (have_pf) iop_fp_record_features_free(&pf);
    free(pt.fingers);
    free(pv);
    free(cand);
    free(fc);
    free(fh);
    return rc;
}

void sbms_get_stats(sbms *s, sbms_stats *out) {
    memset(out, 0, sizeof *out);
    out->fingers = iop_fp_gallery_fingers(s->fp);
    out->faces = s->face ? sbms_face_gallery_count(s->face) : 0;
    pthread_rwlock_rdlock(&s->map_lock);
    for (int i = 0; i < IOP_SYS_COUNT; i++) out->records[i] = s->records[i];
    size_t map_bytes = s->map.cap_ent * sizeof(sbms_ent) + s->map.cap_slot * sizeof(uint64_t);
    for (size_t i = 0; i < s->map.n_ent; i++)
        if (s->map.ent[i].id) map_bytes += strlen(s->map.ent[i].id) + 1;
    pthread_rwlock_unlock(&s->map_lock);
    out->memory_bytes = iop_fp_gallery_bytes(s->fp) * out->fingers + (s->face ? sbms_face_gallery_bytes(s->face) : 0) + map_bytes;
}
