"""A daemon imports only the SDKs its config enables (issue 15 item 3, issue 17 item 2).

Each case starts ``streamer run --until-caught-up`` in a fresh interpreter against the
real simulator (and Azurite for the Azure case) and inspects ``sys.modules`` when it has
finished: an import of an SDK the config does not use costs start-up CPU for nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from daemon_helpers import API_KEY, settings_dict
from servers import AzuriteServer, credential_config, make_bucket

from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio
AWS_SDK = ("botocore", "aiobotocore", "boto3")
AZURE_SDK = ("azure",)
HTTP_SDK = ("aiohttp",)  # what both cloud SDKs ride on; the API client is httpx
# runs the daemon in-process, then prints the top-level packages it imported
PROBE = """
import json, sys
from streamer.cli.main import main
code = main(["run", "-c", sys.argv[1], "--until-caught-up"])
print(json.dumps({"code": code, "packages": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def imported_packages(config: dict[str, Any], tmp: Path) -> set[str]:
    """The top-level packages a whole daemon run with ``config`` imported."""
    path = tmp / "streamer.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stdout[-2000:]
    return set(result["packages"])


async def run_imports(config: dict[str, Any], tmp: Path) -> set[str]:
    """:func:`imported_packages` in a worker thread (the simulator serves meanwhile)."""
    return await anyio.to_thread.run_sync(imported_packages, config, tmp)


def test_the_azure_sink_module_does_not_import_botocore() -> None:
    """``streamer.sinks.azure`` shares helpers through a neutral module, not the S3 sink."""
    code = "import sys, streamer.sinks.azure; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert not [name for name in AWS_SDK if f"'{name}'" in out], out


async def test_a_local_only_daemon_imports_no_cloud_sdk(tmp_path: Path) -> None:
    """Local directory only: neither cloud SDK nor the aiohttp they use is imported."""
    async with start_simulator(SimulatorOptions(events=50, seed=5, api_key=API_KEY)) as sim:
        packages = await run_imports(settings_dict(sim.url, tmp_path), tmp_path)
    assert "streamer" in packages
    assert packages.isdisjoint(AWS_SDK + AZURE_SDK + HTTP_SDK), sorted(packages)


@pytest.mark.servers
async def test_an_azure_only_daemon_imports_no_aws_sdk(
    tmp_path: Path, azurite_server: AzuriteServer
) -> None:
    """Azure only (sink and checkpoint file): the Azure SDK is used, botocore never."""
    container = make_bucket(azurite_server)
    async with start_simulator(SimulatorOptions(events=50, seed=6, api_key=API_KEY)) as sim:
        azure = {"enabled": True, "bucket": container, "credential_id": "az"}
        config = settings_dict(
            sim.url,
            tmp_path,
            credentials={"az": credential_config(azurite_server)},
            firehose={"prefix": "lc/events", "services": {"azure": azure}},
        )
        packages = await run_imports(config, tmp_path)
    assert "azure" in packages
    assert packages.isdisjoint(AWS_SDK), sorted(packages)
