from fastapi.testclient import TestClient
from tests.builders import ok, problem, product


def test_product_is_created_and_read_back(admin: TestClient) -> None:
    product(admin, "SKU-1", category="shoes", barcode="8400000000017", group="RUNNER", attributes={"size": "42"})

    body = ok(admin.get("/api/v1/products/SKU-1"))

    assert body["sku"] == "SKU-1"
    assert body["group"] == "RUNNER"
    assert body["attributes"] == {"size": "42"}
    assert body["barcode"] == "8400000000017"


def test_duplicate_sku_is_a_conflict_and_changes_nothing(admin: TestClient) -> None:
    product(admin, "SKU-1", name="First")

    body = problem(admin.post("/api/v1/products", json={"sku": "SKU-1", "name": "Second", "category": "x"}),
                   409, "product_exists")

    assert body["field"] == "sku"
    assert ok(admin.get("/api/v1/products/SKU-1"))["name"] == "First"


def test_invalid_body_names_the_offending_field(admin: TestClient) -> None:
    body = problem(admin.post("/api/v1/products", json={"sku": "SKU-1", "category": "x"}), 422, "validation_error")

    assert body["field"] == "name"
    problem(admin.get("/api/v1/products/SKU-1"), 404, "product_not_found")


def test_products_page_with_cursor(admin: TestClient) -> None:
    for i in range(5):
        product(admin, f"SKU-{i}")

    first = ok(admin.get("/api/v1/products", params={"limit": 3}))
    second = ok(admin.get("/api/v1/products", params={"limit": 3, "cursor": first["next_cursor"]}))

    assert [p["sku"] for p in first["items"]] == ["SKU-0", "SKU-1", "SKU-2"]
    assert [p["sku"] for p in second["items"]] == ["SKU-3", "SKU-4"]
    assert second["next_cursor"] is None


def test_no_key_is_401_problem(client: TestClient) -> None:
    problem(client.get("/api/v1/products"), 401, "missing_api_key")
    problem(client.get("/api/v1/products", headers={"Authorization": "Bearer nope"}), 401, "invalid_api_key")
