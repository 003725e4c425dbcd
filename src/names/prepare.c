/*
 * prepare.c -- the engine context and prepared identities: every name is normalised
 * (NFKC, case folding), split into tokens (spaces, hyphens, commas), transliterated
 * by ICAO Doc 9303, BGN/PCGN and ICU at once (identical outputs are merged), and each
 * token gets its role, NYSIIS code, consonant skeleton and nickname roots, so that
 * names_compare() only compares precomputed keys.
 */
#include <string.h>
#include <utf8proc.h>
#include <unicode/ustring.h>
#include "names/names_int.h"

iop_code names_engine_new(const char *nicknames_csv, names_engine **out, iop_err *err) {
    names_engine *e = calloc(1, sizeof *e);
    if (!e) return iop_fail(err, IOP_ENOMEM, "out of memory");
    iop_code rc = nm_nick_load(&e->nick, nicknames_csv, err);
    if (rc) { free(e); return rc; }
    UChar id[64];
    u_uastrcpy(id, "Any-Latin; Latin-ASCII");
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    e->icu = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, &pe, &st);
    if (U_FAILURE(st) || !e->icu) {
        nm_nick_free(&e->nick);
        free(e);
        return iop_fail(err, IOP_EINTERNAL, "ICU transliterator Any-Latin; Latin-ASCII: %s", u_errorName(st));
    }
    pthread_mutex_init(&e->icu_lock, NULL);
    *out = e;
    return IOP_OK;
}

void names_engine_set_model(names_engine *eng, names_tlm *m) {
    if (eng->tlm != m) names_tlm_free(eng->tlm);
    eng->tlm = m;
}

const names_tlm *names_engine_model(const names_engine *eng) { return eng->tlm; }

void names_engine_free(names_engine *eng) {
    if (!eng) return;
    names_tlm_free(eng->tlm);
    if (eng->ja_owned) names_ja_free((names_ja *)eng->ja);
    nm_nick_free(&eng->nick);
    utrans_close(eng->icu);
    pthread_mutex_destroy(&eng->icu_lock);
    free(eng);
}

size_t names_engine_nickname_count(const names_engine *eng) { return eng->nick.count; }

void names_ident_free(names_ident *id) {
    if (!id) return;
    free(id->pool);
    free(id->toks);
    free(id->vars);
    free(id->docs);
    free(id->extras);
    free(id->lkeys);
    free(id);
}

/* ---- building ---- */

typedef struct builder {
    const names_engine *eng;
    iop_buf pool;
    nm_tok *toks;
    size_t n_toks, cap_toks;
    nm_variant *vars;
    size_t n_vars, cap_vars;
    iop_err *err;
    bool oom;
    uint64_t lkeys[NM_MAX_LKEYS];
    size_t n_lkeys;
} builder;

static uint32_t pool_add(builder *b, const char *s, size_t n) {
    uint32_t off = (uint32_t)b->pool.len;
    if (iop_buf_append(&b->pool, s, n) || iop_buf_append(&b->pool, "", 1)) b->oom = true;
    return off;
}

/* one piece of a name in the three schemes and up to two Japanese readings */
#define NM_SLOTS 5
typedef struct piece {
    char *t[NM_SLOTS]; /* ICAO, BGN, ICU, Japanese readings: lower-case ASCII (may be empty; a
                        * Japanese reading may hold a space between surname and given name) */
    unsigned flags;
    uint8_t role;
    uint32_t nat_off; /* the native piece in the pool (non-Latin pieces), 0 none */
    uint8_t nat_len;
} piece;

typedef struct pieces {
    piece *v;
    size_t n, cap;
} pieces;

static void pieces_free(pieces *p) {
    for (size_t i = 0; i < p->n; i++)
        for (int s = 0; s < NM_SLOTS; s++) free(p->v[i].t[s]);
    free(p->v);
    memset(p, 0, sizeof *p);
}

static bool is_sep(int32_t c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-' || c == ',' || c == '/' || c == '_' ||
        c == '.' || c == ';' || c == '(' || c == ')' || c == '"')
        return true;
    if (c < 0x80) return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_PD || c == 0x30FB /* katakana middle dot */ ||
           c == 0xB7;
}

static bool all_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

static char *ascii_lower(const char *s, size_t n) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) o[k++] = c;
    }
    o[k] = 0;
    return o;
}

/* Hebrew letters with a geresh write foreign sounds: ג' = j, ז' = zh, צ' = ch.  ICU drops
 * the geresh, so the pair is rewritten in place to a letter ICU reads with that sound
 * (Arabic jim, Cyrillic zhe, Cyrillic che); the piece never grows. */
static void hebrew_geresh(char *s, size_t *len) {
    size_t n = *len, o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c0 = (unsigned char)s[i], c1 = i + 1 < n ? (unsigned char)s[i + 1] : 0;
        size_t g = 0; /* bytes of a following geresh */
        if (i + 2 < n && s[i + 2] == '\'') g = 1;
        else if (i + 3 < n && (unsigned char)s[i + 2] == 0xD7 && (unsigned char)s[i + 3] == 0xB3) g = 2;
        if (c0 == 0xD7 && g && (c1 == 0x92 || c1 == 0x96 || c1 == 0xA6 || c1 == 0xA5)) {
            const char *r = c1 == 0x92 ? "\xD8\xAC" : c1 == 0x96 ? "\xD0\xB6" : "\xD1\x87";
            s[o++] = r[0];
            s[o++] = r[1];
            i += 2 + g;
            continue;
        }
        s[o++] = s[i++];
    }
    *len = o;
}

static void lkey_add(builder *b, uint64_t k) {
    for (size_t i = 0; i < b->n_lkeys; i++) if (b->lkeys[i] == k) return;
    if (b->n_lkeys < NM_MAX_LKEYS) b->lkeys[b->n_lkeys++] = k;
}

/* Blocking keys of a native piece from the learned model's most likely romanisations:
 * their consonant skeletons and coarse sound classes (the Latin query's own keys). */
static void learned_keys(builder *b, const uint32_t *cp, size_t n) {
    const names_tlm *m = b->eng->tlm;
    if (!m) return;
    char r[8][NM_MAX_TOK + 1];
    size_t nr = nm_tl_romanise(m, cp, n, 8, r, NULL);
    size_t sk_added = 0, co_added = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t rl = strlen(r[i]);
        char sk[NM_MAX_TOK + 1], co[2 * NM_MAX_TOK + 1];
        size_t skl = nm_skeleton(r[i], rl, sk);
        if (skl && sk_added < 4) { size_t before = b->n_lkeys; lkey_add(b, (uint64_t)NM_LK_SKEL << 32 | nm_hash32(sk, skl)); sk_added += b->n_lkeys > before; }
        size_t col = nm_coarse(r[i], rl, 0, co);
        if (col && co_added < 4) { size_t before = b->n_lkeys; lkey_add(b, (uint64_t)NM_LK_COARSE << 32 | nm_hash32(co, col)); co_added += b->n_lkeys > before; }
        if (col && i < 2) {
            uint32_t dh[NM_MAX_TOK + 1];
            size_t nd = nm_coarse_dels(co, col, dh);
            for (size_t d = 0; d < nd; d++) lkey_add(b, (uint64_t)NM_LK_CDEL << 32 | dh[d]);
        }
    }
}

/* The English reading of the Slavic Latin letters č ć š ž đ (Čović = Chovich, Šešelj =
 * Sheshelj): Gaj's Latin letters read as their Serbian Cyrillic counterparts (ч ћ ш ж ђ)
 * and those romanised by BGN/PCGN (ch, ch, sh, zh, dj).  False when the piece holds none
 * of them (its other readings then suffice). */
static bool slavic_reading(const char *s, size_t len, iop_buf *out) {
    iop_buf t;
    iop_buf_init(&t);
    bool any = false;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) break;
        const char *r = c == 0x10D || c == 0x107 ? "ch" : c == 0x161 ? "sh" : c == 0x17E ? "zh" : c == 0x111 ? "dj" : NULL;
        if (r) { iop_buf_append(&t, r, strlen(r)); any = true; }
        else iop_buf_append(&t, s + i, (size_t)n);
        i += (size_t)n;
    }
    if (any) nm_translit_table(NM_SCH_BGN, t.data, t.len, out);
    iop_buf_free(&t);
    return any;
}

/* Splits one name (already validated) into pieces with their three transliterations. */
static iop_code split_name(builder *b, const char *name, uint8_t role, pieces *out) {
    size_t len = strlen(name);
    char *folded = NULL;
    const char *s = name;
    bool ascii = all_ascii(name, len);
    if (!ascii) {
        folded = nm_fold(name, len);
        if (!folded) return iop_fail(b->err, IOP_EINVAL, "name is not valid UTF-8");
        s = folded;
        len = strlen(folded);
    }
    size_t i = 0;
    iop_code rc = IOP_OK;
    while (i < len && !rc) {
        /* skip separators */
        int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) { rc = iop_fail(b->err, IOP_EINVAL, "name is not valid UTF-8"); break; }
        if (is_sep(c)) { i += (size_t)n; continue; }
        size_t st = i;
        while (i < len) {
            n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
            if (n <= 0 || is_sep(c)) break;
            i += (size_t)n;
        }
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 8;
            piece *v = realloc(out->v, nc * sizeof *v);
            if (!v) { rc = iop_fail(b->err, IOP_ENOMEM, "out of memory"); break; }
            out->v = v;
            out->cap = nc;
        }
        piece *p = &out->v[out->n];
        memset(p, 0, sizeof *p);
        p->role = role;
        const char *ps = s + st;
        size_t pl = i - st;
        if (all_ascii(ps, pl)) {
            for (int k = 0; k < 3; k++) p->t[k] = ascii_lower(ps, pl);
        } else {
            p->flags = nm_script_flags(ps, pl);
            if (p->flags & NM_TF_ABJAD) { /* Arabic ta marbuta reads as a final -a/-ah, not -t */
                for (size_t q = 0; q + 1 < pl; q++)
                    if ((unsigned char)ps[q] == 0xD8 && (unsigned char)ps[q + 1] == 0xA9) {
                        ((char *)ps)[q] = (char)0xD9;
                        ((char *)ps)[q + 1] = (char)0x87;
                    }
                hebrew_geresh((char *)ps, &pl);
            }
            if ((p->flags & NM_TF_NONLATIN) && b->eng->tlm) {
                /* the learned model's units of the piece, kept for comparison */
                uint32_t u[32];
                size_t nu = nm_tl_units(b->eng, b->eng->tlm, ps, pl, u, 32);
                if (nu) {
                    p->nat_off = pool_add(b, (const char *)u, nu * sizeof *u);
                    p->nat_len = (uint8_t)nu;
                    learned_keys(b, u, nu);
                    size_t art = nm_tl_article(u, nu); /* also romanised without the Arabic article */
                    if (art) learned_keys(b, u + art, nu - art);
                }
            }
            iop_buf icu;
            iop_buf_init(&icu);
            /* a Latin piece with Slavic letters: their English reading in the third
             * slot (ICU's Latin-ASCII would only repeat BGN's plain letters there) */
            if ((p->flags & NM_TF_NONLATIN) || !slavic_reading(ps, pl, &icu)) nm_translit_icu(b->eng, ps, pl, &icu);
            p->t[2] = iop_buf_steal(&icu);
            static const int sch[2] = {NM_SCH_ICAO, NM_SCH_BGN};
            for (int k = 0; k < 2; k++) {
                iop_buf t;
                iop_buf_init(&t);
                if (nm_translit_table(sch[k], ps, pl, &t)) p->t[k] = iop_buf_steal(&t);
                else { iop_buf_free(&t); p->t[k] = iop_strdup(p->t[2] ? p->t[2] : ""); }
            }
        }
        if ((p->flags & NM_TF_NONLATIN) && b->eng->ja) { /* kanji read in Japanese */
            char rd[2][NM_JA_READ];
            size_t nr = nm_ja_readings(b->eng->ja, ps, pl, rd);
            for (size_t k = 0; k < nr; k++)
                if (!(p->t[3 + k] = iop_strdup(rd[k]))) { out->n++; rc = iop_fail(b->err, IOP_ENOMEM, "out of memory"); break; }
            if (rc) break;
        }
        bool oom = false;
        for (int k = 0; k < 3; k++) { /* the Japanese slots stay NULL when there is no reading */
            if (!p->t[k]) p->t[k] = iop_strdup("");
            oom |= !p->t[k];
        }
        if (oom) {
            out->n++;
            rc = iop_fail(b->err, IOP_ENOMEM, "out of memory");
            break;
        }
        out->n++;
    }
    free(folded);
    return rc;
}

static nm_tok *new_tok(builder *b) {
    if (b->n_toks == b->cap_toks) {
        size_t nc = b->cap_toks ? b->cap_toks * 2 : 16;
        nm_tok *t = realloc(b->toks, nc * sizeof *t);
        if (!t) { b->oom = true; return NULL; }
        b->toks = t;
        b->cap_toks = nc;
    }
    nm_tok *t = &b->toks[b->n_toks++];
    memset(t, 0, sizeof *t);
    return t;
}

static bool same_tokens(builder *b, const nm_variant *v, const pieces *ps, int sch) {
    size_t k = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const char *t = ps->v[i].t[sch] ? ps->v[i].t[sch] : "";
        if (!*t) continue;
        if (k >= v->n) return false;
        const nm_tok *tk = &b->toks[v->first + k];
        size_t tl = strlen(t);
        if (tl >= NM_MAX_TOK) tl = NM_MAX_TOK - 1;
        if (tk->role != ps->v[i].role || tl != tk->len) return false;
        if (strncmp(b->pool.data + tk->off, t, tk->len)) return false;
        k++;
    }
    return k == v->n;
}

static void add_variants(builder *b, const pieces *ps, uint8_t kind) {
    static const uint8_t bits[NM_SLOTS] = {NM_SCH_ICAO, NM_SCH_BGN, NM_SCH_ICU, NM_SCH_JA, NM_SCH_JA};
    size_t first_of_kind = b->n_vars;
    for (int sch = 0; sch < NM_SLOTS; sch++) {
        bool any = sch < 3;
        for (size_t i = 0; i < ps->n && !any; i++) any = ps->v[i].t[sch] != NULL;
        if (!any) continue; /* no Japanese reading */
        bool dup = false;
        for (size_t v = first_of_kind; v < b->n_vars; v++)
            if (same_tokens(b, &b->vars[v], ps, sch)) { b->vars[v].schemes |= bits[sch]; dup = true; break; }
        if (dup) continue;
        if (b->n_vars == b->cap_vars) {
            size_t nc = b->cap_vars ? b->cap_vars * 2 : 4;
            nm_variant *nv = realloc(b->vars, nc * sizeof *nv);
            if (!nv) { b->oom = true; return; }
            b->vars = nv;
            b->cap_vars = nc;
        }
        nm_variant *v = &b->vars[b->n_vars];
        v->first = (uint16_t)b->n_toks;
        v->n = 0;
        v->kind = kind;
        v->schemes = bits[sch];
        /* count the non-particle tokens per role to decide what a particle is */
        size_t content[3] = {0, 0, 0};
        for (size_t i = 0; i < ps->n; i++) {
            const char *t = ps->v[i].t[sch] ? ps->v[i].t[sch] : "";
            if (*t && !nm_is_particle(t, strlen(t))) content[ps->v[i].role]++;
        }
        for (size_t i = 0, part = 0; i < ps->n; i += part ? 0 : 1) {
            /* a Japanese reading "surname given" gives two tokens */
            const char *base = ps->v[i].t[sch] ? ps->v[i].t[sch] : "", *t = base + part;
            const char *sp = sch >= 3 ? strchr(t, ' ') : NULL;
            size_t tl = sp ? (size_t)(sp - t) : strlen(t);
            part = sp ? (size_t)(sp - base) + 1 : 0;
            if (!tl) continue;
            if (tl >= NM_MAX_TOK) tl = NM_MAX_TOK - 1;
            nm_tok *tk = new_tok(b);
            if (!tk) return;
            tk->role = ps->v[i].role;
            tk->off = pool_add(b, t, tl);
            tk->len = (uint8_t)tl;
            char sk[NM_MAX_TOK + 1], ny[16];
            size_t skl = nm_skeleton(t, tl, sk);
            tk->skel_off = pool_add(b, sk, skl);
            tk->skel_len = (uint8_t)skl;
            tk->skelh = skl ? nm_hash32(sk, skl) : 0;
            for (int m = 0; m < 2; m++) {
                char co[2 * NM_MAX_TOK + 1];
                size_t col = nm_coarse(t, tl, m == 1 && (ps->v[i].flags & NM_TF_ABJAD) ? 2 : m, co);
                tk->coarse[m] = col ? nm_hash32(co, col) : 0;
            }
            size_t nyl = nm_nysiis(t, tl, ny);
            tk->phon = nyl ? nm_hash32(ny, nyl) : 0;
            tk->flags = (uint8_t)(ps->v[i].flags & (NM_TF_ABJAD | NM_TF_NONLATIN));
            if (sch < 3) { /* a Japanese reading is compared as spelled, not by the learned model */
                tk->nat_off = ps->v[i].nat_off;
                tk->nat_len = ps->v[i].nat_len;
            }
            if (tl == 1 && t[0] >= 'a' && t[0] <= 'z') tk->flags |= NM_TF_INITIAL;
            if (content[tk->role] > 0 && nm_is_particle(t, tl)) tk->flags |= NM_TF_PARTICLE;
            tk->nick = tk->role != NM_ROLE_SURNAME ? nm_nick_lookup(&b->eng->nick, t, tl) : -1;
            v->n++;
        }
        if (v->n == 0) continue; /* nothing left of this name in this scheme */
        b->n_vars++;
    }
}

static iop_code check_name(iop_err *err, const char *field, size_t idx, const char *s) {
    size_t len = strlen(s);
    if (len > NM_MAX_NAME_BYTES)
        return iop_fail(err, IOP_EINVAL, "%s[%zu]: name longer than %d bytes", field, idx, NM_MAX_NAME_BYTES);
    long bad = nm_utf8_invalid_at(s, len);
    if (bad >= 0) return iop_fail(err, IOP_EINVAL, "%s[%zu]: invalid UTF-8 at byte %ld", field, idx, bad);
    return IOP_OK;
}

static iop_code add_names(builder *b, pieces *ps, const char *field, const char *const *names, size_t n,
                          uint8_t role) {
    for (size_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        iop_code rc = check_name(b->err, field, i, names[i]);
        if (!rc) rc = split_name(b, names[i], role, ps);
        if (rc) {
            if (rc == IOP_EINVAL) iop_err_prefix(b->err, "%s[%zu]", field, i);
            return rc;
        }
    }
    return IOP_OK;
}

static uint8_t doc_type(const char *t) {
    if (!t) return 0;
    if (!strcmp(t, "passport")) return 1;
    if (!strcmp(t, "id_card")) return 2;
    if (!strcmp(t, "residence_permit")) return 3;
    if (!strcmp(t, "visa")) return 4;
    return 5;
}

static char ocr_fold(char c) {
    switch (c) {
    case 'O': case 'Q': case 'D': return '0';
    case 'I': case 'L': case 'J': return '1';
    case 'Z': return '2';
    case 'S': return '5';
    case 'G': return '6';
    case 'B': return '8';
    default: return c;
    }
}

/* folds text to lower-case ASCII letters and digits (for places and extra fields) */
static char *fold_text(const names_engine *eng, const char *s) {
    size_t len = strlen(s);
    iop_buf o;
    iop_buf_init(&o);
    if (all_ascii(s, len)) {
        char *r = ascii_lower(s, len);
        return r;
    }
    char *f = nm_fold(s, len);
    if (!f) return NULL;
    if (!nm_translit_table(NM_SCH_BGN, f, strlen(f), &o)) {
        iop_buf_reset(&o);
        nm_translit_icu(eng, f, strlen(f), &o);
    }
    free(f);
    if (!o.data) return iop_strdup("");
    return iop_buf_steal(&o);
}

iop_code names_prepare_fields(const names_engine *eng, const names_fields *f, names_ident **out, iop_err *err) {
    iop_err local;
    if (!err) err = &local;
    size_t total = f->n_surnames + f->n_given_names + f->n_aliases + (f->surname_at_birth ? 1 : 0);
    if (total > NM_MAX_NAMES) return iop_fail(err, IOP_EINVAL, "more than %d names", NM_MAX_NAMES);
    if (f->dob.year) {
        if (!iop_date_valid(f->dob)) return iop_fail(err, IOP_EINVAL, "date_of_birth: not a valid date");
        iop_date t = iop_date_today();
        int a = f->dob.year * 10000 + f->dob.month * 100 + f->dob.day;
        int bt = t.year * 10000 + t.month * 100 + t.day;
        if (a > bt) return iop_fail(err, IOP_EINVAL, "date_of_birth: in the future");
    }
    char sex = 0;
    if (f->sex == 'M' || f->sex == 'm') sex = 'M';
    else if (f->sex == 'F' || f->sex == 'f') sex = 'F';
    else if (f->sex && f->sex != 'X' && f->sex != 'U' && f->sex != 'x' && f->sex != 'u')
        return iop_fail(err, IOP_EINVAL, "sex: expected M, F, X or U");

    builder b;
    memset(&b, 0, sizeof b);
    b.eng = eng;
    b.err = err;
    iop_buf_init(&b.pool);
    pool_add(&b, "", 0);
    iop_code rc = IOP_OK;
    pieces ps = {0};
    names_ident *id = calloc(1, sizeof *id);
    if (!id) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }

    /* primary: given names + surnames */
    if ((rc = add_names(&b, &ps, "given_names", f->given_names, f->n_given_names, NM_ROLE_GIVEN))) goto fail;
    if ((rc = add_names(&b, &ps, "surnames", f->surnames, f->n_surnames, NM_ROLE_SURNAME))) goto fail;
    add_variants(&b, &ps, NM_VK_PRIMARY);
    /* surname at birth, with the given names */
    if (f->surname_at_birth) {
        size_t keep = 0;
        for (size_t i = 0; i < ps.n; i++) {
            if (ps.v[i].role == NM_ROLE_GIVEN) ps.v[keep++] = ps.v[i];
            else for (int s = 0; s < NM_SLOTS; s++) free(ps.v[i].t[s]);
        }
        ps.n = keep;
        const char *sb = f->surname_at_birth;
        if ((rc = add_names(&b, &ps, "surname_at_birth", &sb, 1, NM_ROLE_SURNAME))) goto fail;
        add_variants(&b, &ps, NM_VK_BIRTH);
    }
    for (size_t i = 0; i < f->n_aliases; i++) {
        pieces_free(&ps);
        if (!f->aliases[i]) continue;
        if ((rc = check_name(err, "aliases", i, f->aliases[i]))) goto fail;
        if ((rc = split_name(&b, f->aliases[i], NM_ROLE_ANY, &ps))) goto fail;
        add_variants(&b, &ps, NM_VK_ALIAS);
    }
    pieces_free(&ps);

    id->dob = f->dob;
    id->sex = sex;
    for (size_t i = 0; i < f->n_nationalities && id->n_nat < 8; i++) {
        const char *n = f->nationalities[i];
        if (!n || !*n) continue;
        char c[4] = {0};
        for (int k = 0; k < 3 && n[k]; k++) c[k] = (char)(n[k] >= 'a' && n[k] <= 'z' ? n[k] - 32 : n[k]);
        memcpy(id->nat[id->n_nat++], c, 4);
    }
    id->pob_off = -1;
    if (f->place_of_birth && *f->place_of_birth) {
        if ((rc = check_name(err, "place_of_birth", 0, f->place_of_birth))) goto fail;
        char *p = fold_text(eng, f->place_of_birth);
        if (!p) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
        if (*p) id->pob_off = (int32_t)pool_add(&b, p, strlen(p));
        free(p);
    }
    if (f->n_documents) {
        id->docs = calloc(f->n_documents, sizeof *id->docs);
        if (!id->docs) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
    }
    for (size_t i = 0; i < f->n_documents; i++) {
        const rec_document *d = &f->documents[i];
        if (!d->number) continue;
        char num[64], ocr[64];
        size_t k = 0;
        for (const char *s = d->number; *s && k < sizeof num - 1; s++) {
            char c = *s;
            if (c >= 'a' && c <= 'z') c = (char)(c - 32);
            if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) num[k++] = c;
        }
        num[k] = 0;
        if (!k) continue;
        for (size_t j = 0; j <= k; j++) ocr[j] = ocr_fold(num[j]);
        nm_doc *nd = &id->docs[id->n_docs++];
        nd->num_off = pool_add(&b, num, k);
        nd->ocr_off = pool_add(&b, ocr, k);
        nd->type = doc_type(d->type);
        if (d->country)
            for (int j = 0; j < 3 && d->country[j]; j++)
                nd->country[j] = (char)(d->country[j] >= 'a' && d->country[j] <= 'z' ? d->country[j] - 32 : d->country[j]);
    }
    if (f->n_extras) {
        id->extras = calloc(f->n_extras, sizeof *id->extras);
        if (!id->extras) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
    }
    for (size_t i = 0; i < f->n_extras; i++) {
        const names_extra *x = &f->extras[i];
        if (!x->kind || !x->value) continue;
        if ((rc = check_name(err, "extras", i, x->value))) goto fail;
        char *v = fold_text(eng, x->value);
        if (!v) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
        if (!*v) { free(v); continue; }
        nm_extra *e = &id->extras[id->n_extras++];
        e->kind_off = pool_add(&b, x->kind, strlen(x->kind));
        e->val_off = pool_add(&b, v, strlen(v));
        e->is_id = !strcmp(x->kind, "ssn") || !strcmp(x->kind, "national_id") || !strcmp(x->kind, "phone") ||
                   !strcmp(x->kind, "email");
        free(v);
    }
    /* display form: "surname, given" of the first variant */
    {
        iop_buf d;
        iop_buf_init(&d);
        if (b.n_vars) {
            const nm_variant *v = &b.vars[0];
            for (int pass = 1; pass >= 0; pass--) {
                for (size_t k = 0; k < v->n; k++) {
                    const nm_tok *t = &b.toks[v->first + k];
                    if ((pass == 1) != (t->role == NM_ROLE_SURNAME)) continue;
                    if (d.len && d.data[d.len - 1] != ' ') iop_buf_puts(&d, " ");
                    iop_buf_append(&d, b.pool.data + t->off, t->len);
                }
                if (pass == 1 && d.len) iop_buf_puts(&d, ",");
            }
        }
        id->display_off = pool_add(&b, d.data ? d.data : "", d.len);
        iop_buf_free(&d);
    }
    if (b.n_lkeys) {
        id->lkeys = malloc(b.n_lkeys * sizeof *id->lkeys);
        if (!id->lkeys) b.oom = true;
        else { memcpy(id->lkeys, b.lkeys, b.n_lkeys * sizeof *id->lkeys); id->n_lkeys = b.n_lkeys; }
    }
    if (b.oom) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); goto fail; }
    id->pool = b.pool.data;
    id->pool_len = b.pool.len;
    id->toks = b.toks;
    id->n_toks = b.n_toks;
    id->vars = b.vars;
    id->n_vars = b.n_vars;
    *out = id;
    return IOP_OK;
fail:
    pieces_free(&ps);
    iop_buf_free(&b.pool);
    free(b.toks);
    free(b.vars);
    names_ident_free(id);
    return rc;
}

iop_code names_prepare(const names_engine *eng, const rec_person *p, names_ident **out, iop_err *err) {
    names_fields f;
    memset(&f, 0, sizeof f);
    f.surnames = (const char *const *)p->surnames;
    f.n_surnames = p->n_surnames;
    f.given_names = (const char *const *)p->given_names;
    f.n_given_names = p->n_given_names;
    f.surname_at_birth = p->surname_at_birth;
    f.aliases = (const char *const *)p->aliases;
    f.n_aliases = p->n_aliases;
    f.dob = p->dob;
    f.sex = p->sex;
    f.nationalities = (const char *const *)p->nationalities;
    f.n_nationalities = p->n_nationalities;
    f.place_of_birth = p->place_of_birth;
    f.documents = p->documents;
    f.n_documents = p->n_documents;
    return names_prepare_fields(eng, &f, out, err);
}

int names_ident_json(const names_engine *eng, const names_ident *id, iop_buf *out) {
    (void)eng;
    static const char *kinds[] = {"primary", "birth", "alias"};
    static const char *roles[] = {"given", "surname", "any"};
    int r = iop_buf_puts(out, "{\"display\":");
    r |= iop_buf_json_str(out, nm_str(id, id->display_off));
    r |= iop_buf_puts(out, ",\"variants\":[");
    for (size_t v = 0; v < id->n_vars; v++) {
        const nm_variant *vr = &id->vars[v];
        r |= iop_buf_printf(out, "%s{\"kind\":\"%s\",\"schemes\":[", v ? "," : "", kinds[vr->kind]);
        int c = 0;
        if (vr->schemes & NM_SCH_ICAO) r |= iop_buf_printf(out, "%s\"icao\"", c++ ? "," : "");
        if (vr->schemes & NM_SCH_BGN) r |= iop_buf_printf(out, "%s\"bgn\"", c++ ? "," : "");
        if (vr->schemes & NM_SCH_ICU) r |= iop_buf_printf(out, "%s\"icu\"", c++ ? "," : "");
        if (vr->schemes & NM_SCH_JA) r |= iop_buf_printf(out, "%s\"japanese-reading\"", c++ ? "," : "");
        r |= iop_buf_puts(out, "],\"tokens\":[");
        for (size_t k = 0; k < vr->n; k++) {
            const nm_tok *t = &id->toks[vr->first + k];
            char ny[16];
            nm_nysiis(nm_str(id, t->off), t->len, ny);
            r |= iop_buf_printf(out, "%s{\"text\":", k ? "," : "");
            r |= iop_buf_json_str(out, nm_str(id, t->off));
            r |= iop_buf_printf(out, ",\"role\":\"%s\",\"nysiis\":\"%s\",\"skeleton\":\"%s\"%s%s%s}", roles[t->role],
                                ny, nm_str(id, t->skel_off), t->flags & NM_TF_PARTICLE ? ",\"particle\":true" : "",
                                t->flags & NM_TF_INITIAL ? ",\"initial\":true" : "",
                                t->nick >= 0 ? ",\"nickname_table\":true" : "");
        }
        r |= iop_buf_puts(out, "]}");
    }
    r |= iop_buf_puts(out, "]");
    if (id->dob.year) {
        char d[16];
        iop_date_format(id->dob, d);
        r |= iop_buf_printf(out, ",\"date_of_birth\":\"%s\"", d);
    }
    if (id->sex) r |= iop_buf_printf(out, ",\"sex\":\"%c\"", id->sex);
    if (id->n_nat) {
        r |= iop_buf_puts(out, ",\"nationalities\":[");
        for (size_t i = 0; i < id->n_nat; i++) r |= iop_buf_printf(out, "%s\"%s\"", i ? "," : "", id->nat[i]);
        r |= iop_buf_puts(out, "]");
    }
    if (id->pob_off >= 0) {
        r |= iop_buf_puts(out, ",\"place_of_birth\":");
        r |= iop_buf_json_str(out, nm_str(id, (uint32_t)id->pob_off));
    }
    if (id->n_docs) {
        r |= iop_buf_puts(out, ",\"documents\":[");
        for (size_t i = 0; i < id->n_docs; i++) {
            r |= iop_buf_printf(out, "%s{\"number\":", i ? "," : "");
            r |= iop_buf_json_str(out, nm_str(id, id->docs[i].num_off));
            r |= iop_buf_puts(out, ",\"ocr_folded\":");
            r |= iop_buf_json_str(out, nm_str(id, id->docs[i].ocr_off));
            r |= iop_buf_printf(out, ",\"country\":\"%s\"}", id->docs[i].country);
        }
        r |= iop_buf_puts(out, "]");
    }
    r |= iop_buf_puts(out, "}");
    return r ? -1 : 0;
}
