"""The ERP mapping and the translation of the hub's billing documents into the ERP's codes (no database)."""

from decimal import Decimal

import pytest

from omnihub.connectors.erp import rules

MAPPING = """
customer_prefix: "C"
customer_digits: 5
guest_customer: "C99999"
articles: {TEE-M: "100234", MUG: 100777}
shipping_article: "PORTES"
tax_codes: {21: "G21", "10.00": "R10"}
payment_methods: {card: "TJ", bizum: "BZ", original: "TJ"}
date_format: "%d/%m/%Y"
series: {invoice: "FV", credit_note: "FR"}
"""

INVOICE = {
    "kind": "invoice", "number": "INV-WEB-000001", "issued_on": "2026-03-05", "currency": "EUR",
    "customer": "C00001", "payment_method": "card", "invoice_number": None,
    "lines": [{"sku": "TEE-M", "name": "Organic Tee M", "quantity": 2, "unit_price": "20.00", "tax_rate": "21.0000",
               "total": "40.00"},
              {"sku": None, "name": "Shipping", "quantity": 1, "unit_price": "4.00", "tax_rate": "21",
               "total": "4.00"}],
    "totals": {"total": "44.00"},
}


def test_a_mapping_is_read_with_codes_as_strings_and_rates_normalised() -> None:
    mapping = rules.parse_mapping(MAPPING)

    assert mapping["articles"] == {"TEE-M": "100234", "MUG": "100777"}
    assert mapping["tax_codes"] == {"21": "G21", "10": "R10"}
    assert rules.customer_number(mapping, 7) == "C00007"


@pytest.mark.parametrize(("text", "key"), [
    (MAPPING + "colour: red\n", "colour"),
    (MAPPING.replace('date_format: "%d/%m/%Y"', 'date_format: "today"'), "date_format"),
    (MAPPING.replace('guest_customer: "C99999"\n', ""), "guest_customer"),
    (MAPPING.replace('credit_note: "FR"', 'refund: "FR"'), "series.refund"),
    (MAPPING.replace('MUG: 100777', 'MUG: ""'), "articles.MUG"),
    (MAPPING.replace("customer_digits: 5", "customer_digits: many"), "customer_digits"),
    ("articles: [1, 2", "mapping"),
])
def test_a_bad_mapping_names_the_key(text: str, key: str) -> None:
    with pytest.raises(rules.MappingError) as caught:
        rules.parse_mapping(text)
    assert caught.value.key == key


def test_an_invoice_in_the_erps_codes() -> None:
    document = rules.erp_document(rules.parse_mapping(MAPPING), INVOICE)

    assert document == {
        "series": "FV", "number": "INV-WEB-000001", "date": "05/03/2026", "customer": "C00001", "currency": "EUR",
        "payment_method": "TJ",
        "lines": [{"article": "100234", "description": "Organic Tee M", "quantity": 2, "unit_price": "20.00",
                   "tax_code": "G21", "total": "40.00"},
                  {"article": "PORTES", "description": "Shipping", "quantity": 1, "unit_price": "4.00",
                   "tax_code": "G21", "total": "4.00"}],
        "totals": {"total": "44.00"},
    }


def test_an_unmapped_sku_holds_the_document_with_the_reason() -> None:
    facts = {**INVOICE, "lines": [{**INVOICE["lines"][0], "sku": "SOCKS"}]}
    with pytest.raises(rules.Held, match="unmapped SKU 'SOCKS'"):
        rules.erp_document(rules.parse_mapping(MAPPING), facts)
    with pytest.raises(rules.Held, match="unmapped payment method 'cash'"):
        rules.erp_document(rules.parse_mapping(MAPPING), {**INVOICE, "payment_method": "cash"})


def test_a_credit_note_takes_the_invoice_lines_tax_and_names_the_invoice() -> None:
    lines = rules.credit_note_lines([{"line_no": 1, "sku": "TEE-M", "quantity": 1, "amount": "20.00"}],
                                    INVOICE["lines"])
    facts = {**INVOICE, "kind": "credit_note", "number": "CN-WEB-000001", "invoice_number": "INV-WEB-000001",
             "payment_method": "original", "lines": lines, "totals": {"total": "20.00"}}

    document = rules.erp_document(rules.parse_mapping(MAPPING), facts)

    assert document["series"] == "FR"
    assert document["corrects"] == "INV-WEB-000001"
    assert document["lines"] == [{"article": "100234", "description": "Organic Tee M", "quantity": 1,
                                  "unit_price": None, "tax_code": "G21", "total": "20.00"}]


def test_the_journal_has_a_row_per_line_in_the_erps_codes() -> None:
    document = rules.erp_document(rules.parse_mapping(MAPPING), INVOICE)
    text = rules.journal_csv([{"kind": "invoice", "status": "sent", "payload": document}])

    lines = text.splitlines()
    assert lines[0] == ",".join(rules.JOURNAL_COLUMNS)
    assert lines[1] == "05/03/2026,invoice,FV,INV-WEB-000001,,C00001,TJ,EUR,100234,Organic Tee M,2,20.00,G21,40.00,sent"
    assert len(lines) == 3


def test_backoff_doubles_and_is_capped() -> None:
    assert [rules.backoff_seconds(n, 30) for n in (1, 2, 3)] == [30, 60, 120]
    assert rules.backoff_seconds(20, 30) == 3600


def test_a_shop_refund_credits_the_money_given_back_spread_over_its_units_to_the_cent() -> None:
    charged = [{"sku": "A", "name": "A", "quantity": 2, "total": "202.98", "tax_rate": "6"},
               {"sku": "B", "name": "B", "quantity": 1, "total": "100.00", "tax_rate": "21"}]
    lines = rules.shop_refund_lines(charged, [("A", 1), ("B", 1)], Decimal("100.00"))
    assert [(ln["sku"], ln["quantity"], ln["tax_rate"]) for ln in lines] == [("A", 1, "6"), ("B", 1, "21")]
    assert sum(Decimal(ln["total"]) for ln in lines) == Decimal("100.00")
    assert [ln["total"] for ln in lines] == ["50.37", "49.63"]  # 101.49 : 100.00, the cent to the larger remainder
    whole = rules.shop_refund_lines(charged, [("A", 2)], Decimal("202.98"))
    assert [ln["total"] for ln in whole] == ["202.98"]


def test_a_shop_refund_with_no_units_is_one_adjustment_line_that_needs_its_article() -> None:
    [line] = rules.shop_refund_lines([], [("GONE", 1)], Decimal("9.99"))
    assert line["adjustment"] and line["total"] == "9.99" and line["sku"] is None
    text = MAPPING.replace('"10.00": "R10"}', '"10.00": "R10", 0: "EX"}')
    mapping = rules.parse_mapping(text)
    facts = {"kind": "credit_note", "number": "W-1-R1", "issued_on": "2026-12-03", "currency": "EUR",
             "customer": "CLI000001", "payment_method": "card", "invoice_number": "W-1", "lines": [line],
             "totals": {"total": "9.99"}}
    with pytest.raises(rules.Held, match="adjustment_article"):
        rules.erp_document(mapping, facts)
    mapped = rules.parse_mapping(text + 'adjustment_article: "AJUSTE"\n')
    document = rules.erp_document(mapped, facts)
    assert document["lines"][0]["article"] == "AJUSTE" and document["corrects"] == "W-1"
