"""A local stand-in for a ComfyUI 0.3.64 server, for our ComfyUI client's tests.

``FakeComfy`` serves, on loopback, the HTTP routes and the websocket a client uses (each
also under ``/api``), validates prompts the way ComfyUI's ``execution.validate_prompt`` does
against a captured ``/object_info`` snapshot, and runs prompts one at a time in FIFO order
with ComfyUI's websocket messages, queue, history, node cache and real output files (mp4,
webm, animated webp, png frames). Message and error shapes, their order and status codes were
matched against captures from a real ComfyUI 0.3.64.

A ``Job`` steers how one submitted prompt runs: progress steps, an OOM or other failure, a
silent socket, dropped sockets, a server that forgets the prompt, a job that hangs.

Like the real server, an identical resubmission is answered from the node cache: nothing
runs, no file is written, and the history repeats the earlier outputs (the ``Job`` then has
nothing to act on). Change an input (a seed, a prefix) to make a prompt run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import mimetypes
import os
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from fractions import Fraction
from io import BytesIO
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiohttp import WSMsgType, web
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

SNAPSHOT = Path(__file__).parent.parent / "data/comfyui/object_info.json"

OOM_TIPS = (
    "This error means you ran out of memory on your GPU.\n\n"
    "TIPS: If the workflow worked before you might have accidentally set the batch_size "
    "to a large number."
)
OOM_MESSAGE = (
    "Allocation on device 0 would exceed allowed memory. (out of memory)\n"
    "Currently allocated     : 21.87 GiB\n"
    "Requested               : 3.16 GiB\n"
    "Device limit            : 23.55 GiB\n"
    "Free (according to CUDA): 19.06 MiB\n"
    "PyTorch limit (set by user-supplied memory fraction)\n"
    "                        :       17179869184.00 GiB"
)
SERVER_ERROR = "500 Internal Server Error\n\nServer got itself in trouble"
HISTORY_LIMIT = 10000

# (class_type, input) -> the model folder whose files fill that input's list.
MODEL_INPUTS = {
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
}
MODEL_FOLDERS = [
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models",
    "clip_vision", "style_models", "embeddings", "diffusers", "vae_approx", "controlnet",
    "gligen", "upscale_models", "custom_nodes", "hypernetworks", "photomaker", "classifiers",
    "model_patches", "audio_encoders",
]
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
# What a save node writes when Job.output is "auto".
SAVE_KINDS = {
    "SaveVideo": "video", "SaveWEBM": "webm", "SaveAnimatedWEBP": "webp", "SaveImage": "frames",
}
# Video latents: frames are decoded in groups of N (length 33 -> 33, 30 -> 29) and sizes
# are whole latent pixels (8 or 16 image pixels).
TEMPORAL = {
    "WanImageToVideo": 4, "Wan22ImageToVideoLatent": 4, "WanCameraImageToVideo": 4,
    "WanCameraEmbedding": 4, "HunyuanImageToVideo": 4, "EmptyHunyuanLatentVideo": 4,
    "EmptyMochiLatentVideo": 6,
}
SPATIAL = {
    "WanImageToVideo": 8, "WanCameraImageToVideo": 8, "HunyuanImageToVideo": 8,
    "EmptyHunyuanLatentVideo": 8, "EmptyMochiLatentVideo": 8, "Wan22ImageToVideoLatent": 16,
}
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
CONTENT_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".webp": "image/webp"}


@dataclass
class Job:
    """How the fake executes the next submitted prompt (one Job per accepted prompt)."""

    steps: int = 3
    step_delay: float = 0.01
    output: str = "auto"  # auto | video | webm | webp | frames | gifs
    fail: str | None = None  # None | "oom" | "error"
    silent: bool = False
    drop_socket_after: int | None = None
    vanish_after: int | None = None
    hang: bool = False


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.OutOfMemoryError, under the name ComfyUI reports."""


OutOfMemoryError.__module__ = "torch"


class _Interrupted(Exception):
    """The running prompt was interrupted (ComfyUI's InterruptProcessingException)."""


class _Vanished(Exception):
    """The server 'restarted' under the running prompt."""


class _NodeFailed(Exception):
    """A node raised: carries ComfyUI's execution_error details."""

    def __init__(self, node_id: str, details: dict[str, Any]) -> None:
        super().__init__(node_id)
        self.node_id = node_id
        self.details = details


@dataclass
class _Item:
    """One queued prompt, as ComfyUI's queue tuple plus the Job that drives it."""

    number: int | float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    job: Job

    def as_list(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


@dataclass
class _Clip:
    """What a node's images would be: frame count, size, source picture, frame rate."""

    frames: int = 1
    size: tuple[int, int] | None = None
    size_rank: int = 0  # 2: literal width/height, 1: from a loaded image
    source: Path | None = None
    fps: float | None = None


@dataclass
class _Progress:
    """ComfyUI's per-prompt progress registry, sent as progress_state messages."""

    prompt_id: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, node_id: str, state: str, value: float, maximum: float) -> dict[str, Any]:
        self.nodes[node_id] = {"value": value, "max": maximum, "state": state}
        return self.message()

    def finish(self, node_id: str) -> dict[str, Any]:
        entry = self.nodes.setdefault(node_id, {"value": 0, "max": 1, "state": "pending"})
        return self.set(node_id, "finished", entry["max"], entry["max"])

    def message(self) -> dict[str, Any]:
        nodes = {
            node_id: {
                **entry, "node_id": node_id, "prompt_id": self.prompt_id,
                "display_node_id": node_id, "parent_node_id": None, "real_node_id": node_id,
            }
            for node_id, entry in self.nodes.items()
        }
        return {"prompt_id": self.prompt_id, "nodes": nodes}


# ---------------------------------------------------------------- object_info and validation


def load_object_info(path: Path = SNAPSHOT) -> dict[str, Any]:
    """The captured node schemas, inputs restored to ComfyUI's declared order."""
    nodes: dict[str, Any] = json.loads(path.read_text())["nodes"]
    for schema in nodes.values():
        order = schema.get("input_order", {})
        for section, names in order.items():
            inputs = schema["input"].get(section, {})
            schema["input"][section] = {n: inputs[n] for n in names if n in inputs}
    return nodes


def _input_info(spec: Any) -> tuple[Any, dict[str, Any]]:
    """(type, options) of an input spec such as ["INT", {"min": 1}] or [["a", "b"]]."""
    if isinstance(spec, list | tuple) and spec:
        extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        return spec[0], extra
    return spec, {}


def _options(spec: Any) -> list[Any]:
    """A combo's choices, in either serialisation (V1 list-as-type or V3 COMBO)."""
    input_type, extra = _input_info(spec)
    if input_type == "COMBO":
        return list(extra.get("options", []))
    return list(input_type) if isinstance(input_type, list) else []


def _set_options(spec: list[Any], options: list[str]) -> None:
    """Replace a combo's list, in either serialisation (V1 list-as-type or V3 COMBO)."""
    if spec and spec[0] == "COMBO" and len(spec) > 1:
        spec[1]["options"] = options
    elif spec and isinstance(spec[0], list):
        spec[0] = options


def _types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's validate_node_input, non-strict."""
    if received == expected or "*" in (received, expected):
        return True
    if isinstance(received, list) and expected == "COMBO":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return "*" in got or "*" in want or bool(got & want)


def _full_type_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _error(kind: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


_Verdict = tuple[bool, list[dict[str, Any]], str]  # (valid, errors, node id)


class _Validator:
    """ComfyUI's validate_prompt / validate_inputs over object_info schemas."""

    def __init__(self, info: dict[str, Any], image_exists: Callable[[Any], bool]) -> None:
        self.info = info
        self.image_exists = image_exists

    def prompt(
        self, prompt: dict[str, Any], targets: list[str] | None
    ) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
        """(valid, error, outputs to execute, node_errors) like execution.validate_prompt."""
        outputs = []
        for node_id, node in prompt.items():
            if "class_type" not in node:
                message = "Cannot execute because a node is missing the class_type property."
                return False, _error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {}
            class_type = node["class_type"]
            if class_type not in self.info:
                message = f"Cannot execute because node {class_type} does not exist."
                return False, _error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {}
            if self.info[class_type].get("output_node") is True and (
                targets is None or node_id in targets
            ):
                outputs.append(node_id)
        if not outputs:
            return False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}

        good: list[str] = []
        failures: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        validated: dict[str, _Verdict] = {}
        for output in outputs:
            try:
                valid, reasons, _ = self.node(prompt, output, validated)
            except Exception as ex:
                valid, reasons = False, [_error(
                    "exception_during_validation", "Exception when validating node", str(ex),
                    exception_type=_full_type_name(type(ex)),
                    traceback=traceback.format_tb(ex.__traceback__),
                )]
                validated[output] = (False, reasons, output)
            if valid:
                good.append(output)
                continue
            failures.append((output, reasons))
            for node_id, (ok, node_reasons, _) in validated.items():
                if not ok and node_reasons:
                    entry = node_errors.setdefault(node_id, {
                        "errors": node_reasons, "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    })
                    entry["dependent_outputs"].append(output)
        if not good:
            details = "\n".join(
                f"{e['message']}: {e['details']}" for _, reasons in failures for e in reasons
            )
            error = _error(
                "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
            )
            return False, error, [], node_errors
        return True, None, good, node_errors

    def node(
        self, prompt: dict[str, Any], node_id: str, validated: dict[str, _Verdict]
    ) -> _Verdict:
        """ComfyUI's validate_inputs for one node (recursing into linked nodes)."""
        if node_id in validated:
            return validated[node_id]
        inputs = prompt[node_id]["inputs"]
        class_type = prompt[node_id]["class_type"]
        schema = self.info[class_type]["input"]
        custom = ("image",) if class_type == "LoadImage" else ()  # LoadImage.VALIDATE_INPUTS
        errors: list[dict[str, Any]] = []
        valid = True
        for category in ("required", "optional"):
            for name, spec in schema.get(category, {}).items():
                input_type, extra = _input_info(spec)
                if name not in inputs:
                    if category == "required":
                        errors.append(_error(
                            "required_input_missing", "Required input is missing", name,
                            input_name=name,
                        ))
                    continue
                value = inputs[name]
                config = [input_type, extra]
                if isinstance(value, list):
                    linked_ok = self._linked(prompt, name, value, config, validated, errors)
                    valid = valid and linked_ok
                    continue
                problem = self._literal(inputs, name, config, name in custom)
                if problem is not None:
                    errors.append(problem)
        for name in custom:
            value = inputs.get(name)
            if name in inputs and not isinstance(value, list) and not self.image_exists(value):
                errors.append(_error(
                    "custom_validation_failed", "Custom validation failed for node",
                    f"{name} - Invalid image file: {value}", input_name=name,
                ))
        result = (not errors and valid, errors, node_id)
        validated[node_id] = result
        return result

    def _linked(
        self, prompt: dict[str, Any], name: str, link: list[Any], config: list[Any],
        validated: dict[str, _Verdict], errors: list[dict[str, Any]],
    ) -> bool:
        """Check one [node_id, slot] input; False when the linked node is invalid."""
        if len(link) != 2:
            errors.append(_error(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]", name,
                input_name=name, input_config=config, received_value=link,
            ))
            return True
        source_id, slot = link
        received = self.info[prompt[source_id]["class_type"]]["output"][slot]
        if not _types_match(received, config[0]):
            errors.append(_error(
                "return_type_mismatch", "Return type mismatch between linked nodes",
                f"{name}, received_type({received}) mismatch input_type({config[0]})",
                input_name=name, input_config=config, received_type=received, linked_node=link,
            ))
            return True
        try:
            return self.node(prompt, source_id, validated)[0]
        except Exception as ex:
            validated[source_id] = (False, [_error(
                "exception_during_inner_validation", "Exception when validating inner node",
                str(ex), input_name=name, input_config=config, exception_message=str(ex),
                exception_type=_full_type_name(type(ex)),
                traceback=traceback.format_tb(ex.__traceback__), linked_node=link,
            )], source_id)
            return False

    @staticmethod
    def _literal(
        inputs: dict[str, Any], name: str, config: list[Any], custom: bool
    ) -> dict[str, Any] | None:
        """Convert and range/list-check one literal input (mutating it like ComfyUI)."""
        input_type, extra = config
        value = inputs[name]
        try:
            if isinstance(value, dict) and "__value__" in value:
                value = inputs[name] = value["__value__"]
            convert = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
            if isinstance(input_type, str) and input_type in convert:
                value = inputs[name] = convert[input_type](value)
        except Exception as ex:
            return _error(
                "invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                f"{name}, {value}, {ex}", input_name=name, input_config=config,
                received_value=value, exception_message=str(ex),
            )
        if custom:
            return None
        if "min" in extra and value < extra["min"]:
            return _error(
                "value_smaller_than_min", f"Value {value} smaller than min of {extra['min']}",
                name, input_name=name, input_config=config, received_value=value,
            )
        if "max" in extra and value > extra["max"]:
            return _error(
                "value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}",
                name, input_name=name, input_config=config, received_value=value,
            )
        if isinstance(input_type, list) or input_type == "COMBO":
            options = _options(config)
            if value not in options:
                listed = f"(list of length {len(options)})" if len(options) > 20 else str(options)
                return _error(
                    "value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}",
                    input_name=name, input_config=None if len(options) > 20 else config,
                    received_value=value,
                )
        return None


# ---------------------------------------------------------------- graph helpers


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _execution_order(
    prompt: dict[str, Any], outputs: list[str], cached: set[str], info: dict[str, Any]
) -> list[str]:
    """ComfyUI's ExecutionList order: a DFS stack fill, then ux_friendly_pick_node."""
    pending: dict[str, bool] = {}
    blocking: dict[str, set[str]] = {}
    block_count: dict[str, int] = {}
    for output in outputs:
        stack, links = [output], []
        while stack:
            node_id = stack.pop()
            if node_id in pending:
                continue
            pending[node_id] = True
            blocking[node_id], block_count[node_id] = set(), 0
            for value in prompt[node_id]["inputs"].values():
                if _is_link(value) and value[0] not in cached:
                    stack.append(value[0])
                    links.append((value[0], node_id))
        for source, target in links:
            if target not in blocking[source]:
                blocking[source].add(target)
                block_count[target] += 1

    def is_output(node_id: str) -> bool:
        return info[prompt[node_id]["class_type"]].get("output_node") is True

    def pick(ready: list[str]) -> str:
        for node_id in ready:
            if is_output(node_id):
                return node_id
        for node_id in ready:
            if any(is_output(b) for b in blocking[node_id]):
                return node_id
        for node_id in ready:
            if any(is_output(c) for b in blocking[node_id] for c in blocking[b]):
                return node_id
        return ready[0]

    order = []
    while pending:
        node_id = pick([n for n in pending if block_count[n] == 0])
        del pending[node_id]
        for target in blocking[node_id]:
            block_count[target] -= 1
        order.append(node_id)
    return order


def _work_node(prompt: dict[str, Any], to_run: list[str]) -> tuple[str | None, bool]:
    """Where the Job acts, and whether it reports progress there.

    A sampler (or any node with a steps input) reports the Job's progress, else a video
    latent node does. Graphs with neither (plain image nodes) report no progress, as on a
    real server; the Job's failure or hang then happens at the last node to run.
    """
    for node_id in to_run:
        if prompt[node_id]["class_type"] in SAMPLERS:
            return node_id, True
    for node_id in to_run:
        node = prompt[node_id]
        if "steps" in node["inputs"] or node["class_type"] in TEMPORAL:
            return node_id, True
    return (to_run[-1], False) if to_run else (None, False)


def _format_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool | str):
        return value
    return str(value)


# ---------------------------------------------------------------- media


def _render(clip: _Clip) -> list[np.ndarray]:
    """Frames for a clip: the source picture (or a gradient) with a slow drift and fade-up.

    A faint per-frame grain (+-1 level) keeps consecutive frames distinct, as in real output
    (encoders such as libwebp merge identical frames).
    """
    width, height = clip.size or (256, 256)
    if clip.source is not None:
        with Image.open(clip.source) as image:
            picture = ImageOps.exif_transpose(image).convert("RGB")
            picture = picture.resize((width, height), Image.Resampling.BILINEAR)
        base = np.asarray(picture, dtype=np.float32)
    else:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        base = np.stack([x / width * 220, y / height * 220, (x + y) / (width + height) * 160], -1)
    shift = max(1, width // 60)  # under 2% of the width over the clip
    frames = []
    for i in range(clip.frames):
        t = i / max(clip.frames - 1, 1)
        moved = np.roll(base, round(t * shift), axis=1) * (1 + 0.015 * t)
        grain = np.random.default_rng(i).integers(-1, 2, base.shape)
        frames.append(np.clip(moved + grain, 0, 255).astype(np.uint8))
    return frames


def _encode(
    path: Path, frames: list[np.ndarray], fps: float, codec: str, *, pix_fmt: str = "yuv420p",
    options: dict[str, object] | None = None, metadata: dict[str, str] | None = None,
) -> None:
    """Encode RGB frames with PyAV (like SaveVideo / SaveWEBM; errors surface as PyAV's)."""
    height, width = frames[0].shape[:2]
    container_options = {"movflags": "use_metadata_tags"} if path.suffix == ".mp4" else {}
    with av.open(str(path), mode="w", options=container_options) as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream(codec, rate=Fraction(round(fps * 1000), 1000))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if options:
            stream.options = options
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _next_counter(folder: Path, name: str, *, vhs: bool = False) -> int:
    """ComfyUI's filename counter (max existing + 1); VideoHelperSuite's when vhs."""
    best = 0
    for entry in os.listdir(folder):
        if not entry.startswith(f"{name}_"):
            continue
        rest = entry[len(name) + 1:]
        digits = rest.split(".")[0] if vhs else rest.split("_")[0]
        if digits.isdigit():
            best = max(best, int(digits))
    return best + 1


def _preview_jpeg() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (16, 16), (96, 128, 160)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


PREVIEW_JPEG = _preview_jpeg()


# ---------------------------------------------------------------- the server


class FakeComfy:
    """A ComfyUI 0.3.64 stand-in on 127.0.0.1 (aiohttp in a background thread)."""

    def __init__(
        self, root: Path, *, models: dict[str, list[str]] | None = None,
        version: str = "0.3.64", max_upload_bytes: int = 100 * 1024 * 1024,
        vram_total: int = 24 * 1024**3, previews: bool = True,
    ) -> None:
        self.root = Path(root).resolve()
        self.input_dir, self.output_dir, self.temp_dir = (
            self.root / "input", self.root / "output", self.root / "temp"
        )
        for folder in (self.input_dir, self.output_dir, self.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.models = {folder: list(names) for folder, names in (models or {}).items()}
        self.version = version
        self.max_upload_bytes = max_upload_bytes
        self.vram_total = vram_total
        self.previews = previews
        self.object_info = load_object_info()
        self.url = ""
        self.port = 0
        self.jobs: list[Job] = []
        # Introspection for assertions (kept across restarts).
        self.requests: list[tuple[str, str]] = []
        self.submitted: dict[str, dict[str, Any]] = {}
        self.interrupted: list[str | None] = []
        self.deleted_from_queue: list[str] = []
        self.deleted_from_history: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.peak_vram_reported = 0  # highest vram_total - vram_free served by /system_stats
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._socket_flags: dict[str, dict[str, Any]] = {}
        self._all_sockets: dict[web.WebSocketResponse, web.Request] = {}
        self._forget()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeComfy:
        """Start the server in its own thread and event loop; sets url."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-comfy")
        self._thread.daemon = True
        self._thread.start()
        self._call(self._boot())
        return self

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._loop is None or self._thread is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeComfy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def down(self) -> None:
        """Stop listening (connections refused) and drop every open connection."""
        self._call(self._unlisten())

    def up(self, restart: bool = False) -> None:
        """Listen again on the same port; with restart, as a freshly started server."""
        self._call(self._up(restart))

    def restart(self) -> None:
        """Like a real restart: history, queue and cache forgotten, sockets closed, same port."""
        self._call(self._unlisten())
        self._call(self._up(True))

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None, "start() the server first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    async def _boot(self) -> None:
        app = web.Application(client_max_size=self.max_upload_bytes, middlewares=[self._record])
        for method, path, handler in self._routes():
            for route in (path, "/api" + path):  # GET routes also answer HEAD, as in ComfyUI
                if method == "GET":
                    app.router.add_get(route, handler)
                else:
                    app.router.add_route(method, route, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._wakeup = asyncio.Event()
        self._worker = asyncio.create_task(self._work())
        await self._listen()
        self.url = f"http://127.0.0.1:{self.port}"

    async def _listen(self) -> None:
        assert self._runner is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def _unlisten(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None
        self._drop_connections()

    async def _up(self, restart: bool) -> None:
        if restart:
            await self._stop_worker()
            self._forget()
            self._drop_connections()
            self._worker = asyncio.create_task(self._work())
        if self._site is None:
            await self._listen()

    async def _shutdown(self) -> None:
        await self._stop_worker()
        self._drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    def _drop_connections(self) -> None:
        """Abort every TCP connection (HTTP keep-alive and websockets) without a close frame."""
        if self._runner is not None and self._runner.server is not None:
            for connection in self._runner.server.connections:
                if connection.transport is not None:
                    connection.transport.abort()

    def _drop_websockets(self) -> None:
        for request in list(self._all_sockets.values()):
            if request.transport is not None:
                request.transport.abort()

    def _forget(self) -> None:
        """The in-memory state a ComfyUI process loses when it restarts."""
        self._number = 0
        self._pending: list[_Item] = []
        self._running: _Item | None = None
        self._history: dict[str, dict[str, Any]] = {}
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._client_id: str | None = None
        self._last_node: str | None = None
        self._interrupt = False
        self._free_after_job = False

    # ------------------------------------------------------------ HTTP

    def _routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]]:
        return [
            ("GET", "/ws", self._ws),
            ("GET", "/system_stats", self._system_stats),
            ("GET", "/features", self._features),
            ("GET", "/prompt", self._get_prompt),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/object_info", self._get_object_info),
            ("GET", "/object_info/{node_class}", self._get_object_info_node),
            ("GET", "/history", self._get_history),
            ("GET", "/history/{prompt_id}", self._get_history_item),
            ("POST", "/history", self._post_history),
            ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue),
            ("POST", "/interrupt", self._post_interrupt),
            ("POST", "/free", self._post_free),
            ("POST", "/upload/image", self._upload_image),
            ("GET", "/view", self._view),
            ("GET", "/embeddings", self._embeddings),
            ("GET", "/models", self._get_models),
            ("GET", "/models/{folder}", self._get_model_folder),
        ]

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Any:
        self.requests.append((request.method, request.path))
        return await handler(request)

    async def _system_stats(self, request: web.Request) -> web.Response:
        used = int(self.vram_total * (0.4 if self._running is not None else 0.02))
        self.peak_vram_reported = max(self.peak_vram_reported, used)
        return web.json_response({
            "system": {
                "os": "posix",
                "ram_total": 67_108_864_000,
                "ram_free": 52_428_800_000,
                "comfyui_version": self.version,
                "required_frontend_version": "1.27.10",
                "installed_templates_version": "0.1.95",
                "required_templates_version": "0.1.95",
                "python_version": sys.version,
                "pytorch_version": "2.8.0+cu128",
                "embedded_python": False,
                "argv": ["main.py", "--listen", "127.0.0.1", "--port", str(self.port)],
            },
            "devices": [{
                "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
                "type": "cuda",
                "index": 0,
                "vram_total": self.vram_total,
                "vram_free": self.vram_total - used,
                "torch_vram_total": used,
                "torch_vram_free": used // 20,
            }],
        })

    async def _features(self, request: web.Request) -> web.Response:
        return web.json_response(self._server_features())

    def _server_features(self) -> dict[str, Any]:
        return {"supports_preview_metadata": True, "max_upload_size": self.max_upload_bytes}

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue_info())

    def _queue_info(self) -> dict[str, Any]:
        remaining = len(self._pending) + (self._running is not None)
        return {"exec_info": {"queue_remaining": remaining}}

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.Response(status=500, text=SERVER_ERROR)
        if not isinstance(body, dict):
            return web.Response(status=500, text=SERVER_ERROR)
        if "number" in body:
            number: int | float = float(body["number"])
        else:
            number = -self._number if body.get("front") else self._number
            self._number += 1
        if "prompt" not in body:
            missing = _error("no_prompt", "No prompt provided", "No prompt provided")
            return web.json_response({"error": missing, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        if not isinstance(prompt, dict) or not all(isinstance(n, dict) for n in prompt.values()):
            return web.Response(status=500, text=SERVER_ERROR)
        validator = _Validator(self._live_object_info(), self._image_exists)
        valid, error, outputs, node_errors = validator.prompt(
            prompt, body.get("partial_execution_targets")
        )
        extra_data = dict(body.get("extra_data", {}))
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not valid:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        job = self.jobs.pop(0) if self.jobs else Job()
        self.submitted[prompt_id] = prompt
        self._pending.append(_Item(number, prompt_id, prompt, extra_data, outputs, job))
        self._pending.sort(key=lambda item: (item.number, item.prompt_id))
        await self._queue_updated()
        assert self._wakeup is not None
        self._wakeup.set()
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        )

    async def _get_object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self._live_object_info())

    async def _get_object_info_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        info = self._live_object_info()
        return web.json_response({name: info[name]} if name in info else {})

    def _live_object_info(self) -> dict[str, Any]:
        """object_info with the model folders' files and the input images filled in."""
        info = copy.deepcopy(self.object_info)
        for (class_type, name), folder in MODEL_INPUTS.items():
            for section in info.get(class_type, {}).get("input", {}).values():
                if name in section:
                    files = sorted(self.models.get(folder, []))
                    builtin = [o for o in _options(section[name]) if o not in files]
                    _set_options(section[name], files + builtin)  # e.g. VAE "pixel_space"
        if "LoadImage" in info:
            images = sorted(
                p.name for p in self.input_dir.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_TYPES
            )
            _set_options(info["LoadImage"]["input"]["required"]["image"], images)
        return info

    def _annotated(self, name: str) -> tuple[str, Path | None]:
        """Split ComfyUI's 'name [output]' annotation off a file name."""
        for suffix, folder in ((" [output]", self.output_dir), (" [input]", self.input_dir),
                               (" [temp]", self.temp_dir)):
            if name.endswith(suffix):
                return name[: -len(suffix)], folder
        return name, None

    def _input_path(self, value: Any) -> Path | None:
        if not isinstance(value, str):
            return None
        name, folder = self._annotated(value)
        return (folder or self.input_dir) / name

    def _image_exists(self, value: Any) -> bool:
        path = self._input_path(value)
        return path is not None and path.exists()

    async def _get_history(self, request: web.Request) -> web.Response:
        max_items = request.query.get("max_items")
        limit = int(max_items) if max_items is not None else None
        offset = int(request.query.get("offset", -1))
        if offset < 0 and limit is not None:
            offset = len(self._history) - limit
        out: dict[str, Any] = {}
        for i, (prompt_id, entry) in enumerate(self._history.items()):
            if i >= offset:
                out[prompt_id] = entry
                if limit is not None and len(out) >= limit:
                    break
        return web.json_response(out)

    async def _get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self._history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._history.clear()
        for prompt_id in body.get("delete", []):
            self.deleted_from_history.append(prompt_id)
            self._history.pop(prompt_id, None)
        return web.Response(status=200)

    async def _get_queue(self, request: web.Request) -> web.Response:
        running = [self._running.as_list()] if self._running is not None else []
        pending = [item.as_list() for item in self._pending]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._pending.clear()
            await self._queue_updated()
        for prompt_id in body.get("delete", []):
            self.deleted_from_queue.append(prompt_id)
            for item in self._pending:
                if item.prompt_id == prompt_id:  # only pending prompts, as in ComfyUI
                    self._pending.remove(item)
                    await self._queue_updated()
                    break
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        self.interrupted.append(prompt_id)
        if not prompt_id or (self._running is not None and self._running.prompt_id == prompt_id):
            self._interrupt = True
        return web.Response(status=200)

    async def _post_free(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("free_memory"):
            if self._running is None:
                self._cache.clear()
            else:
                self._free_after_job = True
        return web.Response(status=200)

    async def _upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        kind = post.get("type") or "input"
        folders = {"input": self.input_dir, "temp": self.temp_dir, "output": self.output_dir}
        if kind not in folders:
            return web.Response(status=500, text=SERVER_ERROR)
        if not isinstance(image, web.FileField):
            return web.Response(status=400)
        filename = image.filename
        if not filename:
            return web.Response(status=400)
        upload_dir = str(folders[str(kind)])
        subfolder = str(post.get("subfolder", ""))
        folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((upload_dir, path)) != upload_dir:
            return web.Response(status=400)
        os.makedirs(folder, exist_ok=True)
        data = image.file.read()
        duplicate = False
        if post.get("overwrite") not in ("true", "1"):
            stem, ext = os.path.splitext(filename)
            counter = 1
            while os.path.exists(path):
                with open(path, "rb") as existing:
                    if existing.read() == data:
                        duplicate = True
                        break
                filename = f"{stem} ({counter}){ext}"
                path = os.path.join(folder, filename)
                counter += 1
        if not duplicate:
            with open(path, "wb") as out:
                out.write(data)
        self.uploads[f"{subfolder}/{filename}" if subfolder else filename] = data
        return web.json_response({"name": filename, "subfolder": subfolder, "type": kind})

    async def _view(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if "filename" not in query:
            return web.Response(status=404)
        filename, folder = self._annotated(query["filename"])
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        if folder is None:
            folders = {"input": self.input_dir, "temp": self.temp_dir, "output": self.output_dir}
            folder = folders.get(query.get("type", "output"))
            if folder is None:
                return web.Response(status=400)
        output_dir = str(folder)
        if "subfolder" in query:
            full = os.path.join(output_dir, query["subfolder"])
            if os.path.commonpath((os.path.abspath(full), output_dir)) != output_dir:
                return web.Response(status=403)
            output_dir = full
        filename = os.path.basename(filename)
        path = os.path.join(output_dir, filename)
        if not os.path.isfile(path):
            return web.Response(status=404)
        suffix = os.path.splitext(filename)[1].lower()
        content_type = (
            CONTENT_TYPES.get(suffix) or mimetypes.guess_type(filename)[0]
            or "application/octet-stream"
        )
        return web.FileResponse(path, headers={
            "Content-Disposition": f'filename="{filename}"', "Content-Type": content_type,
        })

    async def _embeddings(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def _get_models(self, request: web.Request) -> web.Response:
        return web.json_response(MODEL_FOLDERS + [f for f in self.models if f not in MODEL_FOLDERS])

    async def _get_model_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS and folder not in self.models:
            return web.Response(status=404)
        return web.json_response(sorted(self.models.get(folder, [])))

    # ------------------------------------------------------------ websocket

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId", "")
        if sid:
            self._sockets.pop(sid, None)  # the newest socket of a client id wins
        else:
            sid = uuid.uuid4().hex
        self._sockets[sid] = ws
        self._socket_flags[sid] = {}
        self._all_sockets[ws] = request
        try:
            await self._send("status", {"status": self._queue_info(), "sid": sid}, sid)
            if self._client_id == sid and self._last_node is not None:
                await self._send("executing", {"node": self._last_node}, sid)
            first = True
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                with contextlib.suppress(ValueError, AttributeError):
                    data = json.loads(message.data)
                    if first and data.get("type") == "feature_flags":
                        self._socket_flags[sid] = dict(data.get("data", {}))
                        await self._send("feature_flags", self._server_features(), sid)
                first = False
        finally:
            # As in ComfyUI: a replaced socket closing also unregisters its client id.
            self._sockets.pop(sid, None)
            self._socket_flags.pop(sid, None)
            self._all_sockets.pop(ws, None)
        return ws

    async def _send(self, event: str, data: Any, sid: str | None) -> None:
        """ComfyUI's send_json: to one client id, or to every socket when sid is None."""
        targets = list(self._sockets.values()) if sid is None else [
            ws for key, ws in self._sockets.items() if key == sid
        ]
        for ws in targets:
            with contextlib.suppress(Exception):
                await ws.send_json({"type": event, "data": data})

    async def _send_bytes(self, payload: bytes, sid: str | None) -> None:
        targets = list(self._sockets.values()) if sid is None else [
            ws for key, ws in self._sockets.items() if key == sid
        ]
        for ws in targets:
            with contextlib.suppress(Exception):
                await ws.send_bytes(payload)

    async def _queue_updated(self) -> None:
        await self._send("status", {"status": self._queue_info()}, None)

    # ------------------------------------------------------------ execution

    async def _work(self) -> None:
        """The prompt worker: one prompt at a time, lowest number first."""
        assert self._wakeup is not None
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._pending.pop(0)
            self._running = item
            await self._queue_updated()
            try:
                entry = await self._execute(item)
            except _Vanished:
                continue
            self._running = None
            if len(self._history) > HISTORY_LIMIT:
                self._history.pop(next(iter(self._history)))
            self._history[item.prompt_id] = entry
            await self._queue_updated()
            client_id = item.extra_data.get("client_id")
            if client_id is not None and not item.job.silent:
                done = {"node": None, "prompt_id": item.prompt_id}
                await self._send("executing", done, client_id)
            if self._free_after_job:
                self._cache.clear()
                self._free_after_job = False

    async def _execute(self, item: _Item) -> dict[str, Any]:
        """Run one prompt like PromptExecutor.execute; returns its history entry."""
        prompt, prompt_id = item.prompt, item.prompt_id
        client_id = item.extra_data.get("client_id")
        self._client_id, self._interrupt = client_id, False
        messages: list[list[Any]] = []

        async def add_message(event: str, data: dict[str, Any], broadcast: bool = False) -> None:
            data = {**data, "timestamp": int(time.time() * 1000)}
            messages.append([event, data])
            if client_id is not None or broadcast:
                await self._node_event(item, event, data)

        await add_message("execution_start", {"prompt_id": prompt_id})
        memo: dict[str, str] = {}
        signatures = {node_id: self._signature(prompt, node_id, memo) for node_id in prompt}
        current = set(signatures.values())
        self._cache = {key: ui for key, ui in self._cache.items() if key in current}
        cached = [node_id for node_id in prompt if signatures[node_id] in self._cache]
        await add_message("execution_cached", {"nodes": cached, "prompt_id": prompt_id})
        order = _execution_order(prompt, item.outputs, set(cached), self.object_info)
        work, reports = _work_node(prompt, [n for n in order if n not in cached])
        steps = item.job.steps if reports else 0
        progress = _Progress(prompt_id)
        outputs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        executed: list[str] = []
        success = False
        try:
            for node_id in order:
                ui = await self._run_node(item, node_id, node_id in cached, signatures[node_id],
                                          steps if node_id == work else None, progress)
                if ui:
                    outputs[node_id] = ui
                    meta[node_id] = {"node_id": node_id, "display_node": node_id,
                                     "parent_node": None, "real_node_id": node_id}
                if node_id not in cached:
                    executed.append(node_id)
            success = True
        except _Interrupted as stop:
            node_id = str(stop)
            await add_message("execution_interrupted", {
                "prompt_id": prompt_id, "node_id": node_id,
                "node_type": prompt[node_id]["class_type"], "executed": executed,
            }, broadcast=True)
        except _NodeFailed as failure:
            await add_message("execution_error", {
                "prompt_id": prompt_id, "node_id": failure.node_id,
                "node_type": prompt[failure.node_id]["class_type"], "executed": executed,
                **failure.details, "current_outputs": list(prompt),
            })
        if success:
            await add_message("execution_success", {"prompt_id": prompt_id})
        self._last_node = None
        status = {"status_str": "success" if success else "error", "completed": success,
                  "messages": messages}
        return {"prompt": item.as_list(), "outputs": outputs, "status": status, "meta": meta}

    async def _run_node(
        self, item: _Item, node_id: str, cached: bool, signature: str, steps: int | None,
        progress: _Progress,
    ) -> dict[str, Any] | None:
        """Execute (or replay from the cache) one node; returns its ui output, if any.

        steps is None except on the Job's work node, where it is the progress to report.
        """
        client_id = item.extra_data.get("client_id")
        if cached:  # only output nodes get here: ComfyUI replays their cached ui
            ui = self._cache[signature]
            if client_id is not None:
                await self._node_event(item, "executed", {
                    "node": node_id, "display_node": node_id, "output": ui,
                    "prompt_id": item.prompt_id,
                })
            await self._node_event(item, "progress_state", progress.finish(node_id))
            return ui
        await self._node_event(item, "progress_state", progress.set(node_id, "running", 0.0, 1.0))
        if client_id is not None:
            self._last_node = None if item.job.silent else node_id
            await self._node_event(item, "executing", {
                "node": node_id, "display_node": node_id, "prompt_id": item.prompt_id,
            })
        if self._interrupt:
            raise _Interrupted(node_id)
        node = item.prompt[node_id]
        try:
            if steps is not None:
                await self._work_steps(item, node_id, steps, progress)
            ui = await asyncio.to_thread(self._node_output, item, node_id)
        except (_Interrupted, _Vanished):
            raise
        except Exception as ex:
            message = f"{ex}\n{OOM_TIPS if isinstance(ex, OutOfMemoryError) else ''}"
            current_inputs = {
                name: [self._format_input(item.prompt, value)]
                for name, value in node["inputs"].items()
            }
            raise _NodeFailed(node_id, {
                "exception_message": message,
                "exception_type": _full_type_name(type(ex)),
                "traceback": traceback.format_tb(ex.__traceback__),
                "current_inputs": current_inputs,
            }) from ex
        self._cache[signature] = ui
        if ui and client_id is not None:
            await self._node_event(item, "executed", {
                "node": node_id, "display_node": node_id, "output": ui,
                "prompt_id": item.prompt_id,
            })
        await self._node_event(item, "progress_state", progress.finish(node_id))
        return ui

    def _format_input(self, prompt: dict[str, Any], value: Any) -> Any:
        """An input as ComfyUI's format_value shows it (linked objects as their repr)."""
        if not _is_link(value):
            return _format_value(value)
        kind = self.object_info[prompt[value[0]]["class_type"]]["output"][value[1]]
        return f"<{kind} object at 0x{id(value):x}>"

    async def _work_steps(
        self, item: _Item, node_id: str, steps: int, progress: _Progress
    ) -> None:
        """Job progress on the work node, its socket mischief, then its failure or hang."""
        job, client_id = item.job, item.extra_data.get("client_id")
        supports_metadata = self._socket_flags.get(client_id or "", {}).get(
            "supports_preview_metadata", False
        )
        for value in range(1, steps + 1):
            await asyncio.sleep(job.step_delay)
            if self._interrupt:
                raise _Interrupted(node_id)
            preview = self.previews and value % 2 == 0
            await self._node_event(item, "progress_state",
                                   progress.set(node_id, "running", value, steps))
            if preview and supports_metadata and not job.silent:
                metadata = json.dumps({
                    "node_id": node_id, "prompt_id": item.prompt_id, "display_node_id": node_id,
                    "parent_node_id": None, "real_node_id": node_id, "image_type": "image/jpeg",
                }).encode()
                payload = struct.pack(">II", 4, len(metadata)) + metadata + PREVIEW_JPEG
                await self._send_bytes(payload, client_id)
            await self._node_event(item, "progress", {
                "value": value, "max": steps, "prompt_id": item.prompt_id, "node": node_id,
            })
            if preview and not supports_metadata and not job.silent:
                await self._send_bytes(struct.pack(">II", 1, 1) + PREVIEW_JPEG, client_id)
            if job.drop_socket_after == value:
                self._drop_websockets()
            if job.vanish_after == value:
                self._forget()
                self._drop_connections()
                raise _Vanished
        if job.fail == "oom":
            raise OutOfMemoryError(OOM_MESSAGE)
        if job.fail is not None:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two devices, "
                "cuda:0 and cpu!"
            )
        while job.hang and not self._interrupt:
            await asyncio.sleep(0.01)
        if job.hang:
            raise _Interrupted(node_id)

    async def _node_event(self, item: _Item, event: str, data: dict[str, Any]) -> None:
        """A prompt's event, to its client id (or everyone without one); none if silent."""
        if not item.job.silent:
            await self._send(event, data, item.extra_data.get("client_id"))

    def _signature(self, prompt: dict[str, Any], node_id: Any, memo: dict[str, str]) -> str:
        """The node cache key: class, inputs and upstream signatures (+ image file hash)."""
        if not isinstance(node_id, str) or node_id not in prompt:
            return "missing"
        if node_id in memo:
            return memo[node_id]
        memo[node_id] = "cycle"
        node = prompt[node_id]
        parts: list[Any] = [node["class_type"]]
        if node["class_type"] == "LoadImage":
            path = self._input_path(node["inputs"].get("image"))
            if path is not None and path.is_file():
                parts.append(hashlib.sha256(path.read_bytes()).hexdigest())
        for name, value in sorted(node["inputs"].items()):
            if _is_link(value):
                parts.append([name, self._signature(prompt, value[0], memo), value[1]])
            else:
                parts.append([name, value])
        memo[node_id] = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
        return memo[node_id]

    # ------------------------------------------------------------ outputs

    def _node_output(self, item: _Item, node_id: str) -> dict[str, Any] | None:
        """A node's effect: LoadImage reads its file, save nodes write theirs (ui output)."""
        node = item.prompt[node_id]
        class_type = node["class_type"]
        if class_type == "LoadImage":
            path = self._input_path(node["inputs"].get("image"))
            with Image.open(str(path)) as image:
                image.load()
            return None
        if class_type not in SAVE_KINDS:
            return None
        kind = SAVE_KINDS[class_type] if item.job.output == "auto" else item.job.output
        clip = self._clip(item.prompt, node_id, {})
        frames = _render(clip)
        fps = clip.fps or 16.0
        prefix = str(node["inputs"].get("filename_prefix", "ComfyUI"))
        folder, name, subfolder = self._save_path(prefix)
        counter = _next_counter(folder, name, vhs=kind == "gifs")
        prompt_text = json.dumps(item.prompt)

        def entry(filename: str) -> dict[str, Any]:
            return {"filename": filename, "subfolder": subfolder, "type": "output"}

        if kind == "video":
            filename = f"{name}_{counter:05}_.mp4"
            _encode(folder / filename, frames, fps, "h264", metadata={"prompt": prompt_text})
            return {"images": [entry(filename)], "animated": [True]}
        if kind == "webm":
            filename = f"{name}_{counter:05}_.webm"
            av1 = node["inputs"].get("codec") == "av1"
            crf = str(int(node["inputs"].get("crf", 32)))
            _encode(folder / filename, frames, fps, "libsvtav1" if av1 else "libvpx-vp9",
                    pix_fmt="yuv420p10le" if av1 else "yuv420p", options={"crf": crf})
            return {"images": [entry(filename)], "animated": [True]}
        if kind == "webp":
            filename = f"{name}_{counter:05}_.webp"
            pictures = [Image.fromarray(frame) for frame in frames]
            inputs = node["inputs"]
            method = {"default": 4, "fastest": 0, "slowest": 6}.get(inputs.get("method"), 4)
            pictures[0].save(
                folder / filename, save_all=True, append_images=pictures[1:],
                duration=int(1000.0 / fps), lossless=bool(inputs.get("lossless", True)),
                quality=int(inputs.get("quality", 80)), method=method,
            )
            return {"images": [entry(filename)], "animated": [len(frames) != 1]}
        if kind == "frames":
            images = []
            metadata = PngInfo()
            metadata.add_text("prompt", prompt_text)
            for offset, frame in enumerate(frames):
                filename = f"{name}_{counter + offset:05}_.png"
                Image.fromarray(frame).save(folder / filename, pnginfo=metadata, compress_level=4)
                images.append(entry(filename))
            return {"images": images}
        if kind == "gifs":
            filename = f"{name}_{counter:05}.mp4"
            _encode(folder / filename, frames, fps, "h264")
            return {"gifs": [{**entry(filename), "format": "video/h264-mp4", "frame_rate": fps}]}
        raise ValueError(f"unknown Job.output {kind!r}")

    def _save_path(self, prefix: str) -> tuple[Path, str, str]:
        """ComfyUI's get_save_image_path: (folder, file name stem, subfolder)."""
        output_dir = str(self.output_dir)
        subfolder = os.path.dirname(os.path.normpath(prefix))
        name = os.path.basename(os.path.normpath(prefix))
        folder = os.path.abspath(os.path.join(output_dir, subfolder))
        if os.path.commonpath((output_dir, folder)) != output_dir:
            raise Exception(  # ComfyUI raises a bare Exception here
                "**** ERROR: Saving image outside the output folder is not allowed."
                f"\n full_output_folder: {folder}\n         output_dir: {output_dir}"
                f"\n commonpath: {os.path.commonpath((output_dir, folder))}"
            )
        os.makedirs(folder, exist_ok=True)
        return Path(folder), name, subfolder

    def _clip(self, prompt: dict[str, Any], node_id: str, memo: dict[str, _Clip]) -> _Clip:
        """Follow the graph to what a node's images would be (size, frames, source, fps)."""
        if node_id in memo:
            return memo[node_id]
        memo[node_id] = _Clip()
        node = prompt[node_id]
        class_type, inputs = node["class_type"], node["inputs"]
        upstream = [self._clip(prompt, v[0], memo) for v in inputs.values()
                    if _is_link(v) and v[0] in prompt]
        clip = _Clip(frames=max((u.frames for u in upstream), default=1))
        sized = sorted((u for u in upstream if u.size), key=lambda u: -u.size_rank)
        if sized:
            clip.size, clip.size_rank = sized[0].size, sized[0].size_rank
        clip.source = next((u.source for u in upstream if u.source), None)
        clip.fps = next((u.fps for u in upstream if u.fps), None)
        numbers = {k: v for k, v in inputs.items() if _is_number(v)}
        if class_type == "LoadImage":
            path = self._input_path(inputs.get("image"))
            if path is not None and path.is_file():
                with Image.open(path) as image:
                    clip = _Clip(1, ImageOps.exif_transpose(image).size, 1, path, None)
        if "width" in numbers and "height" in numbers:
            clip.size, clip.size_rank = self._literal_size(class_type, numbers, clip.size), 2
        if "amount" in numbers:
            clip.frames *= int(numbers["amount"])
        elif class_type == "ImageFromBatch":
            start = min(clip.frames - 1, int(numbers.get("batch_index", 0)))
            clip.frames = max(1, min(clip.frames - start, int(numbers.get("length", 1))))
        elif "length" in numbers:
            length, group = int(numbers["length"]), TEMPORAL.get(class_type, 1)
            clip.frames = ((length - 1) // group) * group + 1 if group > 1 else length
        elif "batch_size" in numbers and clip.frames == 1:
            clip.frames = int(numbers["batch_size"])
        for key in ("fps", "frame_rate"):
            if key in numbers:
                clip.fps = float(numbers[key])
        memo[node_id] = clip
        return clip

    @staticmethod
    def _literal_size(
        class_type: str, numbers: dict[str, Any], upstream: tuple[int, int] | None
    ) -> tuple[int, int]:
        """Output size of a node with width/height inputs (ImageScale's 0 keeps aspect)."""
        width, height = int(numbers["width"]), int(numbers["height"])
        if upstream is not None and (width == 0 or height == 0):
            if width == 0 and height == 0:
                return upstream
            if width == 0:
                width = max(1, round(upstream[0] * height / upstream[1]))
            else:
                height = max(1, round(upstream[1] * width / upstream[0]))
        unit = SPATIAL.get(class_type, 1)
        return max(unit, width // unit * unit), max(unit, height // unit * unit)
