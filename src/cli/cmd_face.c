/* cmd_face.c -- `interop face`. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_face(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "interop face: not available in this build yet\n");
    return 1;
}
