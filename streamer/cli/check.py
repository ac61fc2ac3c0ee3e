"""``streamer check --connect``: prove the API key, the checkpoint and every sink work.

Each check is one ``(name, ok, message)`` row; a message names what failed and what to do,
never a secret. The API check is a single ``GET /events?limit=1&sort=asc`` without
retries, so a wrong key, a wrong ``base_url`` or an unreachable host answers in seconds
instead of being retried forever as the daemon would. Sinks are write-tested by
:func:`streamer.sinks.connect.verify_all` (a small verification file, written then deleted).
"""

from __future__ import annotations

import argparse

import anyio

from streamer.errors import FatalSourceError, RetriableSourceError, StreamerError
from streamer.settings.loader import LoadedConfig
from streamer.source.client import LeadConduitClient

#: the API check never waits longer than this for one answer
API_TIMEOUT = 10.0


def _api_problem(exc: StreamerError, base_url: str) -> str:
    """The operator's reading of an API failure, from the error's typed ``kind``."""
    if exc.kind in ("http_401", "http_403"):
        return (
            f"API key refused by {base_url}: check source.api_key (or LEADCONDUIT_API_KEY / "
            "api_key_file) and that the account has access to Leads"
        )
    if exc.kind in ("not_json", "malformed_page", "http_404"):
        return (
            f"base_url is not LeadConduit: {base_url} did not answer /events with JSON events; "
            "set source.base_url to https://app.leadconduit.com"
        )
    if isinstance(exc, RetriableSourceError) and not exc.kind.startswith("http_"):
        return f"{base_url} is unreachable ({exc.kind}); check the URL and network"
    return str(exc)


async def check_api(loaded: LoadedConfig) -> tuple[bool, str]:
    """One unretried request with the configured key: ``(ok, one-line message)``."""
    src = loaded.settings.source
    limit = min(float(src.timeout), API_TIMEOUT)
    client = LeadConduitClient(
        src.base_url, src.api_key.get_secret_value(), timeout=limit, attempts=1
    )
    try:
        with anyio.fail_after(limit + 5):
            page = await client.events({"limit": 1, "sort": "asc"})
    except TimeoutError:
        return False, f"{src.base_url} is unreachable (no answer within {limit:g}s)"
    except (FatalSourceError, RetriableSourceError) as exc:
        return False, _api_problem(exc, src.base_url)
    finally:
        with anyio.CancelScope(shield=True):
            await client.aclose()
    first = f"; oldest event {page[0]['id']}" if page else "; no events yet"
    return True, f"ok: {src.base_url} accepted the API key{first}"


async def check_checkpoint(loaded: LoadedConfig) -> tuple[bool, str]:
    """The checkpoint store answers and its document (if any) parses; nothing is written."""
    from streamer.checkpoint.factory import build_store

    store = build_store(loaded.settings)
    try:
        with anyio.fail_after(60):
            checkpoint = await store.load()
    except TimeoutError:
        return False, f"checkpoint {store.label}: no answer within 60s"
    except StreamerError as exc:
        return False, str(exc)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await store.aclose()
    if checkpoint is None:
        return True, f"ok: {store.label} (no checkpoint yet; the first run creates it)"
    return True, f"ok: {store.label} (cursor {checkpoint.cursor or 'none'})"


async def connect_all(loaded: LoadedConfig) -> list[tuple[str, bool, str]]:
    """Every check, concurrently; rows in a fixed order: api, checkpoint, then services."""
    from streamer.sinks.connect import verify_all

    results: dict[str, tuple[bool, str]] = {}
    services: list[tuple[str, bool, str]] = []

    async def api() -> None:
        results["api"] = await check_api(loaded)

    async def checkpoint() -> None:
        results["checkpoint"] = await check_checkpoint(loaded)

    async def sinks() -> None:
        services.extend(await verify_all(loaded.services))

    async with anyio.create_task_group() as tg:
        tg.start_soon(api, name="check api")
        tg.start_soon(checkpoint, name="check checkpoint")
        tg.start_soon(sinks, name="check sinks")
    return [("api", *results["api"]), ("checkpoint", *results["checkpoint"]), *services]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer check``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument(
        "--connect", action="store_true", help="verify API key and write-test sinks"
    )


def main(args: argparse.Namespace) -> int:
    """Config problems exit 2 (raised by the loader); ``--connect`` failures exit 1."""
    from streamer.cli.common import load
    from streamer.observability.logs import redact

    loaded = load(args)
    print(f"config ok: {args.config}")
    for service in loaded.services:
        print(f"  service {service.label} prefix={service.prefix or '(none)'}")
    if loaded.warnings:
        print(f"warnings ({len(loaded.warnings)}):")
        for warning in loaded.warnings:
            print(redact(f"  {warning}"))
    if not args.connect:
        return 0
    results = anyio.run(connect_all, loaded)
    ok = True
    for name, good, message in results:
        ok &= good
        print(redact(f"  {'ok  ' if good else 'FAIL'} {name}: {message}"))
    return 0 if ok else 1
