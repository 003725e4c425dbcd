/*
 * names.h -- the biographic identity-matching engine: are two identity records the
 * same person, similar, or different (Reg. (EU) 2019/817 Art 28, 2019/818 Art 28;
 * "same" and "similar" identity data in Delegated Regs. (EU) 2023/333 and 2023/332).
 * Used by the CIR, the search portal (ranking) and the multiple-identity detector.
 *
 * The model (docs/names.md explains it with figures):
 *   names_engine   created once: the nickname table and the ICU transliterator, and
 *                  optionally a learned transliteration model (names_tlm) that adds
 *                  blocking keys and a cross-script similarity for native-script names.
 *   names_ident    a prepared identity: every name normalised (NFKC, case folding),
 *                  transliterated by several schemes at once (ICAO Doc 9303, BGN/PCGN,
 *                  ICU Any-Latin), tokenised with roles (given, surname, particle),
 *                  with phonetic (NYSIIS) and consonant-skeleton keys precomputed;
 *                  dates, sex, nationalities, place of birth, travel documents
 *                  (OCR-folded numbers) and other identifiers normalised.
 *   names_compare  two prepared identities -> verdict, score in [0,1], evidence per field.
 *   names_index    an in-memory blocking index of compact keys (no full identities):
 *                  add / remove / search top-k; the final scoring of the best
 *                  candidates fetches prepared identities through a caller's store.
 *   names_resolve  clusters a set of identities into persons (used by `interop resolve`).
 *
 * Threads: after names_engine_new() the engine is read-only; names_prepare*,
 * names_compare and names_index_search may run concurrently on several threads
 * (the ICU transliterator is guarded by a mutex inside the engine).  names_index_add,
 * names_index_remove and names_index_optimize need exclusive access to that index.
 *
 * Ownership: *_new / names_prepare* allocate, the matching *_free releases.  Strings
 * passed in are copied; nothing keeps a pointer to caller memory except names_index,
 * which keeps the engine pointer (the engine must outlive its indexes) and the store.
 */
#ifndef INTEROP_NAMES_H
#define INTEROP_NAMES_H

#include <stdio.h>
#include "interop/base.h"
#include "interop/record.h"

typedef struct names_engine names_engine;
typedef struct names_ident names_ident;
typedef struct names_index names_index;

/* ---- engine ---- */

/* nicknames_csv: path of a CSV "name1,relationship,name2" (the header line is
 * optional; relationship "has_nickname"), e.g. "<shared>/names/nicknames.csv"; NULL
 * for no nickname table.  Fails with a clear error when the file is unreadable or
 * malformed (file and line) or when ICU cannot open its transliterator. */
iop_code names_engine_new(const char *nicknames_csv, names_engine **out, iop_err *err);
void names_engine_free(names_engine *eng);
/* Number of name forms known to the nickname table. */
size_t names_engine_nickname_count(const names_engine *eng);

/* ---- learned transliteration model (docs/names.md, "Learned transliteration") ----
 *
 * For every native-script character (Cyrillic, Greek, Arabic, Hebrew, Han, Kana, ...)
 * the distribution of the Latin letter groups that render it, learned from name pairs
 * by EM over all monotone alignments.  An engine with a model (a) indexes native-script
 * names under the skeletons and sound classes of their most likely romanisations and
 * (b) scores a Latin token against a native-script token by the model (at most
 * "similar", never "same").  Without a model the engine uses its rule-based readings
 * only.  A model is read-only after training or loading and may be shared by threads. */
typedef struct names_tlm names_tlm;

typedef struct names_tl_pair {
    const char *native; /* UTF-8, e.g. "Щеглова" */
    const char *latin;  /* e.g. "Shcheglova" */
} names_tl_pair;

/* Trains a model from pairs (strings are read, not kept).  eng, when not NULL, gives
 * the Han characters their ICU pinyin as a prior.  Pairs without native or Latin
 * letters, or longer than 32 / 48 of them, are skipped; IOP_EINVAL when none is left.
 * The score calibration is fitted on a tenth of the pairs held out from a second
 * model, per script class. */
iop_code names_tlm_train(const names_engine *eng, const names_tl_pair *pairs, size_t n, names_tlm **out,
                         iop_err *err);
/* Text file (format in docs/names.md), written atomically; provenance lines become
 * comments at its head. */
iop_code names_tlm_save(const names_tlm *m, const char *path, const char *provenance, iop_err *err);
/* IOP_ECORRUPT with file:line for a malformed, truncated or inconsistent file. */
iop_code names_tlm_load(const char *path, names_tlm **out, iop_err *err);
void names_tlm_free(names_tlm *m);
size_t names_tlm_entries(const names_tlm *m);    /* (character, letters) entries */
size_t names_tlm_characters(const names_tlm *m); /* native characters known */
/* Calibrated probability in [0,1] that latin renders native; -1 when the model knows
 * none of the native characters (or either side has no letters). */
double names_tlm_probability(const names_tlm *m, const char *native, const char *latin);
/* The k most likely romanisations of native, best first; returns how many. */
size_t names_tlm_romanise(const names_tlm *m, const char *native, size_t k, char (*out)[49]);

/* The engine takes ownership of m (freed with the engine or when replaced; NULL
 * removes the model).  Set it before preparing identities: identities prepared under
 * another model keep that model's blocking keys. */
void names_engine_set_model(names_engine *eng, names_tlm *m);

/* Japanese readings of names written in kanji (荒木 = Araki, 村上志保美 = Murakami
 * Shihomi), from the person names of MeCab's IPA dictionary (Debian mecab-ipadic:
 * /usr/share/mecab/dic/ipadic/Noun.name.csv, EUC-JP), romanised by ICU's Katakana-Latin
 * (Hepburn).  A prepared kanji name then also has a variant read in Japanese.  Every
 * malformed line is refused with file:line.  names_engine_set_ja borrows ja: free it
 * after the engine.  Set it before preparing identities. */
typedef struct names_ja names_ja;
#define NAMES_JA_DEFAULT_PATH "/usr/share/mecab/dic/ipadic/Noun.name.csv"
iop_code names_ja_load(const char *path, names_ja **out, iop_err *err);
void names_ja_free(names_ja *ja);
size_t names_ja_count(const names_ja *ja);
void names_engine_set_ja(names_engine *eng, const names_ja *ja);
/* the same, the engine owning the dictionary (freed by names_engine_free) */
iop_code names_engine_load_ja(names_engine *eng, const char *path, iop_err *err);
const names_ja *names_engine_ja(const names_engine *eng);
const names_tlm *names_engine_model(const names_engine *eng);

/* ---- identities ---- */

/* A generic identifier beyond the common identity fields, e.g. {"ssn", "1804974"} or
 * {"address", "7 wallaby place"}.  Kinds "ssn", "national_id", "phone", "email" are
 * treated as identifiers (exact or one-typo agreement is strong evidence); any other
 * kind ("address", "suburb", "postcode", ...) is compared as fuzzy text. */
typedef struct names_extra {
    const char *kind;
    const char *value;
} names_extra;

/* The plain input of an identity (everything optional; strings are UTF-8). */
typedef struct names_fields {
    const char *const *surnames;     size_t n_surnames;
    const char *const *given_names;  size_t n_given_names;
    const char *surname_at_birth;
    const char *const *aliases;      size_t n_aliases;   /* full names, order unknown */
    iop_date dob;                    /* year 0 = unknown; partial dates allowed */
    char sex;                        /* 'M', 'F'; 'X', 'U' or 0 = unknown */
    const char *const *nationalities; size_t n_nationalities; /* ISO 3166-1 alpha-3 */
    const char *place_of_birth;
    const rec_document *documents;   size_t n_documents;
    const names_extra *extras;       size_t n_extras;
} names_fields;

/* Prepares an identity.  Errors (IOP_EINVAL, with the field and byte offset): invalid
 * UTF-8, an invalid date or a date of birth in the future, a name longer than 256
 * bytes, more than 64 names.  Empty or punctuation-only names are ignored (documented
 * neutral treatment: the field counts as absent).  *out is set only on success. */
iop_code names_prepare_fields(const names_engine *eng, const names_fields *f, names_ident **out,
                              iop_err *err);
/* Same from an interchange-format record (surnames, given names, surname at birth,
 * aliases, dob, sex, nationalities, place of birth, documents). */
iop_code names_prepare(const names_engine *eng, const rec_person *p, names_ident **out, iop_err *err);
void names_ident_free(names_ident *id);
/* Writes the prepared forms as JSON (the transliterated variants and keys): for
 * debugging and the officer UI ("how was this name read"). */
int names_ident_json(const names_engine *eng, const names_ident *id, iop_buf *out);
/* Sound keys of the identity's names, for blocking by sound across spellings and
 * scripts: the hashes of the two coarse sound-class readings of every name token (all
 * variants, all transliteration schemes; particles, initials and tokens shorter than
 * three letters left out), without duplicates, at most max.  Гронский and Gronskii,
 * Phabio and Fabio, Hussain and Hussein share theirs. */
size_t names_ident_sound_keys(const names_ident *id, uint32_t *out, size_t max);
/* The same for one name (a surname, given names, an alias), appended to out[0..n) without
 * duplicates; returns the new count.  A name in plain ASCII is read directly (about a
 * microsecond); another is prepared in full (every transliteration scheme). */
size_t names_name_sound_keys(const names_engine *eng, const char *name, uint32_t *out, size_t n, size_t max);

/* ---- comparison ---- */

typedef enum names_verdict { NAMES_DIFFERENT = 0, NAMES_SIMILAR = 1, NAMES_SAME = 2 } names_verdict;

typedef enum names_field {
    NAMES_F_NAME = 0,
    NAMES_F_DOB,
    NAMES_F_SEX,
    NAMES_F_NATIONALITY,
    NAMES_F_PLACE_OF_BIRTH,
    NAMES_F_DOCUMENTS,
    NAMES_F_OTHER, /* names_extra identifiers and texts */
    NAMES_F_COUNT
} names_field;

typedef enum names_agreement {
    NAMES_ABSENT = 0, /* missing on one side: neutral */
    NAMES_AGREE_SAME,
    NAMES_AGREE_SIMILAR,
    NAMES_AGREE_DIFFERENT
} names_agreement;

typedef struct names_evidence {
    names_agreement agreement;
    double weight;      /* log2 likelihood ratio this field contributed */
    char reason[160];   /* short human-readable sentence, e.g. "given names: nickname (bob ~ robert)" */
} names_evidence;

typedef struct names_result {
    names_verdict verdict;
    double score;       /* in [0,1]: logistic of the summed weights */
    names_evidence ev[NAMES_F_COUNT];
} names_result;

/* Total over its domain (any two prepared identities); symmetric in verdict and score.
 * Verdict: SAME when the names are the same after normalisation/transliteration, the
 * dates of birth are the same (or absent on both sides) and no field disagrees;
 * SIMILAR when the score reaches NAMES_SIMILAR_SCORE or the names are same/similar and
 * no field disagrees; DIFFERENT otherwise. */
#define NAMES_SIMILAR_SCORE 0.5
void names_compare(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out);
/* Same verdict, score, agreements and weights, with the reason sentences left empty:
 * several times faster, for ranking many candidates. */
void names_compare_quick(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out);
const char *names_verdict_name(names_verdict v);       /* "same", "similar", "different" */
const char *names_field_name(names_field f);           /* "name", "dob", ... */
const char *names_agreement_name(names_agreement a);   /* "absent", "same", ... */
/* {"verdict":"similar","score":0.93,"evidence":{"name":{"agreement":..,"weight":..,"reason":..},..}} */
int names_result_json(const names_result *r, iop_buf *out);

/* ---- candidate index ---- */

/* Where the index fetches full prepared identities for its final scoring.  get()
 * returns the identity of id or NULL when the caller no longer has it; the pointer
 * must stay valid until put() (which may be NULL when nothing needs releasing).
 * Both may be called from several search threads at once. */
typedef struct names_store {
    const names_ident *(*get)(void *user, uint64_t id);
    void (*put)(void *user, const names_ident *ident);
    void *user;
} names_store;

typedef struct names_hit {
    uint64_t id;
    double score;
    names_verdict verdict;
} names_hit;

/* store may be NULL: search then ranks by the compact signatures only (coarse scores,
 * verdicts from the signature; documented in docs/names.md). */
iop_code names_index_new(const names_engine *eng, const names_store *store, names_index **out, iop_err *err);
void names_index_free(names_index *ix);
/* IOP_EEXIST when id is already present. */
iop_code names_index_add(names_index *ix, uint64_t id, const names_ident *ident, iop_err *err);
/* IOP_ENOTFOUND when absent. */
iop_code names_index_remove(names_index *ix, uint64_t id);
/* Merges the internal runs into one sorted run and drops removed entries: call after a
 * bulk load; searches are correct without it, only slower. */
iop_code names_index_optimize(names_index *ix, iop_err *err);
/* Persistence: names_index_save() writes the index (after an implicit optimize) to
 * path atomically (a temporary file renamed over it); names_index_load() reads it back
 * into a new index bound to eng and store.  The file records the key-format version: a
 * file written by an engine with other blocking keys is refused (IOP_ECORRUPT) and the
 * caller rebuilds.  Truncated or corrupted files are refused with the byte offset. */
iop_code names_index_save(names_index *ix, const char *path, iop_err *err);
iop_code names_index_load(const names_engine *eng, const names_store *store, const char *path, names_index **out,
                          iop_err *err);
size_t names_index_count(const names_index *ix);
size_t names_index_memory(const names_index *ix); /* bytes held */
/* Top-k candidates for q, best first; returns how many were written to hits (<= k).
 * Hits below min_score are left out (0 keeps all candidates found). */
size_t names_index_search(const names_index *ix, const names_ident *q, size_t k, double min_score,
                          names_hit *hits);

/* ---- clustering ---- */

/* Clusters n identities: two identities are linked when their score reaches threshold
 * (default NAMES_SIMILAR_SCORE when threshold <= 0); clusters are the connected
 * components.  cluster_of[i] receives the smallest index in i's cluster.  Candidates
 * come from a names_index, so the cost is near-linear in n. */
iop_code names_resolve(const names_engine *eng, names_ident *const *idents, size_t n, double threshold,
                       size_t *cluster_of, iop_err *err);

/* ---- evaluation on public data (used by `interop names eval` and the tests) ---- */

typedef struct names_eval_result {
    size_t records, true_pairs, predicted_pairs, correct_pairs;
    double precision, recall, f1;
    double seconds;
    /* reliability of the score over every candidate pair the index proposed (linkage
     * only): per tenth of the score range, the pairs, the mean score and the share of
     * true matches -- a calibrated score has mean score ~ share of true matches. */
    size_t calib_pairs[10];
    double calib_mean_score[10], calib_true_rate[10];
} names_eval_result;

/* FEBRL (ANU) sets: dir holds dataset3.csv, dataset4a.csv, dataset4b.csv.
 * which: "3" (de-duplication of dataset3) or "4" (linkage 4a <-> 4b). */
iop_code names_eval_febrl(const names_engine *eng, const char *dir, const char *which, double threshold,
                          names_eval_result *out, iop_err *err);

typedef struct names_xscript_result {
    size_t pairs, found_top10, found_top1;
    size_t shuffled, false_same;
    double recall_top10, false_same_rate;
    int folds;            /* 0: not cross-validated */
    double train_seconds; /* CPU time spent training models */
    /* CPU time of one top-10 search of a Latin form among the native-script records
     * (the searching thread's clock), over every search made */
    double search_p50_ms, search_p99_ms, search_mean_ms;
    size_t records; /* native-script records indexed per search */
} names_xscript_result;

/* Wikidata cross-script pairs (latin<TAB>native chars<TAB>n): index every native
 * form, search each Latin form, count the native record in the top 10; compare
 * shuffled (Latin i, native j != i) pairs and count false "same" verdicts.  limit 0 =
 * all lines. */
iop_code names_eval_xscript(const names_engine *eng, const char *tsv_path, size_t limit,
                            names_xscript_result *out, iop_err *err);

/* The same with a learned model, honestly: folds >= 2 splits the pairs into folds; for
 * each fold a model is trained on the other folds (plus the pairs of extra_train, a
 * "native<TAB>latin" file, when not NULL), every native form is indexed, and only the
 * held-out fold's Latin forms are searched; the figures are summed over the folds, so
 * no pair is ever evaluated by a model trained on it.  out->folds records the folds.
 * folds == 0 uses eng as it is (with its own model, if any: then not cross-validated). */
iop_code names_eval_xscript_cv(const names_engine *eng, const char *tsv_path, const char *extra_train, int folds,
                               size_t limit, names_xscript_result *out, iop_err *err);
/* The same with options: only one fold searched (the others still train its model),
 * and an account of every miss written to a file. */
typedef struct names_xscript_opts {
    int folds;        /* >= 2: cross-validation; 0: eng as it is */
    int only_fold;    /* -1: every fold; else search only this fold (0 .. folds - 1) */
    size_t limit;     /* 0: every line */
    FILE *misses;     /* when not NULL: one line per pair whose native record is not in the top 10:
                       * latin, native, where it stood (not-candidate / ranked R of N by the model /
                       * scored below ten), the first hit and its score, the pair's own score */
} names_xscript_opts;
iop_code names_eval_xscript_opt(const names_engine *eng, const char *tsv_path, const char *extra_train,
                                const names_xscript_opts *opts, names_xscript_result *out, iop_err *err);
/* Reads training pairs: "latin<TAB>spaced native<TAB>n" (the Wikidata files) when
 * wikidata is true, else "native<TAB>latin" (the Google transliteration set).  The
 * strings live in *buf (caller frees it and *pairs). */
iop_code names_tl_read_pairs(const char *path, bool wikidata, char **buf, names_tl_pair **pairs, size_t *n,
                             iop_err *err);

#endif
