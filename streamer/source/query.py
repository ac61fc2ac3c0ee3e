"""``source.query`` as ``GET /events`` parameters (server-side selection)."""

from __future__ import annotations

from typing import Any

import orjson

from streamer.settings.model import Settings


def api_query(settings: Settings) -> dict[str, Any]:
    """``source.query`` as request parameters (server-side selection, fewer bytes travel).

    ``include`` always adds ``id`` and ``vars.lead.id``: the cursor and the per-event
    layout need them.
    """
    query = settings.source.query
    params: dict[str, Any] = {}
    if query.rules:
        params["rules"] = orjson.dumps(query.rules).decode()
    if query.include:
        params["include"] = sorted({*query.include, "id", "vars.lead.id"})
    if query.exclude:
        params["exclude"] = list(query.exclude)
    return params
