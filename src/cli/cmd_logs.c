/* cmd_logs.c -- `interop logs`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_logs(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop logs: not available in this build yet\n");
    return 1;
}
