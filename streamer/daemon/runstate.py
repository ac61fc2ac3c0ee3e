"""One run state for ``/readyz``, ``/healthz``, ``streamer status``, the logs and the watchdog.

The daemon is in exactly one state at a time::

    starting -> [waiting_for_lease -> starting] -> [recovering] -> running -> draining
                 ^                                                            |
                 +-------------------- SIGHUP reload -------------------------+

Readiness is "running and not stuck". Liveness fails only when the pipeline is *stuck*:
running, work to do (not caught up, or a batch being written), and no progress for
``metrics.stuck_after``. Waiting at start-up (for the lease, for a sink) is a readiness
matter, never a liveness one: restarting the process would not make the wait shorter.
The systemd watchdog is pinged on the same condition, so systemd restarts a wedged
daemon, and only a wedged one.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import anyio
import structlog

from streamer.observability.sdnotify import notify

if TYPE_CHECKING:
    from streamer.observability.metrics import Metrics

log = structlog.get_logger("streamer.runstate")


class State(enum.StrEnum):
    """What the daemon is doing now (also the ``state`` label of ``streamer_run_state``)."""

    STARTING = "starting"
    WAITING_FOR_LEASE = "waiting_for_lease"
    RECOVERING = "recovering"
    RUNNING = "running"
    DRAINING = "draining"


class RunState:
    """The current state, what start-up waits for, and whether the running pipeline is stuck."""

    def __init__(self, metrics: Metrics, *, stuck_after: float) -> None:
        self.metrics = metrics
        self.stuck_after = stuck_after
        self.state = State.STARTING
        self.waiting_for: str | None = None
        self.since = time.monotonic()
        self.writing_since: float | None = None
        self.detail: Callable[[], dict[str, object]] = dict
        for each in State:
            metrics.run_state.labels(each.value).set(1 if each is self.state else 0)
        log.info("run.state_changed", state=self.state.value, previous=None)

    def enter(self, state: State, *, waiting_for: str | None = None) -> None:
        """Move to ``state`` (logged once per change, gauge updated)."""
        self.waiting_for = waiting_for
        if state is self.state:
            return
        previous, self.state, self.since = self.state, state, time.monotonic()
        self.metrics.run_state.labels(previous.value).set(0)
        self.metrics.run_state.labels(state.value).set(1)
        if state is State.RUNNING:
            self.metrics.progressed()  # a long start-up is not a stall
            self.writing_since = None
        log.info(
            "run.state_changed", state=state.value, previous=previous.value,
            waiting_for=waiting_for,
        )

    def wait_for(self, what: str | None) -> None:
        """Say what start-up waits for now (``lease``, ``sink aws``), without a state change."""
        self.waiting_for = what

    def quiet(self) -> float:
        """Seconds since the pipeline last progressed (a page read or a batch committed)."""
        return time.monotonic() - self.metrics.last_progress

    def stuck(self) -> bool:
        """Running with work to do and no progress for ``stuck_after`` (a write hangs, or
        the source has not answered while not caught up)."""
        if self.state is not State.RUNNING:
            return False
        now = time.monotonic()
        if self.writing_since is not None and now - self.writing_since > self.stuck_after:
            return True
        return not self.metrics.idle and self.quiet() > self.stuck_after

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """``/readyz``: ready when running and not stuck; the body says why not."""
        stuck = self.stuck()
        ready = self.state is State.RUNNING and not stuck
        body: dict[str, object] = {
            "ready": ready,
            "state": self.state.value,
            "waiting_for": self.waiting_for,
            "stuck": stuck,
            "seconds_in_state": round(time.monotonic() - self.since, 1),
            "seconds_since_progress": round(self.quiet(), 1),
        }
        body.update(self.detail())
        return ready, body

    def liveness(self) -> tuple[bool, dict[str, object]]:
        """``/healthz``: alive unless stuck."""
        stuck = self.stuck()
        body: dict[str, object] = {"status": "stuck" if stuck else "alive",
                                   "state": self.state.value}
        if stuck:
            body["seconds_since_progress"] = round(self.quiet(), 1)
        return not stuck, body


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half of systemd's ``WATCHDOG_USEC`` in seconds, or None when no watchdog is asked for."""
    env = os.environ if env is None else env
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("watchdog.ignored", reason=f"WATCHDOG_USEC is not a number: {usec!r}")
        return None
    return value / 2_000_000 if value > 0 else None


async def watchdog(state: RunState, interval: float) -> None:
    """Send ``WATCHDOG=1`` every ``interval`` seconds while not stuck; withhold it when stuck
    so that systemd restarts the daemon (``WatchdogSec=``)."""
    withheld = False
    while True:
        if state.stuck():
            if not withheld:
                log.error(
                    "watchdog.withheld", seconds_since_progress=round(state.quiet(), 1),
                    hint="the pipeline made no progress for metrics.stuck_after; "
                    "systemd restarts it when WatchdogSec runs out",
                )
            withheld = True
        else:
            withheld = False
            notify("WATCHDOG=1")
        await anyio.sleep(interval)
