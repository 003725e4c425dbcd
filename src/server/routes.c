/*
 * routes.c -- the HTTP API's routing table and path matching.  The table is the single
 * source of truth for the routes: the engine dispatches from it, /metrics labels by it,
 * and tests/test_server_openapi.c checks docs/openapi.yaml against it.
 */
#include <string.h>
#include "server/server_int.h"

const srv_route srv_routes[SRV_R_COUNT] = {
    {SRV_R_HEALTH, "GET", "/health", "health", false, false},
    {SRV_R_METRICS, "GET", "/metrics", "metrics", false, false},
    {SRV_R_SEARCH, "POST", "/v1/search", "search", true, false},
    {SRV_R_LOAD, "POST", "/v1/records", "load", true, true},
    {SRV_R_READ, "GET", "/v1/records/{system}/{id}", "read", true, false},
    {SRV_R_DELETE, "DELETE", "/v1/records/{system}/{id}", "delete", true, false},
    {SRV_R_ME, "GET", "/v1/me", "me", true, false},
    {SRV_R_PROFILES, "GET", "/v1/profiles", "profiles", true, false},
};

size_t srv_route_count(void) { return SRV_R_COUNT; }

srv_route_info srv_route_at(size_t i) {
    srv_route_info ri = {0};
    if (i >= SRV_R_COUNT) return ri;
    ri.method = srv_routes[i].method;
    ri.path = srv_routes[i].path;
    ri.name = srv_routes[i].name;
    ri.auth = srv_routes[i].auth;
    return ri;
}

/* Matches one pattern against a path; fills params.  Segments are compared byte-wise;
 * a {param} segment takes one non-empty segment shorter than SRV_PARAM_MAX. */
static bool match_path(const char *pat, const char *path, size_t path_len, char params[SRV_MAX_PARAMS][SRV_PARAM_MAX],
                       size_t *n_params) {
    size_t np = 0, pi = 0, si = 0, plen = strlen(pat);
    while (pi < plen && si < path_len) {
        if (pat[pi] != '/' || path[si] != '/') return false;
        pi++, si++;
        size_t pe = pi, se = si;
        while (pe < plen && pat[pe] != '/') pe++;
        while (se < path_len && path[se] != '/') se++;
        if (pe > pi && pat[pi] == '{') {
            size_t n = se - si;
            if (n == 0 || n >= SRV_PARAM_MAX || np >= SRV_MAX_PARAMS) return false;
            memcpy(params[np], path + si, n);
            params[np][n] = 0;
            if (memchr(params[np], 0, n)) return false;
            np++;
        } else {
            if (pe - pi != se - si || memcmp(pat + pi, path + si, pe - pi)) return false;
        }
        pi = pe, si = se;
    }
    if (pi != plen || si != path_len) return false;
    *n_params = np;
    return true;
}

srv_match srv_route_match(const char *method, const char *path, const srv_route **route,
                          char params[SRV_MAX_PARAMS][SRV_PARAM_MAX], size_t *n_params, char *allow,
                          size_t allow_len) {
    *route = NULL;
    *n_params = 0;
    if (allow && allow_len) allow[0] = 0;
    if (!method || !path || path[0] != '/') return SRV_MATCH_NO_PATH;
    size_t len = strcspn(path, "?#");
    bool path_found = false;
    for (size_t i = 0; i < SRV_R_COUNT; i++) {
        size_t np = 0;
        if (!match_path(srv_routes[i].path, path, len, params, &np)) continue;
        if (!strcmp(srv_routes[i].method, method)) {
            *route = &srv_routes[i];
            *n_params = np;
            return SRV_MATCH_OK;
        }
        if (allow && allow_len) {
            size_t al = strlen(allow);
            if (al + strlen(srv_routes[i].method) + 3 < allow_len)
                strcat(strcat(allow, al ? ", " : ""), srv_routes[i].method);
        }
        path_found = true;
    }
    return path_found ? SRV_MATCH_NO_METHOD : SRV_MATCH_NO_PATH;
}
