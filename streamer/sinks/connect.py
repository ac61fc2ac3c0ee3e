"""``streamer check --connect``: prove every enabled sink can be written, as LeadConduit does.

LeadConduit's ``POST /firehose`` check writes ``<prefix>/leadconduit_verification_<time>.txt``
to the bucket; we do the same, then delete the file, so a passing check means the
credential, the bucket and the ``PutObject``/``DeleteObject`` permissions all work. The
result is one line per service, naming it and (on failure) the exact reason, never a
secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import anyio

from streamer.errors import StreamerError
from streamer.records import ObjectMeta
from streamer.settings.sections import ServiceSettings
from streamer.settings.services import ResolvedService
from streamer.sinks.factory import build_sink

#: the per-service limit when the service has no ``timeout`` of its own (local)
DEFAULT_LIMIT = 30.0


def verification_key(prefix: str, now: dt.datetime | None = None) -> str:
    """``<prefix>/leadconduit_verification_<YYYYMMDDHHMMSSmmm>.txt`` (UTC)."""
    now = now or dt.datetime.now(tz=dt.UTC)
    stamp = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
    name = f"leadconduit_verification_{stamp}.txt"
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def _limit(service: ResolvedService, limit: float | None) -> float:
    if limit is not None:
        return limit
    if isinstance(service.options, ServiceSettings):
        return 3 * float(service.options.timeout)
    return DEFAULT_LIMIT


async def verify_service(
    service: ResolvedService, *, limit: float | None = None
) -> tuple[bool, str]:
    """Open the sink, write a small verification file and delete it.

    Returns ``(True, "ok: wrote and deleted <key>")`` or ``(False, <one-line reason>)``:
    bad credentials, no such bucket, access denied, unreachable endpoint, timeout.
    """
    limit = _limit(service, limit)
    try:
        sink = build_sink(service)
    except (StreamerError, ValueError) as exc:
        return False, str(exc)
    key = verification_key(service.prefix)
    data = f"streamer write test for {service.name} at {key}\n".encode()
    meta = ObjectMeta("text/plain", None, hashlib.sha256(data).hexdigest(), 0)
    written = False
    try:
        with anyio.fail_after(limit):
            await sink.open()
            await sink.put(key, data, meta)
            written = True
            await sink.delete(key)
    except TimeoutError:
        return False, (
            f"sink {sink.label}: no answer within {limit:g}s; check the endpoint and the network"
        )
    except StreamerError as exc:
        if written:
            return False, f"wrote {key} but could not delete it: {exc}"
        return False, str(exc)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await sink.aclose()
    return True, f"ok: wrote and deleted {key}"


async def verify_all(
    services: Sequence[ResolvedService], *, limit: float | None = None
) -> list[tuple[str, bool, str]]:
    """Verify every service concurrently; ``(name, ok, message)`` in the given order."""
    results: list[tuple[str, bool, str]] = [(s.name, False, "not run") for s in services]

    async def one(index: int, service: ResolvedService) -> None:
        ok, message = await verify_service(service, limit=limit)
        results[index] = (service.name, ok, message)

    async with anyio.create_task_group() as tg:
        for index, service in enumerate(services):
            tg.start_soon(one, index, service, name=f"verify {service.name}")
    return results
