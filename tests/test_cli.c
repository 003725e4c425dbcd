/* test-links: base */
/*
 * build/interop as a user meets it: every subcommand explains itself, errors go to
 * stderr with a non-zero status and say where (file, line, field), and the core flow
 * init -> user add -> load -> search works from the shell.
 */
#include <sys/wait.h>
#include "test.h"

static int run(const char *cmd, char *out, size_t cap) { return test_run(cmd, out, cap); }

TEST(every_subcommand_answers_help) {
    static const char *const cmds[] = {"init", "user", "load", "search", "serve", "logs", "gen", "names", "resolve",
                                       "fp", "face", "purge"};
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "%s --help", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(cmd, sizeof cmd, "%s %s --help 2>&1", IOP_BINARY, cmds[i]);
        int st = run(cmd, out, sizeof out);
        if (st != 0 || !strstr(out, "usage")) test_failed(__FILE__, __LINE__, "'%s --help': status %d, output '%.80s'", cmds[i], st, out);
    }
}

TEST(unknown_command_and_bad_options_are_usage_errors) {
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "%s frobnicate 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
    CHECK(strstr(out, "unknown command 'frobnicate'") != NULL);
    snprintf(cmd, sizeof cmd, "%s load --no-such-option x 2>&1", IOP_BINARY);
    CHECK_INT(run(cmd, out, sizeof out), 2);
}

TEST(load_reports_file_line_and_field_and_search_finds_what_was_loaded) {
    const char *dir = test_tmpdir("cli");
    char cmd[2048], out[8192], file[1100];
    snprintf(file, sizeof file, "%s/in.jsonl", dir);
    FILE *f = fopen(file, "w");
    REQUIRE(f);
    fputs("{\"id\":\"E1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Kowalczyk\"],\"given_names\":[\"Ewa\"],\"dob\":\"1985-03-04\"}\n\n"
          "{\"id\":\"E2\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Nowak\"],\"sex\":\"Q\"}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s init --dir %s/node >/dev/null && %s load --dir %s/node %s 2>&1", IOP_BINARY, dir,
             IOP_BINARY, dir, file);
    CHECK_INT(run(cmd, out, sizeof out), 1);
    CHECK(strstr(out, "in.jsonl:3: field 'sex'") != NULL);
    /* fix the line: the whole file loads */
    f = fopen(file, "w");
    fputs("{\"id\":\"E1\",\"system\":\"ees\",\"kind\":\"individual_file\",\"surnames\":[\"Kowalczyk\"],\"given_names\":[\"Ewa\"],\"dob\":\"1985-03-04\"}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s load --dir %s/node %s 2>&1", IOP_BINARY, dir, file);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd,
             "%s user add bg --dir %s/node --type border_guard --member-state DEU --authority t --profile border_guard >/dev/null"
             " && %s search --dir %s/node --as bg --surname KOWALCZYK --dob 1985-03-04",
             IOP_BINARY, dir, IOP_BINARY, dir);
    CHECK_INT(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "\"id\":\"E1\"") != NULL);
    CHECK(strstr(out, "\"system\":\"eurodac\"") == NULL); /* never revealed to a border guard */
    snprintf(cmd, sizeof cmd, "%s logs verify --dir %s/node 2>&1", IOP_BINARY, dir);
    CHECK_INT(run(cmd, out, sizeof out), 0);
}
