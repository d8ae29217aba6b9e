"""Settings from the environment, and refusing to start without a token."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest

from receiver.config import KAFKA_RECORD_LIMIT_BYTES, NO_TOKEN_MESSAGE, ConfigError, Settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_work_on_the_local_stack() -> None:
    settings = Settings.from_env({"RECEIVER_TOKENS": "local-token"})
    assert settings.port == 8080
    assert settings.workers == 1
    assert settings.host == "127.0.0.1"
    assert settings.path == "/tapcart_webhooks"
    assert settings.max_body_bytes == 262_144
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.raw_topic == "tapcart.events.raw"
    assert settings.rejected_topic == "tapcart.events.rejected"


def test_topic_defaults_match_the_local_stack() -> None:
    from infra.local.settings import RAW_TOPIC, REJECTED_TOPIC

    settings = Settings.from_env({"RECEIVER_TOKENS": "t"})
    assert (settings.raw_topic, settings.rejected_topic) == (RAW_TOPIC, REJECTED_TOPIC)


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "RECEIVER_HOST": "0.0.0.0",
            "RECEIVER_PORT": "9000",
            "RECEIVER_WORKERS": "3",
            "RECEIVER_PATH": "/hooks/tapcart",
            "RECEIVER_TOKENS": " old-token , new-token ,",
            "RECEIVER_ALLOWED_APP_IDS": "app-1,app-2",
            "RECEIVER_ALLOWED_SOURCES": "10.0.0.0/8, 2001:db8::1",
            "RECEIVER_TRUSTED_PROXIES": "127.0.0.1",
            "RECEIVER_MAX_BODY_BYTES": "1024",
            "RECEIVER_MAX_HEADER_BYTES": "4096",
            "RECEIVER_HEADER_TIMEOUT_SECONDS": "2.5",
            "RECEIVER_BODY_TIMEOUT_SECONDS": "3",
            "RECEIVER_KEEP_ALIVE_SECONDS": "7",
            "RECEIVER_SHUTDOWN_TIMEOUT_SECONDS": "9",
            "RECEIVER_DELIVERY_TIMEOUT_SECONDS": "1.5",
            "RECEIVER_RETRY_AFTER_SECONDS": "4",
            "RECEIVER_SPOOL_DIR": "/var/spool/receiver",
            "RECEIVER_SPOOL_MAX_BYTES": "5000",
            "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9092,broker-2:9092",
            "RECEIVER_RAW_TOPIC": "raw",
            "RECEIVER_REJECTED_TOPIC": "rejected",
            "RECEIVER_KAFKA_LINGER_MS": "20",
            "RECEIVER_KAFKA_COMPRESSION": "zstd",
            "RECEIVER_PRODUCER_QUEUE_MAX_MESSAGES": "10",
            "RECEIVER_LOG_LEVEL": "DEBUG",
        }
    )
    assert settings.host == "0.0.0.0"
    assert settings.port == 9000
    assert settings.workers == 3
    assert settings.path == "/hooks/tapcart"
    assert [str(token) for token in settings.tokens] == ["old-token", "new-token"]
    assert settings.allowed_app_ids == {"app-1", "app-2"}
    assert settings.allowed_sources == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::1/128"),
    )
    assert settings.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"),)
    assert settings.max_body_bytes == 1024
    assert settings.max_header_bytes == 4096
    assert settings.header_timeout_seconds == 2.5
    assert settings.body_timeout_seconds == 3.0
    assert settings.keep_alive_seconds == 7
    assert settings.shutdown_timeout_seconds == 9
    assert settings.delivery_timeout_seconds == 1.5
    assert settings.retry_after_seconds == 4
    assert settings.spool_dir == Path("/var/spool/receiver")
    assert settings.spool_max_bytes == 5000
    assert settings.kafka_bootstrap == "broker-1:9092,broker-2:9092"
    assert (settings.raw_topic, settings.rejected_topic) == ("raw", "rejected")
    assert settings.kafka_linger_ms == 20
    assert settings.kafka_compression == "zstd"
    assert settings.producer_queue_max_messages == 10
    assert settings.log_level == "debug"


def test_tokens_never_print() -> None:
    settings = Settings.from_env({"RECEIVER_TOKENS": "very-secret-token"})
    assert "very-secret-token" not in repr(settings)
    assert "very-secret-token" not in str(settings)


def test_no_token_refuses_to_start() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({})
    assert str(raised.value) == NO_TOKEN_MESSAGE


def test_open_access_needs_the_development_flag() -> None:
    settings = Settings.from_env({"RECEIVER_ALLOW_UNAUTHENTICATED": "1"})
    assert settings.allow_unauthenticated
    assert settings.tokens == ()


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("RECEIVER_PORT", "eighty", "RECEIVER_PORT must be an integer"),
        ("RECEIVER_MAX_BODY_BYTES", "0", "RECEIVER_MAX_BODY_BYTES must be at least 1"),
        ("RECEIVER_DELIVERY_TIMEOUT_SECONDS", "-1", "must be more than 0"),
        ("RECEIVER_DELIVERY_TIMEOUT_SECONDS", "nan", "must be more than 0"),
        ("RECEIVER_ALLOWED_SOURCES", "10.0.0.0/8,not-a-net", "'not-a-net'"),
        ("RECEIVER_ALLOW_UNAUTHENTICATED", "maybe", "must be 1 or 0"),
        ("RECEIVER_PATH", "/hooks/", "RECEIVER_PATH must start with '/'"),
        ("RECEIVER_WORKERS", "0", "RECEIVER_WORKERS must be at least 1"),
        ("RECEIVER_MAX_BODY_BYTES", "600000", "over Kafka's 1000000: lower them"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        Settings.from_env({"RECEIVER_TOKENS": "t", name: value})


def test_the_largest_record_a_request_makes_fits_in_a_kafka_record() -> None:
    # A record the broker refuses would never leave the spool: refuse the settings instead.
    settings = Settings.from_env({"RECEIVER_TOKENS": "t"})
    assert settings.largest_record_bytes <= KAFKA_RECORD_LIMIT_BYTES
    largest = Settings.from_env({"RECEIVER_TOKENS": "t", "RECEIVER_MAX_BODY_BYTES": "470000"})
    assert largest.largest_record_bytes <= KAFKA_RECORD_LIMIT_BYTES


def test_python_m_receiver_without_token_exits_with_one_sentence(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RECEIVER_") and key != "KAFKA_BOOTSTRAP_SERVERS"
    }
    result = subprocess.run(
        [sys.executable, "-m", "receiver"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"receiver: {NO_TOKEN_MESSAGE}"
    assert result.stdout == ""
