# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""The pipeline's Beam counters, and the summary a drain run prints.

Every step counts under one namespace, so a runner's UI (or a
`PipelineResult`) shows them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

NAMESPACE = "tapcart_events"

# Counter names, in the order the summary shows them.
READ = "read"
PARSED = "parsed"
FLATTENED = "flattened"
DUPLICATES_DROPPED = "duplicates_dropped"
ROWS_SUBMITTED = "rows_submitted"
WRITE_FAILED = "write_failed"
DEAD_LETTERED = "dead_lettered"
OFFSET_COMMITS = "offset_commits"
LATE_OFFSET_PANES = "late_offset_panes"

SUMMARY_ORDER = (
    READ,
    PARSED,
    FLATTENED,
    DUPLICATES_DROPPED,
    ROWS_SUBMITTED,
    WRITE_FAILED,
    DEAD_LETTERED,
    OFFSET_COMMITS,
)


def counter_totals(result: Any) -> dict[str, int]:
    """The committed value of each of our counters (attempted when a runner has no committed)."""
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    totals: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def add_totals(into: dict[str, int], more: Mapping[str, int]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def rows_written(totals: Mapping[str, int]) -> int:
    """Rows the events table accepted: submitted minus those the write rejected."""
    return totals.get(ROWS_SUBMITTED, 0) - totals.get(WRITE_FAILED, 0)


def format_summary(totals: Mapping[str, int], seconds: float, passes: int) -> str:
    """A few lines for the end of a drain run."""
    width = max(len(name) for name in (*SUMMARY_ORDER, "rows_written"))
    lines = [f"drain finished: {passes} pass(es) in {seconds:.1f}s"]
    for name in SUMMARY_ORDER:
        lines.append(f"  {name:<{width}}  {totals.get(name, 0):>10}")
        if name == WRITE_FAILED:
            lines.append(f"  {'rows_written':<{width}}  {rows_written(totals):>10}")
    return "\n".join(lines)
