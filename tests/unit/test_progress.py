"""Progress: fraction from the time span covered, rate, ETA, bar and log renderers."""

from __future__ import annotations

import io
from typing import Any

import pytest
from clock import ManualClock

from streamer.ids import synthetic_id
from streamer.observability import progress as progress_module
from streamer.observability.progress import Progress


class Recorder:
    """Stands in for the module's structlog logger."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})


def test_fraction_rate_and_eta_follow_the_cursor() -> None:
    """A quarter of the span in 10 s: 25 %, 30 s left, events/s from the counter."""
    clock = ManualClock()
    progress = Progress(mode="none", clock=clock)
    progress.add("s1", 100, 500)
    clock.now += 10
    progress.advance("s1", 2000, synthetic_id(200))
    task = progress.tasks["s1"]
    assert task.fraction == 0.25
    assert task.rate(clock.now) == 200.0
    assert task.eta(clock.now) == 30.0


def test_eta_unknown_before_progress_and_zero_when_done() -> None:
    """No ETA before the cursor moves; 100 % and ETA 0 once finished."""
    clock = ManualClock()
    progress = Progress(mode="none", clock=clock)
    progress.add("s", 0, 100)
    assert progress.tasks["s"].eta(clock.now) is None
    progress.finish("s")
    assert progress.tasks["s"].fraction == 1.0
    assert progress.tasks["s"].eta(clock.now) == 0.0


def test_resumed_task_starts_at_its_position() -> None:
    """A slice resumed half-way shows 50 % at once."""
    progress = Progress(mode="none", clock=ManualClock())
    progress.add("s", 0, 100, position=50)
    assert progress.tasks["s"].fraction == 0.5


def test_log_mode_writes_periodic_lines_and_one_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Off a TTY: a line per task every interval, and one when a task finishes."""
    recorder = Recorder()
    monkeypatch.setattr(progress_module, "log", recorder)
    logs = recorder.lines
    clock = ManualClock()
    progress = Progress(mode="auto", interval=5, stream=io.StringIO(), clock=clock)
    assert progress.mode == "log"
    with progress:
        progress.add("a", 0, 100)
        progress.add("b", 100, 200)
        progress.advance("a", 10, synthetic_id(10))
        assert logs == []
        clock.now += 6
        progress.advance("a", 10, synthetic_id(20))
        assert [entry["task"] for entry in logs] == ["a", "b"]
        progress.finish("a")
    assert logs[-1]["task"] == "a"
    assert logs[-1]["done"] is True
    assert logs[-1]["percent"] == 100.0
    assert all(entry["event"] == "progress" for entry in logs)


def test_bar_mode_renders_with_rich() -> None:
    """The rich bar shows each task's name and event count."""
    stream = io.StringIO()
    clock = ManualClock()
    with Progress(mode="bar", stream=stream, clock=clock) as progress:
        progress.add("slice-1", 0, 100)
        clock.now += 1
        progress.advance("slice-1", 1234, synthetic_id(50))
        progress.finish("slice-1")
    out = stream.getvalue()
    assert "slice-1" in out
    assert "1,234" in out
