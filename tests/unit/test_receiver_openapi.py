"""The OpenAPI document: kept in the repo, served as kept, true to the routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.datastructures import Secret
from starlette.routing import Route
from starlette.testclient import TestClient

from receiver.app import OPENAPI_PATH, create_app
from receiver.config import Settings
from receiver.records import OutboundRecord

# Every status the webhook answers with (see receiver/webhook.py).
WEBHOOK_STATUSES = {"200", "400", "401", "403", "408", "413", "422", "429", "503"}


class Publisher:
    async def start(self) -> None:
        pass

    async def publish(self, record: OutboundRecord) -> None:
        pass

    async def is_reachable(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(tokens=(Secret("t"),), spool_dir=tmp_path, **overrides)


def test_the_served_document_is_the_kept_one(tmp_path: Path) -> None:
    with TestClient(create_app(settings(tmp_path), publisher=Publisher())) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == OPENAPI_PATH.read_bytes()


def test_the_document_lists_exactly_the_app_routes(tmp_path: Path) -> None:
    document = orjson.loads(OPENAPI_PATH.read_bytes())
    app = create_app(settings(tmp_path), publisher=Publisher())
    routed = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routed


def test_the_webhook_documents_every_status_it_answers() -> None:
    document = orjson.loads(OPENAPI_PATH.read_bytes())
    for path in ("/tapcart_webhooks", "/tapcart_webhooks/{token}"):
        assert set(document["paths"][path]["post"]["responses"]) == WEBHOOK_STATUSES


def test_a_configured_path_is_served_in_the_document(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, path="/hooks/tc"), publisher=Publisher())
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "/hooks/tc" in paths
    assert "/hooks/tc/{token}" in paths
    assert "/tapcart_webhooks" not in paths
