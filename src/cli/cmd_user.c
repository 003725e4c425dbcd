/* cmd_user.c -- `interop user`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_user(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop user: not available in this build yet\n");
    return 1;
}
