"""The whole QC suite: camera renders of the bundled samples pass; `vidgen qc` reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidgen.backends.camera import render_path
from vidgen.cli import app
from vidgen.config import load_config
from vidgen.encode import EncodeSettings, encode_video
from vidgen.formats import dump_document
from vidgen.media import load_image
from vidgen.motion import Motion, propose_motion, sample_path
from vidgen.qc import available_checks
from vidgen.qc.report import qc_video
from vidgen.rules import RuleLimits

SAMPLES = Path(__file__).parents[2] / "examples" / "keyframes"
CONFIG = load_config(env={})


def _render(tmp_path: Path, sample: str, preset: str, size: tuple[int, int]
            ) -> tuple[Path, Path, Motion]:
    image_path = SAMPLES / sample
    image = load_image(image_path, max_pixels=10**8, max_bytes=10**9)
    keyframe_size = (image.shape[1], image.shape[0])
    motion = propose_motion(preset, intensity=0.8, duration_sec=4.0, easing="ease_in_out",
                            image_size=keyframe_size, output_size=size, fps=24,
                            limits=RuleLimits().preset_limits())
    video = tmp_path / f"{Path(sample).stem}-{preset}.mp4"
    encode_video(render_path(image, sample_path(motion, keyframe_size, 96), size), video,
                 width=size[0], height=size[1], fps=24,
                 settings=EncodeSettings("h264", 20, "veryfast", "off"))
    return video, image_path, motion


@pytest.mark.parametrize(("sample", "preset", "size"), [
    ("hubble.jpg", "zoom_in", (384, 216)),
    ("coffee.png", "pan_right", (384, 216)),
    ("astronaut.png", "zoom_out", (256, 360)),
    ("chelsea.png", "pan_left", (256, 360)),
    ("coffee.png", "static", (384, 216)),
])
def test_smooth_camera_renders_pass_every_check(tmp_path: Path, sample: str, preset: str,
                                                 size: tuple[int, int]) -> None:
    """The false-positive guard: legitimate pans and zooms are not flagged."""
    video, image_path, motion = _render(tmp_path, sample, preset, size)
    image = load_image(image_path, max_pixels=10**8, max_bytes=10**9)
    report = qc_video(video, CONFIG, keyframe=image, motion=motion)
    assert report.frames == 96
    assert {c.name for c in report.checks} == set(available_checks())
    failing = {c.name: c.reasons for c in report.checks if c.verdict == "fail"}
    assert failing == {}
    if preset != "static":  # a static shot may warn that it does not move
        assert report.verdict == "pass", report.reasons


def test_qc_command_json_and_plot(tmp_path: Path) -> None:
    video, image_path, motion = _render(tmp_path, "hubble.jpg", "zoom_in", (384, 216))
    motion_file = tmp_path / "hubble.motion.json"
    motion_file.write_text(json.dumps(dump_document(motion)))
    plot = tmp_path / "qc.png"
    result = CliRunner().invoke(app, ["qc", str(video), "--keyframe", str(image_path),
                                      "--motion", str(motion_file), "--plot", str(plot),
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)[str(video)]
    assert data["verdict"] == "pass" and data["frames"] == 96
    assert {c["name"] for c in data["checks"]} == set(available_checks())
    from PIL import Image

    with Image.open(plot) as picture:  # 10 inches at 110 dpi, a panel per timeline
        assert picture.format == "PNG" and picture.width == 1100
        assert picture.height >= 2 * 190
