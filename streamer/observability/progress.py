"""Progress for long catch-ups: a rich bar per task on a TTY, plain log lines otherwise.

A task covers an id range, so its fraction done is the share of the range's *time span*
its cursor has passed (ids start with their creation second). Events per second come
from the event counter; the ETA extrapolates the span covered per second of wall time.
Off a TTY (systemd, Kubernetes, CI) the same numbers go out as a ``progress`` log line
every ``interval`` seconds and once when a task finishes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO

import structlog

from streamer.ids import id_seconds

log = structlog.get_logger("streamer.progress")


@dataclass(slots=True)
class TaskProgress:
    """One task's range (epoch seconds, ``[lo, hi)``) and how far it got."""

    name: str
    lo: float
    hi: float
    started: float
    events: int = 0
    position: float = 0.0
    done: bool = False
    handle: Any = field(default=None, repr=False)

    @property
    def fraction(self) -> float:
        """Share of the time span covered, 0..1."""
        if self.done:
            return 1.0
        span = self.hi - self.lo
        if span <= 0:
            return 1.0
        return min(1.0, max(0.0, (self.position - self.lo) / span))

    def rate(self, now: float) -> float:
        """Events per second since the task started."""
        elapsed = now - self.started
        return self.events / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far; None before anything was covered."""
        fraction = self.fraction
        if fraction >= 1.0:
            return 0.0
        if fraction <= 0.0:
            return None
        return (now - self.started) * (1.0 - fraction) / fraction


class Progress:
    """Tracks tasks; renders with rich on a TTY (``mode="auto"``) or logs periodically.

    ``mode`` is ``auto``, ``bar``, ``log`` or ``none``. Use it as a context manager; call
    :meth:`add`, :meth:`advance` and :meth:`finish` from the tasks doing the work.
    """

    def __init__(
        self,
        *,
        mode: str = "auto",
        interval: float = 10.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "log"
        self.mode = mode
        self.interval = interval
        self.clock = clock
        self.tasks: dict[str, TaskProgress] = {}
        self._bar: Any = None
        self._last_log = clock()

    def __enter__(self) -> Progress:
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[events]:>10,} events"),
                TextColumn("{task.fields[rate]:>8,.0f}/s"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    def add(self, name: str, lo: float, hi: float, *, position: float | None = None) -> None:
        """Start tracking a task over ``[lo, hi)`` seconds, already at ``position``."""
        task = TaskProgress(
            name, lo, hi, self.clock(), position=lo if position is None else position
        )
        self.tasks[name] = task
        if self._bar is not None:
            task.handle = self._bar.add_task(
                name, total=1000, completed=int(task.fraction * 1000), events=0, rate=0.0
            )

    def advance(self, name: str, events: int, cursor: str | None) -> None:
        """``events`` more were processed and the task's cursor is now ``cursor``."""
        task = self.tasks[name]
        task.events += events
        if cursor:
            task.position = max(task.position, float(id_seconds(cursor)))
        self._render(task)

    def finish(self, name: str) -> None:
        """The task covered its whole range."""
        task = self.tasks[name]
        task.done = True
        task.position = task.hi
        self._render(task, force=True)

    def _render(self, task: TaskProgress, *, force: bool = False) -> None:
        now = self.clock()
        if self._bar is not None:
            self._bar.update(
                task.handle,
                completed=int(task.fraction * 1000),
                events=task.events,
                rate=task.rate(now),
            )
            return
        if self.mode != "log":
            return
        if force:
            self._log(task, now)
        elif now - self._last_log >= self.interval:
            self._last_log = now
            for each in self.tasks.values():
                if not each.done:
                    self._log(each, now)

    @staticmethod
    def _log(task: TaskProgress, now: float) -> None:
        eta = task.eta(now)
        log.info(
            "progress",
            task=task.name,
            percent=round(task.fraction * 100, 1),
            events=task.events,
            rate=round(task.rate(now), 1),
            eta_seconds=None if eta is None else round(eta, 1),
            done=task.done,
        )
