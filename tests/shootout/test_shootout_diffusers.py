"""The shootout with tiny offline diffusers pipelines as contestants beside the camera:
meaningless as models, real as plumbing (load once per contender, seeds, load apart, t2v)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vidgen.backends.diffusers import VARIANTS, DiffusersBackend
from vidgen.shootout import shootout

from ..tiny_diffusers import tiny_mochi, tiny_wan
from .conftest import camera, open_in_chromium, write_shootout
from .test_ratings import fill

pytestmark = pytest.mark.filterwarnings("ignore:In CPU autocast")  # diffusers' Mochi on a CPU


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    tiny_wan("wan21_i2v").save_pretrained(folder / "wan21_i2v")
    tiny_mochi().save_pretrained(folder / "mochi")
    return folder


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Tiny native sizes (the output's, 64x96), and the pipeline loads counted per variant."""
    for name in ("wan21_i2v", "mochi"):
        monkeypatch.setitem(VARIANTS, name, replace(VARIANTS[name], native_size=(64, 96)))
    counted: Counter[str] = Counter()
    real = DiffusersBackend._from_pretrained

    def counting(self: DiffusersBackend, variant: Any, path: Path) -> Any:
        counted[variant.name] += 1
        return real(self, variant, path)

    monkeypatch.setattr(DiffusersBackend, "_from_pretrained", counting)
    return counted


def diffusers(name: str, template: str, model_dir: Path) -> str:
    return f"""
[[contenders]]
name = "{name}"
backend = "diffusers"
template = "{template}"
settings = {{"diffusers.model_dir" = "{model_dir.as_posix()}", "generation.steps" = 2}}
"""


def test_camera_and_tiny_diffusers_contenders(tmp_path: Path, model_dir: Path,
                                              loads: Counter[str]) -> None:
    path = write_shootout(tmp_path, camera("camera", "Camera") + diffusers(
        "tiny-wan", "wan21_i2v", model_dir) + diffusers("tiny-mochi", "mochi", model_dir),
        seeds="[1, 2]")
    first = shootout(path, env={})
    assert loads == {"wan21_i2v": 1, "mochi": 1}  # once per contender, for both seeds
    wan = next(c for c in first.board.contenders if c.name == "tiny-wan").input
    assert [(v.seed, v.model_load_sec > 0) for v in wan.videos] == [(1, True), (2, False)]
    assert all(v.peak_vram_gb == 0.0 for v in wan.videos)  # the CPU: no GPU memory used
    for video in wan.videos:
        meta = json.loads((first.out_dir / video.path).with_suffix(".video_meta.json")
                          .read_text())
        assert meta["seed"] == video.seed and meta["generation_params"]["seed"] == video.seed
        assert video.seconds == pytest.approx(
            meta["timings"]["generate"] - (meta["generation_info"]["model_load_sec"] or 0.0))
    mochi = next(c for c in first.board.contenders if c.name == "tiny-mochi")
    assert mochi.metrics.text_to_video and wan.videos[0].honours_keyframe

    ratings = {f"{name}:harbour:{seed}": {
        "first_frame_fidelity": score, "motion_smoothness": score}
        for name, score in (("camera", "5"), ("tiny-wan", "5"), ("tiny-mochi", "1"))
        for seed in (1, 2)}
    fill(first.ratings, ratings)
    second = shootout(path, env={})
    assert loads == {"wan21_i2v": 1, "mochi": 1}  # nothing loaded or generated again
    board = second.board
    assert board.winner is not None and board.winner.name == "camera"
    mochi = next(c for c in board.contenders if c.name == "tiny-mochi")
    assert mochi.status == "eliminated" and "fidelity" in [e.rule for e in mochi.eliminations]
    assert "Text-to-video, never saw the keyframe: tiny-mochi." in board.why
    md = second.markdown.read_text()
    assert "## Winner: Camera" in md and "text-to-video: never saw the keyframe" in md
    assert "mean first-frame fidelity rating 1.00/5 (limit: > 4/5)" in md

    page = open_in_chromium(second.html)
    assert page["errors"] == [] and len(page["videos"]) == 6  # type: ignore[arg-type]
    assert "text-to-video" in str(page["text"])
