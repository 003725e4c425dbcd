/* cmd_load.c -- `interop load`: person records (JSON Lines) into the connected systems. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"

static void help(void) {
    printf("usage: interop load [--dir DIR] [--as USER] [--profile P] [--batch N] FILE...\n\n"
           "Loads person records in the interchange format (docs/interchange-format.md, one\n"
           "JSON object per line) into their connected systems; the common identity\n"
           "repository follows.  Each batch of N lines (default 5000) is written\n"
           "all-or-nothing and is durable when acknowledged; the first bad line stops the\n"
           "load with its file, line and field, and nothing of its batch is written.\n"
           "FILE may be '-' for standard input.  Progress goes to stderr.\n\n"
           "  --as USER     act as this user (default: the node operator, profile 'integrator')\n"
           "  --profile P   profile to act under (must allow writing the records' systems)\n"
           "  --batch N     records per transaction (1..100000)\n"
           "  --quiet       no progress output\n");
}

typedef struct progress {
    bool quiet;
    uint64_t t0, last_report;
} progress;

static void on_progress(void *ctx, const iop_load_stats *st) {
    progress *p = ctx;
    uint64_t now = iop_mono_ns();
    if (p->quiet || now - p->last_report < 500000000ull) return;
    double s = (double)(now - p->t0) / 1e9;
    fprintf(stderr, "\rloaded %zu records (%.0f records/s)   ", st->records, s > 0 ? (double)st->records / s : 0);
    p->last_report = now;
}

int cmd_load(int argc, char **argv) {
    static const struct option opts[] = {{"dir", 1, 0, 'd'}, {"as", 1, 0, 'u'}, {"profile", 1, 0, 'p'}, {"batch", 1, 0, 'b'},
                                         {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL, *as = NULL, *profile = NULL;
    long batch = 5000;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'u': as = optarg; break;
        case 'p': profile = optarg; break;
        case 'b': batch = strtol(optarg, NULL, 10); break;
        case 'q': quiet = true; break;
        case 'h': help(); return 0;
        default: return cli_usage_error("load", "unknown option");
        }
    }
    if (batch < 1 || batch > 100000) return cli_usage_error("load", "--batch must be 1..100000");
    if (optind >= argc) return cli_usage_error("load", "no input file");
    iop_err err = {0};
    iop_instance *in;
    if (iop_open(cli_data_dir(dir), &(iop_open_opts){.search_threads = 1, .readers = 1}, &in, &err)) {
        fprintf(stderr, "interop load: %s\n", err.msg);
        return 1;
    }
    iop_actor actor;
    if (cli_actor(in, as, profile, "load", &actor, &err)) {
        fprintf(stderr, "interop load: %s\n", err.msg);
        iop_close(in);
        return 1;
    }
    progress pr = {.quiet = quiet || !isatty(2), .t0 = iop_mono_ns()};
    iop_load_stats stats = {0};
    int status = 0;
    for (int i = optind; !status && i < argc; i++) {
        if (iop_load_file(in, &actor, argv[i], (size_t)batch, on_progress, &pr, &stats, &err)) {
            fprintf(stderr, "%sinterop load: %s\n", pr.quiet ? "" : "\n", err.msg);
            status = 1;
        }
    }
    double secs = (double)(iop_mono_ns() - pr.t0) / 1e9;
    if (!pr.quiet) fputc('\n', stderr);
    fprintf(stderr, "loaded %zu records in %.1f s (%.0f records/s):", stats.records, secs,
            secs > 0 ? (double)stats.records / secs : 0);
    for (int s = 0; s < IOP_SYS_COUNT; s++)
        if (stats.per_system[s]) fprintf(stderr, " %s %zu", iop_system_name((iop_system)s), stats.per_system[s]);
    fputc('\n', stderr);
    iop_actor_clear(&actor);
    iop_close(in);
    return status;
}
