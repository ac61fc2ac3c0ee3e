"""``streamer verify``: counts, duplicates and gaps, for both layouts and every sink kind."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import yaml
from daemon_helpers import API_KEY, KEEP_RECIPIENTS, settings_dict
from servers import credential_config, make_bucket

from streamer.cli.verify import is_archive_key, verify
from streamer.daemon.app import run
from streamer.pipeline.layout import iter_events
from streamer.settings.loader import LoadedConfig, parse_settings
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio


def data_files(root: Path, pattern: str) -> list[Path]:
    """Files under ``root`` matching ``pattern``, sorted."""
    return sorted(root.rglob(pattern))


async def fill(loaded: LoadedConfig) -> None:
    """Run the daemon until caught up."""
    with anyio.fail_after(60):
        await run(loaded, until_caught_up=True, handle_signals=False)


def test_archive_keys_of_both_layouts() -> None:
    """Batched and per-event data objects count; verification files and state never do."""
    assert is_archive_key("p/dt=2026-01-01/hour=00/a_b.jsonl.gz", "p")
    assert is_archive_key("p/lead1/" + "a" * 24 + ".json", "p")
    assert is_archive_key("lead1/" + "a" * 24 + ".json", "")
    assert not is_archive_key("p/leadconduit_verification_20260101000000000.txt", "p")
    assert not is_archive_key("p/streamer/checkpoint.json", "p")
    assert not is_archive_key("p/lead1/notanid.json", "p")


async def test_clean_archive_then_duplicate_then_gap(tmp_path: Path) -> None:
    """Clean after a run; a copied object is a duplicate; a deleted one is a gap."""
    async with start_simulator(SimulatorOptions(events=1500, seed=5, api_key=API_KEY)) as sim:
        loaded = parse_settings(
            settings_dict(sim.url, tmp_path, pipeline=[KEEP_RECIPIENTS]), base=Path()
        )
        await fill(loaded)
        kept = sorted(
            e["id"] for e in sim.state.all_events() if e["type"] == "recipient"
        )
        with anyio.fail_after(60):
            reports, facts = await verify(loaded, source=True)
        (report,) = reports
        assert report.clean
        assert report.events == len(kept)
        assert report.expected == len(kept)
        assert report.gaps == []
        assert facts["source_checked"] is True
        assert facts["open_intents"] == 0

        objects = data_files(tmp_path / "out", "*.jsonl.gz")
        assert len(objects) >= 2
        copy = objects[0].with_name("ffffffffffffffffffffffff_ffffffffffffffffffffffff.jsonl.gz")
        shutil.copyfile(objects[0], copy)
        with anyio.fail_after(60):
            (report,), _facts = await verify(loaded)
        assert not report.clean
        assert report.duplicate_count == report.events - len(kept)
        assert len(report.duplicates) == min(20, report.duplicate_count)
        first = next(iter(sorted(report.duplicates)))
        assert sorted(report.duplicates[first]) == sorted(
            p.relative_to(tmp_path / "out").as_posix() for p in (objects[0], copy)
        )
        copy.unlink()

        missing = [e["id"] for e in object_events(objects[-1])]
        objects[-1].unlink()
        with anyio.fail_after(60):
            (report,), _facts = await verify(loaded, source=True)
        assert report.duplicates == {}
        assert report.gap_count == len(missing)
        assert report.gaps == sorted(missing)[:20]
        assert not report.clean


async def test_late_events_not_yet_rechecked_are_not_gaps(tmp_path: Path) -> None:
    """Missing ids above the settled watermark and not in the dedupe window are 'not yet
    due' (the daemon's re-check will deliver them), not gaps; the same ids once delivered
    (in the window) are gaps again."""
    from streamer.checkpoint.file import FileCheckpointStore
    from streamer.ids import id_before
    from streamer.pipeline.dedupe import DedupeWindow

    async with start_simulator(SimulatorOptions(events=1500, seed=5, api_key=API_KEY)) as sim:
        loaded = parse_settings(
            settings_dict(sim.url, tmp_path, pipeline=[KEEP_RECIPIENTS]), base=Path()
        )
        await fill(loaded)
        last = data_files(tmp_path / "out", "*.jsonl.gz")[-1]
        late = sorted(e["id"] for e in object_events(last))
        last.unlink()
        # what the checkpoint says while those events are late-visible and not yet looked
        # for: the settled watermark below them, and none of them delivered
        store = FileCheckpointStore(tmp_path / "state" / "checkpoint.json")
        checkpoint = await store.load()
        assert checkpoint is not None
        delivered = checkpoint.seen
        checkpoint.settled = id_before(late[0])
        checkpoint.seen = DedupeWindow(i for i in delivered if i not in set(late))
        await store.save(checkpoint)
        with anyio.fail_after(60):
            (report,), _facts = await verify(loaded, source=True)
        assert report.gap_count == 0
        assert report.not_due_count == len(late)
        assert report.not_due == late[:20]
        assert report.clean

        checkpoint.seen = delivered  # delivered after all: their absence is a loss
        await store.save(checkpoint)
        with anyio.fail_after(60):
            (report,), _facts = await verify(loaded, source=True)
        assert report.gap_count == len(late)
        assert report.not_due_count == 0
        assert not report.clean


def object_events(path: Path) -> list[dict[str, Any]]:
    """Events of one data file."""
    return iter_events(path.read_bytes(), path.name)


async def test_per_event_layout(tmp_path: Path) -> None:
    """per_event objects (<prefix>/<lead id>/<event id>.json) are counted and checked."""
    async with start_simulator(SimulatorOptions(events=300, seed=6, api_key=API_KEY)) as sim:
        loaded = parse_settings(settings_dict(sim.url, tmp_path, layout="per_event"), base=Path())
        await fill(loaded)
        with anyio.fail_after(60):
            (report,), _facts = await verify(loaded, source=True)
        assert report.clean
        assert report.objects == report.events == 300
        assert report.gaps == []
        one = data_files(tmp_path / "out", "*.json")[0]
        other = one.parent.parent / "another-lead" / one.name
        other.parent.mkdir()
        shutil.copyfile(one, other)
        with anyio.fail_after(60):
            (report,), _facts = await verify(loaded)
        assert list(report.duplicates) == [one.stem]


async def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    """``streamer verify --json --source``: one JSON object, exit 0 clean and 1 with duplicates."""
    async with start_simulator(SimulatorOptions(events=400, seed=8, api_key=API_KEY)) as sim:
        cfg = settings_dict(sim.url, tmp_path)
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        await fill(parse_settings(cfg, base=Path()))
        args = [sys.executable, "-m", "streamer", "verify", "-c", "c.yaml", "--json", "--source"]
        with anyio.fail_after(60):
            clean = await anyio.run_process(args, cwd=tmp_path, check=False)
            obj = data_files(tmp_path / "out", "*.jsonl.gz")[0]
            shutil.copyfile(obj, obj.with_name("f" * 24 + "_" + "f" * 24 + ".jsonl.gz"))
            dirty = await anyio.run_process(args, cwd=tmp_path, check=False)
            text = await anyio.run_process(
                [sys.executable, "-m", "streamer", "verify", "-c", "c.yaml"], cwd=tmp_path,
                check=False,
            )
            wrong = await anyio.run_process(
                [*args, "--service", "aws"], cwd=tmp_path, check=False
            )
    assert clean.returncode == 0, clean.stderr
    doc = orjson.loads(clean.stdout)
    assert doc["clean"] is True
    assert doc["services"]["local"]["events"] == 400
    assert doc["services"]["local"]["gaps"] == 0
    assert dirty.returncode == 1
    assert orjson.loads(dirty.stdout)["services"]["local"]["duplicates"] > 0
    assert text.returncode == 1
    assert b"PROBLEMS" in text.stdout
    assert b"duplicate " in text.stdout
    assert wrong.returncode == 2
    assert b"--service aws: not an enabled service" in wrong.stderr


@pytest.mark.servers
async def test_verify_s3_and_azure(tmp_path: Path, s3_server: Any, azurite_server: Any) -> None:
    """Against SeaweedFS and Azurite: clean after a run, counts per service."""
    bucket = make_bucket(s3_server)
    container = make_bucket(azurite_server)
    async with start_simulator(SimulatorOptions(events=800, seed=9, api_key=API_KEY)) as sim:
        cfg = settings_dict(
            sim.url, tmp_path,
            credentials={"s3": credential_config(s3_server),
                         "az": credential_config(azurite_server)},
            firehose={"prefix": "lc/events", "services": {
                "aws": {"enabled": True, "credential_id": "s3", "bucket": bucket},
                "azure": {"enabled": True, "credential_id": "az", "bucket": container},
            }},
        )
        loaded = parse_settings(cfg, base=Path())
        await fill(loaded)
        with anyio.fail_after(120):
            reports, _facts = await verify(loaded, source=True)
    assert {r.name for r in reports} == {"aws", "azure"}
    for report in reports:
        assert report.clean, report.as_dict()
        assert report.events == 800
        assert report.gaps == []
