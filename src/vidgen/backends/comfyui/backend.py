"""The ``comfyui`` backend: one shot = one prompt on a ComfyUI server, then our own stages.

Per shot: pick the framing (:mod:`vidgen.backends.framing`), crop and scale the
keyframe region to the generation size, upload it, bind the shot's values into
the workflow, run it with :class:`~vidgen.backends.comfyui.client.ComfyClient`
(a prompt the server lost is submitted again, a bounded number of times),
fetch and decode the frames, and clean the server's history. Reframe,
interpolation, encoding and QC then run in the worker like for any backend.

The first shot of each workflow is preceded by a preflight against the server's
``/object_info``: a workflow the server cannot run (a missing node class or
model file) raises :class:`~vidgen.errors.BackendUnavailable`, and the worker
refuses the batch, leaving every shot queued.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageSequence

from vidgen.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    Progress,
    TemplateInfo,
    register_backend,
)
from vidgen.backends.camera import CropRenderer
from vidgen.backends.comfyui.client import ComfyClient, Execution, PromptVanished
from vidgen.backends.comfyui.workflow import (
    LOADER_FOLDERS,
    Workflow,
    builtin_templates,
    check_against,
    input_options,
    load_workflow,
    node_inputs,
)
from vidgen.backends.framing import Framing, camera_prompt, frames_for, plan_framing
from vidgen.encode import decode_frames
from vidgen.errors import BackendError, BackendUnavailable
from vidgen.rules import RuleLimits

__all__ = ["DEFAULT_TEMPLATE", "ComfyUIBackend"]

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "wan22_i2v_a14b_4step"
Frame = NDArray[np.uint8]
_VIDEO_SUFFIXES = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"}
_ANIMATED_SUFFIXES = {".gif", ".webp", ".png", ".apng"}
_SAMPLER_CLASSES = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}


@register_backend
class ComfyUIBackend(Backend):
    """Image-to-video (or text-to-video) through a ComfyUI server's workflows."""

    name: ClassVar[str] = "comfyui"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.client: ComfyClient | None = None
        self.server: dict[str, Any] = {}
        self.object_info: dict[str, Any] = {}
        self._workflows: dict[str | None, Workflow] = {}

    @classmethod
    def template_info(cls, template: str) -> TemplateInfo:
        """A built-in name stays a name; a workflow file is checked and copied into the batch."""
        workflow = load_workflow(template or DEFAULT_TEMPLATE)
        fps = workflow.default("fps")
        native_fps = float(fps) if isinstance(fps, int | float) else None
        if not template or template in builtin_templates():
            return TemplateInfo(workflow.name, native_fps)
        path = Path(template)
        sidecar = path.with_name(f"{path.name.removesuffix('.json')}.bindings.json")
        files = (path, sidecar) if sidecar.is_file() else (path,)
        return TemplateInfo(f"workflows/{path.name}", native_fps, files)

    def load(self) -> None:
        """Connect: server version, devices and node schemas (``/object_info``)."""
        config = self.config
        self.client = ComfyClient(config["comfyui.url"], retries=config["comfyui.retries"],
                                  backoff_sec=config["comfyui.retry_backoff_sec"],
                                  poll_sec=config["comfyui.poll_sec"],
                                  vram_sample_sec=config["comfyui.vram_sample_sec"])
        self.server = self.client.system_stats()
        self.object_info = self.client.object_info()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def identity(self) -> dict[str, Any]:
        system = self.server.get("system", {})
        return {"backend": self.name, "url": self.config["comfyui.url"],
                "comfyui_version": system.get("comfyui_version"),
                "pytorch_version": system.get("pytorch_version"),
                "devices": [d.get("name") for d in self.server.get("devices", [])]}

    def workflow(self, template: str | None) -> Workflow:
        """The shot's workflow, checked against the server the first time it is used.

        Raises:
            BackendUnavailable: the server lacks a node class or model file it needs.
        """
        if template not in self._workflows:
            workflow = load_workflow(template or DEFAULT_TEMPLATE)
            problems = check_against(workflow, self.object_info)
            if problems:
                raise BackendUnavailable(
                    f"the server cannot run workflow {workflow.name}: {len(problems)} "
                    f"problem(s): " + "; ".join(str(p) for p in problems[:8]),
                    item=self.config["comfyui.url"],
                    hint="see `vidgen comfy check` for the full list")
            self._workflows[template] = workflow
        return self._workflows[template]

    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        """Frames for one shot from the server; see the module docstring.

        Raises:
            MotionError: ``path`` mode would upscale the crops beyond the rules' limit.
            BackendError: the server refused or failed the prompt (node, input, value).
        """
        if self.client is None:
            self.load()
        assert self.client is not None
        workflow = self.workflow(request.template)
        bindings = workflow.bindings
        image = request.image
        size = (image.shape[1], image.shape[0])
        native = (int(workflow.default("width") or 832), int(workflow.default("height") or 480))
        width_binding = next(iter(bindings.inputs.get("width", [])), None)
        multiple = 16
        if width_binding:
            cls = workflow.graph[width_binding.node]["class_type"]
            width_spec = node_inputs(self.object_info, cls).get("width")
            multiple = max(8, int(input_options(width_spec).get("step", 16)))
        framing = plan_framing(request.motion, size, native, multiple,
                               "path" if request.camera_mode == "path" else "prompt",
                               (request.width, request.height),
                               RuleLimits.from_config(self.config), item=request.shot_id)
        notes: list[str] = []
        dropped = bindings.frames_dropped
        frames_wanted = request.num_frames + dropped
        frames_binding = next(iter(bindings.inputs.get("frames", [])), None)
        if frames_binding:
            cls = workflow.graph[frames_binding.node]["class_type"]
            spec = input_options(node_inputs(self.object_info, cls).get(frames_binding.input))
            frames_wanted = frames_for(frames_wanted, int(spec.get("step", 1)),
                                       int(spec.get("min", 1)))
        if frames_wanted != request.num_frames:
            notes.append(f"the model makes {frames_wanted} frames (its frame-count rule"
                         + (f", {dropped} dropped by the workflow" if dropped else "")
                         + f"); the first {request.num_frames} are kept")
        prompt, negative = camera_prompt(request.prompt, request.negative_prompt, request.motion,
                                         framing.mode, bindings.family)
        if "prompt" not in bindings.inputs:
            prompt = ""
            notes.append("the workflow has no prompt input")
        if negative and "negative_prompt" not in bindings.inputs:
            notes.append("the workflow has no negative prompt input: it was not used")
        if bindings.conditioning == "text":
            notes.append("text-to-video: the model never sees the keyframe")
        for note in notes:
            log.info("%s: %s", request.shot_id, note)

        values: dict[str, Any] = {
            "prompt": prompt, "negative_prompt": negative, "seed": request.seed,
            "steps": request.steps, "guidance": request.guidance, "width": framing.size[0],
            "height": framing.size[1], "frames": frames_wanted, "fps": request.fps,
        }
        upload = _region_png(image, framing.region, framing.size)
        upload_name = f"{_safe(request.shot_id)}-{hashlib.sha256(upload).hexdigest()[:12]}.png"
        timeout = self.config["comfyui.timeout_sec"]
        submissions: list[dict[str, Any]] = []
        while True:
            if bindings.conditioning == "image":
                values["image"] = self.client.upload_image(upload, upload_name)
            graph = workflow.bind(values)
            output = graph[bindings.output]["inputs"]
            if isinstance(output.get("filename_prefix"), str):
                output["filename_prefix"] = f"vidgen/{uuid.uuid4().hex[:12]}"
            started = time.monotonic()
            try:
                execution = self.client.run(graph, timeout=timeout, progress=progress)
            except PromptVanished as exc:
                submissions.append({"outcome": "vanished", "sec": round(time.monotonic()
                                                                        - started, 3)})
                if len(submissions) > self.config["comfyui.resubmits"]:
                    raise BackendError(f"the server lost the prompt {len(submissions)} times "
                                       "(restarting?)", item=request.shot_id,
                                       field="comfyui.resubmits",
                                       limit=self.config["comfyui.resubmits"]) from exc
                log.warning("%s: the server lost the prompt (%s); submitting again",
                            request.shot_id, exc)
                continue
            submissions.append({"prompt_id": execution.prompt_id, "outcome": "done",
                                "sec": round(time.monotonic() - started, 3)})
            break
        try:
            t = time.perf_counter()
            frames = self._fetch(execution, bindings.output, request)
            fetch_sec = time.perf_counter() - t
        finally:
            self.client.forget(execution.prompt_id)
        if frames[0].shape[1::-1] != framing.size:
            notes.append(f"the workflow returned {frames[0].shape[1]}x{frames[0].shape[0]} "
                         f"frames, not the {framing.size[0]}x{framing.size[1]} asked for")
        info = self._telemetry(workflow, execution, framing, frames, notes, prompt, negative)
        info.update(submissions=submissions, fetch_sec=round(fetch_sec, 3),
                    frames_generated=frames_wanted)
        return GenerationResult(frames=frames[:request.num_frames], num_frames=request.num_frames,
                                fps=request.fps, framed=False, info=info, region=framing.region,
                                follow_path=framing.mode == "path")

    def _fetch(self, execution: Execution, output_node: str, request: GenerationRequest
               ) -> list[Frame]:
        """Download the output node's files and decode them into RGB frames."""
        assert self.client is not None
        ui = execution.outputs.get(output_node)
        if ui is None:
            raise BackendError("the workflow's output node produced nothing", item=output_node,
                               hint=f"outputs came from nodes {sorted(execution.outputs)}")
        files = [ref for key in ("gifs", "videos", "video", "images") for ref in ui.get(key) or []
                 if isinstance(ref, dict) and "filename" in ref]
        if not files:
            raise BackendError("the output node returned no files", item=output_node,
                               value=sorted(ui))
        frames: list[Frame] = []
        with tempfile.TemporaryDirectory(prefix="vidgen-comfyui-") as tmp:
            for i, ref in enumerate(sorted(files, key=lambda r: str(r["filename"]))):
                suffix = Path(str(ref["filename"])).suffix.lower()
                path = self.client.download(ref, Path(tmp) / f"{i:05d}{suffix}")
                frames.extend(_decode(path))
                path.unlink()
        if len(frames) < request.num_frames:
            raise BackendError(f"the server returned {len(frames)} frames", item=request.shot_id,
                               field="num_frames", value=len(frames),
                               limit=f">= {request.num_frames}")
        if len({f.shape for f in frames}) != 1:
            raise BackendError("the returned frames differ in size", item=request.shot_id)
        return frames

    def _telemetry(self, workflow: Workflow, execution: Execution, framing: Framing,
                   frames: list[Frame], notes: list[str], prompt: str, negative: str
                   ) -> dict[str, Any]:
        graph = workflow.graph
        classes = {node: graph.get(node, {}).get("class_type", "?") for node in execution.node_sec}
        load = sum(s for n, s in execution.node_sec.items() if classes[n] in LOADER_FOLDERS)
        sampling = sum(s for n, s in execution.node_sec.items() if classes[n] in _SAMPLER_CLASSES)
        warmup = sum(s for n, s in execution.first_progress_sec.items()
                     if classes.get(n) in _SAMPLER_CLASSES)
        system = self.server.get("system", {})
        return {
            "template": workflow.name, "template_sha256": workflow.sha256,
            "bindings": "detected" if workflow.detected else "sidecar",
            **framing.info(workflow.bindings.conditioning, prompt, negative),
            "generated_size": [frames[0].shape[1], frames[0].shape[0]],
            "prompt_id": execution.prompt_id,
            "queue_wait_sec": _round(execution.queue_wait_sec),
            "execution_sec": _round(execution.execution_sec),
            "node_sec": {n: {"class_type": classes[n], "sec": round(s, 3)}
                         for n, s in execution.node_sec.items()},
            "cached_nodes": execution.cached_nodes,
            "model_load_sec": round(load, 3) if load else None,
            "sampling_sec": round(sampling, 3) if sampling else None,
            "sampler_warmup_sec": round(warmup, 3) if warmup else None,
            "peak_vram_mb": execution.peak_vram_mb,
            "socket_reconnects": execution.reconnects, "history_polls": execution.polls,
            "comfyui_version": system.get("comfyui_version"),
            "notes": notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "shot"


def _region_png(image: Frame, region: tuple[float, float, float, float],
                size: tuple[int, int]) -> bytes:
    """The keyframe region rendered at ``size`` with the camera renderer, as PNG bytes."""
    frame = CropRenderer(image, size).render(region)
    ok, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise BackendError("could not encode the keyframe region as PNG")
    return bytes(data.tobytes())


def _decode(path: Path) -> list[Frame]:
    """Frames of a downloaded output: a video (PyAV), an animation or a still (Pillow)."""
    if path.suffix.lower() in _VIDEO_SUFFIXES:
        return list(decode_frames(path))
    if path.suffix.lower() not in _ANIMATED_SUFFIXES | {".jpg", ".jpeg", ".bmp", ".tif"}:
        raise BackendError("unsupported output file type", item=path.name, value=path.suffix)
    try:
        with Image.open(path) as img:
            return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(img)]
    except OSError as exc:
        raise BackendError(f"cannot decode the server's output: {exc}", item=path.name) from exc
