/* cmd_user.c -- `interop user`: users, their authority and profiles, API tokens. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "cli/cli.h"
#include "interop/access.h"
#include "interop/interop.h"

static void help(void) {
    printf("usage: interop user <add|list|token|revoke|disable|enable> [options]\n\n"
           "  add NAME --authority TEXT --type TYPE --member-state XXX --profile P [--profile P ...]\n"
           "           creates a user and prints its first API token (shown once; stored hashed)\n"
           "  list     lists users, their authority and profiles\n"
           "  token NAME [--expires-days N] [--label TEXT]   prints a new token for the user\n"
           "  revoke NAME    revokes every token of the user\n"
           "  disable NAME | enable NAME\n\n"
           "  TYPE: border_guard, visa_authority, asylum_authority, police, etias_unit,\n"
           "        sirene_bureau, europol, ecris_central_authority, other\n"
           "  P:    a profile defined in DIR/profiles.json (see GET /v1/profiles)\n"
           "  --dir DIR   data directory (default $INTEROP_DIR or ./var)\n");
}

static int fail(const char *what, iop_err *err) {
    fprintf(stderr, "interop user %s: %s\n", what, err->msg);
    return 1;
}

static int print_token(access_db *db, const char *name, int64_t expires, const char *label) {
    char *token = NULL, *id = NULL;
    iop_err err = {0};
    if (access_token_create(db, name, expires, label, &token, &id, &err)) return fail("token", &err);
    printf("user: %s\ntoken id: %s\ntoken: %s\n(the token is shown only now; use it as 'Authorization: Bearer <token>')\n",
           name, id, token);
    sodium_memzero(token, strlen(token));
    free(token);
    free(id);
    return 0;
}

int cmd_user(int argc, char **argv) {
    static const struct option opts[] = {{"dir", 1, 0, 'd'},      {"authority", 1, 0, 'a'}, {"type", 1, 0, 't'},
                                         {"member-state", 1, 0, 'm'}, {"profile", 1, 0, 'p'}, {"expires-days", 1, 0, 'e'},
                                         {"label", 1, 0, 'l'},    {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *dir = NULL, *authority = NULL, *type = "other", *ms = NULL, *label = NULL;
    const char *profiles[32];
    size_t np = 0;
    long days = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'a': authority = optarg; break;
        case 't': type = optarg; break;
        case 'm': ms = optarg; break;
        case 'p':
            if (np == 32) return cli_usage_error("user", "at most 32 profiles");
            profiles[np++] = optarg;
            break;
        case 'e': days = strtol(optarg, NULL, 10); break;
        case 'l': label = optarg; break;
        case 'h': help(); return 0;
        default: return cli_usage_error("user", "unknown option");
        }
    }
    if (optind >= argc) return cli_usage_error("user", "missing action (add, list, token, revoke, disable, enable)");
    const char *action = argv[optind], *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (strcmp(action, "list") && !name) return cli_usage_error("user", "'%s' needs a user name", action);
    iop_err err = {0};
    iop_instance *in;
    if (iop_open(cli_data_dir(dir), &(iop_open_opts){.search_threads = 1, .readers = 1}, &in, &err))
        return fail(action, &err);
    access_db *db = iop_access_db(in);
    int status = 0;
    if (!strcmp(action, "add")) {
        access_authority_type at;
        if (!authority || !ms || !np) status = cli_usage_error("user", "add needs --authority, --member-state and --profile");
        else if (access_authority_type_parse(type, &at, &err)) status = fail("add", &err);
        else {
            for (size_t i = 0; i < np && !status; i++)
                if (!esp_profile_find(iop_profiles(in), profiles[i])) {
                    fprintf(stderr, "interop user add: --profile '%s': no such profile in the node's profiles.json\n", profiles[i]);
                    status = 1;
                }
            access_user_spec spec = {.name = name, .authority = authority, .authority_type = at, .member_state = ms,
                                     .profiles = profiles, .n_profiles = np};
            if (!status && access_user_add(db, &spec, NULL, &err)) status = fail("add", &err);
            if (!status) status = print_token(db, name, days > 0 ? iop_now_ms() + days * 86400000LL : 0, label);
        }
    } else if (!strcmp(action, "list")) {
        access_user *users;
        size_t n;
        if (access_user_list(db, &users, &n, &err)) status = fail("list", &err);
        else {
            for (size_t i = 0; i < n; i++) {
                printf("%s\t%s\t%s\t%s\t", users[i].name, access_authority_type_name(users[i].authority_type),
                       users[i].member_state, users[i].authority);
                for (size_t j = 0; j < users[i].n_profiles; j++) printf("%s%s", j ? "," : "", users[i].profiles[j]);
                printf("%s\n", users[i].disabled ? "\tdisabled" : "");
            }
            access_user_list_free(users, n);
        }
    } else if (!strcmp(action, "token")) {
        status = print_token(db, name, days > 0 ? iop_now_ms() + days * 86400000LL : 0, label);
    } else if (!strcmp(action, "revoke")) {
        int n = 0;
        if (access_token_revoke_user(db, name, &n, &err)) status = fail("revoke", &err);
        else printf("revoked %d token(s) of %s\n", n, name);
    } else if (!strcmp(action, "disable") || !strcmp(action, "enable")) {
        if (access_user_set_disabled(db, name, action[0] == 'd', &err)) status = fail(action, &err);
    } else {
        status = cli_usage_error("user", "unknown action '%s'", action);
    }
    if (!status) {
        /* who was added, changed or disabled -- never a token */
        iop_buf d;
        iop_buf_init(&d);
        iop_buf_puts(&d, "{\"user\":");
        iop_buf_json_str(&d, name ? name : "");
        iop_buf_puts(&d, "}");
        iop_actor op = {0};
        iop_err lerr = {0};
        bool have_op = cli_actor(in, NULL, NULL, "user administration", &op, &lerr) == 0;
        iop_log(in, have_op ? &op : NULL, "access", action, d.data, NULL);
        if (have_op) iop_actor_clear(&op);
        iop_buf_free(&d);
    }
    iop_close(in);
    return status;
}
