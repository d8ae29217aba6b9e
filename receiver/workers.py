"""Several uvicorn worker processes on one socket (RECEIVER_WORKERS > 1).

uvicorn's own supervisor starts the workers, replaces one that dies and stops
them all on SIGTERM. Each worker builds its app with `create_app_from_env`,
so it has its own Kafka producer and takes its own spool slot
(receiver/spool.py). Their metrics are summed through prometheus_client's
multiprocess mode: a directory of value files that exists while the
supervisor runs, and from which a dead worker's gauges are removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from receiver.config import Settings
from receiver.metrics import MULTIPROCESS_DIR_VARIABLE
from receiver.server import server_config

APP_FACTORY = "receiver.app:create_app_from_env"


class WorkerSupervisor(Multiprocess):
    """uvicorn's supervisor, which also forgets the gauges of workers that died."""

    startup_failed = False

    def keep_subprocess_alive(self) -> None:
        watched = list(self.processes)
        super().keep_subprocess_alive()
        for process in watched:
            if process.exitcode is None or process.pid is None:
                continue
            multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
            if process.exitcode == STARTUP_FAILURE:
                self.startup_failed = True


def run_workers(settings: Settings) -> int:
    """Serve with `settings.workers` processes until SIGTERM or SIGINT; the exit code."""
    metrics_dir = Path(tempfile.mkdtemp(prefix="receiver-metrics-"))
    # Inherited by the workers, which import prometheus_client after it is set.
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(metrics_dir)
    try:
        config = server_config(APP_FACTORY, settings, workers=settings.workers)
        supervisor = WorkerSupervisor(config, sockets=[config.bind_socket()])
        supervisor.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 1 if supervisor.startup_failed else 0
