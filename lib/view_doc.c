#include "view_doc.h"

#include <stdio.h>
#include <stdlib.h>

#include "ids.h"
#include "xmalloc.h"

char *view_doc_text(struct pgc *pg, const char *sql, const char *id, long long *version,
                    char *err, size_t errlen)
{
    err[0] = '\0';
    if (!id || !ids_uuid_valid(id))
        return NULL; /* ids are UUIDs: no such document */
    const char *p[] = {id};
    PGresult *r = pgc_query(pg, sql, 1, p, err, errlen);
    if (!r)
        return NULL;
    char *s = NULL;
    if (PQntuples(r) == 1) {
        s = xstrdup(PQgetvalue(r, 0, 1));
        if (version)
            *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return s;
}

json_t *view_doc_parse(char *s, char *err, size_t errlen)
{
    if (!s)
        return NULL;
    json_error_t je;
    json_t *doc = json_loads(s, 0, &je);
    if (!doc)
        snprintf(err, errlen, "view document not JSON: %s", je.text);
    free(s);
    return doc;
}
