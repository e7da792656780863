"""Flicker, brightness drift and freezes: synthetic clips with known answers, real renders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

import vidgen.qc.temporal  # noqa: F401 - registers the checks
from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.motion import Motion, MotionType, sample_path
from vidgen.qc import QCContext, run_checks
from vidgen.qc.base import CheckResult

from .renders import camera_shot

CONFIG = load_config(env={})
FPS = 24
W, H = 320, 180
CONTEXT = QCContext(fps=FPS, width=W, height=H)
Clip = list[NDArray[np.uint8]]


def texture(width: int, height: int, seed: int = 0, mean: float = 100.0) -> NDArray[np.float32]:
    """Smooth band-limited noise around ``mean`` (float, so gains do not round twice)."""
    noise = np.random.default_rng(seed).normal(0, 1, (height, width, 3)).astype(np.float32)
    smooth = np.asarray(cv2.GaussianBlur(noise, (0, 0), 3.0), dtype=np.float32)
    return np.asarray(mean + smooth * np.float32(25 / smooth.std()), dtype=np.float32)


def to8(image: NDArray[np.float32]) -> NDArray[np.uint8]:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def pan(frames: int, speed: float, width: int = W, height: int = H, seed: int = 0) -> Clip:
    """A sub-pixel pan to the right over a wide texture, ``speed`` pixels per frame."""
    wide = to8(texture(width + int(speed * frames) + 8, height, seed))
    rects = np.array([[i * speed, 0.0, i * speed + width, height] for i in range(frames)])
    return list(render_path(wide, rects, (width, height)))


def run(frames: Clip, name: str, context: QCContext = CONTEXT,
        config: Mapping[str, Any] = CONFIG) -> CheckResult:
    return run_checks(frames, config, context, only=[name]).check(name)


def static_motion() -> Motion:
    return Motion(motion_type=MotionType.STATIC, start=(0.0, 0.0, 1.0, 1.0),
                  end=(0.0, 0.0, 1.0, 1.0), duration_sec=4.0)


# --- freeze --------------------------------------------------------------------------------


def test_a_frozen_clip_is_a_static_video() -> None:
    frame = to8(texture(W, H))
    result = run([frame.copy() for _ in range(48)], "freeze")
    assert result.verdict == "fail"
    assert result.values["static"] is True and result.values["runs"] == [[1, 47]]
    assert result.frames == list(range(1, 48))
    assert result.values["frozen_sec"] == pytest.approx(47 / FPS, abs=1e-3)
    assert "static video" in result.reasons[0]


def test_a_static_camera_shot_only_warns() -> None:
    frame = to8(texture(W, H))
    context = QCContext(fps=FPS, width=W, height=H, motion=static_motion())
    result = run([frame] * 48, "freeze", context)
    assert result.verdict == "warn" and result.values["static"] is True
    assert any("camera motion is static" in r for r in result.reasons)


def test_a_freeze_over_the_last_second_fails_with_its_frames() -> None:
    moving = pan(72, 1.5)  # 3 s of motion, then the last frame held for 1 s
    frames = moving + [moving[-1].copy() for _ in range(24)]
    result = run(frames, "freeze")
    assert result.verdict == "fail"
    assert result.frames == list(range(72, 96))
    assert result.values["runs"] == [[72, 95]] and result.values["static"] is False
    assert result.values["frozen_sec"] == pytest.approx(1.0)
    assert result.reasons == ["frames 72-95 (1.00 s) repeat frame 71 (MAFD <= 0.001, at least "
                              "0.5 s)"]
    assert len(result.timeline["mafd"]) == 96 and result.timeline["mafd"][80] == 0.0


def test_short_holds_and_a_noisy_still_are_not_freezes() -> None:
    moving = pan(48, 1.5)
    held = moving[:24] + [moving[23]] * 11 + moving[24:]  # 11 repeats: 0.46 s < 0.5 s
    assert run(held, "freeze").verdict == "pass"
    rng = np.random.default_rng(3)
    still = texture(W, H)
    noisy = [to8(still + rng.normal(0, 2, still.shape).astype(np.float32)) for _ in range(48)]
    result = run(noisy, "freeze")  # moves nothing, but it is not a repeated frame either
    assert result.verdict == "pass" and result.values["min_mafd"] > 0.001


def test_freeze_settings_apply() -> None:
    moving = pan(48, 1.5)
    held = moving[:24] + [moving[23]] * 11 + moving[24:]
    strict = load_config(env={}, overrides={"qc.freeze_min_sec": 0.25})
    result = run(held, "freeze", config=strict)
    assert result.verdict == "fail" and result.frames == list(range(24, 35))


# --- brightness drift ----------------------------------------------------------------------


def gain_clip(gains: list[float], seed: int = 0) -> Clip:
    base = texture(W, H, seed)
    return [to8(base * np.float32(g)) for g in gains]


def test_a_steady_brightening_is_drift() -> None:
    n = 96  # 4 s, +40% from the first frame to the last
    gains = [1 + 0.4 * i / (n - 1) for i in range(n)]
    result = run(gain_clip(gains), "brightness_drift")
    assert result.verdict == "fail"
    # Medians of 0.5-s windows (12 frames): gains at frames 5.5 and 89.5.
    expected = (1 + 0.4 * 89.5 / 95) / (1 + 0.4 * 5.5 / 95) - 1
    assert result.values["total_change"] == pytest.approx(expected, abs=0.005)
    assert result.values["slope_per_sec"] == pytest.approx(0.4 / (95 / FPS) / (1 + 0.4 * 5.5 / 95),
                                                           rel=0.03)
    assert result.values["steady"] is True and result.values["compensated"] is False
    assert "rises steadily by 34.6%" in result.reasons[0]
    # Frames more than 15% above the start window's level.
    assert result.frames[0] == pytest.approx(round(95 * (1.15 * (1 + 0.4 * 5.5 / 95) - 1) / 0.4),
                                             abs=1)
    assert result.frames[-1] == 95


def test_a_steady_darkening_is_drift_too() -> None:
    result = run(gain_clip([1 - 0.3 * i / 95 for i in range(96)]), "brightness_drift")
    assert result.verdict == "fail" and result.values["total_change"] < -0.15
    assert "falls steadily" in result.reasons[0]


def test_constant_clips_flashes_and_waves_are_not_drift() -> None:
    assert run(gain_clip([1.0] * 96), "brightness_drift").values["total_change"] == 0.0
    flash = [1.0] * 96
    flash[50] = flash[95] = 2.0  # one white-ish frame in the middle, one at the very end
    result = run(gain_clip(flash), "brightness_drift")
    assert result.verdict == "pass" and result.values["total_change"] == 0.0
    wave = [1 + 0.3 * np.sin(np.pi * i / 95) for i in range(96)]  # up 30% and back
    assert run(gain_clip(wave), "brightness_drift").verdict == "pass"


def test_a_change_that_is_not_steady_does_not_fail() -> None:
    # End windows 30% apart, but the way between is no steady change: alternating swings,
    # or down first and up later.
    swings = [1.0] * 12 + [1.6 if i % 2 else 0.8 for i in range(72)] + [1.3] * 12
    vee = [1 - 0.5 * i / 47 for i in range(48)] + [0.5 + 0.8 * i / 47 for i in range(48)]
    for gains in (swings, vee):
        result = run(gain_clip(gains), "brightness_drift")
        assert result.values["total_change"] > 0.25
        assert result.values["steady"] is False and result.values["r2"] < 0.5
        assert result.verdict == "pass"


def gradient_keyframe(width: int = 1200, height: int = 400) -> NDArray[np.uint8]:
    """Dark on the left, bright on the right, with texture: a pan changes mean brightness."""
    ramp = np.linspace(40, 190, width, dtype=np.float32)[None, :, None]
    return to8(texture(width, height, 7, mean=0.0) * np.float32(0.4) + ramp)


def camera_pan(keyframe: NDArray[np.uint8], frames: int = 96) -> tuple[Clip, Motion]:
    """A linear pan across the keyframe's width, the crop half of it (3:2 output)."""
    motion = Motion(motion_type=MotionType.PAN_RIGHT, start=(0.0, 0.0, 0.5, 1.0),
                    end=(0.5, 0.0, 1.0, 1.0), duration_sec=frames / FPS, easing="linear")
    rects = sample_path(motion, (keyframe.shape[1], keyframe.shape[0]), frames)
    return list(render_path(keyframe, rects, (300, 200))), motion


def test_camera_motion_over_brighter_content_is_not_drift() -> None:
    keyframe = gradient_keyframe()
    frames, motion = camera_pan(keyframe)
    raw = run(frames, "brightness_drift", QCContext(fps=FPS, width=300, height=200))
    assert raw.verdict == "fail" and raw.values["raw_total_change"] > 0.5  # content, not drift
    with_inputs = QCContext(fps=FPS, width=300, height=200, keyframe=keyframe, motion=motion)
    result = run(frames, "brightness_drift", with_inputs)
    assert result.verdict == "pass" and result.values["compensated"] is True
    assert abs(result.values["total_change"]) < 0.01
    assert result.values["raw_total_change"] == raw.values["raw_total_change"]
    # A real brightening on top of the same pan is still found.
    brighter = [to8(f.astype(np.float32) * np.float32(1 + 0.3 * i / 95))
                for i, f in enumerate(frames)]
    found = run(brighter, "brightness_drift", with_inputs)
    assert found.verdict == "fail" and found.values["total_change"] > 0.2
    assert "corrected for the camera" in found.reasons[0]


# --- flicker -------------------------------------------------------------------------------


def test_alternating_brightness_is_flicker() -> None:
    base = texture(W, H)
    frames = [to8(base + np.float32(8 if i % 2 else -8)) for i in range(48)]
    result = run(frames, "flicker")
    assert result.verdict == "warn"
    # +-8 levels alternating: every second difference is 16 levels, every frame diff too.
    assert result.values["score"] == pytest.approx(1 - 16 / 255, abs=1e-3)
    assert result.values["vbench_score"] == pytest.approx(1 - 16 / 255, abs=1e-3)
    assert result.frames == list(range(1, 47))
    assert "frames alternating by more than" in result.reasons[0]
    timeline = result.timeline["residual"]
    assert len(timeline) == 48 and timeline[0] == timeline[-1] == 0.0


def test_a_small_flicker_passes_and_the_threshold_applies() -> None:
    base = texture(W, H)
    frames = [to8(base + np.float32(2 if i % 2 else -2)) for i in range(48)]  # 4 levels
    result = run(frames, "flicker")
    assert result.verdict == "pass" and result.values["score"] == pytest.approx(1 - 4 / 255,
                                                                                 abs=1e-3)
    strict = load_config(env={}, overrides={"qc.flicker_min": 0.99})
    assert run(frames, "flicker", config=strict).verdict == "warn"


def test_a_smooth_pan_is_not_flicker() -> None:
    # 2 px per frame at 320 px wide: 0.15 frame widths per second, the comfort pan speed,
    # over a high-contrast texture.
    result = run(pan(48, 2.0), "flicker")
    assert result.verdict == "pass" and result.values["score"] > 0.99
    # The plain VBench score counts the motion itself: it would have warned.
    assert result.values["vbench_score"] < 0.98


def test_flicker_needs_three_frames() -> None:
    frames = [to8(texture(W, H))] * 2
    result = run(frames, "flicker")
    assert result.verdict == "pass" and "fewer than 3 frames" in result.reasons[0]


# --- real camera renders: no false positives -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind", "intensity"), [
    ("chelsea.png", "zoom_in", 0.5),
    ("coffee.png", "pan_up", 1.0),  # mean luma +26% from the content: compensated
])
def test_camera_renders_pass(name: str, kind: str, intensity: float) -> None:
    frames, context = camera_shot(name, kind, intensity)
    report = run_checks(frames, CONFIG, context, only=["brightness_drift", "flicker", "freeze"])
    assert report.frames == 96
    assert report.verdict == "pass", report.reasons
    assert report.check("flicker").values["score"] > 0.99
    assert abs(report.check("brightness_drift").values["total_change"]) < 0.01
    assert report.check("freeze").values["frozen_frames"] == 0
