"""Freshness: how long after the receiver's 200 an event's row is in BigQuery.

The whole local system runs as `make run` runs it: a Kafka broker (a private
one, so that no earlier backlog is in the way), the BigQuery emulator, the
receiver and the streaming pipeline on Prism. The simulator posts a steady
load; each row's freshness is `inserted_at - received_at`, two columns it
carries (the receiver stamps `received_at` before it answers; the pipeline
stamps `inserted_at` as it sends the row). A second figure, measured by
polling, is how long until every acked event is queryable in the view.

The baseline, in the same run: the emulator's own floor, the time from a
streaming insert of one row straight into a table to a query that sees it.

Environment: BENCH_FRESHNESS_SECONDS (default 30) of load at
BENCH_FRESHNESS_RATE events/s (default 50).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.services import local_emulator
from infra.local.kafka import KafkaBroker
from infra.local.pipeline_service import RUNNER, StreamingPipeline
from infra.local.prism import fetch_prism
from infra.local.processes import free_port
from infra.local.receiver_service import ReceiverService
from infra.local.settings import StackSettings
from infra.local.verify import copies_in, run_simulator, wait_for_events
from pipeline.bigquery_client import cloud_client
from pipeline.views import DEDUPLICATED_VIEW

TOKEN = "bench-freshness-token"
BAR_P95_SECONDS = 10.0
BASELINE_SAMPLES = 15


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def emulator_floor(client: Any, table: str, samples: int) -> list[float]:
    """Seconds from a one-row streaming insert to a query that returns it."""
    from google.cloud import bigquery

    client.create_table(
        bigquery.Table(table, schema=[bigquery.SchemaField("marker", "STRING")]), exists_ok=True
    )
    seconds = []
    for _ in range(samples):
        marker = uuid.uuid4().hex
        began = time.monotonic()
        errors = client.insert_rows_json(table, [{"marker": marker}])
        assert not errors, errors
        sql = f"SELECT COUNT(*) AS n FROM `{table}` WHERE marker = '{marker}'"
        while next(iter(client.query(sql).result()))["n"] == 0:
            time.sleep(0.01)
        seconds.append(time.monotonic() - began)
    return seconds


def row_freshness(client: Any, table: str, event_ids: set[str]) -> list[float]:
    """`inserted_at - received_at` of the first row of each event, in seconds."""
    from google.cloud import bigquery

    ids = sorted(event_ids)
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ArrayQueryParameter("ids", "STRING", ids)]
    )
    sql = (
        f"SELECT event_id, MIN(received_at) AS received_at, MIN(inserted_at) AS inserted_at "
        f"FROM `{table}` WHERE event_id IN UNNEST(@ids) GROUP BY event_id"
    )
    rows = client.query(sql, job_config=config).result()
    return [(row["inserted_at"] - row["received_at"]).total_seconds() for row in rows]


def main() -> None:
    seconds = float(os.environ.get("BENCH_FRESHNESS_SECONDS", "30"))
    rate = float(os.environ.get("BENCH_FRESHNESS_RATE", "50"))
    settings = StackSettings.from_env()
    dataset = f"bench_freshness_{uuid.uuid4().hex[:8]}"
    client = None
    with (
        local_emulator(settings) as endpoint,
        tempfile.TemporaryDirectory(prefix="bench-freshness-") as scratch,
    ):
        work = Path(scratch)
        broker = KafkaBroker(
            port=free_port(),
            controller_port=free_port(),
            state_dir=work / "kafka",
            libs_dir=settings.kafka_libs_dir,
        )
        receiver = ReceiverService(free_port(), broker.bootstrap, work / "receiver", TOKEN)
        pipeline = StreamingPipeline(
            bootstrap=broker.bootstrap,
            bigquery_endpoint=endpoint,
            project=settings.bigquery_project,
            dataset=dataset,
            prism_binary=fetch_prism(settings.cache_dir),
            state_dir=work / "pipeline",
            consumer_group=f"bench-{dataset}",
        )
        try:
            client = cloud_client(settings.bigquery_project, endpoint)
            broker.start()
            receiver.start()
            pipeline.start()
            run = run_simulator(
                f"{receiver.url}/tapcart_webhooks",
                TOKEN,
                work / "report.json",
                ["--duration", str(seconds), "--rate", str(rate), "--no-retry-rejected"],
            )
            acked = run.acked_event_ids
            load_ended = datetime.now(UTC)
            view = f"{settings.bigquery_project}.{dataset}.{DEDUPLICATED_VIEW}"
            found = wait_for_events(client, view, acked, timeout=120, interval=0.2)
            all_queryable = (datetime.now(UTC) - load_ended).total_seconds()
            table = f"{settings.bigquery_project}.{dataset}.events"
            freshness = row_freshness(client, table, acked)
            rows = sum(copies_in(client, table, acked).values())
            floor_table = f"{settings.bigquery_project}.{dataset}.floor"
            floor = emulator_floor(client, floor_table, BASELINE_SAMPLES)
        finally:
            pipeline.stop()
            receiver.stop()
            broker.stop()
            if client is not None:
                client.delete_dataset(
                    f"{settings.bigquery_project}.{dataset}",
                    delete_contents=True,
                    not_found_ok=True,
                )
                client.close()  # type: ignore[no-untyped-call]
    p50, p95 = percentile(freshness, 0.50), percentile(freshness, 0.95)
    floor_p50 = statistics.median(floor)
    print(
        f"{len(acked)} events acked in {seconds:g} s at {rate:g}/s; pipeline on {RUNNER}; "
        f"{len(found)} in the view, {rows} rows in events"
    )
    print(
        f"freshness, receiver 200 -> row inserted:  p50 {p50:5.2f} s   p95 {p95:5.2f} s   "
        f"max {max(freshness):5.2f} s   (bar: p95 < {BAR_P95_SECONDS:g} s: "
        f"{'met' if p95 < BAR_P95_SECONDS else 'NOT met'})"
    )
    print(f"every acked event queryable {all_queryable:.2f} s after the load ended")
    print(f"baseline, emulator insert -> queryable:  p50 {floor_p50:5.3f} s")
    print(f"ratio freshness p50 / baseline p50: {p50 / floor_p50:.1f}")


if __name__ == "__main__":
    main()
