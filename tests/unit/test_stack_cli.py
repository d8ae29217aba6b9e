"""The stack's command line fails with one clear sentence when a prerequisite is missing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from infra.local import kafka
from infra.local.settings import REPO_ROOT, StackSettings


def _run_stack(tmp_path: Path, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": path,
        "TAPCART_CACHE_DIR": str(tmp_path / "cache"),
        "TAPCART_STATE_DIR": str(tmp_path / "state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.local.stack", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_java_on_path_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    result = _run_stack(tmp_path, "fetch", path=str(tmp_path / "empty-bin"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: `java` is not on PATH; it is needed to run the Kafka broker."
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_no_maven_on_path_is_one_sentence(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to("/bin/true")
    result = _run_stack(tmp_path, "fetch", path=str(bin_dir))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: `mvn` is not on PATH; it is needed to download the Kafka broker's jars "
        "from Maven Central."
    )


def test_an_unknown_service_is_refused(tmp_path: Path) -> None:
    result = _run_stack(tmp_path, "up", "zookeeper", path=os.environ["PATH"])
    assert result.returncode == 2
    assert "unknown service zookeeper" in result.stderr


def test_defaults_are_the_documented_local_stack() -> None:
    settings = StackSettings.from_env({})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.kafka_partitions == 3
    assert settings.bigquery_endpoint == "http://127.0.0.1:9050"
    assert (settings.bigquery_project, settings.bigquery_dataset) == ("local", "tapcart")


def test_ports_follow_the_overriding_variables() -> None:
    settings = StackSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
            "BIGQUERY_ENDPOINT": "http://127.0.0.1:19050/",
        }
    )
    assert (settings.kafka_port, settings.kafka_controller_port) == (19092, 19093)
    assert (settings.bigquery_port, settings.bigquery_endpoint) == (19050, "http://127.0.0.1:19050")


def test_cluster_ids_never_look_like_an_option() -> None:
    # One random base64url id in 64 starts with "-", which the storage tool reads as a flag.
    ids = [kafka._cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
