"""`python -m simulator`: post realistic Tapcart sessions to the receiver and say what came of them.

Exit status: 0 when every event (and duplicate delivery) was acked with a
200, 1 when some were not, 130 when interrupted, 2 for bad arguments.
Malformed bodies do not count towards it: they are meant to be refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from simulator.faults import FaultRates
from simulator.report import RunReport, is_json_lines, iso_utc, write_json
from simulator.sender import (
    FinalStatus,
    Pace,
    RetryPolicy,
    Sender,
    SendStats,
    Target,
    TokenPlacement,
    http_client,
)
from simulator.stream import StreamConfig, deliveries

DEFAULT_URL = "http://127.0.0.1:8080/tapcart_webhooks"
DEFAULT_COUNT = 100


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Post realistic Tapcart event sessions to the receiver, one event per POST, "
        "retrying like Tapcart, and report what was acked.",
    )
    target = parser.add_argument_group("target")
    target.add_argument("--url", default=DEFAULT_URL, help="receiver route (default: %(default)s)")
    target.add_argument(
        "--token",
        help="receiver token (default: $RECEIVER_TOKEN, else the first of $RECEIVER_TOKENS)",
    )
    target.add_argument(
        "--token-in",
        choices=[p.value for p in TokenPlacement],
        default=TokenPlacement.HEADER.value,
        help="how to present the token: Authorization: Bearer header, URL path "
        "(<url>/<token>) or ?token= query (default: %(default)s)",
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--count",
        type=int,
        help=f"events to send; duplicates and malformed bodies come on top "
        f"(default: {DEFAULT_COUNT} unless --duration is given)",
    )
    load.add_argument(
        "--duration",
        type=_positive,
        help="seconds during which new events start (retries may run on past it)",
    )
    load.add_argument(
        "--rate",
        type=_not_negative,
        default=20.0,
        help="new deliveries per second, 0 = as fast as the concurrency allows "
        "(default: %(default)s)",
    )
    load.add_argument(
        "--concurrency",
        type=_at_least_one,
        default=8,
        help="POSTs in flight at most (default: %(default)s)",
    )
    story = parser.add_argument_group("events")
    story.add_argument(
        "--seed", type=int, help="seed of every random choice (default: random, printed)"
    )
    story.add_argument(
        "--apps", type=_at_least_one, default=3, help="merchant apps (default: %(default)s)"
    )
    story.add_argument(
        "--users",
        type=_at_least_one,
        default=20,
        help="app sessions running at once, their events interleaved (default: %(default)s)",
    )
    story.add_argument(
        "--clickstream-share",
        type=_fraction,
        default=0.3,
        help="fraction of sessions in the Clickstream envelope, the rest Insights "
        "(default: %(default)s)",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--duplicates",
        type=_fraction,
        default=0.0,
        help="per event, the chance that its body is posted a second time (default: 0)",
    )
    faults.add_argument(
        "--malformed",
        type=_fraction,
        default=0.0,
        help="per event, the chance of a malformed body beside it: invalid JSON, "
        "not an object, or no event id (default: 0)",
    )
    retry = parser.add_argument_group("retries")
    retry.add_argument(
        "--retry-window",
        type=_not_negative,
        default=300.0,
        help="seconds from the first attempt during which a delivery is retried "
        "(default: %(default)s, Tapcart's five minutes)",
    )
    retry.add_argument(
        "--backoff-initial",
        type=_positive,
        default=1.0,
        help="first retry delay in seconds, doubled each time (default: %(default)s)",
    )
    retry.add_argument(
        "--backoff-max",
        type=_positive,
        default=30.0,
        help="longest retry delay in seconds (default: %(default)s)",
    )
    retry.add_argument(
        "--no-retry-rejected",
        dest="retry_rejected",
        action="store_false",
        help="take a 400, 413 or 422 as final; by default every 4xx is retried, as Tapcart does",
    )
    retry.add_argument(
        "--timeout",
        type=_positive,
        default=10.0,
        help="seconds one POST may take (default: %(default)s)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--report",
        type=Path,
        help="write every delivery's outcome: JSON lines if the name ends in .jsonl "
        "(written as deliveries end), else one JSON document",
    )
    output.add_argument(
        "--progress",
        type=_not_negative,
        default=5.0,
        help="seconds between progress lines on stderr, 0 = none (default: %(default)s)",
    )
    output.add_argument(
        "--dry-run",
        action="store_true",
        help="print the deliveries as JSON lines (headers and body) instead of sending them",
    )
    return parser


def resolve_token(given: str | None, environ: dict[str, str] | os._Environ[str]) -> str | None:
    if given:
        return given
    single = environ.get("RECEIVER_TOKEN", "").strip()
    if single:
        return single
    several = [t.strip() for t in environ.get("RECEIVER_TOKENS", "").split(",") if t.strip()]
    return several[0] if several else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 0:
        parser.error("--count must not be negative")
    if args.backoff_max < args.backoff_initial:
        parser.error("--backoff-max must not be below --backoff-initial")
    count = args.count
    if count is None and args.duration is None:
        count = DEFAULT_COUNT
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    config = StreamConfig(
        seed=seed,
        count=count,
        apps=args.apps,
        users=args.users,
        clickstream_share=args.clickstream_share,
        faults=FaultRates(duplicates=args.duplicates, malformed=args.malformed),
    )
    if args.dry_run:
        _print_dry_run(config if count is not None else replace(config, count=10))
        return 0

    target = Target(args.url, resolve_token(args.token, os.environ), TokenPlacement(args.token_in))
    policy = RetryPolicy(
        window_seconds=args.retry_window,
        initial_backoff=args.backoff_initial,
        max_backoff=args.backoff_max,
        retry_rejected=args.retry_rejected,
    )
    pace = Pace(rate=args.rate, concurrency=args.concurrency, duration=args.duration)
    print(_opening_line(target, seed, count, pace, policy), flush=True)

    started_at = time.time()
    with _report_lines(args.report) as lines:
        report = RunReport(lines)
        sender_box: list[Sender] = []
        interrupted = False
        try:
            asyncio.run(_send(config, target, policy, pace, args, report, sender_box, seed))
        except (KeyboardInterrupt, asyncio.CancelledError):
            interrupted = True
    stats = sender_box[0].stats if sender_box else SendStats()
    ended_at = time.time()
    _print_summary(report, stats, ended_at - started_at, interrupted)
    if args.report is not None:
        if not is_json_lines(args.report):
            run = {
                "seed": seed,
                "url": target.shown_url(),
                "settings": _settings(args, count),
                "started_at": iso_utc(started_at),
                "ended_at": iso_utc(ended_at),
                "interrupted": interrupted,
                "posts": stats.posts,
                "summary": report.summary(),
            }
            write_json(args.report, run, report.outcomes)
        print(f"report: {args.report}")
    if interrupted:
        return 130
    return 1 if report.unacked_events() else 0


async def _send(
    config: StreamConfig,
    target: Target,
    policy: RetryPolicy,
    pace: Pace,
    args: argparse.Namespace,
    report: RunReport,
    sender_box: list[Sender],
    seed: int,
) -> None:
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main_task is not None:
        # SIGTERM (a harness stopping the run) ends it like Ctrl-C: report what is known.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    async with http_client(pace, args.timeout) as client:
        sender = Sender(
            client,
            target,
            policy=policy,
            pace=pace,
            on_outcome=report.add,
            rng=random.Random(f"{seed}:jitter"),
        )
        sender_box.append(sender)
        progress = (
            asyncio.create_task(_progress(sender, args.progress)) if args.progress > 0 else None
        )
        try:
            await sender.run(deliveries(config))
        finally:
            if progress is not None:
                progress.cancel()


async def _progress(sender: Sender, every: float) -> None:
    began = time.monotonic()
    while True:
        await asyncio.sleep(every)
        stats = sender.stats
        acked = stats.by_status.get(FinalStatus.ACKED, 0)
        print(
            f"[{time.monotonic() - began:6.1f} s] started {stats.started}, acked {acked}, "
            f"in progress {stats.pending}, ended otherwise {stats.finished - acked}, "
            f"POSTs {stats.posts}",
            file=sys.stderr,
            flush=True,
        )


@contextlib.contextmanager
def _report_lines(path: Path | None) -> Iterator[TextIO | None]:
    if path is None or not is_json_lines(path):
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        yield handle


def _opening_line(
    target: Target, seed: int, count: int | None, pace: Pace, policy: RetryPolicy
) -> str:
    how_many = f"{count} events" if count is not None else "events"
    if pace.duration is not None:
        how_many += f" for up to {pace.duration:g} s"
    rate = f"{pace.rate:g}/s" if pace.rate > 0 else "unpaced"
    token = f"token in {target.token_in}" if target.token else "no token"
    rejected = "retried like Tapcart" if policy.retry_rejected else "final at once"
    return (
        f"simulator: posting {how_many} to {target.shown_url()} ({token}); seed {seed}; "
        f"{rate}, concurrency {pace.concurrency}; retry window {policy.window_seconds:g} s; "
        f"400/413/422 {rejected}"
    )


def _print_summary(report: RunReport, stats: SendStats, seconds: float, interrupted: bool) -> None:
    kinds = report.summary()
    sent = sum(k["sent"] for k in kinds.values())
    print(
        f"\nsent {sent} deliveries ({kinds['event']['sent']} events, "
        f"{kinds['duplicate']['sent']} duplicates, {kinds['malformed']['sent']} malformed) "
        f"in {seconds:.1f} s, {stats.achieved_rate():.1f} new deliveries/s; "
        f"{stats.posts} POSTs with retries" + (" (interrupted)" if interrupted else "")
    )
    print(report.table())
    unacked = report.unacked_events()
    if unacked:
        shown = ", ".join(f"{o.delivery.event_id} ({o.status})" for o in unacked[:10])
        more = f" and {len(unacked) - 10} more" if len(unacked) > 10 else ""
        print(f"NOT ACKED: {len(unacked)} events: {shown}{more}")
    else:
        print("every event was acked")
    wrongly = report.acked_malformed()
    if wrongly:
        print(f"WARNING: {len(wrongly)} malformed bodies were answered with 2xx")


def _settings(args: argparse.Namespace, count: int | None) -> dict[str, Any]:
    return {
        "count": count,
        "duration": args.duration,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "apps": args.apps,
        "users": args.users,
        "clickstream_share": args.clickstream_share,
        "duplicates": args.duplicates,
        "malformed": args.malformed,
        "retry_window": args.retry_window,
        "backoff_initial": args.backoff_initial,
        "backoff_max": args.backoff_max,
        "retry_rejected": args.retry_rejected,
        "timeout": args.timeout,
        "token_in": args.token_in,
    }


def _print_dry_run(config: StreamConfig) -> None:
    for delivery in deliveries(config):
        record = {
            "index": delivery.index,
            "kind": delivery.kind.value,
            "fault": delivery.fault.value if delivery.fault else None,
            "event_id": delivery.event_id,
            "headers": dict(delivery.headers),
            "body": delivery.body.decode("utf-8", "replace"),
        }
        print(json.dumps(record))
