"""The ``cuts`` check (adaptive HSV content detector) on clips with known answers."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import vidgen.qc.cuts  # noqa: F401 - importing registers the check
from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.motion import frame_count, propose_motion, sample_path
from vidgen.qc import CheckResult, QCContext, run_checks
from vidgen.qc.cuts import MIN_GAP, content_score
from vidgen.rules import RuleLimits

KEYFRAMES = Path(__file__).resolve().parents[2] / "examples" / "keyframes"
CONFIG = load_config(env={})
W, H = 640, 360
CONTEXT = QCContext(fps=24, width=W, height=H)


@cache
def photo(name: str, width: int = W, height: int = H) -> np.ndarray:
    """An example keyframe centre-cropped to the aspect and area-resized to the size."""
    image = np.asarray(Image.open(KEYFRAMES / name).convert("RGB"))
    h, w = image.shape[:2]
    crop_w, crop_h = min(w, round(h * width / height)), min(h, round(w * height / width))
    x, y = (w - crop_w) // 2, (h - crop_h) // 2
    return cv2.resize(image[y:y + crop_h, x:x + crop_w], (width, height),
                      interpolation=cv2.INTER_AREA)


def camera(name: str, kind: str, out: tuple[int, int], *, seconds: float = 4.0,
           fps: int = 24) -> list[np.ndarray]:
    """A shot rendered by the camera backend over an example keyframe (preset limits)."""
    image = np.asarray(Image.open(KEYFRAMES / name).convert("RGB"))
    size = (image.shape[1], image.shape[0])
    motion = propose_motion(kind, intensity=1.0, duration_sec=seconds, easing="ease_in_out",
                            image_size=size, output_size=out, fps=fps,
                            limits=RuleLimits().preset_limits())
    assert motion.motion_type == kind  # the keyframe leaves room for the move
    return list(render_path(image, sample_path(motion, size, frame_count(seconds, fps)), out))


def cuts(frames: list[np.ndarray], context: QCContext = CONTEXT, *,
         overrides: dict[str, float] | None = None) -> CheckResult:
    config = load_config(env={}, overrides=overrides) if overrides else CONFIG
    return run_checks(frames, config, context, only=["cuts"]).check("cuts")


def test_a_hard_cut_is_found_at_the_first_frame_of_the_new_image() -> None:
    # Two moving shots: a pan over one photo, then a pan over another from frame 30 on.
    first = camera("chelsea.png", "pan_left", (256, 360))[:30]
    second = camera("astronaut.png", "pan_left", (256, 360))[:26]
    result = cuts(first + second, QCContext(fps=24, width=256, height=360))
    assert result.verdict == "fail"
    assert result.frames == [30] and result.values["cuts"] == [30]
    assert result.values["count"] == 1 and result.values["max_ratio_frame"] == 30
    assert len(result.reasons) == 1
    match = re.fullmatch(r"frame 30: hard cut \(content change (\d+), ([\d.]+)x its neighbours\)",
                         result.reasons[0])
    assert match, result.reasons[0]
    assert int(match[1]) >= 15 and float(match[2]) >= 3.0
    # The timeline has one score and one ratio per frame; frame 0 has neither.
    assert len(result.timeline["content"]) == len(result.timeline["ratio"]) == 56
    assert result.timeline["content"][0] == result.timeline["ratio"][0] == 0.0
    assert max(result.timeline["ratio"][1:30] + result.timeline["ratio"][31:]) < 3.0


def test_a_cut_between_still_images_has_the_ratio_cap() -> None:
    result = cuts([photo("hubble.jpg")] * 20 + [photo("coffee.png")] * 20)
    assert result.frames == [20]
    assert result.values["max_ratio"] == 255.0  # the neighbours did not change at all


def test_a_slow_cross_fade_is_not_a_hard_cut() -> None:
    a, b = photo("coffee.png"), photo("chelsea.png")
    fade = [cv2.addWeighted(a, 1 - k / 13, b, k / 13, 0) for k in range(1, 13)]
    result = cuts([a] * 12 + fade + [b] * 12)
    assert result.verdict == "pass" and result.frames == []
    # Each step changes about as much as its neighbours: no frame stands out.
    ratios = result.timeline["ratio"]
    assert max(ratios[13:24]) < 2.0 and max(ratios) < 3.0


@pytest.mark.parametrize(("name", "kind", "out"), [
    ("hubble.jpg", "zoom_in", (512, 720)),
    ("hubble.jpg", "pan_left", (512, 720)),
    ("hubble.jpg", "pan_up", (1280, 720)),
    ("rocket.jpg", "pan_up", (1280, 720)),
    ("astronaut.png", "pan_left", (512, 720)),
])
def test_a_camera_move_over_a_photo_has_no_cut(name: str, kind: str, out: tuple[int, int]
                                               ) -> None:
    result = cuts(camera(name, kind, out), QCContext(fps=24, width=out[0], height=out[1]))
    assert result.verdict == "pass" and result.frames == [] and result.reasons == []
    assert max(result.timeline["ratio"]) < 2.0  # every frame moves about as its neighbours
    if name == "hubble.jpg" and kind.startswith("pan"):
        # A pan over fine detail changes a lot per frame: the score alone would call a cut.
        assert result.values["max_score"] > CONFIG["qc.cut_min_score"]


def test_a_jump_in_the_middle_of_a_morph_is_a_cut() -> None:
    a, b = photo("coffee.png"), photo("chelsea.png")
    steps = [*range(9), *range(20, 31)]  # a slow morph that skips 11 steps at frame 9
    result = cuts([cv2.addWeighted(a, 1 - k / 30, b, k / 30, 0) for k in steps])
    assert result.verdict == "fail" and result.frames == [9]
    assert result.values["max_ratio"] > 5.0


def _red(hue: int, rng: np.random.Generator) -> np.ndarray:
    """A saturated red (OpenCV hue ``hue``, 0-179) with a little texture in S and V."""
    hsv = np.empty((H, W, 3), np.uint8)
    hsv[..., 0] = hue
    hsv[..., 1] = np.clip(rng.normal(220, 6, (H, W)), 0, 255)
    hsv[..., 2] = np.clip(rng.normal(200, 6, (H, W)), 0, 255)
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def test_the_hue_wraps_around_at_red() -> None:
    a = np.full((8, 8, 3), (1, 200, 200), np.uint8)
    b = np.full((8, 8, 3), (178, 200, 200), np.uint8)
    assert content_score(a, b) == pytest.approx(1.0)  # |1 - 178| wraps to 3, over 3 channels
    assert content_score(b, a) == pytest.approx(1.0)
    c = np.full((8, 8, 3), (90, 200, 200), np.uint8)
    assert content_score(a, c) == pytest.approx(89 / 3)  # no wrap when the short way is direct


def test_red_flickering_across_hue_zero_is_not_a_cut() -> None:
    rng = np.random.default_rng(0)
    base = [_red(1, np.random.default_rng(1))] * 10
    flicker = [_red(int(rng.choice([177, 178, 179, 0, 1, 2])), np.random.default_rng(1))
               for _ in range(20)]
    step = [_red(178, np.random.default_rng(1))] * 10  # and a step from hue 1 to 178
    result = cuts(base + flicker + step)
    assert result.verdict == "pass", result.reasons
    assert max(result.timeline["content"]) < 3.0


@pytest.mark.parametrize("tail", [1, 2])
def test_a_cut_in_the_last_two_frames_is_found_when_flushed(tail: int) -> None:
    frames = [photo("rocket.jpg")] * 20 + [photo("coffee.png")] * tail
    result = cuts(frames)
    assert result.frames == [20]
    assert len(result.timeline["ratio"]) == 20 + tail


def test_a_cut_at_frame_one_and_very_short_clips() -> None:
    a, b = photo("rocket.jpg"), photo("coffee.png")
    assert cuts([a] + [b] * 10).frames == [1]
    assert cuts([a, b]).frames == [1]  # no neighbours at all: the score decides
    assert cuts([a]).verdict == "pass" and cuts([]).verdict == "pass"


def test_cuts_closer_than_the_minimum_gap_are_reported_once() -> None:
    a, b, c = photo("rocket.jpg"), photo("coffee.png"), photo("astronaut.png")
    assert cuts([a] * 10 + [b] * 5 + [c] * 10).frames == [10]
    far = cuts([a] * 10 + [b] * MIN_GAP + [c] * 10)
    assert far.frames == [10, 10 + MIN_GAP] and len(far.reasons) == 2


def test_a_constant_clip_passes() -> None:
    for frame in (np.full((H, W, 3), 90, np.uint8), photo("chelsea.png")):
        result = cuts([frame] * 24)
        assert result.verdict == "pass" and result.values["max_score"] == 0.0
        assert result.values["max_ratio"] == 0.0 and set(result.timeline["ratio"]) == {0.0}


def test_the_settings_move_the_verdict() -> None:
    frames = [photo("rocket.jpg")] * 10 + [photo("coffee.png")] * 10
    assert cuts(frames, overrides={"qc.cut_min_score": 200.0}).verdict == "pass"
    assert cuts(frames, overrides={"qc.cut_ratio": 300.0}).verdict == "pass"
    assert cuts(frames).verdict == "fail"
