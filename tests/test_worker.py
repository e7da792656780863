"""`vidgen run`: end to end, and every fault the worker promises to survive."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vidgen.pipeline
from vidgen.audit import read_records
from vidgen.backends.base import (
    GenerationRequest,
    GenerationResult,
    Progress,
    register_backend,
)
from vidgen.backends.camera import CameraBackend
from vidgen.batch import create_batch
from vidgen.config import Config, load_config
from vidgen.encode import probe_video
from vidgen.errors import BackendError
from vidgen.ledger import Ledger
from vidgen.manifest import load_manifest
from vidgen.meta import VideoMeta
from vidgen.worker import run_batch

from .conftest import make_image


def _settings(tmp_path: Path, **extra: Any) -> Config:
    return load_config(env={}, overrides={
        "workspace": str(tmp_path / "workspace"), "output.width": 160, "output.height": 96,
        "output.fps": 12, "batch.workers": 2, "encode.nvenc": "off", **extra})


def _batch(tmp_path: Path, config: Config, count: int = 4) -> Path:
    src = tmp_path / "src"
    for i in range(count):
        make_image(src / f"shot{i}.png", 640, 480, seed=i)
    out = tmp_path / "batch"
    report = create_batch([src], out, config, batch_id="w")
    assert report.manifest is not None and not report.errors
    return out


def _assert_complete(batch: Path) -> None:
    """Every shot done once, its video whole and its provenance matching it."""
    manifest = load_manifest(batch)
    with Ledger(batch) as ledger:
        rows = {row["shot_id"]: row for row in ledger.shots()}
        for shot in manifest.keyframes:
            row = rows[shot.shot_id]
            assert row["state"] == "done", (shot.shot_id, row)
            outcomes = [a["outcome"] for a in ledger.attempts(shot.shot_id)]
            assert outcomes.count("done") == 1, outcomes
            meta = VideoMeta.model_validate_json(
                (batch / "results" / f"{shot.shot_id}.video_meta.json").read_text())
            video = batch / meta.output.path
            probe = probe_video(video)
            assert probe.frames == shot.generation_params.num_frames == meta.video["frames"]
            assert (probe.width, probe.height, probe.fps) == (160, 96, 12.0)
            import hashlib

            assert hashlib.sha256(video.read_bytes()).hexdigest() == meta.output.sha256
    leftovers = [p.name for p in (batch / "results").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_end_to_end_videos_meta_audit_and_ledger(tmp_path: Path) -> None:
    config = _settings(tmp_path)
    batch = _batch(tmp_path, config)
    summary = run_batch(batch, config, workers=1)
    assert summary.counts["done"] == 4 and not summary.interrupted
    _assert_complete(batch)
    meta = json.loads((batch / "results" / "shot0.video_meta.json").read_text())
    assert meta["backend"]["backend"] == "camera" and meta["verdict"] == "pass"
    assert set(meta["timings"]) >= {"load", "generate", "reframe", "interpolate", "encode",
                                    "qc", "total"}
    with Ledger(batch) as ledger:  # the ledger also has the time it took to write the meta
        assert "write" in ledger.shot("shot0")["timings"]
    assert meta["encode"]["encoder"] == "libx264" and meta["encode"]["color"] == "bt709"
    assert {c["name"] for c in meta["qc"]["checks"]} >= {"flash_frames", "luma_change"}
    assert meta["keyframe"]["sha256"] == load_manifest(batch).shot("shot0").image.sha256
    generated = [r for r in read_records(config.audit_dir) if r.get("operation") == "generate"]
    assert sorted(Path(r["video_output"]).name for r in generated) == [
        f"shot{i}.mp4" for i in range(4)]
    assert all(r["frame_count"] == 48 and r["script"] == "vidgen_run" for r in generated)
    # A second run finds nothing to do and changes nothing.
    before = (batch / "results" / "shot0.mp4").stat().st_mtime_ns
    assert run_batch(batch, config, workers=1).counts["done"] == 4
    assert (batch / "results" / "shot0.mp4").stat().st_mtime_ns == before


@register_backend
class _Flaky(CameraBackend):
    """The camera, except that it fails on shot1 (or is interrupted, on request)."""

    name = "test-flaky"
    interrupt_on: str | None = None

    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        if request.shot_id == "shot1":
            raise BackendError("the model produced NaNs", item=request.shot_id)
        if request.shot_id == self.interrupt_on:
            raise KeyboardInterrupt
        return super().generate(request, progress)


def test_a_failing_shot_does_not_stop_the_batch(tmp_path: Path) -> None:
    config = _settings(tmp_path, **{"generation.model": "test-flaky"})
    batch = _batch(tmp_path, config)
    summary = run_batch(batch, config, workers=1)
    assert summary.counts == {**summary.counts, "done": 3, "failed": 1}
    with Ledger(batch) as ledger:
        row = ledger.shot("shot1")
    assert row["error_class"] == "BackendError" and "NaNs" in row["error_message"]
    assert not (batch / "results" / "shot1.mp4").exists()


def test_interrupt_releases_the_shot_and_the_next_run_resumes(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    config = _settings(tmp_path, **{"generation.model": "test-flaky"})
    batch = _batch(tmp_path, config)
    monkeypatch.setattr(_Flaky, "interrupt_on", "shot2")
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    summary = run_batch(batch, config, workers=1)
    assert summary.interrupted
    # Library code must leave the process's signal handlers as it found them.
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    counts = summary.counts
    assert (counts["done"], counts["failed"], counts["queued"]) == (1, 1, 2)
    with Ledger(batch) as ledger:
        assert [a["outcome"] for a in ledger.attempts("shot2")] == ["interrupted"]
        assert ledger.retry() == ["shot1"]
    monkeypatch.setattr(_Flaky, "interrupt_on", None)
    monkeypatch.setattr(_Flaky, "generate", CameraBackend.generate)
    summary = run_batch(batch, config, workers=1)
    assert summary.counts["done"] == 4 and not summary.interrupted
    _assert_complete(batch)


def test_a_full_disk_during_encoding_fails_cleanly(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = _settings(tmp_path)
    batch = _batch(tmp_path, config, count=2)
    real_encode = vidgen.pipeline.encode_video

    def full_disk(frames: Iterator[Any], path: Path, **kwargs: Any) -> Any:
        if path.name.startswith("shot0."):
            path.write_bytes(b"partial")
            from vidgen.errors import EncodeError

            path.unlink()
            raise EncodeError("cannot write the video: No space left on device", item=path) \
                from OSError(errno.ENOSPC, "No space left on device")
        return real_encode(frames, path, **kwargs)

    monkeypatch.setattr(vidgen.pipeline, "encode_video", full_disk)
    summary = run_batch(batch, config, workers=1)
    assert (summary.counts["failed"], summary.counts["done"]) == (1, 1)
    with Ledger(batch) as ledger:
        assert "No space left" in ledger.shot("shot0")["error_message"]
        ledger.retry()
    assert sorted(p.name for p in (batch / "results").iterdir()) == [
        "shot1.mp4", "shot1.video_meta.json"]
    monkeypatch.setattr(vidgen.pipeline, "encode_video", real_encode)
    assert run_batch(batch, config, workers=1).counts["done"] == 2
    _assert_complete(batch)


def test_a_keyframe_changed_on_disk_is_refused(tmp_path: Path) -> None:
    config = _settings(tmp_path)
    batch = _batch(tmp_path, config, count=2)
    make_image(batch / "shots" / "shot1.png", 640, 480, seed=99)
    summary = run_batch(batch, config, workers=1)
    assert (summary.counts["done"], summary.counts["failed"]) == (1, 1)
    with Ledger(batch) as ledger:
        row = ledger.shot("shot1")
    assert row["error_class"] == "InputError" and "changed since" in row["error_message"]


def test_two_workers_never_take_the_same_shot(tmp_path: Path) -> None:
    config = _settings(tmp_path)
    batch = _batch(tmp_path, config, count=6)
    summary = run_batch(batch, config, workers=2)
    assert summary.counts["done"] == 6
    with Ledger(batch) as ledger:
        attempts = [a for s in ledger.shots() for a in ledger.attempts(s["shot_id"])]
    assert len(attempts) == 6 and all(a["outcome"] == "done" for a in attempts)
    assert len({a["worker"] for a in attempts}) == 2  # both processes worked
    _assert_complete(batch)


def _run_cli(batch: Path, config_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIDGEN_CONFIG": str(config_file)}
    return subprocess.Popen([sys.executable, "-m", "vidgen", "run", str(batch)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _config_file(tmp_path: Path) -> Path:
    file = tmp_path / "vidgen.toml"
    file.write_text(f'workspace = "{tmp_path / "workspace"}"\n[output]\nwidth = 320\n'
                    'height = 192\nfps = 24\n[encode]\nnvenc = "off"\npreset = "slow"\n'
                    # Kills from outside are not the shots' fault: never give up on one here.
                    "[worker]\nlease_sec = 5.0\nmax_attempts = 100\n")
    return file


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    file = _config_file(tmp_path)
    config = load_config(file, env={})
    batch = _batch(tmp_path, config, count=16)
    rng = random.Random(1234)
    kills = runs = 0
    while kills < 10 and runs < 40:
        runs += 1
        process = _run_cli(batch, file)
        time.sleep(rng.uniform(0.3, 2.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        for path in (batch / "results").glob("*") if (batch / "results").exists() else []:
            if path.suffix == ".mp4":  # any final name is a whole, decodable video
                assert probe_video(path).frames == 96
    assert kills >= 10
    final = _run_cli(batch, file)
    _, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr.decode()
    _assert_complete_sized(batch)


def _assert_complete_sized(batch: Path) -> None:
    manifest = load_manifest(batch)
    with Ledger(batch) as ledger:
        for shot in manifest.keyframes:
            assert ledger.shot(shot.shot_id)["state"] == "done"
            outcomes = [a["outcome"] for a in ledger.attempts(shot.shot_id)]
            assert outcomes.count("done") == 1 and None not in outcomes, outcomes
            assert probe_video(batch / "results" / f"{shot.shot_id}.mp4").frames == 96
            meta = json.loads((batch / "results" / f"{shot.shot_id}.video_meta.json").read_text())
            assert meta["attempt"] == len(outcomes)
    assert [p.name for p in (batch / "results").iterdir() if ".tmp-" in p.name] == []


@register_backend
class _Flashy(CameraBackend):
    """The camera, with a white frame in the middle of shot0."""

    name = "test-flashy"

    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        result = super().generate(request, progress)
        if request.shot_id != "shot0":
            return result
        frames = list(result.frames)
        frames[10] = np.full_like(frames[10], 255)
        return GenerationResult(frames, result.num_frames, result.fps, result.framed)


def test_a_shot_that_fails_qc_is_flagged_with_reasons(tmp_path: Path) -> None:
    config = _settings(tmp_path, **{"generation.model": "test-flashy"})
    batch = _batch(tmp_path, config, count=2)
    summary = run_batch(batch, config, workers=1)
    assert (summary.counts["flagged"], summary.counts["done"]) == (1, 1)
    with Ledger(batch) as ledger:
        row = ledger.shot("shot0")
    assert row["verdict"] == "fail"
    assert any(r.startswith("flash_frames:") and "frames 10-11" in r for r in row["reasons"])
    meta = json.loads((batch / "results" / "shot0.video_meta.json").read_text())
    assert meta["verdict"] == "fail"  # the video is kept for review
    from typer.testing import CliRunner

    from vidgen.cli import app

    status = CliRunner().invoke(app, ["status", str(batch)])
    assert status.exit_code == 0
    assert "1 done, 1 flagged (of 2, 50% flagged)" in status.stdout
    flagged = [line for line in status.stdout.splitlines() if line.startswith("flagged ")]
    assert len(flagged) == 1 and flagged[0].startswith("flagged shot0: ")
    assert "flash_frames: 2 frame(s)" in flagged[0]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_exit_130_and_the_batch_resumes(tmp_path: Path, stop: int) -> None:
    file = _config_file(tmp_path)
    batch = _batch(tmp_path, load_config(file, env={}), count=8)
    process = _run_cli(batch, file)
    deadline = time.time() + 60
    while time.time() < deadline:  # the ledger, not the file: the video lands before `done`
        with Ledger(batch) as ledger:
            if ledger.counts().get("done", 0) >= 1:
                break
        time.sleep(0.05)
    process.send_signal(stop)
    assert process.wait(timeout=60) == 130
    with Ledger(batch) as ledger:
        counts = ledger.counts()
    assert counts["running"] == 0 and counts["done"] >= 1 and counts["queued"] >= 1
    assert _run_cli(batch, file).wait(timeout=300) == 0
    _assert_complete_sized(batch)
