"""The interpolation seam: retime frames from the model's rate to the output rate.

:func:`retime_plan` decides, for every output frame, which two source frames
it lies between and where (the timestep ``t`` in [0, 1)); an
:class:`Interpolator` then makes each output frame from its pair. A clip of
``n`` frames at ``src_fps`` (``n / src_fps`` seconds) becomes
``round(n * dst_fps / src_fps)`` frames, the same duration at the new rate;
output frame ``k`` shows the instant ``k / dst_fps``, so source frames that
fall on an output instant are kept as they are, and the first and last output
frames are exactly the first and last source frames.
The built-in ``blend`` interpolator cross-fades; ``flow`` (OpenCV optical
flow, CPU) and ``rife`` (a RIFE network, torch) register under their own
names and are imported only when asked for.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from vidgen.errors import ConfigError

__all__ = ["BlendInterpolator", "Interpolator", "create_interpolator", "register_interpolator",
           "retime_plan"]

Frame = NDArray[np.uint8]


def retime_plan(n_src: int, src_fps: float, dst_fps: float) -> list[tuple[int, float]]:
    """For each output frame: (index of the earlier source frame, timestep towards the next).

    ``round(n_src * dst_fps / src_fps)`` output frames; output frame ``k`` shows the
    instant ``k / dst_fps``, i.e. source position ``k * src_fps / dst_fps``, so whole-number
    ratios keep every source frame as it is (2x: every other output frame). Positions
    past the last source frame hold it; the first and last output frames are exactly
    the first and last source frames.
    """
    if n_src < 1 or src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"bad retime: {n_src} frames, {src_fps} -> {dst_fps} fps")
    if n_src == 1:
        return [(0, 0.0)]
    n_dst = max(2, round(n_src * dst_fps / src_fps))
    plan = []
    for k in range(n_dst):
        position = min(k * src_fps / dst_fps, n_src - 1.0) if k < n_dst - 1 else n_src - 1.0
        index = min(int(np.floor(position + 1e-9)), n_src - 1)
        t = position - index
        if t < 1e-9:
            t = 0.0
        plan.append((index, round(t, 12)))
    return plan


class Interpolator(ABC):
    """Makes in-between frames; created with the effective settings (``interpolate.*``)."""

    name: ClassVar[str]

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = config if config is not None else {}

    @abstractmethod
    def between(self, a: Frame, b: Frame, t: float) -> Frame:
        """The frame at timestep ``t`` (0 < t < 1) from ``a`` to ``b``."""

    def retime(self, frames: Sequence[Frame], src_fps: float, dst_fps: float) -> Iterator[Frame]:
        """Every output frame, lazily; exact source frames where ``t`` is 0."""
        for index, t in retime_plan(len(frames), src_fps, dst_fps):
            yield frames[index] if t == 0.0 else self.between(frames[index], frames[index + 1], t)


class BlendInterpolator(Interpolator):
    """A plain cross-fade: fast, ghosts on motion. The reference the others must beat."""

    name = "blend"

    def between(self, a: Frame, b: Frame, t: float) -> Frame:
        mixed = a.astype(np.float32) * (1.0 - t) + b.astype(np.float32) * t
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


_REGISTRY: dict[str, type[Interpolator]] = {"blend": BlendInterpolator}
#: Interpolators that register when their module is imported: name -> module.
_KNOWN = {"flow": "vidgen.interpolate.flow", "rife": "vidgen.interpolate.rife"}


def register_interpolator(cls: type[Interpolator]) -> type[Interpolator]:
    """Class decorator: make an interpolator available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def create_interpolator(name: str, config: Mapping[str, Any] | None = None) -> Interpolator:
    """An interpolator by name (``interpolate.method``), its module imported on first use.

    Raises:
        ConfigError: unknown name, or its optional dependency is not installed.
    """
    if name not in _REGISTRY and name in _KNOWN:
        try:
            importlib.import_module(_KNOWN[name])
        except ImportError as exc:
            raise ConfigError(f"cannot load interpolator: {exc}", field="interpolate.method",
                              value=name, hint="install the extra it needs: "
                                               "pip install 'vidgen[torch]'") from exc
    if name not in _REGISTRY:
        raise ConfigError("unknown interpolator", field="interpolate.method", value=name,
                          limit=", ".join(sorted(set(_REGISTRY) | set(_KNOWN))))
    return _REGISTRY[name](config)
