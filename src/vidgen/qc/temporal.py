"""Temporal checks: flicker, brightness drift and freezes.

``flicker``
    VBench's temporal flickering score is ``(255 - mean_i mean|F_i - F_{i+1}|) /
    255`` on 8-bit frames. VBench computes it only on videos it judged static,
    because any motion lowers it: camera renders of the bundled keyframes (720p,
    zooms and pans at intensity 0.5-1) score 0.962-0.995, 10 of 25 under the
    0.98 threshold, with no flicker at all. So the verdict uses a motion-robust
    variant (0.9956-0.9996 on the same renders), and the plain score stays in
    ``values["vbench_score"]`` for reference (on the analysis copy's RGB, where
    the area reduction averages away some noise that full-size frames count):

    - each frame's analysis copy is area-reduced to a coarse grid of
      :data:`FLICKER_GRID_LINES` (24) lines, RGB, width to the aspect
      (15 x 15-pixel blocks at 360 lines): brightness or colour pumping of the
      whole frame or of a region survives, camera and subject motion mostly
      stays inside a block;
    - per frame, the temporal second difference ``r_t = mean|B_t - (B_{t-1} +
      B_{t+1}) / 2|`` (0-255): smooth motion largely cancels (a constant-speed
      change is exactly linear in time), an alternating +-a flicker gives
      ``2a``;
    - ``score = 1 - mean_t r_t / 255`` (1 = none, VBench's scale). Warn below
      ``qc.flicker_min`` (default 0.98, i.e. a mean residual of 5.1 levels or a
      +-2.55-level alternation); the reason lists frames whose own residual
      exceeds that level.

    Calibration: camera renders of four bundled keyframes at 720p, motions at
    intensity 1 with the *hard* limits (pan 0.2 widths/s, zoom 0.3/s, upscale
    1.5), score 0.993-0.998 (worst frame residual 3.5 levels); at 45 lines
    (8-pixel blocks) the worst was 0.986, at pixel level 0.972. Texture
    shimmer finer than a block ("pixel rain") is deliberately not measured
    here: motion-compensated temporal variance and noise checks cover it.

``brightness_drift``
    Mean luma (Rec. 709 weights on the 8-bit codes, 0-255) per frame. When the
    context has the keyframe and motion, each frame's value is divided by the
    keyframe's mean luma inside that frame's crop (and multiplied by frame 0's),
    so a pan from shadow to sky does not count: camera renders of the bundled
    keyframes change raw mean luma by up to 26% but stay within 0.5% corrected
    (also after H.264 at CRF 18 and 28).
    Then:

    - ``total`` = (median of the last window - median of the first window) /
      the first (floored at 10 levels); windows of 0.5 s (at most a quarter of
      the clip), so one flash frame, or a few, moves nothing;
    - ``slope`` = least-squares slope over time of the corrected series after a
      running median of the same 0.5 s (flashes gone), relative to the first
      window's level, per second; ``line_change`` = slope x duration;
    - drift (fail) when ``|total| > qc.drift_max`` (default 0.15) *and* the
      change is steady: the line has the same sign and explains at least
      :data:`DRIFT_STEADY` (0.5) of the smoothed series' variance (R^2). On
      +30-40% test shapes: a ramp R^2 1.0 (0.98 with noise, 1.0 with three
      flash frames), an exponential creep 1.0, a rise to overexposure that then
      stays 0.66, a lasting step at mid-clip 0.75 all count; a V (down then up)
      0.17, a dip 0.05, alternation 0.05, random swings 0.02 do not, nor does a
      step at 10% of the clip (0.28; abrupt steps are the flash, luminance and
      colour drift checks' to report).

``freeze``
    ffmpeg ``freezedetect`` on the analysis copy: MAFD = mean |difference| over
    its three RGB planes / 255 (ffmpeg: the YUV planes at full size; the area
    reduction averages some noise away) of each frame against the last frame
    that was *not* frozen (so slow motion accumulates and breaks the freeze); a
    frame with MAFD <= ``qc.freeze_mafd`` (default 0.001, ffmpeg's) repeats
    that reference. A run of repeats lasting >= ``qc.freeze_min_sec`` (default
    0.5 s; ffmpeg's 2 s is for long videos) fails, listing the repeated frames;
    repeats covering the whole clip make a *static video*. The run's duration is its repeats /
    fps, ffmpeg's pts difference. Calibration: camera renders of the bundled
    keyframes with ease-in-out motions at intensity 0.05 have runs of at most 9
    frames (0.38 s) where the motion starts and stops; from intensity 0.2 at
    most 4 frames.

    A shot whose camera motion is ``static`` is legitimately frozen when the
    camera backend renders it (nothing moves but the camera): then the check
    warns at most. If the context names the backend (``QCContext.backend``,
    set by the pipeline) and it is not ``camera``, a freeze fails
    as usual, since a generative model should animate even under a still camera.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.motion import MotionType
from vidgen.qc.base import (
    REC709,
    CheckResult,
    Frame,
    QCCheck,
    QCContext,
    Verdict,
    frame_ranges,
    register_check,
)
from vidgen.qc.colour import path_means

__all__ = ["BrightnessDrift", "Flicker", "Freeze"]

#: Lines of the coarse grid the flicker residual is measured on.
FLICKER_GRID_LINES = 24
#: Brightness drift windows (seconds) at the start and end of the clip.
DRIFT_WINDOW_SEC = 0.5
#: The fitted line must explain at least this share (R^2) of the smoothed series' variance.
DRIFT_STEADY = 0.5
#: Mean luma below which relative changes are taken against this floor (0-255).
LUMA_FLOOR = 10.0


def _running_median(series: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Median of each ``width``-sample window (odd), the ends padded with the end values."""
    width = max(1, min(width, len(series) - (1 - len(series) % 2)))
    padded = np.pad(series, width // 2, mode="edge")
    return np.asarray(np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1))


@register_check
class Flicker(QCCheck):
    """Motion-robust temporal flickering score (VBench's scale; the plain score in values)."""

    name = "flicker"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.limit = float(config["qc.flicker_min"])
        width, height = context.analysis_size
        lines = min(FLICKER_GRID_LINES, height)
        self.grid = (max(1, min(width, round(width * lines / height))), lines)
        self.coarse: deque[NDArray[np.float32]] = deque(maxlen=2)
        self.previous: NDArray[np.uint8] | None = None
        self.plain: list[float] = []
        self.residuals: list[float] = []

    def update(self, frame: Frame) -> None:
        small = frame.small
        if self.previous is not None:
            self.plain.append(float(cv2.norm(small, self.previous, cv2.NORM_L1)) / small.size)
        self.previous = small
        coarse = cv2.resize(small, self.grid, interpolation=cv2.INTER_AREA).astype(np.float32)
        if len(self.coarse) == 2:
            middle = (self.coarse[0] + coarse) * 0.5
            residual = float(cv2.norm(self.coarse[1], middle, cv2.NORM_L1)) / coarse.size
            self.residuals.append(residual)
        self.coarse.append(coarse)

    def finish(self) -> CheckResult:
        vbench = 1.0 - float(np.mean(self.plain)) / 255.0 if self.plain else 1.0
        values: dict[str, Any] = {"score": 1.0, "vbench_score": round(vbench, 5),
                                  "limit": self.limit, "grid": list(self.grid)}
        if not self.residuals:
            return CheckResult(self.name, "pass", values,
                               ["fewer than 3 frames: no flicker measured"])
        residuals = np.array(self.residuals)
        score = 1.0 - float(residuals.mean()) / 255.0
        worst = int(np.argmax(residuals))
        values.update(score=round(score, 5), max_residual=round(float(residuals[worst]), 3),
                      max_frame=worst + 1)
        timeline = {"residual": [0.0, *(round(float(r), 3) for r in residuals), 0.0]}
        if score >= self.limit:
            return CheckResult(self.name, "pass", values, timeline=timeline)
        level = (1.0 - self.limit) * 255.0
        offenders = [int(i) + 1 for i in np.flatnonzero(residuals > level)]
        reason = (f"flicker score {score:.4f} is below {self.limit:g}: frames differ from the "
                  f"average of their neighbours by {residuals.mean():.2f} levels of 255 on "
                  f"average, coarse-grid brightness and colour (VBench's plain score "
                  f"{vbench:.4f})")
        if offenders:
            reason += f"; frames alternating by more than {level:.2g} levels: " \
                      f"{frame_ranges(offenders)}"
        return CheckResult(self.name, "warn", values, [reason], offenders, timeline)


@register_check
class BrightnessDrift(QCCheck):
    """A steady rise or fall of mean brightness over the clip (progressive over-exposure)."""

    name = "brightness_drift"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.limit = float(config["qc.drift_max"])
        self.luma: list[float] = []

    def update(self, frame: Frame) -> None:
        self.luma.append(float(cv2.mean(frame.gray)[0]))

    def _expected(self, count: int) -> NDArray[np.float64] | None:
        keyframe, motion = self.context.keyframe, self.context.motion
        if keyframe is None or motion is None:
            return None

        def luma(image: NDArray[np.uint8]) -> NDArray[np.float32]:
            return np.asarray(image.astype(np.float32) @ REC709)

        return path_means(keyframe, motion, count, luma)[:, 0]

    def finish(self) -> CheckResult:
        count, fps = len(self.luma), self.context.fps
        values: dict[str, Any] = {"limit": self.limit}
        if count < 2:
            return CheckResult(self.name, "pass", values, ["fewer than 2 frames"])
        luma = np.array(self.luma)
        expected = self._expected(count)
        corrected = luma
        if expected is not None:
            floored = np.maximum(expected, LUMA_FLOOR)
            corrected = luma * floored[0] / floored
        window = max(1, min(round(DRIFT_WINDOW_SEC * fps), count // 4))
        start = float(np.median(corrected[:window]))
        end = float(np.median(corrected[-window:]))
        base = max(start, LUMA_FLOOR)
        total = (end - start) / base
        raw_total = (float(np.median(luma[-window:])) - float(np.median(luma[:window]))) / \
            max(float(np.median(luma[:window])), LUMA_FLOOR)
        smooth = _running_median(corrected / base, 2 * (window // 2) + 1)
        seconds = np.arange(count) / fps
        slope, intercept = (float(v) for v in np.polyfit(seconds, smooth, 1))
        spread = float(((smooth - smooth.mean()) ** 2).sum())
        fit = 1.0 - float(((smooth - (slope * seconds + intercept)) ** 2).sum()) / spread \
            if spread > 0 else 0.0
        line_change = slope * (count - 1) / fps
        steady = total * slope > 0 and fit >= DRIFT_STEADY
        values.update(total_change=round(total, 4), slope_per_sec=round(slope, 5),
                      line_change=round(line_change, 4), r2=round(fit, 3),
                      raw_total_change=round(raw_total, 4),
                      start_level=round(start, 2), end_level=round(end, 2),
                      compensated=expected is not None, steady=bool(steady))
        timeline = {"luma": [round(float(v), 3) for v in luma]}
        if expected is not None:
            timeline["corrected"] = [round(float(v), 3) for v in corrected]
        if abs(total) <= self.limit or not steady:
            return CheckResult(self.name, "pass", values, timeline=timeline)
        direction = "rises" if total > 0 else "falls"
        what = "mean brightness (corrected for the camera's crop of the keyframe)" \
            if expected is not None else "mean brightness"
        offenders = [int(i) for i in np.flatnonzero(np.abs(corrected - start) / base > self.limit)]
        reason = (f"{what} {direction} steadily by {abs(total) * 100:.3g}% (more than "
                  f"{self.limit * 100:g}%), from {start:.1f} (frames 0-{window - 1}) to {end:.1f} "
                  f"(frames {count - window}-{count - 1}) of 255, {slope * 100:+.3g}%/s; "
                  f"frames beyond {self.limit * 100:g}% of the start: {frame_ranges(offenders)}")
        return CheckResult(self.name, "fail", values, [reason], offenders, timeline)


@register_check
class Freeze(QCCheck):
    """ffmpeg freezedetect: frames repeating the last moving frame for too long."""

    name = "freeze"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.threshold = float(config["qc.freeze_mafd"])
        self.min_sec = float(config["qc.freeze_min_sec"])
        self.reference: NDArray[np.uint8] | None = None
        self.reference_index = 0
        self.mafd: list[float] = []
        #: First and last repeat of the current run, if one is open.
        self.run: tuple[int, int] | None = None
        #: (reference frame, first repeat, last repeat) of every run of repeats.
        self.runs: list[tuple[int, int, int]] = []
        self.count = 0

    def update(self, frame: Frame) -> None:
        small = frame.small
        self.count = frame.index + 1
        if self.reference is None:
            self.reference, self.reference_index = small, frame.index
            self.mafd.append(0.0)
            return
        mafd = float(cv2.norm(small, self.reference, cv2.NORM_L1)) / (small.size * 255.0)
        self.mafd.append(mafd)
        if mafd <= self.threshold:
            self.run = (self.run[0] if self.run else frame.index, frame.index)
            return
        self._close()
        self.reference, self.reference_index = small, frame.index

    def _close(self) -> None:
        if self.run is not None:
            self.runs.append((self.reference_index, *self.run))
            self.run = None

    def _legitimate(self) -> str | None:
        """Why a freeze is expected here (a static camera shot by the camera backend), if so."""
        motion = self.context.motion
        if motion is None or motion.motion_type != MotionType.STATIC:
            return None
        backend = self.context.backend
        if backend is not None and backend != "camera":
            return None
        return ("the shot's camera motion is static, so the camera backend renders a still "
                "image; from a generative model this would be a static-video failure")

    def finish(self) -> CheckResult:
        self._close()
        fps = self.context.fps
        frozen = [r for r in self.runs if (r[2] - r[1] + 1) / fps >= self.min_sec]
        repeats = [i for _, first, last in frozen for i in range(first, last + 1)]
        static = self.count > 1 and len(repeats) == self.count - 1
        values: dict[str, Any] = {
            "frozen_frames": len(repeats), "frozen_sec": round(len(repeats) / fps, 3),
            "runs": [[first, last] for _, first, last in frozen], "static": static,
            "threshold": self.threshold, "min_sec": self.min_sec,
            "min_mafd": round(min(self.mafd[1:], default=0.0), 6),
        }
        timeline = {"mafd": [round(v, 6) for v in self.mafd]}
        if not frozen:
            return CheckResult(self.name, "pass", values, timeline=timeline)
        if static:
            reasons = [f"static video: every frame repeats frame 0 (MAFD <= {self.threshold:g} "
                       f"for {(self.count - 1) / fps:.2f} s)"]
        else:
            reasons = [f"frames {first}-{last} ({(last - first + 1) / fps:.2f} s) repeat frame "
                       f"{reference} (MAFD <= {self.threshold:g}, at least {self.min_sec:g} s)"
                       for reference, first, last in frozen]
        verdict: Verdict = "fail"
        why = self._legitimate()
        if why is not None:
            verdict = "warn"
            reasons.append(f"warning only: {why}")
        return CheckResult(self.name, verdict, values, reasons, repeats, timeline)
