"""The plan's two brightness rules, as QC checks.

- ``flash_frames``: a frame whose mean brightness (Rec. 709 luma of the 8-bit
  values, 0-255) differs from the previous frame's by more than
  ``qc.flash_swing`` (50%) of the previous value is a flash frame; the plan's
  target is zero. The denominator is floored at 10 (of 255) so that noise on a
  near-black frame is not a "flash".
- ``luma_change``: the same on mean relative luminance (linear light through
  the sRGB curve, 0-1, floored at 0.01) with ``qc.luma_change`` (30%): the
  plan's photosensitivity rule between consecutive frames.

Both read a 4x-reduced frame (means are insensitive to it) and fail on any
offending frame, listing the frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from vidgen.qc.base import CheckResult, QCCheck, QCContext, register_check

_LINEAR = ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4
_LINEAR[: 11] = np.arange(11) / 255.0 / 12.92  # c <= 0.04045 (10/255 = 0.0392)
_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])


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

    def measure(self, small: NDArray[np.uint8]) -> float:
        raise NotImplementedError

    def update(self, frame: NDArray[np.uint8], index: int) -> None:
        value = self.measure(frame[::4, ::4])
        if self.previous is not None:
            swing = abs(value - self.previous) / max(self.previous, self.floor)
            self.worst = max(self.worst, swing)
            if swing > self.limit:
                self.offenders.append(index)
        self.previous = value

    def finish(self) -> CheckResult:
        values = {"max_swing": round(self.worst, 4), "limit": self.limit,
                  "count": len(self.offenders)}
        if not self.offenders:
            return CheckResult(self.name, "pass", values)
        shown = ", ".join(str(i) for i in self.offenders[:10])
        more = f" and {len(self.offenders) - 10} more" if len(self.offenders) > 10 else ""
        reason = (f"{len(self.offenders)} frame(s) change {self.unit} by more than "
                  f"{self.limit * 100:g}% (worst {self.worst * 100:.3g}%): frames {shown}{more}")
        return CheckResult(self.name, "fail", values, [reason], self.offenders)


@register_check
class FlashFrames(_SwingCheck):
    """Frames whose mean brightness swings by more than ``qc.flash_swing``."""

    name = "flash_frames"
    setting = "qc.flash_swing"
    floor = 10.0
    unit = "mean brightness"

    def measure(self, small: NDArray[np.uint8]) -> float:
        return float((small.reshape(-1, 3).mean(axis=0) * _WEIGHTS).sum())


@register_check
class LumaChange(_SwingCheck):
    """Frames whose mean relative luminance changes by more than ``qc.luma_change``."""

    name = "luma_change"
    setting = "qc.luma_change"
    floor = 0.01
    unit = "luminance"

    def measure(self, small: NDArray[np.uint8]) -> float:
        return float((_LINEAR[small].reshape(-1, 3).mean(axis=0) * _WEIGHTS).sum())
