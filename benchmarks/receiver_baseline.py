"""The receiver benchmark's baseline: a bare Starlette app under the receiver's uvicorn settings.

`python -m benchmarks.receiver_baseline` reads the same environment as
`python -m receiver` and answers every POST to the webhook path with 200,
without reading the body or doing anything else. Its process gets the
receiver's garbage-collector settings too (receiver/memory.py).
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.config import Settings
from receiver.logs import configure_logging
from receiver.memory import settle_for_serving
from receiver.server import server_config

ANSWER = b'{"status":"accepted"}'


async def accept(request: Request) -> Response:
    return Response(ANSWER, media_type="application/json")


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = Starlette(routes=[Route(settings.path, accept, methods=["POST"])])
    settle_for_serving()
    uvicorn.Server(server_config(app, settings)).run()


if __name__ == "__main__":
    main()
