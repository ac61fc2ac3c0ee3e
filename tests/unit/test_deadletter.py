"""Dead letters: an event whose own route cannot be written is kept, not a daemon stop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import stamina

from streamer.checkpoint.memory import MemoryCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.errors import FatalSinkError, RetriableSinkError
from streamer.observability.metrics import Metrics
from streamer.pipeline.batcher import Batcher
from streamer.pipeline.deadletter import DeadLetters, Failure, dead_letter_reason, dead_letters
from streamer.pipeline.layout import compressor, is_data_key, iter_events, partition
from streamer.pipeline.routing import EventRouter
from streamer.pipeline.writer import Writer
from streamer.records import PutOutcome
from streamer.settings.loader import LoadedConfig, parse_settings
from streamer.settings.services import ResolvedService
from streamer.sinks.base import Sink
from streamer.sinks.local import LocalSink
from streamer.sinks.routed import RoutedSinkFactory

pytestmark = pytest.mark.anyio
T0 = 0x6560_0000


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries without waiting, and a bounded number of them."""
    with stamina.set_testing(True, attempts=3):
        yield


def sid(n: int) -> str:
    """The n-th event id."""
    return f"{T0 + n:08x}{n:016x}"


def event(n: int, aws: dict[str, Any] | None = None, **fh: Any) -> dict[str, Any]:
    """An event whose own firehose routes to aws with ``aws`` as the service's fields."""
    services = {"aws": {"enabled": True, **(aws or {})}}
    firehose = {"enabled": True, "prefix": "own", "services": services, **fh}
    return {"id": sid(n), "type": "source", "firehose": firehose}


def config(tmp: Path, *, local: bool = True) -> LoadedConfig:
    """route: event, a known aws credential, and the static local service (dead letters)."""
    services = {"local": {"enabled": local, "path": str(tmp / "static"), "fsync": False}}
    raw = {
        "source": {"api_key": "k3y"},
        "credentials": {"known": {"service": "aws"}},
        "firehose": {"route": "event", "prefix": "lc", "services": services},
    }
    return parse_settings(raw, base=Path(), env={})


@contextlib.asynccontextmanager
async def pipeline(tmp: Path, **kw: Any) -> AsyncIterator[tuple[Batcher, Writer, Metrics]]:
    """Batcher and writer wired as the daemon wires them; a bucket is a directory here.

    The bucket ``bad`` is a path under a regular file, so opening it fails for good
    (a FatalSinkError, as a missing bucket or a 403 would be).
    """
    loaded = config(tmp, **kw)
    (tmp / "buckets").mkdir()
    (tmp / "buckets" / "bad").write_text("a file, not a directory")
    static: dict[str, Sink] = {
        s.name: LocalSink(s.bucket, name=s.name, fsync=False) for s in loaded.services
    }
    for sink in static.values():
        await sink.open()

    def build(service: ResolvedService, name: str) -> Sink:
        return LocalSink(tmp / "buckets" / service.bucket / "root", name=name, fsync=False)

    metrics = Metrics()
    router = EventRouter(loaded, static)
    async with contextlib.AsyncExitStack() as stack:
        dead = dead_letters(loaded, static, metrics)
        factory = RoutedSinkFactory(router, dead, stack, build=build)
        writer = Writer(
            static, MemoryCheckpointStore(), Checkpoint(), keep_seconds=60, sink_factory=factory
        )
        yield Batcher(router=router), writer, metrics


def lines(root: Path) -> list[dict[str, Any]]:
    """Every dead-letter line under ``root``."""
    out: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.jsonl.gz")):
        key = path.relative_to(root).as_posix()
        if "_dead_letter/" in key:
            out.extend(iter_events(path.read_bytes(), key))
    return out


def archived(root: Path) -> list[str]:
    """Ids in the data objects under ``root`` (dead letters are not data)."""
    return [
        e["id"]
        for p in sorted(root.rglob("*.jsonl.gz"))
        if is_data_key(p.relative_to(root).as_posix())
        for e in iter_events(p.read_bytes(), p.name)
    ]


async def write(batcher: Batcher, writer: Writer, events: list[dict[str, Any]]) -> None:
    """Add ``events``, seal, write: the daemon's path for one batch."""
    for e in events:
        batcher.watermark = e["id"]
        batcher.add(e["id"], e)
    batch = batcher.seal()
    assert batch is not None
    await writer.write(batch)


async def test_one_unwritable_route_is_dead_lettered_the_rest_written(tmp_path: Path) -> None:
    """A bad bucket's event goes to the dead-letter prefix with its reason; others land."""
    async with pipeline(tmp_path) as (batcher, writer, metrics):
        good = [event(n, {"bucket": "good", "credential_id": "known"}) for n in (1, 3)]
        bad = event(2, {"bucket": "bad", "credential_id": "known"})
        await write(batcher, writer, [good[0], bad, good[1]])
    assert sorted(archived(tmp_path / "buckets" / "good")) == [sid(1), sid(3)]
    (line,) = lines(tmp_path / "static")
    assert line["event"] == bad
    assert line["reason"] == "rejected"
    assert "directory is not writable" in line["detail"]
    assert line["target"] == {
        "sink": "aws:bad:known", "service": "aws", "bucket": "bad", "credential_id": "known",
    }
    (path,) = (tmp_path / "static").rglob("*.jsonl.gz")
    assert path.relative_to(tmp_path / "static").as_posix() == (
        f"lc/_dead_letter/aws/bad/{partition(sid(2))}/{sid(2)}_{sid(2)}.jsonl.gz"
    )
    assert writer.checkpoint.cursor == sid(3)
    assert writer.checkpoint.intents == []
    value = metrics.registry.get_sample_value(
        "streamer_dead_letters_total", {"service": "aws:bad:known", "reason": "rejected"}
    )
    assert value == 1.0


async def test_unknown_credential_is_dead_lettered(tmp_path: Path) -> None:
    """A credential_id the daemon does not have (and no static aws to lend one): dead letter."""
    async with pipeline(tmp_path) as (batcher, writer, _metrics):
        await write(batcher, writer, [event(1, {"bucket": "good", "credential_id": "nope"})])
    (line,) = lines(tmp_path / "static")
    assert line["reason"] == "unknown_credential"
    assert "credential_id 'nope'" in line["detail"]
    assert line["event"]["id"] == sid(1)
    assert archived(tmp_path / "buckets") == []
    assert writer.checkpoint.cursor == sid(1)


async def test_replayed_batch_dead_letters_once(tmp_path: Path) -> None:
    """Writing the same batch again (a restart) finds the dead letter and adds nothing."""
    events = [event(1, {"bucket": "bad", "credential_id": "known"}), event(2, {"bucket": "bad"})]
    async with pipeline(tmp_path) as (batcher, writer, _metrics):
        await write(batcher, writer, events)
        first = {p: p.read_bytes() for p in (tmp_path / "static").rglob("*.gz")}
        batcher.watermark = None
        await write(batcher, writer, events)
    assert {p: p.read_bytes() for p in (tmp_path / "static").rglob("*.gz")} == first
    assert [line["event"]["id"] for line in lines(tmp_path / "static")] == [sid(1), sid(2)]


async def test_recovery_counts_a_dead_letter_as_delivered_and_completes_copies(
    tmp_path: Path,
) -> None:
    """After a crash, the dead letter answers for the target, missing copies are made."""
    other = LocalSink(tmp_path / "other", name="other", fsync=False)
    dead = DeadLetters([(LocalSink(tmp_path / "one", fsync=False), "p"), (other, "q")])
    target = {"sink": "aws:b:c", "service": "aws", "bucket": "b", "credential_id": "c"}
    key = f"own/{partition(sid(1))}/{sid(1)}_{sid(2)}.jsonl.gz"
    comp = compressor("gzip")
    blob = comp.compress(b"".join(orjson.dumps(event(n)) + b"\n" for n in (1, 2))) + comp.flush()
    assert not await dead.exists(target, key)
    outcome = await dead.write(target, key, blob, Failure("forbidden", "HTTP 403", 0.0))
    assert outcome is PutOutcome.DEAD_LETTERED
    await other.delete(dead.key("q", target, key))  # the crash hit between the two copies
    assert await dead.exists(target, key)
    assert await other.exists(dead.key("q", target, key))
    rebuilt = await dead.original(target, key)
    assert [e["id"] for e in iter_events(rebuilt, key)] == [sid(1), sid(2)]


async def test_transient_errors_are_retried_not_dead_lettered(tmp_path: Path) -> None:
    """A RetriableSinkError from the target is raised (the writer retries it): no dead letter."""
    async with pipeline(tmp_path) as (batcher, writer, _metrics):
        (tmp_path / "buckets" / "flaky" / "root").mkdir(parents=True)
        (tmp_path / "buckets" / "flaky" / "root" / "own").write_text("blocks the key's folder")
        with pytest.raises(ExceptionGroup) as info:
            await write(batcher, writer, [event(1, {"bucket": "flaky", "credential_id": "known"})])
        assert info.group_contains(RetriableSinkError, match="Not a directory")
        assert writer.checkpoint.cursor is None
        assert len(writer.checkpoint.intents) == 1
    assert lines(tmp_path / "static") == []


async def test_conflicting_object_still_stops_the_daemon(tmp_path: Path) -> None:
    """Another writer's object under our name is never hidden in the dead letters."""
    async with pipeline(tmp_path) as (batcher, writer, _metrics):
        key = f"own/{partition(sid(1))}/{sid(1)}_{sid(1)}.jsonl.gz"
        (tmp_path / "buckets" / "good" / "root" / key).parent.mkdir(parents=True)
        (tmp_path / "buckets" / "good" / "root" / key).write_bytes(b"someone else's")
        with pytest.raises(ExceptionGroup) as info:
            await write(batcher, writer, [event(1, {"bucket": "good", "credential_id": "known"})])
        assert info.group_contains(FatalSinkError, match="different content")
        assert writer.checkpoint.cursor is None
    assert lines(tmp_path / "static") == []


async def test_without_a_static_service_an_unwritable_route_stays_fatal(tmp_path: Path) -> None:
    """Nowhere to dead-letter to: the old stop (check warns about this config)."""
    loaded = config(tmp_path, local=False)
    warning = "firehose.route: event with no static service"
    assert any(w.startswith(warning) for w in loaded.warnings)
    async with pipeline(tmp_path, local=False) as (batcher, writer, _metrics):
        with pytest.raises(ExceptionGroup) as info:
            await write(batcher, writer, [event(1, {"bucket": "bad", "credential_id": "known"})])
        assert info.group_contains(FatalSinkError, match="not writable")
        assert writer.checkpoint.cursor is None


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("no_bucket", "no_such_bucket"),
        ("not_found", "no_such_bucket"),
        ("http_404", "no_such_bucket"),
        ("bad_credentials", "forbidden"),
        ("no_credentials", "forbidden"),
        ("http_403", "forbidden"),
        ("wrong_region", "rejected"),
        ("conflict", None),
        ("content_conflict", None),
    ],
)
def test_reason_of_a_fatal_sink_error(kind: str, reason: str | None) -> None:
    """Missing bucket, refused access and other refusals are told apart; conflicts are not."""
    assert dead_letter_reason(FatalSinkError("sink x: failed", kind=kind)) == reason


def test_dead_letters_are_not_archive_data() -> None:
    """verify and report skip dead letters: their lines are not events."""
    assert is_data_key("lc/dt=2023-11-24/hour=05/a_b.jsonl.gz")
    assert not is_data_key("lc/_dead_letter/aws/b/dt=2023-11-24/hour=05/a_b.jsonl.gz")
    assert not is_data_key("_dead_letter/aws/b/dt=2023-11-24/hour=05/a_b.jsonl.gz")
