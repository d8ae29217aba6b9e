"""POSTs to the webhook paths go straight to the endpoint, ahead of Starlette's router.

Every event Tapcart sends is one POST to `RECEIVER_PATH` or to
`RECEIVER_PATH/{token}`. On that path, Starlette's exception middleware and
router did about a fifth of the receiver's own work per request: a Request
object, a regular-expression match per route, copies of the scope. This
middleware recognises those two paths by plain string comparison and calls
the endpoint itself, after setting in the scope what the router would have
set (`route`, which labels the metrics, `endpoint` and `path_params`).

Everything else goes through Starlette as before: other routes, other
methods on the webhook paths (405), unknown paths (404), and any request
under a root path. An exception from the endpoint still reaches Starlette's
outermost middleware, which answers 500.
"""

from __future__ import annotations

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


class WebhookDispatch:
    def __init__(self, app: ASGIApp, base: Route, with_token: Route) -> None:
        self.app = app
        self.base = base
        self.with_token = with_token
        self.token_prefix = base.path + "/"

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

    @staticmethod
    async def _handle(
        route: Route, path_params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = path_params
        await route.app(scope, receive, send)
