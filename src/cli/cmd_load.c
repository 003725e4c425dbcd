/* cmd_load.c -- `interop load`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_load(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop load: not available in this build yet\n");
    return 1;
}
