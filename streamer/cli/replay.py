"""``streamer replay``: its flags and its command (the work is ``streamer.pipeline.replay``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from streamer.pipeline.replay import replay
from streamer.report.reader import TimeRange
from streamer.settings.loader import load_config
from streamer.sinks import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer replay``."""
    parser.add_argument("--from-archive", required=True, metavar="SOURCE.yaml",
                        help="config whose archive is read")  # fmt: skip
    parser.add_argument("--from", dest="service", choices=registry.preference(),
                        help="which of its services to read (default: local, aws, azure)")
    parser.add_argument("--start", required=True, help="as streamer report: ISO, epoch s or ms")
    parser.add_argument("--end", required=True, help="exclusive")
    parser.add_argument("-c", "--config", required=True, metavar="TARGET.yaml",
                        help="config whose pipeline and sinks receive the events")  # fmt: skip
    parser.add_argument("--state", help="replay checkpoint file (default: beside the target's)")


def main(args: argparse.Namespace) -> int:
    """Run a replay; one line on stderr when done."""
    from streamer.report.options import UsageError, parse_time, pick_service
    from streamer.times import iso

    try:
        start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
        if start >= end:
            raise UsageError(f"--start {iso(start)} must be before --end {iso(end)}")
        source = load_config(args.from_archive)
        service = pick_service(source, args.service)
    except UsageError as exc:
        print(f"streamer replay: {exc}", file=sys.stderr)
        return 2
    target = load_config(args.config)
    default = Path(target.settings.checkpoint.path).parent / "replay"
    name = f"replay-{service.name}-{int(start)}-{int(end)}.json"
    state = Path(args.state) if args.state else default / name
    summary = anyio.run(lambda: replay(source, service, target, TimeRange(start, end), state))
    print(
        f"replay: {summary.read} events read, {summary.written} written in "
        f"{summary.batches} batches; checkpoint {state}",
        file=sys.stderr,
    )
    return 0
