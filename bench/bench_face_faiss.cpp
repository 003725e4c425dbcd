// bench_face_faiss.cpp -- the FAISS IndexFlatIP baseline of bench_face (built only when
// Debian's libfaiss-dev is installed): a C interface over the C++ index.
#include <faiss/IndexFlat.h>
#include <cstdint>

extern "C" void *face_faiss_new(int d, long n, const float *x) {
    auto *ix = new faiss::IndexFlatIP(d);
    ix->add(n, x);
    return ix;
}

extern "C" void face_faiss_search(void *ix, long nq, const float *q, int k, float *dist, int64_t *ids) {
    static_cast<faiss::IndexFlatIP *>(ix)->search(nq, q, k, dist, reinterpret_cast<faiss::Index::idx_t *>(ids));
}

extern "C" void face_faiss_free(void *ix) { delete static_cast<faiss::IndexFlatIP *>(ix); }
