"""Sorted id runs on disk: exact duplicates and gaps, and a key-ordered lazy local listing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from streamer.audit.idsort import IdCheck, IdRuns
from streamer.sinks.local import LocalSink

pytestmark = pytest.mark.anyio


def sid(n: int) -> str:
    """The n-th id."""
    return f"{0x65600000 + n:08x}{n:016x}"


def test_duplicates_across_runs_are_found_with_their_objects(tmp_path: Path) -> None:
    """Ids spilled to many runs merge back in order; repeats are counted once each."""
    runs = IdRuns(tmp_path, run_records=7)
    order = list(range(100))
    random.Random(3).shuffle(order)
    for n in order:
        runs.add(sid(n), n % 5)
    runs.add(sid(42), 9)
    runs.add(sid(42), 11)
    runs.add(sid(7), 12)
    assert len(list(tmp_path.iterdir())) == 14  # 103 records in runs of 7
    check = IdCheck(show=1)
    check.run(runs.merged())
    assert (check.unique, check.duplicate_count, check.lowest) == (100, 2, sid(0))
    assert check.duplicates == {sid(7): [2, 12]}  # capped at show=1, counts exact


def test_gaps_against_the_expected_ids(tmp_path: Path) -> None:
    """Expected ids missing from the archive are gaps; extra archive ids are not."""
    (tmp_path / "a").mkdir()
    (tmp_path / "e").mkdir()
    archive, expected = IdRuns(tmp_path / "a", run_records=4), IdRuns(tmp_path / "e", run_records=3)
    for n in (1, 2, 4, 5, 9):
        archive.add(sid(n))
    for n in (0, 1, 2, 3, 4, 5, 6, 10):
        expected.add(sid(n))
    check = IdCheck()
    check.run(archive.merged(), expected.merged())
    assert check.gaps == [sid(0), sid(3), sid(6), sid(10)]
    assert check.gap_count == 4
    assert check.duplicate_count == 0


def test_run_files_are_private(tmp_path: Path) -> None:
    """Spilled runs are 0600 (they are temp files of the archive's ids)."""
    runs = IdRuns(tmp_path, run_records=1)
    runs.add(sid(1))
    (path,) = tmp_path.iterdir()
    assert path.stat().st_mode & 0o777 == 0o600


async def test_local_listing_is_in_key_order_across_directories(tmp_path: Path) -> None:
    """A directory sorts as "name/": ``a-b`` comes before ``a/x``, as in S3 and Azure."""
    sink = LocalSink(tmp_path, fsync=False)
    for key in ("p/a/x", "p/a-b", "p/a/b/c", "p/b", "q/z", "p/a.c"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"")
    (tmp_path / "p" / ".tmp-partial").write_bytes(b"")
    keys = [info.key async for info in sink.list("p/")]
    assert keys == sorted(["p/a/x", "p/a-b", "p/a/b/c", "p/b", "p/a.c"])
    assert [info.key async for info in sink.list("p/a/")] == ["p/a/b/c", "p/a/x"]
    assert [info.key async for info in sink.list()] == sorted([*keys, "q/z"])
