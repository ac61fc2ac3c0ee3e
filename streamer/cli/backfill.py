"""``streamer backfill``: its flags and its command (the work is ``streamer.pipeline.backfill``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from streamer import times
from streamer.cli.common import load
from streamer.errors import ConfigError
from streamer.observability.progress import Progress
from streamer.pipeline.backfill import backfill


def parse_time(text: str, flag: str) -> float:
    """:func:`streamer.times.parse_time`, a bad value being a config error (exit 2)."""
    try:
        return times.parse_time(text, flag)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer backfill``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument(
        "--start", required=True, help="ISO 8601 time or date, epoch s or ms, or an event id"
    )
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
    start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
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
