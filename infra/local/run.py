"""`make run`: bring the whole local stack up, say where it is, and stop it on Ctrl-C.

Services that were already running (say, from `make infra-up`) are used and
left running; whatever this command started, it stops.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from infra.local.processes import StackError
from infra.local.settings import TOPICS, StackSettings
from infra.local.stack import SERVICE_NAMES, down, up


def main() -> int:
    settings = StackSettings.from_env()
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started: list[str] = []
    try:
        started = up(settings, SERVICE_NAMES)
        print()
        print(f"Kafka broker      {settings.kafka_bootstrap}   topics: {', '.join(TOPICS)}")
        print(
            f"BigQuery emulator {settings.bigquery_endpoint}   project {settings.bigquery_project}"
            f", dataset {settings.bigquery_dataset}"
        )
        print("Press Ctrl-C to stop what this command started.", flush=True)
        stop_requested.wait()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping ...", flush=True)
        down(settings, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
