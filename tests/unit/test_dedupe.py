"""The dedupe window: membership and eviction below a floor id."""

from __future__ import annotations

import pytest

from streamer.pipeline.dedupe import DedupeWindow


def i(n: int) -> str:
    """The 24-hex id with integer value ``n``."""
    return f"{n:024x}"


def test_membership_and_len() -> None:
    """Added ids are members; duplicates count once."""
    window = DedupeWindow([i(3), i(1), i(3)])
    window.add(i(2))
    window.add(i(2))
    window.update([i(4), i(1)])
    assert len(window) == 4
    assert set(window) == {i(1), i(2), i(3), i(4)}
    assert i(2) in window
    assert i(9) not in window
    assert 5 not in window


@pytest.mark.parametrize(("floor", "left"), [(0, 5), (1, 5), (3, 3), (5, 1), (6, 0), (99, 0)])
def test_evict_below_removes_exactly_the_lower_ids(floor: int, left: int) -> None:
    """evict_below drops ids strictly below the floor and returns how many went."""
    window = DedupeWindow(i(n) for n in range(1, 6))
    gone = window.evict_below(i(floor))
    assert gone == 5 - left
    assert len(window) == left
    assert all(int(x, 16) >= floor for x in window)


def test_initial_ids_are_sorted_for_eviction() -> None:
    """Ids given out of order at construction still evict from the lowest."""
    window = DedupeWindow([i(9), i(2), i(5)])
    assert window.evict_below(i(6)) == 2
    assert set(window) == {i(9)}


def test_late_id_never_evicted_too_early() -> None:
    """An out-of-order (late) id is kept at least until the floor passes it."""
    window = DedupeWindow()
    window.update([i(10), i(11), i(5)])
    assert window.evict_below(i(6)) == 0  # 5 is behind 10 in arrival order: kept for now
    assert set(window) == {i(5), i(10), i(11)}
    assert window.evict_below(i(11)) == 1
    assert set(window) == {i(5), i(11)}
    assert window.evict_below(i(12)) == 2
    assert len(window) == 0


def test_readd_after_eviction() -> None:
    """An evicted id can be remembered again and evicted again."""
    window = DedupeWindow([i(1)])
    window.evict_below(i(2))
    window.add(i(1))
    assert i(1) in window
    assert window.evict_below(i(2)) == 1
    assert i(1) not in window


def test_add_new_answers_like_one_add_at_a_time() -> None:
    """Bulk ``add_new`` marks exactly the ids ``in``/``add`` one by one would, repeats too."""
    import random

    rng = random.Random(5)
    for _ in range(200):
        start = [f"{rng.randrange(40):024x}" for _ in range(rng.randrange(10))]
        ids = [f"{rng.randrange(40):024x}" for _ in range(rng.randrange(12))]
        bulk, single = DedupeWindow(start), DedupeWindow(start)
        expected = []
        for event_id in ids:
            expected.append(event_id not in single)
            single.add(event_id)
        assert bulk.add_new(ids) == expected
        assert bulk.sorted_ids() == single.sorted_ids()
        floor = f"{rng.randrange(40):024x}"
        assert bulk.evict_below(floor) == single.evict_below(floor)
        assert set(bulk) == set(single)


def test_update_remembers_like_one_add_at_a_time() -> None:
    """Bulk ``update`` holds and evicts exactly what ``add`` one id at a time would."""
    import random

    rng = random.Random(11)
    for _ in range(200):
        start = [i(rng.randrange(40)) for _ in range(rng.randrange(10))]
        ids = [i(rng.randrange(40)) for _ in range(rng.randrange(12))]
        bulk, single = DedupeWindow(start), DedupeWindow(start)
        bulk.update(ids)
        for event_id in ids:
            single.add(event_id)
        assert set(bulk) == set(single)
        assert len(bulk) == len(single)
        assert bulk.sorted_ids() == single.sorted_ids()
        for floor in sorted({rng.randrange(42) for _ in range(4)}):
            assert bulk.evict_below(i(floor)) == single.evict_below(i(floor))
            assert set(bulk) == set(single)
