"""``--format html`` (issue 16 req. 7): one self-contained page with a chart over time and the
table, rendered by headless Chromium into a screenshot that is not blank."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from report_helpers import run_cli, write_archive, write_config

from streamer.simulator import generate_events

END = 1_790_000_000
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=800,600", "--hide-scrollbars"]  # fmt: skip


@pytest.fixture
def page(tmp_path: Path) -> tuple[Path, str]:
    """A six-hour archive reported as HTML by hour, grouped by flow."""
    events = generate_events(1200, seed=8, end_ts=END, span_seconds=6 * 3600)
    write_archive(tmp_path / "out", events)
    cfg = write_config(tmp_path, tmp_path / "out")
    out = tmp_path / "report.html"
    code, stdout, err = run_cli("report", "-c", str(cfg), "--start", str(END - 6 * 3600),
                                "--end", str(END + 1), "--group-by", "vars.flow.id",
                                "--format", "html", "--output", str(out), "--chart-columns",
                                "source-success,recipient-success")  # fmt: skip
    assert code == 0, err
    assert stdout == ""
    return out, out.read_text()


def test_output_file_is_private(page: tuple[Path, str]) -> None:
    """A report written with --output may hold lead data: 0600, whatever the umask."""
    path, _text = page
    assert path.stat().st_mode & 0o777 == 0o600


def test_page_is_self_contained(page: tuple[Path, str]) -> None:
    """No external scripts, styles, fonts or images: nothing to fetch when opened."""
    _path, text = page
    assert text.startswith("<!doctype html>")
    for needle in ("<script", "http://", "https://", "<link", "@import", "url("):
        assert needle not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert text.count("<polyline") == 2
    assert "5d0e1f2a3b4c5d0012bb0001" in text
    assert "<td>total</td>" in text


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered RGB(A) rows of an 8-bit PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", data[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    prev = bytearray(stride)
    for r in range(height):
        line = raw[r * (stride + 1) : (r + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            cur[i] = (cur[i] + pred) & 0xFF
        rows.append(bytes(cur))
        prev = cur
    return width, height, rows


@pytest.mark.slow
def test_chromium_renders_a_chart_and_a_table(page: tuple[Path, str], tmp_path: Path) -> None:
    """Headless Chromium's screenshot of the page has the chart's colours and plenty of ink."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed: scripts/install-chromium.sh (make test) "
                    "installs it with apt-get when run as root")  # fmt: skip
    path, _text = page
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         path.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    width, _height, rows = _pixels(shot.read_bytes())
    channels = len(rows[0]) // width
    pixels = [row[i : i + 3] for row in rows[::4] for i in range(0, len(row), channels * 4)]
    inked = sum(1 for p in pixels if p != b"\xff\xff\xff")
    assert inked > len(pixels) * 0.02, "the screenshot is (almost) blank"
    blue, red = bytes.fromhex("2563eb"), bytes.fromhex("dc2626")
    colours = {p for row in rows for p in (row[i : i + 3] for i in range(0, len(row), channels))}
    assert blue in colours
    assert red in colours
