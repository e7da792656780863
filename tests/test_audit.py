"""The FileTracker-compatible audit log: record shapes, sessions, the reader, concurrency."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vidgen.audit import LOG_NAME, AuditLog, read_records
from vidgen.errors import ConfigError


def lines(log_dir: Path) -> list[dict[str, Any]]:
    text = (log_dir / LOG_NAME).read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def assert_utc(timestamp: str) -> None:
    assert timestamp.endswith("+00:00")
    assert datetime.fromisoformat(timestamp).utcoffset() == timedelta(0)


def test_record_shapes(tmp_path: Path) -> None:
    log_dir = tmp_path / "data" / "file_operations_logs"
    log = AuditLog(log_dir, "vidgen_manifest", batch_id="batch_001")
    log.start(tmp_path)
    ten = [tmp_path / "src" / f"{i:02d}.png" for i in range(10)]
    log.file_operation("copy", source_dir=tmp_path / "src", dest_dir="out", files=ten, notes="n")
    log.file_operation("create", source_dir=None, dest_dir="out", files=[*ten, "out/10.png"])
    log.end(shots=11)

    start, copy10, create11, end = lines(log_dir)
    assert start == {
        "type": "session_start",
        "script": "vidgen_manifest",
        "session_id": log.session_id,
        "timestamp": start["timestamp"],
        "working_dir": str(tmp_path),
    }
    assert re.fullmatch(r"\d{8}_\d{6}", log.session_id)
    for record in (start, copy10, create11, end):
        assert_utc(record["timestamp"])
        assert record["session_id"] == log.session_id
        assert record["script"] == "vidgen_manifest"

    assert copy10["type"] == "file_operation" and copy10["operation"] == "copy"
    assert copy10["batch_id"] == "batch_001"
    assert copy10["source_dir"] == str(tmp_path / "src")
    assert copy10["dest_dir"] == str(Path("out").absolute())
    assert copy10["file_count"] == 10 and copy10["notes"] == "n"
    assert copy10["files"] == [f"{i:02d}.png" for i in range(10)]
    assert "files_sample" not in copy10

    assert create11["file_count"] == 11 and create11["source_dir"] is None
    assert create11["files_sample"] == [f"{i:02d}.png" for i in range(5)]
    assert "files" not in create11 and create11["notes"] == ""

    assert end["type"] == "session_end" and end["shots"] == 11


def test_video_record(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, "vidgen_run", batch_id="b")
    record = log.video(
        "generate",
        keyframe_path=tmp_path / "batch" / "keyframes" / "x.png",
        video_output=tmp_path / "batch" / "results" / "x.mp4",
        motion_params={"type": "zoom_in", "end_rect": (0.1, 0.1, 0.9, 0.9)},
        validation_results={"flicker": {"score": math.nan, "verdict": "pass"}, "ok": True},
        duration_sec=4.0,
        frame_count=96,
    )
    (written,) = lines(tmp_path)
    assert written == json.loads(json.dumps(record, default=str)) | {
        "source_dir": str(tmp_path / "batch" / "keyframes"),
        "dest_dir": str(tmp_path / "batch" / "results"),
        "keyframe_path": str(tmp_path / "batch" / "keyframes" / "x.png"),
        "video_output": str(tmp_path / "batch" / "results" / "x.mp4"),
        "motion_params": {"type": "zoom_in", "end_rect": [0.1, 0.1, 0.9, 0.9]},
        "validation_results": {"flicker": {"score": None, "verdict": "pass"}, "ok": True},
    }
    assert written["type"] == "file_operation" and written["operation"] == "generate"
    assert written["files"] == ["x.mp4"] and written["file_count"] == 1
    assert written["duration_sec"] == 4.0 and written["frame_count"] == 96

    failed = log.video(
        "validate",
        keyframe_path="k.png",
        video_output=None,
        motion_params=None,
        validation_results=None,
        duration_sec=None,
        frame_count=None,
        notes="encode failed",
    )
    assert failed["file_count"] == 0 and failed["files"] == [] and failed["dest_dir"] is None


def test_context_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with AuditLog(tmp_path / "logs", "vidgen_run") as log:
        log.file_operation("skip", source_dir="a", dest_dir=None, files=["x.png"])
    start, skip, end = lines(tmp_path / "logs")
    assert start["type"] == "session_start" and start["working_dir"] == str(tmp_path)
    assert skip["operation"] == "skip" and skip["batch_id"] is None
    assert end["type"] == "session_end" and end["status"] == "ok"
    assert {r["session_id"] for r in (start, skip, end)} == {log.session_id}


def test_context_manager_records_an_escaping_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError), AuditLog(tmp_path, "vidgen_run"):
        raise KeyError("boom")
    start, end = lines(tmp_path)
    assert start["type"] == "session_start" and end["type"] == "session_end"
    assert end["status"] == "error" and end["exception"] == "KeyError"


@pytest.mark.parametrize(
    ("method", "operation"),
    [("file_operation", "generate"), ("file_operation", "Copy"), ("video", "copy"), ("video", "")],
)
def test_unknown_operation_raises(tmp_path: Path, method: str, operation: str) -> None:
    log = AuditLog(tmp_path / "logs", "vidgen_run")
    kwargs: dict[str, Any] = (
        {"source_dir": None, "dest_dir": None, "files": []}
        if method == "file_operation"
        else dict.fromkeys(
            ("keyframe_path", "video_output", "motion_params", "validation_results"), None
        )
        | {"duration_sec": None, "frame_count": None, "keyframe_path": "k.png"}
    )
    with pytest.raises(ValueError, match="unknown audit operation"):
        getattr(log, method)(operation, **kwargs)
    assert not (tmp_path / "logs").exists()


def test_end_cannot_override_core_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="session_id"):
        AuditLog(tmp_path, "vidgen_run").end(session_id="forged")


def test_values_must_be_json_safe(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, "vidgen_run")
    with pytest.raises(TypeError, match="object"):
        log.append({"type": "session_end", "thing": object()})
    assert not (tmp_path / LOG_NAME).exists()


def test_disabled_log_writes_nothing(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    with AuditLog(log_dir, "vidgen_run", enabled=False) as log:
        log.file_operation("copy", source_dir="a", dest_dir="b", files=["x"])
        log.append({"type": "custom"})
    assert not log_dir.exists()


def test_unwritable_log_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file, not a folder")
    with pytest.raises(ConfigError) as info:
        AuditLog(tmp_path / "logs", "vidgen_run").start(tmp_path)
    assert info.value.field == "audit.log_dir" and info.value.hint


def test_append_after_a_torn_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / LOG_NAME).write_bytes(b'{"type": "file_operation", "oper')  # a writer died
    AuditLog(tmp_path, "vidgen_run").start(tmp_path)
    with caplog.at_level(logging.WARNING):
        records = list(read_records(tmp_path))
    assert [r["type"] for r in records] == ["session_start"]
    assert len(caplog.records) == 1


def test_non_ascii_and_undecodable_names(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, "vidgen_run")
    log.file_operation("copy", source_dir="café", dest_dir=None, files=["bad\udcff.png", "日.png"])
    (record,) = read_records(tmp_path)
    assert record["source_dir"] == str(Path("café").absolute())
    assert record["files"] == ["bad\udcff.png", "日.png"]


def test_reader(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def record(n: int) -> str:
        return json.dumps({"type": "file_operation", "n": n}) + "\n"

    (tmp_path / "file_operations_20250102.log").write_text(record(2))
    (tmp_path / "file_operations_20250101.log").write_text(record(1))
    (tmp_path / "file_operations_backup.log").write_text(record(99))
    old = {"type": "file_operation", "n": 4, "notes": ["a", "b"], "files_sample": "a.png, b.png"}
    (tmp_path / LOG_NAME).write_bytes(
        record(3).encode()
        + b"{not json\n"
        + b"[1, 2]\n"
        + b"\n"
        + b'"just text"\n'
        + b"\xff\xfe{}\n"
        + json.dumps(old).encode()
        + b"\n"
        + record(5).encode().rstrip(b"\n")  # no final newline
    )
    with caplog.at_level(logging.WARNING, logger="vidgen.audit"):
        records = list(read_records(tmp_path))
    assert [r["n"] for r in records] == [1, 2, 3, 4, 5]
    assert records[3] == old
    pattern = re.escape(str(tmp_path / LOG_NAME)) + r":(\d+): skipped malformed audit record: "
    matches = [re.match(pattern, r.getMessage()) for r in caplog.records]
    assert [m[1] if m else None for m in matches] == ["2", "3", "5", "6"]


def test_reader_without_a_log(tmp_path: Path) -> None:
    assert list(read_records(tmp_path / "missing")) == []


def _append_many(log_dir: str, tag: str, count: int, start: Any) -> None:
    """Worker of the concurrency test: appends ``count`` records of about 4 KB."""
    log = AuditLog(Path(log_dir), f"vidgen_{tag}")
    start.wait()
    for seq in range(count):
        log.file_operation(
            "create",
            source_dir=None,
            dest_dir=log_dir,
            files=[f"{tag}_{seq}.mp4"],
            notes=f"{tag}:{seq}:" + tag * 4096,
        )


def test_two_processes_never_tear_lines(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_append_many, args=(str(tmp_path), tag, 500, start))
        for tag in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    raw = (tmp_path / LOG_NAME).read_bytes().split(b"\n")
    assert raw[-1] == b""
    records = [json.loads(line) for line in raw[:-1]]
    assert len(records) == 1000
    for tag in ("a", "b"):
        notes = [r["notes"] for r in records if r["script"] == f"vidgen_{tag}"]
        assert notes == [f"{tag}:{seq}:" + tag * 4096 for seq in range(500)]
