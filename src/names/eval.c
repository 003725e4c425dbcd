/*
 * eval.c -- evaluation of the names engine on public data with ground truth:
 *   FEBRL (ANU) dataset 3 (de-duplication) and 4a <-> 4b (linkage): pairwise
 *   precision, recall and F1 of the links the engine makes through its own index;
 *   Wikidata cross-script pairs: top-10 recall of the native-script record for the
 *   Latin form, and false "same" verdicts on shuffled pairs.
 *
 * FEBRL fields used: given_name, surname, date_of_birth (YYYYMMDD; an invalid date
 * counts as unknown), soc_sec_id (identifier "ssn"), street_number + address_1
 * ("street"), address_2 ("locality"), suburb, postcode, state (fuzzy text evidence).
 */
#include <string.h>
#include <time.h>
#include "names/names_int.h"

/* Doubles the capacity of two parallel arrays of strings (the Latin and native forms of
 * name pairs); -1 when out of memory (both keep their contents). */
static int grow_pairs(char ***lat, char ***nat, size_t *cap) {
    size_t c = *cap * 2;
    char **l2 = realloc(*lat, c * sizeof *l2);
    if (!l2) return -1;
    *lat = l2;
    char **n2 = realloc(*nat, c * sizeof *n2);
    if (!n2) return -1;
    *nat = n2;
    *cap = c;
    return 0;
}

typedef struct febrl_rec {
    long entity;
    bool org;
    names_ident *id;
} febrl_rec;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static iop_code febrl_load(const names_engine *eng, const char *path, febrl_rec **out, size_t *nout, iop_err *err) {
    char *data;
    size_t len;
    iop_code rc = iop_read_file(path, &data, &len, err);
    if (rc) return rc;
    febrl_rec *recs = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (lineno == 1 && strstr(line, "rec_id")) continue;
        char *f[11];
        int nf = 0;
        char *p = line;
        while (nf < 11) {
            f[nf++] = p;
            char *c = strchr(p, ',');
            if (!c) break;
            *c = 0;
            p = c + 1;
        }
        if (nf != 11) { rc = iop_fail(err, IOP_EINVAL, "%s:%zu: expected 11 fields, found %d", path, lineno, nf); break; }
        for (int i = 0; i < 11; i++) f[i] = trim(f[i]);
        long entity;
        char kind[8] = {0};
        if (sscanf(f[0], "rec-%ld-%3s", &entity, kind) != 2) {
            rc = iop_fail(err, IOP_EINVAL, "%s:%zu: rec_id '%s' is not rec-<N>-org|dup-<k>", path, lineno, f[0]);
            break;
        }
        names_fields nf_ = {0};
        const char *given = f[1], *sur = f[2];
        nf_.given_names = &given;
        nf_.n_given_names = *given ? 1 : 0;
        nf_.surnames = &sur;
        nf_.n_surnames = *sur ? 1 : 0;
        if (strlen(f[9]) == 8) {
            char d[11];
            snprintf(d, sizeof d, "%.4s-%.2s-%.2s", f[9], f[9] + 4, f[9] + 6);
            if (iop_date_parse(d, &nf_.dob, NULL)) nf_.dob = (iop_date){0, 0, 0};
        }
        char street[256];
        snprintf(street, sizeof street, "%s %s", f[3], f[4]);
        names_extra ex[6];
        size_t ne = 0;
        if (*f[10]) ex[ne++] = (names_extra){"ssn", f[10]};
        if (*f[3] || *f[4]) ex[ne++] = (names_extra){"street", street};
        if (*f[5]) ex[ne++] = (names_extra){"locality", f[5]};
        if (*f[6]) ex[ne++] = (names_extra){"suburb", f[6]};
        if (*f[7]) ex[ne++] = (names_extra){"postcode", f[7]};
        if (*f[8]) ex[ne++] = (names_extra){"state", f[8]};
        nf_.extras = ex;
        nf_.n_extras = ne;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            febrl_rec *r = realloc(recs, cap * sizeof *r);
            if (!r) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
            recs = r;
        }
        recs[n].entity = entity;
        recs[n].org = !strcmp(kind, "org");
        rc = names_prepare_fields(eng, &nf_, &recs[n].id, err);
        if (rc) { iop_err_prefix(err, "%s:%zu", path, lineno); break; }
        n++;
    }
    free(data);
    if (rc) {
        for (size_t i = 0; i < n; i++) names_ident_free(recs[i].id);
        free(recs);
        return rc;
    }
    *out = recs;
    *nout = n;
    return IOP_OK;
}

static void febrl_free(febrl_rec *r, size_t n) {
    for (size_t i = 0; i < n; i++) names_ident_free(r[i].id);
    free(r);
}

typedef struct pairv {
    uint32_t a, b;
    double s;
} pairv;

static int cmp_pair(const void *x, const void *y) {
    const pairv *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

static int cmp_pair_score(const void *x, const void *y) {
    const pairv *p = x, *q = y;
    if (p->s != q->s) return p->s > q->s ? -1 : 1;
    return cmp_pair(x, y);
}

static const names_ident *febrl_get(void *user, uint64_t id) { return ((febrl_rec *)user)[id].id; }

static void finish(names_eval_result *o) {
    o->precision = o->predicted_pairs ? (double)o->correct_pairs / (double)o->predicted_pairs : 0;
    o->recall = o->true_pairs ? (double)o->correct_pairs / (double)o->true_pairs : 0;
    o->f1 = o->precision + o->recall > 0 ? 2 * o->precision * o->recall / (o->precision + o->recall) : 0;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

iop_code names_eval_febrl(const names_engine *eng, const char *dir, const char *which, double threshold,
                          names_eval_result *out, iop_err *err) {
    memset(out, 0, sizeof *out);
    if (threshold <= 0) threshold = NAMES_SIMILAR_SCORE;
    uint64_t t0 = iop_mono_ns();
    char path[4096];
    iop_code rc;
    if (!strcmp(which, "3")) {
        febrl_rec *r;
        size_t n;
        snprintf(path, sizeof path, "%s/dataset3.csv", dir);
        if ((rc = febrl_load(eng, path, &r, &n, err))) return rc;
        names_ident **ids = malloc(n * sizeof *ids);
        size_t *cl = malloc(n * sizeof *cl);
        if (!ids || !cl) { free(ids); free(cl); febrl_free(r, n); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
        for (size_t i = 0; i < n; i++) ids[i] = r[i].id;
        /* de-duplication = clustering: pairs inside the same cluster are predicted links */
        rc = names_resolve(eng, ids, n, threshold, cl, err);
        if (!rc) {
            out->predicted_pairs = out->correct_pairs = 0;
            pairv *pv = malloc(n * sizeof *pv);
            if (!pv) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
            for (size_t i = 0; !rc && i < n; i++) { pv[i].a = (uint32_t)cl[i]; pv[i].b = (uint32_t)i; pv[i].s = 0; }
            if (!rc) {
                qsort(pv, n, sizeof *pv, cmp_pair);
                for (size_t i = 0; i < n;) {
                    size_t j = i;
                    while (j < n && pv[j].a == pv[i].a) j++;
                    for (size_t x = i; x < j; x++)
                        for (size_t y = x + 1; y < j; y++) {
                            out->predicted_pairs++;
                            out->correct_pairs += r[pv[x].b].entity == r[pv[y].b].entity;
                        }
                    i = j;
                }
            }
            free(pv);
            long *ents = rc ? NULL : malloc(n * sizeof *ents);
            if (ents) {
                for (size_t i = 0; i < n; i++) ents[i] = r[i].entity;
                qsort(ents, n, sizeof *ents, cmp_long);
                for (size_t i = 0; i < n;) {
                    size_t j = i;
                    while (j < n && ents[j] == ents[i]) j++;
                    out->true_pairs += (j - i) * (j - i - 1) / 2;
                    i = j;
                }
                free(ents);
            }
            out->records = n;
        }
        free(ids);
        free(cl);
        febrl_free(r, n);
    } else if (!strcmp(which, "4")) {
        febrl_rec *a, *b;
        size_t na, nb;
        snprintf(path, sizeof path, "%s/dataset4a.csv", dir);
        if ((rc = febrl_load(eng, path, &a, &na, err))) return rc;
        snprintf(path, sizeof path, "%s/dataset4b.csv", dir);
        if ((rc = febrl_load(eng, path, &b, &nb, err))) { febrl_free(a, na); return rc; }
        names_store st = {febrl_get, NULL, a};
        names_index *ix;
        rc = names_index_new(eng, &st, &ix, err);
        for (size_t i = 0; !rc && i < na; i++) rc = names_index_add(ix, i, a[i].id, err);
        if (!rc) rc = names_index_optimize(ix, err);
        pairv *pv = malloc((nb * 4 + 1) * sizeof *pv);
        size_t np = 0;
        if (!pv && !rc) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        names_hit hits[4];
        double csum[10] = {0};
        size_t ctrue[10] = {0};
        for (size_t j = 0; !rc && j < nb; j++) {
            size_t nh = names_index_search(ix, b[j].id, 4, 0, hits);
            for (size_t h = 0; h < nh; h++) {
                int bin = hits[h].score >= 1 ? 9 : (int)(hits[h].score * 10);
                out->calib_pairs[bin]++;
                csum[bin] += hits[h].score;
                ctrue[bin] += a[hits[h].id].entity == b[j].entity;
                if (hits[h].score >= threshold) pv[np++] = (pairv){(uint32_t)hits[h].id, (uint32_t)j, hits[h].score};
            }
        }
        for (int bin = 0; bin < 10; bin++)
            if (out->calib_pairs[bin]) {
                out->calib_mean_score[bin] = csum[bin] / (double)out->calib_pairs[bin];
                out->calib_true_rate[bin] = (double)ctrue[bin] / (double)out->calib_pairs[bin];
            }
        if (!rc) {
            /* one-to-one linkage: best scores first, each record used once */
            qsort(pv, np, sizeof *pv, cmp_pair_score);
            bool *ua = calloc(na, 1), *ub = calloc(nb, 1);
            if (!ua || !ub) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
            for (size_t i = 0; !rc && i < np; i++) {
                if (ua[pv[i].a] || ub[pv[i].b]) continue;
                ua[pv[i].a] = ub[pv[i].b] = true;
                out->predicted_pairs++;
                out->correct_pairs += a[pv[i].a].entity == b[pv[i].b].entity;
            }
            free(ua);
            free(ub);
            /* true pairs: entities present in both files */
            long *ea = malloc(na * sizeof *ea);
            if (ea) {
                for (size_t i = 0; i < na; i++) ea[i] = a[i].entity;
                qsort(ea, na, sizeof *ea, cmp_long);
                for (size_t j = 0; j < nb; j++)
                    if (bsearch(&b[j].entity, ea, na, sizeof *ea, cmp_long)) out->true_pairs++;
                free(ea);
            }
            out->records = na + nb;
        }
        free(pv);
        names_index_free(ix);
        febrl_free(a, na);
        febrl_free(b, nb);
    } else {
        return iop_fail(err, IOP_EINVAL, "unknown FEBRL evaluation '%s' (expected 3 or 4)", which);
    }
    if (rc) return rc;
    finish(out);
    out->seconds = (double)(iop_mono_ns() - t0) / 1e9;
    return IOP_OK;
}

/* ---- cross-script ---- */

typedef struct xs_store {
    names_ident **ids;
} xs_store;

static const names_ident *xs_get(void *user, uint64_t id) { return ((xs_store *)user)->ids[id]; }

/* the Wikidata file: Latin and native forms (spaces between native characters removed) */
static iop_code xs_read(const char *tsv_path, size_t limit, char **data_out, char ***lat_out, char ***nat_out,
                        size_t *n_out, iop_err *err) {
    char *data;
    size_t len;
    iop_code rc = iop_read_file(tsv_path, &data, &len, err);
    if (rc) return rc;
    size_t cap = 1024, n = 0;
    char **lat = malloc(cap * sizeof *lat), **nat = malloc(cap * sizeof *nat);
    if (!lat || !nat) { free(lat); free(nat); free(data); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    size_t lineno = 0;
    char *next = data;
    while (next && *next && (!limit || n < limit)) {
        char *line = next, *nl = strchr(line, '\n');
        if (nl) { *nl = 0; next = nl + 1; } else next = NULL;
        lineno++;
        if (!*line || *line == '\r') continue;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1) { rc = iop_fail(err, IOP_EINVAL, "%s:%zu: expected latin<TAB>native<TAB>n", tsv_path, lineno); break; }
        *t1 = 0;
        if (t2) *t2 = 0;
        char *w = t1 + 1, *o = t1 + 1;
        for (; *w; w++) if (*w != ' ' && *w != '\r') *o++ = *w; /* the native form is given as spaced characters */
        *o = 0;
        if (!*line || !t1[1]) continue;
        if (n == cap && grow_pairs(&lat, &nat, &cap)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        lat[n] = line;
        nat[n] = t1 + 1;
        n++;
    }
    if (rc) { free(lat); free(nat); free(data); return rc; }
    *data_out = data;
    *lat_out = lat;
    *nat_out = nat;
    *n_out = n;
    return IOP_OK;
}

/* CPU time of each search (this thread's clock: the machine may be shared) */
typedef struct xs_times {
    double *v;
    size_t n, cap;
} xs_times;

static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Indexes every native form with eng, searches the Latin forms i with i % folds ==
 * fold (timing each search), compares them with a shuffled native form; adds to out. */
static iop_code xs_run(const names_engine *eng, const char *tsv_path, char **lat, char **nat, size_t n, int fold,
                       int folds, names_xscript_result *out, xs_times *tm, FILE *misses, iop_err *err) {
    iop_code rc = IOP_OK;
    names_ident **qi = calloc(n ? n : 1, sizeof *qi), **ni = calloc(n ? n : 1, sizeof *ni);
    if (!qi || !ni) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        names_fields f = {0};
        const char *s = nat[i];
        f.surnames = &s;
        f.n_surnames = 1;
        rc = names_prepare_fields(eng, &f, &ni[i], err);
        if (!rc && (int)(i % (size_t)folds) == fold) {
            s = lat[i];
            rc = names_prepare_fields(eng, &f, &qi[i], err);
        }
        if (rc) iop_err_prefix(err, "%s:%zu", tsv_path, i + 1);
    }
    out->records = n;
    names_index *ix = NULL;
    xs_store xs = {ni};
    names_store st = {xs_get, NULL, &xs};
    if (!rc) rc = names_index_new(eng, &st, &ix, err);
    for (size_t i = 0; !rc && i < n; i++) rc = names_index_add(ix, i, ni[i], err);
    if (!rc) rc = names_index_optimize(ix, err);
    if (!rc) {
        names_hit hits[10];
        for (size_t i = 0; i < n; i++) {
            if (!qi[i]) continue;
            double t0 = thread_cpu_ms();
            size_t nh = names_index_search(ix, qi[i], 10, 0, hits);
            double dt = thread_cpu_ms() - t0;
            if (tm->n == tm->cap) {
                size_t nc = tm->cap ? tm->cap * 2 : 4096;
                double *v = realloc(tm->v, nc * sizeof *v);
                if (!v) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                tm->v = v;
                tm->cap = nc;
            }
            tm->v[tm->n++] = dt;
            out->pairs++;
            bool found = false;
            for (size_t h = 0; h < nh && !found; h++)
                if (!strcmp(nat[hits[h].id], nat[i])) {
                    found = true;
                    out->found_top10++;
                    if (h == 0 || hits[0].score == hits[h].score) out->found_top1++;
                }
            if (!found && misses) { /* the account of a miss: searched again, untimed */
                nm_search_diag dg = {.want_id = i};
                nm_index_search(ix, qi[i], 10, 0, hits, NM_CAND_BUDGET, &dg);
                names_result own;
                names_compare(eng, qi[i], ni[i], &own);
                if (!dg.in_cands) fprintf(misses, "%s\t%s\tnot-candidate (%zu)", lat[i], nat[i], dg.n_cands);
                else if (dg.prerank >= 0)
                    fprintf(misses, "%s\t%s\tmodel-rank %ld of %zu", lat[i], nat[i], dg.prerank + 1, dg.n_prerank);
                else fprintf(misses, "%s\t%s\tscored-below-ten", lat[i], nat[i]);
                fprintf(misses, "\t%s\t%.3f\t%.3f\n", nh ? nat[hits[0].id] : "-", nh ? hits[0].score : 0.0, own.score);
            }
        }
        /* shuffled pairs: Latin i against native j, a fixed derangement */
        for (size_t i = 0; n > 1 && i < n; i++) {
            if (!qi[i]) continue;
            size_t j = (i + n / 2 + 1) % n;
            if (j == i || !strcmp(nat[j], nat[i]) || !strcmp(lat[j], lat[i])) continue;
            names_result r;
            names_compare(eng, qi[i], ni[j], &r);
            out->shuffled++;
            out->false_same += r.verdict == NAMES_SAME;
        }
    }
    names_index_free(ix);
    for (size_t i = 0; qi && i < n; i++) names_ident_free(qi[i]);
    for (size_t i = 0; ni && i < n; i++) names_ident_free(ni[i]);
    free(qi);
    free(ni);
    return rc;
}

static void xs_finish(names_xscript_result *out, xs_times *tm) {
    out->recall_top10 = out->pairs ? (double)out->found_top10 / (double)out->pairs : 0;
    out->false_same_rate = out->shuffled ? (double)out->false_same / (double)out->shuffled : 0;
    if (tm->n) {
        qsort(tm->v, tm->n, sizeof *tm->v, cmp_double);
        out->search_p50_ms = tm->v[(tm->n - 1) / 2];
        out->search_p99_ms = tm->v[(size_t)((double)(tm->n - 1) * 0.99)];
        double sum = 0;
        for (size_t i = 0; i < tm->n; i++) sum += tm->v[i];
        out->search_mean_ms = sum / (double)tm->n;
    }
    free(tm->v);
    tm->v = NULL;
}

iop_code names_eval_xscript(const names_engine *eng, const char *tsv_path, size_t limit, names_xscript_result *out,
                            iop_err *err) {
    memset(out, 0, sizeof *out);
    char *data, **lat, **nat;
    size_t n;
    iop_code rc = xs_read(tsv_path, limit, &data, &lat, &nat, &n, err);
    if (rc) return rc;
    xs_times tm = {0};
    rc = xs_run(eng, tsv_path, lat, nat, n, 0, 1, out, &tm, NULL, err);
    xs_finish(out, &tm);
    free(lat);
    free(nat);
    free(data);
    return rc;
}

iop_code names_tl_read_pairs(const char *path, bool wikidata, char **buf, names_tl_pair **pairs, size_t *n,
                             iop_err *err) {
    char **lat, **nat;
    size_t k;
    iop_code rc;
    if (wikidata) {
        rc = xs_read(path, 0, buf, &lat, &nat, &k, err);
        if (rc) return rc;
    } else {
        /* native<TAB>latin */
        size_t len;
        rc = iop_read_file(path, buf, &len, err);
        if (rc) return rc;
        size_t cap = 1024, lineno = 0;
        k = 0;
        lat = malloc(cap * sizeof *lat);
        nat = malloc(cap * sizeof *nat);
        if (!lat || !nat) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        char *next = rc ? NULL : *buf;
        while (next && *next && !rc) {
            char *line = next, *nl = strchr(line, '\n');
            if (nl) { *nl = 0; next = nl + 1; } else next = NULL;
            lineno++;
            size_t ll = strlen(line);
            if (ll && line[ll - 1] == '\r') line[--ll] = 0;
            if (!ll) continue;
            char *t = strchr(line, '\t');
            if (!t || !t[1] || t == line) { rc = iop_fail(err, IOP_EINVAL, "%s:%zu: expected native<TAB>latin", path, lineno); break; }
            *t = 0;
            if (k == cap && grow_pairs(&lat, &nat, &cap)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
            nat[k] = line;
            lat[k] = t + 1;
            k++;
        }
        if (rc) { free(lat); free(nat); free(*buf); *buf = NULL; return rc; }
    }
    names_tl_pair *p = malloc((k ? k : 1) * sizeof *p);
    if (!p) { free(lat); free(nat); free(*buf); *buf = NULL; return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    for (size_t i = 0; i < k; i++) p[i] = (names_tl_pair){nat[i], lat[i]};
    free(lat);
    free(nat);
    *pairs = p;
    *n = k;
    return IOP_OK;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

iop_code names_eval_xscript_cv(const names_engine *eng, const char *tsv_path, const char *extra_train, int folds,
                               size_t limit, names_xscript_result *out, iop_err *err) {
    names_xscript_opts o = {.folds = folds, .only_fold = -1, .limit = limit};
    return names_eval_xscript_opt(eng, tsv_path, extra_train, &o, out, err);
}

iop_code names_eval_xscript_opt(const names_engine *eng, const char *tsv_path, const char *extra_train,
                                const names_xscript_opts *opts, names_xscript_result *out, iop_err *err) {
    int folds = opts->folds;
    size_t limit = opts->limit;
    if (folds <= 0 && !opts->misses) return names_eval_xscript(eng, tsv_path, limit, out, err);
    if (folds <= 0) folds = 1; /* eng as it is, one "fold" searching every pair */
    else if (folds < 2 || folds > 20) return iop_fail(err, IOP_EINVAL, "folds must be 2..20, not %d", folds);
    if (opts->only_fold >= folds) return iop_fail(err, IOP_EINVAL, "fold %d of %d folds (0 .. %d)", opts->only_fold, folds, folds - 1);
    memset(out, 0, sizeof *out);
    char *data, **lat, **nat, *xbuf = NULL;
    size_t n, nx = 0;
    names_tl_pair *xp = NULL;
    iop_code rc = xs_read(tsv_path, limit, &data, &lat, &nat, &n, err);
    if (rc) return rc;
    if (extra_train) rc = names_tl_read_pairs(extra_train, false, &xbuf, &xp, &nx, err);
    names_tl_pair *tp = rc ? NULL : malloc((n + nx + 1) * sizeof *tp);
    xs_times tm = {0};
    if (!rc && !tp) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    for (int f = 0; !rc && f < folds; f++) {
        if (opts->only_fold >= 0 && f != opts->only_fold) continue;
        if (folds == 1) { /* eng as it is */
            rc = xs_run(eng, tsv_path, lat, nat, n, 0, 1, out, &tm, opts->misses, err);
            break;
        }
        size_t nt = 0;
        for (size_t i = 0; i < n; i++)
            if ((int)(i % (size_t)folds) != f) tp[nt++] = (names_tl_pair){nat[i], lat[i]};
        for (size_t i = 0; i < nx; i++) tp[nt++] = xp[i];
        double c0 = cpu_seconds();
        names_tlm *m = NULL;
        rc = names_tlm_train(eng, tp, nt, &m, err);
        out->train_seconds += cpu_seconds() - c0;
        if (rc) break;
        names_engine *fe = NULL;
        rc = names_engine_new(NULL, &fe, err);
        if (rc) { names_tlm_free(m); break; }
        names_engine_set_model(fe, m);
        names_engine_set_ja(fe, eng->ja); /* the caller's Japanese readings, borrowed */
        rc = xs_run(fe, tsv_path, lat, nat, n, f, folds, out, &tm, opts->misses, err);
        names_engine_free(fe);
    }
    out->folds = folds > 1 ? folds : 0;
    xs_finish(out, &tm);
    free(tp);
    free(xp);
    free(xbuf);
    free(lat);
    free(nat);
    free(data);
    return rc;
}
