"""The commerce room's shop (a warehouse, three stores, web/app/store/marketplace channels) and key helpers."""

import pytest
from tests.conftest import make_key
from tests.integration.commerce.conftest import associate, shop  # noqa: F401  (fixtures)

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database


@pytest.fixture
def key(db: Database, clock: ManualClock):
    """Headers for a new key: key("channel", channel="web"), key("associate", location="mad"), key("agent")."""

    def headers(role: str, **scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_key(db, clock, role, **scope)}"}

    return headers
