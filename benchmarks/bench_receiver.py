"""Receiver throughput: acked events/s and latency at 64 connections, beside a bare app.

(a) `python -m receiver` (one uvicorn worker) publishing to the real Kafka
broker, where 200 means the broker acked (acks=all); (b) a bare Starlette
app with the same uvicorn settings answering 200 at once. Both run in this
one run, on this machine, with the load generator sharing its cores.

Before the measured rounds, both servers take BENCH_RECEIVER_WARM_UP_SECONDS
(default 20) of load that is not counted: a broker just started runs its
JIT-compiled paths only after a few hundred thousand records, and until then
the receiver's acks wait on it (cold rounds measured 30-40% lower).

Environment: BENCH_RECEIVER_SECONDS per round (default 5), BENCH_RECEIVER_ROUNDS
(default 3), BENCH_RECEIVER_CONNECTIONS (default 64), KAFKA_BOOTSTRAP_SERVERS
(a running broker is reused, else the local stack's broker is started for
the run and stopped after it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import uvloop

from benchmarks.load import LoadResult, post_load
from infra.local.kafka import fetch_kafka
from infra.local.processes import free_port
from infra.local.settings import StackSettings
from infra.local.stack import kafka_broker

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
WARM_UP_SECONDS = 2.0
BODY_TEMPLATE = (
    '{{"event_type": "AppOpened", "event_id": "{event_id}", "app_id": "bench-app",'
    ' "session_id": "s-{connection}", "device_id": "d-{connection}",'
    ' "timestamp": 1663008666001, "metadata": {{"schema_id": "Event_AppOpened_5_0_0"}},'
    ' "event_properties": {{"event_id": "{event_id}", "app_open_source": "push"}}}}'
)


@contextlib.contextmanager
def kafka_for_bench() -> Iterator[str]:
    settings = StackSettings.from_env()
    broker = kafka_broker(settings)
    if broker.is_running() or broker.answers_metadata():
        yield settings.kafka_bootstrap
        return
    fetch_kafka(settings.kafka_libs_dir)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def serve(
    module: str, env: dict[str, str], log: Path, probe: str
) -> Iterator[subprocess.Popen[bytes]]:
    port = env["RECEIVER_PORT"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module], cwd=REPO, env=env, stderr=log_file
        )
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{port}{probe}"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start; see {log}:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError as exc:
        # The baseline has no probe route: a 404 still says it is up.
        return getattr(exc, "code", None) == 404


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Round:
    load: LoadResult
    server_cpu_seconds: float

    @property
    def acked_per_second(self) -> float:
        return self.load.ok_per_second

    @property
    def server_cpu_us(self) -> float:
        """The server's CPU time (all its threads) per request answered in the round."""
        return self.server_cpu_seconds / max(1, self.load.completed) * 1e6


def run_round(server: psutil.Process, port: int, connections: int, seconds: float) -> Round:
    run_id = uuid.uuid4().hex[:8]

    def body_for(connection: int, sequence: int) -> bytes:
        event_id = f"bench-{run_id}-{connection}-{sequence}"
        return BODY_TEMPLATE.format(event_id=event_id, connection=connection).encode()

    cpu_before = sum(server.cpu_times()[:2])
    load = uvloop.run(
        post_load(
            f"http://127.0.0.1:{port}/tapcart_webhooks",
            body_for,
            headers={"authorization": f"Bearer {TOKEN}", "user-agent": "bench"},
            connections=connections,
            seconds=seconds,
            warm_up=WARM_UP_SECONDS,
        )
    )
    return Round(load, sum(server.cpu_times()[:2]) - cpu_before)


def describe(name: str, round_: Round) -> str:
    load = round_.load
    others = {status: n for status, n in load.statuses.items() if status != 200}
    p50, p99 = load.percentile(0.5) * 1000, load.percentile(0.99) * 1000
    return (
        f"{name:<34} {load.ok_per_second:>7.0f} acked/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
        f"   server CPU {round_.server_cpu_us:4.0f} us/request"
        f"   non-200 {others or 0}   errors {load.errors}"
    )


def median_round(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda round_: round_.acked_per_second)[len(rounds) // 2]


def main() -> None:
    seconds = float(os.environ.get("BENCH_RECEIVER_SECONDS", "5"))
    rounds = int(os.environ.get("BENCH_RECEIVER_ROUNDS", "3"))
    connections = int(os.environ.get("BENCH_RECEIVER_CONNECTIONS", "64"))
    warm_up = float(os.environ.get("BENCH_RECEIVER_WARM_UP_SECONDS", "20"))
    received: list[Round] = []
    bare: list[Round] = []
    # Other work on the machine takes cores from all three; the figures need it said.
    load_before = os.getloadavg()[0]
    with kafka_for_bench() as bootstrap, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")},
            "RECEIVER_TOKENS": TOKEN,
            "RECEIVER_SPOOL_DIR": str(work / "spool"),
            "RECEIVER_LOG_LEVEL": "warning",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        }
        receiver_port, baseline_port = free_port(), free_port()
        receiver_env = {**base_env, "RECEIVER_PORT": str(receiver_port)}
        baseline_env = {**base_env, "RECEIVER_PORT": str(baseline_port)}
        with (
            serve("receiver", receiver_env, work / "receiver.log", "/healthz") as receiver,
            serve("benchmarks.receiver_baseline", baseline_env, work / "baseline.log", "/") as base,
        ):
            receiver_process, baseline_process = (
                psutil.Process(receiver.pid),
                psutil.Process(base.pid),
            )
            run_round(receiver_process, receiver_port, connections, warm_up)
            run_round(baseline_process, baseline_port, connections, warm_up / 4)
            # Alternating rounds, so that other load on the machine hits both alike.
            for _ in range(rounds):
                received.append(run_round(receiver_process, receiver_port, connections, seconds))
                bare.append(run_round(baseline_process, baseline_port, connections, seconds))
            rss = peak_rss_mib(receiver.pid)
    a, b = median_round(received), median_round(bare)
    ratio = a.acked_per_second / b.acked_per_second if b.acked_per_second else float("nan")
    print(
        f"{connections} connections from an aiohttp load generator; {rounds} alternating rounds"
        f" of {seconds:g} s after an uncounted warm-up ({warm_up:g} s receiver, {warm_up / 4:g} s"
        f" bare), median round shown; one uvicorn"
        f" worker; {os.cpu_count()} cores shared by load generator, server and broker;"
        f" 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(describe("(a) receiver -> Kafka (acks=all)", a))
    print(describe("(b) bare Starlette, same uvicorn", b))
    print(f"ratio a/b: {ratio:.2f}")
    print(f"receiver peak RSS: {rss:.0f} MiB")
    print(
        "every round, acked/s: (a) "
        + " ".join(f"{r.acked_per_second:.0f}" for r in received)
        + "  (b) "
        + " ".join(f"{r.acked_per_second:.0f}" for r in bare)
    )


if __name__ == "__main__":
    main()
