"""`python -m receiver` with RECEIVER_WORKERS=2: one socket, a spool slot each, summed metrics.

The broker address is a closed port, so every event goes to the spools; that
is enough to see both workers start, answer, spool and stop cleanly.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "workers-test-token"
EVENT = '{{"event_type": "AppOpened", "event_id": "w-{n}", "app_id": "app-w"}}'


def receiver_env(port: int, broker_port: int, spool_dir: Path, workers: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PROMETHEUS_"))},
        "RECEIVER_PORT": str(port),
        "RECEIVER_WORKERS": str(workers),
        "RECEIVER_TOKENS": TOKEN,
        "RECEIVER_SPOOL_DIR": str(spool_dir),
        "RECEIVER_DELIVERY_TIMEOUT_SECONDS": "0.5",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
    }


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (tmp_path / "receiver.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "receiver"], cwd=REPO, env=env, stderr=log
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, "the receiver exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.1)


def spooled_rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM spooled_records").fetchone()
    return int(count)


def metric(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert match, f"no {sample} in\n{text}"
    return float(match.group(1))


def test_two_workers_share_the_port_and_each_own_a_spool_slot(
    launch: Callable[..., subprocess.Popen[bytes]], free_port: Callable[[], int], tmp_path: Path
) -> None:
    port, spool_dir = free_port(), tmp_path / "spool"
    process = launch(receiver_env(port, free_port(), spool_dir, workers=2))
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, process)
    posted = 12
    for n in range(posted):
        # A new connection each time, so either worker may take it.
        response = httpx.post(
            f"{url}/tapcart_webhooks/{TOKEN}", content=EVENT.format(n=n), timeout=30
        )
        assert response.status_code == 200, response.text

    # Whichever worker answers the scrape, the figures are those of both.
    text = httpx.get(f"{url}/metrics", timeout=10).text
    route = "/tapcart_webhooks/{token}"
    assert metric(text, f'receiver_requests_total{{route="{route}",status="200"}}') == posted
    assert metric(text, "receiver_spool_depth") == posted

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    slots = [spool_dir / "spool.sqlite3", spool_dir / "worker-1" / "spool.sqlite3"]
    assert all(slot.is_file() for slot in slots)
    assert sum(spooled_rows(slot) for slot in slots) == posted
    log = (tmp_path / "receiver.log").read_text()
    assert log.count('"message":"receiver ready"') == 2
    # Each worker sets up its own logging: still JSON, still without the access log.
    assert TOKEN not in log
    assert all(line.startswith("{") for line in log.splitlines()), log


@pytest.mark.parametrize("workers", [1, 2])
def test_a_spool_owned_by_another_process_stops_the_start(
    launch: Callable[..., subprocess.Popen[bytes]],
    free_port: Callable[[], int],
    tmp_path: Path,
    workers: int,
) -> None:
    spool_dir = tmp_path / "spool"
    held = []
    for slot in range(workers):
        directory = spool_dir if slot == 0 else spool_dir / f"worker-{slot}"
        directory.mkdir(parents=True)
        fd = os.open(directory / "spool.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(fd)
    try:
        process = launch(receiver_env(free_port(), free_port(), spool_dir, workers=workers))
        assert process.wait(timeout=60) != 0
    finally:
        for fd in held:
            os.close(fd)
    assert "another receiver process owns the spool" in (tmp_path / "receiver.log").read_text()
