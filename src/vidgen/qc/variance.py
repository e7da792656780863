"""Temporal variance: how much the picture changes from frame to frame (lower is smoother).

The plan's named smoothness figure for the model shootout table, as the
``temporal_variance`` check. Definitions and defaults:

- **Pair figure**: for each consecutive pair of frames ``(t - 1, t)``, the
  standard deviation over the pixels of ``gray(t) - gray(t - 1)``, where
  ``gray`` is ``Frame.gray`` (Rec. 709 luma of the 8-bit values, 0-255) of the
  analysis copy (area-downscaled to at most ``qc.analysis_height`` lines, 360).
  It is in 8-bit levels. A uniform brightness change has no spread and adds
  nothing; independent per-pixel noise of standard deviation ``s`` in every
  frame gives about ``s * sqrt(2)``.
- **Clip figure**: the mean of the pair figures; the largest is reported too.
- **Verdict**: warn when the mean exceeds ``qc.temporal_variance_max`` (25.0),
  otherwise pass. The check never fails: it is a figure for comparing models,
  not a defect on its own.

The figure is raw: no motion compensation. Camera motion (a pan, a zoom) moves
edges and texture across pixels and raises it with the speed of the motion and
the amount of detail, so compare it between videos of the same motion; the raw
figure is what the plan's shootout table reports. Area downscaling averages
noise away, so a 720p clip's sensor-like noise reads about half its full-size
value at 360 lines.

Values: ``mean``, ``max`` (and ``max_frame``, the second frame of the worst
pair), ``limit`` and ``pairs``. The per-frame ``timeline`` series ``temporal_std``
holds at frame ``t`` the figure of the pair ``(t - 1, t)``, 0 at frame 0.
``frames`` lists the frames whose pair exceeds the limit when the check warns.
Memory: the previous frame's luma plane and one scalar per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.qc.base import CheckResult, Frame, QCCheck, QCContext, frame_ranges, register_check

__all__ = ["TemporalVariance", "change_std"]


def change_std(current: NDArray[np.float32], previous: NDArray[np.float32]) -> float:
    """Standard deviation over the pixels of ``current - previous`` (population, ddof 0)."""
    difference = cv2.subtract(current, previous)
    _, std = cv2.meanStdDev(difference)
    return float(std[0, 0])


@register_check
class TemporalVariance(QCCheck):
    """Std of the frame-to-frame luma change, averaged over the clip; warns above a limit."""

    name = "temporal_variance"

    def __init__(self, config: Mapping[str, Any], context: QCContext) -> None:
        super().__init__(config, context)
        self.limit = float(config["qc.temporal_variance_max"])
        self.previous: NDArray[np.float32] | None = None
        self.series: list[float] = []

    def update(self, frame: Frame) -> None:
        gray = frame.gray
        self.series.append(0.0 if self.previous is None else change_std(gray, self.previous))
        self.previous = gray

    def finish(self) -> CheckResult:
        pairs = self.series[1:]
        mean = sum(pairs) / len(pairs) if pairs else 0.0
        worst = max(pairs, default=0.0)
        values: dict[str, Any] = {
            "mean": round(mean, 4),
            "max": round(worst, 4),
            "max_frame": self.series.index(worst) if pairs else None,
            "limit": self.limit,
            "pairs": len(pairs),
        }
        timeline = {"temporal_std": [round(v, 4) for v in self.series]}
        if mean <= self.limit:
            return CheckResult(self.name, "pass", values, timeline=timeline)
        above = [i for i, v in enumerate(self.series) if i > 0 and v > self.limit]
        reason = (f"frame-to-frame change has a mean spread of {mean:.3g} levels (std of the "
                  f"luma difference), above {self.limit:g}; worst {worst:.3g} into frame "
                  f"{values['max_frame']}; pairs above the limit end at frames "
                  f"{frame_ranges(above)}: the video is jittery or noisy, or its camera moves "
                  f"fast over detail (compare against a smooth render of the same motion)")
        return CheckResult(self.name, "warn", values, [reason], above, timeline)
