"""Every row of docs/errors.md: the bad input, its one clear message, and its exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio
KEY = "bad-input-test-key-0123"
LOCAL = {"services": {"local": {"enabled": True, "path": "./out"}}}


def base(url: str = "http://127.0.0.1:9", **more: object) -> dict[str, object]:
    """A valid config (local sink, file checkpoint under the working directory)."""
    cfg: dict[str, object] = {
        "source": {"base_url": url, "api_key": KEY, "start": {"after_id": "0" * 24},
                   "poll_interval": "0.2s"},
        "firehose": LOCAL,
        "checkpoint": {"path": "./state/checkpoint.json"},
        "logging": {"level": "warning"},
    }
    cfg.update(more)
    return cfg


async def cli(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``python -m streamer ARGS`` in ``tmp``; return (exit code, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if k != "STREAMER_TEST_UNSET"}
    full_env.update(env or {})
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, "-m", "streamer", *args], cwd=tmp, env=full_env, check=False
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def write(tmp: Path, content: object) -> Path:
    """Write a config (a dict is dumped as YAML, a string verbatim)."""
    path = tmp / "streamer.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def data_files(root: Path) -> list[Path]:
    """Data objects written anywhere under ``root``."""
    return list(root.rglob("*.jsonl*"))


def one_clear_line(err: str, *needles: str) -> None:
    """The error names what is wrong, with no traceback."""
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


CONFIG_CASES = [
    ("empty", "", ["config is empty"]),
    ("invalid-yaml", "source: [a\n", ["invalid YAML", "line 2"]),
    ("not-a-mapping", "- a\n- b\n", ["must be a YAML mapping"]),
    ("unknown-key", base(batch={"max_evnts": 5}),
     ["batch.max_evnts: unknown key", "did you mean 'max_events'"]),
    ("unknown-section", base(metrcs={"port": 1}), ["metrcs: unknown key", "'metrics'"]),
    ("wrong-type", base(batch={"max_events": "lots"}), ["batch.max_events", "valid integer"]),
    ("zero-size", base(batch={"max_events": 0}),
     ["batch.max_events", "greater than or equal to 1"]),
    ("negative-size", base(batch={"max_bytes": "-1MiB"}), ["batch.max_bytes"]),
    ("bad-duration", base(batch={"max_age": "soon"}), ["batch.max_age"]),
    ("unknown-credential", base(firehose={"bucket": "b", "credential_id": "nope"}),
     ["firehose.credential_id: unknown credential_id 'nope'"]),
    ("enabled-without-bucket",
     base(credentials={"a": {"service": "aws"}},
          firehose={"services": {"aws": {"enabled": True, "credential_id": "a"}}}),
     ["firehose.services.aws.bucket: required when aws is enabled"]),
    ("bad-rule",
     base(pipeline=[{"filter": {"rule_set": {"op": "and", "rules": [
         {"lhv": "type", "op": "is like", "rhv": "x"}]}}}]),
     ["pipeline[0].filter.rule_set.rules[0].op", "unknown operator 'is like'"]),
    ("unreadable-secret-file",
     {**base(), "source": {"base_url": "https://x", "api_key_file": "/nonexistent/api.key"}},
     ["source.api_key_file: cannot read secret file /nonexistent/api.key"]),
    ("unset-env-var",
     {**base(), "source": {"base_url": "https://x", "api_key": "${STREAMER_TEST_UNSET}"}},
     ["environment variable STREAMER_TEST_UNSET is not set"]),
    ("empty-api-key", {**base(), "source": {"base_url": "https://x", "api_key": ""}},
     ["source.api_key: is empty"]),
    ("no-service", {**base(), "firehose": {"prefix": "x"}}, ["firehose: no service is enabled"]),
    ("cleartext-api-key", base("http://leadconduit.example.com"),
     ["source.base_url: http://leadconduit.example.com is plain http", "allow_insecure_http"]),
    ("lag-window-zero", base(source={**base()["source"], "lag_window": "0s"}),
     ["source.lag_window: 0 would switch the late-event re-scan off", "lag_window: off"]),
    ("poll-interval-zero", base(source={**base()["source"], "poll_interval": "0s"}),
     ["source.poll_interval: 0s would poll the API back to back", "at least 250ms"]),
    ("gzip-level-above-9", base(batch={"compression": "gzip", "compression_level": 19}),
     ["batch.compression_level: compression gzip levels are 1..9"]),
    ("level-without-codec", base(batch={"compression": "none", "compression_level": 3}),
     ["batch.compression_level: compression none takes no compression_level"]),
]


@pytest.mark.parametrize(
    ("content", "needles"), [(c, n) for _id, c, n in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
async def test_config_problem_exits_2_naming_the_item(
    tmp_path: Path, content: object, needles: list[str]
) -> None:
    """``check`` names the YAML path and what to do, exits 2, and creates no state."""
    write(tmp_path, content)
    code, out, err = await cli(tmp_path, "check", "-c", "streamer.yaml")
    assert code == 2, (out, err)
    one_clear_line(err, *needles)
    if "unknown key" in needles[0]:
        assert sum("unknown key" in line for line in err.splitlines()) == 1
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert not (tmp_path / "state").exists()


async def test_run_refuses_a_bad_config_too(tmp_path: Path) -> None:
    """``run`` with a bad config exits 2 before touching anything."""
    write(tmp_path, base(batch={"max_evnts": 5}))
    code, _out, err = await cli(tmp_path, "run", "-c", "streamer.yaml")
    assert code == 2
    one_clear_line(err, "did you mean 'max_events'")
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "out").exists()


async def test_missing_config_file(tmp_path: Path) -> None:
    """A config path that does not exist: exit 2, says so."""
    code, _out, err = await cli(tmp_path, "run", "-c", "nope.yaml")
    assert code == 2
    one_clear_line(err, "nope.yaml: config file not found")


async def test_bad_usage_exits_2(tmp_path: Path) -> None:
    """An unknown flag is a usage error (argparse), exit 2."""
    code, _out, err = await cli(tmp_path, "run", "-c", "streamer.yaml", "--nope")
    assert code == 2
    one_clear_line(err, "unrecognized arguments: --nope")


async def test_wrong_api_key_exits_1(tmp_path: Path) -> None:
    """401 from the API: exit 1, says the key was refused, checkpoint untouched."""
    async with start_simulator(SimulatorOptions(events=50, api_key="the-right-key")) as sim:
        write(tmp_path, base(sim.url))
        code, _out, err = await cli(tmp_path, "run", "-c", "streamer.yaml", "--until-caught-up")
        ccode, cout, _cerr = await cli(tmp_path, "check", "-c", "streamer.yaml", "--connect")
    assert code == 1
    one_clear_line(err, "refused the API key (401)", "source.api_key")
    assert KEY not in err
    assert ccode == 1
    assert "FAIL api: API key refused" in cout
    assert data_files(tmp_path) == []
    assert sim.state.events_served == 0


async def test_base_url_not_leadconduit_exits_1(tmp_path: Path) -> None:
    """A base_url serving an HTML page: exit 1, says base_url is not the LeadConduit API."""

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><html><body>Welcome</body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        write(tmp_path, base(url))
        code, _out, err = await cli(tmp_path, "run", "-c", "streamer.yaml", "--until-caught-up")
        ccode, cout, _cerr = await cli(tmp_path, "check", "-c", "streamer.yaml", "--connect")
    assert code == 1
    one_clear_line(err, "source.base_url is not the LeadConduit API")
    assert ccode == 1
    assert "FAIL api: base_url is not LeadConduit" in cout


async def test_unreachable_api_in_check_connect(tmp_path: Path) -> None:
    """``check --connect`` against a closed port: exit 1, 'unreachable', quickly."""
    write(tmp_path, base("http://127.0.0.1:9"))
    code, out, _err = await cli(tmp_path, "check", "-c", "streamer.yaml", "--connect")
    assert code == 1
    assert "FAIL api:" in out
    assert "unreachable" in out
    assert "ok   local" in out


async def test_unwritable_state_directory_exits_1(tmp_path: Path) -> None:
    """A checkpoint directory that cannot be created: exit 1 naming it, nothing fetched."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    async with start_simulator(SimulatorOptions(events=50, api_key=KEY)) as sim:
        cfg = base(sim.url, checkpoint={"path": str(blocker / "state" / "checkpoint.json")})
        write(tmp_path, cfg)
        code, _out, err = await cli(tmp_path, "run", "-c", "streamer.yaml", "--until-caught-up")
        requests = sim.state.requests
    assert code == 1
    one_clear_line(err, f"checkpoint directory {blocker / 'state'} is not writable")
    assert requests == 0
    assert not (tmp_path / "out").exists()


CORRUPT = b'{"version": 1, "cursor": "not-an-id", "seen": [], "intents": [], "sinks": {}'


@pytest.mark.parametrize("command", ["run", "status"])
async def test_corrupt_checkpoint_is_refused_and_left_alone(tmp_path: Path, command: str) -> None:
    """A corrupt checkpoint: exit 1 with what to do; the file stays byte-identical."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "checkpoint.json").write_bytes(CORRUPT)
    before = os.stat(state / "checkpoint.json")
    async with start_simulator(SimulatorOptions(events=50, api_key=KEY)) as sim:
        write(tmp_path, base(sim.url))
        code, _out, err = await cli(tmp_path, command, "-c", "streamer.yaml")
    assert code == 1
    one_clear_line(err, "checkpoint.json is corrupt", "restore it from backup or move it away")
    assert len(err.strip().splitlines()) == 1
    assert (state / "checkpoint.json").read_bytes() == CORRUPT
    assert os.stat(state / "checkpoint.json").st_mtime_ns == before.st_mtime_ns
    assert not (tmp_path / "out").exists()


WEAK = """\
source:
  base_url: {url}
  api_key: {key}
  poll_interval: 0.2s
  lag_window: off
  start: {{after_id: "000000000000000000000000"}}
firehose: {{services: {{local: {{enabled: true, path: ./out}}}}}}
checkpoint: {{store: memory}}
shutdown: {{grace: 30s}}
"""
WEAK_LINES = [
    "source.poll_interval: 200ms leaves hardly a pause between polls",
    "source.lag_window: off: the late-event re-scan is switched off",
    "checkpoint.store: memory keeps the checkpoint in memory only",
    "shutdown.grace: 30s: make sure systemd's TimeoutStopSec",
]


async def test_check_warns_and_run_logs_the_same_warnings(tmp_path: Path) -> None:
    """Weakening settings: check exits 0 with a warnings section; run logs config.warning."""
    async with start_simulator(SimulatorOptions(events=20, api_key=KEY)) as sim:
        write(tmp_path, WEAK.format(url=sim.url, key=KEY))
        code, out, err = await cli(tmp_path, "check", "-c", "streamer.yaml")
        rcode, rout, rerr = await cli(tmp_path, "run", "-c", "streamer.yaml", "--until-caught-up")
    assert (code, err) == (0, ""), err
    assert "warnings (4):" in out
    for line in WEAK_LINES:
        assert f"\n  {line}" in out, (line, out)
    assert rcode == 0, rerr
    logged = [line for line in rout.splitlines() if "config.warning" in line]
    assert len(logged) == 4, rout
    for line in WEAK_LINES:
        assert any(line in entry for entry in logged), (line, logged)


async def test_check_prints_no_warnings_section_for_a_sound_config(tmp_path: Path) -> None:
    """A config that weakens nothing gets no warnings section."""
    cfg = base()
    cfg["source"] = {**cfg["source"], "poll_interval": "5s"}  # type: ignore[dict-item]
    write(tmp_path, cfg)
    code, out, _err = await cli(tmp_path, "check", "-c", "streamer.yaml")
    assert code == 0
    assert "warnings" not in out
