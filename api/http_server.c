#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "cmd_status.h"
#include "conn_guard.h"
#include "command.h"
#include "wire/envelope.h"
#include "wire/traceparent.h"
#include "idem_key.h"
#include "idempotency.h"
#include "wire/json_strict.h"
#include "raw_uri.h"
#include "core/log.h"
#include "mandate.h"
#include "port_guard.h"
#include "principal.h"
#include "wire/apikey.h"
#include <openssl/crypto.h>
#include "core/clock.h"
#include "problem.h"
#include "access.h"
#include "wire/access_key.h"
#include "read.h"
#include "store/topics.h"
#include "router.h"
#include "core/xmalloc.h"

#define CT_JSON "application/json; charset=utf-8"
#define CT_PROBLEM "application/problem+json"
/* Seconds a client should wait after a 503 from Kafka or Redis. */
#define RETRY_AFTER_UNAVAILABLE "2"
/* A body over the limit is read and dropped up to this much more, so the
 * client can still read its 413; beyond it the connection is closed. */
#define DISCARD_SLACK (1L << 20)
/* Prefer: wait=N is clamped to this many seconds (api.md: N <= 10). */
#define WAIT_MAX_S 10

struct api_server {
    struct api_deps d;
    struct MHD_Daemon *mhd;
    int port;
    struct conn_guard *guard; /* the header block's deadline (conn_guard.h) */
    atomic_int draining;
    atomic_long suspended;
};

enum phase {
    PH_HEADERS,  /* the first callback is running */
    PH_DEFERRED, /* answered from the headers; queued on the next callback */
    PH_BODY,     /* collecting the body */
    PH_WAIT,     /* published; suspended until the delivery report */
    PH_WAITCMD,  /* on Kafka; suspended until the verdicts (Prefer: wait) */
    PH_WAITREAD, /* a client-data read: suspended until its access record is on Kafka */
    PH_ANSWERED, /* a response is queued */
};

struct req {
    struct api_server *srv;
    struct MHD_Connection *conn;
    struct timespec t0;
    enum phase phase;
    bool started;                 /* on_request has set it up */
    enum raw_uri_verdict raw_uri; /* the undecoded target's verdict (raw_uri.h) */
    int status;                   /* the status answered, for log and metrics */
    bool has_body;                /* Content-Length > 0 or chunked */
    unsigned long long content_length;
    struct MHD_Response *deferred;
    char method[16];
    char path[256];
    char ip[INET6_ADDRSTRLEN];
    struct route_match m;
    int route_index; /* -1 unmatched */
    struct actor actor;
    bool authed;
    bool via_key;  /* authenticated by a provider integration key */
    bool key_read; /* ... whose scope is read */

    char *body;
    size_t len, cap;
    long discarded; /* bytes dropped after the limit was passed */
    bool too_large;

    bool has_idem;
    char idem_key[IDEM_KEY_MAX + 1];
    char idem_fp[65];

    struct cmd_batch batch;
    char **secrets; /* per batch item: an api_key.create's key text, or NULL */
    char first_command_id[UUID_STR_LEN];
    char traceparent[TRACEPARENT_LEN]; /* commands: the caller's, or a new one */
    char on_behalf_of[65];             /* commands: a proxy's On-Behalf-Of, or "" */

    int wait_s;       /* Prefer: wait, 0..WAIT_MAX_S */
    json_t *accepted; /* the 202 body, once on Kafka (or replayed) */
    json_t *wait_ids; /* the command ids waited for */
    bool wait_batch_form;
    bool replayed;

    pthread_mutex_t mu; /* suspended / published / result / wait_*, shared with the
                         * delivery report and the waiters' threads */
    bool suspended;
    bool published;
    enum pub_result result;
    bool wait_ready;
    bool wait_all_done;
    json_t *wait_docs;

    struct read_res read_pending; /* PH_WAITREAD: the answer, once the record is stored */
};

/* ---------------------------------------------------------------- responses */

static void on_published(void *opaque, enum pub_result res);
static enum MHD_Result answer_recorded_read(struct req *r);

static void add_common_headers(struct req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    /* An API answer is data, never a page: no sniffing, framing, referrers
     * or active content (docs/api-decisions.md, "Security headers"). */
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'");
    if (r->traceparent[0])
        MHD_add_response_header(resp, "traceparent", r->traceparent);
    if (atomic_load(&r->srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Queues body (taken; malloc'd) with status. hname/hval: one extra header. */
static enum MHD_Result respond_raw(struct req *r, int status, const char *ctype, char *body,
                                   size_t len, const char *hname, const char *hval)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (hname && hval)
        MHD_add_response_header(resp, hname, hval);
    add_common_headers(r, resp);
    r->status = status;
    /* libmicrohttpd closes a connection whose response was queued from the
     * first callback (it cannot know the body was read). A request without
     * a body gets its answer on the next callback so keep-alive survives;
     * one with a body is answered at once and its body never read. */
    if (r->phase == PH_HEADERS && !r->has_body) {
        r->deferred = resp;
        r->phase = PH_DEFERRED;
        return MHD_YES;
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->phase = PH_ANSWERED;
    return ok;
}

static enum MHD_Result respond_json(struct req *r, int status, json_t *doc, const char *hname,
                                    const char *hval)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (!s)
        return MHD_NO;
    return respond_raw(r, status, CT_JSON, s, strlen(s), hname, hval);
}

/* errors (stolen, may be NULL): [{path, message}]. */
static enum MHD_Result respond_problem_h(struct req *r, int status, const char *detail,
                                         json_t *errors, const char *hname, const char *hval)
{
    json_t *p = problem_new(status, detail, errors);
    char *s = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(p);
    if (!s)
        return MHD_NO;
    return respond_raw(r, status, CT_PROBLEM, s, strlen(s), hname, hval);
}

static enum MHD_Result respond_problem(struct req *r, int status, const char *detail)
{
    return respond_problem_h(r, status, detail, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------ helpers */

static const char *header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* How often the framing headers came (request smuggling: a balancer and a
 * replica that disagree on where a request ends). */
struct framing {
    int content_length, transfer_encoding, host;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)value;
    struct framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->transfer_encoding++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        f->host++;
    return MHD_YES;
}

/* NULL, or why the request's framing is ambiguous: two Content-Length,
 * Content-Length with Transfer-Encoding, other than one Host (RFC 9112
 * 6.3, 3.2). The answer is 400 and the connection closed. */
static const char *framing_refusal(struct MHD_Connection *c)
{
    struct framing f = {0, 0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1)
        return "more than one Content-Length header";
    if (f.content_length && f.transfer_encoding)
        return "both Content-Length and Transfer-Encoding";
    if (f.transfer_encoding > 1)
        return "more than one Transfer-Encoding header";
    if (f.host > 1)
        return "more than one Host header";
    return NULL;
}

/* application/json with optional parameters; a charset, if any, is UTF-8. */
static bool content_type_ok(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    const char *p = ct + 16;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    const char *cs = strcasestr(p, "charset=");
    if (!cs)
        return true;
    cs += 8;
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0 &&
           (cs[5] == '\0' || cs[5] == '"' || cs[5] == ';' || cs[5] == ' ');
}

/* --------------------------------------------------------------- endpoints */

static enum MHD_Result serve_plain(struct req *r)
{
    struct api_server *s = r->srv;
    switch (r->m.route->kind) {
    case ROUTE_HEALTHZ:
        return respond_json(r, 200, json_pack("{s:s}", "status", "ok"), PORT_GUARD_HEADER,
                            s->d.cfg->api_stack_id ? s->d.cfg->api_stack_id : "");
    case ROUTE_READYZ:
        if (atomic_load(&s->draining))
            return respond_problem(r, 503, "draining");
        return respond_json(r, 200, json_pack("{s:s}", "status", "ready"), NULL, NULL);
    case ROUTE_METRICS: {
        struct metrics_kafka k = {pub_produce_errors(s->d.pub), pub_outstanding(s->d.pub),
                                  pub_producer_renewals(s->d.pub)};
        char *txt = metrics_render(s->d.metrics, &k, !atomic_load(&s->draining));
        return respond_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", txt, strlen(txt),
                           NULL, NULL);
    }
    case ROUTE_OPENAPI: {
        char *doc = xstrdup(s->d.openapi_json ? s->d.openapi_json : "{}");
        return respond_raw(r, 200, CT_JSON, doc, strlen(doc), NULL, NULL);
    }
    default:
        return respond_problem(r, 404, "not implemented yet");
    }
}

static const char *query_arg(void *cls, const char *name)
{
    return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, name);
}

/* The request's traceparent (W3C Trace Context) when valid, else a new
 * one: what its commands' envelopes, its access record and its answer carry. */
static void take_traceparent(struct req *r)
{
    const char *tp = header(r, "traceparent");
    if (traceparent_valid(tp))
        snprintf(r->traceparent, sizeof(r->traceparent), "%s", tp);
    else
        traceparent_new(r->traceparent);
}

/* The connection waits for the delivery report of what it just gave the
 * producer (PH_WAIT, PH_WAITREAD): suspended under r->mu so the report's
 * resume always follows it; answered at once when the report came first. */
static enum MHD_Result suspend_until_published(struct req *r,
                                               enum MHD_Result (*answer)(struct req *r))
{
    pthread_mutex_lock(&r->mu);
    if (r->published) {
        pthread_mutex_unlock(&r->mu);
        return answer(r);
    }
    r->suspended = true;
    atomic_fetch_add(&r->srv->suspended, 1);
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&r->mu);
    return MHD_YES;
}

/* A read's answer as its handler left it (res taken). */
static enum MHD_Result answer_read(struct req *r, struct read_res *res)
{
    if (res->status == 200 && res->text) {
        json_decref(res->body);
        json_decref(res->errors);
        return respond_raw(r, 200, res->content_type, res->text, strlen(res->text), NULL, NULL);
    }
    free(res->text);
    if (res->status == 200 && res->body) {
        json_decref(res->errors);
        return respond_json(r, 200, res->body, NULL, NULL);
    }
    json_decref(res->body);
    if (res->status == 0 || res->status == 200) {
        json_decref(res->errors);
        return respond_problem(r, 500, "the read produced no answer");
    }
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", READ_RETRY_AFTER_S);
    return respond_problem_h(r, res->status, res->detail, res->errors,
                             res->status == 503 ? MHD_HTTP_HEADER_RETRY_AFTER : NULL,
                             res->status == 503 ? ra : NULL);
}

/* The access record of a client-data read (api/access.h): the client and
 * organiser the answer names, else the query's client and, for a list, the
 * reader's organiser; the audit worker finds the rest from the resource. */
static char *read_record(struct req *r, const struct read_res *res, const char **key)
{
    const struct route *rt = r->m.route;
    const char *rid = r->m.n_params > 0 ? r->m.params[0].value : NULL;
    const json_t *b = res->status == 200 ? res->body : NULL;
    const char *client = json_string_value(json_object_get(b, "client_id"));
    if (!client)
        client = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "client_id");
    if (!client && strcmp(rt->audit, "access_log") == 0)
        client = r->actor.client;
    const char *org = json_string_value(json_object_get(b, "organiser_id"));
    if (!org && !rid && r->actor.org[0])
        org = r->actor.org;
    struct access_rec a = {.actor = &r->actor,
                           .action = "read",
                           .resource_type = rt->audit,
                           .resource_id = rid,
                           .organiser_id = org,
                           .client_id = client,
                           .on_behalf_of = res->on_behalf_of,
                           .status = res->status,
                           .ip = r->ip,
                           .traceparent = r->traceparent};
    return access_record(&a, key);
}

/* A read route: its handler decides from Redis or PostgreSQL. A read of
 * client data is answered only once its access record is on Kafka
 * (acks=all): the connection is suspended until the delivery report. */
static enum MHD_Result serve_read(struct req *r)
{
    struct api_server *s = r->srv;
    struct read_ctx ctx = {s->d.redis, s->d.pg};
    struct read_req rq = {&ctx, &r->m, r->authed ? &r->actor : NULL, query_arg, r->conn};
    struct read_res res = {0};
    r->m.route->read(&rq, &res);
    if (!r->m.route->audit || !r->authed || !access_status_recorded(res.status))
        return answer_read(r, &res);
    take_traceparent(r);
    const char *key = NULL;
    char *rec = read_record(r, &res, &key);
    if (!rec) {
        read_res_free(&res);
        return respond_problem(r, 500, "the access record could not be built");
    }
    r->read_pending = res;
    r->phase = PH_WAITREAD;
    struct pub_msg msg = {TOPIC_AUDIT, key, rec, strlen(rec)};
    pub_send_all(s->d.pub, &msg, 1, on_published, r);
    free(rec);
    return suspend_until_published(r, answer_recorded_read);
}

/* The seconds of "Prefer: wait=N" (RFC 7240) among other preferences,
 * clamped to WAIT_MAX_S; 0 when absent or malformed. */
static int prefer_wait(const char *h)
{
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',')
            p++;
        if (p - tok < 5 || strncasecmp(tok, "wait", 4) != 0)
            continue;
        const char *q = tok + 4;
        while (q < p && (*q == ' ' || *q == '\t'))
            q++;
        if (q == p || *q++ != '=')
            continue;
        while (q < p && (*q == ' ' || *q == '\t'))
            q++;
        if (q < p && *q == '"')
            q++;
        long v = 0;
        int digits = 0;
        for (; q < p && *q >= '0' && *q <= '9'; q++, digits++)
            if (v <= WAIT_MAX_S)
                v = v * 10 + (*q - '0');
        if (digits)
            return v > WAIT_MAX_S ? WAIT_MAX_S : (int)v;
    }
    return 0;
}

/* A command's On-Behalf-Of header (docs/api.md): a client token acting for
 * another client under a mandate. 0, or the status of a refusal with why
 * (400 malformed, 403 from any other role). Naming the caller itself is
 * the same as naming nobody. */
static int take_on_behalf_of(struct req *r, char *why, size_t n)
{
    const char *h = header(r, "On-Behalf-Of");
    if (!h)
        return 0;
    if (!read_client_id_valid(h)) {
        snprintf(why, n, "On-Behalf-Of must be a client id: 1-64 printable ASCII characters");
        return 400;
    }
    if (r->actor.role != ROLE_CLIENT) {
        snprintf(why, n, "only a client token acts on behalf of another client");
        return 403;
    }
    if (strcmp(h, r->actor.client) != 0)
        snprintf(r->on_behalf_of, sizeof(r->on_behalf_of), "%s", h);
    return 0;
}

/* A proxy's command: 0 when a mandate in force lets the caller act for
 * r->on_behalf_of today, else the status (403 none, 503) with why. The
 * worker checks again where the voucher's client is known. */
static int check_mandate(struct req *r, char *why, size_t n)
{
    if (!r->on_behalf_of[0])
        return 0;
    struct read_ctx ctx = {r->srv->d.redis, r->srv->d.pg};
    struct read_req rq = {&ctx, &r->m, &r->actor, query_arg, r->conn};
    struct read_res res = {0};
    int rc = mandate_in_force(&rq, r->on_behalf_of, &res);
    int st = rc == MANDATE_IN_FORCE ? 0 : res.status ? res.status : 403;
    if (st)
        snprintf(why, n, "%s",
                 res.status ? res.detail : "no mandate lets this client act for that client");
    read_res_free(&res);
    return st;
}

/* First callback of a request: everything the headers alone decide. */
/* ------------------------------------------------------- integration keys */

static void secrets_free(struct req *r)
{
    if (!r->secrets)
        return;
    for (size_t i = 0; i < r->batch.n; i++) {
        if (r->secrets[i])
            OPENSSL_cleanse(r->secrets[i], strlen(r->secrets[i]));
        free(r->secrets[i]);
    }
    free(r->secrets);
    r->secrets = NULL;
}

/* Who the request is: a provider integration key ("psop_...") or a JWT.
 * 0, or the status to answer (401, 503) with why filled. */
static int authenticate(struct req *r, char *why, size_t n)
{
    const char *h = header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok = h && strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
    while (tok && *tok == ' ')
        tok++;
    if (tok && apikey_is_key(tok)) {
        if (!r->srv->d.apikeys) {
            snprintf(why, n, "API keys are not accepted here");
            return 401;
        }
        enum apikey_verdict v =
            apikeys_verify(r->srv->d.apikeys, tok, time(NULL), &r->actor, &r->key_read, why, n);
        if (v == APIKEY_UNAVAILABLE)
            return 503;
        if (v != APIKEY_OK)
            return 401;
        r->via_key = true;
        return 0;
    }
    return auth_verify(r->srv->d.auth, h, time(NULL), &r->actor, why, n) < 0 ? 401 : 0;
}

static enum MHD_Result respond_auth_failure(struct req *r, int status, const char *why)
{
    if (status == 503)
        return respond_problem_h(r, 503, why, NULL, MHD_HTTP_HEADER_RETRY_AFTER,
                                 RETRY_AFTER_UNAVAILABLE);
    return respond_problem_h(r, 401, why, NULL, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                             "Bearer realm=\"psop\"");
}

static bool is_key_command(const char *type)
{
    return strncmp(type, "api_key.", 8) == 0;
}

/* No key manages keys (a leaked key must not mint keys that outlive its
 * revocation); a read-scope key was refused with the headers already.
 * 0, or 403 with why. */
static int key_may_send(const struct req *r, char *why, size_t n)
{
    if (!r->via_key)
        return 0;
    for (size_t i = 0; i < r->batch.n; i++)
        if (is_key_command(r->batch.items[i].type)) {
            snprintf(why, n,
                     "an API key cannot create or revoke API keys; the provider's "
                     "user does");
            return 403;
        }
    return 0;
}

/* Makes each api_key.create's secret: the data carries only its hash, the
 * key's text is answered once (answer_secrets). 0, or -1 with e (422) when
 * a client sent a hash of its own. */
static int make_secrets(struct req *r, struct cmd_error *e)
{
    for (size_t i = 0; i < r->batch.n; i++) {
        struct cmd_item *it = &r->batch.items[i];
        if (strcmp(it->type, "api_key.create") != 0)
            continue;
        if (json_object_get(it->data, "secret_hash")) {
            e->status = 422;
            snprintf(e->detail, sizeof e->detail, "secret_hash is made by the api");
            e->errors = json_array();
            char path[48];
            snprintf(path, sizeof path,
                     r->batch.batch_form ? "/commands/%zu/data/secret_hash" : "/secret_hash", i);
            problem_add_error(e->errors, path, "is made by the api, never sent");
            return -1;
        }
        if (!r->secrets)
            r->secrets = xcalloc(r->batch.n, sizeof(*r->secrets));
        char secret[APIKEY_SECRET_LEN + 1], hash[APIKEY_HASH_HEX];
        apikey_secret_new(secret);
        apikey_hash_hex(secret, hash);
        json_object_set_new(it->data, "secret_hash", json_string(hash));
        r->secrets[i] = xstrdup(secret);
        OPENSSL_cleanse(secret, sizeof secret);
    }
    return 0;
}

static bool has_secrets(const struct req *r)
{
    return r->secrets != NULL;
}

/* Adds "secret" (the key's whole text) to the answer's item of each
 * api_key.create not rejected. doc is the 202/200 body (stolen); returns
 * the body to answer. The stored Idempotency-Key answer never has it. */
static json_t *answer_secrets(struct req *r, json_t *doc)
{
    if (!has_secrets(r) || !doc)
        return doc;
    json_t *out = json_deep_copy(doc);
    json_decref(doc);
    json_t *list = json_object_get(out, "commands");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t j = 0; j < n; j++) {
        json_t *item = json_is_array(list) ? json_array_get(list, j) : out;
        const char *cid = json_string_value(json_object_get(item, "command_id"));
        const char *st = json_string_value(json_object_get(item, "status"));
        if (!cid || (st && strcmp(st, "rejected") == 0))
            continue;
        for (size_t i = 0; i < r->batch.n; i++) {
            if (!r->secrets[i] || strcmp(r->batch.items[i].command_id, cid) != 0)
                continue;
            const char *kid = json_string_value(json_object_get(r->batch.items[i].data, "key_id"));
            if (!kid)
                break;
            char text[APIKEY_TEXT_MAX];
            apikey_text(kid, r->secrets[i], text);
            json_object_set_new(item, "key_id", json_string(kid));
            json_object_set_new(item, "secret", json_string(text));
            OPENSSL_cleanse(text, sizeof text);
            break;
        }
    }
    return out;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + 2 + (value ? strlen(value) : 0) + 2; /* "k: v\r\n" */
    return MHD_YES;
}

/* The header lines' size as sent ("name: value" and CRLF each, the request
 * line not counted): what HAProxy's req.hdrs,length measures for its 431. */
static size_t header_block_size(struct MHD_Connection *c)
{
    size_t n = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_size, &n);
    return n;
}

static enum MHD_Result on_headers(struct req *r, const char *url, const char *method)
{
    struct api_server *s = r->srv;
    char allow[128];

    /* The target as sent, before MHD decoded it: no NUL, no encoded '/'. */
    if (r->raw_uri != RAW_URI_OK)
        return respond_problem(r, r->raw_uri == RAW_URI_TOO_LONG ? 414 : 400,
                               raw_uri_reason(r->raw_uri));
    if (header_block_size(r->conn) > RAW_HEADERS_MAX)
        return respond_problem(
            r, 431,
            "the request's header block is over the limit of " RAW_STR(RAW_HEADERS_MAX) " bytes");
    const char *ambiguous = framing_refusal(r->conn);
    if (ambiguous) {
        /* Answered at once, body unread, connection closed: nothing after
         * these headers is ever read as a request. */
        r->has_body = true;
        return respond_problem_h(r, 400, ambiguous, NULL, MHD_HTTP_HEADER_CONNECTION, "close");
    }

    /* MHD itself refuses malformed Content-Length values. */
    const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl)
        r->content_length = strtoull(cl, NULL, 10);
    r->has_body = r->content_length > 0 || header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;

    if (strncmp(url, "/v1/", 4) == 0) {
        int retry = 1;
        if (!ratelimit_take(s->d.ratelimit, r->ip, &retry)) {
            char ra[16];
            snprintf(ra, sizeof(ra), "%d", retry);
            return respond_problem_h(r, 429, "rate limit exceeded for this client", NULL,
                                     MHD_HTTP_HEADER_RETRY_AFTER, ra);
        }
    }
    switch (router_match(method, url, &r->m, allow, sizeof(allow))) {
    case ROUTER_NOT_FOUND:
        return respond_problem(r, 404, "no such route");
    case ROUTER_METHOD_NOT_ALLOWED:
        return respond_problem_h(r, 405, "method not allowed on this route", NULL,
                                 MHD_HTTP_HEADER_ALLOW, allow);
    case ROUTER_FOUND:
        break;
    }
    r->route_index = r->m.index;
    const struct route *rt = r->m.route;
    char why[160];
    if (rt->kind == ROUTE_READ) {
        if (rt->roles != ROLE_NONE) {
            int ast = authenticate(r, why, sizeof(why));
            if (ast)
                return respond_auth_failure(r, ast, why);
            r->authed = true;
            if (!auth_role_allowed(&r->actor, rt->roles)) {
                snprintf(why, sizeof(why), "role %s may not read %s", role_name(r->actor.role),
                         rt->pattern);
                return respond_problem(r, 403, why);
            }
        }
        return serve_read(r);
    }
    if (rt->kind != ROUTE_COMMAND && rt->kind != ROUTE_BATCH)
        return serve_plain(r);

    int ast = authenticate(r, why, sizeof(why));
    if (ast)
        return respond_auth_failure(r, ast, why);
    r->authed = true;
    if (r->via_key && r->key_read) { /* before the body is read: it sends no command */
        snprintf(why, sizeof(why), "this API key's scope is read: it may only read");
        return respond_problem(r, 403, why);
    }
    if (rt->kind == ROUTE_COMMAND && !auth_role_allowed(&r->actor, rt->roles)) {
        snprintf(why, sizeof(why), "role %s may not send %s", role_name(r->actor.role), rt->type);
        return respond_problem(r, 403, why);
    }

    if (rt->kind == ROUTE_COMMAND || rt->kind == ROUTE_BATCH)
        take_traceparent(r);
    int obst = take_on_behalf_of(r, why, sizeof(why));
    if (obst)
        return respond_problem(r, obst, why);

    const char *ik = header(r, "Idempotency-Key");
    if (ik) {
        if (!idem_key_valid(ik))
            return respond_problem(r, 400,
                                   "Idempotency-Key must be 1-128 visible ASCII characters");
        snprintf(r->idem_key, sizeof(r->idem_key), "%s", ik);
        r->has_idem = true;
    }
    if (s->d.waiters)
        r->wait_s = prefer_wait(header(r, "Prefer"));

    if (r->content_length > (unsigned long long)s->d.cfg->api_body_limit) {
        snprintf(why, sizeof(why), "the body is over the limit of %ld bytes",
                 s->d.cfg->api_body_limit);
        return respond_problem(r, 413, why);
    }
    if (r->has_body && !content_type_ok(header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return respond_problem(r, 415, "the body must be application/json");
    return MHD_YES;
}

static void on_body(struct req *r, const char *data, size_t n)
{
    long limit = r->srv->d.cfg->api_body_limit;
    if (r->too_large || r->len + n > (size_t)limit) {
        r->too_large = true;
        r->discarded += (long)n;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > (size_t)limit)
            cap = (size_t)limit;
        r->body = xrealloc(r->body, cap);
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

/* The delivery report (or deadline) thread: wake the connection up. */
static void on_published(void *opaque, enum pub_result res)
{
    struct req *r = opaque;
    pthread_mutex_lock(&r->mu);
    r->published = true;
    r->result = res;
    if (r->suspended) {
        r->suspended = false;
        atomic_fetch_sub(&r->srv->suspended, 1);
        MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&r->mu);
}

/* The waiters' thread (or the drain): the verdicts, or the deadline. */
static void on_waited(void *opaque, json_t *docs, bool all_done)
{
    struct req *r = opaque;
    pthread_mutex_lock(&r->mu);
    r->wait_docs = docs;
    r->wait_all_done = all_done;
    r->wait_ready = true;
    if (r->suspended) {
        r->suspended = false;
        atomic_fetch_sub(&r->srv->suspended, 1);
        MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&r->mu);
}

/* The access record's delivery report is in: the read's answer, or 503
 * when the record could not be stored (no client data leaves without it). */
static enum MHD_Result answer_recorded_read(struct req *r)
{
    struct read_res res = r->read_pending;
    memset(&r->read_pending, 0, sizeof(r->read_pending));
    if (r->result == PUB_OK)
        return answer_read(r, &res);
    read_res_free(&res);
    LOG_WARN("access record not acknowledged: read refused", "path", r->path, "traceparent",
             r->traceparent, NULL);
    return respond_problem_h(r, 503,
                             "the access record of this read could not be stored; the data is "
                             "not answered without it: try again",
                             NULL, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_UNAVAILABLE);
}

/* After the wait: 200 / 422 with the verdicts, or 202 when N passed. */
static enum MHD_Result answer_waited(struct req *r)
{
    const char *rh = r->replayed ? "Idempotent-Replayed" : NULL;
    json_t *docs = r->wait_docs;
    if (!r->wait_all_done || !docs)
        return respond_json(r, 202, answer_secrets(r, json_incref(r->accepted)), rh, "true");
    if (!r->wait_batch_form && json_array_size(docs) == 1) {
        const json_t *doc = json_array_get(docs, 0);
        const char *st = json_string_value(json_object_get(doc, "status"));
        if (st && strcmp(st, "rejected") == 0) {
            const char *reason = json_string_value(json_object_get(doc, "reason"));
            json_t *p = problem_new(422, reason ? reason : "rejected", NULL);
            json_object_set_new(p, "type", json_string(PROBLEM_TYPE_BASE "rejected"));
            json_object_set(p, "command_id", json_object_get(doc, "command_id"));
            char *body = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(15));
            json_decref(p);
            if (!body)
                return MHD_NO;
            return respond_raw(r, 422, CT_PROBLEM, body, strlen(body), rh, "true");
        }
        return respond_json(r, 200, answer_secrets(r, read_command_public(doc)), rh, "true");
    }
    json_t *list = json_array();
    size_t i;
    json_t *doc;
    json_array_foreach(docs, i, doc) json_array_append_new(list, read_command_public(doc));
    return respond_json(r, 200, answer_secrets(r, json_pack("{s:o}", "commands", list)), rh,
                        "true");
}

/* Prefer: wait - suspend until every command of wait_ids has its verdict or
 * the deadline (arrival + N s) passes. */
static enum MHD_Result start_wait(struct req *r)
{
    struct api_server *s = r->srv;
    long long deadline =
        (long long)r->t0.tv_sec * 1000 + r->t0.tv_nsec / 1000000 + (long long)r->wait_s * 1000;
    size_t n = json_array_size(r->wait_ids);
    if (atomic_load(&s->draining) || n == 0 || deadline <= clock_mono_ms())
        return answer_waited(r); /* not ready: 202 */
    const char **ids = xcalloc(n, sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_array_get(r->wait_ids, i));
    r->phase = PH_WAITCMD;
    waiters_wait(s->d.waiters, ids, n, deadline, on_waited, r);
    free(ids);
    /* Suspend under r->mu so the waiters' resume always follows it. */
    pthread_mutex_lock(&r->mu);
    if (r->wait_ready) {
        pthread_mutex_unlock(&r->mu);
        return answer_waited(r);
    }
    r->suspended = true;
    atomic_fetch_add(&s->suspended, 1);
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&r->mu);
    return MHD_YES;
}

/* A replayed 202 with Prefer: wait waits for the first request's commands. */
static bool replay_wait_ids(struct req *r, const json_t *stored)
{
    json_t *ids = json_array();
    const json_t *list = json_object_get(stored, "commands");
    if (json_is_array(list)) {
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            const char *id = json_string_value(json_object_get(c, "command_id"));
            if (id)
                json_array_append_new(ids, json_string(id));
        }
        r->wait_batch_form = true;
    } else if (json_string_value(json_object_get(stored, "command_id"))) {
        json_array_append(ids, json_object_get(stored, "command_id"));
    }
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return false;
    }
    r->wait_ids = ids;
    return true;
}

static enum MHD_Result answer_published(struct req *r)
{
    struct api_server *s = r->srv;
    if (r->result == PUB_OK) {
        r->accepted = cmd_accepted_json(&r->batch);
        /* The acceptance is the answer an Idempotency-Key replays, whatever
         * a wait then adds. */
        if (r->has_idem && idem_complete(s->d.idem, &r->actor, r->idem_key, 202, r->accepted) < 0)
            LOG_DEBUG("idempotency record not completed (Redis down?): a retry republishes "
                      "the same ids",
                      "command_id", r->first_command_id, NULL);
        cmd_status_accepted(s->d.status, &r->batch, &r->actor);
        if (r->wait_s > 0) {
            r->wait_ids = json_array();
            for (size_t i = 0; i < r->batch.n; i++)
                json_array_append_new(r->wait_ids, json_string(r->batch.items[i].command_id));
            r->wait_batch_form = r->batch.batch_form;
            return start_wait(r);
        }
        return respond_json(r, 202, answer_secrets(r, json_incref(r->accepted)), NULL, NULL);
    }
    if (r->has_idem)
        idem_fail(s->d.idem, &r->actor, r->idem_key);
    /* The command went to the producer: a broker that stored it but died
     * before acknowledging (or an acknowledgement past the deadline) means
     * it may still be applied. The answer says so and names the command so
     * the client can look it up (docs/operations.md, scripts/chaos). */
    json_t *p = problem_new(503,
                            r->result == PUB_TIMEOUT
                                ? "Kafka did not acknowledge the command in time; it may still "
                                  "be applied: see GET /v1/commands/{command_id}"
                                : "Kafka did not acknowledge the command; it may still be "
                                  "applied: see GET /v1/commands/{command_id}",
                            NULL);
    json_object_set_new(p, "command_id", json_string(r->first_command_id));
    json_object_set_new(p, "outcome", json_string("unknown"));
    char *txt = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(p);
    if (!txt)
        return MHD_NO;
    return respond_raw(r, 503, CT_PROBLEM, txt, strlen(txt), MHD_HTTP_HEADER_RETRY_AFTER,
                       RETRY_AFTER_UNAVAILABLE);
}

static enum MHD_Result respond_cmd_error(struct req *r, struct cmd_error *e)
{
    json_t *errs = e->errors;
    e->errors = NULL;
    return respond_problem_h(r, e->status, e->detail, errs, NULL, NULL);
}

/* The access record of a command about a client (api/access.h), or NULL
 * for every other command (new reference). The client is the data's
 * (voucher.grant, order.create); for a command on an existing voucher or
 * order the audit worker takes it from the row. */
static json_t *command_record(void *ctx, const struct cmd_item *it)
{
    struct req *r = ctx;
    const char *type = access_command_resource(it->row);
    if (!type)
        return NULL;
    const char *org = json_string_value(json_object_get(it->data, "organiser_id"));
    struct access_rec a = {.actor = &r->actor,
                           .action = "command",
                           .resource_type = type,
                           .resource_id = it->key,
                           .organiser_id = org,
                           .client_id = json_string_value(json_object_get(it->data, "client_id")),
                           .on_behalf_of = r->on_behalf_of,
                           .status = 202,
                           .ip = r->ip,
                           .traceparent = r->traceparent};
    return access_record_json(&a);
}

/* The whole body is in: parse, validate, claim the key, publish, suspend. */
static enum MHD_Result on_complete(struct req *r)
{
    struct api_server *s = r->srv;
    char why[256];
    struct cmd_error e = {0};

    if (r->too_large) {
        snprintf(why, sizeof(why), "the body is over the limit of %ld bytes",
                 s->d.cfg->api_body_limit);
        return respond_problem(r, 413, why);
    }
    json_t *body = NULL;
    if (r->len > 0) {
        enum json_strict_fail fail;
        body =
            json_strict_parse_ex(r->body, r->len, JSON_STRICT_MAX_DEPTH, &fail, why, sizeof(why));
        if (!body)
            return respond_problem(r, fail == JSON_STRICT_OUT_OF_RANGE ? 422 : 400, why);
    }
    int rc =
        r->m.route->kind == ROUTE_COMMAND
            ? cmd_from_route(&r->m, body, &r->actor, s->d.reg, &r->batch, &e)
            : cmd_from_commands(body ? body : json_object(), &r->actor, s->d.reg, &r->batch, &e);
    if (rc < 0)
        return respond_cmd_error(r, &e);
    int kst = key_may_send(r, why, sizeof(why));
    if (kst)
        return respond_problem(r, kst, why);
    if ((kst = check_mandate(r, why, sizeof(why))) != 0)
        return kst == 503 ? respond_problem_h(r, 503, why, NULL, MHD_HTTP_HEADER_RETRY_AFTER,
                                              RETRY_AFTER_UNAVAILABLE)
                          : respond_problem(r, kst, why);
    if (make_secrets(r, &e) < 0)
        return respond_cmd_error(r, &e);

    if (r->has_idem) {
        /* Ids derived from (principal, key, request): a retry publishes the
         * same ones whatever Redis remembers (idem_key.h). */
        char principal[PRINCIPAL_MAX];
        principal_text(&r->actor, principal);
        idem_fingerprint(r->method, r->path, r->body ? r->body : "", r->len, r->idem_fp);
        json_t *derived = idem_derived_ids(principal, r->idem_key, r->idem_fp, r->batch.n);
        cmd_assign_ids(&r->batch, derived);
        json_decref(derived);
        json_t *ids = cmd_ids_json(&r->batch), *prev = NULL, *stored = NULL;
        int st = 0;
        enum idem_claim c =
            idem_claim(s->d.idem, &r->actor, r->idem_key, r->idem_fp, ids, &prev, &st, &stored);
        json_decref(ids);
        if (has_secrets(r) && c != IDEM_NEW && c != IDEM_REPLAY && c != IDEM_CONFLICT) {
            /* An integration key's secret is made anew by each attempt, and
             * the workers keep the first attempt's: a second answer could
             * hand out a secret that never works (docs/api-decisions.md). */
            json_decref(prev);
            if (c == IDEM_UNKNOWN)
                return respond_problem_h(r, 503,
                                         "an API key is created with an Idempotency-Key only "
                                         "while its claim can be recorded; try again",
                                         NULL, MHD_HTTP_HEADER_RETRY_AFTER,
                                         RETRY_AFTER_UNAVAILABLE);
            return respond_problem(r, 409,
                                   "the first request with this Idempotency-Key is still in "
                                   "flight; see GET /v1/commands/{command_id}");
        }
        switch (c) {
        case IDEM_NEW:
        case IDEM_UNKNOWN: /* Redis could not tell: the workers will (idempotency.h) */
            break;
        case IDEM_RETRY:
            cmd_assign_ids(&r->batch, prev);
            json_decref(prev);
            break;
        case IDEM_REPLAY:
            secrets_free(r); /* the first answer had the key's text; a replay has not */
            if (r->wait_s > 0 && st == 202 && replay_wait_ids(r, stored)) {
                r->replayed = true;
                r->accepted = stored;
                return start_wait(r);
            }
            return respond_json(r, st, stored, "Idempotent-Replayed", "true");
        case IDEM_CONFLICT:
            return respond_problem(r, 409, "Idempotency-Key was used with another request");
        case IDEM_BUSY:
            /* The first request is in flight, or died with it (a replica
             * killed, HAProxy's retry on the other): publish again with the
             * same derived ids, the workers apply the command once. */
            json_decref(prev);
            break;
        }
    } else {
        cmd_assign_ids(&r->batch, NULL);
    }
    char received_at[32];
    cmd_now_rfc3339(received_at);
    struct cmd_origin origin = {.received_at = received_at,
                                .idem_key = r->has_idem ? r->idem_key : NULL,
                                .request_digest = r->has_idem ? r->idem_fp : NULL,
                                .traceparent = r->traceparent[0] ? r->traceparent : NULL,
                                .envelope_version = s->d.cfg->envelope_version,
                                .access_of = command_record,
                                .access_ctx = r};
    r->batch.on_behalf_of = r->on_behalf_of[0] ? r->on_behalf_of : NULL;
    if (cmd_finalize(&r->batch, &r->actor, &origin, &e) < 0) {
        if (r->has_idem)
            idem_fail(s->d.idem, &r->actor, r->idem_key);
        return respond_cmd_error(r, &e);
    }
    snprintf(r->first_command_id, sizeof(r->first_command_id), "%s", r->batch.items[0].command_id);

    /* Each command and, for a command about a client whose envelope does
     * not carry its access record (envelope_version below 5), the record:
     * acknowledged together or the request is a 503. */
    struct pub_msg *msgs = xcalloc(2 * r->batch.n, sizeof(*msgs));
    char **recs = xcalloc(r->batch.n, sizeof(*recs));
    json_t **rec_json = xcalloc(r->batch.n, sizeof(*rec_json));
    size_t nm = 0;
    for (size_t i = 0; i < r->batch.n; i++) {
        const struct cmd_item *it = &r->batch.items[i];
        msgs[nm++] = (struct pub_msg){it->row->topic, it->key, it->payload, it->payload_len};
        json_t *rec = rec_json[i] = it->access_inside ? NULL : command_record(r, it);
        if (rec) {
            recs[i] = json_dumps(rec, JSON_COMPACT);
            msgs[nm].topic = TOPIC_AUDIT;
            msgs[nm].key = access_record_key(rec);
            msgs[nm].payload = recs[i];
            msgs[nm].len = strlen(recs[i]);
            nm++;
        }
    }
    r->phase = PH_WAIT;
    pub_send_all(s->d.pub, msgs, nm, on_published, r);
    for (size_t i = 0; i < r->batch.n; i++) {
        free(recs[i]);
        json_decref(rec_json[i]);
    }
    free(recs);
    free(rec_json);
    free(msgs);
    return suspend_until_published(r, answer_published);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct api_server *s = cls;
    struct req *r = *con_cls;
    if (!r || !r->started) {
        if (!r)
            r = xcalloc(1, sizeof(*r));
        r->started = true;
        r->srv = s;
        r->conn = conn;
        r->route_index = -1;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        pthread_mutex_init(&r->mu, NULL);
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->path, sizeof(r->path), "%s", url);
        conn_peer_ip(conn, r->ip, sizeof(r->ip));
        conn_guard_headers_in(conn);
        *con_cls = r;
        metrics_inflight_add(s->d.metrics, 1);
        r->phase = PH_HEADERS;
        enum MHD_Result ok = on_headers(r, url, method);
        if (r->phase == PH_HEADERS) /* nothing decided yet: read the body */
            r->phase = PH_BODY;
        return ok;
    }
    switch (r->phase) {
    case PH_HEADERS:
        break;
    case PH_DEFERRED: {
        enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, r->deferred);
        MHD_destroy_response(r->deferred);
        r->deferred = NULL;
        r->phase = PH_ANSWERED;
        *upload_data_size = 0;
        return ok;
    }
    case PH_BODY:
        if (*upload_data_size) {
            /* libmicrohttpd's timeout is an idle one: a body trickling in a
             * byte at a time would hold the connection for ever. The whole
             * body gets api_conn_timeout_s from the request's start. */
            if ((clock_since_ms(&r->t0) / 1000.0) > (double)s->d.cfg->api_conn_timeout_s) {
                /* libmicrohttpd 0.9.75 cannot send an answer before the
                 * body is in: the connection is closed (logged as 408). */
                r->status = 408;
                LOG_WARN("request body too slow: connection closed", "ip", r->ip, NULL);
                return MHD_NO;
            }
            on_body(r, upload_data, *upload_data_size);
            *upload_data_size = 0;
            if (r->too_large && r->discarded > DISCARD_SLACK)
                return MHD_NO; /* a client that keeps sending gets cut off */
            return MHD_YES;
        }
        return on_complete(r);
    case PH_WAIT:
    case PH_WAITREAD: {
        pthread_mutex_lock(&r->mu);
        bool ready = r->published;
        pthread_mutex_unlock(&r->mu);
        if (!ready)
            return MHD_YES;
        return r->phase == PH_WAIT ? answer_published(r) : answer_recorded_read(r);
    }
    case PH_WAITCMD: {
        pthread_mutex_lock(&r->mu);
        bool ready = r->wait_ready;
        pthread_mutex_unlock(&r->mu);
        if (!ready)
            return MHD_YES;
        return answer_waited(r);
    }
    case PH_ANSWERED:
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *s = cls;
    conn_guard_request_done(conn); /* the next request's headers are timed from now */
    struct req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (!r->started) { /* closed between the request line and the handler */
        free(r);
        return;
    }
    double secs = (clock_since_ms(&r->t0) / 1000.0);
    int status = r->status ? r->status : 499; /* closed before an answer */
    metrics_request(s->d.metrics, r->route_index, status, secs);
    metrics_inflight_add(s->d.metrics, -1);

    char st[8], ms[32], n[16];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(ms, sizeof(ms), "%.3f", secs * 1000);
    snprintf(n, sizeof(n), "%zu", r->batch.n);
    LOG_INFO("request", "method", r->method, "path", r->path, "route",
             r->route_index >= 0 ? r->m.route->pattern : NULL, "status", st, "ms", ms, "ip", r->ip,
             "sub", r->authed ? r->actor.sub : NULL, "command_id",
             r->first_command_id[0] ? r->first_command_id : NULL, "traceparent",
             r->traceparent[0] ? r->traceparent : NULL, "commands", n, "termination",
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted", NULL);

    if (r->deferred)
        MHD_destroy_response(r->deferred);
    secrets_free(r);
    cmd_batch_free(&r->batch);
    json_decref(r->accepted);
    json_decref(r->wait_ids);
    json_decref(r->wait_docs);
    read_res_free(&r->read_pending);
    free(r->body);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ----------------------------------------------------------------- daemon */

/* The raw request target, before decoding: its verdict rides in the
 * request's struct, which on_request then sets up. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct req *r = xcalloc(1, sizeof(*r));
    r->raw_uri = raw_uri_check(uri);
    return r;
}

/* libmicrohttpd's own messages, as JSON lines like everything else. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    LOG_WARN("libmicrohttpd", "detail", buf, NULL);
}

struct api_server *api_server_start(const struct api_deps *deps, char *err, size_t errlen)
{
    const struct psop_config *cfg = deps->cfg;
    struct api_server *s = xcalloc(1, sizeof(*s));
    s->d = *deps;

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const char *addr =
        cfg->api_listen_addr && *cfg->api_listen_addr ? cfg->api_listen_addr : "0.0.0.0";
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->api_port);
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->api_port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "api_listen_addr '%s' is not an IP address", addr);
        free(s);
        return NULL;
    }

    unsigned threads = cfg->api_threads > 0 ? (unsigned)cfg->api_threads : 1;
    s->guard = conn_guard_new(cfg->api_conn_timeout_s * 1000LL + CONN_GUARD_SLACK_MS);
    if (!s->guard) {
        snprintf(err, errlen, "cannot start the connection guard's thread");
        free(s);
        return NULL;
    }
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->api_port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->api_conn_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->api_per_ip_conn_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->api_conn_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_CONNECTION,
        conn_guard_notify, s->guard, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "cannot listen on %s:%d", addr, cfg->api_port);
        conn_guard_free(s->guard);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->api_port;
    return s;
}

int api_server_port(const struct api_server *s)
{
    return s->port;
}

void api_server_set_draining(struct api_server *s)
{
    atomic_store(&s->draining, 1);
    /* Waiting requests answer 202 now; new ones do not wait. */
    if (s->d.waiters)
        waiters_expire_all(s->d.waiters);
}

void api_server_quiesce(struct api_server *s)
{
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

long api_server_wait_idle(struct api_server *s, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long n = metrics_inflight(s->d.metrics);
        long susp = atomic_load(&s->suspended);
        /* Suspended connections must be resumed before MHD_stop_daemon;
         * the publish deadline guarantees they are, so wait for them always. */
        if (susp == 0 && (n == 0 || (clock_since_ms(&t0) / 1000.0) * 1000 >= timeout_ms))
            return n;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void api_server_stop(struct api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->mhd);
    conn_guard_free(s->guard);
    free(s);
}
