"""The receiver (`python -m receiver`) as a local background process.

Its spool, log and PID file live in `state_dir`. The token it accepts is
`RECEIVER_TOKENS` when set, else a development token made once and kept in
`state_dir/token`, so that `make run` prints the same one every time.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from infra.local.processes import ManagedProcess, require_free_port
from infra.local.settings import REPO_ROOT


def development_token(state_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The first of RECEIVER_TOKENS, else a random token kept in the state directory."""
    env = os.environ if environ is None else environ
    configured = [t.strip() for t in env.get("RECEIVER_TOKENS", "").split(",") if t.strip()]
    if configured:
        return configured[0]
    token_file = state_dir / "token"
    if token_file.exists():
        return token_file.read_text(encoding="utf-8").strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    return token


class ReceiverService:
    """One receiver on 127.0.0.1:`port`, publishing to `bootstrap`."""

    def __init__(
        self,
        port: int,
        bootstrap: str,
        state_dir: Path,
        token: str,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port
        self.bootstrap = bootstrap
        self.state_dir = state_dir
        self.spool_dir = state_dir / "spool"
        self.token = token
        self.extra_env = dict(extra_env or {})
        self.process = ManagedProcess(
            name="receiver",
            pid_file=state_dir / "receiver.pid",
            log_file=state_dir / "receiver.log",
            marker="-m receiver",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
        return {
            **inherited,
            "RECEIVER_HOST": "127.0.0.1",
            "RECEIVER_PORT": str(self.port),
            "RECEIVER_TOKENS": self.token,
            "RECEIVER_SPOOL_DIR": str(self.spool_dir),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            **self.extra_env,
        }

    def start(self, timeout: float = 30.0) -> float:
        """Start it and wait until /healthz answers; seconds taken."""
        if self.process.is_running():
            return 0.0
        require_free_port(self.port, "the receiver")
        began = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.process.spawn(
            [sys.executable, "-m", "receiver"], env=self.environment(), cwd=REPO_ROOT
        )
        return self.process.wait_ready(self.is_healthy, began, timeout, "the receiver")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM: it stops accepting, flushes the producer and closes the spool."""
        return self.process.stop(timeout)

    def kill(self) -> bool:
        return self.process.kill()

    def is_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
