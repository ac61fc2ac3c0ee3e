"""``streamer verify`` in bounded memory: the ids go to sorted runs on disk, not a dict."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import anyio
import pytest

from streamer.audit import idsort
from streamer.cli.verify import verify
from streamer.pipeline.layout import batch_key, compressor
from streamer.settings.loader import parse_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
OBJECTS, PER_OBJECT = 200, 1000


def build_archive(root: Path) -> None:
    """200 gzip objects of 1,000 one-field events each, one duplicated event."""
    for o in range(OBJECTS):
        ids = [f"{0x65600000 + o:08x}{n:016x}" for n in range(PER_OBJECT)]
        if o == OBJECTS - 1:
            ids[-1] = f"{0x65600000:08x}{0:016x}"  # the first object's first id again
        comp = compressor("gzip")
        data = comp.compress(b"".join(b'{"id":"%s"}\n' % i.encode() for i in ids)) + comp.flush()
        path = root / batch_key("lc", min(ids), max(ids), "gzip")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def test_verify_memory_does_not_grow_with_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200,000 ids verified with under 12 MB of Python allocations (a dict of them is ~30 MB)."""
    build_archive(tmp_path / "out")
    monkeypatch.setattr(idsort, "RUN_RECORDS", 10_000)
    raw = {
        "source": {"api_key": "k3y"},
        "firehose": {"prefix": "lc", "services": {"local": {"enabled": True,
                                                           "path": str(tmp_path / "out")}}},
        "checkpoint": {"path": str(tmp_path / "state" / "checkpoint.json")},
    }
    loaded = parse_settings(raw, base=Path(), env={})
    tracemalloc.start()
    try:
        with anyio.fail_after(300):
            (report,), _facts = await verify(loaded)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.events == OBJECTS * PER_OBJECT
    assert report.unique_ids == OBJECTS * PER_OBJECT - 1
    assert report.duplicate_count == 1
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
