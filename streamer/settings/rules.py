"""Settings that are valid but weaken the guarantee: refused, or warned about.

The models in :mod:`streamer.settings.model` refuse what is never right (a key sent in clear text
to another host, ``lag_window: 0s`` as a typo for "off", a poll loop with no pause, a
compression level the codec does not apply). What can be right but usually is not is a
*warning*: one line each, with the YAML path and why, printed by ``streamer check`` and
logged as ``config.warning`` by ``streamer run`` at start.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

if TYPE_CHECKING:
    from streamer.settings.model import Settings

#: below this the caught-up loop polls the API back to back: an error
MIN_POLL_INTERVAL = 0.1
#: below this a warning: hardly a pause between polls
WARN_POLL_INTERVAL = 0.25
#: a lag window shorter than this misses events that are only a little late
WARN_LAG_WINDOW = 10.0
#: a grace this long needs the supervisor's stop timeout raised too
WARN_GRACE = 30.0
#: the compression levels each codec applies (``none`` takes none)
LEVELS: dict[str, tuple[int, int]] = {"gzip": (1, 9), "zstd": (1, 19), "none": (0, -1)}


def insecure_http(url: str) -> bool:
    """Whether ``url`` is plain ``http://`` to anything but this machine."""
    if not url.lower().startswith("http://"):
        return False
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def field_error(title: str, field: str, message: str, value: Any) -> ValidationError:
    """A one-line problem reported at ``<section>.<field>`` by a model validator."""
    detail = InitErrorDetails(
        type=PydanticCustomError("semantic", "{message}", {"message": message}),
        loc=(field,),
        input=value,
    )
    return ValidationError.from_exception_data(title, [detail])


def config_warnings(settings: Settings, services: Sequence[object] = ()) -> list[str]:
    """Every weakening setting of a valid config: ``<yaml path>: <why>``, in file order.

    ``services`` are the resolved static services (none: nowhere to dead-letter to).
    """
    out: list[str] = []
    src = settings.source
    if src.allow_insecure_http and insecure_http(src.base_url):
        out.append(
            f"source.base_url: {src.base_url} is plain http (allow_insecure_http is set): "
            "the API key travels in clear text"
        )
    if src.poll_interval < WARN_POLL_INTERVAL:
        out.append(
            f"source.poll_interval: {src.poll_interval * 1000:g}ms leaves hardly a pause between "
            "polls once caught up; 250ms or more is enough for near-real time (default 5s)"
        )
    if src.lag_window == 0:
        out.append(
            "source.lag_window: off: the late-event re-scan is switched off; events that "
            "become visible after the cursor passed them are never written"
        )
    elif src.lag_window < WARN_LAG_WINDOW:
        out.append(
            f"source.lag_window: {src.lag_window:g}s re-scans only that far back; events "
            "visible later than that are missed (use at least 10s; the default is 2m)"
        )
    if settings.firehose.route == "event" and not services:
        out.append(
            "firehose.route: event with no static service: an event whose own bucket cannot "
            "be written stops the daemon (an unknown credential_id is skipped); enable a "
            "service (e.g. firehose.services.local) to receive dead letters"
        )
    if settings.checkpoint.store == "memory":
        out.append(
            "checkpoint.store: memory keeps the checkpoint in memory only: every restart "
            "starts again from source.start (or now); use file, s3 or azure"
        )
    if settings.shutdown.grace >= WARN_GRACE:
        out.append(
            f"shutdown.grace: {settings.shutdown.grace:g}s: make sure systemd's TimeoutStopSec "
            "or Kubernetes' terminationGracePeriodSeconds is larger, or a flush is killed midway"
        )
    return out
