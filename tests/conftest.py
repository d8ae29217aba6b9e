"""Session fixtures for the real local services.

A service that `make infra-up` already started is reused and left running;
one that is not running is started here and stopped when the session ends.
A service that cannot start fails the tests that need it, loudly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.local.bigquery import BigQueryEmulator
from infra.local.kafka import KafkaBroker, fetch_kafka
from infra.local.processes import free_port as _free_port
from infra.local.settings import StackSettings
from infra.local.stack import bigquery_emulator, kafka_broker


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    return StackSettings.from_env()


@pytest.fixture(scope="session")
def kafka_libs_dir(stack_settings: StackSettings) -> Path:
    return fetch_kafka(stack_settings.kafka_libs_dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_settings: StackSettings, kafka_libs_dir: Path) -> Iterator[str]:
    broker = kafka_broker(stack_settings)
    if broker.is_running() or broker.answers_metadata():
        broker.ensure_topics()
        yield stack_settings.kafka_bootstrap
        return
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def bigquery_endpoint(stack_settings: StackSettings) -> Iterator[str]:
    emulator: BigQueryEmulator = bigquery_emulator(stack_settings)
    if emulator.is_running() or emulator.is_healthy():
        yield stack_settings.bigquery_endpoint
        return
    emulator.start()
    try:
        yield emulator.endpoint
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def bigquery_project(stack_settings: StackSettings) -> str:
    return stack_settings.bigquery_project


@pytest.fixture(scope="session")
def bigquery_client(bigquery_endpoint: str, bigquery_project: str):  # type: ignore[no-untyped-def]
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=bigquery_project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=bigquery_endpoint),
    )
    yield client
    client.close()


@pytest.fixture
def free_port() -> Callable[[], int]:
    return _free_port


@pytest.fixture
def kafka_broker_factory(
    kafka_libs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., KafkaBroker]]:
    """Private brokers on free ports, for tests that stop and restart one."""
    brokers: list[KafkaBroker] = []

    def start(partitions: int = 3) -> KafkaBroker:
        # Short paths: the broker's state dir appears in its command line.
        state_dir = tmp_path_factory.mktemp("kafka")
        broker = KafkaBroker(
            port=_free_port(),
            controller_port=_free_port(),
            state_dir=state_dir,
            libs_dir=kafka_libs_dir,
            partitions=partitions,
        )
        brokers.append(broker)
        broker.start()
        return broker

    yield start
    for broker in brokers:
        broker.stop()
        shutil.rmtree(broker.state_dir, ignore_errors=True)
