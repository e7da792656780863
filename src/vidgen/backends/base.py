"""The backend seam: one small interface, a registry, the same argument names everywhere.

A backend is created once per worker, :meth:`Backend.load` ed once and kept
resident; :meth:`Backend.generate` runs per shot. Optional dependencies are
imported inside the backend's module, and a missing one raises
:class:`~vidgen.errors.BackendUnavailable` naming what to install. Backends
register themselves by name (the manifest's ``generation_params.model`` picks
one, ``camera`` being the built-in renderer); :func:`create_backend` imports the
module of a known name lazily so that unused heavy dependencies never load.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from vidgen.config import Config
from vidgen.errors import BackendUnavailable, ConfigError
from vidgen.motion import Motion

__all__ = [
    "Backend",
    "GenerationRequest",
    "GenerationResult",
    "Progress",
    "TemplateInfo",
    "available_backends",
    "backend_class",
    "create_backend",
    "register_backend",
]

#: Called with a fraction in [0, 1] and a short description of the current step.
Progress = Callable[[float, str], None]

Frame = NDArray[np.uint8]


@dataclass(frozen=True)
class GenerationRequest:
    """What one shot asks of a backend. Every backend takes the same names."""

    shot_id: str
    image: Frame  # the whole keyframe, H x W x 3 RGB, display orientation
    prompt: str
    negative_prompt: str
    width: int  # the frames to produce
    height: int
    num_frames: int
    fps: int  # the rate the frames are generated at (the model's native rate)
    steps: int | None
    guidance: float | None
    seed: int
    motion: Motion
    template: str | None = None  # a workflow or model variant: a name, or a path in the batch
    camera_mode: str = "path"  # how a model honours the motion (vidgen.backends.framing)


@dataclass
class GenerationResult:
    """Frames from a backend.

    ``framed`` is true when the frames already follow the shot's camera path
    (the camera backend); otherwise the pipeline's reframe stage applies the
    exact path to them (``follow_path``) or only fits them to the output size.
    ``region`` is the keyframe area the frames show, in keyframe pixels (None:
    all of it). ``info`` goes into the shot's provenance record.
    """

    frames: Iterable[Frame]
    num_frames: int
    fps: float
    framed: bool
    info: dict[str, Any] = field(default_factory=dict)
    region: tuple[float, float, float, float] | None = None
    follow_path: bool = True


@dataclass(frozen=True)
class TemplateInfo:
    """A template as a new batch records it: the manifest's ``template`` value, the
    model's native frame rate, and workflow files to copy into the batch."""

    ref: str | None = None
    native_fps: float | None = None
    files: tuple[Path, ...] = ()


class Backend(ABC):
    """Turns requests into frames; loaded once per worker and kept resident."""

    name: ClassVar[str]

    def __init__(self, config: Config) -> None:
        self.config = config

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load models or connect; called once before the first shot."""

    @abstractmethod
    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        """Frames for one shot; raise :class:`~vidgen.errors.BackendError` on failure."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`load` took."""

    @classmethod
    def template_info(cls, template: str) -> TemplateInfo:
        """Check ``generation.template`` when a batch is made (no server, no weights needed).

        Raises:
            ConfigError: the template is unknown or unusable with this backend.
        """
        if template:
            raise ConfigError(f"the {cls.name} backend takes no template",
                              field="generation.template", value=template)
        return TemplateInfo()

    def identity(self) -> dict[str, Any]:
        """What exactly generated the frames (model, weights, versions), for provenance."""
        return {"backend": self.name}


_REGISTRY: dict[str, type[Backend]] = {}
#: Backends that register when their module is imported: name -> module.
_KNOWN = {"camera": "vidgen.backends.camera", "comfyui": "vidgen.backends.comfyui",
          "diffusers": "vidgen.backends.diffusers"}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_backends() -> list[str]:
    return sorted(set(_REGISTRY) | set(_KNOWN))


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under ``name``, importing its module if needed.

    Raises:
        BackendUnavailable: unknown name, or its module cannot be imported here.
    """
    if name not in _REGISTRY and name in _KNOWN:
        try:
            importlib.import_module(_KNOWN[name])
        except ImportError as exc:
            raise BackendUnavailable(f"cannot load backend: {exc}", item=name,
                                     hint="install the extra it needs") from exc
    if name not in _REGISTRY:
        raise BackendUnavailable("unknown backend", field="generation_params.model", value=name,
                                 limit=", ".join(available_backends()))
    return _REGISTRY[name]


def create_backend(name: str, config: Config) -> Backend:
    """A new, not yet loaded, backend by name (see :func:`backend_class`)."""
    return backend_class(name)(config)
