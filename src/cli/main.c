/* main.c -- build/interop: one command, one subcommand per task. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

static const struct {
    const char *name;
    cli_fn fn;
    const char *summary;
} commands[] = {
    {"init", cmd_init, "create a data directory: one store per connected system and component"},
    {"user", cmd_user, "manage users, their authority, profiles and API tokens"},
    {"load", cmd_load, "load person records (JSON Lines) into the connected systems"},
    {"search", cmd_search, "search through the European search portal under a profile"},
    {"serve", cmd_serve, "run the HTTP JSON API"},
    {"logs", cmd_logs, "verify or show the hash-chained access logs"},
    {"purge", cmd_purge, "delete records whose retention period has ended"},
    {"gen", cmd_gen, "generate a synthetic population with ground truth"},
    {"names", cmd_names, "compare identities and evaluate the names engine"},
    {"resolve", cmd_resolve, "cluster person records into persons"},
    {"fp", cmd_fp, "fingerprint templates: compare, score lists, FVC evaluation"},
    {"face", cmd_face, "face templates: compare, evaluation"},
};

static void usage(FILE *f) {
    fprintf(f,
            "interop - the EU interoperability components (search portal, identity repository,\n"
            "biometric matching, multiple-identity detection) over the connected systems\n"
            "SIS, VIS, Eurodac, EES, ETIAS, ECRIS-TCN, Europol data and Interpol SLTD.\n\n"
            "usage: interop <command> [options]   (interop <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "interop %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'interop %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

const char *cli_data_dir(const char *opt) {
    if (opt) return opt;
    const char *e = getenv("INTEROP_DIR");
    return e && *e ? e : "./var";
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "interop: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
