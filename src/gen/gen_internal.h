/*
 * gen_internal.h -- the pieces of the population generator shared between its files:
 * a per-person arena, UTF-8 helpers, the name pools read from the shared data, the
 * static tables (nationalities, Member States, cities, crossing points) and the
 * record-level error functions.
 */
#ifndef INTEROP_GEN_INTERNAL_H
#define INTEROP_GEN_INTERNAL_H

#include "interop/gen.h"

/* ---- arena: everything one person's records need, released at once ---- */
typedef struct gen_arena_block gen_arena_block;
typedef struct gen_arena {
    gen_arena_block *head;
    bool oom;
} gen_arena;
void *gen_arena_alloc(gen_arena *a, size_t n);
char *gen_arena_strdup(gen_arena *a, const char *s);
char *gen_arena_printf(gen_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gen_arena_reset(gen_arena *a); /* keeps the first block */
void gen_arena_free(gen_arena *a);

/* ---- UTF-8 ---- */
/* Decodes s into cp[0..max); returns the count (invalid bytes become U+FFFD). */
size_t gen_utf8_decode(const char *s, uint32_t *cp, size_t max);
/* Encodes cp[0..n) into the arena. */
char *gen_utf8_encode(gen_arena *a, const uint32_t *cp, size_t n);

/* ---- cultures (how names are written and romanised) ---- */
typedef enum gen_culture {
    CUL_ANGLO = 0, /* FEBRL names, nicknames */
    CUL_SLAVIC,    /* Cyrillic: Wikidata Russian surnames, common given names */
    CUL_ARABIC,    /* Arabic script: Google ar2en + Wikidata Arabic, common given names */
    CUL_HEBREW,    /* Hebrew: Wikidata Hebrew pairs */
    CUL_CHINESE,   /* Han: common surnames and given names, pinyin / Wade-Giles / Cantonese */
    CUL_TURKISH,   /* Latin with diacritics */
    CUL_COUNT
} gen_culture;
const char *gen_culture_name(gen_culture c);
const char *gen_culture_script(gen_culture c); /* latin, cyrillic, arabic, hebrew, han */

/* A name: its native form (NULL for Latin-script cultures) and its Latin spellings,
 * latin[0] being the usual one. */
#define GEN_MAX_SPELLINGS 6
typedef struct gen_name {
    const char *native;
    const char *latin[GEN_MAX_SPELLINGS];
    uint8_t n_latin;
    char sex; /* 'M', 'F' or 'U' (either) */
} gen_name;

typedef struct gen_pool {
    gen_name *v;
    size_t n, cap;
} gen_pool;

typedef struct gen_names {
    gen_pool surnames[CUL_COUNT];
    gen_pool given_m[CUL_COUNT], given_f[CUL_COUNT];
    /* nicknames: sorted by formal name (lower case) */
    struct gen_nick { const char *formal; const char *nick; } *nicks;
    size_t n_nicks;
    gen_arena strings; /* owns every string above */
} gen_names;

iop_code gen_names_load(const char *data_dir, gen_names *out, iop_err *err);
void gen_names_free(gen_names *n);
/* A nickname of a formal given name (any case), or NULL. */
const char *gen_names_nickname(const gen_names *n, const char *formal, iop_rng *r);

/* Romanisation of Cyrillic text by scheme: 0 ICAO 9303, 1 BGN/PCGN, 2 German, 3 French. */
#define GEN_CYR_SCHEMES 4
char *gen_cyr_romanise(gen_arena *a, const char *cyr, int scheme);
/* Female form of a Slavic surname in Cyrillic (Иванов -> Иванова, -ский -> -ская). */
char *gen_cyr_feminine(gen_arena *a, const char *cyr);
/* An alternative Latin spelling by a common variation rule (ph/f, ou/u, y/i, doubled
 * consonants, diacritics folded ...); returns s itself when no rule applies. */
const char *gen_latin_variant(gen_arena *a, const char *s, iop_rng *r);
/* Diacritics folded to ASCII (Öztürk -> Ozturk) or spelled out (Öztürk -> Oeztuerk). */
char *gen_fold_diacritics(gen_arena *a, const char *s, bool spell_out);
/* First letter of each word upper-cased (ASCII and Latin-1 letters). */
char *gen_capitalise(gen_arena *a, const char *s);
char *gen_upper(gen_arena *a, const char *s);

/* ---- static tables ---- */
typedef struct gen_country {
    const char *code;       /* alpha-3 */
    gen_culture culture;
    bool visa_required;     /* Reg. (EU) 2018/1806 Annex I */
    double w_path[GEN_PATH_COUNT]; /* relative weight among travellers, migrants, residents */
    uint8_t romanisation;   /* preferred spelling index (Chinese: 0 pinyin, 1 Wade-Giles, 2 Cantonese) */
    const char *cities[3];
    uint8_t doc_letters, doc_digits; /* passport number pattern */
} gen_country;
extern const gen_country gen_countries[];
extern const size_t gen_n_countries;

extern const char *const gen_schengen[];   /* alpha-3 of the Schengen States */
extern const size_t gen_n_schengen;
extern const char *const gen_eu_ecris[];   /* Member States bound by ECRIS-TCN */
extern const size_t gen_n_eu_ecris;
extern const char *const gen_bcps[];       /* "FRA-CDG" ...: state prefix + crossing point */
extern const size_t gen_n_bcps;
extern const char *const gen_occupations[];
extern const size_t gen_n_occupations;

/* Built-in common given names (Cyrillic, Arabic, Han, Turkish) and Han/Turkish surnames. */
void gen_builtin_names(gen_names *n);
void gen_pool_add(gen_pool *p, gen_arena *a, const char *native, char sex, const char *l0, const char *l1);

/* ---- biometrics ---- */
/* Appends ,"biometrics":{...} for one capture of person bio_id (fingers: bit p set for
 * position p, 1..10).  Thread-safe on a shared gen_bio. */
iop_code gen_bio_fragment(gen_bio *b, uint64_t bio_id, uint32_t capture, uint16_t finger_mask, bool face,
                          iop_buf *out, iop_err *err);

/* ---- record-level errors ---- */
/* One edit in a name (codepoint-wise; the substitute comes from the keyboard
 * neighbourhood for ASCII letters, from the name's own letters otherwise). */
const char *gen_typo(gen_arena *a, const char *s, iop_rng *r);
/* One OCR confusion in a document number; returns s when it has no confusable char. */
const char *gen_ocr(gen_arena *a, const char *s, iop_rng *r);

#endif
