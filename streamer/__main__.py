"""``python -m streamer``."""

from __future__ import annotations

from streamer.cli import main

raise SystemExit(main())
