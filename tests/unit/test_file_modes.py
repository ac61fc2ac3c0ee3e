"""PII at rest: archive files, the checkpoint and temp files are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.fsutil import dir_mode_for, ensure_dir, parse_file_mode, write_private
from streamer.records import ObjectMeta
from streamer.settings.model import LocalServiceSettings
from streamer.settings.services import ResolvedService
from streamer.sinks.factory import build_sink
from streamer.sinks.local import LocalSink

pytestmark = pytest.mark.anyio


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The Docker/Kubernetes default umask, which makes plain open() world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def meta(data: bytes) -> ObjectMeta:
    """Metadata for ``data`` as the writer would compute it."""
    import hashlib

    return ObjectMeta("application/x-ndjson", "gzip", hashlib.sha256(data).hexdigest(), 1)


@pytest.mark.usefixtures("umask_022")
async def test_archive_files_and_new_dirs_are_private(tmp_path: Path) -> None:
    """Under umask 022 an archive object is 0600 and the directories made for it 0700."""
    sink = LocalSink(tmp_path / "out", fsync=False)
    await sink.open()
    data = b"{}\n"
    await sink.put("p/dt=2026-12-01/hour=03/a_b.jsonl.gz", data, meta(data))
    assert mode(tmp_path / "out" / "p/dt=2026-12-01/hour=03/a_b.jsonl.gz") == 0o600
    for rel in ("", "p", "p/dt=2026-12-01", "p/dt=2026-12-01/hour=03"):
        assert mode(tmp_path / "out" / rel) == 0o700, rel
    assert [p.name for p in (tmp_path / "out" / "p/dt=2026-12-01/hour=03").iterdir()] == [
        "a_b.jsonl.gz"
    ]


async def test_configured_file_mode_is_exact_under_a_strict_umask(tmp_path: Path) -> None:
    """file_mode "0640" gives 0640 files in 0750 directories even under umask 077."""
    settings = LocalServiceSettings(enabled=True, path=str(tmp_path / "out"), file_mode="0640")
    service = ResolvedService("local", settings.path, "", None, None, settings)
    sink = build_sink(service)
    old = os.umask(0o077)
    try:
        await sink.open()
        await sink.put("p/x.jsonl.gz", b"x", meta(b"x"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "out" / "p" / "x.jsonl.gz") == 0o640
    assert mode(tmp_path / "out" / "p") == 0o750


@pytest.mark.usefixtures("umask_022")
async def test_checkpoint_file_and_its_dir_are_private(tmp_path: Path) -> None:
    """The checkpoint is saved 0600 in a new 0700 directory, with no temp file left."""
    store = FileCheckpointStore(tmp_path / "state" / "cp.json")
    await store.save(Checkpoint(cursor="0" * 24))
    assert mode(tmp_path / "state" / "cp.json") == 0o600
    assert mode(tmp_path / "state") == 0o700
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["cp.json"]


@pytest.mark.usefixtures("umask_022")
def test_write_private_replaces_a_world_readable_file(tmp_path: Path) -> None:
    """A checkpoint left 0644 by an older version is replaced by a 0600 one."""
    target = tmp_path / "cp.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private(target, b"new", fsync=False)
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o600


@pytest.mark.usefixtures("umask_022")
def test_existing_directories_keep_their_mode(tmp_path: Path) -> None:
    """An operator's existing directory (e.g. StateDirectory=) is not chmod-ed."""
    (tmp_path / "given").mkdir()
    (tmp_path / "given").chmod(0o750)
    ensure_dir(tmp_path / "given" / "new")
    assert mode(tmp_path / "given") == 0o750
    assert mode(tmp_path / "given" / "new") == 0o700


@pytest.mark.parametrize(
    ("text", "expected"), [("0600", 0o600), ("600", 0o600), ("0640", 0o640), ("0o644", 0o644)]
)
def test_file_mode_accepted(text: str, expected: int) -> None:
    """Owner read/write plus optional read for group/others is a valid file_mode."""
    assert parse_file_mode(text) == expected
    assert LocalServiceSettings(file_mode=text).mode == expected


@pytest.mark.parametrize("text", ["0400", "0660", "0606", "0700", "0655", "rw-r-----", "99", ""])
def test_file_mode_refused(text: str) -> None:
    """Write or execute for anyone but the owner, or a non-octal text, is refused."""
    with pytest.raises(ValidationError, match="file_mode"):
        LocalServiceSettings(file_mode=text)


def test_unquoted_file_mode_is_refused_with_the_fix() -> None:
    """YAML's 0640 arrives as the integer 416: the error says to quote it."""
    with pytest.raises(ValidationError, match=r'quoted, e\.g\. "0640"'):
        LocalServiceSettings(file_mode=416)  # type: ignore[arg-type]


def test_dir_mode_follows_file_mode() -> None:
    """Whoever may read a file may also enter the directories above it."""
    assert dir_mode_for(0o600) == 0o700
    assert dir_mode_for(0o640) == 0o750
    assert dir_mode_for(0o644) == 0o755


def test_metrics_bind_loopback_by_default() -> None:
    """Without metrics.host, /metrics and /readyz (the cursor) are not exposed to the network."""
    from streamer.settings.model import MetricsSettings

    assert MetricsSettings().host == "127.0.0.1"


def test_no_doc_puts_a_secret_on_a_command_line() -> None:
    """No shell recipe expands a secret file into argv (readable in /proc/*/cmdline)."""
    import re

    root = Path(__file__).resolve().parents[2]
    docs = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    bad = re.compile(r"\$\((sudo )?cat |\| *xargs|env \$\(")
    hits = [
        f"{doc.name}:{n}: {line.strip()}"
        for doc in docs
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if bad.search(line)
    ]
    assert hits == []
