/* cmd_search.c -- `interop search`: a query through the European search portal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli/cli.h"

static void help(void) {
    printf("usage: interop search [--dir DIR] [--as USER] [--profile P] [--purpose TEXT]\n"
           "                      (--query JSON | --surname S [--given G] [--dob DATE]\n"
           "                       [--nationality XXX] [--sex M|F|X] [--document NUMBER]\n"
           "                       [--document-country XXX] [--system S ...] [--limit N])\n\n"
           "Runs one query through the European search portal under a profile and prints\n"
           "the reply (JSON): per system the profile may query, the ranked hits, filtered to\n"
           "the data categories the profile may see.  The query is logged.\n\n"
           "  --as USER      act as this user (default: the node operator, profile 'integrator')\n"
           "  --query JSON   the query as in POST /v1/search (docs/openapi.yaml)\n"
           "  --pretty       indent the reply\n");
}

int cmd_search(int argc, char **argv) {
    static const struct option opts[] = {
        {"dir", 1, 0, 'd'},      {"as", 1, 0, 'u'},      {"profile", 1, 0, 'p'},  {"purpose", 1, 0, 'P'},
        {"query", 1, 0, 'q'},    {"surname", 1, 0, 's'}, {"given", 1, 0, 'g'},    {"dob", 1, 0, 'b'},
        {"nationality", 1, 0, 'n'}, {"sex", 1, 0, 'x'},  {"document", 1, 0, 'D'}, {"document-country", 1, 0, 'C'},
        {"system", 1, 0, 'S'},   {"limit", 1, 0, 'l'},   {"pretty", 0, 0, 'y'},   {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *dir = NULL, *as = NULL, *profile = NULL, *purpose = NULL, *query = NULL;
    bool pretty = false;
    json_t *q = json_object(), *sur = json_array(), *giv = json_array(), *sys = json_array(), *doc = NULL;
    int c, status = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'u': as = optarg; break;
        case 'p': profile = optarg; break;
        case 'P': purpose = optarg; break;
        case 'q': query = optarg; break;
        case 's': json_array_append_new(sur, json_string(optarg)); break;
        case 'g': json_array_append_new(giv, json_string(optarg)); break;
        case 'b': json_object_set_new(q, "dob", json_string(optarg)); break;
        case 'n': json_object_set_new(q, "nationality", json_string(optarg)); break;
        case 'x': json_object_set_new(q, "sex", json_string(optarg)); break;
        case 'D':
            if (!doc) doc = json_object();
            json_object_set_new(doc, "number", json_string(optarg));
            break;
        case 'C':
            if (!doc) doc = json_object();
            json_object_set_new(doc, "country", json_string(optarg));
            break;
        case 'S': json_array_append_new(sys, json_string(optarg)); break;
        case 'l': json_object_set_new(q, "limit", json_integer(strtol(optarg, NULL, 10))); break;
        case 'y': pretty = true; break;
        case 'h': help(); status = -1; break;
        default: status = cli_usage_error("search", "unknown option"); break;
        }
    }
    if (json_array_size(sur)) json_object_set(q, "surnames", sur);
    if (json_array_size(giv)) json_object_set(q, "given_names", giv);
    if (json_array_size(sys)) json_object_set(q, "systems", sys);
    if (doc) json_object_set_new(q, "document", doc);
    json_decref(sur); json_decref(giv); json_decref(sys);
    char *text = query ? strdup(query) : json_dumps(q, JSON_COMPACT);
    json_decref(q);
    if (status) { free(text); return status < 0 ? 0 : status; }
    if (optind < argc) { free(text); return cli_usage_error("search", "unexpected argument '%s'", argv[optind]); }
    iop_err err = {0};
    iop_instance *in;
    if (iop_open(cli_data_dir(dir), &(iop_open_opts){0}, &in, &err)) {
        fprintf(stderr, "interop search: %s\n", err.msg);
        free(text);
        return 1;
    }
    iop_actor actor;
    iop_buf reply;
    iop_buf_init(&reply);
    if (cli_actor(in, as, profile, purpose, &actor, &err) == 0) {
        if (iop_search_json(in, &actor, text, strlen(text), &reply, &err)) status = 1;
        iop_actor_clear(&actor);
    } else status = 1;
    if (status) fprintf(stderr, "interop search: %s\n", err.msg);
    else if (pretty) {
        json_t *j = json_loadb(reply.data, reply.len, 0, NULL);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(4));
        putchar('\n');
        json_decref(j);
    } else puts(reply.data);
    iop_buf_free(&reply);
    free(text);
    iop_close(in);
    return status;
}
