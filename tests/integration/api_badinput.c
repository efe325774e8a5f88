/*
 * Integration: malformed and unauthorised requests against a running
 * psop-api. A table of requests, each with the status and problem body the
 * error table of api.md promises. None of them may reach Kafka; most never
 * get that far, so the suite runs with or without a broker.
 */
#include <criterion/criterion.h>

#include "api_testlib.h"

/* Rows leave their optional trailing fields out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define ORG "0190a0b0-0000-7000-8000-00000000000a"
#define ORG2 "0190a0b0-0000-7000-8000-0000000000a2"
#define PROV "0190a0b0-0000-7000-8000-00000000000b"
#define VOU "0190a0b0-0000-7000-8000-00000000000c"
#define EVT "0190a0b0-0000-7000-8000-00000000000d"

#define GRANT_OK                                                                                   \
    "\"organiser_id\":\"" ORG "\",\"client_id\":\"asiakas-1\",\"service_type\":\"kotihoito\","     \
    "\"decision_number\":\"D-1\",\"valid_from\":\"2025-01-01\",\"unit_value_cents\":3000"
#define ORGANISER_OK                                                                               \
    "\"name\":\"Testikunta\",\"invoice_prefix\":\"TK\",\"settlement_day\":5,"                      \
    "\"auto_approve_days\":7"

enum tok {
    T_NONE,
    T_ORG,
    T_ORG_NOORG,
    T_CLIENT,
    T_PROV,
    T_ADMIN,
    T_EXPIRED,
    T_BADSIG,
    T_ALGNONE,
    T_HS512,
    T_NOEXP,
    T_BASIC,
    T_GARBAGE,
};

enum gen {
    G_NONE,
    G_DEEP33,    /* 33 nested arrays */
    G_DEEP100K,  /* 100 000 '[' */
    G_BIG,       /* a body over the 1 MiB limit, Content-Length honest */
    G_CL_LIE,    /* Content-Length: 2 MiB, a few bytes sent */
    G_CHUNKED,   /* chunked transfer over the limit */
    G_BATCH_501, /* 501 commands */
    G_LONG_IDEM, /* 129-char Idempotency-Key */
};

struct row {
    const char *name;
    const char *method, *path;
    enum tok tok;
    const char *ctype; /* NULL: no Content-Type */
    const char *body;  /* NULL: no body */
    const char *extra; /* extra header lines */
    enum gen gen;
    int status;
    const char *err_path; /* an errors[].path that must be present */
    const char *header;   /* a header that must be present */
};

static const struct row rows[] = {
    /* 400: not JSON, not UTF-8, too deep, duplicate keys */
    {"not json", "POST", "/v1/vouchers", T_ORG, "application/json", "{", NULL, G_NONE, 400},
    {"a bare word", "POST", "/v1/vouchers", T_ORG, "application/json", "nope", NULL, G_NONE, 400},
    {"trailing garbage", "POST", "/v1/vouchers", T_ORG, "application/json", "{} x", NULL, G_NONE,
     400},
    {"truncated body", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\",\"client_", NULL, G_NONE, 400},
    {"truncated string", "POST", "/v1/vouchers", T_ORG, "application/json", "{\"a\":\"abc", NULL,
     G_NONE, 400},
    {"invalid utf-8 byte", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"client_id\":\"\xff\"}", NULL, G_NONE, 400},
    {"overlong utf-8", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"client_id\":\"\xc0\xaf\"}", NULL, G_NONE, 400},
    {"utf-8 surrogate", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"client_id\":\"\xed\xa0\x80\"}", NULL, G_NONE, 400},
    {"truncated utf-8 sequence", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"client_id\":\"\xe2\x82\"}", NULL, G_NONE, 400},
    {"nesting 33 deep", "POST", "/v1/vouchers", T_ORG, "application/json", NULL, NULL, G_DEEP33,
     400},
    {"nesting 100000 deep", "POST", "/v1/vouchers", T_ORG, "application/json", NULL, NULL,
     G_DEEP100K, 400},
    {"duplicate keys", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{" GRANT_OK ",\"client_id\":\"other\"}", NULL, G_NONE, 400},
    {"nested duplicate keys", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"income\":{\"household_size\":1,\"household_size\":2}}", NULL, G_NONE, 400},
    {"NUL escaped in a string", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"client_id\":\"a\\u0000b\"}", NULL, G_NONE, 400},
    {"lone surrogate escape", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"client_id\":\"\\ud800\"}", NULL, G_NONE, 400},
    /* Valid JSON beyond int64: out of range (422), not malformed (issue 14 item 8). */
    {"number out of range", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"unit_value_cents\":1e400}", NULL, G_NONE, 422},
    {"integer of 2^63", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"unit_value_cents\":9223372036854775808}", NULL, G_NONE, 422},
    {"Idempotency-Key too long", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{" GRANT_OK "}", NULL, G_LONG_IDEM, 400},
    {"Idempotency-Key with a space", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{" GRANT_OK "}", "Idempotency-Key: a b\r\n", G_NONE, 400},
    {"batch not json", "POST", "/v1/commands", T_ORG, "application/json", "[1,2", NULL, G_NONE,
     400},

    /* 401 */
    {"no token", "POST", "/v1/vouchers", T_NONE, "application/json", "{" GRANT_OK "}", NULL, G_NONE,
     401, NULL, "WWW-Authenticate"},
    {"basic auth", "POST", "/v1/vouchers", T_BASIC, "application/json", "{" GRANT_OK "}", NULL,
     G_NONE, 401},
    {"garbage token", "POST", "/v1/vouchers", T_GARBAGE, "application/json", "{" GRANT_OK "}", NULL,
     G_NONE, 401},
    {"expired token", "POST", "/v1/vouchers", T_EXPIRED, "application/json", "{" GRANT_OK "}", NULL,
     G_NONE, 401},
    {"bad signature", "POST", "/v1/vouchers", T_BADSIG, "application/json", "{" GRANT_OK "}", NULL,
     G_NONE, 401},
    {"alg none", "POST", "/v1/vouchers", T_ALGNONE, "application/json", "{" GRANT_OK "}", NULL,
     G_NONE, 401},
    {"alg HS512", "POST", "/v1/vouchers", T_HS512, "application/json", "{" GRANT_OK "}", NULL,
     G_NONE, 401},
    {"no exp", "POST", "/v1/vouchers", T_NOEXP, "application/json", "{" GRANT_OK "}", NULL, G_NONE,
     401},
    {"batch without token", "POST", "/v1/commands", T_NONE, "application/json",
     "{\"type\":\"voucher.refuse\",\"data\":{\"voucher_id\":\"" VOU "\"}}", NULL, G_NONE, 401},

    /* 403 */
    {"client may not grant", "POST", "/v1/vouchers", T_CLIENT, "application/json", "{" GRANT_OK "}",
     NULL, G_NONE, 403},
    {"provider may not upsert organisers", "PUT", "/v1/organisers/" ORG, T_PROV, "application/json",
     "{" ORGANISER_OK "}", NULL, G_NONE, 403},
    {"organiser_id contradicts org", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG2 "\",\"client_id\":\"a\",\"service_type\":\"kotihoito\","
     "\"decision_number\":\"D\",\"valid_from\":\"2025-01-01\",\"unit_value_cents\":1}",
     NULL, G_NONE, 403},
    {"path provider contradicts token", "POST", "/v1/providers/" EVT "/applications", T_PROV,
     "application/json",
     "{\"organiser_id\":\"" ORG "\",\"service_type\":\"kotihoito\",\"rulebook_version\":\"1\"}",
     NULL, G_NONE, 403},
    /* The token's actor fails the envelope schema: refused as a token (401). */
    {"organiser token without org", "POST", "/v1/vouchers", T_ORG_NOORG, "application/json",
     "{" GRANT_OK "}", NULL, G_NONE, 401},
    {"batch type not allowed for role", "POST", "/v1/commands", T_CLIENT, "application/json",
     "{\"commands\":[{\"type\":\"voucher.refuse\",\"data\":{\"voucher_id\":\"" VOU "\"}},"
     "{\"type\":\"voucher.grant\",\"data\":{" GRANT_OK "}}]}",
     NULL, G_NONE, 403},
    {"batch claim contradiction", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"type\":\"settlement.run\",\"data\":{\"organiser_id\":\"" ORG2
     "\",\"period\":\"2025-01\"}}",
     NULL, G_NONE, 403},

    /* 404 */
    {"unknown route", "POST", "/v1/nothing", T_ORG, "application/json", "{}", NULL, G_NONE, 404},
    {"trailing slash", "POST", "/v1/vouchers/", T_ORG, "application/json", "{}", NULL, G_NONE, 404},
    {"root", "GET", "/", T_NONE, NULL, NULL, NULL, G_NONE, 404},
    {"empty segment", "POST", "/v1/vouchers//refusal", T_CLIENT, NULL, NULL, NULL, G_NONE, 404},
    {"other version", "POST", "/v2/vouchers", T_ORG, "application/json", "{}", NULL, G_NONE, 404},

    /* 405 */
    {"GET a command route", "GET", "/v1/service-events/auto-approval", T_ORG, NULL, NULL, NULL,
     G_NONE, 405, NULL, "Allow"},
    {"DELETE an upsert route", "DELETE", "/v1/organisers/" ORG, T_ADMIN, NULL, NULL, NULL, G_NONE,
     405, NULL, "Allow"},
    {"POST a health route", "POST", "/healthz", T_NONE, "application/json", "{}", NULL, G_NONE, 405,
     NULL, "Allow"},

    /* 413 */
    {"Content-Length over the limit", "POST", "/v1/vouchers", T_ORG, "application/json", NULL, NULL,
     G_CL_LIE, 413},
    {"honest body over the limit", "POST", "/v1/vouchers", T_ORG, "application/json", NULL, NULL,
     G_BIG, 413},
    {"chunked body over the limit", "POST", "/v1/vouchers", T_ORG, "application/json", NULL, NULL,
     G_CHUNKED, 413},

    /* 415 */
    {"text/plain", "POST", "/v1/vouchers", T_ORG, "text/plain", "{" GRANT_OK "}", NULL, G_NONE,
     415},
    {"no content type", "POST", "/v1/vouchers", T_ORG, NULL, "{" GRANT_OK "}", NULL, G_NONE, 415},
    {"latin-1 charset", "POST", "/v1/vouchers", T_ORG, "application/json; charset=iso-8859-1",
     "{" GRANT_OK "}", NULL, G_NONE, 415},
    {"application/jsonx", "POST", "/v1/vouchers", T_ORG, "application/jsonx", "{" GRANT_OK "}",
     NULL, G_NONE, 415},
    {"form encoded", "POST", "/v1/vouchers", T_ORG, "application/x-www-form-urlencoded", "a=b",
     NULL, G_NONE, 415},

    /* 422 */
    {"unknown field", "POST", "/v1/vouchers", T_ORG, "application/json", "{" GRANT_OK ",\"foo\":1}",
     NULL, G_NONE, 422, "/foo"},
    {"missing required field", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\"}", NULL, G_NONE, 422},
    {"wrong type", "POST", "/v1/vouchers/" VOU "/service-events", T_PROV, "application/json",
     "{\"date\":\"2025-01-01\",\"quantity\":\"two\"}", NULL, G_NONE, 422, "/quantity"},
    {"three decimals", "POST", "/v1/vouchers/" VOU "/service-events", T_PROV, "application/json",
     "{\"date\":\"2025-01-01\",\"quantity\":1.005}", NULL, G_NONE, 422, "/quantity"},
    {"quantity zero", "POST", "/v1/vouchers/" VOU "/service-events", T_PROV, "application/json",
     "{\"date\":\"2025-01-01\",\"quantity\":0}", NULL, G_NONE, 422, "/quantity"},
    {"negative cents", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\",\"client_id\":\"a\",\"service_type\":\"kotihoito\","
     "\"decision_number\":\"D\",\"valid_from\":\"2025-01-01\",\"unit_value_cents\":-1}",
     NULL, G_NONE, 422, "/unit_value_cents"},
    {"cents as a float", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\",\"client_id\":\"a\",\"service_type\":\"kotihoito\","
     "\"decision_number\":\"D\",\"valid_from\":\"2025-01-01\",\"unit_value_cents\":10.5}",
     NULL, G_NONE, 422, "/unit_value_cents"},
    {"bad Y-tunnus checksum", "PUT", "/v1/organisers/" ORG, T_ADMIN, "application/json",
     "{" ORGANISER_OK ",\"business_id\":\"1234567-2\",\"iban\":\"FI2112345600000785\"}", NULL,
     G_NONE, 422, "/business_id"},
    {"bad IBAN checksum", "PUT", "/v1/organisers/" ORG, T_ADMIN, "application/json",
     "{" ORGANISER_OK ",\"business_id\":\"1234567-1\",\"iban\":\"FI2112345600000786\"}", NULL,
     G_NONE, 422, "/iban"},
    {"bad date", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\",\"client_id\":\"a\",\"service_type\":\"kotihoito\","
     "\"decision_number\":\"D\",\"valid_from\":\"2025-02-30\",\"unit_value_cents\":1}",
     NULL, G_NONE, 422, "/valid_from"},
    {"bad date in the path", "PUT", "/v1/holidays/2025-13-01", T_ADMIN, "application/json",
     "{\"name\":\"x\"}", NULL, G_NONE, 422, "/date"},
    {"bad uuid in the path", "POST", "/v1/vouchers/not-a-uuid/refusal", T_CLIENT, NULL, NULL, NULL,
     G_NONE, 422, "/voucher_id"},
    {"non-utf-8 path parameter", "POST", "/v1/vouchers/%ff/refusal", T_CLIENT, NULL, NULL, NULL,
     G_NONE, 422, "/voucher_id"},
    {"path and body disagree", "PATCH", "/v1/vouchers/" VOU "/service-events/" EVT, T_PROV,
     "application/json", "{\"voucher_id\":\"" EVT "\",\"quantity\":1}", NULL, G_NONE, 422,
     "/voucher_id"},
    {"personal identity code as client id", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\",\"client_id\":\"010190-123A\",\"service_type\":\"kotihoito\","
     "\"decision_number\":\"D\",\"valid_from\":\"2025-01-01\",\"unit_value_cents\":1}",
     NULL, G_NONE, 422, "/client_id"},
    {"body is an array", "POST", "/v1/vouchers", T_ORG, "application/json", "[]", NULL, G_NONE,
     422},
    {"both value kinds", "POST", "/v1/vouchers", T_ORG, "application/json",
     "{" GRANT_OK ",\"income\":{\"household_size\":1,\"monthly_income_cents\":1}}", NULL, G_NONE,
     422},
    {"enum violated", "POST", "/v1/providers/" PROV "/decisions", T_ORG, "application/json",
     "{\"organiser_id\":\"" ORG "\",\"service_type\":\"kotihoito\",\"decision\":\"maybe\"}", NULL,
     G_NONE, 422, "/decision"},
    {"batch empty", "POST", "/v1/commands", T_ORG, "application/json", "{\"commands\":[]}", NULL,
     G_NONE, 422, "/commands"},
    {"batch of 501", "POST", "/v1/commands", T_ORG, "application/json", NULL, NULL, G_BATCH_501,
     422, "/commands"},
    {"batch commands not an array", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"commands\":\"x\"}", NULL, G_NONE, 422, "/commands"},
    {"batch unknown type", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"commands\":[{\"type\":\"voucher.steal\",\"data\":{}}]}", NULL, G_NONE, 422,
     "/commands/0/type"},
    {"batch item without data", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"commands\":[{\"type\":\"voucher.revoke\"}]}", NULL, G_NONE, 422, "/commands/0/data"},
    {"batch unknown top-level field", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"commands\":[{\"type\":\"settlement.confirm\",\"data\":{\"settlement_id\":\"" EVT
     "\"}}],\"extra\":1}",
     NULL, G_NONE, 422, "/extra"},
    {"batch one bad item of two", "POST", "/v1/commands", T_PROV, "application/json",
     "{\"commands\":[{\"type\":\"service_event.record\",\"data\":{\"voucher_id\":\"" VOU
     "\",\"date\":\"2025-01-01\",\"quantity\":1}},{\"type\":\"service_event.record\",\"data\":{"
     "\"voucher_id\":\"" VOU "\",\"date\":\"2025-01-01\",\"quantity\":-1}}]}",
     NULL, G_NONE, 422, "/commands/1/data/quantity"},
    {"single form bad data", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"type\":\"settlement.run\",\"data\":{\"organiser_id\":\"" ORG "\",\"period\":\"2025-13\"}}",
     NULL, G_NONE, 422, "/data/period"},
    {"single form unknown field", "POST", "/v1/commands", T_ORG, "application/json",
     "{\"type\":\"settlement.run\",\"data\":{},\"x\":1}", NULL, G_NONE, 422, "/x"},
    {"batch body is a number", "POST", "/v1/commands", T_ORG, "application/json", "[1]", NULL,
     G_NONE, 422},
};
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static pid_t api_pid;
static int port;

static void start(void)
{
    port = tl_port(1);
    api_pid = tl_api_up(port);
}

static void stop(void)
{
    tl_api_down(&api_pid);
}

static char *token(enum tok t)
{
    char claims[256];
    long now = (long)time(NULL);
    switch (t) {
    case T_ORG:
        return tl_token("organiser", ORG, NULL, NULL, 300);
    case T_ORG_NOORG: /* lib/jwt_token refuses to mint this one */
        snprintf(claims, sizeof(claims), "{\"sub\":\"x\",\"role\":\"organiser\",\"exp\":%ld}",
                 now + 300);
        return tl_jwt("HS256", TL_SECRET, strlen(TL_SECRET), claims);
    case T_CLIENT:
        return tl_token("client", ORG, NULL, "asiakas-1", 300);
    case T_PROV:
        return tl_token("provider", NULL, PROV, NULL, 300);
    case T_ADMIN:
        return tl_token("admin", NULL, NULL, NULL, 300);
    case T_EXPIRED:
        return tl_token("organiser", ORG, NULL, NULL, -10);
    case T_BADSIG: {
        const char *k = "not-the-secret-but-long-enough-0123456789";
        snprintf(claims, sizeof(claims),
                 "{\"sub\":\"x\",\"role\":\"organiser\",\"org\":\"" ORG "\",\"exp\":%ld}",
                 now + 300);
        return tl_jwt("HS256", k, strlen(k), claims);
    }
    case T_ALGNONE:
        snprintf(claims, sizeof(claims),
                 "{\"sub\":\"x\",\"role\":\"organiser\",\"org\":\"" ORG "\",\"exp\":%ld}",
                 now + 300);
        return tl_jwt("none", NULL, 0, claims);
    case T_HS512:
        snprintf(claims, sizeof(claims),
                 "{\"sub\":\"x\",\"role\":\"organiser\",\"org\":\"" ORG "\",\"exp\":%ld}",
                 now + 300);
        return tl_jwt("HS512", TL_SECRET, strlen(TL_SECRET), claims);
    case T_NOEXP:
        return tl_jwt("HS256", TL_SECRET, strlen(TL_SECRET),
                      "{\"sub\":\"x\",\"role\":\"organiser\",\"org\":\"" ORG "\"}");
    default:
        return NULL;
    }
}

/* Builds the raw request of a row; returns a malloc'd buffer and its length. */
static char *build(const struct row *r, size_t *len)
{
    char *tok = token(r->tok);
    char *body = r->body ? strdup(r->body) : NULL;
    size_t blen = body ? strlen(body) : 0;
    switch (r->gen) {
    case G_DEEP33:
    case G_DEEP100K: {
        size_t d = r->gen == G_DEEP33 ? 33 : 100000;
        body = malloc(2 * d + 1);
        memset(body, '[', d);
        memset(body + d, ']', d);
        body[2 * d] = '\0';
        blen = 2 * d;
        break;
    }
    case G_BIG:
        blen = 1536 * 1024;
        body = malloc(blen + 1);
        body[0] = '[';
        for (size_t i = 1; i + 1 < blen; i++)
            body[i] = i % 2 ? '1' : ',';
        body[blen - 1] = ']';
        body[blen] = '\0';
        break;
    case G_BATCH_501: {
        const char *item =
            "{\"type\":\"settlement.confirm\",\"data\":{\"settlement_id\":\"" EVT "\"}}";
        size_t il = strlen(item);
        body = malloc(501 * (il + 1) + 64);
        strcpy(body, "{\"commands\":[");
        size_t n = strlen(body);
        for (int i = 0; i < 501; i++) {
            memcpy(body + n, item, il);
            n += il;
            body[n++] = i < 500 ? ',' : ']';
        }
        body[n++] = '}';
        body[n] = '\0';
        blen = n;
        break;
    }
    default:
        break;
    }
    size_t cap = blen + 4096 + (tok ? strlen(tok) : 0);
    char *req = malloc(cap);
    size_t n = (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
                                r->method, r->path);
    if (r->tok == T_BASIC)
        n += (size_t)snprintf(req + n, cap - n, "Authorization: Basic dXNlcjpwYXNz\r\n");
    else if (r->tok == T_GARBAGE)
        n += (size_t)snprintf(req + n, cap - n, "Authorization: Bearer abc\r\n");
    else if (tok)
        n += (size_t)snprintf(req + n, cap - n, "Authorization: Bearer %s\r\n", tok);
    if (r->ctype)
        n += (size_t)snprintf(req + n, cap - n, "Content-Type: %s\r\n", r->ctype);
    if (r->extra)
        n += (size_t)snprintf(req + n, cap - n, "%s", r->extra);
    if (r->gen == G_LONG_IDEM) {
        char k[130];
        memset(k, 'k', 129);
        k[129] = '\0';
        n += (size_t)snprintf(req + n, cap - n, "Idempotency-Key: %s\r\n", k);
    }
    if (r->gen == G_CL_LIE) {
        n += (size_t)snprintf(req + n, cap - n, "Content-Length: %d\r\n\r\n{\"a\":1}", 2 << 20);
    } else if (r->gen == G_CHUNKED) {
        n += (size_t)snprintf(req + n, cap - n, "Transfer-Encoding: chunked\r\n\r\n");
        /* 20 chunks of 64 KiB, then the last; 1.25 MiB in all */
        size_t chunk = 65536;
        req = realloc(req, n + 21 * (chunk + 16) + 16);
        for (int c = 0; c < 20; c++) {
            n += (size_t)sprintf(req + n, "%zx\r\n", chunk);
            memset(req + n, c == 0 ? '[' : ' ', chunk);
            n += chunk;
            n += (size_t)sprintf(req + n, "\r\n");
        }
        n += (size_t)sprintf(req + n, "0\r\n\r\n");
    } else {
        if (body)
            n += (size_t)snprintf(req + n, cap - n, "Content-Length: %zu\r\n", blen);
        n += (size_t)snprintf(req + n, cap - n, "\r\n");
        if (body) {
            memcpy(req + n, body, blen);
            n += blen;
        }
    }
    free(body);
    free(tok);
    *len = n;
    return req;
}

static void check_row(const struct row *r)
{
    size_t len;
    char *req = build(r, &len);
    struct tl_resp resp;
    int rc = tl_raw(port, req, len, &resp);
    free(req);
    cr_assert_eq(rc, 0, "[%s] no answer", r->name);
    cr_expect_eq(resp.status, r->status, "[%s] status %d, want %d: %s", r->name, resp.status,
                 r->status, resp.body);
    char ct[128] = "";
    tl_header(&resp, "Content-Type", ct, sizeof(ct));
    cr_expect_str_eq(ct, "application/problem+json", "[%s]", r->name);
    cr_assert_not_null(resp.json, "[%s] body is not JSON: %s", r->name, resp.body);
    cr_expect_eq(json_integer_value(json_object_get(resp.json, "status")), r->status, "[%s]",
                 r->name);
    const char *type = json_string_value(json_object_get(resp.json, "type"));
    cr_expect(type && strncmp(type, "https://psop.fi/problems/", 25) == 0, "[%s] type %s", r->name,
              type ? type : "(null)");
    cr_expect(json_is_string(json_object_get(resp.json, "title")), "[%s] title", r->name);
    cr_expect(json_is_string(json_object_get(resp.json, "detail")), "[%s] detail", r->name);
    if (r->err_path) {
        json_t *errs = json_object_get(resp.json, "errors");
        int found = 0;
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            cr_expect(json_is_string(json_object_get(e, "message")), "[%s] message", r->name);
            if (p && strcmp(p, r->err_path) == 0)
                found = 1;
        }
        cr_expect(found, "[%s] no error at %s: %s", r->name, r->err_path, resp.body);
    }
    if (r->header) {
        char v[128];
        cr_expect(tl_header(&resp, r->header, v, sizeof(v)), "[%s] no %s header", r->name,
                  r->header);
    }
    tl_resp_free(&resp);
}

Test(api_badinput, table_of_malformed_requests, .init = start, .fini = stop, .timeout = 120)
{
    cr_assert_geq(N_ROWS, 50);
    for (size_t i = 0; i < N_ROWS; i++)
        check_row(&rows[i]);
    /* and the server is still fine */
    struct tl_resp r;
    cr_assert_eq(tl_request(port, "GET", "/healthz", NULL, NULL, NULL, NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    tl_resp_free(&r);
}

Test(api_badinput, allow_header_lists_the_methods, .init = start, .fini = stop, .timeout = 30)
{
    struct tl_resp r;
    char *tok = token(T_PROV);
    cr_assert_eq(tl_request(port, "POST", "/v1/vouchers/" VOU "/service-events/" EVT, tok, NULL,
                            NULL, NULL, &r),
                 0);
    cr_expect_eq(r.status, 405);
    char allow[64] = "";
    tl_header(&r, "Allow", allow, sizeof(allow));
    cr_expect_str_eq(allow, "PATCH, DELETE");
    tl_resp_free(&r);
    free(tok);
}

Test(api_badinput, rate_limit_answers_429_with_retry_after, .timeout = 30)
{
    port = tl_port(2);
    const char *env[] = {"PSOP_API_RATE_LIMIT_RPS=3", NULL};
    api_pid = tl_api_start(port, env);
    cr_assert_gt(api_pid, 0);
    /* A burst of 30 at 3/s: the bucket lets 3 through plus 3 a second of
     * the burst's own duration (measured: a loaded machine sends slowly). */
    int limited = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 30; i++) {
        struct tl_resp r;
        cr_assert_eq(tl_request(port, "POST", "/v1/nothing", NULL, NULL, NULL, NULL, &r), 0);
        if (r.status == 429) {
            limited++;
            char ra[16] = "";
            cr_expect(tl_header(&r, "Retry-After", ra, sizeof(ra)));
            cr_expect_gt(atoi(ra), 0);
            cr_expect_str_eq(json_string_value(json_object_get(r.json, "type")),
                             "https://psop.fi/problems/rate-limited");
        } else {
            cr_expect_eq(r.status, 404);
        }
        tl_resp_free(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_geq(limited, 1, "none of 30 limited (%.2f s)", took);
    cr_expect_leq(30 - limited, 3 + (int)(took * 3) + 1, "%d of 30 let through in %.2f s at 3/s",
                  30 - limited, took);
    /* health checks are never limited */
    struct tl_resp r;
    cr_assert_eq(tl_request(port, "GET", "/healthz", NULL, NULL, NULL, NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    tl_resp_free(&r);
    stop();
}

Test(api_badinput, slow_clients_are_cut_off_by_the_connection_timeout, .timeout = 30)
{
    port = tl_port(3);
    const char *env[] = {"PSOP_API_CONN_TIMEOUT_S=1", NULL};
    api_pid = tl_api_start(port, env);
    cr_assert_gt(api_pid, 0);
    int fd = tl_connect(port);
    cr_assert_geq(fd, 0);
    const char *partial = "POST /v1/vouchers HTTP/1.1\r\nHost: t\r\n";
    cr_assert_gt(send(fd, partial, strlen(partial), MSG_NOSIGNAL), 0);
    char buf[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ssize_t n = recv(fd, buf, sizeof(buf), 0); /* blocks until the server closes */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_leq(n, 0, "expected the connection closed");
    cr_expect_lt(t1.tv_sec - t0.tv_sec, 15); /* 1 s configured; well below the 20 s recv timeout */
    close(fd);
    stop();
}
