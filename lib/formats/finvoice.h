/*
 * formats/finvoice.h - a settlement document as a Finvoice 3.0 e-invoice.
 *
 * Renders the settlement read model (views/view_settlement.h, GET
 * /v1/settlements/{id}) as a Finvoice 3.0 XML message that validates against
 * Finance Finland's Finvoice3.0.xsd. Pure: no I/O, no globals, thread-safe.
 * docs/finvoice.md has the full mapping; the decisions in short:
 *
 *  - Seller = the provider: SellerPartyIdentifier = its Y-tunnus,
 *    SellerOrganisationName = its name (split into several elements of <= 70
 *    characters when longer, as the schema allows), SellerEmailaddressIdentifier
 *    = its email when present and <= 70 characters. No SellerAccountDetails:
 *    the schema makes SellerBic mandatory there, psop holds no BIC and a BIC
 *    guessed from the IBAN's bank code would be invented data; the IBAN is
 *    carried where Finvoice requires it for payment (EpiAccountID), and
 *    EpiBfiPartyDetails is written empty (its BIC is optional, SEPA payments
 *    to a Finnish IBAN need none).
 *  - Buyer = the organiser: BuyerPartyIdentifier = Y-tunnus,
 *    BuyerOrganisationName = name. No postal addresses (psop has none; all
 *    optional).
 *  - The amount invoiced is totals.payable_cents (organiser parts plus credits,
 *    VAT included). payable >= 0: InvoiceTypeCode INV01 "LASKU" (UNTDID 1001
 *    380); payable < 0: INV02 "HYVITYSLASKU" (credit note, UNTDID 381) with the
 *    negative amounts kept negative, as Finvoice credit notes carry them.
 *  - InvoiceNumber = number; InvoiceDate = EpiDate = the Europe/Helsinki date
 *    of created_at (the calendar the due date is counted in);
 *    InvoicingPeriodStart/EndDate = the period's first and last day.
 *  - VatSpecificationDetails per totals.vat entry: VatBaseAmount = amount -
 *    vat, VatRateAmount = vat, VatRatePercent with a decimal comma ("25,5",
 *    "0"), VatCode S (rate > 0) or E (0 = exempt in psop).
 *  - One InvoiceRow per line, in line_no order: ArticleIdentifier =
 *    service_type, ArticleName = service_name + " d.m.yyyy" + " band" (name
 *    shortened to fit 100 characters), Delivered/OrderedQuantity with a
 *    Finnish QuantityUnitCode (h, krt, pv, vk, kk) and the UN/ECE Rec. 20
 *    QuantityUnitCodeUN, UnitPriceAmount = the unit price without VAT
 *    (rounded to cents), UnitPriceVatIncludedAmount = the price list's VAT
 *    inclusive unit price, RowPositionIdentifier = line_no, RowDeliveryDate =
 *    date, RowAmount = the organiser's part of the line (negative for
 *    credits), RowVatAmount = its VAT (same rounding as the totals),
 *    RowVatExcludedAmount = the rest. RowFreeText says the line's full price
 *    and that the client share is billed to the client, not on this invoice,
 *    and names the event / voucher / order / contract / credit ids.
 *  - EpiDetails: EpiReference = number, EpiRemittanceInfoIdentifier = the
 *    viitenumero (IdentificationSchemeName "SPY"), EpiInstructedAmount =
 *    payable, EpiDateOptionDate = due_date, EpiAccountID = seller IBAN,
 *    EpiBei = seller Y-tunnus, EpiCharge SLEV.
 *
 * Text from users (names, bands) is cleaned before it is written: invalid
 * UTF-8 and the characters XML 1.0 cannot carry (C0/C1 controls, U+FFFE,
 * U+FFFF) become U+FFFD or a space, runs of white space collapse to one
 * space, ends are trimmed, and & < > " ' are escaped. Lengths are counted in
 * characters, as the schema counts them, and cut at character boundaries.
 */
#ifndef PSOP_FINVOICE_H
#define PSOP_FINVOICE_H

#include <stddef.h>

#include <jansson.h>

/*
 * The Finvoice 3.0 message for one settlement document (borrowed; not
 * modified). Returns a new NUL-terminated UTF-8 XML document the caller
 * frees with free(), or NULL with a reason in err ("field: problem") when
 * the document lacks a field, has one of the wrong type or form (Y-tunnus,
 * IBAN, viitenumero, dates, amounts), has no lines, or its totals do not
 * add up (lines vs payable, VAT breakdown vs payable, VAT per rate). err may
 * be NULL when errlen is 0. Allocation failure aborts (core/xmalloc.h).
 */
char *finvoice_render(const json_t *settlement, char *err, size_t errlen);

#endif
