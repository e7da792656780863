"""A batch uploaded through the studio: all of it in place, or nothing.

The files are written into a temporary folder inside the served folder
(``.upload.tmp-<random>``, which listings skip), checked with
:func:`vidgen.manifest.validate_batch` exactly as ``vidgen batch validate``
checks a folder (changed motion files are taken into the manifest), and only
then renamed to ``<served folder>/<batch_id>``. Any problem removes the
temporary folder, so a bad upload leaves nothing behind.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vidgen.atomic import TEMP_MARK, is_temp_name
from vidgen.companions import ensure_writable
from vidgen.errors import ManifestError
from vidgen.manifest import MANIFEST_NAME, parse_manifest, validate_batch
from vidgen.rules import Finding
from vidgen.web.errors import Conflict, Forbidden, Rejected, StudioError, TooLarge
from vidgen.web.studio import Batch, Studio, check_name

__all__ = ["check_upload_name", "receive_batch"]

_CHUNK = 1 << 20


def check_upload_name(name: str) -> str:
    """A file name of an upload as a safe relative path (``shots/x.png``).

    Raises:
        StudioError: an empty, absolute or backslashed name, ``..``, a dot or temporary
            name, or ``manifest.json`` (it travels in its own field).
    """
    path = PurePosixPath(name)
    problem = None
    if not name or "\\" in name or "\x00" in name or any(ord(c) < 32 for c in name):
        problem = "must be a relative path with '/' separators"
    elif path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        problem = "absolute paths are not allowed"
    elif any(part == ".." for part in path.parts):
        problem = "'..' is not allowed"
    elif any(is_temp_name(part) for part in path.parts):
        problem = "dot and temporary names are not allowed (.vidgen/ is vidgen's own state)"
    elif path.as_posix() == MANIFEST_NAME:
        problem = "the manifest travels in the 'manifest' field"
    if problem is not None:
        raise StudioError(f"bad file name: {problem}", field="files", value=name)
    return path.as_posix()


def _copy(source: BinaryIO, target: Path, limit: int, name: str) -> None:
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise TooLarge("file too large", field="files", value=name, limit=limit)
                out.write(chunk)
    except OSError as exc:  # a name that is also a folder, a full disk
        raise StudioError(f"cannot write the file: {exc.strerror or exc}", field="files",
                          value=name) from exc


def receive_batch(studio: Studio, manifest_data: bytes,
                  files: Sequence[tuple[str, BinaryIO]], *, max_file_bytes: int) -> Batch:
    """Create ``<served folder>/<batch_id>`` from an uploaded manifest and its files.

    Raises:
        Conflict: the served folder is a batch itself, or the batch exists already.
        StudioError: a bad or repeated file name.
        TooLarge: a file over ``max_file_bytes``.
        Rejected: the manifest or the batch does not validate (findings say why).
        ProtectedPathError: the served folder is a protected source folder.
    """
    if studio.is_batch:
        raise Conflict("the served folder is a batch itself; serve its parent folder to add "
                       "batches", item=studio.root_key)
    try:
        manifest = parse_manifest(manifest_data, item=MANIFEST_NAME)
        check_name(manifest.batch_id, what="batch_id")
    except (ManifestError, Forbidden) as exc:
        finding = Finding(MANIFEST_NAME, "manifest", "error", str(exc))
        raise Rejected("the manifest cannot be used", [finding], item=MANIFEST_NAME) from exc
    target = studio.root / manifest.batch_id
    if target.exists() or target.is_symlink():
        raise Conflict("a batch with this id exists already", field="batch_id",
                       value=manifest.batch_id)
    names = [check_upload_name(name) for name, _ in files]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise StudioError("a file was sent twice", field="files", value=repeated[0])
    ensure_writable(studio.root, studio.config["sources.protected"])

    staging = studio.root / f".upload{TEMP_MARK}{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        for name, (_, stream) in zip(names, files, strict=True):
            _copy(stream, staging / name, max_file_bytes, name)
        (staging / MANIFEST_NAME).write_bytes(manifest_data)
        try:
            report = validate_batch(staging, limits=studio.limits, update=True)
        except ManifestError as exc:
            finding = Finding(MANIFEST_NAME, "manifest", "error", str(exc))
            raise Rejected("the batch does not validate", [finding]) from exc
        if not report.ok:
            raise Rejected(f"the batch does not validate: {len(report.errors)} error(s); "
                           "nothing was kept", report.findings, item=manifest.batch_id)
        if target.exists() or target.is_symlink():
            raise Conflict("a batch with this id exists already", field="batch_id",
                           value=manifest.batch_id)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    studio.audit(manifest.batch_id).file_operation(
        "create", source_dir=None, dest_dir=target, files=[MANIFEST_NAME, *names],
        notes=f"batch uploaded in the studio ({len(manifest.keyframes)} shots)"
        + (f"; motion edits taken into the manifest: {', '.join(report.updated)}"
           if report.updated else ""))
    return studio.batch(manifest.batch_id)
