"""Logging set-up and the secret redactor."""

from __future__ import annotations

import io
from collections.abc import Iterator

import orjson
import pytest
import structlog

from streamer.observability import logs
from streamer.observability.logs import MASK, redact, register_secrets, setup_logging

API_KEY = "lc-api-key-0123456789abcdef"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CONN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    f"AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


@pytest.fixture(autouse=True)
def clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Empty secret registry and default structlog config around each test."""
    monkeypatch.setattr(logs, "_secrets", [])
    yield
    structlog.reset_defaults()


def capture(level: str = "info") -> io.StringIO:
    """Configure JSON logging into a buffer."""
    out = io.StringIO()
    setup_logging(level, "json", stream=out)
    return out


def lines(out: io.StringIO) -> list[dict[str, object]]:
    """The JSON lines written so far."""
    return [orjson.loads(line) for line in out.getvalue().splitlines() if line]


def test_redact_api_key() -> None:
    """A registered API key is masked wherever it appears."""
    register_secrets([API_KEY])
    assert redact(f"GET with key {API_KEY} failed") == f"GET with key {MASK} failed"


def test_redact_account_key_alone() -> None:
    """The AccountKey part of a connection string is masked even when quoted on its own."""
    register_secrets([CONN])
    assert redact(f"key={ACCOUNT_KEY}") == f"key={MASK}"
    assert redact(CONN) == MASK
    assert ACCOUNT_KEY not in redact(f"conn: {CONN[:-1]}")


def test_redact_sas_signature() -> None:
    """A SAS token's sig= value is masked on its own."""
    sas = "sv=2024-01-01&ss=b&sig=abcDEF123%2Fxyz&se=2030"
    register_secrets([sas])
    assert redact("url?sig=abcDEF123%2Fxyz") == f"url?sig={MASK}"


@pytest.mark.parametrize("short", ["", "a", "abc"])
def test_short_values_are_not_registered(short: str) -> None:
    """Empty and very short values are ignored (they would mask everything)."""
    register_secrets([short])
    assert logs._secrets == []
    assert redact("abc abc") == "abc abc"


def test_longest_secret_masked_first() -> None:
    """A secret containing another is masked whole, not leaving a tail."""
    register_secrets(["abcd", "abcdefgh"])
    assert redact("x abcdefgh y") == f"x {MASK} y"


def test_register_is_idempotent() -> None:
    """Registering the same secret twice keeps one entry."""
    register_secrets([API_KEY, API_KEY])
    assert logs._secrets == [API_KEY]


def test_json_output_has_timestamp_level_event() -> None:
    """JSON lines carry timestamp (ISO, UTC), level, event and the fields."""
    out = capture()
    structlog.get_logger("t").info("poller.page_fetched", events=3)
    (line,) = lines(out)
    assert line["event"] == "poller.page_fetched"
    assert line["level"] == "info"
    assert line["events"] == 3
    assert isinstance(line["timestamp"], str)
    assert line["timestamp"].endswith("Z")


@pytest.mark.parametrize(("level", "shown"), [("debug", 2), ("info", 1), ("warning", 0)])
def test_level_filters(level: str, shown: int) -> None:
    """The configured level drops lower-level lines."""
    out = capture(level)
    log = structlog.get_logger("t")
    log.debug("a.debug")
    log.info("a.info")
    assert len(lines(out)) == shown


def test_fields_are_redacted_recursively() -> None:
    """Secrets inside strings, lists and dicts of a log line are masked."""
    register_secrets([API_KEY, CONN])
    out = capture()
    structlog.get_logger("t").warning(
        "x.y", msg=f"key {API_KEY}", items=[API_KEY, 1], nested={"conn": CONN}
    )
    raw = out.getvalue()
    assert API_KEY not in raw
    assert ACCOUNT_KEY not in raw
    (line,) = lines(out)
    assert line["msg"] == f"key {MASK}"
    assert line["items"] == [MASK, 1]


def test_exception_text_is_redacted() -> None:
    """A logged traceback whose message holds a secret is masked."""
    register_secrets([API_KEY, CONN])
    out = capture()
    try:
        raise RuntimeError(f"boom {API_KEY} / AccountKey={ACCOUNT_KEY}")
    except RuntimeError:
        structlog.get_logger("t").exception("sink.failed")
    raw = out.getvalue()
    assert "RuntimeError" in raw
    assert API_KEY not in raw
    assert ACCOUNT_KEY not in raw
    assert MASK in lines(out)[0]["exception"]  # type: ignore[operator]


def test_console_renderer_is_also_redacted() -> None:
    """The console renderer gets the same masking."""
    register_secrets([API_KEY])
    out = io.StringIO()
    setup_logging("info", "console", stream=out)
    structlog.get_logger("t").info("x.y", key=API_KEY)
    assert API_KEY not in out.getvalue()
    assert "x.y" in out.getvalue()


def test_stdlib_logging_is_a_json_line_with_secrets_masked() -> None:
    """A third-party library's stdlib log record comes out as one masked JSON line."""
    import logging

    out = capture()
    register_secrets([API_KEY])
    logging.getLogger("botocore.endpoint").warning("request failed with key %s", API_KEY)
    (line,) = lines(out)
    assert line["event"] == f"request failed with key {MASK}"
    assert line["level"] == "warning"
    assert line["logger"] == "botocore.endpoint"
    assert "timestamp" in line
    assert API_KEY not in out.getvalue()


def test_sdk_loggers_stay_at_warning_even_at_debug() -> None:
    """At level debug the SDKs' INFO/DEBUG lines (request headers) are still not printed."""
    import logging

    out = capture("debug")
    logging.getLogger("botocore.auth").debug("signing with headers")
    logging.getLogger("httpx").info("HTTP Request: GET https://x")
    logging.getLogger("azure.core.pipeline").warning("retrying")
    logging.getLogger("streamer.somewhere").debug("ours at debug")
    assert [line["event"] for line in lines(out)] == ["retrying", "ours at debug"]


def test_reconfiguring_keeps_one_stdlib_handler() -> None:
    """Calling setup_logging twice (CLI, then config) does not print stdlib lines twice."""
    import logging

    capture()
    out = capture()
    logging.getLogger("aiohttp.server").error("boom")
    assert len(lines(out)) == 1


@pytest.mark.anyio
async def test_one_log_line_per_retry() -> None:
    """Each retry is logged once, as <component>.retry_scheduled with its typed kind."""
    from streamer.errors import RetriableSinkError
    from streamer.observability.metrics import Metrics, count_retries
    from streamer.observability.retry import backoff

    out = capture()
    metrics = Metrics()
    failures = 2
    with count_retries(metrics):
        async for attempt in backoff(max_backoff=0.01, initial=0.001):
            with attempt:
                if attempt.num <= failures:
                    raise RetriableSinkError("s3: PutObject k failed: SlowDown", kind="http_503")
    retries = [line for line in lines(out) if "retry" in str(line["event"])]
    assert [line["event"] for line in retries] == ["sink.retry_scheduled"] * failures
    assert [line["kind"] for line in retries] == ["http_503"] * failures
    assert [line["attempt"] for line in retries] == [1, 2]
    text = metrics.render().decode()
    assert 'streamer_errors_total{component="sink",kind="http_503"} 2.0' in text


def test_library_lines_never_mix_into_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """By default library records go to stderr: stdout may carry a command's JSON output."""
    import logging

    setup_logging("info", "json")
    logging.getLogger("asyncio").warning("Unknown child process pid 1")
    structlog.get_logger("streamer.x").warning("ours.logged")
    captured = capsys.readouterr()
    assert "Unknown child process" not in captured.out
    assert orjson.loads(captured.err)["event"] == "Unknown child process pid 1"
    assert orjson.loads(captured.out)["event"] == "ours.logged"
