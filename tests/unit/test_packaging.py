"""Reproducible installs: the lock files, the one version, ``streamer --version``."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

import streamer
from streamer.cli import main as cli
from streamer.source.client import LeadConduitClient

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)")


def normal(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash, extras dropped."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def lock(name: str) -> dict[str, str]:
    """name -> version of one requirements/*.lock, after checking every entry has a hash."""
    text = (REPO / "requirements" / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    out: dict[str, str] = {}
    for entry in entries:
        match = PIN.match(entry)
        assert match, f"{name}: not an exact pin: {entry[:60]!r}"
        assert "--hash=sha256:" in entry, f"{name}: {match[1]} has no hash"
        out[normal(match[1])] = match[2]
    return out


def pins(requirements: list[str]) -> dict[str, str]:
    """name -> version of pyproject's == pins."""
    out = {}
    for requirement in requirements:
        match = PIN.match(requirement)
        assert match, f"pyproject.toml: {requirement!r} is not pinned with =="
        out[normal(match[1])] = match[2]
    return out


@pytest.mark.parametrize(
    ("lock_name", "extras"),
    [("runtime.lock", ["azure-identity"]), ("dev.lock", ["test", "dev"])],
)
def test_lock_has_every_pin_of_pyproject(lock_name: str, extras: list[str]) -> None:
    """Each lock holds pyproject's own pins at the same versions: else run `make lock`."""
    wanted = pins(PROJECT["dependencies"])
    for extra in extras:
        wanted |= pins(PROJECT["optional-dependencies"][extra])
    locked = lock(lock_name)
    stale = {n: v for n, v in wanted.items() if locked.get(n) != v}
    assert not stale, f"requirements/{lock_name} is stale for {stale}: run `make lock`"


def test_runtime_lock_is_a_subset_of_the_dev_lock() -> None:
    """Tests run exactly the versions the image ships (the dev lock only adds tools)."""
    runtime, dev = lock("runtime.lock"), lock("dev.lock")
    differ = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not differ


def test_version_comes_from_the_installed_distribution() -> None:
    """``streamer.__version__`` is pyproject's version, read through importlib.metadata."""
    assert streamer.__version__ == PROJECT["version"]
    assert "__version__" not in vars(streamer)  # computed, not a second copy


def test_cli_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """``streamer --version`` prints the version and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"streamer {PROJECT['version']}\n"


def test_console_script_version() -> None:
    """The installed ``streamer`` script answers ``--version`` too."""
    script = Path(sys.executable).with_name("streamer")
    out = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["streamer", PROJECT["version"]]


@pytest.mark.anyio
async def test_user_agent_carries_the_version() -> None:
    """Requests to the API say ``User-Agent: streamer/<version>``."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["User-Agent"])
        return httpx.Response(200, json=[])

    transport = httpx.MockTransport(handler)
    client = LeadConduitClient("http://127.0.0.1:9", "key", transport=transport)
    try:
        await client.events({"limit": 1})
    finally:
        await client.aclose()
    assert seen == [f"streamer/{PROJECT['version']}"]
