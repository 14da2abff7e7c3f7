"""The shops' webhooks come in storms (a sale, a bulk edit): the app matches them before every room's API routes,
as it does the payment providers' notifications, so each delivery does not pay for scanning the others."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from omnihub.api import include_routers
from omnihub.bootstrap import bootstrap
from omnihub.connectors.shopify import api as shopify_api
from omnihub.connectors.woocommerce import api as woocommerce_api


def _paths(router: object) -> set[str]:
    return {getattr(route, "path", "") for route in getattr(router, "routes", [])}


def test_shop_webhooks_are_matched_before_every_room_router() -> None:
    house = bootstrap()
    app = FastAPI()
    include_routers(app, house)
    included = [getattr(route, "original_router", route) for route in app.routes]
    room_routers = [getattr(importlib.import_module(name.partition(":")[0]), name.partition(":")[2])
                    for name in (room.router for room in house.rooms) if name]
    first_room_router = min(included.index(router) for router in room_routers)
    for api, kind in ((shopify_api, "shopify"), (woocommerce_api, "woocommerce")):
        assert f"/connectors/{kind}/{{channel}}/webhooks" in _paths(api.webhooks)
        assert f"/connectors/{kind}/{{channel}}/webhooks" not in _paths(api.router)
        assert included.index(api.webhooks) < first_room_router
