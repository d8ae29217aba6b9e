"""Receiver throughput: acked events/s and latency at 64 connections, beside a bare app.

(a) `python -m receiver` (one uvicorn worker) publishing to the real Kafka
broker, where 200 means the broker acked (acks=all); (b) a bare Starlette
app with the same uvicorn settings answering 200 at once. Both run in this
one run, on this machine, with the load generator sharing its cores.

The load generator is wrk (`make wrk` installs it) with benchmarks/wrk_post.lua:
keep-alive connections posting as fast as they are answered, a unique event id
in every body, a few microseconds of CPU per request. Every answer counts; a
round's acked events are its answers less those wrk counts as errors (status
>= 400) and, for (a), less the records the receiver spooled to disk instead of
Kafka (its /metrics says so, with its answers by status, before and after).

Before the measured rounds, both servers take BENCH_RECEIVER_WARM_UP_SECONDS
(default 20) of load that is not counted: a broker just started runs its
JIT-compiled paths only after a few hundred thousand records, and until then
the receiver's acks wait on it (cold rounds measured 30-40% lower).

Measured rounds alternate, one of (a) then one of (b). Other work on a small
machine slows both servers for seconds at a time, so a round of (a) and the
round of (b) right after it meet nearly the same conditions: the ratio a/b
is the median over those pairs. (The median rounds of each are printed too.)

Environment: BENCH_RECEIVER_SECONDS per round (default 5), BENCH_RECEIVER_ROUNDS
(default 5), BENCH_RECEIVER_CONNECTIONS (default 64), BENCH_RECEIVER_WRK_THREADS
(default 2), KAFKA_BOOTSTRAP_SERVERS (a running broker is reused, else the
local stack's broker is started for the run and stopped after it).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
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
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.services import local_broker
from infra.local.processes import free_port
from infra.local.settings import StackSettings

REPO = Path(__file__).resolve().parents[1]
WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")
TOKEN = "bench-token"
WEBHOOK_PATH = "/tapcart_webhooks"
BODY_TEMPLATE = (
    '{{"event_type": "AppOpened", "event_id": "{event_id}", "app_id": "bench-app",'
    ' "session_id": "s-{connection}", "device_id": "d-{connection}",'
    ' "timestamp": 1663008666001, "metadata": {{"schema_id": "Event_AppOpened_5_0_0"}},'
    ' "event_properties": {{"event_id": "{event_id}", "app_open_source": "push"}}}}'
)


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


def receiver_counts(port: int) -> collections.Counter[str]:
    """The receiver's own counters: webhook answers by status, records by store (kafka, spool)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    counts: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "receiver_requests_total" and sample.labels["route"] == WEBHOOK_PATH:
                counts[sample.labels["status"]] += int(sample.value)
            elif sample.name == "receiver_records_stored_total":
                counts[sample.labels["store"]] += int(sample.value)
    return counts


@dataclass(frozen=True)
class WrkResult:
    """What wrk_post.lua's done() prints; times in microseconds."""

    requests: int
    duration_us: int
    status_errors: int  # answers with a status >= 400
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    p50_us: int
    p99_us: int
    max_us: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts


def run_wrk(url: str, connections: int, threads: int, seconds: float) -> WrkResult:
    body = BODY_TEMPLATE.format(event_id="@ID@", connection="@CONN@")
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout=30s",
        f"-s{WRK_SCRIPT}",
        url,
        "--",
        uuid.uuid4().hex[:8],
        TOKEN,
        body,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(lines) != 1:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return WrkResult(**json.loads(lines[0]))


@dataclass(frozen=True)
class Round:
    wrk: WrkResult
    server_cpu_seconds: float
    wrk_cpu_seconds: float
    # The receiver's counts during the round (see receiver_counts); empty for the bare app.
    server_counts: collections.Counter[str]

    @property
    def spooled(self) -> int:
        return self.server_counts["spool"]

    @property
    def acked_per_second(self) -> float:
        acked = self.wrk.requests - self.wrk.status_errors - self.spooled
        return acked / (self.wrk.duration_us / 1e6)

    def cpu_us(self, seconds: float) -> float:
        """CPU time per request answered in the round."""
        return seconds / max(1, self.wrk.requests) * 1e6


def run_round(
    server: psutil.Process,
    port: int,
    connections: int,
    threads: int,
    seconds: float,
    *,
    has_metrics: bool,
) -> Round:
    counts_before = receiver_counts(port) if has_metrics else collections.Counter()
    cpu_before = sum(server.cpu_times()[:2])
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_wrk(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", connections, threads, seconds)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = sum(server.cpu_times()[:2]) - cpu_before
    counts_after = receiver_counts(port) if has_metrics else collections.Counter()
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    return Round(result, server_cpu, wrk_cpu, counts_after - counts_before)


def describe(name: str, round_: Round) -> str:
    wrk = round_.wrk
    text = (
        f"{name:<34} {round_.acked_per_second:>7.0f} acked/s"
        f"   p50 {wrk.p50_us / 1000:6.2f} ms   p99 {wrk.p99_us / 1000:6.2f} ms"
        f"   CPU/request: server {round_.cpu_us(round_.server_cpu_seconds):4.0f} us,"
        f" wrk {round_.cpu_us(round_.wrk_cpu_seconds):3.0f} us"
        f"   status>=400 {wrk.status_errors}   socket errors {wrk.socket_errors}"
    )
    if round_.server_counts:
        answers = {key: n for key, n in round_.server_counts.items() if key.isdigit()}
        stored = {key: n for key, n in round_.server_counts.items() if not key.isdigit()}
        text += f"\n{'':<34} receiver's answers by status {answers}, records stored {stored}"
    return text


def median_round(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda round_: round_.acked_per_second)[len(rounds) // 2]


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "The receiver benchmark needs wrk, which is not installed: run `make wrk`"
            " (on Debian: apt-get install wrk)."
        )
    seconds = float(os.environ.get("BENCH_RECEIVER_SECONDS", "5"))
    rounds = int(os.environ.get("BENCH_RECEIVER_ROUNDS", "5"))
    connections = int(os.environ.get("BENCH_RECEIVER_CONNECTIONS", "64"))
    threads = int(os.environ.get("BENCH_RECEIVER_WRK_THREADS", "2"))
    warm_up = float(os.environ.get("BENCH_RECEIVER_WARM_UP_SECONDS", "20"))
    received: list[Round] = []
    bare: list[Round] = []
    # Other work on the machine takes cores from all three; the figures need it said.
    load_before = os.getloadavg()[0]
    with (
        local_broker(StackSettings.from_env()) as bootstrap,
        tempfile.TemporaryDirectory() as scratch,
    ):
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

            def receiver_round(seconds: float) -> Round:
                return run_round(
                    receiver_process, receiver_port, connections, threads, seconds, has_metrics=True
                )

            def bare_round(seconds: float) -> Round:
                return run_round(
                    baseline_process,
                    baseline_port,
                    connections,
                    threads,
                    seconds,
                    has_metrics=False,
                )

            receiver_round(warm_up)
            bare_round(warm_up / 4)
            # Alternating rounds, so that other load on the machine hits both alike.
            for _ in range(rounds):
                received.append(receiver_round(seconds))
                bare.append(bare_round(seconds))
            rss = peak_rss_mib(receiver.pid)
    a, b = median_round(received), median_round(bare)
    pair_ratios = [
        one.acked_per_second / other.acked_per_second if other.acked_per_second else float("nan")
        for one, other in zip(received, bare, strict=True)
    ]
    print(
        f"{connections} connections from wrk ({threads} threads, benchmarks/wrk_post.lua);"
        f" {rounds} alternating rounds of {seconds:g} s after an uncounted warm-up"
        f" ({warm_up:g} s receiver, {warm_up / 4:g} s bare), median round shown; one uvicorn"
        f" worker; {os.cpu_count()} cores shared by load generator, server and broker;"
        f" 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(describe("(a) receiver -> Kafka (acks=all)", a))
    print(describe("(b) bare Starlette, same uvicorn", b))
    print(
        f"ratio a/b: {statistics.median(pair_ratios):.2f}, the median over the {rounds}"
        " alternating pairs of rounds: " + " ".join(f"{ratio:.2f}" for ratio in pair_ratios)
    )
    print(f"receiver peak RSS: {rss:.0f} MiB")
    print(
        "every round, acked/s: (a) "
        + " ".join(f"{r.acked_per_second:.0f}" for r in received)
        + "  (b) "
        + " ".join(f"{r.acked_per_second:.0f}" for r in bare)
    )
    dishonest = [
        r for r in received + bare if r.wrk.status_errors or r.wrk.socket_errors or r.spooled
    ]
    if dishonest:
        print(
            f"note: {len(dishonest)} of the {2 * rounds} rounds had answers >= 400, socket errors"
            " or spooled records; they are left out of acked/s (see the lines above)"
        )


if __name__ == "__main__":
    main()
