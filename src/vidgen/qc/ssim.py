"""Structural similarity (SSIM) and the temporal-stability check ``ssim``.

Definitions:

- **SSIM** (Wang, Bovik, Sheikh and Simoncelli 2004) of two luma images ``x``
  and ``y`` (8-bit range, 0-255) at every pixel, from local statistics under an
  11 x 11 Gaussian window of sigma 1.5 (:data:`WINDOW`, :data:`SIGMA`)::

      SSIM = ((2 mu_x mu_y + C1) (2 sigma_xy + C2))
             / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2))

  with ``C1 = (0.01 * 255)^2`` and ``C2 = (0.03 * 255)^2`` and the population
  (not sample) covariances. The **mean SSIM** averages that map over the image
  less a border of ``(11 - 1) // 2 = 5`` pixels (:data:`PAD`), where the
  window would leave the image: exactly what
  ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=255)`` computes. Here the
  window sums are ``cv2.GaussianBlur`` in float32 into preallocated buffers
  (:class:`SSIM`): 5 to 10 times faster than scikit-image, and equal to it
  within 1e-5 on real frames (float32 rounding).
- The ``ssim`` check (:class:`TemporalSSIM`) scores every pair of consecutive
  frames ``(t, t + 1)`` twice:

  - **raw**: the frames as they are; a camera pan or zoom alone lowers it, so
    it is reported (the plan's shoot-out table) but not judged;
  - **motion-compensated**: frame ``t`` is first warped onto frame ``t + 1``
    (``cv2.warpAffine``, bilinear) and only the overlap of the two, less the
    window's border, is averaged. The warp is the camera's own when the
    context has the shot's keyframe and motion: the crop rectangles of frames
    ``t`` and ``t + 1`` on :func:`vidgen.motion.sample_path`, over
    ``round(duration_sec * fps)`` frames as the pipeline renders them, give the
    scale and offset that carry one frame's pixels onto the next (a still
    camera needs no warp; pairs past the path's end are estimated). Otherwise
    it is estimated: up to 150 corners of frame ``t`` (found at half size) tracked
    into ``t + 1`` (pyramidal Lucas-Kanade, 15 x 15 window, 3 levels), then a
    rotation, uniform scale and translation fitted with RANSAC
    (``cv2.estimateAffinePartial2D``, 1-pixel tolerance); too few consistent
    tracks (under 12, or under a third of them) means no estimate. The
    compensated score of a pair is the better of the warped and the raw
    score, so compensation never makes a pair look worse than it is.

  Verdict: **fail** when the mean compensated SSIM over the clip is below
  ``qc.ssim_min`` (default 0.85, the plan's target). Pairs whose compensated
  SSIM falls below ``qc.ssim_drop`` (default 0.7: a cut, a burst of noise, a
  glitch) are listed by their later frame, and make the check **warn** when
  the mean passes; otherwise pass. A clip of one frame, or of frames smaller
  than the window, passes with a "skipped" reason. SSIM's luminance term is
  harsh near black (``C1`` is small): flat frames at levels 0 and 3 score 0.42.

  Values: ``mean`` and ``min`` (compensated), ``raw_mean`` and ``raw_min``,
  ``drop_count`` and ``drop_frames`` (readable ranges), ``pairs``,
  ``compensation`` (``camera path`` or ``estimated``), ``estimated_pairs``
  when any pair needed an estimate, ``uncompensated_pairs`` when a pair had
  no usable motion (no estimate, or under a quarter of the frame overlapping:
  its raw score stands), ``analysis_size``, ``limit`` and ``drop``
  (the settings used). The per-frame ``timeline`` series ``ssim``
  (compensated) and ``ssim_raw`` hold at frame ``t`` the score of the pair
  ``(t - 1, t)``, and 1 at frame 0. Memory: the previous frame's luma and
  window statistics, a few buffers of the analysis size, two floats per frame.

Every figure is measured on the analysis copy of the frames (luma of the
area-downscaled frame, at most ``qc.analysis_height`` lines, 360 by default),
not at the output size: the verdict is that of the analysis size. Downscaling
averages away pixel-level noise and compression artefacts, so SSIM at 360
lines reads somewhat higher than at 720.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.motion import frame_count, sample_path
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
    "C1",
    "C2",
    "PAD",
    "SIGMA",
    "SSIM",
    "WINDOW",
    "Moments",
    "TemporalSSIM",
    "estimate_motion",
    "path_transform",
    "ssim",
]

Image = NDArray[np.float32]
Matrix = NDArray[np.float64]
#: ``(x0, y0, x1, y1)``: the half-open pixel box over which an SSIM map is averaged.
Region = tuple[int, int, int, int]

#: Side of the Gaussian window, pixels.
WINDOW = 11
#: Standard deviation of the Gaussian window, pixels.
SIGMA = 1.5
#: Border left out of the mean: the window's radius.
PAD = (WINDOW - 1) // 2
#: Stabilising constants for 8-bit data (K1 = 0.01, K2 = 0.03, L = 255).
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2

_KSIZE = (WINDOW, WINDOW)
#: The warp's interpolation needs its source neighbours inside the frame.
_WARP_MARGIN = 1.0
#: A compensated score needs an overlap of at least this share of the frame.
_MIN_OVERLAP = 0.25
_MAX_CORNERS = 150
_MIN_TRACKS = 12
_LK_WINDOW = (15, 15)
_LK_LEVELS = 2  # above the full size: 3 levels in all
_LK_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 0.03)


@dataclass(frozen=True)
class Moments:
    """One image's window statistics, reused for every pair it is in.

    Attributes:
        mu: The Gaussian-weighted local mean.
        mu2: ``mu`` squared.
        sq: The Gaussian-weighted local mean of the squared image.
    """

    mu: Image
    mu2: Image
    sq: Image


def _empty_moments(like: Image) -> Moments:
    """Uninitialised statistics buffers shaped like ``like``."""
    return Moments(np.empty_like(like), np.empty_like(like), np.empty_like(like))


class SSIM:
    """Mean SSIM of float32 luma images of one size, with preallocated buffers.

    Args:
        width: Image width in pixels, at least :data:`WINDOW`.
        height: Image height in pixels, at least :data:`WINDOW`.

    Raises:
        ValueError: The image is smaller than the window.
    """

    def __init__(self, width: int, height: int) -> None:
        if width < WINDOW or height < WINDOW:
            raise ValueError(f"SSIM needs images of at least {WINDOW} x {WINDOW} pixels, "
                             f"got {width} x {height}")
        self.width, self.height = width, height
        shape = (height, width)
        self._t1, self._t2, self._t3 = (np.empty(shape, np.float32) for _ in range(3))

    @property
    def full_region(self) -> Region:
        """The whole image less the window's border: scikit-image's averaging region."""
        return PAD, PAD, self.width - PAD, self.height - PAD

    def _check(self, image: Image) -> Image:
        if image.shape != (self.height, self.width):
            raise ValueError(f"expected a {self.width} x {self.height} single-channel image, "
                             f"got shape {image.shape}")
        return np.asarray(image, dtype=np.float32)

    def moments(self, image: Image, out: Moments | None = None) -> Moments:
        """Window statistics of ``image``, written into ``out``'s arrays when given."""
        image = self._check(image)
        if out is None:
            out = _empty_moments(self._t1)
        cv2.GaussianBlur(image, _KSIZE, SIGMA, dst=out.mu, sigmaY=SIGMA)
        cv2.multiply(image, image, dst=self._t1)
        cv2.GaussianBlur(self._t1, _KSIZE, SIGMA, dst=out.sq, sigmaY=SIGMA)
        cv2.multiply(out.mu, out.mu, dst=out.mu2)
        return out

    def compare(self, a: Image, ma: Moments, b: Image, mb: Moments,
                region: Region | None = None) -> float:
        """Mean SSIM of ``a`` and ``b`` over ``region`` (default :attr:`full_region`).

        ``ma`` and ``mb`` are the images' :meth:`moments`; only the cross term is
        computed here.
        """
        t1, t2, t3 = self._t1, self._t2, self._t3
        cv2.multiply(self._check(a), self._check(b), dst=t1)
        cv2.GaussianBlur(t1, _KSIZE, SIGMA, dst=t2, sigmaY=SIGMA)   # E[ab]
        cv2.multiply(ma.mu, mb.mu, dst=t1)                           # mu_a mu_b
        cv2.addWeighted(t2, 2.0, t1, -2.0, C2, dst=t2)               # 2 sigma_ab + C2
        cv2.addWeighted(t1, 2.0, t1, 0.0, C1, dst=t1)                # 2 mu_a mu_b + C1
        cv2.multiply(t1, t2, dst=t1)                                 # numerator
        cv2.add(ma.mu2, mb.mu2, dst=t2)                              # mu_a^2 + mu_b^2
        cv2.add(ma.sq, mb.sq, dst=t3)
        cv2.addWeighted(t3, 1.0, t2, -1.0, C2, dst=t3)               # sigma_a^2 + sigma_b^2 + C2
        cv2.addWeighted(t2, 1.0, t2, 0.0, C1, dst=t2)                # mu_a^2 + mu_b^2 + C1
        cv2.multiply(t2, t3, dst=t2)                                 # denominator
        cv2.divide(t1, t2, dst=t1)
        x0, y0, x1, y1 = self.full_region if region is None else region
        return float(cv2.mean(t1[y0:y1, x0:x1])[0])

    def __call__(self, a: Image, b: Image, region: Region | None = None) -> float:
        """Mean SSIM of ``a`` and ``b`` (float32 luma, 0-255) over ``region``."""
        return self.compare(a, self.moments(a), b, self.moments(b), region)


def ssim(a: Image, b: Image) -> float:
    """Mean SSIM of two luma images (0-255) per Wang 2004, as scikit-image computes it.

    Builds the buffers for one call; use :class:`SSIM` for repeated calls at one size.

    Raises:
        ValueError: The images differ in shape, are not 2-D or are smaller than the window.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two single-channel images of one shape, "
                         f"got {a.shape} and {b.shape}")
    return SSIM(a.shape[1], a.shape[0])(np.asarray(a, np.float32), np.asarray(b, np.float32))


def path_transform(rect_a: NDArray[np.float64], rect_b: NDArray[np.float64],
                   size: tuple[int, int]) -> Matrix:
    """The 2 x 3 affine map from frame ``a``'s pixels to frame ``b``'s.

    ``rect_a`` and ``rect_b`` are the two frames' crops ``(x1, y1, x2, y2)`` in
    keyframe pixels and ``size`` the ``(width, height)`` the frames are seen at.
    Pixel ``u`` of a frame samples the crop at ``x1 + (u + 0.5) * (x2 - x1) /
    width - 0.5``, the camera renderer's convention, which an area downscale of
    the frame keeps.
    """
    width, height = size
    ax1, ay1, ax2, ay2 = (float(v) for v in rect_a)
    bx1, by1, bx2, by2 = (float(v) for v in rect_b)
    sx, sy = (ax2 - ax1) / (bx2 - bx1), (ay2 - ay1) / (by2 - by1)
    tx = (ax1 - bx1) * width / (bx2 - bx1) + 0.5 * sx - 0.5
    ty = (ay1 - by1) * height / (by2 - by1) + 0.5 * sy - 0.5
    return np.array([[sx, 0.0, tx], [0.0, sy, ty]], dtype=np.float64)


def estimate_motion(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> Matrix | None:
    """The similarity (rotation, scale, shift) carrying frame ``a`` onto ``b``, or None.

    Corners of ``a`` (found at half size) are tracked into ``b`` with pyramidal
    Lucas-Kanade and the transform fitted with RANSAC (1-pixel tolerance). None
    when the frame has too little texture or the tracks do not agree on one motion.
    """
    # Corners are found on a half-size copy (five times cheaper), tracked at full size.
    half = cv2.resize(a, (max(1, a.shape[1] // 2), max(1, a.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)
    found_half = cv2.goodFeaturesToTrack(half, _MAX_CORNERS, 0.01, 5, blockSize=3)
    if found_half is None or len(found_half) < _MIN_TRACKS:
        return None
    scale = np.array([a.shape[1] / half.shape[1], a.shape[0] / half.shape[0]], np.float32)
    corners = np.asarray((found_half + 0.5) * scale - 0.5, dtype=np.float32)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, corners, np.empty_like(corners),
                                                winSize=_LK_WINDOW,
                                                maxLevel=_LK_LEVELS, criteria=_LK_CRITERIA)
    found = status[:, 0] == 1
    if int(found.sum()) < _MIN_TRACKS:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(corners[found], moved[found],
                                                  method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None or inliers is None:
        return None
    count = int(inliers.sum())
    if count < _MIN_TRACKS or count < len(corners) / 3:
        return None
    return np.asarray(matrix, dtype=np.float64)


def _is_identity(matrix: Matrix, size: tuple[int, int]) -> bool:
    """True when ``matrix`` moves no pixel of a ``size`` frame by 1/1000 pixel or more."""
    reach = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) - matrix
    return bool(np.abs(reach[:, :2]).sum() * max(size) + np.abs(reach[:, 2]).sum() < 1e-3)


def _overlap(matrix: Matrix, size: tuple[int, int]) -> Region | None:
    """Where the warped frame has valid pixels and the window stays inside them, or None.

    The box is inscribed in the image of the source frame (less the warp's margin)
    under ``matrix``, shrunk by :data:`PAD` and kept inside the image's own
    averaging region; None when it covers less than :data:`_MIN_OVERLAP` of the frame.
    """
    width, height = size
    lo_x, lo_y = _WARP_MARGIN, _WARP_MARGIN
    hi_x, hi_y = width - 1 - _WARP_MARGIN, height - 1 - _WARP_MARGIN
    corners = np.array([[lo_x, lo_y, 1], [hi_x, lo_y, 1], [lo_x, hi_y, 1], [hi_x, hi_y, 1]])
    (tlx, tly), (trx, try_), (blx, bly), (brx, bry) = corners @ matrix.T
    if not (tlx < trx and blx < brx and tly < bly and try_ < bry):
        return None  # flipped or rotated by 90 degrees or more: no usable overlap
    x0 = max(math.ceil(max(tlx, blx)) + PAD, PAD)
    x1 = min(math.floor(min(trx, brx)) + 1 - PAD, width - PAD)
    y0 = max(math.ceil(max(tly, try_)) + PAD, PAD)
    y1 = min(math.floor(min(bly, bry)) + 1 - PAD, height - PAD)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < _MIN_OVERLAP * width * height:
        return None
    return x0, y0, x1, y1


@register_check
class TemporalSSIM(QCCheck):
    """Consecutive-frame SSIM, raw and motion-compensated (see the module's definitions)."""

    name = "ssim"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.limit = float(config["qc.ssim_min"])
        self.drop = float(config["qc.ssim_drop"])
        self.rects: NDArray[np.float64] | None = None
        if context.keyframe is not None and context.motion is not None:
            height, width = context.keyframe.shape[:2]
            count = frame_count(context.motion.duration_sec, context.fps)
            self.rects = sample_path(context.motion, (width, height), count)
        self.method = "camera path" if self.rects is not None else "estimated"
        self.engine: SSIM | None = None
        self.too_small = False
        self.size = (0, 0)
        self.previous: Image | None = None
        self.previous_u8: NDArray[np.uint8] | None = None
        self.buffers: tuple[Moments, Moments, Moments, Image] | None = None
        self.indices: list[int] = []
        self.raw: list[float] = []
        self.compensated: list[float] = []
        self.estimated = 0
        self.uncompensated = 0

    def _transform(self, index: int, current: NDArray[np.uint8] | None) -> Matrix | None:
        """The map from frame ``index - 1`` to frame ``index``, or None when unknown."""
        if self.rects is not None and index < len(self.rects):
            return path_transform(self.rects[index - 1], self.rects[index], self.size)
        if self.previous_u8 is None or current is None:
            return None
        self.estimated += 1
        return estimate_motion(self.previous_u8, current)

    def update(self, frame: Frame) -> None:
        if self.too_small:
            return
        gray = frame.gray
        if self.engine is None:
            if min(gray.shape) < WINDOW:
                self.too_small = True
                return
            self.size = (gray.shape[1], gray.shape[0])
            self.engine = SSIM(*self.size)
            self.buffers = (_empty_moments(gray), _empty_moments(gray), _empty_moments(gray),
                            np.empty_like(gray))
        engine = self.engine
        assert self.buffers is not None
        moments_prev, moments_next, moments_warp, warped = self.buffers
        # Keep an 8-bit copy when the next pair will need a motion estimate.
        path_ahead = self.rects is not None and frame.index + 1 < len(self.rects)
        current = None if path_ahead else np.asarray(cv2.convertScaleAbs(gray), np.uint8)
        moments = engine.moments(gray, moments_next)
        if self.previous is not None:
            raw = engine.compare(self.previous, moments_prev, gray, moments)
            score = raw
            matrix = self._transform(frame.index, current)
            region = None if matrix is None else _overlap(matrix, self.size)
            if matrix is None or region is None:
                self.uncompensated += 1
            elif not _is_identity(matrix, self.size):  # a still camera keeps the raw score
                cv2.warpAffine(self.previous, matrix, self.size, dst=warped,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                shifted = engine.moments(warped, moments_warp)
                score = max(raw, engine.compare(warped, shifted, gray, moments, region))
            self.indices.append(frame.index)
            self.raw.append(raw)
            self.compensated.append(score)
        self.previous, self.previous_u8 = gray, current
        # This frame's statistics become the previous ones; the old buffer is reused next.
        self.buffers = (moments, moments_prev, moments_warp, warped)

    def finish(self) -> CheckResult:
        values: dict[str, Any] = {"limit": self.limit, "drop": self.drop,
                                  "pairs": len(self.raw), "compensation": self.method,
                                  "analysis_size": list(self.size)}
        if self.too_small:
            return CheckResult(self.name, "pass", values, [
                f"skipped: frames smaller than the {WINDOW} x {WINDOW} SSIM window"])
        if not self.raw:
            return CheckResult(self.name, "pass", values,
                               ["skipped: fewer than two frames, nothing to compare"])
        raw = np.array(self.raw)
        comp = np.array(self.compensated)
        drops = [i for i, value in zip(self.indices, self.compensated, strict=True)
                 if value < self.drop]
        values.update(mean=round(float(comp.mean()), 4), min=round(float(comp.min()), 4),
                      raw_mean=round(float(raw.mean()), 4), raw_min=round(float(raw.min()), 4),
                      drop_count=len(drops), drop_frames=frame_ranges(drops))
        if self.estimated:
            values["estimated_pairs"] = self.estimated
        if self.uncompensated:
            values["uncompensated_pairs"] = self.uncompensated
        # Per frame, as the other checks: frame t holds the pair (t - 1, t), frame 0 holds 1.
        timeline = {"ssim_raw": [1.0] + [round(v, 5) for v in self.raw],
                    "ssim": [1.0] + [round(v, 5) for v in self.compensated]}
        reasons: list[str] = []
        verdict: Verdict = "pass"
        if comp.mean() < self.limit:
            verdict = "fail"
            reasons.append(f"mean motion-compensated SSIM between consecutive frames is "
                           f"{comp.mean():.3f}, below {self.limit:g} (raw {raw.mean():.3f})")
        if drops:
            verdict = "fail" if verdict == "fail" else "warn"
            reasons.append(f"{len(drops)} frame(s) differ sharply from the previous one "
                           f"(SSIM below {self.drop:g}, worst {comp.min():.3f}): frames "
                           f"{frame_ranges(drops)}")
        return CheckResult(self.name, verdict, values, reasons, drops, timeline)
