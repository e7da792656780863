"""Camera motion: the motion model, easing, presets and the one camera-path sampler.

A motion moves a crop rectangle of the keyframe from ``start`` to ``end``
(normalised ``[x1, y1, x2, y2]``, the studio's crop convention) over
``duration_sec`` with a monotone easing. :func:`sample_path` turns it into the
exact float crop rectangle, in source pixels, of every output frame; the
renderer, the rules, the editor preview and QC all use it, so they agree to
the last bit.

The path is a similarity interpolation: the crop size changes geometrically
(a constant perceived zoom speed) and the centre follows so that the zoom's
fixed point stays put on screen. Every edge then moves monotonically from its
start value to its end value, so a path whose end rectangles are inside the
image stays inside at every frame. A pure pan (equal sizes) is linear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, AliasChoices, Field

from vidgen.errors import MotionError
from vidgen.formats import Document

__all__ = [
    "EASING_PEAK",
    "Easing",
    "Motion",
    "MotionType",
    "frame_count",
    "progress",
    "propose_motion",
    "sample_path",
]


class MotionType(StrEnum):
    STATIC = "static"
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    PAN_UP = "pan_up"
    PAN_DOWN = "pan_down"
    CUSTOM = "custom"


class Easing(StrEnum):
    LINEAR = "linear"
    EASE_IN = "ease_in"
    EASE_OUT = "ease_out"
    EASE_IN_OUT = "ease_in_out"


#: Peak of d(progress)/dt for each easing (t and progress both in [0, 1]).
EASING_PEAK = {
    Easing.LINEAR: 1.0,
    Easing.EASE_IN: math.pi / 2,
    Easing.EASE_OUT: math.pi / 2,
    Easing.EASE_IN_OUT: math.pi / 2,
}


def _check_rect(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = rect
    if not (x2 - x1 >= 1e-6 and y2 - y1 >= 1e-6):
        raise ValueError(
            f"rectangle must have x2 > x1 and y2 > y1 (inverted or zero-area: {list(rect)})"
        )
    return rect


Rect = Annotated[tuple[float, float, float, float], AfterValidator(_check_rect)]


class Motion(Document):
    """A camera motion over one keyframe, stored as ``<stem>.motion.json``.

    The plan's names are accepted when reading: ``type``, ``motion_intensity``,
    ``start_rect`` / ``start_frame``, ``end_rect`` / ``end_frame``, ``keyframe``.
    """

    schema_: Literal["vidgen.motion/1"] = Field("vidgen.motion/1", alias="schema")
    motion_type: MotionType = Field(validation_alias=AliasChoices("motion_type", "type"))
    intensity: float = Field(
        0.0, ge=0.0, le=1.0, validation_alias=AliasChoices("intensity", "motion_intensity"),
        description="0 (none) to 1 (the comfort limit); informational for custom motions.",
    )
    start: Rect = Field(
        validation_alias=AliasChoices("start", "start_rect", "start_frame"),
        description="Crop at the first frame, normalised [x1, y1, x2, y2].",
    )
    end: Rect = Field(
        validation_alias=AliasChoices("end", "end_rect", "end_frame"),
        description="Crop at the last frame, normalised [x1, y1, x2, y2].",
    )
    duration_sec: float = Field(gt=0.0, le=600.0)
    easing: Easing = Easing.EASE_IN_OUT
    focus: Rect | None = Field(
        None, validation_alias=AliasChoices("focus", "keyframe"),
        description="The framing hint the motion was built around (e.g. the AI crop), if any.",
    )


def frame_count(duration_sec: float, fps: float) -> int:
    """Frames of a shot: ``round(duration * fps)``, at least 1."""
    return max(1, round(duration_sec * fps))


def progress(easing: Easing, t: np.ndarray) -> np.ndarray:
    """Eased progress in [0, 1] for normalised times ``t`` in [0, 1] (cosine family)."""
    easing = Easing(easing)
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if easing is Easing.LINEAR:
        return t
    if easing is Easing.EASE_IN:
        return 1.0 - np.sin((1.0 - t) * (math.pi / 2))  # == 1 - cos(t pi/2), exact at t = 1
    if easing is Easing.EASE_OUT:
        return np.sin(t * (math.pi / 2))
    return (1.0 - np.cos(t * math.pi)) / 2.0


def _pixels(rect: tuple[float, ...], size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array(rect, dtype=np.float64) * np.array([w, h, w, h], dtype=np.float64)


def sample_path(motion: Motion, image_size: tuple[int, int], num_frames: int) -> np.ndarray:
    """The crop of every frame in source pixels: an ``(num_frames, 4)`` float64 array.

    Frame ``i`` sits at normalised time ``i / (num_frames - 1)``: the first frame is
    exactly ``start`` and the last exactly ``end``.
    """
    if num_frames < 1:
        raise MotionError("a shot needs at least one frame", field="num_frames", value=num_frames)
    t = np.arange(num_frames, dtype=np.float64) / max(1, num_frames - 1)
    p = progress(motion.easing, t)[:, None]
    a, b = _pixels(motion.start, image_size), _pixels(motion.end, image_size)
    size0, size1 = a[2:] - a[:2], b[2:] - b[:2]
    centre0, centre1 = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
    log_s = np.log(size1 / size0)
    size = size0 * np.exp(p * log_s)
    # Weight of the centre's move: expm1(p ln s) / expm1(ln s), tending to p as s -> 1.
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(np.abs(log_s) < 1e-12, p, np.expm1(p * log_s) / np.expm1(log_s))
    centre = centre0 + weight * (centre1 - centre0)
    rects = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    rects[-1] = b  # exact ends, free of rounding
    rects[0] = a
    return rects


# --- presets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetLimits:
    """The comfort limits a preset aims at with intensity 1 (from the rules' settings)."""

    pan_speed: float
    zoom_rate: float
    upscale: float


def _fit(centre: tuple[float, float], w: float, h: float, size: tuple[int, int]) -> np.ndarray:
    """A ``w x h`` rectangle centred as near ``centre`` as the image allows (pixels)."""
    cx = min(max(centre[0], w / 2), size[0] - w / 2)
    cy = min(max(centre[1], h / 2), size[1] - h / 2)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def propose_motion(
    motion_type: MotionType | str,
    *,
    intensity: float,
    duration_sec: float,
    easing: Easing | str,
    image_size: tuple[int, int],
    output_size: tuple[int, int],
    fps: float,
    limits: PresetLimits,
    focus: tuple[float, float, float, float] | None = None,
) -> Motion:
    """Start and end rectangles for a preset that satisfy the rules by construction.

    Intensity 1 reaches the comfort limit of its motion at the fastest frame;
    the crop keeps the output aspect, stays inside the image and never asks for
    more upscaling than ``limits.upscale``. With a ``focus`` rectangle (the
    decision's crop hint) zooms end (or start) centred on it and pans pass over it.
    """
    kind, ease = MotionType(motion_type), Easing(easing)
    if kind is MotionType.CUSTOM:
        raise MotionError("custom motions are drawn, not proposed", field="motion_type",
                          value=kind.value, hint="pick a preset or edit the rectangles")
    if not 0.0 <= intensity <= 1.0:
        raise MotionError("out of range", field="intensity", value=intensity, limit="0..1")
    img_w, img_h = image_size
    out_w, out_h = output_size
    aspect = out_w / out_h
    # The largest crop of the output aspect, and the smallest the upscale limit allows.
    full_w = min(img_w, img_h * aspect)
    min_w = min(full_w, out_w / limits.upscale)
    centre = (img_w / 2, img_h / 2)
    if focus is not None:
        fx1, fy1, fx2, fy2 = focus
        centre = ((fx1 + fx2) / 2 * img_w, (fy1 + fy2) / 2 * img_h)
    # Seconds at peak speed: the path runs from the first to the last frame.
    travel = intensity * (frame_count(duration_sec, fps) - 1) / fps / EASING_PEAK[ease]

    def rect(w: float, c: tuple[float, float] = centre) -> np.ndarray:
        return _fit(c, w, w / aspect, image_size)

    if kind is MotionType.STATIC or intensity == 0.0:
        kind = MotionType.STATIC
        start = end = rect(full_w)
    elif kind in (MotionType.ZOOM_IN, MotionType.ZOOM_OUT):
        scale = min(math.exp(limits.zoom_rate * travel), full_w / min_w)
        wide = rect(full_w)
        tight_w = full_w / scale
        # Centre the tight crop on the focus, kept inside the wide one.
        tx = min(max(centre[0], wide[0] + tight_w / 2), wide[2] - tight_w / 2)
        ty = min(max(centre[1], wide[1] + tight_w / aspect / 2), wide[3] - tight_w / aspect / 2)
        tight = _fit((tx, ty), tight_w, tight_w / aspect, image_size)
        start, end = (wide, tight) if kind is MotionType.ZOOM_IN else (tight, wide)
    else:
        horizontal = kind in (MotionType.PAN_LEFT, MotionType.PAN_RIGHT)
        k = limits.pan_speed * travel  # distance in crop widths (or heights)
        room = img_w / full_w if horizontal else img_h / (full_w / aspect)
        w = full_w
        if room < 1 + k:  # shrink the crop to make room, down to the upscale limit
            w = max(min_w, full_w * room / (1 + k))
        extent = w if horizontal else w / aspect
        span = img_w if horizontal else img_h
        k = min(k, span / extent - 1)
        half = k * extent / 2
        middle = rect(w)
        mc = [(middle[0] + middle[2]) / 2, (middle[1] + middle[3]) / 2]
        axis = 0 if horizontal else 1
        # Keep the middle far enough from the edges for both ends to fit.
        mc[axis] = min(max(mc[axis], extent / 2 + half), span - extent / 2 - half)
        lo, hi = list(mc), list(mc)
        lo[axis] -= half
        hi[axis] += half
        first, last = rect(w, (lo[0], lo[1])), rect(w, (hi[0], hi[1]))
        # The camera moves left/up: the crop goes from the right/bottom to the left/top.
        if kind in (MotionType.PAN_LEFT, MotionType.PAN_UP):
            first, last = last, first
        start, end = first, last

    if np.allclose(start, end, rtol=0.0, atol=1e-6 * max(image_size)):
        kind = MotionType.STATIC  # no room to move within the upscale limit
        start = end = rect(full_w)  # truly static, as the type rule expects

    def norm(r: np.ndarray) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = (float(v) for v in r / np.array([img_w, img_h, img_w, img_h]))
        return (max(0.0, x1), max(0.0, y1), min(1.0, x2), min(1.0, y2))

    return Motion(
        motion_type=kind, intensity=intensity, start=norm(start), end=norm(end),
        duration_sec=duration_sec, easing=ease, focus=focus,
    )
