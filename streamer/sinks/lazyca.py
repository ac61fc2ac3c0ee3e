"""``aiohttp``, imported with its default SSL contexts loading their CA certificates on first use.

aiohttp builds two SSL contexts when it is imported (``aiohttp.connector``: one that
verifies, one for ``ssl=False``), and each loads the system's CA bundle: ~40 ms of CPU
in every start with a cloud enabled (issue 17 item 2 asks for <= 0.5 s), paid even when
every endpoint is plain ``http://`` and the contexts are never used, and the ``ssl=False``
one is never used by us at all.

While aiohttp is imported, ``SSLContext.set_default_verify_paths`` (what
``ssl.create_default_context`` ends in) only marks the context; the context loads the
same default paths right before its first handshake (``wrap_bio``, ``wrap_socket``) or
when its CA store is read (``get_ca_certs``, ``cert_store_stats``). So a verified https
connection trusts exactly the certificates it trusted before, and the load happens once,
on the first connection that needs it. Contexts made later (by aiohttp at request time,
aiobotocore, httpx) are not affected.

The modules that use a cloud SDK import ``aiohttp`` from here, before the SDK (which
imports it too), so the first import of aiohttp in the process is this one.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

_LOAD = ssl.SSLContext.set_default_verify_paths  # the real one (C, inherited)
#: the context methods that need the CA store loaded (instance attributes shadow them)
USES = ("wrap_bio", "wrap_socket", "get_ca_certs", "cert_store_stats")
_FLAG = "_streamer_ca_deferred"
_LOCK = threading.Lock()


def _load_then(ctx: ssl.SSLContext, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        load_now(ctx)
        return getattr(ctx, name)(*args, **kwargs)

    return call


def load_now(ctx: ssl.SSLContext) -> None:
    """Load the default CA paths of a deferred context now (nothing if it has none).

    Loaded before the shadowing methods go, under a lock: a thread that uses the context
    meanwhile waits instead of shaking hands with an empty CA store.
    """
    with _LOCK:
        if vars(ctx).get(_FLAG):
            _LOAD(ctx)
            for name in (_FLAG, *USES):
                vars(ctx).pop(name, None)


def deferred(ctx: ssl.SSLContext) -> bool:
    """Whether ``ctx`` still waits to load its default CA paths."""
    return bool(vars(ctx).get(_FLAG))


def _defer(ctx: ssl.SSLContext) -> None:
    """``set_default_verify_paths`` while deferred: remember it, load on first use."""
    vars(ctx)[_FLAG] = True
    for name in USES:
        setattr(ctx, name, _load_then(ctx, name))


@contextlib.contextmanager
def deferred_default_certs() -> Iterator[None]:
    """Within the block, SSL contexts load their default CA paths on first use."""
    own = vars(ssl.SSLContext).get("set_default_verify_paths")
    ssl.SSLContext.set_default_verify_paths = _defer  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths  # back to the inherited C method
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]


with deferred_default_certs():  # the first import of aiohttp in the process: see above
    import aiohttp as aiohttp
