"""ERP lines inbound, translated by the mapping (no database): article code → SKU, warehouse → location,
quantities and prices read strictly, every problem a reason for its line."""

from decimal import Decimal

import pytest

from omnihub.connectors.erp import rules

BASE = """
customer_prefix: "C"
guest_customer: "C0"
articles: {TEE-M: "100234", TEE-L: "100234", MUG: 100777}
tax_codes: {21: "G21"}
payment_methods: {card: "TJ"}
date_format: "%d/%m/%Y"
series: {invoice: "FV", credit_note: "FR"}
warehouses: {"01": wh}
"""
INBOUND = BASE + """inbound:
  stock: {article: ART, warehouse: ALM, delta: MOV, reference: DOC}
  prices: {article: ART, price: PVP, reference: DOC, channel: web, decimal: ","}
"""


def test_inbound_is_optional_and_validated_naming_the_key() -> None:
    assert rules.parse_mapping(BASE)["inbound"] == {}
    assert rules.parse_mapping(INBOUND)["inbound"]["stock"]["delta"] == "MOV"
    for bad, key in ((BASE + "inbound: {orders: {}}", "inbound.orders"),
                     (BASE + "inbound: {stock: {article: A, warehouse: W, reference: R}}", "inbound.stock.on_hand"),
                     (BASE + "inbound: {stock: {article: A, warehouse: W, on_hand: N, reference: R, size: S}}",
                      "inbound.stock.size"),
                     (BASE + "inbound: {prices: {article: A, price: P, reference: R}}", "inbound.prices.channel"),
                     (BASE + "inbound: {prices: {article: A, price: P, reference: R, channel: w, decimal: ';'}}",
                      "inbound.prices.decimal")):
        with pytest.raises(rules.MappingError) as caught:
            rules.parse_mapping(bad)
        assert caught.value.key == key


def test_a_stock_line_is_translated_or_rejected_with_its_reason() -> None:
    mapping = rules.parse_mapping(INBOUND)
    line = rules.inbound_stock_line(mapping, {"ART": 100777, "ALM": "01", "MOV": "-3", "DOC": " A-1 "})
    assert line == {"sku": "MUG", "location": "wh", "reference": "A-1", "delta": -3}
    assert rules.inbound_fingerprint(line) == "delta=-3"
    for raw, reason in (({"ART": "9", "ALM": "01", "MOV": 1, "DOC": "A"}, "unknown article code '9'"),
                        ({"ART": "100234", "ALM": "01", "MOV": 1, "DOC": "A"}, "names several SKUs (TEE-L, TEE-M)"),
                        ({"ART": "100777", "ALM": "02", "MOV": 1, "DOC": "A"}, "unknown warehouse code '02'"),
                        ({"ART": "100777", "ALM": "01", "MOV": 1.5, "DOC": "A"}, "not a whole number"),
                        ({"ART": "100777", "ALM": "01", "MOV": True, "DOC": "A"}, "not a whole number"),
                        ({"ART": "100777", "ALM": "01", "MOV": 1, "DOC": ""}, "DOC (reference) is missing"),
                        ({"ART": "100777", "ALM": "01", "MOV": 1, "DOC": "x" * 61}, "longer than 60")):
        with pytest.raises(rules.LineRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
            rules.inbound_stock_line(mapping, raw)


def test_a_price_line_reads_the_erps_decimal_mark() -> None:
    mapping = rules.parse_mapping(INBOUND)
    line = rules.inbound_price_line(mapping, {"ART": "100777", "PVP": "1.234,50", "DOC": "T1"})
    assert line["price"] == Decimal("1234.50") and rules.inbound_fingerprint(line) == "price=1234.5"
    for bad in ("abc", "-1,00", "NaN", "Infinity"):
        with pytest.raises(rules.LineRejected):
            rules.inbound_price_line(mapping, {"ART": "100777", "PVP": bad, "DOC": "T1"})


def test_an_erp_csv_with_its_own_delimiter_and_a_bom() -> None:
    assert rules.csv_lines("\ufeffART;ALM\n1;01\n\n;\n2;02\n") == [(2, {"ART": "1", "ALM": "01"}),
                                                                  (5, {"ART": "2", "ALM": "02"})]
    assert rules.csv_lines("ART,PVP\n1,\"2,50\"\n") == [(2, {"ART": "1", "PVP": "2,50"})]
