"""Checks of the whole system: what the simulator got acked against what BigQuery holds.

Used by `make demo`, the end-to-end tests and the freshness benchmark. The
simulator runs as users run it, as a command, and writes a JSON report with
the outcome of every delivery; BigQuery is read through the official client.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.settings import REPO_ROOT

# Event ids per query, so that a long run's ids do not make one huge request.
IDS_PER_QUERY = 2_000


@dataclass(frozen=True)
class SimulatorRun:
    """What one simulator run sent, and how each delivery ended."""

    report: dict[str, Any]
    exit_code: int

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = self.report["deliveries"]
        return deliveries

    def count(self, kind: str, status: str | None = None) -> int:
        return sum(
            1
            for d in self.deliveries
            if d["kind"] == kind and (status is None or d["status"] == status)
        )

    @property
    def acked_event_ids(self) -> set[str]:
        """Ids of the events (first copies and duplicate deliveries) answered 200."""
        return {
            d["event_id"]
            for d in self.deliveries
            if d["kind"] in ("event", "duplicate") and d["status"] == "acked"
        }

    @property
    def unacked_event_ids(self) -> set[str]:
        events = {d["event_id"] for d in self.deliveries if d["kind"] == "event"}
        return events - self.acked_event_ids

    @property
    def malformed_bodies(self) -> set[str]:
        """SHA-256 of each malformed body sent (invalid JSON, not an object, no event id)."""
        return {d["body_sha256"] for d in self.deliveries if d["kind"] == "malformed"}


def simulator_command(
    url: str, token: str, report_path: Path, arguments: Sequence[str]
) -> list[str]:
    """`python -m simulator --url URL --token TOKEN --report PATH ARGUMENTS...`."""
    return [
        sys.executable,
        "-m",
        "simulator",
        "--url",
        url,
        "--token",
        token,
        "--report",
        str(report_path),
        "--progress",
        "0",
        *arguments,
    ]


def read_report(report_path: Path, exit_code: int, output: str = "") -> SimulatorRun:
    if not report_path.exists():
        raise RuntimeError(f"the simulator wrote no report:\n{output}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return SimulatorRun(report=report, exit_code=exit_code)


def run_simulator(
    url: str, token: str, report_path: Path, arguments: Sequence[str], timeout: float = 900.0
) -> SimulatorRun:
    """Run the simulator to its end; its report."""
    finished = subprocess.run(
        simulator_command(url, token, report_path, arguments),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return read_report(report_path, finished.returncode, finished.stdout + finished.stderr)


def copies_in(client: Any, table: str, event_ids: Iterable[str]) -> Counter[str]:
    """How many rows of `table` (`project.dataset.name`) each of `event_ids` has."""
    from google.cloud import bigquery

    ids = sorted(event_ids)
    found: Counter[str] = Counter()
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start : start + IDS_PER_QUERY]
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ArrayQueryParameter("ids", "STRING", chunk)]
        )
        sql = (
            f"SELECT event_id, COUNT(*) AS copies FROM `{table}` "
            "WHERE event_id IN UNNEST(@ids) GROUP BY event_id"
        )
        for row in client.query(sql, job_config=config).result():
            found[row["event_id"]] = int(row["copies"])
    return found


def wait_for_events(
    client: Any, table: str, event_ids: Iterable[str], timeout: float, interval: float = 1.0
) -> Counter[str]:
    """Poll `table` until every one of `event_ids` has a row, or `timeout`; the copies found."""
    wanted = set(event_ids)
    deadline = time.monotonic() + timeout
    while True:
        found = copies_in(client, table, wanted)
        if set(found) >= wanted or time.monotonic() > deadline:
            return found
        time.sleep(interval)
