/*
 * Rejection reasons read as domain sentences (issue 13 item 4, issue 14
 * item 3): every constraint violation a user's command can cause is
 * rejected with a sentence in the 422, in GET /v1/commands/{id} and in the
 * published command.rejected event, never with PostgreSQL's text, a
 * constraint name or another party's id. The constraint paths a command
 * reaches (workers/reasons.c lists every named one):
 *   organisers_business_id_key      organiser.upsert, business id of another organiser
 *   organisers_invoice_prefix_key   organiser.upsert, invoice prefix of another organiser
 *   providers_business_id_key       provider.register (pre-checked; the race has the same sentence)
 *   service_types_income_min_le_max service_type.upsert, income model min above max
 *   service_type_income_rows_pkey   service_type.upsert, a household size twice
 * Run: source .run/stack.env; build/tests/security/security_sec_reasons
 */
#include "sec_common.h"

#include "store/topics.h"

/* The command.rejected event of command_id on topic after marks (its raw
 * payload, kept until e2e_fini), or "" when none came within 20 s. */
static const char *rejected_event(struct e2e *e, const struct tl_marks *m, const char *command_id)
{
    rd_kafka_t *rk = tl_kafka(tl_brokers(), RD_KAFKA_CONSUMER);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(m->n);
    for (int p = 0; p < m->n; p++)
        rd_kafka_topic_partition_list_add(parts, m->topic, p)->offset = m->high[p];
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    const char *found = "";
    double t0 = h_now();
    while (!*found && h_now() - t0 < 20.0) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        if (!msg)
            continue;
        if (!msg->err && msg->len > 0) {
            char *text = e2e_keep(e, strndup(msg->payload, msg->len));
            if (strstr(text, command_id) && strstr(text, "command.rejected"))
                found = text;
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return found;
}

/* Sends the command (Prefer: wait), expects its rejection with reason
 * prefix, and checks the 422, the command status and the event. */
static void expect_sentence(struct e2e *e, const char *method, const char *path, const char *token,
                            const char *body, const char *topic, const char *prefix,
                            const char *secret)
{
    struct tl_marks m;
    cr_assert_eq(tl_mark(tl_brokers(), topic, &m), 0, "marks of %s", topic);
    int st;
    char *raw;
    json_t *j = e2e_call(e, method, path, token, body, E2E_WAIT, &st, &raw);
    cr_expect_eq(st, 422, "%s %s %s -> %d %s", method, path, body, st, raw);
    const char *detail = e2e_str(j, "detail");
    cr_expect(strncmp(detail, prefix, strlen(prefix)) == 0, "expected \"%s...\", got %s", prefix,
              raw);
    sec_expect_clean("the 422", raw, secret);
    const char *cid = e2e_fmt(e, "%s", e2e_str(j, "command_id"));
    json_decref(j);
    cr_assert(*cid, "no command_id in %s", raw);
    char *sraw;
    json_decref(
        e2e_call(e, "GET", e2e_fmt(e, "/v1/commands/%s", cid), token, NULL, NULL, &st, &sraw));
    cr_expect_eq(st, 200, "GET /v1/commands/%s -> %d %s", cid, st, sraw);
    cr_expect(strstr(sraw, prefix) != NULL, "status without the sentence: %s", sraw);
    sec_expect_clean("GET /v1/commands", sraw, secret);
    const char *ev = rejected_event(e, &m, cid);
    cr_expect(*ev, "no command.rejected event for %s on %s", cid, topic);
    cr_expect(strstr(ev, prefix) != NULL, "event without the sentence: %s", ev);
    sec_expect_clean("the command.rejected event", ev, secret);
}

Test(sec_reasons, duplicate_business_id_and_invoice_prefix_of_an_organiser, .timeout = 180)
{
    struct e2e e;
    e2e_init(&e);
    char *admin = e2e_tok(&e, "admin", "sec-admin", NULL, NULL, NULL);
    char *a = e2e_uuid(&e), *b = e2e_uuid(&e);
    char yt_a[10], pre_a[11], yt_b[10], pre_b[11], iban[19];
    sec_org(&e, admin, a, yt_a, pre_a);
    sec_org(&e, admin, b, yt_b, pre_b);
    tc_iban_fi(iban);
    /* B takes A's business id, then A's invoice prefix. */
    expect_sentence(&e, "PUT", e2e_fmt(&e, "/v1/organisers/%s", b), admin,
                    e2e_fmt(&e,
                            "{\"name\":\"Sec B\",\"business_id\":\"%s\",\"iban\":\"%s\","
                            "\"invoice_prefix\":\"%s\",\"settlement_day\":5,"
                            "\"auto_approve_days\":0}",
                            yt_a, iban, pre_b),
                    TOPIC_EVT_REFERENCE,
                    e2e_fmt(&e,
                            "duplicate_business_id: business id %s already belongs to "
                            "another organiser",
                            yt_a),
                    a);
    expect_sentence(&e, "PUT", e2e_fmt(&e, "/v1/organisers/%s", b), admin,
                    e2e_fmt(&e,
                            "{\"name\":\"Sec B\",\"business_id\":\"%s\",\"iban\":\"%s\","
                            "\"invoice_prefix\":\"%s\",\"settlement_day\":5,"
                            "\"auto_approve_days\":0}",
                            yt_b, iban, pre_a),
                    TOPIC_EVT_REFERENCE,
                    e2e_fmt(&e,
                            "duplicate_invoice_prefix: invoice prefix %s is already used "
                            "by another organiser",
                            pre_a),
                    a);
    e2e_fini(&e);
}

Test(sec_reasons, duplicate_provider_business_id_names_no_other_provider, .timeout = 180)
{
    struct e2e e;
    e2e_init(&e);
    char *p1 = e2e_uuid(&e), *p2 = e2e_uuid(&e);
    char *t1 = e2e_tok(&e, "provider", e2e_fmt(&e, "sec-%s", p1 + 24), NULL, p1, NULL);
    char *t2 = e2e_tok(&e, "provider", e2e_fmt(&e, "sec-%s", p2 + 24), NULL, p2, NULL);
    char yt[10], iban[19];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    e2e_ok(&e, "POST", "/v1/providers", t1,
           e2e_fmt(&e, "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"Eka Oy\",\"iban\":\"%s\"}",
                   p1, yt, iban));
    expect_sentence(&e, "POST", "/v1/providers", t2,
                    e2e_fmt(&e,
                            "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"Toka Oy\","
                            "\"iban\":\"%s\"}",
                            p2, yt, iban),
                    TOPIC_EVT_PROVIDER,
                    e2e_fmt(&e,
                            "duplicate_business_id: business id %s is already registered "
                            "to another provider",
                            yt),
                    p1);
    e2e_fini(&e);
}

Test(sec_reasons, income_model_rules_only_the_database_checks, .timeout = 180)
{
    struct e2e e;
    e2e_init(&e);
    char *admin = e2e_tok(&e, "admin", "sec-admin", NULL, NULL, NULL);
    char *code = e2e_code(&e, "sec-");
    const char *fmt = "{\"code\":\"%s\",\"name\":\"Sec income\",\"unit\":\"hour\","
                      "\"vat_rate_bp\":0,\"client_share_allowed\":true,\"income_model\":{"
                      "\"max_value_cents\":%d,\"min_value_cents\":%d,\"divisor\":100,"
                      "\"table\":[%s],\"extra_person_limit_cents\":20000,"
                      "\"extra_person_pct_bp\":100}}";
    const char *row1 = "{\"household_size\":1,\"limit_cents\":60000,\"pct_bp\":1500}";
    expect_sentence(&e, "PUT", e2e_fmt(&e, "/v1/service-types/%s", code), admin,
                    e2e_fmt(&e, fmt, code, 1000, 3200, row1), TOPIC_EVT_REFERENCE,
                    "invalid_service_type: the income model's minimum value is above its "
                    "maximum value",
                    NULL);
    expect_sentence(&e, "PUT", e2e_fmt(&e, "/v1/service-types/%s", code), admin,
                    e2e_fmt(&e, fmt, code, 3200, 1000, e2e_fmt(&e, "%s,%s", row1, row1)),
                    TOPIC_EVT_REFERENCE,
                    "invalid_income_model: the income table names the same household size "
                    "twice",
                    NULL);
    e2e_fini(&e);
}
