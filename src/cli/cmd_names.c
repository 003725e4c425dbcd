/* cmd_names.c -- `interop names`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_names(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop names: not available in this build yet\n");
    return 1;
}
