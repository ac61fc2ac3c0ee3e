"""Simulator settings and their command-line form (the `streamer simulate` sub-command)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FAULTS",
    "FAULT_KINDS",
    "SimulatorOptions",
    "add_arguments",
    "options_from_args",
]

DEFAULT_FAULTS = ("429", "500", "502", "503", "reset", "truncate", "badjson")
"""The pool `fail_rate`/`fail_first` draw from unless `faults` names others."""
FAULT_KINDS = (*DEFAULT_FAULTS, "html", "empty", "repeat")
"""Every fault the simulator can inject; see `streamer.simulator.faults`.

`html` and `empty` are not in the default pool: at start-up they mean a wrong base URL,
which the daemon treats as fatal."""


@dataclass(frozen=True)
class SimulatorOptions:
    """How the simulated LeadConduit behaves. Times are in seconds.

    `faults` is the pool that both `fail_first` (cycled in order) and `fail_rate` (drawn
    from a random stream seeded by `seed`) take from, so a run's failures are reproducible.
    The first `fault_after` requests are served cleanly (so a fault can hit a daemon that
    has already started).
    """

    events: int = 1000
    seed: int = 1
    api_key: str = "demo-key"
    latency: float = 0.0
    fail_rate: float = 0.0
    faults: tuple[str, ...] = DEFAULT_FAULTS
    fail_first: int = 0
    fault_after: int = 0
    retry_after: float | None = 1.0
    live_rate: float = 0.0
    late_fraction: float = 0.0
    late_delay: float = 5.0

    def __post_init__(self) -> None:
        problems = []
        if self.events < 0:
            problems.append(f"events must be >= 0, got {self.events}")
        if self.latency < 0:
            problems.append(f"latency must be >= 0, got {self.latency}")
        if not 0 <= self.fail_rate <= 1:
            problems.append(f"fail_rate must be between 0 and 1, got {self.fail_rate}")
        if self.fault_after < 0:
            problems.append(f"fault_after must be >= 0, got {self.fault_after}")
        if self.fail_first < 0:
            problems.append(f"fail_first must be >= 0, got {self.fail_first}")
        unknown = [f for f in self.faults if f not in FAULT_KINDS]
        if unknown:
            problems.append(f"unknown faults {unknown}; choose from {', '.join(FAULT_KINDS)}")
        if not self.faults and (self.fail_rate or self.fail_first):
            problems.append("faults must not be empty when fail_rate or fail_first is set")
        if self.retry_after is not None and self.retry_after < 0:
            problems.append(f"retry_after must be >= 0, got {self.retry_after}")
        if self.live_rate < 0:
            problems.append(f"live_rate must be >= 0, got {self.live_rate}")
        if not 0 <= self.late_fraction <= 1:
            problems.append(f"late_fraction must be between 0 and 1, got {self.late_fraction}")
        if self.late_delay < 0:
            problems.append(f"late_delay must be >= 0, got {self.late_delay}")
        if problems:
            raise ValueError("; ".join(problems))


def _faults(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        msg = f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULT_KINDS)}"
        raise argparse.ArgumentTypeError(msg)
    return kinds


def _retry_after(text: str) -> float | None:
    if text.lower() in ("none", "off", ""):
        return None
    return float(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's flags (including `--host`/`--port`) to a (sub)parser."""
    d = SimulatorOptions()
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8765, help="port to bind, 0 = any (default: %(default)s)")
    add("--events", type=int, default=d.events, help="backlog size (default: %(default)s)")
    add("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    add("--api-key", default=d.api_key, help="the Basic-auth password to accept")
    add("--latency", type=float, default=d.latency, help="seconds added to every request")
    add("--fail-rate", type=float, default=d.fail_rate, help="fraction of /events requests failing")
    add(
        "--faults",
        type=_faults,
        default=d.faults,
        help=f"comma-separated fault kinds to inject (default: {','.join(d.faults)})",
    )
    add("--fail-first", type=int, default=d.fail_first, help="fail the first N /events requests")
    add(
        "--fault-after",
        type=int,
        default=d.fault_after,
        help="serve the first N /events requests cleanly before any fault (default: 0)",
    )
    add(
        "--retry-after",
        type=_retry_after,
        default=d.retry_after,
        help="Retry-After seconds on 429, or 'none' (default: %(default)s)",
    )
    add("--rate", type=float, default=d.live_rate, help="live events per second (default: 0)")
    add("--late-fraction", type=float, default=d.late_fraction, help="fraction visible late")
    add("--late-delay", type=float, default=d.late_delay, help="how late, in seconds")


def options_from_args(ns: argparse.Namespace) -> SimulatorOptions:
    """Build options from parsed flags; raises ValueError naming every bad value."""
    return SimulatorOptions(
        events=ns.events,
        seed=ns.seed,
        api_key=ns.api_key,
        latency=ns.latency,
        fail_rate=ns.fail_rate,
        faults=tuple(ns.faults),
        fail_first=ns.fail_first,
        fault_after=ns.fault_after,
        retry_after=ns.retry_after,
        live_rate=ns.rate,
        late_fraction=ns.late_fraction,
        late_delay=ns.late_delay,
    )
