/*
 * compare.c -- are two prepared identities the same person?  (Reg. 2019/817 Art 28(5),
 * Delegated Reg. 2023/333 Annexes I-II: names, date of birth, gender, nationalities and
 * place of birth; travel documents per Arts 30-33.)
 *
 * Each field gives an agreement (same / similar / different / absent) and a weight, a
 * log2 likelihood ratio in the Fellegi-Sunter sense; the score is the logistic of the
 * summed weights plus a prior, so it reads as a probability of "same person" for a
 * candidate pair.  Names are compared token by token over every pair of transliterated
 * variants (best pair wins) with given/surname swap, missing middle names, compound
 * surnames and particles, initials, nicknames, NYSIIS codes, consonant skeletons for
 * scripts without written vowels, and Jaro-Winkler.
 */
#include <math.h>
#include <string.h>
#include "names/names_int.h"

#define PRIOR_BITS (-8.0)
/* reasons are written only when asked for (the index ranks without them) */
#define WHY(e, ...) do { if (why) snprintf((e)->reason, sizeof (e)->reason, __VA_ARGS__); } while (0)

enum { HOW_EXACT = 1, HOW_NICK = 2, HOW_INITIAL = 4, HOW_PHON = 8, HOW_FUZZY = 16, HOW_SKEL = 32,
       HOW_MISSING = 64, HOW_CONCAT = 128, HOW_SWAP = 256, HOW_BAG = 512, HOW_ALIAS = 1024, HOW_BIRTH = 2048,
       HOW_LEARNED = 4096 };
/* the learned model's probability p maps to a token similarity LO + (HI - LO) p: at
 * most "similar", never "same" */
#define NM_TL_SIM_LO 0.70
#define NM_TL_SIM_HI 0.96
#ifndef NM_TL_ONLY
#define NM_TL_ONLY 1
#endif

/* the learned model's probabilities computed during one comparison: the transliterated
 * variants of a native name share its units, so each (native, Latin) token pair is
 * scored once, not once per pair of variants */
typedef struct tl_memo {
    const names_ident *in, *il;
    uint32_t nat_off, lat_off;
    double p;
} tl_memo;

typedef struct tl_memos {
    tl_memo m[16];
    size_t n;
    const nm_tl_qset *qs; /* the query's tables, or NULL */
} tl_memos;

/* the table of Latin token tl of identity il, when the query set holds one */
static nm_tl_query *qset_find(const tl_memos *memo, const names_ident *il, const nm_tok *tl) {
    const nm_tl_qset *qs = memo ? memo->qs : NULL;
    if (!qs || qs->id != il) return NULL;
    const char *s = nm_str(il, tl->off);
    for (size_t k = 0; k < qs->n; k++)
        if (qs->len[k] == tl->len && !memcmp(qs->s[k], s, tl->len)) return qs->q[k];
    return NULL;
}

static double tok_sim(const names_engine *eng, const names_ident *a, const nm_tok *ta, const names_ident *b,
                      const nm_tok *tb, int *how, tl_memos *memo);

double nm_tok_sim(const names_engine *eng, const names_ident *a, const nm_tok *ta, const names_ident *b,
                  const nm_tok *tb, int *how) {
    return tok_sim(eng, a, ta, b, tb, how, NULL);
}

static double tok_sim(const names_engine *eng, const names_ident *a, const nm_tok *ta, const names_ident *b,
                      const nm_tok *tb, int *how, tl_memos *memo) {
    const char *sa = nm_str(a, ta->off), *sb = nm_str(b, tb->off);
    if (ta->len == tb->len && !memcmp(sa, sb, ta->len)) { *how |= HOW_EXACT; return 1.0; }
    if ((ta->flags | tb->flags) & NM_TF_INITIAL) {
        if (sa[0] == sb[0]) { *how |= HOW_INITIAL; return 0.86; }
        return 0.0;
    }
    if (nm_nick_related(&eng->nick, ta->nick, tb->nick)) { *how |= HOW_NICK; return 0.93; }
    double s = nm_jaro_winkler(sa, ta->len, sb, tb->len);
    int h = HOW_FUZZY;
    if (ta->phon == tb->phon && ta->len >= 3 && tb->len >= 3 && s < 0.9) { s = 0.9; h = HOW_PHON; }
    if (((ta->flags | tb->flags) & NM_TF_NONLATIN) && ta->skel_len && tb->skel_len) {
        /* a shared skeleton means more the longer it is: "M" matches half the names */
        unsigned sl = ta->skel_len < tb->skel_len ? ta->skel_len : tb->skel_len;
        double cap = sl >= 4 ? 0.92 : sl == 3 ? 0.89 : sl == 2 ? 0.85 : 0.8;
        double k = ta->skelh == tb->skelh ? cap
                                          : cap * nm_jaro_winkler(nm_str(a, ta->skel_off), ta->skel_len,
                                                                  nm_str(b, tb->skel_off), tb->skel_len);
        if ((ta->coarse[0] && (ta->coarse[0] == tb->coarse[0] || ta->coarse[0] == tb->coarse[1])) ||
            (ta->coarse[1] && (ta->coarse[1] == tb->coarse[0] || ta->coarse[1] == tb->coarse[1])))
            if (k < cap - 0.02) k = cap - 0.02;
        if (k > s) { s = k; h = HOW_SKEL; }
    }
    if (eng->tlm && ((ta->flags ^ tb->flags) & NM_TF_NONLATIN)) {
        /* a Latin token against a native-script one: the learned model's probability */
        const nm_tok *tn = (ta->flags & NM_TF_NONLATIN) ? ta : tb, *tl = tn == ta ? tb : ta;
        const names_ident *in = tn == ta ? a : b, *il = tn == ta ? b : a;
        if (tn->nat_len) {
            double p = -2;
            for (size_t k = 0; memo && k < memo->n && p < -1.5; k++)
                if (memo->m[k].in == in && memo->m[k].il == il && memo->m[k].nat_off == tn->nat_off &&
                    memo->m[k].lat_off == tl->off)
                    p = memo->m[k].p;
            if (p < -1.5) {
                uint32_t cp[32];
                size_t n = tn->nat_len;
                memcpy(cp, nm_str(in, tn->nat_off), n * sizeof *cp);
                nm_tl_query *tq = qset_find(memo, il, tl);
                p = tq ? nm_tl_query_prob(tq, cp, n) : nm_tl_prob(eng->tlm, cp, n, nm_str(il, tl->off), tl->len);
                if (memo && memo->n < 16) memo->m[memo->n++] = (tl_memo){in, il, tn->nat_off, tl->off, p};
            }
            if (p >= 0) {
                double k = NM_TL_SIM_LO + (NM_TL_SIM_HI - NM_TL_SIM_LO) * p;
                if (k > s || NM_TL_ONLY) { s = k; h = HOW_LEARNED; }
            }
        }
    }
    *how |= h;
    return s;
}

typedef struct tlist {
    const nm_tok *t[NM_MAX_NAMES];
    size_t n;           /* content tokens (no particles) */
    const nm_tok *all[NM_MAX_NAMES];
    size_t n_all;       /* with particles, for the concatenated form */
} tlist;

static void concat(const names_ident *id, const tlist *l, char *buf, size_t cap, size_t *len) {
    size_t k = 0;
    for (size_t i = 0; i < l->n_all; i++) {
        const nm_tok *t = l->all[i];
        if (k + t->len >= cap) break;
        memcpy(buf + k, nm_str(id, t->off), t->len);
        k += t->len;
    }
    buf[k] = 0;
    *len = k;
}

/* token-pair similarities of two variants, computed once per variant pair */
typedef struct simcache {
    tl_memos *memo;        /* the comparison's learned probabilities */
    const nm_tok *ba, *bb; /* first token of each variant */
    float sim[16][16];
    int how[16][16];
} simcache;

/* ta belongs to the first variant (of ia), tb to the second (of ib) */
static double cached_sim(const names_engine *eng, simcache *c, const names_ident *ia, const nm_tok *ta,
                         const names_ident *ib, const nm_tok *tb, int *how) {
    ptrdiff_t i = ta - c->ba, j = tb - c->bb;
    if (i < 0 || i >= 16 || j < 0 || j >= 16) return tok_sim(eng, ia, ta, ib, tb, how, c->memo);
    if (c->sim[i][j] < -1.5f) {
        int h = 0;
        c->sim[i][j] = (float)tok_sim(eng, ia, ta, ib, tb, &h, c->memo);
        c->how[i][j] = h;
    }
    *how |= c->how[i][j];
    return c->sim[i][j];
}

/* Similarity of two token lists in [0,1], or -1 when one side is empty. */
static double set_sim(const names_engine *eng, simcache *sc, const names_ident *a, const tlist *x, const names_ident *b,
                      const tlist *y, int *how) {
    if (!x->n || !y->n) return -1.0;
    bool swap = x->n > y->n;
    const tlist *s = swap ? y : x, *l = swap ? x : y;
    const names_ident *ia = swap ? b : a, *ib = swap ? a : b;
    size_t ns = s->n < 8 ? s->n : 8, nl = l->n < 8 ? l->n : 8;
    double m[8][8];
    int hw[8][8];
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < nl; j++) {
            hw[i][j] = 0;
            m[i][j] = swap ? cached_sim(eng, sc, ib, l->t[j], ia, s->t[i], &hw[i][j])
                           : cached_sim(eng, sc, ia, s->t[i], ib, l->t[j], &hw[i][j]);
        }
    bool used_s[8] = {0}, used_l[8] = {0};
    double sum = 0;
    int h = 0;
    for (size_t r = 0; r < ns; r++) {
        double best = -1;
        size_t bi = 0, bj = 0;
        for (size_t i = 0; i < ns; i++) {
            if (used_s[i]) continue;
            for (size_t j = 0; j < nl; j++)
                if (!used_l[j] && m[i][j] > best) { best = m[i][j]; bi = i; bj = j; }
        }
        used_s[bi] = used_l[bj] = true;
        sum += best;
        h |= hw[bi][bj];
    }
    double sim = sum / (double)ns;
    if (s->n != l->n) {
        sim *= 1.0 - 0.03 * (double)(l->n - s->n);
        h |= HOW_MISSING;
    }
    if (x->n_all + y->n_all > 2) {
        char ca[256], cb[256];
        size_t la, lb;
        concat(a, x, ca, sizeof ca, &la);
        concat(b, y, cb, sizeof cb, &lb);
        if (la >= 4 && lb >= 4) {
            double c = la == lb && !memcmp(ca, cb, la) ? 0.995 : nm_jaro_winkler(ca, la, cb, lb) - 0.01;
            if (c > sim) { sim = c; h = HOW_CONCAT | (c >= 0.995 ? HOW_EXACT : HOW_FUZZY); }
        }
    }
    *how |= h;
    return sim;
}

static void collect(const names_ident *id, const nm_variant *v, int role, tlist *out) {
    out->n = out->n_all = 0;
    for (size_t k = 0; k < v->n && out->n_all < NM_MAX_NAMES; k++) {
        const nm_tok *t = &id->toks[v->first + k];
        if (role >= 0 && t->role != role) continue;
        out->all[out->n_all++] = t;
        if (!(t->flags & NM_TF_PARTICLE)) out->t[out->n++] = t;
    }
}

typedef struct name_cmp {
    double g, s;   /* -1 absent */
    int how_g, how_s, how;
    double weight;
} name_cmp;

static double curve(const double (*pts)[2], size_t n, double x) {
    if (x <= pts[0][0]) return pts[0][1];
    for (size_t i = 1; i < n; i++)
        if (x <= pts[i][0]) {
            double t = (x - pts[i - 1][0]) / (pts[i][0] - pts[i - 1][0]);
            return pts[i - 1][1] + t * (pts[i][1] - pts[i - 1][1]);
        }
    return pts[n - 1][1];
}

static const double SUR_CURVE[][2] = {{0.6, -5}, {0.75, -3}, {0.82, -0.5}, {0.88, 2}, {0.93, 4}, {1.0, 6}};
static const double GIV_CURVE[][2] = {{0.6, -4}, {0.75, -2.5}, {0.82, -0.5}, {0.86, 1.5}, {0.93, 3.5}, {1.0, 5}};

static double name_weight(double g, double s) {
    double w = 0;
    if (s >= 0) w += curve(SUR_CURVE, 6, s);
    if (g >= 0) w += curve(GIV_CURVE, 6, g);
    return w;
}

static void cmp_variants(const names_engine *eng, const names_ident *a, const nm_variant *va, const names_ident *b,
                         const nm_variant *vb, name_cmp *best, tl_memos *memo) {
    name_cmp c = {-1, -1, 0, 0, 0, 0};
    tlist ga, sa, gb, sb;
    simcache sc;
    sc.memo = memo;
    sc.ba = &a->toks[va->first];
    sc.bb = &b->toks[vb->first];
    for (int i = 0; i < 16 && i < va->n; i++)
        for (int j = 0; j < 16 && j < vb->n; j++) sc.sim[i][j] = -2.0f;
    if (va->kind == NM_VK_ALIAS || vb->kind == NM_VK_ALIAS) {
        tlist xa, xb;
        collect(a, va, -1, &xa);
        collect(b, vb, -1, &xb);
        int h = 0;
        double s = set_sim(eng, &sc, a, &xa, b, &xb, &h);
        if (s < 0) return;
        c.g = c.s = s;
        c.how_g = c.how_s = h;
        c.how = HOW_ALIAS;
    } else {
        collect(a, va, NM_ROLE_GIVEN, &ga);
        collect(a, va, NM_ROLE_SURNAME, &sa);
        collect(b, vb, NM_ROLE_GIVEN, &gb);
        collect(b, vb, NM_ROLE_SURNAME, &sb);
        c.g = set_sim(eng, &sc, a, &ga, b, &gb, &c.how_g);
        c.s = set_sim(eng, &sc, a, &sa, b, &sb, &c.how_s);
        if (c.g < 0 && c.s < 0 && !(ga.n && sb.n) && !(sa.n && gb.n)) return;
        c.weight = name_weight(c.g, c.s);
        /* given names and surnames swapped */
        name_cmp w = {-1, -1, 0, 0, HOW_SWAP, 0};
        bool straight_good = c.g >= 0.85 && c.s >= 0.85; /* a swap cannot do better */
        if (!straight_good) {
            w.g = set_sim(eng, &sc, a, &ga, b, &sb, &w.how_g);
            w.s = set_sim(eng, &sc, a, &sa, b, &gb, &w.how_s);
        }
        if (w.g >= 0 || w.s >= 0) {
            w.weight = name_weight(w.g, w.s) - 1.0;
            bool full_straight = c.g >= 0 && c.s >= 0, full_swap = w.g >= 0 && w.s >= 0;
            if ((full_swap >= full_straight) && w.weight > c.weight) c = w;
            else if (c.g < 0 && c.s < 0) c = w;
        }
        if (va->kind == NM_VK_BIRTH || vb->kind == NM_VK_BIRTH) c.how |= HOW_BIRTH;
    }
    c.weight = name_weight(c.g, c.s) - ((c.how & HOW_SWAP) ? 1.0 : 0.0) - ((c.how & HOW_ALIAS) ? 0.5 : 0.0);
    if (best->g < 0 && best->s < 0) *best = c;
    else if (c.weight > best->weight) *best = c;
}

static void describe(char *out, size_t cap, const char *what, double sim, int how) {
    const char *kind = how & HOW_NICK ? "nickname" : how & HOW_INITIAL ? "initial" : how & HOW_SKEL ? "consonant skeleton"
                     : how & HOW_LEARNED ? "learned transliteration"
                     : how & HOW_PHON ? "phonetic (NYSIIS)" : how & HOW_CONCAT ? "joined parts" : "spelling";
    size_t l = strlen(out);
    if (sim >= 0.9999) snprintf(out + l, cap - l, "%s%s same", l ? "; " : "", what);
    else snprintf(out + l, cap - l, "%s%s similar (%.2f, %s%s)", l ? "; " : "", what, sim, kind,
                  how & HOW_MISSING ? ", a part missing" : "");
}

static void compare_names(const names_engine *eng, const names_ident *a, const names_ident *b, names_evidence *ev,
                          bool why, const nm_tl_qset *qs) {
    name_cmp best = {-1, -1, 0, 0, 0, -1e9};
    tl_memos memo;
    memo.n = 0;
    memo.qs = qs;
    for (size_t i = 0; i < a->n_vars; i++)
        for (size_t j = 0; j < b->n_vars; j++) cmp_variants(eng, a, &a->vars[i], b, &b->vars[j], &best, &memo);
    if (best.g < 0 && best.s < 0) {
        ev->agreement = NAMES_ABSENT;
        ev->weight = 0;
        WHY(ev, "no name to compare on one side");
        return;
    }
    ev->weight = best.weight;
    bool exact = (best.g < 0 || best.g >= 0.9999) && (best.s < 0 || best.s >= 0.9999) &&
                 !((best.how_g | best.how_s) & HOW_MISSING) && !(best.how & (HOW_SWAP | HOW_ALIAS));
    bool both = best.g >= 0 && best.s >= 0;
    double lo = both ? (best.g < best.s ? best.g : best.s) : (best.g >= 0 ? best.g : best.s);
    if (exact) ev->agreement = NAMES_AGREE_SAME;
    else if (lo >= 0.82 || (both && best.s >= 0.93 && best.g >= 0.75)) ev->agreement = NAMES_AGREE_SIMILAR;
    else ev->agreement = NAMES_AGREE_DIFFERENT;
    ev->reason[0] = 0;
    if (!why) return;
    if (best.how & HOW_SWAP) WHY(ev, "given names and surnames swapped");
    if (best.how & HOW_ALIAS) WHY(ev, "via an alias");
    if (best.how & HOW_BIRTH) WHY(ev, "via the surname at birth");
    if (best.how & HOW_ALIAS) describe(ev->reason, sizeof ev->reason, "names", best.s, best.how_s);
    else {
        if (best.s >= 0) describe(ev->reason, sizeof ev->reason, "surnames", best.s, best.how_s);
        else { size_t l = strlen(ev->reason); snprintf(ev->reason + l, sizeof ev->reason - l, "%ssurname missing", l ? "; " : ""); }
        if (best.g >= 0) describe(ev->reason, sizeof ev->reason, "given names", best.g, best.how_g);
        else { size_t l = strlen(ev->reason); snprintf(ev->reason + l, sizeof ev->reason - l, "%sgiven names missing", l ? "; " : ""); }
    }
}

/* ---- dates of birth ---- */

static void digits8(iop_date d, char *x) {
    int v[3] = {d.year, d.month, d.day}, w[3] = {4, 2, 2}, k = 0;
    for (int f = 0; f < 3; f++) {
        int n = v[f] < 0 ? 0 : v[f];
        for (int i = w[f] - 1; i >= 0; i--) { x[k + i] = (char)('0' + n % 10); n /= 10; }
        k += w[f];
    }
}

static int digit_diff(iop_date a, iop_date b) {
    char x[8], y[8];
    digits8(a, x);
    digits8(b, y);
    int d = 0;
    for (int i = 0; i < 8; i++) d += x[i] != y[i];
    if (d == 2) { /* two adjacent digits transposed count as one typo */
        for (int i = 0; i < 7; i++)
            if (x[i] != y[i] && x[i] == y[i + 1] && x[i + 1] == y[i] && x[i + 1] != y[i + 1]) return 1;
    }
    return d;
}

static void compare_dob(iop_date a, iop_date b, names_evidence *ev, bool why) {
    char sa[16] = "", sb[16] = "";
    if (!a.year || !b.year) {
        ev->agreement = NAMES_ABSENT;
        WHY(ev, "date of birth unknown on %s", !a.year && !b.year ? "both sides" : "one side");
        return;
    }
    if (why) {
        iop_date_format(a, sa);
        iop_date_format(b, sb);
    }
    bool full = a.month && a.day && b.month && b.day;
    if (full && a.year == b.year && a.month == b.month && a.day == b.day) {
        ev->agreement = NAMES_AGREE_SAME; ev->weight = 5.5;
        WHY(ev, "same date of birth %s", sa);
        return;
    }
    if (!full) {
        bool mok = !a.month || !b.month || a.month == b.month, dok = !a.day || !b.day || a.day == b.day;
        if (a.year == b.year && mok && dok) {
            bool month_known = a.month && b.month;
            ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = month_known ? 3.5 : 2.0;
            WHY(ev, "partial dates %s and %s agree on the known parts", sa, sb);
            return;
        }
        int dy = abs(a.year - b.year);
        if (dy == 1 && mok && dok) {
            ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 0.5;
            WHY(ev, "partial dates %s and %s one year apart", sa, sb);
            return;
        }
        ev->agreement = NAMES_AGREE_DIFFERENT; ev->weight = -5;
        WHY(ev, "dates of birth %s and %s differ", sa, sb);
        return;
    }
    if (a.year == b.year && a.month == b.day && a.day == b.month) {
        ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 3.0;
        WHY(ev, "day and month swapped (%s / %s)", sa, sb);
        return;
    }
    if (digit_diff(a, b) == 1) {
        ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 2.5;
        WHY(ev, "dates of birth differ by one digit (%s / %s)", sa, sb);
        return;
    }
    if (abs(a.year - b.year) == 1 && a.month == b.month && a.day == b.day) {
        ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 2.0;
        WHY(ev, "dates of birth one year apart (%s / %s)", sa, sb);
        return;
    }
    if (a.year == b.year && a.month == b.month) {
        ev->agreement = NAMES_AGREE_DIFFERENT; ev->weight = -2.0;
        WHY(ev, "same year and month, different day (%s / %s)", sa, sb);
        return;
    }
    ev->agreement = NAMES_AGREE_DIFFERENT; ev->weight = -6.0;
    WHY(ev, "dates of birth %s and %s differ", sa, sb);
}

/* ---- documents and other identifiers ---- */

static void compare_docs(const names_ident *a, const names_ident *b, names_evidence *ev, bool why) {
    if (!a->n_docs || !b->n_docs) {
        ev->agreement = NAMES_ABSENT;
        WHY(ev, "no travel document on %s", !a->n_docs && !b->n_docs ? "either side" : "one side");
        return;
    }
    int best = 0; /* 4 same, 3 ocr, 2 one typo, 1 same number other country */
    const nm_doc *ba = NULL, *bb = NULL;
    bool comparable = false;
    for (size_t i = 0; i < a->n_docs; i++)
        for (size_t j = 0; j < b->n_docs; j++) {
            const nm_doc *x = &a->docs[i], *y = &b->docs[j];
            bool country_ok = !x->country[0] || !y->country[0] || !strcmp(x->country, y->country);
            if (country_ok && x->type == y->type) comparable = true;
            int lvl = 0;
            const char *nx = nm_str(a, x->num_off), *ny = nm_str(b, y->num_off);
            if (!strcmp(nx, ny)) lvl = country_ok ? 4 : 1;
            else if (!strcmp(nm_str(a, x->ocr_off), nm_str(b, y->ocr_off))) lvl = country_ok ? 3 : 1;
            else if (country_ok && strlen(nx) >= 6 && nm_damerau(nx, strlen(nx), ny, strlen(ny), 1) <= 1) lvl = 2;
            if (lvl > best) { best = lvl; ba = x; bb = y; }
        }
    switch (best) {
    case 4: ev->agreement = NAMES_AGREE_SAME; ev->weight = 9;
        WHY(ev, "same travel document %s %s", ba->country, nm_str(a, ba->num_off)); break;
    case 3: ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 7;
        WHY(ev, "travel document numbers %s / %s equal up to OCR confusions",
                 nm_str(a, ba->num_off), nm_str(b, bb->num_off)); break;
    case 2: ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 3;
        WHY(ev, "travel document numbers %s / %s differ by one character",
                 nm_str(a, ba->num_off), nm_str(b, bb->num_off)); break;
    case 1: ev->agreement = NAMES_AGREE_SIMILAR; ev->weight = 2;
        WHY(ev, "same document number %s issued by %s and %s", nm_str(a, ba->num_off),
                 ba->country, bb->country); break;
    default:
        if (comparable) {
            ev->agreement = NAMES_AGREE_DIFFERENT; ev->weight = -1;
            WHY(ev, "different travel documents of the same type and country");
        } else {
            ev->agreement = NAMES_ABSENT;
            WHY(ev, "travel documents not comparable (other types or countries)");
        }
    }
}

static void extra_weights(const char *kind, bool is_id, double *agree, double *similar, double *differ) {
    if (is_id) { *agree = 7; *similar = 3; *differ = -4; return; }
    if (!strcmp(kind, "state")) { *agree = 0.5; *similar = 0.2; *differ = -1.5; return; }
    if (!strcmp(kind, "postcode")) { *agree = 3; *similar = 1; *differ = -1; return; }
    if (!strcmp(kind, "street")) { *agree = 3.5; *similar = 2; *differ = -1; return; }
    if (!strcmp(kind, "suburb")) { *agree = 2.5; *similar = 1.5; *differ = -1; return; }
    *agree = 1.5; *similar = 0.8; *differ = -0.5;
}

static void compare_extras(const names_ident *a, const names_ident *b, names_evidence *ev, bool why) {
    ev->agreement = NAMES_ABSENT;
    ev->reason[0] = 0;
    double w = 0;
    int n = 0, nsame = 0, ndiff = 0, nid_same = 0, nid_diff = 0;
    for (size_t i = 0; i < a->n_extras; i++) {
        const char *kind = nm_str(a, a->extras[i].kind_off);
        bool seen = false;
        for (size_t k = 0; k < i; k++) if (!strcmp(nm_str(a, a->extras[k].kind_off), kind)) seen = true;
        if (seen) continue;
        int lvl = -1; /* 2 same 1 similar 0 different */
        bool is_id = a->extras[i].is_id;
        for (size_t ii = i; ii < a->n_extras; ii++) {
            if (strcmp(nm_str(a, a->extras[ii].kind_off), kind)) continue;
            const char *va = nm_str(a, a->extras[ii].val_off);
            for (size_t j = 0; j < b->n_extras; j++) {
                if (strcmp(nm_str(b, b->extras[j].kind_off), kind)) continue;
                const char *vb = nm_str(b, b->extras[j].val_off);
                int l;
                size_t la = strlen(va), lb = strlen(vb);
                if (la == lb && !memcmp(va, vb, la)) l = 2;
                else if (is_id) l = nm_damerau(va, la, vb, lb, 1) <= 1 ? 1 : 0;
                else l = nm_jaro_winkler(va, la, vb, lb) >= 0.88 ? 1 : 0;
                if (l > lvl) lvl = l;
            }
        }
        if (lvl < 0) continue;
        double ag, si, di;
        extra_weights(kind, is_id, &ag, &si, &di);
        w += lvl == 2 ? ag : lvl == 1 ? si : di;
        n++;
        nsame += lvl == 2;
        ndiff += lvl == 0;
        if (is_id) { nid_same += lvl == 2; nid_diff += lvl == 0; }
        size_t l = strlen(ev->reason);
        if (why && l + 40 < sizeof ev->reason)
            snprintf(ev->reason + l, sizeof ev->reason - l, "%s%s %s", l ? "; " : "", kind,
                     lvl == 2 ? "same" : lvl == 1 ? "similar" : "different");
    }
    if (!n) { WHY(ev, "no other identifier on both sides"); return; }
    ev->weight = w;
    if (nid_same || (nsame == n)) ev->agreement = NAMES_AGREE_SAME;
    else if (nid_diff || w < 0) ev->agreement = NAMES_AGREE_DIFFERENT;
    else ev->agreement = NAMES_AGREE_SIMILAR;
    if (ndiff && ev->agreement == NAMES_AGREE_SAME) ev->agreement = NAMES_AGREE_SIMILAR;
}

void nm_compare(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out, bool why) {
    nm_compare_q(eng, a, b, out, why, NULL);
}

void nm_compare_q(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out, bool why,
                  const nm_tl_qset *qs) {
    if (why) memset(out, 0, sizeof *out);
    else
        for (int f = 0; f < NAMES_F_COUNT; f++) { out->ev[f].agreement = NAMES_ABSENT; out->ev[f].weight = 0; out->ev[f].reason[0] = 0; }
    compare_names(eng, a, b, &out->ev[NAMES_F_NAME], why, qs);
    compare_dob(a->dob, b->dob, &out->ev[NAMES_F_DOB], why);
    names_evidence *e = &out->ev[NAMES_F_SEX];
    if (!a->sex || !b->sex) WHY(e, "sex unknown on %s", !a->sex && !b->sex ? "both sides" : "one side");
    else if (a->sex == b->sex) { e->agreement = NAMES_AGREE_SAME; e->weight = 0.5; WHY(e, "same sex %c", a->sex); }
    else { e->agreement = NAMES_AGREE_DIFFERENT; e->weight = -4; WHY(e, "sex %c / %c", a->sex, b->sex); }

    e = &out->ev[NAMES_F_NATIONALITY];
    if (!a->n_nat || !b->n_nat) WHY(e, "nationality unknown on one side");
    else {
        const char *shared = NULL;
        for (size_t i = 0; i < a->n_nat && !shared; i++)
            for (size_t j = 0; j < b->n_nat; j++) if (!strcmp(a->nat[i], b->nat[j])) { shared = a->nat[i]; break; }
        if (shared) { e->agreement = NAMES_AGREE_SAME; e->weight = 1.0; WHY(e, "shared nationality %s", shared); }
        else { e->agreement = NAMES_AGREE_DIFFERENT; e->weight = -1.5; WHY(e, "no shared nationality (%s / %s)", a->nat[0], b->nat[0]); }
    }

    e = &out->ev[NAMES_F_PLACE_OF_BIRTH];
    if (a->pob_off < 0 || b->pob_off < 0) WHY(e, "place of birth unknown on one side");
    else {
        const char *pa = nm_str(a, (uint32_t)a->pob_off), *pb = nm_str(b, (uint32_t)b->pob_off);
        double s = !strcmp(pa, pb) ? 1.0 : nm_jaro_winkler(pa, strlen(pa), pb, strlen(pb));
        if (s >= 0.999) { e->agreement = NAMES_AGREE_SAME; e->weight = 2; WHY(e, "same place of birth"); }
        else if (s >= 0.88) { e->agreement = NAMES_AGREE_SIMILAR; e->weight = 1; WHY(e, "similar places of birth (%.2f)", s); }
        else { e->agreement = NAMES_AGREE_DIFFERENT; e->weight = -1; WHY(e, "different places of birth"); }
    }
    compare_docs(a, b, &out->ev[NAMES_F_DOCUMENTS], why);
    compare_extras(a, b, &out->ev[NAMES_F_OTHER], why);

    double bits = PRIOR_BITS;
    for (int f = 0; f < NAMES_F_COUNT; f++) bits += out->ev[f].weight;
    out->score = 1.0 / (1.0 + exp(-bits * M_LN2));
    if (!(out->score >= 0)) out->score = 0; /* NaN guard */

    names_agreement nm = out->ev[NAMES_F_NAME].agreement, dob = out->ev[NAMES_F_DOB].agreement;
    bool any_diff = false;
    for (int f = 1; f < NAMES_F_COUNT; f++)
        if (out->ev[f].agreement == NAMES_AGREE_DIFFERENT && f != NAMES_F_OTHER && f != NAMES_F_DOCUMENTS) any_diff = true;
    bool dob_same = dob == NAMES_AGREE_SAME || (!a->dob.year && !b->dob.year);
    if (nm == NAMES_AGREE_SAME && dob_same && !any_diff && out->ev[NAMES_F_DOCUMENTS].agreement != NAMES_AGREE_DIFFERENT)
        out->verdict = NAMES_SAME;
    else if (out->score >= NAMES_SIMILAR_SCORE ||
             ((nm == NAMES_AGREE_SAME || nm == NAMES_AGREE_SIMILAR) && !any_diff))
        out->verdict = NAMES_SIMILAR;
    else
        out->verdict = NAMES_DIFFERENT;
}

void names_compare(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out) {
    nm_compare(eng, a, b, out, true);
}

void names_compare_quick(const names_engine *eng, const names_ident *a, const names_ident *b, names_result *out) {
    nm_compare(eng, a, b, out, false);
}

const char *names_verdict_name(names_verdict v) {
    return v == NAMES_SAME ? "same" : v == NAMES_SIMILAR ? "similar" : "different";
}

const char *names_field_name(names_field f) {
    static const char *n[] = {"name", "date_of_birth", "sex", "nationality", "place_of_birth", "documents", "other_identifiers"};
    return (unsigned)f < NAMES_F_COUNT ? n[f] : "?";
}

const char *names_agreement_name(names_agreement a) {
    static const char *n[] = {"absent", "same", "similar", "different"};
    return (unsigned)a <= NAMES_AGREE_DIFFERENT ? n[a] : "?";
}

int names_result_json(const names_result *r, iop_buf *out) {
    /* written piece by piece: this runs for every hit the portal returns */
    int rc = iop_buf_puts(out, "{\"verdict\":\"") | iop_buf_puts(out, names_verdict_name(r->verdict)) |
             iop_buf_puts(out, "\",\"score\":") | iop_buf_fixed(out, r->score, 4) | iop_buf_puts(out, ",\"evidence\":{");
    for (int f = 0; f < NAMES_F_COUNT; f++) {
        rc |= iop_buf_puts(out, f ? ",\"" : "\"") | iop_buf_puts(out, names_field_name((names_field)f)) |
              iop_buf_puts(out, "\":{\"agreement\":\"") | iop_buf_puts(out, names_agreement_name(r->ev[f].agreement)) |
              iop_buf_puts(out, "\",\"weight\":") | iop_buf_fixed(out, r->ev[f].weight, 2) |
              iop_buf_puts(out, ",\"reason\":") | iop_buf_json_str(out, r->ev[f].reason) | iop_buf_puts(out, "}");
    }
    rc |= iop_buf_puts(out, "}}");
    return rc ? -1 : 0;
}
