"""The motion model, easing, the camera-path sampler and the presets."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vidgen.errors import MotionError
from vidgen.formats import dump_document, parse_document
from vidgen.motion import (
    EASING_PEAK,
    Easing,
    Motion,
    MotionType,
    frame_count,
    progress,
    propose_motion,
    sample_path,
)
from vidgen.rules import RuleLimits, check_motion

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PRESETS = [t for t in MotionType if t is not MotionType.CUSTOM]
LIMITS = RuleLimits()
PRESET_LIMITS = LIMITS.preset_limits()

Rect = tuple[float, float, float, float]


def make(start: Rect, end: Rect, *, easing: str = "linear", duration: float = 4.0,
         motion_type: str = "custom", **extra: Any) -> Motion:
    return Motion(motion_type=motion_type, start=start, end=end, duration_sec=duration,
                  easing=easing, **extra)


def pixels(rect: Rect, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array(rect, dtype=np.float64) * np.array([w, h, w, h], dtype=np.float64)


def centres(rects: np.ndarray) -> np.ndarray:
    return np.asarray((rects[:, :2] + rects[:, 2:]) / 2)


def sizes(rects: np.ndarray) -> np.ndarray:
    return np.asarray(rects[:, 2:] - rects[:, :2])


BASE: dict[str, Any] = {
    "motion_type": "zoom_in",
    "start": [0.0, 0.0, 1.0, 1.0],
    "end": [0.25, 0.25, 0.75, 0.75],
    "duration_sec": 4.0,
}


# --- the model --------------------------------------------------------------------------


def test_round_trip_through_the_written_form() -> None:
    motion = make((0.0, 0.1, 0.8, 0.9), (0.2, 0.2, 0.6, 0.6), easing="ease_out",
                  motion_type="zoom_in", intensity=0.4, focus=(0.3, 0.3, 0.5, 0.5))
    dumped = dump_document(motion)
    assert Motion.model_validate(dumped) == motion
    assert Motion.model_validate(json.loads(motion.model_dump_json())) == motion
    assert parse_document(Motion, json.dumps(dumped), item="x", error=MotionError) == motion


def test_written_names_are_the_documented_ones() -> None:
    motion = Motion(motion_type="zoom_in", intensity=0.5, start=(0.0, 0.0, 1.0, 1.0),
                    end=(0.1, 0.1, 0.9, 0.9), duration_sec=4)
    for written in (dump_document(motion), json.loads(motion.model_dump_json())):
        assert set(written) == {"schema", "motion_type", "intensity", "start", "end",
                                "duration_sec", "easing", "focus"}
        assert written["schema"] == "vidgen.motion/1"
        assert written["motion_type"] == "zoom_in"
        assert written["intensity"] == 0.5
        assert written["start"] == [0.0, 0.0, 1.0, 1.0]
        assert written["end"] == [0.1, 0.1, 0.9, 0.9]
        assert written["easing"] == "ease_in_out"  # the default


@pytest.mark.parametrize("start_name", ["start", "start_rect", "start_frame"])
@pytest.mark.parametrize("end_name", ["end", "end_rect", "end_frame"])
def test_the_plans_names_are_accepted(start_name: str, end_name: str) -> None:
    data = {
        "type": "pan_left", "motion_intensity": 0.7,
        start_name: [0.5, 0.0, 1.0, 0.5], end_name: [0.0, 0.0, 0.5, 0.5],
        "duration_sec": 5, "keyframe": [0.1, 0.2, 0.3, 0.4],
    }
    motion = Motion.model_validate(data)
    assert motion.motion_type is MotionType.PAN_LEFT
    assert motion.intensity == 0.7
    assert motion.start == (0.5, 0.0, 1.0, 0.5)
    assert motion.end == (0.0, 0.0, 0.5, 0.5)
    assert motion.focus == (0.1, 0.2, 0.3, 0.4)
    # ... and written back with the documented names only.
    written = dump_document(motion)
    assert written["motion_type"] == "pan_left" and written["intensity"] == 0.7
    assert written["focus"] == [0.1, 0.2, 0.3, 0.4]
    assert set(written) == {"schema", "motion_type", "intensity", "start", "end",
                            "duration_sec", "easing", "focus"}


def test_defaults() -> None:
    motion = Motion.model_validate(BASE)
    assert motion.schema_ == "vidgen.motion/1"
    assert motion.intensity == 0.0
    assert motion.easing is Easing.EASE_IN_OUT
    assert motion.focus is None


@pytest.mark.parametrize("change", [
    {"speed": 3},
    {"schema": "vidgen.motion/2"},
    {"motion_type": "dolly_zoom"},
    {"easing": "bounce"},
    {"intensity": -0.01},
    {"intensity": 1.01},
    {"duration_sec": 0},
    {"duration_sec": -4},
    {"start": [0.0, 0.0, 1.0]},
    {"start": [0.5, 0.0, 0.4, 1.0]},  # inverted x
    {"end": [0.0, 0.6, 1.0, 0.5]},  # inverted y
    {"end": [0.3, 0.0, 0.3, 1.0]},  # zero width
    {"end": [0.0, 0.3, 1.0, 0.3]},  # zero height
    {"start": [0.0, 0.0, math.nan, 1.0]},
    {"start": [0.0, 0.0, math.inf, 1.0]},
    {"end": [-math.inf, 0.0, 1.0, 1.0]},
    {"focus": [0.0, 0.0, 0.0, 0.0]},
    {"intensity": math.nan},
    {"duration_sec": math.inf},
])
def test_bad_motions_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Motion.model_validate({**BASE, **change})


def test_motions_are_frozen() -> None:
    motion = Motion.model_validate(BASE)
    with pytest.raises(ValidationError):
        motion.duration_sec = 5.0  # type: ignore[misc]


def _parse_error(text: str) -> MotionError:
    with pytest.raises(MotionError) as info:
        parse_document(Motion, text, item="x.motion.json", error=MotionError)
    assert info.value.item == "x.motion.json"
    assert "x.motion.json" in str(info.value)
    return info.value


def test_parse_invalid_json() -> None:
    error = _parse_error('{"motion_type": "zoom_in",')
    assert "not valid JSON" in error.message


def test_parse_a_json_list() -> None:
    error = _parse_error(json.dumps([BASE]))
    assert "list" in error.message


def test_parse_a_nan_literal() -> None:
    text = json.dumps(BASE).replace("1.0]", "NaN]", 1)
    assert "NaN" in text
    error = _parse_error(text)
    assert "NaN" in str(error)


def test_parse_an_overflowing_number_names_field_and_value() -> None:
    text = json.dumps({**BASE, "start": [0.0, 0.0, 123.0, 1.0]}).replace("123.0", "1e999")
    assert "1e999" in text  # json reads it as infinity
    error = _parse_error(text)
    assert error.field == "start[2]"
    assert error.value == "inf"
    assert "start[2]='inf'" in str(error)


def test_parse_a_non_number_names_the_element() -> None:
    error = _parse_error(json.dumps({**BASE, "end": [0.25, "wide", 0.75, 0.75]}))
    assert error.field == "end[1]"
    assert error.value == "wide"
    assert "end[1]='wide'" in str(error)


def test_parse_an_inverted_rectangle_names_the_rectangle() -> None:
    error = _parse_error(json.dumps({**BASE, "start": [0.9, 0.0, 0.1, 1.0]}))
    assert error.field == "start"
    assert error.value == [0.9, 0.0, 0.1, 1.0]
    assert "inverted" in error.message
    assert "start=[0.9, 0.0, 0.1, 1.0]" in str(error)


def test_parse_an_unknown_field_and_a_bad_intensity() -> None:
    error = _parse_error(json.dumps({**BASE, "zoom": 2}))
    assert (error.field, error.value) == ("zoom", 2)
    error = _parse_error(json.dumps({**BASE, "intensity": 1.5}))
    assert (error.field, error.value) == ("intensity", 1.5)
    # Under the plan's name, the error uses the name the file used.
    error = _parse_error(json.dumps({**BASE, "motion_intensity": -2}))
    assert (error.field, error.value) == ("motion_intensity", -2)
    error = _parse_error(json.dumps({**BASE, "easing": "wobble"}))
    assert (error.field, error.value) == ("easing", "wobble")


def test_parse_lists_several_problems() -> None:
    error = _parse_error(json.dumps({**BASE, "easing": "wobble", "duration_sec": -1}))
    assert "also" in error.message


# --- frame count and easing -------------------------------------------------------------


@pytest.mark.parametrize(("duration", "fps", "expected"), [
    (4.0, 24, 96),
    (8.0, 30, 240),
    (5.0, 23.976, 120),  # 119.88 rounds up
    (1.0, 24.4, 24),
    (1.0, 24.6, 25),
    (0.01, 24, 1),  # 0.24 frames: still one frame
    (1e-9, 16, 1),
])
def test_frame_count(duration: float, fps: float, expected: int) -> None:
    assert frame_count(duration, fps) == expected


@pytest.mark.parametrize("easing", list(Easing))
def test_easing_runs_exactly_from_zero_to_one(easing: Easing) -> None:
    ends = progress(easing, np.array([0.0, 1.0]))
    assert ends[0] == 0.0
    assert ends[1] == 1.0
    # Times outside [0, 1] are clamped.
    assert progress(easing, np.array([-0.5, 1.5])).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("easing", list(Easing))
def test_easing_is_monotone_and_peaks_as_declared(easing: Easing) -> None:
    t = np.linspace(0.0, 1.0, 100_001)
    p = progress(easing, t)
    assert np.all(np.diff(p) >= 0.0)
    slope = np.diff(p) / np.diff(t)
    assert abs(slope.max() - EASING_PEAK[easing]) < 1e-3


@pytest.mark.parametrize(("easing", "half"), [
    (Easing.LINEAR, 0.5),
    (Easing.EASE_IN, 1.0 - math.sqrt(0.5)),
    (Easing.EASE_OUT, math.sqrt(0.5)),
    (Easing.EASE_IN_OUT, 0.5),
])
def test_easing_at_half_time(easing: Easing, half: float) -> None:
    assert progress(easing, np.array([0.5]))[0] == pytest.approx(half, abs=1e-15)


# --- the camera path --------------------------------------------------------------------


@pytest.mark.parametrize("easing", list(Easing))
@pytest.mark.parametrize("num_frames", [2, 3, 96, 241])
def test_path_ends_are_exact(easing: Easing, num_frames: int) -> None:
    size = (1917, 1083)
    motion = make((0.013, 0.071, 0.917, 0.893), (0.31, 0.27, 0.66, 0.51), easing=easing)
    rects = sample_path(motion, size, num_frames)
    assert rects.shape == (num_frames, 4)
    assert rects.dtype == np.float64
    assert np.array_equal(rects[0], pixels(motion.start, size))
    assert np.array_equal(rects[-1], pixels(motion.end, size))


def test_one_frame_is_the_start() -> None:
    size = (640, 480)
    motion = make((0.0, 0.0, 1.0, 1.0), (0.2, 0.2, 0.6, 0.6))
    rects = sample_path(motion, size, 1)
    assert rects.shape == (1, 4)
    assert np.array_equal(rects[0], pixels(motion.start, size))


@pytest.mark.parametrize("num_frames", [0, -1])
def test_no_frames_is_refused(num_frames: int) -> None:
    motion = make((0.0, 0.0, 1.0, 1.0), (0.2, 0.2, 0.6, 0.6))
    with pytest.raises(MotionError) as info:
        sample_path(motion, (640, 480), num_frames)
    assert info.value.field == "num_frames"
    assert info.value.value == num_frames


@pytest.mark.parametrize("easing", list(Easing))
def test_a_pure_pan_is_linear_in_progress(easing: Easing) -> None:
    size, n = (2000, 1000), 97
    start, end = (0.1, 0.2, 0.5, 0.6), (0.45, 0.3, 0.85, 0.7)
    rects = sample_path(make(start, end, easing=easing), size, n)
    t = np.arange(n) / (n - 1)
    p = {
        Easing.LINEAR: t,
        Easing.EASE_IN: 1.0 - np.cos(t * np.pi / 2),
        Easing.EASE_OUT: np.sin(t * np.pi / 2),
        Easing.EASE_IN_OUT: (1.0 - np.cos(t * np.pi)) / 2,
    }[easing][:, None]
    np.testing.assert_allclose(sizes(rects), np.tile([800.0, 400.0], (n, 1)), rtol=1e-12)
    c0, c1 = np.array([600.0, 400.0]), np.array([1300.0, 500.0])
    np.testing.assert_allclose(centres(rects), c0 + p * (c1 - c0), rtol=0, atol=1e-9)


def test_a_linear_pan_moves_in_equal_steps() -> None:
    rects = sample_path(make((0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)), (1000, 500), 11)
    np.testing.assert_allclose(rects[:, 0], np.arange(11) * 50.0, atol=1e-9)
    np.testing.assert_allclose(rects[:, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(rects[:, 3], 500.0, atol=1e-9)


@pytest.mark.parametrize("easing", list(Easing))
def test_a_zoom_keeps_the_aspect_and_zooms_geometrically(easing: Easing) -> None:
    size, n = (1600, 900), 120
    start, end = (0.0, 0.0, 1.0, 1.0), (0.3, 0.2, 0.7, 0.6)
    rects = sample_path(make(start, end, easing=easing), size, n)
    w, h = sizes(rects).T
    np.testing.assert_allclose(w / h, 16 / 9, rtol=1e-12)
    # The width changes geometrically with progress: w = w0 * (w1 / w0) ** p.
    p = progress(easing, np.arange(n) / (n - 1))
    np.testing.assert_allclose(w, 1600.0 * 0.4**p, rtol=1e-12)


@pytest.mark.parametrize("easing", list(Easing))
@pytest.mark.parametrize("scale", [0.35, 2.5])
@pytest.mark.parametrize("fixed", [(0.7, 0.25), (0.5, 0.5), (0.05, 0.95)])
def test_the_fixed_point_of_a_zoom_stays_put_on_screen(
    easing: Easing, scale: float, fixed: tuple[float, float]
) -> None:
    size, n = (1920, 1080), 150
    fx, fy = fixed
    tight = (fx - 0.2 * fx, fy - 0.2 * fy, fx + 0.2 * (1 - fx), fy + 0.2 * (1 - fy))
    other = (fx + scale * (tight[0] - fx), fy + scale * (tight[1] - fy),
             fx + scale * (tight[2] - fx), fy + scale * (tight[3] - fy))
    rects = sample_path(make(tight, other, easing=easing), size, n)
    w, h = sizes(rects).T
    rel_x = (fx * size[0] - rects[:, 0]) / w
    rel_y = (fy * size[1] - rects[:, 1]) / h
    # Where the fixed point sits inside the first crop, by hand: 0.2 fx / (0.2 fx + 0.2 (1 - fx)).
    np.testing.assert_allclose(rel_x, fx, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rel_y, fy, rtol=0, atol=1e-9)
    assert w[-1] / w[0] == pytest.approx(scale, rel=1e-12)


def test_a_centred_zoom_does_not_move_the_centre() -> None:
    rects = sample_path(make((0.0, 0.0, 1.0, 1.0), (0.25, 0.25, 0.75, 0.75),
                             easing="ease_in_out"), (800, 600), 50)
    np.testing.assert_allclose(centres(rects), np.tile([400.0, 300.0], (50, 1)), atol=1e-9)


def test_a_static_path_is_constant() -> None:
    rect = (0.1, 0.2, 0.7, 0.8)
    rects = sample_path(make(rect, rect, motion_type="static"), (1000, 1000), 30)
    np.testing.assert_allclose(rects, np.tile([100.0, 200.0, 700.0, 800.0], (30, 1)),
                               rtol=1e-12)


@st.composite
def unit_rects(draw: st.DrawFn, min_side: float = 1e-3) -> Rect:
    coords = st.floats(0.0, 1.0, allow_nan=False)
    x1, x2 = sorted((draw(coords), draw(coords)))
    y1, y2 = sorted((draw(coords), draw(coords)))
    assume(x2 - x1 >= min_side and y2 - y1 >= min_side)
    return (x1, y1, x2, y2)


@PROPERTY
@given(
    start=unit_rects(), end=unit_rects(), easing=st.sampled_from(list(Easing)),
    width=st.integers(16, 8192), height=st.integers(16, 8192), n=st.integers(1, 300),
)
def test_every_edge_moves_monotonically_between_its_ends(
    start: Rect, end: Rect, easing: Easing, width: int, height: int, n: int
) -> None:
    size = (width, height)
    rects = sample_path(make(start, end, easing=easing), size, n)
    a, b = pixels(start, size), pixels(end, size)
    tol = 1e-9 * max(size)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    assert np.all(rects >= lo - tol) and np.all(rects <= hi + tol)
    # ... hence inside the image,
    assert np.all(rects[:, :2] >= -tol)
    assert np.all(rects[:, 2] <= width + tol) and np.all(rects[:, 3] <= height + tol)
    # ... and each edge only ever moves towards its end value.
    direction = np.sign(b - a)
    assert np.all(np.diff(rects, axis=0) * direction >= -tol)
    assert np.all(sizes(rects) > 0)


# --- presets ----------------------------------------------------------------------------


def propose(kind: MotionType | str, **overrides: Any) -> Motion:
    options: dict[str, Any] = {
        "intensity": 0.8, "duration_sec": 6.0, "easing": "ease_in_out",
        "image_size": (3000, 2000), "output_size": (1280, 720), "fps": 24,
        "limits": PRESET_LIMITS,
    }
    options.update(overrides)
    return propose_motion(kind, **options)


def _centre(rect: Rect) -> tuple[float, float]:
    return ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)


def _width(rect: Rect) -> float:
    return rect[2] - rect[0]


def _height(rect: Rect) -> float:
    return rect[3] - rect[1]


@pytest.mark.parametrize("kind", PRESETS)
def test_presets_move_the_named_way(kind: MotionType) -> None:
    motion = propose(kind)
    assert motion.motion_type is kind
    assert motion.intensity == 0.8
    assert motion.duration_sec == 6.0
    assert motion.easing is Easing.EASE_IN_OUT
    (sx, sy), (ex, ey) = _centre(motion.start), _centre(motion.end)
    sw, ew = _width(motion.start), _width(motion.end)
    if kind is MotionType.STATIC:
        assert motion.start == motion.end
    elif kind is MotionType.ZOOM_IN:
        assert ew < sw and _height(motion.end) < _height(motion.start)
    elif kind is MotionType.ZOOM_OUT:
        assert ew > sw and _height(motion.end) > _height(motion.start)
    else:
        assert ew == pytest.approx(sw, rel=1e-12)  # a pan keeps its size
        horizontal = kind in (MotionType.PAN_LEFT, MotionType.PAN_RIGHT)
        moved, still = (ex - sx, ey - sy) if horizontal else (ey - sy, ex - sx)
        assert still == pytest.approx(0.0, abs=1e-12)
        if kind in (MotionType.PAN_LEFT, MotionType.PAN_UP):
            assert moved < 0
        else:
            assert moved > 0


@pytest.mark.parametrize("kind", PRESETS)
@pytest.mark.parametrize("image_size", [(3000, 2000), (1280, 720), (900, 1600), (5000, 800)])
@pytest.mark.parametrize("output_size", [(1280, 720), (720, 1280), (512, 512)])
def test_preset_rectangles_have_the_output_aspect_and_stay_inside(
    kind: MotionType, image_size: tuple[int, int], output_size: tuple[int, int]
) -> None:
    motion = propose(kind, intensity=1.0, image_size=image_size, output_size=output_size,
                     focus=(0.7, 0.1, 0.95, 0.3))
    img_w, img_h = image_size
    for rect in (motion.start, motion.end):
        assert all(0.0 <= v <= 1.0 for v in rect)
        aspect = _width(rect) * img_w / (_height(rect) * img_h)
        assert aspect == pytest.approx(output_size[0] / output_size[1], rel=1e-6)


@pytest.mark.parametrize("kind", PRESETS)
def test_zero_intensity_is_static(kind: MotionType) -> None:
    motion = propose(kind, intensity=0.0)
    assert motion.motion_type is MotionType.STATIC
    assert motion.start == motion.end
    # The whole width of a 3:2 image at 16:9, centred: 1687.5 of 2000 rows.
    assert motion.start == pytest.approx((0.0, 0.078125, 1.0, 0.921875), abs=1e-12)


def test_a_focus_pulls_the_zoom_towards_it() -> None:
    focus = (0.85, 0.8, 0.95, 0.95)
    fc = np.array(_centre(focus))
    plain = propose(MotionType.ZOOM_IN)
    focused = propose(MotionType.ZOOM_IN, focus=focus)
    assert focused.focus == focus
    dist_plain = np.linalg.norm(np.array(_centre(plain.end)) - fc)
    dist_focused = np.linalg.norm(np.array(_centre(focused.end)) - fc)
    assert dist_focused < dist_plain
    # Towards the corner on both axes.
    assert _centre(focused.end)[0] > _centre(plain.end)[0]
    assert _centre(focused.end)[1] > _centre(plain.end)[1]
    # Zooming out starts on the focus instead.
    out = propose(MotionType.ZOOM_OUT, focus=focus)
    assert np.linalg.norm(np.array(_centre(out.start)) - fc) < dist_plain


def test_a_linear_pan_at_full_intensity_reaches_the_comfort_speed() -> None:
    # A wide image leaves plenty of room: the crop keeps the full height.
    duration, fps = 4.0, 24
    motion = propose(MotionType.PAN_RIGHT, intensity=1.0, easing="linear",
                     duration_sec=duration, fps=fps, image_size=(6000, 1000))
    crop_w = _width(motion.start) * 6000
    assert crop_w == pytest.approx(1000 * 16 / 9)
    shift = (_centre(motion.end)[0] - _centre(motion.start)[0]) * 6000 / crop_w
    seconds = (frame_count(duration, fps) - 1) / fps
    assert shift == pytest.approx(PRESET_LIMITS.pan_speed * seconds, rel=1e-9)


def test_a_zoom_at_full_intensity_reaches_the_comfort_rate() -> None:
    duration, fps = 6.0, 30
    motion = propose(MotionType.ZOOM_IN, intensity=1.0, easing="ease_in",
                     duration_sec=duration, fps=fps, image_size=(4000, 2250))
    growth = math.log(_width(motion.end) / _width(motion.start))
    seconds = (frame_count(duration, fps) - 1) / fps
    expected = -PRESET_LIMITS.zoom_rate * seconds / EASING_PEAK[Easing.EASE_IN]
    assert growth == pytest.approx(expected, rel=1e-9)


def test_a_pan_on_an_image_of_the_output_aspect_shrinks_the_crop_to_make_room() -> None:
    motion = propose(MotionType.PAN_LEFT, intensity=1.0, image_size=(1920, 1080))
    width_px = _width(motion.start) * 1920
    # Never below the output's width (upscale limit 1.0): here exactly the output's width.
    assert width_px == pytest.approx(1280.0, rel=1e-12)
    assert _centre(motion.end)[0] < _centre(motion.start)[0]


@pytest.mark.parametrize("image_size", [(1280, 720), (1000, 562)])
@pytest.mark.parametrize("kind", [MotionType.ZOOM_IN, MotionType.ZOOM_OUT])
def test_no_room_to_zoom_gives_a_static_motion(
    image_size: tuple[int, int], kind: MotionType
) -> None:
    motion = propose(kind, intensity=1.0, image_size=image_size)
    assert motion.motion_type is MotionType.STATIC
    assert motion.start == motion.end


@pytest.mark.parametrize("kind", [MotionType.ZOOM_IN, MotionType.PAN_RIGHT])
@pytest.mark.parametrize("intensity", [1e-6, 5e-6, 1.3e-5])
def test_a_barely_moving_preset_is_truly_static(kind: MotionType, intensity: float) -> None:
    # Sub-pixel moves are called static; the rectangles must then agree with the type.
    size, out = (600, 4096), (512, 512)
    motion = propose(kind, intensity=intensity, duration_sec=4.0, image_size=size,
                     output_size=out)
    assert motion.motion_type is MotionType.STATIC
    assert motion.start == motion.end
    assert check_motion(motion, image_size=size, output_size=out, fps=24, limits=LIMITS,
                        item="x") == []


def test_custom_cannot_be_proposed() -> None:
    with pytest.raises(MotionError) as info:
        propose("custom")
    assert info.value.field == "motion_type"
    assert info.value.value == "custom"


@pytest.mark.parametrize("intensity", [-0.1, 1.1])
def test_intensity_out_of_range_is_refused(intensity: float) -> None:
    with pytest.raises(MotionError) as info:
        propose(MotionType.ZOOM_IN, intensity=intensity)
    assert info.value.field == "intensity"
    assert info.value.value == intensity


def test_unknown_preset_names_are_refused() -> None:
    with pytest.raises(ValueError):
        propose("orbit")
    with pytest.raises(ValueError):
        propose(MotionType.ZOOM_IN, easing="bounce")


OUTPUTS = [(512, 720), (1280, 720), (720, 1280), (512, 512)]


@PROPERTY
@given(
    img_w=st.integers(600, 4096), img_h=st.integers(600, 4096),
    output=st.sampled_from(OUTPUTS), kind=st.sampled_from(PRESETS),
    intensity=st.floats(0.0, 1.0), duration=st.floats(4.0, 8.0),
    fps=st.sampled_from([16, 24, 30]), easing=st.sampled_from(list(Easing)),
    focus=st.none() | unit_rects(),
)
def test_presets_satisfy_the_rules(
    img_w: int, img_h: int, output: tuple[int, int], kind: MotionType, intensity: float,
    duration: float, fps: int, easing: Easing, focus: Rect | None,
) -> None:
    out_w, out_h = output
    full_w = min(img_w, img_h * out_w / out_h)
    assume(out_w / full_w <= LIMITS.max_upscale)
    motion = propose_motion(
        kind, intensity=intensity, duration_sec=duration, easing=easing,
        image_size=(img_w, img_h), output_size=output, fps=fps, limits=PRESET_LIMITS,
        focus=focus,
    )
    assert motion.motion_type in (kind, MotionType.STATIC)
    findings = check_motion(motion, image_size=(img_w, img_h), output_size=output, fps=fps,
                            limits=LIMITS, item="k")
    assert all(f.rule == "upscale" and f.severity == "warning" for f in findings), findings
