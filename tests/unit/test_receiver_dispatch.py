"""The webhook dispatch takes exactly the requests Starlette's router would route to the webhook."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from receiver.dispatch import WebhookDispatch

PATH = "/tapcart_webhooks"


class Recorder:
    """An ASGI app that remembers the scope it was called with."""

    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = dict(scope)


def routes() -> tuple[Route, Route]:
    return (
        Route(PATH, Recorder(), methods=["POST"]),
        Route(PATH + "/{token}", Recorder(), methods=["POST"]),
    )


def dispatch(scope: Scope) -> tuple[Route | None, Scope | None]:
    """The route whose endpoint took the request (None: passed on), and the scope it saw."""
    base, with_token = routes()
    passed_on = Recorder()
    asyncio.run(WebhookDispatch(passed_on, base, with_token)(scope, _never, _never))
    for route in (base, with_token):
        assert isinstance(route.endpoint, Recorder)
        if route.endpoint.scope is not None:
            assert passed_on.scope is None
            return route, route.endpoint.scope
    assert passed_on.scope is not None
    return None, None


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
    assert (taken.path if taken else None) == (expected.path if expected else None)


def test_a_token_in_the_path_arrives_as_the_router_would_give_it() -> None:
    taken, scope = dispatch(http_scope("POST", PATH + "/secret-token"))
    assert taken is not None and scope is not None
    assert taken.path == PATH + "/{token}"
    # The route template, never the requested path, labels the metrics.
    assert scope["route"] is taken
    assert scope["path_params"] == {"token": "secret-token"}


def test_other_methods_and_paths_go_on_to_the_router() -> None:
    for method, path in [
        ("GET", PATH),
        ("POST", PATH + "/a/b"),
        ("POST", PATH + "/"),
        ("POST", "/x"),
    ]:
        assert dispatch(http_scope(method, path)) == (None, None), (method, path)
