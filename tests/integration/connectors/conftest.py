from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.integration.connectors.shops import GRAPHQL, graphql_ok
from tests.provider_receiver import ProviderReceiver
from tests.webhook_receiver import Receiver

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import WorkerStats, run_worker


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Start real HTTP receivers on 127.0.0.1 (free ports); all are stopped after the test."""
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        rx = Receiver(**options).start()
        started.append(rx)
        return rx

    yield start
    for rx in started:
        rx.stop()


@pytest.fixture
def work(settings: Settings, db: Database, clock: ManualClock) -> Callable[..., WorkerStats]:
    """Run the real worker once (dispatch, send what is due, housekeeping) at the test clock's time."""

    def run(**overrides: Any) -> WorkerStats:
        return run_worker(settings.model_copy(update=overrides), clock=clock, once=True, db=db)

    return run


@pytest.fixture
def shopify() -> Iterator[ProviderReceiver]:
    """A local Shopify answering the GraphQL Admin API's inventory pushes (tests.integration.connectors.shops)."""
    provider = ProviderReceiver().start()
    provider.route("POST", GRAPHQL, graphql_ok)
    yield provider
    provider.stop()
