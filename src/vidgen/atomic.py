"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file vidgen creates is written as ``<name>.tmp-<random>`` in the target
folder, flushed, fsynced and renamed over the final name; the folder is then
fsynced so the rename survives a power cut. Readers skip such temporary names
(:func:`is_temp_name`); the worker clears the ones a killed process left
behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_MARK",
    "commit_file",
    "copy_atomic",
    "is_temp_name",
    "open_atomic",
    "sha256_file",
    "write_bytes_atomic",
    "write_json_atomic",
]

TEMP_MARK = ".tmp-"
_CHUNK = 1 << 20


def is_temp_name(name: str) -> bool:
    """True for names readers must ignore: our temporaries, rsync's and dot files."""
    return name.startswith(".") or TEMP_MARK in name


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def open_atomic(path: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file next to ``path``; on success it replaces ``path``.

    On any exception (ENOSPC included) the temporary file is removed and the
    final name is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}{TEMP_MARK}{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def commit_file(tmp: Path, path: Path) -> None:
    """Make a finished temporary file (written by someone else, e.g. an encoder) final:
    fsync it, rename it over ``path`` and fsync the folder."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with open_atomic(path) as handle:
        handle.write(data)


def write_json_atomic(path: Path, obj: Any) -> bytes:
    """Write ``obj`` as indented UTF-8 JSON (trailing newline); returns the bytes written."""
    data = (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
    write_bytes_atomic(path, data)
    return data


def copy_atomic(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` atomically, hashing while copying; returns the sha256 hex.

    ``src`` is only ever opened for reading. Its modification time is kept.
    """
    digest = hashlib.sha256()
    with open(src, "rb") as source, open_atomic(dst) as target:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            target.write(chunk)
    stat = os.stat(src)
    os.utime(dst, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
