#include "router.h"

#include <stdio.h>
#include <string.h>

/* Matches path against pattern segment by segment; fills m's params. */
static bool match_pattern(const char *pattern, const char *path, struct route_match *m)
{
    const char *p = pattern, *s = path;
    m->n_params = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++, s++;
        const char *pe = strchr(p, '/');
        const char *se = strchr(s, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || slen >= sizeof(m->params[0].value) || m->n_params >= ROUTER_MAX_PARAMS)
                return false;
            int i = m->n_params++;
            m->params[i].name = p + 1;
            m->params[i].name_len = plen - 2;
            memcpy(m->params[i].value, s, slen);
            m->params[i].value[slen] = '\0';
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen, s += slen;
    }
    return *p == '\0' && *s == '\0';
}

static bool method_matches(const char *row, const char *method)
{
    return strcmp(row, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(row, "GET") == 0);
}

enum router_result router_match(const char *method, const char *path, struct route_match *m,
                                char *allow, size_t allowlen)
{
    size_t n;
    const struct route *rt = router_routes(&n);
    bool path_known = false;
    size_t alen = 0;
    struct route_match tmp;
    if (allow && allowlen)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!match_pattern(rt[i].pattern, path, &tmp))
            continue;
        if (method_matches(rt[i].method, method)) {
            *m = tmp;
            m->route = &rt[i];
            m->index = (int)i;
            return ROUTER_FOUND;
        }
        path_known = true;
        if (allow && allowlen) {
            const char *extra = strcmp(rt[i].method, "GET") == 0 ? ", HEAD" : "";
            int w = snprintf(allow + alen, allowlen - alen, "%s%s%s", alen ? ", " : "",
                             rt[i].method, extra);
            if (w > 0 && (size_t)w < allowlen - alen)
                alen += (size_t)w;
        }
    }
    return path_known ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;
}

size_t router_rows_for_type(const char *type, const struct route **out, size_t max)
{
    size_t n, k = 0;
    const struct route *rt = router_routes(&n);
    for (size_t i = 0; i < n && k < max; i++)
        if (rt[i].kind == ROUTE_COMMAND && strcmp(rt[i].type, type) == 0)
            out[k++] = &rt[i];
    return k;
}

bool router_is_command_type(const char *type)
{
    const struct route *r;
    return type && router_rows_for_type(type, &r, 1) == 1;
}
