"""``streamer serve -c FILE``: the read-only LeadConduit/Close report API over the archive.

The routes live in :mod:`streamer.report.api`; this module only binds them and stops on
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse

import anyio
import structlog

from streamer.errors import first_error
from streamer.report.api import build_app, serve
from streamer.settings.loader import load_config

log = structlog.get_logger("streamer.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer serve``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--bind", help="address to listen on (default: report_api.bind)")
    parser.add_argument("--port", type=int, help="port (default: report_api.port)")



def main(args: argparse.Namespace) -> int:
    """Run the API until SIGINT/SIGTERM."""
    import signal

    loaded = load_config(args.config)
    api = loaded.settings.report_api
    build_app(loaded)  # fail fast on a missing key, before binding

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve, loaded, args.bind or api.bind, args.port or api.port)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _signum in signals:
                    log.info("report_api.stopped")
                    tg.cancel_scope.cancel()
                    return

    try:
        anyio.run(run)
    except BaseExceptionGroup as group:  # one clear line (a busy port), not a group
        raise first_error(group) from None
    return 0


