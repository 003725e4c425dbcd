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

typedef struct loader {
    iop_instance *in;
    iop_actor *actor;
    rec_person *batch;
    size_t n, cap;
    size_t first_line, last_line;
    const char *file;
    iop_load_stats stats;
    bool quiet;
    uint64_t t0, last_report;
} loader;

static int flush(loader *l, iop_err *err) {
    if (!l->n) return 0;
    iop_code rc = iop_load_records(l->in, l->actor, l->batch, l->n, &l->stats, err);
    for (size_t i = 0; i < l->n; i++) rec_person_clear(&l->batch[i]);
    if (rc) {
        iop_err_prefix(err, "%s: lines %zu-%zu (not written)", l->file, l->first_line, l->last_line);
        l->n = 0;
        return -1;
    }
    l->n = 0;
    uint64_t now = iop_mono_ns();
    if (!l->quiet && now - l->last_report > 500000000ull) {
        double s = (double)(now - l->t0) / 1e9;
        fprintf(stderr, "\rloaded %zu records (%.0f records/s)   ", l->stats.records, s > 0 ? (double)l->stats.records / s : 0);
        l->last_report = now;
    }
    return 0;
}

static int load_file(loader *l, const char *path, iop_err *err) {
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) { iop_fail(err, IOP_EIO, "%s: cannot open", path); return -1; }
    l->file = path;
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    ssize_t len;
    int status = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        const char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (!*s) continue;
        if (l->n == 0) l->first_line = lineno;
        if (rec_parse(line, (size_t)len, &l->batch[l->n], err)) {
            iop_err_prefix(err, "%s:%zu", path, lineno);
            status = -1;
            break;
        }
        l->n++;
        l->last_line = lineno;
        if (l->n == l->cap && flush(l, err)) { status = -1; break; }
    }
    if (!status && ferror(f)) { iop_fail(err, IOP_EIO, "%s: read error", path); status = -1; }
    if (!status) status = flush(l, err);
    for (size_t i = 0; i < l->n; i++) rec_person_clear(&l->batch[i]);
    l->n = 0;
    free(line);
    if (f != stdin) fclose(f);
    return status;
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
    loader l = {.in = in, .actor = &actor, .cap = (size_t)batch, .quiet = quiet || !isatty(2), .t0 = iop_mono_ns()};
    l.batch = calloc(l.cap, sizeof *l.batch);
    int status = l.batch ? 0 : 1;
    for (int i = optind; !status && i < argc; i++) {
        if (load_file(&l, argv[i], &err)) {
            fprintf(stderr, "%sinterop load: %s\n", l.quiet ? "" : "\n", err.msg);
            status = 1;
        }
    }
    double secs = (double)(iop_mono_ns() - l.t0) / 1e9;
    if (!l.quiet) fputc('\n', stderr);
    fprintf(stderr, "loaded %zu records in %.1f s (%.0f records/s):", l.stats.records, secs,
            secs > 0 ? (double)l.stats.records / secs : 0);
    for (int s = 0; s < IOP_SYS_COUNT; s++)
        if (l.stats.per_system[s]) fprintf(stderr, " %s %zu", iop_system_name((iop_system)s), l.stats.per_system[s]);
    fputc('\n', stderr);
    free(l.batch);
    iop_actor_clear(&actor);
    iop_close(in);
    return status;
}
