"""The QC seam: checks are accumulators fed one decoded frame at a time.

One decode pass feeds every registered check (``update(frame)``), so memory
stays bounded whatever the clip's length; ``finish()`` gives a
:class:`CheckResult` with the measured values, a verdict (pass / warn / fail)
and reasons a person can act on. :func:`run_checks` runs them all and folds
the verdicts: a shot with any failing check is flagged.

Each :class:`Frame` computes what checks derive from it (the analysis-size
copy, luma, linear luminance, ...) once, on first use, and shares it: ten
checks do not convert a frame ten times. Checks that allow it work on the
analysis copy, area-downscaled to at most ``qc.analysis_height`` lines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.errors import ConfigError
from vidgen.motion import Motion

__all__ = [
    "CheckResult",
    "Frame",
    "QCCheck",
    "QCContext",
    "QCReport",
    "Verdict",
    "available_checks",
    "frame_ranges",
    "register_check",
    "run_checks",
]

Verdict = Literal["pass", "warn", "fail"]
_ORDER: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}
#: 8-bit sRGB value -> linear light (IEC 61966-2-1), for relative luminance.
SRGB_TO_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92,
                          ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4).astype(np.float32)
#: Rec. 709 luma / luminance weights of R, G, B.
REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class QCContext:
    """What a check may know beyond the frames: rate, size and, for a shot, its inputs.

    ``keyframe`` is the whole keyframe (RGB, display orientation) and ``motion``
    the shot's camera motion, when the video is a vidgen shot.
    """

    fps: float
    width: int
    height: int
    keyframe: NDArray[np.uint8] | None = None
    motion: Motion | None = None
    analysis_height: int = 360
    backend: str | None = None  # what made the frames, e.g. "camera"

    @property
    def analysis_size(self) -> tuple[int, int]:
        """(width, height) of the analysis copy: at most ``analysis_height`` lines."""
        if self.height <= self.analysis_height:
            return self.width, self.height
        scale = self.analysis_height / self.height
        return max(1, round(self.width * scale)), self.analysis_height


class Frame:
    """One decoded frame and what checks derive from it, each computed once."""

    def __init__(self, rgb: NDArray[np.uint8], index: int, context: QCContext) -> None:
        self.rgb = rgb
        self.index = index
        self.context = context

    @property
    def time(self) -> float:
        return self.index / self.context.fps

    @cached_property
    def small(self) -> NDArray[np.uint8]:
        """The analysis copy (area-downscaled RGB)."""
        size = self.context.analysis_size
        if (self.rgb.shape[1], self.rgb.shape[0]) == size:
            return self.rgb
        return cast(NDArray[np.uint8], cv2.resize(self.rgb, size, interpolation=cv2.INTER_AREA))

    @cached_property
    def gray(self) -> NDArray[np.float32]:
        """Rec. 709 luma of the analysis copy, float32 in 0-255."""
        return cast(NDArray[np.float32], self.small.astype(np.float32) @ REC709)

    @cached_property
    def linear(self) -> NDArray[np.float32]:
        """Linear-light RGB of the analysis copy, float32 in 0-1."""
        return SRGB_TO_LINEAR[self.small]

    @cached_property
    def luminance(self) -> NDArray[np.float32]:
        """Relative luminance of the analysis copy (WCAG), float32 in 0-1."""
        return cast(NDArray[np.float32], self.linear @ REC709)


@dataclass
class CheckResult:
    """One check's outcome."""

    name: str
    verdict: Verdict
    values: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    timeline: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not timeline:
            data.pop("timeline")
        return data


@dataclass
class QCReport:
    """Every check's result and the folded verdict."""

    checks: list[CheckResult]
    frames: int
    fps: float = 0.0

    @property
    def verdict(self) -> Verdict:
        worst = max((c.verdict for c in self.checks), key=_ORDER.__getitem__, default="pass")
        return cast(Verdict, worst)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {r}" for c in self.checks if c.verdict != "pass" for r in c.reasons]

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self, *, timeline: bool = False) -> dict[str, Any]:
        return {"verdict": self.verdict, "frames": self.frames,
                "checks": [c.to_dict(timeline=timeline) for c in self.checks]}


class QCCheck(ABC):
    """An accumulator over the frames of one video.

    Subclasses set ``name`` and implement :meth:`update` and :meth:`finish`. A
    check that needs the shot's inputs (keyframe, motion) and does not get them
    reports ``pass`` with a reason saying it was skipped.
    """

    name: ClassVar[str]

    def __init__(self, config: Mapping[str, Any], context: QCContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    def update(self, frame: Frame) -> None:
        """Take the next frame."""

    @abstractmethod
    def finish(self) -> CheckResult:
        """The verdict once every frame has been seen."""


_REGISTRY: dict[str, type[QCCheck]] = {}


def register_check(cls: type[QCCheck]) -> type[QCCheck]:
    """Class decorator: run ``cls`` in every QC pass."""
    _REGISTRY[cls.name] = cls
    return cls


def available_checks() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    import vidgen.qc.checks  # noqa: F401 - importing registers the built-in checks


def frame_ranges(frames: Iterable[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``: frame lists a person can read."""
    parts: list[str] = []
    run: list[int] = []
    for index in sorted(set(frames)):
        if run and index != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(index)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(parts)


def run_checks(frames: Iterable[NDArray[np.uint8]], config: Mapping[str, Any],
               context: QCContext, *, only: Iterable[str] | None = None) -> QCReport:
    """Feed every registered check (or those named in ``only``) from one pass over ``frames``."""
    _load_builtin()
    names = sorted(_REGISTRY) if only is None else sorted(only)
    unknown = sorted(set(names) - set(_REGISTRY))
    if unknown:
        raise ConfigError("unknown QC check", field="only", value=unknown,
                          limit=", ".join(sorted(_REGISTRY)))
    checks = [_REGISTRY[name](config, context) for name in names]
    count = 0
    for index, rgb in enumerate(frames):
        frame = Frame(rgb, index, context)
        for check in checks:
            check.update(frame)
        count = index + 1
    return QCReport([check.finish() for check in checks], count, context.fps)
