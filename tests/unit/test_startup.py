"""Start-up helpers (issue 17 item 2): same data from the fast botocore loader, and the
collector paused only by the process entry point."""

from __future__ import annotations

import gc

import pytest
from botocore.exceptions import DataNotFoundError
from botocore.loaders import create_loader

from streamer.observability import gctune
from streamer.sinks.botoloader import fast_loader


def test_the_fast_loader_reads_what_botocore_reads() -> None:
    """The S3 model, its endpoint rules and endpoints.json load with the same content."""
    ours, theirs = fast_loader(None), create_loader(None)
    for type_name in ("service-2", "endpoint-rule-set-1"):
        assert ours.load_service_model("s3", type_name) == theirs.load_service_model(
            "s3", type_name
        )
    assert ours.load_data("endpoints") == theirs.load_data("endpoints")


def test_the_fast_loader_still_refuses_an_unknown_service() -> None:
    """A name with no model directory fails instead of loading something else."""
    with pytest.raises(DataNotFoundError):
        fast_loader(None).load_service_model("no-such-service", "service-2")


def test_resume_does_nothing_unless_paused() -> None:
    """Tests and embedders keep their collector: no freeze, still enabled."""
    frozen = gc.get_freeze_count()
    gctune.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_pause_then_resume_freezes_start_up_objects() -> None:
    """After resume the collector runs again and start-up objects are frozen."""
    try:
        gctune.pause()
        assert not gc.isenabled()
        gctune.resume()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_daemon_starts_without_importing_rich_and_the_bar_still_draws() -> None:
    """structlog is imported with rich hidden (~50 ms of start-up); rich still loads for the
    progress bar afterwards, and log lines with exceptions still render."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import streamer.cli.main, streamer.daemon.app, structlog\n"
        "assert 'rich' not in sys.modules, 'rich imported at start-up'\n"
        "from streamer.observability.logs import setup_logging\n"
        "setup_logging('info', 'console')\n"
        "try:\n"
        "    raise ValueError('boom')\n"
        "except ValueError:\n"
        "    structlog.get_logger('t').exception('test.failed')\n"
        "from streamer.observability.progress import Progress\n"
        "with Progress(mode='bar') as bar:\n"
        "    bar.add('x', 0.0, 10.0)\n"
        "    bar.advance('x', 1, None)\n"
        "print('rich' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "ValueError: boom" in done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_run_preloads_anyios_asyncio_backend_and_the_enabled_sdks_only() -> None:
    """``streamer run`` imports anyio's asyncio backend (what ``anyio.run`` uses) before
    the collector resumes; a local-only config still loads no cloud SDK."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from streamer.cli.run import ASYNCIO_BACKEND, preload_modules\n"
        "from streamer.settings.loader import parse_settings\n"
        "raw = {'source': {'api_key': 'k3y-value'},\n"
        "       'firehose': {'services': {'local': {'enabled': True, 'path': './out'}}}}\n"
        "assert ASYNCIO_BACKEND not in sys.modules\n"
        "preload_modules(parse_settings(raw, base=Path(), env={}))\n"
        "assert ASYNCIO_BACKEND in sys.modules\n"
        "assert not {'aiohttp', 'botocore', 'azure.storage.blob'} & sys.modules.keys()\n"
        "import anyio._core._eventloop as loop\n"
        "assert loop.get_async_backend('asyncio') is sys.modules[ASYNCIO_BACKEND].backend_class\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
