"""checkov's static checks over the Terraform, the Kubernetes manifests and both Dockerfiles.

Two checkov runs cover the three frameworks (a few seconds each). Findings
accepted on purpose are skipped in the files themselves, each with its reason
(`#checkov:skip=...`, `checkov.io/skipN` annotations), so they show up here as
skipped, never as passed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.tools.installed import run, tool

FRAMEWORKS = ("terraform", "kubernetes", "dockerfile")


# Two checkov runs (a few seconds each): directories, then the Dockerfiles.
RUNS = (
    ["--directory", "infra/terraform", "--directory", "infra/k8s", "--framework", "terraform",
     "kubernetes"],
    ["--file", "infra/receiver/Dockerfile", "--file", "infra/dataflow/Dockerfile", "--framework",
     "dockerfile"],
)  # fmt: skip


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for arguments in RUNS:
        # --skip-download: offline, no guideline download from the vendor's API.
        result = run(
            tool("checkov"), [*arguments, "--output", "json", "--skip-download"], timeout=300
        )
        assert result.stdout.strip(), result.stderr
        for report in _json_documents(result.stdout):
            into = merged.setdefault(
                report["check_type"],
                {"results": {"passed_checks": [], "failed_checks": [], "skipped_checks": []}},
            )
            for kind in into["results"]:
                for check in report.get("results", {}).get(kind, []):
                    # checkov repeats a framework's report once per directory it was given.
                    key = (kind, check["check_id"], check["resource"], check["file_path"])
                    if key not in seen:
                        seen.add(key)
                        into["results"][kind].append(check)
    return merged


def _json_documents(text: str) -> list[dict[str, Any]]:
    """checkov prints one JSON value per scanned path group, one after the other."""
    decoder = json.JSONDecoder()
    documents: list[dict[str, Any]] = []
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, index = decoder.raw_decode(text, index)
        documents += value if isinstance(value, list) else [value]
    return documents


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkov_finds_no_failed_check(reports: dict[str, dict[str, Any]], framework: str) -> None:
    assert framework in reports, f"checkov did not scan {framework}: {sorted(reports)}"
    report = reports[framework]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert len(report["results"]["passed_checks"]) > 10


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_skipped_check_says_why(reports: dict[str, dict[str, Any]], framework: str) -> None:
    for check in reports[framework]["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) > 15, f"{check['check_id']} skipped without a reason"


def test_checkov_scanned_every_file(reports: dict[str, dict[str, Any]]) -> None:
    scanned = {
        check["file_path"].lstrip("/").removeprefix("infra/terraform/").removeprefix("infra/k8s/")
        for report in reports.values()
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for check in report["results"][kind]
    }
    # The files whose resources checkov has checks for.
    for name in ("bigquery.tf", "iam.tf", "dataflow.tf", "receiver-statefulset.yaml"):
        assert any(path.endswith(name) for path in scanned), f"checkov did not scan {name}"
    for dockerfile in ("infra/receiver/Dockerfile", "infra/dataflow/Dockerfile"):
        assert any(path.endswith(dockerfile) for path in scanned), dockerfile
