/* test-links: server */
/*
 * test_server_openapi.c -- docs/openapi.yaml matches the routing table the server
 * dispatches from (src/server/routes.c): every route in the code is in the file and
 * every operation in the file is in the code (method + path); authenticated routes
 * document 401, open routes override the global security requirement.
 */
#include <ctype.h>
#include "server/server_int.h"
#include "test.h"

typedef struct yaml_op {
    char method[16];
    char path[128];
    bool has_401;
    bool has_security;
    bool seen;
} yaml_op;

/* Reads the operations under `paths:` of an OpenAPI 3 YAML file written with two-space
 * indentation: paths at indent 2, methods at indent 4, an operation's body deeper. */
static int read_ops(const char *text, yaml_op *ops, int max) {
    int n = 0;
    bool in_paths = false;
    char cur_path[128] = "";
    yaml_op *cur = NULL;
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        line = eol ? eol + 1 : NULL;
        size_t ind = strspn(buf, " ");
        if (buf[ind] == 0 || buf[ind] == '#') continue;
        if (ind == 0) {
            in_paths = !strcmp(buf, "paths:");
            cur = NULL;
            continue;
        }
        if (!in_paths) continue;
        if (ind == 2) {
            cur = NULL;
            size_t l = strlen(buf);
            if (buf[2] == '/' && buf[l - 1] == ':' && l - 3 < sizeof cur_path) {
                memcpy(cur_path, buf + 2, l - 3);
                cur_path[l - 3] = 0;
            } else cur_path[0] = 0;
        } else if (ind == 4) {
            cur = NULL;
            static const char *methods[] = {"get", "put", "post", "delete", "patch", "head", "options", "trace"};
            for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
                size_t ml = strlen(methods[m]);
                if (!strncmp(buf + 4, methods[m], ml) && buf[4 + ml] == ':' && cur_path[0] && n < max) {
                    cur = &ops[n++];
                    memset(cur, 0, sizeof *cur);
                    for (size_t k = 0; k < ml; k++) cur->method[k] = (char)toupper((unsigned char)methods[m][k]);
                    snprintf(cur->path, sizeof cur->path, "%s", cur_path);
                }
            }
        } else if (cur) {
            if (ind == 8 && !strcmp(buf + 8, "'401':")) cur->has_401 = true;
            if (ind == 6 && !strncmp(buf + 6, "security:", 9)) cur->has_security = true;
        }
    }
    return n;
}

TEST(openapi_file_and_routing_table_list_the_same_routes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/openapi.yaml", IOP_SOURCE_DIR);
    char *text = NULL;
    size_t len = 0;
    iop_err err = {0};
    REQUIRE(iop_read_file(path, &text, &len, &err) == IOP_OK);
    CHECK(!strncmp(text, "openapi: 3.", 11));
    yaml_op ops[64];
    int n = read_ops(text, ops, 64);
    CHECK(n > 0);
    size_t nr = srv_route_count();
    CHECK(nr > 0);
    for (size_t i = 0; i < nr; i++) {
        srv_route_info ri = srv_route_at(i);
        bool found = false;
        for (int k = 0; k < n; k++) {
            if (strcmp(ops[k].method, ri.method) || strcmp(ops[k].path, ri.path)) continue;
            found = true;
            ops[k].seen = true;
            if (ri.auth && !ops[k].has_401)
                test_failed(__FILE__, __LINE__, "%s %s needs a token but documents no 401", ri.method, ri.path);
            if (!ri.auth && !ops[k].has_security)
                test_failed(__FILE__, __LINE__, "%s %s needs no token but does not override 'security'", ri.method,
                            ri.path);
        }
        if (!found) test_failed(__FILE__, __LINE__, "route %s %s is served but missing from docs/openapi.yaml",
                                ri.method, ri.path);
    }
    for (int k = 0; k < n; k++)
        if (!ops[k].seen)
            test_failed(__FILE__, __LINE__, "docs/openapi.yaml documents %s %s, which the server does not route",
                        ops[k].method, ops[k].path);
    free(text);
}

TEST(openapi_reader_sees_a_missing_and_an_extra_route) {
    /* the comparison can fail: a file with one route changed is caught both ways */
    const char *yaml = "openapi: 3.0.3\npaths:\n  /health:\n    get:\n      security: []\n"
                       "  /v1/extra:\n    put:\n      responses:\n        '401':\n          description: x\n"
                       "components:\n  schemas:\n    X:\n      type: object\n";
    yaml_op ops[8];
    int n = read_ops(yaml, ops, 8);
    CHECK_INT(n, 2);
    CHECK_STR(ops[0].method, "GET");
    CHECK_STR(ops[0].path, "/health");
    CHECK(ops[0].has_security);
    CHECK_STR(ops[1].method, "PUT");
    CHECK_STR(ops[1].path, "/v1/extra");
    CHECK(ops[1].has_401);
    bool extra_in_code = false;
    for (size_t i = 0; i < srv_route_count(); i++)
        if (!strcmp(srv_route_at(i).path, "/v1/extra")) extra_in_code = true;
    CHECK(!extra_in_code);
}
