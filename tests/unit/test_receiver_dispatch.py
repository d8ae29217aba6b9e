"""The webhook dispatch takes exactly the requests Starlette's router would route to the webhook."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from receiver.dispatch import WebhookDispatch
from receiver.metrics import ReceiverMetrics

PATH = "/tapcart_webhooks"


class Recorder:
    """An ASGI app that remembers the scope it was called with."""

    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = dict(scope)


class Endpoint:
    """The webhook endpoint's stand-in: remembers the scope, answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> int:
        self.scope = dict(scope)
        if self.status == 500:
            raise RuntimeError("the endpoint failed")
        return self.status


def routes() -> tuple[Route, Route]:
    return (
        Route(PATH, Recorder(), methods=["POST"]),
        Route(PATH + "/{token}", Recorder(), methods=["POST"]),
    )


def dispatch(
    scope: Scope, endpoint: Endpoint | None = None, metrics: ReceiverMetrics | None = None
) -> tuple[str | None, Scope | None]:
    """The route the endpoint was called for (None: passed on), and the scope it saw."""
    base, with_token = routes()
    endpoint = endpoint or Endpoint()
    passed_on = Recorder()
    middleware = WebhookDispatch(
        passed_on,
        base=base,
        with_token=with_token,
        endpoint=endpoint,
        metrics=metrics or ReceiverMetrics(),
    )
    asyncio.run(middleware(scope, _never, _never))
    if endpoint.scope is None:
        assert passed_on.scope is not None
        return None, None
    assert passed_on.scope is None
    route = endpoint.scope["route"]
    assert route in (base, with_token)
    return route.path, endpoint.scope


async def _never(*args: Any) -> Any:
    raise AssertionError("the dispatch itself neither receives nor sends")


def http_scope(method: str, path: str, root_path: str = "") -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def routed_by_starlette(scope: Scope) -> Route | None:
    for route in routes():
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


segment = st.text(alphabet=st.sampled_from("ab/%?.~-_ 0é"), min_size=0, max_size=8)


@settings(max_examples=2000, deadline=None, database=None)
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "HEAD"]),
    path=st.one_of(
        st.builds(lambda tail: PATH + tail, segment),
        st.builds(lambda tail: "/" + tail, segment),
    ),
    root_path=st.sampled_from(["", "/api"]),
)
def test_the_dispatch_takes_what_the_router_would_route_to_the_webhook(
    method: str, path: str, root_path: str
) -> None:
    scope = http_scope(method, path, root_path)
    taken, _ = dispatch(scope)
    expected = None if root_path else routed_by_starlette(scope)
    assert taken == (expected.path if expected else None)


def test_a_token_in_the_path_arrives_as_the_router_would_give_it() -> None:
    taken, scope = dispatch(http_scope("POST", PATH + "/secret-token"))
    assert taken == PATH + "/{token}"
    assert scope is not None
    assert scope["path_params"] == {"token": "secret-token"}


def test_the_answered_status_is_counted_under_the_route_template() -> None:
    metrics = ReceiverMetrics()
    dispatch(http_scope("POST", PATH + "/secret-token"), Endpoint(401), metrics)
    dispatch(http_scope("POST", PATH), Endpoint(200), metrics)
    with pytest.raises(RuntimeError):
        dispatch(http_scope("POST", PATH), Endpoint(500), metrics)
    text = metrics.render().decode()
    assert f'receiver_requests_total{{route="{PATH}/{{token}}",status="401"}} 1.0' in text
    assert f'receiver_requests_total{{route="{PATH}",status="200"}} 1.0' in text
    assert f'receiver_requests_total{{route="{PATH}",status="500"}} 1.0' in text
    assert f'receiver_request_duration_seconds_count{{route="{PATH}"}} 2.0' in text
    # Never the requested path: it carries the token.
    assert "secret-token" not in text


def test_other_methods_and_paths_go_on_to_the_router() -> None:
    for method, path in [
        ("GET", PATH),
        ("POST", PATH + "/a/b"),
        ("POST", PATH + "/"),
        ("POST", "/x"),
    ]:
        assert dispatch(http_scope(method, path)) == (None, None), (method, path)
