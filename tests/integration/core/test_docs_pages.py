"""`/docs` and `/redoc` work offline: they reference only assets the package serves itself."""

import fnmatch
import re
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

import omnihub

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


def test_docs_and_redoc_load_only_local_assets_and_those_are_served(client: TestClient) -> None:
    for page, needed in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        answer = client.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        assert "http://" not in answer.text and "https://" not in answer.text, answer.text
        assets = REFERENCE.findall(answer.text)
        assert any(a.endswith(needed) for a in assets), assets
        for asset in assets:
            assert asset.startswith("/static/docs/"), asset
            served = client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"].split(";")[0] in CONTENT_TYPES[Path(asset).suffix], asset
            assert len(served.content) > 500, asset
    assert "/openapi.json" in client.get("/docs").text
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_the_vendored_assets_and_their_licences_ship_in_the_package() -> None:
    root = Path(__file__).resolve().parents[3]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["omnihub"]
    static = Path(omnihub.__file__).parent / "static"
    files = [p.relative_to(static.parent).as_posix() for p in static.rglob("*") if p.is_file()]
    for name in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "swagger-ui/LICENSE",
                 "redoc/redoc.standalone.js", "redoc/LICENSE"):
        assert f"static/{name}" in files, name
    for path in files:
        assert any(fnmatch.fnmatch(path, g) for g in globs), f"{path} is not in package-data"
