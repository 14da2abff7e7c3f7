"""new_id: sortable ids that also keep the order rows were made in within one process."""

import re
import threading

from omnihub.core.db import new_id


def test_ids_made_in_a_tight_loop_strictly_increase() -> None:
    ids = [new_id("dlv") for _ in range(10_000)]  # many per millisecond

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"dlv_[0-9a-z]{26}", i) for i in ids)


def test_ids_from_several_threads_never_collide() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(bucket: list[str]) -> None:
        bucket.extend(new_id("evt") for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(bucket,)) for bucket in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    everything = [i for bucket in made for i in bucket]
    assert len(set(everything)) == len(everything)
    assert all(bucket == sorted(bucket) for bucket in made)
