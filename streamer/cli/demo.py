"""``streamer demo``: simulator and daemon in one process, then a summary."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from streamer.daemon.app import run
from streamer.errors import ConfigError
from streamer.fsutil import ensure_dir
from streamer.settings.loader import load_config
from streamer.simulator import SimulatorOptions, start_simulator

#: written into ``--out`` so a later run knows the directory is a demo's to empty
MARKER = ".streamer-demo"
_OURS = frozenset({"data", "state", MARKER})


def prepare_out(out: Path, *, keep: bool = False) -> str:
    """Empty the previous demo run's ``data/`` and ``state/`` in ``out``: one line saying so.

    A second ``make demo`` used to continue from the first one's checkpoint and count its
    files in the summary. Now every run starts clean, unless ``keep`` (``--keep``) says to
    continue; a directory holding anything a demo did not write is refused, never emptied.
    """
    if keep:
        return f"streamer demo: continuing in {out} (--keep): its checkpoint and files are kept"
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    foreign = [name for name in entries if name not in _OURS]
    if foreign or (out.exists() and not out.is_dir()):
        shown = ", ".join(foreign[:3]) or "it is not a directory"
        raise ConfigError(
            f"--out {out}: holds files streamer demo did not write ({shown}); pass an empty "
            "or new directory, or --keep to continue in it"
        )
    for name in ("data", "state"):
        shutil.rmtree(out / name, ignore_errors=True)
    ensure_dir(out)
    (out / MARKER).write_text("written by `streamer demo`: each run empties data/ and state/\n")
    if {"data", "state"} & set(entries):
        return f"streamer demo: starting clean (removed the previous run's data/, state/ in {out})"
    return f"streamer demo: starting clean in {out}"


async def run_demo(
    config: Path, *, events: int, out: Path, keep: bool = False, own_config: bool = False
) -> int:
    """Serve ``events`` simulated events, drain them into ``out``, print what happened.

    With ``own_config`` (``-c``) the config says where state and files go: nothing is
    emptied, and the run continues from that config's checkpoint.
    """
    if own_config:
        print(f"streamer demo: with {config}: its checkpoint and outputs are used as they are")
    else:
        print(prepare_out(out, keep=keep))
    async with start_simulator(SimulatorOptions(events=events, seed=7)) as sim:
        os.environ["STREAMER_DEMO_URL"] = sim.url
        os.environ["STREAMER_DEMO_OUT"] = str(out)
        loaded = load_config(config)
        started = time.monotonic()
        summary = await run(loaded, until_caught_up=True, handle_signals=False)
        seconds = time.monotonic() - started
    data = out / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file()) if data.exists() else []
    dropped = sum(summary.dropped.values())
    print()
    print("streamer demo: done")
    print(f"  simulator          {sim.url} ({events} events)")
    print(f"  events fetched     {summary.fetched}")
    print(f"  events kept        {summary.kept}  (dropped {dropped}: {summary.dropped})")
    print(f"  events written     {summary.written}")
    print(f"  files              {len(files)} in {data}")
    for path in files[:3]:
        print(f"                     {path.relative_to(out)}")
    if len(files) > 3:
        print(f"                     ... {len(files) - 3} more")
    print(f"  checkpoint         {summary.cursor} in {out / 'state' / 'checkpoint.json'}")
    print(f"  throughput         {summary.fetched / seconds:,.0f} events/s over {seconds:.2f}s")
    print(f"  try                zcat {files[0] if files else '<file>'} | head -c 600")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer demo``."""
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--out", default="./demo-out")
    parser.add_argument("-c", "--config", default=None, help="default: the packaged demo config")
    parser.add_argument(
        "--keep", action="store_true",
        help="continue from the previous run in --out (default: start clean)",
    )


def main(args: argparse.Namespace) -> int:
    """The README's first command, end to end on the embedded default."""
    import anyio

    config = Path(args.config) if args.config else Path(__file__).parent / "demo.yaml"
    os.environ.setdefault("STREAMER_DEMO_OUT", args.out)
    return anyio.run(
        lambda: run_demo(
            config, events=args.events, out=Path(args.out), keep=args.keep,
            own_config=args.config is not None,
        )
    )
