"""The QC seam: checks are accumulators fed one decoded frame at a time.

One decode pass feeds every registered check (``update(frame, index)``), so
memory stays bounded whatever the clip's length; ``finish()`` gives a
:class:`CheckResult` with the measured values, a verdict (pass / warn / fail)
and reasons a person can act on. :func:`run_checks` runs them all and folds
the verdicts: a shot with any failing check is flagged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, cast

import numpy as np
from numpy.typing import NDArray

from vidgen.motion import Motion

__all__ = [
    "CheckResult",
    "QCCheck",
    "QCContext",
    "QCReport",
    "Verdict",
    "available_checks",
    "register_check",
    "run_checks",
]

Verdict = Literal["pass", "warn", "fail"]
_ORDER: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class QCContext:
    """What a check may know beyond the frames: rate, size and, for a shot, its inputs."""

    fps: float
    width: int
    height: int
    keyframe: NDArray[np.uint8] | None = None
    motion: Motion | None = None


@dataclass
class CheckResult:
    """One check's outcome."""

    name: str
    verdict: Verdict
    values: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QCReport:
    """Every check's result and the folded verdict."""

    checks: list[CheckResult]
    frames: int

    @property
    def verdict(self) -> Verdict:
        worst = max((c.verdict for c in self.checks), key=_ORDER.__getitem__, default="pass")
        return cast(Verdict, worst)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {r}" for c in self.checks if c.verdict != "pass" for r in c.reasons]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "frames": self.frames,
                "checks": [c.to_dict() for c in self.checks]}


class QCCheck(ABC):
    """An accumulator over the frames of one video."""

    name: ClassVar[str]

    def __init__(self, config: Mapping[str, Any], context: QCContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    def update(self, frame: NDArray[np.uint8], index: int) -> None:
        """Take the next RGB frame (H x W x 3 uint8)."""

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
    from vidgen.qc import brightness  # noqa: F401 - registers its checks


def run_checks(frames: Iterable[NDArray[np.uint8]], config: Mapping[str, Any],
               context: QCContext) -> QCReport:
    """Feed every registered check from one pass over ``frames``."""
    _load_builtin()
    checks = [cls(config, context) for _, cls in sorted(_REGISTRY.items())]
    count = 0
    for index, frame in enumerate(frames):
        for check in checks:
            check.update(frame, index)
        count = index + 1
    return QCReport([check.finish() for check in checks], count)
