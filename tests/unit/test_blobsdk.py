"""The Azure Blob SDK is imported without requests (issue 17 item 2); a sync client
still gets the requests transport it always got, and aiohttp's contexts still wait."""

from __future__ import annotations

import subprocess
import sys

CONN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
    "KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)


def _run(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_azure_module_imports_the_sdk_without_requests_first() -> None:
    """Whichever of our Azure modules a process imports first (an Azure-only daemon
    imports the sink first): no requests, and aiohttp's import-time contexts deferred."""
    for module in ("streamer.sinks.azure", "streamer.checkpoint.azure", "streamer.sinks._azure"):
        _run(
            "import sys\n"
            f"import {module}\n"
            "from aiohttp import connector\n"
            "from streamer.sinks.lazyca import deferred\n"
            "assert 'requests' not in sys.modules, 'requests imported'\n"
            "assert deferred(connector._SSL_CONTEXT_VERIFIED)\n"
        )


def test_a_sync_client_still_gets_the_real_requests_transport() -> None:
    """The name the SDK's sync base imported builds the real RequestsTransport, and
    azure.core hands out the real class afterwards."""
    _run(
        "import sys\n"
        "import streamer.sinks.blobsdk\n"
        "from azure.storage.blob import BlobServiceClient\n"
        "from azure.core.pipeline.transport import RequestsTransport\n"
        "from azure.core.pipeline.transport._requests_basic import RequestsTransport as Real\n"
        "assert RequestsTransport is Real\n"
        f"client = BlobServiceClient.from_connection_string({CONN!r})\n"
        "assert type(client._pipeline._transport) is Real, type(client._pipeline._transport)\n"
        "assert 'requests' in sys.modules\n"
    )


def test_requests_already_loaded_is_left_alone() -> None:
    """A process that loaded azure.core's RequestsTransport first keeps the real class."""
    _run(
        "from azure.core.pipeline.transport import RequestsTransport\n"
        "import streamer.sinks.blobsdk\n"
        "import azure.core.pipeline.transport as t\n"
        "import azure.storage.blob._shared.base_client as b\n"
        "assert b.RequestsTransport is RequestsTransport is t.RequestsTransport\n"
    )
