"""Camera-backend renders of the bundled keyframes, for the QC false-positive guards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.media import load_image
from vidgen.motion import propose_motion, sample_path
from vidgen.qc import QCContext
from vidgen.rules import RuleLimits

KEYFRAMES = Path(__file__).resolve().parents[2] / "examples" / "keyframes"
FPS = 24


def camera_shot(name: str, kind: str, intensity: float
                ) -> tuple[Iterator[NDArray[np.uint8]], QCContext]:
    """A 4-s 720p camera-backend render of a bundled keyframe (upscaled to 2048 wide).

    The frames come lazily, as the pipeline streams them; the context carries the
    keyframe and motion, as the pipeline's QC pass does.
    """
    image = load_image(KEYFRAMES / name, max_pixels=10**8, max_bytes=10**9)
    height = round(image.shape[0] * 2048 / image.shape[1])
    image = np.asarray(cv2.resize(image, (2048, height), interpolation=cv2.INTER_CUBIC))
    size, out = (image.shape[1], image.shape[0]), (1280, 720)
    motion = propose_motion(kind, intensity=intensity, duration_sec=4.0, easing="ease_in_out",
                            image_size=size, output_size=out, fps=FPS,
                            limits=RuleLimits.from_config(load_config(env={})).preset_limits())
    assert motion.motion_type == kind
    frames = render_path(image, sample_path(motion, size, 96), out)
    return frames, QCContext(fps=FPS, width=1280, height=720, keyframe=image, motion=motion)
