"""One benchmark scenario per process: ``python -m bench.scenarios NAME JSON_ARGS``.

The last stdout line is a JSON object with the scenario's numbers, including the process's
peak RSS (``ru_maxrss``), so memory is measured per scenario and never includes the
simulator (which runs in its own ``streamer simulate`` process).
"""

from __future__ import annotations

import base64
import gc
import http.client
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
import orjson

from bench.common import cpu_seconds, peak_rss_mb
from bench.config import API_KEY
from bench.steady import steady

SEP = b',{"id":"'  # every event object of a page starts with its id (checked on page 1)


def _pages(url: str, page_size: int, next_after: Callable[[bytes], str]) -> Iterator[bytes]:
    """Page bodies over one keep-alive ``http.client`` connection (the cheapest reader)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    token = base64.b64encode(f"API:{API_KEY}".encode()).decode()
    headers = {"Accept": "application/json", "Authorization": f"Basic {token}"}
    after = "0" * 24
    try:
        while True:
            query = urlencode({"sort": "asc", "limit": page_size, "after_id": after})
            conn.request("GET", f"/events?{query}", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"simulator answered {response.status}")
            if len(body) <= 2:
                return
            yield body
            after = next_after(body)
    finally:
        conn.close()


async def pager(url: str, page_size: int = 1000) -> dict[str, Any]:
    """The raw pager: ``http.client`` keep-alive, ``orjson.loads`` per page, GC paused.

    What any tuned client pays to see every event as Python objects; the bodies are
    discarded. CPU is measured around the loop only (no start-up).
    """
    state: dict[str, Any] = {"events": 0, "bytes": 0}

    def after(body: bytes) -> str:
        page = orjson.loads(body)
        state["events"] += len(page)
        state["bytes"] += len(body)
        return str(page[-1]["id"])

    gc.disable()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for _body in _pages(url, page_size, after):
        pass
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    gc.enable()
    return {**state, "seconds": wall, "cpu_seconds": cpu, "rss_mb": peak_rss_mb()}


async def floor(url: str, out_dir: str, page_size: int = 1000, batch: int = 5000) -> dict[str, Any]:
    """The minimal archiver: receive, find ids and event boundaries, gzip level 1, write.

    ``http.client`` keep-alive; ``msgspec`` finds each event's bytes (``list[Raw]``) and
    its id (a one-field Struct) in two C passes; isal gzip level 1; one file per
    ``batch`` events, fsynced. The floor any archiving client pays per event.
    """
    import msgspec
    from isal import isal_zlib

    class _Id(msgspec.Struct):
        id: str

    raws_of = msgspec.json.Decoder(list[msgspec.Raw]).decode
    ids_of = msgspec.json.Decoder(list[_Id]).decode
    state: dict[str, Any] = {"events": 0, "bytes": 0, "files": 0, "compressed": 0}
    out = Path(out_dir)
    pending: list[bytes] = []
    comp = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    count = 0

    def write(final: bytes, first: str, last: str) -> None:
        path = out / f"{first}_{last}.jsonl.gz"
        with path.open("wb") as fh:
            fh.write(b"".join(pending) + final)
            fh.flush()
            os.fsync(fh.fileno())
        state["files"] += 1
        state["compressed"] += sum(map(len, pending)) + len(final)

    first = ""

    def after(body: bytes) -> str:
        nonlocal comp, count, first
        raws = raws_of(body)
        ids = [e.id for e in ids_of(body)]
        first = first or ids[0]
        pending.append(comp.compress(b"\n".join(raws) + b"\n"))
        count += len(ids)
        state["events"] += len(ids)
        state["bytes"] += len(body)
        if count >= batch:
            write(comp.flush(), first, ids[-1])
            pending.clear()
            comp, count, first = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31), 0, ""
        return ids[-1]

    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for _body in _pages(url, page_size, after):
        pass
    if count:
        write(comp.flush(), first, "end")
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    return {**state, "seconds": wall, "cpu_seconds": cpu, "rss_mb": peak_rss_mb()}


async def raw(url: str, page_size: int = 1000) -> dict[str, Any]:
    """Page through ``/events`` with httpx and discard the bodies: the fetch-only ceiling.

    The next ``after_id`` is cut out of the body's last event (no JSON decoding); the
    first page is decoded once to check that the cut finds the real last id.
    """
    headers = {"Accept": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, auth=("API", API_KEY), headers=headers, timeout=60
    ) as http:
        after, events, nbytes, first = "0" * 24, 0, 0, True
        started, cpu0 = time.perf_counter(), cpu_seconds()
        while True:
            params = {"sort": "asc", "limit": page_size, "after_id": after}
            body = (await http.get("/events", params=params)).content
            if len(body) <= 2:
                break
            cut = body.rfind(SEP)
            last = body[cut + len(SEP) : cut + len(SEP) + 24].decode() if cut > 0 else None
            if first or last is None:
                last_real = orjson.loads(body)[-1]["id"]
                if last is not None and last != last_real:
                    raise RuntimeError("page layout changed: the raw baseline cannot cut ids")
                last, first = last_real, False
            after = last
            events += body.count(SEP) + 1
            nbytes += len(body)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    return {
        "events": events,
        "bytes": nbytes,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_mb": peak_rss_mb(),
    }


async def daemon(cfg: dict[str, Any], blackhole: dict[str, float] | None = None) -> dict[str, Any]:
    """The real daemon, until caught up; optionally an S3 endpoint blackholed for a while.

    ``blackhole`` = ``{"after": s, "for": s}``: the aws credential's endpoint is routed
    through a proxy that swallows all traffic from ``after`` to ``after + for`` seconds.
    """
    from streamer.daemon.app import run
    from streamer.observability.logs import setup_logging
    from streamer.settings.loader import parse_settings

    setup_logging("warning", "json")

    async def go() -> dict[str, Any]:
        loaded = parse_settings(cfg, base=Path())
        started, cpu0 = time.perf_counter(), cpu_seconds()
        summary = await run(loaded, until_caught_up=True, handle_signals=False)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
        return {
            "events": summary.fetched,
            "kept": summary.kept,
            "written": summary.written,
            "objects": summary.objects,
            "seconds": seconds,
            "cpu_run": cpu,  # CPU of run() only: the caller subtracts an empty run's
            "cpu_seconds": cpu_seconds(),  # the whole process, imports included
        }

    if blackhole is None:
        out = await go()
    else:
        out = await _with_blackhole(cfg, blackhole, go)
    out["rss_mb"] = peak_rss_mb()
    return out


async def _with_blackhole(
    cfg: dict[str, Any], plan: dict[str, float], go: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests"))
    from servers import SwitchProxy

    cred = cfg["credentials"]["aws"]
    port = int(cred["endpoint_url"].rsplit(":", 1)[1])
    async with SwitchProxy.running(port) as proxy:
        cred["endpoint_url"] = proxy.url
        result: dict[str, Any] = {}

        async def toggle() -> None:
            await anyio.sleep(plan["after"])
            proxy.blackholed = True
            await anyio.sleep(plan["for"])
            proxy.blackholed = False

        async def main() -> None:
            result.update(await go())
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(toggle)
            tg.start_soon(main)
        result["blackholed_seconds"] = plan["for"]
    return result


async def pipeline(events: int, seed: int = 7) -> dict[str, Any]:
    """Decode, filter, transform, encode and compress pre-built pages on one core.

    Uses the daemon's own Processor and Batcher (gzip via isal); pages are JSON bytes as
    the API sends them. Reports events per CPU second of this thread and per wall second.
    """
    from bench.config import config
    from streamer.observability.logs import setup_logging
    from streamer.observability.metrics import Metrics
    from streamer.pipeline.batcher import Batcher, static_router
    from streamer.pipeline.processor import Processor
    from streamer.records import Batch, Page
    from streamer.settings.loader import parse_settings
    from streamer.simulator import generate_events
    from streamer.source.client import parse_page
    from streamer.stages.base import build_pipeline

    setup_logging("warning", "json")
    generated = sorted(generate_events(events, seed=seed), key=lambda e: str(e["id"]))
    bodies = [
        b"[" + b",".join(orjson.dumps(e) for e in generated[i : i + 1000]) + b"]"
        for i in range(0, len(generated), 1000)
    ]
    del generated
    nbytes = sum(len(b) for b in bodies)
    loaded = parse_settings(
        config(
            "http://127.0.0.1:1", Path(tempfile.gettempdir()), local=Path(tempfile.gettempdir())
        ),
        base=Path(),
    )
    batcher = Batcher(router=static_router([("local", "bench/events")]), max_age=3600)
    processor = Processor(
        build_pipeline(loaded.settings.pipeline), batcher, cursor="0" * 24, metrics=Metrics()
    )
    page_send, page_recv = anyio.create_memory_object_stream[Page](4)
    batch_send, batch_recv = anyio.create_memory_object_stream[Batch](2)
    out_bytes = 0

    from streamer.pipeline.start import page_decoder

    decoder = page_decoder(loaded.settings)

    async def feed() -> None:
        async with page_send:
            for body in bodies:
                decoded = decoder.decode(body, "bench") if decoder else parse_page(body, "bench")
                await page_send.send(Page(decoded, decoded[-1]["id"]))

    async def drain() -> None:
        nonlocal out_bytes
        async with batch_recv:
            async for batch in batch_recv:
                out_bytes += batch.nbytes

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        tg.start_soon(processor.run, page_recv, batch_send)
        tg.start_soon(drain)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return {
        "events": processor.stats.fetched,
        "kept": processor.stats.kept,
        "bytes": nbytes,
        "compressed": out_bytes,
        "seconds": wall,
        "cpu_seconds": cpu,
        "rss_mb": peak_rss_mb(),
    }


async def backfill(
    cfg: dict[str, Any], start: int, end: int, parallel: int, state_dir: str
) -> dict[str, Any]:
    """``streamer backfill`` over ``[start, end)`` with ``parallel`` slices."""
    from streamer.observability.logs import setup_logging
    from streamer.pipeline.backfill import backfill as run_backfill
    from streamer.settings.loader import parse_settings

    setup_logging("warning", "json")
    loaded = parse_settings(cfg, base=Path())
    started = time.perf_counter()
    summary = await run_backfill(
        loaded, start, end, parallel=parallel, state_dir=Path(state_dir), respect_live=False
    )
    return {
        "events": summary.fetched,
        "written": summary.written,
        "requests": summary.requests,
        "seconds": time.perf_counter() - started,
        "rss_mb": peak_rss_mb(),
    }


SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "floor": floor,
    "pager": pager,
    "raw": raw,
    "daemon": daemon,
    "pipeline": pipeline,
    "backfill": backfill,
    "steady": steady,
}


def main() -> None:
    """Run one scenario and print its JSON result as the last line."""
    name, args = sys.argv[1], json.loads(sys.argv[2])
    result = anyio.run(lambda: SCENARIOS[name](**args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
