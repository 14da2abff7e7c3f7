"""The WooCommerce connector as a room: its routes, and its plugin joined to the connector hub (which keeps the
connections, dead letters and the stock push queue)."""

from __future__ import annotations

from omnihub.core.rooms import Room


def _wire() -> None:
    from omnihub.connectors.hub.service import register_connector
    from omnihub.connectors.woocommerce.service import plugin

    register_connector(plugin())


ROOM = Room(name="woocommerce", router="omnihub.connectors.woocommerce.api:router",
            first_router="omnihub.connectors.woocommerce.api:webhooks", wire=_wire)
