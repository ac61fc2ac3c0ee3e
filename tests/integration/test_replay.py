"""``streamer replay`` (issue 16 req. 6): archived events through another config's pipeline
into its sinks, in the daemon's layout, exactly once across a crash and a re-run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from report_helpers import run_cli, write_archive, write_config

from streamer.pipeline.layout import is_data_key, iter_events, partition
from streamer.pipeline.replay import replay
from streamer.report.options import pick_service
from streamer.report.reader import TimeRange
from streamer.settings.loader import load_config
from streamer.simulator import generate_events

END = 1_790_000_000
START = END - 3 * 3600
KEEP = {"filter": {"name": "recipients", "action": "keep",
                   "rule_set": {"op": "and", "rules": [
                       {"lhv": "type", "op": "is equal to", "rhv": "recipient"}]}}}  # fmt: skip


class Crash(Exception):
    """Stands for the process dying between an object's upload and the checkpoint."""


@pytest.fixture
def events() -> list[dict[str, Any]]:
    """Three hours of simulated events."""
    return generate_events(2500, seed=17, end_ts=END, span_seconds=3 * 3600)


@pytest.fixture
def source(tmp_path: Path, events: list[dict[str, Any]]) -> Path:
    """The archive being replayed (small objects, so a range spans many)."""
    write_archive(tmp_path / "archive", events, max_events=200)
    return write_config(tmp_path, tmp_path / "archive")


def target(tmp: Path, name: str) -> Path:
    """A config that keeps recipient events, batching differently from the archive."""
    doc = {
        "source": {"base_url": "http://127.0.0.1:9", "api_key": "k"},
        "pipeline": [KEEP],
        "firehose": {"prefix": "replayed", "services": {"local": {
            "enabled": True, "path": str(tmp / name), "fsync": False}}},
        "batch": {"max_events": 150, "compression": "zstd"},
        "checkpoint": {"path": str(tmp / f"{name}-state" / "ck.json")},
    }  # fmt: skip
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def objects(root: Path) -> dict[str, list[str]]:
    """Data object key -> event ids, for a local target."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_file() and is_data_key(key):
            out[key] = [e["id"] for e in iter_events(path.read_bytes(), key)]
    return out


def test_replay_writes_the_filtered_range_in_the_daemon_layout(
    tmp_path: Path, source: Path, events: list[dict[str, Any]]
) -> None:
    """Every recipient event of [T1, T2) lands once, hour-partitioned, ids ascending."""
    t1, t2 = START + 1800, END - 1800
    code, _out, err = run_cli("replay", "--from-archive", str(source), "--start", str(t1),
                              "--end", str(t2), "-c", str(target(tmp_path, "a")))  # fmt: skip
    assert code == 0, err
    written = objects(tmp_path / "a")
    want = sorted(e["id"] for e in events
                  if e["type"] == "recipient" and t1 <= int(e["id"][:8], 16) < t2)  # fmt: skip
    got = [i for ids in written.values() for i in ids]
    assert sorted(got) == want
    assert len(got) == len(set(got))
    for key, ids in written.items():
        assert ids == sorted(ids)
        assert key.startswith(f"replayed/{partition(ids[0])}/{ids[0]}_{ids[-1]}.jsonl.zst")
        assert {partition(i) for i in ids} == {partition(ids[0])}
    assert "replay:" in err


def test_crash_and_rerun_adds_nothing(tmp_path: Path, source: Path) -> None:
    """A replay that dies mid-way, re-run, leaves exactly what one clean run leaves."""
    src = load_config(str(source))
    service = pick_service(src, None)
    rng = TimeRange(START, END + 1)
    clean = load_config(str(target(tmp_path, "a")))
    crashed = load_config(str(target(tmp_path, "b")))
    anyio.run(lambda: replay(src, service, clean, rng, tmp_path / "a.state"))
    puts = 0

    def die_on_the_fifth(*_args: object) -> None:
        nonlocal puts
        puts += 1
        if puts == 5:
            raise Crash

    with pytest.raises(Crash):
        anyio.run(lambda: replay(src, service, crashed, rng, tmp_path / "b.state",
                                 on_written=die_on_the_fifth))  # fmt: skip
    partial = objects(tmp_path / "b")
    assert 0 < len(partial) < len(objects(tmp_path / "a"))
    summary = anyio.run(lambda: replay(src, service, crashed, rng, tmp_path / "b.state"))
    assert objects(tmp_path / "b") == objects(tmp_path / "a")
    ids = Counter(i for v in objects(tmp_path / "b").values() for i in v)
    assert max(ids.values()) == 1
    again = anyio.run(lambda: replay(src, service, crashed, rng, tmp_path / "b.state"))
    assert again.written == 0
    assert summary.written > 0


def test_replaying_into_the_archive_itself_is_refused(tmp_path: Path, source: Path) -> None:
    """The target may not be the archive being read: one line, exit 2."""
    code, _out, err = run_cli("replay", "--from-archive", str(source), "--start", str(START),
                              "--end", str(END), "-c", str(source))  # fmt: skip
    assert code == 2
    assert "would write into the archive it reads" in err


def test_route_event_target_builds_each_events_targets(
    tmp_path: Path, source: Path, events: list[dict[str, Any]]
) -> None:
    """A route: event target: each event goes where its own firehose says (here dead-lettered)."""
    path = target(tmp_path, "routed")
    doc = yaml.safe_load(path.read_text())
    doc["firehose"]["route"] = "event"
    path.write_text(yaml.safe_dump(doc))
    code, _out, err = run_cli("replay", "--from-archive", str(source), "--start", str(START),
                              "--end", str(END + 1), "-c", str(path))  # fmt: skip
    assert code == 0, err
    lines = [
        line
        for p in sorted((tmp_path / "routed").rglob("*.jsonl.zst"))
        if "_dead_letter/" in p.as_posix()
        for line in iter_events(p.read_bytes(), p.name)
    ]
    routed = sorted(e["id"] for e in events if e["type"] == "recipient" and e.get("firehose"))
    assert routed, "the simulated archive has events with their own firehose object"
    pairs = [(x["target"]["service"], x["event"]["id"]) for x in lines]
    assert len(pairs) == len(set(pairs))  # once per target
    assert {x["event"]["id"] for x in lines} == set(routed)
    assert {x["reason"] for x in lines} == {"unknown_credential"}
