"""``make bench``: run every scenario side by side and print (and save) one table.

Every row comes from the same run, next to a *floor* (a minimal archiver) and a *raw
pager* measured on the same simulator, because absolute numbers depend on the machine
and on what else shares its cores. CPU figures are process user + system time per event,
marginal (each configuration's fixed cost, measured on an empty backlog, is subtracted;
start-up is its own row); every CPU row is the median of ``--repeat`` runs.

The table is built by *sections*: functions that take a :class:`Context` and return
rows. ``SHARED`` sections run against one simulator plus SeaweedFS and Azurite;
``OWN`` sections start what they need. Add a section by appending a function.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    ROOT,
    Row,
    cloud,
    edge_ids,
    fresh,
    machine,
    markdown,
    median,
    repeated,
    scenario,
    simulator,
)
from bench.config import FILTERS, PIPELINE, config
from bench.report import report_rows  # issue 16's rows (g), kept in their own module
from bench.steady import steady_rows

# what `streamer run` imports before it reads the config (the start-up row measures it alone)
IMPORT_STARTUP = "import streamer.cli.main, streamer.daemon.app"

DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass
class Context:
    """What a section needs; ``url``, ``s3`` and ``azure`` are set for SHARED sections."""

    args: argparse.Namespace
    root: Path
    events: int
    repeat: int
    say: Callable[[object], None]
    url: str = ""
    s3: dict[str, Any] = field(default_factory=dict)
    azure: dict[str, Any] = field(default_factory=dict)
    floor_us: float | None = None  # the minimal archiver, µs CPU per event
    pager_eps: float | None = None  # the raw pager, events per wall second
    per_event_bytes: float = 0.0


#: issue 17's targets, in µs per event measured on ~2 KB events where the floor was 6.6 µs;
#: events of another size scale the floor, so the ratio to the floor is shown beside them
FLOOR_AT_TARGETS = 6.6


def _vs_floor(
    ctx: Context, cpu_us: float, target: float | None, ratio_of: float | None = None
) -> str:
    """The ratio to the floor: of neighbouring runs when given, else to the floor row."""
    if ratio_of is None and ctx.floor_us:
        ratio_of = cpu_us / ctx.floor_us
    ratio = f"{ratio_of:.2f}x" if ratio_of is not None else ""
    if target is None:
        return ratio
    return f"{ratio} (<= {target / FLOOR_AT_TARGETS:.1f}x, {target:g} µs)"


def _vs_raw(ctx: Context, eps: float, target: float | None = None) -> str:
    if not ctx.pager_eps:
        return ""
    ratio = f"{eps / ctx.pager_eps:.2f}"
    return f"{ratio} (>= {target:.1f})" if target is not None else ratio


def _floor_us(ctx: Context, name: str) -> float:
    """One run of the minimal archiver: µs CPU per event."""
    out = scenario("floor", url=ctx.url, out_dir=str(fresh(ctx.root, f"floor-{name}")))
    return float(out["cpu_seconds"]) / float(out["events"]) * 1e6


def floor_rows(ctx: Context) -> list[Row]:
    """The minimal archiver and the raw pager: what any client pays."""
    runs = repeated(
        ctx.repeat,
        lambda i: scenario("floor", url=ctx.url, out_dir=str(fresh(ctx.root, f"floor-{i}"))),
    )
    first = runs[0]
    ctx.floor_us = median([r["cpu_seconds"] / r["events"] * 1e6 for r in runs])
    ctx.per_event_bytes = first["bytes"] / first["events"]
    floor_eps = median([r["events"] / r["seconds"] for r in runs])
    pages = repeated(ctx.repeat, lambda _i: scenario("pager", url=ctx.url))
    ctx.pager_eps = median([r["events"] / r["seconds"] for r in pages])
    pager_us = median([r["cpu_seconds"] / r["events"] * 1e6 for r in pages])
    raw = scenario("raw", url=ctx.url)
    raw_eps = raw["events"] / raw["seconds"]
    rows = [
        Row(
            "floor: minimal archiver",
            first["events"],
            ctx.floor_us,
            "1.0x",
            floor_eps,
            _vs_raw(ctx, floor_eps),
            max(r["rss_mb"] for r in runs),
            f"http.client, msgspec ids + boundaries, isal gzip-1, fsync per 5000; "
            f"{ctx.per_event_bytes / 1024:.1f} KiB/event",
        ),
        Row(
            "raw pager: http.client + orjson.loads",
            pages[0]["events"],
            pager_us,
            _vs_floor(ctx, pager_us, None),
            ctx.pager_eps,
            "1.00",
            max(r["rss_mb"] for r in pages),
            "keep-alive, GC paused, bodies discarded",
        ),
        Row(
            "raw fetch, httpx, bodies discarded",
            raw["events"],
            raw["cpu_seconds"] / raw["events"] * 1e6 if "cpu_seconds" in raw else None,
            "",
            raw_eps,
            _vs_raw(ctx, raw_eps),
            raw["rss_mb"],
            "httpx.AsyncClient, no decoding",
        ),
    ]
    for row in rows:
        ctx.say(row)
    return rows


def _daemon_row(
    ctx: Context,
    label: str,
    make_cfg: Callable[[str, int], dict[str, Any]],
    *,
    target_us: float,
    target_raw: float | None,
    note: str,
) -> Row:
    """Median of ``repeat`` runs of the daemon; marginal CPU = run - empty run."""
    _first, last = edge_ids(ctx.url)
    empty = repeated(
        ctx.repeat, lambda i: scenario("daemon", cfg=_from(make_cfg(f"empty{i}", i), last))
    )
    fixed = median([r["cpu_run"] for r in empty])
    runs: list[dict[str, Any]] = []
    floors: list[float] = []
    for i in range(ctx.repeat):
        # a floor run right beside every daemon run (alternating which goes first): the
        # machine's state drifts between minutes, and a ratio of neighbours cancels it
        def daemon_run(i: int = i) -> None:
            runs.append(scenario("daemon", cfg=make_cfg(f"run{i}", i)))

        def floor_run(i: int = i) -> None:
            floors.append(_floor_us(ctx, f"beside-{label}-{i}"))

        for step in (daemon_run, floor_run) if i % 2 == 0 else (floor_run, daemon_run):
            step()
    per_event = [(r["cpu_run"] - fixed) / r["events"] * 1e6 for r in runs]
    cpu_us = median(per_event)
    ratio = median([d / f for d, f in zip(per_event, floors, strict=True)])
    eps = median([r["events"] / r["seconds"] for r in runs])
    out = runs[0]
    row = Row(
        label,
        out["events"],
        cpu_us,
        _vs_floor(ctx, cpu_us, target_us, ratio),
        eps,
        _vs_raw(ctx, eps, target_raw),
        max(r["rss_mb"] for r in runs),
        f"{note}; {out['written']:,} written; fixed cost of a run {fixed:.2f} s CPU; "
        f"floor beside it {median(floors):.1f} µs",
    )
    ctx.say(row)
    return row


def _from(cfg: dict[str, Any], after_id: str) -> dict[str, Any]:
    cfg["source"]["start"] = {"after_id": after_id}
    return cfg


def daemon_rows(ctx: Context) -> list[Row]:
    """The daemon into both clouds, into a local directory, with and without a transform."""
    root = ctx.root

    def clouds(pipeline: list[dict[str, Any]], tag: str) -> Callable[[str, int], dict[str, Any]]:
        def make(name: str, _i: int) -> dict[str, Any]:
            state = fresh(root, f"state-{tag}-{name}")
            cfg = config(ctx.url, state, s3=ctx.s3, azure=ctx.azure, pipeline=pipeline)
            cfg["firehose"]["prefix"] = f"bench/{tag}-{name}"  # other content, other names
            return cfg

        return make

    def local(pipeline: list[dict[str, Any]], tag: str) -> Callable[[str, int], dict[str, Any]]:
        def make(name: str, _i: int) -> dict[str, Any]:
            out = fresh(root, f"out-{tag}-{name}")
            return config(ctx.url, fresh(root, f"state-{tag}-{name}"), local=out, pipeline=pipeline)

        return make

    return [
        _daemon_row(
            ctx,
            "daemon -> SeaweedFS + Azurite",
            clouds(FILTERS, "filtered"),
            target_us=13,
            target_raw=0.8,
            note="3 filters, gzip, 2 services",
        ),
        _daemon_row(
            ctx,
            "same + mask/exclude transform",
            clouds(PIPELINE, "transformed"),
            target_us=20,
            target_raw=None,
            note="3 filters + transform, 2 services",
        ),
        _daemon_row(
            ctx,
            "daemon -> local dir",
            local(FILTERS, "local"),
            target_us=10,
            target_raw=None,
            note="3 filters, gzip, fsync",
        ),
        _daemon_row(
            ctx,
            "daemon -> local dir + transform",
            local(PIPELINE, "local-t"),
            target_us=20,
            target_raw=None,
            note="3 filters + transform, gzip, fsync",
        ),
    ]


def _child_cpu(cmd: list[str]) -> float:
    """User + system CPU seconds of one child process, from start to exit (``wait4``)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{cmd[3:5]} exited with {proc.returncode}: {err[-500:]}")
    return float(usage.ru_utime + usage.ru_stime)


def startup_rows(ctx: Context) -> list[Row]:
    """``streamer run --until-caught-up`` with both clouds on an empty backlog, whole process."""
    _first, last = edge_ids(ctx.url)
    path = ctx.root / "startup.yaml"
    cpus, imports = [], []
    for i in range(ctx.repeat):
        cfg = config(ctx.url, fresh(ctx.root, f"state-start-{i}"), s3=ctx.s3, azure=ctx.azure)
        path.write_text(yaml.safe_dump(_from(cfg, last)))
        cmd = [sys.executable, "-m", "streamer", "run", "-c", str(path), "--until-caught-up"]
        cpus.append(_child_cpu(cmd))
        imports.append(_child_cpu([sys.executable, "-c", IMPORT_STARTUP]))
    cpu = median(cpus)
    row = Row(
        "start-up, both clouds, empty backlog",
        None,
        None,
        f"{cpu:.2f} s (<= 0.5 s)",
        None,
        "",
        None,
        f"whole `streamer run` process (interpreter, imports, open, close); "
        f"`{IMPORT_STARTUP}` alone {median(imports):.2f} s",
    )
    ctx.say(row)
    return [row]


def pipeline_rows(ctx: Context) -> list[Row]:
    """Decode, filters, transform, encode, compress in-process on one core."""
    pipe = scenario("pipeline", events=min(ctx.events, 100_000))
    cpu_us = pipe["cpu_seconds"] / pipe["events"] * 1e6
    row = Row(
        "pipeline in-process, 1 core",
        pipe["events"],
        cpu_us,
        _vs_floor(ctx, cpu_us, None),
        pipe["events"] / pipe["seconds"],
        "",
        pipe["rss_mb"],
        "decode + 3 filters + transform + encode + isal gzip-1, thread CPU; "
        f"ratio {pipe['bytes'] / max(1, pipe['compressed']):.1f}:1; RSS holds every input page",
    )
    ctx.say(row)
    return [row]


def blackhole_rows(ctx: Context) -> list[Row]:
    """Peak RSS while S3 swallows every byte for a while."""
    down = 5.0 if ctx.args.quick else 20.0
    cfg = config(ctx.url, fresh(ctx.root, "state-down"), s3=ctx.s3)
    out = scenario("daemon", cfg=cfg, blackhole={"after": 2.0, "for": down})
    row = Row(
        f"RSS, S3 blackholed {down:.0f} s",
        out["events"],
        rss=out["rss_mb"],
        vs_raw="RSS <= 200 MB",
        note=f"{out['written']:,} written after restore, {out['seconds']:.1f} s in all",
    )
    ctx.say(row)
    return [row]


def backlog_rows(ctx: Context) -> list[Row]:
    """Peak RSS for a small and a large backlog (flat, bounded by the streams)."""
    rows = []
    for n in (10_000, 100_000) if ctx.args.quick else (10_000, 1_000_000):
        with simulator(n) as url:
            cfg = config(url, fresh(ctx.root, f"state-{n}"), local=fresh(ctx.root, f"out-{n}"))
            out = scenario("daemon", cfg=cfg)
            rows.append(
                Row(
                    f"RSS, {n:,}-event backlog",
                    out["events"],
                    eps=out["events"] / out["seconds"],
                    vs_raw="RSS <= 200 MB, flat",
                    rss=out["rss_mb"],
                    note="daemon -> local dir, filters + transform",
                )
            )
            ctx.say(rows[-1])
    return rows


def backfill_rows(ctx: Context) -> list[Row]:
    """``streamer backfill`` with 100 ms API latency: one slice against four."""
    from bench.common import backlog_span

    n = 8_000 if ctx.args.quick else 20_000
    rows = []
    with simulator(n, latency=0.1) as url:
        lo, hi = backlog_span(url)
        times: dict[int, dict[str, Any]] = {}
        for parallel in (1, 4):
            cfg = config(
                url,
                fresh(ctx.root, f"state-bf{parallel}"),
                local=fresh(ctx.root, f"out-bf{parallel}"),
                page_size=100,
            )
            times[parallel] = scenario(
                "backfill",
                cfg=cfg,
                start=lo,
                end=hi,
                parallel=parallel,
                state_dir=str(ctx.root / f"bf{parallel}"),
            )
        speedup = times[1]["seconds"] / times[4]["seconds"]
        for parallel, out in times.items():
            rows.append(
                Row(
                    f"backfill, 100 ms latency, {parallel} slice(s)",
                    out["events"],
                    eps=out["events"] / out["seconds"],
                    vs_raw=f"{speedup:.2f}x of 1 slice (>= 3.5x)" if parallel == 4 else "",
                    rss=out["rss_mb"],
                    note=f"page_size 100, {out['requests']} requests, {out['seconds']:.1f} s",
                )
            )
            ctx.say(rows[-1])
    return rows


Section = Callable[[Context], list[Row]]
#: against one simulator (``--events``) plus SeaweedFS and Azurite, in this order
SHARED: list[Section] = [floor_rows, startup_rows, daemon_rows, pipeline_rows, blackhole_rows]
#: sections that start their own simulators
OWN: list[Section] = [
    backlog_rows,
    backfill_rows,
    lambda ctx: report_rows(ctx.root, ctx),
    steady_rows,
]
#: what ``--only cpu`` runs: the CPU-per-event table and start-up, nothing else
CPU_ONLY = {floor_rows, startup_rows, daemon_rows}


def run(args: argparse.Namespace) -> tuple[str, list[Row]]:
    """Every section; returns the machine line and the rows."""
    events = args.events or (30_000 if args.quick else 100_000)
    root = Path(tempfile.mkdtemp(prefix="streamer-bench-"))
    say: Callable[[object], None] = print if args.verbose else (lambda _row: None)
    ctx = Context(args, root, events, args.repeat or (1 if args.quick else 3), say)
    keep = (lambda s: s in CPU_ONLY) if args.only == "cpu" else (lambda _s: True)
    rows: list[Row] = []
    try:
        with simulator(events) as url, cloud(root) as (s3, azure):
            ctx.url, ctx.s3, ctx.azure = url, s3, azure
            say(f"simulator {url} with {events} events")
            for section in SHARED:
                if keep(section):
                    rows += section(ctx)
        for section in OWN:
            if keep(section):
                rows += section(ctx)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return machine(), rows


def write_doc(text: str) -> None:
    """Replace the generated block of docs/performance.md (or append one)."""
    block = f"{BEGIN}\n{text}\n{END}"
    doc = DOC.read_text() if DOC.exists() else "# Performance\n\n"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.run``."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--events", type=int, default=None, help="backlog of the shared simulator")
    parser.add_argument("--repeat", type=int, default=None, help="runs per CPU row (median)")
    parser.add_argument("--quick", action="store_true", help="smaller backlogs, one run per row")
    parser.add_argument("--only", choices=["cpu"], help="cpu: floor, start-up and daemon rows")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument("-v", "--verbose", action="store_true", help="print rows as they finish")
    args = parser.parse_args(argv)
    started = time.monotonic()
    host, rows = run(args)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mode = "quick" if args.quick else "full"
    text = (
        f"Measured {when} ({mode} run, {time.monotonic() - started:.0f} s, CPU rows the "
        f"median of {args.repeat or (1 if args.quick else 3)}) on: {host}\n\n" + markdown(rows)
    )
    print(text)
    if not args.no_doc and args.only is None:
        write_doc(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
