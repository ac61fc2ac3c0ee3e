"""The batcher: seal triggers, hour partitions, routing groups, names and accounting."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
import pytest
from clock import ManualClock

from streamer.pipeline.batcher import Batcher, Target, static_router
from streamer.pipeline.layout import batch_key, iter_events, per_event_key

T = dt.datetime(2026, 11, 23, 14, 0, 0, tzinfo=dt.UTC)
S3: Target = ("aws", "lc/events")
AZ: Target = ("azure", "az")


def eid(offset_s: int, tail: int = 0) -> str:
    """An id minted ``offset_s`` seconds after 14:00 UTC with a tail."""
    return f"{int(T.timestamp()) + offset_s:08x}{tail:016x}"


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    """An event with ``event_id``."""
    return {"id": event_id, "type": "source", **fields}


def make(**kwargs: Any) -> Batcher:
    """A batcher to S3 with small, overridable limits."""
    kwargs.setdefault("router", static_router([S3]))
    kwargs.setdefault("compression", "none")
    return Batcher(**kwargs)


def test_seal_with_nothing_returns_none() -> None:
    """An untouched batcher seals to None."""
    assert make().seal() is None


def test_seal_after_seal_returns_none() -> None:
    """Sealing twice without new input yields None the second time."""
    b = make()
    b.add(eid(1), ev(eid(1)))
    assert b.seal() is not None
    assert b.seal() is None


def test_watermark_only_change_seals_empty_batch() -> None:
    """A moved watermark alone seals a batch with no objects so the cursor can advance."""
    b = make()
    b.watermark = eid(9)
    batch = b.seal()
    assert batch is not None
    assert (batch.objects, batch.covered, batch.watermark) == ((), (), eid(9))
    assert b.seal() is None


def test_batch_contents_and_name() -> None:
    """A sealed batch holds the events as JSONL, named from its min and max ids."""
    b = make(compression="gzip")
    ids = [eid(5, 2), eid(5, 1), eid(7), eid(3)]
    for event_id in ids:
        b.add(event_id, ev(event_id))
    b.end_page()
    b.watermark = eid(7)
    batch = b.seal()
    assert batch is not None
    (obj,) = batch.objects
    first, last = min(ids), max(ids)
    key = batch_key("lc/events", first, last, "gzip")
    assert obj.targets == ((S3[0], key),)
    assert (obj.first_id, obj.last_id) == (first, last)
    assert obj.ids == tuple(ids)
    assert obj.meta.events == 4
    assert obj.meta.sha256 == hashlib.sha256(obj.data).hexdigest()
    assert obj.meta.content_type == "application/gzip"
    assert [e["id"] for e in iter_events(obj.data, key)] == ids
    assert batch.watermark == eid(7)
    assert (batch.kept, batch.events, batch.seq) == (4, 4, 1)
    assert batch.nbytes == len(obj.data)


def test_seq_increments_per_batch() -> None:
    """Each sealed batch gets the next sequence number."""
    b = make()
    seqs = []
    for n in range(3):
        b.add(eid(n), ev(eid(n)))
        batch = b.seal()
        assert batch is not None
        seqs.append(batch.seq)
    assert seqs == [1, 2, 3]


def test_dropped_events_are_covered_but_not_written() -> None:
    """Ids dropped by a stage count in covered and dropped_by, not in the objects."""
    b = make()
    b.add(eid(1), ev(eid(1)))
    b.add(eid(2), None, dropped_by="filter[0]")
    b.add(eid(3), None, dropped_by="filter[0]")
    b.add(eid(4), None, dropped_by="transform[1]")
    assert (b.open_events, b.open_covered) == (1, 4)
    batch = b.seal()
    assert batch is not None
    assert batch.covered == (eid(1), eid(2), eid(3), eid(4))
    assert batch.dropped_by == {"filter[0]": 2, "transform[1]": 1}
    assert batch.kept == 1
    assert batch.objects[0].ids == (eid(1),)


def test_all_dropped_batch_has_no_objects() -> None:
    """A batch whose events were all dropped still accounts for their ids."""
    b = make()
    b.add(eid(1), None, dropped_by="f")
    batch = b.seal()
    assert batch is not None
    assert batch.objects == ()
    assert batch.covered == (eid(1),)


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_full_on_max_events(limit: int) -> None:
    """full() turns true exactly when max_events kept events are open."""
    b = make(max_events=limit)
    for n in range(limit):
        assert not b.full()
        b.add(eid(n), ev(eid(n)))
    assert b.full()


def test_dropped_events_do_not_fill() -> None:
    """Dropped ids do not count towards max_events."""
    b = make(max_events=2)
    for n in range(5):
        b.add(eid(n), None, dropped_by="f")
    assert not b.full()


def test_full_on_max_bytes() -> None:
    """full() turns true when the encoded lines reach max_bytes."""
    b = make(max_bytes=1024, max_events=10_000)
    line = len(orjson.dumps(ev(eid(0), pad="x" * 100))) + 1  # every line has the same length
    n = 0
    while not b.full():
        b.add(eid(n), ev(eid(n), pad="x" * 100))
        n += 1
        assert n < 20
    assert n == -(-1024 // line)


def test_max_age_with_injected_clock() -> None:
    """due() turns true max_age after the first add, and age_left counts down."""
    clock = ManualClock()
    b = make(max_age=60.0, clock=clock)
    assert not b.due()
    assert b.age_left() == 60.0
    clock.now += 100  # time before the batch opens does not count
    b.add(eid(1), ev(eid(1)))
    clock.now += 59.5
    assert not b.due()
    assert b.age_left() == pytest.approx(0.5)
    clock.now += 0.5
    assert b.due()
    assert b.age_left() == 0.0
    b.seal()
    assert not b.due()
    assert b.age_left() == 60.0


def test_crosses_hour() -> None:
    """A main-stream id in another hour than the open batch crosses; same hour does not."""
    b = make()
    assert not b.crosses_hour(eid(0))  # nothing open
    b.add(eid(10), ev(eid(10)))
    assert not b.crosses_hour(eid(3599))
    assert b.crosses_hour(eid(3600))
    assert b.crosses_hour(eid(-1))


def test_crosses_hour_ignores_dropped_only_batch() -> None:
    """A batch holding only dropped ids never forces an hour split."""
    b = make()
    b.add(eid(10), None, dropped_by="f")
    assert not b.crosses_hour(eid(7200))


def test_partition_comes_from_first_id() -> None:
    """A batch whose ids span hours is named in the first id's partition."""
    b = make()
    b.add(eid(3599), ev(eid(3599)))
    b.add(eid(3601), ev(eid(3601)))
    batch = b.seal()
    assert batch is not None
    assert "/hour=14/" in batch.objects[0].targets[0][1]


def test_per_event_layout_one_object_per_event() -> None:
    """layout per_event yields one ``.json`` object per event, keyed by lead and id."""
    b = make(layout="per_event", router=static_router([S3, AZ]))
    events = [ev(eid(n), vars={"lead": {"id": f"L{n}"}}) for n in range(3)]
    for e in events:
        b.add(e["id"], e)
    b.add(eid(9), None, dropped_by="f")
    batch = b.seal()
    assert batch is not None
    assert len(batch.objects) == 3
    for obj, e in zip(batch.objects, events, strict=True):
        assert obj.targets == (
            ("aws", per_event_key("lc/events", e)),
            ("azure", per_event_key("az", e)),
        )
        assert obj.targets[0][1] == f"lc/events/{e['vars']['lead']['id']}/{e['id']}.json"
        assert iter_events(obj.data, obj.targets[0][1]) == [e]
        assert obj.meta.content_type == "application/json"
        assert obj.ids == (e["id"],)
    assert eid(9) in batch.covered


def test_groups_by_router_targets() -> None:
    """Events routed to different target sets land in different objects."""

    def router(event: dict[str, Any]) -> tuple[Target, ...]:
        return {"both": (S3, AZ), "s3": (S3,)}[event["to"]]

    b = make(router=router)
    b.add(eid(1), ev(eid(1), to="both"))
    b.add(eid(2), ev(eid(2), to="s3"))
    b.add(eid(3), ev(eid(3), to="both"))
    batch = b.seal()
    assert batch is not None
    by_targets = {tuple(s for s, _ in o.targets): o for o in batch.objects}
    assert set(by_targets) == {("aws", "azure"), ("aws",)}
    both = by_targets[("aws", "azure")]
    assert both.ids == (eid(1), eid(3))
    assert both.targets[1] == ("azure", batch_key("az", eid(1), eid(3), "none"))
    assert by_targets[("aws",)].ids == (eid(2),)
    assert batch.covered == (eid(1), eid(2), eid(3))


def test_event_routed_nowhere_makes_no_object() -> None:
    """An event whose router returns no targets is covered but produces no object."""
    b = make(router=lambda e: () if e.get("off") else (S3,))
    b.add(eid(1), ev(eid(1), off=True))
    b.add(eid(2), ev(eid(2)))
    batch = b.seal()
    assert batch is not None
    assert batch.covered == (eid(1), eid(2))
    assert [o.targets for o in batch.objects] == [
        (("aws", batch_key("lc/events", eid(2), eid(2), "none")),)
    ]
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_same_input_same_bytes(compression: str) -> None:
    """Two batchers fed the same pages produce identical objects (replays match)."""
    out = []
    for _ in range(2):
        b = make(compression=compression)
        for page in range(3):
            for n in range(5):
                event_id = eid(page * 10 + n)
                b.add(event_id, ev(event_id, page=page))
            b.end_page()
        batch = b.seal()
        assert batch is not None
        out.append(batch.objects[0])
    assert out[0].data == out[1].data
    assert out[0].targets == out[1].targets


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_pages_compressed_incrementally_round_trip(compression: str) -> None:
    """Lines compressed page by page decode to every event in order."""
    b = make(compression=compression)
    ids = [eid(n) for n in range(40)]
    for n, event_id in enumerate(ids):
        b.add(event_id, ev(event_id))
        if n % 7 == 6:
            b.end_page()
    batch = b.seal()
    assert batch is not None
    obj = batch.objects[0]
    assert [e["id"] for e in iter_events(obj.data, obj.targets[0][1])] == ids


def test_state_resets_after_seal() -> None:
    """After a seal the next batch starts empty and is named from its own ids only."""
    b = make()
    b.add(eid(1), ev(eid(1)))
    b.seal()
    b.add(eid(50), ev(eid(50)))
    batch = b.seal()
    assert batch is not None
    assert batch.covered == (eid(50),)
    assert (batch.objects[0].first_id, batch.objects[0].last_id) == (eid(50), eid(50))


def test_settled_only_change_seals_empty_batch_carrying_it() -> None:
    """A moved settled watermark alone seals an empty batch so it can be committed."""
    b = make()
    b.watermark = eid(9)
    assert b.seal() is not None
    b.settled = eid(5)
    batch = b.seal()
    assert batch is not None
    assert (batch.objects, batch.watermark, batch.settled) == ((), eid(9), eid(5))
    assert b.seal() is None
