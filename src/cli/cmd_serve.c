/* cmd_serve.c -- `interop serve`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_serve(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop serve: not available in this build yet\n");
    return 1;
}
