"""The real Apache Kafka broker, single node in KRaft mode, run from Maven Central's jars."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from infra.local.processes import (
    ManagedProcess,
    StackError,
    require_command,
    require_free_port,
    wait_until,
)
from infra.local.settings import KAFKA_VERSION, TOPICS

HERE = Path(__file__).resolve().parent
POM = HERE / "kafka-pom.xml"
LOG_CONFIG = HERE / "log4j2.yaml"
COMPLETE_MARKER = ".complete"

# The broker is small here: a single node, a few topics, test-sized traffic.
JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


def fetch_kafka(libs_dir: Path) -> Path:
    """Copy the broker's jars from Maven into `libs_dir`, once."""
    if (libs_dir / COMPLETE_MARKER).exists():
        return libs_dir
    require_command("java", "run the Kafka broker")
    mvn = require_command("mvn", "download the Kafka broker's jars from Maven Central")
    staging = libs_dir.with_name(libs_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    print(f"fetching Apache Kafka {KAFKA_VERSION} jars into {libs_dir} ...", flush=True)
    result = subprocess.run(
        [
            mvn,
            "--batch-mode",
            "--quiet",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise StackError("Maven could not fetch the Kafka broker's jars: " + " | ".join(detail))
    (staging / COMPLETE_MARKER).write_text(KAFKA_VERSION + "\n")
    shutil.rmtree(libs_dir, ignore_errors=True)
    staging.rename(libs_dir)
    return libs_dir


class KafkaBroker:
    """One broker+controller process with its data, logs and PID file in `state_dir`."""

    def __init__(
        self,
        port: int,
        controller_port: int,
        state_dir: Path,
        libs_dir: Path,
        partitions: int = 3,
        topics: Iterable[str] = TOPICS,
    ) -> None:
        self.port = port
        self.controller_port = controller_port
        self.state_dir = state_dir
        self.libs_dir = libs_dir
        self.partitions = partitions
        self.topics = tuple(topics)
        self.config_file = state_dir / "server.properties"
        self.data_dir = state_dir / "data"
        self.process = ManagedProcess(
            name="kafka",
            pid_file=state_dir / "broker.pid",
            log_file=state_dir / "broker.log",
            # Names this broker's own config file, so another broker is never mistaken for it.
            marker=f"kafka.Kafka {self.config_file}",
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self, timeout: float = 90.0) -> float:
        """Start (formatting storage the first time), wait until it serves; seconds taken."""
        if self.is_running():
            return 0.0
        java = require_command("java", "run the Kafka broker")
        if not (self.libs_dir / COMPLETE_MARKER).exists():
            raise StackError(f"the Kafka jars are not in {self.libs_dir}; run `make jars` first.")
        require_free_port(self.port, "the Kafka broker")
        require_free_port(self.controller_port, "the Kafka controller")
        began = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(java)
        self.process.spawn(
            [
                java,
                *JVM_OPTIONS,
                f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                "-cp",
                f"{self.libs_dir}/*",
                "kafka.Kafka",
                str(self.config_file),
            ]
        )
        self.process.wait_ready(self.answers_metadata, began, timeout, "the Kafka broker")
        self.ensure_topics()
        return time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> bool:
        return self.process.stop(timeout)

    def answers_metadata(self, timeout: float = 1.0) -> bool:
        try:
            self._admin().list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    def ensure_topics(self, names: Iterable[str] | None = None) -> None:
        admin = self._admin()
        wanted = tuple(names) if names is not None else self.topics
        existing = set(admin.list_topics(timeout=10).topics)
        missing = [
            NewTopic(name, num_partitions=self.partitions, replication_factor=1)
            for name in wanted
            if name not in existing
        ]
        if not missing:
            return
        for name, future in admin.create_topics(missing, operation_timeout=30).items():
            try:
                future.result()
            except KafkaException as error:
                if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise StackError(f"could not create topic {name}: {error}") from error
        wait_until(
            lambda: all(t.topic in admin.list_topics(timeout=5).topics for t in missing),
            timeout=30,
            what="the new topics appearing in the broker's metadata",
        )

    def _admin(self) -> AdminClient:
        # log_level 0: while the broker starts, librdkafka would print every refused connection.
        return AdminClient(
            {"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000, "log_level": 0}
        )

    def _write_config(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.partitions),
            # One node: internal topics cannot have more than one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Consumers in tests join one at a time; do not make each wait 3 s.
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        self.config_file.write_text(
            "# Written by infra/local/kafka.py on each start.\n"
            + "".join(f"{key}={value}\n" for key, value in settings.items())
        )

    def _format_storage(self, java: str) -> None:
        result = subprocess.run(
            [
                java,
                f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                "-cp",
                f"{self.libs_dir}/*",
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                _cluster_id(),
                "--config",
                str(self.config_file),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise StackError("formatting the Kafka storage failed: " + " | ".join(tail))


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding.

    Like Kafka's own Uuid.randomUuid(), never one that starts with "-": the
    storage tool would read it as an option (1 id in 64 does).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
