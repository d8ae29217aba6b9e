"""The local stack's command line: `python -m infra.local.stack fetch|prism|up|down|status`.

`up` starts what is not running yet and leaves running what is; `down` stops
what the PID files name. Both are safe to repeat.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from infra.local.bigquery import BigQueryEmulator
from infra.local.kafka import KafkaBroker, fetch_kafka
from infra.local.pipeline_service import StreamingPipeline
from infra.local.prism import fetch_prism, prism_binary
from infra.local.processes import StackError
from infra.local.receiver_service import ReceiverService, development_token
from infra.local.settings import StackSettings


class Service(Protocol):
    def start(self, timeout: float = ...) -> float: ...
    def stop(self, timeout: float = ...) -> bool: ...
    @property
    def pid(self) -> int | None: ...


# `make infra-up` starts the services; `make run` starts the applications on them too.
SERVICE_NAMES = ("kafka", "bigquery")
APPLICATION_NAMES = ("receiver", "pipeline")
ALL_NAMES = (*SERVICE_NAMES, *APPLICATION_NAMES)


def kafka_broker(settings: StackSettings) -> KafkaBroker:
    return KafkaBroker(
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        state_dir=settings.kafka_state_dir,
        libs_dir=settings.kafka_libs_dir,
        partitions=settings.kafka_partitions,
    )


def bigquery_emulator(settings: StackSettings) -> BigQueryEmulator:
    return BigQueryEmulator(
        port=settings.bigquery_port,
        grpc_port=settings.bigquery_grpc_port,
        project=settings.bigquery_project,
        state_dir=settings.bigquery_state_dir,
    )


def receiver_service(settings: StackSettings) -> ReceiverService:
    return ReceiverService(
        port=settings.receiver_port,
        bootstrap=settings.kafka_bootstrap,
        state_dir=settings.receiver_state_dir,
        token=development_token(settings.receiver_state_dir),
    )


def streaming_pipeline(settings: StackSettings) -> StreamingPipeline:
    return StreamingPipeline(
        bootstrap=settings.kafka_bootstrap,
        bigquery_endpoint=settings.bigquery_endpoint,
        project=settings.bigquery_project,
        dataset=settings.bigquery_dataset,
        prism_binary=prism_binary(settings.cache_dir),
        state_dir=settings.pipeline_state_dir,
    )


def services(settings: StackSettings) -> dict[str, tuple[Service, str]]:
    """Each service by name, with the address it serves."""
    return {
        "kafka": (kafka_broker(settings), settings.kafka_bootstrap),
        "bigquery": (bigquery_emulator(settings), settings.bigquery_endpoint),
        "receiver": (receiver_service(settings), settings.receiver_url),
        "pipeline": (
            streaming_pipeline(settings),
            f"{settings.kafka_bootstrap} -> {settings.bigquery_endpoint}",
        ),
    }


def up(
    settings: StackSettings, names: Sequence[str], started: list[str] | None = None
) -> list[str]:
    """Start the named services; returns the names of those this call started.

    Pass `started` to learn what was started even when a later service fails.
    """
    fetch_kafka(settings.kafka_libs_dir)
    if "pipeline" in names:
        fetch_prism(settings.cache_dir)
    started = [] if started is None else started
    known = services(settings)
    for name in names:
        service, address = known[name]
        running = service.pid
        if running is not None:
            print(f"{name}: already running (pid {running}) at {address}")
            continue
        seconds = service.start()
        started.append(name)
        print(f"{name}: started in {seconds:.1f} s (pid {service.pid}) at {address}")
    return started


def down(settings: StackSettings, names: Sequence[str]) -> None:
    known = services(settings)
    for name in reversed(names):
        service, _ = known[name]
        print(f"{name}: {'stopped' if service.stop() else 'not running'}")


def status(settings: StackSettings, names: Sequence[str]) -> None:
    import psutil

    known = services(settings)
    for name in names:
        service, address = known[name]
        pid = service.pid
        if pid is None:
            print(f"{name}: not running")
            continue
        process = psutil.Process(pid)
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        print(f"{name}: running (pid {pid}) at {address}, {rss / 2**20:.0f} MiB resident")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.stack", description=__doc__)
    parser.add_argument("command", choices=["fetch", "prism", "up", "down", "status"])
    parser.add_argument(
        "services",
        nargs="*",
        help=f"any of {', '.join(ALL_NAMES)} (default: {', '.join(SERVICE_NAMES)})",
    )
    args = parser.parse_args(argv)
    settings = StackSettings.from_env()
    names = args.services or list(SERVICE_NAMES)
    unknown = sorted(set(names) - set(ALL_NAMES))
    if unknown:
        parser.error(f"unknown service {', '.join(unknown)}; choose from {', '.join(ALL_NAMES)}")
    try:
        if args.command == "fetch":
            print(f"kafka jars: {fetch_kafka(settings.kafka_libs_dir)}")
        elif args.command == "prism":
            print(f"prism runner: {fetch_prism(settings.cache_dir)}")
        elif args.command == "up":
            up(settings, names)
        elif args.command == "down":
            down(settings, names)
        else:
            status(settings, names)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
