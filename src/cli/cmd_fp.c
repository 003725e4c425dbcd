/* cmd_fp.c -- `interop fp`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_fp(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop fp: not available in this build yet\n");
    return 1;
}
