"""Photosensitive flashes: WCAG 2.3.1 (three flashes) as EA's IRIS implements it.

The ``photosensitive_flashes`` check finds general (luminance) flashes and red
flashes that a person with photosensitive epilepsy should not see. Definitions,
with the settings that drive them and their defaults:

- **Relative luminance** of a pixel: ``Frame.luminance`` (8-bit sRGB through
  the IEC 61966-2-1 curve by a 256-entry table, then Rec. 709 weights), 0-1.
- **Red saturation** of a pixel, from linear RGB (``Frame.linear``, 0-1): if
  ``R / (R + G + B) >= 0.8`` then ``max(0, (R - G - B) * 320)``, else 0
  (:func:`red_saturation`; evaluated as ``0.2 R - 0.8 G - 0.8 B >= 0``, which is
  the same test without a division and gives 0 for black).
- **Frame value**: the mean over the frame of either quantity.
- **Area rule** (``qc.iris_area``, 0.25): the change from frame ``t - 1`` to
  frame ``t`` counts only if the pixels whose value changed (any change, in
  either direction, as IRIS's ``countNonZero`` of the difference) cover at least
  that share of the frame; the frame's change is then ``mean(t) - mean(t - 1)``
  over the whole frame, else 0. The share of changed pixels is what reasons
  quote as "over N% of the screen".
- **Transitions** (IRIS's accumulator, :class:`TransitionCounter`): successive
  changes of the same sign (0 counts as either) accumulate over at most one
  second of frames; a change of the other sign starts a new run. A transition is
  counted when the accumulated change reaches ``+-qc.iris_luminance_step`` (0.1)
  for luminance or ``+-qc.iris_red_step`` (20) for red, unless the run had
  already reached it before this frame; for luminance the darker state must also
  be below ``qc.iris_dark_max`` (0.8). A **flash** is a pair of opposing
  transitions.
- **Verdict per frame**, counted separately for luminance and red over the
  trailing one-second window: the frames whose timestamps lie less than 1 s
  before the frame, the frame included (:func:`window_frames`: ``ceil(fps)``
  frames at the video's real rate, so 24 at 23.976 fps and 30 at 30 fps). More
  than ``qc.iris_max_transitions`` (6, i.e. more than 3 flashes) transitions:
  **fail**. Otherwise, at least ``qc.iris_warn_transitions`` (4): **warn**
  (pass with warning); and if, within the trailing :data:`EXTENDED_WINDOW_SECONDS`
  (5 s) of frames, at least :data:`EXTENDED_SECONDS` (4 s) of frames had 4 to 6
  transitions, the frame is an **extended failure** (fail). The check's verdict is
  the worst frame's.

Interpretations, where the reference or IRIS left a choice:

- The frames are analysed at the analysis size (``Frame.small``, area-downscaled
  to at most ``qc.analysis_height`` lines, 360). Area shares and whole-frame
  means survive an area downscale, so the area rule and the frame values hold;
  only single pixels are blended with their neighbours.
- A pixel "changed" when its value differs at all, as in IRIS. On a still
  picture this confines the rule to the flashing region; in a moving or noisy
  video nearly every pixel differs, so the rule then always passes and the
  flash is judged on the frame mean alone (as IRIS does).
- The darker state is the darker of the state the accumulated run started from
  and the current frame (the two states the transition joins); IRIS compares
  the last two frames, which is the same for a one-frame transition and misses
  a gradual rise that starts below 0.8 and ends above it.
- Windows are counted at the real frame rate (IRIS truncates it to an integer);
  the extended rule needs at least ``4 * fps`` such frames (96 at 23.976 fps).
- Frame 0 has no change; its counts are 0.

Result: values ``max_luminance_transitions`` / ``max_red_transitions`` (most
transitions in any one-second window), ``luminance_flashes`` / ``red_flashes``
(opposing pairs over the clip), ``failing_frames`` and ``warning_frames``
(readable ranges), ``extended_failure`` and ``failed_rules`` (any of
``luminance``, ``luminance_extended``, ``red``, ``red_extended``); ``frames`` are
the failing frames; the per-frame ``timeline`` has ``luminance`` (mean relative
luminance), ``luminance_transitions`` and ``red_transitions`` (in the trailing
one-second window) and ``flash_state`` (0 pass, 1 warn, 2 fail).

Cost per frame: two matrix-vector products and a mask for red saturation, two
means and two change counts, on top of the shared ``Frame.linear`` and
``Frame.luminance``. Memory: the previous frame's two value planes, one second
of accumulated changes, five seconds of frame indices and the per-frame
timeline scalars.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.qc.base import (
    CheckResult,
    Frame,
    QCCheck,
    QCContext,
    Verdict,
    frame_ranges,
    register_check,
)

__all__ = [
    "EXTENDED_SECONDS",
    "EXTENDED_WINDOW_SECONDS",
    "RED_SCALE",
    "RED_SHARE",
    "PhotosensitiveFlashes",
    "TransitionCounter",
    "red_saturation",
    "window_frames",
]

#: A pixel is saturated red when red is at least this share of R + G + B (linear).
RED_SHARE = 0.8
#: Red saturation is ``(R - G - B)`` times this (IRIS; 20 then marks a transition).
RED_SCALE = 320.0
#: Extended failure: 4-6 transitions a second for this long ...
EXTENDED_SECONDS = 4.0
#: ... within this long.
EXTENDED_WINDOW_SECONDS = 5.0
#: Reasons listed per rule before the rest are summed up.
MAX_REASONS = 5

_RED_VALUE = np.array([RED_SCALE, -RED_SCALE, -RED_SCALE], dtype=np.float32)
_RED_TEST = np.array([1.0 - RED_SHARE, -RED_SHARE, -RED_SHARE], dtype=np.float32)
_PASS, _WARN, _FAIL, _EXTENDED = 0, 1, 2, 3


def red_saturation(linear: NDArray[np.float32]) -> NDArray[np.float32]:
    """Red saturation per pixel (IRIS): ``(R - G - B) * 320`` where ``R / (R + G + B) >= 0.8``.

    Args:
        linear: Linear-light RGB, ``(..., 3)`` float32 in 0-1.

    Returns:
        The per-pixel values, float32, 0 for pixels that are not saturated red.
    """
    value: NDArray[np.float32] = linear @ _RED_VALUE
    value *= (linear @ _RED_TEST) >= 0
    return value


def window_frames(fps: float, seconds: float = 1.0) -> int:
    """How many frames a trailing window of ``seconds`` holds at ``fps``, the current included.

    Frame ``k`` is in frame ``t``'s window when ``(t - k) / fps < seconds``: 24
    frames for one second at 23.976 or 24 fps, 30 at 29.97 or 30 fps.
    """
    return max(1, math.ceil(seconds * fps - 1e-6))


def _same_sign(a: float, b: float) -> bool:
    """IRIS's test: 0 has both signs (a trend that has not changed)."""
    return (a <= 0 and b <= 0) or (a >= 0 and b >= 0)


class TransitionCounter:
    """IRIS's transition accumulator for one quantity (mean luminance or red saturation).

    Args:
        step: Accumulated change that makes a transition.
        dark_max: The darker state must be below this (``inf``: no condition).
        window: Most changes one run accumulates (one second of frames).
    """

    def __init__(self, step: float, dark_max: float, window: int) -> None:
        self.step = step
        self.dark_max = dark_max
        self.run: deque[tuple[float, float]] = deque(maxlen=window)  # (change, mean before)
        self.total = 0.0

    def push(self, change: float, before: float, after: float) -> int:
        """Take one frame's (area-gated) change.

        Args:
            change: The frame's change, 0 when the area rule did not let it count.
            before: The previous frame's mean.
            after: This frame's mean.

        Returns:
            ``+1`` or ``-1`` for a new rising or falling transition, else 0.
        """
        previous = self.total
        if not _same_sign(previous, change):
            self.run.clear()
        self.run.append((change, before))  # a full run drops its oldest change
        self.total = math.fsum(c for c, _ in self.run)
        if _same_sign(previous, self.total) and abs(previous) >= self.step:
            return 0  # this run's transition was already counted
        darker = min(self.run[0][1], after)
        if abs(self.total) >= self.step and darker < self.dark_max:
            return 1 if self.total > 0 else -1
        return 0


@dataclass
class _Kind:
    """The per-frame record of one rule (luminance or red)."""

    label: str
    counter: TransitionCounter
    window: int
    extended_window: int
    extended_frames: float
    warn: int
    limit: int
    recent: deque[int] = field(default_factory=deque)  # frames of transitions, last second
    sustained: deque[int] = field(default_factory=deque)  # frames with warn..limit, last 5 s
    counts: list[int] = field(default_factory=list)
    states: list[int] = field(default_factory=list)
    signs: list[int] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)
    pending: int = 0
    flashes: int = 0

    def record(self, index: int, sign: int, area: float) -> None:
        """Count frame ``index``'s transition (``sign``) and give the frame its state."""
        if sign:
            self.recent.append(index)
            if self.pending == -sign:
                self.flashes += 1
                self.pending = 0
            else:
                self.pending = sign
        while self.recent and index - self.recent[0] >= self.window:
            self.recent.popleft()
        count = len(self.recent)
        if self.warn <= count <= self.limit:
            self.sustained.append(index)
        while self.sustained and index - self.sustained[0] >= self.extended_window:
            self.sustained.popleft()
        if count > self.limit:
            state = _FAIL
        elif count >= self.warn and len(self.sustained) >= self.extended_frames:
            state = _EXTENDED
        elif count >= self.warn:
            state = _WARN
        else:
            state = _PASS
        self.counts.append(count)
        self.states.append(state)
        self.signs.append(sign)
        self.areas.append(area)

    def area_share(self, first: int, last: int) -> float:
        """Mean changed-pixel share of the transitions that count for frames first..last."""
        start = max(0, first - self.window + 1)
        shares = [a for a, s in zip(self.areas[start:last + 1], self.signs[start:last + 1],
                                    strict=True) if s]
        return sum(shares) / len(shares) if shares else 0.0


def _runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted frame indices as (first, last)."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _span(first: int, last: int) -> str:
    return f"frame {first}" if first == last else f"frames {first}-{last}"


@register_check
class PhotosensitiveFlashes(QCCheck):
    """WCAG 2.3.1 luminance and red flashes (IRIS's rules) over one-second windows."""

    name = "photosensitive_flashes"

    def __init__(self, config: Mapping[str, Any], context: QCContext) -> None:
        super().__init__(config, context)
        self.area = float(config["qc.iris_area"])
        fps = float(context.fps) if context.fps > 0 else 1.0
        window = window_frames(fps)
        common: dict[str, Any] = {
            "window": window,
            "extended_window": window_frames(fps, EXTENDED_WINDOW_SECONDS),
            "extended_frames": EXTENDED_SECONDS * fps - 1e-6,
            "warn": int(config["qc.iris_warn_transitions"]),
            "limit": int(config["qc.iris_max_transitions"]),
        }
        self.luminance = _Kind("luminance", TransitionCounter(
            float(config["qc.iris_luminance_step"]), float(config["qc.iris_dark_max"]), window),
            **common)
        self.red = _Kind("red", TransitionCounter(float(config["qc.iris_red_step"]), math.inf,
                                                  window), **common)
        self.means: list[float] = []
        self.previous: tuple[NDArray[np.float32], float, NDArray[np.float32], float] | None = None

    def update(self, frame: Frame) -> None:
        luminance = frame.luminance
        red = red_saturation(frame.linear)
        mean = float(cv2.mean(luminance)[0])
        red_mean = float(cv2.mean(red)[0])
        self.means.append(round(mean, 5))
        if self.previous is None:
            self.luminance.record(frame.index, 0, 0.0)
            self.red.record(frame.index, 0, 0.0)
        else:
            last, last_mean, last_red, last_red_mean = self.previous
            pixels = luminance.size
            for kind, now, before, value, value_before in (
                    (self.luminance, luminance, last, mean, last_mean),
                    (self.red, red, last_red, red_mean, last_red_mean)):
                share = np.count_nonzero(now != before) / pixels
                change = value - value_before if share >= self.area else 0.0
                sign = kind.counter.push(change, value_before, value)
                kind.record(frame.index, sign, share)
        self.previous = (luminance, mean, red, red_mean)

    def finish(self) -> CheckResult:
        kinds = (self.luminance, self.red)
        states = [max(min(s, _FAIL) for s in per_frame)
                  for per_frame in zip(*(k.states for k in kinds), strict=True)]
        failing = [i for i, s in enumerate(states) if s == _FAIL]
        warning = [i for i, s in enumerate(states) if s == _WARN]
        failed_rules = [rule for kind in kinds for rule, code in
                        ((kind.label, _FAIL), (f"{kind.label}_extended", _EXTENDED))
                        if code in kind.states]
        values: dict[str, Any] = {
            "max_luminance_transitions": max(self.luminance.counts, default=0),
            "max_red_transitions": max(self.red.counts, default=0),
            "luminance_flashes": self.luminance.flashes,
            "red_flashes": self.red.flashes,
            "luminance_transitions": sum(1 for s in self.luminance.signs if s),
            "red_transitions": sum(1 for s in self.red.signs if s),
            "failing_frames": frame_ranges(failing),
            "warning_frames": frame_ranges(warning),
            "extended_failure": any(r.endswith("_extended") for r in failed_rules),
            "failed_rules": failed_rules,
            "window_frames": self.luminance.window,
        }
        timeline = {
            "luminance": self.means,
            "luminance_transitions": [float(c) for c in self.luminance.counts],
            "red_transitions": [float(c) for c in self.red.counts],
            "flash_state": [float(s) for s in states],
        }
        verdict: Verdict
        if failing:
            verdict = "fail"
            reasons = [r for kind in kinds for code in (_FAIL, _EXTENDED)
                       for r in self._reasons(kind, code)]
        elif warning:
            verdict = "warn"
            reasons = [r for kind in kinds for r in self._reasons(kind, _WARN)]
        else:
            verdict, reasons = "pass", []
        return CheckResult(self.name, verdict, values, reasons, failing, timeline)

    def _reasons(self, kind: _Kind, code: int) -> list[str]:
        runs = _runs(i for i, s in enumerate(kind.states) if s == code)
        what = "luminance" if kind is self.luminance else "red"
        remedy = ("soften the contrast" if kind is self.luminance
                  else "desaturate the red")
        reasons: list[str] = []
        for first, last in runs[:MAX_REASONS]:
            counts = kind.counts[first:last + 1]
            most, least = max(counts), min(counts)
            area = kind.area_share(first, last)
            where = f"over {area:.0%} of the screen"
            if code == _FAIL:
                reasons.append(
                    f"{_span(first, last)}: {most / 2:g} {what} flashes in 1 s ({most} "
                    f"transitions; more than {kind.limit} fails) {where}: slow them to at "
                    f"most {kind.limit / 2:g} a second, shrink them below {self.area:.0%} of "
                    f"the screen or {remedy}")
            elif code == _EXTENDED:
                flashes = (f"{most / 2:g}" if least == most
                           else f"{least / 2:g}-{most / 2:g}")
                transitions = f"{most}" if least == most else f"{least}-{most}"
                reasons.append(
                    f"{_span(first, last)}: extended failure: {flashes} {what} flashes a "
                    f"second ({transitions} transitions; {kind.warn}-{kind.limit} warn) "
                    f"sustained for "
                    f"{EXTENDED_SECONDS:g} s within {EXTENDED_WINDOW_SECONDS:g} s {where}: "
                    f"shorten the flashing sequence or {remedy}")
            else:
                reasons.append(
                    f"{_span(first, last)}: {most / 2:g} {what} flashes in 1 s ({most} "
                    f"transitions; {kind.warn}-{kind.limit} warn, and fail if sustained "
                    f"{EXTENDED_SECONDS:g} s within {EXTENDED_WINDOW_SECONDS:g} s) {where}")
        if len(runs) > MAX_REASONS:
            spans = frame_ranges(i for first, last in runs[MAX_REASONS:]
                                 for i in range(first, last + 1))
            reasons.append(f"also {what} frames {spans}")
        return reasons
