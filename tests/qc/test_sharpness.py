"""The ``sharpness`` check (variance of the Laplacian against frame 0) with known answers."""

from __future__ import annotations

from functools import cache
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import vidgen.qc.cuts  # noqa: F401 - importing registers the check (sharpness: below)
from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.motion import frame_count, propose_motion, sample_path
from vidgen.qc import CheckResult, QCContext, run_checks
from vidgen.qc.sharpness import EXCUSE, SCALE, laplacian_variance, reduce, sharpness
from vidgen.rules import RuleLimits

KEYFRAMES = Path(__file__).resolve().parents[2] / "examples" / "keyframes"
CONFIG = load_config(env={})
W, H = 640, 360
CONTEXT = QCContext(fps=24, width=W, height=H)


@cache
def photo(name: str) -> np.ndarray:
    """An example keyframe centre-cropped to 16:9 and area-resized to W x H."""
    image = np.asarray(Image.open(KEYFRAMES / name).convert("RGB"))
    h, w = image.shape[:2]
    crop_w, crop_h = min(w, round(h * W / H)), min(h, round(w * H / W))
    x, y = (w - crop_w) // 2, (h - crop_h) // 2
    return cv2.resize(image[y:y + crop_h, x:x + crop_w], (W, H), interpolation=cv2.INTER_AREA)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return image if sigma == 0 else cv2.GaussianBlur(image, (0, 0), sigma)


def check(frames: list[np.ndarray], context: QCContext = CONTEXT, *,
          overrides: dict[str, float] | None = None) -> CheckResult:
    config = load_config(env={}, overrides=overrides) if overrides else CONFIG
    return run_checks(frames, config, context, only=["sharpness"]).check("sharpness")


def test_the_laplacian_variance_of_known_images() -> None:
    flat = np.full((40, 60), 128, np.float32)
    assert laplacian_variance(flat) == 0.0
    # A one-pixel checkerboard of 100 and 120: the 4-neighbour Laplacian is -+80 everywhere.
    board = (np.indices((40, 60)).sum(axis=0) % 2 * 20.0 + 100.0).astype(np.float32)
    assert laplacian_variance(board) == pytest.approx(80.0**2, rel=1e-4)
    # Its detail is finer than the sharpness copy: the box downscale averages it away.
    assert sharpness(board) == pytest.approx((0.0, 0.0), abs=1e-6)
    # A checkerboard of SCALE x SCALE squares is the one-pixel board at the sharpness scale.
    blocks = np.kron(board, np.ones((SCALE, SCALE), np.float32))
    assert reduce(blocks, SCALE).shape == board.shape
    assert sharpness(blocks)[0] == pytest.approx(80.0**2, rel=1e-4)
    # Too small to reduce by the whole factor: reduced less, never below 8 pixels a side.
    assert reduce(np.zeros((20, 300), np.float32), 16).shape == (10, 150)


PHOTOS = ["coffee.png", "hubble.jpg", "chelsea.png", "rocket.jpg", "astronaut.png"]


@pytest.mark.parametrize("name", PHOTOS)
def test_progressive_blur_fails_from_the_right_frame_on(name: str) -> None:
    # Sharp, then a little soft (sigma <= 0.75 analysis pixels keeps >= 0.7 of the
    # variance), then blurred from frame 12 on (sigma 3 and growing: <= 0.16 of it).
    sigmas = [0.0] * 6 + [0.3, 0.4, 0.5, 0.6, 0.7, 0.75] + [3.0 + 0.5 * k for k in range(12)]
    result = check([blur(photo(name), s) for s in sigmas])
    assert result.verdict == "fail"
    assert result.frames == list(range(12, 24))
    assert len(result.reasons) == 1 and result.reasons[0].endswith("frames 12-23")
    ratios = result.timeline["ratio"]
    assert ratios[:6] == [1.0] * 6 and min(ratios[:12]) > 0.7 and max(ratios[12:]) < 0.2
    assert all(b <= a + 1e-3 for a, b in pairwise(ratios))  # monotone
    assert result.values["min_ratio_frame"] == 23 and result.values["count"] == 12
    assert result.values["frame0_variance"] > 100


@pytest.mark.parametrize("name", PHOTOS)
def test_a_steady_blur_ramp_fails_once_sigma_reaches_about_two(name: str) -> None:
    sigmas = [0.25 * k for k in range(25)]  # 0 to 6 analysis pixels
    result = check([blur(photo(name), s) for s in sigmas])
    first = result.frames[0]
    assert result.frames == list(range(first, 25))  # from there on, to the end
    assert 1.5 <= sigmas[first] <= 2.5


def test_one_soft_frame_is_listed_alone() -> None:
    sharp = photo("rocket.jpg")
    frames = [sharp] * 10 + [blur(sharp, 4.0)] + [sharp] * 10
    result = check(frames)
    assert result.frames == [10] and "frames 10" in result.reasons[0]


def test_mush_fails_even_though_the_coarse_structure_goes_too() -> None:
    sharp = photo("astronaut.png")
    result = check([sharp, blur(sharp, 12), blur(sharp, 40), np.full_like(sharp, 128)])
    assert result.frames == [1, 2, 3]
    assert min(result.timeline["coarse"][1:]) < EXCUSE  # content excuses at most EXCUSE


def test_a_constant_clip_passes() -> None:
    result = check([photo("coffee.png")] * 24)
    assert result.verdict == "pass" and result.reasons == []
    assert set(result.timeline["ratio"]) == {1.0} and result.values["min_ratio"] == 1.0


def test_a_flat_first_frame_is_skipped() -> None:
    frames = [np.full((H, W, 3), level, np.uint8) for level in (0, 40, 80)] + [photo("coffee.png")]
    result = check(frames)
    assert result.verdict == "pass" and result.reasons[0].startswith("skipped: frame 0")
    assert result.values["frame0_variance"] == 0.0


def camera(name: str, kind: str, out: tuple[int, int], upscale: int = 1) -> list[np.ndarray]:
    """A shot from the camera backend over an example keyframe (the presets' limits).

    ``upscale`` first enlarges the keyframe (cubic), as a studio upscale would, so that
    1280x720 zooms have room within the presets' no-upscale limit.
    """
    image = np.asarray(Image.open(KEYFRAMES / name).convert("RGB"))
    if upscale > 1:
        image = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    size, fps, seconds = (image.shape[1], image.shape[0]), 24, 4.0
    motion = propose_motion(kind, intensity=1.0, duration_sec=seconds, easing="ease_in_out",
                            image_size=size, output_size=out, fps=fps,
                            limits=RuleLimits().preset_limits())
    assert motion.motion_type == kind  # the keyframe leaves room for the move
    return list(render_path(image, sample_path(motion, size, frame_count(seconds, fps)), out))


@pytest.mark.parametrize(("name", "kind", "out", "upscale"), [
    ("hubble.jpg", "zoom_in", (512, 720), 1),
    ("hubble.jpg", "zoom_in", (1280, 720), 2),
    ("hubble.jpg", "zoom_out", (1280, 720), 2),
    ("rocket.jpg", "pan_up", (1280, 720), 1),  # onto the sky: the variance falls to 0.41
    ("rocket.jpg", "pan_right", (640, 360), 2),
    ("astronaut.png", "pan_left", (512, 720), 1),
])
def test_camera_moves_over_a_photo_pass_both_checks(name: str, kind: str, out: tuple[int, int],
                                                    upscale: int) -> None:
    context = QCContext(fps=24, width=out[0], height=out[1])
    report = run_checks(camera(name, kind, out, upscale), CONFIG, context,
                        only=["cuts", "sharpness"])
    assert report.verdict == "pass", report.reasons
    result = report.check("sharpness")
    assert result.frames == [] and result.reasons == []
    if kind == "zoom_out":
        assert max(result.timeline["ratio"]) > 1.1  # more source pixels per output pixel


def test_a_pan_onto_plain_content_is_excused_by_its_coarse_structure() -> None:
    result = check(camera("rocket.jpg", "pan_up", (1280, 720)),
                   QCContext(fps=24, width=1280, height=720))
    # The variance alone falls below blur_drop x frame 0's, but less is in view: no failure.
    assert result.values["min_ratio"] < CONFIG["qc.blur_drop"] and result.verdict == "pass"
    assert min(result.timeline["coarse"]) < 0.6


def test_the_setting_moves_the_verdict() -> None:
    frames = [photo("chelsea.png"), blur(photo("chelsea.png"), 1.0)]  # 0.75 of the variance
    assert check(frames).verdict == "pass"
    assert check(frames, overrides={"qc.blur_drop": 0.95}).frames == [1]
    assert check(frames, overrides={"qc.blur_drop": 0.0}).verdict == "pass"
