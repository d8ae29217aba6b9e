"""Start, find and stop the local services as plain background processes.

Each service has a PID file in its state directory. A PID file is trusted
only while that process is alive *and* its command line still carries the
service's marker, so a stale file left by a killed run (or a PID the kernel
has since reused) is recognised and replaced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

# Services started by this process, kept so that Python neither warns about a
# running child on garbage collection nor leaves an exited one as a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """A problem the user can fix, said in one sentence (no stack trace)."""


def require_command(name: str, purpose: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` is not on PATH; it is needed to {purpose}.")
    return path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def require_free_port(port: int, service: str) -> None:
    if not port_is_free(port):
        raise StackError(
            f"port {port} on 127.0.0.1 is already taken by another process, so {service} "
            "cannot start there; stop that process or choose another port."
        )


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise StackError(f"{what} did not happen within {timeout:.0f} s.")


class ManagedProcess:
    """One background service, known by its PID file and a command-line marker."""

    def __init__(self, name: str, pid_file: Path, log_file: Path, marker: str) -> None:
        self.name = name
        self.pid_file = pid_file
        self.log_file = log_file
        self.marker = marker

    @property
    def pid(self) -> int | None:
        """The PID of the live service, or None (removing a stale PID file)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        command_line = _command_line(pid)
        if command_line is None or self.marker not in command_line:
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid is not None

    def spawn(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                # Its own session, so a Ctrl-C aimed at `make` reaches it only through us.
                start_new_session=True,
            )
        _CHILDREN[process.pid] = process
        self.pid_file.write_text(f"{process.pid}\n")
        return process.pid

    def exited_early(self) -> bool:
        pid = self._recorded_pid()
        if pid is None:
            return True
        child = _CHILDREN.get(pid)
        if child is not None:
            # Our own child: ask it. (Its /proc entry can read empty between fork and exec.)
            return child.poll() is not None
        return _command_line(pid) is None

    def wait_ready(
        self, ready: Callable[[], bool], began: float, timeout: float, what: str
    ) -> float:
        """Wait until `ready()`; a service that exits or times out first is an error.

        Returns the seconds since `began` (a `time.monotonic()` reading).
        """
        while not ready():
            if self.exited_early():
                raise StackError(
                    f"{what} exited during start-up; the end of {self.log_file}:\n{self.log_tail()}"
                )
            if time.monotonic() > began + timeout:
                self.stop()
                raise StackError(f"{what} did not become ready within {timeout:.0f} s.")
            time.sleep(0.1)
        return time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; True when something was stopped."""
        pid = self.pid
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        # Children the service left behind (the pipeline's Prism runner) share its group.
        _kill_group(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL the service and its children at once, as a crash would end them."""
        pid = self.pid
        if pid is None:
            return False
        _kill_group(pid)
        while _alive(pid):
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def _command_line(pid: int, default: str | None = None) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return default
    if not raw:  # a zombie: exited, not yet reaped
        return default
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _reap(pid: int) -> None:
    # A child of this process that exited stays a zombie until waited for.
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def _kill_group(pid: int) -> None:
    # spawn() starts each service in a session of its own, so its group id is its PID.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    _reap(pid)
    return _command_line(pid) is not None
