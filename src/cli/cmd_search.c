/* cmd_search.c -- `interop search`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_search(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop search: not available in this build yet\n");
    return 1;
}
