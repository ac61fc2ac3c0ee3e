"""Pipeline stages: filters (LeadConduit rules) and transforms (project/redact/reshape)."""

from __future__ import annotations

from streamer.stages.base import Stage, build_pipeline, run_pipeline
from streamer.stages.config import (
    FilterSpec,
    FilterStageConfig,
    StageConfig,
    TransformSpec,
    TransformStageConfig,
)
from streamer.stages.filter import FilterStage
from streamer.stages.transform import TransformStage

__all__ = [
    "FilterSpec",
    "FilterStage",
    "FilterStageConfig",
    "Stage",
    "StageConfig",
    "TransformSpec",
    "TransformStage",
    "TransformStageConfig",
    "build_pipeline",
    "run_pipeline",
]
