"""First-frame fidelity: camera renders match their start crop; a replaced first frame fails."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from skimage.color import rgb2lab

from vidgen.backends.camera import CropRenderer
from vidgen.config import load_config
from vidgen.encode import EncodeSettings, decode_frames, encode_video
from vidgen.media import load_image
from vidgen.motion import Motion, frame_count, sample_path
from vidgen.qc import QCContext, run_checks
from vidgen.qc.base import CheckResult
from vidgen.qc.fidelity import PSNR_CAP, mean_lab, psnr

SAMPLES = Path(__file__).parents[2] / "examples" / "keyframes"
CONFIG = load_config(env={})
SIZE = (320, 180)
MOTION = Motion(motion_type="zoom_in", start=(0.05, 0.1, 0.95, 0.85),
                end=(0.25, 0.3, 0.75, 0.7), duration_sec=0.25)


def _image(name: str) -> NDArray[np.uint8]:
    return load_image(SAMPLES / name, max_pixels=10**8, max_bytes=10**9)


def _render(image: NDArray[np.uint8], size: tuple[int, int] = SIZE) -> list[NDArray[np.uint8]]:
    renderer = CropRenderer(image, size)
    rects = sample_path(MOTION, (image.shape[1], image.shape[0]),
                        frame_count(MOTION.duration_sec, 24))
    return [renderer.render(rect) for rect in rects]


def _round_trip(frames: list[NDArray[np.uint8]], tmp_path: Path) -> list[NDArray[np.uint8]]:
    """Through H.264 at crf 20 and back, as the pipeline's QC sees a video."""
    path = tmp_path / "clip.mp4"
    height, width = frames[0].shape[:2]
    encode_video(frames, path, width=width, height=height, fps=24,
                 settings=EncodeSettings("h264", 20, "veryfast", "off"))
    return list(decode_frames(path))


def _fidelity(frames: list[NDArray[np.uint8]], keyframe: NDArray[np.uint8] | None,
              motion: Motion | None = MOTION) -> CheckResult:
    height, width = frames[0].shape[:2] if frames else (SIZE[1], SIZE[0])
    context = QCContext(fps=24, width=width, height=height, keyframe=keyframe,
                        motion=motion if keyframe is not None else None)
    report = run_checks(frames, CONFIG, context, only=["first_frame_fidelity"])
    return report.check("first_frame_fidelity")


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "hubble.jpg"])
def test_a_camera_render_passes_after_an_h264_round_trip(name: str, tmp_path: Path) -> None:
    image = _image(name)
    check = _fidelity(_round_trip(_render(image), tmp_path), image)
    assert check.verdict == "pass", check.reasons
    # At 320 x 180 the analysis copy is the frame itself: no downscale hides the codec's loss.
    assert check.values["ssim"] > 0.9 and check.values["psnr"] > 30
    assert check.values["delta_e"] < 1.5 and abs(check.values["luma_offset"]) < 2
    assert check.values["frame"] == 0 and check.frames == []


def test_the_unencoded_render_is_the_reference_itself() -> None:
    image = _image("rocket.jpg")
    check = _fidelity(_render(image, (1280, 720)), image)
    assert check.values["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert check.values["psnr"] == PSNR_CAP and check.values["delta_e"] == 0
    assert check.values["analysis_size"] == [640, 360]


def test_a_first_frame_from_another_image_fails(tmp_path: Path) -> None:
    image, other = _image("coffee.png"), _image("rocket.jpg")
    frames = _render(image)
    frames[0] = np.asarray(cv2.resize(other, SIZE, interpolation=cv2.INTER_AREA), np.uint8)
    check = _fidelity(_round_trip(frames, tmp_path), image)
    assert check.verdict == "fail" and check.frames == [0]
    assert check.values["ssim"] < 0.5 and check.values["psnr"] < 18
    assert check.values["delta_e"] > 10
    assert len(check.reasons) == 2
    assert "SSIM" in check.reasons[0] and "PSNR" in check.reasons[1]


def test_a_brighter_or_blurred_first_frame_scores_clearly_lower(tmp_path: Path) -> None:
    image = _image("astronaut.png")
    good = _fidelity(_round_trip(_render(image), tmp_path), image).values
    brighter = _render(image)
    brighter[0] = np.clip(brighter[0].astype(np.int16) + 30, 0, 255).astype(np.uint8)
    bright = _fidelity(_round_trip(brighter, tmp_path), image).values
    assert bright["psnr"] < 20 and good["psnr"] > 30
    assert bright["luma_offset"] > 25 and bright["delta_e"] > 8
    blurred = _render(image)
    blurred[0] = np.asarray(cv2.GaussianBlur(blurred[0], (0, 0), 3.0), np.uint8)
    blur = _fidelity(_round_trip(blurred, tmp_path), image).values
    assert blur["ssim"] < good["ssim"] - 0.15 and blur["psnr"] < good["psnr"] - 10
    strict = load_config(env={}, overrides={"qc.fidelity_psnr_min": 20.0})
    context = QCContext(fps=24, width=SIZE[0], height=SIZE[1], keyframe=image, motion=MOTION)
    report = run_checks(brighter, strict, context, only=["first_frame_fidelity"])
    assert report.check("first_frame_fidelity").verdict == "fail"


def test_without_keyframe_or_motion_or_frames_the_check_is_skipped() -> None:
    image = _image("coffee.png")
    frames = _render(image)
    for check in (_fidelity(frames, None), _fidelity(frames, image, motion=None)):
        assert check.verdict == "pass"
        assert check.reasons == ["skipped: no keyframe/motion to compare the first frame with"]
        assert "ssim" not in check.values
    empty = _fidelity([], image)
    assert empty.verdict == "pass" and "no frames" in empty.reasons[0]


def test_psnr_and_mean_lab() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a) == PSNR_CAP
    assert psnr(a, a + 10) == pytest.approx(10 * np.log10(255**2 / 100))
    rgb = _image("chelsea.png")
    expected = rgb2lab(rgb).reshape(-1, 3).mean(axis=0)
    assert np.abs(mean_lab(rgb) - expected).max() < 0.3


def test_frames_smaller_than_the_window_are_judged_on_psnr_alone() -> None:
    image = _image("coffee.png")
    renderer = CropRenderer(image, (8, 8))
    good = [renderer.render((100.0, 100.0, 300.0, 300.0))]
    context = QCContext(fps=24, width=8, height=8, keyframe=image,
                        motion=MOTION.model_copy(update={"start": (1 / 6, 0.25, 0.5, 0.75)}))
    check = run_checks(good, CONFIG, context, only=["first_frame_fidelity"]).check(
        "first_frame_fidelity")
    assert check.verdict == "pass" and check.values["ssim"] is None
    assert check.values["psnr"] == PSNR_CAP
    bad = run_checks([255 - good[0]], CONFIG, context, only=["first_frame_fidelity"])
    assert bad.check("first_frame_fidelity").verdict == "fail"
