"""What a run sent and how each delivery ended: a summary table and a machine-readable report.

The report has one record per delivery (event id, final status, attempts,
the time of the 200, the receiver's request id, the body's SHA-256), so an
end-to-end test can compare the acked event ids with the rows in BigQuery
and find each malformed body among the dead letters by its hash.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from simulator.delivery import DeliveryKind
from simulator.sender import FinalStatus, Outcome

_COLUMNS = (
    ("sent", None),
    ("acked", FinalStatus.ACKED),
    ("rejected", FinalStatus.REJECTED),
    ("gave up", FinalStatus.GAVE_UP),
    ("cancelled", FinalStatus.CANCELLED),
)


def iso_utc(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    delivery = outcome.delivery
    return {
        "index": delivery.index,
        "kind": delivery.kind.value,
        "envelope": delivery.envelope.value,
        "event_type": delivery.event_name,
        "event_id": delivery.event_id,
        "fault": delivery.fault.value if delivery.fault else None,
        "duplicate_of": delivery.duplicate_of,
        "status": outcome.status.value,
        "attempts": outcome.attempts,
        "http_status": outcome.http_status,
        "error": outcome.error,
        "first_attempt_at": iso_utc(outcome.first_attempt_at),
        "acked_at": iso_utc(outcome.acked_at),
        "finished_at": iso_utc(outcome.finished_at),
        "request_id": outcome.request_id,
        "body_sha256": delivery.body_sha256(),
        "body_bytes": len(delivery.body),
    }


def _row_label(outcome: Outcome) -> str:
    delivery = outcome.delivery
    if delivery.kind is DeliveryKind.DUPLICATE:
        return "duplicate deliveries"
    return delivery.label


class RunReport:
    """Collects outcomes as they end; streams them to a JSON-lines file when given one."""

    def __init__(self, lines: TextIO | None = None) -> None:
        self.outcomes: list[Outcome] = []
        self._lines = lines

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self._lines is not None:
            self._lines.write(json.dumps(outcome_record(outcome)) + "\n")
            self._lines.flush()

    def of_kind(self, *kinds: DeliveryKind) -> list[Outcome]:
        return [o for o in self.outcomes if o.delivery.kind in kinds]

    def summary(self) -> dict[str, Any]:
        """Counts per delivery kind and final status, and the retries made."""
        by_kind: dict[str, dict[str, int]] = {}
        for kind in DeliveryKind:
            outcomes = self.of_kind(kind)
            counts = Counter(o.status.value for o in outcomes)
            by_kind[kind.value] = {
                "sent": len(outcomes),
                **{status.value: counts.get(status.value, 0) for status in FinalStatus},
                "retries": sum(o.attempts - 1 for o in outcomes if o.attempts > 0),
            }
        return by_kind

    def table(self) -> str:
        """Sent / acked / rejected / gave up / cancelled / retries, one row per event type."""
        rows: dict[str, Counter[str]] = {}
        for outcome in sorted(self.outcomes, key=_sort_key):
            counts = rows.setdefault(_row_label(outcome), Counter())
            counts["sent"] += 1
            counts[outcome.status.value] += 1
            counts["retries"] += max(outcome.attempts - 1, 0)
        total: Counter[str] = Counter()
        for counts in rows.values():
            total.update(counts)
        headers = [name for name, _ in _COLUMNS] + ["retries"]
        width = max([len("event type"), *(len(label) for label in rows)]) + 2
        lines = ["event type".ljust(width) + "".join(h.rjust(10) for h in headers)]
        for label, counts in [*rows.items(), ("total", total)]:
            cells = [counts["sent"]]
            cells += [counts[status.value] for _, status in _COLUMNS if status is not None]
            cells.append(counts["retries"])
            lines.append(label.ljust(width) + "".join(str(c).rjust(10) for c in cells))
        return "\n".join(lines)

    def unacked_events(self) -> list[Outcome]:
        """Events and duplicates that did not get a 200: what Tapcart would have dropped."""
        return [
            o
            for o in self.of_kind(DeliveryKind.EVENT, DeliveryKind.DUPLICATE)
            if o.status is not FinalStatus.ACKED
        ]

    def acked_malformed(self) -> list[Outcome]:
        """Malformed bodies answered with 2xx: the receiver should have refused them."""
        return [o for o in self.of_kind(DeliveryKind.MALFORMED) if o.status is FinalStatus.ACKED]


def _sort_key(outcome: Outcome) -> tuple[int, str]:
    order = {DeliveryKind.EVENT: 0, DeliveryKind.DUPLICATE: 1, DeliveryKind.MALFORMED: 2}
    return order[outcome.delivery.kind], outcome.delivery.label


def write_json(path: Path, run: dict[str, Any], outcomes: Iterable[Outcome]) -> None:
    """One JSON document: the run's settings and summary, and every delivery's record."""
    document = {**run, "deliveries": [outcome_record(o) for o in outcomes]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def is_json_lines(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")
