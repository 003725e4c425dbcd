/*
 * portal.c -- the European search portal (Reg. 2019/817 and 2019/818 Arts 6-11).
 *
 * A query is checked against the actor's profile (fields, systems; Art 8), then runs on
 * every permitted system at once (Art 9(1)): one task per system, executed by the
 * portal's worker threads and by the calling thread itself.  Each task searches its
 * system through a read-only handle (the systems module; no component reads another's
 * database), ranks the candidates and writes the filtered hits tagged with the system
 * (Art 9(4)).  Systems the profile may not query are not mentioned in the reply at all.
 * Each query is logged: who, authority, profile, purpose, systems queried, result counts
 * (Art 10(1)); the query's data fields are logged by name, not by value.
 *
 * Ranking (until the names engine takes over): normalised name tokens (diacritics,
 * case and punctuation folded), date of birth with partial dates and day/month swaps,
 * nationality, sex and travel-document number; see esp_score().
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "esp/esp_internal.h"
#include "interop/audit.h"
#include "interop/names.h"
#include "interop/sbms.h"
#include "interop/store.h"
#include "interop/systems.h"

const char *esp_sis_category(const rec_person *r, char *buf, size_t cap);
bool esp_may_see(const esp_profile *p, const rec_person *r);

/* A set of read-only handles, one per system, used by one query at a time. */
typedef struct reader_set {
    sys_store *sys[IOP_SYS_COUNT];
    struct reader_set *next;
} reader_set;

typedef struct task task;
typedef struct job {
    task *tasks;
    size_t n;
    atomic_size_t next, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *qnext;
} job;

struct esp {
    char *dir;
    const esp_profiles *profiles;
    const names_engine *names;
    iop_code (*get_bio)(void *ctx, sbms **out, iop_err *err);
    void *bio_ctx;
    audit_log *log;
    bool durable_logs;
    bool exact_keys_only;   /* no sound keys (esp_config) */
    bool full_candidate_reads; /* (esp_config); then each candidate's bound is checked: */
    atomic_uint_fast64_t bound_checked, bound_violations;
    /* each system's search index (systems.h), built at first use or by esp_warm */
    sys_index *idx[IOP_SYS_COUNT];
    pthread_mutex_t idx_mu[IOP_SYS_COUNT];
    struct sound_cache *sounds; /* sound keys of names in other scripts, shared by the indexes */
    pthread_mutex_t sounds_mu;  /* creates it */
    pthread_mutex_t mu;
    pthread_cond_t cv_reader;
    reader_set *free_readers;
    int readers_open, readers_max;
    /* worker pool */
    pthread_t *threads;
    int n_threads;
    job *queue_head, *queue_tail;
    pthread_cond_t cv_work;
    bool stopping;
    atomic_int searching;   /* queries running now */
};

/* ---- worker pool ---- */

struct task {
    esp *e;
    const esp_actor *who;
    const esp_query *q;
    const names_ident *qid; /* the query prepared by the names engine, or NULL */
    const struct prepared *pq; /* the query's normalised tokens, shared by the tasks */
    const sbms_hit *bio;    /* biometric hits in this system, best first */
    size_t n_bio;
    iop_system sys;
    reader_set *rs;
    iop_buf out;
    size_t hits;
    iop_code rc;
    iop_err err;
};

static void run_task(task *t);

static bool job_claim(job *j, size_t *idx) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) return false;
    *idx = i;
    return true;
}

/* Under the job's mutex, so the submitter (which waits on it) cannot destroy the job
 * while the last finisher still signals. */
static void job_finish_one(job *j) {
    pthread_mutex_lock(&j->mu);
    if (atomic_fetch_add(&j->done, 1) + 1 == j->n) pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void *worker(void *arg) {
    esp *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->stopping && !e->queue_head) pthread_cond_wait(&e->cv_work, &e->mu);
        if (e->stopping) break;
        job *j = e->queue_head;
        size_t idx;
        if (!job_claim(j, &idx)) {
            /* exhausted: unlink it (the submitter waits for completion itself) */
            e->queue_head = j->qnext;
            if (!e->queue_head) e->queue_tail = NULL;
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        run_task(&j->tasks[idx]);
        job_finish_one(j);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static void run_job(esp *e, job *j) {
    /* fan out over the workers when this is the only query running; when others run,
     * the cores are busy anyway and handing tasks over would only cost switches */
    bool alone = atomic_fetch_add(&e->searching, 1) == 0;
    bool fan = e->n_threads > 0 && j->n > 1 && alone;
    if (fan) {
        pthread_mutex_lock(&e->mu);
        j->qnext = NULL;
        if (e->queue_tail) e->queue_tail->qnext = j;
        else e->queue_head = j;
        e->queue_tail = j;
        pthread_cond_broadcast(&e->cv_work);
        pthread_mutex_unlock(&e->mu);
    }
    size_t idx;
    while (job_claim(j, &idx)) {
        run_task(&j->tasks[idx]);
        job_finish_one(j);
    }
    pthread_mutex_lock(&j->mu);
    while (atomic_load(&j->done) < j->n) pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    atomic_fetch_sub(&e->searching, 1);
    if (fan) {
        /* make sure no worker still holds a pointer to this job in the queue */
        pthread_mutex_lock(&e->mu);
        job **pp = &e->queue_head, *prev = NULL;
        while (*pp) {
            if (*pp == j) {
                *pp = j->qnext;
                if (e->queue_tail == j) e->queue_tail = prev;
                break;
            }
            prev = *pp;
            pp = &(*pp)->qnext;
        }
        pthread_mutex_unlock(&e->mu);
    }
}

/* ---- readers ---- */

static reader_set *reader_acquire(esp *e) {
    pthread_mutex_lock(&e->mu);
    while (!e->free_readers && e->readers_open >= e->readers_max) pthread_cond_wait(&e->cv_reader, &e->mu);
    reader_set *rs = e->free_readers;
    if (rs) e->free_readers = rs->next;
    else {
        rs = calloc(1, sizeof *rs);
        if (rs) e->readers_open++;
    }
    pthread_mutex_unlock(&e->mu);
    return rs;
}

static void reader_release(esp *e, reader_set *rs) {
    if (!rs) return;
    pthread_mutex_lock(&e->mu);
    rs->next = e->free_readers;
    e->free_readers = rs;
    pthread_cond_signal(&e->cv_reader);
    pthread_mutex_unlock(&e->mu);
}

static iop_code reader_sys(esp *e, reader_set *rs, iop_system s, sys_store **out, iop_err *err) {
    if (!rs->sys[s]) {
        iop_code rc = sys_open(s, e->dir, STORE_READONLY, &rs->sys[s], err);
        if (rc) return rc;
    }
    *out = rs->sys[s];
    return IOP_OK;
}

/* Sound keys of an indexed record (sys_sound_fn): the names engine's, so that the index
 * finds a record under other spellings and from other scripts. */
static size_t sound_keys(void *ctx, const sys_candidate *identity, uint32_t *out, size_t max);

static void *sound_ctx(esp *e);
struct sound_cache;
static void sound_cache_free(struct sound_cache *c);

static iop_code index_of(esp *e, iop_system s, sys_index **out, iop_err *err) {
    pthread_mutex_lock(&e->idx_mu[s]);
    bool sounds = e->names && !e->exact_keys_only;
    iop_code rc = e->idx[s] ? IOP_OK
                            : sys_index_open_sounds(s, e->dir, sounds ? sound_keys : NULL, sounds ? sound_ctx(e) : NULL,
                                                    &e->idx[s], err);
    *out = e->idx[s];
    pthread_mutex_unlock(&e->idx_mu[s]);
    return rc;
}

typedef struct warm_ctx {
    esp *e;
    atomic_int next;
    iop_code rc;
    iop_err err;
    pthread_mutex_t mu;
} warm_ctx;

static void *warm_worker(void *arg) {
    warm_ctx *w = arg;
    for (int s; (s = atomic_fetch_add(&w->next, 1)) < IOP_SYS_COUNT;) {
        sys_index *x;
        iop_err err;
        iop_code rc = index_of(w->e, (iop_system)s, &x, &err);
        if (rc) {
            pthread_mutex_lock(&w->mu);
            if (!w->rc) { w->rc = rc; w->err = err; }
            pthread_mutex_unlock(&w->mu);
        }
    }
    return NULL;
}

void esp_bound_check(esp *e, uint64_t *checked, uint64_t *violations) {
    *checked = atomic_load(&e->bound_checked);
    *violations = atomic_load(&e->bound_violations);
}

void esp_index_stats(esp *e, sys_index_stats *sum) {
    memset(sum, 0, sizeof *sum);
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        pthread_mutex_lock(&e->idx_mu[s]);
        if (e->idx[s]) {
            sys_index_stats st;
            sys_index_stats_get(e->idx[s], &st);
            sum->records += st.records;
            sum->keys += st.keys;
            sum->postings += st.postings;
            sum->bytes += st.bytes;
        }
        pthread_mutex_unlock(&e->idx_mu[s]);
    }
}

iop_code esp_warm(esp *e, iop_err *err) {
    warm_ctx w = {.e = e};
    atomic_init(&w.next, 0);
    pthread_mutex_init(&w.mu, NULL);
    int n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 8) n = 8;
    pthread_t th[8];
    int started = 0;
    for (int i = 1; i < n; i++)
        if (!pthread_create(&th[started], NULL, warm_worker, &w)) started++;
    warm_worker(&w);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&w.mu);
    if (w.rc && err) *err = w.err;
    return w.rc;
}

iop_code esp_open(const esp_config *cfg, const esp_profiles *profiles, audit_log *log, esp **out, iop_err *err) {
    esp *e = calloc(1, sizeof *e);
    if (e) {
        atomic_init(&e->searching, 0);
        pthread_mutex_init(&e->sounds_mu, NULL);
    }
    if (!e || !(e->dir = strdup(cfg->dir))) { free(e); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    e->profiles = profiles;
    e->names = cfg->names;
    e->get_bio = cfg->biometrics;
    e->bio_ctx = cfg->biometrics_ctx;
    e->log = log;
    e->durable_logs = cfg->durable_query_logs;
    e->exact_keys_only = cfg->exact_keys_only;
    e->full_candidate_reads = cfg->full_candidate_reads;
    e->readers_max = cfg->readers > 0 ? cfg->readers : 8;
    pthread_mutex_init(&e->mu, NULL);
    for (int s = 0; s < IOP_SYS_COUNT; s++) pthread_mutex_init(&e->idx_mu[s], NULL);
    pthread_cond_init(&e->cv_reader, NULL);
    pthread_cond_init(&e->cv_work, NULL);
    int threads = cfg->threads;
    if (threads == 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    /* the calling thread works too: threads - 1 helpers */
    e->n_threads = threads > 1 ? threads - 1 : 0;
    if (e->n_threads) {
        e->threads = calloc((size_t)e->n_threads, sizeof *e->threads);
        for (int i = 0; e->threads && i < e->n_threads; i++)
            if (pthread_create(&e->threads[i], NULL, worker, e)) { e->n_threads = i; break; }
    }
    *out = e;
    return IOP_OK;
}

void esp_close(esp *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->cv_work);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->n_threads; i++) pthread_join(e->threads[i], NULL);
    free(e->threads);
    while (e->free_readers) {
        reader_set *rs = e->free_readers;
        e->free_readers = rs->next;
        for (int s = 0; s < IOP_SYS_COUNT; s++) sys_close(rs->sys[s]);
        free(rs);
    }
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        sys_index_close(e->idx[s]);
        pthread_mutex_destroy(&e->idx_mu[s]);
    }
    sound_cache_free(e->sounds);
    pthread_mutex_destroy(&e->sounds_mu);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv_reader);
    pthread_cond_destroy(&e->cv_work);
    free(e->dir);
    free(e);
}

/* ---- ranking ---- */

typedef struct tokens {
    char t[24][64];
    int n;
} tokens;

/* Adds the tokens of a normalised name (sys_name_key output). */
static void add_tokens(tokens *tk, const char *norm) {
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", norm);
    for (char *t = strtok_r(buf, " ", &save); t && tk->n < 24; t = strtok_r(NULL, " ", &save))
        snprintf(tk->t[tk->n++], 64, "%s", t);
}

/* The score of esp_score from its parts (one expression for the score and its bound). */
static double combine(int name_tokens, double name, double dob, double nat, double sex, bool doc) {
    double s = name_tokens ? 0.55 * name + 0.30 * dob + 0.10 * nat + 0.05 * sex : 0;
    if (doc) s = name_tokens ? 0.6 + 0.4 * s : 0.9;
    if (name_tokens && name < 0.5 && !doc) s *= 0.5;
    return s;
}

/* Date of birth similarity: 1 same; partial dates compare on what both know; a
 * day/month swap or a one-year difference counts as close. */
static double dob_score(iop_date q, iop_date r) {
    if (!q.year || !r.year) return 0.5; /* unknown: neutral */
    if (q.year == r.year) {
        if (!q.month || !r.month) return 0.85;
        if (q.month == r.month) return (!q.day || !r.day) ? 0.9 : q.day == r.day ? 1.0 : 0.6;
        if (q.day && r.day && q.day == r.month && q.month == r.day) return 0.8; /* day/month swapped */
        return 0.35;
    }
    if (abs(q.year - r.year) == 1 && q.month == r.month && q.day == r.day) return 0.6;
    return 0.0;
}

/* A query prepared once for ranking every candidate. */
typedef struct prepared {
    const esp_query *q;
    tokens qt;
    uint64_t qmask[24];     /* sys_token_mask of each of qt's tokens */
    char doc[128];
    /* the names normalised for the index (sys_name_key), when there are few enough */
    bool normalised;
    const char *sur[16], *giv[16];
    char names[32][512];
    uint32_t sounds[64];    /* the names engine's sound keys of the query's names */
    size_t n_sounds;
} prepared;

static void prepare_query(prepared *pq, const esp_query *q) {
    memset(pq, 0, sizeof *pq);
    pq->q = q;
    if (q->doc_number) sys_doc_key(q->doc_number, pq->doc, sizeof pq->doc);
    /* each name normalised once: for the ranking's tokens and for the indexes' keys */
    pq->normalised = q->n_surnames <= 16 && q->n_given_names <= 16;
    char spare[512];
    for (size_t i = 0; i < q->n_surnames; i++) {
        char *n = pq->normalised ? pq->names[i] : spare;
        sys_name_key(q->surnames[i], n, sizeof spare);
        add_tokens(&pq->qt, n);
        if (pq->normalised) pq->sur[i] = n;
    }
    for (size_t i = 0; i < q->n_given_names; i++) {
        char *n = pq->normalised ? pq->names[16 + i] : spare;
        sys_name_key(q->given_names[i], n, sizeof spare);
        add_tokens(&pq->qt, n);
        if (pq->normalised) pq->giv[i] = n;
    }
    for (int i = 0; i < pq->qt.n; i++) pq->qmask[i] = sys_token_mask(pq->qt.t[i], strlen(pq->qt.t[i]));
}

/* Scores a candidate against the query in [0,1]; 0 = not a candidate.  Weights: names
 * 0.55, date of birth 0.30, nationality 0.10, sex 0.05; a matching travel document lifts
 * the score to at least 0.6 (0.9 for a document-only query). */
static double esp_score(const prepared *pq, const sys_candidate *c, const char **match, bool *holds_doc) {
    const esp_query *q = pq->q;
    int hit = 0;
    for (int i = 0; i < pq->qt.n; i++)
        for (size_t j = 0; j < c->n_tokens; j++)
            if (!strcmp(pq->qt.t[i], c->tokens[j])) { hit++; break; }
    double name = pq->qt.n ? (double)hit / pq->qt.n : 0;
    /* a surname and a given name that sound like the query's though spelled or written
     * otherwise (the index's sound keys: Phabio Hussain / Fabio Hussein, Гронский Михаил /
     * Gronskii Mikhail) count as a partial match; the names engine then decides */
    if (name < 0.5 && c->sound_hits) name = 0.5;
    bool doc = false;
    if (q->doc_number)
        for (size_t i = 0; i < c->n_docs && !doc; i++)
            doc = !strcmp(pq->doc, c->doc_keys[i]) && (!q->doc_country || !strcmp(q->doc_country, c->doc_countries[i]));
    if (!doc && name == 0) return 0;
    double dob = (q->fields & ESP_F_DOB) ? dob_score(q->dob, c->dob) : 0.5;
    double nat = 0.5;
    if (q->nationality) {
        nat = 0;
        for (size_t i = 0; i < c->n_nationalities; i++) nat = !strcmp(q->nationality, c->nationalities[i]) ? 1 : nat;
    }
    double sex = (q->sex && c->sex != 'U') ? (q->sex == c->sex ? 1 : 0) : 0.5;
    double s = combine(pq->qt.n, name, dob, nat, sex, doc);
    /* exact: every surname as given, every name token, the full date */
    bool exact = false;
    if (pq->qt.n && name == 1.0 && (!(q->fields & ESP_F_DOB) || dob == 1.0)) {
        exact = true;
        for (size_t i = 0; i < q->n_surnames && exact; i++) {
            bool same = false;
            for (size_t j = 0; j < c->n_surnames; j++) same |= !strcmp(q->surnames[i], c->surnames[j]);
            exact = same;
        }
    }
    *match = doc && name < 1.0 ? "document" : exact ? "exact" : name == 1.0 ? "normalised" : "partial";
    *holds_doc = doc;
    return s;
}

/* An upper bound of esp_score from what the index holds beside a candidate's summary:
 * a query token whose filter bits the record lacks is not among its tokens (the others
 * count as met), its nationality counts as the query's.  Every part of the score only
 * grows from the true one to this, so a candidate under the bound's threshold is under
 * the score's: not read at all.  A document number in the query: no bound. */
static double esp_score_bound(const prepared *pq, const sys_cand_meta *m) {
    const esp_query *q = pq->q;
    if (q->doc_number || !pq->qt.n) return 1.0;
    int hit = 0;
    for (int i = 0; i < pq->qt.n; i++) hit += (m->tokens & pq->qmask[i]) == pq->qmask[i];
    double name = (double)hit / pq->qt.n;
    if (name < 0.5 && m->sound_hits) name = 0.5;
    if (name == 0) return 0;
    double dob = (q->fields & ESP_F_DOB) ? dob_score(q->dob, m->dob) : 0.5;
    double nat = q->nationality ? 1 : 0.5;
    double sex = (q->sex && m->sex != 'U') ? (q->sex == m->sex ? 1 : 0) : 0.5;
    return combine(pq->qt.n, name, dob, nat, sex, false);
}

typedef struct scored {
    double score;
    const char *match;
    char *id;
    char *summary;          /* the candidate's ranking summary, as the index holds it */
    char *body;             /* read for the shown hits only (and to rank old summaries) */
    names_verdict verdict;  /* the names engine's, when it re-ranked (has_nr) */
    names_ident *ident;     /* the candidate as the names engine prepared it */
    bool holds_doc;         /* holds the queried travel document */
    bool has_nr;
    bool shown;
} scored;

static void scored_free(scored *x) {
    names_ident_free(x->ident);
    x->ident = NULL;
    free(x->body);
    free(x->id);
    free(x->summary);
    x->body = x->id = x->summary = NULL;
}

typedef struct collect {
    const prepared *pq;
    const esp_profile *p;
    iop_system sys;
    scored *items;
    size_t n, keep;
    bool nomem;
    bool check_bound;             /* verification: compare the bound with the score */
    uint64_t checked, violations;
} collect;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int collect_cb(void *ctx, const sys_candidate *cand) {
    collect *c = ctx;
    /* never shown, never counted: kinds and SIS categories outside the profile */
    if (!esp_profile_shows_kind(c->p, c->sys, cand->kind, cand->category)) return 0;
    const char *match = NULL;
    bool holds_doc = false;
    double s = esp_score(c->pq, cand, &match, &holds_doc);
    if (c->check_bound) {
        c->checked++;
        c->violations += s > esp_score_bound(c->pq, &cand->meta);
    }
    if (s < 0.50) return 0; /* below: not the same person on any field that counts */
    if (c->n == c->keep) {
        size_t w = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->items[i].score < c->items[w].score) w = i;
        if (c->items[w].score >= s) return 0;
        scored_free(&c->items[w]);
        c->n--;
        c->items[w] = c->items[c->n];
    }
    scored *it = &c->items[c->n];
    memset(it, 0, sizeof *it);
    it->id = strdup(cand->id);
    it->summary = strdup(cand->summary ? cand->summary : "");
    if (!it->id || !it->summary) { scored_free(it); c->nomem = true; return 1; }
    it->score = s;
    it->match = match;
    it->holds_doc = holds_doc;
    it->shown = true;
    c->n++;
    return 0;
}

/* The index's early test: candidates whose bound is under collect_cb's threshold. */
static bool collect_pre(void *ctx, const sys_cand_meta *m) {
    collect *c = ctx;
    return esp_score_bound(c->pq, m) >= 0.50;
}

/* A system's records are read in one read transaction, begun at the first read (a
 * search that shows nothing reads nothing). */
typedef struct reading {
    sys_store *ss;
    bool open;
} reading;

static void reading_begin(reading *rd) {
    if (!rd->open) rd->open = sys_read_begin(rd->ss, NULL) == IOP_OK;
}

static iop_code read_json(reading *rd, const char *id, char **body) {
    iop_err gerr;
    reading_begin(rd);
    return sys_get_json(rd->ss, id, body, &gerr);
}

/* The names engine's form of the identity a summary carries (has_identity). */
static iop_code prepare_identity(const names_engine *eng, const sys_candidate *cand, names_ident **out) {
    rec_document docs[SYS_CAND_MAX];
    for (size_t i = 0; i < cand->n_docs; i++)
        docs[i] = (rec_document){.type = (char *)cand->doc_types[i], .number = (char *)cand->doc_keys[i],
                                 .country = cand->doc_countries[i][0] ? (char *)cand->doc_countries[i] : NULL};
    names_fields f = {.surnames = cand->surnames, .n_surnames = cand->n_surnames,
                      .given_names = cand->given_names, .n_given_names = cand->n_given_names,
                      .surname_at_birth = cand->surname_at_birth, .aliases = cand->aliases,
                      .n_aliases = cand->n_aliases, .dob = cand->dob,
                      .sex = cand->sex == 'U' ? 0 : cand->sex, .nationalities = cand->nationalities,
                      .n_nationalities = cand->n_nationalities, .place_of_birth = cand->place_of_birth,
                      .documents = docs, .n_documents = cand->n_docs};
    return names_prepare_fields(eng, &f, out, NULL);
}

/* Appends h to out[0..n) unless it is there already; returns the new count. */
static size_t append_key(uint32_t *out, size_t n, size_t max, uint32_t h) {
    for (size_t k = 0; k < n; k++)
        if (out[k] == h) return n;
    if (n < max) out[n++] = h;
    return n;
}

/* A key for two names that sound like two others, in either order. */
static uint32_t sound_pair(uint32_t a, uint32_t b) {
    uint64_t x = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x ? (uint32_t)x : 1;
}

/* Adds the pair keys of two sets of sound keys (each a with each b), without duplicates. */
static size_t add_pairs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out, size_t n,
                        size_t max) {
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            if (a[i] != b[j]) n = append_key(out, n, max, sound_pair(a[i], b[j]));
        }
    return n;
}

/* Sound keys of names written in other scripts or with diacritics, remembered for all the
 * indexes: the names engine prepares such a name in full (every transliteration scheme),
 * and the same names recur across a population and its systems.  ASCII names are read
 * directly, not kept.  Indexes are built and updated on several threads: a mutex. */
#define SOUND_CACHE_MAX (1u << 18)
typedef struct sound_entry {
    char *name;
    uint8_t n;
    uint32_t keys[15];
} sound_entry;
typedef struct sound_cache {
    const names_engine *eng;
    bool keep;              /* false: nothing is remembered (a query's own names) */
    pthread_mutex_t mu;     /* the table (indexes are built and updated on several threads) */
    sound_entry *t;
    size_t cap, used;
} sound_cache;

static void sound_cache_free(sound_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++) free(c->t[i].name);
    free(c->t);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static size_t lookup_name_sounds(sound_cache *c, const char *name, uint32_t *out, size_t n, size_t max);

static size_t cached_name_sounds(sound_cache *c, const char *name, uint32_t *out, size_t n, size_t max) {
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)name; *p && ascii; p++) ascii = *p < 0x80;
    if (ascii || !c->keep) return names_name_sound_keys(c->eng, name, out, n, max);
    pthread_mutex_lock(&c->mu);
    n = lookup_name_sounds(c, name, out, n, max);
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* cached_name_sounds with the table's mutex held (a first sight is prepared under it:
 * the same name met on another thread meanwhile waits instead of preparing it twice). */
static uint64_t name_hash(const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

/* The free table position for a name not in the table. */
static sound_entry *free_entry(sound_cache *c, uint64_t h) {
    size_t j = h & (c->cap - 1);
    while (c->t[j].name) j = (j + 1) & (c->cap - 1);
    return &c->t[j];
}

static size_t lookup_name_sounds(sound_cache *c, const char *name, uint32_t *out, size_t n, size_t max) {
    if (!c->t && !(c->t = calloc(c->cap = 1024, sizeof *c->t))) return names_name_sound_keys(c->eng, name, out, n, max);
    uint64_t h = name_hash(name);
    size_t j = h & (c->cap - 1);
    while (c->t[j].name && strcmp(c->t[j].name, name)) j = (j + 1) & (c->cap - 1);
    sound_entry *en = &c->t[j], fresh = {0};
    if (!en->name) {
        fresh.n = (uint8_t)names_name_sound_keys(c->eng, name, fresh.keys, 0, 15);
        en = &fresh; /* kept below when there is room */
        if (c->used < SOUND_CACHE_MAX && (c->used + 1) * 10 > c->cap * 7) {
            /* grow first */
            sound_entry *t = calloc(c->cap * 2, sizeof *t);
            if (t) {
                sound_entry *old = c->t;
                size_t oc = c->cap;
                c->t = t;
                c->cap = oc * 2;
                for (size_t i = 0; i < oc; i++)
                    if (old[i].name) *free_entry(c, name_hash(old[i].name)) = old[i];
                free(old);
            }
        }
        if (c->used < SOUND_CACHE_MAX && (c->used + 1) * 10 <= c->cap * 7 && (fresh.name = strdup(name))) {
            en = free_entry(c, h);
            *en = fresh;
            c->used++;
        }
    }
    for (size_t i = 0; i < en->n; i++) n = append_key(out, n, max, en->keys[i]);
    return n;
}

/* The sound keys of an identity's names: a surname's sound paired with a given name's
 * (the surname at birth too), and within an alias its names' sounds two by two -- both
 * names must sound alike, which keeps the keys as selective as the spelled ones. */
static size_t identity_sounds(sound_cache *c, const char *const *sur, size_t ns, const char *birth,
                              const char *const *giv, size_t ng, const char *const *aliases, size_t na, uint32_t *out,
                              size_t max) {
    uint32_t s[32], g[32], a[32];
    size_t n_s = 0, n_g = 0, n = 0;
    for (size_t i = 0; i < ns; i++) n_s = cached_name_sounds(c, sur[i], s, n_s, 32);
    if (birth) n_s = cached_name_sounds(c, birth, s, n_s, 32);
    for (size_t i = 0; i < ng; i++) n_g = cached_name_sounds(c, giv[i], g, n_g, 32);
    n = add_pairs(s, n_s, g, n_g, out, n, max);
    for (size_t i = 0; i < na; i++) {
        size_t n_a = cached_name_sounds(c, aliases[i], a, 0, 32);
        n = add_pairs(a, n_a, a, n_a, out, n, max);
    }
    return n;
}

/* The cache the indexes share (created with the first), or NULL without memory. */
static void *sound_ctx(esp *e) {
    pthread_mutex_lock(&e->sounds_mu);
    if (!e->sounds && (e->sounds = calloc(1, sizeof *e->sounds))) {
        e->sounds->eng = e->names;
        e->sounds->keep = true;
        pthread_mutex_init(&e->sounds->mu, NULL);
    }
    pthread_mutex_unlock(&e->sounds_mu);
    return e->sounds;
}

static size_t sound_keys(void *ctx, const sys_candidate *c, uint32_t *out, size_t max) {
    if (!ctx) return 0;
    return identity_sounds(ctx, c->surnames, c->n_surnames, c->surname_at_birth, c->given_names, c->n_given_names,
                           c->aliases, c->n_aliases, out, max);
}

/* Prepares a kept candidate for the names engine: from the identity its summary carries,
 * or, for a summary written before the store kept it there, from its record. */
static iop_code prepare_candidate(task *t, reading *rd, scored *it, names_ident **out) {
    size_t ls = strlen(it->summary);
    char stack[2048], *buf = ls < sizeof stack ? stack : malloc(ls + 1);
    if (!buf) return IOP_ENOMEM;
    sys_candidate *cand = malloc(sizeof *cand);
    iop_code rc = IOP_EINVAL;
    if (cand && sys_candidate_parse(it->id, "", it->summary, buf, cand) && cand->has_identity) {
        rc = prepare_identity(t->e->names, cand, out);
    } else if (cand) {
        rec_person rp;
        if (!it->body && read_json(rd, it->id, &it->body) != IOP_OK) it->body = NULL;
        if (it->body && rec_parse(it->body, strlen(it->body), &rp, NULL) == IOP_OK) {
            rc = names_prepare(t->e->names, &rp, out, NULL);
            rec_person_clear(&rp);
        }
    }
    free(cand);
    if (buf != stack) free(buf);
    return rc;
}

/* The names engine's verdict and score for a candidate (its prepared form kept for the
 * reasons); a matching travel document keeps its floor score.  Returns whether it is
 * to be shown. */
static bool judge(task *t, scored *it, names_ident *id) {
    names_ident_free(it->ident);
    it->ident = id;
    /* verdict and score only; the reasons are written for the shown hits (explain) */
    names_result nr;
    names_compare_quick(t->e->names, t->qid, id, &nr);
    it->has_nr = true;
    it->verdict = nr.verdict;
    double s = nr.score;
    if (!strcmp(it->match, "document") && s < it->score) s = it->score;
    it->score = s;
    return it->holds_doc || it->verdict != NAMES_DIFFERENT;
}

/* Re-ranks the shortlist with the names engine: each kept candidate is compared with
 * the query in full (verdict, score and per-field evidence); a matching travel document
 * keeps its floor score.  A candidate the engine finds "different" is not shown: the
 * reply holds records of the same or a similar identity (Reg. 2019/817 Art 28(1)), or
 * holding the queried document -- no more data than the query needs (data minimisation,
 * Reg. 2016/679 Art 5(1)(c), Dir. 2016/680 Art 4(1)(c)). */
static void rerank(task *t, reading *rd, collect *c) {
    for (size_t i = 0; i < c->n; i++) {
        names_ident *id = NULL;
        scored *it = &c->items[i];
        if (prepare_candidate(t, rd, it, &id) != IOP_OK) continue;
        it->shown = judge(t, it, id);
    }
}

/* Candidates taken from a system's index for a reply of `limit` hits: two and a half
 * times as many (at least 25), those meeting the most query keys first.  At a million
 * persons, 25 instead of 100 candidates for the default 10 hits found the queried person
 * as often (93.4 % of 5,464 queries, bench_core) at two thirds of the CPU time. */
static size_t candidate_limit(size_t limit) {
    size_t n = limit * 5 / 2;
    return n < 25 ? 25 : n;
}

/* Reads a hit about to be shown, with its summary as stored now.  When the record was
 * updated since the index ranked it, it is ranked again on what is stored (visibility,
 * cheap score, the names engine), so that the verdict and reasons shown belong to the
 * record shown.  false: not to be shown (deleted, now invisible or now different). */
static bool read_shown(task *t, reading *rd, scored *it) {
    if (it->body) return true; /* read by the ranking, in this snapshot */
    char *sum = NULL;
    iop_err gerr;
    reading_begin(rd);
    if (sys_get_json_summary(rd->ss, it->id, &it->body, &sum, &gerr) != IOP_OK) return false;
    if (!strcmp(sum, it->summary)) { free(sum); return true; }
    free(it->summary);
    it->summary = sum;
    rec_person rp;
    if (rec_parse(it->body, strlen(it->body), &rp, NULL) != IOP_OK) return false;
    bool ok = esp_may_see(t->who->profile, &rp);
    size_t ls = strlen(sum);
    char *buf = malloc(ls + 1);
    sys_candidate *cand = malloc(sizeof *cand);
    ok = ok && buf && cand && sys_candidate_parse(it->id, rp.kind, sum, buf, cand);
    if (ok) {
        it->score = esp_score(t->pq, cand, &it->match, &it->holds_doc);
        ok = it->score >= 0.50;
    }
    if (ok && t->qid) {
        names_ident *id = NULL;
        ok = names_prepare(t->e->names, &rp, &id, NULL) == IOP_OK && judge(t, it, id);
    }
    free(buf);
    free(cand);
    rec_person_clear(&rp);
    return ok;
}

/* The names engine's verdict with its reasons, for a hit about to be shown (judge()
 * kept the prepared candidate: has_nr implies ident). */
static int explain(task *t, scored *it, iop_buf *out) {
    if (!it->ident) return 0;
    names_result nr;
    names_compare(t->e->names, t->qid, it->ident, &nr);
    return iop_buf_puts(out, "\"names\":") | names_result_json(&nr, out) | iop_buf_puts(out, ",");
}

static void run_task(task *t) {
    sys_store *ss;
    iop_err_clear(&t->err);
    t->rc = reader_sys(t->e, t->rs, t->sys, &ss, &t->err);
    if (t->rc) return;
    const esp_query *q = t->q;
    sys_query sq = {.surnames = (const char *const *)q->surnames, .n_surnames = q->n_surnames,
                    .given_names = (const char *const *)q->given_names, .n_given_names = q->n_given_names,
                    .dob = q->dob, .nationality = q->nationality, .sex = q->sex, .doc_number = q->doc_number,
                    .doc_country = q->doc_country, .limit = candidate_limit(q->limit)};
    const prepared *pqp = t->pq;
    if (pqp->normalised) {
        sq.surnames = pqp->sur;
        sq.given_names = pqp->giv;
        sq.normalised = true;
    }
    sq.sounds = pqp->sounds;
    sq.n_sounds = pqp->n_sounds;
    if (!t->e->full_candidate_reads) sq.pre = collect_pre;
    /* the best by token matching, then re-ranked by the names engine */
    /* every candidate taken from the index is ranked (the names engine may find some of
     * the best by the cheap score different); the reply stops at q->limit */
    size_t keep = sq.limit;
    collect c = {.pq = pqp, .p = t->who->profile, .sys = t->sys, .keep = keep, .check_bound = t->e->full_candidate_reads};
    c.items = calloc(keep + 1, sizeof *c.items);
    if (!c.items) { t->rc = iop_fail(&t->err, IOP_ENOMEM, "out of memory"); return; }
    if (q->n_surnames || q->n_given_names || q->doc_number) {
        sys_index *x;
        t->rc = index_of(t->e, t->sys, &x, &t->err);
        if (!t->rc) t->rc = sys_index_search(x, &sq, collect_cb, &c, &t->err);
    }
    if (c.check_bound) {
        atomic_fetch_add(&t->e->bound_checked, c.checked);
        atomic_fetch_add(&t->e->bound_violations, c.violations);
    }
    if (!t->rc && c.nomem) t->rc = iop_fail(&t->err, IOP_ENOMEM, "out of memory");
    /* the shown records are read now (the ranking needed only their summaries), with the
     * biometric hits' records, in one read transaction */
    reading rd = {.ss = ss};
    if (t->qid && !t->rc) rerank(t, &rd, &c);
    qsort(c.items, c.n, sizeof *c.items, cmp_scored);
    int e = iop_buf_printf(&t->out, "{\"system\":\"%s\",\"hits\":[", iop_system_name(t->sys));
    size_t shown = 0;
    /* biometric hits first (sBMS, fused fingerprint and face score), joined with the
     * alphanumeric evidence when the same record matched on names too */
    for (size_t b = 0; b < t->n_bio && !t->rc; b++) {
        const sbms_hit *h = &t->bio[b];
        rec_person r;
        iop_err gerr;
        reading_begin(&rd);
        if (sys_get(ss, h->record_id, false, &r, &gerr) != IOP_OK) continue; /* deleted meanwhile */
        char cat[64];
        if (esp_profile_shows_kind(t->who->profile, t->sys, r.kind, esp_sis_category(&r, cat, sizeof cat))) {
            e |= iop_buf_printf(&t->out, "%s{\"score\":%.3f,\"match\":\"biometric\",\"biometric\":{\"score\":%.4f,"
                                "\"llr\":%.2f,\"fingerprint_score\":%.2f,\"face_score\":%.4f,\"fingers_matched\":%d},",
                                shown ? "," : "", h->score, h->score, h->llr, h->fp_score, h->face_score, h->fingers_matched);
            for (size_t i = 0; i < c.n; i++) {
                if (c.items[i].id && !strcmp(c.items[i].id, h->record_id) && c.items[i].has_nr)
                    e |= explain(t, &c.items[i], &t->out);
            }
            e |= iop_buf_puts(&t->out, "\"record\":") | esp_filter_record(t->who->profile, &r, &t->out) |
                 iop_buf_puts(&t->out, "}");
            shown++;
        }
        /* the same record is not listed again among the alphanumeric hits */
        for (size_t i = 0; i < c.n; i++)
            if (c.items[i].id && !strcmp(c.items[i].id, h->record_id)) c.items[i].shown = false;
        rec_person_clear(&r);
    }
    size_t listed = 0;
    for (size_t i = 0; i < c.n; i++) {
        scored *it = &c.items[i];
        if (!t->rc && it->shown && listed < q->limit) {
            /* only the shown hits are read, then filtered to the profile's categories */
            if (read_shown(t, &rd, it)) { /* else deleted, or changed, meanwhile: not shown */
                listed++;
                e |= iop_buf_puts(&t->out, shown++ ? ",{\"score\":" : "{\"score\":") |
                     iop_buf_fixed(&t->out, it->score, 3) | iop_buf_puts(&t->out, ",\"match\":\"") |
                     iop_buf_puts(&t->out, it->match) | iop_buf_puts(&t->out, "\",");
                /* the names engine's verdict and why (Reg. 2019/817 Art 28: same / similar) */
                if (it->has_nr) e |= explain(t, it, &t->out);
                e |= iop_buf_puts(&t->out, "\"record\":");
                t->rc = esp_filter_json(t->who->profile, t->sys, it->body, &t->out, &t->err);
                e |= iop_buf_puts(&t->out, "}");
            }
        }
        scored_free(it);
    }
    if (rd.open) sys_read_end(ss);
    e |= iop_buf_puts(&t->out, "]}");
    if (e && !t->rc) t->rc = iop_fail(&t->err, IOP_ENOMEM, "out of memory");
    t->hits = shown;
    free(c.items);
}

/* ---- the portal's operations ---- */

static iop_code check_query(const esp_actor *who, const esp_query *q, iop_system *systems, size_t *n, iop_err *err) {
    const esp_profile *p = who->profile;
    if (!p) return iop_fail(err, IOP_EDENIED, "no profile selected");
    unsigned extra = q->fields & ~p->fields;
    if (extra) {
        for (unsigned bit = 1; bit <= ESP_F_FACE; bit <<= 1)
            if (extra & bit)
                return iop_fail(err, IOP_EDENIED, "profile '%s' may not query by '%s' (Art 8(1)(a))", p->name,
                                esp_field_name(bit));
    }
    *n = 0;
    if (q->n_systems) {
        for (size_t i = 0; i < q->n_systems; i++)
            if (!esp_profile_queries(p, q->systems[i]))
                return iop_fail(err, IOP_EDENIED, "profile '%s' may not query %s (Art 8(1)(b))", p->name,
                                iop_system_name(q->systems[i]));
    }
    for (int s = 0; s < IOP_SYS_COUNT; s++) {
        int mode = p->sys[s].mode;
        bool asked = false;
        for (size_t i = 0; i < q->n_systems; i++) asked |= q->systems[i] == (iop_system)s;
        if (mode == ESP_Q_ALWAYS || (mode == ESP_Q_OPTIONAL && (asked || !q->n_systems))) systems[(*n)++] = (iop_system)s;
    }
    return IOP_OK;
}

/* Logs one portal operation (Art 10(1)).  An operation that cannot be logged does not
 * happen: the caller turns a failure into an error reply. */
static iop_code log_op(esp *e, const esp_actor *who, const char *op, const iop_system *systems, const size_t *counts,
                       size_t n, const char *detail, iop_err *err) {
    if (!e->log) return IOP_OK;
    const char *names[IOP_SYS_COUNT];
    audit_count ac[IOP_SYS_COUNT];
    for (size_t i = 0; i < n; i++) {
        names[i] = iop_system_name(systems[i]);
        ac[i].system = names[i];
        ac[i].count = counts ? (int64_t)counts[i] : 0;
    }
    audit_entry en = {.actor = who->user, .authority = who->authority, .profile = who->profile ? who->profile->name : NULL,
                      .purpose = who->purpose, .component = "esp", .operation = op, .systems = names, .n_systems = n,
                      .counts = counts ? ac : NULL, .n_counts = counts ? n : 0, .detail = detail};
    iop_code rc = audit_append_ex(e->log, &en, e->durable_logs, NULL, err);
    if (rc) iop_err_prefix(err, "the access log refused the entry, so the %s is refused", op);
    return rc;
}

iop_code esp_search(esp *e, const esp_actor *who, const esp_query *q, iop_buf *reply, iop_err *err) {
    iop_system systems[IOP_SYS_COUNT];
    size_t n = 0;
    iop_code rc = check_query(who, q, systems, &n, err);
    if (rc) {
        log_op(e, who, "query-refused", NULL, NULL, 0, NULL, NULL);
        return rc;
    }
    names_ident *qid = NULL;
    if (e->names && (q->n_surnames || q->n_given_names)) {
        names_fields f = {.surnames = (const char *const *)q->surnames, .n_surnames = q->n_surnames,
                          .given_names = (const char *const *)q->given_names, .n_given_names = q->n_given_names,
                          .dob = q->dob, .sex = q->sex,
                          .nationalities = q->nationality ? (const char *const *)&q->nationality : NULL,
                          .n_nationalities = q->nationality ? 1 : 0};
        rec_document d = {.number = q->doc_number, .country = q->doc_country};
        if (q->doc_number) { f.documents = &d; f.n_documents = 1; }
        if ((rc = names_prepare_fields(e->names, &f, &qid, err))) return rc;
    }
    /* biometric identification through the sBMS, over the permitted systems only */
    sbms_hit *bio = NULL;
    size_t n_bio = 0;
    if (q->n_fingers || q->face) {
        sbms *bms = NULL;
        if (!e->get_bio) { names_ident_free(qid); return iop_fail(err, IOP_EINVAL, "this node has no biometric matching service"); }
        if ((rc = e->get_bio(e->bio_ctx, &bms, err))) { names_ident_free(qid); return rc; }
        size_t k = q->limit * 2;
        bio = calloc(k, sizeof *bio);
        sbms_probe probe = {.fingers = q->fingers, .n_fingers = q->n_fingers, .face = q->face};
        if (!bio) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        else rc = sbms_search(bms, &probe, systems, n, k, 0.5, bio, &n_bio, err);
        if (rc) { free(bio); names_ident_free(qid); return rc; }
    }
    reader_set *rs = reader_acquire(e);
    if (!rs) { free(bio); names_ident_free(qid); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    task tasks[IOP_SYS_COUNT];
    memset(tasks, 0, sizeof tasks);
    prepared *pq = malloc(sizeof *pq);
    if (!pq) { reader_release(e, rs); free(bio); names_ident_free(qid); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    prepare_query(pq, q);
    sound_cache qc = {.eng = e->names}; /* the query's own names: not kept */
    if (e->names && !e->exact_keys_only)
        pq->n_sounds = identity_sounds(&qc, (const char *const *)q->surnames, q->n_surnames, NULL,
                                       (const char *const *)q->given_names, q->n_given_names, NULL, 0, pq->sounds,
                                       sizeof pq->sounds / sizeof *pq->sounds);
    for (size_t i = 0; i < n; i++) {
        tasks[i].e = e; tasks[i].who = who; tasks[i].q = q; tasks[i].qid = qid; tasks[i].pq = pq; tasks[i].sys = systems[i]; tasks[i].rs = rs;
        /* this system's biometric hits, best first as the sBMS returned them */
        size_t m = 0;
        for (size_t b = 0; b < n_bio; b++) m += bio[b].system == systems[i];
        sbms_hit *mine = m ? calloc(m, sizeof *mine) : NULL;
        for (size_t b = 0; mine && b < n_bio; b++)
            if (bio[b].system == systems[i]) mine[tasks[i].n_bio++] = bio[b];
        tasks[i].bio = mine;
        iop_buf_init(&tasks[i].out);
    }
    job j = {.tasks = tasks, .n = n};
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    if (n) run_job(e, &j);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    reader_release(e, rs);
    names_ident_free(qid);
    free(pq);
    for (size_t i = 0; i < n; i++) free((void *)tasks[i].bio);
    free(bio);

    size_t counts[IOP_SYS_COUNT];
    int bad = iop_buf_puts(reply, "{\"profile\":") | iop_buf_json_str(reply, who->profile->name) |
              iop_buf_puts(reply, ",\"results\":[");
    for (size_t i = 0; i < n; i++) {
        counts[i] = tasks[i].hits;
        if (tasks[i].rc && !rc) {
            rc = tasks[i].rc;
            *err = tasks[i].err;
            iop_err_prefix(err, "%s", iop_system_name(tasks[i].sys));
        }
        bad |= iop_buf_puts(reply, i ? "," : "") | iop_buf_append(reply, tasks[i].out.data, tasks[i].out.len);
        iop_buf_free(&tasks[i].out);
    }
    bad |= iop_buf_puts(reply, "]}");
    if (!rc && bad) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    /* Art 10(1): profile, time, systems queried; the fields used, by name only */
    char detail[256];
    size_t dl = (size_t)snprintf(detail, sizeof detail, "{\"fields\":[");
    bool first = true;
    for (unsigned bit = 1; bit <= ESP_F_FACE; bit <<= 1)
        if (q->fields & bit) {
            dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s\"%s\"", first ? "" : ",", esp_field_name(bit));
            first = false;
        }
    snprintf(detail + dl, sizeof detail - dl, "]}");
    if (!rc && (rc = log_op(e, who, "query", systems, counts, n, detail, err))) iop_buf_reset(reply);
    else if (rc) log_op(e, who, "query", systems, counts, n, detail, NULL);
    return rc;
}

iop_code esp_read(esp *e, const esp_actor *who, iop_system s, const char *id, iop_buf *reply, iop_err *err) {
    if (!who->profile || !esp_profile_queries(who->profile, s)) {
        log_op(e, who, "read-refused", &s, NULL, 1, NULL, NULL);
        return iop_fail(err, IOP_ENOTFOUND, "no record '%s'", id);
    }
    reader_set *rs = reader_acquire(e);
    if (!rs) return iop_fail(err, IOP_ENOMEM, "out of memory");
    sys_store *ss;
    rec_person r;
    iop_code rc = reader_sys(e, rs, s, &ss, err);
    if (!rc) rc = sys_get(ss, id, true, &r, err);
    reader_release(e, rs);
    if (!rc) {
        if (!esp_may_see(who->profile, &r)) rc = iop_fail(err, IOP_ENOTFOUND, "no record '%s'", id);
        else rc = esp_filter_record(who->profile, &r, reply);
        rec_person_clear(&r);
    }
    size_t one = rc ? 0 : 1;
    iop_code lrc = log_op(e, who, "read", &s, &one, 1, NULL, rc ? NULL : err);
    if (!rc && lrc) { iop_buf_reset(reply); rc = lrc; }
    return rc;
}
