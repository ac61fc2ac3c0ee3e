"""Interleaved A/B of the daemon: ``python -m bench.ab TREE_A TREE_B [--pairs N] [--rows ...]``.

Single benchmark runs of the same code move by 10-50 % on a shared machine (other jobs,
the simulator and the storage servers share the cores and the caches), so a change of a
few percent only shows when the two versions run alternately against the same servers.
Each tree is a checkout of this repository (a git worktree); each run is the ``daemon``
scenario of ``bench/scenarios.py`` started with that tree's interpreter (its ``.venv``
when it has one) and that tree as the working directory, so it runs that tree's code.
Prints, per row, the median marginal µs of CPU per event of A and of B, the median of the
pairwise differences, and every run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import cloud, edge_ids, fresh, median, scenario, simulator
from bench.config import FILTERS, PIPELINE, config

ROWS = ("local", "local-t", "clouds", "clouds-t")


def _python(tree: Path) -> str:
    venv = tree / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _run(tree: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    return scenario("daemon", tree=tree, python=_python(tree), cfg=cfg)


def _maker(
    row: str, url: str, root: Path, clouds: tuple[dict[str, Any], dict[str, Any]] | None
) -> Callable[[str], dict[str, Any]]:
    pipeline = PIPELINE if row.endswith("-t") else FILTERS

    def make(name: str) -> dict[str, Any]:
        state = fresh(root, f"state-{row}-{name}")
        if row.startswith("local"):
            return config(url, state, local=fresh(root, f"out-{row}-{name}"), pipeline=pipeline)
        assert clouds is not None
        cfg = config(url, state, s3=clouds[0], azure=clouds[1], pipeline=pipeline)
        cfg["firehose"]["prefix"] = f"ab/{row}-{name}"
        return cfg

    return make


def compare(trees: list[Path], rows: list[str], pairs: int, events: int) -> None:
    """Run every row ``pairs`` times per tree, alternating, and print the medians."""
    root = Path(tempfile.mkdtemp(prefix="streamer-ab-"))
    with simulator(events) as url, cloud(root) as clouds:
        _first, last = edge_ids(url)
        for row in rows:
            make = _maker(row, url, root, clouds)
            fixed: list[float] = []
            for i, tree in enumerate(trees):
                cfg = make(f"empty{i}")
                cfg["source"]["start"] = {"after_id": last}
                fixed.append(_run(tree, cfg)["cpu_run"])
            runs: list[list[float]] = [[], []]
            for n in range(pairs):
                order = (0, 1) if n % 2 == 0 else (1, 0)  # neither always goes first
                for i in order:
                    out = _run(trees[i], make(f"{i}-{n}"))
                    runs[i].append((out["cpu_run"] - fixed[i]) / out["events"] * 1e6)
            a, b = median(runs[0]), median(runs[1])
            diff = median([y - x for x, y in zip(runs[0], runs[1], strict=True)])
            print(
                f"{row:9s} A {a:6.2f}  B {b:6.2f} µs/event  B-A {diff:+.2f} ({diff / a:+.1%})  "
                f"A {[round(x, 1) for x in runs[0]]}  B {[round(x, 1) for x in runs[1]]}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.ab``."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("a", type=Path, help="checkout A (the baseline)")
    parser.add_argument("b", type=Path, help="checkout B (the change)")
    parser.add_argument("--pairs", type=int, default=5, help="runs per tree and row")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=["local", "local-t"])
    args = parser.parse_args(argv)
    compare([args.a.resolve(), args.b.resolve()], args.rows, args.pairs, args.events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
