/*
 * cli.h -- the subcommands of build/interop.  Each subcommand lives in its own file
 * src/cli/cmd_<name>.c and has the signature below: argv[0] is the subcommand name.
 * A subcommand prints its own --help, writes errors to stderr and returns the exit
 * status (0 success, 1 failure, 2 usage error).
 */
#ifndef INTEROP_CLI_H
#define INTEROP_CLI_H

typedef int (*cli_fn)(int argc, char **argv);

int cmd_init(int argc, char **argv);    /* create a data directory */
int cmd_user(int argc, char **argv);    /* user add / list / token */
int cmd_load(int argc, char **argv);    /* load person records (JSON Lines) */
int cmd_search(int argc, char **argv);  /* search through the European search portal */
int cmd_serve(int argc, char **argv);   /* HTTP JSON API */
int cmd_logs(int argc, char **argv);    /* logs verify / show */
int cmd_gen(int argc, char **argv);     /* synthetic population */
int cmd_names(int argc, char **argv);   /* names compare / eval */
int cmd_resolve(int argc, char **argv); /* cluster records into persons */
int cmd_fp(int argc, char **argv);      /* fingerprints: compare / scores / eval */
int cmd_face(int argc, char **argv);    /* faces: compare / eval */
int cmd_purge(int argc, char **argv);   /* apply the retention rules */

/* Shared option helpers. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The data directory: --dir, else $INTEROP_DIR, else "./var". */
const char *cli_data_dir(const char *opt);

/* The actor a local command acts as: --as USER (a user of the node) or, without it, the
 * node operator under the "integrator" profile (or --profile).  0 or -1 with *err set. */
#include "interop/interop.h"
int cli_actor(iop_instance *in, const char *as, const char *profile, const char *purpose, iop_actor *out, iop_err *err);

#endif
