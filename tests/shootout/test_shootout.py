"""The whole shootout path with camera contenders: config -> runs -> metrics -> ratings sheet ->
scores -> report, resuming, re-running, and the report in a browser."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from vidgen import worker
from vidgen.errors import BackendError, ConfigError
from vidgen.shootout import shootout
from vidgen.shootout.run import RunRecord

from ..conftest import snapshot
from .conftest import camera, open_in_chromium, write_shootout
from .test_ratings import fill

TWO = camera("steady", "Steady camera") + camera(
    "half-rate", "Half-rate camera", '{"generation.native_fps" = 6, "interpolate.method" = "flow"}')


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Shots generated, by batch id (contender-seed), counted as the worker runs them."""
    counted: Counter[str] = Counter()
    real = worker.process_shot

    def counting(batch_dir: Path, manifest: Any, *args: Any, **kwargs: Any) -> Any:
        counted[manifest.batch_id] += 1
        return real(batch_dir, manifest, *args, **kwargs)

    monkeypatch.setattr(worker, "process_shot", counting)
    return counted


def test_camera_shootout_from_config_to_report(tmp_path: Path, calls: Counter[str]) -> None:
    path = write_shootout(tmp_path, TWO)
    sources = snapshot(tmp_path / "keys")
    first = shootout(path, env={})
    out = tmp_path / "shootout-out"
    assert first.out_dir == out and calls == {"steady-s1": 1, "half-rate-s1": 1}
    assert snapshot(tmp_path / "keys") == sources  # the source folder is only read
    assert first.board.winner is None and all(c.status == "awaiting"
                                              for c in first.board.contenders)
    meta = json.loads((out / "runs/steady/seed-1/results/harbour.video_meta.json").read_text())
    assert meta["prompt"] == "a harbour at dusk" and meta["seed"] == 1  # the shootout's prompt
    assert (out / "data" / "file_operations_logs").is_dir()  # the audit log stays inside
    md = first.markdown.read_text()
    assert "## No winner yet" in md and "first-frame fidelity rating of 1 of 1" in md

    fill(first.ratings, {
        "steady:harbour:1": {"first_frame_fidelity": "5", "motion_smoothness": "5",
                             "artifact_count": "0", "commercially_viable": "yes"},
        "half-rate:harbour:1": {"first_frame_fidelity": "2", "motion_smoothness": "3",
                                "artifact_count": "4", "commercially_viable": "no"}})
    second = shootout(path, env={})
    assert calls == {"steady-s1": 1, "half-rate-s1": 1}  # nothing generated again
    board = second.board
    assert board.winner is not None and board.winner.name == "steady"
    assert [e.rule for e in board.eliminations] == ["fidelity"]
    md = second.markdown.read_text()
    assert "## Winner: Steady camera" in md
    assert "| 1 | Steady camera | winner |" in md
    assert "| - | Half-rate camera | eliminated |" in md
    assert ("- Half-rate camera: fidelity: mean first-frame fidelity rating 2.00/5 "
            "(limit: > 4/5)") in md
    assert "For Steady camera: " in md and "| colocated |" in md and "| split |" in md
    html = second.html.read_text()
    assert "Winner: Steady camera" in html and "<table>" in html
    assert "mean first-frame fidelity rating 2.00/5" in html
    assert html.count("data:video/mp4;base64,") == 2 and "http" not in html.replace(
        'lang="en"', "")
    scores = json.loads((out / "scores.json").read_text())
    assert scores["winner"] == "steady" and scores["cost"]["hourly_usd"] == 2.0
    costs = second.report.costs
    assert costs.extra_hours == 0.5 and costs.usd == pytest.approx(costs.hours * 2.0)
    assert costs.hours > 0.5 and costs.videos == 2

    page = open_in_chromium(second.html)
    assert page["errors"] == []
    assert len(page["videos"]) == 2 and all(  # type: ignore[arg-type]
        v["width"] == 64 and v["error"] is None for v in page["videos"])  # type: ignore[attr-defined]
    assert "Winner: Steady camera" in str(page["text"])


def test_an_interrupted_shootout_resumes_and_rerun_makes_one_again(
        tmp_path: Path, calls: Counter[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_shootout(tmp_path, TWO)
    counting = worker.process_shot

    def interrupted(batch_dir: Path, manifest: Any, *args: Any, **kwargs: Any) -> Any:
        if manifest.batch_id.startswith("half-rate"):
            raise KeyboardInterrupt
        return counting(batch_dir, manifest, *args, **kwargs)

    monkeypatch.setattr(worker, "process_shot", interrupted)
    with pytest.raises(KeyboardInterrupt):
        shootout(path, env={})
    assert calls == {"steady-s1": 1}
    monkeypatch.setattr(worker, "process_shot", counting)
    result = shootout(path, env={})
    assert calls == {"steady-s1": 1, "half-rate-s1": 1}  # the finished cell was not rerun
    record = RunRecord.model_validate_json(
        (result.out_dir / "runs/half-rate/run.json").read_text())
    assert [s.outcome for s in record.sessions] == ["interrupted", "finished"]
    assert [s.videos for s in record.sessions] == [0, 1] and record.device == "CPU"
    shootout(path, env={}, rerun=["steady"])
    assert calls == {"steady-s1": 2, "half-rate-s1": 1}
    with pytest.raises(ConfigError, match="no such contender"):
        shootout(path, env={}, rerun=["nobody"])
    with pytest.raises(ConfigError, match="--report-only makes none"):
        shootout(path, env={}, rerun=["steady"], report_only=True)


def test_a_changed_contender_is_refused_not_mixed(tmp_path: Path) -> None:
    path = write_shootout(tmp_path, camera("steady"))
    shootout(path, env={})
    path.write_text(path.read_text().replace('"a harbour at dusk"', '"a harbour at dawn"'))
    with pytest.raises(ConfigError) as info:
        shootout(path, env={})
    assert info.value.item == "steady" and "--rerun steady" in (info.value.hint or "")
    assert shootout(path, env={}, rerun=["steady"]).board.contenders[0].metrics.videos == 1


def test_failed_videos_eliminate_and_report_only_generates_nothing(
        tmp_path: Path, calls: Counter[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_shootout(tmp_path, TWO)
    result = shootout(path, env={}, report_only=True)
    assert not calls and not (result.out_dir / "runs").exists()
    assert [c.missing[0] for c in result.board.contenders] == ["1 video(s) not made yet"] * 2
    assert result.report.plan is None and "No contender to plan for" in result.html.read_text()

    def broken(batch_dir: Path, manifest: Any, *args: Any, **kwargs: Any) -> Any:
        raise BackendError("the model fell over", item="harbour")

    monkeypatch.setattr(worker, "process_shot", broken)
    board = shootout(path, env={}).board
    assert [(e.contender, e.rule, e.value) for e in board.eliminations] == [
        ("Steady camera", "videos", "1 of 1 failed (BackendError)"),
        ("Half-rate camera", "videos", "1 of 1 failed (BackendError)")]
    assert "failed: BackendError: harbour: the model fell over" in \
        (result.out_dir / "report.html").read_text()


def test_a_gpu_that_is_not_the_one_measured_is_called_out(tmp_path: Path) -> None:
    path = write_shootout(tmp_path, camera("steady"))
    shootout(path, env={})
    path.write_text(path.read_text().replace('name = "CPU"', 'name = "RTX 4090"')
                    .replace("speed_factor = 1.0\n", "") + "[report]\nembed_videos = false\n")
    result = shootout(path, env={}, report_only=True)  # the runs stand; only the GPU changed
    warning = "steady ran on 'CPU', but gpu.name is 'RTX 4090'"
    assert any(w.startswith(warning) for w in result.report.warnings)
    assert warning in result.markdown.read_text() and "no conversion" in result.markdown.read_text()
    assert 'src="runs/steady/seed-1/results/harbour.mp4"' in result.html.read_text()
