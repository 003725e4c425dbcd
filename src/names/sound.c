/*
 * sound.c -- sound keys (names.h: names_ident_sound_keys, names_name_sound_keys): the
 * coarse sound-class readings of name tokens (text.c: nm_coarse, as prepare.c computes
 * them for every token), as blocking keys for indexes outside the names engine (the
 * search portal's per-system indexes).
 */
#include <string.h>
#include "names_int.h"

static size_t add_key(uint32_t *out, size_t n, size_t max, uint32_t h) {
    if (!h) return n;
    for (size_t k = 0; k < n; k++)
        if (out[k] == h) return n;
    if (n < max) out[n++] = h;
    return n;
}

size_t names_ident_sound_keys(const names_ident *id, uint32_t *out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < id->n_toks; i++) {
        const nm_tok *t = &id->toks[i];
        if (t->flags & (NM_TF_PARTICLE | NM_TF_INITIAL) || t->len < 3) continue;
        for (int m = 0; m < 2; m++) n = add_key(out, n, max, t->coarse[m]);
    }
    return n;
}

/* prepare.c's separators, for ASCII */
static bool ascii_sep(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-' || c == ',' || c == '/' || c == '_' ||
           c == '.' || c == ';' || c == '(' || c == ')' || c == '"';
}

size_t names_name_sound_keys(const names_engine *eng, const char *name, uint32_t *out, size_t n, size_t max) {
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)name; *p && ascii; p++) ascii = *p < 0x80;
    if (!ascii) {
        names_fields f = {.surnames = &name, .n_surnames = 1};
        names_ident *id = NULL;
        if (names_prepare_fields(eng, &f, &id, NULL) != IOP_OK) return n;
        uint32_t tmp[64];
        size_t k = names_ident_sound_keys(id, tmp, 64);
        for (size_t i = 0; i < k; i++) n = add_key(out, n, max, tmp[i]);
        names_ident_free(id);
        return n;
    }
    /* as prepare.c reads an ASCII piece: split at the separators, lower case, letters
     * and digits only; particles and tokens under three letters carry no key */
    const char *p = name;
    while (*p) {
        while (*p && ascii_sep(*p)) p++;
        char t[NM_MAX_TOK];
        size_t tl = 0;
        for (; *p && !ascii_sep(*p); p++) {
            char c = *p;
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) && tl < NM_MAX_TOK - 1) t[tl++] = c;
        }
        t[tl] = 0;
        if (tl < 3 || nm_is_particle(t, tl)) continue;
        for (int m = 0; m < 2; m++) {
            char co[2 * NM_MAX_TOK + 1];
            size_t col = nm_coarse(t, tl, m, co);
            if (col) n = add_key(out, n, max, nm_hash32(co, col));
        }
    }
    return n;
}
