/*
 * cmd_logs.c -- `interop logs`: verify, show, purge and head of the hash-chained
 * access logs in DIR/audit.db (Reg. 2019/817 Arts 10, 16, 24, 36: logs of every
 * processing operation, kept one year, used for data-protection monitoring).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "interop/audit.h"

static void help_main(FILE *f) {
    fprintf(f,
            "usage: interop logs <verify|show|purge|head> [options]\n\n"
            "The access logs of the search portal, the identity repository, the biometric\n"
            "matching service, the multiple-identity detector and the connected systems\n"
            "(Reg. 2019/817 Arts 10, 16, 24, 36), kept in DIR/audit.db as a hash chain\n"
            "sealed with the key in DIR/audit.db.key.\n\n"
            "  verify   recompute the chain; exit 0 if intact, 1 with the first broken entry\n"
            "  show     print entries as JSON Lines (filters: time, actor, component, operation)\n"
            "  purge    erase entries older than the retention period (default 365 days)\n"
            "  head     print the sealed head (seq and hash) for anchoring outside the database\n\n"
            "Common option: --dir DIR (default $INTEROP_DIR or ./var).\n"
            "See 'interop logs <command> --help'.\n");
}

static void help_verify(FILE *f) {
    fprintf(f, "usage: interop logs verify [--dir DIR] [--expect-head SEQ:HASH]\n\n"
               "Recomputes the hash chain of DIR/audit.db and checks every entry's seal, the\n"
               "sealed head and the sealed start.  Prints \"log chain intact: N entries\" and exits\n"
               "0, or prints the first broken entry and why and exits 1.  With --expect-head, the\n"
               "log must also contain the entry SEQ with the chain hash HASH (as printed earlier\n"
               "by 'interop logs head'), which detects a rollback of the whole file.\n");
}

static void help_show(FILE *f) {
    fprintf(f, "usage: interop logs show [--dir DIR] [--since TIME] [--until TIME] [--actor NAME]\n"
               "                         [--component C] [--operation OP] [--limit N] [--newest-first]\n\n"
               "Prints the matching entries as JSON Lines, oldest first (or newest first).\n"
               "TIME is YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] (UTC), milliseconds since the epoch,\n"
               "or a span back from now: 30m, 12h, 7d.  --since is inclusive, --until exclusive.\n");
}

static void help_purge(FILE *f) {
    fprintf(f, "usage: interop logs purge [--dir DIR] [--retention-days D] [--actor NAME]\n\n"
               "Erases the entries created more than D days ago (default 365: Arts 10(2), 16(2),\n"
               "24(7), 36(2) of Reg. 2019/817), records the purge as an entry and seals the new\n"
               "start of the chain, which stays verifiable.  The chain is verified first: a\n"
               "broken log is not purged (exit 1), so no evidence of tampering is erased.\n");
}

static void help_head(FILE *f) {
    fprintf(f, "usage: interop logs head [--dir DIR]\n\n"
               "Prints \"SEQ:HASH\", the sealed head of the chain.  Keep it outside the machine\n"
               "(a ticket, a paper log, a second site) and check it later with\n"
               "'interop logs verify --expect-head SEQ:HASH'.\n");
}

/* Parses TIME (see help_show) into ms since the epoch; -1 if invalid. */
static int64_t parse_time(const char *s) {
    size_t n = strlen(s);
    if (n == 0) return -1;
    char *end;
    if (n >= 2 && (s[n - 1] == 'm' || s[n - 1] == 'h' || s[n - 1] == 'd') && isdigit((unsigned char)s[0])) {
        long long v = strtoll(s, &end, 10);
        if (end != s + n - 1 || v < 0) return -1;
        int64_t unit = s[n - 1] == 'm' ? 60000LL : s[n - 1] == 'h' ? 3600000LL : 86400000LL;
        return iop_now_ms() - v * unit;
    }
    bool digits = true;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) digits = false;
    if (digits && n > 8) return strtoll(s, NULL, 10);
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10) return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        int k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5) return -1;
        p += 1 + k;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &k) != 1 || k != 2) return -1;
            p += 1 + k;
        }
        if (*p == 'Z') p++;
    }
    if (*p) return -1;
    iop_date dt = {.year = (int16_t)y, .month = (int8_t)mo, .day = (int8_t)d};
    if (!iop_date_valid(dt) || h > 23 || mi > 59 || sec > 59) return -1;
    return ((iop_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL;
}

/* Option parsing: "--name value" or "--name=value".  Returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *matched) {
    size_t n = strlen(name);
    *matched = false;
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') {
        *matched = true;
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] != 0) return NULL;
    *matched = true;
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

static int open_log(const char *dir, bool writable, audit_options *o, audit_log **log) {
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.db", cli_data_dir(dir));
    iop_err e;
    iop_code c;
    if (writable) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "interop logs: no audit log at %s\n", path);
            return 1;
        }
        fclose(f);
        c = audit_open(path, o, log, &e);
    } else {
        c = audit_open_read_only(path, NULL, log, &e);
    }
    if (c) {
        fprintf(stderr, "interop logs: %s\n", e.msg);
        return 1;
    }
    return 0;
}

static int do_verify(int argc, char **argv) {
    const char *dir = NULL, *expect = NULL;
    for (int i = 1; i < argc; i++) {
        bool m;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help_verify(stdout); return 0; }
        if ((v = opt_value(argc, argv, &i, "--dir", &m)) || m) {
            if (!v) return cli_usage_error("logs verify", "--dir needs a value");
            dir = v;
        } else if ((v = opt_value(argc, argv, &i, "--expect-head", &m)) || m) {
            if (!v) return cli_usage_error("logs verify", "--expect-head needs SEQ:HASH");
            expect = v;
        } else {
            return cli_usage_error("logs verify", "unknown option '%s'", argv[i]);
        }
    }
    long long want_seq = 0;
    char want_hash[65] = "";
    if (expect) {
        int k = 0;
        if (sscanf(expect, "%lld:%64[0-9a-f]%n", &want_seq, want_hash, &k) != 2 || expect[k] || strlen(want_hash) != 64 ||
            want_seq < 1)
            return cli_usage_error("logs verify", "--expect-head: '%s' is not SEQ:HASH (64 hex digits)", expect);
    }
    audit_log *log;
    if (open_log(dir, false, NULL, &log)) return 1;
    audit_verify_result r;
    iop_err e;
    iop_code c = audit_verify(log, &r, &e);
    int rc = 0;
    if (c == IOP_OK) {
        int64_t hs = 0;
        char hex[65];
        audit_head(log, &hs, hex, &e);
        if (expect) {
            /* the anchored entry must still be in the chain, with the anchored hash */
            char have[65] = "";
            if (want_seq > hs) {
                printf("log chain broken at entry %lld: the anchored head is entry %lld but the log ends at entry "
                       "%lld (entries deleted or the file rolled back)\n", (long long)hs + 1, want_seq, (long long)hs);
                audit_close(log, NULL);
                return 1;
            }
            if (want_seq < r.first_seq) {
                printf("note: the anchored entry %lld has been purged (retention); it cannot be checked\n", want_seq);
            } else if (audit_entry_hash(log, want_seq, have, &e) != IOP_OK || strcmp(have, want_hash) != 0) {
                printf("log chain broken at entry %lld: it does not match the anchored hash (log rewritten)\n",
                       want_seq);
                audit_close(log, NULL);
                return 1;
            }
        }
        printf("log chain intact: %lld %s", (long long)r.entries, r.entries == 1 ? "entry" : "entries");
        if (r.entries) printf(" (seq %lld..%lld)", (long long)r.first_seq, (long long)r.last_seq);
        printf(", head %lld:%s\n", (long long)hs, hex);
    } else if (c == IOP_ECORRUPT) {
        printf("log chain broken at entry %lld: %s\n", (long long)r.broken_seq, r.reason);
        rc = 1;
    } else {
        fprintf(stderr, "interop logs verify: %s\n", e.msg);
        rc = 1;
    }
    audit_close(log, NULL);
    return rc;
}

static int print_entry(void *ctx, const audit_entry *e) {
    iop_buf *b = ctx;
    iop_buf_reset(b);
    audit_entry_json(b, e);
    iop_buf_puts(b, "\n");
    return fwrite(b->data, 1, b->len, stdout) == b->len ? 0 : 1;
}

static int do_show(int argc, char **argv) {
    const char *dir = NULL;
    audit_filter f = {0};
    for (int i = 1; i < argc; i++) {
        bool m;
        const char *v;
        const char *opt = argv[i];
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) { help_show(stdout); return 0; }
        if (!strcmp(opt, "--newest-first")) { f.newest_first = true; continue; }
        if ((v = opt_value(argc, argv, &i, "--dir", &m)) || m) {
            if (!v) return cli_usage_error("logs show", "--dir needs a value");
            dir = v;
        } else if ((v = opt_value(argc, argv, &i, "--since", &m)) || m ||
                   (v = opt_value(argc, argv, &i, "--until", &m)) || m) {
            bool since = !strncmp(opt, "--since", 7);
            int64_t t = v ? parse_time(v) : -1;
            if (t < 0) return cli_usage_error("logs show", "%s: '%s' is not a time (YYYY-MM-DD[THH:MM[:SS]Z], ms, "
                                              "or 30m/12h/7d)", since ? "--since" : "--until", v ? v : "");
            if (since) f.since_ms = t > 0 ? t : 1;
            else f.until_ms = t > 0 ? t : 1;
        } else if ((v = opt_value(argc, argv, &i, "--actor", &m)) || m) {
            if (!v) return cli_usage_error("logs show", "--actor needs a value");
            f.actor = v;
        } else if ((v = opt_value(argc, argv, &i, "--component", &m)) || m) {
            if (!v) return cli_usage_error("logs show", "--component needs a value");
            f.component = v;
        } else if ((v = opt_value(argc, argv, &i, "--operation", &m)) || m) {
            if (!v) return cli_usage_error("logs show", "--operation needs a value");
            f.operation = v;
        } else if ((v = opt_value(argc, argv, &i, "--limit", &m)) || m) {
            char *end;
            long long n = v ? strtoll(v, &end, 10) : 0;
            if (!v || *end || n < 1) return cli_usage_error("logs show", "--limit needs a positive number");
            f.limit = n;
        } else {
            return cli_usage_error("logs show", "unknown option '%s'", opt);
        }
    }
    audit_log *log;
    if (open_log(dir, false, NULL, &log)) return 1;
    iop_buf b;
    iop_buf_init(&b);
    iop_err e;
    iop_code c = audit_query(log, &f, print_entry, &b, &e);
    iop_buf_free(&b);
    audit_close(log, NULL);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "interop logs show: cannot write the output\n");
        return 1;
    }
    if (c) {
        fprintf(stderr, "interop logs show: %s\n", e.msg);
        return 1;
    }
    return 0;
}

static int do_purge(int argc, char **argv) {
    const char *dir = NULL, *actor = NULL;
    audit_options o = {0};
    for (int i = 1; i < argc; i++) {
        bool m;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help_purge(stdout); return 0; }
        if ((v = opt_value(argc, argv, &i, "--dir", &m)) || m) {
            if (!v) return cli_usage_error("logs purge", "--dir needs a value");
            dir = v;
        } else if ((v = opt_value(argc, argv, &i, "--actor", &m)) || m) {
            if (!v) return cli_usage_error("logs purge", "--actor needs a value");
            actor = v;
        } else if ((v = opt_value(argc, argv, &i, "--retention-days", &m)) || m) {
            char *end;
            long d = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || d < 1 || d > 36500)
                return cli_usage_error("logs purge", "--retention-days needs a number of days (1..36500)");
            o.retention_days = (int)d;
        } else {
            return cli_usage_error("logs purge", "unknown option '%s'", argv[i]);
        }
    }
    if (!actor) actor = getenv("USER");
    audit_log *log;
    if (open_log(dir, true, &o, &log)) return 1;
    int64_t n = 0;
    iop_err e;
    /* erasing a broken stretch of the chain would erase the evidence: verify first */
    audit_verify_result r;
    iop_code c = audit_verify(log, &r, &e);
    if (c == IOP_ECORRUPT) {
        printf("log chain broken at entry %lld: %s\n", (long long)r.broken_seq, r.reason);
        fprintf(stderr, "interop logs purge: refusing to purge a log whose chain is broken\n");
        audit_close(log, NULL);
        return 1;
    }
    if (c == IOP_OK) c = audit_purge(log, 0, actor, &n, &e);
    if (c == IOP_OK) c = audit_close(log, &e);
    else audit_close(log, NULL);
    if (c) {
        fprintf(stderr, "interop logs purge: %s\n", e.msg);
        return 1;
    }
    printf("purged %lld entries older than %d days\n", (long long)n,
           o.retention_days ? o.retention_days : AUDIT_DEFAULT_RETENTION_DAYS);
    return 0;
}

static int do_head(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        bool m;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help_head(stdout); return 0; }
        if ((v = opt_value(argc, argv, &i, "--dir", &m)) || m) {
            if (!v) return cli_usage_error("logs head", "--dir needs a value");
            dir = v;
        } else {
            return cli_usage_error("logs head", "unknown option '%s'", argv[i]);
        }
    }
    audit_log *log;
    if (open_log(dir, false, NULL, &log)) return 1;
    int64_t seq;
    char hex[65];
    iop_err e;
    iop_code c = audit_head(log, &seq, hex, &e);
    audit_close(log, NULL);
    if (c) {
        fprintf(stderr, "interop logs head: %s\n", e.msg);
        return 1;
    }
    printf("%lld:%s\n", (long long)seq, hex);
    return 0;
}

int cmd_logs(int argc, char **argv) {
    if (argc < 2) {
        help_main(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        help_main(stdout);
        return 0;
    }
    if (!strcmp(sub, "verify")) return do_verify(argc - 1, argv + 1);
    if (!strcmp(sub, "show")) return do_show(argc - 1, argv + 1);
    if (!strcmp(sub, "purge")) return do_purge(argc - 1, argv + 1);
    if (!strcmp(sub, "head")) return do_head(argc - 1, argv + 1);
    return cli_usage_error("logs", "unknown command '%s' (verify, show, purge, head)", sub);
}
