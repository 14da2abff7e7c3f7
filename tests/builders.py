"""Builders for test data, through the public API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def location(api: TestClient, code: str, *, kind: str = "store", lat: float = 40.4168, lon: float = -3.7038,
             pickup: bool = True, name: str | None = None) -> dict[str, Any]:
    body = {"code": code, "name": name or code.title(), "kind": kind, "lat": lat, "lon": lon, "pickup": pickup}
    return ok(api.post("/api/v1/locations", json=body), 201)


def product(api: TestClient, sku: str, *, category: str = "shoes", name: str | None = None,
            **extra: Any) -> dict[str, Any]:
    body = {"sku": sku, "name": name or f"Product {sku}", "category": category, **extra}
    return ok(api.post("/api/v1/products", json=body), 201)


def channel(api: TestClient, code: str, *, kind: str = "web", locations: list[str] | None = None,
            currency: str = "EUR", stock_buffer: int = 0, country: str = "ES") -> dict[str, Any]:
    body = {"code": code, "name": code.title(), "kind": kind, "currency": currency, "country": country,
            "locations": locations or [], "stock_buffer": stock_buffer}
    return ok(api.post("/api/v1/channels", json=body), 201)


def stock(api: TestClient, location_code: str, sku: str, on_hand: int, **extra: Any) -> dict[str, Any]:
    return ok(api.put(f"/api/v1/stock/{location_code}/{sku}", json={"on_hand": on_hand, **extra}))


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body
