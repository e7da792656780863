"""Motion safety rules, checked on the sampled camera path of the real output.

Every rule runs on :func:`vidgen.motion.sample_path` at the output frame rate,
so it judges exactly the crops the renderer will draw. A finding names the
keyframe, the rule, the measured value, the limit and the worst frame; errors
exclude a keyframe from a batch, warnings do not.

Rules and their measures:

- ``duration``: ``rules.min_duration <= duration_sec <= rules.max_duration``.
- ``aspect``: start and end crops (in pixels) match the output aspect within
  ``rules.aspect_tolerance`` (relative).
- ``bounds``: every frame's crop lies inside the image.
- ``upscale``: output pixels per source pixel at the tightest frame;
  error above ``rules.max_upscale``, warning above ``rules.comfort_upscale``.
- ``pan_speed``: the crop centre's speed in crop widths (horizontal) and crop
  heights (vertical) per second, combined as a vector; error above
  ``rules.max_pan_speed`` (the plan: 20% of the frame width per second),
  warning above ``rules.comfort_pan_speed`` (7 s to cross the frame).
- ``zoom_rate``: ``|d ln(crop width) / dt|`` per second at the fastest frame.
  No published limit exists; 0.30/s (hard) lets a 2x zoom over 4 s with
  ease-in-out through (it peaks at 0.27/s) and 0.15/s (warning) matches the
  common 1.25x over 3 s once eased.
- ``easing``: eased progress is monotone and runs exactly from 0 to 1.
- ``type``: the rectangles agree with ``motion_type`` (warning only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from vidgen.motion import Motion, MotionType, PresetLimits, frame_count, progress, sample_path

__all__ = ["Finding", "RuleLimits", "check_motion", "has_errors"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class RuleLimits:
    """The configurable limits (``rules.*`` settings)."""

    max_pan_speed: float = 0.20
    comfort_pan_speed: float = 1 / 7
    max_zoom_rate: float = 0.30
    comfort_zoom_rate: float = 0.15
    max_upscale: float = 1.5
    comfort_upscale: float = 1.0
    min_duration: float = 4.0
    max_duration: float = 8.0
    aspect_tolerance: float = 0.01

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RuleLimits:
        return cls(**{name: config[f"rules.{name}"] for name in cls.__dataclass_fields__})

    def preset_limits(self) -> PresetLimits:
        """What presets aim at: the comfort limits, which sit inside the hard ones."""
        return PresetLimits(
            pan_speed=min(self.comfort_pan_speed, self.max_pan_speed),
            zoom_rate=min(self.comfort_zoom_rate, self.max_zoom_rate),
            upscale=max(1.0, min(self.comfort_upscale, self.max_upscale)),
        )


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one keyframe."""

    item: str
    rule: str
    severity: Severity
    message: str
    value: float | str | None = None
    limit: float | str | None = None
    frame: int | None = None

    def __str__(self) -> str:
        text = f"{self.item}: {self.severity} [{self.rule}] {self.message}"
        if self.value is not None:
            text += f" (value {_fmt(self.value)}"
            text += f", limit {_fmt(self.limit)})" if self.limit is not None else ")"
        if self.frame is not None:
            text += f" at frame {self.frame}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def check_motion(
    motion: Motion,
    *,
    image_size: tuple[int, int],
    output_size: tuple[int, int],
    fps: float,
    limits: RuleLimits,
    item: str,
) -> list[Finding]:
    """Every rule on ``motion`` for a keyframe of ``image_size`` rendered at ``output_size``."""
    found: list[Finding] = []

    def add(rule: str, severity: Severity, message: str, value: float | str | None = None,
            limit: float | str | None = None, frame: int | None = None) -> None:
        found.append(Finding(item, rule, severity, message, value, limit, frame))

    img_w, img_h = image_size
    out_w, out_h = output_size
    duration = motion.duration_sec
    if not limits.min_duration <= duration <= limits.max_duration:
        add("duration", "error", "duration outside the allowed range", duration,
            f"{limits.min_duration:g}-{limits.max_duration:g} s")

    aspect = out_w / out_h
    for name, (x1, y1, x2, y2) in (("start", motion.start), ("end", motion.end)):
        crop_aspect = (x2 - x1) * img_w / ((y2 - y1) * img_h)
        off = abs(crop_aspect / aspect - 1.0)
        if off > limits.aspect_tolerance:
            add("aspect", "error",
                f"{name} rectangle aspect {crop_aspect:.4f} differs from the output's "
                f"{aspect:.4f} ({out_w}x{out_h}) by {off:.1%}", round(off, 6),
                limits.aspect_tolerance)

    rects = sample_path(motion, image_size, frame_count(duration, fps))
    eps = 1e-6 * max(img_w, img_h)
    outside = np.maximum.reduce([
        -rects[:, 0], -rects[:, 1], rects[:, 2] - img_w, rects[:, 3] - img_h,
    ])
    worst = int(np.argmax(outside))
    if outside[worst] > eps:
        add("bounds", "error", f"crop leaves the image by {outside[worst]:.2f} px",
            float(outside[worst]), "0 px", worst)

    widths, heights = rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1]
    upscale = np.maximum(out_w / widths, out_h / heights)
    worst = int(np.argmax(upscale))
    value = float(upscale[worst])
    if value > limits.max_upscale + 1e-9:
        add("upscale", "error", f"the crop is {widths[worst]:.0f} px wide for a {out_w} px "
            "output: too much upscaling", round(value, 4), limits.max_upscale, worst)
    elif value > limits.comfort_upscale + 1e-9:
        add("upscale", "warning", "the crop is upscaled (softer picture)", round(value, 4),
            limits.comfort_upscale, worst)

    if len(rects) > 1:
        centres = (rects[:, :2] + rects[:, 2:]) / 2
        step = np.diff(centres, axis=0)
        mid_w, mid_h = (widths[1:] + widths[:-1]) / 2, (heights[1:] + heights[:-1]) / 2
        speed = np.hypot(step[:, 0] / mid_w, step[:, 1] / mid_h) * fps
        _rate_rule(add, "pan_speed", "pan", speed, limits.max_pan_speed,
                   limits.comfort_pan_speed, "of the frame per second")
        zoom = np.abs(np.diff(np.log(widths))) * fps
        _rate_rule(add, "zoom_rate", "zoom", zoom, limits.max_zoom_rate,
                   limits.comfort_zoom_rate, "change of the visible width per second")

    p = progress(motion.easing, np.linspace(0.0, 1.0, 1001))
    if np.any(np.diff(p) < -1e-12) or abs(p[0]) > 1e-12 or abs(p[-1] - 1.0) > 1e-12:
        add("easing", "error", "easing is not monotone from 0 to 1", motion.easing.value)

    _type_rule(add, motion)
    return found


def _rate_rule(add: Any, rule: str, what: str, rate: np.ndarray, hard: float, comfort: float,
               unit: str) -> None:
    worst = int(np.argmax(rate))
    value = float(rate[worst])
    if value > hard + 1e-9:
        add(rule, "error", f"{what} too fast: {value:.1%} {unit}", round(value, 5), hard,
            worst + 1)
    elif value > comfort + 1e-9:
        add(rule, "warning", f"{what} faster than comfortable: {value:.1%} {unit}",
            round(value, 5), round(comfort, 5), worst + 1)


def _type_rule(add: Any, motion: Motion) -> None:
    sx, ex = motion.start[2] - motion.start[0], motion.end[2] - motion.end[0]
    dx = (motion.end[0] + motion.end[2] - motion.start[0] - motion.start[2]) / 2
    dy = (motion.end[1] + motion.end[3] - motion.start[1] - motion.start[3]) / 2
    growth = math.log(ex / sx)
    kind = motion.motion_type
    expected = {
        MotionType.STATIC: max(abs(growth), abs(dx), abs(dy)) < 1e-6,
        MotionType.ZOOM_IN: growth < 0,
        MotionType.ZOOM_OUT: growth > 0,
        MotionType.PAN_LEFT: dx < 0,
        MotionType.PAN_RIGHT: dx > 0,
        MotionType.PAN_UP: dy < 0,
        MotionType.PAN_DOWN: dy > 0,
    }.get(kind, True)
    if not expected:
        add("type", "warning", f"the rectangles do not move as {kind.value!r} says",
            kind.value)
