"""Motion safety rules, on hand-built motions whose speeds are known in advance."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vidgen.rules
from vidgen.config import load_config
from vidgen.motion import Motion, PresetLimits
from vidgen.rules import Finding, RuleLimits, check_motion, has_errors

OUT = (1280, 720)
FPS = 24
ITEM = "20250101_000001.png"
LIMITS = RuleLimits()

PxRect = tuple[float, float, float, float]


def seconds(duration: float, fps: float = FPS) -> float:
    """How long the sampled path runs: from the first frame to the last."""
    return (round(duration * fps) - 1) / fps


def motion(start: PxRect, end: PxRect, size: tuple[int, int], *, easing: str = "linear",
           duration: float = 4.0, motion_type: str = "custom") -> Motion:
    """A motion given in source pixels."""
    w, h = size
    return Motion(
        motion_type=motion_type, duration_sec=duration, easing=easing,
        start=(start[0] / w, start[1] / h, start[2] / w, start[3] / h),
        end=(end[0] / w, end[1] / h, end[2] / w, end[3] / h),
    )


def check(m: Motion, size: tuple[int, int], limits: RuleLimits = LIMITS,
          output: tuple[int, int] = OUT, fps: float = FPS) -> list[Finding]:
    found = check_motion(m, image_size=size, output_size=output, fps=fps, limits=limits,
                         item=ITEM)
    assert all(f.item == ITEM for f in found)
    return found


def only(found: list[Finding], rule: str) -> Finding:
    """The single finding of ``found``, which must be about ``rule``."""
    assert [f.rule for f in found] == [rule], [str(f) for f in found]
    return found[0]


def centred(size: tuple[int, int], width: float, aspect: float = 16 / 9) -> PxRect:
    w, h = size
    height = width / aspect
    return ((w - width) / 2, (h - height) / 2, (w + width) / 2, (h + height) / 2)


# --- static and duration ----------------------------------------------------------------


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (4000, 2250)])
def test_a_static_full_frame_has_no_findings(size: tuple[int, int]) -> None:
    full = (0.0, 0.0, float(size[0]), float(size[1]))
    assert check(motion(full, full, size, motion_type="static"), size) == []


@pytest.mark.parametrize("duration", [3.0, 3.99, 8.01, 9.0])
def test_duration_outside_four_to_eight_seconds(duration: float) -> None:
    size = (1920, 1080)
    full = (0.0, 0.0, 1920.0, 1080.0)
    finding = only(check(motion(full, full, size, duration=duration), size), "duration")
    assert finding.severity == "error"
    assert finding.value == duration
    assert finding.limit == "4-8 s"
    assert finding.frame is None


@pytest.mark.parametrize("duration", [4.0, 6.5, 8.0])
def test_duration_inside_the_range(duration: float) -> None:
    size = (1920, 1080)
    full = (0.0, 0.0, 1920.0, 1080.0)
    assert check(motion(full, full, size, duration=duration), size) == []


# --- aspect -----------------------------------------------------------------------------


def test_aspect_off_by_two_percent_at_both_ends() -> None:
    size = (1920, 1080)
    wide = (100.0, 90.0, 1732.0, 990.0)  # 1632 x 900: 1632 / 900 / (16 / 9) = 1.02
    found = check(motion(wide, wide, size), size)
    assert [f.rule for f in found] == ["aspect", "aspect"]
    for finding, name in zip(found, ("start", "end"), strict=True):
        assert finding.severity == "error"
        assert finding.value == pytest.approx(0.02, abs=1e-6)
        assert finding.limit == 0.01
        assert name in finding.message


def test_aspect_off_at_the_end_only() -> None:
    size = (1920, 1080)
    full = (0.0, 0.0, 1920.0, 1080.0)
    narrow = (200.0, 90.0, 1700.0, 990.0)  # 1500 x 900: 1500 / 900 / (16 / 9) = 0.9375
    finding = only(check(motion(full, narrow, size), size), "aspect")
    assert "end" in finding.message and "start" not in finding.message
    assert finding.value == pytest.approx(0.0625, abs=1e-6)


def test_aspect_within_the_tolerance() -> None:
    size = (1920, 1080)
    rect = (100.0, 90.0, 1708.0, 990.0)  # 1608 x 900: off by 0.5 %
    assert check(motion(rect, rect, size), size) == []


# --- bounds -----------------------------------------------------------------------------


def test_a_pan_that_leaves_the_image() -> None:
    size = (4000, 1000)
    # 1600 x 900 crop panning 300 px right; x2 goes from 0.975 to 1.05.
    start, end = (2300.0, 50.0, 3900.0, 950.0), (2600.0, 50.0, 4200.0, 950.0)
    m = motion(start, end, size)
    assert m.end[2] == pytest.approx(1.05)
    finding = only(check(m, size), "bounds")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(0.05 * 4000, rel=1e-9)  # overshoot in pixels
    assert finding.limit == "0 px"
    assert finding.frame == frame_total(4.0) - 1  # the last frame is the worst


def frame_total(duration: float, fps: float = FPS) -> int:
    return round(duration * fps)


@pytest.mark.parametrize(("rect", "overshoot"), [
    ((-30.0, 0.0, 1570.0, 900.0), 30.0),  # left
    ((0.0, -12.5, 1600.0, 887.5), 12.5),  # top
    ((100.0, 120.0, 1700.0, 1020.0), 20.0),  # bottom
])
def test_bounds_on_every_side(rect: PxRect, overshoot: float) -> None:
    size = (4000, 1000)
    finding = only(check(motion(rect, rect, size), size), "bounds")
    assert finding.value == pytest.approx(overshoot, rel=1e-9)
    assert 0 <= (finding.frame or 0) < frame_total(4.0)


def test_rounding_noise_at_the_edge_is_not_a_bounds_error() -> None:
    size = (1920, 1080)
    rect = (0.0, 0.0, 1920.0 * (1 + 1e-12), 1080.0)
    assert check(motion(rect, rect, size), size) == []


# --- upscale ----------------------------------------------------------------------------


def test_upscale_error_above_one_and_a_half() -> None:
    size = (1920, 1080)
    m = motion((0.0, 0.0, 1920.0, 1080.0), centred(size, 800.0), size, duration=8.0,
               motion_type="zoom_in")
    finding = only(check(m, size), "upscale")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(1280 / 800, abs=1e-4)
    assert finding.limit == 1.5
    assert finding.frame == frame_total(8.0) - 1  # the tightest crop, at the end


def test_upscale_warning_between_one_and_one_and_a_half() -> None:
    size = (1920, 1080)
    m = motion(centred(size, 1000.0), (0.0, 0.0, 1920.0, 1080.0), size, duration=8.0,
               motion_type="zoom_out")
    finding = only(check(m, size), "upscale")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(1.28, abs=1e-4)
    assert finding.limit == 1.0
    assert finding.frame == 0  # the tightest crop, at the start


def test_upscale_of_exactly_the_limit_is_only_a_warning() -> None:
    size = (1920, 1080)
    rect = centred(size, 1280 / 1.5)
    finding = only(check(motion(rect, rect, size), size), "upscale")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(1.5, abs=1e-4)


def test_upscale_uses_the_tighter_axis() -> None:
    size = (1920, 1080)
    # 1270 x 720 is 0.8 % narrower than 16:9 (within the aspect tolerance): the width
    # decides, 1280 / 1270 output pixels per source pixel.
    narrow = (300.0, 200.0, 1570.0, 920.0)
    finding = only(check(motion(narrow, narrow, size), size), "upscale")
    assert finding.value == pytest.approx(1280 / 1270, abs=1e-4)
    # 1290 x 720 is 0.8 % wider: the height decides, 720 / 720 is no upscaling at all.
    wide = (300.0, 200.0, 1590.0, 920.0)
    assert check(motion(wide, wide, size), size) == []


# --- pan speed --------------------------------------------------------------------------

PAN_IMAGE = (4000, 1000)
CROP_W, CROP_H = 1600.0, 900.0


def pan(speed_x: float, speed_y: float = 0.0, *, size: tuple[int, int] = PAN_IMAGE,
        easing: str = "linear", duration: float = 4.0) -> Motion:
    """A 1600 x 900 crop moving at ``speed`` crop widths (heights) per second, if linear."""
    span = seconds(duration)
    dx, dy = speed_x * span * CROP_W, speed_y * span * CROP_H
    start = (50.0, 50.0, 50.0 + CROP_W, 50.0 + CROP_H)
    end = (start[0] + dx, start[1] + dy, start[2] + dx, start[3] + dy)
    return motion(start, end, size, easing=easing, duration=duration)


def test_pan_speed_error_above_the_hard_limit() -> None:
    finding = only(check(pan(0.3), PAN_IMAGE), "pan_speed")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(0.3, abs=1e-5)
    assert finding.limit == 0.2
    assert 1 <= (finding.frame or 0) <= frame_total(4.0) - 1


def test_pan_speed_warning_between_the_limits() -> None:
    finding = only(check(pan(0.17), PAN_IMAGE), "pan_speed")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(0.17, abs=1e-5)
    assert finding.limit == pytest.approx(1 / 7, abs=1e-5)


@pytest.mark.parametrize("speed", [0.0, 0.05, 0.1, 0.14])
def test_pan_speed_below_the_comfort_limit(speed: float) -> None:
    assert check(pan(speed), PAN_IMAGE) == []


def test_the_path_spans_one_frame_less_than_the_duration() -> None:
    # 0.2 crop widths per second times 4 s naively; but 96 frames span only 95/24 s.
    start = (50.0, 50.0, 50.0 + CROP_W, 50.0 + CROP_H)
    dx = 0.2 * 4.0 * CROP_W
    end = (start[0] + dx, start[1], start[2] + dx, start[3])
    finding = only(check(motion(start, end, PAN_IMAGE), PAN_IMAGE), "pan_speed")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(0.2 * 96 / 95, abs=1e-5)


def test_an_eased_pan_peaks_in_the_middle() -> None:
    # Ease in-out: the middle step of 95 covers (cos(47 pi / 95) - cos(48 pi / 95)) / 2
    # = sin(pi / 190) of the way.
    total = 1.1875  # crop widths, 0.3 /s if it were linear over 95/24 s
    finding = only(check(pan(0.3, easing="ease_in_out"), PAN_IMAGE), "pan_speed")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(total * math.sin(math.pi / 190) * FPS, abs=1e-5)
    assert finding.frame == 48


def test_vertical_pan_speed_is_in_crop_heights() -> None:
    size = (2000, 6000)
    # 0.3 crop heights per second is only 0.17 crop widths per second: still an error.
    finding = only(check(pan(0.0, 0.3, size=size), size), "pan_speed")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(0.3, abs=1e-5)


def test_diagonal_pan_speeds_combine_as_a_vector() -> None:
    size = (4000, 3000)
    # 0.12 and 0.09 are each below the comfort limit; together they make 0.15.
    finding = only(check(pan(0.12, 0.09, size=size), size), "pan_speed")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(0.15, abs=1e-5)
    finding = only(check(pan(0.15, 0.2, size=size), size), "pan_speed")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(0.25, abs=1e-5)


# --- zoom rate --------------------------------------------------------------------------

ZOOM_IMAGE = (8000, 4500)


def zoom(rate: float, *, easing: str = "linear", grow: bool = False,
         motion_type: str = "custom") -> Motion:
    """A centred zoom whose log width changes by ``rate`` per second, if linear."""
    full = (0.0, 0.0, 8000.0, 4500.0)
    tight = centred(ZOOM_IMAGE, 8000.0 * math.exp(-rate * seconds(4.0)))
    start, end = (tight, full) if grow else (full, tight)
    return motion(start, end, ZOOM_IMAGE, easing=easing, motion_type=motion_type)


@pytest.mark.parametrize("grow", [False, True])
def test_zoom_rate_error_above_the_hard_limit(grow: bool) -> None:
    finding = only(check(zoom(0.4, grow=grow), ZOOM_IMAGE), "zoom_rate")
    assert finding.severity == "error"
    assert finding.value == pytest.approx(0.4, abs=1e-5)
    assert finding.limit == 0.3
    assert 1 <= (finding.frame or 0) <= frame_total(4.0) - 1


def test_zoom_rate_warning_between_the_limits() -> None:
    finding = only(check(zoom(0.2), ZOOM_IMAGE), "zoom_rate")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(0.2, abs=1e-5)
    assert finding.limit == 0.15


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.149])
def test_zoom_rate_below_the_comfort_limit(rate: float) -> None:
    assert check(zoom(rate), ZOOM_IMAGE) == []


def test_an_eased_zoom_peaks_in_the_middle() -> None:
    log_scale = 0.12 * seconds(4.0)  # 0.12 /s linear; eased, the peak is about pi/2 higher
    finding = only(check(zoom(0.12, easing="ease_in_out"), ZOOM_IMAGE), "zoom_rate")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(log_scale * math.sin(math.pi / 190) * FPS,
                                          abs=1e-5)
    assert finding.frame == 48


def test_the_documented_two_times_zoom_passes() -> None:
    # rules' notes: a 2x zoom over 4 s with ease-in-out peaks at 0.27 /s (hard limit 0.30).
    full = (0.0, 0.0, 8000.0, 4500.0)
    m = motion(full, centred(ZOOM_IMAGE, 4000.0), ZOOM_IMAGE, easing="ease_in_out")
    finding = only(check(m, ZOOM_IMAGE), "zoom_rate")
    assert finding.severity == "warning"
    assert finding.value == pytest.approx(math.log(2) * math.sin(math.pi / 190) * FPS,
                                          abs=1e-5)
    assert 0.26 < float(finding.value or 0) < 0.3


# --- type -------------------------------------------------------------------------------

TYPE_IMAGE = (3840, 2160)
WIDE = (0.0, 0.0, 3840.0, 2160.0)
NARROW = centred(TYPE_IMAGE, 1920.0)
LEFT = (0.0, 540.0, 1920.0, 1620.0)
RIGHT = (600.0, 540.0, 2520.0, 1620.0)
TOP = (960.0, 0.0, 2880.0, 1080.0)
BOTTOM = (960.0, 400.0, 2880.0, 1480.0)


@pytest.mark.parametrize(("kind", "start", "end"), [
    ("zoom_in", WIDE, NARROW),
    ("zoom_out", NARROW, WIDE),
    ("pan_left", RIGHT, LEFT),
    ("pan_right", LEFT, RIGHT),
    ("pan_up", BOTTOM, TOP),
    ("pan_down", TOP, BOTTOM),
    ("static", NARROW, NARROW),
    ("custom", LEFT, RIGHT),
])
def test_rectangles_that_agree_with_the_type(kind: str, start: PxRect, end: PxRect) -> None:
    m = motion(start, end, TYPE_IMAGE, duration=8.0, motion_type=kind)
    assert check(m, TYPE_IMAGE) == []


@pytest.mark.parametrize(("kind", "start", "end"), [
    ("zoom_in", NARROW, WIDE),
    ("zoom_out", WIDE, NARROW),
    ("pan_left", LEFT, RIGHT),
    ("pan_right", RIGHT, LEFT),
    ("pan_up", TOP, BOTTOM),
    ("pan_down", BOTTOM, TOP),
    ("static", LEFT, RIGHT),
    ("zoom_in", LEFT, RIGHT),  # moves, but does not zoom
])
def test_rectangles_that_contradict_the_type(kind: str, start: PxRect, end: PxRect) -> None:
    m = motion(start, end, TYPE_IMAGE, duration=8.0, motion_type=kind)
    finding = only(check(m, TYPE_IMAGE), "type")
    assert finding.severity == "warning"
    assert finding.value == kind
    assert not has_errors([finding])


# --- easing -----------------------------------------------------------------------------


def test_a_broken_easing_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    size = (1920, 1080)
    full = (0.0, 0.0, 1920.0, 1080.0)
    m = motion(full, full, size, easing="ease_out")
    monkeypatch.setattr(vidgen.rules, "progress", lambda easing, t: np.asarray(t) * 0.9)
    finding = only(check(m, size), "easing")
    assert finding.severity == "error"
    assert finding.value == "ease_out"


# --- limits -----------------------------------------------------------------------------


def test_custom_limits_change_the_verdicts() -> None:
    loose = RuleLimits(max_pan_speed=0.5, comfort_pan_speed=0.4)
    assert check(pan(0.3), PAN_IMAGE, loose) == []
    strict = RuleLimits(max_pan_speed=0.25, comfort_pan_speed=0.05)
    finding = only(check(pan(0.1), PAN_IMAGE, strict), "pan_speed")
    assert (finding.severity, finding.limit) == ("warning", 0.05)
    finding = only(check(pan(0.3), PAN_IMAGE, strict), "pan_speed")
    assert (finding.severity, finding.limit) == ("error", 0.25)

    finding = only(check(zoom(0.2), ZOOM_IMAGE, RuleLimits(max_zoom_rate=0.18)), "zoom_rate")
    assert (finding.severity, finding.limit) == ("error", 0.18)
    assert check(zoom(0.2), ZOOM_IMAGE, RuleLimits(comfort_zoom_rate=0.25)) == []

    size = (1920, 1080)
    full = (0.0, 0.0, 1920.0, 1080.0)
    short = motion(full, full, size, duration=2.0)
    assert check(short, size, RuleLimits(min_duration=1.0, max_duration=3.0)) == []
    finding = only(check(motion(full, full, size), size,
                         RuleLimits(min_duration=1.0, max_duration=3.0)), "duration")
    assert finding.limit == "1-3 s"

    tight = centred(size, 800.0)
    finding = only(check(motion(tight, tight, size), size, RuleLimits(max_upscale=2.0)),
                   "upscale")
    assert (finding.severity, finding.limit) == ("warning", 1.0)
    assert check(motion(tight, tight, size), size,
                 RuleLimits(max_upscale=2.0, comfort_upscale=1.7)) == []

    wide = (100.0, 90.0, 1732.0, 990.0)  # 2 % off
    assert check(motion(wide, wide, size), size, RuleLimits(aspect_tolerance=0.03)) == []


def test_limits_from_the_default_config_are_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./vidgen.toml
    assert RuleLimits.from_config(load_config(env={})) == RuleLimits()


def test_limits_from_a_configured_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    limits = RuleLimits.from_config(load_config(env={"VIDGEN_RULES_MAX_PAN_SPEED": "0.3"}))
    assert limits == RuleLimits(max_pan_speed=0.3)


@pytest.mark.parametrize(("limits", "expected"), [
    (RuleLimits(), PresetLimits(pan_speed=1 / 7, zoom_rate=0.15, upscale=1.0)),
    (RuleLimits(comfort_pan_speed=0.5, comfort_zoom_rate=0.5, comfort_upscale=2.0),
     PresetLimits(pan_speed=0.2, zoom_rate=0.3, upscale=1.5)),
    (RuleLimits(comfort_upscale=0.5), PresetLimits(pan_speed=1 / 7, zoom_rate=0.15,
                                                   upscale=1.0)),
])
def test_presets_aim_inside_both_limits(limits: RuleLimits, expected: PresetLimits) -> None:
    assert limits.preset_limits() == expected


# --- findings ---------------------------------------------------------------------------


def test_finding_text_names_item_rule_value_limit_and_frame() -> None:
    finding = Finding("k.png", "pan_speed", "error", "pan too fast", 0.312345, 0.2, 48)
    text = str(finding)
    assert text == "k.png: error [pan_speed] pan too fast (value 0.3123, limit 0.2) at frame 48"
    for part in ("k.png", "pan_speed", "0.3123", "0.2"):
        assert part in text


def test_finding_text_from_a_real_check() -> None:
    text = str(only(check(pan(0.3), PAN_IMAGE), "pan_speed"))
    assert ITEM in text and "pan_speed" in text and "value 0.3," in text
    assert "limit 0.2" in text


def test_finding_text_without_value_or_frame() -> None:
    assert str(Finding("a", "type", "warning", "odd")) == "a: warning [type] odd"
    assert str(Finding("a", "duration", "error", "long", 9.0, "4-8 s")) == (
        "a: error [duration] long (value 9, limit 4-8 s)")


def test_finding_to_dict() -> None:
    finding = Finding("k", "bounds", "error", "out", 2.5, "0 px", 3)
    expected: dict[str, Any] = {"item": "k", "rule": "bounds", "severity": "error",
                                "message": "out", "value": 2.5, "limit": "0 px", "frame": 3}
    assert finding.to_dict() == expected


def test_has_errors() -> None:
    warning = Finding("k", "upscale", "warning", "soft", 1.2, 1.0)
    error = Finding("k", "bounds", "error", "out", 3.0, "0 px", 0)
    assert not has_errors([])
    assert not has_errors([warning])
    assert has_errors([warning, error])
    assert has_errors([error])


def test_several_rules_at_once() -> None:
    # Too short, too fast and leaving the image: every problem is reported.
    size = PAN_IMAGE
    start = (50.0, 50.0, 1650.0, 950.0)
    end = (2450.0, 50.0, 4050.0, 950.0)
    found = check(motion(start, end, size, duration=2.0), size)
    assert {f.rule for f in found} == {"duration", "bounds", "pan_speed"}
    assert has_errors(found)
    bounds = next(f for f in found if f.rule == "bounds")
    assert bounds.value == pytest.approx(50.0, rel=1e-9)
