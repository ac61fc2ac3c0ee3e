"""Pipeline stage configuration: one YAML list item is ``{filter: ...}`` or ``{transform: ...}``.

Rule sets are compiled while the config is validated, so a bad rule is reported by
``streamer check`` with its full YAML path (the pydantic error's location goes down to the
offending key, e.g. ``pipeline[0].filter.rule_set.rules[1].op``) and its message is the
RuleError's problem text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from streamer.rules import CompiledRuleSet, RuleError, compile_rule_set


def rule_validation_error(title: str, field: str, err: RuleError, value: Any) -> ValidationError:
    """Every problem of ``err`` as a pydantic error under ``field`` (one line each)."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError(
                "rule_error", "{problem}", {"problem": one.problem, "rule_path": one.path}
            ),
            loc=(field, *one.loc),
            input=value,
        )
        for one in err.all
    ]
    return ValidationError.from_exception_data(title, details)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class FilterSpec(_Model):
    """Keep (``action: keep``) or drop (``action: drop``) the events the rule set matches."""

    rule_set: dict[str, Any] | list[Any]
    action: Literal["keep", "drop"] = "keep"
    name: str | None = None

    _compiled: CompiledRuleSet | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> FilterSpec:
        try:
            compiled = compile_rule_set(self.rule_set, path="rule_set")
        except RuleError as err:
            raise rule_validation_error("FilterSpec", "rule_set", err, self.rule_set) from None
        self._compiled = compiled
        return self

    @property
    def compiled(self) -> CompiledRuleSet:
        """The rule set, compiled once at validation time."""
        if self._compiled is None:  # pragma: no cover - set by the validator
            return compile_rule_set(self.rule_set)
        return self._compiled


class FilterStageConfig(_Model):
    """``- filter: {rule_set: ..., action: keep|drop}``."""

    filter: FilterSpec


class TransformSpec(_Model):
    """Reshape or redact an event; see docs/rules.md for the order the steps run in."""

    include: list[str] = []
    exclude: list[str] = []
    mask: list[str] = []
    hash: list[str] = []
    hash_salt: SecretStr | None = None
    set: dict[str, Any] = {}
    rename: dict[str, str] = {}
    name: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TransformSpec:
        if self.include and self.exclude:
            raise ValueError(
                "give include or exclude, not both (as with the API's include/exclude)"
            )
        for field in ("include", "exclude", "mask", "hash"):
            for path in getattr(self, field):
                _check_path(path, field)
        for path in (*self.set, *self.rename, *self.rename.values()):
            _check_path(path, "set/rename")
        return self


def _check_path(path: str, field: str) -> None:
    if not path or any(not seg for seg in path.split(".")):
        raise ValueError(f"{field}: {path!r} is not a dotted path such as vars.lead.email")


class TransformStageConfig(_Model):
    """``- transform: {exclude: [...], mask: [...], ...}``."""

    transform: TransformSpec


StageConfig = FilterStageConfig | TransformStageConfig
