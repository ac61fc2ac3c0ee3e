"""``firehose.route: event``: write each event where its own ``firehose`` object says.

That is exactly what LeadConduit's firehose does: every event carries its flow's
firehose config (``enabled``, ``bucket``, ``prefix``, ``services.aws/azure``). The
``credential_id`` in an event is LeadConduit's credential id; it is looked up under
``credentials`` by that id, and falls back to the credential of the statically
configured service of the same kind. An event whose firehose is disabled is written
nowhere (as in LeadConduit). A service with no usable credential is a target all the
same, marked ``unusable``: its events are dead-lettered (:mod:`streamer.pipeline.deadletter`) to
the statically configured services; with none configured it is logged and skipped.
"""

from __future__ import annotations

from typing import Any

import structlog

from streamer.settings.loader import LoadedConfig
from streamer.settings.services import ResolvedService
from streamer.sinks import registry
from streamer.sinks.base import Sink

log = structlog.get_logger("streamer.routing")
Target = tuple[str, str]
#: the services an event's own firehose object can name (those with buckets)
ROUTABLE = tuple(e.name for e in registry.bucketed())


class EventRouter:
    """Maps an event to ``(sink name, prefix)`` targets; registers the services it needs."""

    def __init__(self, loaded: LoadedConfig, sinks: dict[str, Sink]) -> None:
        self.settings = loaded.settings
        self.static = {s.name: s for s in loaded.services}
        self.sinks = sinks
        self.services: dict[str, ResolvedService] = {}
        #: targets that cannot be written (sink name: why), dead-lettered by the writer
        self.unusable: dict[str, str] = {}
        self._cache: dict[bytes, tuple[Target, ...]] = {}
        self._warned: set[str] = set()

    def __call__(self, event: dict[str, Any]) -> tuple[Target, ...]:
        fh = event.get("firehose")
        if not isinstance(fh, dict) or not fh.get("enabled"):
            return ()
        targets: list[Target] = []
        services = fh.get("services")
        if not isinstance(services, dict) or not services:
            services = {registry.legacy().name: {}}
        for kind in ROUTABLE:
            svc = services.get(kind)
            if not isinstance(svc, dict):
                continue
            enabled = svc.get("enabled", fh.get("enabled"))
            bucket = svc.get("bucket") or fh.get("bucket")
            if not enabled or not bucket:
                continue
            own = svc.get("prefix")
            prefix = str(own if own is not None else fh.get("prefix") or "")
            cred_id = str(svc.get("credential_id") or fh.get("credential_id") or "")
            name = self.register(kind, str(bucket), cred_id)
            if name is not None:
                targets.append((name, prefix.strip("/")))
        return tuple(targets)

    def register(self, kind: str, bucket: str, cred_id: str) -> str | None:
        """The sink name for ``kind``/``bucket``/``cred_id``, creating its service entry."""
        credential = self.settings.credentials.get(cred_id)
        used_id: str | None = cred_id
        unusable = False
        if credential is None or credential.service != kind:
            fallback = self.static.get(kind)
            credential = fallback.credential if fallback else None
            if fallback is not None:
                used_id = fallback.credential_id
            else:
                if f"{kind}:{cred_id}" not in self._warned:
                    self._warned.add(f"{kind}:{cred_id}")
                    log.warning("routing.credential_unknown", service=kind, credential_id=cred_id)
                if not self.static:
                    return None  # nowhere to dead-letter to (check warns about this)
                unusable = True
        name = f"{kind}:{bucket}:{used_id or 'default'}"
        if unusable:
            self.unusable[name] = (
                f"{kind} credential_id {cred_id!r} is not under credentials and no static "
                f"{kind} service lends its own; define it under credentials"
            )
        if name not in self.services:
            opts = self.static[kind].options if kind in self.static else None
            from streamer.settings.sections import ServiceSettings

            self.services[name] = ResolvedService(
                kind, bucket, "", used_id, credential, opts or ServiceSettings()
            )
        return name
