"""The storage services, keyed by the name used in ``firehose.services`` and ``credentials``.

Everything that differs between services is an entry here. Adding one (say ``gcs``) is:

1. its sink module (``streamer/sinks/gcs.py``: a class taking ``(service, *, name=None)``);
2. one entry below. The settings model then has ``firehose.services.gcs`` and, with a
   ``credential`` model, the ``gcs`` credential kind; service resolution, event routing,
   ``verify --service``, ``report``/``replay --from`` and, with ``store``, the
   ``checkpoint.store`` choice follow from the entry;
3. if it takes credentials, its model in :mod:`streamer.settings.credentials` (validating
   a config imports every credential model, so it must not live beside an SDK import);
4. regenerating ``config/streamer.schema.json`` (``streamer config schema``).

Classes are named by dotted path (``module:Qualified.name``) and imported on first use with
:func:`load`, so a cloud SDK is imported only when a config enables its service. This module
imports nothing but the standard library: the settings model reads it at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One storage service: where its parts live and the facts other modules ask about."""

    name: str
    #: ``(service: ResolvedService, *, name: str | None) -> Sink``
    sink: str
    #: the model of ``firehose.services.<name>``
    settings: str
    #: the model of a ``credentials`` entry with ``service: <name>``; None: takes none
    credential: str | None = None
    #: a service with a bucket inherits ``firehose.bucket``/``credential_id`` and can be an
    #: event's own target (``route: event``); one without writes to a local path
    bucketed: bool = True
    #: what a required ``credential_id`` must give; empty: none needed (a default chain)
    needs_credential: str = ""
    #: the name under ``checkpoint.store`` and the store class, for a service that can hold
    #: the checkpoint document
    store: str | None = None
    checkpoint: str | None = None
    #: URL scheme of an object for readers that take URLs (DuckDB in ``report``)
    scheme: str = ""


_CLOUD_SETTINGS = "streamer.settings.sections:ServiceSettings"

#: in the order of the settings model's fields; the first bucketed one is what a legacy
#: ``firehose`` without a ``services`` map means (S3, as in LeadConduit before Azure)
SERVICES: dict[str, ServiceEntry] = {
    "aws": ServiceEntry(
        name="aws",
        sink="streamer.sinks.s3:S3Sink",
        settings=_CLOUD_SETTINGS,
        credential="streamer.settings.credentials:AwsCredential",
        store="s3",
        checkpoint="streamer.checkpoint.s3:S3CheckpointStore",
        scheme="s3://",
    ),
    "azure": ServiceEntry(
        name="azure",
        sink="streamer.sinks.azure:AzureBlobSink",
        settings=_CLOUD_SETTINGS,
        credential="streamer.settings.credentials:AzureCredential",
        needs_credential="connection_string or account_url",
        store="azure",
        checkpoint="streamer.checkpoint.azure:AzureCheckpointStore",
        scheme="az://",
    ),
    "local": ServiceEntry(
        name="local",
        sink="streamer.sinks.local:LocalSink.for_service",
        settings="streamer.settings.sections:LocalServiceSettings",
        bucketed=False,
    ),
}

#: the local sink's name: the default for reports, the directory that needs no SDK
LOCAL = "local"


def names() -> tuple[str, ...]:
    """Every service name, in registry order (CLI choices, settings fields)."""
    return tuple(SERVICES)


def preference() -> tuple[str, ...]:
    """Which service a reader prefers when several are enabled: local (no egress), then
    the rest in registry order."""
    return (LOCAL, *(name for name in SERVICES if name != LOCAL))


def bucketed() -> tuple[ServiceEntry, ...]:
    """The services with buckets (inheriting ``firehose.bucket``; routable per event)."""
    return tuple(e for e in SERVICES.values() if e.bucketed)


def legacy() -> ServiceEntry:
    """What a ``firehose`` without a ``services`` map writes to."""
    return bucketed()[0]


def by_store(store: str) -> ServiceEntry | None:
    """The service whose bucket holds ``checkpoint.store: <store>``, if any."""
    return next((e for e in SERVICES.values() if e.store == store), None)


def entry(name: str) -> ServiceEntry:
    """The entry for ``name``; ValueError names the known ones."""
    try:
        return SERVICES[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r} (known: {', '.join(SERVICES)})") from None


def load(path: str) -> Any:
    """Import ``module:Qualified.name`` and return the object (first use pays the import)."""
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def preload(names: Iterable[str], store: str) -> None:
    """Import the sink modules of ``names`` and the store module of ``store`` now.

    ``streamer run`` does it while start-up still has the garbage collector paused, so
    the SDKs' objects are frozen with the rest of start-up instead of scanned later.
    """
    for name in names:
        load(entry(name).sink)
    holder = by_store(store)
    if holder is not None and holder.checkpoint is not None:
        load(holder.checkpoint)
