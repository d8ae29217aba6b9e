"""The stack scripts start each service once, stop it fully and survive stale PID files."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable

import psutil
import pytest

from infra.local.kafka import KafkaBroker
from infra.local.processes import StackError

pytestmark = pytest.mark.integration


def test_starting_a_running_broker_again_starts_no_second_one(
    kafka_broker_factory: Callable[..., KafkaBroker],
) -> None:
    broker = kafka_broker_factory()
    pid = broker.pid
    assert broker.start() == 0.0
    assert broker.pid == pid
    same_config = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(broker.config_file) in " ".join(p.info["cmdline"] or [])
    ]
    assert [p.pid for p in same_config] == [pid]


def test_stop_leaves_no_process_behind(kafka_broker_factory: Callable[..., KafkaBroker]) -> None:
    broker = kafka_broker_factory()
    pid = broker.pid
    assert pid is not None
    assert broker.stop() is True
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not broker.process.pid_file.exists()
    assert broker.stop() is False


def test_a_stale_pid_file_from_a_killed_broker_is_replaced(
    kafka_broker_factory: Callable[..., KafkaBroker],
) -> None:
    broker = kafka_broker_factory()
    old_pid = broker.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    psutil.Process(old_pid).wait(timeout=10)
    assert broker.pid is None  # the PID file names a dead process: not trusted
    broker.start()
    assert broker.pid not in (None, old_pid)
    assert broker.answers_metadata(timeout=5)


def test_a_taken_port_is_named_in_one_sentence(
    kafka_libs_dir: object, tmp_path: object, free_port: Callable[[], int]
) -> None:
    from pathlib import Path

    from infra.local.settings import StackSettings

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        broker = KafkaBroker(
            port=taken,
            controller_port=free_port(),
            state_dir=Path(str(tmp_path)),
            libs_dir=StackSettings.from_env().kafka_libs_dir,
        )
        with pytest.raises(StackError, match=f"port {taken} on 127.0.0.1 is already taken"):
            broker.start()
    assert broker.pid is None
