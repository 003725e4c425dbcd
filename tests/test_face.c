/* test-links: sbms_face */
/*
 * test_face.c -- the face part of the shared biometric matching service
 * (Reg. 2019/817 Art 13): templates, storage per source system, 1:N search,
 * removal, the inverted-file index and the generator.
 */
#include <math.h>
#include <pthread.h>
#include "interop/sbms_face.h"
#include "sbms/face/face_internal.h"
#include "test.h"

#define DIM 256

static sbms_face_gen *test_gen(uint32_t dim, uint64_t seed) {
    sbms_face_gen_params p;
    sbms_face_gen_defaults(&p, dim);
    sbms_face_gen *g = NULL;
    if (sbms_face_gen_new(&p, seed, &g, NULL) != IOP_OK) return NULL;
    return g;
}

static sbms_face_gallery *test_gallery(uint32_t dim, sbms_face_kernel k, uint32_t threads) {
    sbms_face_opts o = {.dim = dim, .threads = threads, .kernel = k};
    sbms_face_gallery *g = NULL;
    if (sbms_face_gallery_new(&o, &g, NULL) != IOP_OK) return NULL;
    return g;
}

TEST(template_f32_is_parsed_and_normalised) {
    float v[DIM], out[DIM];
    for (int i = 0; i < DIM; i++) v[i] = (float)(i % 7) - 3.0f;
    uint8_t bytes[DIM * 4];
    sbms_face_to_f32(v, DIM, bytes);
    REQUIRE(sbms_face_parse("f32", bytes, sizeof bytes, DIM, out, NULL) == IOP_OK);
    double n = 0;
    for (int i = 0; i < DIM; i++) n += (double)out[i] * out[i];
    CHECK_NEAR(n, 1.0, 1e-5);
    CHECK(out[0] < 0 && out[3] == 0.0f);
    CHECK_NEAR(sbms_face_score(out, out, DIM), 1.0, 1e-5);
}

TEST(template_errors_name_the_byte_offset_length_and_format) {
    float v[DIM], out[DIM];
    for (int i = 0; i < DIM; i++) v[i] = 1.0f;
    v[10] = NAN;
    uint8_t bytes[DIM * 4];
    sbms_face_to_f32(v, DIM, bytes);
    iop_err e;
    CHECK(sbms_face_parse("f32", bytes, sizeof bytes, DIM, out, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "byte offset 40") != NULL);
    CHECK(sbms_face_parse("f32", bytes, sizeof bytes - 4, DIM, out, &e) == IOP_EFORMAT);
    CHECK(strstr(e.msg, "1020 bytes, expected 1024") != NULL);
    CHECK(sbms_face_parse("png", bytes, sizeof bytes, DIM, out, &e) == IOP_EFORMAT);
    memset(v, 0, sizeof v);
    sbms_face_to_f32(v, DIM, bytes);
    CHECK(sbms_face_parse("f32", bytes, sizeof bytes, DIM, out, &e) == IOP_EFORMAT);
    CHECK(sbms_face_parse("f32", bytes, sizeof bytes, 64, out, &e) == IOP_EINVAL);
    rec_blob b = {.format = "f32", .data = bytes, .len = sizeof bytes};
    v[0] = 2.0f;
    sbms_face_to_f32(v, DIM, bytes);
    CHECK(sbms_face_from_blob(&b, DIM, out, NULL) == IOP_OK);
    CHECK_NEAR(out[0], 1.0, 1e-6);
}

TEST(avx512vnni_avx2_and_scalar_kernels_agree_exactly) {
    if (!face_cpu_has_avx2()) return;
    iop_rng r;
    iop_rng_seed(&r, 7);
    for (uint32_t stride = 32; stride <= 1024; stride *= 2) {
        size_t n = 37;
        int8_t *codes = malloc(n * stride), *q = malloc(stride);
        uint8_t *qa = malloc(stride);
        int32_t o3[37];
        int32_t o1[37], o2[37];
        for (size_t i = 0; i < n * stride; i++) codes[i] = (int8_t)((int)iop_rng_below(&r, 255) - 127);
        for (size_t i = 0; i < stride; i++) {
            q[i] = (int8_t)((int)iop_rng_below(&r, 255) - 127);
            qa[i] = (uint8_t)abs(q[i]);
        }
        codes[0] = 127; q[0] = -127; qa[0] = 127; /* the extremes */
        /* template 1: every product at the negative extreme; template 2 at the positive one */
        for (size_t i = 0; i < stride; i++) {
            codes[stride + i] = (int8_t)(q[i] < 0 ? 127 : -127);
            codes[2 * stride + i] = (int8_t)(q[i] < 0 ? -127 : 127);
        }
        face_probe p = {q, qa, 1.0f};
        face_dot_scalar(&p, codes, stride, n, o1);
        face_dot_avx2(&p, codes, stride, n, o2);
        for (size_t i = 0; i < n; i++) CHECK_INT(o1[i], o2[i]);
        if (face_cpu_has_avx512vnni()) {
            face_dot_vnni(&p, codes, stride, n, o3);
            for (size_t i = 0; i < n; i++) CHECK_INT(o1[i], o3[i]);
        }
        free(codes); free(q); free(qa);
    }
}

TEST(exact_search_ranks_the_mate_first_and_matches_float_scores) {
    sbms_face_gen *gen = test_gen(DIM, 1);
    sbms_face_gallery *g = test_gallery(DIM, SBMS_FACE_KERNEL_AUTO, 2);
    REQUIRE(gen && g);
    enum { N = 3000 };
    float *all = malloc(sizeof(float) * DIM * N);
    REQUIRE(sbms_face_gallery_reserve(g, 3, N, NULL) == IOP_OK);
    for (uint64_t p = 0; p < N; p++) {
        sbms_face_gen_capture(gen, p, 0, all + p * DIM);
        REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){3, 1000 + p}, all + p * DIM, NULL) == IOP_OK);
    }
    CHECK_INT(sbms_face_gallery_count(g), N);
    CHECK(sbms_face_gallery_bytes(g) <= (size_t)N * (DIM + 4 + 8 + 32) + 4096); /* codes, scale, key, map */
    int rank1 = 0;
    for (uint64_t p = 0; p < 50; p++) {
        float probe[DIM];
        sbms_face_gen_capture(gen, p, 1, probe);
        sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = 10, .min_score = -1};
        sbms_face_hit hits[10];
        size_t n = 0;
        REQUIRE(sbms_face_gallery_search(g, probe, &q, hits, &n, NULL) == IOP_OK);
        CHECK_INT(n, 10);
        rank1 += hits[0].ref.key == 1000 + p;
        for (size_t i = 0; i < n; i++) {
            CHECK(i == 0 || hits[i].score <= hits[i - 1].score);
            float exact = sbms_face_score(probe, all + (hits[i].ref.key - 1000) * DIM, DIM);
            CHECK_NEAR(hits[i].score, exact, 0.01);
        }
        /* no float score outside the list beats the list's last by more than quantisation */
        for (uint64_t o = 0; o < N; o++) {
            bool in = false;
            for (size_t i = 0; i < n; i++) in |= hits[i].ref.key == 1000 + o;
            if (!in) CHECK(sbms_face_score(probe, all + o * DIM, DIM) <= hits[9].score + 0.01f);
        }
    }
    CHECK(rank1 >= 48);
    free(all);
    sbms_face_gallery_free(g);
    sbms_face_gen_free(gen);
}

TEST(threaded_simd_and_scalar_searches_return_the_same_hits) {
    sbms_face_gen *gen = test_gen(512, 2);
    sbms_face_gallery *a = test_gallery(512, SBMS_FACE_KERNEL_AUTO, 2);
    sbms_face_gallery *b = test_gallery(512, SBMS_FACE_KERNEL_SCALAR, 1);
    sbms_face_gallery *c = test_gallery(512, SBMS_FACE_KERNEL_AUTO, 5); /* more workers than chunks per core */
    REQUIRE(gen && a && b && c);
    float v[512];
    for (uint64_t p = 0; p < 6000; p++) { /* 3 MB in 3 lists: chunks claimed by the threads cross list ends */
        sbms_face_gen_capture(gen, p, 0, v);
        REQUIRE(sbms_face_gallery_add(a, (sbms_face_ref){(uint8_t)(p % 3), p}, v, NULL) == IOP_OK);
        REQUIRE(sbms_face_gallery_add(b, (sbms_face_ref){(uint8_t)(p % 3), p}, v, NULL) == IOP_OK);
        REQUIRE(sbms_face_gallery_add(c, (sbms_face_ref){(uint8_t)(p % 3), p}, v, NULL) == IOP_OK);
    }
    for (uint64_t p = 0; p < 5; p++) {
        sbms_face_gen_capture(gen, p * 31, 2, v);
        sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = 20, .min_score = -1};
        sbms_face_hit h1[20], h2[20];
        size_t n1, n2;
        REQUIRE(sbms_face_gallery_search(a, v, &q, h1, &n1, NULL) == IOP_OK);
        REQUIRE(sbms_face_gallery_search(b, v, &q, h2, &n2, NULL) == IOP_OK);
        CHECK_INT(n1, n2);
        for (size_t i = 0; i < n1 && i < n2; i++) {
            CHECK_INT(h1[i].ref.key, h2[i].ref.key);
            CHECK(h1[i].score == h2[i].score);
        }
        REQUIRE(sbms_face_gallery_search(c, v, &q, h1, &n1, NULL) == IOP_OK);
        CHECK_INT(n1, n2);
        for (size_t i = 0; i < n1 && i < n2; i++) {
            CHECK_INT(h1[i].ref.key, h2[i].ref.key);
            CHECK(h1[i].score == h2[i].score);
        }
    }
    sbms_face_gallery_free(a);
    sbms_face_gallery_free(b);
    sbms_face_gallery_free(c);
    sbms_face_gen_free(gen);
}

TEST(art13_templates_are_separated_by_source_system) {
    sbms_face_gen *gen = test_gen(DIM, 3);
    sbms_face_gallery *g = test_gallery(DIM, SBMS_FACE_KERNEL_AUTO, 1);
    REQUIRE(gen && g);
    float v[DIM], w[DIM];
    sbms_face_gen_capture(gen, 42, 0, v);
    sbms_face_gen_capture(gen, 43, 0, w);
    /* the same record key in two systems is two templates */
    REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){IOP_SYS_EES, 5}, v, NULL) == IOP_OK);
    REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){IOP_SYS_VIS, 5}, w, NULL) == IOP_OK);
    iop_err e;
    CHECK(sbms_face_gallery_add(g, (sbms_face_ref){IOP_SYS_EES, 5}, w, &e) == IOP_EEXIST);
    CHECK_INT(sbms_face_gallery_count_system(g, IOP_SYS_EES), 1);
    CHECK_INT(sbms_face_gallery_count_system(g, IOP_SYS_SIS), 0);
    sbms_face_query q = {.systems = 1u << IOP_SYS_VIS, .k = 5, .min_score = -1};
    sbms_face_hit h[5];
    size_t n;
    REQUIRE(sbms_face_gallery_search(g, v, &q, h, &n, NULL) == IOP_OK);
    CHECK_INT(n, 1);
    CHECK_INT(h[0].ref.system, IOP_SYS_VIS); /* the EES mate is not visible to a VIS-only search */
    q.systems = 1u << IOP_SYS_SIS;
    REQUIRE(sbms_face_gallery_search(g, v, &q, h, &n, NULL) == IOP_OK);
    CHECK_INT(n, 0);
    q.systems = SBMS_FACE_ALL_SYSTEMS;
    q.min_score = 0.5f;
    REQUIRE(sbms_face_gallery_search(g, v, &q, h, &n, NULL) == IOP_OK);
    CHECK_INT(n, 1);
    CHECK_INT(h[0].ref.system, IOP_SYS_EES);
    CHECK(h[0].score > 0.99f);
    CHECK(sbms_face_gallery_add(g, (sbms_face_ref){64, 1}, v, &e) == IOP_EINVAL);
    sbms_face_gallery_free(g);
    sbms_face_gen_free(gen);
}

TEST(art13_removal_deletes_the_template_and_keeps_the_rest_findable) {
    sbms_face_gen *gen = test_gen(DIM, 4);
    sbms_face_gallery *g = test_gallery(DIM, SBMS_FACE_KERNEL_AUTO, 1);
    REQUIRE(gen && g);
    enum { N = 2000 };
    float v[DIM];
    for (uint64_t p = 0; p < N; p++) {
        sbms_face_gen_capture(gen, p, 0, v);
        REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){(uint8_t)(p & 1), p}, v, NULL) == IOP_OK);
    }
    size_t full = sbms_face_gallery_bytes(g);
    iop_rng r;
    iop_rng_seed(&r, 9);
    bool gone[N] = {0};
    for (int i = 0; i < 4000; i++) {
        uint64_t p = iop_rng_below(&r, N);
        iop_code rc = sbms_face_gallery_remove(g, (sbms_face_ref){(uint8_t)(p & 1), p}, NULL);
        CHECK(rc == (gone[p] ? IOP_ENOTFOUND : IOP_OK));
        gone[p] = true;
    }
    size_t left = 0;
    for (uint64_t p = 0; p < N; p++) {
        sbms_face_ref ref = {(uint8_t)(p & 1), p};
        CHECK(sbms_face_gallery_contains(g, ref) == !gone[p]);
        left += !gone[p];
        float s = 0;
        sbms_face_gen_capture(gen, p, 0, v);
        iop_code rc = sbms_face_gallery_verify(g, ref, v, &s, NULL);
        if (gone[p]) CHECK(rc == IOP_ENOTFOUND);
        else { CHECK(rc == IOP_OK); CHECK(s > 0.99f); }
        /* a removed template is never a candidate, even for its own probe */
        if (gone[p] && p % 25 == 0) {
            sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = 3, .min_score = -1};
            sbms_face_hit h[3];
            size_t n;
            REQUIRE(sbms_face_gallery_search(g, v, &q, h, &n, NULL) == IOP_OK);
            for (size_t i = 0; i < n; i++) CHECK(!(h[i].ref.key == p && h[i].ref.system == (p & 1)));
        }
    }
    CHECK_INT(sbms_face_gallery_count(g), left);
    CHECK(sbms_face_gallery_bytes(g) < full); /* the storage shrinks with the gallery */
    /* a removed reference can be enrolled again */
    for (uint64_t p = 0; p < N; p++)
        if (gone[p]) {
            sbms_face_gen_capture(gen, p, 0, v);
            CHECK(sbms_face_gallery_add(g, (sbms_face_ref){(uint8_t)(p & 1), p}, v, NULL) == IOP_OK);
            break;
        }
    sbms_face_gallery_free(g);
    sbms_face_gen_free(gen);
}

TEST(ivf_index_full_probe_equals_exact_and_small_probe_finds_mates) {
    sbms_face_gen *gen = test_gen(DIM, 5);
    sbms_face_gallery *g = test_gallery(DIM, SBMS_FACE_KERNEL_AUTO, 2);
    REQUIRE(gen && g);
    enum { N = 8000 };
    float v[DIM];
    for (uint64_t p = 0; p < N; p++) {
        sbms_face_gen_capture(gen, p, 0, v);
        REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){(uint8_t)(p % 2), p}, v, NULL) == IOP_OK);
    }
    iop_err e;
    CHECK(sbms_face_gallery_build_index(g, N + 1, 5, 1, &e) == IOP_EINVAL);
    REQUIRE(sbms_face_gallery_build_index(g, 64, 8, 1, &e) == IOP_OK);
    CHECK_INT(sbms_face_gallery_nlist(g), 64);
    CHECK_INT(sbms_face_gallery_count(g), N);
    /* enrolment and removal keep working with the index */
    sbms_face_gen_capture(gen, N, 0, v);
    REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){1, N}, v, NULL) == IOP_OK);
    REQUIRE(sbms_face_gallery_remove(g, (sbms_face_ref){0, 0}, NULL) == IOP_OK);
    int found = 0, mates = 0;
    for (uint64_t p = 1; p <= 200; p++) {
        sbms_face_gen_capture(gen, p * 37 % (N + 1), 1, v);
        sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = 10, .min_score = -1, .nprobe = 0};
        sbms_face_hit ex[10], ap[10];
        size_t ne, na;
        REQUIRE(sbms_face_gallery_search(g, v, &q, ex, &ne, NULL) == IOP_OK);
        q.nprobe = 64;
        REQUIRE(sbms_face_gallery_search(g, v, &q, ap, &na, NULL) == IOP_OK);
        CHECK_INT(ne, na);
        for (size_t i = 0; i < ne && i < na; i++) CHECK_INT(ex[i].ref.key, ap[i].ref.key);
        q.nprobe = 8;
        REQUIRE(sbms_face_gallery_search(g, v, &q, ap, &na, NULL) == IOP_OK);
        if (ex[0].ref.key == p * 37 % (N + 1)) {
            mates++;
            found += na > 0 && ap[0].ref.key == ex[0].ref.key;
        }
    }
    CHECK(mates >= 190);
    CHECK(found >= mates * 95 / 100); /* 1/8 of the lists still finds the mate */
    sbms_face_gallery_free(g);
    sbms_face_gen_free(gen);
}

typedef struct conc_ctx { sbms_face_gallery *g; sbms_face_gen *gen; int ok; } conc_ctx;
static void *conc_search(void *a) {
    conc_ctx *c = a;
    float v[DIM];
    for (uint64_t p = 0; p < 100; p++) {
        sbms_face_gen_capture(c->gen, p, 1, v);
        sbms_face_query q = {.systems = SBMS_FACE_ALL_SYSTEMS, .k = 1, .min_score = -1};
        sbms_face_hit h[1];
        size_t n;
        if (sbms_face_gallery_search(c->g, v, &q, h, &n, NULL) == IOP_OK && n == 1 && h[0].ref.key == p) c->ok++;
    }
    return NULL;
}

TEST(concurrent_searches_with_one_writer_are_consistent) {
    sbms_face_gen *gen = test_gen(DIM, 6);
    sbms_face_gallery *g = test_gallery(DIM, SBMS_FACE_KERNEL_AUTO, 1);
    REQUIRE(gen && g);
    float v[DIM];
    for (uint64_t p = 0; p < 1000; p++) {
        sbms_face_gen_capture(gen, p, 0, v);
        REQUIRE(sbms_face_gallery_add(g, (sbms_face_ref){0, p}, v, NULL) == IOP_OK);
    }
    conc_ctx c[3] = {{g, gen, 0}, {g, gen, 0}, {g, gen, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, conc_search, &c[i]);
    for (uint64_t p = 1000; p < 1500; p++) { /* the writer adds unrelated persons meanwhile */
        sbms_face_gen_capture(gen, p, 0, v);
        CHECK(sbms_face_gallery_add(g, (sbms_face_ref){1, p}, v, NULL) == IOP_OK);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    CHECK(c[0].ok >= 95 && c[0].ok == c[1].ok && c[1].ok == c[2].ok);
    sbms_face_gallery_free(g);
    sbms_face_gen_free(gen);
}

TEST(generator_is_deterministic_and_follows_the_documented_distributions) {
    sbms_face_gen *a = test_gen(512, 11), *b = test_gen(512, 11), *c = test_gen(512, 12);
    REQUIRE(a && b && c);
    float x[512], y[512], z[512];
    sbms_face_gen_capture(a, 77, 3, x);
    sbms_face_gen_capture(b, 77, 3, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
    sbms_face_gen_capture(c, 77, 3, z);
    CHECK(memcmp(x, z, sizeof x) != 0);
    double gs = 0, gss = 0, is = 0, iss = 0;
    int n = 2000;
    for (int i = 0; i < n; i++) {
        sbms_face_gen_capture(a, (uint64_t)i, 0, x);
        sbms_face_gen_capture(a, (uint64_t)i, 1, y);
        sbms_face_gen_capture(a, (uint64_t)i + 100000, 0, z);
        double g = sbms_face_score(x, y, 512), im = sbms_face_score(x, z, 512);
        gs += g; gss += g * g; is += im; iss += im * im;
    }
    double gm = gs / n, gsd = sqrt(gss / n - gm * gm), im = is / n, isd = sqrt(iss / n - im * im);
    /* docs/faces.md: genuine about 0.70 +- 0.10, impostor about 0.01 +- 0.07 */
    CHECK(gm > 0.62 && gm < 0.78);
    CHECK(gsd > 0.05 && gsd < 0.16);
    CHECK(im > -0.02 && im < 0.05);
    CHECK(isd > 0.04 && isd < 0.10);
    sbms_face_gen_params p;
    sbms_face_gen_defaults(&p, 500);
    sbms_face_gen *bad = NULL;
    CHECK(sbms_face_gen_new(&p, 1, &bad, NULL) == IOP_EINVAL);
    sbms_face_gen_free(a); sbms_face_gen_free(b); sbms_face_gen_free(c);
}
