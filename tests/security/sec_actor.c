/*
 * Who the token says the caller is (issue 14 items 1 and 2): the front
 * checks the token's actor against the command envelope's actor schema, so
 * a claim the workers would refuse is refused at once (401) instead of
 * parking the command in the DLQ; a client is the pair (organiser, client
 * id); and a command the workers park anyway gets the final status
 * "rejected" with a reason, so its caller never waits for ever.
 * Run: source .run/stack.env; build/tests/security/security_sec_actor
 */
#include "sec_common.h"

#include "store/topics.h"

struct world {
    struct e2e e;
    char *admin, *a, *b, *orga, *orgb, *st, *client, *va, *vb;
};

static char *grant(struct world *w, const char *org, const char *tok)
{
    struct e2e *e = &w->e;
    char *vid = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", tok,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"SEC-%s\","
                   "\"valid_from\":\"2026-01-01\",\"unit_value_cents\":3000}",
                   vid, org, w->client, w->st, vid + 24));
    return vid;
}

/* Organisers A and B each grant a voucher to a client of the same client id. */
static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_init(e);
    w->admin = e2e_tok(e, "admin", "sec-admin", NULL, NULL, NULL);
    w->a = e2e_uuid(e);
    w->b = e2e_uuid(e);
    char yt[10], pre[11];
    sec_org(e, w->admin, w->a, yt, pre);
    sec_org(e, w->admin, w->b, yt, pre);
    w->orga = e2e_tok(e, "organiser", "sec-org-a", w->a, NULL, NULL);
    w->orgb = e2e_tok(e, "organiser", "sec-org-b", w->b, NULL, NULL);
    w->st = e2e_code(e, "sec-");
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Sec kotihoito\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":true}");
    w->client = e2e_code(e, "sec-asiakas-");
    w->va = grant(w, w->a, w->orga);
    w->vb = grant(w, w->b, w->orgb);
}

Test(sec_actor, claims_the_envelope_refuses_are_refused_at_the_front, .timeout = 120)
{
    struct e2e e;
    e2e_init(&e);
    char *bad_org = e2e_tok(&e, "organiser", "sec-bad-org", "not-a-uuid", NULL, NULL);
    char *no_org = e2e_tok(&e, "client", "sec-no-org", NULL, NULL, "sec-asiakas-x");
    char *bad_prov = e2e_tok(&e, "provider", "sec-bad-prov", NULL, "../x", NULL);
    const char *grant = "{\"organiser_id\":\"not-a-uuid\",\"client_id\":\"x1\","
                        "\"service_type\":\"kotihoito\",\"decision_number\":\"D\","
                        "\"valid_from\":\"2026-01-01\"}";
    e2e_status(&e, "POST", "/v1/vouchers", bad_org, grant, 401, "organiser org not a uuid");
    e2e_status(&e, "GET", "/v1/vouchers?client_id=x1", bad_org, NULL, 401,
               "organiser org not a uuid, a read");
    e2e_status(&e, "GET", "/v1/vouchers?client_id=sec-asiakas-x", no_org, NULL, 401,
               "client token without org, a read");
    e2e_status(&e, "POST", "/v1/vouchers/0190a0a0-0000-7000-8000-000000000001/refusal", no_org,
               NULL, 401, "client token without org, a command");
    e2e_status(&e, "GET", "/v1/providers/0190a0a0-0000-7000-8000-000000000001", bad_prov, NULL, 401,
               "provider claim not a uuid");
    int st;
    char *raw;
    json_decref(e2e_call(&e, "GET", "/v1/vouchers?client_id=x1", bad_org, NULL, NULL, &st, &raw));
    cr_expect(strstr(raw, "org") != NULL, "the 401 names the claim: %s", raw);
    e2e_fini(&e);
}

Test(sec_actor, a_client_is_its_organiser_and_its_client_id, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *ca = e2e_tok(e, "client", w.client, w.a, NULL, w.client);
    /* Its own voucher at A: yes. The same client id's voucher at B: no such voucher. */
    json_decref(e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s", w.va), ca));
    e2e_status(e, "GET", e2e_fmt(e, "/v1/vouchers/%s", w.vb), ca, NULL, 404,
               "a client of A reading B's voucher of the same client id");
    json_t *list = e2e_get(e, e2e_fmt(e, "/v1/vouchers?client_id=%s", w.client), ca);
    char *dump = e2e_dump(e, list);
    cr_expect(strstr(dump, w.va) != NULL, "A's voucher listed: %s", dump);
    cr_expect(strstr(dump, w.vb) == NULL, "B's voucher listed to A's client: %s", dump);
    json_decref(list);
    /* Nor may it act on B's voucher. */
    int st;
    char *raw;
    json_decref(e2e_call(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/refusal", w.vb), ca, NULL, E2E_WAIT,
                         &st, &raw));
    cr_expect(st == 404 || st == 403 || st == 422, "refusing B's voucher: %d %s", st, raw);
    cr_expect(st != 200, "a client of A refused B's voucher: %s", raw);
    json_t *vb = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s", w.vb), w.orgb);
    cr_expect_str_eq(e2e_str(vb, "status"), "active", "B's voucher after A's client tried");
    json_decref(vb);
    e2e_fini(e);
}

/* An envelope the schema refuses, produced straight to the command topic
 * (as a front of an older release, or a bug, could): parked in the DLQ, and
 * its status becomes rejected with the reason. */
Test(sec_actor, a_command_parked_in_the_dlq_gets_a_final_status, .timeout = 120)
{
    struct e2e e;
    e2e_init(&e);
    char *admin = e2e_tok(&e, "admin", "sec-admin", NULL, NULL, NULL);
    char *id = e2e_uuid(&e);
    char *env = e2e_fmt(&e,
                        "{\"id\":\"%s\",\"type\":\"holiday.upsert\",\"schema_version\":1,"
                        "\"received_at\":\"2026-06-01T10:00:00Z\",\"actor\":{\"sub\":\"sec-admin\","
                        "\"role\":\"organiser\",\"org\":\"not-a-uuid\"},"
                        "\"data\":{\"date\":\"2026-12-24\",\"name\":\"Jouluaatto\"}}",
                        id);
    rd_kafka_t *p = tl_kafka(tl_brokers(), RD_KAFKA_PRODUCER);
    cr_assert_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC_CMD_REFERENCE),
                                   RD_KAFKA_V_KEY("2026-12-24", 10),
                                   RD_KAFKA_V_VALUE(env, strlen(env)), RD_KAFKA_V_END),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
    const char *status = "", *reason = "";
    char *raw = "";
    for (double t0 = h_now(); h_now() - t0 < 60.0;) {
        int st;
        json_t *j =
            e2e_call(&e, "GET", e2e_fmt(&e, "/v1/commands/%s", id), admin, NULL, NULL, &st, &raw);
        if (st == 200) {
            status = e2e_fmt(&e, "%s", e2e_str(j, "status"));
            reason = e2e_fmt(&e, "%s", e2e_str(j, "reason"));
        }
        json_decref(j);
        if (strcmp(status, "rejected") == 0)
            break;
        h_sleep_ms(500);
    }
    cr_expect_str_eq(status, "rejected", "the parked command's status: %s", raw);
    cr_expect(strncmp(reason, "invalid_envelope: ", 18) == 0, "reason: %s", reason);
    cr_expect(strstr(reason, "org") != NULL, "the reason names the claim: %s", reason);
    sec_expect_clean("the parked command's status", raw, NULL);
    e2e_fini(&e);
}

/* What held in the probe, kept held: forged, unsigned, expired and
 * re-signed tokens are 401; another organiser's data is not there. */
Test(sec_actor, forged_and_expired_tokens_and_cross_tenant_reads, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *path = e2e_fmt(e, "/v1/vouchers/%s", w.va);
    long now = (long)time(NULL);
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"sub\":\"sec-org-a\",\"role\":\"organiser\",\"org\":\"%s\",\"exp\":%ld}", w.a,
             now + 300);
    char *forged = e2e_keep(e, tl_jwt("HS256", "not-the-secret-0123456789abcdef0123", 35, claims));
    char *unsigned_tok = e2e_keep(e, tl_jwt("none", NULL, 0, claims));
    char *expired = NULL, err[256];
    cr_assert_eq(jwt_token_mint_at(h_config(), "organiser", "sec-org-a", w.a, NULL, NULL, 60,
                                   time(NULL) - 3600, &expired, err, sizeof(err)),
                 0, "%s", err);
    e2e_keep(e, expired);
    e2e_status(e, "GET", path, forged, NULL, 401, "a token signed with another secret");
    e2e_status(e, "GET", path, unsigned_tok, NULL, 401, "an unsigned token (alg none)");
    e2e_status(e, "GET", path, expired, NULL, 401, "an expired token");
    e2e_status(e, "GET", path, NULL, NULL, 401, "no token");
    json_decref(e2e_get(e, path, w.orga));
    e2e_status(e, "GET", path, w.orgb, NULL, 404, "organiser B reading A's voucher");
    e2e_status(e, "POST", "/v1/vouchers", w.orgb,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"client_id\":\"x\",\"service_type\":\"%s\","
                       "\"decision_number\":\"D\",\"valid_from\":\"2026-01-01\"}",
                       w.a, w.st),
               403, "organiser B granting at A");
    e2e_fini(e);
}
