"""Settings: one frozen pydantic model per YAML section (SPEC §4).

Every model forbids unknown keys, so a typo is an error with its YAML path rather than
a silently ignored setting. Loading, ``${VAR}`` interpolation and ``*_file`` secrets live
in :mod:`streamer.settings.loader`; this module only says what a valid config is. The
sections live in :mod:`~streamer.settings.source`, :mod:`~streamer.settings.credentials`
and :mod:`~streamer.settings.sections`; ``firehose.services`` and the ``credentials``
union are built from :mod:`streamer.sinks.registry`, one field per service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import AfterValidator, Discriminator, Field, Tag, create_model

from streamer.report.settings import ReportApiSettings, SavedReport, check_unique
from streamer.settings.credentials import AwsCredential, AzureCredential, CredentialModel
from streamer.settings.sections import (
    BatchSettings,
    CheckpointSettings,
    LocalServiceSettings,
    LoggingSettings,
    MetricsSettings,
    Model,
    ServiceSettings,
    ShutdownSettings,
)
from streamer.settings.source import QuerySettings, SourceSettings, StartSettings
from streamer.sinks.registry import SERVICES as REGISTRY
from streamer.sinks.registry import load
from streamer.stages.config import FilterStageConfig, TransformStageConfig

__all__ = [
    "SERVICES",
    "AwsCredential",
    "AzureCredential",
    "BatchSettings",
    "CheckpointSettings",
    "Credential",
    "CredentialModel",
    "FirehoseSettings",
    "LocalServiceSettings",
    "LoggingSettings",
    "MetricsSettings",
    "Model",
    "QuerySettings",
    "ServiceSettings",
    "ServicesSettings",
    "Settings",
    "ShutdownSettings",
    "SourceSettings",
    "StageItem",
    "StartSettings",
]

SERVICES = tuple(REGISTRY)

if TYPE_CHECKING:
    Credential = CredentialModel

    class ServicesSettings(Model):
        """``firehose.services``: one optional field per registered service."""

else:
    Credential = Annotated[
        Union[tuple(load(e.credential) for e in REGISTRY.values() if e.credential)],  # noqa: UP007
        Field(discriminator="service"),
    ]
    ServicesSettings = create_model(
        "ServicesSettings",
        __base__=Model,
        __doc__="``firehose.services``: aws and azure as LeadConduit names them, plus local.",
        __module__=__name__,
        **{e.name: (load(e.settings) | None, None) for e in REGISTRY.values()},
    )


class FirehoseSettings(Model):
    """Mirrors the event's own ``firehose`` object (seed 002)."""

    enabled: bool = True
    credential_id: str | None = None
    bucket: str | None = None
    prefix: str = ""
    route: Literal["static", "event"] = "static"
    services: ServicesSettings | None = None


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
