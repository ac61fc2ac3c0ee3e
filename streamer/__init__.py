"""streamer: a self-hosted, filterable, batched, replayable LeadConduit event pipeline."""

from __future__ import annotations

__version__ = "0.1.0"
