/* cmd_resolve.c -- `interop resolve`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_resolve(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop resolve: not available in this build yet\n");
    return 1;
}
