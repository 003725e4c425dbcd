/* cmd_purge.c -- `interop purge`: apply the connected systems' retention rules. */
#include <getopt.h>
#include <stdio.h>
#include "cli/cli.h"

static void help(void) {
    printf("usage: interop purge [--dir DIR] [--today YYYY-MM-DD]\n\n"
           "Deletes every record whose retention period has ended (each system's rule:\n"
           "docs/interchange-format.md#retention), with its data set in the common identity\n"
           "repository (Reg. 2019/817 Art 23) and its biometric templates (Art 15).  Each\n"
           "deletion is logged.  Run it daily (cron or a systemd timer).\n\n"
           "  --today DATE   the day to apply the rules for (default: today, UTC)\n");
}

int cmd_purge(int argc, char **argv) {
    static const struct option opts[] = {{"dir", 1, 0, 'd'}, {"today", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL;
    iop_date today = iop_date_today();
    iop_err err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 't':
            if (iop_date_parse(optarg, &today, &err) || !today.day)
                return cli_usage_error("purge", "--today: %s", err.msg[0] ? err.msg : "a full date is needed");
            break;
        case 'h': help(); return 0;
        default: return cli_usage_error("purge", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("purge", "unexpected argument '%s'", argv[optind]);
    iop_instance *in;
    if (iop_open(cli_data_dir(dir), &(iop_open_opts){.search_threads = 1, .readers = 1}, &in, &err)) {
        fprintf(stderr, "interop purge: %s\n", err.msg);
        return 1;
    }
    size_t n = 0;
    int status = 0;
    if (iop_purge_expired(in, iop_days_from_civil(today.year, today.month, today.day), &n, &err)) {
        fprintf(stderr, "interop purge: %s\n", err.msg);
        status = 1;
    } else printf("purged %zu records whose retention ended\n", n);
    iop_close(in);
    return status;
}
