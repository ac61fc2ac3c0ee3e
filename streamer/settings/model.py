"""Settings: one frozen pydantic model per YAML section (SPEC §4).

Every model forbids unknown keys, so a typo is an error with its YAML path rather than
a silently ignored setting. Loading, ``${VAR}`` interpolation and ``*_file`` secrets live
in :mod:`streamer.settings.loader`; this module only says what a valid config is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from streamer.fsutil import parse_file_mode
from streamer.ids import is_id
from streamer.report.settings import ReportApiSettings, SavedReport, check_unique
from streamer.settings.rules import LEVELS, MIN_POLL_INTERVAL, field_error, insecure_http
from streamer.settings.units import Duration, Size, parse_duration
from streamer.stages.config import FilterStageConfig, TransformStageConfig

SERVICES = ("aws", "azure", "local")


class Model(BaseModel):
    """Base: frozen, unknown keys forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StartSettings(Model):
    """Where a first run (no checkpoint yet) begins; both null means now."""

    after_id: str | None = None
    at: dt.datetime | None = None

    @field_validator("after_id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        if value is not None and not is_id(value.lower()):
            raise ValueError("must be a 24-character hex LeadConduit event id")
        return value.lower() if value else value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class QuerySettings(Model):
    """Server-side selection sent with every request, so fewer events travel."""

    rules: list[dict[str, Any]] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_of(self) -> QuerySettings:
        if self.include and self.exclude:
            raise ValueError("include and exclude cannot be used together (the API refuses it)")
        if self.rules:
            from streamer.rules import RuleError, compile_rule_set
            from streamer.stages.config import rule_validation_error

            try:
                compile_rule_set(self.rules, path="rules")
            except RuleError as err:
                raise rule_validation_error("QuerySettings", "rules", err, self.rules) from None
        return self


class SourceSettings(Model):
    """The LeadConduit API and how politely to page through it."""

    base_url: str = "https://app.leadconduit.com"
    #: http:// to a non-loopback host sends the API key in clear text: only when spelled out
    allow_insecure_http: bool = False
    api_key: SecretStr
    page_size: int = Field(1000, ge=1, le=1000)
    poll_interval: Duration = 5.0
    #: 0.0 only when spelled ``off``: a typo must not switch the late-event re-scan off
    lag_window: Duration = 120.0
    timeout: Duration = Field(30.0, gt=0)
    max_backoff: Duration = Field(60.0, gt=0)
    requests_per_second: float | None = Field(None, gt=0)
    max_concurrency: int = Field(4, ge=1, le=64)
    start: StartSettings = Field(default_factory=StartSettings)
    query: QuerySettings = Field(default_factory=QuerySettings)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty: set LEADCONDUIT_API_KEY or api_key_file")
        return value

    @field_validator("poll_interval")
    @classmethod
    def _poll(cls, value: float) -> float:
        if value < MIN_POLL_INTERVAL:
            raise ValueError(
                f"{value:g}s would poll the API back to back once caught up; "
                "use at least 250ms (the default is 5s)"
            )
        return value

    @field_validator("lag_window", mode="before")
    @classmethod
    def _lag(cls, value: Any) -> Any:
        if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
            return 0.0  # YAML 1.1 reads a bare `off` as false
        if value is not True and parse_duration(value) == 0:
            raise ValueError(
                "0 would switch the late-event re-scan off; write `lag_window: off` if that "
                "is meant (late-visible events are then missed), else use at least 10s"
            )
        return value

    @model_validator(mode="after")
    def _cleartext(self) -> SourceSettings:
        if insecure_http(self.base_url) and not self.allow_insecure_http:
            raise field_error(
                "SourceSettings",
                "base_url",
                f"{self.base_url} is plain http to a non-loopback host: the API key would "
                "travel in clear text; use https://, or set source.allow_insecure_http: true",
                self.base_url,
            )
        return self


class AwsCredential(Model):
    """An AWS access key pair, or nothing at all for the default credential chain."""

    service: Literal["aws"]
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    profile: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"

    @model_validator(mode="after")
    def _pair(self) -> AwsCredential:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("access_key_id and secret_access_key go together: set both or neither")
        return self


class AzureCredential(Model):
    """A connection string, or an account URL for DefaultAzureCredential."""

    service: Literal["azure"]
    connection_string: SecretStr | None = None
    account_url: str | None = None

    @property
    def usable(self) -> bool:
        """Whether it names an account at all (checked only where it is used)."""
        return bool(self.account_url) or bool(
            self.connection_string and self.connection_string.get_secret_value()
        )


Credential = Annotated[AwsCredential | AzureCredential, Field(discriminator="service")]


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


class ServicesSettings(Model):
    """``firehose.services``: aws and azure as LeadConduit names them, plus local."""

    aws: ServiceSettings | None = None
    azure: ServiceSettings | None = None
    local: LocalServiceSettings | None = None


class FirehoseSettings(Model):
    """Mirrors the event's own ``firehose`` object (seed 002)."""

    enabled: bool = True
    credential_id: str | None = None
    bucket: str | None = None
    prefix: str = ""
    route: Literal["static", "event"] = "static"
    services: ServicesSettings | None = None


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

    store: Literal["file", "s3", "azure", "memory"] = "file"
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


def _stage_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = set(value)
        if keys & {"filter"}:
            return "filter"
        if keys & {"transform"}:
            return "transform"
        return None
    return "filter" if isinstance(value, FilterStageConfig) else "transform"


StageItem = Annotated[
    Annotated[FilterStageConfig, Tag("filter")] | Annotated[TransformStageConfig, Tag("transform")],
    Discriminator(
        _stage_tag,
        custom_error_type="stage_kind",
        custom_error_message="each pipeline stage is {filter: ...} or {transform: ...}",
    ),
]


class Settings(Model):
    """The whole YAML file."""

    source: SourceSettings
    pipeline: list[StageItem] = Field(default_factory=list)
    credentials: dict[str, Credential] = Field(default_factory=dict)
    firehose: FirehoseSettings = Field(default_factory=FirehoseSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    layout: Literal["batched", "per_event"] = "batched"
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    shutdown: ShutdownSettings = Field(default_factory=ShutdownSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    reports: Annotated[list[SavedReport], AfterValidator(check_unique)] = Field(
        default_factory=list
    )  # saved report definitions: streamer/report/settings.py
    report_api: ReportApiSettings = Field(default_factory=ReportApiSettings)
