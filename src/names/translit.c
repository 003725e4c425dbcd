/*
 * translit.c -- the learned transliteration model of the names engine: for every
 * native-script character it holds the distribution of the Latin letter groups
 * ("chunks", 0 to 4 letters; 0 to 3 for a pinyin letter) that renders it, learned from
 * name pairs by expectation-maximisation over all monotone alignments (a one-to-many
 * joint-sequence alignment in the style of Jiampojamarn et al. 2007, m2m-aligner with
 * one native character per step).  Used at run time
 *   (a) to score a Latin token against a native-script token: the log-likelihood of
 *       the Latin spelling under the model against a letter-unigram background,
 *       turned into a probability by a logistic calibration fitted on held-out pairs
 *       of each script (Cyrillic/Greek, Arabic, Hebrew, Han/Kana, other);
 *   (b) to generate the most likely romanisations of a native token (beam search),
 *       whose consonant skeletons and coarse sound classes become extra blocking keys.
 * A Han character is read as its pinyin syllable and modelled as one unit per pinyin
 * letter, marked syllable-initial/-final; each letter gets itself as a prior
 * (pseudo-counts); a word of Han characters ends with an end-of-word unit (the final
 * letters a transcription leaves unwritten).  A unigram prior of the native units (alphabetic scripts) enters a
 * pair's likelihood with a small weight (noisy channel).  An Arabic token opening with
 * the definite article is scored with and without it (the romanisation often leaves it
 * out), and trained without it when its romanisation starts with a consonant.
 * nm_tl_query scores one Latin
 * token against many native tokens with the model's look-ups done once per query (the
 * index's pre-ranking).  The model file is line-based text, documented in
 * docs/names.md; every load error names the file and line.
 */
#include <math.h>
#include <string.h>
#include <utf8proc.h>
#include "names/names_int.h"

#define TL_MAGIC "interop-names-translit 2"
#define TL_MAX_N 32  /* native characters of one token used */
#define TL_MAX_M 48  /* Latin letters of one token used */
#define TL_FLOOR_SEEN 1e-4
#define TL_ITERS 12
/* weight of the native units' prior in a pair's log-likelihood (alphabetic scripts):
 * ranks "dan" -> DN above D-A-N, which renders "dan" more easily but is the rarer
 * spelling (noisy channel, P(native | latin) ~ P(latin | native) P(native)^w) */
#define TL_LM_WEIGHT 0.3
/* weight of a syllable's pinyin-letter rendering against a Han character's own counts */
/* the pinyin letters' rendering of a syllable weighs as TL_HC_KAPPA counts against a
 * character's own: a character seen a few times keeps mostly its syllable's rendering
 * (first fold, top-1 / top-10: 0.646 / 0.848 without; kappa 2: 0.706 / 0.872 on half the
 * pairs; 4, 16, 40, 120: 0.679 / 0.865, 0.687 / 0.869, 0.690 / 0.870, 0.688 / 0.869) */
#define TL_HC_KAPPA 32.0
#define TL_HC_MIN 0.05 /* counts kept */

/* ---- chunks: up to 6 letters a-z packed 5 bits each (0 = empty chunk) ---- */

static uint32_t chunk_pack(const char *s, size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint32_t)(s[i] - 'a' + 1) << (5 * i);
    return v;
}

static size_t chunk_unpack(uint32_t v, char *out /* >= 7 */) {
    size_t n = 0;
    while (v && n < 6) { out[n++] = (char)('a' + (v & 31) - 1); v >>= 5; }
    out[n] = 0;
    return n;
}

static bool is_han(uint32_t cp) {
    return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x3FFFF);
}

static int max_chunk(uint32_t cp) {
    if (NM_TL_IS_HCH(cp)) return 0;
    if (cp >= NM_TL_PYL) return 3;
    if (cp >= NM_TL_SYL) return 6;
    if (cp >= NM_TL_LAT_BASE) return 4;
    return (cp >= 0x3040 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) || cp >= 0x20000 ? 6 : 4;
}

int nm_tl_class(uint32_t cp) {
    if (cp >= NM_TL_SYL) return 3;
    if (cp >= NM_TL_LAT_BASE) return (int)((cp - NM_TL_LAT_BASE) / 1024) % NM_TL_CLASSES;
    if (cp >= 0x370 && cp <= 0x52F) return 0;                                       /* Greek, Cyrillic */
    if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F) || (cp >= 0xFB50 && cp <= 0xFEFF)) return 1;
    if (cp >= 0x590 && cp <= 0x5FF) return 2;                                        /* Hebrew */
    if ((cp >= 0x3040 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) || cp >= 0x20000) return 3;
    return 4;
}

/* the script class of a word: its most frequent class (a Hebrew word keeps its class
 * when a geresh letter was rewritten to the Arabic or Cyrillic letter of that sound) */
static int word_class(const uint32_t *cp, size_t n) {
    size_t cnt[NM_TL_CLASSES] = {0};
    for (size_t i = 0; i < n; i++) cnt[nm_tl_class(cp[i])]++;
    int best = n ? nm_tl_class(cp[0]) : NM_TL_CLASSES - 1;
    for (int c = 0; c < NM_TL_CLASSES; c++)
        if (cnt[c] > cnt[best]) best = c;
    return best;
}

static const char *CLASS_NAME[NM_TL_CLASSES] = {"cyrillic-greek", "arabic", "hebrew", "han-kana", "other"};

/* ---- hash table (cp, chunk) -> slot ---- */

typedef struct tl_tab {
    uint64_t *key; /* 0 empty */
    uint32_t *val;
    size_t cap, n;
} tl_tab;

static uint64_t tkey(uint32_t cp, uint32_t chunk) { return (uint64_t)cp << 32 | chunk; }

static size_t thash(uint64_t k) {
    k ^= k >> 31; k *= 0x9e3779b97f4a7c15ull; k ^= k >> 29;
    return (size_t)k;
}

static bool tab_grow(tl_tab *t) {
    size_t nc = t->cap ? t->cap * 2 : 4096;
    uint64_t *k = calloc(nc, sizeof *k);
    uint32_t *v = malloc(nc * sizeof *v);
    if (!k || !v) { free(k); free(v); return false; }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->key[i]) continue;
        size_t h = thash(t->key[i]) & (nc - 1);
        while (k[h]) h = (h + 1) & (nc - 1);
        k[h] = t->key[i];
        v[h] = t->val[i];
    }
    free(t->key);
    free(t->val);
    t->key = k;
    t->val = v;
    t->cap = nc;
    return true;
}

static long tab_find(const tl_tab *t, uint64_t key) {
    if (!t->cap) return -1;
    size_t h = thash(key) & (t->cap - 1);
    while (t->key[h]) {
        if (t->key[h] == key) return (long)t->val[h];
        h = (h + 1) & (t->cap - 1);
    }
    return -1;
}

/* returns the slot of key, inserting it with value *next when absent; -1 on ENOMEM */
static long tab_put(tl_tab *t, uint64_t key, uint32_t next) {
    if ((t->n + 1) * 2 > t->cap && !tab_grow(t)) return -1;
    size_t h = thash(key) & (t->cap - 1);
    while (t->key[h]) {
        if (t->key[h] == key) return (long)t->val[h];
        h = (h + 1) & (t->cap - 1);
    }
    t->key[h] = key;
    t->val[h] = next;
    t->n++;
    return (long)next;
}

static void tab_free(tl_tab *t) {
    free(t->key);
    free(t->val);
    memset(t, 0, sizeof *t);
}

/* ---- the model ---- */

typedef struct tl_ent {
    uint32_t cp, chunk;
    float lp; /* log P(chunk | cp) */
} tl_ent;

typedef struct tl_hc {
    uint32_t cp, chunk;
    float n;
} tl_hc;

struct names_tlm {
    tl_ent *ent; /* sorted by cp, then by lp descending */
    size_t n_ent;
    tl_tab tab;  /* (cp, chunk) -> index into ent */
    uint32_t *cps; /* distinct cps, with first entry index */
    uint32_t *cp_first;
    size_t n_cps;
    double bg[26];  /* log letter unigram of the Latin side */
    double bg_stop; /* log P(end of word) */
    tl_tab syl;      /* Han character -> syllable unit (its ICU pinyin), for the characters trained on */
    uint32_t *syl_cp, *syl_unit;
    size_t n_syl, cap_syl;
    double cal[NM_TL_CLASSES][3]; /* logistic calibration: bias, per-letter LLR, length-normalised LLR */
    /* unigram language model of the native units (log-probabilities): the prior of a
     * native spelling, weighted TL_LM_WEIGHT in a pair's score */
    tl_tab ulm;    /* (unit, 0) -> index into ulp */
    float *ulp;
    size_t n_ulp, cap_ulp;
    double ulp_unseen;
    bool has_lm;
    /* character-specific renderings of Han characters: expected counts of the Latin chunk
     * each character rendered in the training pairs (posteriors under the pinyin-letter
     * model), sorted by character then chunk; a character's rendering is then
     * (n(c, chunk) + TL_HC_KAPPA P_pinyin(chunk | its syllable)) / (n(c) + TL_HC_KAPPA) */
    tl_hc *hc;
    size_t n_hc, cap_hc;
    uint32_t *hc_cps, *hc_first; /* distinct characters, their first entry (+ sentinel) */
    double *hc_tot;              /* per distinct character: n(c) */
    size_t n_hc_cps;
    size_t trained_pairs[NM_TL_CLASSES];
    /* the model knows the end-of-word unit of Han words (trained with it): Han words get
     * that unit and the length prior; a model file without it scores as it was fitted */
    bool han_end;
};

/* the place of v in the sorted array a[0..n), -1 when absent */
static long sorted_find(const uint32_t *a, size_t n, uint32_t v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && a[lo] == v ? (long)lo : -1;
}

static long cp_dir(const names_tlm *m, uint32_t cp) { return sorted_find(m->cps, m->n_cps, cp); }

static void tlm_index(names_tlm *m) {
    /* entries are sorted; build the per-cp directory */
    m->n_cps = 0;
    for (size_t i = 0; i < m->n_ent; i++)
        if (!i || m->ent[i].cp != m->ent[i - 1].cp) {
            m->cps[m->n_cps] = m->ent[i].cp;
            m->cp_first[m->n_cps++] = (uint32_t)i;
        }
    m->cp_first[m->n_cps] = (uint32_t)m->n_ent;
    m->han_end = cp_dir(m, NM_TL_END) >= 0;
}


void names_tlm_free(names_tlm *m) {
    if (!m) return;
    tab_free(&m->ulm);
    free(m->ulp);
    free(m->ent);
    tab_free(&m->tab);
    free(m->cps);
    free(m->cp_first);
    tab_free(&m->syl);
    free(m->syl_cp);
    free(m->syl_unit);
    free(m->hc);
    free(m->hc_cps);
    free(m->hc_first);
    free(m->hc_tot);
    free(m);
}

/* ---- normalisation shared with prepare.c ---- */

size_t nm_tl_native(const char *s, size_t len, uint32_t *out, size_t cap) {
    size_t n = 0, i = 0;
    while (i < len && n < cap) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) break;
        i += (size_t)k;
        if ((c == 0x5F3 || c == '\'' || c == 0x2019) && n) { /* Hebrew geresh: foreign sounds, as prepare.c rewrites them */
            if (out[n - 1] == 0x5D2) out[n - 1] = 0x62C;
            else if (out[n - 1] == 0x5D6) out[n - 1] = 0x436;
            else if (out[n - 1] == 0x5E6 || out[n - 1] == 0x5E5) out[n - 1] = 0x447;
            continue;
        }
        if (c < 0x80) continue; /* separators, apostrophes, Latin letters mixed in */
        utf8proc_category_t cat = utf8proc_category(c);
        if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME ||
            cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_PD || cat == UTF8PROC_CATEGORY_PO ||
            cat == UTF8PROC_CATEGORY_CF || c == 0x30FB || c == 0xB7 || c == 0x640 /* tatweel */)
            continue;
        if (c == 0x629) c = 0x647; /* ta marbuta reads -a/-ah */
        out[n++] = (uint32_t)c;
    }
    return n;
}

size_t nm_tl_latin(const char *s, size_t len, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') out[n++] = c;
    }
    out[n] = 0;
    return n;
}

static bool syl_add(names_tlm *m, uint32_t cp, uint32_t unit) {
    if (tab_find(&m->syl, tkey(cp, 0)) >= 0) return true;
    if (m->n_syl == m->cap_syl) {
        size_t nc = m->cap_syl ? m->cap_syl * 2 : 1024;
        uint32_t *a = realloc(m->syl_cp, nc * sizeof *a);
        if (a) m->syl_cp = a;
        uint32_t *b = realloc(m->syl_unit, nc * sizeof *b);
        if (b) m->syl_unit = b;
        if (!a || !b) return false;
        m->cap_syl = nc;
    }
    if (tab_put(&m->syl, tkey(cp, 0), (uint32_t)m->n_syl) < 0) return false;
    m->syl_cp[m->n_syl] = cp;
    m->syl_unit[m->n_syl++] = unit;
    return true;
}

/* the syllable unit of a Han character: the model's table, else ICU through eng, else
 * the character itself */
static uint32_t han_unit(const names_engine *eng, const names_tlm *m, uint32_t cp) {
    long k = m ? tab_find(&m->syl, tkey(cp, 0)) : -1;
    if (k >= 0) return m->syl_unit[k];
    if (!eng) return cp;
    char u8[8];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)u8);
    if (n <= 0) return cp;
    iop_buf o;
    iop_buf_init(&o);
    nm_translit_icu(eng, u8, (size_t)n, &o);
    char l[16];
    size_t ll = o.len ? nm_tl_latin(o.data, o.len, l, sizeof l) : 0;
    iop_buf_free(&o);
    if (!ll || ll > 6) return cp;
    return NM_TL_SYL | chunk_pack(l, ll);
}

/* Han syllables become one unit per pinyin letter, marked syllable-initial and/or
 * -final: the model then learns how each letter of a syllable is rendered (l as r
 * at a syllable's start, a final n dropped, ...) from every syllable it occurs in,
 * instead of each syllable's own, sparse, statistics.  With end, a word holding Han
 * syllables closes with the end-of-word unit NM_TL_END, which renders the Latin letters
 * the characters left unwritten (Degas = 德加, Marais = 馬萊: a final -s, -e, -d, -t);
 * without it the last character's own chunk had to carry them (加 as "gas"), and a
 * shorter rendering lost to a longer one that wrote every letter (first fold, top-10
 * 0.8698 -> 0.8745; five folds 0.8692 -> 0.8724).  Writes at most cap units. */
static size_t expand_syllables(const uint32_t *in, const uint32_t *han, size_t n, uint32_t *out, size_t cap, bool end) {
    size_t k = 0;
    bool syl = false;
    for (size_t i = 0; i < n && k < cap; i++) {
        if (in[i] < NM_TL_SYL || in[i] >= NM_TL_PYL) { out[k++] = in[i]; continue; }
        syl = true;
        if (han && han[i]) { /* the character's marker: at least one letter must follow it */
            if (k + 2 > cap) break;
            out[k++] = NM_TL_HCH | han[i];
        }
        uint32_t v = in[i] & 0x3FFFFFFFu;
        uint32_t pos = NM_TL_PY_FIRST;
        while (v && k < cap) {
            if (!(v >> 5)) pos |= NM_TL_PY_LAST;
            out[k++] = NM_TL_PYL | pos | (v & 31u);
            v >>= 5;
            pos = 0;
        }
    }
    if (end && syl && k < cap) out[k++] = NM_TL_END;
    return k;
}

/* the directory entry of a character with character-specific renderings, -1 none */
static long hc_dir(const names_tlm *m, uint32_t cp) { return sorted_find(m->hc_cps, m->n_hc_cps, cp); }

size_t nm_tl_units(const names_engine *eng, const names_tlm *m, const char *s, size_t len, uint32_t *out, size_t cap) {
    uint32_t tmp[TL_MAX_N + 1], han[TL_MAX_N + 1];
    size_t n = nm_tl_native(s, len, tmp, cap < TL_MAX_N + 1 ? cap : TL_MAX_N + 1);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        han[i] = 0;
        if (is_han(tmp[i])) {
            uint32_t u = han_unit(eng, m, tmp[i]);
            /* a marker for the characters the model learned renderings of */
            if (m && u != tmp[i] && hc_dir(m, tmp[i]) >= 0) { han[i] = tmp[i]; any = true; }
            tmp[i] = u;
        }
    }
    return expand_syllables(tmp, any ? han : NULL, n, out, cap, m && m->han_end);
}

/* ---- scoring ---- */

static double bg_logp(const names_tlm *m, const char *l, size_t ml) {
    double s = m->bg_stop + (double)ml * log1p(-exp(m->bg_stop));
    for (size_t j = 0; j < ml; j++) s += m->bg[l[j] - 'a'];
    return s;
}

/* log P(chunk | cp); unseen pairs get a floor below the background */
static double theta(const names_tlm *m, uint32_t cp, const char *l, size_t b, bool seen_cp) {
    if (NM_TL_IS_HCH(cp)) return b ? -INFINITY : 0.0; /* a character's marker */
    long e = tab_find(&m->tab, tkey(cp, chunk_pack(l, b)));
    if (e >= 0) return m->ent[e].lp;
    double s = 0;
    for (size_t j = 0; j < b; j++) s += m->bg[l[j] - 'a'];
    static const double lenp[7] = {-2.3, -0.7, -1.2, -2.3, -3.5, -4.5, -5.5};
    s += lenp[b];
    return seen_cp ? s + log(TL_FLOOR_SEEN) : s;
}

static double lse(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/* the native units' prior: TL_LM_WEIGHT x their unigram log-probability (0 without) */
static double unit_lm(const names_tlm *m, uint32_t u) {
    /* not for Han and Kana: foreign names are written there by sound, syllable by
     * syllable, and the units' frequencies say nothing of the spelling of one name
     * (Chinese top-10 fell by 1.4 points with it, the alphabets gained 0.1) */
    if (!m->has_lm || nm_tl_class(u) >= 3) return 0;
    long k = tab_find(&m->ulm, tkey(u, 0));
    return TL_LM_WEIGHT * (k >= 0 ? (double)m->ulp[k] : m->ulp_unseen);
}

static int ulm_put(names_tlm *m, uint32_t u, double lp) {
    if (m->n_ulp == m->cap_ulp) {
        size_t nc = m->cap_ulp ? m->cap_ulp * 2 : 256;
        float *a = realloc(m->ulp, nc * sizeof *a);
        if (!a) return -1;
        m->ulp = a;
        m->cap_ulp = nc;
    }
    if (tab_put(&m->ulm, tkey(u, 0), (uint32_t)m->n_ulp) != (long)m->n_ulp) return -1; /* ENOMEM or a duplicate */
    m->ulp[m->n_ulp++] = (float)lp;
    return 0;
}

static bool is_pyl(uint32_t u) { return (u & ~0x7Fu) == NM_TL_PYL; }

/* the prior of a Han word's length: TL_HAN_SYL_COST nats a character (syllable).  The
 * likelihood alone favours the longer of two transcriptions, whose extra characters
 * can render letters the shorter one leaves unwritten (Raimund: 雷蒙德 and 萊姆德 over
 * 雷蒙; Tómas: 托马斯 over 托馬); a geometric prior on the number of characters -- the
 * length part of P(native) in the noisy channel; the characters' own frequencies did
 * not help (see unit_lm) -- evens that out (top-10, first fold: 0.8745 -> 0.8772 at 0.5,
 * 0.8780 at 0.7, 0.8770 at 1.2; five folds 0.8724 -> 0.8742 at 0.5) */
#define TL_HAN_SYL_COST 0.5
static double han_len_prior(const names_tlm *m, const uint32_t *cp, size_t n) {
    if (!m->han_end) return 0;
    size_t syl = 0;
    for (size_t i = 0; i < n; i++) syl += is_pyl(cp[i]) && (cp[i] & NM_TL_PY_FIRST);
    return -TL_HAN_SYL_COST * (double)syl;
}

/* the end (exclusive) of the syllable whose marker is cp[i]: its pinyin letters up to
 * the syllable-final one */
static size_t hc_group_end(const uint32_t *cp, size_t n, size_t i) {
    size_t e = i + 1;
    while (e < n && is_pyl(cp[e])) {
        bool last = (cp[e] & NM_TL_PY_LAST) != 0;
        e++;
        if (last) break;
    }
    return e;
}

static size_t chunk_len(uint32_t v) {
    size_t n = 0;
    while (v) { n++; v >>= 5; }
    return n;
}

/* n(c, chunk) of directory entry d, 0 when the character never rendered it (its
 * entries are sorted by chunk) */
static double hc_count(const names_tlm *m, long d, uint32_t chunk) {
    uint32_t lo = m->hc_first[d], hi = m->hc_first[d + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->hc[mid].chunk < chunk) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->hc_first[d + 1] && m->hc[lo].chunk == chunk ? (double)m->hc[lo].n : 0;
}

/* log P(l[j..j+b) | the syllable's pinyin letters) for b = 0..6 (-inf beyond ml) */
static void syl_spans(const names_tlm *m, const uint32_t *u, size_t nu, const char *l, size_t ml, size_t j, double out[7]) {
    double s[7], t[7];
    for (int b = 0; b < 7; b++) s[b] = -INFINITY;
    s[0] = 0;
    for (size_t x = 0; x < nu; x++) {
        bool seen = cp_dir(m, u[x]) >= 0;
        int K = max_chunk(u[x]);
        for (int b = 0; b < 7; b++) t[b] = -INFINITY;
        for (int b = 0; b < 7; b++) {
            if (s[b] == -INFINITY) continue;
            for (int c = 0; c <= K && b + c < 7 && j + (size_t)(b + c) <= ml; c++)
                t[b + c] = lse(t[b + c], s[b] + theta(m, u[x], l + j + b, (size_t)c, seen));
        }
        memcpy(s, t, sizeof s);
    }
    memcpy(out, s, sizeof s);
}

/* log P(latin | native) summed over all alignments; -inf when impossible.  A Han
 * character's marker with its syllable is one step: the character's own renderings
 * mixed with its syllable's (see names_tlm.hc). */
static double forward_logp(const names_tlm *m, const uint32_t *cp, size_t n, const char *l, size_t ml) {
    double a[TL_MAX_N + 1][TL_MAX_M + 1];
    for (size_t i = 0; i <= n; i++)
        for (size_t j = 0; j <= ml; j++) a[i][j] = -INFINITY;
    a[0][0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (NM_TL_IS_HCH(cp[i])) {
            size_t e = hc_group_end(cp, n, i);
            long d = hc_dir(m, cp[i] & 0xFFFFFFu);
            if (d >= 0 && e > i + 1 && e - i - 1 <= 6) {
                /* the syllable's letters, P(chunk | letter) at every position, in linear
                 * space; then its spans from every reachable start */
                size_t nl = e - i - 1;
                /* only the positions a reachable start's spans cover */
                bool need[TL_MAX_M + 1] = {false};
                double amax = -INFINITY;
                for (size_t j = 0; j <= ml; j++)
                    if (a[i][j] > -INFINITY) {
                        for (size_t p = j; p <= ml && p < j + 7; p++) need[p] = true;
                        if (a[i][j] > amax) amax = a[i][j];
                    }
                if (amax == -INFINITY) break; /* nothing reachable: the pair is impossible */
                double th[6][TL_MAX_M + 1][4];
                for (size_t x = 0; x < nl; x++) {
                    uint32_t u = cp[i + 1 + x];
                    bool seen = cp_dir(m, u) >= 0;
                    int K = max_chunk(u);
                    for (size_t p = 0; p <= ml; p++)
                        if (need[p])
                            for (size_t c = 0; c < 4; c++)
                                th[x][p][c] = (int)c <= K && p + c <= ml ? exp(theta(m, u, l + p, c, seen)) : 0.0;
                }
                /* linear space relative to the best reachable start */
                double tot = m->hc_tot[d] + TL_HC_KAPPA, acc[TL_MAX_M + 1] = {0};
                for (size_t j = 0; j <= ml; j++) {
                    if (a[i][j] == -INFINITY) continue;
                    double w = exp(a[i][j] - amax) / tot;
                    double sp[7] = {1, 0, 0, 0, 0, 0, 0}, t[7];
                    for (size_t x = 0; x < nl; x++) {
                        for (size_t b = 0; b < 7; b++) t[b] = 0;
                        for (size_t b = 0; b < 7 && j + b <= ml; b++) {
                            if (sp[b] == 0) continue;
                            for (size_t c = 0; c < 4 && b + c < 7; c++) t[b + c] += sp[b] * th[x][j + b][c];
                        }
                        memcpy(sp, t, sizeof sp);
                    }
                    for (size_t b = 0; b < 7 && j + b <= ml; b++)
                        acc[j + b] += w * (hc_count(m, d, chunk_pack(l + j, b)) + TL_HC_KAPPA * sp[b]);
                }
                for (size_t j = 0; j <= ml; j++)
                    if (acc[j] > 0) a[e][j] = lse(a[e][j], amax + log(acc[j]));
                i = e - 1;
                continue;
            }
        }
        int K = max_chunk(cp[i]);
        bool seen = cp_dir(m, cp[i]) >= 0;
        for (size_t j = 0; j <= ml; j++) {
            if (a[i][j] == -INFINITY) continue;
            for (int b = 0; b <= K && j + (size_t)b <= ml; b++)
                a[i + 1][j + (size_t)b] = lse(a[i + 1][j + (size_t)b], a[i][j] + theta(m, cp[i], l + j, (size_t)b, seen));
        }
    }
    return a[n][ml];
}

static bool pair_features1(const names_tlm *m, const uint32_t *cp, size_t n, const char *l, size_t ml, double f[2]);

/* features of a pair: per-letter and per-unit log-likelihood ratios; an Arabic name
 * opening with the definite article is read with and without it (النجار is Najjar as
 * well as al-Najjar: library filing rules disregard al-), the likelier reading counts */
static bool pair_features(const names_tlm *m, const uint32_t *cp, size_t n, const char *l, size_t ml, double f[2]) {
    if (!pair_features1(m, cp, n, l, ml, f)) return false;
    size_t a = nm_tl_article(cp, n);
    double g[2];
    if (a && pair_features1(m, cp + a, n - a, l, ml, g) && g[0] > f[0]) { f[0] = g[0]; f[1] = g[1]; }
    return true;
}

static bool pair_features1(const names_tlm *m, const uint32_t *cp, size_t n, const char *l, size_t ml, double f[2]) {
    if (!n || !ml || n > TL_MAX_N || ml > TL_MAX_M) return false;
    double lp = forward_logp(m, cp, n, l, ml);
    if (lp == -INFINITY) { f[0] = -8; f[1] = -8; return true; }
    for (size_t i = 0; i < n; i++) lp += unit_lm(m, cp[i]);
    lp += han_len_prior(m, cp, n);
    double llr = lp - bg_logp(m, l, ml);
    f[0] = llr / (double)(ml + 1);
    f[1] = llr / (double)(n + ml);
    if (f[0] < -8) f[0] = -8;
    if (f[1] < -8) f[1] = -8;
    return true;
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

size_t nm_tl_article(const uint32_t *cp, size_t n) {
    return n >= 4 && cp[0] == 0x627 && cp[1] == 0x644 ? 2 : 0;
}

double nm_tl_prob(const names_tlm *m, const uint32_t *cp, size_t n, const char *lat, size_t lat_len) {
    if (!m || !n) return -1;
    char l[TL_MAX_M + 2]; /* letters a-z only (tokens may hold digits) */
    size_t ml = 0;
    for (size_t j = 0; j < lat_len && ml <= TL_MAX_M; j++)
        if (lat[j] >= 'a' && lat[j] <= 'z') l[ml++] = lat[j];
    l[ml] = 0;
    bool known = false;
    for (size_t i = 0; i < n && !known; i++) known = cp_dir(m, cp[i]) >= 0;
    if (!known) return -1;
    double f[2];
    if (!pair_features(m, cp, n, l, ml, f)) return -1;
    const double *c = m->cal[word_class(cp, n)];
    return sigm(c[0] + c[1] * f[0] + c[2] * f[1]);
}

double names_tlm_probability(const names_tlm *m, const char *native, const char *latin) {
    if (!m || !native || !latin) return -1;
    char *f = nm_fold(native, strlen(native));
    if (!f) return -1;
    uint32_t cp[TL_MAX_N];
    size_t n = nm_tl_units(NULL, m, f, strlen(f), cp, TL_MAX_N);
    free(f);
    char l[TL_MAX_M + 2];
    size_t ml = nm_tl_latin(latin, strlen(latin), l, sizeof l);
    return nm_tl_prob(m, cp, n, l, ml);
}

/* ---- one Latin token against many native tokens (the index's pre-ranking) ----
 * The same calibrated probability as nm_tl_prob, computed by the forward algorithm in
 * linear space over a per-query table of P(chunk | unit) for every (unit, position,
 * chunk length) of this Latin token: a unit's row is looked up once per query (native
 * records share their characters, Han records their syllables), after which a native
 * token costs n x m x K multiply-adds and no hash look-ups. */

struct nm_tl_query {
    const names_tlm *m;
    char l[TL_MAX_M + 2];
    size_t ml;
    double bg;          /* log P_bg(latin) */
    size_t row;         /* doubles per unit row: (ml + 1) * 7 */
    int32_t direct[0x880]; /* row of a unit below U+0800 (Greek, Cyrillic, Hebrew, Arabic) or of a
                            * pinyin letter (0x800 + position | letter), -1 none */
    uint32_t *ukey;     /* open addressing (other units): unit + 1, 0 empty */
    uint32_t *uval;     /* row index */
    size_t ucap, nrows, rcap;
    double *rows;       /* rows[r * row + j * 7 + b] = P(chunk l[j..j+b) | unit), 0 beyond ml */
    uint8_t *seen;      /* per row: the unit is known to the model */
    double *lm;         /* per row: the unit's prior (unit_lm) */
    uint32_t pk[(TL_MAX_M + 1) * 7]; /* chunk_pack(l + j, b) at [j * 7 + b] */
};

nm_tl_query *nm_tl_query_new(const names_tlm *m, const char *lat, size_t lat_len) {
    if (!m) return NULL;
    nm_tl_query *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->m = m;
    for (size_t j = 0; j < lat_len && q->ml <= TL_MAX_M; j++)
        if (lat[j] >= 'a' && lat[j] <= 'z') q->l[q->ml++] = lat[j];
    q->l[q->ml] = 0;
    if (!q->ml || q->ml > TL_MAX_M) { free(q); return NULL; }
    q->bg = bg_logp(m, q->l, q->ml);
    for (size_t j = 0; j <= q->ml; j++)
        for (size_t b = 0; b < 7; b++) q->pk[j * 7 + b] = j + b <= q->ml ? chunk_pack(q->l + j, b) : 0;
    for (size_t i = 0; i < 0x880; i++) q->direct[i] = -1;
    q->row = (q->ml + 1) * 7;
    q->ucap = 256;
    q->ukey = calloc(q->ucap, sizeof *q->ukey);
    q->uval = malloc(q->ucap * sizeof *q->uval);
    if (!q->ukey || !q->uval) { nm_tl_query_free(q); return NULL; }
    return q;
}

void nm_tl_query_free(nm_tl_query *q) {
    if (!q) return;
    free(q->ukey);
    free(q->uval);
    free(q->rows);
    free(q->seen);
    free(q->lm);
    free(q);
}

static size_t tlq_direct(uint32_t u) {
    return u < 0x800 ? u : u >= NM_TL_PYL && (u & ~0x7Fu) == NM_TL_PYL ? 0x800 + (u & 0x7Fu) : SIZE_MAX;
}

/* a new row for unit u (not yet filled), registered in the unit map; -1 out of memory */
static long tlq_alloc(nm_tl_query *q, uint32_t u);

static long tlq_row(nm_tl_query *q, uint32_t u) {
    size_t d = tlq_direct(u);
    if (d != SIZE_MAX && q->direct[d] >= 0) return q->direct[d];
    size_t mask = q->ucap - 1, h = thash(u) & mask;
    while (q->ukey[h]) {
        if (q->ukey[h] == u + 1) return (long)q->uval[h];
        h = (h + 1) & mask;
    }
    long r = tlq_alloc(q, u);
    if (r < 0) return -1;
    size_t ri = (size_t)r;
    double *row = q->rows + ri * q->row;
    bool seen = cp_dir(q->m, u) >= 0;
    int K = max_chunk(u);
    for (size_t j = 0; j <= q->ml; j++)
        for (int b = 0; b < 7; b++)
            row[j * 7 + (size_t)b] = b <= K && j + (size_t)b <= q->ml ? exp(theta(q->m, u, q->l + j, (size_t)b, seen)) : 0.0;
    q->seen[ri] = seen;
    q->lm[ri] = unit_lm(q->m, u);
    return r;
}

/* the row of a syllable (its pinyin-letter units): P(l[j..j+b) | syllable) for b <= 6,
 * shared by the characters of that syllable; -1 out of memory */
static long tlq_syl_row(nm_tl_query *q, const uint32_t *let, size_t nl) {
    uint32_t key = NM_TL_SYL; /* syllable units are not otherwise met here (they are expanded) */
    for (size_t x = 0; x < nl; x++) key |= (let[x] & 31u) << (5 * x);
    size_t mask = q->ucap - 1, h = thash(key) & mask;
    while (q->ukey[h]) {
        if (q->ukey[h] == key + 1) return (long)q->uval[h];
        h = (h + 1) & mask;
    }
    long lr[6];
    for (size_t x = 0; x < nl; x++)
        if ((lr[x] = tlq_row(q, let[x])) < 0) return -1;
    long r = tlq_alloc(q, key); /* may move the rows: pointers are taken below */
    if (r < 0) return -1;
    double *row = q->rows + (size_t)r * q->row;
    size_t ml = q->ml;
    for (size_t j = 0; j <= ml; j++) {
        double sp[7] = {1, 0, 0, 0, 0, 0, 0}, t[7];
        for (size_t x = 0; x < nl; x++) {
            const double *lw = q->rows + (size_t)lr[x] * q->row;
            for (int b = 0; b < 7; b++) t[b] = 0;
            for (size_t b = 0; b < 7 && j + b <= ml; b++) {
                if (sp[b] == 0) continue;
                const double *tt = lw + (j + b) * 7;
                for (size_t c = 0; c <= 3 && b + c < 7 && j + b + c <= ml; c++) t[b + c] += sp[b] * tt[c];
            }
            memcpy(sp, t, sizeof sp);
        }
        for (size_t b = 0; b < 7; b++) row[j * 7 + b] = j + b <= ml ? sp[b] : 0.0;
    }
    q->seen[r] = 1;
    q->lm[r] = 0;
    return r;
}

/* the row of a Han character (marker u) with its syllable's letters: its own renderings
 * mixed with the syllable's (as forward_logp); -1 out of memory */
static long tlq_char_row(nm_tl_query *q, uint32_t u, const uint32_t *let, size_t nl) {
    size_t mask = q->ucap - 1, h = thash(u) & mask;
    while (q->ukey[h]) {
        if (q->ukey[h] == u + 1) return (long)q->uval[h];
        h = (h + 1) & mask;
    }
    long d = hc_dir(q->m, u & 0xFFFFFFu);
    if (d < 0 || !nl) return -2; /* not a character of this model: the marker renders nothing */
    if (nl > 6) nl = 6;
    long sr = tlq_syl_row(q, let, nl);
    if (sr < 0) return -1;
    long r = tlq_alloc(q, u); /* may move the rows: pointers are taken below */
    if (r < 0) return -1;
    const names_tlm *m = q->m;
    double *row = q->rows + (size_t)r * q->row, tot = m->hc_tot[d] + TL_HC_KAPPA;
    const double *sw = q->rows + (size_t)sr * q->row;
    double f = TL_HC_KAPPA / tot;
    for (size_t x = 0; x < q->row; x++) row[x] = f * sw[x];
    for (uint32_t e = m->hc_first[d]; e < m->hc_first[d + 1]; e++) {
        size_t b = chunk_len(m->hc[e].chunk);
        double v = (double)m->hc[e].n / tot;
        for (size_t j = 0; b < 7 && j + b <= q->ml; j++)
            if (q->pk[j * 7 + b] == m->hc[e].chunk) row[j * 7 + b] += v;
    }
    q->seen[r] = 1;
    q->lm[r] = 0;
    return r;
}

static long tlq_alloc(nm_tl_query *q, uint32_t u) {
    size_t d = tlq_direct(u);
    size_t mask = q->ucap - 1, h = thash(u) & mask;
    while (q->ukey[h]) h = (h + 1) & mask;
    if ((q->nrows + 1) * 2 > q->ucap) { /* grow the unit map */
        size_t nc = q->ucap * 2;
        uint32_t *k = calloc(nc, sizeof *k), *v = malloc(nc * sizeof *v);
        if (!k || !v) { free(k); free(v); return -1; }
        for (size_t i = 0; i < q->ucap; i++) {
            if (!q->ukey[i]) continue;
            size_t g = thash(q->ukey[i] - 1) & (nc - 1);
            while (k[g]) g = (g + 1) & (nc - 1);
            k[g] = q->ukey[i];
            v[g] = q->uval[i];
        }
        free(q->ukey);
        free(q->uval);
        q->ukey = k;
        q->uval = v;
        q->ucap = nc;
        mask = nc - 1;
        h = thash(u) & mask;
        while (q->ukey[h]) h = (h + 1) & mask;
    }
    if (q->nrows == q->rcap) {
        size_t nc = q->rcap ? q->rcap * 2 : 64;
        double *r = realloc(q->rows, nc * q->row * sizeof *r);
        if (!r) return -1;
        q->rows = r;
        uint8_t *s = realloc(q->seen, nc);
        if (!s) return -1;
        q->seen = s;
        double *l = realloc(q->lm, nc * sizeof *l);
        if (!l) return -1;
        q->lm = l;
        q->rcap = nc;
    }
    size_t ri = q->nrows++;
    q->ukey[h] = u + 1;
    q->uval[h] = (uint32_t)ri;
    if (d != SIZE_MAX) q->direct[d] = (int32_t)ri;
    return (long)ri;
}

static double tlq_prob1(nm_tl_query *q, const uint32_t *cp, size_t n);

/* both readings of a name with the Arabic article, as pair_features */
double nm_tl_query_prob(nm_tl_query *q, const uint32_t *cp, size_t n) {
    double p = tlq_prob1(q, cp, n);
    size_t a = nm_tl_article(cp, n);
    if (a) {
        double r = tlq_prob1(q, cp + a, n - a);
        if (r > p) p = r;
    }
    return p;
}

static double tlq_prob1(nm_tl_query *q, const uint32_t *cp, size_t n) {
    if (!q || !n || n > TL_MAX_N) return -1;
    const double *rw[TL_MAX_N];
    long ri[TL_MAX_N];
    bool known = false;
    double lm = 0;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        long r;
        if (NM_TL_IS_HCH(cp[i])) { /* a Han character with its syllable: one step */
            size_t e = hc_group_end(cp, n, i);
            r = tlq_char_row(q, cp[i], cp + i + 1, e - i - 1);
            if (r == -2) continue; /* the marker renders nothing itself */
            i = e - 1;
        } else {
            r = tlq_row(q, cp[i]);
        }
        if (r < 0) return -1;
        ri[nr++] = r;
        known |= q->seen[r] != 0;
        lm += q->lm[r];
    }
    if (!known) return -1;
    for (size_t i = 0; i < nr; i++) rw[i] = q->rows + (size_t)ri[i] * q->row; /* rows may have moved while filled */
    size_t ml = q->ml;
    double buf[2][TL_MAX_M + 8];
    double *a = buf[0], *nx = buf[1];
    for (size_t j = 0; j <= ml; j++) a[j] = 0;
    a[0] = 1;
    size_t lo = 0; /* a[j] == 0 for j < lo */
    for (size_t i = 0; i < nr; i++) {
        for (size_t j = lo; j <= ml; j++) nx[j] = 0;
        const double *row = rw[i];
        for (size_t j = lo; j <= ml; j++) {
            double v = a[j];
            if (v == 0) continue;
            const double *t = row + j * 7;
            size_t top = ml - j < 6 ? ml - j : 6;
            for (size_t b = 0; b <= top; b++) nx[j + b] += v * t[b];
        }
        double *sw = a; a = nx; nx = sw;
        while (lo < ml && a[lo] == 0) lo++;
    }
    double f[2];
    if (a[ml] <= 0) {
        f[0] = f[1] = -8;
    } else {
        double llr = log(a[ml]) + lm + han_len_prior(q->m, cp, n) - q->bg;
        f[0] = llr / (double)(ml + 1);
        f[1] = llr / (double)(n + ml);
        if (f[0] < -8) f[0] = -8;
        if (f[1] < -8) f[1] = -8;
    }
    const double *c = q->m->cal[word_class(cp, n)];
    return sigm(c[0] + c[1] * f[0] + c[2] * f[1]);
}

/* ---- romanisation (beam search) ---- */

typedef struct beam_st {
    char s[NM_MAX_TOK + 1];
    uint8_t len;
    double lp;
} beam_st;

static int beam_cmp(const void *x, const void *y) {
    const beam_st *a = x, *b = y;
    return a->lp < b->lp ? 1 : a->lp > b->lp ? -1 : 0;
}

static int beam_str_cmp(const void *x, const void *y) {
    const beam_st *a = x, *b = y;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return memcmp(a->s, b->s, a->len);
}

size_t nm_tl_romanise(const names_tlm *m, const uint32_t *cp, size_t n, size_t k, char (*out)[NM_MAX_TOK + 1],
                      double *lp_out) {
    enum { W = 32, PER = 5 };
    if (!m || !n || !k) return 0;
    beam_st cur[W], nxt[W * PER];
    size_t nc = 1;
    cur[0].len = 0;
    cur[0].s[0] = 0;
    cur[0].lp = 0;
    for (size_t i = 0; i < n; i++) {
        long d = cp_dir(m, cp[i]);
        if (d < 0) continue; /* an unknown character is skipped */
        size_t nn = 0;
        for (size_t c = 0; c < nc; c++)
            for (uint32_t e = m->cp_first[d], q = 0; e < m->cp_first[d + 1] && q < PER; e++, q++) {
                char ch[8];
                size_t cl = chunk_unpack(m->ent[e].chunk, ch);
                if (cur[c].len + cl > NM_MAX_TOK) continue;
                beam_st *t = &nxt[nn++];
                *t = cur[c];
                memcpy(t->s + t->len, ch, cl);
                t->len = (uint8_t)(t->len + cl);
                t->s[t->len] = 0;
                t->lp += m->ent[e].lp;
            }
        /* the same string by other segmentations: add the probabilities */
        qsort(nxt, nn, sizeof *nxt, beam_str_cmp);
        size_t u = 0;
        for (size_t x = 0; x < nn; x++) {
            if (u && !beam_str_cmp(&nxt[u - 1], &nxt[x])) nxt[u - 1].lp = lse(nxt[u - 1].lp, nxt[x].lp);
            else nxt[u++] = nxt[x];
        }
        qsort(nxt, u, sizeof *nxt, beam_cmp);
        nc = u < W ? u : W;
        memcpy(cur, nxt, nc * sizeof *cur);
    }
    size_t r = 0;
    for (size_t c = 0; c < nc && r < k; c++) {
        if (!cur[c].len) continue;
        memcpy(out[r], cur[c].s, (size_t)cur[c].len + 1);
        if (lp_out) lp_out[r] = cur[c].lp;
        r++;
    }
    return r;
}

size_t names_tlm_romanise(const names_tlm *m, const char *native, size_t k, char (*out)[NM_MAX_TOK + 1]) {
    if (!m || !native) return 0;
    char *f = nm_fold(native, strlen(native));
    if (!f) return 0;
    uint32_t cp[TL_MAX_N];
    size_t n = nm_tl_units(NULL, m, f, strlen(f), cp, TL_MAX_N);
    free(f);
    return nm_tl_romanise(m, cp, n, k, out, NULL);
}

/* ---- training ---- */

typedef struct tpair {
    uint32_t cp[TL_MAX_N];
    uint32_t mk[TL_MAX_N]; /* with a marker before each Han character's syllable (nmk 0: no Han) */
    char l[TL_MAX_M + 2];
    uint8_t n, ml, nmk;
} tpair;

typedef struct trainer {
    tl_tab tab;
    uint32_t *cp_of;   /* per parameter */
    uint32_t *chunk_of;
    double *th, *cnt, *prior;
    size_t n, cap;
} trainer;

static long tr_param(trainer *t, uint32_t cp, uint32_t chunk) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8192;
        uint32_t *a = realloc(t->cp_of, nc * sizeof *a);
        if (a) t->cp_of = a;
        uint32_t *b = realloc(t->chunk_of, nc * sizeof *b);
        if (b) t->chunk_of = b;
        double *c = realloc(t->th, nc * sizeof *c);
        if (c) t->th = c;
        double *d = realloc(t->cnt, nc * sizeof *d);
        if (d) t->cnt = d;
        double *e = realloc(t->prior, nc * sizeof *e);
        if (e) t->prior = e;
        if (!a || !b || !c || !d || !e) return -1;
        t->cap = nc;
    }
    long s = tab_put(&t->tab, tkey(cp, chunk), (uint32_t)t->n);
    if (s < 0) return -1;
    if ((size_t)s == t->n) {
        t->cp_of[t->n] = cp;
        t->chunk_of[t->n] = chunk;
        t->th[t->n] = 0;
        t->cnt[t->n] = 0;
        t->prior[t->n] = 0;
        t->n++;
    }
    return s;
}

static void trainer_free(trainer *t) {
    tab_free(&t->tab);
    free(t->cp_of);
    free(t->chunk_of);
    free(t->th);
    free(t->cnt);
    free(t->prior);
}

/* the edges of one pair: param index per (i, j, b), -1 when not allowed */
static bool edge_ok(const tpair *p, size_t i, size_t j, int b) {
    /* what is left must still be coverable: (n - i - 1) characters for (ml - j - b) letters */
    size_t rest = (size_t)p->ml - j - (size_t)b, left = (size_t)p->n - i - 1;
    return rest <= left * 6;
}


static iop_code em_train(trainer *t, const tpair *ps, size_t np, int iters, iop_err *err) {
    enum { E = TL_MAX_N * (TL_MAX_M + 1) * 7, A = (TL_MAX_N + 1) * (TL_MAX_M + 1) };
    iop_code rc = IOP_OK;
    /* parameters: every chunk any pair could align to a character */
    for (size_t p = 0; p < np && !rc; p++)
        for (size_t i = 0; i < ps[p].n && !rc; i++) {
            int K = max_chunk(ps[p].cp[i]);
            for (size_t j = 0; j <= ps[p].ml && !rc; j++)
                for (int b = 0; b <= K && j + (size_t)b <= ps[p].ml; b++)
                    if (edge_ok(&ps[p], i, j, b) && tr_param(t, ps[p].cp[i], chunk_pack(ps[p].l + j, (size_t)b)) < 0) {
                        rc = iop_fail(err, IOP_ENOMEM, "out of memory");
                        break;
                    }
        }
    if (rc) return rc;
    /* per-character sums through a cp -> slot table */
    tl_tab cpt = {0};
    uint32_t *cslot = malloc((t->n ? t->n : 1) * sizeof *cslot);
    double *sum = calloc(t->n ? t->n : 1, sizeof *sum);
    long *edge = malloc(E * sizeof *edge);
    double *al = malloc(A * sizeof *al), *be = malloc(A * sizeof *be);
    if (!cslot || !sum || !edge || !al || !be) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    uint32_t ncp = 0;
    for (size_t q = 0; q < t->n && !rc; q++) {
        long s = tab_put(&cpt, tkey(t->cp_of[q], 0), ncp);
        if (s < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        if ((uint32_t)s == ncp) ncp++;
        cslot[q] = (uint32_t)s;
    }
    /* start: one letter most likely, longer chunks less, plus the priors */
    static const double init[7] = {0.3, 1.0, 0.6, 0.25, 0.1, 0.05, 0.02};
    for (size_t q = 0; q < t->n && !rc; q++) {
        char ch[8];
        t->cnt[q] = init[chunk_unpack(t->chunk_of[q], ch)] + t->prior[q];
    }
    for (int it = 0; it <= iters && !rc; it++) {
        /* M step (the first pass only normalises the start values) */
        memset(sum, 0, ncp * sizeof *sum);
        for (size_t q = 0; q < t->n; q++) sum[cslot[q]] += t->cnt[q];
        for (size_t q = 0; q < t->n; q++) {
            double s = sum[cslot[q]];
            t->th[q] = s > 0 ? t->cnt[q] / s : 0;
            t->cnt[q] = t->prior[q];
        }
        if (it == iters) break;
        /* E step */
        for (size_t p = 0; p < np; p++) {
            const tpair *pp = &ps[p];
            size_t n = pp->n, ml = pp->ml, W = ml + 1;
            for (size_t i = 0; i < n; i++) {
                int K = max_chunk(pp->cp[i]);
                for (size_t j = 0; j <= ml; j++)
                    for (int b = 0; b < 7; b++)
                        edge[(i * W + j) * 7 + (size_t)b] =
                            b <= K && j + (size_t)b <= ml && edge_ok(pp, i, j, b)
                                ? tab_find(&t->tab, tkey(pp->cp[i], chunk_pack(pp->l + j, (size_t)b)))
                                : -1;
            }
            for (size_t x = 0; x < (n + 1) * W; x++) al[x] = be[x] = 0;
            al[0] = 1;
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j <= ml; j++) {
                    double a = al[i * W + j];
                    if (a == 0) continue;
                    for (int b = 0; b < 7; b++) {
                        long e = edge[(i * W + j) * 7 + (size_t)b];
                        if (e >= 0) al[(i + 1) * W + j + (size_t)b] += a * t->th[e];
                    }
                }
            double P = al[n * W + ml];
            if (!(P > 1e-300) || !isfinite(P)) continue;
            be[n * W + ml] = 1;
            for (size_t i = n; i-- > 0;)
                for (size_t j = 0; j <= ml; j++) {
                    double s = 0;
                    for (int b = 0; b < 7; b++) {
                        long e = edge[(i * W + j) * 7 + (size_t)b];
                        if (e >= 0) s += t->th[e] * be[(i + 1) * W + j + (size_t)b];
                    }
                    be[i * W + j] = s;
                }
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j <= ml; j++) {
                    double a = al[i * W + j];
                    if (a == 0) continue;
                    for (int b = 0; b < 7; b++) {
                        long e = edge[(i * W + j) * 7 + (size_t)b];
                        if (e >= 0) t->cnt[e] += a * t->th[e] * be[(i + 1) * W + j + (size_t)b] / P;
                    }
                }
        }
    }
    tab_free(&cpt);
    free(cslot);
    free(sum);
    free(edge);
    free(al);
    free(be);
    return rc;
}

static int ent_cmp(const void *x, const void *y) {
    const tl_ent *a = x, *b = y;
    if (a->cp != b->cp) return a->cp < b->cp ? -1 : 1;
    if (a->lp != b->lp) return a->lp > b->lp ? -1 : 1;
    return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

/* builds the directory and lookup table of m->ent (sorted here) */
static iop_code tlm_finish(names_tlm *m, iop_err *err) {
    if (m->n_ent) qsort(m->ent, m->n_ent, sizeof *m->ent, ent_cmp);
    m->cps = malloc((m->n_ent + 1) * sizeof *m->cps);
    m->cp_first = malloc((m->n_ent + 1) * sizeof *m->cp_first);
    if (!m->cps || !m->cp_first) return iop_fail(err, IOP_ENOMEM, "out of memory");
    tlm_index(m);
    for (size_t i = 0; i < m->n_ent; i++)
        if (tab_put(&m->tab, tkey(m->ent[i].cp, m->ent[i].chunk), (uint32_t)i) < 0)
            return iop_fail(err, IOP_ENOMEM, "out of memory");
    return IOP_OK;
}

/* logistic regression (Newton) of label on (1, f0, f1), per class.  The features are
 * centred for the fit (an almost constant feature -- a model that cannot tell pairs
 * apart -- otherwise makes the bias and the slope collinear) and every step that does
 * not raise the likelihood is halved; the weights are returned for the raw features. */
static double loglik(const double (*x)[2], const uint8_t *y, size_t n, const double *mu, const double w[3]) {
    double ll = 0;
    for (size_t i = 0; i < n; i++) {
        double z = w[0] + w[1] * (x[i][0] - mu[0]) + w[2] * (x[i][1] - mu[1]);
        ll += y[i] ? -log1p(exp(-z)) : -log1p(exp(z));
    }
    return ll - 5e-4 * (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
}

static void fit_logistic(const double (*x)[2], const uint8_t *y, size_t n, double w[3]) {
    double mu[2] = {0, 0};
    for (size_t i = 0; i < n; i++) { mu[0] += x[i][0]; mu[1] += x[i][1]; }
    if (n) { mu[0] /= (double)n; mu[1] /= (double)n; }
    double v[3] = {0, 1, 0};
    double ll = loglik(x, y, n, mu, v);
    for (int it = 0; it < 40; it++) {
        double g[3] = {0}, H[3][3] = {{1e-3, 0, 0}, {0, 1e-3, 0}, {0, 0, 1e-3}};
        for (int a = 0; a < 3; a++) g[a] = -1e-3 * v[a];
        for (size_t i = 0; i < n; i++) {
            double f[3] = {1, x[i][0] - mu[0], x[i][1] - mu[1]};
            double p = sigm(v[0] + v[1] * f[1] + v[2] * f[2]);
            for (int a = 0; a < 3; a++) {
                g[a] += (y[i] - p) * f[a];
                for (int b = 0; b < 3; b++) H[a][b] += p * (1 - p) * f[a] * f[b];
            }
        }
        /* solve H d = g (3x3, Gaussian elimination) */
        double M[3][4];
        for (int a = 0; a < 3; a++) { for (int b = 0; b < 3; b++) M[a][b] = H[a][b]; M[a][3] = g[a]; }
        bool singular = false;
        for (int c = 0; c < 3 && !singular; c++) {
            int piv = c;
            for (int r = c + 1; r < 3; r++) if (fabs(M[r][c]) > fabs(M[piv][c])) piv = r;
            if (fabs(M[piv][c]) < 1e-12) { singular = true; break; }
            if (piv != c) for (int k = 0; k < 4; k++) { double tmp = M[c][k]; M[c][k] = M[piv][k]; M[piv][k] = tmp; }
            for (int r = 0; r < 3; r++) {
                if (r == c) continue;
                double fr = M[r][c] / M[c][c];
                for (int k = c; k < 4; k++) M[r][k] -= fr * M[c][k];
            }
        }
        if (singular) break;
        double d[3], step = 0;
        for (int a = 0; a < 3; a++) { d[a] = M[a][3] / M[a][a]; step += fabs(d[a]); }
        double t = 1, nv[3], nll = ll;
        for (int h = 0; h < 30; h++, t /= 2) {
            for (int a = 0; a < 3; a++) nv[a] = v[a] + t * d[a];
            nll = loglik(x, y, n, mu, nv);
            if (nll >= ll) break;
        }
        if (nll < ll) break;
        memcpy(v, nv, sizeof v);
        ll = nll;
        if (t * step < 1e-6) break;
    }
    w[0] = v[0] - v[1] * mu[0] - v[2] * mu[1];
    w[1] = v[1];
    w[2] = v[2];
}

static bool prep_pair(const names_engine *eng, names_tlm *syl, const names_tl_pair *in, tpair *out) {
    memset(out, 0, sizeof *out);
    out->nmk = 0;
    if (!in->native || !in->latin) return false;
    char *f = nm_fold(in->native, strlen(in->native));
    if (!f) return false;
    uint32_t cp[TL_MAX_N + 1], han[TL_MAX_N + 1];
    size_t n = nm_tl_native(f, strlen(f), cp, TL_MAX_N + 1);
    free(f);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        han[i] = 0;
        if (is_han(cp[i])) {
            uint32_t u = han_unit(eng, syl, cp[i]);
            if (u != cp[i] && syl && !syl_add(syl, cp[i], u)) return false;
            if (u != cp[i]) { han[i] = cp[i]; any = true; }
            cp[i] = u;
        }
    }
    if (any) {
        size_t k = expand_syllables(cp, han, n, out->mk, TL_MAX_N, true);
        out->nmk = (uint8_t)k;
    }
    uint32_t units[TL_MAX_N + 1];
    n = expand_syllables(cp, NULL, n, units, TL_MAX_N + 1, true);
    memcpy(cp, units, n * sizeof *cp);
    char *lf = nm_fold(in->latin, strlen(in->latin));
    if (!lf) return false;
    iop_buf lb;
    iop_buf_init(&lb);
    if (!nm_translit_table(NM_SCH_BGN, lf, strlen(lf), &lb)) iop_buf_reset(&lb);
    char l[TL_MAX_M + 3];
    size_t ml = lb.len ? nm_tl_latin(lb.data, lb.len, l, sizeof l) : 0;
    iop_buf_free(&lb);
    free(lf);
    if (!n || n > TL_MAX_N || !ml || ml > TL_MAX_M) return false;
    /* a romanisation that starts with a consonant did not render the Arabic article
     * (Najjar for النجار): the model learns the letters from the rest of the name */
    size_t art = nm_tl_article(cp, n);
    if (art && !strchr("aeiou", l[0])) {
        memmove(cp, cp + art, (n - art) * sizeof *cp);
        n -= art;
    }
    memcpy(out->cp, cp, n * sizeof *cp);
    memcpy(out->l, l, ml + 1);
    out->n = (uint8_t)n;
    out->ml = (uint8_t)ml;
    return true;
}

static int hc_cmp(const void *x, const void *y) {
    const tl_hc *a = x, *b = y;
    if (a->cp != b->cp) return a->cp < b->cp ? -1 : 1;
    return (a->chunk > b->chunk) - (a->chunk < b->chunk);
}

/* sorts the character renderings and builds their directory and totals */
static iop_code hc_finish(names_tlm *m, iop_err *err) {
    free(m->hc_cps);
    free(m->hc_first);
    free(m->hc_tot);
    m->hc_cps = m->hc_first = NULL;
    m->hc_tot = NULL;
    m->n_hc_cps = 0;
    if (!m->n_hc) return IOP_OK;
    qsort(m->hc, m->n_hc, sizeof *m->hc, hc_cmp);
    m->hc_cps = malloc(m->n_hc * sizeof *m->hc_cps);
    m->hc_first = malloc((m->n_hc + 1) * sizeof *m->hc_first);
    m->hc_tot = malloc(m->n_hc * sizeof *m->hc_tot);
    if (!m->hc_cps || !m->hc_first || !m->hc_tot) return iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_hc; i++) {
        if (!i || m->hc[i].cp != m->hc[i - 1].cp) {
            m->hc_cps[m->n_hc_cps] = m->hc[i].cp;
            m->hc_first[m->n_hc_cps] = (uint32_t)i;
            m->hc_tot[m->n_hc_cps++] = 0;
        }
        m->hc_tot[m->n_hc_cps - 1] += (double)m->hc[i].n;
    }
    m->hc_first[m->n_hc_cps] = (uint32_t)m->n_hc;
    return IOP_OK;
}

static int hc_push(names_tlm *m, tl_hc e) {
    if (m->n_hc == m->cap_hc) {
        size_t nc = m->cap_hc ? m->cap_hc * 2 : 4096;
        tl_hc *a = realloc(m->hc, nc * sizeof *a);
        if (!a) return -1;
        m->hc = a;
        m->cap_hc = nc;
    }
    m->hc[m->n_hc++] = e;
    return 0;
}

/* The character-specific renderings: for every training pair with Han characters, the
 * posterior probability (forward-backward over the characters, each character's span
 * scored by its syllable's pinyin letters under the trained model m) that a character
 * rendered each Latin chunk of up to 6 letters; the sums are its counts. */
static iop_code hc_fit(names_tlm *m, const tpair *ps, size_t np, iop_err *err) {
    enum { S = TL_MAX_N, W = TL_MAX_M + 1 };
    double (*sp)[W][7] = malloc(sizeof(double[S][W][7]));
    double (*al)[W] = malloc(sizeof(double[S + 1][W])), (*be)[W] = malloc(sizeof(double[S + 1][W]));
    tl_tab ix = {0};
    double *cnt = NULL;
    uint32_t *kcp = NULL, *kch = NULL;
    size_t nk = 0, capk = 0;
    iop_code rc = sp && al && be ? IOP_OK : iop_fail(err, IOP_ENOMEM, "out of memory");
    for (size_t p = 0; p < np && !rc; p++) {
        const tpair *t = &ps[p];
        if (!t->nmk) continue;
        size_t ml = t->ml, ns = 0;
        uint32_t sc[S]; /* per step: the character (0: a unit of another script) */
        for (size_t i = 0; i < t->nmk && ns < S;) {
            size_t e = i + 1;
            if (NM_TL_IS_HCH(t->mk[i])) e = hc_group_end(t->mk, t->nmk, i);
            for (size_t j = 0; j <= ml; j++) {
                if (NM_TL_IS_HCH(t->mk[i])) syl_spans(m, t->mk + i + 1, e - i - 1, t->l, ml, j, sp[ns][j]);
                else {
                    bool seen = cp_dir(m, t->mk[i]) >= 0;
                    int K = max_chunk(t->mk[i]);
                    for (int b = 0; b < 7; b++)
                        sp[ns][j][b] = b <= K && j + (size_t)b <= ml ? theta(m, t->mk[i], t->l + j, (size_t)b, seen) : -INFINITY;
                }
            }
            sc[ns++] = NM_TL_IS_HCH(t->mk[i]) ? t->mk[i] & 0xFFFFFFu : 0;
            i = e;
        }
        for (size_t s = 0; s <= ns; s++)
            for (size_t j = 0; j <= ml; j++) al[s][j] = be[s][j] = -INFINITY;
        al[0][0] = 0;
        for (size_t s = 0; s < ns; s++)
            for (size_t j = 0; j <= ml; j++)
                if (al[s][j] > -INFINITY)
                    for (size_t b = 0; b < 7 && j + b <= ml; b++) al[s + 1][j + b] = lse(al[s + 1][j + b], al[s][j] + sp[s][j][b]);
        double P = al[ns][ml];
        if (!isfinite(P)) continue;
        be[ns][ml] = 0;
        for (size_t s = ns; s-- > 0;)
            for (size_t j = 0; j <= ml; j++)
                for (size_t b = 0; b < 7 && j + b <= ml; b++) be[s][j] = lse(be[s][j], sp[s][j][b] + be[s + 1][j + b]);
        for (size_t s = 0; s < ns && !rc; s++) {
            if (!sc[s]) continue;
            for (size_t j = 0; j <= ml && !rc; j++)
                for (size_t b = 0; b < 7 && j + b <= ml; b++) {
                    double g = al[s][j] + sp[s][j][b] + be[s + 1][j + b] - P;
                    if (!(g > -9.0)) continue; /* posterior below 1e-4 */
                    uint32_t ch = chunk_pack(t->l + j, b);
                    long k = tab_put(&ix, tkey(sc[s], ch), (uint32_t)nk);
                    if (k < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                    if ((size_t)k == nk) {
                        if (nk == capk) {
                            size_t nc = capk ? capk * 2 : 4096;
                            double *a = realloc(cnt, nc * sizeof *a);
                            if (a) cnt = a;
                            uint32_t *c1 = realloc(kcp, nc * sizeof *c1);
                            if (c1) kcp = c1;
                            uint32_t *c2 = realloc(kch, nc * sizeof *c2);
                            if (c2) kch = c2;
                            if (!a || !c1 || !c2) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                            capk = nc;
                        }
                        cnt[nk] = 0;
                        kcp[nk] = sc[s];
                        kch[nk++] = ch;
                    }
                    cnt[k] += exp(g);
                }
        }
    }
    for (size_t k = 0; k < nk && !rc; k++)
        if (cnt[k] >= TL_HC_MIN && hc_push(m, (tl_hc){kcp[k], kch[k], (float)cnt[k]}))
            rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    if (!rc) rc = hc_finish(m, err);
    tab_free(&ix);
    free(cnt);
    free(kcp);
    free(kch);
    free(sp);
    free(al);
    free(be);
    return rc;
}

/* fills m (entries, background) from the pairs; priors from ICU pinyin for Han when eng is given */
static iop_code tlm_fit(const names_engine *eng, const tpair *ps, size_t np, names_tlm *m, iop_err *err) {
    trainer t;
    memset(&t, 0, sizeof t);
    iop_code rc = IOP_OK;
    /* background letters */
    double lc[26], tot = 0, words = 0;
    for (int c = 0; c < 26; c++) lc[c] = 1;
    for (size_t p = 0; p < np; p++) {
        for (size_t j = 0; j < ps[p].ml; j++) lc[ps[p].l[j] - 'a'] += 1;
        words += 1;
    }
    for (int c = 0; c < 26; c++) tot += lc[c];
    for (int c = 0; c < 26; c++) m->bg[c] = log(lc[c] / tot);
    m->bg_stop = log((words + 1) / (tot + words + 1));
    /* the native units' unigram prior (add-one-half smoothing) */
    {
        tl_tab cnt_ix = {0};
        double *cnt = NULL;
        size_t nu = 0, capu = 0;
        double tot_u = 0;
        for (size_t p = 0; p < np && !rc; p++)
            for (size_t i = 0; i < ps[p].n && !rc; i++) {
                long k = tab_put(&cnt_ix, tkey(ps[p].cp[i], 0), (uint32_t)nu);
                if (k < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                if ((size_t)k == nu) {
                    if (nu == capu) {
                        size_t nc = capu ? capu * 2 : 256;
                        double *a = realloc(cnt, nc * sizeof *a);
                        if (!a) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                        cnt = a;
                        capu = nc;
                    }
                    cnt[nu++] = 0;
                }
                cnt[k] += 1;
                tot_u += 1;
            }
        double den = tot_u + 0.5 * (double)(nu + 1);
        for (size_t i = 0; i < cnt_ix.cap && !rc; i++)
            if (cnt_ix.key[i] && ulm_put(m, (uint32_t)(cnt_ix.key[i] >> 32), log((cnt[cnt_ix.val[i]] + 0.5) / den)))
                rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        m->ulp_unseen = log(0.5 / den);
        m->has_lm = !rc && nu > 0;
        tab_free(&cnt_ix);
        free(cnt);
    }
    /* Han syllables: their pinyin as a prior (a pseudo-count) */
    (void)eng;
    for (size_t p = 0; p < np && !rc; p++)
        for (size_t i = 0; i < ps[p].n; i++) {
            uint32_t c = ps[p].cp[i];
            if (c < NM_TL_SYL) continue;
            /* a pinyin letter unit: its own letter; (a syllable unit: its pinyin) */
            uint32_t own = c >= NM_TL_PYL ? (c & 31u) : (c & 0x3FFFFFFFu);
            if (tab_find(&t.tab, tkey(c, own)) >= 0) continue;
            long q = tr_param(&t, c, own);
            if (q < 0) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
            t.prior[q] += 1.0;
        }
    if (!rc) rc = em_train(&t, ps, np, TL_ITERS, err);
    if (!rc) {
        size_t keep = 0;
        for (size_t q = 0; q < t.n; q++) keep += t.th[q] >= 1e-4;
        m->ent = malloc((keep ? keep : 1) * sizeof *m->ent);
        if (!m->ent) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        for (size_t q = 0; !rc && q < t.n; q++)
            if (t.th[q] >= 1e-4) m->ent[m->n_ent++] = (tl_ent){t.cp_of[q], t.chunk_of[q], (float)log(t.th[q])};
    }
    trainer_free(&t);
    if (!rc) rc = tlm_finish(m, err);
    return rc;
}

/* The query normaliser: Latin letters (as units NM_TL_LAT_BASE + 32 * class + letter)
 * -> the letters of the model's best romanisation of the native form, learned by the
 * same EM from (Latin form, best romanisation) of every pair.  A Latin query's most
 * likely "canonical" spellings then meet the native records' romanisations in the
 * blocking keys (tch ~ ch, gi ~ dzh, sch ~ sh, ...), per script class. */
/* a Latin letter in the context of the next one (26 = end of the word) */
static uint32_t lat_unit(const char *l, size_t n, size_t j) {
    uint32_t nx = j + 1 < n ? (uint32_t)(l[j + 1] - 'a') : 26u;
    return (uint32_t)(l[j] - 'a') * 32u + nx;
}

static iop_code fit_normaliser(const tpair *ps, size_t np, names_tlm *m, iop_err *err) {
    tpair *q = malloc((np ? np : 1) * sizeof *q);
    if (!q) return iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t nq = 0;
    for (size_t i = 0; i < np; i++) {
        char r[1][NM_MAX_TOK + 1];
        if (!nm_tl_romanise(m, ps[i].cp, ps[i].n, 1, r, NULL)) continue;
        size_t rl = strlen(r[0]);
        if (!rl || rl > TL_MAX_M || ps[i].ml > TL_MAX_N) continue;
        tpair *t = &q[nq];
        memset(t, 0, sizeof *t);
        uint32_t base = NM_TL_LAT_BASE + 1024u * (uint32_t)word_class(ps[i].cp, ps[i].n);
        for (size_t j = 0; j < ps[i].ml; j++) t->cp[j] = base + lat_unit(ps[i].l, ps[i].ml, j);
        t->n = ps[i].ml;
        memcpy(t->l, r[0], rl + 1);
        t->ml = (uint8_t)rl;
        nq++;
    }
    names_tlm *z = calloc(1, sizeof *z);
    iop_code rc = z ? IOP_OK : iop_fail(err, IOP_ENOMEM, "out of memory");
    if (!rc && nq) rc = tlm_fit(NULL, q, nq, z, err);
    free(q);
    if (!rc && z->n_ent) {
        tl_ent *all = realloc(m->ent, (m->n_ent + z->n_ent) * sizeof *all);
        if (!all) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        else {
            memcpy(all + m->n_ent, z->ent, z->n_ent * sizeof *all);
            m->ent = all;
            m->n_ent += z->n_ent;
            tab_free(&m->tab);
            free(m->cps);
            free(m->cp_first);
            m->cps = m->cp_first = NULL;
            rc = tlm_finish(m, err);
        }
    }
    names_tlm_free(z);
    return rc;
}

size_t nm_tl_normalise(const names_tlm *m, int cls, const char *l, size_t ml, size_t k, char (*out)[NM_MAX_TOK + 1]) {
    if (!m || !ml) return 0;
    uint32_t cp[TL_MAX_N];
    char c[TL_MAX_N];
    size_t n = 0;
    for (size_t j = 0; j < ml && n < TL_MAX_N; j++)
        if (l[j] >= 'a' && l[j] <= 'z') c[n++] = l[j];
    for (size_t j = 0; j < n; j++) cp[j] = NM_TL_LAT_BASE + 1024u * (uint32_t)cls + lat_unit(c, n, j);
    return nm_tl_romanise(m, cp, n, k, out, NULL);
}

iop_code names_tlm_train(const names_engine *eng, const names_tl_pair *pairs, size_t n, names_tlm **out,
                         iop_err *err) {
    tpair *ps = malloc((n ? n : 1) * sizeof *ps);
    names_tlm *m = calloc(1, sizeof *m);
    if (!ps || !m) { free(ps); free(m); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        if (prep_pair(eng, m, &pairs[i], &ps[np])) np++;
    if (!np) {
        free(ps);
        names_tlm_free(m);
        return iop_fail(err, IOP_EINVAL, "no usable training pair (native and Latin letters, at most %d and %d)", TL_MAX_N, TL_MAX_M);
    }
    /* calibration on held-out pairs: a model from 9/10 of the pairs scores the other
     * tenth (true pairs) and shuffled pairs of that tenth (false pairs) */
    iop_code rc = IOP_OK;
    names_tlm *cal = calloc(1, sizeof *cal);
    tpair *tr = malloc(np * sizeof *tr), *ho = malloc(np * sizeof *ho);
    if (!cal || !tr || !ho) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    size_t ntr = 0, nho = 0;
    for (size_t i = 0; !rc && i < np; i++) {
        if (i % 10 == 7) ho[nho++] = ps[i];
        else tr[ntr++] = ps[i];
    }
    if (!rc) rc = tlm_fit(eng, nho >= 20 ? tr : ps, nho >= 20 ? ntr : np, cal, err);
    if (!rc) rc = hc_fit(cal, nho >= 20 ? tr : ps, nho >= 20 ? ntr : np, err);
    if (!rc) rc = tlm_fit(eng, ps, np, m, err);
    if (!rc) rc = hc_fit(m, ps, np, err);
    if (!rc) rc = fit_normaliser(ps, np, m, err);
    if (!rc) {
        if (nho < 20) { ho = memcpy(ho, ps, np * sizeof *ps); nho = np; } /* tiny sets: calibrate on the pairs */
        /* three false pairs per true one: a model that cannot tell them apart says ~0.25 */
        double (*x)[2] = malloc(4 * nho * sizeof *x);
        uint8_t *y = malloc(4 * nho);
        size_t *cls = malloc(4 * nho * sizeof *cls);
        if (!x || !y || !cls) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        size_t nx = 0;
        const size_t shift[4] = {0, nho / 2 + 1, nho / 3 + 1, nho / 5 + 1};
        for (size_t i = 0; !rc && i < nho; i++)
            for (int neg = 0; neg < 4; neg++) {
                const tpair *a = &ho[i], *b = &ho[(i + shift[neg]) % nho];
                if (neg && (b == a || (b->ml == a->ml && !memcmp(b->l, a->l, a->ml)))) continue;
                if (!(a->nmk ? pair_features(cal, a->mk, a->nmk, b->l, b->ml, x[nx])
                             : pair_features(cal, a->cp, a->n, b->l, b->ml, x[nx])))
                    continue;
                /* calibrated on the per-letter ratio only: for one Latin form the
                 * probability then orders native forms as their likelihood does (the
                 * per-unit ratio favoured long native forms among near neighbours) */
                x[nx][1] = 0;
                y[nx] = (uint8_t)!neg;
                cls[nx] = (size_t)word_class(a->cp, a->n);
                nx++;
            }
        double (*xc)[2] = rc ? NULL : malloc((nx ? nx : 1) * sizeof *xc);
        uint8_t *yc = rc ? NULL : malloc(nx ? nx : 1);
        if (!rc && (!xc || !yc)) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
        double all[3] = {-2, 1.5, 0};
        if (!rc && nx) fit_logistic((const double (*)[2])x, y, nx, all);
        for (int c = 0; !rc && c < NM_TL_CLASSES; c++) {
            size_t k = 0, pos = 0;
            for (size_t i = 0; i < nx; i++)
                if (cls[i] == (size_t)c) { xc[k][0] = x[i][0]; xc[k][1] = x[i][1]; yc[k] = y[i]; pos += y[i]; k++; }
            memcpy(m->cal[c], all, sizeof all);
            if (pos >= 10 && k - pos >= 10) fit_logistic((const double (*)[2])xc, yc, k, m->cal[c]);
        }
        free(xc);
        free(yc);
        free(x);
        free(y);
        free(cls);
    }
    if (!rc) {
        for (size_t i = 0; i < np; i++) m->trained_pairs[word_class(ps[i].cp, ps[i].n)]++;
    }
    names_tlm_free(cal);
    free(tr);
    free(ho);
    free(ps);
    if (rc) { names_tlm_free(m); return rc; }
    *out = m;
    return IOP_OK;
}

/* ---- model file ---- */

iop_code names_tlm_save(const names_tlm *m, const char *path, const char *provenance, iop_err *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return iop_fail(err, IOP_EIO, "%s: cannot write", tmp);
    fprintf(f, "%s\n", TL_MAGIC);
    if (provenance)
        for (const char *p = provenance; *p;) {
            const char *e = strchr(p, '\n');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            fprintf(f, "# %.*s\n", (int)l, p);
            p += l + (e ? 1 : 0);
        }
    fprintf(f, "bg");
    for (int c = 0; c < 26; c++) fprintf(f, " %.6f", m->bg[c]);
    fprintf(f, " %.6f\n", m->bg_stop);
    for (int c = 0; c < NM_TL_CLASSES; c++)
        fprintf(f, "cal %s %.6f %.6f %.6f %zu\n", CLASS_NAME[c], m->cal[c][0], m->cal[c][1], m->cal[c][2],
                m->trained_pairs[c]);
    for (size_t i = 0; i < m->n_syl; i++) {
        char ch[8];
        chunk_unpack(m->syl_unit[i] & 0x3FFFFFFFu, ch);
        fprintf(f, "h %X %s\n", m->syl_cp[i], ch);
    }
    if (m->has_lm) {
        fprintf(f, "ud %.5f\n", m->ulp_unseen);
        for (size_t i = 0; i < m->ulm.cap; i++) {
            if (!m->ulm.key[i]) continue;
            uint32_t c = (uint32_t)(m->ulm.key[i] >> 32);
            double lp = (double)m->ulp[m->ulm.val[i]];
            if (c == NM_TL_END) fprintf(f, "u end %.5f\n", lp);
            else if (c >= NM_TL_PYL)
                fprintf(f, "u pl:%c%c %.5f\n",
                        (c & NM_TL_PY_FIRST) ? ((c & NM_TL_PY_LAST) ? 's' : 'b') : ((c & NM_TL_PY_LAST) ? 'e' : 'm'),
                        (char)('a' + (c & 31u) - 1), lp);
            else fprintf(f, "u %X %.5f\n", c, lp);
        }
    }
    for (size_t i = 0; i < m->n_hc; i++) {
        char ch[8];
        size_t cl = chunk_unpack(m->hc[i].chunk, ch);
        fprintf(f, "hc %X %s %.4f\n", m->hc[i].cp, cl ? ch : "-", (double)m->hc[i].n);
    }
    for (size_t i = 0; i < m->n_ent; i++) {
        char ch[8], u[8];
        size_t cl = chunk_unpack(m->ent[i].chunk, ch);
        if (m->ent[i].cp == NM_TL_END) fprintf(f, "e end %s %.5f\n", cl ? ch : "-", (double)m->ent[i].lp);
        else if (m->ent[i].cp >= NM_TL_PYL) { /* a pinyin letter unit: "pl:<position><letter>" */
            uint32_t c = m->ent[i].cp;
            u[0] = (c & NM_TL_PY_FIRST) ? ((c & NM_TL_PY_LAST) ? 's' : 'b') : ((c & NM_TL_PY_LAST) ? 'e' : 'm');
            u[1] = (char)('a' + (c & 31u) - 1);
            u[2] = 0;
            fprintf(f, "e pl:%s %s %.5f\n", u, cl ? ch : "-", (double)m->ent[i].lp);
        } else fprintf(f, "e %X %s %.5f\n", m->ent[i].cp, cl ? ch : "-", (double)m->ent[i].lp);
    }
    fprintf(f, "end %zu\n", m->n_ent);
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad) { remove(tmp); return iop_fail(err, IOP_EIO, "%s: write failed", tmp); }
    if (rename(tmp, path)) { remove(tmp); return iop_fail(err, IOP_EIO, "%s: cannot rename into place", path); }
    return IOP_OK;
}

/* Appends an entry to the model read from a file, growing its array (capacity *cap);
 * -1 when out of memory (the model keeps what it had). */
/* appends an entry read at path:lineno; seen maps (unit, chunk) of the entries read so
 * far, so a second entry for a pair is refused with its line */
static iop_code ent_add(names_tlm *m, size_t *cap, tl_tab *seen, tl_ent e, const char *path, size_t lineno,
                        iop_err *err) {
    long s = tab_put(seen, tkey(e.cp, e.chunk), (uint32_t)m->n_ent);
    if (s < 0) return iop_fail(err, IOP_ENOMEM, "out of memory");
    if ((size_t)s != m->n_ent) return iop_fail(err, IOP_ECORRUPT, "%s:%zu: e: duplicate entry (the same unit and letters as an earlier line)", path, lineno);
    if (m->n_ent == *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        tl_ent *ne = realloc(m->ent, nc * sizeof *ne);
        if (!ne) return iop_fail(err, IOP_ENOMEM, "out of memory");
        m->ent = ne;
        *cap = nc;
    }
    m->ent[m->n_ent++] = e;
    return IOP_OK;
}

iop_code names_tlm_load(const char *path, names_tlm **out, iop_err *err) {
    char *data;
    size_t len;
    iop_code rc = iop_read_file(path, &data, &len, err);
    if (rc) return rc;
    names_tlm *m = calloc(1, sizeof *m);
    size_t cap = 0, lineno = 0;
    bool have_bg = false, ended = false, have_cal[NM_TL_CLASSES] = {0};
    tl_tab seen = {0}; /* (unit, chunk) of the entries read */
    if (!m) rc = iop_fail(err, IOP_ENOMEM, "out of memory");
    char *next = rc ? NULL : data;
    while (next && *next && !rc) {
        char *line = next, *nl = strchr(line, '\n');
        if (nl) { *nl = 0; next = nl + 1; } else next = NULL;
        if (nl && nl > line && nl[-1] == '\r') nl[-1] = 0;
        lineno++;
        if (lineno == 1) {
            if (!strcmp(line, "interop-names-translit 1"))
                rc = iop_fail(err, IOP_ECORRUPT, "%s:1: model format 1 (Han characters as whole syllables): retrain it with 'interop names train'", path);
            else if (strcmp(line, TL_MAGIC)) rc = iop_fail(err, IOP_ECORRUPT, "%s:1: not a transliteration model (expected '%s')", path, TL_MAGIC);
            continue;
        }
        if (ended) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: data after 'end'", path, lineno); break; }
        if (line[0] == '#' || !line[0]) continue;
        int used = 0;
        if (!strncmp(line, "bg ", 3)) {
            const char *p = line + 2;
            for (int c = 0; c <= 26 && !rc; c++) {
                double v;
                if (sscanf(p, " %lf%n", &v, &used) != 1 || !(v <= 0) || !isfinite(v))
                    rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: bg: expected 27 log-probabilities (<= 0)", path, lineno);
                else { if (c < 26) m->bg[c] = v; else m->bg_stop = v; p += used; }
            }
            have_bg = true;
        } else if (!strncmp(line, "cal ", 4)) {
            char name[32];
            double w[3];
            size_t np;
            if (sscanf(line, "cal %31s %lf %lf %lf %zu%n", name, &w[0], &w[1], &w[2], &np, &used) != 5 || line[used] ||
                !isfinite(w[0]) || !isfinite(w[1]) || !isfinite(w[2])) {
                rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: cal: expected '<class> <bias> <w1> <w2> <pairs>'", path, lineno);
                break;
            }
            int c = -1;
            for (int k = 0; k < NM_TL_CLASSES; k++) if (!strcmp(name, CLASS_NAME[k])) c = k;
            if (c < 0) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: cal: unknown script class '%s'", path, lineno, name); break; }
            memcpy(m->cal[c], w, sizeof w);
            m->trained_pairs[c] = np;
            have_cal[c] = true;
        } else if (!strncmp(line, "h ", 2)) {
            unsigned cp;
            char py[16];
            size_t pl = 0;
            bool ok = sscanf(line, "h %X %15s%n", &cp, py, &used) == 2 && !line[used] && is_han(cp);
            if (ok) pl = strlen(py);
            ok = ok && pl >= 1 && pl <= 6;
            for (size_t k = 0; ok && k < pl; k++) ok = py[k] >= 'a' && py[k] <= 'z';
            if (!ok) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: h: expected '<hex Han code point> <pinyin, 1-6 letters a-z>'", path, lineno); break; }
            if (!syl_add(m, cp, NM_TL_SYL | chunk_pack(py, pl))) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        } else if (!strncmp(line, "hc ", 3)) {
            unsigned cp;
            char ch[16];
            double c;
            size_t cl = 0;
            bool ok = sscanf(line, "hc %X %15s %lf%n", &cp, ch, &c, &used) == 3 && !line[used] && is_han(cp) &&
                      c > 0 && c < 1e9;
            if (ok) cl = strcmp(ch, "-") ? strlen(ch) : 0;
            ok = ok && cl <= 6;
            for (size_t k = 0; ok && k < cl; k++) ok = ch[k] >= 'a' && ch[k] <= 'z';
            if (!ok) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: hc: expected '<hex Han code point> <0-6 letters a-z or -> <count > 0>'", path, lineno); break; }
            if (hc_push(m, (tl_hc){cp, chunk_pack(ch, cl), (float)c})) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        } else if (!strncmp(line, "ud ", 3)) {
            double lp;
            if (sscanf(line, "ud %lf%n", &lp, &used) != 1 || line[used] || !(lp <= 0) || !isfinite(lp) || m->has_lm) {
                rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: ud: expected one '<log-prob <= 0>' line", path, lineno);
                break;
            }
            m->ulp_unseen = lp;
            m->has_lm = true;
        } else if (!strncmp(line, "u ", 2)) {
            char py[16];
            unsigned cp = 0;
            double lp;
            bool ok;
            if (!strncmp(line, "u end ", 6)) {
                ok = sscanf(line, "u end %lf%n", &lp, &used) == 1 && !line[used];
                cp = NM_TL_END;
            } else if (!strncmp(line, "u pl:", 5)) {
                ok = sscanf(line, "u pl:%15s %lf%n", py, &lp, &used) == 2 && !line[used] && strlen(py) == 2 &&
                     strchr("bems", py[0]) && py[1] >= 'a' && py[1] <= 'z';
                if (ok)
                    cp = NM_TL_PYL | (uint32_t)(py[1] - 'a' + 1) |
                         (py[0] == 'b' ? NM_TL_PY_FIRST : py[0] == 'e' ? NM_TL_PY_LAST : py[0] == 's' ? NM_TL_PY_FIRST | NM_TL_PY_LAST : 0);
            } else {
                ok = sscanf(line, "u %X %lf%n", &cp, &lp, &used) == 2 && !line[used] && cp >= 0x80 && cp <= 0x10FFFF;
            }
            ok = ok && lp <= 0 && isfinite(lp) && m->has_lm; /* after the 'ud' line */
            if (!ok) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: u: expected '<hex code point, pl:<b|m|e|s><letter> or end> <log-prob <= 0>' after 'ud'", path, lineno); break; }
            if (tab_find(&m->ulm, tkey(cp, 0)) >= 0) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: u: duplicate unit", path, lineno); break; }
            if (ulm_put(m, cp, lp)) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
        } else if (!strncmp(line, "e end ", 6)) {
            char ch[16];
            double lp;
            size_t cl = 0;
            bool ok = sscanf(line, "e end %15s %lf%n", ch, &lp, &used) == 2 && !line[used] && lp <= 0 && isfinite(lp);
            if (ok) cl = strcmp(ch, "-") ? strlen(ch) : 0;
            ok = ok && cl <= (size_t)max_chunk(NM_TL_END);
            for (size_t k = 0; ok && k < cl; k++) ok = ch[k] >= 'a' && ch[k] <= 'z';
            if (!ok) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: e: bad end-of-word entry ('e end <up to 3 letters or -> <log-prob <= 0>')", path, lineno); break; }
            if ((rc = ent_add(m, &cap, &seen, (tl_ent){NM_TL_END, chunk_pack(ch, cl), (float)lp}, path, lineno, err))) break;
        } else if (!strncmp(line, "e pl:", 5)) {
            char py[16], ch[16];
            double lp;
            size_t cl = 0;
            bool ok = sscanf(line, "e pl:%15s %15s %lf%n", py, ch, &lp, &used) == 3 && !line[used] && lp <= 0 && isfinite(lp);
            if (ok) cl = strcmp(ch, "-") ? strlen(ch) : 0;
            ok = ok && strlen(py) == 2 && strchr("bems", py[0]) && py[1] >= 'a' && py[1] <= 'z' && cl <= (size_t)max_chunk(NM_TL_PYL);
            for (size_t k = 0; ok && k < cl; k++) ok = ch[k] >= 'a' && ch[k] <= 'z';
            if (!ok) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: e: bad pinyin-letter entry ('e pl:<b|m|e|s><letter> <up to 3 letters or -> <log-prob <= 0>')", path, lineno); break; }
            uint32_t pos = py[0] == 'b' ? NM_TL_PY_FIRST : py[0] == 'e' ? NM_TL_PY_LAST : py[0] == 's' ? NM_TL_PY_FIRST | NM_TL_PY_LAST : 0;
            if ((rc = ent_add(m, &cap, &seen, (tl_ent){NM_TL_PYL | pos | (uint32_t)(py[1] - 'a' + 1), chunk_pack(ch, cl), (float)lp}, path, lineno, err))) break;
        } else if (!strncmp(line, "e ", 2)) {
            unsigned cp;
            char ch[16];
            double lp;
            if (sscanf(line, "e %X %15s %lf%n", &cp, ch, &lp, &used) != 3 || line[used]) {
                rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: e: expected '<hex code point> <letters or -> <log-prob>'", path, lineno);
                break;
            }
            size_t cl = strcmp(ch, "-") ? strlen(ch) : 0;
            bool ok = cp >= 0x80 && cp < NM_TL_LAT_BASE + 1024 * NM_TL_CLASSES && (cp <= 0x10FFFF || cp >= NM_TL_LAT_BASE) && !is_han(cp) && cl <= (size_t)max_chunk(cp) && lp <= 0 && isfinite(lp);
            for (size_t k = 0; ok && k < cl; k++) ok = ch[k] >= 'a' && ch[k] <= 'z';
            if (!ok) { rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: e: bad entry (code point, letters a-z up to the chunk limit, log-prob <= 0)", path, lineno); break; }
            if ((rc = ent_add(m, &cap, &seen, (tl_ent){cp, chunk_pack(ch, cl), (float)lp}, path, lineno, err))) break;
        } else if (!strncmp(line, "end ", 4)) {
            size_t cnt;
            if (sscanf(line, "end %zu%n", &cnt, &used) != 1 || line[used] || cnt != m->n_ent) {
                rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: end: entry count does not match (%zu entries read)", path, lineno, m->n_ent);
                break;
            }
            ended = true;
        } else {
            rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: unknown line kind", path, lineno);
        }
    }
    if (!rc && lineno == 0) rc = iop_fail(err, IOP_ECORRUPT, "%s: empty file", path);
    if (!rc && !ended) rc = iop_fail(err, IOP_ECORRUPT, "%s:%zu: truncated (no 'end' line)", path, lineno);
    if (!rc && !have_bg) rc = iop_fail(err, IOP_ECORRUPT, "%s: no 'bg' line", path);
    for (int c = 0; !rc && c < NM_TL_CLASSES; c++)
        if (!have_cal[c]) rc = iop_fail(err, IOP_ECORRUPT, "%s: no 'cal %s' line", path, CLASS_NAME[c]);
    tab_free(&seen);
    if (!rc && m->n_ent) qsort(m->ent, m->n_ent, sizeof *m->ent, ent_cmp);
    if (!rc) rc = tlm_finish(m, err);
    if (!rc) rc = hc_finish(m, err);
    for (size_t i = 1; !rc && i < m->n_hc; i++)
        if (m->hc[i].cp == m->hc[i - 1].cp && m->hc[i].chunk == m->hc[i - 1].chunk)
            rc = iop_fail(err, IOP_ECORRUPT, "%s: duplicate 'hc' entry for U+%04X", path, m->hc[i].cp);
    free(data);
    if (rc) { names_tlm_free(m); return rc; }
    *out = m;
    return IOP_OK;
}

size_t names_tlm_entries(const names_tlm *m) { return m ? m->n_ent : 0; }

size_t names_tlm_characters(const names_tlm *m) { return m ? m->n_cps : 0; }
