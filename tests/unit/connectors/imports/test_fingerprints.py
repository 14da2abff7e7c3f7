"""An imported order's fingerprint tells a re-run "unchanged" from "imported before with other content" — for
orders fingerprinted now and for those imported before the bulk import (sorted-JSON fingerprints)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from omnihub.connectors.imports.service import ORDER_PRINT, _fingerprint, _order_fingerprint, _same_order


def item(total: str = "16.448") -> dict[str, Any]:
    return {"number": "US-2019-103800", "placed_at": datetime(2019, 1, 3, tzinfo=UTC), "customer_id": "cus_x",
            "currency": "USD", "status": "delivered", "shipping": None,
            "lines": [{"sku": "OFF-PA-10000174", "name": "Message Book", "category": "Office Supplies / Paper",
                       "quantity": 2, "total": Decimal(total), "unit_price": None, "discount": None}]}


def test_the_same_order_is_unchanged_and_another_total_is_not() -> None:
    stored = _order_fingerprint(item(), "DP-13000")
    assert stored.startswith(ORDER_PRINT) and len(stored) == 64
    assert _same_order(stored, _order_fingerprint(item(), "DP-13000"), item(), "DP-13000")
    assert not _same_order(stored, _order_fingerprint(item("16.45"), "DP-13000"), item("16.45"), "DP-13000")
    assert not _same_order(stored, _order_fingerprint(item(), "PO-19195"), item(), "PO-19195")


def test_an_order_fingerprinted_before_the_bulk_import_is_still_recognised() -> None:
    legacy = _fingerprint({**item(), "customer_id": "DP-13000"})
    assert _same_order(legacy, _order_fingerprint(item(), "DP-13000"), item(), "DP-13000")
    assert not _same_order(legacy, _order_fingerprint(item("1"), "DP-13000"), item("1"), "DP-13000")


def test_an_order_fingerprinted_by_blake2b_is_still_recognised() -> None:
    """Imports before the columnar path stored "2:" + blake2b of the same tuple."""
    import hashlib

    from omnihub.connectors.imports.service import _order_shape

    blake = "2:" + hashlib.blake2b(_order_shape(item(), "DP-13000"), digest_size=31).hexdigest()
    assert len(blake) == 64 and not blake.startswith(ORDER_PRINT)
    assert _same_order(blake, _order_fingerprint(item(), "DP-13000"), item(), "DP-13000")
    assert not _same_order(blake, _order_fingerprint(item("1"), "DP-13000"), item("1"), "DP-13000")
