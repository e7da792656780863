"""The comfyui backend end to end: batches through `vidgen run` against a protocol server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidgen.backends.base import GenerationRequest
from vidgen.backends.comfyui.backend import ComfyUIBackend
from vidgen.backends.comfyui.workflow import load_workflow
from vidgen.batch import create_batch
from vidgen.config import Config, load_config
from vidgen.errors import BackendError, BackendUnavailable, ConfigError
from vidgen.ledger import Ledger
from vidgen.manifest import load_manifest
from vidgen.motion import Motion
from vidgen.worker import run_batch

from ..conftest import make_image
from .conftest import TEMPLATE, model_files
from .fake_server import FakeComfy, Job


def small_workflow(folder: Path, template: str = TEMPLATE, size: tuple[int, int] = (128, 96)
                   ) -> Path:
    """A user's export of a template at a small native size, with no bindings sidecar."""
    workflow = load_workflow(template)
    graph = workflow.bind({"width": size[0], "height": size[1]})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"small_{template}.json"
    path.write_text(json.dumps(graph))
    return path


def settings(tmp_path: Path, fake: FakeComfy, **extra: Any) -> Config:
    return load_config(env={}, overrides={
        "workspace": str(tmp_path / "workspace"), "generation.model": "comfyui",
        "generation.template": str(small_workflow(tmp_path / "mine")),
        "output.width": 64, "output.height": 48, "output.fps": 24, "encode.nvenc": "off",
        "comfyui.url": fake.url, "comfyui.retries": 2, "comfyui.retry_backoff_sec": 0.01,
        "comfyui.poll_sec": 0.3, "comfyui.vram_sample_sec": 0.05, "audit.enabled": False,
        **extra})


def make_batch(tmp_path: Path, config: Config, count: int = 3) -> Path:
    src = tmp_path / "src"
    for i in range(count):
        make_image(src / f"shot{i}.png", 640, 480, seed=i)
    report = create_batch([src], tmp_path / "batch", config, batch_id="c")
    assert report.manifest is not None and not report.errors
    return tmp_path / "batch"


def states(batch: Path) -> dict[str, tuple[str, str | None]]:
    with Ledger(batch) as ledger:
        return {r["shot_id"]: (r["state"], r["error_class"]) for r in ledger.shots()}


def test_a_batch_runs_end_to_end_and_one_bad_shot_does_not_stop_it(tmp_path: Path,
                                                                   fake: FakeComfy) -> None:
    config = settings(tmp_path, fake)
    batch = make_batch(tmp_path, config)
    manifest = load_manifest(batch)
    gen = manifest.keyframes[0].generation_params
    assert gen.template == f"workflows/small_{TEMPLATE}.json" and gen.native_fps == 16
    assert (batch / "workflows" / f"small_{TEMPLATE}.json").is_file()  # travels with the batch
    fake.jobs.extend([Job(steps=4), Job(fail="oom"), Job(steps=4)])
    summary = run_batch(batch, config)
    result = states(batch)
    assert sorted(s for s, _ in result.values()) == ["done", "done", "failed"]
    assert [e for s, e in result.values() if s == "failed"] == ["OutOfMemory"]
    done = next(k for k, (s, _) in result.items() if s == "done")
    meta = json.loads((batch / "results" / f"{done}.video_meta.json").read_text())
    info = meta["generation_info"]
    assert info["bindings"] == "detected" and info["template"] == f"small_{TEMPLATE}.json"
    assert info["frames_generated"] == 65 and "65 frames" in info["notes"][0]  # 4k + 1 >= 64
    assert meta["video"]["frames"] == 96 and (meta["video"]["width"], meta["video"]["height"]) \
        == (64, 48)
    assert info["camera_mode"] == "path" and "static shot" in info["prompt_sent"]
    assert info["peak_vram_mb"] > 0 and info["sampling_sec"] is not None
    assert info["execution_sec"] is not None and info["queue_wait_sec"] is not None
    assert meta["backend"]["comfyui_version"] == "0.3.64"
    assert summary.counts.get("failed") == 1


def test_a_server_missing_a_model_refuses_the_batch_and_loses_nothing(tmp_path: Path) -> None:
    with FakeComfy(tmp_path / "comfy", models={}) as server:
        config = settings(tmp_path, server)
        batch = make_batch(tmp_path, config, count=2)
        with pytest.raises(BackendUnavailable) as caught:
            run_batch(batch, config)
    assert "models/diffusion_models/" in str(caught.value)
    assert set(states(batch).values()) == {("queued", None)}
    assert not server.submitted


def test_an_unreachable_server_stops_the_worker_with_the_shots_queued(tmp_path: Path,
                                                                     fake: FakeComfy) -> None:
    config = settings(tmp_path, fake)
    batch = make_batch(tmp_path, config, count=2)
    fake.down()
    with pytest.raises(BackendUnavailable, match="no answer"):
        run_batch(batch, config)
    assert set(states(batch).values()) == {("queued", None)}
    fake.up()
    run_batch(batch, config)  # resumes once the server is back
    assert {s for s, _ in states(batch).values()} <= {"done", "flagged"}


def test_a_timeout_fails_the_shot_and_the_batch_goes_on(tmp_path: Path, fake: FakeComfy) -> None:
    config = settings(tmp_path, fake, **{"comfyui.timeout_sec": 1.5})
    batch = make_batch(tmp_path, config, count=2)
    fake.jobs.extend([Job(hang=True), Job()])
    run_batch(batch, config)
    result = sorted(states(batch).values(), key=str)
    assert ("failed", "BackendTimeout") in result
    assert any(s in ("done", "flagged") for s, _ in result)
    assert fake.interrupted


@pytest.mark.parametrize("output", ["video", "webm", "webp", "frames", "gifs"])
def test_every_output_kind_decodes_to_the_frames_asked_for(tmp_path: Path, fake: FakeComfy,
                                                           output: str) -> None:
    config = settings(tmp_path, fake)
    backend = ComfyUIBackend(config)
    backend.load()
    try:
        fake.jobs.append(Job(output=output))
        result = backend.generate(_request(config["generation.template"], 17))
        frames = list(result.frames)
    finally:
        backend.close()
    assert result.num_frames == len(frames) == 17
    assert len({f.shape for f in frames}) == 1 and frames[0].dtype == np.uint8
    assert frames[0].shape[1::-1] == tuple(result.info["generated_size"])


def _request(template: str | None, frames: int, camera_mode: str = "path", seed: int = 3
             ) -> GenerationRequest:
    image = np.asarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3)), np.uint8)
    motion = Motion(motion_type="zoom_in", start=(0.0, 0.0, 1.0, 1.0),
                    end=(0.1, 0.1, 0.9, 0.9), duration_sec=4.0)
    return GenerationRequest(shot_id="s1", image=image, prompt="a harbour", negative_prompt="",
                             width=64, height=48, num_frames=frames, fps=16, steps=None,
                             guidance=None, seed=seed, motion=motion, template=template,
                             camera_mode=camera_mode)


def test_a_prompt_the_server_lost_is_submitted_again(tmp_path: Path, fake: FakeComfy) -> None:
    config = settings(tmp_path, fake)
    backend = ComfyUIBackend(config)
    backend.load()
    try:
        fake.jobs.extend([Job(steps=5, step_delay=0.05, vanish_after=2), Job()])
        result = backend.generate(_request(config["generation.template"], 9))
        assert [s["outcome"] for s in result.info["submissions"]] == ["vanished", "done"]
        fake.jobs.extend([Job(steps=5, step_delay=0.05, vanish_after=1)] * 3)
        with pytest.raises(BackendError, match="lost the prompt 3 times"):  # 1 + 2 resubmits
            backend.generate(_request(config["generation.template"], 9, seed=4))
    finally:
        backend.close()


def test_prompt_mode_describes_the_motion_and_fits_the_frames(tmp_path: Path,
                                                              fake: FakeComfy) -> None:
    config = settings(tmp_path, fake)
    backend = ComfyUIBackend(config)
    backend.load()
    try:
        result = backend.generate(_request(config["generation.template"], 9, "prompt"))
    finally:
        backend.close()
    submitted = next(iter(fake.submitted.values()))
    texts = [n["inputs"].get("text") for n in submitted.values()
             if n["class_type"] == "CLIPTextEncode"]
    assert "a harbour, the camera slowly pushes in" in texts
    assert result.follow_path is False and result.info["camera_mode"] == "prompt"


def test_text_to_video_is_reported_as_not_honouring_the_keyframe(tmp_path: Path) -> None:
    with FakeComfy(tmp_path / "comfy", models=model_files("mochi_t2v")) as server:
        config = settings(tmp_path, server, **{
            "generation.template": str(small_workflow(tmp_path / "m", "mochi_t2v"))})
        backend = ComfyUIBackend(config)
        backend.load()
        try:
            result = backend.generate(_request(config["generation.template"], 13))
        finally:
            backend.close()
        assert not server.uploads  # the keyframe is never sent
    assert result.info["conditioning"] == "text" and result.info["honours_keyframe"] is False
    assert any("text-to-video" in n for n in result.info["notes"])
    assert result.info["frames_generated"] == 13  # Mochi: 6k + 1


def test_batch_create_refuses_what_no_server_could_run(tmp_path: Path) -> None:
    ui_format = tmp_path / "ui.json"
    ui_format.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(ConfigError, match="UI format"):
        ComfyUIBackend.template_info(str(ui_format))
    two_images = load_workflow("core_video").graph | {"99": {"class_type": "LoadImage",
                                                             "inputs": {"image": "b.png"}}}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(two_images))
    with pytest.raises(ConfigError, match="candidates 1 \\(LoadImage\\), 99 \\(LoadImage\\)"):
        ComfyUIBackend.template_info(str(path))
    with pytest.raises(ConfigError, match="no such ComfyUI template"):
        ComfyUIBackend.template_info("wan99")
    assert ComfyUIBackend.template_info("").ref == TEMPLATE


def test_frame_counts_follow_the_nodes_rule() -> None:
    from vidgen.backends.framing import frames_for

    assert frames_for(64, 4) == 65 and frames_for(65, 4) == 65
    assert frames_for(24, 6, low=7) == 25 and frames_for(3, 6, low=7) == 7
    assert frames_for(10, 1) == 10


def test_comfy_check_names_missing_models_and_their_folders(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vidgen.cli import app

    with FakeComfy(tmp_path / "comfy", models=model_files("core_video", TEMPLATE)) as server:
        runner = CliRunner()
        ready = runner.invoke(app, ["comfy", "check", "--url", server.url, "--model", TEMPLATE])
        assert ready.exit_code == 0, ready.output
        assert f"{TEMPLATE}: ready" in ready.output and "RTX 4090" in ready.output
        missing = runner.invoke(app, ["comfy", "check", "--url", server.url, "--model",
                                      "hunyuan_i2v_v2", "--json"])
        report = json.loads(missing.output)
        everything = runner.invoke(app, ["comfy", "check", "--url", server.url])
    assert missing.exit_code == 1 and not report["ready"]
    problems = report["templates"][0]["problems"]
    by_value = {p["value"]: p["hint"] for p in problems}
    assert "models/diffusion_models/" in by_value[
        "hunyuan_video_v2_replace_image_to_video_720p_bf16.safetensors"]
    assert "models/clip_vision/" in by_value["llava_llama3_vision.safetensors"]
    assert "models/text_encoders/" in by_value["clip_l.safetensors"]
    assert everything.exit_code == 0  # a survey: only --model makes a missing file an error
    assert "core_video: ready" in everything.output and "mochi_t2v (text-to-video)" in \
        everything.output


def test_comfy_check_reports_an_unreachable_server(tmp_path: Path, fake: FakeComfy) -> None:
    from typer.testing import CliRunner

    from vidgen.cli import app

    fake.down()
    result = CliRunner().invoke(app, ["comfy", "check", "--url", fake.url],
                                env={"VIDGEN_COMFYUI_RETRIES": "2",
                                     "VIDGEN_COMFYUI_RETRY_BACKOFF_SEC": "0.01"})
    assert result.exit_code == 1 and "no answer from the ComfyUI server" in result.output


def test_batch_validate_finds_a_missing_workflow_file(tmp_path: Path, fake: FakeComfy) -> None:
    from vidgen.manifest import validate_batch
    from vidgen.rules import RuleLimits

    config = settings(tmp_path, fake)
    batch = make_batch(tmp_path, config, count=1)
    assert not validate_batch(batch, limits=RuleLimits(), update=False).errors
    (batch / "workflows" / f"small_{TEMPLATE}.json").unlink()
    errors = validate_batch(batch, limits=RuleLimits(), update=False).errors
    assert [(f.rule, f.value) for f in errors] == [("file", f"workflows/small_{TEMPLATE}.json")]
