"""The ``diffusers`` backend: image-to-video in this process, from local diffusers pipelines.

One model variant (``generation.template``, see :data:`VARIANTS`) is one local
pipeline folder, ``<diffusers.model_dir>/<variant>``, as ``save_pretrained``
writes it; nothing is ever downloaded (``HF_HUB_OFFLINE=1`` is set when unset).
A variant's pipeline is loaded on its first shot and stays resident for the
worker's life; the settings ``diffusers.lora``, ``diffusers.fp8``,
``diffusers.cache``, ``diffusers.vae_tiling`` and ``diffusers.offload`` are
applied once, right after loading, in that order.

Per shot, like the ``comfyui`` backend: pick the framing
(:mod:`vidgen.backends.framing`), render the keyframe region at the generation
size with :class:`~vidgen.backends.camera.CropRenderer`, add the camera phrase
to the prompts, ask for the smallest frame count the model's rule allows that
covers the shot (plus the frames the pipeline itself drops) and keep the first
``num_frames``. Reframe, interpolation, encoding and QC then run in the worker
like for any backend.

Failures: a missing dependency, folder or unusable setting raises
:class:`~vidgen.errors.BackendUnavailable` (the worker refuses the batch and
every shot stays queued); a GPU out of memory on one shot frees what it can and
raises :class:`~vidgen.errors.OutOfMemory` (that shot fails, the next one runs).
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from vidgen.atomic import sha256_file
from vidgen.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    Progress,
    TemplateInfo,
    register_backend,
)
from vidgen.backends.camera import CropRenderer
from vidgen.backends.framing import Framing, camera_prompt, frames_for, plan_framing
from vidgen.devices import resolve_device
from vidgen.errors import BackendError, BackendUnavailable, ConfigError, OutOfMemory
from vidgen.rules import RuleLimits

__all__ = ["DEFAULT_VARIANT", "VARIANTS", "DiffusersBackend", "Variant"]

log = logging.getLogger(__name__)

Frame = NDArray[np.uint8]
INSTALL_HINT = "install torch first (pip install torch==2.13.0), then pip install 'vidgen[torch]'"
FOLDER_HINT = ("the folder must hold a diffusers pipeline as save_pretrained writes it: "
               "model_index.json and one subfolder per component (transformer/, vae/, "
               "text_encoder/, tokenizer/, scheduler/, ...); nothing is downloaded")


@dataclass(frozen=True)
class Variant:
    """A model variant: its diffusers pipeline class and how it is driven.

    ``frame_step``: the model makes ``frame_step * k + 1`` frames. ``multiple``: the
    generation width and height are multiples of it (VAE stride x patch size).
    ``caches``: the ``diffusers.cache`` values its pipeline supports.
    """

    name: str
    pipeline: str
    native_size: tuple[int, int]  # (width, height)
    native_frames: int
    fps: int
    steps: int
    guidance: float
    frame_step: int
    multiple: int
    family: str  # camera phrases: vidgen.backends.framing.PHRASES
    conditioning: Literal["image", "text"] = "image"
    caches: tuple[str, ...] = ("first_block",)
    two_experts: bool = False  # Wan 2.2 A14B: transformer_2 + boundary_ratio
    expand_timesteps: bool = False  # Wan 2.2 TI2V-5B
    image_encoder: bool = False  # Wan 2.1: CLIP image embeddings
    wan: bool = False  # a Wan pipeline: its VAE and image encoder stay in fp32


#: The variants this backend knows, by ``generation.template`` name.
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("wan21_i2v", "WanImageToVideoPipeline", (832, 480), 81, 16, 40, 5.0, 4, 16, "wan",
            image_encoder=True, wan=True),
    Variant("wan22_i2v_a14b", "WanImageToVideoPipeline", (832, 480), 81, 16, 40, 3.5, 4, 16,
            "wan", two_experts=True, wan=True),
    Variant("wan22_ti2v_5b", "WanImageToVideoPipeline", (1280, 704), 121, 24, 50, 5.0, 4, 32,
            "wan", expand_timesteps=True, wan=True),
    Variant("hunyuan_i2v", "HunyuanVideoImageToVideoPipeline", (1280, 720), 129, 24, 50, 6.0, 4,
            16, "hunyuan", caches=()),
    Variant("mochi", "MochiPipeline", (848, 480), 163, 30, 64, 4.5, 6, 16, "generic",
            conditioning="text"),
)}
DEFAULT_VARIANT = "wan22_i2v_a14b"


@dataclass
class _Loaded:
    """A variant's resident pipeline and what was done to it."""

    variant: Variant
    pipe: Any
    path: Path
    load_sec: float
    applied: list[str]
    dropped: int  # leading decoded frames the pipeline itself discards
    notes: list[str]  # what this checkpoint does differently, for every shot
    identity: dict[str, Any] = field(default_factory=dict)
    reported_load: bool = False


@register_backend
class DiffusersBackend(Backend):
    """Image-to-video (Mochi: text-to-video) with diffusers pipelines in this process."""

    name: ClassVar[str] = "diffusers"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._pipelines: dict[str, _Loaded] = {}
        self._device: str | None = None
        self._dtype: Any = None  # torch.dtype once loaded
        self._notes: list[str] = []  # soft corrections of the settings, for every shot

    @classmethod
    def template_info(cls, template: str) -> TemplateInfo:
        """The variant as the batch records it, and its native frame rate.

        Raises:
            ConfigError: ``template`` names no known variant.
        """
        variant = _variant(template)
        return TemplateInfo(variant.name, float(variant.fps))

    def load(self) -> None:
        """Check the dependencies and settings; pipelines load on their first shot.

        Raises:
            BackendUnavailable: torch or diffusers is missing, the device cannot be
                used, ``diffusers.model_dir`` is unset, or a setting cannot work here.
        """
        if self._device is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        torch = _import_torch()
        config = self.config
        device = str(resolve_device(config["diffusers.device"], field="diffusers.device",
                                    error=BackendUnavailable))
        dtype_name = config["diffusers.dtype"]
        if device == "cpu" and dtype_name != "fp32":
            self._note(f"diffusers.dtype {dtype_name} runs as fp32 on the CPU")
            dtype_name = "fp32"
        if device == "cpu" and config["diffusers.offload"] != "none":
            self._note(f"diffusers.offload {config['diffusers.offload']} ignored: the device "
                       "is the CPU")
        if config["diffusers.cache"] == "mag":
            raise BackendUnavailable(
                "MagCache needs magnitude ratios calibrated for the checkpoint, and diffusers "
                "ships them only for Flux", field="diffusers.cache", value="mag",
                hint="use diffusers.cache first_block, or none")
        if not config["diffusers.model_dir"]:
            raise BackendUnavailable("no folder of local pipelines is set",
                                     field="diffusers.model_dir", value="",
                                     hint=f"set it to a folder holding <model_dir>/<variant>; "
                                          f"{FOLDER_HINT}")
        self._device = device
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16,
                       "fp32": torch.float32}[dtype_name]

    def close(self) -> None:
        """Drop the resident pipelines and give their memory back."""
        self._pipelines.clear()
        gc.collect()
        _empty_cache()

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "diffusers_version": _version("diffusers"),
                "torch_version": _version("torch"),
                "transformers_version": _version("transformers"),
                "device": self._device, "dtype": _dtype_name(self._dtype),
                "model_dir": self.config["diffusers.model_dir"],
                "variants": {name: loaded.identity for name, loaded in self._pipelines.items()},
                "notes": list(self._notes)}

    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        """Frames for one shot; see the module docstring.

        Raises:
            MotionError: ``path`` mode would upscale the crops beyond the rules' limit.
            BackendUnavailable: the variant's folder is missing or unusable (the batch stops).
            OutOfMemory: the GPU ran out of memory on this shot (memory was freed).
            BackendError: the pipeline failed on this shot.
        """
        self.load()
        variant = _variant(request.template or "")
        loaded = self._pipeline(variant, progress)
        image = request.image
        framing = plan_framing(request.motion, (image.shape[1], image.shape[0]),
                               variant.native_size, variant.multiple,
                               "path" if request.camera_mode == "path" else "prompt",
                               (request.width, request.height),
                               RuleLimits.from_config(self.config), item=request.shot_id)
        notes: list[str] = []  # this shot's; the settings' and the checkpoint's come first
        frames_wanted = frames_for(request.num_frames + loaded.dropped, variant.frame_step)
        if frames_wanted != request.num_frames:
            notes.append(f"the model makes {frames_wanted} frames (its frame-count rule"
                         + (f", {loaded.dropped} dropped by the pipeline" if loaded.dropped
                            else "")
                         + f"); the first {request.num_frames} are kept")
        if frames_wanted > variant.native_frames:
            notes.append(f"{frames_wanted} frames is more than the {variant.native_frames} the "
                         "model was trained for: expect flashes, loops or a colour drift")
        if request.fps != variant.fps:
            notes.append(f"the model's native rate is {variant.fps} fps; the frames are timed "
                         f"at the manifest's {request.fps} fps")
        prompt, negative = camera_prompt(request.prompt, request.negative_prompt, request.motion,
                                         framing.mode, variant.family)
        if variant.conditioning == "text":
            notes.append("text-to-video: the model never sees the keyframe")
        if negative and variant.family == "hunyuan":
            notes.append("the negative prompt was not used (embedded guidance, no true CFG)")
            negative = ""
        args: dict[str, Any] = {"prompt": prompt, "width": framing.size[0],
                                "height": framing.size[1], "num_frames": frames_wanted,
                                "num_inference_steps": request.steps or variant.steps,
                                "guidance_scale": request.guidance or variant.guidance}
        if variant.conditioning == "image":
            args["image"] = Image.fromarray(CropRenderer(image, framing.size).render(
                framing.region))
        if variant.family != "hunyuan":
            args["negative_prompt"] = negative
        for note in notes:
            log.info("%s: %s", request.shot_id, note)

        frames, timing = self._run(loaded, request, args, progress)
        if len(frames) < request.num_frames:
            raise BackendError(f"the pipeline returned {len(frames)} frames",
                               item=request.shot_id, field="num_frames", value=len(frames),
                               limit=f">= {request.num_frames}")
        if frames[0].shape[1::-1] != framing.size:
            notes.append(f"the pipeline returned {frames[0].shape[1]}x{frames[0].shape[0]} "
                         f"frames, not the {framing.size[0]}x{framing.size[1]} asked for")
        info = self._telemetry(loaded, request, framing, args, negative)
        info.update(timing, frames_generated=frames_wanted, frames_returned=len(frames),
                    generated_size=[frames[0].shape[1], frames[0].shape[0]],
                    notes=[*self._notes, *loaded.notes, *notes])
        return GenerationResult(frames=frames[:request.num_frames], num_frames=request.num_frames,
                                fps=request.fps, framed=False, info=info, region=framing.region,
                                follow_path=framing.mode == "path")

    # -- loading -------------------------------------------------------------------------------

    def _pipeline(self, variant: Variant, progress: Progress | None) -> _Loaded:
        """The variant's resident pipeline, loaded and prepared on first use.

        Raises:
            BackendUnavailable: the folder is missing, does not load, or holds another model.
        """
        if variant.name in self._pipelines:
            return self._pipelines[variant.name]
        if progress is not None:
            progress(0.0, f"loading {variant.name}")
        cache = self.config["diffusers.cache"]
        if cache != "none" and cache not in variant.caches:  # before minutes of loading
            raise BackendUnavailable(
                f"the {variant.pipeline} pipeline does not support this transformer cache",
                field="diffusers.cache", value=cache,
                hint=f"set diffusers.cache none for {variant.name}")
        path = Path(self.config["diffusers.model_dir"]).expanduser() / variant.name
        if not (path / "model_index.json").is_file():
            raise BackendUnavailable(f"no local pipeline folder for model variant {variant.name}",
                                     item=path, field="diffusers.model_dir",
                                     value=self.config["diffusers.model_dir"], hint=FOLDER_HINT)
        started = time.perf_counter()
        pipe = self._from_pretrained(variant, path)
        mismatch = _mismatch(variant, pipe)
        if mismatch:
            raise BackendUnavailable(f"the folder does not hold a {variant.name} pipeline: "
                                     f"{mismatch}", item=path, field="generation.template",
                                     value=variant.name)
        applied = self._prepare(variant, pipe)
        loaded = _Loaded(variant, pipe, path, time.perf_counter() - started, applied,
                         dropped=_dropped_frames(variant, pipe),
                         notes=_checkpoint_notes(variant, pipe))
        loaded.identity = {"pipeline": type(pipe).__name__, "path": str(path),
                           "model_index_sha256": sha256_file(path / "model_index.json"),
                           "weights_bytes": _weights_bytes(path), "applied": applied,
                           "lora": self.config["diffusers.lora"] or None}
        log.info("loaded %s from %s in %.1f s (%s)", variant.name, path, loaded.load_sec,
                 ", ".join(applied) or "as is")
        self._pipelines[variant.name] = loaded
        return loaded

    def _from_pretrained(self, variant: Variant, path: Path) -> Any:
        torch = _import_torch()
        diffusers = _import_diffusers()
        # Wan's VAE and CLIP image encoder lose quality below fp32 (the diffusers examples
        # keep them there); everything else takes the configured dtype.
        dtype: dict[str, Any] = {"default": self._dtype}
        if variant.wan:
            dtype.update(vae=torch.float32, image_encoder=torch.float32)
        try:
            with _quiet_loading():
                pipe = getattr(diffusers, variant.pipeline).from_pretrained(
                    path, dtype=dtype, local_files_only=True)
        except Exception as exc:  # a broken folder fails in many ways; all stop the batch
            if _is_oom(exc):
                _free_memory()
            raise BackendUnavailable(f"the pipeline does not load: {type(exc).__name__}: "
                                     f"{_first_line(exc)}", item=path,
                                     field="diffusers.model_dir", hint=FOLDER_HINT) from exc
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _prepare(self, variant: Variant, pipe: Any) -> list[str]:
        """Apply the LoRA, fp8 storage, cache, VAE tiling and device placement, in that order.

        Returns:
            What was applied, in words, for provenance.
        """
        torch = _import_torch()
        config = self.config
        diffusers = _import_diffusers()
        applied: list[str] = []
        experts = [m for m in (pipe.transformer, getattr(pipe, "transformer_2", None))
                   if m is not None]
        if config["diffusers.lora"]:
            applied.append(self._apply_lora(variant, pipe))
        if config["diffusers.fp8"]:  # computes in the pipeline's dtype (bf16 by default)
            for expert in experts:
                expert.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                                compute_dtype=self._dtype)
            applied.append(f"fp8 weights, {_dtype_name(self._dtype)} compute")
        if config["diffusers.cache"] == "first_block":
            for expert in experts:
                expert.enable_cache(diffusers.FirstBlockCacheConfig())
            applied.append("first-block cache")
        if config["diffusers.vae_tiling"] and hasattr(pipe.vae, "enable_tiling"):
            pipe.vae.enable_tiling()
            applied.append("VAE tiling")
        offload = config["diffusers.offload"] if self._device != "cpu" else "none"
        try:
            if offload == "model":
                pipe.enable_model_cpu_offload(device=self._device)
            elif offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=self._device)
            elif offload == "group":
                pipe.enable_group_offload(onload_device=torch.device(self._device),
                                          offload_device=torch.device("cpu"),
                                          offload_type="leaf_level", use_stream=True)
            else:
                pipe.to(self._device)
        except Exception as exc:
            if _is_oom(exc):
                _free_memory()
                raise BackendUnavailable("the model does not fit on the device",
                                         item=variant.name, field="diffusers.offload",
                                         value=offload,
                                         hint="use diffusers.offload model, group or "
                                              "sequential, or diffusers.fp8") from exc
            raise
        applied.append(f"offload {offload}" if offload != "none" else f"on {self._device}")
        return applied

    def _apply_lora(self, variant: Variant, pipe: Any) -> str:
        """Load ``diffusers.lora`` (and, for a second expert, ``diffusers.lora_2`` or the same
        file), fuse at ``diffusers.lora_scale`` and drop the adapters.

        Raises:
            BackendUnavailable: a file is missing, peft is not installed, or it does not fit.
        """
        first = Path(self.config["diffusers.lora"]).expanduser()
        second = Path(self.config["diffusers.lora_2"] or first).expanduser()
        scale = self.config["diffusers.lora_scale"]
        targets: list[tuple[Path, dict[str, Any]]] = [(first, {})]
        if variant.two_experts:
            targets.append((second, {"load_into_transformer_2": True}))
        for path, _ in targets:
            if not path.is_file():
                raise BackendUnavailable("the LoRA file does not exist", item=path,
                                         field="diffusers.lora_2" if path == second != first
                                         else "diffusers.lora")
        try:
            for i, (path, extra) in enumerate(targets):
                pipe.load_lora_weights(str(path), adapter_name=f"vidgen{i}", **extra)
            # Wan's fuse_lora fuses only "transformer" unless told; unfused adapters would
            # vanish with unload_lora_weights.
            pipe.fuse_lora(lora_scale=scale, components=[
                name for name in ("transformer", "transformer_2")
                if getattr(pipe, name, None) is not None])
            pipe.unload_lora_weights()
        except Exception as exc:
            peft = "PEFT" in str(exc)
            raise BackendUnavailable(f"the LoRA does not load: {_first_line(exc)}", item=first,
                                     field="diffusers.lora",
                                     hint="pip install peft" if peft else
                                     f"is it a LoRA for {variant.name}?") from exc
        if variant.two_experts and second == first:
            self._note("the one LoRA file went into both experts (high and low noise); "
                       "set diffusers.lora_2 for a two-file LoRA")
        names = first.name if second == first or not variant.two_experts else \
            f"{first.name} + {second.name}"
        return f"LoRA {names} fused at {scale:g}"

    # -- one shot ------------------------------------------------------------------------------

    def _run(self, loaded: _Loaded, request: GenerationRequest, args: dict[str, Any],
             progress: Progress | None) -> tuple[list[Frame], dict[str, Any]]:
        """Call the pipeline: frames as uint8 RGB, and the timings.

        Raises:
            OutOfMemory: the GPU ran out of memory (memory was freed first).
            BackendError: the pipeline raised anything else.
        """
        torch = _import_torch()
        pipe = loaded.pipe
        cuda = str(self._device).startswith("cuda")
        self._reset_cache(loaded)
        marks: list[float] = []

        def on_step(_pipe: Any, i: int, _t: Any, _tensors: dict[str, Any]) -> dict[str, Any]:
            if cuda:
                torch.cuda.synchronize(self._device)
            marks.append(time.perf_counter())
            total = getattr(_pipe, "num_timesteps", None) or args["num_inference_steps"]
            if progress is not None:
                progress((i + 1) / total, f"denoise {i + 1}/{total}")
            return {}

        if cuda:
            torch.cuda.reset_peak_memory_stats(self._device)
        started = time.perf_counter()
        try:
            output = pipe(**args, generator=torch.Generator(self._device).manual_seed(
                request.seed), output_type="np", callback_on_step_end=on_step)
        except Exception as exc:
            if _is_oom(exc):
                with suppress(Exception):  # model offload: put the models back on the CPU
                    pipe.maybe_free_model_hooks()
                _free_memory()
                raise OutOfMemory(f"the GPU ran out of memory: {_first_line(exc)}",
                                  item=request.shot_id, hint="memory was freed; for this size "
                                  "try diffusers.offload model or group, diffusers.fp8, "
                                  "diffusers.vae_tiling, or fewer frames") from exc
            raise BackendError(f"the pipeline failed: {type(exc).__name__}: "
                               f"{_first_line(exc)}", item=request.shot_id) from exc
        finished = time.perf_counter()
        video = np.asarray(output.frames[0], dtype=np.float32)
        frames = [np.ascontiguousarray(f) for f in
                  (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)]
        load_sec = None if loaded.reported_load else round(loaded.load_sec, 3)
        loaded.reported_load = True
        return frames, {
            "model_load_sec": load_sec,
            "sampling_sec": round(marks[-1] - started, 3) if marks else None,
            "decode_sec": round(finished - marks[-1], 3) if marks else None,
            "execution_sec": round(finished - started, 3),
            "peak_vram_mb": round(torch.cuda.max_memory_allocated(self._device) / 2**20, 1)
            if cuda else None,
        }

    def _reset_cache(self, loaded: _Loaded) -> None:
        """A fresh cache per shot: one shot must never reuse another's residuals."""
        if self.config["diffusers.cache"] != "first_block":
            return
        diffusers = _import_diffusers()
        for expert in (loaded.pipe.transformer, getattr(loaded.pipe, "transformer_2", None)):
            if expert is not None:
                expert.disable_cache()
                expert.enable_cache(diffusers.FirstBlockCacheConfig())

    def _telemetry(self, loaded: _Loaded, request: GenerationRequest, framing: Framing,
                   args: dict[str, Any], negative: str) -> dict[str, Any]:
        variant = loaded.variant
        return {
            "template": variant.name, "pipeline": type(loaded.pipe).__name__,
            "model_path": str(loaded.path),
            **framing.info(variant.conditioning, args["prompt"], negative),
            "steps": args["num_inference_steps"], "guidance": args["guidance_scale"],
            "seed": request.seed, "device": self._device,
            "dtype": _dtype_name(self._dtype), "applied": loaded.applied,
            "frames_dropped_by_pipeline": loaded.dropped,
            "diffusers_version": _version("diffusers"),
        }

    def _note(self, note: str) -> None:
        if note not in self._notes:
            log.warning("diffusers: %s", note)
            self._notes.append(note)


def _variant(template: str) -> Variant:
    """The variant a template names (empty: the default).

    Raises:
        ConfigError: unknown name.
    """
    variant = VARIANTS.get(template or DEFAULT_VARIANT)
    if variant is None:
        raise ConfigError("unknown diffusers model variant", field="generation.template",
                          value=template, limit=", ".join(VARIANTS))
    return variant


def _mismatch(variant: Variant, pipe: Any) -> str | None:
    """Why a loaded pipeline is not the variant's model, or None when it is."""
    config = pipe.config
    if variant.two_experts and (getattr(pipe, "transformer_2", None) is None
                                or config.get("boundary_ratio") is None):
        return "no second expert (transformer_2 and boundary_ratio)"
    if not variant.two_experts and getattr(pipe, "transformer_2", None) is not None:
        return "it has a second expert (transformer_2): use wan22_i2v_a14b"
    if variant.wan and bool(config.get("expand_timesteps")) != variant.expand_timesteps:
        return (f"expand_timesteps is {bool(config.get('expand_timesteps'))}, a {variant.name} "
                f"pipeline has {variant.expand_timesteps}")
    if variant.image_encoder and getattr(pipe, "image_encoder", None) is None:
        return "no CLIP image encoder (image_encoder)"
    return None


def _dropped_frames(variant: Variant, pipe: Any) -> int:
    """Decoded frames the pipeline discards: the latent_concat HunyuanVideo-I2V checkpoint
    (-33ch) drops the first 4 (one latent frame); token_replace and the others drop none."""
    if variant.family != "hunyuan":
        return 0
    condition = getattr(pipe.transformer.config, "image_condition_type", None)
    return int(pipe.vae_scale_factor_temporal) if condition == "latent_concat" else 0


def _checkpoint_notes(variant: Variant, pipe: Any) -> list[str]:
    """What a checkpoint ignores: HunyuanVideo-I2V-33ch has no guidance embedding, so
    its pipeline drops ``guidance_scale`` (true CFG, which we do not use, is its only one)."""
    config = pipe.transformer.config
    if variant.family == "hunyuan" and not getattr(config, "guidance_embeds", True):
        return ["this checkpoint has no guidance embedding: the guidance value is not used"]
    return []


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No loading progress bars from diffusers and transformers (the worker draws its own)."""
    modules = []
    for name in ("diffusers.utils.logging", "transformers.utils.logging"):
        with suppress(ImportError):
            modules.append(importlib.import_module(name))
    enabled = [m for m in modules if m.is_progress_bar_enabled()]
    for module in enabled:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module in enabled:
            module.enable_progress_bar()


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(f"torch is not installed: {exc}", item="diffusers",
                                 hint=INSTALL_HINT) from exc
    return torch


def _import_diffusers() -> Any:
    try:
        import diffusers
    except ImportError as exc:
        raise BackendUnavailable(f"diffusers is not installed: {exc}", item="diffusers",
                                 hint=INSTALL_HINT) from exc
    return diffusers


def _is_oom(exc: BaseException) -> bool:
    """A CUDA out-of-memory: torch.OutOfMemoryError, or a RuntimeError saying so."""
    try:
        import torch
    except ImportError:
        return False
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _free_memory() -> None:
    gc.collect()
    _empty_cache()


def _empty_cache() -> None:
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _dtype_name(dtype: Any) -> str | None:
    return None if dtype is None else str(dtype).removeprefix("torch.")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _weights_bytes(folder: Path) -> int:
    """The weight files' total size: a cheap fingerprint (hashing gigabytes is not)."""
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.suffix in {".safetensors", ".bin", ".pt", ".gguf"} and p.is_file())

