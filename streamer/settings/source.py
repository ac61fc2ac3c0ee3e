"""``source``: the LeadConduit API, where a first run starts and the server-side query."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from streamer.ids import is_id
from streamer.settings.rules import MIN_POLL_INTERVAL, field_error, insecure_http
from streamer.settings.sections import Model
from streamer.settings.units import Duration, parse_duration


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
