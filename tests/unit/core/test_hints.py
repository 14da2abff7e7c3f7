"""The process-local hint set: members expire, the set stays bounded."""

import time

from omnihub.core.hints import RecentKeys


def test_a_key_is_remembered_until_its_time_runs_out() -> None:
    hints = RecentKeys(ttl_seconds=0.05)
    hints.add(("web", "MUG"))

    assert ("web", "MUG") in hints and ("web", "TEE") not in hints
    time.sleep(0.06)
    assert ("web", "MUG") not in hints


def test_the_oldest_keys_make_room_for_new_ones() -> None:
    hints = RecentKeys(ttl_seconds=60, max_size=2)
    for sku in ("A", "B", "C"):
        hints.add(sku)
    hints.add("B")  # refreshed: now the newest

    assert "A" not in hints and "B" in hints and "C" in hints
    assert hints.any_of(["Z", "C"]) and not hints.any_of(["A", "Z"])
