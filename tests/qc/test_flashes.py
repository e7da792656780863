"""Photosensitive flashes (WCAG 2.3.1 as IRIS implements it) on synthetic clips."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import pytest

import vidgen.qc.flashes  # noqa: F401 - importing registers the check
from vidgen.config import load_config
from vidgen.qc import CheckResult, QCContext, available_checks, run_checks
from vidgen.qc.base import SRGB_TO_LINEAR
from vidgen.qc.flashes import TransitionCounter, red_saturation, window_frames

CONFIG = load_config(env={})
H, W = 48, 64
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def _check(frames: list[np.ndarray], fps: float = 24,
           config: Mapping[str, Any] = CONFIG) -> CheckResult:
    height, width = frames[0].shape[:2] if frames else (H, W)
    report = run_checks(frames, config, QCContext(fps=fps, width=width, height=height),
                        only=["photosensitive_flashes"])
    return report.check("photosensitive_flashes")


def _solid(colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((H, W, 3), colour, np.uint8)


def _alternate(states: list[int], low: tuple[int, int, int] = BLACK,
               high: tuple[int, int, int] = WHITE) -> list[np.ndarray]:
    return [_solid(high if s else low) for s in states]


def _hz(rate: float, fps: float, frames: int) -> list[int]:
    """States that switch ``2 * rate`` times a second (``rate`` flashes a second)."""
    return [int(t * 2 * rate // fps) % 2 for t in range(frames)]


def _toggles_at(frames: list[int], length: int) -> list[int]:
    """States that switch exactly at the given frames."""
    state, states = 0, []
    for t in range(length):
        state ^= t in frames
        states.append(state)
    return states


def _srgb_for(luminance: float) -> int:
    """The 8-bit grey whose relative luminance is closest to ``luminance``."""
    return int(np.abs(SRGB_TO_LINEAR - luminance).argmin())


def test_the_check_is_registered() -> None:
    assert "photosensitive_flashes" in available_checks()


def test_full_screen_flashing_at_5_hz_fails_the_luminance_rule() -> None:
    result = _check(_alternate(_hz(5, 24, 48)), fps=24)
    assert result.verdict == "fail"
    assert result.values["failed_rules"] == ["luminance"]
    assert result.values["extended_failure"] is False
    assert result.values["max_luminance_transitions"] == 10  # 5 flashes in every second
    assert result.values["max_red_transitions"] == 0
    assert result.values["luminance_flashes"] == result.values["luminance_transitions"] // 2
    # Switches at frames 3, 5, 8, 10, 12, 15, 17: the 7th transition is the first failure.
    assert result.frames[0] == 17 and result.frames == list(range(17, 48))
    assert result.values["failing_frames"] == "17-47"
    assert result.reasons[0].startswith("frames 17-47: 5 luminance flashes in 1 s (10 transitions")
    assert "over 100% of the screen" in result.reasons[0]
    assert set(result.timeline) == {"luminance", "luminance_transitions", "red_transitions",
                                    "flash_state"}
    assert all(len(series) == 48 for series in result.timeline.values())
    assert result.timeline["luminance"][:4] == [0.0, 0.0, 0.0, 1.0]
    assert result.timeline["luminance_transitions"][17] == 7.0
    assert result.timeline["flash_state"][16] == 1.0 and result.timeline["flash_state"][17] == 2.0


def test_2_hz_for_3_seconds_only_warns() -> None:
    result = _check(_alternate(_hz(2, 24, 72)), fps=24)
    assert result.verdict == "warn" and result.frames == []
    assert result.values["max_luminance_transitions"] == 4
    assert result.values["failed_rules"] == [] and result.values["extended_failure"] is False
    assert result.values["warning_frames"] == "24-71"
    assert result.reasons == [
        "frames 24-71: 2 luminance flashes in 1 s (4 transitions; 4-6 warn, and fail if "
        "sustained 4 s within 5 s) over 100% of the screen"]
    assert max(result.timeline["flash_state"]) == 1.0


def test_2_hz_sustained_for_4_seconds_is_an_extended_failure() -> None:
    result = _check(_alternate(_hz(2, 24, 144)), fps=24)
    assert result.verdict == "fail"
    assert result.values["failed_rules"] == ["luminance_extended"]
    assert result.values["extended_failure"] is True
    assert result.values["max_luminance_transitions"] == 4  # never more than 6 in a second
    # 4 transitions a second from frame 24 on; 96 such frames (4 s) are reached at frame 119.
    assert result.frames == list(range(119, 144))
    assert result.reasons[0].startswith("frames 119-143: extended failure: 2 luminance flashes "
                                        "a second (4 transitions")
    assert "sustained for 4 s within 5 s" in result.reasons[0]


@pytest.mark.parametrize(("share", "verdict"), [(0.10, "pass"), (0.30, "fail")])
def test_the_area_rule_ignores_small_flashes(share: float, verdict: str) -> None:
    rows = round(H * share * W / 32)  # a 32-pixel-wide patch
    frames = []
    for state in _hz(5, 24, 48):
        frame = _solid((128, 128, 128))
        frame[:rows, :32] = 255 if state else 0
        frames.append(frame)
    assert abs(rows * 32 / (H * W) - share) < 0.01
    result = _check(frames, fps=24)
    assert result.verdict == verdict
    if verdict == "pass":
        assert result.values["luminance_transitions"] == 0
        assert result.values["max_luminance_transitions"] == 0
    else:
        assert result.values["failed_rules"] == ["luminance"]
        assert f"over {rows * 32 / (H * W):.0%} of the screen" in result.reasons[0]


def test_saturated_red_flashing_fails_the_red_rule_only() -> None:
    grey = _srgb_for(0.2126)  # the grey as bright as pure red (relative luminance 0.2126)
    assert abs(SRGB_TO_LINEAR[grey] - 0.2126) < 0.001
    result = _check(_alternate(_hz(5, 24, 48), (grey, grey, grey), (255, 0, 0)), fps=24)
    assert result.verdict == "fail"
    assert result.values["failed_rules"] == ["red"]
    assert result.values["max_luminance_transitions"] == 0
    assert result.values["max_red_transitions"] == 10
    assert result.reasons[0].startswith("frames 17-47: 5 red flashes in 1 s")
    assert "desaturate the red" in result.reasons[0]


@pytest.mark.parametrize(("fps", "span", "verdict", "most"), [
    (30, 29, "fail", 7),  # 7 transitions within 30 frames (1 s at 30 fps)
    (30, 30, "warn", 6),  # the same spread over 31 frames: at most 6 in any second
    (23.976, 23, "fail", 7),  # a second at 23.976 fps holds 24 frames
    (23.976, 24, "warn", 6),
    (29.97, 29, "fail", 7),
    (29.97, 30, "warn", 6),
    (60, 59, "fail", 7),
    (60, 60, "warn", 6),
])
def test_one_second_windows_count_frames_at_the_real_rate(fps: float, span: int, verdict: str,
                                                          most: int) -> None:
    first = 5
    switches = [first + round(i * span / 6) for i in range(7)]
    assert switches[-1] - switches[0] == span
    result = _check(_alternate(_toggles_at(switches, first + span + 10)), fps=fps)
    assert result.verdict == verdict
    assert result.values["max_luminance_transitions"] == most
    assert result.values["luminance_transitions"] == 7


def test_window_lengths() -> None:
    assert [window_frames(f) for f in (23.976, 24, 25, 29.97, 30, 59.94, 60)] == [
        24, 24, 25, 30, 30, 60, 60]
    assert window_frames(23.976, 5.0) == 120 and window_frames(12.5) == 13


def _photo(width: int, height: int) -> np.ndarray:
    """A photo-like picture: smooth colour fields, a gradient, edges and a red disk."""
    rng = np.random.default_rng(7)
    coarse = rng.uniform(30, 220, (height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
    image: np.ndarray = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image += np.linspace(-30, 30, width, dtype=np.float32)[None, :, None]
    image += rng.normal(0, 4, image.shape)
    image[height // 3:height // 3 + 6, :] = 240  # a bright horizon line
    cv2.circle(image, (width // 2, height // 2), height // 6, (255, 0, 0), -1)
    picture: np.ndarray = np.clip(image, 0, 255).astype(np.uint8)
    return picture


def test_a_smooth_pan_over_a_photo_has_no_transitions() -> None:
    picture = _photo(640, 90)
    frames = [picture[:, 3 * t:3 * t + 160].copy() for t in range(120)]
    result = _check(frames, fps=24)
    assert result.verdict == "pass" and result.reasons == []
    assert result.values["luminance_transitions"] == 0
    assert result.values["red_transitions"] == 0
    assert set(result.timeline["flash_state"]) == {0.0}


def test_flashing_between_two_bright_greys_does_not_count() -> None:
    bright, white = _srgb_for(0.815), 255
    assert SRGB_TO_LINEAR[bright] > 0.8 and SRGB_TO_LINEAR[white] - SRGB_TO_LINEAR[bright] > 0.1
    states = _hz(5, 24, 48)
    result = _check(_alternate(states, (bright,) * 3, (white,) * 3), fps=24)
    assert result.verdict == "pass" and result.values["luminance_transitions"] == 0
    dimmer = _srgb_for(0.7)  # the darker state below 0.8: the same flashing now counts
    result = _check(_alternate(states, (dimmer,) * 3, (white,) * 3), fps=24)
    assert result.verdict == "fail" and result.values["failed_rules"] == ["luminance"]


def test_gradual_changes_accumulate_into_transitions() -> None:
    # A triangle wave between luminance 0.2 and 0.5, 4 frames per ramp: every frame changes
    # by 0.075 (< 0.1), yet each ramp is a 0.3 transition: 7.5 a second at 30 fps.
    targets = [0.2 + 0.075 * (t % 8 if t % 8 <= 4 else 8 - t % 8) for t in range(60)]
    frames = [_solid((_srgb_for(y),) * 3) for y in targets]
    result = _check(frames, fps=30)
    steps = np.abs(np.diff(result.timeline["luminance"]))
    assert steps.max() < 0.1
    assert result.verdict == "fail" and result.values["failed_rules"] == ["luminance"]
    assert result.values["max_luminance_transitions"] in (7, 8)


def test_the_darker_state_is_where_the_run_started() -> None:
    # A rise of 0.12 in steps of 0.04 from 0.75: its darker state (0.75) is below 0.8
    # although the last two frames (0.83, 0.87) are not.
    counter = TransitionCounter(0.1, 0.8, window=24)
    means = [0.75, 0.79, 0.83, 0.87, 0.91]
    signs = [counter.push(b - a, a, b) for a, b in itertools.pairwise(means)]
    assert signs == [0, 0, 1, 0]
    counter = TransitionCounter(0.1, 0.8, window=24)
    means = [0.81, 0.85, 0.89, 0.93]
    assert [counter.push(b - a, a, b) for a, b in itertools.pairwise(means)] == [0] * 3


def test_accumulation_is_limited_to_one_second() -> None:
    counter = TransitionCounter(0.1, 0.8, window=24)
    # 0.0055 a frame: 0.1 takes 19 frames, which fit in a second ...
    assert sum(abs(counter.push(0.0055, 0.3, 0.3)) for _ in range(19)) == 1
    counter = TransitionCounter(0.1, 0.8, window=24)
    # ... 0.004 a frame would take 25 frames, which do not.
    assert sum(abs(counter.push(0.004, 0.3, 0.3)) for _ in range(200)) == 0


def test_red_saturation_values() -> None:
    # Red shares 1, 0.82, 0.78, 0.5 and black.
    linear = np.array([[1, 0, 0], [0.82, 0.1, 0.08], [0.78, 0.12, 0.1], [0.5, 0.5, 0], [0, 0, 0]],
                      np.float32)
    assert red_saturation(linear) == pytest.approx([320, 204.8, 0, 0, 0], abs=1e-3)
    assert red_saturation(linear.reshape(1, 5, 3)).shape == (1, 5)


def test_settings_change_the_limits() -> None:
    lenient = load_config(env={}, overrides={"qc.iris_max_transitions": 10})
    assert _check(_alternate(_hz(5, 24, 48)), fps=24, config=lenient).verdict == "warn"
    large = load_config(env={}, overrides={"qc.iris_luminance_step": 0.9})
    grey = _srgb_for(0.5)
    result = _check(_alternate(_hz(5, 24, 48), (grey,) * 3), fps=24, config=large)
    assert result.verdict == "pass" and result.values["luminance_transitions"] == 0


def test_empty_and_static_clips_pass() -> None:
    assert _check([]).verdict == "pass"
    result = _check([_solid((90, 120, 200))] * 30)
    assert result.verdict == "pass" and result.values["max_luminance_transitions"] == 0
