"""The diffusers backend with tiny random pipelines (tests/tiny_diffusers.py), saved and
loaded offline.

Every component is made from a small config (random weights, a word-level
tokenizer built with ``tokenizers``), written with ``save_pretrained`` into
``<model_dir>/<variant>`` and loaded by the backend like real weights. The
variants' native sizes are shrunk so that one shot takes well under a second.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from vidgen.backends import diffusers as backend_module
from vidgen.backends.base import GenerationRequest, create_backend
from vidgen.backends.diffusers import VARIANTS, DiffusersBackend
from vidgen.backends.framing import frames_for
from vidgen.batch import create_batch
from vidgen.config import Config, load_config
from vidgen.errors import BackendError, BackendUnavailable, ConfigError, OutOfMemory
from vidgen.ledger import Ledger
from vidgen.motion import Motion
from vidgen.worker import run_batch

from .conftest import make_image
from .tiny_diffusers import TINY_SIZES, tiny_mochi, tiny_wan

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One saved tiny pipeline per variant (Hunyuan's Llava text encoder is not built here)."""
    folder = tmp_path_factory.mktemp("models")
    for variant in ("wan21_i2v", "wan22_i2v_a14b", "wan22_ti2v_5b"):
        tiny_wan(variant).save_pretrained(folder / variant)
    tiny_mochi().save_pretrained(folder / "mochi")
    return folder


@pytest.fixture(autouse=True)
def tiny_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, size in TINY_SIZES.items():
        monkeypatch.setitem(VARIANTS, name, replace(VARIANTS[name], native_size=size))


def settings(tmp_path: Path, model_dir: Path, **extra: Any) -> Config:
    return load_config(env={}, overrides={
        "workspace": str(tmp_path / "workspace"), "generation.model": "diffusers",
        "generation.template": "wan21_i2v", "diffusers.model_dir": str(model_dir),
        "generation.steps": 2, "output.width": 32, "output.height": 24, "output.fps": 24,
        "motion.duration": 1.0, "rules.min_duration": 1.0,
        "encode.nvenc": "off", "audit.enabled": False, **extra})


def request(template: str, frames: int = 6, seed: int = 3, camera_mode: str = "path"
            ) -> GenerationRequest:
    image = np.asarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3)), np.uint8)
    motion = Motion(motion_type="zoom_in", start=(0.0, 0.0, 1.0, 1.0),
                    end=(0.1, 0.1, 0.9, 0.9), duration_sec=4.0)
    return GenerationRequest(shot_id="s1", image=image, prompt="a harbour at dusk",
                             negative_prompt="", width=32, height=24, num_frames=frames,
                             fps=VARIANTS[template].fps, steps=2, guidance=None, seed=seed,
                             motion=motion, template=template, camera_mode=camera_mode)


@pytest.fixture
def backend(tmp_path: Path, model_dir: Path) -> Any:
    loaded = DiffusersBackend(settings(tmp_path, model_dir))
    loaded.load()
    yield loaded
    loaded.close()


def make_batch(tmp_path: Path, config: Config, count: int) -> Path:
    src = tmp_path / "src"
    for i in range(count):
        make_image(src / f"shot{i}.png", 320, 240, seed=i)
    report = create_batch([src], tmp_path / "batch", config, batch_id="d")
    assert report.manifest is not None and not report.errors
    return tmp_path / "batch"


def states(batch: Path) -> dict[str, tuple[str, str | None]]:
    with Ledger(batch) as ledger:
        return {r["shot_id"]: (r["state"], r["error_class"]) for r in ledger.shots()}


# -- one shot ----------------------------------------------------------------------------------

def test_a_shot_gives_the_frames_asked_for_at_the_generation_size(backend: Any) -> None:
    progress: list[tuple[float, str]] = []
    result = backend.generate(request("wan21_i2v", frames=6),
                              lambda f, what: progress.append((f, what)))
    frames = list(result.frames)
    assert result.num_frames == len(frames) == 6 and result.fps == 16 and not result.framed
    assert {f.shape for f in frames} == {(32, 32, 3)} and frames[0].dtype == np.uint8
    info = result.info
    assert info["frames_generated"] == 9 and info["frames_returned"] == 9  # 4k + 1 >= 6
    assert "the model makes 9 frames (its frame-count rule); the first 6 are kept" in info["notes"]
    assert info["generated_size"] == [32, 32] and info["template"] == "wan21_i2v"
    assert info["pipeline"] == "WanImageToVideoPipeline" and info["honours_keyframe"] is True
    assert info["camera_mode"] == "path" and "static shot" in info["prompt_sent"]
    assert "camera movement" in info["negative_prompt_sent"] and info["steps"] == 2
    assert info["guidance"] == 5.0 and info["dtype"] == "float32" and info["device"] == "cpu"
    assert info["model_load_sec"] > 0 and info["sampling_sec"] > 0 and info["decode_sec"] > 0
    assert info["peak_vram_mb"] is None  # CPU
    assert [what for _, what in progress] == ["loading wan21_i2v", "denoise 1/2", "denoise 2/2"]
    assert progress[-1][0] == 1.0 and result.follow_path and result.region is not None
    identity = backend.identity()
    assert identity["variants"]["wan21_i2v"]["pipeline"] == "WanImageToVideoPipeline"
    assert identity["diffusers_version"] == diffusers.__version__
    assert "diffusers.dtype bf16 runs as fp32 on the CPU" in identity["notes"]


def test_the_same_seed_gives_the_same_frames(backend: Any) -> None:
    first = backend.generate(request("wan21_i2v", frames=9, seed=7))
    same = backend.generate(request("wan21_i2v", frames=9, seed=7))
    other = backend.generate(request("wan21_i2v", frames=9, seed=8))
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, same.frames, strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(first.frames, other.frames, strict=True))
    assert same.info["model_load_sec"] is None  # loaded once, resident
    assert not any("frame-count" in n for n in same.info["notes"])  # 9 is already 4k + 1


def test_prompt_mode_describes_the_motion_in_wan_words(backend: Any) -> None:
    result = backend.generate(request("wan21_i2v", camera_mode="prompt"))
    assert result.info["prompt_sent"] == "a harbour at dusk, the camera slowly pushes in"
    assert result.follow_path is False and result.info["camera_mode"] == "prompt"


def test_two_experts_share_the_steps_at_the_boundary(backend: Any) -> None:
    calls: dict[str, int] = {}
    pipe = backend._pipeline(VARIANTS["wan22_i2v_a14b"], None).pipe  # loads it, resident
    for name in ("transformer", "transformer_2"):
        getattr(pipe, name).register_forward_hook(
            lambda *_, n=name: calls.__setitem__(n, calls.get(n, 0) + 1))
    result = backend.generate(request("wan22_i2v_a14b"))
    assert result.info["guidance"] == 3.5 and len(list(result.frames)) == 6
    assert calls == {"transformer": 2, "transformer_2": 2}  # 2 steps x (cond + uncond)


def test_ti2v_5b_generates_at_its_multiple_of_32(backend: Any) -> None:
    result = backend.generate(request("wan22_ti2v_5b", frames=5))
    frames = list(result.frames)
    assert len(frames) == 5 and frames[0].shape == (64, 64, 3) and result.fps == 24
    assert result.info["generated_size"] == [64, 64] and result.info["steps"] == 2
    assert result.info["pipeline"] == "WanImageToVideoPipeline"


@pytest.mark.filterwarnings("ignore:In CPU autocast")  # inside diffusers' Mochi transformer
def test_mochi_is_text_to_video_and_says_so(backend: Any) -> None:
    result = backend.generate(request("mochi", frames=8))
    frames = list(result.frames)
    assert len(frames) == 8 and frames[0].shape == (32, 32, 3) and result.fps == 30
    info = result.info
    assert info["conditioning"] == "text" and info["honours_keyframe"] is False
    assert info["frames_generated"] == 13 == info["frames_returned"]  # 6k + 1
    assert "text-to-video: the model never sees the keyframe" in info["notes"]
    assert info["prompt_sent"] == "a harbour at dusk, static camera"  # the generic phrases


class StubHunyuan:
    """Stands in for HunyuanVideoImageToVideoPipeline (a tiny Llava text encoder that fits its
    prompt template is out of reach offline): it drops the first 4 decoded frames exactly
    when its transformer is the latent_concat kind, like the real pipeline."""

    def __init__(self, condition: str) -> None:
        self.config: dict[str, Any] = {}
        self.transformer = SimpleNamespace(config=SimpleNamespace(
            image_condition_type=condition, guidance_embeds=condition == "token_replace"))
        self.vae = SimpleNamespace(enable_tiling=lambda: None)
        self.vae_scale_factor_temporal = 4
        self.calls: list[dict[str, Any]] = []

    def set_progress_bar_config(self, **_: Any) -> None:
        pass

    def to(self, _device: str) -> StubHunyuan:
        return self

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        kwargs["callback_on_step_end"](self, 0, 999, {})
        dropped = 4 if self.transformer.config.image_condition_type == "latent_concat" else 0
        shape = (1, kwargs["num_frames"] - dropped, kwargs["height"], kwargs["width"], 3)
        return SimpleNamespace(frames=np.full(shape, 0.5, np.float32))


@pytest.mark.parametrize(("condition", "made", "returned"), [("latent_concat", 13, 9),
                                                            ("token_replace", 9, 9)])
def test_hunyuan_frames_count_the_four_the_pipeline_drops(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          condition: str, made: int,
                                                          returned: int) -> None:
    (tmp_path / "m" / "hunyuan_i2v").mkdir(parents=True)
    (tmp_path / "m" / "hunyuan_i2v" / "model_index.json").write_text("{}")
    stub = StubHunyuan(condition)
    monkeypatch.setattr(diffusers.HunyuanVideoImageToVideoPipeline, "from_pretrained",
                        lambda *_, **__: stub)
    backend = DiffusersBackend(settings(tmp_path, tmp_path / "m"))
    result = backend.generate(request("hunyuan_i2v", frames=6))
    assert len(list(result.frames)) == 6 and result.fps == 24
    info = result.info
    assert (info["frames_generated"], info["frames_returned"]) == (made, returned)
    assert info["frames_dropped_by_pipeline"] == made - returned
    assert (f"the model makes {made} frames (its frame-count rule"
            + (", 4 dropped by the pipeline" if made != returned else "")
            + "); the first 6 are kept") in info["notes"]
    call = stub.calls[0]
    assert "negative_prompt" not in call and call["guidance_scale"] == 6.0
    assert call["prompt"] == "a harbour at dusk, static shot, the camera stays still"
    assert ("this checkpoint has no guidance embedding: the guidance value is not used"
            in info["notes"]) is (condition == "latent_concat")


def test_memory_options_are_applied_once_and_reported(tmp_path: Path, model_dir: Path) -> None:
    config = settings(tmp_path, model_dir, **{"diffusers.fp8": True,
                                              "diffusers.cache": "first_block",
                                              "diffusers.offload": "model"})
    backend = DiffusersBackend(config)
    first = backend.generate(request("wan21_i2v"))
    second = backend.generate(request("wan21_i2v"))
    assert first.info["applied"] == ["fp8 weights, float32 compute", "first-block cache",
                                     "VAE tiling", "on cpu"]
    assert "diffusers.offload model ignored: the device is the CPU" in first.info["notes"]
    # A fresh cache per shot: the second shot does not reuse the first one's residuals.
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, second.frames, strict=True))


def test_oom_frees_memory_and_fails_only_that_shot(backend: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pipe_class = diffusers.WanImageToVideoPipeline
    freed: list[bool] = []
    monkeypatch.setattr(backend_module, "_empty_cache", lambda: freed.append(True))
    monkeypatch.setattr(pipe_class, "__call__", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")))
    with pytest.raises(OutOfMemory, match="s1: the GPU ran out of memory: CUDA out of memory"):
        backend.generate(request("wan21_i2v"))
    assert freed == [True]
    monkeypatch.setattr(pipe_class, "__call__", lambda *a, **k: (_ for _ in ()).throw(
        ValueError("bad input")))
    with pytest.raises(BackendError, match="the pipeline failed: ValueError: bad input"):
        backend.generate(request("wan21_i2v"))


# -- refusals ----------------------------------------------------------------------------------

def test_unknown_variants_are_refused_at_batch_creation() -> None:
    with pytest.raises(ConfigError, match="wan21_i2v, wan22_i2v_a14b, wan22_ti2v_5b"):
        DiffusersBackend.template_info("wan99")
    info = DiffusersBackend.template_info("")
    assert (info.ref, info.native_fps) == ("wan22_i2v_a14b", 16.0)
    assert DiffusersBackend.template_info("mochi").native_fps == 30.0


def test_a_missing_folder_names_the_path_and_the_setting(tmp_path: Path) -> None:
    backend = DiffusersBackend(settings(tmp_path, tmp_path / "nowhere"))
    with pytest.raises(BackendUnavailable) as caught:
        backend.generate(request("wan21_i2v"))
    message = str(caught.value)
    assert str(tmp_path / "nowhere" / "wan21_i2v") in message
    assert "diffusers.model_dir" in message and "model_index.json" in message


def test_a_folder_holding_another_model_is_refused(tmp_path: Path, model_dir: Path) -> None:
    shutil.copytree(model_dir / "wan21_i2v", tmp_path / "m" / "wan22_i2v_a14b")
    backend = DiffusersBackend(settings(tmp_path, tmp_path / "m"))
    with pytest.raises(BackendUnavailable, match="no second expert"):
        backend.generate(request("wan22_i2v_a14b"))


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("diffusers.cache", "mag", "magnitude ratios"),
    ("diffusers.device", "cuda:7", "torch sees no such CUDA device" if torch.cuda.is_available()
     else "CUDA is not available here"),
    ("diffusers.model_dir", "", "no folder of local pipelines"),
    ("diffusers.lora", "missing.safetensors", "the LoRA file does not exist"),
])
def test_settings_that_cannot_work_stop_the_worker(tmp_path: Path, model_dir: Path,
                                                   setting: str, value: str, words: str) -> None:
    backend = DiffusersBackend(settings(tmp_path, model_dir, **{setting: value}))
    with pytest.raises(BackendUnavailable, match=words) as caught:
        backend.generate(request("wan21_i2v"))
    assert setting in str(caught.value)


def test_a_lora_is_fused_into_every_expert(tmp_path: Path, model_dir: Path) -> None:
    pytest.importorskip("peft")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    generator = torch.Generator().manual_seed(0)
    weights = {}
    for block in range(2):
        for proj in ("to_q", "to_k", "to_v", "to_out.0"):
            key = f"transformer.blocks.{block}.attn1.{proj}"
            weights[f"{key}.lora_A.weight"] = torch.randn(4, 24, generator=generator)
            weights[f"{key}.lora_B.weight"] = torch.randn(24, 4, generator=generator)
    safetensors_torch.save_file(weights, tmp_path / "distill.safetensors")
    plain = DiffusersBackend(settings(tmp_path, model_dir))
    plain.generate(request("wan22_i2v_a14b"))
    backend = DiffusersBackend(settings(tmp_path, model_dir, **{
        "diffusers.lora": str(tmp_path / "distill.safetensors"), "diffusers.lora_scale": 0.5}))
    result = backend.generate(request("wan22_i2v_a14b"))
    assert result.info["applied"][0] == "LoRA distill.safetensors fused at 0.5"
    assert any(n.startswith("the one LoRA file went into both experts")
               for n in result.info["notes"])
    for name in ("transformer", "transformer_2"):
        before = getattr(plain._pipelines["wan22_i2v_a14b"].pipe, name).blocks[0].attn1.to_q
        after = getattr(backend._pipelines["wan22_i2v_a14b"].pipe, name).blocks[0].attn1.to_q
        assert type(after) is torch.nn.Linear  # fused, the adapter layers are gone
        assert not torch.equal(before.weight, after.weight)


def test_a_two_file_lora_puts_one_file_into_each_expert(tmp_path: Path,
                                                        model_dir: Path) -> None:
    pytest.importorskip("peft")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    generator = torch.Generator().manual_seed(1)
    for name in ("high", "low"):
        weights = {}
        for proj in ("to_q", "to_k"):
            key = f"transformer.blocks.0.attn1.{proj}"
            weights[f"{key}.lora_A.weight"] = torch.randn(4, 24, generator=generator)
            weights[f"{key}.lora_B.weight"] = torch.randn(24, 4, generator=generator)
        safetensors_torch.save_file(weights, tmp_path / f"{name}.safetensors")
    backend = DiffusersBackend(settings(tmp_path, model_dir, **{
        "diffusers.lora": str(tmp_path / "high.safetensors"),
        "diffusers.lora_2": str(tmp_path / "low.safetensors")}))
    result = backend.generate(request("wan22_i2v_a14b"))
    assert result.info["applied"][0] == "LoRA high.safetensors + low.safetensors fused at 1"
    pipe = backend._pipelines["wan22_i2v_a14b"].pipe
    plain = DiffusersBackend(settings(tmp_path, model_dir))
    plain.generate(request("wan22_i2v_a14b"))
    base = plain._pipelines["wan22_i2v_a14b"].pipe
    deltas = [getattr(pipe, n).blocks[0].attn1.to_q.weight - getattr(base, n).blocks[0].attn1
              .to_q.weight for n in ("transformer", "transformer_2")]
    assert not torch.allclose(deltas[0], deltas[1])  # a different LoRA in each expert
    missing = DiffusersBackend(settings(tmp_path, model_dir, **{
        "diffusers.lora": str(tmp_path / "high.safetensors"),
        "diffusers.lora_2": str(tmp_path / "nope.safetensors")}))
    with pytest.raises(BackendUnavailable) as caught:
        missing.generate(request("wan22_i2v_a14b"))
    assert caught.value.field == "diffusers.lora_2"


def test_a_file_that_is_no_lora_stops_the_worker(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "not_a_lora.safetensors").write_bytes(b"nonsense")
    backend = DiffusersBackend(settings(tmp_path, model_dir, **{
        "diffusers.lora": str(tmp_path / "not_a_lora.safetensors")}))
    with pytest.raises(BackendUnavailable, match="the LoRA does not load") as caught:
        backend.generate(request("wan21_i2v"))
    assert caught.value.field == "diffusers.lora"  # without peft the hint says to install it


def test_a_cache_the_pipeline_cannot_take_is_refused_before_loading(tmp_path: Path) -> None:
    backend = DiffusersBackend(settings(tmp_path, tmp_path / "nowhere",
                                        **{"diffusers.cache": "first_block"}))
    with pytest.raises(BackendUnavailable, match="does not support this transformer cache") as \
            caught:
        backend.generate(request("hunyuan_i2v"))
    assert "diffusers.cache='first_block'" in str(caught.value)


def test_frame_rules() -> None:
    assert [frames_for(n, 4) for n in (1, 2, 5, 6, 64, 65)] == [1, 5, 5, 9, 65, 65]
    assert [frames_for(n, 6) for n in (1, 7, 8, 120)] == [1, 7, 13, 121]
    assert frames_for(64 + 4, 4) == 69  # Hunyuan: 4 decoded frames dropped, 65 kept


# -- whole batches -----------------------------------------------------------------------------

def test_a_batch_runs_through_every_stage(tmp_path: Path, model_dir: Path) -> None:
    config = settings(tmp_path, model_dir)
    batch = make_batch(tmp_path, config, count=2)
    summary = run_batch(batch, config, workers=1)
    assert {s for s, _ in states(batch).values()} <= {"done", "flagged"}, summary.shots
    meta = json.loads((batch / "results" / "shot0.video_meta.json").read_text())
    assert (batch / "results" / "shot0.mp4").is_file()
    assert meta["generation_params"]["template"] == "wan21_i2v"
    assert meta["generation_params"]["native_fps"] == 16 and meta["video"]["fps"] == 24
    assert meta["video"]["frames"] == 24 and (meta["video"]["width"], meta["video"]["height"]) \
        == (32, 24)  # 16 frames at 16 fps -> 1 s at 24 fps
    info = meta["generation_info"]
    assert info["frames_generated"] == 17 and info["sampling_sec"] > 0
    assert "the model makes 17 frames (its frame-count rule); the first 16 are kept" in \
        info["notes"]
    assert meta["backend"]["backend"] == "diffusers" and meta["qc"]["checks"]
    assert set(meta["timings"]) >= {"generate", "interpolate", "encode", "qc"}


def test_a_missing_model_refuses_the_batch_and_loses_nothing(tmp_path: Path) -> None:
    config = settings(tmp_path, tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    batch = make_batch(tmp_path, config, count=2)
    with pytest.raises(BackendUnavailable) as caught:
        run_batch(batch, config, workers=1)
    assert str(tmp_path / "empty" / "wan21_i2v") in str(caught.value)
    assert set(states(batch).values()) == {("queued", None)}


def test_an_oom_fails_one_shot_and_the_next_one_runs(tmp_path: Path, model_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings(tmp_path, model_dir)
    batch = make_batch(tmp_path, config, count=2)
    pipe_class = diffusers.WanImageToVideoPipeline
    real = pipe_class.__call__
    calls: list[int] = []

    def first_runs_out(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pipe_class, "__call__", first_runs_out)
    run_batch(batch, config, workers=1)
    result = sorted(states(batch).values(), key=lambda state: state[0] == "failed")
    assert result[0] in {("done", None), ("flagged", None)}
    assert result[1] == ("failed", "OutOfMemory") and len(calls) == 2


def test_the_backend_is_found_by_name(tmp_path: Path, model_dir: Path) -> None:
    assert isinstance(create_backend("diffusers", settings(tmp_path, model_dir)),
                      DiffusersBackend)
