"""ComfyUI workflows: API-format graphs, the bindings that say where our values go, templates.

A workflow is what ComfyUI's "Save (API)" exports: ``{node_id: {class_type,
inputs, _meta}}``, where an input is a literal or a link ``[node_id,
output_index]``. A *binding* names the node inputs that receive each of our
values (``image``, ``prompt``, ``negative_prompt``, ``seed``, ``steps``,
``guidance``, ``width``, ``height``, ``frames``, ``fps``), the model files
the graph loads and its output node. Bindings come from a sidecar
``<name>.bindings.json`` beside the workflow, or are detected from the usual
nodes; when detection finds several candidates for one role it refuses and
lists them (write a sidecar then). Defaults are whatever the graph itself
holds at the bound inputs, so a user's export keeps its own settings.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vidgen.errors import BackendError, ConfigError
from vidgen.formats import Document, parse_document

__all__ = [
    "ROLES",
    "Binding",
    "Bindings",
    "ModelFile",
    "Workflow",
    "builtin_templates",
    "detect_bindings",
    "load_workflow",
]

Role = Literal["image", "prompt", "negative_prompt", "seed", "steps", "guidance", "width",
               "height", "frames", "fps"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
Graph = dict[str, dict[str, Any]]

#: Loader node -> {input: the folder under ComfyUI's ``models/`` its file belongs in}.
LOADER_FOLDERS: dict[str, dict[str, str]] = {
    "UNETLoader": {"unet_name": "diffusion_models"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "DualCLIPLoader": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
    "VAELoader": {"vae_name": "vae"},
    "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
    "LoraLoader": {"lora_name": "loras"},
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "ImageOnlyCheckpointLoader": {"ckpt_name": "checkpoints"},
    "UpscaleModelLoader": {"model_name": "upscale_models"},
}
#: Nodes that write the result, in order of preference when detecting.
OUTPUT_NODES = ("SaveVideo", "SaveWEBM", "SaveAnimatedWEBP", "SaveAnimatedPNG",
                "VHS_VideoCombine", "SaveImage")
_SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "CFGGuider", "BasicGuider",
             "BasicScheduler", "RandomNoise", "FluxGuidance")
_NOT_LENGTHS = ("ImageFromBatch", "LatentFromBatch")  # their length selects, not generates
_TEXT_INPUTS = ("text", "prompt")
_FPS_INPUTS = {"CreateVideo": "fps", "SaveWEBM": "fps", "SaveAnimatedWEBP": "fps",
               "SaveAnimatedPNG": "fps", "VHS_VideoCombine": "frame_rate"}


class Binding(Document):
    """One node input that receives a value; ``scale`` multiplies it first (rounded for
    integers), e.g. the step where a two-expert graph switches from one model to the other."""

    node: str
    input: str
    scale: float | None = Field(None, gt=0)


class ModelFile(Document):
    """A model file the graph loads, and the ``models/`` folder it belongs in."""

    node: str
    input: str
    folder: str


class Bindings(Document):
    """``<workflow>.bindings.json``: where each value goes in one workflow."""

    schema_: Literal["vidgen.comfyui_bindings/1"] = Field("vidgen.comfyui_bindings/1",
                                                          alias="schema")
    description: str = ""
    family: Literal["wan", "hunyuan", "mochi", "generic"] = Field(
        "generic", description="model family: picks the camera phrases (framing.PHRASES)")
    conditioning: Literal["image", "text"] = Field(
        "image", description="text: a text-to-video model that never sees the keyframe")
    inputs: dict[Role, list[Binding]] = Field(default_factory=dict)
    frames_dropped: int = Field(0, ge=0, description="frames the workflow drops after decoding "
                                "(HunyuanVideo I2V v1 drops its first 4)")
    models: list[ModelFile] = Field(default_factory=list)
    output: str = Field(description="the node that saves the frames or the video")


@dataclass(frozen=True)
class Workflow:
    """A graph with its bindings; ``sha256`` identifies both, for provenance."""

    name: str
    graph: Graph
    bindings: Bindings
    sha256: str
    detected: bool  # bindings were detected rather than read from a sidecar

    def default(self, role: str) -> Any:
        """The graph's own value at the first input bound to ``role`` (None if unbound)."""
        for binding in self.bindings.inputs.get(role, []):  # type: ignore[call-overload]
            value = self.graph[binding.node]["inputs"].get(binding.input)
            if not isinstance(value, list):
                return value / binding.scale if binding.scale and value is not None else value
        return None

    def bind(self, values: dict[str, Any]) -> Graph:
        """A copy of the graph with ``values`` (role -> value; None keeps the default) set."""
        graph = copy.deepcopy(self.graph)
        for role, value in values.items():
            if value is None:
                continue
            for binding in self.bindings.inputs.get(role, []):  # type: ignore[call-overload]
                scaled = value * binding.scale if binding.scale else value
                if isinstance(value, int) and not isinstance(value, bool):
                    scaled = int(scaled + 0.5)
                graph[binding.node]["inputs"][binding.input] = scaled
        return graph

    def model_files(self) -> list[tuple[ModelFile, str]]:
        """Every model file the graph loads, with its file name."""
        return [(m, str(self.graph[m.node]["inputs"][m.input])) for m in self.bindings.models]


def builtin_templates() -> list[str]:
    """Names of the templates that ship with vidgen."""
    folder = resources.files(__package__) / "templates"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                  if p.name.endswith(".json") and not p.name.endswith(".bindings.json"))


def load_workflow(ref: str, base: Path | None = None) -> Workflow:
    """A built-in template by name, or an API-format workflow file (relative to ``base``).

    Raises:
        ConfigError: unknown template, unreadable or UI-format file, bad bindings.
    """
    if ref in builtin_templates():
        folder = resources.files(__package__) / "templates"
        graph_text = (folder / f"{ref}.json").read_text()
        sidecar = folder / f"{ref}.bindings.json"
        bindings_text = sidecar.read_text() if sidecar.is_file() else None
        name = ref
    else:
        path = Path(ref) if base is None else Path(base) / ref
        if not path.is_file():
            raise ConfigError("no such ComfyUI template or workflow file", field="template",
                              value=ref, limit=", ".join(builtin_templates()))
        graph_text = path.read_text()
        sidecar_path = path.with_name(f"{path.name.removesuffix('.json')}.bindings.json")
        bindings_text = sidecar_path.read_text() if sidecar_path.is_file() else None
        name = path.name
    graph = _parse_graph(graph_text, name)
    if bindings_text is None:
        bindings, detected = detect_bindings(graph, name), True
    else:
        bindings = parse_document(Bindings, bindings_text, item=f"{name} bindings",
                                  error=ConfigError)
        detected = False
    _check_bindings(graph, bindings, name)
    digest = hashlib.sha256(json.dumps([graph, bindings.model_dump(mode="json")],
                                       sort_keys=True).encode()).hexdigest()
    return Workflow(name, graph, bindings, digest, detected)


def _parse_graph(text: str, name: str) -> Graph:
    try:
        graph = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", item=name) from exc
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise ConfigError("this is ComfyUI's UI format, not the API format", item=name,
                          hint="in ComfyUI use Workflow > Export (API), or enable dev mode and "
                               "'Save (API Format)'")
    if isinstance(graph, dict) and isinstance(graph.get("prompt"), dict):
        graph = graph["prompt"]  # a saved /prompt request body
    if not isinstance(graph, dict) or not graph or not all(
            isinstance(n, dict) and isinstance(n.get("class_type"), str)
            and isinstance(n.get("inputs"), dict) for n in graph.values()):
        raise ConfigError("not an API-format workflow: expected {node_id: {class_type, inputs}}",
                          item=name)
    return {str(k): v for k, v in graph.items()}


def _check_bindings(graph: Graph, bindings: Bindings, name: str) -> None:
    where: list[tuple[str, str, str]] = [(role, b.node, b.input)
                                         for role, bs in bindings.inputs.items() for b in bs]
    where += [("model", m.node, m.input) for m in bindings.models]
    for role, node, input_name in where:
        if node not in graph:
            raise ConfigError("binding names a node the workflow lacks", item=name,
                              field=role, value=node)
        if input_name not in graph[node]["inputs"]:
            raise ConfigError(f"binding names an input node {node} "
                              f"({graph[node]['class_type']}) lacks", item=name, field=role,
                              value=input_name)
        if isinstance(graph[node]["inputs"][input_name], list):
            raise ConfigError(f"bound input {node}.{input_name} is a link, not a value",
                              item=name, field=role, value=input_name)
    if bindings.output not in graph:
        raise ConfigError("output node not in the workflow", item=name, field="output",
                          value=bindings.output)
    if bindings.conditioning == "image" and "image" not in bindings.inputs:
        raise ConfigError("an image-to-video workflow needs an 'image' binding (a LoadImage "
                          "node)", item=name, hint="or set conditioning to 'text'")


def _literal(graph: Graph, node: str, name: str, kind: type | tuple[type, ...]) -> bool:
    value = graph[node]["inputs"].get(name)
    return isinstance(value, kind) and not isinstance(value, bool)


def _pick(graph: Graph, role: str, candidates: list[str], name: str) -> str | None:
    if len(candidates) > 1:
        described = ", ".join(f"{n} ({graph[n]['class_type']})" for n in candidates)
        raise ConfigError(f"cannot tell which node receives the {role}: candidates {described}",
                          item=name, field=role,
                          hint="write a bindings sidecar naming the node (docs/backends/"
                               "comfyui.md)")
    return candidates[0] if candidates else None


def _trace_text(graph: Graph, link: Any, side: str, seen: set[str]) -> str | None:
    """Follow a conditioning link upstream to the text encoder node that starts it."""
    if not (isinstance(link, list) and link and str(link[0]) in graph):
        return None
    node = str(link[0])
    if node in seen:
        return None
    seen.add(node)
    inputs = graph[node]["inputs"]
    if any(isinstance(inputs.get(t), str) for t in _TEXT_INPUTS):
        return node
    for upstream in (side, "conditioning"):
        if upstream in inputs:
            return _trace_text(graph, inputs[upstream], side, seen)
    return None


def detect_bindings(graph: Graph, name: str = "workflow") -> Bindings:
    """Bindings for an exported workflow, from the usual nodes.

    Raises:
        ConfigError: no output node, or several candidates for one role.
    """
    by_class: dict[str, list[str]] = {}
    for node_id, node in graph.items():
        by_class.setdefault(node["class_type"], []).append(node_id)
    inputs: dict[str, list[Binding]] = {}

    def bind(role: str, node: str, input_name: str, scale: float | None = None) -> None:
        inputs.setdefault(role, []).append(Binding(node=node, input=input_name, scale=scale))

    image = _pick(graph, "image", by_class.get("LoadImage", []), name)
    if image:
        bind("image", image, "image")
    for side, role in (("positive", "prompt"), ("negative", "negative_prompt")):
        found = {_trace_text(graph, graph[n]["inputs"].get(
                     "conditioning" if graph[n]["class_type"] == "BasicGuider" and side ==
                     "positive" else side), side, set())
                 for n in graph if graph[n]["class_type"] in _SAMPLERS}
        encoder = _pick(graph, role, sorted(t for t in found if t), name)
        if encoder:
            text_input = next(t for t in _TEXT_INPUTS
                              if isinstance(graph[encoder]["inputs"].get(t), str))
            bind(role, encoder, text_input)
    for node_id, node in sorted(graph.items()):
        cls, values = node["class_type"], node["inputs"]
        if cls in _SAMPLERS:
            for seed in ("seed", "noise_seed"):
                if _literal(graph, node_id, seed, int):
                    bind("seed", node_id, seed)
            if _literal(graph, node_id, "steps", int):
                bind("steps", node_id, "steps")
                for edge in ("start_at_step", "end_at_step"):  # a two-expert switch point
                    if _literal(graph, node_id, edge, int) and 0 < values[edge] < values["steps"]:
                        bind("steps", node_id, edge, values[edge] / values["steps"])
            for guidance in ("cfg", "guidance"):
                if _literal(graph, node_id, guidance, (int, float)):
                    bind("guidance", node_id, guidance)
        if _literal(graph, node_id, "width", int) and _literal(graph, node_id, "height", int):
            bind("width", node_id, "width")
            bind("height", node_id, "height")
        for frames in ("length", "num_frames", "video_frames"):
            if _literal(graph, node_id, frames, int) and cls not in _NOT_LENGTHS:
                bind("frames", node_id, frames)
        if cls == "RepeatImageBatch" and _literal(graph, node_id, "amount", int):
            bind("frames", node_id, "amount")
        if cls in _FPS_INPUTS and _literal(graph, node_id, _FPS_INPUTS[cls], (int, float)):
            bind("fps", node_id, _FPS_INPUTS[cls])
    models = [ModelFile(node=node_id, input=input_name, folder=folder)
              for node_id, node in sorted(graph.items())
              for input_name, folder in LOADER_FOLDERS.get(node["class_type"], {}).items()
              if _literal(graph, node_id, input_name, str)]
    outputs = next(([n for n in by_class[c]] for c in OUTPUT_NODES if c in by_class), [])
    output = _pick(graph, "output", outputs, name)
    if output is None:
        raise ConfigError("no node that saves the result", item=name, field="output",
                          limit=", ".join(OUTPUT_NODES))
    classes = " ".join(by_class)
    family = next((f for f, marker in (("wan", "Wan"), ("hunyuan", "Hunyuan"), ("mochi", "Mochi"))
                   if marker in classes), "generic")
    return Bindings(description=f"detected from {name}", family=family,
                    conditioning="image" if image else "text",
                    inputs=inputs, models=models, output=output)


def node_inputs(object_info: dict[str, Any], cls: str) -> dict[str, list[Any]]:
    """A node class's inputs (required and optional) as ``/object_info`` describes them."""
    schema = object_info.get(cls, {}).get("input", {})
    return {**schema.get("required", {}), **schema.get("optional", {})}


def input_options(spec: Any) -> dict[str, Any]:
    """The options of one input's spec (``min``, ``max``, ``step``, ...), or ``{}``."""
    return spec[1] if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1],
                                                                             dict) else {}


def check_against(workflow: Workflow, object_info: dict[str, Any]) -> list[BackendError]:
    """Problems with running ``workflow`` on a server whose ``/object_info`` is given:
    unknown node classes, missing model files (with the folder each belongs in), inputs
    the server does not know and literal values out of range or not among the choices."""
    problems: list[BackendError] = []
    for node_id, node in sorted(workflow.graph.items()):
        cls = node["class_type"]
        schema = object_info.get(cls)
        if schema is None:
            problems.append(BackendError("node class not installed on the server",
                                         item=f"node {node_id}", field="class_type", value=cls,
                                         hint="install the custom node pack that provides it"))
            continue
        specs = node_inputs(object_info, cls)
        for input_name, value in node["inputs"].items():
            spec = specs.get(input_name)
            if spec is None and input_name != "upload":  # LoadImage's widget, not an input
                problems.append(BackendError("the server's node has no such input",
                                             item=f"node {node_id} ({cls})", field=input_name,
                                             hint="a different version of the node pack?"))
            if spec is None or isinstance(value, list):
                continue
            problem = _check_value(node_id, cls, input_name, value, spec)
            if problem:
                problems.append(problem)
        for input_name in schema["input"].get("required", {}):
            if input_name not in node["inputs"]:
                problems.append(BackendError("required input missing", item=f"node {node_id} "
                                             f"({cls})", field=input_name))
    return problems


def _check_value(node_id: str, cls: str, input_name: str, value: Any, spec: list[Any]
                 ) -> BackendError | None:
    where = f"node {node_id} ({cls})"
    kind, options = spec[0], input_options(spec)
    if kind == "COMBO":
        kind = options.get("options", [])
    if isinstance(kind, list):
        if value in kind or cls == "LoadImage":  # uploaded images are checked at submission
            return None
        folder = LOADER_FOLDERS.get(cls, {}).get(input_name)
        if folder:
            return BackendError(f"model file {value!r} missing", item=where, field=input_name,
                                value=value, hint=f"put it in ComfyUI's models/{folder}/ "
                                                  f"({len(kind)} file(s) there now)")
        return BackendError("value not among the server's choices", item=where,
                            field=input_name, value=value, limit=", ".join(map(str, kind[:12])))
    if kind in ("INT", "FLOAT") and isinstance(value, int | float):
        low, high = options.get("min"), options.get("max")
        if low is not None and value < low:
            return BackendError("value below the minimum", item=where, field=input_name,
                                value=value, limit=f">= {low}")
        if high is not None and value > high:
            return BackendError("value above the maximum", item=where, field=input_name,
                                value=value, limit=f"<= {high}")
    return None
