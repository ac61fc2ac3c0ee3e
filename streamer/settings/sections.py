"""The small sections of the config: service options, batch, checkpoint, metrics, logs.

The base :class:`Model` lives here (frozen, unknown keys forbidden) so every settings
module shares it without importing the top-level model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamer.fsutil import parse_file_mode
from streamer.settings.rules import LEVELS, field_error
from streamer.settings.units import Duration, Size
from streamer.sinks.registry import SERVICES


class Model(BaseModel):
    """Base: frozen, unknown keys forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


if TYPE_CHECKING:
    StoreName = str
else:  # file, then each service that can hold the checkpoint document, then memory
    StoreName = Literal[("file", *(e.store for e in SERVICES.values() if e.store), "memory")]


class ServiceSettings(Model):
    """One cloud service of the firehose; fields left out inherit the top level's."""

    enabled: bool | None = None
    credential_id: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    storage_class: str | None = None
    sse: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    multipart_threshold: Size = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)
    part_size: Size = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)
    timeout: Duration = Field(60.0, gt=0)


class LocalServiceSettings(Model):
    """The local-directory sink: the embedded default, same layout on disk."""

    enabled: bool = False
    path: str = "./out"
    prefix: str | None = None
    fsync: bool = True
    #: archive files hold lead PII: owner-only unless a group must read them ("0640")
    file_mode: str = "0600"

    @field_validator("file_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f'write the mode quoted, e.g. "0640" (got {value!r})')
        parse_file_mode(value)
        return value

    @property
    def mode(self) -> int:
        """``file_mode`` as an integer."""
        return parse_file_mode(self.file_mode)


class BatchSettings(Model):
    """When an open batch is sealed and how it is encoded."""

    max_events: int = Field(5000, ge=1)
    max_bytes: Size = Field(16 * 1024 * 1024, ge=1024)
    max_age: Duration = Field(60.0, gt=0)
    compression: Literal["gzip", "zstd", "none"] = "gzip"
    compression_level: int | None = None
    #: ceiling of the jittered backoff while a batch's upload or a checkpoint save is retried:
    #: a store that comes back is used within this long
    max_backoff: Duration = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _level(self) -> BatchSettings:
        level, codec = self.compression_level, self.compression
        if level is None:
            return self
        low, high = LEVELS[codec]
        if not low <= level <= high:
            what = (
                "takes no compression_level: remove it"
                if codec == "none"
                else f"levels are {low}..{high}"
            )
            raise field_error(
                "BatchSettings", "compression_level", f"compression {codec} {what}", level
            )
        return self


class CheckpointSettings(Model):
    """Where the checkpoint lives: a local file, or an object in a bucket (CAS by ETag)."""

    store: StoreName = "file"
    path: str = "./state/checkpoint.json"
    credential_id: str | None = None
    bucket: str | None = None
    key: str = "streamer/checkpoint.json"
    lease_ttl: Duration = Field(60.0, gt=0)


class MetricsSettings(Model):
    """Prometheus ``/metrics`` plus ``/healthz`` and ``/readyz`` when a port is set."""

    port: int | None = Field(None, ge=0, le=65535)
    #: loopback unless configured: /metrics and /readyz (the cursor) have no auth
    host: str = "127.0.0.1"
    stuck_after: Duration = Field(600.0, gt=0)


class ShutdownSettings(Model):
    """Grace for flushing on SIGTERM; keep it below TimeoutStopSec / terminationGracePeriod."""

    grace: Duration = Field(20.0, gt=0)


class LoggingSettings(Model):
    """Log level, renderer and how often a progress summary line is written."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    progress_interval: Duration = Field(30.0, gt=0)
