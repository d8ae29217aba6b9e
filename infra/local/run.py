"""`make run`: bring the whole local stack up, say where it is, and stop it on Ctrl-C.

The Kafka broker, the BigQuery emulator, the receiver and the streaming
pipeline (on Beam's Prism runner). Services that were already running (say,
from `make infra-up`) are used and left running; whatever this command
started, it stops.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from infra.local.processes import StackError
from infra.local.settings import TOPICS, StackSettings
from infra.local.stack import (
    ALL_NAMES,
    APPLICATION_NAMES,
    down,
    receiver_service,
    services,
    streaming_pipeline,
    up,
)

# How often the foreground loop checks that what it started is still alive.
WATCH_SECONDS = 2.0


def describe(settings: StackSettings) -> str:
    """Where everything is and how to use it, for a person at the terminal."""
    receiver = receiver_service(settings)
    pipeline = streaming_pipeline(settings)
    route = f"{settings.receiver_url}/tapcart_webhooks"
    table = f"{settings.bigquery_project}.{settings.bigquery_dataset}"
    return "\n".join(
        [
            f"Kafka broker       {settings.kafka_bootstrap}   topics: {', '.join(TOPICS)}",
            f"BigQuery emulator  {settings.bigquery_endpoint}   dataset {table}",
            f"Receiver           POST {route}",
            f"                   token {receiver.token}",
            f"                   (as Authorization: Bearer <token>, or POST {route}/<token>)",
            f"Pipeline           streaming on Beam's Prism runner ({pipeline.prism_binary})",
            f"Logs               {settings.state_dir}/<service>/",
            "",
            f"Send events:   .venv/bin/python -m simulator --token {receiver.token} --duration 30",
            "Look at rows:  .venv/bin/python -m infra.local.query "
            "'SELECT event_name, COUNT(*) AS n FROM events_deduplicated GROUP BY event_name'",
            "Press Ctrl-C to stop what this command started.",
        ]
    )


def main() -> int:
    settings = StackSettings.from_env()
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started: list[str] = []
    code = 0
    try:
        started = up(settings, ALL_NAMES, started)
        print()
        print(describe(settings), flush=True)
        watched = {
            name: service
            for name, (service, _) in services(settings).items()
            if name in started and name in APPLICATION_NAMES
        }
        while not stop_requested.wait(WATCH_SECONDS):
            stopped = [name for name, service in watched.items() if service.pid is None]
            if stopped:
                print(f"error: {', '.join(stopped)} stopped; see its log.", file=sys.stderr)
                code = 1
                break
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        code = 1
    finally:
        print("\nstopping ...", flush=True)
        down(settings, started)
    return code


if __name__ == "__main__":
    sys.exit(main())
