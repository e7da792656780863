"""Dynamic degree (VBench): does the video move, by optical flow at about 8 fps?

Definition (``dynamic_degree``), following VBench with a cheaper flow:

- Frames are sampled every ``max(1, round(fps / 8))`` frames (every 3rd at 24
  fps, 8 per second). Each sampled frame's analysis luma is area-reduced to
  :data:`FLOW_SHORT_SIDE` (256) pixels on its short side (455 x 256 for 16:9;
  never enlarged) and converted to 8 bits.
- Flow between consecutive samples: OpenCV DIS, preset ULTRAFAST (VBench uses
  RAFT). Per pair, the *magnitude* is the mean of the top 5% flow vector
  lengths, in pixels at a 256-pixel short side (VBench's scale).
- A pair *moves* above :data:`MOVE_THRESHOLD` (6.6); the video is *dynamic* when
  at least ``max(1, round(4 N / 16))`` pairs move, ``N`` the sampled frames.

Calibration of the threshold. VBench's rule is ``6.0 * min(H, W) / 256`` on RAFT
flow, i.e. 6 px per sampled pair at a 256-pixel short side (about 0.19 short
sides per second at 8 fps). We keep that meaning, so the share of dynamic videos
stays comparable with published VBench numbers, and correct for how DIS reads
known motion. Measured on camera pans (uniform, sub-pixel exact, rendered from
four bundled keyframes at 720p) the top-5% magnitude reads (true -> DIS
ULTRAFAST): 0.5 -> 0.64-1.11, 1 -> 1.16-1.74, 2 -> 2.18-2.90, 4 -> 4.03-4.55,
6 -> 6.20-7.04 (diagonal 6.27-6.69), 8 -> 8.18-9.62, 16 -> 16.5-18.8: about 10%
high at VBench's threshold (the top 5% gathers the border and occlusion
outliers), hence 6.0 x 1.1 = 6.6. Motion-free clips stay far below: identical
frames 0.0; i.i.d. noise sigma 1-8 levels 0.06-0.97; spatially correlated noise
up to 2.1; H.264 CRF 18-35 of a noisy still 0.0-0.47; a 10% brightness flicker
0.36-2.1 (worst on flat backgrounds). A clip in which no pair exceeds
:data:`STILL_THRESHOLD` (1.0: above codec noise and ordinary sensor noise, a
true motion of about 0.7 px per pair) is reported as *still*, a hint for the
"static video" failure (the freeze check catches exact repeats). For scale,
720p camera renders of the bundled keyframes peak at 2.4-3.2 for a zoom-in at
intensity 0.5 (21% over 4 s, ease-in-out) and at 4.1-9.7 for pans at intensity
0.5-1; only the horizontal pans at intensity 1 are dynamic (42-52% of pairs
move), as VBench's own threshold would have it for such slow camera moves.

Speed: DIS ULTRAFAST takes about 1.1 ms per pair at 455 x 256 on one core (FAST
2.0 ms, MEDIUM 9.7 ms; their readings are within 5% of ULTRAFAST's from 4 px up).

Verdict: report only by default: warn when the share of moving pairs is below
``qc.dynamic_min`` (default 0: never). Values: ``dynamic``, ``moving_share``,
``moving_pairs`` / ``pairs`` / ``required``, ``still``, the per-pair magnitudes
and their mean and maximum; the timeline holds each pair's magnitude on the
frames it spans.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.qc.base import CheckResult, Frame, QCCheck, QCContext, register_check

__all__ = ["DynamicDegree", "top_magnitude"]

#: Flow is computed with the short side reduced to this many pixels.
FLOW_SHORT_SIDE = 256
#: Sampling rate of the flow pairs (frames per second), as VBench.
SAMPLE_FPS = 8.0
#: A pair moves above this top-5% magnitude (pixels at a 256-pixel short side).
MOVE_THRESHOLD = 6.6
#: No pair above this: no visible motion at all (codec noise reads up to about 0.5).
STILL_THRESHOLD = 1.0
#: Share of the largest flow vectors averaged per pair.
TOP_SHARE = 0.05


def top_magnitude(flow: NDArray[np.float32], share: float = TOP_SHARE) -> float:
    """Mean length of the largest ``share`` of the vectors of a ``H x W x 2`` flow field."""
    magnitude = cv2.magnitude(flow[..., 0], flow[..., 1]).ravel()
    k = max(1, int(magnitude.size * share))
    return float(np.partition(magnitude, magnitude.size - k)[-k:].mean())


@register_check
class DynamicDegree(QCCheck):
    """VBench dynamic degree with DIS optical flow at a 256-pixel short side, about 8 fps."""

    name = "dynamic_degree"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.minimum = float(config["qc.dynamic_min"])
        self.step = max(1, round(context.fps / SAMPLE_FPS))
        width, height = context.analysis_size
        scale = min(1.0, FLOW_SHORT_SIDE / min(width, height))
        self.size = (max(1, round(width * scale)), max(1, round(height * scale)))
        #: Flow pixels -> pixels at a 256-pixel short side.
        self.unit = FLOW_SHORT_SIDE / min(self.size)
        self.flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        #: The output buffer (its contents are not used as an initial flow).
        self.field = np.zeros((self.size[1], self.size[0], 2), np.float32)
        self.previous: NDArray[np.uint8] | None = None
        self.samples = 0
        self.magnitudes: list[float] = []
        self.count = 0
        self.error: str | None = None

    def update(self, frame: Frame) -> None:
        self.count = frame.index + 1
        if frame.index % self.step or self.error is not None:
            return
        gray: NDArray[np.float32] = frame.gray
        if (gray.shape[1], gray.shape[0]) != self.size:
            gray = np.asarray(cv2.resize(gray, self.size, interpolation=cv2.INTER_AREA))
        image = np.asarray(cv2.convertScaleAbs(gray), dtype=np.uint8)
        self.samples += 1
        if self.previous is not None:
            try:
                flow = np.asarray(self.flow.calc(self.previous, image, self.field), np.float32)
            except cv2.error as exc:  # e.g. frames too small for DIS's patches
                self.error = str(exc).strip().splitlines()[-1]
                return
            self.magnitudes.append(top_magnitude(flow) * self.unit)
        self.previous = image

    def finish(self) -> CheckResult:
        pairs = len(self.magnitudes)
        required = max(1, round(4 * self.samples / 16))
        moving = sum(m > MOVE_THRESHOLD for m in self.magnitudes)
        share = moving / pairs if pairs else 0.0
        magnitudes = np.array(self.magnitudes or [0.0])
        values: dict[str, Any] = {
            "dynamic": pairs > 0 and moving >= required, "moving_share": round(share, 4),
            "moving_pairs": moving, "pairs": pairs, "required": required,
            "still": pairs > 0 and bool(magnitudes.max() <= STILL_THRESHOLD),
            "mean_magnitude": round(float(magnitudes.mean()), 3),
            "max_magnitude": round(float(magnitudes.max()), 3),
            "pair_magnitudes": [round(m, 3) for m in self.magnitudes],
            "threshold": MOVE_THRESHOLD, "step": self.step, "minimum": self.minimum,
        }
        timeline = {"magnitude": self._per_frame()}
        if pairs == 0:
            why = self.error or "fewer than 2 sampled frames"
            return CheckResult(self.name, "pass", values, [f"not measured: {why}"],
                               timeline=timeline)
        summary = (f"{moving} of {pairs} sampled frame pairs move (top-5% flow above "
                   f"{MOVE_THRESHOLD:g} px at 256 px; {required} needed to count as dynamic)")
        reasons = [summary]
        if values["still"]:
            reasons.append(f"no visible motion: every pair's top-5% flow is at most "
                           f"{magnitudes.max():.2g} px (static video?)")
        if share < self.minimum:
            reasons[0] = f"moving share {share:.2f} is below {self.minimum:g}: " + summary
            frames = [i * self.step for i, m in enumerate(self.magnitudes, 1)
                      if m <= MOVE_THRESHOLD]
            return CheckResult(self.name, "warn", values, reasons, frames, timeline)
        return CheckResult(self.name, "pass", values, reasons, timeline=timeline)

    def _per_frame(self) -> list[float]:
        """Each pair's magnitude on the frames it spans (from its first frame to its last)."""
        series = [0.0] * self.count
        for pair, magnitude in enumerate(self.magnitudes):
            for index in range(pair * self.step, min(self.count, (pair + 1) * self.step)):
                series[index] = round(magnitude, 3)
        if self.magnitudes:
            for index in range(len(self.magnitudes) * self.step, self.count):
                series[index] = round(self.magnitudes[-1], 3)
        return series
