"""Sharpness collapse: the variance of the Laplacian, relative to frame 0.

Definitions:

- **Sharpness** ``L`` of a frame: the variance of ``cv2.Laplacian`` (3x3,
  4-neighbour kernel, float32, reflected borders) of the analysis luma
  (``Frame.gray``: Rec. 709 luma, 0-255, of the copy area-downscaled to
  ``qc.analysis_height`` lines) area-downscaled :data:`SCALE` (4) more times:
  160x90 for the 640x360 copy of a 720p frame.
- **Coarse structure** ``C``: the same variance one octave lower, :data:`COARSE`
  (8) times below the analysis copy (80x45 for 720p). A blur of a pixel or two
  of the sharpness copy barely touches it; what is in view (texture or sky) does.
- **Ratio** of frame ``i``: ``L_i / L_0``; **coarse ratio**: ``C_i / C_0``. An
  absolute threshold (the common "100") depends on resolution and content; the
  drop from the first frame (the keyframe itself for a vidgen shot) does not.
- A frame **fails** when its ratio is below ``qc.blur_drop`` (default 0.5)
  times its coarse ratio clamped to [:data:`EXCUSE`, 1] (0.35-1): when less
  structure is in view, less detail is expected, but content excuses at most a
  drop to 0.35 of frame 0's, so a frame blurred into mush (where the coarse
  structure goes too) still fails; more structure never raises the bar. The
  check lists failing frames as ranges.
- If frame 0 has no detail (``L_0`` below :data:`FLAT`: a fade from black, a
  flat colour) there is nothing to lose: the check passes and says it was
  skipped.

Why two octaves below the analysis size: the finest octaves are where
legitimate video differs most from frame to frame. An encoder keeps more of
them in the first (intra) frame than in predicted ones; a zoom in crops an
ever smaller part of the keyframe into the same output, so the keyframe's own
softness at its pixel scale, or crop upscaling, shows more and more (and the
renderer's area pyramid changes level); a zoom out does the opposite and
sharpens. Camera renders of the example keyframes at the presets' comfort
limits (at 1280x720, 640x360, 384x216 and 256x360, from the keyframes as given
and cubic-upscaled 2x, intensity 0.8, H.264 CRF 20: 184 clips) measured at the
analysis size fell to 0.21 of what is allowed and 24 failed; one octave down 2
failed; two octaves down (this check) none, nor at intensity 1 (lossless or
CRF 28), the closest at 1.3x its allowance. The price: a Gaussian blur fails
from sigma 1.5-2 analysis pixels (3-4 at 720p) on a sharp frame, 3-6 on a soft
one, not at the first visible softening (0.5-1): this is a collapse detector,
and a generator melting into mush fails at once.

Why the coarse term: ``L`` alone also measures *what* is in view. A pan from a
detailed region onto sky lowers it with no loss of sharpness: without the term
13 of those 184 renders failed (pans and zooms, down to 0.28); the coarse
structure falls with it. Why 0.5 leaves room for camera moves: what is left of
the legitimate drop (a zoom in over a soft or upscaled keyframe, the encoder's
predicted frames) keeps every comfort render above 1.3x its allowance. Past
the comfort limits (the hard 1.5x upscale), 1 of 224 renders failed: output
that soft is what the rules already warn about.

Values: the lowest ratio and its frame, frame 0's sharpness, the limit and the
number of failing frames. Timeline: the per-frame ``ratio`` and ``coarse``
ratio. Cost: about 0.2 ms a frame at 720p (two exact box downscales, two
small Laplacians).
"""

from __future__ import annotations

from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.qc.base import CheckResult, Frame, QCCheck, QCContext, frame_ranges, register_check

__all__ = [
    "COARSE", "EXCUSE", "FLAT", "SCALE", "SharpnessCollapse", "laplacian_variance", "reduce",
    "sharpness",
]

#: Laplacian variance (8-bit levels squared, at :data:`SCALE`) below which there is no detail.
FLAT = 1.0
#: Downscale factor, from the analysis copy, of the copy sharpness is measured on.
SCALE = 4
#: Downscale factor, from the analysis copy, of the coarse-structure copy.
COARSE = 8
#: Fewest pixels a side of a reduced copy: smaller frames are reduced less.
_MIN_SIDE = 8
#: Content can excuse a fall of the sharpness to at most this fraction of frame 0's.
EXCUSE = 0.35


def laplacian_variance(gray: NDArray[np.float32]) -> float:
    """Variance of the 3x3 Laplacian of a float32 luma image (0-255)."""
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    return float(std[0, 0]) ** 2


def reduce(gray: NDArray[np.float32], factor: int) -> NDArray[np.float32]:
    """``gray`` area-downscaled by a whole ``factor`` (less if it would leave under 8 pixels)."""
    height, width = gray.shape[:2]
    factor = max(1, min(factor, height // _MIN_SIDE, width // _MIN_SIDE))
    if factor == 1:
        return gray
    height, width = height // factor, width // factor
    # Whole multiples of the factor keep OpenCV on its fast, exact box-filter path.
    return cast(NDArray[np.float32], cv2.resize(gray[: height * factor, : width * factor],
                                                (width, height), interpolation=cv2.INTER_AREA))


def sharpness(gray: NDArray[np.float32]) -> tuple[float, float]:
    """``(L, C)`` of an analysis luma image: the Laplacian variance at SCALE and at COARSE."""
    fine = reduce(gray, SCALE)
    factor = max(1, gray.shape[0] // fine.shape[0])
    return laplacian_variance(fine), laplacian_variance(reduce(fine, COARSE // factor))


@register_check
class SharpnessCollapse(QCCheck):
    """Frames that lose sharpness: Laplacian variance under ``qc.blur_drop`` x frame 0's."""

    name = "sharpness"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.limit = float(config["qc.blur_drop"])
        self.reference: tuple[float, float] | None = None
        self.ratios: list[float] = []
        self.coarse: list[float] = []
        self.offenders: list[int] = []
        self.lowest = (1.0, 0)

    def update(self, frame: Frame) -> None:
        value, coarse = sharpness(frame.gray)
        if self.reference is None:
            self.reference = (value, coarse)
        ratio = value / max(self.reference[0], FLAT)
        coarse_ratio = coarse / max(self.reference[1], 1e-6)
        self.ratios.append(ratio)
        self.coarse.append(coarse_ratio)
        if ratio < self.lowest[0]:
            self.lowest = (ratio, frame.index)
        allowed = self.limit * min(max(coarse_ratio, EXCUSE), 1.0)
        if ratio < allowed and self.reference[0] >= FLAT:
            self.offenders.append(frame.index)

    def finish(self) -> CheckResult:
        reference = self.reference[0] if self.reference else 0.0
        values: dict[str, Any] = {
            "min_ratio": round(self.lowest[0], 4), "min_ratio_frame": self.lowest[1],
            "frame0_variance": round(reference, 3), "limit": self.limit,
            "count": len(self.offenders),
        }
        timeline = {"ratio": [round(r, 4) for r in self.ratios],
                    "coarse": [round(c, 4) for c in self.coarse]}
        if self.reference is not None and reference < FLAT:
            reason = (f"skipped: frame 0 has no detail to lose (Laplacian variance "
                      f"{reference:.3g} < {FLAT:g})")
            return CheckResult(self.name, "pass", values, [reason], [], timeline)
        if not self.offenders:
            return CheckResult(self.name, "pass", values, [], [], timeline)
        worst = min(self.offenders, key=lambda i: self.ratios[i])
        reason = (f"{len(self.offenders)} frame(s) lose sharpness: Laplacian variance below "
                  f"{self.limit:g}x frame 0's (lowest {self.ratios[worst]:.2f}x at frame "
                  f"{worst}, coarse structure {self.coarse[worst]:.2f}x): "
                  f"frames {frame_ranges(self.offenders)}")
        return CheckResult(self.name, "fail", values, [reason], list(self.offenders), timeline)
