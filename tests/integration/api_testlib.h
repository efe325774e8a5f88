/*
 * api_testlib.h - helpers shared by the psop-api tests (header-only: every
 * function is static inline so a test uses what it needs).
 *
 *  - JWTs crafted by hand (any alg, "none", missing claims) with libcrypto;
 *  - a raw HTTP/1.1 client over a socket, so tests can send anything,
 *    malformed requests included;
 *  - starting psop-api as a child process on its own port with env overrides;
 *  - Kafka: creating the command topics, and finding a command id on a topic
 *    from the offsets noted before the request.
 */
#ifndef PSOP_TESTS_API_TESTLIB_H
#define PSOP_TESTS_API_TESTLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "core/config.h"
#include "wire/jwt.h"

#define TL_SECRET "psop-api-test-secret-0123456789abcdef0123"

/* ------------------------------------------------------------------ JWT */

static inline void tl_b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tab[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* A token with header {"alg":alg,"typ":"JWT"} and the given claims JSON,
 * signed as alg says ("none": no signature; HS256/HS512 with key as the
 * secret; RS256 with key as a PEM private key). Caller frees. */
static inline char *tl_jwt(const char *alg, const void *key, size_t keylen, const char *claims)
{
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    size_t cl = strlen(claims);
    char *out = malloc(strlen(hdr) * 2 + cl * 2 + 1024);
    tl_b64url((const unsigned char *)hdr, strlen(hdr), out);
    size_t n = strlen(out);
    out[n++] = '.';
    tl_b64url((const unsigned char *)claims, cl, out + n);
    n = strlen(out);
    unsigned char sig[1024];
    unsigned siglen = 0;
    if (strcmp(alg, "HS256") == 0 || strcmp(alg, "HS512") == 0) {
        HMAC(strcmp(alg, "HS256") == 0 ? EVP_sha256() : EVP_sha512(), key, (int)keylen,
             (const unsigned char *)out, n, sig, &siglen);
    } else if (strcmp(alg, "RS256") == 0) {
        BIO *bio = BIO_new_mem_buf(key, (int)keylen);
        EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t sl = sizeof(sig);
        if (pk && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
            EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)out, n) == 1)
            siglen = (unsigned)sl;
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(pk);
    }
    out[n++] = '.';
    tl_b64url(sig, siglen, out + n);
    return out;
}

/* An HS256 token with TL_SECRET minted by lib/jwt_token (the same code
 * psopctl uses) for sub (NULL: "test-<role>-<time>-<pid>"): role plus
 * optional org/provider/client, expiring ttl seconds from now (ttl <= 0:
 * already expired). Caller frees. */
static inline char *tl_token_as(const char *sub, const char *role, const char *org,
                                const char *provider, const char *client, long ttl)
{
    struct psop_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.jwt_alg = (char *)"HS256";
    cfg.jwt_secret = (char *)TL_SECRET;
    cfg.jwt_issuer = (char *)"";
    cfg.jwt_audience = (char *)"";
    cfg.jwt_private_key_file = (char *)"";
    char own[64], err[256], *out = NULL;
    if (!sub) {
        snprintf(own, sizeof(own), "test-%s-%ld-%d", role, (long)time(NULL), (int)getpid());
        sub = own;
    }
    time_t now = time(NULL);
    if (ttl <= 0) { /* issued long enough ago to have expired */
        now += ttl - 60;
        ttl = 60;
    }
    if (jwt_token_mint_at(&cfg, role, sub, org, provider, client, ttl, now, &out, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "tl_token: %s\n", err);
        return NULL;
    }
    return out;
}

/* tl_token_as with the generated sub. */
static inline char *tl_token(const char *role, const char *org, const char *provider,
                             const char *client, long ttl)
{
    return tl_token_as(NULL, role, org, provider, client, ttl);
}

/* ----------------------------------------------------------------- HTTP */

struct tl_resp {
    int status;
    char *headers; /* raw header block */
    char *body;
    size_t body_len;
    json_t *json; /* parsed body or NULL */
};

static inline void tl_resp_free(struct tl_resp *r)
{
    free(r->headers);
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* The value of header name (case-insensitive) in r, copied into out. */
static inline bool tl_header(const struct tl_resp *r, const char *name, char *out, size_t cap)
{
    if (!r->headers)
        return false;
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        p = strstr(p, "\r\n");
        if (p)
            p += 2;
    }
    return false;
}

static inline int tl_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Parses a complete response in buf; returns 1 when complete, 0 when more
 * is needed, -1 when malformed. Chunked bodies are not expected from MHD
 * for our buffer responses. */
static inline int tl_parse(const char *buf, size_t len, bool eof, struct tl_resp *out)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return eof ? -1 : 0;
    size_t hlen = (size_t)(end - buf) + 2;
    const char *bstart = end + 4;
    size_t have = len - (size_t)(bstart - buf);
    char *headers = strndup(buf, hlen);
    struct tl_resp tmp = {.headers = headers};
    char cl[32];
    size_t want = have;
    if (tl_header(&tmp, "Content-Length", cl, sizeof(cl)))
        want = (size_t)strtoull(cl, NULL, 10);
    else if (!eof) {
        free(headers);
        return 0;
    }
    if (have < want) {
        free(headers);
        return eof ? -1 : 0;
    }
    out->status = atoi(buf + 9);
    out->headers = headers;
    out->body = malloc(want + 1);
    memcpy(out->body, bstart, want);
    out->body[want] = '\0';
    out->body_len = want;
    out->json = json_loadb(out->body, want, 0, NULL);
    return 1;
}

/* Sends raw bytes and reads one response. 0, or -1 on a transport error
 * (connection refused, reset before any answer). */
static inline int tl_raw(int port, const void *req, size_t len, struct tl_resp *out)
{
    memset(out, 0, sizeof(*out));
    int fd = tl_connect(port);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the server may answer early (413) and close */
        off += (size_t)w;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    for (;;) {
        if (n + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR) /* SIGCHLD of a script the test ran */
            continue;
        if (r <= 0) {
            rc = tl_parse(buf, n, true, out) == 1 ? 0 : -1;
            break;
        }
        n += (size_t)r;
        if (tl_parse(buf, n, false, out) == 1) {
            rc = 0;
            break;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

/* A well-formed request. token/ctype/body/extra may be NULL; extra is a
 * block of "Name: value\r\n" lines. */
static inline int tl_request(int port, const char *method, const char *path, const char *token,
                             const char *ctype, const char *body, const char *extra,
                             struct tl_resp *out)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap =
        blen + (token ? strlen(token) : 0) + (extra ? strlen(extra) : 0) + strlen(path) + 512;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method,
                     path);
    if (token)
        n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", token);
    if (ctype)
        n += snprintf(req + n, cap - (size_t)n, "Content-Type: %s\r\n", ctype);
    if (body)
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
    if (extra)
        n += snprintf(req + n, cap - (size_t)n, "%s", extra);
    n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (body) {
        memcpy(req + n, body, blen);
        n += (int)blen;
    }
    int rc = tl_raw(port, req, (size_t)n, out);
    free(req);
    return rc;
}

/* Counts one answer of a command load: a 202's command id kept (while
 * fewer than max), a 503, or anything else (a 202 past max included). */
static inline void tl_count_answer(const struct tl_resp *r, char (*ids)[40], int *n_ids, int max,
                                   int *n_503, int *n_other)
{
    if (r->status == 202 && *n_ids < max)
        snprintf(ids[(*n_ids)++], 40, "%s",
                 json_string_value(json_object_get(r->json, "command_id")));
    else if (r->status == 503)
        (*n_503)++;
    else
        (*n_other)++;
}

/* POST /v1/settlements/runs for org's month year-month: a small command
 * the load threads send again and again. */
static inline int tl_post_run(int port, const char *token, const char *org, int year, int month,
                              struct tl_resp *out)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"organiser_id\":\"%s\",\"period\":\"%04d-%02d\"}", org, year,
             month);
    return tl_request(port, "POST", "/v1/settlements/runs", token, "application/json", body, NULL,
                      out);
}

/* After "Prefer: wait=N" answered 202 (no verdict within N s: a loaded
 * machine), the verdict by polling GET /v1/commands/{id} for up to
 * timeout_s: *r becomes the answer the wait would have given, 200 with the
 * status document or 422 with the rejection problem. *r is left as it is
 * when it is not a single command's 202 or no verdict came in time. */
static inline void tl_await_verdict(int port, const char *token, struct tl_resp *r,
                                    double timeout_s)
{
    const char *cid =
        r->status == 202 ? json_string_value(json_object_get(r->json, "command_id")) : NULL;
    if (!cid)
        return;
    char path[128];
    snprintf(path, sizeof(path), "/v1/commands/%s", cid);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct tl_resp c;
        if (tl_request(port, "GET", path, token, NULL, NULL, NULL, &c) == 0) {
            const char *st =
                c.status == 200 ? json_string_value(json_object_get(c.json, "status")) : NULL;
            json_t *answer = NULL;
            int status = 0;
            if (st && strcmp(st, "applied") == 0) {
                answer = json_incref(c.json);
                status = 200;
            } else if (st && strcmp(st, "rejected") == 0) {
                const char *why = json_string_value(json_object_get(c.json, "reason"));
                answer =
                    json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
                              "https://psop.fi/problems/rejected", "title", "Unprocessable Content",
                              "status", 422, "detail", why ? why : "rejected", "command_id", cid);
                status = 422;
            }
            tl_resp_free(&c);
            if (answer) {
                free(r->body);
                json_decref(r->json);
                r->status = status;
                r->json = answer;
                r->body = json_dumps(answer, JSON_COMPACT);
                r->body_len = strlen(r->body);
                return;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > timeout_s)
            return;
        usleep(200 * 1000);
    }
}

/* -------------------------------------------------------------- process */

static inline const char *tl_brokers(void)
{
    const char *b = getenv("PSOP_KAFKA_BROKERS");
    return b && *b ? b : "127.0.0.1:19092";
}

/* True when nothing listens on 127.0.0.1:port (we could bind it). */
static inline bool tl_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* A free port for a test's own api: from 21000 + a per-process offset + n
 * on, skipping ports something already listens on (system services such as
 * RabbitMQ's 25672 live in this range). */
static inline int tl_port(int n)
{
    int port = 21000 + (int)(getpid() % 2000) * 4 + n;
    for (int i = 0; i < 200 && !tl_port_free(port); i++)
        port += 8;
    return port;
}

/* Starts psop-api on port with the test secret and env (NULL-terminated
 * "NAME=value" list), waits until /healthz answers. Returns the pid or -1. */
static inline pid_t tl_api_start(int port, const char *const *env)
{
    pid_t pid = fork();
    if (pid == 0) {
        char p[16];
        snprintf(p, sizeof(p), "%d", port);
        setenv("PSOP_API_PORT", p, 1);
        setenv("PSOP_API_LISTEN_ADDR", "127.0.0.1", 1);
        setenv("PSOP_JWT_ALG", "HS256", 1);
        setenv("PSOP_JWT_SECRET", TL_SECRET, 1);
        setenv("PSOP_API_DRAIN_DELAY_MS", "200", 1);
        setenv("PSOP_LOG_LEVEL", "warn", 1);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execl(PSOP_BINARY_DIR "/api/psop-api", "psop-api", (char *)NULL);
        _exit(127);
    }
    /* /readyz, not /healthz: beside a draining process on the same port
     * (SO_REUSEPORT) only the new one answers it 200. 30 s: a loaded
     * machine under the sanitizers starts slowly. */
    for (int i = 0; i < 600; i++) {
        struct tl_resp r;
        if (tl_request(port, "GET", "/readyz", NULL, NULL, NULL, NULL, &r) == 0) {
            int st = r.status;
            tl_resp_free(&r);
            if (st == 200)
                return pid;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* SIGTERM and wait; returns the exit status (or 128+signal). */
static inline int tl_api_stop(pid_t pid)
{
    int status = 0;
    kill(pid, SIGTERM);
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A suite's replica: started on port (the test fails when it does not
 * start), stopped at the suite's end expecting a clean exit. */
static inline pid_t tl_api_up(int port)
{
    pid_t pid = tl_api_start(port, NULL);
    cr_assert_gt(pid, 0, "psop-api did not start");
    return pid;
}

static inline void tl_api_down(pid_t *pid)
{
    if (*pid > 0)
        cr_expect_eq(tl_api_stop(*pid), 0, "psop-api exit status");
    *pid = 0;
}

/* ---------------------------------------------------------------- Kafka */

static const char *const tl_cmd_topics[] = {"psop.commands.reference", "psop.commands.provider",
                                            "psop.commands.voucher", "psop.commands.order",
                                            "psop.commands.settlement"};

static inline rd_kafka_t *tl_kafka(const char *brokers, rd_kafka_type_t type)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    if (type == RD_KAFKA_CONSUMER) {
        char gid[64];
        snprintf(gid, sizeof(gid), "api-test-%d", (int)getpid());
        rd_kafka_conf_set(conf, "group.id", gid, err, sizeof(err));
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err));
    }
    return rd_kafka_new(type, conf, err, sizeof(err));
}

/* Creates the five command topics (partitions each, the cluster's default
 * replication) if missing. 0 or -1. */
static inline int tl_ensure_topics(const char *brokers, int partitions)
{
    rd_kafka_t *rk = tl_kafka(brokers, RD_KAFKA_PRODUCER);
    if (!rk)
        return -1;
    rd_kafka_NewTopic_t *nt[5];
    char err[256];
    for (int i = 0; i < 5; i++)
        nt[i] = rd_kafka_NewTopic_new(tl_cmd_topics[i], partitions, -1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, 5, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = -1;
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rc = tr ? 0 : -1;
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = -1;
        }
        rd_kafka_event_destroy(ev);
    }
    for (int i = 0; i < 5; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    /* Metadata takes a moment to reach every listener. */
    usleep(500000);
    return rc;
}

#define TL_MAX_PARTS 64

/* Offsets to read from later: the high watermark of every partition. */
struct tl_marks {
    char topic[64];
    int n;
    int64_t high[TL_MAX_PARTS];
};

static inline int tl_mark_once(const char *brokers, const char *topic, struct tl_marks *m)
{
    rd_kafka_t *rk = tl_kafka(brokers, RD_KAFKA_PRODUCER);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int rc = -1;
    snprintf(m->topic, sizeof(m->topic), "%s", topic);
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err) {
        m->n =
            md->topics[0].partition_cnt < TL_MAX_PARTS ? md->topics[0].partition_cnt : TL_MAX_PARTS;
        rc = 0;
        for (int p = 0; p < m->n; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000))
                rc = -1;
            m->high[p] = hi;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return rc;
}

/* tl_mark, retried for up to 30 s: a topic just created may not have a
 * leader for every partition yet (slow on a loaded machine). */
static inline int tl_mark(const char *brokers, const char *topic, struct tl_marks *m)
{
    for (int i = 0; i < 30; i++) {
        if (tl_mark_once(brokers, topic, m) == 0)
            return 0;
        sleep(1);
    }
    return -1;
}

/* A message found on a topic. */
struct tl_msg {
    char key[256];
    json_t *envelope;
};

/* Reads the topic from the marks until every id in ids[0..n) is found or
 * timeout_ms passes. out[i] receives the message for ids[i]; returns how many
 * were found. extra (may be NULL) counts messages seen that are not in ids. */
static inline int tl_find(const char *brokers, const struct tl_marks *m, const char *const *ids,
                          int n, struct tl_msg *out, int timeout_ms, int *extra)
{
    rd_kafka_t *rk = tl_kafka(brokers, RD_KAFKA_CONSUMER);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(m->n);
    for (int p = 0; p < m->n; p++)
        rd_kafka_topic_partition_list_add(parts, m->topic, p)->offset = m->high[p];
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int found = 0;
    if (extra)
        *extra = 0;
    memset(out, 0, sizeof(*out) * (size_t)n);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (found < n) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (el > timeout_ms)
            break;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        if (!msg)
            continue;
        if (!msg->err) {
            json_t *env = json_loadb(msg->payload, msg->len, 0, NULL);
            const char *id = json_string_value(json_object_get(env, "id"));
            int hit = -1;
            for (int i = 0; id && i < n; i++)
                if (!out[i].envelope && strcmp(ids[i], id) == 0)
                    hit = i;
            if (hit >= 0) {
                snprintf(out[hit].key, sizeof(out[hit].key), "%.*s", (int)msg->key_len,
                         msg->key ? (const char *)msg->key : "");
                out[hit].envelope = env;
                found++;
            } else {
                if (extra)
                    (*extra)++;
                json_decref(env);
            }
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return found;
}

/* Counts messages after the marks whose envelope field (top level, string)
 * equals value, reading for ms. */
static inline int tl_count_field(const char *brokers, const struct tl_marks *m, const char *field,
                                 const char *value, int ms)
{
    rd_kafka_t *rk = tl_kafka(brokers, RD_KAFKA_CONSUMER);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(m->n);
    for (int p = 0; p < m->n; p++)
        rd_kafka_topic_partition_list_add(parts, m->topic, p)->offset = m->high[p];
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int count = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        /* ms once one is found (time for a duplicate to show); up to 30 s
         * for the first (a fresh consumer on a loaded machine is slow). */
        if (el > ms && (count > 0 || el > 30000))
            break;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg)
            continue;
        if (!msg->err) {
            json_t *env = json_loadb(msg->payload, msg->len, 0, NULL);
            const char *v = json_string_value(json_object_get(env, field));
            if (v && strcmp(v, value) == 0)
                count++;
            json_decref(env);
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count;
}

/* Counts messages after the marks (all partitions), reading for ms. */
static inline int tl_count_after(const char *brokers, const struct tl_marks *m, int ms)
{
    struct tl_msg dummy;
    const char *none = "-";
    int extra = 0;
    tl_find(brokers, m, &none, 1, &dummy, ms, &extra);
    return extra;
}

#endif
