/* cli_common.c -- helpers shared by the subcommands that act on a node as a user. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"

int cli_actor(iop_instance *in, const char *as, const char *profile, const char *purpose, iop_actor *out, iop_err *err) {
    if (as) return iop_actor_local(in, as, profile, purpose, out, err) == IOP_OK ? 0 : -1;
    /* the node's operator, on the node itself: the integrator profile, logged as local:<login> */
    const char *pname = profile ? profile : "integrator";
    const esp_profile *p = esp_profile_find(iop_profiles(in), pname);
    if (!p) {
        iop_fail(err, IOP_EDENIED, "profile '%s' is not defined on this node; use --as USER", pname);
        return -1;
    }
    struct passwd *pw = getpwuid(getuid());
    char user[128];
    snprintf(user, sizeof user, "local:%s", pw ? pw->pw_name : "unknown");
    memset(out, 0, sizeof *out);
    out->user = strdup(user);
    out->authority = strdup("node operator");
    out->authority_type = strdup("other");
    out->member_state = strdup("EU");
    out->purpose = purpose ? strdup(purpose) : NULL;
    out->profile = p;
    return 0;
}
