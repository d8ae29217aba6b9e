"""The receiver's Kubernetes manifests: valid against the Kubernetes schemas, and consistent.

kubernetes-validate ships the Kubernetes JSON schemas of every release inside
its PyPI package, so the check runs offline. The two objects that are not
built-in kinds (the kustomization and GKE's PodMonitoring) have no schema in
any registry package; their few fields are checked directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.tools.installed import REPO_ROOT, run, tool
from receiver.config import Settings

K8S_DIR = REPO_ROOT / "infra" / "k8s"
# The oldest GKE minor the manifests target, and the newest schemas shipped.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
NOT_BUILT_IN = {"Kustomization", "PodMonitoring"}


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield path, document


def manifest(kind: str, name: str = "receiver") -> dict[str, Any]:
    for _, document in documents():
        if document["kind"] == kind and document.get("metadata", {}).get("name", name) == name:
            return document
    raise AssertionError(f"no {kind} {name} in infra/k8s")


def receiver_container() -> dict[str, Any]:
    pod = manifest("StatefulSet")["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    return container


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(version: str) -> None:
    built_in = [
        path
        for path in sorted(K8S_DIR.glob("*.yaml"))
        if not any(doc["kind"] in NOT_BUILT_IN for p, doc in documents() if p == path)
    ]
    result = run(
        tool("kubernetes-validate"), ["--strict", "--kubernetes-version", version, *built_in]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = result.stdout + result.stderr
    for path, document in documents():
        if document["kind"] in NOT_BUILT_IN:
            continue
        resource = f"{document['kind'].lower()}/{document['metadata']['name']}"
        assert f"passed for resource {resource}" in passed, f"{path.name}: {resource} unchecked"


def test_schema_check_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = manifest("StatefulSet")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run(tool("kubernetes-validate"), ["--strict", "--kubernetes-version", "1.33.0", path])
    assert result.returncode != 0
    assert "readinessProbes" in result.stdout + result.stderr


def test_kustomization_applies_every_manifest() -> None:
    kustomization = manifest("Kustomization", name="")
    listed = set(kustomization["resources"])
    present = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    image = receiver_container()["image"].rsplit(":", 1)[0]
    assert [entry["name"] for entry in kustomization["images"]] == [image]


def test_probes_use_the_receiver_health_routes() -> None:
    container = receiver_container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": Settings().port}


def test_receiver_has_limits_and_is_autoscaled() -> None:
    resources = receiver_container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) <= set(resources["limits"])
    hpa = manifest("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "receiver",
    }
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    assert manifest("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_spool_is_on_a_persistent_volume_at_the_configured_directory() -> None:
    statefulset = manifest("StatefulSet")["spec"]
    claims = {claim["metadata"]["name"] for claim in statefulset["volumeClaimTemplates"]}
    mounts = {mount["name"]: mount["mountPath"] for mount in receiver_container()["volumeMounts"]}
    assert "spool" in claims
    assert mounts["spool"] == "/var/spool/receiver"
    assert statefulset["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"


class _RecordingEnv(Mapping[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_receiver_accepts_and_reads_every_configured_variable() -> None:
    config = manifest("ConfigMap")["data"]
    secret_refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]["key"]
        for item in receiver_container()["env"]
        if "valueFrom" in item
    }
    assert secret_refs == {"RECEIVER_TOKENS": "RECEIVER_TOKENS"}
    env = _RecordingEnv({**config, "RECEIVER_TOKENS": "a-token,another-token"})
    settings = Settings.from_env(env)
    unread = set(config) - env.read
    assert not unread, f"the receiver never reads {sorted(unread)}"
    assert settings.max_body_bytes == int(config["RECEIVER_MAX_BODY_BYTES"])
    assert len(settings.tokens) == 2


def test_one_worker_per_cpu_of_the_limit() -> None:
    workers = int(manifest("ConfigMap")["data"]["RECEIVER_WORKERS"])
    cpu = str(receiver_container()["resources"]["limits"]["cpu"])
    cores = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    assert 1 <= workers <= max(1, int(cores))


def test_termination_grace_covers_the_receiver_shutdown() -> None:
    pod = manifest("StatefulSet")["spec"]["template"]["spec"]
    shutdown = int(manifest("ConfigMap")["data"]["RECEIVER_SHUTDOWN_TIMEOUT_SECONDS"])
    pause = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > shutdown + pause


def test_podmonitoring_scrapes_the_receiver_metrics_port() -> None:
    monitoring = manifest("PodMonitoring")
    assert monitoring["apiVersion"] == "monitoring.googleapis.com/v1"
    pod_labels = manifest("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    selector = monitoring["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    (endpoint,) = monitoring["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in receiver_container()["ports"]}


def test_ingress_exposes_only_the_webhook_route() -> None:
    ingress = manifest("Ingress")["spec"]
    assert "defaultBackend" not in ingress
    paths = [path["path"] for rule in ingress["rules"] for path in rule["http"]["paths"]]
    assert paths == [Settings().path]
