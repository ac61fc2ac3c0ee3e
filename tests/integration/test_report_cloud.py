"""``streamer report`` reading S3 (SeaweedFS) and Azure (Azurite) archives: the same numbers
as the local copy, with a byte budget smaller than one object (so one object at a time)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from report_helpers import PREFIX, report_json, write_archive, write_config
from servers import AzuriteServer, S3Server, credential_config, make_bucket, put_object

from streamer.simulator import generate_events

pytestmark = pytest.mark.servers
END = 1_790_000_000


@pytest.mark.parametrize("which", ["aws", "azure"])
def test_cloud_archive_matches_the_local_copy(
    tmp_path: Path, which: str, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """The same objects in a bucket give the same columns and transitions as on disk."""
    server = s3_server if which == "aws" else azurite_server
    events = generate_events(3000, seed=23, end_ts=END, span_seconds=3600)
    root = tmp_path / "out"
    write_archive(root, events, max_events=1000)
    bucket = make_bucket(server)
    for path in sorted(root.rglob("*.jsonl.gz")):
        put_object(server, bucket, path.relative_to(root).as_posix(), path.read_bytes())
    local_cfg = write_config(tmp_path, root)
    cfg = yaml.safe_load(local_cfg.read_text())
    cfg["credentials"] = {"c": credential_config(server)}
    cfg["firehose"]["services"] = {which: {"enabled": True, "credential_id": "c", "bucket": bucket}}
    cloud_cfg = tmp_path / "cloud.yaml"
    cloud_cfg.write_text(yaml.safe_dump(cfg))
    rng = ("--start", str(END - 3600), "--end", str(END + 1), "--group-by", "vars.flow.id")
    want = report_json("-c", str(local_cfg), *rng)
    got = report_json("-c", str(cloud_cfg), *rng, "--max-mb", "0.001", "--workers", "2")
    assert got["rows"] == want["rows"]
    assert got["stats"]["events_read"] == want["stats"]["events_read"] == 3000
    assert got["service"] == which
    trans = ("transitions", "--start", str(END - 1800), "--end", str(END + 1))
    assert report_json(*trans, "-c", str(cloud_cfg))["status_overview"] == report_json(
        *trans, "-c", str(local_cfg)
    )["status_overview"]
    assert PREFIX in cfg["firehose"]["prefix"]
