"""``python -m streamer``."""

from __future__ import annotations

from streamer.cli.main import main

if __name__ == "__main__":  # worker processes (reports) import this module as __mp_main__
    raise SystemExit(main())
