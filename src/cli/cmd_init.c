/* cmd_init.c -- `interop init`: create a data directory. */
#include <getopt.h>
#include <stdio.h>
#include "cli/cli.h"
#include "interop/interop.h"

static void help(void) {
    printf("usage: interop init [--dir DIR] [--profiles FILE]\n\n"
           "Creates an interop data directory: one store per connected system (SIS, VIS,\n"
           "Eurodac, EES, ETIAS, ECRIS-TCN, Europol, Interpol SLTD), the common identity\n"
           "repository, the hash-chained access log, the users database and the portal's\n"
           "profiles.  Running it again on a complete directory changes nothing.\n\n"
           "  --dir DIR        data directory (default $INTEROP_DIR or ./var)\n"
           "  --profiles FILE  profiles to install (default: the built-in profiles,\n"
           "                   etc/profiles.json in the source tree)\n");
}

int cmd_init(int argc, char **argv) {
    static const struct option opts[] = {{"dir", 1, 0, 'd'}, {"profiles", 1, 0, 'p'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL, *profiles = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'p': profiles = optarg; break;
        case 'h': help(); return 0;
        default: return cli_usage_error("init", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    dir = cli_data_dir(dir);
    iop_err err = {0};
    if (iop_init_dir(dir, profiles, &err)) {
        fprintf(stderr, "interop init: %s\n", err.msg);
        return 1;
    }
    printf("initialised %s\n", dir);
    return 0;
}
