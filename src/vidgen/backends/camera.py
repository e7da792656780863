"""The built-in camera renderer: the shot's exact camera path over the keyframe, sub-pixel.

Every output frame is the crop rectangle :func:`vidgen.motion.sample_path` gives
for it (float source pixels) resampled to the output size. FFmpeg's ``zoompan``
truncates the crop position and size to whole pixels, so a slow pan stands still
for several frames and then jumps (judder); here nothing is rounded:

* an area-filtered pyramid (scale 1, 1/2, 1/4, ...) is kept per keyframe; each
  level is ``cv2.resize(original, INTER_AREA)`` made from the original (one box
  filter and one rounding per level, independent of the order levels are asked
  for), built on first use and cached, so a renderer built for one frame (the
  pipeline's reframe stage) pays only for the level it needs;
* a crop is rendered from the coarsest level at which it still covers the output,
  with ``cv2.warpAffine`` INTER_CUBIC (OpenCV's INTER_AREA would silently be
  bilinear inside a warp): the warp shrinks by less than 2x (cubic does not widen
  its kernel when shrinking, so it must not shrink much) and enlarges only when
  the crop is smaller than the output at full resolution. Level coordinates use
  the level's true scale (level width / source width, not exactly 1/2^k for odd
  sizes);
* in the upper half-octave (shrink from sqrt(2) to 2) the frame is crossfaded
  with the same crop warped from the next level, reaching it fully at 2x, as
  trilinear mipmapping does: without it a zoom changes sharpness abruptly (a
  visible pop) on the frame where the level changes.

Pixel-centre convention: output pixel ``(u, v)`` samples the source point
``x = x1 + (u + 0.5) * (x2 - x1) / out_w - 0.5`` (and the same in y), so the
full rectangle rendered at its own size is the identity. OpenCV resolves the
sampling position to 1/32 pixel; results are deterministic and independent of
``cv2.setNumThreads`` (each output pixel is computed alone). This module never
changes OpenCV's thread count: the process-wide setting applies (the worker
chooses it; benchmarks compare one thread with all cores).

The code is our own because no library renders a float crop path: FFmpeg's
``zoompan`` and MoviePy both round the crop to whole pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    Progress,
    register_backend,
)
from vidgen.errors import BackendError
from vidgen.motion import sample_path

__all__ = ["RENDERER", "CameraBackend", "CropRenderer", "render_path"]

Frame = NDArray[np.uint8]
Rect = tuple[float, float, float, float] | NDArray[np.float64]

#: How frames are rendered, for provenance.
RENDERER = "cv2.warpAffine cubic + area pyramid"

_FLAGS = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
#: Relative slack in the level choice, so float noise along a path never flips the level.
_SLACK = 1e-9


class CropRenderer:
    """Renders crop rectangles of one image, in its own pixels, at a fixed output size.

    Args:
        image: The source, H x W x 3 uint8 RGB (any 3-channel order is kept as is).
        out_size: The output ``(width, height)`` in pixels.

    Raises:
        ValueError: ``image`` is not an H x W x 3 uint8 array or ``out_size`` is not positive.
    """

    def __init__(self, image: NDArray[np.uint8], out_size: tuple[int, int]) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            raise ValueError(f"image must be an H x W x 3 uint8 array, got shape "
                             f"{image.shape} dtype {image.dtype}")
        out_w, out_h = (int(v) for v in out_size)
        if out_w < 1 or out_h < 1:
            raise ValueError(f"out_size must be positive (width, height), got {out_size!r}")
        self.out_size = (out_w, out_h)
        height, width = image.shape[:2]
        self.source_size = (width, height)
        sizes = [(width, height)]
        # A level smaller than the output cannot hold a crop that covers the output.
        while True:
            k = len(sizes)
            w, h = (max(1, math.floor(n / 2**k + 0.5)) for n in (width, height))
            if w < out_w or h < out_h:
                break
            sizes.append((w, h))
        #: ``(width, height)`` of every pyramid level, level 0 being the source.
        self.level_sizes: tuple[tuple[int, int], ...] = tuple(sizes)
        self._levels: dict[int, Frame] = {0: np.ascontiguousarray(image)}

    def level(self, k: int) -> Frame:
        """Pyramid level ``k``: the source area-resized to ``level_sizes[k]`` (cached)."""
        if k not in self._levels:
            resized = cv2.resize(self._levels[0], self.level_sizes[k],
                                 interpolation=cv2.INTER_AREA)
            self._levels[k] = np.asarray(resized, dtype=np.uint8)
        return self._levels[k]

    def level_for(self, rect: Rect) -> int:
        """The coarsest level at which ``rect`` (source pixels) still covers the output."""
        x1, y1, x2, y2 = _check_rect(rect)
        width, height = self.source_size
        out_w, out_h = self.out_size
        best = 0
        for k, (w, h) in enumerate(self.level_sizes[1:], start=1):
            if (x2 - x1) * w / width < out_w * (1 - _SLACK) or \
                    (y2 - y1) * h / height < out_h * (1 - _SLACK):
                break
            best = k
        return best

    def render(self, rect: Rect) -> Frame:
        """One output frame: ``rect = (x1, y1, x2, y2)`` in source pixels (floats).

        Raises:
            ValueError: the rectangle is not finite or has no area.
        """
        box = _check_rect(rect)
        k = self.level_for(box)
        frame, shrink = self._warp(k, box)
        # Crossfade to the next level over the upper half-octave (trilinear mipmapping): at a
        # shrink of 2 the frame is the next level's, so a zoom never pops at a level switch.
        weight = 2.0 * math.log2(shrink) - 1.0
        if weight > 0.0 and k + 1 < len(self.level_sizes):
            coarse, _ = self._warp(k + 1, box)
            blend = cv2.addWeighted(frame, 1.0 - weight, coarse, weight, 0.0)
            frame = np.asarray(blend, dtype=np.uint8)
        return frame

    def _warp(self, k: int, rect: tuple[float, float, float, float]) -> tuple[Frame, float]:
        """``rect`` warped from level ``k``, and the warp's shrink factor (the smaller axis)."""
        x1, y1, x2, y2 = rect
        (w, h), (width, height) = self.level_sizes[k], self.source_size
        sx, sy = w / width, h / height
        out_w, out_h = self.out_size
        # Level pixel centres: x_level = (x + 0.5) * sx - 0.5, with x the source sample point.
        ax, ay = (x2 - x1) * sx / out_w, (y2 - y1) * sy / out_h
        matrix = np.array([[ax, 0.0, x1 * sx + 0.5 * ax - 0.5],
                           [0.0, ay, y1 * sy + 0.5 * ay - 0.5]], dtype=np.float64)
        frame = cv2.warpAffine(self.level(k), matrix, self.out_size, flags=_FLAGS,
                               borderMode=cv2.BORDER_REFLECT101)
        return np.asarray(frame, dtype=np.uint8), min(ax, ay)


def _check_rect(rect: Rect) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in rect)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or not (x2 > x1 and y2 > y1):
        raise ValueError(f"rect must be finite (x1, y1, x2, y2) with x2 > x1 and y2 > y1, "
                         f"got {[x1, y1, x2, y2]}")
    return x1, y1, x2, y2


def render_path(image: NDArray[np.uint8], rects: NDArray[np.float64],
                out_size: tuple[int, int]) -> Iterator[Frame]:
    """One frame per row of ``rects`` (``(N, 4)`` source pixels), rendered lazily.

    The image and size are checked now; frames are made one at a time as the
    iterator is consumed, so memory stays bounded whatever the length.
    """
    renderer = CropRenderer(image, out_size)
    rects = np.asarray(rects, dtype=np.float64)
    if rects.ndim != 2 or rects.shape[1] != 4:
        raise ValueError(f"rects must be an (N, 4) array, got shape {rects.shape}")
    return (renderer.render(rect) for rect in rects)


def _frames(renderer: CropRenderer, rects: NDArray[np.float64],
            progress: Progress | None) -> Iterator[Frame]:
    for i, rect in enumerate(rects):
        frame = renderer.render(rect)
        if progress is not None:
            progress((i + 1) / len(rects), "render")
        yield frame


@register_backend
class CameraBackend(Backend):
    """The built-in renderer: the shot's camera path over the still keyframe, no model."""

    name: ClassVar[str] = "camera"

    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        """Frames of ``request.motion`` over ``request.image``, produced lazily.

        Raises:
            BackendError: the image or output size cannot be rendered.
            MotionError: the motion or frame count cannot be sampled.
        """
        image = request.image
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise BackendError("the keyframe must be an H x W x 3 uint8 RGB array",
                               item=request.shot_id, field="image",
                               value=f"{image.shape} {image.dtype}")
        if request.width < 1 or request.height < 1:
            raise BackendError("the output size must be positive", item=request.shot_id,
                               field="width x height", value=f"{request.width}x{request.height}")
        height, width = image.shape[:2]
        rects = sample_path(request.motion, (width, height), request.num_frames)
        renderer = CropRenderer(image, (request.width, request.height))
        return GenerationResult(
            frames=_frames(renderer, rects, progress),
            num_frames=len(rects),
            fps=request.fps,
            framed=True,
            info={"renderer": RENDERER, "pyramid_levels": len(renderer.level_sizes)},
        )

    def identity(self) -> dict[str, Any]:
        """The backend, its renderer and the OpenCV version, for provenance."""
        return {"backend": self.name, "renderer": RENDERER, "opencv": cv2.__version__}
