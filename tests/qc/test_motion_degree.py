"""Dynamic degree (VBench rule, DIS flow): still clips, pans of known speed, the counting rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

import vidgen.qc.motion_degree  # noqa: F401 - registers the check
from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.qc import QCContext, run_checks
from vidgen.qc.base import CheckResult
from vidgen.qc.motion_degree import MOVE_THRESHOLD, STILL_THRESHOLD, top_magnitude

from .renders import camera_shot

CONFIG = load_config(env={})
FPS = 24
W, H = 640, 360  # the analysis size itself: flow runs at 455 x 256
CONTEXT = QCContext(fps=FPS, width=W, height=H)
Clip = list[NDArray[np.uint8]]


def texture(width: int, height: int, seed: int = 0) -> NDArray[np.uint8]:
    """Smooth band-limited noise, photo-like detail at a few pixels' scale."""
    noise = np.random.default_rng(seed).normal(0, 1, (height, width, 3)).astype(np.float32)
    smooth = np.asarray(cv2.GaussianBlur(noise, (0, 0), 3.0), dtype=np.float32)
    image = np.clip(np.rint(110 + smooth * np.float32(35 / smooth.std())), 0, 255)
    return np.asarray(image, dtype=np.uint8)


def pan(frames: int, per_pair: float, width: int = W, height: int = H) -> Clip:
    """A pan to the right moving ``per_pair`` pixels (at a 256-pixel short side) per 3 frames."""
    speed = per_pair * height / 256 / 3  # pixels per frame at this size
    wide = texture(width + int(speed * frames) + 8, height)
    rects = np.array([[i * speed, 0.0, i * speed + width, height] for i in range(frames)])
    return list(render_path(wide, rects, (width, height)))


def run(frames: Clip, context: QCContext = CONTEXT,
        config: Mapping[str, Any] = CONFIG) -> CheckResult:
    return run_checks(frames, config, context, only=["dynamic_degree"]).check("dynamic_degree")


def test_top_magnitude_is_the_mean_of_the_largest_five_percent() -> None:
    flow = np.zeros((20, 50, 2), np.float32)
    flow[..., 0] = 1.0
    flow[:2, :, 1] = 10.0  # 100 of 1000 vectors have length sqrt(101); the top 50 are those
    assert top_magnitude(flow) == pytest.approx(np.sqrt(101), rel=1e-6)
    assert top_magnitude(flow, share=0.2) == pytest.approx((np.sqrt(101) + 1) / 2, rel=1e-6)


def test_a_still_clip_is_not_dynamic() -> None:
    frame = texture(W, H)
    result = run([frame] * 96)
    assert result.verdict == "pass"
    assert result.values["dynamic"] is False and result.values["moving_share"] == 0.0
    assert result.values["still"] is True and result.values["max_magnitude"] == 0.0
    # 96 frames at 24 fps: every 3rd sampled (32), 31 pairs, round(4 * 32 / 16) = 8 must move.
    assert (result.values["step"], result.values["pairs"], result.values["required"]) == (3, 31, 8)
    assert any("no visible motion" in r for r in result.reasons)
    assert len(result.timeline["magnitude"]) == 96


def test_codec_like_noise_is_not_motion() -> None:
    rng = np.random.default_rng(1)
    frame = texture(W, H).astype(np.float32)
    frames = [np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
              for _ in range(48)]
    result = run(frames)
    assert result.values["dynamic"] is False and result.values["still"] is True
    assert result.values["max_magnitude"] < STILL_THRESHOLD


def test_a_clear_pan_is_dynamic_and_measured_at_its_speed() -> None:
    result = run(pan(48, 10.0))
    assert result.verdict == "pass" and result.values["dynamic"] is True
    assert result.values["moving_share"] == 1.0 and result.values["still"] is False
    # DIS reads uniform pans a little high (the top 5% holds the border outliers).
    assert result.values["mean_magnitude"] == pytest.approx(10.0 * 1.05, rel=0.12)
    assert "15 of 15 sampled frame pairs move" in result.reasons[0]


def test_a_slow_pan_moves_visibly_but_is_not_dynamic() -> None:
    result = run(pan(48, 4.0))
    assert result.values["dynamic"] is False and result.values["still"] is False
    assert STILL_THRESHOLD < result.values["mean_magnitude"] < MOVE_THRESHOLD


@pytest.mark.parametrize(("moving_pairs", "dynamic"), [(8, True), (6, False)])
def test_vbench_counting_rule(moving_pairs: int, dynamic: bool) -> None:
    # 96 frames, 32 samples: dynamic from round(4 * 32 / 16) = 8 moving pairs.
    moving = pan(3 * moving_pairs + 1, 10.0)
    frames = moving + [moving[-1]] * (96 - len(moving))
    result = run(frames)
    assert result.values["moving_pairs"] == moving_pairs
    assert result.values["dynamic"] is dynamic
    magnitudes = result.values["pair_magnitudes"]
    assert min(magnitudes[:moving_pairs]) > MOVE_THRESHOLD
    assert max(magnitudes[moving_pairs:]) == 0.0
    # The timeline holds each pair's magnitude on the frames it spans.
    timeline = result.timeline["magnitude"]
    assert timeline[0] == timeline[2] == magnitudes[0] and timeline[95] == 0.0


@pytest.mark.parametrize(("fps", "step"), [(16, 2), (24, 3), (25, 3), (30, 4), (60, 8), (5, 1)])
def test_samples_at_about_8_fps(fps: float, step: int) -> None:
    result = run([texture(64, 48)] * 10, QCContext(fps=fps, width=64, height=48))
    assert result.values["step"] == step


def test_a_minimum_moving_share_warns() -> None:
    demanding = load_config(env={}, overrides={"qc.dynamic_min": 0.5})
    result = run([texture(W, H)] * 48, config=demanding)
    assert result.verdict == "warn" and result.reasons[0].startswith("moving share 0.00 is below")
    assert run(pan(48, 10.0), config=demanding).verdict == "pass"


def test_tiny_and_short_clips_do_not_break_it() -> None:
    tiny = QCContext(fps=FPS, width=6, height=4)
    result = run([np.zeros((4, 6, 3), np.uint8)] * 12, tiny)
    assert result.verdict == "pass"
    short = run([texture(W, H)] * 2)
    assert short.verdict == "pass" and short.values["pairs"] == 0
    assert short.reasons == ["not measured: fewer than 2 sampled frames"]


# --- real camera renders: no false positives -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind", "intensity"), [
    ("chelsea.png", "zoom_in", 0.5), ("astronaut.png", "pan_left", 1.0)])
def test_camera_renders_pass(name: str, kind: str, intensity: float) -> None:
    frames, context = camera_shot(name, kind, intensity)
    result = run_checks(frames, CONFIG, context, only=["dynamic_degree"]).check("dynamic_degree")
    assert result.verdict == "pass" and result.values["still"] is False
    assert result.values["pairs"] == 31
