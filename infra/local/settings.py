"""Where the local stack lives: ports, directories and topics, from the environment.

Every value has a default that works on one machine; the README's table lists
the variables. Tests and `make run` read the same settings, so a stack started
by `make infra-up` is the one the tests find and reuse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]

RAW_TOPIC = "tapcart.events.raw"
REJECTED_TOPIC = "tapcart.events.rejected"
TOPICS = (RAW_TOPIC, REJECTED_TOPIC)

KAFKA_VERSION = "4.4.0"


@dataclass(frozen=True)
class StackSettings:
    kafka_bootstrap: str
    kafka_port: int
    kafka_controller_port: int
    kafka_partitions: int
    bigquery_endpoint: str
    bigquery_port: int
    bigquery_grpc_port: int
    bigquery_project: str
    bigquery_dataset: str
    receiver_port: int
    state_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackSettings:
        env = os.environ if env is None else env
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        kafka_port = _port_of(bootstrap.split(",")[0].rsplit(":", 1)[-1], "KAFKA_BOOTSTRAP_SERVERS")
        endpoint = env.get("BIGQUERY_ENDPOINT", "http://127.0.0.1:9050").rstrip("/")
        bigquery_port = urlsplit(endpoint).port or 9050
        cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cls(
            kafka_bootstrap=bootstrap,
            kafka_port=kafka_port,
            kafka_controller_port=int(env.get("KAFKA_CONTROLLER_PORT", kafka_port + 1)),
            kafka_partitions=int(env.get("KAFKA_TOPIC_PARTITIONS", "3")),
            bigquery_endpoint=endpoint,
            bigquery_port=bigquery_port,
            bigquery_grpc_port=int(env.get("BIGQUERY_GRPC_PORT", bigquery_port + 10)),
            bigquery_project=env.get("BIGQUERY_PROJECT", "local"),
            bigquery_dataset=env.get("BIGQUERY_DATASET", "tapcart"),
            receiver_port=int(env.get("RECEIVER_PORT", "8080")),
            state_dir=Path(env.get("TAPCART_STATE_DIR", REPO_ROOT / ".state")),
            cache_dir=Path(env.get("TAPCART_CACHE_DIR", cache_home / "tapcart-events")),
        )

    @property
    def kafka_state_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def bigquery_state_dir(self) -> Path:
        return self.state_dir / "bigquery"

    @property
    def receiver_state_dir(self) -> Path:
        return self.state_dir / "receiver"

    @property
    def pipeline_state_dir(self) -> Path:
        return self.state_dir / "pipeline"

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    @property
    def kafka_libs_dir(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def _port_of(text: str, variable: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{variable} must end in :<port>, got {text!r}") from None
