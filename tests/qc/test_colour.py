"""Colour drift (Delta E CIE76 of the mean colour): known answers, compensation, real renders."""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

import vidgen.qc.colour  # noqa: F401 - registers the check
from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.motion import Motion, MotionType, sample_path
from vidgen.qc import QCContext, run_checks
from vidgen.qc.base import SRGB_TO_LINEAR, CheckResult
from vidgen.qc.colour import lab_from_linear, path_means

from .renders import camera_shot

CONFIG = load_config(env={})
FPS = 24
W, H = 96, 64
CONTEXT = QCContext(fps=FPS, width=W, height=H)
Clip = list[NDArray[np.uint8]]


def run(frames: Clip, context: QCContext = CONTEXT,
        config: Mapping[str, Any] = CONFIG) -> CheckResult:
    return run_checks(frames, config, context, only=["colour_drift"]).check("colour_drift")


def hue_clip(degrees: float, frames: int = 96) -> tuple[Clip, list[tuple[int, int, int]]]:
    """Uniform frames whose hue turns steadily by ``degrees`` (saturation 0.6, value 0.7)."""
    colours = []
    for i in range(frames):
        r, g, b = colorsys.hsv_to_rgb((0.05 + degrees / 360 * i / (frames - 1)) % 1.0, 0.6, 0.7)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return [np.full((H, W, 3), c, np.uint8) for c in colours], colours


def skimage_delta_e(colours: list[tuple[int, int, int]]) -> NDArray[np.float64]:
    """Delta E of each colour from the first, by scikit-image (an independent Lab)."""
    color = pytest.importorskip("skimage.color")
    lab = color.rgb2lab(np.array([colours], dtype=np.float64) / 255.0)[0]
    return np.asarray(color.deltaE_cie76(lab, lab[0]))


def test_a_constant_colour_does_not_drift() -> None:
    frames, _ = hue_clip(0.0, 24)
    result = run(frames)
    assert result.verdict == "pass" and result.values["max_delta_e"] == 0.0
    assert result.timeline["delta_e"] == [0.0] * 24


@pytest.mark.parametrize(("degrees", "verdict"), [(3.0, "pass"), (6.0, "warn"), (20.0, "fail")])
def test_a_steady_hue_shift_gives_the_expected_delta_e(degrees: float, verdict: str) -> None:
    frames, colours = hue_clip(degrees)
    expected = skimage_delta_e(colours)
    result = run(frames)
    assert result.timeline["delta_e"] == pytest.approx(expected, abs=0.02)
    assert result.values["max_delta_e"] == pytest.approx(expected.max(), abs=0.02)
    assert result.values["max_frame"] == int(np.argmax(expected))
    assert result.verdict == verdict
    if verdict != "pass":
        limit = 10.0 if verdict == "fail" else 5.0
        over = np.flatnonzero(expected > limit)
        assert np.abs(expected - limit).min() > 0.03  # beyond the 0.02 tolerance: same frames
        assert result.frames == list(range(int(over[0]), 96))
        assert result.reasons[0].startswith("the mean colour drifts from frame 0's by up to "
                                            f"Delta E {expected.max():.3g}")
        assert f"frames {over[0]}-95" in result.reasons[0]


def test_the_mean_colour_is_taken_in_linear_light() -> None:
    # Half black, half a colour: the mean is half the colour's light, not half its code.
    colour = np.array([200, 120, 40], np.uint8)
    frame0 = np.zeros((H, W, 3), np.uint8)
    frame0[:, : W // 2] = colour
    frame1 = np.full((H, W, 3), colour, np.uint8)
    result = run([frame0, frame1])
    color = pytest.importorskip("skimage.color")
    linear = SRGB_TO_LINEAR[colour].astype(np.float64)
    means = np.array([linear / 2, linear])
    encoded = np.where(means <= 0.0031308, means * 12.92, 1.055 * means ** (1 / 2.4) - 0.055)
    lab = color.rgb2lab(encoded[None])[0]
    assert result.values["max_delta_e"] == pytest.approx(
        float(color.deltaE_cie76(lab[1], lab[0])), abs=0.02)


def test_lab_matches_scikit_image() -> None:
    color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3))
    ours = lab_from_linear(SRGB_TO_LINEAR[rgb])
    theirs = color.rgb2lab(rgb[None] / 255.0)[0]
    assert np.abs(ours - theirs).max() < 0.02
    assert lab_from_linear(np.ones(3)) == pytest.approx([100.0, 0.0, 0.0], abs=1e-9)


def test_the_settings_set_the_thresholds() -> None:
    frames, _ = hue_clip(6.0)
    lenient = load_config(env={}, overrides={"qc.colour_drift_warn": 20.0,
                                             "qc.colour_drift_max": 30.0})
    assert run(frames, config=lenient).verdict == "pass"
    strict = load_config(env={}, overrides={"qc.colour_drift_warn": 1.0,
                                            "qc.colour_drift_max": 2.0})
    assert run(frames, config=strict).verdict == "fail"
    assert run(frames).verdict == "warn"


# --- the camera's motion is not colour drift ------------------------------------------------


def two_tone_keyframe(width: int = 1200, height: int = 400) -> NDArray[np.uint8]:
    """Orange on the left fading to blue on the right, with texture."""
    t = np.linspace(0, 1, width)[None, :, None]
    base = (1 - t) * np.array([210, 120, 50]) + t * np.array([40, 90, 200])
    noise = np.random.default_rng(2).normal(0, 12, (height, width, 3))
    blurred = np.asarray(cv2.GaussianBlur(noise, (0, 0), 2), dtype=np.float64)
    return np.asarray(np.clip(np.rint(base + blurred), 0, 255), dtype=np.uint8)


def pan_over(keyframe: NDArray[np.uint8], frames: int = 72) -> tuple[Clip, Motion]:
    motion = Motion(motion_type=MotionType.PAN_RIGHT, start=(0.0, 0.0, 0.5, 1.0),
                    end=(0.5, 0.0, 1.0, 1.0), duration_sec=frames / FPS, easing="linear")
    rects = sample_path(motion, (keyframe.shape[1], keyframe.shape[0]), frames)
    return list(render_path(keyframe, rects, (300, 200))), motion


def test_path_means_are_the_crops_means() -> None:
    keyframe = two_tone_keyframe()
    motion = Motion(motion_type=MotionType.PAN_RIGHT, start=(0.0, 0.0, 0.5, 1.0),
                    end=(0.25, 0.0, 0.75, 1.0), duration_sec=1.0, easing="linear")
    means = path_means(keyframe, motion, 3, lambda image: image.astype(np.float32))
    # Crops x 0-600, 150-750, 300-900 (the keyframe is area-reduced to 512 wide first).
    for mean, x in zip(means, (0, 150, 300), strict=True):
        assert mean == pytest.approx(keyframe[:, x:x + 600].mean(axis=(0, 1)), abs=0.3)


def test_a_pan_from_orange_to_blue_is_not_drift_but_a_cast_is() -> None:
    keyframe = two_tone_keyframe()
    frames, motion = pan_over(keyframe)
    raw = run(frames, QCContext(fps=FPS, width=300, height=200))
    assert raw.verdict == "fail" and raw.values["max_delta_e"] > 20  # content, not drift
    with_inputs = QCContext(fps=FPS, width=300, height=200, keyframe=keyframe, motion=motion)
    result = run(frames, with_inputs)
    assert result.verdict == "pass" and result.values["compensated"] is True
    assert result.values["max_delta_e"] < 0.5
    # A growing green cast on top of the same pan is still found.
    cast = [np.clip(f.astype(np.int16) + np.array([0, round(30 * i / 71), 0]), 0, 255
                    ).astype(np.uint8) for i, f in enumerate(frames)]
    found = run(cast, with_inputs)
    assert found.verdict == "fail" and found.values["max_frame"] >= 68
    assert found.reasons[0].startswith("the colour error against the keyframe's crop drifts")


# --- real camera renders: no false positives -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind", "intensity"), [
    ("rocket.jpg", "zoom_in", 0.5),
    ("astronaut.png", "pan_up", 1.0),  # Delta E 8.8 from the content alone: compensated
])
def test_camera_renders_pass(name: str, kind: str, intensity: float) -> None:
    frames, context = camera_shot(name, kind, intensity)
    result = run_checks(frames, CONFIG, context, only=["colour_drift"]).check("colour_drift")
    assert result.verdict == "pass" and result.values["max_delta_e"] < 1.0
