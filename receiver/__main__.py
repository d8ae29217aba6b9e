"""`python -m receiver`: serve the receiver with uvicorn, configured from the environment."""

from __future__ import annotations

import sys

import uvicorn

from receiver.app import create_app
from receiver.config import ConfigError, Settings
from receiver.logs import configure_logging
from receiver.memory import settle_for_serving
from receiver.server import server_config
from receiver.workers import run_workers


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"receiver: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.workers > 1:
        return run_workers(settings)
    server = uvicorn.Server(server_config(create_app(settings), settings))
    settle_for_serving()
    server.run()
    # uvicorn exits quietly when the lifespan start-up fails; say so in the exit code.
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
