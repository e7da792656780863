"""FileTracker-compatible audit log: one JSON object per line, appended safely.

The studio's FileTracker writes ``<log_dir>/file_operations.log`` (JSON Lines)
and its own tooling rotates it by day to ``file_operations_YYYYMMDD.log``;
vidgen appends records of the same shapes, so the studio's dashboard shows
vidgen's work next to its own. Each append opens the file with ``O_APPEND``,
holds an exclusive ``flock`` and writes the whole line, so records from
concurrent processes never tear or interleave. vidgen never rotates the file.

Record types: ``session_start`` (with ``working_dir``), ``session_end`` and
``file_operation`` (file operations, plus video records with ``keyframe_path``,
``video_output``, ``motion_params``, ``validation_results``, ``duration_sec``
and ``frame_count``). Timestamps are UTC ISO 8601 ending in ``+00:00``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import numbers
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, Self

from vidgen.errors import ConfigError, VidgenError

__all__ = ["FILE_OPERATIONS", "LOG_NAME", "VIDEO_OPERATIONS", "AuditLog", "read_records"]

logger = logging.getLogger(__name__)

LOG_NAME = "file_operations.log"
FILE_OPERATIONS = frozenset(
    {"move", "copy", "delete", "create", "send_to_trash", "stage_delete", "crop", "skip", "error"}
)
VIDEO_OPERATIONS = frozenset({"generate", "validate", "transcode"})
_ROTATED = re.compile(r"file_operations_(\d{8})\.log")
_MAX_LISTED = 10  # more files than this: only a sample of their names
_SAMPLE = 5


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: paths as text, non-finite numbers as null.

    Raises:
        TypeError: A value with no JSON form (a bug in the caller).
    """
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    raise TypeError(f"audit record value of type {type(value).__name__} is not JSON-safe")


def _absolute(path: Path | str | None) -> str | None:
    """Folders are recorded absolute, as a reader elsewhere cannot know the cwd."""
    return None if path is None else str(Path(path).absolute())


def _append_line(path: Path, data: bytes) -> None:
    """Append ``data`` (one line) to ``path`` under an exclusive lock, in full."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a writer died mid-line
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class AuditLog:
    """Appends FileTracker-compatible records to ``<log_dir>/file_operations.log``.

    Use it as a context manager to write ``session_start`` on entry and
    ``session_end`` on exit (``status`` ``ok`` or ``error`` with the exception type).

    Args:
        log_dir: Folder of the log; created on the first write.
        script: Stable tool name the studio's dashboard shows (e.g. ``vidgen_run``).
        batch_id: Written into every file operation record.
        enabled: When False nothing is ever written.
    """

    def __init__(
        self,
        log_dir: Path,
        script: str,
        *,
        batch_id: str | None = None,
        enabled: bool = True,
    ) -> None:
        self.path = Path(log_dir) / LOG_NAME
        self.script = script
        self.batch_id = batch_id
        self.enabled = enabled
        self.session_id = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")

    def __enter__(self) -> Self:
        self.start(Path.cwd())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(status="ok")
            return
        try:  # never hide the exception that is escaping behind one from the log
            self.end(status="error", exception=exc_type.__name__)
        except VidgenError as log_exc:
            logger.warning("could not record the end of the session: %s", log_exc)

    def _record(self, kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "script": self.script,
            "session_id": self.session_id,
            "timestamp": _now(),
        }

    def start(self, working_dir: Path) -> None:
        """Write a ``session_start`` record."""
        self.append({**self._record("session_start"), "working_dir": str(working_dir)})

    def end(self, **extra: Any) -> None:
        """Write a ``session_end`` record carrying ``extra`` (e.g. ``status``, counts)."""
        record = self._record("session_end")
        clash = record.keys() & extra.keys()
        if clash:
            raise ValueError(f"session_end fields cannot be overridden: {sorted(clash)}")
        self.append({**record, **extra})

    def _operation(self, operation: str, allowed: frozenset[str]) -> dict[str, Any]:
        if operation not in allowed:
            raise ValueError(f"unknown audit operation {operation!r}; one of {sorted(allowed)}")
        return {**self._record("file_operation"), "batch_id": self.batch_id, "operation": operation}

    def file_operation(
        self,
        operation: str,
        *,
        source_dir: Path | str | None,
        dest_dir: Path | str | None,
        files: Sequence[Path | str],
        notes: str = "",
    ) -> dict[str, Any]:
        """Record a file operation (``move``, ``copy``, ``create``, ...); returns the record.

        Up to 10 file names are listed in ``files``, more as a 5-name ``files_sample``.

        Raises:
            ValueError: ``operation`` is not a FileTracker operation.
        """
        record = self._operation(operation, FILE_OPERATIONS)
        names = [PurePath(f).name for f in files]
        record.update(source_dir=_absolute(source_dir), dest_dir=_absolute(dest_dir),
                      file_count=len(names), notes=notes)
        if len(names) <= _MAX_LISTED:
            record["files"] = names
        else:
            record["files_sample"] = names[:_SAMPLE]
        self.append(record)
        return record

    def video(
        self,
        operation: str,
        *,
        keyframe_path: Path | str,
        video_output: Path | str | None,
        motion_params: Mapping[str, Any] | None,
        validation_results: Mapping[str, Any] | None,
        duration_sec: float | None,
        frame_count: int | None,
        notes: str = "",
    ) -> dict[str, Any]:
        """Record a video operation (``generate``, ``validate``, ``transcode``); returns it.

        The FileTracker fields are filled too: ``source_dir`` is the keyframe's folder,
        ``dest_dir`` the video's and ``files`` the video's name.

        Raises:
            ValueError: ``operation`` is not a video operation.
        """
        record = self._operation(operation, VIDEO_OPERATIONS)
        video = None if video_output is None else Path(video_output).absolute()
        keyframe = Path(keyframe_path).absolute()
        record.update(
            source_dir=keyframe.parent,
            dest_dir=None if video is None else video.parent,
            file_count=0 if video is None else 1,
            files=[] if video is None else [video.name],
            notes=notes,
            keyframe_path=keyframe,
            video_output=video,
            motion_params=motion_params,
            validation_results=validation_results,
            duration_sec=duration_sec,
            frame_count=frame_count,
        )
        self.append(record)
        return record

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line (Paths become text); nothing when disabled.

        Raises:
            TypeError: A value has no JSON form.
            ConfigError: The log cannot be written.
        """
        if not self.enabled:
            return
        line = json.dumps(_json_safe(record), ensure_ascii=False, allow_nan=False) + "\n"
        data = line.encode("utf-8", errors="backslashreplace")  # undecodable file names
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _append_line(self.path, data)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the audit log: {exc.strerror or exc}",
                item=self.path,
                field="audit.log_dir",
                hint="fix the folder or set audit.enabled = false",
            ) from exc


def read_records(log_dir: Path) -> Iterator[dict[str, Any]]:
    """Every record in ``log_dir``: rotated ``file_operations_YYYYMMDD.log`` files by date,
    then ``file_operations.log``.

    Malformed lines (bad JSON, not an object, undecodable bytes) are skipped with a
    warning; records are yielded as written, odd field types included.
    """
    log_dir = Path(log_dir)
    rotated = sorted(
        (m[1], p)
        for p in log_dir.glob("file_operations_*.log")
        if (m := _ROTATED.fullmatch(p.name))
    )
    for path in [p for _, p in rotated] + [log_dir / LOG_NAME]:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("%s: cannot read audit log: %s", path, exc)
            continue
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (ValueError, RecursionError) as exc:  # includes UnicodeDecodeError
                    logger.warning("%s:%d: skipped malformed audit record: %s", path, lineno, exc)
                    continue
                if not isinstance(record, dict):
                    logger.warning(
                        "%s:%d: skipped malformed audit record: %s",
                        path,
                        lineno,
                        f"a JSON {type(record).__name__}, not an object",
                    )
                    continue
                yield record
