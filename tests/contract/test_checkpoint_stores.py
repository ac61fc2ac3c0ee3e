"""The CheckpointStore contract: file, S3 and Azure stores round-trip; the bucket stores CAS.

S3 and Azure stores refuse a save based on a stale read (ETag compare-and-swap), so two
daemons pointed at one checkpoint cannot silently overwrite each other.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from servers import (
    AzuriteServer,
    S3Server,
    aws_credential,
    azure_credential,
    make_bucket,
    put_object,
    read_objects,
)

from streamer.checkpoint.azure import AzureCheckpointStore
from streamer.checkpoint.base import CheckpointStore
from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.s3 import S3CheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.errors import CheckpointError
from streamer.ids import synthetic_id

pytestmark = pytest.mark.anyio

KEY = "state/streamer/checkpoint.json"
ALL = ["file", pytest.param("s3", marks=pytest.mark.servers)]
ALL.append(pytest.param("azure", marks=pytest.mark.servers))
SHARED = [
    pytest.param("s3", marks=pytest.mark.servers),
    pytest.param("azure", marks=pytest.mark.servers),
]
Server = S3Server | AzuriteServer


class Stores:
    """Makes stores that all point at one checkpoint, and plants raw bytes in it."""

    def __init__(self, kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "state" / "checkpoint.json"
        self.server: Server | None = None
        self.bucket = ""
        if kind != "file":
            fixture = "s3_server" if kind == "s3" else "azurite_server"
            self.server = request.getfixturevalue(fixture)
            self.bucket = make_bucket(self.server)

    def new(self, bucket: str | None = None) -> CheckpointStore:
        """A fresh store instance on the shared checkpoint."""
        bucket = bucket or self.bucket
        if isinstance(self.server, S3Server):
            return S3CheckpointStore(aws_credential(self.server), bucket, KEY, timeout=10)
        if isinstance(self.server, AzuriteServer):
            return AzureCheckpointStore(azure_credential(self.server), bucket, KEY, timeout=10)
        return FileCheckpointStore(self.path)

    def plant(self, data: bytes) -> None:
        """Overwrite the checkpoint with raw bytes behind every store's back."""
        if self.server is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(data)
        else:
            put_object(self.server, self.bucket, KEY, data)

    def raw(self) -> bytes:
        """The checkpoint's current bytes."""
        if self.server is None:
            return self.path.read_bytes()
        return read_objects(self.server, self.bucket, KEY)[KEY]


def checkpoint(offset: float = 0.0) -> Checkpoint:
    """A checkpoint with a cursor, some dedupe ids and totals."""
    now = time.time() - 600 + offset
    ids = [synthetic_id(now - i) for i in range(3)]
    made = Checkpoint(cursor=ids[0], totals={"events": 3 + int(offset)})
    made.seen.update(ids)
    return made


@pytest.fixture(params=ALL)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    """Store makers for every kind."""
    return Stores(request.param, request, tmp_path)


@pytest.fixture(params=SHARED)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    """Store makers for the bucket-backed kinds."""
    return Stores(request.param, request, tmp_path)


async def closing(*stores: CheckpointStore) -> None:
    """Close stores, bounded."""
    with anyio.fail_after(10):
        for store in stores:
            await store.aclose()


async def test_round_trip(stores: Stores) -> None:
    """A first load is None; what one store saves, another loads back; saves repeat."""
    first, second = stores.new(), stores.new()
    try:
        with anyio.fail_after(20):
            assert await first.load() is None
            saved = checkpoint()
            await first.save(saved)
            saved.totals["events"] = 99
            await first.save(saved)
            loaded = await second.load()
        assert loaded is not None
        assert loaded.cursor == saved.cursor
        assert set(loaded.seen) == set(saved.seen)
        assert len(set(loaded.seen)) == 3
        assert loaded.totals == {"events": 99}
    finally:
        await closing(first, second)


async def test_overlapping_saves_of_one_store_both_succeed(stores: Stores) -> None:
    """Two saves started together (heartbeat and writer) both land, in order, no temp left."""
    store = stores.new()
    try:
        with anyio.fail_after(30):
            await store.load()
            big = checkpoint()
            big.seen.update(synthetic_id(time.time() - 900 + i / 1000) for i in range(50_000))
            for round_ in range(5):
                big.totals["events"] = round_
                async with anyio.create_task_group() as tg:
                    tg.start_soon(store.save, big)
                    tg.start_soon(store.save, big)
            loaded = await stores.new().load()
        assert loaded is not None
        assert loaded.totals == {"events": 4}
        if stores.kind == "file":
            assert sorted(p.name for p in stores.path.parent.iterdir()) == ["checkpoint.json"]
    finally:
        await closing(store)


async def test_stale_save_is_refused(shared: Stores) -> None:
    """Two daemons on one checkpoint: the save based on a stale read raises CheckpointError."""
    a, b = shared.new(), shared.new()
    try:
        with anyio.fail_after(30):
            assert await a.load() is None
            assert await b.load() is None
            await a.save(checkpoint(1))
            with pytest.raises(CheckpointError, match="was changed by another daemon") as info:
                await b.save(checkpoint(2))
            assert KEY in str(info.value)
            assert (await b.load()) is not None
            await b.save(checkpoint(3))
            with pytest.raises(CheckpointError, match="was changed by another daemon"):
                await a.save(checkpoint(4))
            final = await shared.new().load()
        assert final is not None
        assert final.totals == {"events": 6}
    finally:
        await closing(a, b)


async def test_save_without_load_does_not_clobber(shared: Stores) -> None:
    """A store that never read the checkpoint cannot overwrite an existing one."""
    shared.plant(checkpoint(1).to_bytes())
    store = shared.new()
    try:
        with anyio.fail_after(20), pytest.raises(CheckpointError, match="another daemon"):
            await store.save(checkpoint(2))
    finally:
        await closing(store)
    assert b'"events": 4' in shared.raw()


async def test_lost_answer_of_own_save_is_adopted(shared: Stores) -> None:
    """A save whose write landed but whose answer was lost does not look like a conflict."""
    store = shared.new()
    try:
        with anyio.fail_after(20):
            await store.load()
            await store.save(checkpoint(1))
            landed = checkpoint(2).to_bytes()
            shared.plant(landed)  # our write landed, but we never saw the new ETag
            store._lost = landed  # type: ignore[attr-defined]
            await store.save(checkpoint(5))
            loaded = await shared.new().load()
        assert loaded is not None
        assert loaded.totals == {"events": 8}
    finally:
        await closing(store)


@pytest.mark.parametrize(
    "garbage", [b"{not json", b'{"version": 99}', b'{"version": 1, "cursor": 7}']
)
async def test_corrupt_checkpoint_raises(stores: Stores, garbage: bytes) -> None:
    """A corrupt document is a CheckpointError on load, never a silent fresh start."""
    stores.plant(garbage)
    store = stores.new()
    try:
        with anyio.fail_after(20), pytest.raises(CheckpointError, match="corrupt"):
            await store.load()
    finally:
        await closing(store)


async def test_missing_bucket_is_a_checkpoint_error(shared: Stores) -> None:
    """A checkpoint bucket that does not exist is a one-line CheckpointError naming it."""
    store = shared.new("no-such-checkpoint-bucket")
    try:
        with anyio.fail_after(20), pytest.raises(CheckpointError) as info:
            await store.load()
    finally:
        await closing(store)
    assert "no-such-checkpoint-bucket" in str(info.value)
    assert "\n" not in str(info.value)
