/*
 * sbms_face.h -- the facial-image part of the shared biometric matching service
 * (sBMS, Reg. (EU) 2019/817 Art 12-13, 2019/818 Art 12-13).
 *
 * The sBMS does not see facial images: each connected system (EES, VIS, SIS,
 * ECRIS-TCN) sends a biometric template, the feature vector its recognition model
 * produced from the image.  This module matches such templates:
 *
 *   templates   float32 vectors of a dimension fixed per gallery (128..1024), taken
 *               from the interchange format (rec_blob, format "f32": little-endian
 *               float32), checked (finite, non-zero) and normalised to unit length.
 *               The score of two templates is their cosine similarity in [-1, 1].
 *   gallery     the stored templates, quantised to int8 with one float scale per
 *               template (dim + 4 bytes each), kept in one partition per source
 *               system with the back-reference (system id, record key) of each
 *               template (Art 13(1): the templates are logically separated by the
 *               system they come from and each carries a reference to its record).
 *               Removing a template moves the last template of its list into the
 *               hole and wipes the vacated bytes: no removed template stays readable
 *               (retention, Art 13(3)-(4) with the systems' own retention rules).
 *   search      exact 1:N top-k scan over the chosen systems' partitions (AVX-512 VNNI
 *               or AVX2 kernel when the CPU has it, scalar otherwise, chosen at run time; the scan is
 *               split over the gallery's worker threads), or approximate through an
 *               inverted-file index (k-means lists, nprobe lists scanned).
 *   generator   deterministic synthetic templates per (seed, person, capture) whose
 *               genuine / impostor score distributions follow published behaviour of
 *               modern face recognition; see docs/faces.md for the model.
 *
 * Thread safety: any number of concurrent searches, and one writer (add, remove,
 * build_index) at a time; the gallery's read-write lock orders them.
 * Ownership: *_new allocates, *_free releases.  Arrays passed in are read, not kept.
 */
#ifndef INTEROP_SBMS_FACE_H
#define INTEROP_SBMS_FACE_H

#include "interop/base.h"
#include "interop/record.h"

#define SBMS_FACE_DIM_MIN 128
#define SBMS_FACE_DIM_MAX 1024
#define SBMS_FACE_SYSTEMS 64           /* system ids 0..63 (iop_system values) */
#define SBMS_FACE_ALL_SYSTEMS UINT64_MAX

/* ---- templates ---- */

/* Reads a template in the interchange format ("f32": dim little-endian float32),
 * checks it and writes the unit-length vector to out[dim].  Errors (IOP_EFORMAT)
 * name the byte offset of a non-finite value, a wrong length or a zero vector. */
iop_code sbms_face_parse(const char *format, const uint8_t *data, size_t len, uint32_t dim,
                         float *out, iop_err *err);
iop_code sbms_face_from_blob(const rec_blob *blob, uint32_t dim, float *out, iop_err *err);
/* Writes vec[dim] as "f32" bytes (4*dim) into out. */
void sbms_face_to_f32(const float *vec, uint32_t dim, uint8_t *out);
/* Normalises vec in place; IOP_EFORMAT if it is zero or not finite. */
iop_code sbms_face_normalise(float *vec, uint32_t dim, iop_err *err);
/* 1:1 score of two unit vectors: cosine similarity in [-1, 1]. */
float sbms_face_score(const float *a, const float *b, uint32_t dim);

/* ---- gallery ---- */

typedef struct sbms_face_ref {
    uint8_t system;   /* source system (iop_system), < SBMS_FACE_SYSTEMS */
    uint64_t key;     /* the record's key in that system */
} sbms_face_ref;

typedef struct sbms_face_hit {
    sbms_face_ref ref;
    float score;      /* cosine similarity, from the quantised templates */
} sbms_face_hit;

typedef enum sbms_face_kernel {
    SBMS_FACE_KERNEL_AUTO = 0,  /* the best the CPU has: AVX-512 VNNI, AVX2, scalar */
    SBMS_FACE_KERNEL_SCALAR,
    SBMS_FACE_KERNEL_AVX2,      /* refused (IOP_EINVAL) on a CPU without AVX2 */
    SBMS_FACE_KERNEL_AVX512VNNI /* refused on a CPU without AVX-512 BW + VNNI */
} sbms_face_kernel;

typedef struct sbms_face_opts {
    uint32_t dim;               /* 128..1024 */
    uint32_t threads;           /* scan threads per search; 0 = online CPUs (max 64) */
    sbms_face_kernel kernel;
} sbms_face_opts;

typedef struct sbms_face_gallery sbms_face_gallery;

iop_code sbms_face_gallery_new(const sbms_face_opts *opts, sbms_face_gallery **out, iop_err *err);
void sbms_face_gallery_free(sbms_face_gallery *g);
uint32_t sbms_face_gallery_dim(const sbms_face_gallery *g);
const char *sbms_face_gallery_kernel_name(const sbms_face_gallery *g); /* "avx512vnni", "avx2", "scalar" */
/* Number of templates, over all systems or in one system. */
size_t sbms_face_gallery_count(sbms_face_gallery *g);
size_t sbms_face_gallery_count_system(sbms_face_gallery *g, uint8_t system);
/* Heap bytes held by the gallery (codes, scales, references, map, index). */
size_t sbms_face_gallery_bytes(sbms_face_gallery *g);
/* Pre-sizes the storage of one system for n templates (avoids regrowth). */
iop_code sbms_face_gallery_reserve(sbms_face_gallery *g, uint8_t system, size_t n, iop_err *err);

/* Adds the unit vector vec[dim] under ref; IOP_EEXIST if ref is already stored. */
iop_code sbms_face_gallery_add(sbms_face_gallery *g, sbms_face_ref ref, const float *vec, iop_err *err);
/* Bulk enrolment: adds vecs[i*dim ..] under refs[i] for i < n, normalising and
 * quantising on all the gallery's threads.  Stops at the first failure (a bad vector
 * or a reference already stored); *added (may be NULL) says how many, from the
 * start, were added. */
iop_code sbms_face_gallery_add_batch(sbms_face_gallery *g, const sbms_face_ref *refs, const float *vecs,
                                     size_t n, size_t *added, iop_err *err);
/* Parses a blob and adds it (sbms_face_from_blob + add). */
iop_code sbms_face_gallery_add_blob(sbms_face_gallery *g, sbms_face_ref ref, const rec_blob *blob,
                                    iop_err *err);
/* Removes the template of ref and wipes its bytes; IOP_ENOTFOUND if absent. */
iop_code sbms_face_gallery_remove(sbms_face_gallery *g, sbms_face_ref ref, iop_err *err);
bool sbms_face_gallery_contains(sbms_face_gallery *g, sbms_face_ref ref);
/* 1:1 against a stored template: score of probe (unit vector) and the template of ref. */
iop_code sbms_face_gallery_verify(sbms_face_gallery *g, sbms_face_ref ref, const float *probe,
                                  float *score, iop_err *err);
/* The stored (dequantised, unit-length) template of ref into out[dim]. */
iop_code sbms_face_gallery_get(sbms_face_gallery *g, sbms_face_ref ref, float *out, iop_err *err);

typedef struct sbms_face_query {
    uint64_t systems;     /* bit (1 << system) for each system the caller may search */
    size_t k;             /* candidates wanted (1..10000) */
    float min_score;      /* drop hits below; use -1 to keep all */
    uint32_t nprobe;      /* 0: exact scan; > 0: scan the nprobe nearest index lists
                             (exact scan when no index is built) */
} sbms_face_query;

/* Top-k search of probe (unit vector): hits[0..*n_hits) sorted by score descending,
 * ties by (system, key) ascending.  hits must hold q->k entries. */
iop_code sbms_face_gallery_search(sbms_face_gallery *g, const float *probe, const sbms_face_query *q,
                                  sbms_face_hit *hits, size_t *n_hits, iop_err *err);

/* Builds (or rebuilds) the inverted-file index: nlist spherical k-means centroids
 * trained on a sample of the gallery (iters Lloyd iterations, deterministic from
 * seed), then every template is moved into the list of its nearest centroid.
 * Templates added later go to their nearest list.  nlist 1..65536, at most the
 * number of templates. */
iop_code sbms_face_gallery_build_index(sbms_face_gallery *g, uint32_t nlist, uint32_t iters,
                                       uint64_t seed, iop_err *err);
uint32_t sbms_face_gallery_nlist(sbms_face_gallery *g); /* 0 without an index */

/* ---- synthetic templates (for `interop gen` and evaluation) ---- */

typedef struct sbms_face_gen_params {
    uint32_t dim;            /* 128..1024, a power of two (the rotation is a Hadamard) */
    uint32_t groups;         /* demographic clusters (>= 1) */
    double group_weight;     /* share of a group's direction in an identity (0..0.5) */
    double spectrum_decay;   /* identity variance of latent axis i ~ (i+1)^-decay */
    double noise_median;     /* median capture-noise energy relative to the identity */
    double noise_spread;     /* sd of log(noise energy) */
    double poor_rate;        /* share of poor captures (blur, pose, ageing) */
    double poor_factor;      /* their noise energy multiplier */
} sbms_face_gen_params;

/* The published-behaviour defaults documented in docs/faces.md, for dim. */
void sbms_face_gen_defaults(sbms_face_gen_params *p, uint32_t dim);

typedef struct sbms_face_gen sbms_face_gen;
iop_code sbms_face_gen_new(const sbms_face_gen_params *p, uint64_t seed, sbms_face_gen **out, iop_err *err);
void sbms_face_gen_free(sbms_face_gen *gen);
/* The unit template of capture `capture` of person `person`: a pure function of
 * (params, seed, person, capture).  Thread-safe on a shared gen. */
void sbms_face_gen_capture(const sbms_face_gen *gen, uint64_t person, uint32_t capture, float *out);
/* The demographic group a person belongs to (0..groups-1). */
uint32_t sbms_face_gen_group(const sbms_face_gen *gen, uint64_t person);

#endif
