"""The Azure Blob SDK names we use, imported once, the cheap way (issue 17 item 2).

Every module that talks to Azure imports the SDK from here, so that its first import in
the process is this one:

* aiohttp first, through :mod:`streamer.sinks.lazyca` (the SDK imports it too, and its
  import-time SSL contexts should load their CA certificates only when used);
* without ``requests``: the package's sync client base (``_shared/base_client.py``)
  imports ``RequestsTransport`` by name, which loads requests, urllib3's adapters and
  charset_normalizer (~85 modules, ~10 ms of start-up) for the one line that builds the
  transport of a *sync* client created without one. We only create async clients. While
  the SDK is imported, that name is a function that imports the real ``RequestsTransport``
  and builds it, so a sync client still gets exactly what it got before; afterwards the
  name is removed again, and ``azure.core.pipeline.transport.RequestsTransport`` is the
  real class for everyone else (azure.core imports it on first access).
"""

from __future__ import annotations

import sys
from typing import Any

from streamer.sinks.lazyca import aiohttp  # first: before the SDK imports it

# isort: split

import azure.core.pipeline.transport as transport

__all__ = [
    "BlobBlock",
    "BlobClient",
    "BlobServiceClient",
    "ContainerClient",
    "ContentSettings",
    "aiohttp",
    "requests_transport",
]


def requests_transport(**kwargs: Any) -> Any:
    """What the SDK's sync clients call ``RequestsTransport(**kwargs)``: the real one."""
    from azure.core.pipeline.transport import RequestsTransport

    return RequestsTransport(**kwargs)


def _import_sdk() -> None:
    if {"azure.storage.blob", f"{transport.__name__}._requests_basic"} & sys.modules.keys():
        return  # the SDK, or azure.core's requests transport, is loaded: nothing to save
    transport.RequestsTransport = requests_transport
    try:
        import azure.storage.blob.aio  # noqa: F401
    finally:
        del transport.RequestsTransport


_import_sdk()

# isort: split

from azure.storage.blob import BlobBlock, ContentSettings  # noqa: E402
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient  # noqa: E402
