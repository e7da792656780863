"""The built-in ComfyUI templates: sidecar bindings, the official settings they encode, and a
check of every graph against the ``/object_info`` of a real ComfyUI server (a snapshot)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from vidgen.backends.comfyui.workflow import (
    LOADER_FOLDERS,
    ROLES,
    Workflow,
    builtin_templates,
    check_against,
    detect_bindings,
    load_workflow,
)

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "comfyui" / "object_info.json"

WAN_UMT5 = ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors")
WAN21_VAE = ("vae", "wan_2.1_vae.safetensors")
HUNYUAN_COMMON = {("vae", "hunyuan_video_vae_bf16.safetensors"),
                  ("text_encoders", "clip_l.safetensors"),
                  ("text_encoders", "llava_llama3_fp8_scaled.safetensors"),
                  ("clip_vision", "llava_llama3_vision.safetensors")}
WAN22_EXPERTS = {("diffusion_models", "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"),
                 ("diffusion_models", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"),
                 WAN_UMT5, WAN21_VAE}

#: Pinned from the official examples (ComfyUI_examples; the Comfy-Org template for the
#: 4-step LoRA graph), at each model's native size: the defaults the bound inputs hold.
EXPECTED: dict[str, dict[str, Any]] = {
    "wan21_i2v_480p": {
        "conditioning": "image", "width": 832, "height": 480, "frames": 81, "fps": 16,
        "steps": 20, "guidance": 6.0,
        "settings": {("KSampler", "sampler_name"): ["uni_pc"],
                     ("KSampler", "scheduler"): ["simple"],
                     ("ModelSamplingSD3", "shift"): [8.0], ("CLIPVisionEncode", "crop"): ["none"],
                     ("CLIPLoader", "type"): ["wan"]},
        "models": {("diffusion_models", "wan2.1_i2v_480p_14B_fp16.safetensors"), WAN_UMT5,
                   WAN21_VAE, ("clip_vision", "clip_vision_h.safetensors")},
    },
    "wan21_i2v_720p": {
        "conditioning": "image", "width": 1280, "height": 720, "frames": 81, "fps": 16,
        "steps": 20, "guidance": 6.0,
        "settings": {("KSampler", "sampler_name"): ["uni_pc"],
                     ("KSampler", "scheduler"): ["simple"],
                     ("ModelSamplingSD3", "shift"): [8.0], ("CLIPVisionEncode", "crop"): ["none"],
                     ("CLIPLoader", "type"): ["wan"]},
        "models": {("diffusion_models", "wan2.1_i2v_720p_14B_fp16.safetensors"), WAN_UMT5,
                   WAN21_VAE, ("clip_vision", "clip_vision_h.safetensors")},
    },
    "wan22_i2v_a14b": {
        "conditioning": "image", "width": 832, "height": 480, "frames": 81, "fps": 16,
        "steps": 20, "guidance": 3.5,
        "settings": {("KSamplerAdvanced", "sampler_name"): ["euler", "euler"],
                     ("KSamplerAdvanced", "scheduler"): ["simple", "simple"],
                     ("KSamplerAdvanced", "add_noise"): ["disable", "enable"],
                     ("KSamplerAdvanced", "end_at_step"): [10, 10000],
                     ("KSamplerAdvanced", "start_at_step"): [0, 10],
                     ("ModelSamplingSD3", "shift"): [8.0, 8.0]},
        "models": WAN22_EXPERTS,
    },
    "wan22_i2v_a14b_4step": {
        "conditioning": "image", "width": 832, "height": 480, "frames": 81, "fps": 16,
        "steps": 4, "guidance": 1.0,
        "settings": {("KSamplerAdvanced", "sampler_name"): ["euler", "euler"],
                     ("KSamplerAdvanced", "end_at_step"): [2, 10000],
                     ("KSamplerAdvanced", "start_at_step"): [0, 2],
                     ("ModelSamplingSD3", "shift"): [5.0, 5.0],
                     ("LoraLoaderModelOnly", "strength_model"): [1.0, 1.0]},
        "models": WAN22_EXPERTS | {
            ("loras", "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"),
            ("loras", "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors")},
    },
    "wan22_ti2v_5b": {
        "conditioning": "image", "width": 1280, "height": 704, "frames": 121, "fps": 24,
        "steps": 30, "guidance": 5.0,
        "settings": {("KSampler", "sampler_name"): ["uni_pc"],
                     ("KSampler", "scheduler"): ["simple"],
                     ("ModelSamplingSD3", "shift"): [8.0]},
        "models": {("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"), WAN_UMT5,
                   ("vae", "wan2.2_vae.safetensors")},
    },
    "hunyuan_i2v_v1": {
        "conditioning": "image", "width": 720, "height": 720, "frames": 57, "fps": 24,
        "steps": 20, "guidance": 6.0,
        "settings": {("HunyuanImageToVideo", "guidance_type"): ["v1 (concat)"],
                     ("KSamplerSelect", "sampler_name"): ["euler"],
                     ("BasicScheduler", "scheduler"): ["simple"],
                     ("ModelSamplingSD3", "shift"): [7.0],
                     ("DualCLIPLoader", "type"): ["hunyuan_video"],
                     ("ImageFromBatch", "batch_index"): [4]},
        "models": HUNYUAN_COMMON | {
            ("diffusion_models", "hunyuan_video_image_to_video_720p_bf16.safetensors")},
    },
    "hunyuan_i2v_v2": {
        "conditioning": "image", "width": 720, "height": 720, "frames": 57, "fps": 24,
        "steps": 20, "guidance": 6.0,
        "settings": {("HunyuanImageToVideo", "guidance_type"): ["v2 (replace)"],
                     ("KSamplerSelect", "sampler_name"): ["euler"],
                     ("BasicScheduler", "scheduler"): ["simple"],
                     ("ModelSamplingSD3", "shift"): [7.0],
                     ("DualCLIPLoader", "type"): ["hunyuan_video"],
                     ("ImageFromBatch", "batch_index"): []},
        "models": HUNYUAN_COMMON | {
            ("diffusion_models", "hunyuan_video_v2_replace_image_to_video_720p_bf16.safetensors")},
    },
    "mochi_t2v": {
        "conditioning": "text", "width": 848, "height": 480, "frames": 37, "fps": 24,
        "steps": 30, "guidance": 4.5,
        "settings": {("KSampler", "sampler_name"): ["euler"], ("KSampler", "scheduler"): ["simple"],
                     ("CLIPLoader", "type"): ["mochi"], ("ModelSamplingSD3", "shift"): []},
        "models": {("diffusion_models", "mochi_preview_bf16.safetensors"),
                   ("text_encoders", "t5xxl_fp16.safetensors"), ("vae", "mochi_vae.safetensors")},
    },
    "core_video": {
        "conditioning": "image", "width": 64, "height": 64, "frames": 17, "fps": 16,
        "steps": None, "guidance": None,
        "settings": {("ImageScale", "upscale_method"): ["bilinear"],
                     ("ImageScale", "crop"): ["disabled"]},
        "models": set(),
    },
}

#: Roles where ``detect_bindings`` legitimately differs from the sidecar, and why.

TWO_EXPERTS = ["wan22_i2v_a14b", "wan22_i2v_a14b_4step"]


def _keys(bindings: list[Any]) -> list[tuple[str, str, float | None]]:
    return sorted((b.node, b.input, b.scale) for b in bindings)


def _values(workflow: Workflow, class_type: str, input_name: str) -> list[Any]:
    return sorted(node["inputs"][input_name] for node in workflow.graph.values()
                  if node["class_type"] == class_type)


def _model_set(workflow: Workflow) -> set[tuple[str, str]]:
    return {(model.folder, name) for model, name in workflow.model_files()}


def test_the_builtin_templates_are_the_expected_ones() -> None:
    assert builtin_templates() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_template_loads_with_its_sidecar(name: str) -> None:
    workflow = load_workflow(name)
    assert workflow.detected is False
    assert workflow.name == name
    assert len(workflow.bindings.description) > 80
    assert workflow.bindings.conditioning == EXPECTED[name]["conditioning"]
    assert ("image" in workflow.bindings.inputs) == (EXPECTED[name]["conditioning"] == "image")
    for binding in workflow.bindings.inputs.get("image", []):
        assert workflow.graph[binding.node]["class_type"] == "LoadImage"
    save = workflow.graph[workflow.bindings.output]
    assert save["class_type"] == "SaveVideo"
    assert {k: v for k, v in save["inputs"].items() if k != "video"} == {
        "filename_prefix": "vidgen/video", "format": "mp4", "codec": "h264"}
    create = workflow.graph[save["inputs"]["video"][0]]
    assert create["class_type"] == "CreateVideo"
    assert [(b.node, b.input) for b in workflow.bindings.inputs["fps"]] == [
        (save["inputs"]["video"][0], "fps")]
    for model in workflow.bindings.models:  # each file in the folder its loader reads from
        assert LOADER_FOLDERS[workflow.graph[model.node]["class_type"]][model.input] == model.folder
    for node in workflow.graph.values():
        assert node["_meta"]["title"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_graph_is_wired_to_its_output(name: str) -> None:
    """Every link points at a node that exists, there are no cycles and every node feeds the
    saved video (ComfyUI would silently skip a node that does not)."""
    graph = load_workflow(name).graph
    upstream: dict[str, set[str]] = {}
    for node_id, node in graph.items():
        links = [v for v in node["inputs"].values() if isinstance(v, list)]
        for link in links:
            assert len(link) == 2 and isinstance(link[0], str) and isinstance(link[1], int)
            assert link[0] in graph, f"{node_id} links to missing node {link[0]}"
        upstream[node_id] = {link[0] for link in links}
    reached: set[str] = set()
    stack = [load_workflow(name).bindings.output]
    while stack:
        node_id = stack.pop()
        if node_id not in reached:
            reached.add(node_id)
            stack.extend(upstream[node_id])
    assert reached == set(graph)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node_id: str) -> None:
        assert state.get(node_id) != 1, f"cycle through {node_id}"
        if state.get(node_id) == 2:
            return
        state[node_id] = 1
        for parent in upstream[node_id]:
            visit(parent)
        state[node_id] = 2
        order.append(node_id)

    for node_id in graph:
        visit(node_id)
    assert len(order) == len(graph)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detection_finds_what_the_sidecar_says(name: str) -> None:
    workflow = load_workflow(name)
    detected = detect_bindings(workflow.graph, name)
    assert detected.output == workflow.bindings.output
    assert detected.conditioning == workflow.bindings.conditioning
    assert sorted((m.node, m.input, m.folder) for m in detected.models) == sorted(
        (m.node, m.input, m.folder) for m in workflow.bindings.models)
    for role in ROLES:
        sidecar = _keys(workflow.bindings.inputs.get(role, []))  # type: ignore[call-overload]
        found = _keys(detected.inputs.get(role, []))  # type: ignore[call-overload]
        assert found == sidecar, role


def test_detection_through_basic_guider_and_past_frame_selection() -> None:
    """HunyuanVideo's graph samples with BasicGuider (a ``conditioning`` input, no
    ``positive``) and drops frames with ImageFromBatch, whose ``length`` selects frames."""
    workflow = load_workflow("hunyuan_i2v_v1")
    detected = detect_bindings(workflow.graph)
    assert _keys(detected.inputs["prompt"]) == [("80", "prompt", None)]
    assert _keys(detected.inputs["frames"]) == [("78", "length", None)]
    assert workflow.graph["86"]["class_type"] == "ImageFromBatch"
    assert workflow.bindings.frames_dropped == 4


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_official_settings(name: str) -> None:
    workflow, expected = load_workflow(name), EXPECTED[name]
    for role in ("width", "height", "frames", "fps", "steps", "guidance"):
        assert workflow.default(role) == expected[role], role
    for (class_type, input_name), values in expected["settings"].items():
        assert _values(workflow, class_type, input_name) == values, (class_type, input_name)
    assert _model_set(workflow) == expected["models"]
    assert len(workflow.model_files()) == len(expected["models"])


def test_mochi_is_text_to_video_only() -> None:
    workflow = load_workflow("mochi_t2v")
    assert workflow.bindings.conditioning == "text"
    assert "image" not in workflow.bindings.inputs
    assert not any(n["class_type"] == "LoadImage" for n in workflow.graph.values())


def test_hunyuan_has_no_negative_prompt() -> None:
    for name in ("hunyuan_i2v_v1", "hunyuan_i2v_v2"):
        workflow = load_workflow(name)
        assert "negative_prompt" not in workflow.bindings.inputs
        assert workflow.default("negative_prompt") is None


@pytest.mark.parametrize("name", TWO_EXPERTS)
@pytest.mark.parametrize(("steps", "switch"), [(30, 15), (8, 4), (20, 10)])
def test_steps_move_the_expert_switch(name: str, steps: int, switch: int) -> None:
    workflow = load_workflow(name)
    high, low = (n for n, node in sorted(workflow.graph.items())
                 if node["class_type"] == "KSamplerAdvanced")
    assert workflow.graph[high]["inputs"]["add_noise"] == "enable"
    graph = workflow.bind({"steps": steps, "seed": 1234})
    assert graph[high]["inputs"]["steps"] == graph[low]["inputs"]["steps"] == steps
    assert graph[high]["inputs"]["end_at_step"] == graph[low]["inputs"]["start_at_step"] == switch
    assert graph[high]["inputs"]["start_at_step"] == 0
    assert graph[low]["inputs"]["end_at_step"] == 10000
    assert graph[high]["inputs"]["noise_seed"] == graph[low]["inputs"]["noise_seed"] == 1234
    assert workflow.graph[high]["inputs"]["steps"] == EXPECTED[name]["steps"]  # copy, not edit


def test_bind_sets_every_role_of_a_single_sampler_graph() -> None:
    workflow = load_workflow("wan21_i2v_480p")
    graph = workflow.bind({"image": "shot.png", "prompt": "p", "negative_prompt": "n", "seed": 7,
                           "steps": 12, "guidance": 5.0, "width": 640, "height": 368,
                           "frames": 49, "fps": 24.0})
    assert graph["52"]["inputs"]["image"] == "shot.png"
    assert graph["6"]["inputs"]["text"] == "p" and graph["7"]["inputs"]["text"] == "n"
    assert {"seed": 7, "steps": 12, "cfg": 5.0}.items() <= graph["3"]["inputs"].items()
    assert (graph["50"]["inputs"]["width"], graph["50"]["inputs"]["height"],
            graph["50"]["inputs"]["length"]) == (640, 368, 49)
    assert graph["60"]["inputs"]["fps"] == 24.0


# ------------------------------------------------------------------ the /object_info snapshot


@cache
def _snapshot_nodes() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text())["nodes"]  # type: ignore[no-any-return]


def _nodes() -> dict[str, Any]:
    if not SNAPSHOT.is_file():
        pytest.skip("no /object_info snapshot at tests/data/comfyui/object_info.json")
    return copy.deepcopy(_snapshot_nodes())


def _spec(nodes: dict[str, Any], class_type: str, input_name: str) -> list[Any] | None:
    inputs = nodes[class_type]["input"]
    for section in ("required", "optional"):
        if input_name in inputs.get(section, {}):
            return inputs[section][input_name]  # type: ignore[no-any-return]
    return None


def _options(spec: list[Any]) -> list[Any] | None:
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return spec[1].get("options")  # type: ignore[no-any-return]
    return None


def _set_options(spec: list[Any], files: list[str]) -> None:
    if isinstance(spec[0], list):
        spec[0] = list(files)
    else:
        spec[1]["options"] = list(files)


def _with_files(nodes: dict[str, Any], workflow: Workflow, present: bool) -> dict[str, Any]:
    """The snapshot with each loader input the workflow uses listing exactly its files
    (``present``), or listing what the server had minus them (not ``present``)."""
    files: dict[tuple[str, str], list[str]] = {}
    for model, name in workflow.model_files():
        cls = workflow.graph[model.node]["class_type"]
        files.setdefault((cls, model.input), []).append(name)
    for (cls, input_name), names in files.items():
        spec = _spec(nodes, cls, input_name)
        assert spec is not None and _options(spec) is not None, (cls, input_name)
        if present:
            _set_options(spec, sorted(set(names)))
        else:
            _set_options(spec, [f for f in _options(spec) or [] if f not in names])
    return nodes


def test_snapshot_is_from_a_real_server() -> None:
    nodes = _nodes()
    data = json.loads(SNAPSHOT.read_text())
    assert data["comfyui_version"]
    for cls, folders in LOADER_FOLDERS.items():
        if cls in nodes:
            for input_name in folders:
                spec = _spec(nodes, cls, input_name)
                assert spec is not None and _options(spec) is not None, (cls, input_name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_server_accepts_template_when_models_are_present(name: str) -> None:
    workflow = load_workflow(name)
    nodes = _with_files(_nodes(), workflow, present=True)
    assert [str(p) for p in check_against(workflow, nodes)] == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_input_is_known_and_every_link_carries_the_right_type(name: str) -> None:
    """What ``check_against`` does not look at: input names the server would ignore, and
    links from an output of the wrong type."""
    nodes, graph = _nodes(), load_workflow(name).graph
    for node_id, node in graph.items():
        cls = node["class_type"]
        for input_name, value in node["inputs"].items():
            spec = _spec(nodes, cls, input_name)
            assert spec is not None, f"{name}: node {node_id} ({cls}) has no input {input_name}"
            if not isinstance(value, list):
                continue
            source = graph[value[0]]["class_type"]
            outputs = nodes[source]["output"]
            assert value[1] < len(outputs), f"{name}: {node_id}.{input_name} <- {value}"
            wanted, given = spec[0], outputs[value[1]]
            if isinstance(wanted, str) and wanted != "*" and given != "*":
                assert given in wanted.split(","), (
                    f"{name}: {node_id} ({cls}).{input_name} wants {wanted}, "
                    f"{value[0]} ({source}) gives {given}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_missing_model_file_is_reported_with_its_folder(name: str) -> None:
    workflow = load_workflow(name)
    nodes = _with_files(_nodes(), workflow, present=False)
    problems = check_against(workflow, nodes)
    reported = sorted((p.item or "", p.field or "", str(p.value)) for p in problems)
    expected = sorted((f"node {m.node} ({workflow.graph[m.node]['class_type']})", m.input, file)
                      for m, file in workflow.model_files())
    assert reported == expected
    hints = {(p.field, str(p.value)): p.hint or "" for p in problems}
    for model, file in workflow.model_files():
        assert f"models/{model.folder}/" in hints[(model.input, file)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_integer_values_sit_on_the_server_step(name: str) -> None:
    """Sizes and lengths on the widgets' step (width 16, latent length 4, Mochi length 6):
    ComfyUI does not enforce it at submission, but the models need it."""
    nodes, graph = _nodes(), load_workflow(name).graph
    for node_id, node in graph.items():
        for input_name, value in node["inputs"].items():
            spec = _spec(nodes, node["class_type"], input_name)
            assert spec is not None
            if spec[0] != "INT" or isinstance(value, list) or len(spec) < 2:
                continue
            step, low = spec[1].get("step", 1), spec[1].get("min", 0)
            assert (value - low) % step == 0, f"{name}: node {node_id}.{input_name}={value}"
