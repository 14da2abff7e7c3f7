"""`Database.run` runs a transaction again when the work asks for it, and reports the work's own error once no
attempt is left (a lost stock race ends as the 409 it is, never as a 500)."""

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.db import Database, RetryTransaction
from omnihub.core.errors import Conflict


def test_the_work_runs_again_and_only_the_last_attempt_is_kept(db: Database) -> None:
    attempts: list[int] = []

    def work(conn: Connection) -> str:
        attempts.append(len(attempts))
        conn.execute(sa.text("INSERT INTO order_sequences (channel_code, next_number) VALUES (:c, 1)"),
                     {"c": f"try-{len(attempts)}"})
        if len(attempts) < 3:
            raise RetryTransaction("lost a race", otherwise=Conflict("insufficient_stock", "gone"))
        return "placed"

    assert db.run(work) == "placed"
    with db.read() as conn:
        kept = conn.execute(sa.text("SELECT channel_code FROM order_sequences ORDER BY channel_code")).scalars()
        assert list(kept) == ["try-3"]  # the first two attempts rolled back


def test_out_of_attempts_the_works_own_error_is_raised(db: Database) -> None:
    calls = 0

    def work(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        raise RetryTransaction("lost a race", otherwise=Conflict("insufficient_stock", "Only 0 left."))

    with pytest.raises(Conflict) as raised:
        db.run(work, retries=2)
    assert raised.value.code == "insufficient_stock"
    assert calls == 3
