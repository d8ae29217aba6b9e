"""The local broker and emulator for a benchmark: reused when up, else started and stopped after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from infra.local.kafka import fetch_kafka
from infra.local.settings import StackSettings
from infra.local.stack import bigquery_emulator, kafka_broker


@contextlib.contextmanager
def local_broker(settings: StackSettings) -> Iterator[str]:
    """The bootstrap address of the local stack's broker."""
    broker = kafka_broker(settings)
    if broker.is_running() or broker.answers_metadata():
        print(f"kafka: reusing the broker at {settings.kafka_bootstrap}")
        yield settings.kafka_bootstrap
        return
    fetch_kafka(settings.kafka_libs_dir)
    try:
        seconds = broker.start()
        print(f"kafka: started at {broker.bootstrap} in {seconds:.1f} s")
        yield broker.bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def local_emulator(settings: StackSettings) -> Iterator[str]:
    """The REST endpoint of the local stack's BigQuery emulator."""
    emulator = bigquery_emulator(settings)
    if emulator.is_running() or emulator.is_healthy():
        print(f"bigquery: reusing the emulator at {settings.bigquery_endpoint}")
        yield settings.bigquery_endpoint
        return
    try:
        seconds = emulator.start()
        print(f"bigquery: started the emulator at {emulator.endpoint} in {seconds:.1f} s")
        yield emulator.endpoint
    finally:
        emulator.stop()
