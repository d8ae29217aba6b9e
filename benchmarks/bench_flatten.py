"""Rows per second per core of `flatten` over the fixture corpus, beside `orjson.loads`.

Both run in this process on the same bytes, timed in CPU seconds of this
process (one core), best of several rounds, so other load on the machine
moves the figures little. The bar to beat is 50,000 rows/s per core.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pipeline.flatten import flatten

PAYLOADS = Path(__file__).parents[1] / "tests" / "fixtures" / "payloads"
RECEIVED = datetime(2024, 1, 1, tzinfo=UTC)
TARGET_ROWS_PER_SECOND = 50_000
ROUNDS = 5
MIN_ROUND_SECONDS = 0.4


def _corpora() -> dict[str, list[bytes]]:
    files = sorted(PAYLOADS.glob("*.json"))
    documented = [p for p in files if p.name.startswith(("insights_", "clickstream_", "trap_"))]
    return {
        f"documented events ({len(documented)} payloads)": [p.read_bytes() for p in documented],
        f"whole corpus ({len(files)} payloads, incl. 64 KiB strings, 600-deep nesting)": [
            p.read_bytes() for p in files
        ],
    }


def _rows_per_second(work: Callable[[], object], rows: int) -> float:
    """Best of ROUNDS, each round repeating `work` for at least MIN_ROUND_SECONDS of CPU."""
    repeats = 1
    while True:
        started = time.process_time()
        for _ in range(repeats):
            work()
        spent = time.process_time() - started
        if spent >= MIN_ROUND_SECONDS:
            break
        repeats *= 2
    best = spent
    for _ in range(ROUNDS - 1):
        started = time.process_time()
        for _ in range(repeats):
            work()
        best = min(best, time.process_time() - started)
    return rows * repeats / best


def main() -> None:
    print(f"flatten vs orjson.loads, rows/s per core (CPU time, best of {ROUNDS})")
    for label, documents in _corpora().items():
        _measure(label, documents)


def _measure(label: str, documents: list[bytes]) -> None:
    parsed = [orjson.loads(document) for document in documents]
    rows = len(documents)
    loads = _rows_per_second(lambda: [orjson.loads(d) for d in documents], rows)
    flat = _rows_per_second(lambda: [flatten(p, RECEIVED) for p in parsed], rows)
    both = _rows_per_second(lambda: [flatten(orjson.loads(d), RECEIVED) for d in documents], rows)
    lean = _rows_per_second(
        lambda: [flatten(p, RECEIVED, keep_payload=False) for p in parsed], rows
    )
    verdict = "meets" if flat >= TARGET_ROWS_PER_SECOND else "BELOW"
    print(f"  {label}")
    print(f"    baseline orjson.loads          {loads:>12,.0f} rows/s")
    print(f"    flatten                        {flat:>12,.0f} rows/s  ({verdict} 50,000)")
    print(f"    flatten, payload column off    {lean:>12,.0f} rows/s")
    print(f"    orjson.loads + flatten         {both:>12,.0f} rows/s")
    print(f"    ratio flatten / loads          {flat / loads:>12.3f}")


if __name__ == "__main__":
    main()
