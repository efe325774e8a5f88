/*
 * store/redis_url.h - parsing of redis://[[user]:password@]host[:port][/db].
 *
 * Pure: no I/O, no allocation. IPv6 hosts go in brackets
 * (redis://[::1]:6379/2). Port defaults to 6379, db to 0.
 */
#ifndef PSOP_REDIS_URL_H
#define PSOP_REDIS_URL_H

#include <stddef.h>

struct redis_url {
    char host[256];
    int port;
    int db;
    char user[128];     /* "" = none (password only: legacy AUTH) */
    char password[256]; /* "" = no AUTH */
};

/* Fills out from url. Returns 0, or -1 with err filled (nothing longer than
 * the fields above, no port outside 1..65535, no db outside 0..15999). */
int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen);

#endif
