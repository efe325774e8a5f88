/*
 * wire/jschema.c - JSON Schema (draft 2020-12) validation against schemas/
 * (see wire/jschema.h for the supported keywords and formats).
 *
 * Everything that can be decided once is decided at load: every schema is
 * walked, unknown keywords and formats are refused (a misspelt "maxlength"
 * would otherwise silently check nothing), every pattern is compiled and every
 * $ref resolved. Both are cached by the address of the schema value that
 * names them, so validation never parses a regex or a URI.
 *
 * Validation walks the document and the schema together. Alternatives
 * (anyOf, oneOf, not, if) are tried "quietly": no errors are recorded and the
 * first failure ends the attempt. Properties a subschema evaluated are
 * collected per object so unevaluatedProperties can be answered.
 */
#include "wire/jschema.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/date.h"
#include "domain/fi.h"
#include "core/xmalloc.h"

#define MAX_ERRORS 50
#define MAX_SCHEMA_DEPTH 64 /* nested schemas while loading */
#define MAX_EVAL_DEPTH 128  /* schema applications while validating ($ref loops) */
#define MAX_DIR_DEPTH 8

struct sdoc {
    char *name;  /* "commands/voucher.grant" */
    char *alias; /* "commands/voucher.grant.json", what relative refs resolve to */
    char *id;    /* "$id", or NULL */
    json_t *root;
};

struct compiled_pattern {
    const json_t *key; /* the "pattern" string value in the schema */
    pcre2_code *re;
};

struct resolved_ref {
    const json_t *key; /* the "$ref" string value in the schema */
    const struct sdoc *doc;
    const json_t *target;
};

struct jschema_registry {
    struct sdoc *docs; /* sorted by name */
    size_t ndocs;
    struct compiled_pattern *pats; /* sorted by key address */
    size_t npats;
    struct resolved_ref *refs; /* sorted by key address */
    size_t nrefs;
    pcre2_general_context *pcre; /* PCRE2 allocates through xmalloc */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int cmp_key_addr(const void *a, const void *b)
{
    /* Both structs start with the key pointer. */
    uintptr_t x = (uintptr_t) * (const json_t *const *)a;
    uintptr_t y = (uintptr_t) * (const json_t *const *)b;
    return x < y ? -1 : x > y;
}

static int cmp_doc_name(const void *a, const void *b)
{
    return strcmp(((const struct sdoc *)a)->name, ((const struct sdoc *)b)->name);
}

static bool is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return true;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && d == floor(d);
    }
    return false;
}

static double num(const json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

/* -1, 0, 1 comparing two JSON numbers; exact when both are integers. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = num(a), y = num(b);
    return x < y ? -1 : x > y;
}

static void fmt_num(const json_t *v, char *buf, size_t len)
{
    if (json_is_integer(v))
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, len, "%.15g", json_real_value(v));
}

/* JSON Schema equality: numbers by value (1 equals 1.0), objects unordered. */
static bool json_equal_schema(const json_t *a, const json_t *b, int depth)
{
    if (depth > MAX_EVAL_DEPTH)
        return false;
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_equal_schema(json_array_get(a, i), json_array_get(b, i), depth + 1))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *va;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, k, va)
        {
            json_t *vb = json_object_get(b, k);
            if (!vb || !json_equal_schema(va, vb, depth + 1))
                return false;
        }
        return true;
    }
    return json_equal(a, b); /* strings, true, false, null */
}

static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* ------------------------------------------------------------------ */
/* Formats                                                             */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int two(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool date_shape(const char *s, size_t n)
{
    return n == 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
           all_digits(s + 8, 2);
}

/* NULL when s has the format, else the reason. */
static const char *check_date(const char *s, size_t n)
{
    day_t d;
    if (!date_shape(s, n))
        return "must be a date YYYY-MM-DD";
    if (date_parse(s, &d) != 0)
        return "not a real date";
    return NULL;
}

static const char *check_year_month(const char *s, size_t n)
{
    int y, m;
    if (n != 7 || !all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2))
        return "must be a month YYYY-MM";
    if (date_parse_month(s, &y, &m) != 0)
        return "not a real month";
    return NULL;
}

/* RFC 3339 date-time: date "T" HH:MM:SS [.fraction] ("Z" | +HH:MM | -HH:MM).
 * T and Z may be lower case (RFC 3339 section 5.6 note). Second 60 is not
 * accepted: we never need leap seconds and cannot check them. */
static const char *check_date_time(const char *s, size_t n)
{
    char date[11];
    day_t d;
    size_t i = 19;

    if (n < 19 || !date_shape(s, 10) || (s[10] != 'T' && s[10] != 't') || !all_digits(s + 11, 2) ||
        s[13] != ':' || !all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2))
        return "must be an RFC 3339 date-time";
    if (two(s + 11) > 23 || two(s + 14) > 59 || two(s + 17) > 59)
        return "not a real time of day";
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || i - start > 9)
            return "must be an RFC 3339 date-time";
    }
    if (i == n)
        return "must be an RFC 3339 date-time with a time zone";
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (n - i != 6 || !all_digits(s + i + 1, 2) || s[i + 3] != ':' || !all_digits(s + i + 4, 2))
            return "must be an RFC 3339 date-time";
        if (two(s + i + 1) > 23 || two(s + i + 4) > 59)
            return "not a real time zone offset";
        i += 6;
    } else {
        return "must be an RFC 3339 date-time";
    }
    if (i != n)
        return "must be an RFC 3339 date-time";
    memcpy(date, s, 10);
    date[10] = '\0';
    if (date_parse(date, &d) != 0)
        return "not a real date";
    return NULL;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *check_uuid(const char *s, size_t n)
{
    if (n != 36)
        return "must be a UUID";
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return "must be a UUID";
    }
    return NULL;
}

/* Deliberately simple: one "@", a dot-atom local part of at most 64, a
 * domain of at least two LDH labels of at most 63. No quoted local parts, no
 * IP literals: nobody registers a provider with those. */
static const char *check_email(const char *s, size_t n)
{
    static const char *const bad = "must be an email address";
    const char *at = memchr(s, '@', n);
    size_t local, label = 0, labels = 1;

    if (n > 254 || !at)
        return bad;
    local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
        return bad;
    for (size_t i = 0; i < local; i++) {
        char c = s[i];
        if (c == '.' && s[i + 1] == '.')
            return bad;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(".!#$%&'*+/=?^_`{|}~-", c)))
            return bad;
    }
    for (size_t i = local + 1; i <= n; i++) {
        char c = i < n ? s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return bad;
            if (i < n)
                labels++;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            if (label == 0 && c == '-')
                return bad;
            label++;
        } else {
            return bad;
        }
    }
    return labels >= 2 ? NULL : bad;
}

static const char *check_business_id(const char *s, size_t n)
{
    if (n != 9 || !all_digits(s, 7) || s[7] != '-' || !all_digits(s + 8, 1))
        return "must be a Y-tunnus NNNNNNN-C";
    if (!fi_ytunnus_valid(s))
        return "invalid Y-tunnus check digit";
    return NULL;
}

static const char *check_iban(const char *s, size_t n)
{
    unsigned acc = 0;

    if (n < 15 || n > 34 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
        !all_digits(s + 2, 2))
        return "must be an IBAN in electronic format (e.g. FI2112345600000785)";
    for (size_t i = 4; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return "must be an IBAN in electronic format (e.g. FI2112345600000785)";
    if (fi_iban_valid(s))
        return NULL;
    if (s[0] == 'F' && s[1] == 'I' && n != 18)
        return "a Finnish IBAN has 18 characters";
    /* Tell a wrong check (a typo) from a wrong country or length. */
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];
        acc = c <= '9' ? (acc * 10 + (unsigned)(c - '0')) % 97
                       : (acc * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    if (acc != 1)
        return "invalid IBAN checksum";
    return "IBAN country or length not accepted (SEPA accounts only)";
}

struct format {
    const char *name;
    const char *(*check)(const char *s, size_t n);
};

static const struct format formats[] = {
    {"date", check_date}, {"date-time", check_date_time}, {"year-month", check_year_month},
    {"uuid", check_uuid}, {"email", check_email},         {"fi-business-id", check_business_id},
    {"iban", check_iban},
};

static const struct format *find_format(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0)
            return &formats[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* multipleOf                                                          */

/* k when m is 10^-k (0.1, 0.01, ...), else -1. The parsed "0.01" is the
 * double nearest 1/100, and so is 1.0 / 100.0. */
static int decimal_step(double m)
{
    double p = 1;
    for (int k = 0; k <= 9; k++, p *= 10)
        if (m == 1.0 / p)
            return k;
    return -1;
}

/* "At most k decimals" judged on the number as written: v has it when some
 * n / 10^k rounds to exactly v. So 1.15 passes although 1.15 / 0.01 is
 * 114.99999999999999 in binary. Past 2^53 every double is an integer. */
static bool has_decimals(double v, int k)
{
    double p = 1, scaled, n;
    for (int i = 0; i < k; i++)
        p *= 10;
    if (!isfinite(v))
        return false;
    scaled = v * p;
    if (fabs(scaled) >= 9007199254740992.0)
        return v == floor(v);
    n = nearbyint(scaled);
    for (int d = -1; d <= 1; d++)
        if ((n + d) / p == v)
            return true;
    return false;
}

static bool multiple_of(const json_t *v, const json_t *m)
{
    if (json_is_integer(v) && json_is_integer(m))
        return json_integer_value(v) % json_integer_value(m) == 0; /* m >= 1, checked at load */
    int k = decimal_step(num(m));
    if (k >= 0)
        return has_decimals(num(v), k);
    double q = num(v) / num(m);
    if (!isfinite(q))
        return false;
    return fabs(q - nearbyint(q)) <= 1e-9 * fmax(1.0, fabs(q));
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */

static const char *const annotation_words[] = {
    "$schema",  "$comment",   "title",    "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly",   NULL,
};

/* What a keyword's value is, for the load-time walk. */
enum kw_kind {
    KW_SCHEMA,       /* one subschema */
    KW_SCHEMA_MAP,   /* object of subschemas: properties, $defs */
    KW_SCHEMA_ARRAY, /* non-empty array of subschemas */
    KW_STRING_ARRAY, /* required */
    KW_DEP_REQUIRED, /* object of string arrays */
    KW_TYPE,
    KW_ANY, /* enum (array), const */
    KW_NUMBER,
    KW_POSITIVE, /* multipleOf */
    KW_COUNT,    /* non-negative integer */
    KW_PATTERN,
    KW_FORMAT,
    KW_REF,
    KW_ID,
    KW_UNEVALUATED,
};

static const struct {
    const char *word;
    enum kw_kind kind;
} keywords[] = {
    {"type", KW_TYPE},
    {"enum", KW_ANY},
    {"const", KW_ANY},
    {"properties", KW_SCHEMA_MAP},
    {"$defs", KW_SCHEMA_MAP},
    {"required", KW_STRING_ARRAY},
    {"additionalProperties", KW_SCHEMA},
    {"unevaluatedProperties", KW_UNEVALUATED},
    {"items", KW_SCHEMA},
    {"prefixItems", KW_SCHEMA_ARRAY},
    {"minItems", KW_COUNT},
    {"maxItems", KW_COUNT},
    {"minLength", KW_COUNT},
    {"maxLength", KW_COUNT},
    {"pattern", KW_PATTERN},
    {"minimum", KW_NUMBER},
    {"maximum", KW_NUMBER},
    {"exclusiveMinimum", KW_NUMBER},
    {"exclusiveMaximum", KW_NUMBER},
    {"multipleOf", KW_POSITIVE},
    {"format", KW_FORMAT},
    {"allOf", KW_SCHEMA_ARRAY},
    {"anyOf", KW_SCHEMA_ARRAY},
    {"oneOf", KW_SCHEMA_ARRAY},
    {"not", KW_SCHEMA},
    {"if", KW_SCHEMA},
    {"then", KW_SCHEMA},
    {"else", KW_SCHEMA},
    {"dependentRequired", KW_DEP_REQUIRED},
    {"$ref", KW_REF},
    {"$id", KW_ID},
};

struct loader {
    struct jschema_registry *reg;
    size_t pcap, rcap;
    char *err;
    size_t errlen;
};

static int load_fail(struct loader *l, const struct sdoc *doc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int load_fail(struct loader *l, const struct sdoc *doc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(l->err, l->errlen, "%s: %s", doc ? doc->name : "schemas", msg);
    return -1;
}

static const struct sdoc *find_doc_by(const struct jschema_registry *reg, const char *key, bool id)
{
    for (size_t i = 0; i < reg->ndocs; i++) {
        const char *k = id ? reg->docs[i].id : reg->docs[i].alias;
        if (k && strcmp(k, key) == 0)
            return &reg->docs[i];
    }
    return NULL;
}

/* Removes "." and ".." segments of a "/"-separated path in place. Returns
 * -1 when ".." climbs above the start. */
static int remove_dot_segments(char *path)
{
    char *out = path, *in = path;
    while (*in) {
        char *end = strchr(in, '/');
        size_t len = end ? (size_t)(end - in) : strlen(in);
        if (len == 1 && in[0] == '.') {
            /* skip */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            if (out == path)
                return -1;
            out--; /* the '/' ending the previous segment */
            while (out > path && out[-1] != '/')
                out--;
        } else {
            memmove(out, in, len);
            out += len;
            if (end)
                *out++ = '/';
        }
        in += len + (end ? 1 : 0);
    }
    *out = '\0';
    return 0;
}

/* base up to and including its last '/', then rel, dot segments removed. */
static char *resolve_relative(const char *base, const char *rel, size_t rel_len)
{
    const char *slash = strrchr(base, '/');
    size_t keep = slash ? (size_t)(slash - base) + 1 : 0;
    const char *scheme = strstr(base, "://");
    size_t root = 0;
    char *out = xmalloc(keep + rel_len + 1);

    memcpy(out, base, keep);
    memcpy(out + keep, rel, rel_len);
    out[keep + rel_len] = '\0';
    if (scheme) { /* keep "https://host/" out of the dot-segment walk */
        const char *path = strchr(scheme + 3, '/');
        root = path ? (size_t)(path - base) + 1 : strlen(out);
    }
    if (remove_dot_segments(out + root) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static const json_t *json_pointer_get(const json_t *root, const char *ptr)
{
    const json_t *cur = root;
    if (*ptr == '\0')
        return root;
    if (*ptr != '/')
        return NULL;
    while (cur && *ptr == '/') {
        char seg[256];
        size_t n = 0;
        ptr++;
        while (*ptr && *ptr != '/') {
            char c = *ptr++;
            if (c == '~') {
                if (*ptr == '0')
                    c = '~';
                else if (*ptr == '1')
                    c = '/';
                else
                    return NULL;
                ptr++;
            }
            if (n + 1 >= sizeof seg)
                return NULL;
            seg[n++] = c;
        }
        seg[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            cur = (n > 0 && *end == '\0') ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return cur;
}

static int resolve_ref(struct loader *l, const struct sdoc *doc, const json_t *refv)
{
    const char *ref = json_string_value(refv);
    const char *hash = strchr(ref, '#');
    size_t ulen = hash ? (size_t)(hash - ref) : strlen(ref);
    const char *frag = hash ? hash + 1 : "";
    const struct sdoc *target_doc = doc;
    const json_t *target;
    struct jschema_registry *reg = l->reg;

    if (ulen > 0) {
        bool absolute = memmem(ref, ulen, "://", 3) != NULL || strncmp(ref, "urn:", 4) == 0;
        char *uri;
        target_doc = NULL;
        if (absolute) {
            uri = xstrndup(ref, ulen);
            target_doc = find_doc_by(reg, uri, true);
            free(uri);
        } else {
            /* Relative refs are file paths next to the referring file; when
             * the files' $id mirror the tree, as ours do, this is also the
             * RFC 3986 resolution against $id. */
            uri = resolve_relative(doc->alias, ref, ulen);
            if (uri)
                target_doc = find_doc_by(reg, uri, false);
            free(uri);
            if (!target_doc && doc->id) {
                uri = resolve_relative(doc->id, ref, ulen);
                if (uri)
                    target_doc = find_doc_by(reg, uri, true);
                free(uri);
            }
        }
        if (!target_doc)
            return load_fail(l, doc, "$ref \"%s\": no such schema", ref);
    }
    target = json_pointer_get(target_doc->root, frag);
    if (!target || !(json_is_object(target) || json_is_boolean(target)))
        return load_fail(l, doc, "$ref \"%s\": no schema at that pointer", ref);
    if (reg->nrefs == l->rcap) {
        l->rcap = l->rcap ? 2 * l->rcap : 64;
        reg->refs = xrealloc(reg->refs, l->rcap * sizeof *reg->refs);
    }
    reg->refs[reg->nrefs++] = (struct resolved_ref){refv, target_doc, target};
    return 0;
}

static void *pcre_alloc(size_t n, void *data)
{
    (void)data;
    return xmalloc(n);
}

static void pcre_free(void *p, void *data)
{
    (void)data;
    free(p);
}

/*
 * JSON Schema patterns are ECMA-262 regular expressions. PCRE2 is Perl's
 * dialect; these options bring it as close to ECMA-262 (with the "u" flag:
 * code points, not UTF-16 units) as PCRE2 allows:
 *   PCRE2_UTF               the pattern and subject are UTF-8, "." and
 *                           classes see code points;
 *   PCRE2_ALT_BSUX and
 *   PCRE2_EXTRA_ALT_BSUX    \uhhhh, \u{h...}, \xhh as ECMAScript reads them;
 *   PCRE2_DOLLAR_ENDONLY    "$" is the end of the string only, not also the
 *                           place before a final newline (Perl's reading,
 *                           which with newline ANY would let "VAN\u2028"
 *                           pass ^[A-Z0-9]{2,10}$);
 *   PCRE2_ALLOW_EMPTY_CLASS "[]" matches nothing and "[^]" anything;
 *   PCRE2_MATCH_UNSET_BACKREF a backreference to an unset group matches "";
 *   PCRE2_NEVER_BACKSLASH_C, PCRE2_NEVER_UCP: no single-byte \C, no (*UCP);
 *   no PCRE2_UCP            \d \w \b stay ASCII ([0-9], [A-Za-z0-9_]) as in
 *                           ECMAScript, so ^\d{3}$ matches "123" only;
 *   no PCRE2_DOTALL, newline ANY: "." refuses \n, \r, U+2028, U+2029 as
 *                           ECMAScript does (and also \v, \f, U+0085).
 * Known differences (docs/decisions.md): \s is ASCII whitespace only (no
 * U+00A0, U+FEFF, ...), "." refuses \v, \f and U+0085, and PCRE2 accepts
 * syntax ECMAScript does not (possessive quantifiers, \A, (?i)): schemas
 * stay within ECMA-262.
 */
#define PATTERN_OPTIONS                                                                            \
    (PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS |                 \
     PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP)

static int add_pattern(struct loader *l, const struct sdoc *doc, const json_t *pv)
{
    struct jschema_registry *reg = l->reg;
    int code;
    PCRE2_SIZE at;
    if (reg->npats == l->pcap) {
        l->pcap = l->pcap ? 2 * l->pcap : 16;
        reg->pats = xrealloc(reg->pats, l->pcap * sizeof *reg->pats);
    }
    if (!reg->pcre)
        reg->pcre = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    pcre2_compile_context *cc = pcre2_compile_context_create(reg->pcre);
    pcre2_set_newline(cc, PCRE2_NEWLINE_ANY);
    pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)json_string_value(pv), json_string_length(pv),
                                   PATTERN_OPTIONS, &code, &at, cc);
    pcre2_compile_context_free(cc);
    if (!re) {
        PCRE2_UCHAR why[128];
        pcre2_get_error_message(code, why, sizeof why);
        return load_fail(l, doc, "pattern \"%s\": %s at offset %zu", json_string_value(pv),
                         (const char *)why, (size_t)at);
    }
    reg->pats[reg->npats].re = re;
    reg->pats[reg->npats++].key = pv;
    return 0;
}

static bool is_string_array(const json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return false;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return false;
    }
    return true;
}

static bool is_type_name(const json_t *v)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "integer", "string"};
    if (!json_is_string(v))
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(json_string_value(v), names[i]) == 0)
            return true;
    return false;
}

static int check_schema(struct loader *l, const struct sdoc *doc, const json_t *s, int depth);

static int check_keyword(struct loader *l, const struct sdoc *doc, const char *kw,
                         enum kw_kind kind, const json_t *v, int depth)
{
    size_t i;
    json_t *e;
    const char *k;

    switch (kind) {
    case KW_SCHEMA:
        return check_schema(l, doc, v, depth + 1);
    case KW_SCHEMA_MAP:
        if (!json_is_object(v))
            return load_fail(l, doc, "%s must be an object", kw);
        json_object_foreach((json_t *)v, k, e)
        {
            if (check_schema(l, doc, e, depth + 1) != 0)
                return -1;
        }
        return 0;
    case KW_SCHEMA_ARRAY:
        if (!json_is_array(v) || json_array_size(v) == 0)
            return load_fail(l, doc, "%s must be a non-empty array", kw);
        json_array_foreach(v, i, e)
        {
            if (check_schema(l, doc, e, depth + 1) != 0)
                return -1;
        }
        return 0;
    case KW_STRING_ARRAY:
        return is_string_array(v) ? 0 : load_fail(l, doc, "%s must be an array of strings", kw);
    case KW_DEP_REQUIRED:
        if (!json_is_object(v))
            return load_fail(l, doc, "%s must be an object", kw);
        json_object_foreach((json_t *)v, k, e)
        {
            if (!is_string_array(e))
                return load_fail(l, doc, "%s/%s must be an array of strings", kw, k);
        }
        return 0;
    case KW_TYPE:
        if (is_type_name(v))
            return 0;
        if (json_is_array(v) && json_array_size(v) > 0) {
            json_array_foreach(v, i, e)
            {
                if (!is_type_name(e))
                    return load_fail(l, doc, "bad type");
            }
            return 0;
        }
        return load_fail(l, doc, "bad type");
    case KW_ANY:
        if (strcmp(kw, "enum") == 0 && !json_is_array(v))
            return load_fail(l, doc, "enum must be an array");
        return 0;
    case KW_NUMBER:
        return json_is_number(v) ? 0 : load_fail(l, doc, "%s must be a number", kw);
    case KW_POSITIVE:
        return json_is_number(v) && num(v) > 0 ? 0 : load_fail(l, doc, "%s must be > 0", kw);
    case KW_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0
                   ? 0
                   : load_fail(l, doc, "%s must be a non-negative integer", kw);
    case KW_PATTERN:
        if (!json_is_string(v))
            return load_fail(l, doc, "pattern must be a string");
        return add_pattern(l, doc, v);
    case KW_FORMAT:
        if (!json_is_string(v) || !find_format(json_string_value(v)))
            return load_fail(l, doc, "unsupported format %s",
                             json_is_string(v) ? json_string_value(v) : "(not a string)");
        return 0;
    case KW_REF:
        if (!json_is_string(v))
            return load_fail(l, doc, "$ref must be a string");
        return resolve_ref(l, doc, v);
    case KW_ID:
        if (depth != 0)
            return load_fail(l, doc, "$id is supported only at the top of a file");
        return 0;
    case KW_UNEVALUATED:
        /* Only the boolean form: a schema there would need annotation
         * semantics we do not implement. */
        return json_is_boolean(v) ? 0
                                  : load_fail(l, doc, "unevaluatedProperties must be a boolean");
    }
    return 0;
}

static int check_schema(struct loader *l, const struct sdoc *doc, const json_t *s, int depth)
{
    const char *kw;
    json_t *v;

    if (depth > MAX_SCHEMA_DEPTH)
        return load_fail(l, doc, "schema nests deeper than %d", MAX_SCHEMA_DEPTH);
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s))
        return load_fail(l, doc, "a schema must be an object or a boolean");
    json_object_foreach((json_t *)s, kw, v)
    {
        size_t i;
        bool known = false;
        for (i = 0; annotation_words[i]; i++)
            if (strcmp(kw, annotation_words[i]) == 0)
                known = true;
        if (known)
            continue;
        for (i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
            if (strcmp(kw, keywords[i].word) == 0)
                break;
        if (i == sizeof keywords / sizeof keywords[0])
            return load_fail(l, doc, "unsupported keyword \"%s\"", kw);
        if (check_keyword(l, doc, kw, keywords[i].kind, v, depth) != 0)
            return -1;
    }
    return 0;
}

/* Collects every *.json under dir into reg->docs (names relative to top). */
static int collect_files(struct loader *l, const char *dir, const char *rel, int depth, size_t *cap)
{
    struct jschema_registry *reg = l->reg;
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (depth > MAX_DIR_DEPTH)
        return load_fail(l, NULL, "%s: directories nest too deep", dir);
    d = opendir(dir);
    if (!d)
        return load_fail(l, NULL, "%s: %s", dir, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char *path, *name;
        struct stat st;
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.')
            continue;
        path = xasprintf("%s/%s", dir, de->d_name);
        name = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        if (stat(path, &st) != 0) {
            rc = load_fail(l, NULL, "%s: %s", path, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = collect_files(l, path, name, depth + 1, cap);
        } else if (S_ISREG(st.st_mode) && len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
            json_error_t jerr;
            json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
            if (!root) {
                rc = load_fail(l, NULL, "%s:%d: %s", path, jerr.line, jerr.text);
            } else {
                struct sdoc *doc;
                const json_t *id = json_object_get(root, "$id");
                if (reg->ndocs == *cap) {
                    *cap = *cap ? 2 * *cap : 32;
                    reg->docs = xrealloc(reg->docs, *cap * sizeof *reg->docs);
                }
                doc = &reg->docs[reg->ndocs++];
                doc->alias = name;
                name = NULL;
                doc->name = xstrndup(doc->alias, strlen(doc->alias) - 5);
                doc->id = json_is_string(id) ? xstrdup(json_string_value(id)) : NULL;
                doc->root = root;
            }
        }
        free(path);
        free(name);
    }
    closedir(d);
    return rc;
}

struct jschema_registry *jschema_registry_load(const char *dir, char *err, size_t errlen)
{
    struct jschema_registry *reg = xcalloc(1, sizeof *reg);
    struct loader l = {reg, 0, 0, err, errlen};
    size_t cap = 0;

    if (collect_files(&l, dir, "", 0, &cap) != 0)
        goto fail;
    if (reg->ndocs == 0) {
        load_fail(&l, NULL, "%s: no *.json schemas", dir);
        goto fail;
    }
    qsort(reg->docs, reg->ndocs, sizeof *reg->docs, cmp_doc_name);
    for (size_t i = 0; i < reg->ndocs; i++) {
        for (size_t j = 0; j < i; j++)
            if (reg->docs[i].id && reg->docs[j].id &&
                strcmp(reg->docs[i].id, reg->docs[j].id) == 0) {
                load_fail(&l, &reg->docs[i], "$id also used by %s", reg->docs[j].name);
                goto fail;
            }
        if (check_schema(&l, &reg->docs[i], reg->docs[i].root, 0) != 0)
            goto fail;
    }
    if (reg->npats > 0)
        qsort(reg->pats, reg->npats, sizeof *reg->pats, cmp_key_addr);
    if (reg->nrefs > 0)
        qsort(reg->refs, reg->nrefs, sizeof *reg->refs, cmp_key_addr);
    return reg;
fail:
    jschema_registry_free(reg);
    return NULL;
}

void jschema_registry_free(struct jschema_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->ndocs; i++) {
        free(reg->docs[i].name);
        free(reg->docs[i].alias);
        free(reg->docs[i].id);
        json_decref(reg->docs[i].root);
    }
    for (size_t i = 0; i < reg->npats; i++)
        pcre2_code_free(reg->pats[i].re);
    pcre2_general_context_free(reg->pcre);
    free(reg->docs);
    free(reg->pats);
    free(reg->refs);
    free(reg);
}

static const struct sdoc *find_doc(const struct jschema_registry *reg, const char *name)
{
    struct sdoc key = {.name = (char *)name};
    const struct sdoc *doc;
    if (!reg || !name)
        return NULL;
    doc = bsearch(&key, reg->docs, reg->ndocs, sizeof *reg->docs, cmp_doc_name);
    return doc ? doc : find_doc_by(reg, name, true);
}

const json_t *jschema_get(const struct jschema_registry *reg, const char *name)
{
    const struct sdoc *doc = find_doc(reg, name);
    return doc ? doc->root : NULL;
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */

/* Property names of one instance object that some subschema evaluated. */
struct keyset {
    const char **keys;
    size_t n, cap;
    const char *inline_keys[16];
};

static void keyset_init(struct keyset *ks)
{
    ks->keys = ks->inline_keys;
    ks->n = 0;
    ks->cap = sizeof ks->inline_keys / sizeof ks->inline_keys[0];
}

static void keyset_done(struct keyset *ks)
{
    if (ks->keys != ks->inline_keys)
        free(ks->keys);
}

static bool keyset_has(const struct keyset *ks, const char *k)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i] == k || strcmp(ks->keys[i], k) == 0)
            return true;
    return false;
}

static void keyset_add(struct keyset *ks, const char *k)
{
    if (keyset_has(ks, k))
        return;
    if (ks->n == ks->cap) {
        ks->cap *= 2;
        if (ks->keys == ks->inline_keys) {
            ks->keys = xmalloc(ks->cap * sizeof *ks->keys);
            memcpy(ks->keys, ks->inline_keys, ks->n * sizeof *ks->keys);
        } else {
            ks->keys = xrealloc(ks->keys, ks->cap * sizeof *ks->keys);
        }
    }
    ks->keys[ks->n++] = k;
}

static void keyset_merge(struct keyset *into, const struct keyset *from)
{
    if (!into)
        return;
    for (size_t i = 0; i < from->n; i++)
        keyset_add(into, from->keys[i]);
}

struct vctx {
    const struct jschema_registry *reg;
    json_t *errors; /* NULL: count only */
    int nerrors;
    int quiet; /* > 0 while trying an alternative: record nothing, stop at once */
    int depth;
    const char *prefix;
    char *path; /* JSON Pointer of the current instance location */
    size_t plen, pcap;
};

/* Stop walking: the answer is known (quiet) or enough has been said. */
static bool stop(const struct vctx *c)
{
    return c->quiet > 0 || c->nerrors >= MAX_ERRORS;
}

static void path_append(struct vctx *c, const char *s, size_t n)
{
    if (c->plen + n + 1 > c->pcap) {
        while (c->plen + n + 1 > c->pcap)
            c->pcap = c->pcap ? 2 * c->pcap : 128;
        c->path = xrealloc(c->path, c->pcap);
    }
    memcpy(c->path + c->plen, s, n);
    c->plen += n;
    c->path[c->plen] = '\0';
}

/* Pushes "/" + key escaped per RFC 6901; returns the length to pop back to. */
static size_t path_push_key(struct vctx *c, const char *key)
{
    size_t old = c->plen;
    path_append(c, "/", 1);
    for (const char *p = key; *p; p++) {
        if (*p == '~')
            path_append(c, "~0", 2);
        else if (*p == '/')
            path_append(c, "~1", 2);
        else
            path_append(c, p, 1);
    }
    return old;
}

static size_t path_push_index(struct vctx *c, size_t i)
{
    char buf[32];
    size_t old = c->plen;
    int n = snprintf(buf, sizeof buf, "/%zu", i);
    path_append(c, buf, (size_t)n);
    return old;
}

static void path_pop(struct vctx *c, size_t old)
{
    c->plen = old;
    if (c->path)
        c->path[old] = '\0';
}

/* Cuts a multi-byte sequence that truncation left incomplete at the end. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n, need;
    unsigned char lead;

    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && n - i < 3)
        i--;
    if (i == 0)
        return;
    lead = (unsigned char)s[i - 1];
    if (lead < 0xC0)
        return; /* ASCII last: complete */
    need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
    if (n - i < need)
        s[i - 1] = '\0';
}

static void report(struct vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct vctx *c, const char *fmt, ...)
{
    char msg[512];
    char *path;
    va_list ap;
    json_t *e, *pathv, *msgv;

    if (c->quiet > 0 || c->nerrors >= MAX_ERRORS)
        return;
    c->nerrors++;
    if (!c->errors)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_trim(msg);
    path = xasprintf("%s%s", c->prefix, c->path);
    /* The same complaint reached twice (a type checked by the envelope and
     * by the command schema it refers to) is said once. */
    for (size_t i = 0; i < json_array_size(c->errors); i++) {
        const json_t *old = json_array_get(c->errors, i);
        const char *op = json_string_value(json_object_get(old, "path"));
        const char *om = json_string_value(json_object_get(old, "message"));
        if (op && om && strcmp(op, path) == 0 && strcmp(om, msg) == 0) {
            free(path);
            c->nerrors--;
            return;
        }
    }
    /* Keys come from a parsed document and are valid UTF-8; a caller's
     * prefix might not be, and json_string() refuses that. */
    pathv = json_string(path);
    e = json_object();
    json_object_set_new(e, "path", pathv ? pathv : json_string(""));
    msgv = json_string(msg); /* utf8_trim made it valid; belt and braces */
    json_object_set_new(e, "message", msgv ? msgv : json_string("invalid"));
    json_array_append_new(c->errors, e);
    free(path);
}

/* Report at the location of a child key (a missing or unknown field). */
static void report_at_key(struct vctx *c, const char *key, const char *msg)
{
    size_t old = path_push_key(c, key);
    report(c, "%s", msg);
    path_pop(c, old);
}

static const struct resolved_ref *find_ref(const struct jschema_registry *reg, const json_t *key)
{
    struct resolved_ref k = {.key = key};
    if (reg->nrefs == 0)
        return NULL;
    return bsearch(&k, reg->refs, reg->nrefs, sizeof *reg->refs, cmp_key_addr);
}

static const pcre2_code *find_pattern(const struct jschema_registry *reg, const json_t *key)
{
    struct compiled_pattern k = {.key = key};
    const struct compiled_pattern *p =
        reg->npats ? bsearch(&k, reg->pats, reg->npats, sizeof *reg->pats, cmp_key_addr) : NULL;
    return p ? p->re : NULL;
}

/* Whether re finds a match anywhere in the bytes-long UTF-8 string s (JSON
 * Schema patterns are not implicitly anchored). A string that is not valid
 * UTF-8 (jansson never makes one) matches nothing. */
static bool pattern_matches(const struct jschema_registry *reg, const pcre2_code *re, const char *s,
                            size_t bytes)
{
    pcre2_match_data *md = pcre2_match_data_create(1, reg->pcre);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, bytes, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static bool v_schema(struct vctx *c, const json_t *inst, const json_t *s, struct keyset *ev);

static bool type_is(const json_t *v, const char *t)
{
    switch (t[0]) {
    case 'n':
        return t[1] == 'u' && t[2] == 'm' ? json_is_number(v) : json_is_null(v);
    case 'b':
        return json_is_boolean(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v);
    case 's':
        return json_is_string(v);
    case 'i':
        return is_integral(v);
    }
    return false;
}

static const char *type_phrase(const char *t)
{
    if (strcmp(t, "integer") == 0)
        return "an integer";
    if (strcmp(t, "array") == 0)
        return "an array";
    if (strcmp(t, "object") == 0)
        return "an object";
    if (strcmp(t, "null") == 0)
        return "null";
    if (strcmp(t, "string") == 0)
        return "a string";
    if (strcmp(t, "number") == 0)
        return "a number";
    return "a boolean";
}

static bool v_type(struct vctx *c, const json_t *inst, const json_t *t)
{
    char msg[160] = "must be ";
    size_t i;
    json_t *e;

    if (json_is_string(t)) {
        if (type_is(inst, json_string_value(t)))
            return true;
        report(c, "must be %s", type_phrase(json_string_value(t)));
        return false;
    }
    json_array_foreach(t, i, e)
    {
        if (type_is(inst, json_string_value(e)))
            return true;
    }
    json_array_foreach(t, i, e)
    {
        if (i > 0)
            strncat(msg, " or ", sizeof msg - strlen(msg) - 1);
        strncat(msg, type_phrase(json_string_value(e)), sizeof msg - strlen(msg) - 1);
    }
    report(c, "%s", msg);
    return false;
}

/* "a, b, c" of a string array, for messages. */
static void join_strings(const json_t *arr, char *buf, size_t len)
{
    size_t i;
    json_t *e;
    buf[0] = '\0';
    json_array_foreach(arr, i, e)
    {
        const char *s = json_is_string(e) ? json_string_value(e) : "?";
        if (i > 0)
            strncat(buf, ", ", len - strlen(buf) - 1);
        strncat(buf, s, len - strlen(buf) - 1);
    }
}

static void v_enum(struct vctx *c, const json_t *inst, const json_t *list, bool *ok)
{
    size_t i;
    json_t *e;
    char buf[300];

    json_array_foreach(list, i, e)
    {
        if (json_equal_schema(inst, e, 0))
            return;
    }
    buf[0] = '\0';
    json_array_foreach(list, i, e)
    {
        char *dump = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT);
        if (i > 0)
            strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
        strncat(buf, dump ? dump : "?", sizeof buf - strlen(buf) - 1);
        free(dump);
    }
    report(c, "must be one of: %s", buf);
    *ok = false;
}

static void v_number(struct vctx *c, const json_t *inst, const json_t *s, bool *ok)
{
    const json_t *b;
    char n[40];

    if ((b = json_object_get(s, "minimum")) && num_cmp(inst, b) < 0) {
        fmt_num(b, n, sizeof n);
        report(c, "must be >= %s", n);
        *ok = false;
    }
    if ((b = json_object_get(s, "exclusiveMinimum")) && num_cmp(inst, b) <= 0) {
        fmt_num(b, n, sizeof n);
        report(c, "must be > %s", n);
        *ok = false;
    }
    if ((b = json_object_get(s, "maximum")) && num_cmp(inst, b) > 0) {
        fmt_num(b, n, sizeof n);
        report(c, "must be <= %s", n);
        *ok = false;
    }
    if ((b = json_object_get(s, "exclusiveMaximum")) && num_cmp(inst, b) >= 0) {
        fmt_num(b, n, sizeof n);
        report(c, "must be < %s", n);
        *ok = false;
    }
    if ((b = json_object_get(s, "multipleOf")) && !multiple_of(inst, b)) {
        int k = json_is_real(b) ? decimal_step(json_real_value(b)) : -1;
        if (k > 0) {
            report(c, "at most %d decimal%s", k, k == 1 ? "" : "s");
        } else {
            fmt_num(b, n, sizeof n);
            report(c, "must be a multiple of %s", n);
        }
        *ok = false;
    }
}

static void v_string(struct vctx *c, const json_t *inst, const json_t *s, bool *ok)
{
    const char *str = json_string_value(inst);
    size_t bytes = json_string_length(inst);
    const json_t *b;

    const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");

    if (mn || mx) {
        size_t len = utf8_length(str, bytes);
        if (mn && len < (size_t)json_integer_value(mn)) {
            json_int_t m = json_integer_value(mn);
            if (m == 1)
                report(c, "must not be empty");
            else
                report(c, "must be at least %" JSON_INTEGER_FORMAT " characters", m);
            *ok = false;
        }
        if (mx && len > (size_t)json_integer_value(mx)) {
            report(c, "must be at most %" JSON_INTEGER_FORMAT " characters",
                   json_integer_value(mx));
            *ok = false;
        }
    }
    if (stop(c) && !*ok)
        return;
    if ((b = json_object_get(s, "pattern"))) {
        const pcre2_code *re = find_pattern(c->reg, b);
        if (!re || !pattern_matches(c->reg, re, str, bytes)) {
            /* A title says what the pattern means better than the regex. */
            const json_t *title = json_object_get(s, "title");
            if (json_is_string(title))
                report(c, "must be %s", json_string_value(title));
            else
                report(c, "must match the pattern %s", json_string_value(b));
            *ok = false;
        }
    }
    /* A string of the wrong shape gets one message, not two. */
    if (!*ok)
        return;
    if ((b = json_object_get(s, "format"))) {
        const struct format *f = find_format(json_string_value(b));
        const char *why = f ? f->check(str, bytes) : NULL;
        if (f && strlen(str) != bytes)
            why = "must not contain NUL";
        if (why) {
            report(c, "%s", why);
            *ok = false;
        }
    }
}

static void v_array(struct vctx *c, const json_t *inst, const json_t *s, bool *ok)
{
    size_t n = json_array_size(inst), first = 0;
    const json_t *b;

    if ((b = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(b)) {
        report(c, "must have at least %" JSON_INTEGER_FORMAT " item%s", json_integer_value(b),
               json_integer_value(b) == 1 ? "" : "s");
        *ok = false;
    }
    if ((b = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(b)) {
        report(c, "must have at most %" JSON_INTEGER_FORMAT " item%s", json_integer_value(b),
               json_integer_value(b) == 1 ? "" : "s");
        *ok = false;
    }
    if (stop(c) && !*ok)
        return;
    if ((b = json_object_get(s, "prefixItems"))) {
        size_t m = json_array_size(b);
        for (size_t i = 0; i < m && i < n; i++) {
            size_t old = path_push_index(c, i);
            if (!v_schema(c, json_array_get(inst, i), json_array_get(b, i), NULL))
                *ok = false;
            path_pop(c, old);
            if (stop(c) && !*ok)
                return;
        }
        first = m;
    }
    if ((b = json_object_get(s, "items"))) {
        for (size_t i = first; i < n; i++) {
            size_t old = path_push_index(c, i);
            if (json_is_false(b)) {
                report(c, "no item allowed here");
                *ok = false;
            } else if (!v_schema(c, json_array_get(inst, i), b, NULL)) {
                *ok = false;
            }
            path_pop(c, old);
            if (stop(c) && !*ok)
                return;
        }
    }
}

static void v_object(struct vctx *c, const json_t *inst, const json_t *s, struct keyset *ev,
                     bool *ok)
{
    const json_t *req = json_object_get(s, "required");
    const json_t *props = json_object_get(s, "properties");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const json_t *dep = json_object_get(s, "dependentRequired");
    const char *k;
    json_t *v;
    size_t i;
    json_t *e;

    if (req) {
        json_array_foreach(req, i, e)
        {
            if (!json_object_get(inst, json_string_value(e))) {
                report_at_key(c, json_string_value(e), "is required");
                *ok = false;
                if (stop(c))
                    return;
            }
        }
    }
    if (dep) {
        json_object_foreach((json_t *)dep, k, v)
        {
            if (!json_object_get(inst, k))
                continue;
            json_array_foreach(v, i, e)
            {
                if (!json_object_get(inst, json_string_value(e))) {
                    char msg[200];
                    snprintf(msg, sizeof msg, "is required when %s is present", k);
                    report_at_key(c, json_string_value(e), msg);
                    *ok = false;
                    if (stop(c))
                        return;
                }
            }
        }
    }
    /* Iterate the instance, not the schema: its keys are what may be
     * unknown, and its key strings live as long as the document. */
    json_object_foreach((json_t *)inst, k, v)
    {
        const json_t *sub = props ? json_object_get(props, k) : NULL;
        size_t old;

        if (!sub) {
            if (!addl)
                continue;
            if (json_is_false(addl)) {
                report_at_key(c, k, "unknown field");
                *ok = false;
                if (stop(c))
                    return;
                continue;
            }
            sub = addl;
        }
        old = path_push_key(c, k);
        if (json_is_false(sub)) {
            report(c, "not allowed here");
            *ok = false;
        } else if (!v_schema(c, v, sub, NULL)) {
            *ok = false;
        }
        path_pop(c, old);
        if (ev)
            keyset_add(ev, k);
        if (stop(c) && !*ok)
            return;
    }
}

/* A branch that only says which fields must be present, e.g. the
 * {"required": ["income"]} halves of "unit_value_cents xor income". */
static const json_t *only_required(const json_t *s)
{
    const char *k;
    json_t *v;
    const json_t *req = NULL;
    if (!json_is_object(s))
        return NULL;
    json_object_foreach((json_t *)s, k, v)
    {
        if (strcmp(k, "required") == 0)
            req = v;
        else if (strcmp(k, "title") != 0 && strcmp(k, "description") != 0 &&
                 strcmp(k, "$comment") != 0)
            return NULL;
    }
    return req;
}

/* "a, b" naming the fields of all-"required" branches, or false. */
static bool branch_fields(const json_t *branches, char *buf, size_t len)
{
    size_t i;
    json_t *b;
    buf[0] = '\0';
    json_array_foreach(branches, i, b)
    {
        const json_t *req = only_required(b);
        char part[200];
        if (!req || json_array_size(req) == 0)
            return false;
        join_strings(req, part, sizeof part);
        if (json_array_size(req) > 1) {
            char *p = xasprintf("(%s)", part);
            snprintf(part, sizeof part, "%s", p);
            free(p);
        }
        if (i > 0)
            strncat(buf, ", ", len - strlen(buf) - 1);
        strncat(buf, part, len - strlen(buf) - 1);
    }
    return true;
}

/* Tries s on inst without recording errors. Evaluated keys go to ev only
 * when it passes. */
static bool try_schema(struct vctx *c, const json_t *inst, const json_t *s, struct keyset *ev)
{
    struct keyset mine;
    bool ok;
    keyset_init(&mine);
    c->quiet++;
    ok = v_schema(c, inst, s, json_is_object(inst) ? &mine : NULL);
    c->quiet--;
    if (ok)
        keyset_merge(ev, &mine);
    keyset_done(&mine);
    return ok;
}

static void v_combinators(struct vctx *c, const json_t *inst, const json_t *s, struct keyset *ev,
                          bool *ok)
{
    const json_t *b;
    size_t i;
    json_t *e;
    char fields[300];

    if ((b = json_object_get(s, "allOf"))) {
        json_array_foreach(b, i, e)
        {
            if (!v_schema(c, inst, e, ev))
                *ok = false;
            if (stop(c) && !*ok)
                return;
        }
    }
    if ((b = json_object_get(s, "anyOf"))) {
        size_t matched = 0;
        /* Every branch is tried: annotations of all passing ones count. */
        json_array_foreach(b, i, e)
        {
            if (try_schema(c, inst, e, ev))
                matched++;
        }
        if (matched == 0) {
            if (json_is_object(inst) && branch_fields(b, fields, sizeof fields))
                report(c, "must have at least one of %s", fields);
            else
                report(c, "must match at least one of the alternatives (anyOf)");
            *ok = false;
            if (stop(c))
                return;
        }
    }
    if ((b = json_object_get(s, "oneOf"))) {
        size_t matched = 0;
        json_array_foreach(b, i, e)
        {
            if (try_schema(c, inst, e, ev))
                matched++;
        }
        if (matched != 1) {
            if (json_is_object(inst) && branch_fields(b, fields, sizeof fields))
                report(c, "must have exactly one of %s%s", fields,
                       matched == 0 ? "" : ", not several");
            else
                report(c, "must match exactly one of the alternatives (oneOf), matched %zu",
                       matched);
            *ok = false;
            if (stop(c))
                return;
        }
    }
    if ((b = json_object_get(s, "not"))) {
        if (try_schema(c, inst, b, NULL)) {
            const json_t *req = only_required(b);
            const json_t *title = json_object_get(b, "title");
            if (json_is_string(title)) {
                report(c, "must not be %s", json_string_value(title));
            } else if (req && json_is_object(inst)) {
                join_strings(req, fields, sizeof fields);
                report(c, "must not have %s%s", json_array_size(req) > 1 ? "all of " : "", fields);
            } else {
                report(c, "must not match the schema in \"not\"");
            }
            *ok = false;
            if (stop(c))
                return;
        }
    }
    if ((b = json_object_get(s, "if"))) {
        const json_t *then = json_object_get(s, "then"), *els = json_object_get(s, "else");
        const json_t *next = try_schema(c, inst, b, ev) ? then : els;
        if (next && !v_schema(c, inst, next, ev))
            *ok = false;
    }
}

static bool v_schema(struct vctx *c, const json_t *inst, const json_t *s, struct keyset *ev)
{
    struct keyset mine;
    const json_t *b;
    bool ok = true;

    if (json_is_true(s))
        return true;
    if (json_is_false(s)) {
        report(c, "not allowed here");
        return false;
    }
    if (c->depth >= MAX_EVAL_DEPTH) {
        report(c, "schema recursion deeper than %d", MAX_EVAL_DEPTH);
        return false;
    }
    c->depth++;
    keyset_init(&mine);

    if ((b = json_object_get(s, "$ref"))) {
        const struct resolved_ref *r = find_ref(c->reg, b);
        if (!r) { /* cannot happen: every $ref was resolved at load */
            report(c, "unresolved $ref %s", json_string_value(b));
            ok = false;
        } else if (!v_schema(c, inst, r->target, &mine)) {
            ok = false;
        }
        if (stop(c) && !ok)
            goto out;
    }
    if ((b = json_object_get(s, "type")) && !v_type(c, inst, b)) {
        /* Other checks on a value of the wrong type would only add noise. */
        ok = false;
        goto out;
    }
    if ((b = json_object_get(s, "enum")))
        v_enum(c, inst, b, &ok);
    if ((b = json_object_get(s, "const")) && !json_equal_schema(inst, b, 0)) {
        char *dump = json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT);
        report(c, "must be %s", dump ? dump : "the constant");
        free(dump);
        ok = false;
    }
    if (stop(c) && !ok)
        goto out;
    if (json_is_number(inst))
        v_number(c, inst, s, &ok);
    else if (json_is_string(inst))
        v_string(c, inst, s, &ok);
    else if (json_is_array(inst))
        v_array(c, inst, s, &ok);
    else if (json_is_object(inst))
        v_object(c, inst, s, &mine, &ok);
    if (stop(c) && !ok)
        goto out;
    v_combinators(c, inst, s, json_is_object(inst) ? &mine : NULL, &ok);
    if (stop(c) && !ok)
        goto out;
    if (json_is_object(inst) && json_is_false(json_object_get(s, "unevaluatedProperties"))) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)inst, k, v)
        {
            if (!keyset_has(&mine, k)) {
                report_at_key(c, k, "unknown field");
                ok = false;
                if (stop(c))
                    goto out;
            }
        }
    }
    if (json_is_object(inst) && json_object_get(s, "unevaluatedProperties")) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)inst, k, v)
        {
            keyset_add(&mine, k);
        }
    }
out:
    if (ok)
        keyset_merge(ev, &mine);
    keyset_done(&mine);
    c->depth--;
    return ok;
}

int jschema_validate(const struct jschema_registry *reg, const char *name, const json_t *doc,
                     const char *path_prefix, json_t **errors)
{
    const struct sdoc *sd = find_doc(reg, name);
    struct vctx c = {0};
    bool ok;

    if (errors)
        *errors = NULL;
    if (!sd || !doc)
        return -1;
    c.reg = reg;
    c.prefix = path_prefix ? path_prefix : "";
    c.errors = errors ? json_array() : NULL;
    path_append(&c, "", 0);
    ok = v_schema(&c, doc, sd->root, NULL);
    free(c.path);
    if (ok) {
        json_decref(c.errors);
        return 0;
    }
    if (errors)
        *errors = c.errors;
    return 1;
}
