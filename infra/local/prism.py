"""Beam's Prism runner, built once from the Go module proxy into the cache.

Beam's DirectRunner would download a Prism release from GitHub, which is not
reachable here; `go install` builds the same binary from its module.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from infra.local.processes import StackError, require_command

BEAM_VERSION = "2.77.0"
PRISM_MODULE = "github.com/apache/beam/sdks/v2/go/cmd/prism"


def prism_binary(cache_dir: Path) -> Path:
    return cache_dir / f"prism-{BEAM_VERSION}" / "prism"


def fetch_prism(cache_dir: Path) -> Path:
    """Build the Prism binary once; later calls return the cached one."""
    binary = prism_binary(cache_dir)
    if binary.exists():
        return binary
    go = require_command("go", "build Beam's Prism runner")
    print(f"building Beam Prism {BEAM_VERSION} into {binary.parent} ...", flush=True)
    result = subprocess.run(
        [go, "install", f"{PRISM_MODULE}@v{BEAM_VERSION}"],
        env={**os.environ, "GOBIN": str(binary.parent), "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not binary.exists():
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise StackError("building the Prism runner failed: " + " | ".join(tail))
    return binary
