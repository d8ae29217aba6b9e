"""The two image definitions: linted by hadolint, and complete for the code they carry.

No Docker engine runs here, so nothing is built; instead the tests check what a
build would need: every file a COPY names is in the build context that
.dockerignore leaves, and every module the receiver imports is either copied
or installed from infra/receiver/requirements.txt.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import apache_beam
import pytest
from docker.utils.build import exclude_paths

from infra.tools.installed import REPO_ROOT, run, tool

RECEIVER_DOCKERFILE = REPO_ROOT / "infra" / "receiver" / "Dockerfile"
PIPELINE_DOCKERFILE = REPO_ROOT / "infra" / "dataflow" / "Dockerfile"
DOCKERFILES = (RECEIVER_DOCKERFILE, PIPELINE_DOCKERFILE)
HADOLINT_CONFIG = REPO_ROOT / "infra" / "hadolint.yaml"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    pairs = []
    for text in logical:
        word, _, rest = text.partition(" ")
        pairs.append((word.upper(), rest))
    return pairs


def copied_sources(dockerfile: Path) -> list[str]:
    """Context paths of every COPY that reads the build context (not another stage)."""
    sources = []
    for word, rest in instructions(dockerfile):
        if word != "COPY" or "--from=" in rest:
            continue
        parts = [part for part in rest.split() if not part.startswith("--")]
        sources += [part.rstrip("/") for part in parts[:-1]]
    return sources


def build_context() -> set[str]:
    patterns = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return set(exclude_paths(str(REPO_ROOT), patterns))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = run(tool("hadolint"), ["--config", HADOLINT_CONFIG, "--no-color", dockerfile])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    # The same invocation must be able to fail: an untagged base image and root at the end.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nUSER root\nRUN pip install starlette\n", encoding="utf-8")
    result = run(tool("hadolint"), ["--config", HADOLINT_CONFIG, "--no-color", bad])
    assert result.returncode != 0
    assert "DL3006" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_every_copied_path_is_in_the_build_context(dockerfile: Path) -> None:
    context = build_context()
    for source in copied_sources(dockerfile):
        assert (REPO_ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
        assert source in context, f".dockerignore leaves {source} out of the build context"


def test_build_context_holds_no_local_state_or_secrets() -> None:
    context = build_context()
    for private in (".venv", ".venv-tools", ".state", ".git", "tests", "infra/terraform"):
        assert not any(path == private or path.startswith(private + "/") for path in context)


def test_receiver_image_runs_the_receiver_as_a_non_root_user() -> None:
    steps = instructions(RECEIVER_DOCKERFILE)
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert steps[-1] == ("ENTRYPOINT", '["python", "-m", "receiver"]')
    healthcheck = next(rest for word, rest in steps if word == "HEALTHCHECK")
    assert "/healthz" in healthcheck


def test_receiver_image_sets_the_port_and_spool_the_manifests_use() -> None:
    env = " ".join(rest for word, rest in instructions(RECEIVER_DOCKERFILE) if word == "ENV")
    assert "RECEIVER_HOST=0.0.0.0" in env
    assert "RECEIVER_PORT=8080" in env
    assert "RECEIVER_SPOOL_DIR=/var/spool/receiver" in env
    # uvicorn workers come from the environment (receiver/workers.py).
    assert "RECEIVER_WORKERS=1" in env


def _first_party_imports(package: str) -> tuple[set[str], set[str]]:
    """(first-party packages, third-party top-level modules) the package imports, transitively."""
    first_party = {"receiver", "pipeline", "schemas", "infra"}
    seen: set[str] = set()
    third_party: set[str] = set()
    todo = [package]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for path in (REPO_ROOT / current).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in first_party:
                        todo.append(top)
                    elif top not in sys.stdlib_module_names and top != "__future__":
                        third_party.add(top)
    return seen, third_party


def test_receiver_image_copies_every_package_the_receiver_imports() -> None:
    packages, _ = _first_party_imports("receiver")
    copied = set(copied_sources(RECEIVER_DOCKERFILE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_receiver_requirements_cover_every_third_party_import() -> None:
    _, modules = _first_party_imports("receiver")
    distributions = importlib.metadata.packages_distributions()
    required = {
        re.sub(r"[-_.]+", "-", line.strip()).lower()
        for line in (REPO_ROOT / "infra/receiver/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for module in sorted(modules):
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [])}
        assert names & required, f"receiver imports {module} ({names}); add it to requirements.txt"
    # uvicorn's loop="uvloop" and httptools protocol are imported by name at run time.
    assert {"uvloop", "httptools"} <= required


def test_pipeline_image_is_the_flex_template_and_the_worker_image() -> None:
    steps = instructions(PIPELINE_DOCKERFILE)
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in env
    copies = [rest for word, rest in steps if word == "COPY"]
    assert any("infra/dataflow/main.py" in rest and rest.endswith("./") for rest in copies)
    assert any("python_template_launcher" in rest for rest in copies)
    assert any("/opt/java/openjdk" in rest for rest in copies), "ReadFromKafka needs a JRE"
    assert steps[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')
    froms = [rest for word, rest in steps if word == "ARG" and rest.startswith("BEAM_IMAGE=")]
    assert froms == [f"BEAM_IMAGE=apache/beam_python3.11_sdk:{apache_beam.__version__}"]


def test_pipeline_image_copies_every_package_the_pipeline_imports() -> None:
    packages, _ = _first_party_imports("pipeline")
    copied = set(copied_sources(PIPELINE_DOCKERFILE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
