"""The simulator's sender and command line against a small real HTTP server on 127.0.0.1.

The server is a Starlette app under uvicorn in a thread. It answers the
way a receiver does (400 / 422 for bodies that are not events, 401 for a
wrong token) and, per event id, fails the first N tries with a chosen
status before answering 200; it records every request it was sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from schemas.envelope import identify
from simulator.cli import main, resolve_token
from simulator.delivery import Delivery, DeliveryKind, Fault
from simulator.faults import FaultRates
from simulator.report import RunReport
from simulator.sender import (
    FinalStatus,
    Outcome,
    Pace,
    RetryPolicy,
    Sender,
    Target,
    TokenPlacement,
    http_client,
)
from simulator.stream import StreamConfig, deliveries

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token"


@dataclass
class Seen:
    """One request as the server received it."""

    at: float
    key: str
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Script:
    """How the fake receiver answers, and what it saw."""

    failures_per_event: int = 0
    failure_status: int = 503
    retry_after: str | None = None
    token: str | None = None
    answer_delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    tries: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: bytes, token: str | None) -> tuple[int, str]:
        if self.token is not None and token != self.token:
            return 401, "unauthorized"
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, hashlib.sha256(body).hexdigest()
        if not isinstance(payload, dict):
            return 400, hashlib.sha256(body).hexdigest()
        event_id = identify(payload).event_id
        if event_id is None:
            return 422, hashlib.sha256(body).hexdigest()
        with self.lock:
            self.tries[event_id] += 1
            tries = self.tries[event_id]
        if tries <= self.failures_per_event:
            return self.failure_status, event_id
        return 200, event_id

    def times_of(self, key: str) -> list[float]:
        return [seen.at for seen in self.seen if seen.key == key]


def _presented_token(request: Request) -> str | None:
    token = request.path_params.get("token") or request.query_params.get("token")
    if token:
        return str(token)
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials if scheme.lower() == "bearer" else None


def build_app(script: Script) -> Starlette:
    async def receive(request: Request) -> JSONResponse:
        with script.lock:
            script.in_flight += 1
            script.max_in_flight = max(script.max_in_flight, script.in_flight)
        try:
            body = await request.body()
            if script.answer_delay:
                await asyncio.sleep(script.answer_delay)
            status, key = script.answer(body, _presented_token(request))
            with script.lock:
                script.seen.append(Seen(time.monotonic(), key, status, body, dict(request.headers)))
        finally:
            with script.lock:
                script.in_flight -= 1
        headers = {"x-request-id": f"req-{len(script.seen)}"}
        if status != 200 and script.retry_after is not None:
            headers["retry-after"] = script.retry_after
        return JSONResponse({"status": status}, status_code=status, headers=headers)

    routes = [
        Route("/tapcart_webhooks", receive, methods=["POST"]),
        Route("/tapcart_webhooks/{token}", receive, methods=["POST"]),
    ]
    return Starlette(routes=routes)


class FakeReceiver:
    """The app under uvicorn in a thread, on a port reserved before it starts."""

    def __init__(self, script: Script) -> None:
        self.script = script
        # Bound but not listening until start(): a connection is refused until then.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/tapcart_webhooks"
        config = uvicorn.Config(
            build_app(script), log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[FakeReceiver] = []

    def make(script: Script | None = None, *, start: bool = True) -> FakeReceiver:
        receiver = FakeReceiver(script or Script())
        started.append(receiver)
        if start:
            receiver.start()
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


def stream(
    count: int, seed: int = 1, duplicates: float = 0.0, malformed: float = 0.0
) -> list[Delivery]:
    faults = FaultRates(duplicates=duplicates, malformed=malformed)
    return list(deliveries(StreamConfig(seed=seed, count=count, faults=faults)))


def fast_policy(window: float = 10.0, **changes: Any) -> RetryPolicy:
    return RetryPolicy(window_seconds=window, initial_backoff=0.05, max_backoff=0.2, **changes)


def send(
    target: Target,
    items: list[Delivery],
    *,
    policy: RetryPolicy,
    pace: Pace | None = None,
) -> tuple[list[Outcome], float]:
    """Run the sender to the end; its outcomes and the seconds it took."""
    pace = pace or Pace(rate=0, concurrency=4)
    outcomes: list[Outcome] = []

    async def go() -> None:
        async with http_client(pace, request_timeout=5) as client:
            sender = Sender(
                client,
                target,
                policy=policy,
                pace=pace,
                on_outcome=outcomes.append,
                rng=random.Random(0),
            )
            await sender.run(items)

    began = time.monotonic()
    asyncio.run(go())
    return outcomes, time.monotonic() - began


# ---------------------------------------------------------------- pure parts


def test_backoff_grows_to_its_ceiling_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.backoff(attempt, rng, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert policy.backoff(1, rng, retry_after=5.0) == 5.0
    assert policy.backoff(1, rng, retry_after=60.0) == 8.0


def test_only_rejections_are_final_and_only_when_asked() -> None:
    assert not any(RetryPolicy().is_final(s) for s in (400, 401, 413, 422, 429, 500, 503))
    no_retry = RetryPolicy(retry_rejected=False)
    assert [s for s in (400, 401, 403, 413, 422, 429, 503) if no_retry.is_final(s)] == [
        400,
        413,
        422,
    ]


def test_target_presents_the_token_where_asked_and_never_shows_it() -> None:
    url = "http://127.0.0.1:8080/tapcart_webhooks"
    header = Target(url, TOKEN, TokenPlacement.HEADER)
    assert header.request_url() == url
    assert header.auth_headers() == {"authorization": f"Bearer {TOKEN}"}
    path = Target(url, TOKEN, TokenPlacement.PATH)
    assert path.request_url() == f"{url}/{TOKEN}" and path.auth_headers() == {}
    query = Target(url, TOKEN, TokenPlacement.QUERY)
    assert httpx.URL(query.request_url()).params["token"] == TOKEN
    for target in (header, path, query):
        assert TOKEN not in target.shown_url()
    assert Target(url).auth_headers() == {}


def test_token_comes_from_the_flag_then_the_environment() -> None:
    assert resolve_token("flag", {"RECEIVER_TOKEN": "env"}) == "flag"
    assert resolve_token(None, {"RECEIVER_TOKEN": "env", "RECEIVER_TOKENS": "a,b"}) == "env"
    assert resolve_token(None, {"RECEIVER_TOKENS": " a , b"}) == "a"
    assert resolve_token(None, {}) is None


# ---------------------------------------------------------------- against the server


def test_each_event_is_retried_until_acked(receiver_factory: Any) -> None:
    receiver = receiver_factory(Script(failures_per_event=2, failure_status=503))
    items = stream(12)
    outcomes, _ = send(Target(receiver.url), items, policy=fast_policy())
    assert len(outcomes) == 12
    assert all(o.status is FinalStatus.ACKED and o.http_status == 200 for o in outcomes)
    assert [o.attempts for o in outcomes] == [3] * 12
    for outcome in outcomes:
        assert outcome.acked_at is not None and outcome.acked_at >= outcome.first_attempt_at
        assert outcome.request_id.startswith("req-")
        times = receiver.script.times_of(outcome.delivery.event_id)
        assert len(times) == 3
        # Equal jitter: never less than half the first backoff between tries.
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.02 for gap in gaps)
    assert Counter(s.status for s in receiver.script.seen) == {503: 24, 200: 12}


def test_gives_up_after_the_retry_window(receiver_factory: Any) -> None:
    receiver = receiver_factory(Script(failures_per_event=10_000, failure_status=500))
    outcomes, seconds = send(Target(receiver.url), stream(3), policy=fast_policy(window=0.6))
    assert [o.status for o in outcomes] == [FinalStatus.GAVE_UP] * 3
    assert all(o.http_status == 500 and o.attempts >= 3 for o in outcomes)
    for outcome in outcomes:
        times = receiver.script.times_of(outcome.delivery.event_id)
        assert len(times) == outcome.attempts
        # Retried for the whole window (the last try at its end), and not much past it.
        assert 0.5 <= times[-1] - times[0] <= 1.5
    assert seconds < 5


def test_retry_after_is_honoured(receiver_factory: Any) -> None:
    receiver = receiver_factory(Script(failures_per_event=1, failure_status=429, retry_after="1"))
    # Honoured up to the longest backoff, so that one is raised above it here.
    policy = RetryPolicy(window_seconds=10, initial_backoff=0.05, max_backoff=2)
    outcomes, _ = send(Target(receiver.url), stream(2), policy=policy)
    assert all(o.status is FinalStatus.ACKED and o.attempts == 2 for o in outcomes)
    for outcome in outcomes:
        first, second = receiver.script.times_of(outcome.delivery.event_id)
        assert second - first >= 0.9


def test_connection_errors_are_retried_until_the_receiver_comes_up(
    receiver_factory: Any,
) -> None:
    receiver = receiver_factory(start=False)
    starter = threading.Timer(0.8, receiver.start)
    starter.start()
    try:
        outcomes, seconds = send(Target(receiver.url), stream(5), policy=fast_policy())
    finally:
        starter.join()
    assert all(o.status is FinalStatus.ACKED for o in outcomes)
    # The refused tries never reached the server; every event arrived exactly once.
    assert all(o.attempts >= 2 for o in outcomes)
    assert Counter(s.key for s in receiver.script.seen) == {
        o.delivery.event_id: 1 for o in outcomes
    }
    assert 0.7 < seconds < 5


def test_nothing_listening_ends_in_give_up_with_the_error(receiver_factory: Any) -> None:
    receiver = receiver_factory(start=False)
    outcomes, _ = send(Target(receiver.url), stream(2), policy=fast_policy(window=0.3))
    assert all(o.status is FinalStatus.GAVE_UP and o.http_status is None for o in outcomes)
    assert all("ConnectError" in o.error for o in outcomes)


def test_the_rate_limits_new_deliveries(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    outcomes, seconds = send(
        Target(receiver.url),
        stream(30),
        policy=fast_policy(),
        pace=Pace(rate=40, concurrency=8),
    )
    assert len(outcomes) == 30 and all(o.status is FinalStatus.ACKED for o in outcomes)
    arrivals = sorted(s.at for s in receiver.script.seen)
    # 30 deliveries at 40/s take about 29/40 s; sanity bounds only.
    assert 0.6 < arrivals[-1] - arrivals[0] < 3
    assert seconds < 5


def test_duration_stops_new_deliveries(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    endless = deliveries(StreamConfig(seed=4))
    outcomes: list[Outcome] = []
    pace = Pace(rate=50, concurrency=4, duration=0.5)

    async def go() -> None:
        async with http_client(pace, request_timeout=5) as client:
            sender = Sender(
                client,
                Target(receiver.url),
                policy=fast_policy(),
                pace=pace,
                on_outcome=outcomes.append,
            )
            await sender.run(endless)

    asyncio.run(go())
    # About 25 at 50/s for half a second.
    assert 10 <= len(outcomes) <= 40
    assert all(o.status is FinalStatus.ACKED for o in outcomes)


def test_concurrency_bounds_the_posts_in_flight(receiver_factory: Any) -> None:
    receiver = receiver_factory(Script(answer_delay=0.1))
    outcomes, _ = send(
        Target(receiver.url), stream(12), policy=fast_policy(), pace=Pace(rate=0, concurrency=3)
    )
    assert all(o.status is FinalStatus.ACKED for o in outcomes)
    assert 2 <= receiver.script.max_in_flight <= 3


def test_malformed_bodies_are_final_when_rejections_are_not_retried(
    receiver_factory: Any,
) -> None:
    receiver = receiver_factory()
    items = stream(20, seed=2, malformed=1.0)
    outcomes, _ = send(
        Target(receiver.url), items, policy=fast_policy(window=5, retry_rejected=False)
    )
    malformed = [o for o in outcomes if o.delivery.kind is DeliveryKind.MALFORMED]
    events = [o for o in outcomes if o.delivery.kind is DeliveryKind.EVENT]
    assert len(malformed) == 20 and len(events) == 20
    assert all(o.status is FinalStatus.ACKED for o in events)
    expected = {Fault.INVALID_JSON: 400, Fault.NOT_AN_OBJECT: 400, Fault.MISSING_EVENT_ID: 422}
    for outcome in malformed:
        assert outcome.status is FinalStatus.REJECTED
        assert outcome.attempts == 1
        assert outcome.delivery.fault is not None
        assert outcome.http_status == expected[outcome.delivery.fault]


def test_malformed_bodies_are_retried_like_tapcart_then_given_up(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    items = stream(4, seed=2, malformed=1.0)
    outcomes, seconds = send(Target(receiver.url), items, policy=fast_policy(window=0.4))
    malformed = [o for o in outcomes if o.delivery.kind is DeliveryKind.MALFORMED]
    assert malformed and all(
        o.status is FinalStatus.GAVE_UP and o.attempts >= 2 and o.http_status in (400, 422)
        for o in malformed
    )
    sha = {o.delivery.body_sha256() for o in malformed}
    assert sum(s.key in sha for s in receiver.script.seen) == sum(o.attempts for o in malformed)
    assert seconds < 5


def test_duplicates_post_the_same_body_again(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    items = stream(6, seed=3, duplicates=1.0)
    outcomes, _ = send(Target(receiver.url), items, policy=fast_policy())
    assert len(outcomes) == 12 and all(o.status is FinalStatus.ACKED for o in outcomes)
    bodies = Counter(s.body for s in receiver.script.seen)
    assert sorted(bodies.values()) == [2] * 6


def test_clickstream_headers_reach_the_receiver(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    items = [d for d in stream(60, seed=5) if d.headers][:5]
    assert items
    send(Target(receiver.url), items, policy=fast_policy())
    for seen, delivery in zip(
        sorted(receiver.script.seen, key=lambda s: s.key),
        sorted(items, key=lambda d: str(d.event_id)),
        strict=True,
    ):
        for name, value in delivery.headers:
            assert seen.headers[name] == value
        assert seen.headers["content-type"] == "application/json"


@pytest.mark.parametrize("placement", list(TokenPlacement))
def test_the_token_is_accepted_wherever_it_is_placed(
    receiver_factory: Any, placement: TokenPlacement
) -> None:
    receiver = receiver_factory(Script(token=TOKEN))
    outcomes, _ = send(Target(receiver.url, TOKEN, placement), stream(2), policy=fast_policy())
    assert all(o.status is FinalStatus.ACKED for o in outcomes)


def test_a_wrong_token_is_retried_then_given_up(receiver_factory: Any) -> None:
    receiver = receiver_factory(Script(token=TOKEN))
    outcomes, _ = send(Target(receiver.url, "wrong"), stream(2), policy=fast_policy(window=0.3))
    assert all(o.status is FinalStatus.GAVE_UP and o.http_status == 401 for o in outcomes)


# ---------------------------------------------------------------- the command line


def test_command_line_run_writes_a_report_of_every_delivery(
    receiver_factory: Any, tmp_path: Path
) -> None:
    receiver = receiver_factory(Script(failures_per_event=1, token=TOKEN))
    report_path = tmp_path / "run.jsonl"
    env = {**os.environ, "RECEIVER_TOKEN": TOKEN}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "--url",
            receiver.url,
            "--count",
            "25",
            "--seed",
            "3",
            "--rate",
            "0",
            "--duplicates",
            "0.2",
            "--malformed",
            "0.2",
            "--no-retry-rejected",
            "--backoff-initial",
            "0.05",
            "--backoff-max",
            "0.1",
            "--progress",
            "0",
            "--report",
            str(report_path),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert "seed 3" in done.stdout and "every event was acked" in done.stdout
    records = [json.loads(line) for line in report_path.read_text().splitlines()]
    kinds = Counter(r["kind"] for r in records)
    assert kinds["event"] == 25 and kinds["duplicate"] > 0 and kinds["malformed"] > 0
    acked = {r["event_id"] for r in records if r["status"] == "acked"}
    events = {r["event_id"] for r in records if r["kind"] == "event"}
    assert acked == events
    assert {s.key for s in receiver.script.seen if s.status == 200} == events
    for record in records:
        if record["kind"] == "malformed":
            assert record["status"] == "rejected" and record["event_id"] is None
            assert record["acked_at"] is None and len(record["body_sha256"]) == 64
        else:
            assert record["acked_at"] >= record["first_attempt_at"]
    table = done.stdout[done.stdout.index("event type") :]
    total = next(line for line in table.splitlines() if line.startswith("total"))
    assert total.split()[1:3] == [str(len(records)), str(len(acked) + kinds["duplicate"])]


def test_command_line_exits_1_and_names_what_it_gave_up_on(
    receiver_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = receiver_factory(Script(failures_per_event=10_000))
    report_path = tmp_path / "run.json"
    code = main(
        [
            "--url",
            receiver.url,
            "--count",
            "3",
            "--seed",
            "8",
            "--retry-window",
            "0.3",
            "--backoff-initial",
            "0.05",
            "--backoff-max",
            "0.1",
            "--progress",
            "0",
            "--report",
            str(report_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    document = json.loads(report_path.read_text())
    assert document["seed"] == 8 and document["summary"]["event"]["gave_up"] == 3
    for record in document["deliveries"]:
        assert record["status"] == "gave_up" and record["http_status"] == 503
        assert record["event_id"] in out
    assert "NOT ACKED: 3 events" in out


def test_dry_run_prints_the_bodies_without_sending(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "--count", "5", "--seed", "1", "--malformed", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert Counter(line["kind"] for line in lines) == {"event": 5, "malformed": 5}
    for line in lines:
        if line["kind"] == "event":
            identity = identify(json.loads(line["body"]), line["headers"].get("appid"))
            assert identity.event_id == line["event_id"]
        else:
            assert line["event_id"] is None and line["fault"] in {f.value for f in Fault}


def test_run_report_table_counts_each_row() -> None:
    report = RunReport()
    items = stream(3, seed=1, duplicates=1.0)
    for index, delivery in enumerate(items):
        status = FinalStatus.ACKED if index else FinalStatus.GAVE_UP
        report.add(Outcome(delivery, status, 2, 200, "", 1.0, 2.0, 2.0, ""))
    total = report.table().splitlines()[-1].split()
    # sent, acked, rejected, gave up, cancelled, retries
    assert total == ["total", "6", "5", "0", "1", "0", "6"]
    assert [o.delivery.kind for o in report.unacked_events()] == [DeliveryKind.EVENT]
