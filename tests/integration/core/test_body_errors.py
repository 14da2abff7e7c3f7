"""A body that is not JSON is explained in words: the content type expected, or where the JSON breaks."""

from fastapi.testclient import TestClient
from tests.builders import ok, problem


def test_a_body_without_a_json_content_type_is_415_and_changes_nothing(admin: TestClient) -> None:
    body = '{"sku": "TEE-M", "name": "Tee", "category": "apparel"}'
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        answer = problem(admin.post("/api/v1/products", content=body, headers=headers), 415,
                         "unsupported_media_type")
        assert "application/json" in answer["detail"], answer
        assert answer["field"] == "content-type"
    assert ok(admin.get("/api/v1/products"))["items"] == []
    ok(admin.post("/api/v1/products", content=body, headers={"Content-Type": "application/json"}), 201)


def test_broken_json_says_the_line_and_column(admin: TestClient) -> None:
    body = '{\n  "sku": "TEE-M",\n  "name": "Tee",\n  "category": apparel\n}'
    answer = problem(admin.post("/api/v1/products", content=body, headers={"Content-Type": "application/json"}),
                     422, "json_invalid")
    assert answer["field"] == "body"
    assert (answer["line"], answer["column"]) == (4, 15)
    assert "JSON invalid at line 4 column 15" in answer["detail"], answer
    assert ok(admin.get("/api/v1/products"))["items"] == []


def test_a_list_body_sent_as_text_is_415_too(admin: TestClient) -> None:
    problem(admin.put("/api/v1/channels/web/prices", content='[{"sku": "A", "amount": "1.00"}]',
                      headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
