"""OpenAPI links: how the id a creating operation answers flows into the operations that use it.

`POST /orders` answers an order whose `id` is the `{order_id}` of every `/orders/{order_id}/...` operation;
`POST /products` answers the `sku` of `/products/{sku}`. The links are derived from the routes themselves (a
creating POST on a collection, operations on the paths below it), so a new route gets its links without a
hand-written table. Generated clients and stateful API testers (schemathesis) follow them from one call to
the next instead of guessing ids.
"""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"\{([^}]+)\}")


def _response_fields(schema: dict[str, Any], response: dict[str, Any]) -> set[str]:
    body = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        body = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return set(body.get("properties", {}))


def _source(param: str, fields: set[str]) -> str | None:
    """Which field of the created resource fills `{param}`: the same name (`sku`, `code`), or `id` for
    `{<anything>_id}`."""
    if param in fields:
        return param
    if param.endswith("_id") and "id" in fields:
        return "id"
    return None


def add_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add `links` to the success response of every creating POST, in place; returns the schema."""
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    for path, operations in paths.items():
        create = operations.get("post")
        if create is None:
            continue
        status = next((code for code in ("201", "200") if code in create.get("responses", {})), None)
        if status is None:
            continue
        response = create["responses"][status]
        fields = _response_fields(schema, response)
        known = set(_PARAM.findall(path))  # parameters the creating request had itself
        links: dict[str, Any] = {}
        for other, other_operations in paths.items():
            if not other.startswith(path + "/{"):
                continue
            param = other[len(path) + 2 : other.index("}", len(path))]
            source = _source(param, fields)
            if source is None:
                continue
            parameters = {param: f"$response.body#/{source}"}
            for name in _PARAM.findall(other):
                if name in known:
                    parameters[name] = f"$request.path.{name}"
            if set(parameters) != set(_PARAM.findall(other)):
                continue  # a deeper id this response cannot give
            for operation in other_operations.values():
                operation_id = operation.get("operationId")
                if operation_id:
                    links[operation_id] = {"operationId": operation_id, "parameters": parameters}
        if links:
            response.setdefault("links", {}).update(links)
    return schema
