"""Atomic writes: readers see the old file or the new one, never a part."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest

from vidgen.atomic import (
    copy_atomic,
    is_temp_name,
    open_atomic,
    sha256_file,
    write_json_atomic,
)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("old")
    with pytest.raises(OSError, match="No space"), open_atomic(target) as handle:
        handle.write(b"half of the new")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_json_is_written_whole_and_nan_is_refused(tmp_path: Path) -> None:
    data = write_json_atomic(tmp_path / "a.json", {"b": [1, 2], "é": "ü"})
    assert json.loads((tmp_path / "a.json").read_text()) == {"b": [1, 2], "é": "ü"}
    assert data.endswith(b"\n")
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "b.json", {"x": float("nan")})
    assert not (tmp_path / "b.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_copy_hashes_while_copying_and_keeps_mtime(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    payload = bytes(range(256)) * 9000  # more than one 1 MiB chunk
    source.write_bytes(payload)
    digest = copy_atomic(source, tmp_path / "dst.bin")
    assert digest == hashlib.sha256(payload).hexdigest() == sha256_file(source)
    assert (tmp_path / "dst.bin").read_bytes() == payload
    assert (tmp_path / "dst.bin").stat().st_mtime_ns == source.stat().st_mtime_ns


def test_temp_names() -> None:
    assert is_temp_name("x.mp4.tmp-1a2b") and is_temp_name(".x.mp4.Ab12Cd")
    assert not is_temp_name("x.mp4")
