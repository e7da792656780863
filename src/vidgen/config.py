"""One settings table, read from ``vidgen.toml``, ``VIDGEN_*`` and CLI flags.

Every setting is declared once in :data:`SETTINGS` (dotted name, default,
help, bounds). Precedence, highest first: a CLI flag, an environment variable
(``output.width`` -> ``VIDGEN_OUTPUT_WIDTH``), the TOML file, the default.
The TOML file uses one table per prefix::

    [output]
    width = 720

The file is ``--config PATH``, else ``$VIDGEN_CONFIG``, else ``./vidgen.toml``
when it exists. Unknown names, wrong types and out-of-range values are
:class:`~vidgen.errors.ConfigError` naming the setting, where it came from,
the value and the limit.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidgen.errors import ConfigError

__all__ = ["SETTINGS", "Config", "Setting", "flatten", "load_config", "read_toml"]


@dataclass(frozen=True)
class Setting:
    """One configurable value."""

    name: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | tuple[float, ...] | None = None

    @property
    def env(self) -> str:
        return "VIDGEN_" + self.name.upper().replace(".", "_")

    def coerce(self, raw: Any, source: str, *, text: bool = False) -> Any:
        """Check ``raw`` against this setting's type and bounds.

        ``text`` values (environment variables) are parsed from strings first; a
        TOML file or a flag must already give the right type.
        """
        kind = type(self.default)

        def fail(why: str, limit: object = None) -> ConfigError:
            return ConfigError(why, item=source, field=self.name, value=raw, limit=limit)

        value: Any = raw
        if isinstance(raw, str) and kind is not str and text:
            word = raw.strip()
            if kind is bool:
                if word.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise fail("expected a boolean", "true or false")
                value = word.lower() in {"1", "true", "yes", "on"}
            elif kind is list:
                value = [part.strip() for part in word.split(",") if part.strip()]
            else:
                try:
                    value = kind(word)
                except ValueError as exc:
                    raise fail(f"expected {kind.__name__}") from exc
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is list and isinstance(value, list | tuple):
            if not all(isinstance(v, str) for v in value):
                raise fail("expected a list of strings")
            value = list(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise fail(f"expected {kind.__name__}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise fail("must be a finite number")
        if self.minimum is not None and value < self.minimum:
            raise fail("too small", f">= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise fail("too large", f"<= {self.maximum}")
        if self.choices is not None and value not in self.choices:
            raise fail("not one of the choices", ", ".join(f"{c:g}" if isinstance(c, float)
                                                           else str(c) for c in self.choices))
        return value


MOTION_TYPES = (
    "static", "zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down", "custom",
)
EASINGS = ("linear", "ease_in", "ease_out", "ease_in_out")

SETTINGS: tuple[Setting, ...] = (
    Setting("workspace", ".", "Root of the studio's workflow; the audit log lives under it."),
    Setting("audit.enabled", True, "Write FileTracker-compatible audit records."),
    Setting("audit.log_dir", "data/file_operations_logs",
            "Folder of the audit log, relative to `workspace` unless absolute."),
    Setting("sources.protected", ["__selected", "__crop", "__cropped", "mojo*"],
            "Folder names (glob patterns) vidgen never writes into."),
    Setting("image.max_pixels", 50_000_000,
            "Largest image accepted, in pixels (guards against decompression bombs).",
            minimum=1),
    Setting("image.max_bytes", 256 * 1024 * 1024, "Largest image file accepted, in bytes.",
            minimum=1),
    Setting("batch.project_id", "vidgen", "Project id written into new manifests."),
    Setting("batch.workers", 0,
            "Threads that read, hash and copy keyframes during `batch create` (0 = one per core).",
            minimum=0, maximum=64),
    Setting("generation.model", "camera",
            "Model (backend) that turns keyframes into video; `camera` is the built-in renderer."),
    Setting("generation.seed", 42, "Base seed; each shot's seed follows `generation.seed_policy`.",
            minimum=0, maximum=2**31 - 1),
    Setting("generation.seed_policy", "hash",
            "fixed: every shot gets the base seed; sequential: base + index; "
            "hash: derived from base and stem (independent of order).",
            choices=("fixed", "sequential", "hash")),
    Setting("generation.steps", 0, "Sampling steps (0 = the model's default).",
            minimum=0, maximum=1000),
    Setting("generation.guidance", 0.0, "Guidance scale (0 = the model's default).",
            minimum=0.0, maximum=50.0),
    Setting("generation.native_fps", 0,
            "Frame rate the model generates at (0 = the output frame rate).",
            minimum=0, maximum=120),
    Setting("generation.negative_prompt", "", "Negative prompt for every shot."),
    Setting("generation.template", "",
            "Workflow or model variant: a built-in ComfyUI template name, or an API-format "
            "workflow file (copied into the batch); empty: the backend's default."),
    Setting("generation.camera_mode", "path",
            "How a model honours the motion: path (steady generated frames, exact crop path "
            "applied after) or prompt (the motion described in words).",
            choices=("path", "prompt")),
    Setting("output.width", 512, "Output video width in pixels (even).", minimum=16, maximum=7680),
    Setting("output.height", 720, "Output video height in pixels (even).", minimum=16,
            maximum=4320),
    Setting("output.fps", 24, "Output frame rate.", minimum=1, maximum=120),
    Setting("output.codec", "h264", "Output codec.", choices=("h264", "h265")),
    Setting("output.crf", 20, "Constant rate factor (quality; lower is better).",
            minimum=0, maximum=51),
    Setting("encode.preset", "medium", "x264/x265 speed preset (slower: smaller files).",
            choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                     "slower", "veryslow")),
    Setting("encode.nvenc", "auto",
            "auto: use NVENC when the encoder exists and opens, else software (logged); "
            "off: always software.", choices=("auto", "off")),
    Setting("worker.workers", 1, "Worker processes for `vidgen run` on this machine.",
            minimum=1, maximum=64),
    Setting("worker.lease_sec", 60.0,
            "A running shot's lease; a worker renews it while alive, and a shot whose lease "
            "ran out is taken over by the next worker.", minimum=1.0),
    Setting("worker.max_attempts", 3,
            "Attempts lost to a dead worker (a crash, a kill) before the shot stays failed; "
            "an error fails a shot at once.",
            minimum=1, maximum=100),
    Setting("comfyui.url", "http://127.0.0.1:8188", "ComfyUI server the `comfyui` backend uses."),
    Setting("comfyui.timeout_sec", 1800.0,
            "Wall-clock limit of one shot on the server (queue wait included); then the prompt "
            "is cancelled and the shot fails.", minimum=1.0),
    Setting("comfyui.retries", 5,
            "Connection attempts (with exponential backoff) before the server counts as "
            "unreachable and the worker stops, leaving the shots queued.", minimum=1,
            maximum=50),
    Setting("comfyui.retry_backoff_sec", 1.0,
            "First wait between connection attempts; doubles each time, at most 30 s.",
            minimum=0.0),
    Setting("comfyui.poll_sec", 5.0,
            "Poll /history after this long without a websocket message.", minimum=0.05),
    Setting("comfyui.resubmits", 2,
            "Times a prompt the server lost (it restarted) is submitted again.", minimum=0,
            maximum=10),
    Setting("comfyui.vram_sample_sec", 1.0,
            "Interval of the /system_stats samples that give a job's peak VRAM (0: off).",
            minimum=0.0),
    Setting("interpolate.method", "flow",
            "How frames are retimed when the model's rate differs from the output rate.",
            choices=("flow", "rife", "blend")),
    Setting("interpolate.flow_preset", "fast",
            "flow: the DIS optical-flow preset (slower presets follow motion better).",
            choices=("ultrafast", "fast", "medium")),
    Setting("interpolate.rife_weights", "",
            "rife: the Practical-RIFE 4.25/4.26 flownet.pkl file (never downloaded)."),
    Setting("interpolate.device", "auto",
            "rife: torch device (auto: cuda when available, else cpu; e.g. cuda:1)."),
    Setting("interpolate.precision", "auto",
            "rife: auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16.",
            choices=("auto", "fp32", "fp16", "bf16")),
    Setting("interpolate.batch", 8, "rife: frame pairs per network call.", minimum=1,
            maximum=256),
    Setting("interpolate.rife_scale", 1.0,
            "rife: the network's flow scale (0.5 for 4K inputs).",
            choices=(0.25, 0.5, 1.0, 2.0, 4.0)),
    Setting("diffusers.model_dir", "",
            "diffusers: the folder holding one local pipeline folder per model variant "
            "(<model_dir>/<template>); nothing is downloaded."),
    Setting("diffusers.lora", "",
            "diffusers: a distilled LoRA file (e.g. a 4-step one) loaded into the pipeline."),
    Setting("diffusers.lora_2", "",
            "diffusers: the second expert's LoRA file (Wan 2.2 A14B low noise); empty: the "
            "same file as diffusers.lora."),
    Setting("diffusers.lora_scale", 1.0, "diffusers: the LoRA's weight.", minimum=0.0,
            maximum=4.0),
    Setting("diffusers.device", "auto", "diffusers: torch device (auto: cuda when available)."),
    Setting("diffusers.dtype", "bf16", "diffusers: the weights' dtype on the GPU (fp32 on CPU).",
            choices=("bf16", "fp16", "fp32")),
    Setting("diffusers.offload", "none",
            "diffusers: none, model (whole models to the GPU in turn), sequential (layer by "
            "layer) or group (block groups, with streams).",
            choices=("none", "model", "sequential", "group")),
    Setting("diffusers.vae_tiling", True, "diffusers: decode the video in tiles."),
    Setting("diffusers.fp8", False,
            "diffusers: store the transformer's weights in float8 and compute in bf16."),
    Setting("diffusers.cache", "none",
            "diffusers: a transformer cache that skips computation on some steps.",
            choices=("none", "first_block", "mag")),
    Setting("qc.flash_swing", 0.5,
            "Flash frame: the mean brightness changes by more than this fraction between "
            "consecutive frames (the plan: 50%).", minimum=0.0, maximum=10.0),
    Setting("qc.luma_change", 0.3,
            "Luminance change: more than this fraction between consecutive frames "
            "(the plan's photosensitivity rule: 30%).", minimum=0.0, maximum=10.0),
    Setting("qc.analysis_height", 360,
            "Checks that allow it analyse frames area-downscaled to at most this many lines.",
            minimum=32, maximum=4320),
    Setting("qc.iris_area", 0.25,
            "Photosensitive flashes: share of the screen a change must cover to count (WCAG).",
            minimum=0.0, maximum=1.0),
    Setting("qc.iris_luminance_step", 0.1,
            "Photosensitive flashes: relative-luminance change that makes a transition.",
            minimum=0.0, maximum=1.0),
    Setting("qc.iris_dark_max", 0.8,
            "Photosensitive flashes: the darker state must be below this luminance.",
            minimum=0.0, maximum=1.0),
    Setting("qc.iris_red_step", 20.0,
            "Red flashes: change of red saturation that makes a transition.", minimum=0.0),
    Setting("qc.iris_max_transitions", 6,
            "Photosensitive flashes: more transitions than this in any 1-second window fail "
            "(6 transitions = 3 flashes).", minimum=1),
    Setting("qc.iris_warn_transitions", 4,
            "Photosensitive flashes: this many transitions in a second or more warn; "
            "sustained 4 s in 5 s they fail (extended failure).", minimum=1),
    Setting("qc.ssim_min", 0.85,
            "Temporal quality: mean motion-compensated consecutive-frame SSIM below this "
            "fails (the plan: 0.85).", minimum=0.0, maximum=1.0),
    Setting("qc.ssim_drop", 0.7,
            "Temporal quality: a frame pair whose SSIM falls below this is listed (warn).",
            minimum=0.0, maximum=1.0),
    Setting("qc.temporal_variance_max", 25.0,
            "Temporal variance (std of the frame-to-frame luma change, 8-bit levels, at the "
            "analysis size, no motion compensation; camera motion raises it) above this warns.",
            minimum=0.0),
    Setting("qc.flicker_min", 0.98,
            "Temporal flicker score (VBench, 1 = none) below this warns.",
            minimum=0.0, maximum=1.0),
    Setting("qc.drift_max", 0.15,
            "Brightness drift: a steady rise or fall of mean luma (Rec. 709) over the clip beyond "
            "this fraction fails.", minimum=0.0),
    Setting("qc.freeze_mafd", 0.001,
            "Freeze: mean absolute frame difference (0-1) under which a frame counts as "
            "frozen.", minimum=0.0),
    Setting("qc.freeze_min_sec", 0.5, "Freeze: frozen for at least this long fails.",
            minimum=0.0),
    Setting("qc.dynamic_min", 0.0,
            "Dynamic degree: share of frame pairs that move; below this warns "
            "(0 = report only).", minimum=0.0, maximum=1.0),
    Setting("qc.fidelity_ssim_min", 0.5,
            "First-frame fidelity: SSIM of frame 0 against the keyframe's start crop below "
            "this fails.", minimum=0.0, maximum=1.0),
    Setting("qc.fidelity_psnr_min", 20.0,
            "First-frame fidelity: PSNR (dB, RGB of the analysis copy) of frame 0 against the "
            "start crop below this fails; 20 dB is an RMS error of 25.5 levels.", minimum=0.0),
    Setting("qc.colour_drift_warn", 5.0,
            "Colour drift: Delta E (CIE76) of a frame's mean colour from frame 0 above this "
            "warns (2.3 is just noticeable).", minimum=0.0),
    Setting("qc.colour_drift_max", 10.0, "Colour drift: above this Delta E fails.",
            minimum=0.0),
    Setting("qc.cut_ratio", 3.0,
            "Cuts: a frame's content change over its neighbours' average at or above this "
            "(and qc.cut_min_score) is a cut (PySceneDetect AdaptiveDetector).", minimum=0.0),
    Setting("qc.cut_min_score", 15.0, "Cuts: minimum content change (HSV, 0-255) of a cut.",
            minimum=0.0),
    Setting("qc.blur_drop", 0.5,
            "Sharpness collapse: a frame whose Laplacian variance (two octaves below the "
            "analysis size) falls below this fraction of frame 0's, lowered by as much as the "
            "coarse structure in view fell (to at most 0.35x), fails.", minimum=0.0,
            maximum=1.0),
    Setting("motion.preset", "zoom_in", "Motion type for keyframes without a motion file.",
            choices=MOTION_TYPES[:-1]),
    Setting("motion.intensity", 0.5, "Motion intensity, 0 (none) to 1 (the comfort limit).",
            minimum=0.0, maximum=1.0),
    Setting("motion.duration", 4.0, "Shot duration in seconds.", minimum=0.1, maximum=600.0),
    Setting("motion.easing", "ease_in_out", "Easing of new motions.", choices=EASINGS),
    Setting("rules.max_pan_speed", 0.20,
            "Hard limit: pan speed as a fraction of the frame width per second (the plan: 20%).",
            minimum=0.0),
    Setting("rules.comfort_pan_speed", 1 / 7,
            "Warning above this pan speed (cinema guidance: 7 s to cross the frame).",
            minimum=0.0),
    Setting("rules.max_zoom_rate", 0.30,
            "Hard limit: relative change of the visible width per second at the fastest frame.",
            minimum=0.0),
    Setting("rules.comfort_zoom_rate", 0.15,
            "Warning above this zoom rate (1.25x over 3 s eased peaks near 0.12).", minimum=0.0),
    Setting("rules.max_upscale", 1.5,
            "Hard limit: output pixels per source pixel (crop narrower than output / this).",
            minimum=1.0),
    Setting("rules.comfort_upscale", 1.0, "Warning above this upscale factor.", minimum=0.0),
    Setting("rules.min_duration", 4.0, "Shortest allowed shot, seconds (the plan: 4-8 s).",
            minimum=0.0),
    Setting("rules.max_duration", 8.0, "Longest allowed shot, seconds.", minimum=0.0),
    Setting("rules.aspect_tolerance", 0.01,
            "Allowed relative difference between crop aspect and output aspect.",
            minimum=0.0, maximum=0.5),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Config(Mapping[str, Any]):
    """Effective settings: a read-only mapping from dotted name to value."""

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
        self._values = dict(values)
        self._sources = dict(sources)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise ConfigError("unknown setting", item=name, hint=_suggest(name)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def source(self, name: str) -> str:
        """Where a value came from: default, a file path, an environment variable or a flag."""
        return self._sources[name]

    @property
    def workspace(self) -> Path:
        return Path(self["workspace"]).expanduser()

    @property
    def audit_dir(self) -> Path:
        log_dir = Path(self["audit.log_dir"]).expanduser()
        return log_dir if log_dir.is_absolute() else self.workspace / log_dir


def _suggest(name: str) -> str | None:
    close = difflib.get_close_matches(name, _BY_NAME, n=1)
    return f"did you mean {close[0]!r}?" if close else "see `vidgen config` for every setting"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's table.

    Raises:
        ConfigError: the file is missing, unreadable or not valid TOML (naming ``what``).
    """
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found", item=path) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {exc}", item=path) from exc


def flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted setting name, value)`` of a TOML table (``[comfyui] url`` -> ``comfyui.url``);
    a table that is itself a setting's value (a list setting's) stays whole."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in _BY_NAME:
            yield from flatten(value, name + ".")
        else:
            yield name, value


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective settings.

    Args:
        path: A TOML file; ``None`` means ``$VIDGEN_CONFIG`` or ``./vidgen.toml`` if present.
        env: The environment (``os.environ`` when omitted).
        overrides: Values from CLI flags by dotted name; ``None`` values are ignored.
    """
    env = os.environ if env is None else env
    values = {s.name: s.default for s in SETTINGS}
    sources = dict.fromkeys(values, "default")

    explicit = path is not None or "VIDGEN_CONFIG" in env
    file = Path(path or env.get("VIDGEN_CONFIG") or "vidgen.toml")
    if file.exists() or explicit:
        for name, raw in flatten(read_toml(file, "config file")):
            if name not in _BY_NAME:
                raise ConfigError("unknown setting", item=file, field=name, hint=_suggest(name))
            values[name] = _BY_NAME[name].coerce(raw, str(file))
            sources[name] = str(file)

    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = setting.coerce(env[setting.env], setting.env, text=True)
            sources[setting.name] = setting.env

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in _BY_NAME:
            raise ConfigError("unknown setting", item="command line", field=name,
                              hint=_suggest(name))
        values[name] = _BY_NAME[name].coerce(raw, "command line")
        sources[name] = "command line"
    for low, high in _ORDERED:
        if values[low] > values[high]:
            raise ConfigError(f"must not exceed {high} ({values[high]})", item=sources[low],
                              field=low, value=values[low], limit=f"<= {values[high]}")
    return Config(values, sources)


#: Pairs that must stay ordered: a comfort limit inside its hard limit, min <= max.
_ORDERED = (
    ("rules.comfort_pan_speed", "rules.max_pan_speed"),
    ("rules.comfort_zoom_rate", "rules.max_zoom_rate"),
    ("rules.comfort_upscale", "rules.max_upscale"),
    ("rules.min_duration", "rules.max_duration"),
    ("qc.colour_drift_warn", "qc.colour_drift_max"),
    ("qc.iris_warn_transitions", "qc.iris_max_transitions"),
)
