#include "reasons.h"

#include <stdio.h>
#include <string.h>

/* A constraint a user's command can break, in the domain's words. {field}
 * is replaced by the command's value of that payload field ("" when the
 * command has none). Constraints that only guard the workers' own
 * arithmetic (a broken one is a bug, not the caller's fault) fall through
 * to the sentence by kind. */
struct known {
    const char *constraint;
    const char *code; /* NULL: the caller's code */
    const char *sentence;
};

static const struct known KNOWN[] = {
    /* organisers (organiser.upsert) */
    {"organisers_business_id_key", "duplicate_business_id",
     "business id {business_id} already belongs to another organiser"},
    {"organisers_invoice_prefix_key", "duplicate_invoice_prefix",
     "invoice prefix {invoice_prefix} is already used by another organiser"},
    {"organisers_business_id_check", NULL, "business id {business_id} is not a valid Y-tunnus"},
    {"organisers_iban_check", NULL, "IBAN {iban} is not valid"},
    {"organisers_invoice_prefix_check", NULL,
     "invoice prefix {invoice_prefix} must be 2 to 10 capital letters or digits"},
    {"organisers_settlement_day_check", NULL, "settlement_day must be between 1 and 28"},
    {"organisers_auto_approve_days_check", NULL, "auto_approve_days must be between 0 and 60"},
    {"organisers_name_check", NULL, "the name must have 1 to 200 characters"},
    /* providers (provider.register, provider.update) */
    {"providers_business_id_key", "duplicate_business_id",
     "business id {business_id} is already registered to another provider"},
    {"providers_pkey", "already_registered", "provider {id} is already registered"},
    {"providers_business_id_check", NULL, "business id {business_id} is not a valid Y-tunnus"},
    {"providers_iban_check", NULL, "IBAN {iban} is not a valid Finnish IBAN"},
    {"providers_email_check", NULL, "email {email} is not a valid address"},
    {"providers_supplier_number_check", NULL, "supplier_number must have 1 to 64 characters"},
    {"providers_name_check", NULL, "the name must have 1 to 200 characters"},
    {"provider_prices_pk", NULL, "a price from {valid_from} is already recorded"},
    /* service types and holidays (admin) */
    {"service_types_bands_all_or_none", NULL,
     "band coefficients come as a set: evening, saturday and sunday together"},
    {"service_types_bands_hourly_only", NULL, "band coefficients apply to hourly services only"},
    {"service_types_income_all_or_none", NULL, "the income model is incomplete"},
    {"service_types_income_min_le_max", NULL,
     "the income model's minimum value is above its maximum value"},
    {"service_type_income_rows_pkey", NULL, "the income table names the same household size twice"},
    {"service_types_code_check", NULL,
     "service type code {code} must be lower-case letters, digits, '-' or '_'"},
    /* vouchers */
    {"vouchers_pkey", "already_exists", "voucher {id} already exists"},
    {"vouchers_valid_range", NULL, "valid_to is before valid_from"},
    {"voucher_values_no_overlap", NULL, "the voucher's value periods would overlap"},
    {"voucher_amendments_changes_something", NULL, "the amendment changes nothing"},
    /* purchased services */
    {"contracts_pkey", "already_exists", "contract {id} already exists"},
    {"contracts_valid_range", NULL, "valid_to is before valid_from"},
    {"orders_pkey", "already_exists", "order {id} already exists"},
    {"orders_valid_range", NULL, "valid_to is before valid_from"},
    {"orders_contract_same_organiser", NULL,
     "the contract belongs to another organiser than the order"},
    /* service events and credits */
    {"service_events_pkey", "already_exists", "service event {id} already exists"},
    {"credits_pkey", "already_exists", "credit {id} already exists"},
    {"service_events_credited_range", "credit_exceeds_remaining",
     "the credit is more than what remains of the service event"},
    /* mandates */
    {"mandates_pkey", "already_exists", "mandate {id} already exists"},
    {"mandates_organiser_id_fkey", "not_found", "organiser {organiser_id} is not registered"},
    {"mandates_not_self", NULL, "a client cannot be its own proxy"},
    {"mandates_valid_range", NULL, "valid_to is before valid_from"},
    /* settlements */
    {"settlements_seq_unique", "settlement_conflict",
     "another settlement run took the same settlement number; send the command again"},
    {"settlements_reference_unique", "settlement_conflict",
     "another settlement run took the same payment reference; send the command again"},
    {"settlements_paid_has_date", NULL, "a paid settlement needs its paid_date"},
};

size_t reason_known_count(void)
{
    return sizeof(KNOWN) / sizeof(KNOWN[0]);
}

const char *reason_known_name(size_t i)
{
    return i < reason_known_count() ? KNOWN[i].constraint : NULL;
}

/* Appends s to out at *len, truncating at n - 1. */
static void put(char *out, size_t n, size_t *len, const char *s, size_t slen)
{
    if (*len + 1 >= n)
        return;
    size_t room = n - 1 - *len;
    if (slen > room)
        slen = room;
    memcpy(out + *len, s, slen);
    *len += slen;
    out[*len] = '\0';
}

/* The sentence with each {field} replaced by the command's value. */
static void fill(const char *sentence, reason_field_fn field, const void *arg, char *out, size_t n,
                 size_t *len)
{
    const char *p = sentence;
    while (*p) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            put(out, n, len, p, strlen(p));
            return;
        }
        put(out, n, len, p, (size_t)(open - p));
        char name[64];
        size_t nl = (size_t)(close - open - 1);
        if (nl >= sizeof(name))
            nl = sizeof(name) - 1;
        memcpy(name, open + 1, nl);
        name[nl] = '\0';
        const char *v = field ? field(arg, name) : NULL;
        if (v && *v) {
            /* The caller's own value, cut short so a sentence stays a sentence. */
            size_t vl = strlen(v);
            put(out, n, len, v, vl > 80 ? 80 : vl);
        } else {
            put(out, n, len, "(none)", 6);
        }
        p = close + 1;
    }
}

/* The column part of a constraint named the PostgreSQL way
 * (<table>_<column>_key|check|fkey): "business_id" from
 * "organisers_business_id_key". Empty when the name does not tell. */
static void column_of(const struct violation *v, char *col, size_t n)
{
    col[0] = '\0';
    const char *c = v->constraint ? v->constraint : "";
    const char *t = v->table ? v->table : "";
    size_t tl = strlen(t), cl = strlen(c);
    if (tl == 0 || cl <= tl + 1 || strncmp(c, t, tl) != 0 || c[tl] != '_')
        return;
    const char *suffixes[] = {"_key", "_check", "_fkey"};
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);
        if (cl > tl + 1 + sl && strcmp(c + cl - sl, suffixes[i]) == 0) {
            size_t len = cl - sl - tl - 1;
            if (len >= n)
                return;
            memcpy(col, c + tl + 1, len);
            col[len] = '\0';
            return;
        }
    }
}

void reason_for_violation(const struct violation *v, const char *code, reason_field_fn field,
                          const void *arg, char *out, size_t n)
{
    if (!out || n == 0)
        return;
    out[0] = '\0';
    size_t len = 0;
    const char *cname = v && v->constraint ? v->constraint : "";
    for (size_t i = 0; i < reason_known_count(); i++) {
        if (strcmp(KNOWN[i].constraint, cname) != 0)
            continue;
        const char *c = KNOWN[i].code ? KNOWN[i].code : code;
        put(out, n, &len, c, strlen(c));
        put(out, n, &len, ": ", 2);
        fill(KNOWN[i].sentence, field, arg, out, n, &len);
        return;
    }
    char col[64];
    column_of(v, col, sizeof(col));
    const char *st = v && v->sqlstate ? v->sqlstate : "";
    const char *value = col[0] && field ? field(arg, col) : NULL;
    char s[256];
    if (strcmp(st, "23505") == 0) {
        if (col[0] && value && *value && strlen(value) <= 80)
            snprintf(s, sizeof(s), "%s %s is already in use", col, value);
        else if (col[0])
            snprintf(s, sizeof(s), "the %s given is already in use", col);
        else
            snprintf(s, sizeof(s), "the command conflicts with a record that already exists");
    } else if (strcmp(st, "23514") == 0) {
        if (col[0])
            snprintf(s, sizeof(s), "%s is outside the values allowed", col);
        else
            snprintf(s, sizeof(s), "the command would break a rule of the register");
    } else if (strcmp(st, "23503") == 0) {
        if (col[0])
            snprintf(s, sizeof(s), "%s names something that does not exist", col);
        else
            snprintf(s, sizeof(s), "the command names something that does not exist");
    } else if (strcmp(st, "23P01") == 0) {
        snprintf(s, sizeof(s), "the command overlaps a period already recorded");
    } else if (strcmp(st, "23502") == 0) {
        snprintf(s, sizeof(s), "a required value is missing");
    } else {
        snprintf(s, sizeof(s), "the command cannot be applied to the current state");
    }
    put(out, n, &len, code, strlen(code));
    put(out, n, &len, ": ", 2);
    put(out, n, &len, s, strlen(s));
}
