"""The BigQuery emulator (`bqemulator`, DuckDB-backed) as a local background process."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra.local.processes import ManagedProcess, StackError, require_free_port


def ensure_spatial_extension() -> Path:
    """Put the DuckDB spatial extension where DuckDB looks for it, once.

    The emulator refuses to start without it and DuckDB would download it
    from its own site, which is not reachable here; PyPI ships the file.
    """
    import duckdb
    import duckdb_extension_spatial

    version = f"v{duckdb.__version__}"
    source = (
        Path(duckdb_extension_spatial.__file__).parent
        / "extensions"
        / version
        / "spatial.duckdb_extension"
    )
    target = Path.home() / ".duckdb" / "extensions" / version / "linux_amd64" / source.name
    if not source.exists():
        raise StackError(
            f"the installed duckdb-extension-spatial has no build for DuckDB {version}; "
            "install the matching versions from constraints.txt."
        )
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return target


class BigQueryEmulator:
    """`bqemulator start` with its DuckDB file, log and PID file in `state_dir`."""

    def __init__(self, port: int, grpc_port: int, project: str, state_dir: Path) -> None:
        self.port = port
        self.grpc_port = grpc_port
        self.project = project
        self.state_dir = state_dir
        self.data_dir = state_dir / "data"
        self.process = ManagedProcess(
            name="bigquery-emulator",
            pid_file=state_dir / "emulator.pid",
            log_file=state_dir / "emulator.log",
            marker=f"--data-dir {self.data_dir}",
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self, timeout: float = 60.0) -> float:
        """Start, wait until it lists datasets; seconds taken."""
        if self.is_running():
            return 0.0
        ensure_spatial_extension()
        require_free_port(self.port, "the BigQuery emulator")
        require_free_port(self.grpc_port, "the BigQuery emulator's gRPC API")
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        emulator = Path(sys.executable).with_name("bqemulator")
        self.process.spawn(
            [
                str(emulator),
                "start",
                "--rest-host",
                "127.0.0.1",
                "--rest-port",
                str(self.port),
                "--grpc-host",
                "127.0.0.1",
                "--grpc-port",
                str(self.grpc_port),
                "--project",
                self.project,
                "--persistent",
                "--data-dir",
                str(self.data_dir),
                "--log-format",
                "json",
                "--log-level",
                "warning",
            ]
        )
        return self.process.wait_ready(self.is_healthy, began, timeout, "the BigQuery emulator")

    def stop(self, timeout: float = 30.0) -> bool:
        return self.process.stop(timeout)

    def is_healthy(self) -> bool:
        url = f"{self.endpoint}/bigquery/v2/projects/{self.project}/datasets"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
