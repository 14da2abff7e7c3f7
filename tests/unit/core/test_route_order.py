"""Webhooks that come in storms are matched before every room's routes (`Room.first_router`): the app tries its
routers in order, and each route passed costs CPU on every request."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi.routing import APIRoute

from omnihub.bootstrap import bootstrap

STORMS = [("POST", "/connectors/meta/webhooks"), ("POST", "/connectors/shopify/{channel}/webhooks"),
          ("POST", "/connectors/woocommerce/{channel}/webhooks")]


def _paths(router: Any) -> set[tuple[str, str]]:
    return {(method, route.path) for route in router.routes if isinstance(route, APIRoute)
            for method in route.methods}


def test_storm_webhooks_come_before_every_rooms_router() -> None:
    house = bootstrap()
    routers = house.routers()
    rooms_routers = [routers.index(r) for r in routers if any(r is _router(room.router) for room in house.rooms
                                                               if room.router)]
    for route in STORMS:
        [at] = [i for i, router in enumerate(routers) if route in _paths(router)]  # one router has it, only once
        assert at < min(rooms_routers), f"{route} is matched after a room's router"


def test_the_meta_handshake_is_not_taken_for_a_channel() -> None:
    """GET …/meta/webhooks (Meta's verification) is matched before GET …/meta/{channel}."""
    routers = bootstrap().routers()
    handshake = [i for i, r in enumerate(routers) if ("GET", "/connectors/meta/webhooks") in _paths(r)]
    channel = [i for i, r in enumerate(routers) if ("GET", "/connectors/meta/{channel}") in _paths(r)]
    assert handshake and channel and handshake[0] < channel[0]


def _router(name: str) -> Any:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)
