"""Settings that weaken the guarantee: refused with the fix, or warned about in one line."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer.errors import ConfigError
from streamer.pipeline.layout import compressor
from streamer.settings.loader import LoadedConfig, parse_settings

LOCAL = {"services": {"local": {"enabled": True, "path": "./out"}}}


def load(**source: Any) -> LoadedConfig:
    """A valid config with ``source`` keys (and ``_<section>`` sections) replaced."""
    sections = {k[1:]: source.pop(k) for k in list(source) if k.startswith("_")}
    raw: dict[str, Any] = {"source": {"api_key": "k3y", **source}, "firehose": LOCAL, **sections}
    return parse_settings(raw, base=Path(), env={})


def problems(**source: Any) -> list[str]:
    """The problems of such a config."""
    with pytest.raises(ConfigError) as info:
        load(**source)
    return info.value.problems


def test_defaults_warn_about_nothing() -> None:
    """The documented defaults weaken nothing: no warnings."""
    assert load().warnings == ()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:80", "http://127.9.9.9",
     "http://sim.localhost", "https://app.leadconduit.com", "https://10.0.0.1"],
)
def test_loopback_or_https_base_url_is_fine(url: str) -> None:
    """https anywhere, and http to this machine (the simulator), need no opt-in."""
    assert load(base_url=url).settings.source.base_url == url


@pytest.mark.parametrize("url", ["http://app.leadconduit.com", "http://10.0.0.1:80"])
def test_cleartext_base_url_is_refused(url: str) -> None:
    """http:// to another host would send the API key in clear text: an error with the fix."""
    (problem,) = problems(base_url=url)
    assert problem.startswith(f"source.base_url: {url} is plain http")
    assert "set source.allow_insecure_http: true" in problem
    assert "k3y" not in problem


def test_cleartext_base_url_allowed_when_spelled_out_still_warns() -> None:
    """allow_insecure_http: true lets it run, and check still says the key is in clear."""
    loaded = load(base_url="http://proxy.internal", allow_insecure_http=True)
    assert loaded.warnings == (
        "source.base_url: http://proxy.internal is plain http (allow_insecure_http is set): "
        "the API key travels in clear text",
    )


@pytest.mark.parametrize("value", ["0s", 0, "0ms", "0m"])
def test_lag_window_zero_is_refused(value: object) -> None:
    """A zero lag window is refused: switching the re-scan off must be spelled ``off``."""
    (problem,) = problems(lag_window=value)
    assert problem.startswith("source.lag_window: 0 would switch the late-event re-scan off")
    assert "lag_window: off" in problem


def test_lag_window_off_in_yaml_turns_the_rescan_off_with_a_warning() -> None:
    """``lag_window: off`` (a YAML boolean) or ``"off"`` means 0, and check warns."""
    for raw in (yaml.safe_load("lag_window: off")["lag_window"], "off", "OFF"):
        loaded = load(lag_window=raw)
        assert loaded.settings.source.lag_window == 0.0
        assert loaded.warnings[0].startswith("source.lag_window: off: the late-event re-scan")


def test_short_lag_window_warns() -> None:
    """A lag window under 10s misses events only slightly late: a warning."""
    (warning,) = load(lag_window="5s").warnings
    assert warning.startswith("source.lag_window: 5s re-scans only that far back")
    assert load(lag_window="10s").warnings == ()


@pytest.mark.parametrize("value", ["0s", 0, "50ms"])
def test_poll_interval_below_floor_is_refused(value: object) -> None:
    """Polling with (almost) no pause is refused: at least 100ms, 250ms advised."""
    (problem,) = problems(poll_interval=value)
    assert problem.startswith("source.poll_interval:")
    assert "at least 250ms" in problem


def test_short_poll_interval_warns() -> None:
    """100..250ms is accepted with a warning."""
    (warning,) = load(poll_interval="100ms").warnings
    assert warning.startswith("source.poll_interval: 100ms leaves hardly a pause")
    assert load(poll_interval="250ms").warnings == ()


def test_memory_checkpoint_and_long_grace_warn() -> None:
    """store: memory (restarts start over) and grace >= 30s (stop timeouts) are warned about."""
    loaded = load(_checkpoint={"store": "memory"}, _shutdown={"grace": "45s"})
    assert [w.split(":")[0] for w in loaded.warnings] == ["checkpoint.store", "shutdown.grace"]
    assert "every restart starts again" in loaded.warnings[0]
    assert "TimeoutStopSec" in loaded.warnings[1]
    assert "terminationGracePeriodSeconds" in loaded.warnings[1]
    assert load(_shutdown={"grace": "29s"}).warnings == ()


@pytest.mark.parametrize(
    ("codec", "level", "fragment"),
    [("gzip", 10, "gzip levels are 1..9"), ("gzip", 0, "gzip levels are 1..9"),
     ("zstd", 20, "zstd levels are 1..19"), ("none", 1, "none takes no compression_level")],
)
def test_compression_level_is_validated_per_codec(codec: str, level: int, fragment: str) -> None:
    """A level the codec does not apply is refused at its YAML path."""
    (problem,) = problems(_batch={"compression": codec, "compression_level": level})
    assert problem.startswith("batch.compression_level:")
    assert fragment in problem


def test_gzip_level_above_three_is_applied() -> None:
    """gzip level 9 is really level 9 (it was silently capped at 3): smaller, still gzip."""
    line = b'{"id":"%024x","type":"source","n":%d}\n'
    data = b"".join(line % (i, i * 7 % 13) for i in range(3000))

    def encode(level: int) -> bytes:
        comp = compressor("gzip", level)
        return comp.compress(data) + comp.flush()

    nine, three = encode(9), encode(3)
    assert len(nine) < len(three)
    assert zlib.decompress(nine, 47) == data
    assert encode(9) == nine  # deterministic, so a replay names and hashes the same


def test_every_rule_error_is_reported_in_one_pass() -> None:
    """Two bad sibling rules (and a bad nested one) are all reported at once."""
    bad = [
        {"lhv": "type", "op": "is equal to"},
        {"lhv": "x", "op": "bogus", "rhv": 1},
        {"op": "or", "rules": [{"lhv": "y"}]},
    ]
    with pytest.raises(ConfigError) as info:
        parse_settings(
            {"source": {"api_key": "k", "query": {"rules": bad}}, "firehose": LOCAL,
             "pipeline": [{"filter": {"rule_set": {"op": "and", "rules": bad}}}]},
            base=Path(), env={},
        )
    paths = [p.split(": ", 1)[0] for p in info.value.problems]
    for base in ("source.query.rules", "pipeline[0].filter.rule_set.rules"):
        assert f"{base}[0].rhv" in paths
        assert f"{base}[1].op" in paths
        assert f"{base}[2].rules[0].op" in paths
    assert len(paths) == 6
