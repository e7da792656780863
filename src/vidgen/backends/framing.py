"""Camera motion for image-to-video models: what region to ask for, and in which words.

A model animates a picture; it does not follow a crop rectangle. Two ways to get
the shot's camera motion out of one (``generation.camera_mode``):

* ``path`` (exact): the model is asked for a steady camera on the keyframe
  region the whole path covers (the bounding box of the start and end
  rectangles: every edge of the sampled path moves monotonically, so that box
  holds every frame's crop), at the model's own size and the region's aspect;
  the pipeline's reframe stage then applies the exact start -> end path to the
  generated frames with the shared sampler. The crops are then taken from a
  picture of the model's resolution, so the upscaling this implies is checked
  against the same rules as any crop (``rules.max_upscale``).
* ``prompt`` (the model's own camera): the motion is described in words the
  model family understands (:data:`PHRASES`) and the model is shown the start
  rectangle; the frames are only fitted to the output size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vidgen.errors import MotionError
from vidgen.motion import Motion, MotionType, sample_path
from vidgen.rules import RuleLimits

__all__ = ["NEGATIVE_MOTION", "PHRASES", "Framing", "camera_prompt", "frames_for", "plan_framing"]

CameraMode = Literal["path", "prompt"]

#: Camera phrases per model family; "static" is what ``path`` mode asks for.
PHRASES: dict[str, dict[str, str]] = {
    "wan": {
        "static": "static shot, fixed camera, the camera does not move",
        "zoom_in": "the camera slowly pushes in",
        "zoom_out": "the camera slowly pulls back",
        "pan_left": "the camera slowly pans left",
        "pan_right": "the camera slowly pans right",
        "pan_up": "the camera slowly tilts up",
        "pan_down": "the camera slowly tilts down",
    },
    "hunyuan": {
        "static": "static shot, the camera stays still",
        "zoom_in": "the camera zooms in slowly",
        "zoom_out": "the camera zooms out slowly",
        "pan_left": "the camera pans to the left slowly",
        "pan_right": "the camera pans to the right slowly",
        "pan_up": "the camera tilts upward slowly",
        "pan_down": "the camera tilts downward slowly",
    },
    "generic": {
        "static": "static camera",
        "zoom_in": "slow zoom in",
        "zoom_out": "slow zoom out",
        "pan_left": "slow pan left",
        "pan_right": "slow pan right",
        "pan_up": "slow tilt up",
        "pan_down": "slow tilt down",
    },
}
#: Added to the negative prompt in ``path`` mode, where the camera must hold still.
NEGATIVE_MOTION = "camera movement, zoom, panning, shaky camera"


@dataclass(frozen=True)
class Framing:
    """What to generate: the keyframe ``region`` (pixels, x1 y1 x2 y2) at ``size`` (w, h)."""

    mode: CameraMode
    region: tuple[float, float, float, float]
    size: tuple[int, int]
    upscale: float  # the largest upscale of a crop from the generated frames (path mode)

    def info(self, conditioning: str, prompt: str, negative: str) -> dict[str, Any]:
        """The framing's part of a shot's ``generation_info``, alike for every model backend."""
        return {"conditioning": conditioning, "honours_keyframe": conditioning == "image",
                "camera_mode": self.mode, "prompt_sent": prompt,
                "negative_prompt_sent": negative, "region": [round(v, 2) for v in self.region],
                "crop_upscale": round(self.upscale, 4) or None}


def dominant_motion(motion: Motion) -> str:
    """The motion's name for phrasing: its type, or for ``custom`` its strongest component."""
    if motion.motion_type is not MotionType.CUSTOM:
        return motion.motion_type.value
    (a1, b1, a2, b2), (c1, d1, c2, d2) = motion.start, motion.end
    growth = math.log((c2 - c1) / (a2 - a1))
    dx, dy = (c1 + c2 - a1 - a2) / 2, (d1 + d2 - b1 - b2) / 2
    moves = {"zoom_out" if growth > 0 else "zoom_in": abs(growth) / 2,
             "pan_right" if dx > 0 else "pan_left": abs(dx), "pan_down" if dy > 0 else "pan_up":
             abs(dy)}
    name, amount = max(moves.items(), key=lambda kv: kv[1])
    return name if amount > 1e-6 else "static"


def camera_prompt(prompt: str, negative: str, motion: Motion, mode: CameraMode, family: str
                  ) -> tuple[str, str]:
    """The prompt and negative prompt with the camera phrase of ``mode`` added."""
    phrases = PHRASES.get(family, PHRASES["generic"])
    if mode == "path":
        return _join(prompt, phrases["static"]), _join(negative, NEGATIVE_MOTION)
    return _join(prompt, phrases[dominant_motion(motion)]), negative


def _join(text: str, phrase: str) -> str:
    text = text.strip().rstrip(".,")
    return f"{text}, {phrase}" if text else phrase


def frames_for(wanted: int, step: int, low: int = 1) -> int:
    """The smallest frame count a model accepts (``low + k * step``) that is >= ``wanted``:
    Wan and HunyuanVideo make ``4k + 1`` frames, Mochi ``6k + 1``."""
    step = max(1, step)
    return low + max(0, -(-(wanted - low) // step)) * step


def _round(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def plan_framing(motion: Motion, image_size: tuple[int, int], native: tuple[int, int],
                 multiple: int, mode: CameraMode, output_size: tuple[int, int],
                 limits: RuleLimits | None = None, item: str = "") -> Framing:
    """The region and generation size for a shot.

    ``native`` is the model's usual (w, h); the size keeps about its pixel count,
    takes the region's aspect, and is rounded to ``multiple``. The region grows
    (inside the keyframe) to the rounded size's aspect.

    Raises:
        MotionError: in ``path`` mode, when the crops taken from the generated frames
            would be upscaled beyond ``limits.max_upscale``.
    """
    img_w, img_h = image_size
    rect = np.array(motion.start if mode == "prompt" else
                    [min(motion.start[0], motion.end[0]), min(motion.start[1], motion.end[1]),
                     max(motion.start[2], motion.end[2]), max(motion.start[3], motion.end[3])])
    x1, y1, x2, y2 = rect * [img_w, img_h, img_w, img_h]
    area = native[0] * native[1]
    aspect = (x2 - x1) / (y2 - y1)
    size = (_round(math.sqrt(area * aspect), multiple), _round(math.sqrt(area / aspect), multiple))
    want = size[0] / size[1]
    w, h = x2 - x1, y2 - y1
    w, h = (max(w, h * want), h) if w / h < want else (w, max(h, w / want))
    w, h = min(w, img_w), min(h, img_h)  # a region the keyframe cannot hold keeps a tiny stretch
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    cx, cy = min(max(cx, w / 2), img_w - w / 2), min(max(cy, h / 2), img_h - h / 2)
    region = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    upscale = 0.0
    if mode == "path":
        rects = sample_path(motion, image_size, 2 + int(motion.duration_sec * 8))
        widths = (rects[:, 2] - rects[:, 0]) * size[0] / w
        heights = (rects[:, 3] - rects[:, 1]) * size[1] / h
        upscale = float(np.max(np.maximum(output_size[0] / widths, output_size[1] / heights)))
        if limits is not None and upscale > limits.max_upscale + 1e-9:
            raise MotionError(
                f"camera_mode 'path' crops from {size[0]}x{size[1]} generated frames: the "
                f"{output_size[0]}x{output_size[1]} output would be upscaled too much",
                item=item, field="upscale", value=round(upscale, 3), limit=limits.max_upscale,
                hint="use a larger model size (a 720p template), a smaller output or a gentler "
                     "zoom; or camera_mode 'prompt'")
    return Framing(mode, region, size, upscale)
