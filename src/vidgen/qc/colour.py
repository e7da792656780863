"""Colour drift: how far each frame's mean colour moves from frame 0's (Delta E, CIE76).

Definition (``colour_drift``):

- Mean colour of a frame: the mean of its *linear-light* RGB over the analysis
  copy (:attr:`Frame.linear <vidgen.qc.base.Frame.linear>`, sRGB decoded through
  the IEC 61966-2-1 curve), i.e. the colour of the frame's total light, as a
  defocused eye sees it. That one colour goes to CIE XYZ (sRGB primaries, D65)
  and to CIELAB with the D65 white the matrix maps RGB white to (so white is
  exactly L* 100, a* = b* = 0). We average in linear light rather than averaging
  sRGB codes or per-pixel Lab: it is the physically meaningful mean, it is one
  ``cv2.mean`` of data the frame has already derived for other checks, and
  CIELAB then happens on one colour per frame (cheap, exact formulas). For a
  uniformly coloured frame every choice gives the same Lab.
- ``Delta E_t = |Lab_t - Lab_0|`` (CIE76, Euclidean). About 2.3 is just
  noticeable; above 5 a shift is obvious.
- Camera motion changes the mean colour legitimately (a pan from sea to sky).
  When the context has the keyframe and the shot's motion, each frame's
  *expected* mean colour is the keyframe's mean linear colour inside that
  frame's crop rectangle (:func:`vidgen.motion.sample_path`, means from a
  summed-area table, see :func:`path_means`) and the check measures how the
  frame's colour *error* moved: ``Delta E_t = |(Lab_t - Lab^exp_t) -
  (Lab_0 - Lab^exp_0)|``. Without a camera move (or without keyframe and motion)
  this is exactly the definition above; on a camera-backend render it stays
  near 0 however the content changes, while a model's global colour cast or
  fade still shows in full.

Verdict: warn above ``qc.colour_drift_warn`` (default 5.0), fail above
``qc.colour_drift_max`` (default 10.0). Values: the maximum Delta E and its
frame, the mean, whether the motion was compensated, the Lab of frame 0; the
timeline is Delta E per frame.

Calibration: 720p camera renders of the five bundled keyframes (zooms and pans
at intensity 0.5-1, comfort limits) measure at most 0.2 with compensation (0.8
after H.264 at CRF 28); without it the same renders reach 0.5-11.1 (content,
not drift: of 25 moving renders five would warn and one fail), which is why
compensation is used whenever the inputs are known. Keyframes are area-reduced
to 512 pixels on the long side for the path means (15 ms for a 96-frame path):
the compensated Delta E of such renders moves by less than 0.04 against 1024.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.motion import Motion, sample_path
from vidgen.qc.base import (
    SRGB_TO_LINEAR,
    CheckResult,
    Frame,
    QCCheck,
    QCContext,
    Verdict,
    frame_ranges,
    register_check,
)

__all__ = ["ColourDrift", "lab_from_linear", "path_means"]

#: Linear sRGB -> CIE XYZ (IEC 61966-2-1, D65).
RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805],
                       [0.2126, 0.7152, 0.0722],
                       [0.0193, 0.1192, 0.9505]])
#: The D65 white as this matrix sees it (RGB white), so white is L* 100, a* = b* = 0.
WHITE_XYZ = RGB_TO_XYZ.sum(axis=1)
#: Keyframes are area-reduced to at most this many pixels on the long side for path means.
PATH_MEANS_MAX_SIDE = 512


def lab_from_linear(rgb: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """CIELAB (D65) of linear-light RGB colours in 0-1, shape ``(..., 3)``."""
    xyz = np.asarray(rgb, dtype=np.float64) @ RGB_TO_XYZ.T / WHITE_XYZ
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                     200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def path_means(keyframe: NDArray[np.uint8], motion: Motion, count: int,
               planes: Callable[[NDArray[np.uint8]], NDArray[Any]]) -> NDArray[np.float64]:
    """Mean of ``planes(keyframe)`` inside each of the ``count`` crops of ``motion``.

    The keyframe is first area-reduced to at most :data:`PATH_MEANS_MAX_SIDE`
    pixels on its long side (the renderer's pyramid averages the same sRGB
    codes), converted by ``planes`` (uint8 RGB ``H x W x 3`` -> float ``H x W x C``)
    and summed into a summed-area table; each crop rectangle (float pixels, from
    :func:`vidgen.motion.sample_path` on the keyframe's full size) is read from it
    with bilinear corners, i.e. with fractional edge pixels weighted by their
    coverage.

    Args:
        keyframe: The whole keyframe, RGB uint8.
        motion: The shot's camera motion.
        count: Frames in the video (the path is sampled at this many frames).
        planes: The per-pixel quantity to average, e.g. linear RGB or luma.

    Returns:
        A ``(count, C)`` float64 array.
    """
    height, width = keyframe.shape[:2]
    rects = sample_path(motion, (width, height), count)
    scale = min(1.0, PATH_MEANS_MAX_SIDE / max(width, height))
    image = keyframe
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = np.asarray(cv2.resize(keyframe, size, interpolation=cv2.INTER_AREA), np.uint8)
    data = np.asarray(planes(image), dtype=np.float64)
    if data.ndim == 2:
        data = data[..., None]
    h, w = data.shape[:2]
    table = np.zeros((h + 1, w + 1, data.shape[2]))
    table[1:, 1:] = data.cumsum(axis=0).cumsum(axis=1)
    rects = rects * np.array([w / width, h / height, w / width, h / height])
    x1, x2 = np.clip(rects[:, 0], 0, w), np.clip(rects[:, 2], 0, w)
    y1, y2 = np.clip(rects[:, 1], 0, h), np.clip(rects[:, 3], 0, h)

    def at(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        x0, y0 = np.minimum(x.astype(int), w - 1), np.minimum(y.astype(int), h - 1)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        return np.asarray((table[y0, x0] * (1 - fx) + table[y0, x0 + 1] * fx) * (1 - fy)
                          + (table[y0 + 1, x0] * (1 - fx) + table[y0 + 1, x0 + 1] * fx) * fy)

    sums = at(x2, y2) - at(x1, y2) - at(x2, y1) + at(x1, y1)
    area = np.maximum((x2 - x1) * (y2 - y1), 1e-9)[:, None]
    return np.asarray(sums / area)


def _linear(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    return SRGB_TO_LINEAR[image]


@register_check
class ColourDrift(QCCheck):
    """Delta E (CIE76) of each frame's mean colour from frame 0's, camera motion compensated."""

    name = "colour_drift"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.warn_at = float(config["qc.colour_drift_warn"])
        self.fail_at = float(config["qc.colour_drift_max"])
        self.means: list[tuple[float, float, float]] = []

    def update(self, frame: Frame) -> None:
        mean = cv2.mean(frame.linear)
        self.means.append((mean[0], mean[1], mean[2]))

    def finish(self) -> CheckResult:
        count = len(self.means)
        if count == 0:
            return CheckResult(self.name, "pass", {"frames": 0}, ["no frames"])
        lab = lab_from_linear(np.array(self.means))
        error = lab - lab[0]
        keyframe, motion = self.context.keyframe, self.context.motion
        compensated = keyframe is not None and motion is not None
        if keyframe is not None and motion is not None:
            expected = lab_from_linear(path_means(keyframe, motion, count, _linear))
            error = error - (expected - expected[0])
        delta_e = np.sqrt((error**2).sum(axis=1))
        worst = int(np.argmax(delta_e))
        values: dict[str, Any] = {
            "max_delta_e": round(float(delta_e[worst]), 3), "max_frame": worst,
            "mean_delta_e": round(float(delta_e.mean()), 3),
            "lab_frame0": [round(float(v), 2) for v in lab[0]],
            "compensated": compensated, "warn": self.warn_at, "limit": self.fail_at,
        }
        timeline = {"delta_e": [round(float(v), 4) for v in delta_e]}
        verdict: Verdict = "pass"
        if delta_e[worst] > self.fail_at:
            verdict, limit = "fail", self.fail_at
        elif delta_e[worst] > self.warn_at:
            verdict, limit = "warn", self.warn_at
        else:
            return CheckResult(self.name, verdict, values, timeline=timeline)
        offenders = [int(i) for i in np.flatnonzero(delta_e > limit)]
        what = "the colour error against the keyframe's crop" if compensated else "the mean colour"
        reason = (f"{what} drifts from frame 0's by up to Delta E {delta_e[worst]:.3g} "
                  f"(frame {worst}, {worst / self.context.fps:.2f} s; above {limit:g}): "
                  f"frames {frame_ranges(offenders)}")
        return CheckResult(self.name, verdict, values, [reason], offenders, timeline)
