"""Object names, partitions and the gzip/zstd/none encodings (SPEC §5)."""

from __future__ import annotations

import datetime as dt
import gzip

import orjson
import pytest

from streamer.pipeline.layout import (
    CONTENT_TYPE,
    NO_LEAD,
    SUFFIX,
    batch_key,
    compressor,
    decompress,
    is_data_key,
    iter_events,
    join,
    lead_id,
    partition,
    per_event_key,
)


def eid(when: dt.datetime, tail: int = 1) -> str:
    """An event id minted at ``when`` (UTC) with a distinguishing tail."""
    return f"{int(when.timestamp()):08x}{tail:016x}"


T = dt.datetime(2026, 11, 23, 14, 5, 9, tzinfo=dt.UTC)
EVENTS = [{"id": eid(T, i), "type": "source", "n": i, "text": "héllo ✓"} for i in range(50)]


def encode(compression: str, events: list[dict[str, object]], chunks: int = 1) -> bytes:
    """Encode ``events`` as JSONL in ``chunks`` compress calls, then flush."""
    comp = compressor(compression)
    lines = [orjson.dumps(e) + b"\n" for e in events]
    step = max(1, len(lines) // chunks)
    out = [comp.compress(b"".join(lines[i : i + step])) for i in range(0, len(lines), step)]
    out.append(comp.flush())
    return b"".join(out)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (T, "dt=2026-11-23/hour=14"),
        (dt.datetime(2026, 1, 2, 0, 0, 0, tzinfo=dt.UTC), "dt=2026-01-02/hour=00"),
        (dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "dt=2025-12-31/hour=23"),
    ],
)
def test_partition_from_id_time(when: dt.datetime, expected: str) -> None:
    """The partition is the id's creation hour in UTC."""
    assert partition(eid(when)) == expected


def test_batch_key_shape() -> None:
    """Batched names are ``<prefix>/dt=/hour=/<first>_<last><suffix>`` from the first id."""
    first, last = eid(T, 1), eid(T + dt.timedelta(hours=2), 2)
    key = batch_key("leadconduit/events", first, last, "gzip")
    assert key == f"leadconduit/events/dt=2026-11-23/hour=14/{first}_{last}.jsonl.gz"


@pytest.mark.parametrize(
    ("prefix", "expected_start"), [("", "dt="), ("/a/b/", "a/b/dt="), ("a", "a/dt=")]
)
def test_batch_key_prefix_slashes(prefix: str, expected_start: str) -> None:
    """Prefixes never produce a leading or doubled slash."""
    key = batch_key(prefix, eid(T), eid(T, 2), "none")
    assert key.startswith(expected_start)
    assert "//" not in key
    assert key.endswith(".jsonl")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_batch_key_suffix_matches_compression(compression: str) -> None:
    """The suffix follows the compression and is recognised as a data key."""
    key = batch_key("p", eid(T), eid(T, 2), compression)
    assert key.endswith(SUFFIX[compression])
    assert is_data_key(key)


@pytest.mark.parametrize(
    "key", ["p/manifest.json", "p/state/checkpoint.json", "p/x.jsonl.tmp", "p/a.gz"]
)
def test_non_data_keys(key: str) -> None:
    """Manifests and state never look like data objects."""
    assert not is_data_key(key)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"vars": {"lead": {"id": "L1"}}}, "L1"),
        ({"vars": {"lead": {"id": {"normal": "L2", "raw": "l2"}}}}, "L2"),
        ({"vars": {"lead": {}}}, NO_LEAD),
        ({"vars": "oops"}, NO_LEAD),
        ({}, NO_LEAD),
        ({"vars": {"lead": {"id": ""}}}, NO_LEAD),
    ],
)
def test_lead_id(event: dict[str, object], expected: str) -> None:
    """The lead id comes from vars.lead.id (or its normal form), else a placeholder."""
    assert lead_id(event) == expected


def test_per_event_key() -> None:
    """Per-event names are LeadConduit's own ``<prefix>/<lead id>/<event id>.json``."""
    event = {"id": eid(T), "vars": {"lead": {"id": "abc"}}}
    assert per_event_key("/fh/", event) == f"fh/abc/{eid(T)}.json"
    assert not is_data_key(per_event_key("fh", event))


def test_join() -> None:
    """join strips surrounding slashes of the prefix only."""
    assert join("", "x") == "x"
    assert join("/a/", "x/y") == "a/x/y"


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("chunks", [1, 7])
def test_round_trip(compression: str, chunks: int) -> None:
    """What compressor writes, iter_events reads back, in order, for every encoding."""
    data = encode(compression, EVENTS, chunks)
    key = batch_key("p", EVENTS[0]["id"], EVENTS[-1]["id"], compression)  # type: ignore[arg-type]
    assert iter_events(data, key) == EVENTS


def test_gzip_is_standard_gzip() -> None:
    """gzip objects open with the standard library (what consumers use)."""
    data = encode("gzip", EVENTS)
    assert data[:2] == b"\x1f\x8b"
    lines = gzip.decompress(data).splitlines()
    assert [orjson.loads(line) for line in lines] == EVENTS


def test_zstd_has_magic_and_shrinks() -> None:
    """zstd output is a real zstd frame and smaller than the raw lines."""
    data = encode("zstd", EVENTS)
    assert data[:4] == b"\x28\xb5\x2f\xfd"
    assert len(data) < len(encode("none", EVENTS))


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_output_is_deterministic(compression: str) -> None:
    """The same events encode to the same bytes (gzip has no mtime), so replays match."""
    assert encode(compression, EVENTS) == encode(compression, EVENTS)


def test_gzip_header_has_zero_mtime() -> None:
    """The gzip header's mtime field is zero."""
    assert encode("gzip", EVENTS)[4:8] == b"\x00\x00\x00\x00"


def test_decompress_passes_plain_through() -> None:
    """An uncompressed key is returned as is."""
    assert decompress(b'{"a":1}\n', "x.jsonl") == b'{"a":1}\n'


def test_iter_events_per_event_json() -> None:
    """A per-event ``.json`` object is one event."""
    assert iter_events(b'{"id": "x"}', "p/l/x.json") == [{"id": "x"}]


def test_iter_events_skips_blank_lines() -> None:
    """Empty lines (e.g. the trailing newline) are not events."""
    assert iter_events(b'{"a":1}\n\n{"a":2}\n', "k.jsonl") == [{"a": 1}, {"a": 2}]


def test_content_types() -> None:
    """Each encoding has its own content type."""
    assert CONTENT_TYPE == {
        "gzip": "application/gzip",
        "zstd": "application/zstd",
        "none": "application/x-ndjson",
    }
