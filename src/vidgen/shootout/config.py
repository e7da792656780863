"""The shootout's TOML file: contenders x keyframes x seeds, the GPU, the rules, the plan.

One :class:`ShootoutConfig` (``schema = "vidgen.shootout/1"``) says what is
compared and how it is judged. Defaults are the plan's Phase 0: the same key
image and prompt for everyone, 4 s, 512x720 portrait, 24 fps; weights speed
40%, temporal quality 35%, first-frame fidelity 15%, VRAM 10%; thresholds
< 30 s per video on an RTX 4090, SSIM > 0.85, zero flash frames, fidelity
rating > 4/5, peak VRAM <= 24 GB. Paths are relative to the file. Every
problem is a :class:`~vidgen.errors.ConfigError` naming the file, the field,
the value and the limit; vidgen settings inside it (``[settings]``, a
contender's ``settings``) are checked against vidgen's settings table at once,
so a typo fails before an hour of rented GPU time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from vidgen.backends.base import available_backends, backend_class
from vidgen.config import SETTINGS, flatten, read_toml
from vidgen.errors import ConfigError, VidgenError
from vidgen.formats import Document, parse_document

__all__ = [
    "LOCKED_SETTINGS",
    "Contender",
    "GpuSpec",
    "Inputs",
    "PlanSpec",
    "ReportSpec",
    "ScoringRules",
    "ShootoutConfig",
    "Weights",
    "load_shootout",
]

#: Settings the shootout sets itself, from ``[inputs]``, a contender and its seeds.
LOCKED_SETTINGS = {
    "generation.model": "the contender's `backend`",
    "generation.template": "the contender's `template`",
    "generation.seed": "`inputs.seeds`",
    "generation.seed_policy": "`inputs.seeds` (one batch per seed, policy fixed)",
    "output.width": "`inputs.width`",
    "output.height": "`inputs.height`",
    "output.fps": "`inputs.fps`",
    "motion.duration": "`inputs.duration_sec`",
}
_SETTINGS = {s.name: s for s in SETTINGS}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Inputs(Document):
    """What every contender gets: the same keyframes, prompt, seeds and output."""

    keyframes: list[str] = Field(min_length=1, description="image files, relative to the file")
    prompt: str = Field("", description="one prompt for every keyframe; empty: each keyframe's "
                        "own (.yaml prompt, else .caption)")
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1)
    duration_sec: float = Field(4.0, gt=0.0, le=600.0)
    width: int = Field(512, ge=16, le=7680)
    height: int = Field(720, ge=16, le=4320)
    fps: int = Field(24, ge=1, le=120)

    @model_validator(mode="after")
    def _seeds(self) -> Inputs:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be unique, got {self.seeds}")
        if any(not 0 <= s <= 2**31 - 1 for s in self.seeds):
            raise ValueError(f"seeds must be 0 to {2**31 - 1}, got {self.seeds}")
        return self


class Contender(Document):
    """One model set-up: a backend, its template (model variant) and its settings."""

    name: str = Field(pattern=_NAME, description="short id: folder names, the ratings sheet")
    label: str = Field("", description="the name the report shows (default: name)")
    backend: str = Field(min_length=1, description="camera, comfyui or diffusers")
    template: str = Field("", description="ComfyUI template or diffusers variant")
    notes: str = ""
    settings: dict[str, Any] = Field(default_factory=dict,
                                     description="vidgen settings for this contender only")

    @property
    def title(self) -> str:
        return self.label or self.name


class GpuSpec(Document):
    """Where the runs happen, what they cost, and how their times map to the reference GPU.

    Times measured on ``name`` are converted to ``reference`` only through the
    ``speed_factor`` the user sets: seconds on the reference = seconds measured
    x factor. It is required whenever the two names differ; vidgen never guesses it.
    """

    name: str = Field("RTX 4090", min_length=1, description="the GPU the runs happen on")
    reference: str = Field("RTX 4090", min_length=1,
                           description="the GPU the speed threshold is stated for")
    speed_factor: float | None = Field(None, gt=0.0, description="seconds on the reference per "
                                       "second measured; required when name != reference")
    hourly_usd: float = Field(0.0, ge=0.0, description="what the machine costs per hour")
    extra_hours: float = Field(0.0, ge=0.0, description="billed hours not spent generating "
                               "(setup, downloads, idle)")

    @property
    def same_gpu(self) -> bool:
        return self.name.strip().casefold() == self.reference.strip().casefold()

    @property
    def factor(self) -> float:
        return 1.0 if self.speed_factor is None else self.speed_factor

    @model_validator(mode="after")
    def _factor(self) -> GpuSpec:
        if not self.same_gpu and self.speed_factor is None:
            raise ValueError(
                f"the runs happen on {self.name!r} but the speed threshold is for "
                f"{self.reference!r}: set gpu.speed_factor (seconds on {self.reference} = "
                f"seconds measured x factor, e.g. from a published benchmark of both GPUs); "
                f"vidgen never converts times silently")
        if self.same_gpu and self.speed_factor not in (None, 1.0):
            raise ValueError(f"gpu.speed_factor must be 1 (or left out) when the runs happen "
                             f"on the reference GPU {self.reference!r}")
        return self


class Weights(Document):
    """The weighted score's parts; they must add up to 1."""

    speed: float = Field(0.40, ge=0.0, le=1.0)
    temporal: float = Field(0.35, ge=0.0, le=1.0)
    fidelity: float = Field(0.15, ge=0.0, le=1.0)
    vram: float = Field(0.10, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _sum(self) -> Weights:
        total = self.speed + self.temporal + self.fidelity + self.vram
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"the weights add up to {total:g}, not 1 (speed {self.speed:g} + "
                             f"temporal {self.temporal:g} + fidelity {self.fidelity:g} + "
                             f"vram {self.vram:g})")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"speed": self.speed, "temporal": self.temporal, "fidelity": self.fidelity,
                "vram": self.vram}


class ScoringRules(Document):
    """Thresholds (each names its comparison) and weights; the plan's values by default."""

    speed_below_sec: float = Field(30.0, gt=0.0, description="reference seconds per video "
                                   "must be below this")
    ssim_above: float = Field(0.85, ge=0.0, lt=1.0, description="every video's mean SSIM must "
                              "be above this")
    flash_frames_max: int = Field(0, ge=0, description="flash frames allowed, all videos")
    fidelity_above: float = Field(4.0, ge=1.0, lt=5.0, description="mean first-frame fidelity "
                                  "rating (1-5) must be above this")
    vram_max_gb: float = Field(24.0, gt=0.0, description="peak VRAM must not exceed this")
    weights: Weights = Field(default_factory=Weights)


class PlanSpec(Document):
    """The capacity plan for the winner (:mod:`vidgen.planner`), on the reference GPU."""

    gpus: int = Field(2, ge=1, le=4096)
    hourly_usd: float = Field(0.75, ge=0.0, description="per GPU per hour, in production")
    target_per_day: int = Field(1000, ge=1)
    cpu_workers: int = Field(2, ge=1, le=1024)
    interpolate_sec: float | None = Field(None, ge=0.0,
                                          description="default: the winner's measured mean")
    encode_sec: float | None = Field(None, ge=0.0, description="default: the winner's measured "
                                     "mean")


class ReportSpec(Document):
    """How the report is written."""

    embed_videos: bool = Field(True, description="videos inside the HTML (one file to send); "
                               "false: linked beside it")


class ShootoutConfig(Document):
    """``shootout.toml``: see the module docstring and docs/shootout.md."""

    schema_: Literal["vidgen.shootout/1"] = Field("vidgen.shootout/1", alias="schema")
    title: str = "Model shootout"
    inputs: Inputs
    settings: dict[str, Any] = Field(default_factory=dict,
                                     description="vidgen settings for every contender")
    gpu: GpuSpec = Field(default_factory=GpuSpec)
    scoring: ScoringRules = Field(default_factory=ScoringRules)
    plan: PlanSpec = Field(default_factory=PlanSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    contenders: list[Contender] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ShootoutConfig:
        names = [c.name.casefold() for c in self.contenders]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"contender names must be unique (case aside): {doubles}")
        return self

    def contender(self, name: str) -> Contender:
        """The contender called ``name``.

        Raises:
            ConfigError: there is none.
        """
        for contender in self.contenders:
            if contender.name == name:
                return contender
        raise ConfigError("no such contender", field="contenders.name", value=name,
                          limit=", ".join(c.name for c in self.contenders))


def load_shootout(path: Path) -> tuple[ShootoutConfig, list[Path]]:
    """Read and check a shootout file.

    Returns:
        The config and its keyframes as absolute paths, in the file's order.

    Raises:
        ConfigError: unreadable TOML, a bad field, an unknown or locked vidgen setting, a
            missing keyframe, an unknown backend or template.
    """
    path = Path(path)
    table = read_toml(path, "shootout file")
    config = parse_document(ShootoutConfig, table, item=path, error=ConfigError)
    config = config.model_copy(update={
        "settings": _checked_settings(config.settings, path, "settings"),
        "contenders": [c.model_copy(update={"settings": _checked_settings(
            c.settings, path, f"contenders[{i}].settings")}) for i, c in
            enumerate(config.contenders)]})
    for i, contender in enumerate(config.contenders):
        _check_backend(contender, path, i)
    keyframes = [(path.parent / k).resolve() for k in config.inputs.keyframes]
    stems: dict[str, int] = {}
    for i, keyframe in enumerate(keyframes):
        if not keyframe.is_file():
            raise ConfigError("no such keyframe file", item=path, field=f"inputs.keyframes[{i}]",
                              value=config.inputs.keyframes[i],
                              hint="keyframe paths are relative to the shootout file")
        if keyframe.stem in stems:
            raise ConfigError("two keyframes with the same name (stem)", item=path,
                              field=f"inputs.keyframes[{i}]", value=config.inputs.keyframes[i],
                              limit=f"unique stems; also inputs.keyframes[{stems[keyframe.stem]}]")
        stems[keyframe.stem] = i
    return config, keyframes


def _checked_settings(raw: Mapping[str, Any], path: Path, where: str) -> dict[str, Any]:
    """Known, unlocked vidgen settings with values of the right type and range."""
    checked: dict[str, Any] = {}
    for name, value in flatten(raw):
        field = f"{where}.{name}"
        if name in LOCKED_SETTINGS:
            raise ConfigError("set by the shootout itself", item=path, field=field, value=value,
                              hint=f"use {LOCKED_SETTINGS[name]}")
        if name not in _SETTINGS:
            raise ConfigError("unknown vidgen setting", item=path, field=field,
                              hint="see `vidgen config` for every setting")
        try:
            checked[name] = _SETTINGS[name].coerce(value, str(path))
        except ConfigError as exc:
            raise ConfigError(exc.message, item=path, field=field, value=value,
                              limit=exc.limit) from exc
    return checked


def _check_backend(contender: Contender, path: Path, index: int) -> None:
    field = f"contenders[{index}]"
    if contender.backend not in available_backends():
        raise ConfigError("unknown backend", item=path, field=f"{field}.backend",
                          value=contender.backend, limit=", ".join(available_backends()))
    try:
        backend_class(contender.backend).template_info(contender.template)
    except VidgenError as exc:
        raise ConfigError(exc.message, item=path, field=f"{field}.template",
                          value=contender.template, limit=exc.limit, hint=exc.hint) from exc
