"""``streamer status -c FILE [--json]``: what the checkpoint says, read-only.

It reads the checkpoint through the configured store (file, S3 or Azure), never writes
it, and prints: the cursor and the time encoded in it, how far that is behind now, the
intents a crashed run left open, the dedupe window, the last batch per service, the
totals, and who holds the lease. With ``metrics.port`` set it also asks the daemon's
``/readyz`` on this host for its run state (``starting``, ``waiting_for_lease`` and what
start-up waits for, ``recovering``, ``running``, ``draining``): the checkpoint cannot
say that, since a daemon waiting for the lease has not written it yet. ``--json`` prints
one object whose keys are stable, for
scripts and monitoring. No checkpoint yet is not an error (exit 0); a corrupt or
unreadable one is a one-line error (exit 1), left untouched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import orjson

from streamer.checkpoint.state import Checkpoint
from streamer.ids import id_datetime, id_seconds
from streamer.settings.loader import LoadedConfig

RETENTION_DAYS = 90
STATUS_VERSION = 1
PROBE_TIMEOUT = 2.0


def _age(iso: str | None, now: float) -> float | None:
    if not iso:
        return None
    try:
        return round(now - dt.datetime.fromisoformat(iso).timestamp(), 1)
    except ValueError:
        return None


def status_document(
    loaded: LoadedConfig,
    checkpoint: Checkpoint | None,
    store_label: str,
    *,
    now: float | None = None,
    daemon: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stable ``--json`` form: every key is always present (null when unknown).

    ``daemon`` is what the local daemon's ``/readyz`` said (None: not asked or no answer).
    """
    now = time.time() if now is None else now
    settings = loaded.settings
    doc: dict[str, Any] = {
        "version": STATUS_VERSION,
        "checkpoint": {"store": settings.checkpoint.store, "where": store_label,
                       "exists": checkpoint is not None},
        "cursor": None,
        "cursor_time": None,
        "lag_seconds": None,
        "retention_days_left": None,
        "settled": None,
        "settled_time": None,
        "intents": [],
        "dedupe": {"size": 0, "oldest": None, "newest": None},
        "sinks": {},
        "totals": {},
        "owner": None,
        "updated_at": None,
        "lease": {"held": False, "age_seconds": None, "ttl_seconds": settings.checkpoint.lease_ttl},
        "services": [s.label for s in loaded.services],
        "daemon": daemon,
    }
    if checkpoint is None:
        return doc
    doc.update(_positions(checkpoint, now))
    doc["intents"] = _intents(checkpoint)
    doc["dedupe"] = _dedupe(checkpoint)
    doc["sinks"] = _sinks(checkpoint, now)
    doc["totals"] = dict(sorted(checkpoint.totals.items()))
    doc["updated_at"] = checkpoint.updated_at
    owner = checkpoint.owner
    if owner:
        doc["owner"] = {k: owner.get(k) for k in ("host", "pid", "id")}
    age = _age(checkpoint.updated_at, now)
    doc["lease"]["age_seconds"] = age
    doc["lease"]["held"] = bool(owner) and age is not None and age < settings.checkpoint.lease_ttl
    return doc


def _positions(checkpoint: Checkpoint, now: float) -> dict[str, Any]:
    """Cursor, lag, retention left and the settled watermark (re-checks start there)."""
    doc: dict[str, Any] = {}
    cursor = checkpoint.cursor
    if cursor:
        lag = max(0.0, now - id_seconds(cursor))
        doc["cursor"] = cursor
        doc["cursor_time"] = id_datetime(cursor).isoformat()
        doc["lag_seconds"] = round(lag, 1)
        doc["retention_days_left"] = round(RETENTION_DAYS - lag / 86400, 2)
    if checkpoint.settled:
        doc["settled"] = checkpoint.settled
        doc["settled_time"] = id_datetime(checkpoint.settled).isoformat()
    return doc


def _intents(checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """Batches a crashed run left open (the next start finishes or abandons them)."""
    return [
        {
            "seq": intent.seq,
            "objects": len(intent.objects),
            "events": sum(len(o.ids) for o in intent.objects),
            "keys": sorted({key for o in intent.objects for _sink, key in o.targets})[:5],
            "watermark": intent.watermark,
        }
        for intent in checkpoint.intents
    ]


def _dedupe(checkpoint: Checkpoint) -> dict[str, Any]:
    seen = sorted(checkpoint.seen)
    return {
        "size": len(seen),
        "oldest": seen[0] if seen else None,
        "newest": seen[-1] if seen else None,
    }


def _sinks(checkpoint: Checkpoint, now: float) -> dict[str, Any]:
    """The last batch per service, with its age."""
    return {
        name: {
            "last_key": entry.get("last_key"),
            "written_at": entry.get("written_at"),
            "age_seconds": _age(entry.get("written_at"), now),
            "objects": int(entry.get("objects", 0)),
            "events": int(entry.get("events", 0)),
        }
        for name, entry in sorted(checkpoint.sinks.items())
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {s}s"
    if minutes:
        return f"{minutes}m {s}s"
    return f"{s}s"


def render_text(doc: dict[str, Any], out: TextIO) -> None:
    """The human form of :func:`status_document`."""
    ck = doc["checkpoint"]
    w = out.write
    w(f"checkpoint: {ck['where']}\n")
    daemon = doc.get("daemon")
    if daemon:
        state = daemon.get("state") or "unknown"
        if daemon.get("waiting_for"):
            state += f", waiting for {daemon['waiting_for']}"
        if daemon.get("stuck"):
            state += ", STUCK: no progress for metrics.stuck_after"
        w(f"  daemon:   {state} ({daemon['url']})\n")
    if not ck["exists"]:
        w("  no checkpoint yet: the daemon has not run, or not committed a batch\n")
        w(f"  services: {', '.join(doc['services']) or 'none'}\n")
        return
    _render_cursor(doc, w)
    intents = doc["intents"]
    if intents:
        w(f"  intents:  {len(intents)} open (a run stopped mid-batch; the next start "
          "finishes them)\n")
        for it in intents:
            w(f"    seq {it['seq']}: {it['objects']} object(s), {it['events']} event(s), "
              f"e.g. {', '.join(it['keys'][:2])}\n")
    else:
        w("  intents:  none open\n")
    dd = doc["dedupe"]
    window = f" ({dd['oldest']} .. {dd['newest']})" if dd["size"] else ""
    w(f"  dedupe:   {dd['size']} id(s){window}\n")
    if doc["sinks"]:
        w("  last batch per service:\n")
        for name, s in doc["sinks"].items():
            w(f"    {name}: {s['last_key']} at {s['written_at']} "
              f"({_duration(s['age_seconds'])} ago); {s['objects']} object(s), "
              f"{s['events']} event(s) so far\n")
    else:
        w("  last batch per service: none written yet\n")
    if doc["totals"]:
        w("  totals:   " + ", ".join(f"{k}={v}" for k, v in doc["totals"].items()) + "\n")
    _render_owner(doc, w)
    w(f"  updated:  {doc['updated_at']}\n")


def _render_cursor(doc: dict[str, Any], w: Callable[[str], Any]) -> None:
    if doc["cursor"]:
        w(f"  cursor:   {doc['cursor']} ({doc['cursor_time']})\n")
        w(f"  lag:      {_duration(doc['lag_seconds'])} behind now "
          f"({doc['lag_seconds']}s)\n")
        if doc["settled"]:
            w(f"  settled:  {doc['settled']} ({doc['settled_time']}; late events "
              "are looked for above it)\n")
        left = doc["retention_days_left"]
        if left is not None and left < 10:
            w(f"  WARNING:  {left:.1f} days left before LeadConduit's 90-day retention "
              "deletes events the daemon has not fetched yet\n")
    else:
        w("  cursor:   none yet (starts at source.start on the next run)\n")


def _render_owner(doc: dict[str, Any], w: Callable[[str], Any]) -> None:
    lease = doc["lease"]
    owner = doc["owner"]
    if owner and lease["held"]:
        w(f"  owner:    host {owner['host']} pid {owner['pid']} (lease held, refreshed "
          f"{_duration(lease['age_seconds'])} ago)\n")
    elif owner:
        w(f"  owner:    host {owner['host']} pid {owner['pid']} (lease expired: "
          f"not refreshed for {_duration(lease['age_seconds'])}; the daemon is not running)\n")
    else:
        w("  owner:    none (stopped cleanly)\n")


async def print_status(loaded: LoadedConfig, *, as_json: bool, out: TextIO | None = None) -> int:
    """Read the checkpoint and print it; exit code 0 (CheckpointError propagates: exit 1)."""
    from streamer.checkpoint.factory import build_store

    out = out or sys.stdout
    store = build_store(loaded.settings)
    try:
        checkpoint = await store.load()
    finally:
        await store.aclose()
    doc = status_document(loaded, checkpoint, store.label, daemon=await probe_daemon(loaded))
    if as_json:
        out.write(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode() + "\n")
    else:
        render_text(doc, out)
    return 0


async def probe_daemon(loaded: LoadedConfig) -> dict[str, Any] | None:
    """The run state from the local daemon's ``/readyz``; None without metrics.port or answer."""
    metrics = loaded.settings.metrics
    if metrics.port is None:
        return None
    import httpx

    host = metrics.host if metrics.host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    url = f"http://{host}:{metrics.port}/readyz"
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as client:
            body = (await client.get(url)).json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(body, dict) or "state" not in body:
        return None
    keys = ("state", "waiting_for", "ready", "stuck", "seconds_in_state")
    return {"url": url, **{k: body.get(k) for k in keys}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer status``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    """Print the status document (text or ``--json``)."""
    import anyio

    from streamer.cli.common import load

    loaded = load(args)
    return anyio.run(lambda: print_status(loaded, as_json=args.json))
