"""The streaming pipeline (`python -m pipeline --mode streaming`) as a local background process.

It runs on Beam's Prism runner, built once from the Go module proxy
(infra/local/prism.py). Prism is a child of the pipeline's process and
shares its process group, so stopping or killing the service ends both.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.local.processes import ManagedProcess
from infra.local.settings import RAW_TOPIC, REPO_ROOT

RUNNER = "PrismRunner"
# The launcher logs this once the tables exist and the job is being submitted.
_STARTED_LINE = f" on {RUNNER} from "


class StreamingPipeline:
    """The events pipeline reading `topic` on `bootstrap` into `project.dataset` of `endpoint`."""

    def __init__(
        self,
        bootstrap: str,
        bigquery_endpoint: str,
        project: str,
        dataset: str,
        prism_binary: Path,
        state_dir: Path,
        topic: str = RAW_TOPIC,
        consumer_group: str = "tapcart-events-pipeline",
    ) -> None:
        self.bootstrap = bootstrap
        self.bigquery_endpoint = bigquery_endpoint
        self.project = project
        self.dataset = dataset
        self.prism_binary = prism_binary
        self.state_dir = state_dir
        self.topic = topic
        self.consumer_group = consumer_group
        self.process = ManagedProcess(
            name="pipeline",
            pid_file=state_dir / "pipeline.pid",
            log_file=state_dir / "pipeline.log",
            marker=f"--consumer_group {consumer_group}",
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pipeline",
            "--mode",
            "streaming",
            "--bootstrap_servers",
            self.bootstrap,
            "--topic",
            self.topic,
            "--consumer_group",
            self.consumer_group,
            "--project",
            self.project,
            "--dataset",
            self.dataset,
            "--bigquery_endpoint",
            self.bigquery_endpoint,
            "--prism_location",
            str(self.prism_binary),
        ]

    def start(self, timeout: float = 120.0) -> float:
        """Start it; wait until its tables exist and the job is submitted; seconds taken."""
        if self.process.is_running():
            return 0.0
        began = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_start = self.process.log_file.stat().st_size if self.process.log_file.exists() else 0
        self.process.spawn(self.command(), cwd=REPO_ROOT)
        return self.process.wait_ready(
            lambda: _STARTED_LINE in self._log_since(log_start), began, timeout, "the pipeline"
        )

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM: the launcher cancels the job, which stops Prism."""
        return self.process.stop(timeout)

    def kill(self) -> bool:
        """SIGKILL the launcher and Prism together: a crash, nothing flushed or committed."""
        return self.process.kill()

    def _log_since(self, offset: int) -> str:
        try:
            with self.process.log_file.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
