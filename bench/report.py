"""``make bench`` report rows: ``streamer report`` over a local gzip archive.

``python -m bench.report build ROOT EVENTS PER_OBJECT`` writes a simulated archive with
objects of ``PER_OBJECT`` events (named and partitioned as the daemon names them);
``python -m bench.report run ROOT`` runs the columns report (all 34 columns, grouped by
``vars.flow.id``) in this process and prints one JSON line with events/s, CPU seconds and
peak RSS. Each run is a fresh interpreter so its peak RSS is the report's alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PREFIX = "lc/events"
ROOT = Path(__file__).resolve().parent.parent


def build(root: Path, events: int, per_object: int, seed: int = 7) -> dict[str, Any]:
    """Write ``events`` simulated events as gzip JSONL objects of ``per_object`` events.

    Events are serialized as they are generated (never all held), sorted within each
    object; objects' id ranges may overlap, which the report handles like late events.
    """
    from streamer.pipeline.layout import batch_key, compressor
    from streamer.simulator.events import iter_events, serialize

    chunk: list[tuple[str, bytes]] = []
    written = nbytes = 0

    def flush() -> None:
        nonlocal written, nbytes
        chunk.sort()
        comp = compressor("gzip")
        data = comp.compress(b"".join(line + b"\n" for _, line in chunk)) + comp.flush()
        path = root / batch_key(PREFIX, chunk[0][0], chunk[-1][0], "gzip")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += 1
        nbytes += len(data)
        chunk.clear()

    span = max(3600.0, events / 50)
    for event in iter_events(events, seed=seed, end_ts=1_795_000_000.0, span_seconds=span):
        chunk.append((event["id"], serialize(event)))
        if len(chunk) >= per_object:
            flush()
    if chunk:
        flush()
    return {"objects": written, "bytes": nbytes, "events": events}


def config(root: Path, path: Path) -> Path:
    """A config reading ``root`` as the local service."""
    import yaml

    cfg = {
        "source": {"base_url": "http://127.0.0.1:9", "api_key": "k"},
        "firehose": {"prefix": PREFIX, "services": {"local": {"enabled": True, "path": str(root)}}},
        "checkpoint": {"path": str(path.parent / "ck.json")},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(root: Path) -> dict[str, Any]:
    """The columns report over the whole archive, grouped by flow; numbers of this process."""
    import contextlib
    import io

    from streamer.cli.main import main as cli_main

    cfg = config(root, root.parent / f"{root.name}.yaml")
    out, err = io.StringIO(), io.StringIO()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["report", "-c", str(cfg), "--start", "2026-11-01", "--end", "2026-12-01",
                         "--group-by", "vars.flow.id"])  # fmt: skip
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if code != 0:
        raise RuntimeError(f"report exited {code}: {err.getvalue()[-500:]}")
    line = err.getvalue().strip().splitlines()[-1]
    found = re.search(r"(\d+) events in .*, ([\d,]+) per CPU-second.* peak RSS (\d+) MB", line)
    if not found:
        raise RuntimeError(f"no speed line in the report's stderr: {line!r}")
    return {
        "events": int(found.group(1)),
        "seconds": wall,
        "cpu_seconds": cpu,
        "per_cpu_second": float(found.group(2).replace(",", "")),
        "rss_mb": float(found.group(3)),
    }


def scenario(*argv: str) -> dict[str, Any]:
    """Run ``python -m bench.report ARGV`` in a fresh interpreter; its JSON line."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.report", *argv],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench.report {argv[0]} failed:\n{done.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def report_rows(root: Path, ctx: Any) -> list[Any]:
    """``make bench`` rows (g): the report over archives of small and large objects."""
    from bench.common import Row

    events = 100_000 if ctx.args.quick else 1_000_000
    rows = []
    for per_object in (2_000, 10_000):
        archive = root / f"report-{per_object}"
        built = scenario("build", str(archive), str(events), str(per_object))
        out = scenario("run", str(archive))
        rows.append(
            Row(
                f"(g) report, {per_object:,}-event objects",
                out["events"],
                1e6 / out["per_cpu_second"],
                "",
                out["events"] / out["seconds"],
                ">= 200,000/s; <= 200 MB",
                out["rss_mb"],
                f"local gzip, {built['bytes'] / 1e6:.0f} MB, 34 columns by vars.flow.id; "
                "CPU = decoding (workers); RSS = report + all workers",
            )
        )
        ctx.say(rows[-1])
    return rows


def main() -> None:
    """``build ROOT EVENTS PER_OBJECT`` or ``run ROOT``."""
    what, root = sys.argv[1], Path(sys.argv[2])
    result = build(root, int(sys.argv[3]), int(sys.argv[4])) if what == "build" else run(root)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
