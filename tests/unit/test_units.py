"""Durations and sizes as written in the YAML (``30s``, ``5m``, ``16MiB``)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from streamer.settings.units import Duration, Size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        (" 10 s ", 10.0),
        ("45", 45.0),
        (7, 7.0),
        (0.5, 0.5),
        (0, 0.0),
    ],
)
def test_parse_duration_accepts(text: object, seconds: float) -> None:
    """Every documented duration spelling becomes seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["-5s", "5x", "five minutes", "", "1h30m", None, True, [1], -1])
def test_parse_duration_rejects(bad: object) -> None:
    """Nonsense, negative and boolean durations are refused with a hint."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16MiB", 16 * 1024**2),
        ("16mib", 16 * 1024**2),
        ("500KB", 500_000),
        ("500kb", 500_000),
        ("1GiB", 1024**3),
        ("2G", 2 * 1000**3),
        ("1.5KiB", 1536),
        ("1Ti", 1024**4),
        ("100b", 100),
        ("1024", 1024),
        (2048, 2048),
    ],
)
def test_parse_size_accepts(text: object, size: int) -> None:
    """Binary and decimal units, bare numbers and case variants become bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["lots", "16 MeB", "-1KiB", "", "1e3", None, False, -5])
def test_parse_size_rejects(bad: object) -> None:
    """Nonsense, negative and boolean sizes are refused with a hint."""
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


class _Model(BaseModel):
    wait: Duration
    limit: Size


def test_annotated_types_convert_in_models() -> None:
    """The pydantic annotations run the parsers before validation."""
    model = _Model(wait="5m", limit="1KiB")
    assert (model.wait, model.limit) == (300.0, 1024)


def test_annotated_types_report_the_field() -> None:
    """A bad value is a ValidationError naming the field."""
    with pytest.raises(ValidationError) as info:
        _Model(wait="soon", limit="1KiB")
    assert info.value.errors()[0]["loc"] == ("wait",)


def test_parse_size_rejects_infinity() -> None:
    """An infinite size is a ValueError like any other bad size."""
    with pytest.raises(ValueError, match="size"):
        parse_size(float("inf"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_parse_duration_rejects_non_finite(bad: float) -> None:
    """NaN and infinity are not durations."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)
