/*
 * Finvoice 3.0 rendering: every document is validated with xmllint against
 * schemas/finvoice/Finvoice3.0.xsd (vendored in the repository), and the
 * amounts an organiser's bank and accounting read are checked as text.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain/settlement.h"
#include "formats/finvoice.h"
#include "core/money.h"

#define FV_XSD PSOP_SOURCE_DIR "/schemas/finvoice/Finvoice3.0.xsd"
#define FV_FIXTURES PSOP_SOURCE_DIR "/tests/fixtures/finvoice/"

static json_t *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, FV_FIXTURES "%s", name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    cr_assert_not_null(j, "%s: %s (line %d)", path, e.text, e.line);
    return j;
}

static char *render_ok(const json_t *doc)
{
    char err[256] = "";
    char *xml = finvoice_render(doc, err, sizeof err);
    cr_assert_not_null(xml, "finvoice_render refused a valid settlement: %s", err);
    return xml;
}

/* xmllint --noout --schema Finvoice3.0.xsd; the file is kept on failure. */
static void assert_valid(const char *xml, const char *what)
{
    cr_assert_eq(access(FV_XSD, R_OK), 0,
                 "Finvoice schema not found at %s (vendored in schemas/finvoice/)", FV_XSD);
    char path[] = "/tmp/psop-finvoice-XXXXXX.xml";
    int fd = mkstemps(path, 4);
    cr_assert_geq(fd, 0, "mkstemps");
    size_t n = strlen(xml);
    cr_assert_eq(write(fd, xml, n), (ssize_t)n, "write %s", path);
    close(fd);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "xmllint --noout --schema '%s' '%s' 2>&1", FV_XSD, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen xmllint");
    char out[8192];
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 127,
              "xmllint not runnable (install libxml2-utils): %s", out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "%s does not validate against Finvoice 3.0 (kept as %s):\n%s", what, path, out);
    unlink(path);
}

static void has(const char *xml, const char *needle)
{
    cr_assert_not_null(strstr(xml, needle), "expected in the XML: %s", needle);
}

static size_t count(const char *xml, const char *needle)
{
    size_t k = 0;
    for (const char *p = xml; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        k++;
    return k;
}

#define EUR(el, v) "<" el " AmountCurrencyIdentifier=\"EUR\">" v "</" el ">"

Test(finvoice, taxable_and_exempt_with_banded_hours)
{
    json_t *doc = load("mixed.json");
    char *xml = render_ok(doc);
    assert_valid(xml, "mixed.json");

    has(xml, "<Finvoice Version=\"3.0\">");
    /* provider sells, organiser buys */
    has(xml, "<SellerPartyIdentifier>7654321-2</SellerPartyIdentifier>");
    has(xml, "<SellerOrganisationName>Hoivapalvelu Aurinko Oy</SellerOrganisationName>");
    has(xml, "<SellerEmailaddressIdentifier>laskutus@aurinko.example<");
    has(xml, "<BuyerPartyIdentifier>1122334-9</BuyerPartyIdentifier>");
    has(xml, "<BuyerOrganisationName>Esimerkkikunta</BuyerOrganisationName>");
    cr_assert_null(strstr(xml, "SellerAccountDetails"), "no invented BIC");
    /* header */
    has(xml, "<InvoiceTypeCode CodeListAgencyIdentifier=\"SPY\">INV01</InvoiceTypeCode>");
    has(xml, "<InvoiceTypeText>LASKU</InvoiceTypeText>");
    has(xml, "<InvoiceNumber>DEMO-2026-000001</InvoiceNumber>");
    /* created 22:30Z on 31 January = 1 February in Helsinki */
    has(xml, "<InvoiceDate Format=\"CCYYMMDD\">20260201</InvoiceDate>");
    has(xml, "<InvoicingPeriodStartDate Format=\"CCYYMMDD\">20260101<");
    has(xml, "<InvoicingPeriodEndDate Format=\"CCYYMMDD\">20260131<");
    /* payable 293,00 of which VAT 28,04 (25,5 % of 138,00) */
    has(xml, EUR("InvoiceTotalVatExcludedAmount", "264,96"));
    has(xml, EUR("InvoiceTotalVatAmount", "28,04"));
    has(xml, EUR("InvoiceTotalVatIncludedAmount", "293,00"));
    /* clang-format off */
    has(xml, "<VatSpecificationDetails>\n"
             "      " EUR("VatBaseAmount", "155,00") "\n"
             "      <VatRatePercent>0</VatRatePercent>\n"
             "      <VatCode>E</VatCode>\n"
             "      " EUR("VatRateAmount", "0,00"));
    has(xml, "<VatSpecificationDetails>\n"
             "      " EUR("VatBaseAmount", "109,96") "\n"
             "      <VatRatePercent>25,5</VatRatePercent>\n"
             "      <VatCode>S</VatCode>\n"
             "      " EUR("VatRateAmount", "28,04"));
    /* clang-format on */
    has(xml, "Asiakasosuudet (yhteensä 54,50 €) laskutetaan asiakkailta");
    has(xml, "<PaymentTermsFreeText>14 päivää netto</PaymentTermsFreeText>");
    has(xml, "<InvoiceDueDate Format=\"CCYYMMDD\">20260215</InvoiceDueDate>");
    /* rows: one per line, the organiser's part */
    cr_assert_eq(count(xml, "<InvoiceRow>"), 4);
    has(xml, "<ArticleIdentifier>kotihoito</ArticleIdentifier>");
    has(xml, "<ArticleName>Kotihoito 5.1.2026 ilta</ArticleName>");
    has(xml, "<DeliveredQuantity QuantityUnitCode=\"h\" QuantityUnitCodeUN=\"HUR\">2,5<");
    has(xml, "<OrderedQuantity QuantityUnitCode=\"h\" QuantityUnitCodeUN=\"HUR\">2,5<");
    has(xml, EUR("UnitPriceAmount", "35,86"));
    has(xml, EUR("UnitPriceVatIncludedAmount", "45,00"));
    has(xml, "Kokonaishinta 112,50 €, josta asiakasosuus 22,50 € laskutetaan asiakkaalta "
             "(ei tällä laskulla); järjestäjän osuus 90,00 €.");
    /* clang-format off */
    has(xml, "<RowVatRatePercent>25,5</RowVatRatePercent>\n"
             "    <RowVatCode>S</RowVatCode>\n"
             "    " EUR("RowVatAmount", "18,29") "\n"
             "    " EUR("RowVatExcludedAmount", "71,71") "\n"
             "    " EUR("RowAmount", "90,00"));
    /* clang-format on */
    has(xml, "<ArticleName>Kotihoito 7.1.2026 arki</ArticleName>");
    has(xml, EUR("UnitPriceAmount", "31,87"));
    has(xml, EUR("RowAmount", "48,00"));
    has(xml, "<ArticleName>Kotisairaanhoito 12.1.2026</ArticleName>");
    has(xml, "<DeliveredQuantity QuantityUnitCode=\"krt\" QuantityUnitCodeUN=\"C62\">1<");
    has(xml, "palvelutapahtuma e1000000-0000-4000-8000-000000000003; tilaus "
             "b1000000-0000-4000-8000-000000000001; sopimus c1000000-0000-4000-8000-000000000001");
    /* clang-format off */
    has(xml, "<RowVatRatePercent>0</RowVatRatePercent>\n"
             "    <RowVatCode>E</RowVatCode>\n"
             "    " EUR("RowVatAmount", "0,00") "\n"
             "    " EUR("RowVatExcludedAmount", "100,00") "\n"
             "    " EUR("RowAmount", "100,00"));
    /* clang-format on */
    has(xml, "<DeliveredQuantity QuantityUnitCode=\"pv\" QuantityUnitCodeUN=\"DAY\">1<");
    /* payment */
    has(xml, "<EpiDate Format=\"CCYYMMDD\">20260201</EpiDate>");
    has(xml, "<EpiReference>DEMO-2026-000001</EpiReference>");
    has(xml, "<EpiBfiPartyDetails/>");
    has(xml, "<EpiNameAddressDetails>Hoivapalvelu Aurinko Oy</EpiNameAddressDetails>");
    has(xml, "<EpiBei>7654321-2</EpiBei>");
    has(xml, "<EpiAccountID IdentificationSchemeName=\"IBAN\">FI2112345600000785</EpiAccountID>");
    has(xml, "<EpiRemittanceInfoIdentifier IdentificationSchemeName=\"SPY\">20260000011<");
    has(xml, "<EpiInstructedAmount AmountCurrencyIdentifier=\"EUR\">293,00<");
    has(xml, "<EpiDateOptionDate Format=\"CCYYMMDD\">20260215</EpiDateOptionDate>");
    free(xml);
    json_decref(doc);
}

Test(finvoice, credit_only_is_a_credit_note_with_negative_amounts)
{
    json_t *doc = load("credit_only.json");
    char *xml = render_ok(doc);
    assert_valid(xml, "credit_only.json");

    has(xml, "<InvoiceTypeCode CodeListAgencyIdentifier=\"SPY\">INV02</InvoiceTypeCode>");
    has(xml, "<InvoiceTypeCodeUN>381</InvoiceTypeCodeUN>");
    has(xml, "<InvoiceTypeText>HYVITYSLASKU</InvoiceTypeText>");
    has(xml, EUR("InvoiceTotalVatExcludedAmount", "-112,37"));
    has(xml, EUR("InvoiceTotalVatAmount", "-14,63"));
    has(xml, EUR("InvoiceTotalVatIncludedAmount", "-127,00"));
    has(xml, EUR("VatBaseAmount", "-57,37"));
    has(xml, EUR("VatRateAmount", "-14,63"));
    has(xml, EUR("VatBaseAmount", "-55,00"));
    /* clang-format off */
    has(xml, EUR("RowVatAmount", "-14,63") "\n    " EUR("RowVatExcludedAmount", "-57,37")
                 "\n    " EUR("RowAmount", "-72,00"));
    /* clang-format on */
    has(xml, EUR("RowAmount", "-55,00"));
    has(xml, "Hyvitys: kokonaishinta -90,00 €, josta asiakasosuus -18,00 € hyvitetään "
             "asiakkaalle (ei tällä laskulla); järjestäjän osuus -72,00 €.");
    has(xml, "hyvitys d1000000-0000-4000-8000-000000000001");
    has(xml, "<EpiInstructedAmount AmountCurrencyIdentifier=\"EUR\">-127,00<");
    has(xml, "<EpiRemittanceInfoIdentifier IdentificationSchemeName=\"SPY\">20260000024<");
    has(xml, "<EpiDateOptionDate Format=\"CCYYMMDD\">20260317<");
    cr_assert_null(strstr(xml, "SellerCommunicationDetails"), "no email, no element");
    free(xml);
    json_decref(doc);
}

Test(finvoice, user_names_are_escaped_and_stay_utf8)
{
    json_t *doc = load("names.json");
    char *xml = render_ok(doc);
    assert_valid(xml, "names.json");

    /* the 97-character seller name continues in a second element */
    cr_assert_eq(count(xml, "<SellerOrganisationName>"), 2);
    has(xml, "<SellerOrganisationName>Hoiva &amp; Koti &lt;Äänekoski&gt; &quot;Öljymäki&quot; "
             "&apos;Åland&apos; Oy — ympärivuorokautinen</SellerOrganisationName>\n"
             "    <SellerOrganisationName>palvelu kaikille ikäryhmille</SellerOrganisationName>");
    cr_assert_null(strstr(xml, "<Äänekoski>"));
    has(xml, "<SellerEmailaddressIdentifier>laskut&amp;kirjanpito@hoiva.example<");
    /* white space collapsed and trimmed */
    has(xml, "<BuyerOrganisationName>Äänekosken kaupunki &amp; Co &lt;sote&gt;<");
    has(xml, "<ArticleName>Kotihoito &lt;yö&gt; &amp; &quot;erikois&quot; 9.1.2026 yö &amp; "
             "ilta</ArticleName>");
    /* 35 characters for the payment's beneficiary name */
    has(xml, "<EpiNameAddressDetails>Hoiva &amp; Koti &lt;Äänekoski&gt; &quot;Öljymäki&quot;"
             "</EpiNameAddressDetails>");
    /* +02:00 offset: 07:00Z, still 2 February in Helsinki */
    has(xml, "<InvoiceDate Format=\"CCYYMMDD\">20260202</InvoiceDate>");
    has(xml, EUR("InvoiceTotalVatIncludedAmount", "50,00"));
    has(xml, EUR("InvoiceTotalVatAmount", "10,16"));
    free(xml);
    json_decref(doc);
}

Test(finvoice, invalid_utf8_and_controls_never_reach_the_xml)
{
    json_t *doc = load("mixed.json");
    json_t *seller = json_object_get(doc, "seller");
    json_object_set_new(seller, "name", json_string_nocheck("Bad\xff\xfe Oy\x01\x1f\tAb\xc3"));
    json_t *line = json_array_get(json_object_get(doc, "lines"), 0);
    json_object_set_new(line, "band", json_string_nocheck("i\xed\xa0\x80lta\x7f"));
    char *xml = render_ok(doc);
    assert_valid(xml, "mixed.json with broken UTF-8");
    has(xml, "<SellerOrganisationName>Bad\xef\xbf\xbd\xef\xbf\xbd Oy Ab\xef\xbf\xbd<");
    has(xml, "<ArticleName>Kotihoito 5.1.2026 i\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdlta<");
    free(xml);
    json_decref(doc);
}

/* 300 lines alternating rates, bands and units, totals from the domain. */
Test(finvoice, long_settlement_of_300_lines)
{
    json_t *doc = load("mixed.json");
    json_t *lines = json_array();
    struct settlement_totals t;
    settlement_totals_init(&t);
    static const char *units[] = {"hour", "visit", "day", "week", "month"};
    for (int i = 0; i < 300; i++) {
        int rate = (i % 3 == 0) ? 0 : (i % 3 == 1 ? 2550 : 1400);
        int64_t price = 3000 + 37 * i, qty_h = 100 + 25 * (i % 7);
        int64_t gross;
        cr_assert_eq(money_mul_qty(price, qty_h, &gross), 0);
        int64_t share = (i % 4) ? gross / 5 : 0, org = gross - share;
        char id[40], date[11], band[16];
        snprintf(id, sizeof id, "e3000000-0000-4000-8000-%012d", i);
        snprintf(date, sizeof date, "2026-01-%02d", 1 + i % 31);
        snprintf(band, sizeof band, "vyöhyke %d", i % 4);
        json_t *l = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:I, "
                              "s:I, s:i}",
                              "line_no", i + 1, "kind", "event", "source", "voucher", "voucher_id",
                              "a3000000-0000-4000-8000-000000000001", "event_id", id, "date", date,
                              "service_type", "kotihoito", "service_name",
                              "Kotihoito ja päivätoiminta", "unit", units[i % 5], "quantity",
                              qty_h / 100.0, "unit_price_cents", (json_int_t)price, "gross_cents",
                              (json_int_t)gross, "organiser_cents", (json_int_t)org,
                              "client_share_cents", (json_int_t)share, "vat_rate_bp", rate);
        cr_assert_not_null(l);
        if (i % 2)
            json_object_set_new(l, "band", json_string(band));
        json_array_append_new(lines, l);
        char err[64];
        cr_assert_eq(settlement_totals_add_event(&t, gross, org, share, rate, err, sizeof err), 0,
                     "%s", err);
    }
    char err[64];
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0, "%s", err);
    json_t *vat = json_array();
    int64_t total_vat = 0;
    for (size_t i = 0; i < t.nvat; i++) {
        json_array_append_new(vat, json_pack("{s:i, s:I, s:I}", "rate_bp", t.vat[i].rate_bp,
                                             "amount_cents", (json_int_t)t.vat[i].amount_cents,
                                             "vat_cents", (json_int_t)t.vat[i].vat_cents));
        total_vat += t.vat[i].vat_cents;
    }
    json_object_set_new(doc, "lines", lines);
    json_object_set_new(
        doc, "totals",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "gross_cents", (json_int_t)t.gross_cents,
                  "organiser_cents", (json_int_t)t.organiser_cents, "client_share_cents",
                  (json_int_t)t.client_share_cents, "credit_cents", (json_int_t)t.credit_cents,
                  "payable_cents", (json_int_t)t.payable_cents, "vat", vat));

    char *xml = render_ok(doc);
    assert_valid(xml, "300-line settlement");
    cr_assert_eq(count(xml, "<InvoiceRow>"), 300);
    cr_assert_eq(count(xml, "<VatSpecificationDetails>"), 3);
    cr_assert_eq(count(xml, "QuantityUnitCodeUN=\"WEE\""), 2 * 60);
    has(xml, "<RowPositionIdentifier>300</RowPositionIdentifier>");
    char m[MONEY_FMT_MAX], want[128];
    cr_assert_eq(money_format(t.payable_cents, ',', m, sizeof m), 0);
    snprintf(want, sizeof want, EUR("InvoiceTotalVatIncludedAmount", "%s"), m);
    has(xml, want);
    snprintf(want, sizeof want, EUR("EpiInstructedAmount", "%s"), m);
    has(xml, want);
    cr_assert_eq(money_format(total_vat, ',', m, sizeof m), 0);
    snprintf(want, sizeof want, EUR("InvoiceTotalVatAmount", "%s"), m);
    has(xml, want);
    free(xml);
    json_decref(doc);
}

static void refused(json_t *doc, const char *reason)
{
    char err[256] = "";
    char *xml = finvoice_render(doc, err, sizeof err);
    cr_assert_null(xml, "rendered what should be refused (%s)", reason);
    cr_assert_not_null(strstr(err, reason), "err \"%s\" does not say \"%s\"", err, reason);
    json_decref(doc);
}

Test(finvoice, missing_totals_is_refused)
{
    json_t *doc = load("mixed.json");
    json_object_del(doc, "totals");
    refused(doc, "totals: missing");
}

Test(finvoice, inconsistent_or_malformed_documents_are_refused)
{
    json_t *doc = load("mixed.json");
    json_object_set_new(json_object_get(doc, "totals"), "payable_cents", json_integer(29301));
    refused(doc, "payable_cents");

    doc = load("mixed.json");
    json_t *v0 = json_array_get(json_object_get(json_object_get(doc, "totals"), "vat"), 1);
    json_object_set_new(v0, "vat_cents", json_integer(2805));
    refused(doc, "totals.vat[1].vat_cents");

    doc = load("mixed.json");
    json_object_set_new(json_object_get(doc, "seller"), "iban", json_string("FI2112345600000786"));
    refused(doc, "seller.iban");

    doc = load("mixed.json");
    json_object_set_new(json_object_get(doc, "buyer"), "business_id", json_string("1122334-8"));
    refused(doc, "buyer.business_id");

    doc = load("mixed.json");
    json_object_set_new(doc, "reference", json_string("20260000012"));
    refused(doc, "reference");

    doc = load("mixed.json");
    json_object_set_new(json_object_get(doc, "seller"), "name", json_string(" \t\n"));
    refused(doc, "seller.name");

    doc = load("mixed.json");
    json_object_set_new(doc, "lines", json_array());
    refused(doc, "lines: empty");

    doc = load("mixed.json");
    json_object_del(json_array_get(json_object_get(doc, "lines"), 2), "quantity");
    refused(doc, "lines[2].quantity");

    char err[8];
    cr_assert_null(finvoice_render(NULL, err, sizeof err));
    cr_assert_null(finvoice_render(json_null(), NULL, 0));
}
