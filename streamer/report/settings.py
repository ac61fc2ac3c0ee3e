"""The ``reports:`` and ``report_api:`` sections: saved report definitions and the report API.

A saved report is what LeadConduit keeps under ``/reports/{id}``: a name, rules, group-by
fields and columns. Everything is validated when the config loads (rules compiled, columns
known, ids unique), so ``streamer report --name`` and ``streamer serve`` never meet a bad
definition at request time.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from streamer.sinks.registry import preference

if TYPE_CHECKING:
    ServiceName = str
else:  # the services a report can read, in the order a reader prefers them
    ServiceName = Literal[preference()]

BSON_ID = re.compile(r"[0-9a-fA-F]{24}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SavedReport(_Model):
    """One report definition, in LeadConduit's Report shape (seed 000)."""

    id: str | None = None
    token: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    description: str = ""
    rules: list[Any] | dict[str, Any] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=list)
    columns: list[str] | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @field_validator("id")
    @classmethod
    def _bson(cls, value: str | None) -> str | None:
        if value is not None and not BSON_ID.fullmatch(value):
            raise ValueError("must be 24 hex characters, like LeadConduit's report ids")
        return value.lower() if value else value

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[Any] | dict[str, Any]) -> list[Any] | dict[str, Any]:
        from streamer.rules import compile_rule_set

        if value:
            compile_rule_set(value, path="rules")  # RuleError (a ValueError) names the rule
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str] | None) -> list[str] | None:
        from streamer.report.columns import parse_columns

        if value is not None:
            try:
                parse_columns(value)
            except ValueError as exc:  # names the unknown column and a suggestion
                raise ValueError(str(exc).removeprefix("--columns: ")) from None
        return value

    @model_validator(mode="after")
    def _named(self) -> SavedReport:
        if self.id is None and self.token is None:
            raise ValueError("give the report an id (24 hex characters) or a token")
        return self

    def rules_json(self) -> str | None:
        """The rules as canonical JSON text (what the report workers compile), or None."""
        import orjson

        if not self.rules:
            return None
        return orjson.dumps(self.rules, option=orjson.OPT_SORT_KEYS).decode()


def check_unique(reports: list[SavedReport]) -> list[SavedReport]:
    """Ids, tokens and names each identify one report."""
    for attr in ("id", "token", "name"):
        seen: set[str] = set()
        for report in reports:
            value = getattr(report, attr)
            if value is not None and value in seen:
                raise ValueError(f"two reports have {attr} {value!r}; each must be unique")
            if value is not None:
                seen.add(value)
    return reports


def find(reports: list[SavedReport], ref: str) -> SavedReport | None:
    """The report whose id, token or name is ``ref``."""
    for report in reports:
        if ref in (report.id, report.token, report.name) or (
            report.id is not None and ref.lower() == report.id
        ):
            return report
    return None


class ReportApiSettings(_Model):
    """``streamer serve``: a read-only report API over the archive."""

    bind: str = "127.0.0.1"
    port: int = Field(default=8088, ge=1, le=65535)
    api_key: SecretStr | None = None
    max_events: int = Field(default=5_000_000, ge=1)
    org_id: str | None = None  # Close's {org_id}; any when unset
    service: ServiceName | None = None  # default: local, then aws, azure (registry.preference)

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("is empty: set api_key or api_key_file")
        return value
