"""Hard cuts and morph jumps: an adaptive content detector (as PySceneDetect's AdaptiveDetector).

A vidgen shot is one continuous take, so any cut (or a generator's sudden
"morph jump" to other content) fails the ``cuts`` check.

Definitions:

- **Reduced copy**: the frame's analysis copy (``Frame.small``) area-downscaled
  by the whole factor ``width // 256`` (:data:`CUT_WIDTH`), as PySceneDetect
  computes its downscale factor: 256-511 px wide, e.g. 320x180 for the 640x360
  analysis copy of a 720p frame; a copy under 512 px wide is used as it is. A
  whole factor (the copy cropped by at most ``factor - 1`` pixels to a multiple
  of it) keeps OpenCV on its exact box-filter path, about ten times faster than a
  fractional area resize. Cut scores are means, so the size barely changes them;
  it only makes the check cheap.
- **Content score** of frame ``i`` (``i >= 1``): the mean absolute change of
  hue, saturation and value (OpenCV 8-bit HSV of the reduced copy) against frame
  ``i - 1``, the three weighted equally: ``(mean|dH| + mean|dS| + mean|dV|) / 3``
  (PySceneDetect's default weights; edges are not used). OpenCV's 8-bit hue is
  0-179 and circular, so ``dH = min(|h1 - h2|, 180 - |h1 - h2|)`` (0-90): a red
  that flickers between hue 1 and 178 changes by 3, not 177. PySceneDetect does
  not wrap the hue; S and V are 0-255. Frame 0 has no score (0 in the timeline).
- **Adaptive ratio** of frame ``i``: its score over the mean score of the
  :data:`WINDOW` (2) frames on each side, itself excluded. The window needs two
  future frames, so frames are decided two frames late in ``update()`` and the
  last two in ``finish()``. Near the ends only the neighbours that exist are
  averaged (frame 1's past neighbours are missing: frame 0 has no score). When
  the neighbours' mean is zero the ratio is 255 if the score reaches
  ``qc.cut_min_score`` and 0 otherwise; ratios are capped at 255 (both as
  PySceneDetect).
- **Cut**: a frame whose ratio is at least ``qc.cut_ratio`` (default 3.0) and
  whose score is at least ``qc.cut_min_score`` (default 15.0), and that comes at
  least :data:`MIN_GAP` (15) frames after the previous cut (PySceneDetect's
  ``min_scene_len``; the first cut may be anywhere, since even a cut at frame 1
  breaks a single-shot video). The cut's frame is the first frame of the new
  content.

A slow cross-fade spreads its change over many frames, so inside it each
frame's score is close to its neighbours' and the ratio stays near 1. Its first
and last steps follow still frames, so their ratio is about 2-5, but each step
is small: over 12 frames between the example photos the scores stay at 3-14,
under ``qc.cut_min_score``, and it is not a hard cut (the same holds for
AdaptiveDetector). A sudden jump in the middle of a morph is one. Known limit,
shared with PySceneDetect (which computes the same score, higher still without
the hue wrap): the hue and saturation of near-black pixels are ill-conditioned,
so the first touch of colour on a dark image changes them wholesale; a fade
out of or into a dark image (``hubble.jpg``, mean V 23) scores 16-30 at 3.4-4.5x
on its first or last step and is reported as a cut. Camera moves over the same
dark image change it gradually and stay near 1x.

The check fails on any cut ("frame 48: hard cut (content change 62, 9.1x its
neighbours)"). Values: the cut frames, the largest ratio among frames whose
score reaches the minimum (and its frame), the largest score (and its frame).
Timeline: per-frame ``content`` score and ``ratio``. Memory is a ring buffer of
five scores, the previous reduced HSV frame and the per-frame timeline scalars.
"""

from __future__ import annotations

from collections import deque
from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.qc.base import CheckResult, Frame, QCCheck, QCContext, Verdict, register_check

__all__ = ["CUT_WIDTH", "MIN_GAP", "WINDOW", "Cuts", "content_score", "reduce_hsv"]

#: Target width of the reduced copy: the analysis copy is shrunk by ``width // CUT_WIDTH``.
CUT_WIDTH = 256
#: Frames on each side of a frame whose scores make its adaptive ratio.
WINDOW = 2
#: Fewest frames between two reported cuts (PySceneDetect's ``min_scene_len``).
MIN_GAP = 15
#: The ratio when the neighbours did not change at all, and the cap of every ratio.
MAX_RATIO = 255.0
#: Neighbour means below this count as zero (as PySceneDetect).
_ZERO = 1e-5

# Absolute HSV difference -> circular difference: hue (channel 0) wraps at 180.
_WRAP = np.empty((1, 256, 3), np.uint8)
_WRAP[0, :, 0] = np.clip(np.minimum(np.arange(256), 180 - np.arange(256)), 0, 255)
_WRAP[0, :, 1] = _WRAP[0, :, 2] = np.arange(256)


def reduce_hsv(frame: Frame) -> NDArray[np.uint8]:
    """The frame's reduced copy in OpenCV 8-bit HSV (see the module docstring)."""
    small = frame.small
    height, width = small.shape[:2]
    factor = width // CUT_WIDTH
    if factor >= 2 and height >= factor:
        # Whole multiples of the factor: OpenCV's exact (fast) integer area path.
        height, width = height // factor, width // factor
        small = cast(NDArray[np.uint8],
                     cv2.resize(small[: height * factor, : width * factor], (width, height),
                                interpolation=cv2.INTER_AREA))
    return cast(NDArray[np.uint8], cv2.cvtColor(small, cv2.COLOR_RGB2HSV))


def content_score(hsv: NDArray[np.uint8], previous: NDArray[np.uint8]) -> float:
    """Mean absolute change of H (circular), S and V between two HSV frames, averaged."""
    delta = cv2.LUT(cv2.absdiff(hsv, previous), _WRAP)
    h, s, v, _ = cv2.mean(delta)
    return float(h + s + v) / 3.0


def adaptive_ratio(score: float, neighbours: list[float], min_score: float) -> float:
    """``score`` over the mean of ``neighbours``, PySceneDetect's way round a zero mean."""
    mean = sum(neighbours) / len(neighbours) if neighbours else 0.0
    if mean < _ZERO:
        return MAX_RATIO if score >= min_score else 0.0
    return min(score / mean, MAX_RATIO)


@register_check
class Cuts(QCCheck):
    """Hard cuts and morph jumps: an adaptive HSV content detector."""

    name = "cuts"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.ratio_limit = float(config["qc.cut_ratio"])
        self.min_score = float(config["qc.cut_min_score"])
        self.previous: NDArray[np.uint8] | None = None
        #: (frame index, score) of the last 2 * WINDOW + 1 frames that have a score.
        self.window: deque[tuple[int, float]] = deque(maxlen=2 * WINDOW + 1)
        self.decided = 0  # frames whose ratio is known (frame 0 needs none)
        self.scores: list[float] = []
        self.ratios: list[float] = []
        self.cuts: list[int] = []
        self.details: list[str] = []
        self.peak_ratio = (0.0, -1)
        self.peak_score = (0.0, -1)

    def update(self, frame: Frame) -> None:
        hsv = reduce_hsv(frame)
        if self.previous is None:  # frame 0: nothing to compare with
            self.scores.append(0.0)
            self.ratios.append(0.0)
            self.decided = frame.index + 1
        else:
            score = content_score(hsv, self.previous)
            self.scores.append(score)
            self.window.append((frame.index, score))
            if score > self.peak_score[0]:
                self.peak_score = (score, frame.index)
            # Frame index - WINDOW now has its WINDOW future neighbours.
            if len(self.window) > WINDOW and self.window[-1 - WINDOW][0] == self.decided:
                self._decide(self.decided)
        self.previous = hsv

    def _decide(self, index: int) -> None:
        score = next(s for i, s in self.window if i == index)
        neighbours = [s for i, s in self.window if i != index and abs(i - index) <= WINDOW]
        ratio = adaptive_ratio(score, neighbours, self.min_score)
        self.ratios.append(ratio)
        self.decided = index + 1
        if score < self.min_score:
            return
        if ratio > self.peak_ratio[0]:
            self.peak_ratio = (ratio, index)
        if ratio >= self.ratio_limit and (not self.cuts or index - self.cuts[-1] >= MIN_GAP):
            self.cuts.append(index)
            self.details.append(f"frame {index}: hard cut (content change {score:.0f}, "
                                f"{ratio:.1f}x its neighbours)")

    def finish(self) -> CheckResult:
        while self.decided < len(self.scores):  # the last WINDOW frames: no future left
            self._decide(self.decided)
        values: dict[str, Any] = {
            "cuts": list(self.cuts), "count": len(self.cuts),
            "max_ratio": round(self.peak_ratio[0], 3), "max_ratio_frame": self.peak_ratio[1],
            "max_score": round(self.peak_score[0], 3), "max_score_frame": self.peak_score[1],
            "ratio_limit": self.ratio_limit, "min_score": self.min_score,
        }
        timeline = {"content": [round(s, 3) for s in self.scores],
                    "ratio": [round(r, 3) for r in self.ratios]}
        verdict: Verdict = "fail" if self.cuts else "pass"
        return CheckResult(self.name, verdict, values, list(self.details), list(self.cuts),
                           timeline)
