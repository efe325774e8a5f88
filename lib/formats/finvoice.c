#include "formats/finvoice.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/decimal.h"
#include "domain/fi.h"
#include "core/invariant.h"
#include "core/money.h"
#include "core/xmalloc.h"

/* Schema lengths (characters) of the free-text elements we fill. */
#define FV_ORG_NAME_MAX 70 /* genericStringType2_70, repeatable */
#define FV_ORG_NAME_MIN 2
#define FV_EMAIL_MAX 70      /* genericStringType0_70 */
#define FV_ARTICLE_ID_MAX 70 /* genericStringType0_70 */
#define FV_ARTICLE_NAME_MAX 100
#define FV_BAND_MAX 40       /* our cap, so a long band cannot crowd out the name */
#define FV_FREE_TEXT_MAX 512 /* genericStringType0_512 */
#define FV_EPI_NAME_MAX 35   /* genericTokenType2_35 */
#define FV_NUMBER_MAX 20     /* InvoiceNumber: genericStringType1_20 */
#define FV_QUANTITY_MAX 14   /* QuantityType0_14 */

/* ---------------------------------------------------------------- errors */

struct ctx {
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---------------------------------------------------------------- buffer */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("finvoice: out of memory\n", stderr);
        abort(); /* the xmalloc policy */
    }
    sb_put(b, s, (size_t)n);
    free(s);
}

/* Text content or attribute value: the five XML specials escaped. The text
 * is already clean UTF-8 (text_clean or our own literals). */
static void sb_esc(struct sb *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            continue;
        }
        sb_put(b, s + run, i - run);
        sb_puts(b, rep);
        run = i + 1;
    }
    sb_put(b, s + run, n - run);
}

/* ---------------------------------------------------------------- text */

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length and
 * *cp, or 0 when the bytes are not well-formed UTF-8 (overlong forms,
 * surrogates and values above U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/*
 * A copy of user text that any XML 1.0 element can carry: ill-formed UTF-8
 * and U+FFFE/U+FFFF become U+FFFD; C0/C1 controls (tab and newlines
 * included: these are one-line fields) count as white space; white space
 * runs collapse to one space and the ends are trimmed. Caller frees.
 */
static char *text_clean(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1); /* one bad byte -> 3-byte U+FFFD at most */
    size_t o = 0;
    bool space = false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(u + i, n - i, &cp);
        if (len == 0) {
            cp = 0xFFFD;
            len = 1;
        }
        if (cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            space = o > 0;
            i += len;
            continue;
        }
        if (space) {
            out[o++] = ' ';
            space = false;
        }
        if (cp == 0xFFFE || cp == 0xFFFF || cp == 0xFFFD) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
        }
        i += len;
    }
    out[o] = '\0';
    return out;
}

/* Characters (code points) in clean UTF-8. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            k++;
    return k;
}

/* Bytes of the first max characters of clean UTF-8 s (n bytes), trailing
 * space dropped so a cut never ends in white space. */
static size_t utf8_clip(const char *s, size_t n, size_t max)
{
    size_t i = 0, k = 0;
    while (i < n) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (k == max)
                break;
            k++;
        }
        i++;
    }
    while (i > 0 && s[i - 1] == ' ')
        i--;
    return i;
}

/* ---------------------------------------------------------------- XML */

static void indent(struct sb *b, int depth)
{
    static const char sp[] = "                ";
    sb_put(b, sp, (size_t)(2 * depth) < sizeof sp - 1 ? (size_t)(2 * depth) : sizeof sp - 1);
}

static void open_el(struct sb *b, int depth, const char *name)
{
    indent(b, depth);
    sb_printf(b, "<%s>\n", name);
}

static void close_el(struct sb *b, int depth, const char *name)
{
    indent(b, depth);
    sb_printf(b, "</%s>\n", name);
}

/* <name attr>text</name>; attr is our own literal (may be NULL). */
static void el_n(struct sb *b, int depth, const char *name, const char *attr, const char *text,
                 size_t n)
{
    indent(b, depth);
    sb_printf(b, "<%s%s%s>", name, attr ? " " : "", attr ? attr : "");
    sb_esc(b, text, n);
    sb_printf(b, "</%s>\n", name);
}

static void el(struct sb *b, int depth, const char *name, const char *attr, const char *text)
{
    el_n(b, depth, name, attr, text, strlen(text));
}

static void el_amount(struct sb *b, int depth, const char *name, int64_t cents)
{
    char m[MONEY_FMT_MAX];
    int ok = money_format(cents, ',', m, sizeof m);
    PSOP_ASSERT(ok == 0); /* MONEY_FMT_MAX always suffices */
    el(b, depth, name, "AmountCurrencyIdentifier=\"EUR\"", m);
}

static void el_date(struct sb *b, int depth, const char *name, day_t d)
{
    struct ymd t = date_to_ymd(d);
    char s[16];
    snprintf(s, sizeof s, "%04d%02d%02d", t.y, t.m, t.d);
    el(b, depth, name, "Format=\"CCYYMMDD\"", s);
}

/* 2550 -> "25,5", 0 -> "0" (the schema's percentage pattern). */
static void el_percent(struct sb *b, int depth, const char *name, int rate_bp)
{
    char p[DECIMAL_FMT_MAX];
    decimal_format(rate_bp, ',', p, sizeof p);
    el(b, depth, name, NULL, p);
}

/* Finnish reading order, for free texts: "5.1.2026". */
#define FI_DATE_MAX 40
static void fi_date(day_t d, char out[FI_DATE_MAX])
{
    struct ymd t = date_to_ymd(d);
    snprintf(out, FI_DATE_MAX, "%d.%d.%d", t.d, t.m, t.y);
}

static void euros(int64_t cents, char out[MONEY_FMT_MAX])
{
    int ok = money_format(cents, ',', out, MONEY_FMT_MAX);
    PSOP_ASSERT(ok == 0); /* MONEY_FMT_MAX always suffices */
}

/* ---------------------------------------------------------------- input */

struct fv_line {
    long long line_no;
    bool credit;
    const char *voucher_id, *order_id, *contract_id, *event_id, *credit_id;
    day_t date;
    const char *service_type, *service_name, *unit, *band;
    int64_t qty_h, unit_price, gross, organiser, client_share;
    int rate_bp;
};

struct fv_vat {
    int rate_bp;
    int64_t amount, vat;
};

struct fv_doc {
    const char *number, *reference;
    char number_buf[32]; /* the number without dashes, when it is too long */
    day_t invoice_date, due, period_first, period_last;
    const char *s_name, *s_bid, *s_iban, *s_email;
    const char *b_name, *b_bid;
    struct fv_line *lines;
    size_t nlines;
    struct fv_vat *vat;
    size_t nvat;
    int64_t payable, organiser, credit, client_share, total_vat;
};

static int get_str(struct ctx *c, const json_t *o, const char *where, const char *key,
                   bool required, const char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(c, "%s%s: missing", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(c, "%s%s: not a string", where, key);
    *out = json_string_value(v);
    return 0;
}

static int get_int(struct ctx *c, const json_t *o, const char *where, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return fail(c, "%s%s: missing", where, key);
    if (!json_is_integer(v))
        return fail(c, "%s%s: not an integer", where, key);
    *out = json_integer_value(v);
    return 0;
}

static int get_date(struct ctx *c, const json_t *o, const char *where, const char *key, day_t *out)
{
    const char *s;
    if (get_str(c, o, where, key, true, &s) < 0)
        return -1;
    if (date_parse(s, out) < 0)
        return fail(c, "%s%s: not a YYYY-MM-DD date", where, key);
    return 0;
}

static int get_rate(struct ctx *c, const json_t *o, const char *where, const char *key, int *out)
{
    int64_t r = 0;
    if (get_int(c, o, where, key, &r) < 0)
        return -1;
    if (r < 0 || r > 10000)
        return fail(c, "%s%s: outside 0..10000", where, key);
    *out = (int)r;
    return 0;
}

static int two_digits(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" -> the civil date
 * in Europe/Helsinki, the calendar psop counts due dates in. */
static int rfc3339_helsinki_day(const char *s, day_t *out)
{
    char date[11];
    if (strlen(s) < 20)
        return -1;
    memcpy(date, s, 10);
    date[10] = '\0';
    day_t d;
    int h, mi, se;
    if (date_parse(date, &d) < 0 || (s[10] != 'T' && s[10] != 't') || two_digits(s + 11, &h) ||
        s[13] != ':' || two_digits(s + 14, &mi) || s[16] != ':' || two_digits(s + 17, &se) ||
        h > 23 || mi > 59 || se > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int off = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (two_digits(p + 1, &oh) || two_digits(p + 4, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    int64_t unix_s = (int64_t)d * 86400 + h * 3600 + mi * 60 + se - off;
    *out = date_helsinki_day_at(unix_s);
    return 0;
}

static bool nmtoken_chars(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static int read_party(struct ctx *c, const json_t *doc, const char *key, const char **name,
                      const char **bid)
{
    const json_t *p = json_object_get(doc, key);
    char where[48];
    snprintf(where, sizeof where, "%s.", key);
    if (!json_is_object(p))
        return fail(c, "%s: missing or not an object", key);
    if (get_str(c, p, where, "name", true, name) < 0 ||
        get_str(c, p, where, "business_id", true, bid) < 0)
        return -1;
    if (!fi_ytunnus_valid(*bid))
        return fail(c, "%sbusiness_id: not a valid Y-tunnus", where);
    return 0;
}

static int read_line(struct ctx *c, const json_t *l, size_t i, struct fv_line *out)
{
    char where[48];
    snprintf(where, sizeof where, "lines[%zu].", i);
    if (!json_is_object(l))
        return fail(c, "lines[%zu]: not an object", i);
    const char *kind;
    int64_t no;
    if (get_int(c, l, where, "line_no", &no) < 0 || get_str(c, l, where, "kind", true, &kind) < 0)
        return -1;
    out->line_no = no;
    if (strcmp(kind, "event") == 0)
        out->credit = false;
    else if (strcmp(kind, "credit") == 0)
        out->credit = true;
    else
        return fail(c, "%skind: not event or credit", where);
    if (get_str(c, l, where, "voucher_id", false, &out->voucher_id) < 0 ||
        get_str(c, l, where, "order_id", false, &out->order_id) < 0 ||
        get_str(c, l, where, "contract_id", false, &out->contract_id) < 0 ||
        get_str(c, l, where, "event_id", false, &out->event_id) < 0 ||
        get_str(c, l, where, "credit_id", false, &out->credit_id) < 0 ||
        get_date(c, l, where, "date", &out->date) < 0 ||
        get_str(c, l, where, "service_type", true, &out->service_type) < 0 ||
        get_str(c, l, where, "service_name", true, &out->service_name) < 0 ||
        get_str(c, l, where, "unit", true, &out->unit) < 0 ||
        get_str(c, l, where, "band", false, &out->band) < 0 ||
        get_int(c, l, where, "unit_price_cents", &out->unit_price) < 0 ||
        get_int(c, l, where, "gross_cents", &out->gross) < 0 ||
        get_int(c, l, where, "organiser_cents", &out->organiser) < 0 ||
        get_int(c, l, where, "client_share_cents", &out->client_share) < 0 ||
        get_rate(c, l, where, "vat_rate_bp", &out->rate_bp) < 0)
        return -1;
    const json_t *q = json_object_get(l, "quantity");
    if (!q)
        return fail(c, "%squantity: missing", where);
    char qs[DECIMAL_FMT_MAX];
    if (decimal_from_json(q, &out->qty_h) < 0 ||
        decimal_format(out->qty_h, ',', qs, sizeof qs) < 0 || strlen(qs) > FV_QUANTITY_MAX)
        return fail(c, "%squantity: not a number with at most two decimals", where);
    return 0;
}

static int read_doc(struct ctx *c, const json_t *doc, struct fv_doc *d)
{
    const char *created, *period, *iban;
    if (!json_is_object(doc))
        return fail(c, "settlement: not an object");
    if (get_str(c, doc, "", "number", true, &d->number) < 0 ||
        get_str(c, doc, "", "reference", true, &d->reference) < 0 ||
        get_str(c, doc, "", "created_at", true, &created) < 0 ||
        get_str(c, doc, "", "period", true, &period) < 0 ||
        get_date(c, doc, "", "due_date", &d->due) < 0)
        return -1;
    /* InvoiceNumber is 1..20 characters and EpiReference an NMTOKEN. A
     * settlement number with a 9- or 10-character prefix is 21-22
     * characters (PREFIX-YYYY-NNNNNN): Finvoice then carries it without
     * its dashes (PREFIXYYYYNNNNNN, at most 20), still unique and readable. */
    size_t nl = strlen(d->number);
    if (nl > FV_NUMBER_MAX && nl < sizeof(d->number_buf)) {
        size_t k = 0;
        for (const char *q = d->number; *q; q++)
            if (*q != '-')
                d->number_buf[k++] = *q;
        d->number_buf[k] = '\0';
        d->number = d->number_buf;
        nl = k;
    }
    if (nl == 0 || nl > FV_NUMBER_MAX || !nmtoken_chars(d->number))
        return fail(c, "number: not 1..20 of A-Z a-z 0-9 - _ .");
    if (!fi_viite_valid(d->reference))
        return fail(c, "reference: not a valid Finnish creditor reference");
    if (rfc3339_helsinki_day(created, &d->invoice_date) < 0)
        return fail(c, "created_at: not an RFC 3339 instant");
    int y, m;
    if (date_parse_month(period, &y, &m) < 0)
        return fail(c, "period: not YYYY-MM");
    d->period_first = date_from_ymd(y, m, 1);
    d->period_last = date_from_ymd(y, m, date_days_in_month(y, m));

    if (read_party(c, doc, "seller", &d->s_name, &d->s_bid) < 0 ||
        read_party(c, doc, "buyer", &d->b_name, &d->b_bid) < 0)
        return -1;
    const json_t *seller = json_object_get(doc, "seller");
    if (get_str(c, seller, "seller.", "iban", true, &iban) < 0 ||
        get_str(c, seller, "seller.", "email", false, &d->s_email) < 0)
        return -1;
    if (!fi_iban_valid(iban))
        return fail(c, "seller.iban: not a valid IBAN");
    d->s_iban = iban;

    const json_t *lines = json_object_get(doc, "lines");
    if (!json_is_array(lines))
        return fail(c, "lines: missing or not an array");
    d->nlines = json_array_size(lines);
    if (d->nlines == 0)
        return fail(c, "lines: empty (a Finvoice needs at least one InvoiceRow)");
    d->lines = xcalloc(d->nlines, sizeof *d->lines);
    int64_t line_sum = 0;
    for (size_t i = 0; i < d->nlines; i++) {
        if (read_line(c, json_array_get(lines, i), i, &d->lines[i]) < 0)
            return -1;
        if (money_add(line_sum, d->lines[i].organiser, &line_sum) < 0)
            return fail(c, "lines: organiser_cents overflow");
    }

    const json_t *t = json_object_get(doc, "totals");
    if (!json_is_object(t))
        return fail(c, "totals: missing or not an object");
    if (get_int(c, t, "totals.", "payable_cents", &d->payable) < 0 ||
        get_int(c, t, "totals.", "organiser_cents", &d->organiser) < 0 ||
        get_int(c, t, "totals.", "credit_cents", &d->credit) < 0 ||
        get_int(c, t, "totals.", "client_share_cents", &d->client_share) < 0)
        return -1;
    int64_t sum;
    if (money_add(d->organiser, d->credit, &sum) < 0 || sum != d->payable)
        return fail(c, "totals: payable_cents is not organiser_cents + credit_cents");
    if (line_sum != d->payable)
        return fail(c, "totals: payable_cents is not the sum of the lines' organiser_cents");

    const json_t *vat = json_object_get(t, "vat");
    if (!json_is_array(vat) || json_array_size(vat) == 0)
        return fail(c, "totals.vat: missing, not an array or empty");
    d->nvat = json_array_size(vat);
    d->vat = xcalloc(d->nvat, sizeof *d->vat);
    int64_t vat_sum = 0;
    sum = 0;
    for (size_t i = 0; i < d->nvat; i++) {
        const json_t *v = json_array_get(vat, i);
        char where[48];
        snprintf(where, sizeof where, "totals.vat[%zu].", i);
        if (!json_is_object(v))
            return fail(c, "totals.vat[%zu]: not an object", i);
        struct fv_vat *x = &d->vat[i];
        if (get_rate(c, v, where, "rate_bp", &x->rate_bp) < 0 ||
            get_int(c, v, where, "amount_cents", &x->amount) < 0 ||
            get_int(c, v, where, "vat_cents", &x->vat) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (d->vat[j].rate_bp == x->rate_bp)
                return fail(c, "%srate_bp: repeated", where);
        if (x->vat != money_vat_of_gross(x->amount, x->rate_bp))
            return fail(c, "%svat_cents: not round(amount * rate / (10000 + rate))", where);
        if (money_add(sum, x->amount, &sum) < 0 || money_add(vat_sum, x->vat, &vat_sum) < 0)
            return fail(c, "totals.vat: overflow");
    }
    if (sum != d->payable)
        return fail(c, "totals.vat: amounts do not sum to payable_cents");
    d->total_vat = vat_sum;
    int64_t excl;
    if (money_sub(d->payable, vat_sum, &excl) < 0)
        return fail(c, "totals.vat: overflow");
    for (size_t i = 0; i < d->nlines; i++) {
        size_t j = 0;
        while (j < d->nvat && d->vat[j].rate_bp != d->lines[i].rate_bp)
            j++;
        if (j == d->nvat)
            return fail(c, "lines[%zu].vat_rate_bp: no such rate in totals.vat", i);
    }
    return 0;
}

/* ---------------------------------------------------------------- output */

/* An organisation name as consecutive <name> elements of 2..70 characters
 * (the schema repeats the element for long names), broken at a space when
 * the window has one. */
static void el_org_name(struct sb *b, int depth, const char *name, const char *clean)
{
    const char *p = clean;
    size_t n = strlen(clean);
    while (n > 0) {
        size_t left = utf8_chars(p, n);
        size_t take = left > FV_ORG_NAME_MAX ? FV_ORG_NAME_MAX : left;
        if (left - take == 1)
            take--; /* leave 2 characters for the last element */
        size_t i = 0, k = 0;
        while (i < n) {
            if (((unsigned char)p[i] & 0xC0) != 0x80) {
                if (k == take)
                    break;
                k++;
            }
            i++;
        }
        /* break at the last space inside the window, for readers that
         * print each element on a line of its own */
        size_t cut = i, skip = 0;
        if (i < n) {
            size_t sp = i;
            while (sp > 0 && p[sp] != ' ')
                sp--;
            if (sp > 0 && utf8_chars(p, sp) >= FV_ORG_NAME_MIN &&
                utf8_chars(p + sp + 1, n - sp - 1) >= FV_ORG_NAME_MIN) {
                cut = sp;
                skip = 1;
            }
        }
        el_n(b, depth, name, NULL, p, cut);
        p += cut + skip;
        n -= cut + skip;
    }
}

struct unit_code {
    const char *unit, *fi, *un;
};

/* Finnish abbreviations for people reading the invoice; UN/ECE
 * Recommendation 20 codes for machines (a visit is a count: C62 "one"). */
static const struct unit_code UNITS[] = {
    {"hour", "h", "HUR"},  {"visit", "krt", "C62"}, {"day", "pv", "DAY"},
    {"week", "vk", "WEE"}, {"month", "kk", "MON"},
};

static void render_row(struct sb *b, const struct fv_line *l)
{
    char qty[DECIMAL_FMT_MAX], attr[96], buf[MONEY_FMT_MAX * 3 + FV_FREE_TEXT_MAX];
    char date[FI_DATE_MAX], gross[MONEY_FMT_MAX], share[MONEY_FMT_MAX], org[MONEY_FMT_MAX];

    open_el(b, 1, "InvoiceRow");

    char *type = text_clean(l->service_type);
    el_n(b, 2, "ArticleIdentifier", NULL, type, utf8_clip(type, strlen(type), FV_ARTICLE_ID_MAX));
    free(type);

    /* service_name d.m.yyyy band, the name shortened to fit 100 characters */
    char *name = text_clean(l->service_name);
    char *band = l->band ? text_clean(l->band) : xstrdup("");
    fi_date(l->date, date);
    size_t band_n = utf8_clip(band, strlen(band), FV_BAND_MAX);
    char *suffix = xasprintf("%s%s%.*s", date, band_n ? " " : "", (int)band_n, band);
    size_t room = FV_ARTICLE_NAME_MAX - utf8_chars(suffix, strlen(suffix)) - 1;
    size_t name_n = utf8_clip(name, strlen(name), room);
    char *article = xasprintf("%.*s%s%s", (int)name_n, name, name_n ? " " : "", suffix);
    el(b, 2, "ArticleName", NULL, article);
    free(article);
    free(suffix);
    free(band);
    free(name);

    const struct unit_code *u = NULL;
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++)
        if (strcmp(UNITS[i].unit, l->unit) == 0)
            u = &UNITS[i];
    if (u)
        snprintf(attr, sizeof attr, "QuantityUnitCode=\"%s\" QuantityUnitCodeUN=\"%s\"", u->fi,
                 u->un);
    else
        attr[0] = '\0'; /* an unknown unit: the quantity without a code */
    decimal_format(l->qty_h, ',', qty, sizeof qty);
    el(b, 2, "DeliveredQuantity", u ? attr : NULL, qty);
    el(b, 2, "OrderedQuantity", u ? attr : NULL, qty);

    /* Price lists are VAT inclusive; Finvoice's UnitPriceAmount is not. */
    el_amount(b, 2, "UnitPriceAmount",
              l->unit_price - money_vat_of_gross(l->unit_price, l->rate_bp));
    el_amount(b, 2, "UnitPriceVatIncludedAmount", l->unit_price);
    snprintf(buf, sizeof buf, "%lld", l->line_no);
    el(b, 2, "RowPositionIdentifier", NULL, buf);
    el_date(b, 2, "RowDeliveryDate", l->date);

    euros(l->gross, gross);
    euros(l->client_share, share);
    euros(l->organiser, org);
    if (l->credit)
        snprintf(buf, sizeof buf,
                 "Hyvitys: kokonaishinta %s €, josta asiakasosuus %s € hyvitetään asiakkaalle "
                 "(ei tällä laskulla); järjestäjän osuus %s €.",
                 gross, share, org);
    else
        snprintf(buf, sizeof buf,
                 "Kokonaishinta %s €, josta asiakasosuus %s € laskutetaan asiakkaalta "
                 "(ei tällä laskulla); järjestäjän osuus %s €.",
                 gross, share, org);
    el(b, 2, "RowFreeText", NULL, buf);

    struct sb ids = {0};
    const struct {
        const char *label, *id;
    } refs[] = {
        {"palvelutapahtuma", l->event_id}, {"palveluseteli", l->voucher_id},
        {"tilaus", l->order_id},           {"sopimus", l->contract_id},
        {"hyvitys", l->credit_id},
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        if (!refs[i].id)
            continue;
        if (ids.len)
            sb_puts(&ids, "; ");
        sb_printf(&ids, "%s %s", refs[i].label, refs[i].id);
    }
    if (ids.len) {
        char *clean = text_clean(ids.p);
        size_t n = utf8_clip(clean, strlen(clean), FV_FREE_TEXT_MAX);
        if (n)
            el_n(b, 2, "RowFreeText", NULL, clean, n);
        free(clean);
    }
    free(ids.p);

    int64_t vat = money_vat_of_gross(l->organiser, l->rate_bp);
    el_percent(b, 2, "RowVatRatePercent", l->rate_bp);
    el(b, 2, "RowVatCode", NULL, l->rate_bp > 0 ? "S" : "E");
    el_amount(b, 2, "RowVatAmount", vat);
    el_amount(b, 2, "RowVatExcludedAmount", l->organiser - vat);
    el_amount(b, 2, "RowAmount", l->organiser);
    close_el(b, 1, "InvoiceRow");
}

static void render(struct sb *b, const struct fv_doc *d, const char *s_name, const char *b_name)
{
    bool credit_note = d->payable < 0;
    char text[FV_FREE_TEXT_MAX], first[FI_DATE_MAX], last[FI_DATE_MAX], share[MONEY_FMT_MAX];

    sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Finvoice Version=\"3.0\">\n");

    open_el(b, 1, "SellerPartyDetails");
    el(b, 2, "SellerPartyIdentifier", NULL, d->s_bid);
    el_org_name(b, 2, "SellerOrganisationName", s_name);
    close_el(b, 1, "SellerPartyDetails");
    if (d->s_email) {
        char *email = text_clean(d->s_email);
        size_t n = strlen(email);
        if (n > 0 && utf8_chars(email, n) <= FV_EMAIL_MAX) { /* never a cut address */
            open_el(b, 1, "SellerCommunicationDetails");
            el(b, 2, "SellerEmailaddressIdentifier", NULL, email);
            close_el(b, 1, "SellerCommunicationDetails");
        }
        free(email);
    }

    open_el(b, 1, "BuyerPartyDetails");
    el(b, 2, "BuyerPartyIdentifier", NULL, d->b_bid);
    el_org_name(b, 2, "BuyerOrganisationName", b_name);
    close_el(b, 1, "BuyerPartyDetails");

    open_el(b, 1, "InvoiceDetails");
    el(b, 2, "InvoiceTypeCode", "CodeListAgencyIdentifier=\"SPY\"",
       credit_note ? "INV02" : "INV01");
    el(b, 2, "InvoiceTypeCodeUN", NULL, credit_note ? "381" : "380");
    el(b, 2, "InvoiceTypeText", NULL, credit_note ? "HYVITYSLASKU" : "LASKU");
    el(b, 2, "OriginCode", NULL, "Original");
    el(b, 2, "InvoiceNumber", NULL, d->number);
    el_date(b, 2, "InvoiceDate", d->invoice_date);
    el_date(b, 2, "InvoicingPeriodStartDate", d->period_first);
    el_date(b, 2, "InvoicingPeriodEndDate", d->period_last);
    el_amount(b, 2, "InvoiceTotalVatExcludedAmount", d->payable - d->total_vat);
    el_amount(b, 2, "InvoiceTotalVatAmount", d->total_vat);
    el_amount(b, 2, "InvoiceTotalVatIncludedAmount", d->payable);
    for (size_t i = 0; i < d->nvat; i++) {
        const struct fv_vat *v = &d->vat[i];
        open_el(b, 2, "VatSpecificationDetails");
        el_amount(b, 3, "VatBaseAmount", v->amount - v->vat);
        el_percent(b, 3, "VatRatePercent", v->rate_bp);
        el(b, 3, "VatCode", NULL, v->rate_bp > 0 ? "S" : "E");
        el_amount(b, 3, "VatRateAmount", v->vat);
        close_el(b, 2, "VatSpecificationDetails");
    }
    fi_date(d->period_first, first);
    fi_date(d->period_last, last);
    euros(d->client_share, share);
    snprintf(text, sizeof text,
             "Tilitys ajalta %s–%s. Asiakasosuudet (yhteensä %s €) laskutetaan asiakkailta "
             "eivätkä sisälly tähän laskuun.",
             first, last, share);
    el(b, 2, "InvoiceFreeText", NULL, text);
    open_el(b, 2, "PaymentTermsDetails");
    if (d->due >= d->invoice_date) {
        snprintf(text, sizeof text, "%d päivää netto", (int)(d->due - d->invoice_date));
        el(b, 3, "PaymentTermsFreeText", NULL, text);
    }
    el_date(b, 3, "InvoiceDueDate", d->due);
    close_el(b, 2, "PaymentTermsDetails");
    close_el(b, 1, "InvoiceDetails");

    for (size_t i = 0; i < d->nlines; i++)
        render_row(b, &d->lines[i]);

    open_el(b, 1, "EpiDetails");
    open_el(b, 2, "EpiIdentificationDetails");
    el_date(b, 3, "EpiDate", d->invoice_date);
    el(b, 3, "EpiReference", NULL, d->number);
    close_el(b, 2, "EpiIdentificationDetails");
    open_el(b, 2, "EpiPartyDetails");
    indent(b, 3);
    sb_puts(b, "<EpiBfiPartyDetails/>\n"); /* no BIC in psop: see formats/finvoice.h */
    open_el(b, 3, "EpiBeneficiaryPartyDetails");
    size_t n = utf8_clip(s_name, strlen(s_name), FV_EPI_NAME_MAX);
    if (utf8_chars(s_name, n) >= 2)
        el_n(b, 4, "EpiNameAddressDetails", NULL, s_name, n);
    el(b, 4, "EpiBei", NULL, d->s_bid);
    el(b, 4, "EpiAccountID", "IdentificationSchemeName=\"IBAN\"", d->s_iban);
    close_el(b, 3, "EpiBeneficiaryPartyDetails");
    close_el(b, 2, "EpiPartyDetails");
    open_el(b, 2, "EpiPaymentInstructionDetails");
    el(b, 3, "EpiRemittanceInfoIdentifier", "IdentificationSchemeName=\"SPY\"", d->reference);
    el_amount(b, 3, "EpiInstructedAmount", d->payable);
    el(b, 3, "EpiCharge", "ChargeOption=\"SLEV\"", "SLEV");
    el_date(b, 3, "EpiDateOptionDate", d->due);
    close_el(b, 2, "EpiPaymentInstructionDetails");
    close_el(b, 1, "EpiDetails");
    sb_puts(b, "</Finvoice>\n");
}

char *finvoice_render(const json_t *settlement, char *err, size_t errlen)
{
    struct ctx c = {err, errlen};
    struct fv_doc d = {0};
    char *s_name = NULL, *b_name = NULL, *out = NULL;
    struct sb b = {0};

    if (err && errlen)
        err[0] = '\0';
    if (read_doc(&c, settlement, &d) < 0)
        goto out;
    s_name = text_clean(d.s_name);
    b_name = text_clean(d.b_name);
    if (utf8_chars(s_name, strlen(s_name)) < FV_ORG_NAME_MIN) {
        fail(&c, "seller.name: fewer than 2 characters");
        goto out;
    }
    if (utf8_chars(b_name, strlen(b_name)) < FV_ORG_NAME_MIN) {
        fail(&c, "buyer.name: fewer than 2 characters");
        goto out;
    }
    render(&b, &d, s_name, b_name);
    out = b.p;
    b.p = NULL;
out:
    free(b.p);
    free(s_name);
    free(b_name);
    free(d.lines);
    free(d.vat);
    return out;
}
