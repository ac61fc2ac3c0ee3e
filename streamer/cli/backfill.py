"""``streamer backfill``: its flags and its command (the work is ``streamer.pipeline.backfill``)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import anyio

from streamer.cli.common import load
from streamer.errors import ConfigError
from streamer.ids import id_seconds, is_id
from streamer.observability.progress import Progress
from streamer.pipeline.backfill import backfill


def parse_time(text: str) -> float:
    """Epoch seconds from an ISO 8601 time (UTC if no zone), epoch seconds, or an event id."""
    value = text.strip()
    if is_id(value.lower()):
        return float(id_seconds(value.lower()))
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time: use ISO 8601 (2026-01-31T00:00:00Z), epoch seconds "
            "or an event id"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer backfill``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--start", required=True, help="ISO 8601 time, epoch seconds or event id")
    parser.add_argument("--end", required=True, help="exclusive; clamped to the live tail's start")
    parser.add_argument("--parallel", type=int, default=4, help="slices fetched at once")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="slice checkpoints (default: beside checkpoint.path, in backfill/)",
    )
    parser.add_argument("--progress", choices=["auto", "bar", "log", "none"], default="auto")


def main(args: argparse.Namespace) -> int:
    """Run a backfill; 2 on bad usage, 0 when every slice is done."""
    if args.parallel < 1:
        raise ConfigError("--parallel must be at least 1")
    start, end = parse_time(args.start), parse_time(args.end)
    if int(start) >= int(end):
        raise ConfigError(f"--start ({args.start}) must be before --end ({args.end})")
    loaded = load(args)
    state_dir = Path(args.state_dir) if args.state_dir else None
    progress = Progress(mode=args.progress)
    summary = anyio.run(
        lambda: backfill(
            loaded, start, end, parallel=args.parallel, state_dir=state_dir, progress=progress
        )
    )
    print(
        f"backfill: {summary.slices} slice(s), {summary.fetched} fetched, "
        f"{summary.written} written in {summary.seconds:.1f}s"
        + (" (end clamped to the live tail's start)" if summary.clamped else ""),
        file=sys.stderr,
    )
    return 0
