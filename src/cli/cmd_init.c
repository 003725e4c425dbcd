/* cmd_init.c -- `interop init`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_init(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop init: not available in this build yet\n");
    return 1;
}
