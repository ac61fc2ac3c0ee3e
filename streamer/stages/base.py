"""The stage protocol and the ordered pipeline built from config.

Stages are synchronous on purpose: they are CPU-only and run on the hot path for every
event, so an ``await`` per stage per event would only add overhead. ``None`` means the
event was dropped and goes no further.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from streamer.stages.config import FilterStageConfig, StageConfig, TransformStageConfig
from streamer.stages.filter import FilterStage
from streamer.stages.transform import TransformStage


class Stage(Protocol):
    """One step of the pipeline."""

    name: str

    def process(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Return the (possibly new) event, or None to drop it."""
        ...


def build_pipeline(
    stage_configs: Sequence[StageConfig], *, secrets: Mapping[str, str] | None = None
) -> list[Stage]:
    """Instantiate the configured stages in order.

    ``secrets`` may supply ``hash_salt`` for transform stages that hash without their own
    ``hash_salt``. Raises ValueError (naming ``pipeline[i]``) when a hash has no salt.
    """
    stages: list[Stage] = []
    for i, cfg in enumerate(stage_configs):
        if isinstance(cfg, FilterStageConfig):
            name = cfg.filter.name or f"pipeline[{i}].filter"
            stages.append(FilterStage(cfg.filter, name=name))
        elif isinstance(cfg, TransformStageConfig):
            spec = cfg.transform
            name = spec.name or f"pipeline[{i}].transform"
            salt = spec.hash_salt.get_secret_value() if spec.hash_salt else None
            if salt is None and secrets:
                salt = secrets.get("hash_salt")
            stages.append(TransformStage(spec, name=name, salt=salt))
        else:  # pragma: no cover - the union is exhaustive
            raise TypeError(f"pipeline[{i}]: unknown stage config {cfg!r}")
    return stages


def run_pipeline(stages: Sequence[Stage], event: dict[str, Any]) -> dict[str, Any] | None:
    """Run ``event`` through ``stages``; None as soon as one drops it."""
    current = event
    for stage in stages:
        result = stage.process(current)
        if result is None:
            return None
        current = result
    return current
