"""Sub-pixel measurements of rendered frames, for tests, benchmarks and QC.

:func:`horizontal_shift` finds how far a frame is shifted against a reference:
phase correlation gives a first estimate (coarse, about 0.3 px), then a
Gauss-Newton fit of a Lanczos-4 resampled reference refines it to about
0.002 px on textured frames.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["horizontal_shift"]


def _shift_x(frame: NDArray[np.float64], d: float, margin: int) -> NDArray[np.float64]:
    """``frame`` sampled at ``x + d`` (Lanczos-4), ``margin`` columns dropped on each side."""
    n, k = int(np.floor(d)), np.arange(-3, 5)
    weights = np.sinc(k - (d - n)) * np.sinc((k - (d - n)) / 4)
    width = frame.shape[1]
    cols = [frame[:, margin + n + j: width - margin + n + j] for j in k]
    return np.asarray(sum(w * c for w, c in zip(weights / weights.sum(), cols, strict=True)))


def horizontal_shift(ref: NDArray[np.uint8], frame: NDArray[np.uint8], margin: int = 16) -> float:
    """The shift ``d`` with ``frame(x) = ref(x + d)``, in pixels, for RGB frames.

    ``margin`` columns on each side are ignored; it must exceed the shift plus 4.
    """
    a, b = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in (ref, frame))
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    # OpenCV 5 multiplies phaseCorrelate's inputs by the window in place: pass copies.
    d = -cv2.phaseCorrelate(a.copy(), b.copy(), window)[0][0]
    a64, target = a.astype(np.float64), b[:, margin:-margin].astype(np.float64)
    for _ in range(20):
        shifted = _shift_x(a64, d, margin)
        grad = np.gradient(shifted, axis=1)
        step = float(np.sum(grad * (target - shifted)) / np.sum(grad * grad))
        d += step
        if abs(step) < 1e-7:
            break
    return float(d)
