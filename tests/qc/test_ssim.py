"""SSIM against scikit-image, and the temporal ``ssim`` check on camera renders and defects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from skimage.metrics import structural_similarity

from vidgen.backends.camera import CropRenderer
from vidgen.config import load_config
from vidgen.media import load_image
from vidgen.motion import Motion, frame_count, sample_path
from vidgen.qc import QCContext, run_checks
from vidgen.qc.base import REC709, CheckResult
from vidgen.qc.ssim import SSIM, estimate_motion, path_transform, ssim

SAMPLES = Path(__file__).parents[2] / "examples" / "keyframes"
CONFIG = load_config(env={})
SIZE = (320, 180)


def _image(name: str) -> NDArray[np.uint8]:
    return load_image(SAMPLES / name, max_pixels=10**8, max_bytes=10**9)


def _luma(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    return np.asarray(rgb.astype(np.float32) @ REC709, dtype=np.float32)


def _reference(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(structural_similarity(a.astype(np.float64), b.astype(np.float64),
                                       gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=255))


def _degraded(rgb: NDArray[np.uint8]) -> dict[str, NDArray[np.float32]]:
    rng = np.random.default_rng(7)
    luma = _luma(rgb)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 25])[1],
                        cv2.IMREAD_UNCHANGED)
    return {
        "shift": np.roll(luma, (1, 2), axis=(0, 1)),
        "subpixel": cv2.warpAffine(luma, np.float32([[1, 0, 0.4], [0, 1, -0.3]]),
                                   luma.shape[::-1], borderMode=cv2.BORDER_REFLECT),
        "noise": np.clip(luma + rng.normal(0, 6, luma.shape), 0, 255).astype(np.float32),
        "jpeg": _luma(jpeg),
        "blur": cv2.GaussianBlur(luma, (0, 0), 1.2),
        "brighter": np.clip(luma + 25, 0, 255),
    }


def _ssim_check(frames: list[NDArray[np.uint8]], context: QCContext,
                config: Mapping[str, Any] = CONFIG) -> CheckResult:
    return run_checks(frames, config, context, only=["ssim"]).check("ssim")


def _render(image: NDArray[np.uint8], motion: Motion, size: tuple[int, int] = SIZE,
            fps: float = 24) -> list[NDArray[np.uint8]]:
    renderer = CropRenderer(image, size)
    rects = sample_path(motion, (image.shape[1], image.shape[0]),
                        frame_count(motion.duration_sec, fps))
    return [renderer.render(rect) for rect in rects]


PAN = Motion(motion_type="pan_right", start=(0.0, 0.1, 0.6, 0.6), end=(0.4, 0.1, 1.0, 0.6),
             duration_sec=1.0)
ZOOM = Motion(motion_type="zoom_in", start=(0.0, 0.0, 1.0, 0.9), end=(0.2, 0.15, 0.8, 0.69),
              duration_sec=1.0)


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "hubble.jpg", "rocket.jpg"])
def test_ssim_agrees_with_scikit_image_on_real_frames(name: str) -> None:
    rgb = _image(name)
    luma = _luma(rgb)
    engine = SSIM(luma.shape[1], luma.shape[0])
    for kind, other in _degraded(rgb).items():
        expected = _reference(luma, other)
        assert ssim(luma, other) == pytest.approx(expected, abs=1e-3), kind
        assert engine(luma, other) == pytest.approx(expected, abs=1e-3), kind  # reused buffers
        assert ssim(other, luma) == pytest.approx(expected, abs=1e-3), kind  # symmetric


def test_ssim_averages_the_region_scikit_image_averages() -> None:
    # An odd size, and a map that differs only near the border: the 5-pixel crop must match.
    luma = _luma(_image("chelsea.png"))[:77, :123]
    other = luma.copy()
    other[:8, :] = 0
    other[:, -3:] = 255
    assert ssim(luma, other) == pytest.approx(_reference(luma, other), abs=1e-5)
    _, full = structural_similarity(luma.astype(np.float64), other.astype(np.float64),
                                    gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255, full=True)
    engine = SSIM(123, 77)
    x0, y0, x1, y1 = 20, 10, 100, 60
    assert engine(luma, other, (x0, y0, x1, y1)) == pytest.approx(
        float(full[y0:y1, x0:x1].mean()), abs=1e-5)


def test_identical_images_score_one_and_bad_input_is_refused() -> None:
    luma = _luma(_image("coffee.png"))
    assert ssim(luma, luma.copy()) == pytest.approx(1.0, abs=1e-6)
    flat = np.full((40, 50), 128, np.float32)
    assert ssim(flat, flat) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        ssim(luma, luma[1:])
    with pytest.raises(ValueError, match="at least 11"):
        SSIM(10, 40)
    with pytest.raises(ValueError, match="expected a 50 x 40"):
        SSIM(50, 40)(luma, luma)


def test_path_transform_carries_a_pixel_to_the_same_source_point() -> None:
    a = np.array([10.0, 20.0, 330.0, 200.0])
    b = np.array([30.5, 25.0, 310.5, 182.5])
    size = (160, 90)
    matrix = path_transform(a, b, size)
    u, v = 37.0, 61.0
    source = (a[0] + (u + 0.5) * (a[2] - a[0]) / size[0] - 0.5,
              a[1] + (v + 0.5) * (a[3] - a[1]) / size[1] - 0.5)
    u2, v2 = matrix @ np.array([u, v, 1.0])
    assert b[0] + (u2 + 0.5) * (b[2] - b[0]) / size[0] - 0.5 == pytest.approx(source[0])
    assert b[1] + (v2 + 0.5) * (b[3] - b[1]) / size[1] - 0.5 == pytest.approx(source[1])
    assert np.allclose(path_transform(a, a, size), [[1, 0, 0], [0, 1, 0]])


def test_estimate_motion_finds_a_known_similarity_and_gives_up_on_a_flat_frame() -> None:
    luma = cv2.resize(_luma(_image("rocket.jpg")), (320, 214), interpolation=cv2.INTER_AREA)
    truth = cv2.getRotationMatrix2D((160, 107), 0.5, 1.03)
    truth[:, 2] += (3.2, -1.7)
    moved = cv2.warpAffine(luma, truth, (320, 214), flags=cv2.INTER_CUBIC)
    found = estimate_motion(np.asarray(cv2.convertScaleAbs(luma), np.uint8),
                            np.asarray(cv2.convertScaleAbs(moved), np.uint8))
    assert found is not None
    corners = np.array([[40, 40, 1], [280, 40, 1], [40, 170, 1], [280, 170, 1]], float)
    assert np.abs(corners @ found.T - corners @ truth.T).max() < 0.25
    flat = np.full((214, 320), 90, np.uint8)
    assert estimate_motion(flat, flat) is None


@pytest.mark.parametrize("motion", [PAN, ZOOM], ids=["pan", "zoom"])
@pytest.mark.parametrize("known", [True, False], ids=["camera-path", "estimated"])
def test_a_camera_move_scores_low_raw_but_high_compensated(motion: Motion, known: bool) -> None:
    image = _image("hubble.jpg")  # dense detail: any misalignment shows
    frames = _render(image, motion)
    context = QCContext(fps=24, width=SIZE[0], height=SIZE[1],
                        keyframe=image if known else None, motion=motion if known else None)
    check = _ssim_check(frames, context)
    values = check.values
    assert check.verdict == "pass", check.reasons
    assert values["compensation"] == ("camera path" if known else "estimated")
    assert values["pairs"] == len(frames) - 1 == 23
    assert values["raw_mean"] < 0.75
    assert values["mean"] >= 0.85 and values["min"] >= 0.8
    assert values["mean"] - values["raw_mean"] > 0.2
    assert values["drop_count"] == 0 and check.frames == []
    assert len(check.timeline["ssim"]) == len(check.timeline["ssim_raw"]) == len(frames)
    assert check.timeline["ssim"][0] == 1.0
    assert min(check.timeline["ssim"][1:]) == pytest.approx(values["min"], abs=1e-4)


def test_the_known_path_and_the_estimate_agree() -> None:
    image = _image("coffee.png")
    frames = _render(image, PAN)
    known = _ssim_check(frames, QCContext(fps=24, width=SIZE[0], height=SIZE[1],
                                          keyframe=image, motion=PAN))
    estimated = _ssim_check(frames, QCContext(fps=24, width=SIZE[0], height=SIZE[1]))
    assert known.values["raw_mean"] == estimated.values["raw_mean"]
    assert known.values["mean"] == pytest.approx(estimated.values["mean"], abs=0.01)
    assert "estimated_pairs" not in known.values
    assert estimated.values["estimated_pairs"] == 23


def test_frames_past_the_known_path_are_estimated() -> None:
    image = _image("coffee.png")
    frames = _render(image, PAN)
    frames += [frames[-1]] * 4  # the clip runs 4 frames longer than the motion says
    check = _ssim_check(frames, QCContext(fps=24, width=SIZE[0], height=SIZE[1],
                                          keyframe=image, motion=PAN))
    assert check.values["estimated_pairs"] == 4 and check.verdict == "pass"
    assert check.timeline["ssim"][-4:] == [1.0] * 4


def test_a_scene_change_is_listed_at_its_frame() -> None:
    one, two = _image("coffee.png"), _image("rocket.jpg")
    still = Motion(motion_type="static", start=(0.1, 0.1, 0.9, 0.9), end=(0.1, 0.1, 0.9, 0.9),
                   duration_sec=0.5)
    frames = _render(one, still) + _render(two, still)
    check = _ssim_check(frames, QCContext(fps=24, width=SIZE[0], height=SIZE[1]))
    assert check.verdict == "warn"  # one bad pair in 23 keeps the mean above the limit
    assert check.frames == [12]
    assert check.values["drop_frames"] == "12" and check.values["drop_count"] == 1
    assert check.values["min"] < 0.7 <= check.values["mean"]
    assert "1 frame(s)" in check.reasons[0] and "frames 12" in check.reasons[0]


def test_a_noise_burst_fails_and_lists_its_frames() -> None:
    image = _image("astronaut.png")
    frames = _render(image, PAN)
    rng = np.random.default_rng(3)
    for index in range(8, 14):  # frames 8-13 drowned in noise
        noisy = frames[index] + rng.normal(0, 60, frames[index].shape)
        frames[index] = np.clip(noisy, 0, 255).astype(np.uint8)
    check = _ssim_check(frames, QCContext(fps=24, width=SIZE[0], height=SIZE[1],
                                          keyframe=image, motion=PAN))
    assert check.verdict == "fail"
    assert check.frames == list(range(8, 15))  # the pairs into, inside and out of the burst
    assert check.values["drop_frames"] == "8-14"
    assert check.values["mean"] < 0.85
    assert any("below 0.85" in reason for reason in check.reasons)
    assert any("frames 8-14" in reason for reason in check.reasons)


def test_a_static_clip_scores_one_and_the_limits_come_from_the_settings() -> None:
    image = _image("rocket.jpg")
    frames = [CropRenderer(image, SIZE).render((0, 0, 640, 360))] * 6
    context = QCContext(fps=24, width=SIZE[0], height=SIZE[1])
    check = _ssim_check(frames, context)
    assert check.verdict == "pass"
    assert check.values["mean"] == check.values["raw_mean"] == pytest.approx(1.0, abs=1e-6)
    pan = _render(_image("hubble.jpg"), PAN)
    strict = load_config(env={}, overrides={"qc.ssim_min": 0.999, "qc.ssim_drop": 0.99})
    check = _ssim_check(pan, QCContext(fps=24, width=SIZE[0], height=SIZE[1]), strict)
    assert check.verdict == "fail" and check.values["limit"] == 0.999
    assert check.values["drop_count"] > 0


def test_analysis_size_and_a_single_frame() -> None:
    image = _image("coffee.png")
    frames = _render(image, PAN, size=(1280, 720))[:3]
    check = _ssim_check(frames, QCContext(fps=24, width=1280, height=720))
    assert check.values["analysis_size"] == [640, 360]
    one = _ssim_check(frames[:1], QCContext(fps=24, width=1280, height=720))
    assert one.verdict == "pass" and one.values["pairs"] == 0
    assert "skipped" in one.reasons[0]


def test_featureless_and_tiny_frames() -> None:
    flat = [np.full((48, 64, 3), level, np.uint8) for level in (120, 121, 120)]
    check = _ssim_check(flat, QCContext(fps=24, width=64, height=48))
    assert check.verdict == "pass" and check.values["uncompensated_pairs"] == 2
    assert check.values["mean"] == check.values["raw_mean"] > 0.99
    tiny = [np.zeros((8, 8, 3), np.uint8)] * 3
    check = _ssim_check(tiny, QCContext(fps=24, width=8, height=8))
    assert check.verdict == "pass" and "smaller than the 11 x 11" in check.reasons[0]
