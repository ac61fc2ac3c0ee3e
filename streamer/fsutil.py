"""Private files on local disk: created with an explicit mode, never through the umask.

Archive files and the checkpoint hold lead PII. Docker and Kubernetes run with umask 022,
so ``open(path, "wb")`` makes them world-readable. Everything here passes the mode to
``os.open`` and then ``fchmod``-s to exactly that mode (the umask can only remove bits,
and a configured ``0640`` must be ``0640`` under umask 077 too). Directories this module
creates get the matching directory mode (``0700`` for ``0600`` files); directories that
already exist are left as the operator made them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

#: files: owner read/write only
PRIVATE_FILE = 0o600
#: directories: owner only
PRIVATE_DIR = 0o700


def dir_mode_for(file_mode: int) -> int:
    """The directory mode matching ``file_mode``: whoever may read a file may enter its dir."""
    return PRIVATE_DIR | ((file_mode & 0o044) >> 2) | (file_mode & 0o044)


def parse_file_mode(text: str) -> int:
    """An octal mode such as ``"0640"``; ValueError (one line, what to do) otherwise.

    Owner read/write is required (the daemon reads its own files back); only read may be
    added for group and others; no execute bits, no write for anyone but the owner.
    """
    raw = text.strip()
    digits = raw[2:] if raw.lower().startswith("0o") else raw
    if not digits or len(digits) > 4 or any(c not in "01234567" for c in digits):
        raise ValueError(f'{text!r} is not an octal file mode; write it quoted, e.g. "0600"')
    mode = int(digits, 8)
    if mode & 0o600 != 0o600 or mode & ~0o644:
        raise ValueError(
            f'{text!r} is not allowed: use "0600" (owner only), "0640" (group may read) '
            'or "0644"; the owner needs read+write and nobody else may write or execute'
        )
    return mode


def ensure_dir(path: str | Path, mode: int = PRIVATE_DIR) -> None:
    """Create ``path`` and its missing parents with ``mode``; existing ones are untouched."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode)
        except FileExistsError:
            continue  # created concurrently: leave it to whoever made it
        os.chmod(directory, mode)


def write_new(
    path: str | Path, data: bytes, *, mode: int = PRIVATE_FILE, fsync: bool = True
) -> None:
    """Create ``path`` (FileExistsError if it exists) with exactly ``mode``, write, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        Path(path).unlink(missing_ok=True)
        raise
    os.close(fd)


def write_temp(
    directory: str | Path,
    prefix: str,
    data: bytes,
    *,
    mode: int = PRIVATE_FILE,
    fsync: bool = True,
) -> Path:
    """A new uniquely named file ``<directory>/<prefix><uuid>`` holding ``data``."""
    tmp = Path(directory) / f"{prefix}{uuid.uuid4().hex}"
    write_new(tmp, data, mode=mode, fsync=fsync)
    return tmp


def fsync_dir(path: str | Path) -> None:
    """Make a new or renamed entry in ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(
    path: str | Path, data: bytes, *, mode: int = PRIVATE_FILE, fsync: bool = True
) -> None:
    """Atomically replace ``path`` with ``data``: unique temp file, fsync, rename, dir fsync.

    The parent directory is created (``0700`` for ``0600``) when missing. Concurrent
    writers never share a temp file, so the last rename wins with a whole document.
    """
    path = Path(path)
    ensure_dir(path.parent, dir_mode_for(mode))
    tmp = write_temp(path.parent, f".{path.name}.tmp-", data, mode=mode, fsync=fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)


def probe_writable(directory: str | Path, mode: int = PRIVATE_DIR, prefix: str = ".probe-") -> None:
    """Create ``directory`` if missing and prove a file can be made in it (OSError if not)."""
    ensure_dir(directory, mode)
    probe = write_temp(directory, f"{prefix}{os.getpid()}-", b"", fsync=False)
    probe.unlink()
