"""Build a Sink for a resolved service (imports a cloud SDK only when its service is used)."""

from __future__ import annotations

from typing import cast

from streamer.settings.services import ResolvedService
from streamer.sinks import registry
from streamer.sinks.base import Sink


def build_sink(service: ResolvedService, *, name: str | None = None) -> Sink:
    """The sink for ``service``; ``name`` overrides the service name (event routing)."""
    make = registry.load(registry.entry(service.name).sink)
    return cast(Sink, make(service, name=name))
