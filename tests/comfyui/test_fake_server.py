"""The fake ComfyUI itself: message order, history, outputs, errors and failure modes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.comfyui.fake_server import OOM_TIPS, FakeComfy, Job

MODELS = {
    "diffusion_models": ["wan2.1_i2v_480p_14B_fp8_scaled.safetensors"],
    "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae": ["wan_2.1_vae.safetensors"],
}


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeComfy]:
    with FakeComfy(tmp_path / "comfy", models=MODELS) as server:
        yield server


@pytest.fixture
def client(fake: FakeComfy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=10) as http:
        upload(http)
        yield http


def upload(http: httpx.Client, name: str = "still.png", **data: str) -> dict[str, Any]:
    """Upload a small, smooth 64x48 picture into input/vidgen/."""
    y, x = np.mgrid[0:48, 0:64]
    pixels = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    files = {"image": (name, buffer.getvalue(), "image/png")}
    response = http.post("/upload/image", files=files, data={"subfolder": "vidgen", **data})
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def image_graph(prefix: str = "vidgen/test", frames: int = 9) -> dict[str, Any]:
    """The CPU graph the real captures used: picture -> scaled -> repeated -> mp4."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "vidgen/still.png"}},
        "2": {"class_type": "ImageScale", "inputs": {
            "image": ["1", 0], "upscale_method": "bilinear", "width": 64, "height": 48,
            "crop": "disabled"}},
        "3": {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": frames}},
        "4": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "fps": 16.0}},
        "5": {"class_type": "SaveVideo", "inputs": {
            "video": ["4", 0], "filename_prefix": prefix, "format": "mp4", "codec": "h264"}},
    }


def wan_graph(prefix: str = "vidgen/wan", seed: int = 1) -> dict[str, Any]:
    """A Wan 2.1 image-to-video graph: a sampler reports the Job's progress."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {
            "unet_name": MODELS["diffusion_models"][0], "weight_dtype": "default"}},
        "2": {"class_type": "CLIPLoader", "inputs": {
            "clip_name": MODELS["text_encoders"][0], "type": "wan", "device": "default"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a slow pan", "clip": ["2", 0]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "5": {"class_type": "VAELoader", "inputs": {"vae_name": MODELS["vae"][0]}},
        "6": {"class_type": "LoadImage", "inputs": {"image": "vidgen/still.png"}},
        "7": {"class_type": "WanImageToVideo", "inputs": {
            "positive": ["3", 0], "negative": ["4", 0], "vae": ["5", 0], "start_image": ["6", 0],
            "width": 64, "height": 48, "length": 11, "batch_size": 1}},
        "8": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 20, "cfg": 6.0, "sampler_name": "uni_pc",
            "scheduler": "simple", "positive": ["7", 0], "negative": ["7", 1],
            "latent_image": ["7", 2], "denoise": 1.0}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["5", 0]}},
        "10": {"class_type": "CreateVideo", "inputs": {"images": ["9", 0], "fps": 16.0}},
        "11": {"class_type": "SaveVideo", "inputs": {
            "video": ["10", 0], "filename_prefix": prefix, "format": "auto", "codec": "auto"}},
    }


def ws_connect(fake: FakeComfy, client_id: str) -> ClientConnection:
    return connect(fake.url.replace("http://", "ws://") + f"/ws?clientId={client_id}")


def submit(http: httpx.Client, graph: dict[str, Any], client_id: str = "test") -> str:
    response = http.post("/prompt", json={"prompt": graph, "client_id": client_id})
    assert response.status_code == 200, response.text
    prompt_id: str = response.json()["prompt_id"]
    return prompt_id


def until_done(ws: ClientConnection, prompt_id: str) -> list[Any]:
    """Messages (dicts, or bytes for previews) up to executing {node: null} of the prompt."""
    messages: list[Any] = []
    while True:
        raw = ws.recv(timeout=5)
        message = raw if isinstance(raw, bytes) else json.loads(raw)
        messages.append(message)
        done = {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}
        if message == done:
            return messages


def history(http: httpx.Client, prompt_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """The prompt's history entry once it has one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = http.get(f"/history/{prompt_id}").json()
        if entry:
            result: dict[str, Any] = entry[prompt_id]
            return result
        time.sleep(0.02)
    raise AssertionError(f"no history for {prompt_id}")


def shape(messages: list[Any]) -> list[Any]:
    """A transcript reduced to what the real captures fix: types, nodes, states."""
    out: list[Any] = []
    for message in messages:
        if isinstance(message, bytes):
            out.append(("preview", message[:8]))
            continue
        kind, data = message["type"], message["data"]
        if kind == "progress_state":
            out.append((kind, [(n, s["state"]) for n, s in data["nodes"].items()]))
        elif kind in ("executing", "executed"):
            out.append((kind, data["node"]))
        elif kind == "status":
            out.append((kind, data["status"]["exec_info"]["queue_remaining"]))
        elif kind == "progress":
            out.append((kind, data["value"], data["max"], data["node"]))
        else:
            out.append((kind,))
    return out


def video_facts(data: bytes) -> tuple[int, int, int, str]:
    """(frames, width, height, codec) of an encoded video."""
    with av.open(BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.width, stream.height, stream.codec_context.name


def test_savevideo_job_matches_the_captured_transcript(
    fake: FakeComfy, client: httpx.Client
) -> None:
    with ws_connect(fake, "test") as ws:
        hello = json.loads(ws.recv(timeout=5))
        prompt_id = submit(client, image_graph())
        messages = until_done(ws, prompt_id)
    assert hello == {"type": "status", "data": {
        "status": {"exec_info": {"queue_remaining": 0}}, "sid": "test"}}
    finished = [(n, "finished") for n in "1234"]
    assert shape(messages) == [
        ("status", 1), ("status", 1), ("execution_start",), ("execution_cached",),
        ("progress_state", [("1", "running")]), ("executing", "1"),
        ("progress_state", finished[:1]),
        ("progress_state", [*finished[:1], ("2", "running")]), ("executing", "2"),
        ("progress_state", finished[:2]),
        ("progress_state", [*finished[:2], ("3", "running")]), ("executing", "3"),
        ("progress_state", finished[:3]),
        ("progress_state", [*finished[:3], ("4", "running")]), ("executing", "4"),
        ("progress_state", finished),
        ("progress_state", [*finished, ("5", "running")]), ("executing", "5"),
        ("executed", "5"),
        ("progress_state", [*finished, ("5", "finished")]),
        ("execution_success",), ("status", 0), ("executing", None),
    ]
    executed = next(m["data"] for m in messages if m["type"] == "executed")
    ui = {"images": [{"filename": "test_00001_.mp4", "subfolder": "vidgen", "type": "output"}],
          "animated": [True]}
    assert executed == {"node": "5", "display_node": "5", "output": ui, "prompt_id": prompt_id}

    entry = history(client, prompt_id)
    assert list(entry) == ["prompt", "outputs", "status", "meta"]
    assert entry["prompt"] == [0, prompt_id, image_graph(), {"client_id": "test"}, ["5"]]
    assert entry["outputs"] == {"5": ui}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"]
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start", "execution_cached", "execution_success"]
    assert entry["meta"] == {"5": {"node_id": "5", "display_node": "5", "parent_node": None,
                                   "real_node_id": "5"}}

    view = client.get("/view", params=ui["images"][0])
    assert view.status_code == 200
    assert view.headers["content-type"] == "video/mp4"
    assert view.headers["content-disposition"] == 'filename="test_00001_.mp4"'
    assert video_facts(view.content) == (9, 64, 48, "h264")


def test_sampler_graph_reports_progress_previews_and_a_moving_video(
    fake: FakeComfy, client: httpx.Client
) -> None:
    fake.jobs.append(Job(steps=4))
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        prompt_id = submit(client, wan_graph())
        messages = until_done(ws, prompt_id)
    reduced = shape(messages)
    progress = [m for m in reduced if m[0] == "progress"]
    assert progress == [("progress", v, 4, "8") for v in (1, 2, 3, 4)]
    previews = [m for m in messages if isinstance(m, bytes)]
    assert len(previews) == 2 and previews[0][:8] == b"\x00\x00\x00\x01\x00\x00\x00\x01"
    assert Image.open(BytesIO(previews[0][8:])).format == "JPEG"

    ui = history(client, prompt_id)["outputs"]["11"]
    data = client.get("/view", params=ui["images"][0]).content
    assert video_facts(data) == (9, 64, 48, "h264")  # length 11 decodes to 4k + 1 frames
    with av.open(BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in container.decode(video=0)]
    change = np.abs(frames[-1] - frames[0]).mean()
    assert 0.5 < change < 8  # a slow drift, not a still and not a cut


def test_identical_resubmission_is_answered_from_the_cache(
    fake: FakeComfy, client: httpx.Client
) -> None:
    first = submit(client, image_graph(frames=2))
    outputs = history(client, first)["outputs"]
    fake.jobs.append(Job(fail="oom"))  # nothing runs, so nothing can fail
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        second = submit(client, image_graph(frames=2))
        messages = until_done(ws, second)
    assert shape(messages) == [
        ("status", 1), ("status", 1), ("execution_start",), ("execution_cached",),
        ("executed", "5"), ("progress_state", [("5", "finished")]),
        ("execution_success",), ("status", 0), ("executing", None),
    ]
    assert messages[3]["data"]["nodes"] == ["1", "2", "3", "4", "5"]
    assert history(client, second)["outputs"] == outputs
    assert sorted(p.name for p in (fake.output_dir / "vidgen").iterdir()) == ["test_00001_.mp4"]


def test_unet_not_on_disk_is_value_not_in_list(client: httpx.Client) -> None:
    graph = wan_graph()
    graph["1"]["inputs"]["unet_name"] = "missing.safetensors"
    response = client.post("/prompt", json={"prompt": graph, "client_id": "test"})
    assert response.status_code == 400
    listed = MODELS["diffusion_models"]
    assert response.json() == {
        "error": {"type": "prompt_outputs_failed_validation",
                  "message": "Prompt outputs failed validation", "details": "",
                  "extra_info": {}},
        "node_errors": {"1": {
            "errors": [{
                "type": "value_not_in_list", "message": "Value not in list",
                "details": f"unet_name: 'missing.safetensors' not in {listed}",
                "extra_info": {"input_name": "unet_name", "input_config": [listed, {}],
                               "received_value": "missing.safetensors"}}],
            "dependent_outputs": ["11"], "class_type": "UNETLoader"}},
    }
    info = client.get("/object_info/UNETLoader").json()
    assert info["UNETLoader"]["input"]["required"]["unet_name"] == [listed]


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"prompt": {**image_graph(), "9": {"class_type": "NoSuchNode", "inputs": {}}}}, 400,
     {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNode does not exist.",
      "details": "Node ID '#9'", "extra_info": {}}),
    ({"client_id": "test"}, 400,
     {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
      "extra_info": {}}),
    ({"prompt": {}}, 400,
     {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
      "extra_info": {}}),
])
def test_prompt_level_errors(
    client: httpx.Client, body: dict[str, Any], status: int, error: dict[str, Any]
) -> None:
    response = client.post("/prompt", json=body)
    assert response.status_code == status
    assert response.json() == {"error": error, "node_errors": {}}


def test_input_errors_name_the_node_and_input(client: httpx.Client) -> None:
    graph = image_graph()
    graph["3"]["inputs"]["amount"] = 0
    graph["2"]["inputs"].pop("width")
    graph["1"]["inputs"]["image"] = "vidgen/gone.png"
    errors = client.post("/prompt", json={"prompt": graph}).json()["node_errors"]
    assert errors["1"]["errors"][0]["details"] == "image - Invalid image file: vidgen/gone.png"
    assert errors["2"]["errors"][0]["type"] == "required_input_missing"
    assert errors["3"]["errors"][0]["message"] == "Value 0 smaller than min of 1"
    assert all(e["dependent_outputs"] == ["5"] for e in errors.values())


def test_oom_is_an_execution_error_with_comfyuis_tip(
    fake: FakeComfy, client: httpx.Client
) -> None:
    fake.jobs.append(Job(fail="oom", steps=2))
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        prompt_id = submit(client, wan_graph())
        messages = until_done(ws, prompt_id)
    events = [m for m in shape(messages) if m[0] != "preview"]
    assert events[-4:] == [
        ("progress", 2, 2, "8"), ("execution_error",), ("status", 0), ("executing", None)]
    error = messages[-3]["data"]
    assert list(error) == [
        "prompt_id", "node_id", "node_type", "executed", "exception_message", "exception_type",
        "traceback", "current_inputs", "current_outputs", "timestamp"]
    assert error["node_id"] == "8" and error["node_type"] == "KSampler"
    assert error["exception_type"] == "torch.OutOfMemoryError"
    assert error["exception_message"].startswith("Allocation on device")
    assert error["exception_message"].endswith("\n" + OOM_TIPS)
    assert error["current_inputs"]["seed"] == [1]
    status = history(client, prompt_id)["status"]
    assert status["status_str"] == "error" and status["completed"] is False
    assert status["messages"][-1] == ["execution_error", error]
    assert history(client, prompt_id)["outputs"] == {}


def test_interrupt_stops_only_the_named_running_prompt(
    fake: FakeComfy, client: httpx.Client
) -> None:
    fake.jobs.extend([Job(hang=True), Job()])
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        hanging = submit(client, wan_graph(seed=1))
        waiting = submit(client, wan_graph(seed=2))
        while json.loads(ws.recv(timeout=5))["type"] != "progress":
            pass
        assert client.post("/interrupt", json={"prompt_id": waiting}).status_code == 200
        queue = client.get("/queue").json()
        assert [q[1] for q in queue["queue_running"]] == [hanging]
        assert [q[1] for q in queue["queue_pending"]] == [waiting]
        used = client.get("/system_stats").json()["devices"][0]
        assert used["vram_free"] < 0.7 * used["vram_total"]
        assert client.post("/queue", json={"delete": [waiting]}).status_code == 200
        assert client.post("/interrupt", json={"prompt_id": hanging}).status_code == 200
        messages = until_done(ws, hanging)
    interrupted = next(m["data"] for m in messages if m["type"] == "execution_interrupted")
    assert list(interrupted) == ["prompt_id", "node_id", "node_type", "executed", "timestamp"]
    assert (interrupted["node_id"], interrupted["node_type"]) == ("8", "KSampler")
    status = history(client, hanging)["status"]
    assert (status["status_str"], status["completed"]) == ("error", False)
    assert status["messages"][-1][0] == "execution_interrupted"
    assert client.get(f"/history/{waiting}").json() == {}
    assert fake.interrupted == [waiting, hanging]
    assert fake.deleted_from_queue == [waiting]
    assert fake.peak_vram_reported >= 0.3 * fake.vram_total


def test_vanish_forgets_the_prompt_and_closes_sockets(
    fake: FakeComfy, client: httpx.Client
) -> None:
    fake.jobs.append(Job(steps=5, vanish_after=2))
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        prompt_id = submit(client, wan_graph())
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
    client.close()  # its keep-alive connection went with the 'restart'
    with httpx.Client(base_url=fake.url) as fresh:
        assert fresh.get("/queue").json() == {"queue_running": [], "queue_pending": []}
        assert fresh.get(f"/history/{prompt_id}").json() == {}
        assert fresh.get("/system_stats").status_code == 200


def test_dropped_socket_does_not_stop_the_job(fake: FakeComfy, client: httpx.Client) -> None:
    fake.jobs.append(Job(steps=4, drop_socket_after=1))
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        prompt_id = submit(client, wan_graph())
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
    assert history(client, prompt_id)["status"]["status_str"] == "success"


def test_silent_job_sends_no_node_events(fake: FakeComfy, client: httpx.Client) -> None:
    fake.jobs.append(Job(silent=True))
    with ws_connect(fake, "test") as ws:
        ws.recv(timeout=5)
        prompt_id = submit(client, wan_graph())
        assert history(client, prompt_id)["status"]["status_str"] == "success"
        time.sleep(0.05)
        seen = []
        while True:
            try:
                seen.append(json.loads(ws.recv(timeout=0.2))["type"])
            except TimeoutError:
                break
    assert set(seen) == {"status"}


def test_down_refuses_connections_and_up_keeps_state(
    fake: FakeComfy, client: httpx.Client
) -> None:
    fake.jobs.append(Job(steps=10, step_delay=0.02))
    prompt_id = submit(client, wan_graph())
    fake.down()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", fake.port)):
        pass
    time.sleep(0.3)
    fake.up()
    with httpx.Client(base_url=fake.url) as fresh:
        assert history(fresh, prompt_id)["status"]["status_str"] == "success"
        fake.restart()
    with httpx.Client(base_url=fake.url) as fresh:
        assert fresh.get("/history").json() == {}
        assert fresh.get(f"/history/{prompt_id}").json() == {}


@pytest.mark.parametrize(("output", "key", "suffixes"), [
    ("gifs", "gifs", [".mp4"]),
    ("frames", "images", [".png"] * 9),
    ("webp", "images", [".webp"]),
    ("webm", "images", [".webm"]),
])
def test_forced_output_kinds(
    fake: FakeComfy, client: httpx.Client, output: str, key: str, suffixes: list[str]
) -> None:
    fake.jobs.append(Job(output=output))
    prompt_id = submit(client, wan_graph(prefix=f"vidgen/{output}"))
    ui = history(client, prompt_id)["outputs"]["11"]
    files = ui[key]
    assert [Path(f["filename"]).suffix for f in files] == suffixes
    assert files[0]["subfolder"] == "vidgen" and files[0]["type"] == "output"
    body = client.get("/view", params={k: files[0][k] for k in ("filename", "subfolder", "type")})
    assert body.status_code == 200
    if output == "gifs":
        assert files[0]["filename"] == "gifs_00001.mp4"
        assert (files[0]["format"], files[0]["frame_rate"]) == ("video/h264-mp4", 16.0)
        assert video_facts(body.content)[:3] == (9, 64, 48)
    elif output == "webm":
        assert ui["animated"] == [True]
        assert video_facts(body.content) == (9, 64, 48, "vp9")
    elif output == "webp":
        assert ui["animated"] == [True]
        assert Image.open(BytesIO(body.content)).n_frames == 9
    else:
        assert "animated" not in ui and files[-1]["filename"] == "frames_00009_.png"


def test_upload_naming_size_limit_and_view_guards(tmp_path: Path) -> None:
    with FakeComfy(tmp_path, max_upload_bytes=2000) as server, httpx.Client(
        base_url=server.url
    ) as http:
        assert upload(http) == {"name": "still.png", "subfolder": "vidgen", "type": "input"}
        assert upload(http)["name"] == "still.png"  # identical bytes: reused
        files = {"image": ("still.png", b"other bytes", "image/png")}
        renamed = http.post("/upload/image", files=files, data={"subfolder": "vidgen"})
        assert renamed.json()["name"] == "still (1).png"
        assert server.uploads["vidgen/still (1).png"] == b"other bytes"
        big = {"image": ("big.png", b"x" * 5000, "image/png")}
        assert http.post("/upload/image", files=big).status_code == 413
        view = {"filename": "still.png", "subfolder": "vidgen", "type": "input"}
        assert http.get("/view", params=view).status_code == 200
        assert http.get("/view", params={**view, "filename": "../x.png"}).status_code == 400
        assert http.get("/view", params={**view, "subfolder": "../.."}).status_code == 403
        assert http.get("/view", params={**view, "type": "bogus"}).status_code == 400
        assert http.get("/view", params={**view, "filename": "nope.png"}).status_code == 404
        assert http.get("/api/view", params=view).status_code == 200
        assert ("GET", "/api/view") in server.requests


def test_valid_outputs_run_while_invalid_ones_are_reported(client: httpx.Client) -> None:
    graph = image_graph(frames=2)
    graph["6"] = {"class_type": "ImageScale", "inputs": {
        "image": ["1", 0], "upscale_method": "super-resolution", "width": 64, "height": 48,
        "crop": "disabled"}}
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0],
                                                        "filename_prefix": "vidgen/bad"}}
    response = client.post("/prompt", json={"prompt": graph})
    assert response.status_code == 200
    errors = response.json()["node_errors"]
    assert list(errors) == ["6"] and errors["6"]["dependent_outputs"] == ["7"]
    prompt_id = response.json()["prompt_id"]
    entry = history(client, prompt_id)
    assert entry["prompt"][4] == ["5"] and list(entry["outputs"]) == ["5"]


def test_history_listing_and_deletion(fake: FakeComfy, client: httpx.Client) -> None:
    first = submit(client, image_graph(prefix="vidgen/a", frames=1))
    history(client, first)
    second = submit(client, image_graph(prefix="vidgen/b", frames=1))
    history(client, second)
    assert list(client.get("/history").json()) == [first, second]
    assert list(client.get("/history", params={"max_items": 1}).json()) == [second]
    client.post("/history", json={"delete": [first]})
    assert list(client.get("/history").json()) == [second]
    client.post("/history", json={"clear": True})
    assert client.get("/history").json() == {}
    assert fake.deleted_from_history == [first]
    assert fake.submitted[second] == image_graph(prefix="vidgen/b", frames=1)
