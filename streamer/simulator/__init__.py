"""A built-in LeadConduit `/events` API simulator, for the demo, the tests and benchmarks.

It serves deterministic, realistic events with the real API's paging, auth and error
behaviour, and can inject faults, append live events and make some events visible late.

Names are imported from their modules on first use (PEP 562): the CLI builds its parser
from `streamer.simulator.options` on every start, and must not pay for aiohttp (the
server) or the event generator unless it runs the simulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "EventFactory": "events",
    "generate_events": "events",
    "iter_events": "events",
    "id_time": "ids",
    "make_id": "ids",
    "synthetic_id": "ids",
    "DEFAULT_FAULTS": "options",
    "FAULT_KINDS": "options",
    "SimulatorOptions": "options",
    "add_arguments": "options",
    "options_from_args": "options",
    "RunningSimulator": "server",
    "build_app": "server",
    "serve": "server",
    "start_simulator": "server",
    "SimulatorState": "state",
}

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


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first access, then keep it here."""
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
