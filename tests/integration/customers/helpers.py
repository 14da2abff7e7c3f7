"""Builders for customer test data, through the public API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, ok


def shop(api: TestClient) -> TestClient:
    """Three Spanish channels: the app, the web shop and a store counter."""
    channel(api, "app", kind="app")
    channel(api, "web", kind="web")
    channel(api, "store", kind="store")
    return api


def customer(api: TestClient, *, name: str | None = None, channel_code: str | None = "web",
             status: int = 201, **identity: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"identities": identity}
    if name:
        body["name"] = name
    if channel_code:
        body["channel"] = channel_code
    return ok(api.post("/api/v1/customers", json=body), status)


def customer_with(api: TestClient, identities: list[dict[str, Any]], *, channel_code: str = "web",
                  status: int = 201) -> dict[str, Any]:
    body = {"identities": identities, "channel": channel_code}
    return ok(api.post("/api/v1/customers", json=body), status)


def event(type_: str, identity: dict[str, Any] | list[dict[str, Any]], *, channel: str = "web",
          at: str | None = None, **properties: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": type_, "channel": channel, "identity": identity, "properties": properties}
    if at:
        item["at"] = at
    return item


def send(api: TestClient, *events: dict[str, Any]) -> dict[str, Any]:
    return ok(api.post("/api/v1/events", json=list(events)))


def view(api: TestClient, customer_id: str) -> dict[str, Any]:
    return ok(api.get(f"/api/v1/customers/{customer_id}"))


def lookup(api: TestClient, **query: str) -> Any:
    return api.get("/api/v1/customers/lookup", params=query)


def values(profile: dict[str, Any], kind: str) -> list[str]:
    return sorted(i["value"] for i in profile["identities"] if i["kind"] == kind)


def timeline(api: TestClient, customer_id: str, **query: Any) -> dict[str, Any]:
    return ok(api.get(f"/api/v1/customers/{customer_id}/timeline", params=query))
