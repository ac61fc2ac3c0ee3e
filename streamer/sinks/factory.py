"""Build a Sink for a resolved service (imports cloud SDKs only when they are used)."""

from __future__ import annotations

from streamer.settings.services import ResolvedService
from streamer.sinks.base import Sink
from streamer.sinks.local import LocalSink


def build_sink(service: ResolvedService, *, name: str | None = None) -> Sink:
    """The sink for ``service``; ``name`` overrides the service name (event routing)."""
    if service.name == "local":
        from streamer.settings.model import LocalServiceSettings

        opts = service.options
        if isinstance(opts, LocalServiceSettings):
            return LocalSink(
                service.bucket, name=name or "local", fsync=opts.fsync, file_mode=opts.mode
            )
        return LocalSink(service.bucket, name=name or "local")
    if service.name == "aws":
        from streamer.sinks.s3 import S3Sink

        return S3Sink(service, name=name)
    if service.name == "azure":
        from streamer.sinks.azure import AzureBlobSink

        return AzureBlobSink(service, name=name)
    raise ValueError(f"unknown service {service.name!r}")
