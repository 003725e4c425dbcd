/*
 * names_int.h -- internals shared by the files of the names engine (src/names/):
 * the prepared-identity layout, the text primitives (normalisation, transliteration
 * schemes, phonetic codes, string similarity) and the nickname table.
 */
#ifndef INTEROP_NAMES_INT_H
#define INTEROP_NAMES_INT_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unicode/utrans.h>
#include "interop/names.h"

#define NM_MAX_NAME_BYTES 256
#define NM_MAX_NAMES 64
#define NM_MAX_TOK 48 /* bytes of one normalised token */

/* transliteration schemes (bit mask of the schemes that produced a variant) */
enum { NM_SCH_ICAO = 1, NM_SCH_BGN = 2, NM_SCH_ICU = 4, NM_SCH_JA = 8 /* Japanese reading of kanji */ };
/* token roles */
enum { NM_ROLE_GIVEN = 0, NM_ROLE_SURNAME = 1, NM_ROLE_ANY = 2 };
/* token flags */
enum { NM_TF_PARTICLE = 1, NM_TF_INITIAL = 2, NM_TF_ABJAD = 4, NM_TF_NONLATIN = 8 };
/* variant kinds */
enum { NM_VK_PRIMARY = 0, NM_VK_BIRTH = 1, NM_VK_ALIAS = 2 };

typedef struct nm_tok {
    uint32_t off;      /* into pool: the normalised ASCII token */
    uint32_t skel_off; /* into pool: its consonant skeleton */
    uint32_t phon;     /* hash of the NYSIIS code (0 when empty) */
    uint32_t skelh;    /* hash of the skeleton */
    int32_t nick;      /* index into the engine's nickname root lists, -1 none */
    uint32_t coarse[2]; /* hashes of the two coarse sound-class readings (0 empty) */
    uint8_t len, skel_len, role, flags;
    uint32_t nat_off;  /* into pool: the learned model's units (uint32, unaligned) of a non-Latin token, 0 none */
    uint8_t nat_len;   /* number of those units */
} nm_tok;

typedef struct nm_variant {
    uint16_t first, n; /* tokens */
    uint8_t kind, schemes;
} nm_variant;

typedef struct nm_doc {
    uint32_t num_off;  /* number: upper case, separators removed */
    uint32_t ocr_off;  /* number with OCR confusions folded (O->0, I->1, S->5, B->8, ...) */
    char country[4];
    uint8_t type;
} nm_doc;

typedef struct nm_extra {
    uint32_t kind_off, val_off;
    uint8_t is_id;
} nm_extra;

struct names_ident {
    char *pool;
    size_t pool_len;
    nm_tok *toks;
    size_t n_toks;
    nm_variant *vars;
    size_t n_vars;
    iop_date dob;
    char sex; /* 'M', 'F' or 0 */
    uint8_t n_nat;
    char nat[8][4];
    int32_t pob_off; /* -1 none */
    nm_doc *docs;
    size_t n_docs;
    nm_extra *extras;
    size_t n_extras;
    uint32_t display_off; /* "SURNAME, Given" of the primary variant */
    uint64_t *lkeys;      /* blocking keys from the learned romanisations: kind << 32 | hash */
    size_t n_lkeys;       /* (kind NM_LK_SKEL, NM_LK_COARSE) */
};
enum { NM_LK_SKEL = 1, NM_LK_COARSE = 2, NM_LK_CDEL = 3 };
#define NM_MAX_LKEYS 40
/* index.c / prepare.c: the deletion neighbourhood of a coarse sound-class code (the code
 * and, when it has >= 3 classes, each code with one class left out): two codes one
 * edit apart share a hash.  Writes at most NM_MAX_TOK + 1 hashes, returns how many. */
size_t nm_coarse_dels(const char *code, size_t len, uint32_t *out);
/* the hash under which a sound-class code (whole, or with classes left out) is a key */
uint32_t nm_coarse_key(const char *code, size_t len);

static inline const char *nm_str(const names_ident *id, uint32_t off) { return id->pool + off; }

/* ---- nickname table ---- */
typedef struct nm_nick {
    /* open-addressing table name -> list index */
    char **names;
    int32_t *list_of; /* per slot */
    size_t cap, count;
    /* lists: for each known name, its sorted root ids, terminated by -1 */
    int32_t *lists;
    size_t n_lists_ints;
} nm_nick;

struct names_engine {
    nm_nick nick;
    names_tlm *tlm; /* learned transliteration model, NULL = rule-based readings only */
    const names_ja *ja; /* Japanese readings of kanji names, NULL none */
    bool ja_owned;      /* freed with the engine (names_engine_load_ja) */
    UTransliterator *icu;
    pthread_mutex_t icu_lock;
};

/* nicknames.c */
iop_code nm_nick_load(nm_nick *t, const char *path, iop_err *err);
void nm_nick_free(nm_nick *t);
int32_t nm_nick_lookup(const nm_nick *t, const char *name, size_t len);
bool nm_nick_related(const nm_nick *t, int32_t a, int32_t b);

/* text.c */
/* Validates UTF-8; returns the byte offset of the first bad byte or -1 when valid. */
long nm_utf8_invalid_at(const char *s, size_t len);
/* NFKC + case folding; caller frees.  NULL on invalid input. */
char *nm_fold(const char *s, size_t len);
/* Transliterates one folded piece by a table scheme into lower-case ASCII letters and
 * digits (everything else dropped).  Returns false when the piece kept characters the
 * scheme has no rule for (then the ICU scheme must be used for it). */
bool nm_translit_table(int scheme, const char *s, size_t len, iop_buf *out);
/* ICU Any-Latin; Latin-ASCII on one piece, lower-case letters and digits kept. */
void nm_translit_icu(const names_engine *eng, const char *s, size_t len, iop_buf *out);
/* Script flags of a folded piece: NM_TF_NONLATIN, NM_TF_ABJAD. */
unsigned nm_script_flags(const char *s, size_t len);
/* NYSIIS code (at most 8 letters) of a lower-case ASCII token. */
size_t nm_nysiis(const char *s, size_t len, char *out /* >= 9 */);
/* Consonant skeleton: vowels and h/w/y dropped, letters grouped in sound classes. */
size_t nm_skeleton(const char *s, size_t len, char *out /* >= len + 1 */);
size_t nm_coarse(const char *s, size_t len, int mode, char *out /* >= 2 * len + 1 */);
double nm_jaro_winkler(const char *a, size_t la, const char *b, size_t lb);
/* Damerau (optimal string alignment) distance, capped at max + 1. */
int nm_damerau(const char *a, size_t la, const char *b, size_t lb, int max);
uint64_t nm_hash(const void *p, size_t n, uint64_t seed);
uint32_t nm_hash32(const char *s, size_t n);
bool nm_is_particle(const char *s, size_t len);

/* japanese.c: the Japanese readings (at most 2, lower-case ASCII; a surname and a given
 * name found in one piece are written with a space between them) of a folded piece of
 * kanji; 0 when the piece is not all kanji or not in the dictionary */
#define NM_JA_READ 96
/* index.c: a letter of a Japanese reading among a native identity's model units */
#define NM_JA_UNIT 0xF0000000u
#define NM_JA_MASK 0xFF000000u
size_t nm_ja_readings(const names_ja *ja, const char *s, size_t len, char (*out)[NM_JA_READ]);

/* translit.c */
#define NM_TL_CLASSES 5
#define NM_TL_SYL 0x40000000u /* a Han character's syllable: NM_TL_SYL | packed pinyin letters (the model's table) */
/* the model's units of a Han syllable: one per pinyin letter, NM_TL_PYL | position | letter
 * (1..26), position NM_TL_PY_FIRST and/or NM_TL_PY_LAST within the syllable */
#define NM_TL_PYL 0x80000000u
#define NM_TL_PY_FIRST 0x20u
#define NM_TL_PY_LAST 0x40u
/* a Han character's marker, before the pinyin-letter units of its syllable (only with a
 * model that learned character-specific renderings): NM_TL_HCH | code point; it renders
 * no letters itself */
#define NM_TL_HCH 0xD0000000u
#define NM_TL_IS_HCH(u) (((u) & 0xFF000000u) == NM_TL_HCH)
/* the end of a word of Han syllables: renders the Latin letters its characters left
 * unwritten (the silent -s of Degas = 德加, a final -e or -d) */
#define NM_TL_END 0xE0000000u
#define NM_TL_LAT_BASE 0x110000u /* units of the query normaliser: base + 1024 * class + 32 * letter + next letter */
/* the k most likely canonical spellings of a Latin token for script class cls */
size_t nm_tl_normalise(const names_tlm *m, int cls, const char *l, size_t ml, size_t k, char (*out)[NM_MAX_TOK + 1]);
int nm_tl_class(uint32_t cp);
/* native token -> code points used by the model (marks, separators dropped) */
size_t nm_tl_native(const char *s, size_t len, uint32_t *out, size_t cap);
size_t nm_tl_latin(const char *s, size_t len, char *out, size_t cap);
/* the model's units of a native token: code points, Han characters as their pinyin
 * syllable (the model's table, else ICU through eng when not NULL) */
size_t nm_tl_units(const names_engine *eng, const names_tlm *m, const char *s, size_t len, uint32_t *out, size_t cap);
/* units of an Arabic definite article (ال) opening a native token of >= 4 units: 2, else 0 */
size_t nm_tl_article(const uint32_t *cp, size_t n);
/* the calibrated probability that lat renders the native units (the better of the
 * readings with and without an Arabic article) */
double nm_tl_prob(const names_tlm *m, const uint32_t *cp, size_t n, const char *l, size_t ml);
size_t nm_tl_romanise(const names_tlm *m, const uint32_t *cp, size_t n, size_t k, char (*out)[NM_MAX_TOK + 1],
                      double *lp_out);

/* one Latin token scored against many native tokens: nm_tl_prob's probability with the
 * model's look-ups done once per query (NULL when the token has no letters or on ENOMEM) */
typedef struct nm_tl_query nm_tl_query;
nm_tl_query *nm_tl_query_new(const names_tlm *m, const char *lat, size_t lat_len);
void nm_tl_query_free(nm_tl_query *q);
double nm_tl_query_prob(nm_tl_query *q, const uint32_t *cp, size_t n);

/* index.c: the candidate budget of names_index_search */
#define NM_CAND_BUDGET 2048
/* index.c: where one record stood in a search (the evaluation's account of a miss):
 * want_id is the record looked for; the search fills the rest */
typedef struct nm_search_diag {
    uint64_t want_id;
    size_t n_cands;   /* candidates the keys found */
    bool in_cands;    /* want_id among them */
    long prerank;     /* its place (0 = first) in the model's pre-ranking, -1 not ranked by the model */
    size_t n_prerank; /* candidates the model ranked */
} nm_search_diag;
/* index.c: names_index_search with a candidate budget (resolve uses a smaller one) and,
 * when diag is not NULL, an account of where diag->want_id stood */
size_t nm_index_search(const names_index *ix, const names_ident *q, size_t k, double min_score, names_hit *hits,
                       size_t budget, nm_search_diag *diag);
/* index.c: the keys a query probes in ix, in the order they were made, with their tier
 * (1: read after all first-tier keys, while the candidate budget lasts); at most cap */
size_t nm_index_query_keys(const names_index *ix, const names_ident *q, uint64_t *keys, uint8_t *tier, size_t cap);
/* compare.c: names_compare without the reason sentences when why is false (ranking) */
void nm_compare(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out, bool why);
/* the learned model's per-query tables of one identity's Latin tokens (the index's
 * pre-ranking built them): a comparison of that identity takes its probabilities from
 * them instead of scoring each pair afresh (the same probability, computed once) */
#define NM_TL_QSET 12
typedef struct nm_tl_qset {
    const names_ident *id;
    size_t n;
    const char *s[NM_TL_QSET];
    size_t len[NM_TL_QSET];
    nm_tl_query *q[NM_TL_QSET]; /* not owned */
} nm_tl_qset;
void nm_compare_q(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out, bool why,
                  const nm_tl_qset *qs);
/* compare.c: the name part of a comparison (also used by the index's coarse scoring) */
double nm_tok_sim(const names_engine *eng, const names_ident *a, const nm_tok *ta, const names_ident *b,
                  const nm_tok *tb, int *how);

#endif
