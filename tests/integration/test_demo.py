"""``streamer demo`` starts clean each time (or says it continues), and never empties
a directory it did not write."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import anyio
import pytest
from clock import ManualClock

from streamer.cli import demo as demo_module
from streamer.cli.demo import MARKER, prepare_out, run_demo
from streamer.errors import ConfigError
from streamer.simulator import start_simulator

pytestmark = pytest.mark.anyio
PACKAGED = Path(__file__).resolve().parents[2] / "streamer" / "cli" / "demo.yaml"


async def demo(out: Path, capsys: pytest.CaptureFixture[str], **kw: bool) -> str:
    """One demo run of 1,500 events into ``out``; its stdout."""
    with anyio.fail_after(120):
        assert await run_demo(PACKAGED, events=1500, out=out, **kw) == 0
    return capsys.readouterr().out


@pytest.fixture
def mid_hour_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's simulator reads a clock stopped at half past the previous hour.

    The 150 s backlog then lies inside one hour partition, so "1 file" holds whatever the
    time of day (on the wall clock, a run just after the hour wrote two).
    """
    half_past = (time.time() // 3600) * 3600 - 1800
    stopped = functools.partial(start_simulator, clock=ManualClock(half_past))
    monkeypatch.setattr(demo_module, "start_simulator", stopped)


@pytest.mark.usefixtures("mid_hour_simulator")
async def test_second_demo_starts_clean_and_counts_only_its_own_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run empties the first one's data and state: same summary, same files."""
    monkeypatch.setenv("STREAMER_DEMO_URL", "unset")  # run_demo sets both; restored after
    monkeypatch.setenv("STREAMER_DEMO_OUT", str(tmp_path / "demo-out"))
    out = tmp_path / "demo-out"
    first = await demo(out, capsys)
    second = await demo(out, capsys)
    assert first.splitlines()[0] == f"streamer demo: starting clean in {out}"
    assert second.splitlines()[0].startswith("streamer demo: starting clean (removed")
    for text in (first, second):
        assert "events fetched     1500" in text
        assert "files              1 in" in text
    assert len(list((out / "data").rglob("*.jsonl.gz"))) == 1
    kept = await demo(out, capsys, keep=True)
    assert kept.splitlines()[0].startswith("streamer demo: continuing in")
    assert (out / "state" / "checkpoint.json").exists()


def test_a_directory_the_demo_did_not_write_is_refused(tmp_path: Path) -> None:
    """--out holding someone's files is never emptied: a one-line error says what to do."""
    (tmp_path / "data").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds files streamer demo did not write \(notes.txt\)"):
        prepare_out(tmp_path)
    assert (tmp_path / "notes.txt").exists()
    assert (tmp_path / "data").exists()


def test_a_demo_directory_is_emptied_and_marked(tmp_path: Path) -> None:
    """data/ and state/ of a previous demo are removed; the marker is written."""
    (tmp_path / "data" / "x").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "checkpoint.json").write_text("{}")
    line = prepare_out(tmp_path)
    assert line.startswith("streamer demo: starting clean (removed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER]
