"""The plan's two brightness rules, as QC checks.

- ``flash_frames``: a frame whose mean brightness (Rec. 709 luma of the 8-bit
  values, 0-255) differs from the previous frame's by more than
  ``qc.flash_swing`` (50%) of the previous value is a flash frame; the plan's
  target is zero. The denominator is floored at 10 (of 255) so that noise on a
  near-black frame is not a "flash".
- ``luma_change``: the same on mean relative luminance (linear light through
  the sRGB curve, 0-1, floored at 0.01) with ``qc.luma_change`` (30%): the
  plan's photosensitivity rule between consecutive frames.

Both read the analysis copy of the frame (means do not change with an area
downscale) and fail on any offending frame, listing the frames.
"""

from __future__ import annotations

from typing import Any

from vidgen.qc.base import CheckResult, Frame, QCCheck, QCContext, frame_ranges, register_check


class _SwingCheck(QCCheck):
    setting: str
    floor: float
    unit: str

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.limit = float(config[self.setting])
        self.previous: float | None = None
        self.worst = 0.0
        self.offenders: list[int] = []
        self.series: list[float] = []

    def measure(self, frame: Frame) -> float:
        raise NotImplementedError

    def update(self, frame: Frame) -> None:
        value = self.measure(frame)
        self.series.append(round(value, 5))
        if self.previous is not None:
            swing = abs(value - self.previous) / max(self.previous, self.floor)
            self.worst = max(self.worst, swing)
            if swing > self.limit:
                self.offenders.append(frame.index)
        self.previous = value

    def finish(self) -> CheckResult:
        values = {"max_swing": round(self.worst, 4), "limit": self.limit,
                  "count": len(self.offenders)}
        timeline = {self.unit: self.series}
        if not self.offenders:
            return CheckResult(self.name, "pass", values, timeline=timeline)
        reason = (f"{len(self.offenders)} frame(s) change {self.unit} by more than "
                  f"{self.limit * 100:g}% (worst {self.worst * 100:.3g}%): frames "
                  f"{frame_ranges(self.offenders)}")
        return CheckResult(self.name, "fail", values, [reason], self.offenders, timeline)


@register_check
class FlashFrames(_SwingCheck):
    """Frames whose mean brightness swings by more than ``qc.flash_swing``."""

    name = "flash_frames"
    setting = "qc.flash_swing"
    floor = 10.0
    unit = "mean brightness"

    def measure(self, frame: Frame) -> float:
        return float(frame.gray.mean())


@register_check
class LumaChange(_SwingCheck):
    """Frames whose mean relative luminance changes by more than ``qc.luma_change``."""

    name = "luma_change"
    setting = "qc.luma_change"
    floor = 0.01
    unit = "luminance"

    def measure(self, frame: Frame) -> float:
        return float(frame.luminance.mean())
