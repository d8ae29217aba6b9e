"""Receiver settings, read from environment variables with a cast and a default.

Every variable is listed in the README's table. Tokens are wrapped in
`Secret` so that a settings object never prints them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import Secret

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The local stack's topic names (infra/local/settings.py holds the same ones);
# hard-coded here because the receiver ships without the local-stack code.
DEFAULT_RAW_TOPIC = "tapcart.events.raw"
DEFAULT_REJECTED_TOPIC = "tapcart.events.rejected"

# librdkafka's default `message.max.bytes` and about what a broker accepts by default
# (`message.max.bytes`, the production topics' `max.message.bytes` is 1 MiB). A record
# above it is refused on every attempt: spooled, it would never drain.
KAFKA_RECORD_LIMIT_BYTES = 1_000_000
# Record headers besides the user agent and source address (received_at, request_id,
# envelope, reject_reason, reject_detail), generously.
RECORD_OVERHEAD_BYTES = 8_192

NO_TOKEN_MESSAGE = (
    "RECEIVER_TOKENS is empty: set at least one token, or set "
    "RECEIVER_ALLOW_UNAUTHENTICATED=1 to run without authentication (development only)."
)


class ConfigError(ValueError):
    """A setting is missing or cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    path: str = "/tapcart_webhooks"
    tokens: tuple[Secret, ...] = ()
    allow_unauthenticated: bool = False
    allowed_app_ids: frozenset[str] = frozenset()
    allowed_sources: tuple[IPNetwork, ...] = ()
    trusted_proxies: tuple[IPNetwork, ...] = ()
    max_body_bytes: int = 262_144
    max_header_bytes: int = 16_384
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    keep_alive_seconds: int = 5
    shutdown_timeout_seconds: int = 20
    delivery_timeout_seconds: float = 5.0
    retry_after_seconds: int = 1
    spool_dir: Path = field(default_factory=lambda: Path(".state/receiver/spool"))
    spool_max_bytes: int = 1_073_741_824
    kafka_bootstrap: str = "127.0.0.1:9092"
    raw_topic: str = DEFAULT_RAW_TOPIC
    rejected_topic: str = DEFAULT_REJECTED_TOPIC
    # Each request waits for its own ack: a batch waits at most this long to fill.
    # At 64 connections, 5 ms capped the receiver near 6,000 acks/s; 1 ms near 11,000.
    kafka_linger_ms: int = 1
    kafka_compression: str = "lz4"
    producer_queue_max_messages: int = 100_000
    log_level: str = "info"

    def validate(self) -> None:
        """Refuse settings the receiver cannot run safely with."""
        if not self.tokens and not self.allow_unauthenticated:
            raise ConfigError(NO_TOKEN_MESSAGE)
        if not self.path.startswith("/") or self.path.endswith("/") or "{" in self.path:
            raise ConfigError(
                f"RECEIVER_PATH must start with '/' and not end with it: {self.path!r}"
            )
        if self.max_body_bytes < 1:
            raise ConfigError("RECEIVER_MAX_BODY_BYTES must be at least 1")
        if self.largest_record_bytes > KAFKA_RECORD_LIMIT_BYTES:
            raise ConfigError(
                "RECEIVER_MAX_BODY_BYTES and RECEIVER_MAX_HEADER_BYTES allow records of up to "
                f"{self.largest_record_bytes} bytes, over Kafka's {KAFKA_RECORD_LIMIT_BYTES}: "
                "lower them"
            )
        if self.workers < 1:
            raise ConfigError("RECEIVER_WORKERS must be at least 1")

    @property
    def largest_record_bytes(self) -> int:
        """The largest Kafka record a request can make: the body, and as much again for
        the key (an event id is part of the body), the headers that copy request headers,
        and the receiver's own headers."""
        return 2 * self.max_body_bytes + 2 * self.max_header_bytes + RECORD_OVERHEAD_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _EnvReader(env)
        defaults = cls()
        settings = cls(
            host=reader.text("RECEIVER_HOST", defaults.host),
            port=reader.integer("RECEIVER_PORT", defaults.port, minimum=0),
            workers=reader.integer("RECEIVER_WORKERS", defaults.workers, minimum=1),
            path=reader.text("RECEIVER_PATH", defaults.path),
            tokens=tuple(Secret(token) for token in reader.items("RECEIVER_TOKENS")),
            allow_unauthenticated=reader.flag("RECEIVER_ALLOW_UNAUTHENTICATED", False),
            allowed_app_ids=frozenset(reader.items("RECEIVER_ALLOWED_APP_IDS")),
            allowed_sources=reader.networks("RECEIVER_ALLOWED_SOURCES"),
            trusted_proxies=reader.networks("RECEIVER_TRUSTED_PROXIES"),
            max_body_bytes=reader.integer(
                "RECEIVER_MAX_BODY_BYTES", defaults.max_body_bytes, minimum=1
            ),
            max_header_bytes=reader.integer(
                "RECEIVER_MAX_HEADER_BYTES", defaults.max_header_bytes, minimum=256
            ),
            header_timeout_seconds=reader.number(
                "RECEIVER_HEADER_TIMEOUT_SECONDS", defaults.header_timeout_seconds
            ),
            body_timeout_seconds=reader.number(
                "RECEIVER_BODY_TIMEOUT_SECONDS", defaults.body_timeout_seconds
            ),
            keep_alive_seconds=reader.integer(
                "RECEIVER_KEEP_ALIVE_SECONDS", defaults.keep_alive_seconds, minimum=1
            ),
            shutdown_timeout_seconds=reader.integer(
                "RECEIVER_SHUTDOWN_TIMEOUT_SECONDS", defaults.shutdown_timeout_seconds, minimum=1
            ),
            delivery_timeout_seconds=reader.number(
                "RECEIVER_DELIVERY_TIMEOUT_SECONDS", defaults.delivery_timeout_seconds
            ),
            retry_after_seconds=reader.integer(
                "RECEIVER_RETRY_AFTER_SECONDS", defaults.retry_after_seconds, minimum=1
            ),
            spool_dir=Path(reader.text("RECEIVER_SPOOL_DIR", str(defaults.spool_dir))),
            spool_max_bytes=reader.integer(
                "RECEIVER_SPOOL_MAX_BYTES", defaults.spool_max_bytes, minimum=1
            ),
            kafka_bootstrap=reader.text("KAFKA_BOOTSTRAP_SERVERS", defaults.kafka_bootstrap),
            raw_topic=reader.text("RECEIVER_RAW_TOPIC", defaults.raw_topic),
            rejected_topic=reader.text("RECEIVER_REJECTED_TOPIC", defaults.rejected_topic),
            kafka_linger_ms=reader.integer(
                "RECEIVER_KAFKA_LINGER_MS", defaults.kafka_linger_ms, minimum=0
            ),
            kafka_compression=reader.text("RECEIVER_KAFKA_COMPRESSION", defaults.kafka_compression),
            producer_queue_max_messages=reader.integer(
                "RECEIVER_PRODUCER_QUEUE_MAX_MESSAGES",
                defaults.producer_queue_max_messages,
                minimum=1,
            ),
            log_level=reader.text("RECEIVER_LOG_LEVEL", defaults.log_level).lower(),
        )
        settings.validate()
        return settings


class _EnvReader:
    """Casts for environment values; every failure names the variable."""

    _TRUE = frozenset({"1", "true", "yes", "on"})
    _FALSE = frozenset({"0", "false", "no", "off", ""})

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name, "").strip()
        return value or default

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self._env.get(name, "").split(",") if item.strip()]

    def flag(self, name: str, default: bool) -> bool:
        if name not in self._env:
            return default
        value = self._env[name].strip().lower()
        if value in self._TRUE:
            return True
        if value in self._FALSE:
            return False
        raise ConfigError(f"{name} must be 1 or 0 (or true/false), not {self._env[name]!r}")

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
        if not value > 0:
            raise ConfigError(f"{name} must be more than 0, not {raw!r}")
        return value

    def networks(self, name: str) -> tuple[IPNetwork, ...]:
        networks = []
        for item in self.items(name):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"{name} holds {item!r}, which is not an address or CIDR"
                ) from None
        return tuple(networks)
