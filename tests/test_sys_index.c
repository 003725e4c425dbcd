/* test-links: systems */
/*
 * The search index of a connected system (systems.h: sys_index): which keys find a
 * record, the order of candidates, and that the index follows every committed write,
 * replacement and deletion -- also those made through another handle after it was built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/store.h"
#include "interop/systems.h"
#include "test.h"

typedef struct got {
    char ids[64][32];
    int n;
} got;

static int collect(void *ctx, const sys_candidate *c) {
    got *g = ctx;
    if (g->n < 64) snprintf(g->ids[g->n++], 32, "%s", c->id);
    return 0;
}

static bool has(const got *g, const char *id) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->ids[i], id)) return true;
    return false;
}

static void put(sys_store *s, const char *json) {
    rec_person p;
    iop_err err = {0};
    if (rec_parse(json, strlen(json), &p, &err)) { test_failed(__FILE__, __LINE__, "%s", err.msg); return; }
    if (sys_put_batch(s, &p, 1, 1000, &err)) test_failed(__FILE__, __LINE__, "%s", err.msg);
    rec_person_clear(&p);
}

static got search(sys_index *x, const char *surname, const char *given, const char *dob, const char *doc) {
    got g = {.n = 0};
    sys_query q = {.limit = 100};
    const char *sn[1] = {surname}, *gn[1] = {given};
    if (surname) { q.surnames = sn; q.n_surnames = 1; }
    if (given) { q.given_names = gn; q.n_given_names = 1; }
    if (dob) iop_date_parse(dob, &q.dob, NULL);
    q.doc_number = doc;
    iop_err err = {0};
    if (sys_index_search(x, &q, collect, &g, &err)) test_failed(__FILE__, __LINE__, "%s", err.msg);
    return g;
}

#define VIS(id, sur, giv, dob, doc)                                                                             \
    "{\"id\":\"" id "\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"" sur             \
    "\"],\"given_names\":[\"" giv "\"],\"dob\":\"" dob "\",\"documents\":[{\"number\":\"" doc                 \
    "\",\"country\":\"UKR\"}],\"application_number\":\"A-" id "\"}"

TEST(index_keys_surname_with_year_neighbours_given_name_swapped_order_and_document) {
    const char *dir = test_tmpdir("index_keys");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    put(s, VIS("V1", "Kowalski-Nowak", "Anna", "1980-03-04", "ab 123-456"));
    put(s, VIS("V2", "Müller", "Jan", "1981-05-06", "XY9"));
    put(s, VIS("V3", "Kowalski", "Piotr", "1950-01-01", "Q1"));
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    got g = search(x, "kowalski", NULL, "1980", NULL); /* a token of a compound surname, case folded */
    CHECK(has(&g, "V1"));
    CHECK(!has(&g, "V3")); /* with a year, another year is not a candidate */
    g = search(x, "KOWALSKI", NULL, NULL, NULL);        /* without one, every holder of the surname */
    CHECK(has(&g, "V1") && has(&g, "V3"));
    g = search(x, "Muller", NULL, "1982-05-06", NULL);   /* diacritics folded; year + 1 */
    CHECK(has(&g, "V2"));
    g = search(x, "Muller", NULL, "1979", NULL);         /* two years off: no */
    CHECK(!has(&g, "V2"));
    g = search(x, "Jan", "Müller", "1981", NULL);        /* given name and surname swapped */
    CHECK(has(&g, "V2"));
    g = search(x, "Anna", NULL, NULL, NULL);             /* a given name alone is no surname key */
    CHECK_INT(g.n, 0);
    g = search(x, NULL, NULL, NULL, "AB123456");          /* document numbers normalised */
    CHECK_INT(g.n, 1);
    CHECK(has(&g, "V1"));
    sys_index_close(x);
    sys_close(s);
}

TEST(index_orders_candidates_by_keys_met_and_honours_the_limit) {
    const char *dir = test_tmpdir("index_order");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    char json[1024], id[16];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof id, "S%02d", i);
        snprintf(json, sizeof json, VIS("%s", "Smith", "Other", "1990-01-01", "D%d"), id, i, id);
        put(s, json);
    }
    put(s, VIS("BEST", "Smith", "John", "1990-02-02", "Z1"));
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    got g = {.n = 0};
    const char *sn[1] = {"Smith"}, *gn[1] = {"John"};
    sys_query q = {.surnames = sn, .n_surnames = 1, .given_names = gn, .n_given_names = 1, .limit = 5};
    iop_date_parse("1990", &q.dob, NULL);
    REQUIRE(sys_index_search(x, &q, collect, &g, &err) == IOP_OK);
    CHECK_INT(g.n, 5);
    CHECK_STR(g.ids[0], "BEST"); /* meets the surname and the given name keys */
    CHECK_STR(g.ids[1], "S00");  /* then the others in arrival order: the oldest of the 30 ties */
    CHECK_STR(g.ids[2], "S01");
    CHECK_STR(g.ids[3], "S02");
    CHECK_STR(g.ids[4], "S03");
    sys_index_stats st;
    sys_index_stats_get(x, &st);
    CHECK_INT((long long)st.records, 31);
    CHECK(st.bytes > 0 && st.keys > 0);
    sys_index_close(x);
    sys_close(s);
}

TEST(index_follows_writes_replacements_and_deletions_committed_after_it_was_built) {
    const char *dir = test_tmpdir("index_follow");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    put(s, VIS("V1", "Ivanov", "Ivan", "1970-01-01", "P1"));
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    got g = search(x, "Ivanov", NULL, "1970", NULL);
    CHECK(has(&g, "V1"));
    /* a new record, written through the writer handle after the index was built */
    put(s, VIS("V2", "Petrov", "Petr", "1971-01-01", "P2"));
    g = search(x, "Petrov", NULL, "1971", NULL);
    CHECK(has(&g, "V2"));
    /* a replacement: the old name no longer finds it, the new one does */
    put(s, VIS("V1", "Sidorov", "Ivan", "1970-01-01", "P1"));
    g = search(x, "Ivanov", NULL, "1970", NULL);
    CHECK(!has(&g, "V1"));
    g = search(x, "Sidorov", NULL, "1970", NULL);
    CHECK(has(&g, "V1"));
    /* a deletion */
    REQUIRE(sys_delete(s, "V2", &err) == IOP_OK);
    g = search(x, "Petrov", NULL, "1971", NULL);
    CHECK_INT(g.n, 0);
    g = search(x, NULL, NULL, NULL, "P2");
    CHECK_INT(g.n, 0);
    sys_index_stats st;
    sys_index_stats_get(x, &st);
    CHECK_INT((long long)st.records, 1);
    /* a rolled-back batch leaves no trace */
    rec_person p;
    const char *j = VIS("V9", "Rolled", "Back", "1999-01-01", "R9");
    REQUIRE(rec_parse(j, strlen(j), &p, &err) == IOP_OK);
    REQUIRE(sys_put_batch_prepare(s, &p, 1, 1, &err) == IOP_OK);
    REQUIRE(sys_put_finish(s, false, &err) == IOP_OK);
    rec_person_clear(&p);
    g = search(x, "Rolled", NULL, NULL, NULL);
    CHECK_INT(g.n, 0);
    /* a second index built now agrees */
    sys_index *y;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &y, &err) == IOP_OK);
    sys_index_stats st2;
    sys_index_stats_get(y, &st2);
    CHECK_INT((long long)st2.records, 1);
    CHECK_INT((long long)st2.seq, (long long)st.seq);
    sys_index_close(y);
    sys_index_close(x);
    sys_close(s);
}

TEST(index_does_not_grow_when_records_are_rewritten_unchanged_and_finds_the_newest_holders) {
    const char *dir = test_tmpdir("index_rewrite");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    put(s, VIS("V1", "Garcia", "Ana", "1980-01-01", "G1"));
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    sys_index_stats a, b;
    sys_index_stats_get(x, &a);
    for (int i = 0; i < 50; i++) put(s, VIS("V1", "Garcia", "Ana", "1980-01-01", "G1")); /* a load run again */
    got g = search(x, "Garcia", NULL, NULL, NULL);
    CHECK_INT(g.n, 1);
    sys_index_stats_get(x, &b);
    CHECK_INT((long long)b.postings, (long long)a.postings);
    CHECK_INT((long long)b.records, 1);
    /* many replacements: the list of a key sheds the postings of replaced records */
    char json[1024];
    for (int i = 0; i < 300; i++) {
        snprintf(json, sizeof json, VIS("V1", "Garcia", "Ana%d", "1980-01-01", "G1"), i);
        put(s, json);
        if (i % 50 == 0) search(x, "Garcia", NULL, NULL, NULL);
    }
    g = search(x, "Garcia", NULL, NULL, NULL);
    CHECK_INT(g.n, 1);
    sys_index_stats_get(x, &b);
    CHECK(b.postings < 300);
    sys_index_close(x);
    sys_close(s);
}

TEST(index_sees_writes_of_a_handle_opened_without_the_change_flag_and_rebuilds_when_the_log_goes_back) {
    const char *dir = test_tmpdir("index_triggers");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    put(s, VIS("V1", "Novak", "Jan", "1980-01-01", "N1"));
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    /* another writer that knows nothing of the change log (an older binary, a tool) */
    char path[4200];
    snprintf(path, sizeof path, "%s/systems/vis.db", dir);
    store *raw;
    REQUIRE(store_open(path, 0, &err, &raw) == IOP_OK);
    store_doc d = {.id = "V2", .kind = "visa_application", .body = "{}",
                   .summary = "\x1fhorvat\x1e" "ivo\x1fHorvat\x1f" "1990\x1fM\x1f\x1fH2:HRV\x1fhorvat"};
    REQUIRE(store_put(raw, &d, NULL, 0, &err) == IOP_OK);
    got g = search(x, "Horvat", NULL, "1990", NULL);
    CHECK(has(&g, "V2"));
    REQUIRE(store_delete(raw, "V2", &err) == IOP_OK);
    g = search(x, "Horvat", NULL, NULL, NULL);
    CHECK_INT(g.n, 0);
    /* the change log emptied and its numbering restarted (a restored store): rebuilt */
    REQUIRE(store_exec(raw, "DELETE FROM changes; DELETE FROM sqlite_sequence WHERE name='changes';", &err) == IOP_OK);
    store_close(raw);
    put(s, VIS("V3", "Kralj", "Ana", "1985-01-01", "K3"));
    g = search(x, "Kralj", NULL, "1985", NULL);
    CHECK(has(&g, "V3"));
    g = search(x, "Novak", NULL, "1980", NULL);
    CHECK(has(&g, "V1"));
    sys_index_close(x);
    sys_close(s);
}

TEST(index_keeps_the_document_key_of_a_record_with_very_many_names) {
    const char *dir = test_tmpdir("index_many_names");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    iop_buf j;
    iop_buf_init(&j);
    iop_buf_puts(&j, "{\"id\":\"M1\",\"system\":\"vis\",\"kind\":\"visa_application\",\"surnames\":[\"Many\"],\"aliases\":[");
    for (int i = 0; i < 30; i++) iop_buf_printf(&j, "%s\"Alias%da Alias%db Alias%dc\"", i ? "," : "", i, i, i);
    iop_buf_puts(&j, "],\"documents\":[{\"number\":\"DOC777\"}],\"application_number\":\"A1\"}");
    put(s, j.data);
    iop_buf_free(&j);
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    got g = search(x, NULL, NULL, NULL, "DOC777");
    CHECK_INT(g.n, 1);
    g = search(x, "Alias29c", NULL, NULL, NULL);
    CHECK_INT(g.n, 1);
    sys_index_close(x);
    sys_close(s);
}

TEST(summary_parse_gives_the_identity_as_recorded_and_marks_older_summaries) {
    /* category, tokens, surnames, dob, sex, nationalities, documents, surname tokens,
     * given names, surname at birth, aliases, place of birth, document types */
    const char *full = "\x1f" "garcia\x1elopez\x1e" "ana\x1f" "García López\x1f" "1990-03\x1f" "F\x1f" "ESP\x1eMEX\x1f"
                       "AB123:ESP\x1eZZ9:\x1f" "garcia\x1elopez\x1f" "Ana María\x1f" "\x1f" "Ana G. López\x1f"
                       "Sevilla\x1f" "\x1eid_card";
    char buf[512];
    sys_candidate c;
    REQUIRE(sys_candidate_parse("R1", "visa_application", full, buf, &c));
    CHECK(c.has_identity);
    CHECK_INT(c.n_surnames, 1);
    CHECK_STR(c.surnames[0], "García López");
    CHECK_INT(c.n_given_names, 1);
    CHECK_STR(c.given_names[0], "Ana María");
    CHECK(c.surname_at_birth == NULL);
    CHECK_INT(c.n_aliases, 1);
    CHECK_STR(c.aliases[0], "Ana G. López");
    CHECK_STR(c.place_of_birth, "Sevilla");
    CHECK_INT(c.dob.year, 1990);
    CHECK_INT(c.dob.month, 3);
    CHECK_INT(c.dob.day, 0);
    CHECK_INT(c.sex, 'F');
    CHECK_INT(c.n_nationalities, 2);
    /* document types follow the documents, an unknown type included */
    CHECK_INT(c.n_docs, 2);
    CHECK_STR(c.doc_keys[0], "AB123");
    CHECK_STR(c.doc_countries[0], "ESP");
    CHECK(c.doc_types[0] == NULL);
    CHECK_STR(c.doc_keys[1], "ZZ9");
    CHECK_STR(c.doc_countries[1], "");
    CHECK_STR(c.doc_types[1], "id_card");
    CHECK_STR(c.summary, full);
    /* a summary written before the identity was kept: a candidate whose record must be read */
    const char *older = "\x1f" "smith\x1ejohn\x1f" "Smith\x1f" "1970\x1f" "M\x1f" "\x1f" "\x1f" "smith";
    REQUIRE(sys_candidate_parse("R2", "x", older, buf, &c));
    CHECK(!c.has_identity);
    CHECK_INT(c.n_tokens, 2);
    CHECK_INT(c.n_given_names, 0);
    /* not a summary at all */
    CHECK(!sys_candidate_parse("R3", "x", "just text", buf, &c));
}

TEST(index_behind_a_trimmed_change_log_starts_again_and_misses_nothing) {
    const char *dir = test_tmpdir("index_trim");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    put(s, VIS("T1", "Ivanov", "Ivan", "1970-01-01", "P1"));
    put(s, VIS("T2", "Petrov", "Petr", "1971-01-01", "P2"));
    sys_index *x;
    REQUIRE(sys_index_open(IOP_SYS_VIS, dir, &x, &err) == IOP_OK);
    got g = search(x, "Petrov", NULL, "1971", NULL);
    CHECK(has(&g, "T2"));
    /* while the index does not look: a new record, a replacement, a deletion, and the
     * log trimmed to its last change */
    put(s, VIS("T3", "Sidorov", "Sidor", "1972-01-01", "P3"));
    put(s, VIS("T1", "Kuznetsov", "Ivan", "1970-01-01", "P1"));
    REQUIRE(sys_delete(s, "T2", &err) == IOP_OK);
    char path[1200];
    snprintf(path, sizeof path, "%s/systems/vis.db", dir);
    store *raw;
    REQUIRE(store_open(path, 0, &err, &raw) == IOP_OK);
    REQUIRE(store_changes_trim(raw, 1, &err) == IOP_OK);
    int64_t first = 0, last = 0;
    REQUIRE(store_first_change(raw, &first, &err) == IOP_OK);
    REQUIRE(store_last_change(raw, &last, &err) == IOP_OK);
    CHECK(first == last && last > 0);
    store_close(raw);
    g = search(x, "Sidorov", NULL, "1972", NULL);
    CHECK(has(&g, "T3"));
    g = search(x, "Kuznetsov", NULL, "1970", NULL);
    CHECK(has(&g, "T1"));
    g = search(x, "Ivanov", NULL, "1970", NULL);
    CHECK(!has(&g, "T1"));
    g = search(x, "Petrov", NULL, "1971", NULL);
    CHECK(!has(&g, "T2"));
    sys_index_stats st;
    sys_index_stats_get(x, &st);
    CHECK_INT((long long)st.records, 2);
    CHECK_INT((long long)st.seq, (long long)last);
    sys_index_close(x);
    sys_close(s);
}

TEST(store_mark_says_unchanged_until_any_connection_commits) {
    const char *dir = test_tmpdir("store_mark");
    sys_store *s;
    iop_err err = {0};
    REQUIRE(sys_open(IOP_SYS_VIS, dir, STORE_CREATE, &s, &err) == IOP_OK);
    put(s, VIS("M1", "Ivanov", "Ivan", "1970-01-01", "P1"));
    char path[1200];
    snprintf(path, sizeof path, "%s/systems/vis.db", dir);
    store *r;
    REQUIRE(store_open(path, STORE_READONLY, &err, &r) == IOP_OK);
    int64_t last = 0;
    REQUIRE(store_last_change(r, &last, &err) == IOP_OK); /* a read maps the WAL-index */
    store_mark m;
    store_mark_take(r, &m);
    CHECK(m.valid);
    CHECK(!store_changed_since(r, &m));
    REQUIRE(store_last_change(r, &last, &err) == IOP_OK); /* reading changes nothing */
    CHECK(!store_changed_since(r, &m));
    put(s, VIS("M2", "Petrov", "Petr", "1971-01-01", "P2")); /* another connection commits */
    CHECK(store_changed_since(r, &m));
    store_mark_take(r, &m);
    CHECK(!store_changed_since(r, &m));
    /* a rolled-back batch is no commit */
    rec_person p;
    const char *j = VIS("M9", "Rolled", "Back", "1999-01-01", "R9");
    REQUIRE(rec_parse(j, strlen(j), &p, &err) == IOP_OK);
    REQUIRE(sys_put_batch_prepare(s, &p, 1, 1, &err) == IOP_OK);
    REQUIRE(sys_put_finish(s, false, &err) == IOP_OK);
    rec_person_clear(&p);
    CHECK(!store_changed_since(r, &m));
    store_mark none = {.valid = false};
    CHECK(store_changed_since(r, &none)); /* an invalid mark: always read */
    store_close(r);
    sys_close(s);
}
