"""An asyncio HTTP load generator (aiohttp): N keep-alive connections posting in a loop.

Each connection posts as fast as it gets answers, with a unique event id in
every body; latencies are counted after a warm-up, per request, client-side.
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    statuses: Mapping[int, int]
    latencies: list[float]
    errors: int
    # Every request answered, warm-up included.
    completed: int

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies) if self.latencies else float("nan")


async def post_load(
    url: str,
    body_for: Callable[[int, int], bytes],
    *,
    headers: Mapping[str, str],
    connections: int,
    seconds: float,
    warm_up: float,
) -> LoadResult:
    """Post for `warm_up + seconds`; count only what completes in the last `seconds`."""
    statuses: collections.Counter[int] = collections.Counter()
    latencies: list[float] = []
    errors = 0
    completed = 0
    began = time.perf_counter()
    measure_from = began + warm_up
    stop_at = measure_from + seconds
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:

        async def connection_loop(connection: int) -> None:
            nonlocal errors, completed
            sequence = 0
            while (started := time.perf_counter()) < stop_at:
                sequence += 1
                try:
                    async with session.post(
                        url, data=body_for(connection, sequence), headers=headers
                    ) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status = -1
                finished = time.perf_counter()
                completed += status >= 0
                if started >= measure_from and finished <= stop_at:
                    if status < 0:
                        errors += 1
                    else:
                        statuses[status] += 1
                        latencies.append(finished - started)

        await asyncio.gather(*(connection_loop(n) for n in range(connections)))
    return LoadResult(
        seconds=seconds,
        statuses=dict(statuses),
        latencies=latencies,
        errors=errors,
        completed=completed,
    )
