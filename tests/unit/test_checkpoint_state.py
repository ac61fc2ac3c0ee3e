"""The checkpoint document and the file/memory stores: round trip, corruption, eviction."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.memory import MemoryCheckpointStore
from streamer.checkpoint.state import Checkpoint, Intent, IntentObject, decode_ids, encode_ids
from streamer.errors import CheckpointError
from streamer.pipeline.dedupe import DedupeWindow

pytestmark = pytest.mark.anyio

BASE = 0x6560_0000


def sid(seconds: int, tail: int = 0) -> str:
    """An id ``seconds`` after a fixed base second."""
    return f"{BASE + seconds:08x}{tail:016x}"


def sample() -> Checkpoint:
    """A checkpoint with every field populated."""
    intent = Intent(
        seq=7,
        objects=[
            IntentObject([("aws", "p/a.jsonl.gz"), ("azure", "q/a.jsonl.gz")], [sid(1)], "ab" * 32)
        ],
        covered=[sid(1), sid(2)],
        watermark=sid(2),
        settled=sid(1),
    )
    return Checkpoint(
        cursor=sid(10),
        settled=sid(4),
        seen=DedupeWindow([sid(9), sid(8)]),
        intents=[intent],
        sinks={"aws": {"objects": 3, "events": 40, "last_key": "p/x"}},
        totals={"events_written": 40, "batches": 3},
        owner={"host": "h", "pid": 1},
    )


def test_round_trip_keeps_every_field() -> None:
    """to_bytes/from_bytes preserves cursor, seen, intents, sinks, totals and owner."""
    cp = sample()
    back = Checkpoint.from_bytes(cp.to_bytes(), where="test")
    assert back.cursor == cp.cursor
    assert back.settled == cp.settled
    assert set(back.seen) == set(cp.seen)
    assert back.intents == cp.intents
    assert back.sinks == cp.sinks
    assert back.totals == cp.totals
    assert back.owner == cp.owner
    assert back.updated_at is not None


def test_serialised_form_is_sorted_and_readable() -> None:
    """The JSON has version 2, readable cursor and settled times, compact sorted seen ids."""
    doc = orjson.loads(sample().to_bytes())
    assert doc["version"] == 2
    assert doc["seen"]["count"] == 2
    assert decode_ids(doc["seen"]) == sorted([sid(8), sid(9)])
    assert doc["cursor_time"].startswith("2023-11-24T")
    assert doc["settled_time"].startswith("2023-11-24T")
    assert doc["intents"][0]["objects"][0]["targets"] == [
        ["aws", "p/a.jsonl.gz"],
        ["azure", "q/a.jsonl.gz"],
    ]


def test_empty_checkpoint_round_trip() -> None:
    """A fresh checkpoint (no cursor) round-trips too."""
    back = Checkpoint.from_bytes(Checkpoint().to_bytes(), where="t")
    assert (back.cursor, len(back.seen), back.intents) == (None, 0, [])


def good_doc(**changes: Any) -> bytes:
    """A valid serialised checkpoint with top-level fields replaced."""
    doc = orjson.loads(sample().to_bytes())
    doc.update(changes)
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{not json",
        b"[]",
        b'"x"',
        good_doc(version=3),
        good_doc(version=None),
        good_doc(cursor="nothex"),
        good_doc(cursor="6560000AABBCCDDEEFF00112"),
        good_doc(seen=["zz"]),
        good_doc(seen=5),
        good_doc(seen=None),
        good_doc(seen={"encoding": "oid12-transposed-zlib-base64", "count": 3, "data": "eJw="}),
        good_doc(seen={"encoding": "oid12-transposed-zlib-base64", "count": 1, "data": "!!"}),
        good_doc(seen={"encoding": "gzip", "data": ""}),
        good_doc(settled="nothex"),
        good_doc(intents=[{"seq": 1}]),
        good_doc(intents=[{"seq": "x", "objects": [], "covered": []}]),
        good_doc(intents=[{"seq": 1, "objects": [{"targets": [["a"]], "ids": [], "sha256": ""}],
                           "covered": []}]),
        good_doc(totals={"batches": "many"}),
        good_doc(sinks=[1, 2]),
    ],
)
def test_corrupt_documents_raise_checkpoint_error(data: bytes) -> None:
    """Anything that is not a valid checkpoint is a CheckpointError, never a silent reset."""
    with pytest.raises(CheckpointError, match=r"checkpoint here is corrupt .*restore it"):
        Checkpoint.from_bytes(data, where="here")


@pytest.mark.parametrize(
    ("keep", "left"),
    [(0, {10}), (1, {9, 10}), (5, {5, 6, 9, 10}), (100, {0, 5, 6, 9, 10})],
)
def test_evict_keeps_ids_within_keep_seconds(keep: float, left: set[int]) -> None:
    """evict forgets seen ids more than keep_seconds below the settled watermark."""
    ids = DedupeWindow(sid(s, 3) for s in (0, 5, 6, 9, 10))
    cp = Checkpoint(cursor=sid(20), settled=sid(10), seen=ids)
    cp.evict(keep)
    assert set(cp.seen) == {sid(s, 3) for s in left}


def test_evict_without_settled_keeps_two_windows_behind_the_cursor() -> None:
    """A version 1 checkpoint (no settled) keeps what its re-scan could still read."""
    cp = Checkpoint(cursor=sid(10), seen=DedupeWindow(sid(s, 3) for s in (0, 5, 6, 9, 10)))
    cp.evict(2)
    assert set(cp.seen) == {sid(s, 3) for s in (6, 9, 10)}


def test_version_1_document_is_read() -> None:
    """A document written before the settled watermark (seen as a plain list) still loads."""
    doc = {"version": 1, "cursor": sid(10), "seen": [sid(9), sid(8)], "intents": [
        {"seq": 1, "objects": [], "covered": [sid(9)], "watermark": sid(9)}]}  # fmt: skip
    cp = Checkpoint.from_bytes(orjson.dumps(doc), where="old")
    assert (cp.cursor, cp.settled) == (sid(10), None)
    assert sorted(cp.seen) == [sid(8), sid(9)]
    assert cp.intents[0].settled is None


def test_compact_seen_stays_small_at_1000_events_per_second() -> None:
    """260k ids (a 2 min window plus margin at 1,000/s) encode in well under 1 MB.

    Eight hosts whose counters also count other ObjectIds (random steps of 1..64).
    """
    rng = random.Random(1)
    hosts = [rng.randbytes(5).hex() for _ in range(8)]
    counters = [rng.randrange(1 << 24) for _ in hosts]
    ids: list[str] = []
    for second in range(260):
        for _n in range(1000):
            h = rng.randrange(8)
            counters[h] = (counters[h] + rng.randint(1, 64)) & 0xFFFFFF
            ids.append(f"{BASE + second:08x}{hosts[h]}{counters[h]:06x}")
    ids.sort()
    encoded = encode_ids(ids)
    assert decode_ids(encoded) == ids
    assert len(orjson.dumps(encoded)) < 1_000_000


async def test_file_store_round_trip(tmp_path: Path) -> None:
    """The file store saves atomically (no temp left) and loads what it saved."""
    store = FileCheckpointStore(tmp_path / "state" / "cp.json")
    assert await store.load() is None
    await store.save(sample())
    loaded = await store.load()
    assert loaded is not None
    assert loaded.cursor == sid(10)
    assert loaded.intents == sample().intents
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["cp.json"]
    await store.aclose()


async def test_file_store_replaces_previous(tmp_path: Path) -> None:
    """A second save replaces the first."""
    store = FileCheckpointStore(tmp_path / "cp.json")
    await store.save(sample())
    await store.save(Checkpoint(cursor=sid(99)))
    loaded = await store.load()
    assert loaded is not None
    assert (loaded.cursor, loaded.intents) == (sid(99), [])


async def test_file_store_corrupt_file_is_left_untouched(tmp_path: Path) -> None:
    """A corrupt file raises CheckpointError naming the path, and is not modified."""
    path = tmp_path / "cp.json"
    path.write_bytes(b'{"version": 1, "cursor": "garbage"}')
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    store = FileCheckpointStore(path)
    with pytest.raises(CheckpointError, match=str(path)):
        await store.load()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


async def test_file_store_unreadable_is_checkpoint_error(tmp_path: Path) -> None:
    """A path that cannot be read (a directory) is a CheckpointError."""
    (tmp_path / "cp.json").mkdir()
    with pytest.raises(CheckpointError, match="cannot read"):
        await FileCheckpointStore(tmp_path / "cp.json").load()


async def test_file_store_unwritable_is_checkpoint_error(tmp_path: Path) -> None:
    """A parent that is a file makes save fail with a CheckpointError."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(CheckpointError, match="cannot write"):
        await FileCheckpointStore(tmp_path / "file" / "cp.json").save(sample())


def test_check_writable(tmp_path: Path) -> None:
    """check_writable creates the directory, leaves no probe, and fails on a bad parent."""
    store = FileCheckpointStore(tmp_path / "new" / "cp.json")
    store.check_writable()
    assert list((tmp_path / "new").iterdir()) == []
    (tmp_path / "blocker").write_text("x", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not writable"):
        FileCheckpointStore(tmp_path / "blocker" / "cp.json").check_writable()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions")
def test_check_writable_read_only_dir(tmp_path: Path) -> None:
    """A read-only state directory is reported before anything runs."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(CheckpointError, match="not writable"):
            FileCheckpointStore(ro / "cp.json").check_writable()
    finally:
        ro.chmod(0o700)


async def test_memory_store_round_trips_through_json() -> None:
    """The memory store serialises like the others and counts saves."""
    store = MemoryCheckpointStore()
    assert await store.load() is None
    cp = sample()
    await store.save(cp)
    cp.cursor = sid(500)  # later mutation does not leak into the stored copy
    loaded = await store.load()
    assert loaded is not None
    assert loaded.cursor == sid(10)
    assert store.saves == 1


@pytest.mark.parametrize(
    "intent",
    [
        {"seq": 1, "objects": [], "covered": [], "watermark": 123},
        {"seq": 1, "objects": [], "covered": ["junk"], "watermark": None},
        {"seq": 1, "objects": [{"targets": [["a", "k"]], "ids": ["junk"], "sha256": "x"}],
         "covered": [], "watermark": None},
    ],
)
def test_corrupt_intent_ids_raise_checkpoint_error(intent: dict[str, Any]) -> None:
    """An intent whose ids or watermark are not event ids is reported as corrupt."""
    with pytest.raises(CheckpointError):
        Checkpoint.from_bytes(good_doc(intents=[intent]), where="here")
