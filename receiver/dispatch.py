"""POSTs to the webhook paths go straight to the endpoint, ahead of Starlette's router.

Every event Tapcart sends is one POST to `RECEIVER_PATH` or to
`RECEIVER_PATH/{token}`. On that path, Starlette's exception middleware and
router, and a metrics middleware wrapping `send`, did about a third of the
receiver's own work per request: a Request object, a regular-expression
match per route, copies of the scope, two more awaits per message sent. This
middleware, the outermost of the app's own, recognises those two paths by
plain string comparison, sets in the scope what the router would have set
(`route`, `endpoint`, `path_params`), calls the endpoint, and records the
request's metrics from the status the endpoint returns.

Everything else goes through Starlette and RequestMetricsMiddleware as
before: other routes, other methods on the webhook paths (405), unknown
paths (404), and any request under a root path. An exception from the
endpoint is counted as a 500 and reaches Starlette's outermost middleware,
which answers 500.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.metrics import ReceiverMetrics

# An ASGI endpoint that returns the status it answered.
Endpoint = Callable[[Scope, Receive, Send], Awaitable[int]]


class WebhookDispatch:
    def __init__(
        self,
        app: ASGIApp,
        *,
        base: Route,
        with_token: Route,
        endpoint: Endpoint,
        metrics: ReceiverMetrics,
    ) -> None:
        self.app = app
        self.base = base
        self.with_token = with_token
        self.token_prefix = base.path + "/"
        self.endpoint = endpoint
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            if path == self.base.path:
                await self._handle(self.base, {}, scope, receive, send)
                return
            if path.startswith(self.token_prefix):
                # The router's `{token}` matches one non-empty path segment.
                token = path[len(self.token_prefix) :]
                if token and "/" not in token:
                    await self._handle(self.with_token, {"token": token}, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _handle(
        self, route: Route, path_params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = path_params
        started = time.perf_counter()
        status = 500
        try:
            status = await self.endpoint(scope, receive, send)
        finally:
            # Labelled by the route's template: a token in the path never reaches a label.
            self.metrics.observe_request(route.path, status, time.perf_counter() - started)
