"""A built-in LeadConduit `/events` API simulator, for the demo, the tests and benchmarks.

It serves deterministic, realistic events with the real API's paging, auth and error
behaviour, and can inject faults, append live events and make some events visible late.
"""

from __future__ import annotations

from streamer.simulator.events import EventFactory, generate_events, iter_events
from streamer.simulator.ids import id_time, make_id, synthetic_id
from streamer.simulator.options import (
    DEFAULT_FAULTS,
    FAULT_KINDS,
    SimulatorOptions,
    add_arguments,
    options_from_args,
)
from streamer.simulator.server import RunningSimulator, build_app, serve, start_simulator
from streamer.simulator.state import SimulatorState

__all__ = [
    "DEFAULT_FAULTS",
    "FAULT_KINDS",
    "EventFactory",
    "RunningSimulator",
    "SimulatorOptions",
    "SimulatorState",
    "add_arguments",
    "build_app",
    "generate_events",
    "id_time",
    "iter_events",
    "make_id",
    "options_from_args",
    "serve",
    "start_simulator",
    "synthetic_id",
]
