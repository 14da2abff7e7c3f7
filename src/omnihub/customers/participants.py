"""Extension points for rooms that customers must not import: they register to follow merges and erasure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.engine import Connection


class MergeParticipant(Protocol):
    """A room that references customer ids and wants its rows to follow merges (commerce, service…).

    Called inside the merge/unmerge transaction. Rooms that do not register still resolve old ids through
    `resolve_id` (the alias table) and can react to `customer.merged` / `customer.unmerged` events.
    """

    def on_merge(self, conn: Connection, survivor_id: str, absorbed_ids: Sequence[str]) -> None: ...

    def on_unmerge(self, conn: Connection, survivor_id: str, restored_id: str,
                   absorbed_ids: Sequence[str]) -> None: ...


class ErasureParticipant(Protocol):
    """A room that keeps personal data of customers (addresses, contact handles, message text) and must
    anonymise it when they are erased. Called inside the erasure transaction: erasure is all or nothing."""

    def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None: ...


_merge_participants: dict[str, MergeParticipant] = {}
_erasure_participants: dict[str, ErasureParticipant] = {}


def register_erasure_participant(name: str, participant: ErasureParticipant) -> None:
    _erasure_participants[name] = participant


def unregister_erasure_participant(name: str) -> None:
    _erasure_participants.pop(name, None)


def register_merge_participant(name: str, participant: MergeParticipant) -> None:
    _merge_participants[name] = participant


def unregister_merge_participant(name: str) -> None:
    _merge_participants.pop(name, None)


def merge_participants() -> list[MergeParticipant]:
    """The rooms registered to follow merges, in registration order."""
    return list(_merge_participants.values())


def erasure_participants() -> list[ErasureParticipant]:
    """The rooms registered to anonymise what they keep of an erased customer, in registration order."""
    return list(_erasure_participants.values())
