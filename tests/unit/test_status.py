"""``streamer status``: the document, its text form, and how it treats missing/corrupt state."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import orjson
import pytest

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint, Intent, IntentObject
from streamer.cli.status import print_status, render_text, status_document
from streamer.errors import CheckpointError
from streamer.ids import synthetic_id
from streamer.pipeline.dedupe import DedupeWindow
from streamer.settings.loader import LoadedConfig, parse_settings

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0
KEYS = {
    "version", "checkpoint", "cursor", "cursor_time", "lag_seconds", "retention_days_left",
    "intents", "dedupe", "sinks", "totals", "owner", "updated_at", "lease", "services", "daemon",
    "settled", "settled_time",
}


def loaded(tmp: Path) -> LoadedConfig:
    """A local-sink config whose checkpoint lives under ``tmp``."""
    return parse_settings(
        {
            "source": {"base_url": "http://127.0.0.1:9", "api_key": "k"},
            "firehose": {"services": {"local": {"enabled": True, "path": str(tmp / "out")}}},
            "checkpoint": {"path": str(tmp / "state" / "cp.json"), "lease_ttl": "60s"},
        },
        base=Path(),
    )


def sample_checkpoint(*, updated_ago: float, owner: bool) -> Checkpoint:
    """A checkpoint one hour behind NOW with one open intent and one sink entry."""
    cursor = synthetic_id(NOW - 3600)[:20] + "abcd"
    first = synthetic_id(NOW - 3700)[:20] + "0001"
    intent = Intent(
        seq=7,
        objects=[IntentObject([("local", "p/dt=x/a_b.jsonl.gz")], [first, cursor], "00")],
        covered=[first, cursor],
        watermark=cursor,
    )
    return Checkpoint(
        cursor=cursor,
        settled=first,
        seen=DedupeWindow([first, cursor]),
        intents=[intent],
        sinks={"local": {"last_key": "p/dt=x/a_b.jsonl.gz", "objects": 3, "events": 12,
                         "written_at": dt.datetime.fromtimestamp(NOW - 30, tz=dt.UTC).isoformat()}},
        totals={"events_written": 12, "batches": 3},
        owner={"id": "abc", "host": "box", "pid": 42} if owner else None,
        updated_at=dt.datetime.fromtimestamp(NOW - updated_ago, tz=dt.UTC).isoformat(),
    )


def test_document_without_checkpoint_has_every_key(tmp_path: Path) -> None:
    """No checkpoint yet: every key is present, values are empty or null."""
    doc = status_document(loaded(tmp_path), None, "file x", now=NOW)
    assert set(doc) == KEYS
    assert doc["checkpoint"]["exists"] is False
    assert doc["cursor"] is None
    assert doc["lease"]["held"] is False
    assert doc["services"] == [f"local (path={tmp_path / 'out'})"]


def test_document_with_checkpoint(tmp_path: Path) -> None:
    """Cursor time, lag, intents, dedupe window, sinks, totals and a live lease."""
    cp = sample_checkpoint(updated_ago=5, owner=True)
    doc = status_document(loaded(tmp_path), cp, "file x", now=NOW)
    assert set(doc) == KEYS
    assert doc["cursor"] == cp.cursor
    assert doc["cursor_time"] == dt.datetime.fromtimestamp(NOW - 3600, tz=dt.UTC).isoformat()
    assert doc["lag_seconds"] == 3600.0
    assert doc["settled"] == cp.settled
    assert doc["settled_time"] == dt.datetime.fromtimestamp(NOW - 3700, tz=dt.UTC).isoformat()
    assert 89.9 < doc["retention_days_left"] < 90
    assert doc["intents"] == [{"seq": 7, "objects": 1, "events": 2,
                               "keys": ["p/dt=x/a_b.jsonl.gz"], "watermark": cp.cursor}]
    assert doc["dedupe"]["size"] == 2
    assert doc["dedupe"]["newest"] == cp.cursor
    assert doc["sinks"]["local"]["age_seconds"] == 30.0
    assert doc["sinks"]["local"]["events"] == 12
    assert doc["totals"] == {"batches": 3, "events_written": 12}
    assert doc["owner"] == {"host": "box", "pid": 42, "id": "abc"}
    assert doc["lease"] == {"held": True, "age_seconds": 5.0, "ttl_seconds": 60.0}


def test_expired_lease_and_text_rendering(tmp_path: Path) -> None:
    """A stale owner is reported as not running; the text names cursor, lag and intents."""
    cp = sample_checkpoint(updated_ago=600, owner=True)
    doc = status_document(loaded(tmp_path), cp, "file x", now=NOW)
    assert doc["lease"]["held"] is False
    out = io.StringIO()
    render_text(doc, out)
    text = out.getvalue()
    assert f"cursor:   {cp.cursor}" in text
    assert "1h 0m 0s behind now" in text
    assert "1 open" in text
    assert "seq 7: 1 object(s), 2 event(s)" in text
    assert "lease expired" in text
    assert "local: p/dt=x/a_b.jsonl.gz" in text


def test_text_shows_the_daemons_run_state(tmp_path: Path) -> None:
    """What /readyz said is shown: the state and what start-up waits for."""
    daemon = {"url": "http://127.0.0.1:9108/readyz", "state": "waiting_for_lease",
              "waiting_for": "lease", "ready": False, "stuck": False, "seconds_in_state": 3.0}
    doc = status_document(loaded(tmp_path), None, "file x", now=NOW, daemon=daemon)
    out = io.StringIO()
    render_text(doc, out)
    assert "daemon:   waiting_for_lease, waiting for lease (http://127.0.0.1:9108/readyz)" in (
        out.getvalue()
    )
    assert doc["daemon"]["state"] == "waiting_for_lease"


def test_near_retention_warns(tmp_path: Path) -> None:
    """A cursor 85 days old prints a retention warning."""
    cp = Checkpoint(cursor=synthetic_id(NOW - 85 * 86400)[:20] + "abcd")
    doc = status_document(loaded(tmp_path), cp, "file x", now=NOW)
    out = io.StringIO()
    render_text(doc, out)
    assert "WARNING" in out.getvalue()
    assert "90-day retention" in out.getvalue()


async def test_print_status_no_checkpoint(tmp_path: Path) -> None:
    """No checkpoint file: says so, exit 0, creates nothing."""
    out = io.StringIO()
    assert await print_status(loaded(tmp_path), as_json=False, out=out) == 0
    assert "no checkpoint yet" in out.getvalue()
    assert not (tmp_path / "state").exists()


async def test_print_status_json_round_trip(tmp_path: Path) -> None:
    """--json prints one object with the stable keys, read through the file store."""
    cfg = loaded(tmp_path)
    await FileCheckpointStore(cfg.settings.checkpoint.path).save(
        sample_checkpoint(updated_ago=1, owner=False)
    )
    out = io.StringIO()
    assert await print_status(cfg, as_json=True, out=out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    doc = orjson.loads(lines[0])
    assert set(doc) == KEYS
    assert doc["checkpoint"]["exists"] is True
    assert doc["owner"] is None
    assert doc["totals"]["events_written"] == 12


def corrupt_file(path: Path, data: bytes) -> Path:
    """Write ``data`` at ``path`` (creating its directory)."""
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


async def test_print_status_corrupt_checkpoint(tmp_path: Path) -> None:
    """A corrupt checkpoint raises CheckpointError (exit 1) and is not modified."""
    cfg = loaded(tmp_path)
    path = corrupt_file(Path(cfg.settings.checkpoint.path), b"{not json")
    with pytest.raises(CheckpointError, match="is corrupt"):
        await print_status(cfg, as_json=True, out=io.StringIO())
    assert path.read_bytes() == b"{not json"
