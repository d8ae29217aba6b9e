"""`make demo`: the whole stack, a short burst of simulated Tapcart traffic, and what landed.

Brings the stack up (reusing what runs), posts DEMO_EVENTS events (default
300) with a few duplicate deliveries and malformed bodies, waits until every
acked event is in the deduplicated view, prints the events per type and the
dead letters, and stops what it started.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from infra.local.processes import StackError
from infra.local.query import format_table, run_query
from infra.local.settings import StackSettings
from infra.local.stack import ALL_NAMES, down, receiver_service, up
from infra.local.verify import run_simulator, wait_for_events
from pipeline.bigquery_client import cloud_client
from pipeline.views import DEDUPLICATED_VIEW

WAIT_FOR_ROWS_SECONDS = 120.0


def demo(settings: StackSettings, events: int) -> int:
    receiver = receiver_service(settings)
    dataset = f"{settings.bigquery_project}.{settings.bigquery_dataset}"
    with tempfile.TemporaryDirectory(prefix="tapcart-demo-") as scratch:
        print(f"\nposting {events} events to {receiver.url} ...", flush=True)
        run = run_simulator(
            f"{receiver.url}/tapcart_webhooks",
            receiver.token,
            Path(scratch) / "report.json",
            [
                "--count",
                str(events),
                "--rate",
                "100",
                "--duplicates",
                "0.05",
                "--malformed",
                "0.03",
                "--no-retry-rejected",
            ],
        )
    acked = run.acked_event_ids
    print(
        f"sent {run.count('event')} events, {run.count('duplicate')} duplicate deliveries and "
        f"{run.count('malformed')} malformed bodies; {len(acked)} distinct events acked",
        flush=True,
    )
    print("waiting for the rows in BigQuery ...", flush=True)
    began = time.monotonic()
    client = cloud_client(settings.bigquery_project, settings.bigquery_endpoint)
    try:
        found = wait_for_events(
            client, f"{dataset}.{DEDUPLICATED_VIEW}", acked, WAIT_FOR_ROWS_SECONDS
        )
    finally:
        client.close()  # type: ignore[no-untyped-call]
    waited = time.monotonic() - began
    print(f"{len(found)} of {len(acked)} acked events queryable after {waited:.1f}s\n")
    names, rows = run_query(
        settings,
        f"SELECT envelope, event_name, COUNT(*) AS events FROM {DEDUPLICATED_VIEW} "
        "GROUP BY envelope, event_name ORDER BY events DESC, event_name",
    )
    print(format_table(names, rows))
    names, rows = run_query(
        settings,
        "SELECT error_type, COUNT(*) AS dead_letters FROM events_dead_letter "
        "GROUP BY error_type ORDER BY dead_letters DESC",
    )
    print()
    print(format_table(names, rows) if rows else "dead letters: 0")
    print(
        f"\nmalformed bodies were answered 4xx by the receiver and kept on "
        f"tapcart.events.rejected ({run.count('malformed', 'rejected')} this run)"
    )
    return 0 if len(found) == len(acked) else 1


def main() -> int:
    settings = StackSettings.from_env()
    events = int(os.environ.get("DEMO_EVENTS", "300"))
    started: list[str] = []
    try:
        up(settings, ALL_NAMES, started)
        return demo(settings, events)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        down(settings, started)


if __name__ == "__main__":
    sys.exit(main())
