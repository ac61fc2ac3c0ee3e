"""One time parser for every --start/--end: report, serve, replay and backfill agree."""

from __future__ import annotations

import argparse

import pytest

from streamer.cli import backfill as backfill_cli
from streamer.errors import ConfigError
from streamer.ids import synthetic_id
from streamer.report.options import UsageError
from streamer.report.options import parse_time as report_time
from streamer.times import iso, parse_time

SECOND = 1795162112


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T08:08:32Z",
        "2026-11-20T08:08:32+00:00",
        "2026-11-20T08:08:32",  # no zone: UTC
        str(SECOND),
        str(SECOND * 1000),  # epoch milliseconds, as LeadConduit's API writes them
        synthetic_id(SECOND),  # an event id: its creation second
        synthetic_id(SECOND).upper(),
    ],
)
def test_every_form_means_the_same_second(text: str) -> None:
    """ISO, epoch seconds, epoch ms and an event id all parse to the same second."""
    assert parse_time(text, "--start") == SECOND


def test_a_date_is_its_midnight_and_fractions_are_kept() -> None:
    """A bare date is midnight UTC; fractional seconds and ms survive."""
    assert parse_time("2026-11-20", "--end") == SECOND - (8 * 3600 + 8 * 60 + 32)
    assert parse_time(f"{SECOND}.5", "--start") == SECOND + 0.5
    assert iso(SECOND + 0.25) == "2026-11-20T08:08:32.250Z"


def test_each_command_reports_a_bad_time_its_own_way() -> None:
    """report/serve raise a usage error, backfill a config error; both name the flag."""
    with pytest.raises(UsageError, match="--start: 'soon' is not a time"):
        report_time("soon", "--start")
    with pytest.raises(ConfigError, match="--end: 'soon' is not a time"):
        backfill_cli.parse_time("soon", "--end")


def test_backfill_takes_epoch_milliseconds_like_report() -> None:
    """backfill --start in ms (as copied from LeadConduit) is the same range as seconds."""
    args = argparse.Namespace(start=str(SECOND * 1000), end=str(SECOND + 60))
    start = backfill_cli.parse_time(args.start, "--start")
    assert start == SECOND
    assert backfill_cli.parse_time(args.end, "--end") - start == 60
