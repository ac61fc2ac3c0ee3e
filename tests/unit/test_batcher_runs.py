"""``Batcher.take`` in bulk (a static router: ``pipeline/runs.py``) stops where the walk
one event at a time stops and seals the same batches: full by count or bytes, hour
boundaries inside a run, dropped events, kept events without raw bytes, late runs."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streamer.pipeline.batcher import Batcher, static_router
from streamer.records import Batch

HOUR0 = 0x6B0F0000 // 3600 * 3600


def _page(rng: random.Random, after: int) -> tuple[list[str], list[Any], list[str], list[Any]]:
    """Ids (increasing, sometimes across hours), outcomes, who dropped, raw lines."""
    ids, events, dropped_by, raws = [], [], [], []
    second = after
    for n in range(rng.randrange(1, 40)):
        second += rng.choice([0, 0, 1, 7, 400, 1900])
        event_id = f"{second:08x}{n:016x}"
        ids.append(event_id)
        kind = rng.random()
        if kind < 0.25:
            events.append(None)
            dropped_by.append(rng.choice(["a", "b"]))
            raws.append(None)
        else:
            event = {"id": event_id, "n": n}
            events.append(event)
            dropped_by.append("")
            raws.append(None if kind > 0.9 else b'{"id":"%s","x":%d}' % (event_id.encode(), n))
    return ids, events, dropped_by, raws


def _run(bulk: bool, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    targets = [("a", "p"), ("b", "q")]
    fixed = static_router(targets)
    router = fixed if bulk else (lambda _event: fixed(_event))
    batcher = Batcher(
        router=router,
        compression=rng.choice(["none", "gzip"]),
        max_events=rng.choice([1, 2, 5, 17, 1000]),
        max_bytes=rng.choice([60, 200, 1000, 10**6]),
    )
    sealed: list[Batch | None] = []
    second = HOUR0
    for _ in range(rng.randrange(1, 8)):
        ids, events, dropped_by, raws = _page(rng, second)
        late = rng.random() < 0.2
        done = rng.randrange(0, 3) if len(ids) > 3 else 0
        while done < len(ids):
            done = batcher.take(ids, events, dropped_by, raws, done, hours=not late)
            if batcher.full() or done < len(ids):
                sealed.append(batcher.seal())
        batcher.end_page()
        if not late:
            second = int(ids[-1][:8], 16)
    sealed.append(batcher.seal())
    return [
        (
            b.covered,
            b.kept,
            b.dropped_by,
            [(o.targets, o.data, o.first_id, o.last_id, o.ids) for o in b.objects],
        )
        if b is not None
        else None
        for b in sealed
    ]


@pytest.mark.parametrize("seed", range(300))
def test_bulk_runs_seal_the_batches_of_the_walk(seed: int) -> None:
    assert _run(True, seed) == _run(False, seed)
