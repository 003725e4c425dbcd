/* cmd_gen.c -- `interop gen`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_gen(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop gen: not available in this build yet\n");
    return 1;
}
