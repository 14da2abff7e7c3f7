import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, stock

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import dispatch_pending, outbox
from omnihub.inventory.availability import AvailabilityProjector


def drain(db: Database, clock: ManualClock) -> None:
    """Run the dispatcher with the availability projector until the outbox is empty."""
    projector = AvailabilityProjector(clock)
    while True:
        with db.transaction() as conn:
            if dispatch_pending(conn, clock, [projector]) == 0:
                return


def events(db: Database, type_: str) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(sa.select(outbox.c.data).where(outbox.c.type == type_).order_by(outbox.c.seq))
        return [r.data for r in rows]


def test_every_stock_change_emits_stock_changed_in_the_same_transaction(shop: TestClient, db: Database) -> None:
    stock(shop, "wh", "MUG", 5)
    ok(shop.post("/api/v1/reservations", json={"channel": "web", "lines": [{"sku": "MUG", "quantity": 2}]}), 201)

    changes = events(db, "stock.changed")

    assert [(c["kind"], c["on_hand"], c["reserved"], c["available"]) for c in changes] == [
        ("adjustment", 5, 0, 5), ("reservation", 5, 2, 3)]


def test_availability_changed_reaches_only_channels_whose_figure_moved(shop: TestClient, db: Database,
                                                                        clock: ManualClock) -> None:
    stock(shop, "wh", "MUG", 5)
    drain(db, clock)
    first = {(e["channel"], e["available"]) for e in events(db, "availability.changed")}
    assert first == {("web", 5), ("market", 3)}

    stock(shop, "s2", "MUG", 1)  # only web sells from s2
    drain(db, clock)
    second = [(e["channel"], e["available"], e["previous"]) for e in events(db, "availability.changed")][2:]
    assert second == [("web", 6, 5)]

    stock(shop, "s2", "MUG", 1, safety_stock=0)  # no real change: no event
    drain(db, clock)
    assert len(events(db, "availability.changed")) == 3


def test_channel_buffer_change_republishes_its_availability(shop: TestClient, db: Database,
                                                            clock: ManualClock) -> None:
    stock(shop, "wh", "MUG", 5)
    drain(db, clock)

    ok(shop.patch("/api/v1/channels/market", json={"stock_buffer": 4}))
    drain(db, clock)

    last = events(db, "availability.changed")[-1]
    assert (last["channel"], last["sku"], last["available"], last["previous"]) == ("market", "MUG", 1, 3)


def test_reconciliation_is_clean_after_normal_work(shop: TestClient) -> None:
    stock(shop, "wh", "MUG", 5)
    held = ok(shop.post("/api/v1/reservations", json={"channel": "web", "lines": [{"sku": "MUG", "quantity": 2}]}),
              201)
    ok(shop.post(f"/api/v1/reservations/{held['id']}/commit"))
    ok(shop.put("/api/v1/stock/s1/MUG/quotas/store", json={"units": 1}))

    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_reconciliation_reports_drift_with_the_rows_and_an_event_and_fixes_nothing(shop: TestClient,
                                                                                   db: Database) -> None:
    stock(shop, "wh", "MUG", 5)
    with db.transaction() as conn:  # simulate a bad hand-edit behind the hub's back
        conn.execute(sa.text("UPDATE stock_levels SET on_hand = 9, reserved = 1 WHERE sku = 'MUG'"))

    drift = ok(shop.post("/api/v1/inventory/check"))

    assert [(d["check"], d["expected"], d["actual"]) for d in drift] == [
        ("ledger_on_hand", 5, 9), ("ledger_reserved", 0, 1), ("live_reservations", 0, 1)]
    assert drift[0]["rows"] and drift[0]["rows"][0].startswith("ledger:")
    assert len(events(db, "inventory.drift_detected")) == 3
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["on_hand"] == 9


def test_a_one_line_reservation_writes_what_every_reservation_writes(shop: TestClient, db: Database) -> None:
    """On PostgreSQL a one-SKU, one-location hold is a single statement and a multi-line one a transaction
    of several: both must leave the same rows, ledger and events behind."""
    stock(shop, "wh", "MUG", 5)
    stock(shop, "wh", "TEE-M", 5)

    single = ok(shop.post("/api/v1/reservations", json={"channel": "market", "reference": "cart-1",
                                                         "lines": [{"sku": "MUG", "quantity": 2}]}), 201)
    multi = ok(shop.post("/api/v1/reservations", json={"channel": "market", "lines": [
        {"sku": "MUG", "quantity": 1}, {"sku": "TEE-M", "quantity": 1}]}), 201)

    assert single["lines"] == [{"sku": "MUG", "quantity": 2, "location": "wh"}]
    assert ok(shop.get(f"/api/v1/reservations/{single['id']}"))["lines"] == single["lines"]
    assert single["reference"] == "cart-1" and single["status"] == "active"
    changes = [c for c in events(db, "stock.changed") if c["kind"] == "reservation"]
    assert [(c["sku"], c["reference"], c["on_hand"], c["reserved"], c["available"], c["reserved_delta"])
            for c in changes] == [("MUG", single["id"], 5, 2, 3, 2), ("MUG", multi["id"], 5, 3, 2, 1),
                                  ("TEE-M", multi["id"], 5, 1, 4, 1)]
    assert {frozenset(c) for c in changes} == {frozenset(changes[-1])}
    created = events(db, "reservation.created")
    assert [(c["id"], c["channel"], c["lines"]) for c in created] == [
        (single["id"], "market", single["lines"]), (multi["id"], "market", multi["lines"])]
    assert created[0]["expires_at"].startswith(single["expires_at"][:19])
    ledger = ok(shop.get("/api/v1/stock/wh/MUG/ledger"))["items"]
    held = [(e["kind"], e["reserved_delta"], e["reserved_after"], e["reference"]) for e in ledger
            if e["kind"] == "reservation"]
    assert sorted(held, key=lambda e: e[2]) == [("reservation", 2, 2, single["id"]),
                                                ("reservation", 1, 3, multi["id"])]

    ok(shop.delete(f"/api/v1/reservations/{single['id']}"))
    assert ok(shop.get("/api/v1/stock/wh/MUG"))["reserved"] == 1
    assert ok(shop.post("/api/v1/inventory/check")) == []


def test_published_availability_honours_each_channels_own_quota(shop: TestClient, db: Database,
                                                                 clock: ManualClock) -> None:
    """The projector reads a batch's levels and every channel's quotas at once; what it publishes per channel
    must be what that channel's live availability says."""
    stock(shop, "wh", "MUG", 2)
    stock(shop, "s1", "MUG", 6)
    ok(shop.put("/api/v1/stock/s1/MUG/quotas/store", json={"units": 3}))
    ok(shop.put("/api/v1/stock/s1/MUG/quotas/web", json={"units": 1}))
    drain(db, clock)

    last = {e["channel"]: e for e in events(db, "availability.changed") if e["sku"] == "MUG"}

    assert {code: e["available"] for code, e in last.items()} == {"web": 5, "store": 5, "market": 0}
    for code, event in last.items():
        live = ok(shop.get("/api/v1/availability/MUG", params={"channel": code}))
        assert (event["available"], event["locations"]) == (live["available"], live["locations"])
