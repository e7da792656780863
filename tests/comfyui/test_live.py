"""Opt-in: against a real ComfyUI server (``VIDGEN_COMFYUI_URL``), with core nodes only.

A CPU ComfyUI without any model file runs the ``core_video`` template (LoadImage ->
ImageScale -> RepeatImageBatch -> CreateVideo -> SaveVideo). See
docs/backends/comfyui.md for how to start one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidgen.backends.comfyui.client import ComfyClient, WorkflowRejected
from vidgen.backends.comfyui.workflow import load_workflow
from vidgen.cli import app

from ..conftest import make_image

URL = os.environ.get("VIDGEN_COMFYUI_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="set VIDGEN_COMFYUI_URL to a ComfyUI server")


def test_a_batch_runs_end_to_end_on_a_real_server(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for i in range(2):
        make_image(source / f"key{i}.png", 640, 480, seed=i)
    config = tmp_path / "vidgen.toml"
    config.write_text(f'''
[generation]
model = "comfyui"
template = "core_video"
native_fps = 16
[output]
width = 64
height = 48
fps = 24
[comfyui]
url = "{URL}"
[encode]
nvenc = "off"
[audit]
enabled = false
''')
    runner = CliRunner()
    batch = tmp_path / "batch"
    created = runner.invoke(app, ["--config", str(config), "batch", "create", str(source),
                                  "--out", str(batch)])
    assert created.exit_code == 0, created.output
    ran = runner.invoke(app, ["--config", str(config), "run", str(batch), "--json"])
    assert ran.exit_code == 0, ran.output
    for i in range(2):
        meta = json.loads((batch / "results" / f"key{i}.video_meta.json").read_text())
        info = meta["generation_info"]
        assert info["template"] == "core_video" and info["comfyui_version"]
        assert info["submissions"][-1]["outcome"] == "done"
        assert meta["video"]["frames"] == 96 and meta["video"]["fps"] == 24
        assert set(info["node_sec"]) == {"1", "2", "3", "4", "5"} or info["cached_nodes"]


def test_preflight_names_missing_model_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["comfy", "check", "--url", URL, "--model",
                                      "wan22_i2v_a14b_4step", "--json"])
    report = json.loads(result.output)
    problems = report["templates"][0]["problems"]
    hints = " ".join(p["hint"] or "" for p in problems)
    assert result.exit_code == 1 and not report["ready"]
    assert "models/diffusion_models/" in hints and "models/loras/" in hints
    assert "models/text_encoders/" in hints and "models/vae/" in hints


def test_the_server_refuses_a_missing_model_with_file_and_folder() -> None:
    graph = load_workflow("wan22_i2v_a14b_4step").graph
    client = ComfyClient(URL, retries=2, backoff_sec=0.1)
    try:
        with pytest.raises(WorkflowRejected) as caught:
            client.submit(graph, "vidgen-live-missing-model")
    finally:
        client.close()
    assert "missing on the server" in caught.value.message
    assert "models/" in (caught.value.hint or "")
