"""Dead letters: an event whose own route cannot be written goes to the static service.

With ``firehose.route: event`` every event names its own bucket and credential. One that
names a bucket that does not exist, a credential this daemon does not have, or a bucket
the credential may not write used to stop the daemon (a FatalSinkError), and the restart
fetched the same event again: a poison pill. Now the object meant for that target is
written instead, with the reason, to every statically configured service under
``<prefix>/_dead_letter/<service>/<bucket>/dt=YYYY-MM-DD/hour=HH/<first>_<last>.jsonl.gz``,
one line per event: ``{"reason", "detail", "target", "event"}``.

It happens inside the target's sink (:class:`streamer.sinks.routed.RoutedSink`), so
the writer's intent, retries and recovery are unchanged: a put that dead-letters returns
``DEAD_LETTERED`` only once the dead letter is durable in every static sink, and
``exists`` answers for the dead letter too (completing one a crash left half-written), so
a restart neither loses nor duplicates it. The dead letter's name is a function of the
target's key, so a replay lands on the same name. Transient errors (5xx, timeouts,
resets) are raised as before and retried; an object that exists with other content
still stops the daemon.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import structlog

from streamer.errors import FatalSinkError
from streamer.ids import is_id
from streamer.observability.retry import backoff
from streamer.pipeline.layout import (
    CONTENT_TYPE,
    DEAD_LETTER_DIR,
    SUFFIX,
    compressor,
    decompress,
    iter_events,
    join,
    partition,
)
from streamer.records import ObjectMeta, PutOutcome
from streamer.sinks.base import Sink

if TYPE_CHECKING:
    from streamer.observability.metrics import Metrics
    from streamer.settings.loader import LoadedConfig

log = structlog.get_logger("streamer.deadletter")

#: a target found unwritable is tried again after this long (the operator may fix it)
RETRY_TARGET_AFTER = 300.0
#: how many ids one ``sink.event_dead_lettered`` line lists
LOGGED_IDS = 20
#: FatalSinkError kinds (streamer.errors) by what they mean for a dead letter
_CONFLICT = frozenset({"conflict", "content_conflict"})
_MISSING = frozenset({"no_bucket", "not_found", "NoSuchBucket", "http_404"})
_REFUSED = frozenset({"bad_credentials", "no_credentials", "AccessDenied"})
#: a bucket name from an event becomes one safe path segment
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

OnDeadLetter = Callable[[str, str, int], None]
T = TypeVar("T")


def dead_letter_reason(exc: FatalSinkError) -> str | None:
    """Why a target cannot be written, or None when the error must still stop the daemon.

    Read from the error's ``kind`` (streamer.errors); the message is only a fallback for
    errors raised without one.
    """
    kind, text = exc.kind, str(exc)
    if kind in _CONFLICT or "different content" in text or "escapes the root" in text:
        return None  # another writer on the same name: investigate, never hide
    if kind in _MISSING or "does not exist" in text:
        return "no_such_bucket"
    if kind in _REFUSED or kind in ("http_401", "http_403"):
        return "forbidden"
    return "rejected"


def ids_of_key(key: str) -> tuple[str, str]:
    """First and last event id named by a data key (batched or per-event)."""
    name = key.rsplit("/", 1)[-1]
    if name.endswith(".json"):
        first = last = name[: -len(".json")]
    else:
        first, _, last = name.split(".", 1)[0].partition("_")
    if not (is_id(first) and is_id(last)):
        raise FatalSinkError(f"dead letter: {key!r} does not name its event ids")
    return first, last


@dataclass
class Failure:
    """Why a target is unwritable, and since when (to try it again later)."""

    reason: str
    detail: str
    since: float
    permanent: bool = False


class DeadLetters:
    """Writes dead letters to every static sink (each under its own prefix)."""

    def __init__(
        self,
        sinks: Sequence[tuple[Sink, str]],
        *,
        compression: str = "gzip",
        level: int | None = None,
        on_dead_letter: OnDeadLetter | None = None,
        max_backoff: float = 60.0,
    ) -> None:
        self.sinks = list(sinks)
        self._compression = compression
        self._level = level
        self._on_dead_letter = on_dead_letter
        self._max_backoff = max_backoff

    def key(self, prefix: str, target: dict[str, Any], target_key: str) -> str:
        """Where the dead letter of ``target_key`` (meant for ``target``) goes under ``prefix``.

        ``<prefix>/_dead_letter/<service>/<bucket>/dt=…/hour=…/<first>_<last>.jsonl.gz``:
        one object has at most one target per service, and no two objects share a first id.
        """
        first, last = ids_of_key(target_key)
        bucket = _SAFE.sub("_", str(target["bucket"])).strip(".") or "_"
        name = f"{first}_{last}{SUFFIX[self._compression]}"
        folder = f"{DEAD_LETTER_DIR}/{target['service']}/{bucket}"
        return join(prefix, f"{folder}/{partition(first)}/{name}")

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in backoff(max_backoff=self._max_backoff):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    def _encode(self, lines: list[bytes]) -> tuple[bytes, ObjectMeta]:
        body = b"".join(line + b"\n" for line in lines)
        comp = compressor(self._compression, self._level)
        data = comp.compress(body) + comp.flush()
        meta = ObjectMeta(
            CONTENT_TYPE[self._compression], None, hashlib.sha256(data).hexdigest(), len(lines)
        )
        return data, meta

    async def write(
        self, target: dict[str, Any], target_key: str, data: bytes, failure: Failure
    ) -> PutOutcome:
        """Dead-letter the object meant for ``target``; durable in every static sink."""
        events = iter_events(data, target_key)
        lines = [
            orjson.dumps(
                {"reason": failure.reason, "detail": failure.detail, "target": target, "event": e}
            )
            for e in events
        ]
        blob, meta = self._encode(lines)
        created = False
        for sink, prefix in self.sinks:
            key = self.key(prefix, target, target_key)
            if await self._retry(partial(sink.exists, key)):
                continue  # a replay: the first attempt wrote it (maybe with another detail)
            await self._retry(partial(sink.put, key, blob, meta))
            created = True
        if created:
            ids = [str(e.get("id")) for e in events]
            if self._on_dead_letter is not None:
                self._on_dead_letter(target["sink"], failure.reason, len(ids))
            where = {"id": ids[0]} if len(ids) == 1 else {"ids": ids[:LOGGED_IDS]}
            log.warning(
                "sink.event_dead_lettered",
                **where,
                events=len(ids),
                target=target["sink"],
                reason=failure.reason,
                detail=failure.detail,
                key=self.key(self.sinks[0][1], target, target_key),
            )
        return PutOutcome.DEAD_LETTERED

    async def exists(self, target: dict[str, Any], target_key: str) -> bool:
        """Whether it was dead-lettered; a copy a crash left missing somewhere is completed."""
        keys = [(sink, self.key(prefix, target, target_key)) for sink, prefix in self.sinks]
        present = [await self._retry(partial(s.exists, k)) for s, k in keys]
        if not any(present):
            return False
        source, source_key = keys[present.index(True)]
        data = await self._retry(partial(source.get, source_key))
        meta = ObjectMeta(
            CONTENT_TYPE[self._compression],
            None,
            hashlib.sha256(data).hexdigest(),
            decompress(data, source_key).count(b"\n"),
        )
        for (sink, key), there in zip(keys, present, strict=True):
            if not there:
                await self._retry(partial(sink.put, key, data, meta))
                log.info("sink.dead_letter_completed", sink=sink.name, key=key)
        return True

    async def original(self, target: dict[str, Any], target_key: str) -> bytes:
        """The target object's bytes rebuilt from its dead letter (recovery copies it)."""
        sink, prefix = self.sinks[0]
        key = self.key(prefix, target, target_key)
        blob = await self._retry(partial(sink.get, key))
        events = [line["event"] for line in iter_events(blob, key)]
        if target_key.endswith(".json"):
            return orjson.dumps(events[0])
        codec = next(c for c, suffix in SUFFIX.items() if target_key.endswith(suffix))
        comp = compressor(codec, self._level if codec == self._compression else None)
        return comp.compress(b"".join(orjson.dumps(e) + b"\n" for e in events)) + comp.flush()


def dead_letters(loaded: LoadedConfig, sinks: Mapping[str, Sink], metrics: Metrics) -> DeadLetters:
    """Dead letters into every static service of the run, counted in the metrics."""

    def count(target: str, reason: str, events: int) -> None:
        metrics.dead_letters.labels(target, reason).inc(events)

    b = loaded.settings.batch
    return DeadLetters(
        [(sinks[s.name], s.prefix) for s in loaded.services if s.name in sinks],
        compression=b.compression,
        level=b.compression_level,
        on_dead_letter=count,
    )
