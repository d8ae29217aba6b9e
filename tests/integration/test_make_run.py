"""`make run` (python -m infra.local.run) as a person uses it: start, POST, see the row, Ctrl-C.

It runs on ports and a state directory of its own, so it starts every
service itself (broker, emulator, receiver, streaming pipeline) and must
stop all four on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from infra.local.settings import REPO_ROOT
from infra.local.verify import wait_for_events
from pipeline.bigquery_client import cloud_client

pytestmark = pytest.mark.integration

STARTED = re.compile(r"^(\w+): started in [\d.]+ s \(pid (\d+)\)", re.MULTILINE)


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in the group a service was started in (its own PID)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _groups_left(started: dict[str, int], timeout: float = 10.0) -> list[str]:
    # Orphans are reaped by init shortly after they exit: give that a moment.
    deadline = time.monotonic() + timeout
    while True:
        left = [name for name, pid in started.items() if _group_alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """Its output up to and including the line holding `marker`."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in the output of make run:\n{''.join(seen)}")


def test_make_run_serves_the_whole_path_and_ctrl_c_stops_everything(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    kafka_port, bigquery_port, receiver_port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")},
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "BIGQUERY_ENDPOINT": f"http://127.0.0.1:{bigquery_port}",
        "BIGQUERY_GRPC_PORT": str(free_port()),
        "RECEIVER_PORT": str(receiver_port),
        "TAPCART_STATE_DIR": str(tmp_path / "state"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until(process, "Press Ctrl-C", timeout=240)
        started = {name: int(pid) for name, pid in STARTED.findall(output)}
        assert set(started) == {"kafka", "bigquery", "receiver", "pipeline"}, output
        assert "streaming on Beam's Prism runner" in output
        token_line = re.search(r"^\s+token (\S+)$", output, re.MULTILINE)
        assert token_line, output

        event_id = f"make-run-{uuid.uuid4().hex}"
        body = f'{{"event_type": "AppOpened", "event_id": "{event_id}", "app_id": "app-run"}}'
        answer = httpx.post(
            f"http://127.0.0.1:{receiver_port}/tapcart_webhooks",
            content=body,
            headers={"authorization": f"Bearer {token_line.group(1)}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        client = cloud_client("local", env["BIGQUERY_ENDPOINT"])
        try:
            found = wait_for_events(
                client, "local.tapcart.events_deduplicated", {event_id}, timeout=120
            )
        finally:
            client.close()  # type: ignore[no-untyped-call]
        assert found == {event_id: 1}

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
        # Each service's group: the pipeline's includes its Prism runner.
        assert _groups_left(started) == [], "processes left running after Ctrl-C"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
        assert process.stdout is not None
        process.stdout.close()
