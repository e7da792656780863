"""Framing for model backends: the region asked for, the words used, the exact path after."""

from __future__ import annotations

import numpy as np
import pytest

from vidgen.backends.base import GenerationResult
from vidgen.backends.camera import CropRenderer
from vidgen.backends.framing import PHRASES, camera_prompt, dominant_motion, plan_framing
from vidgen.errors import MotionError
from vidgen.manifest import OutputParams, Shot
from vidgen.motion import Motion, sample_path
from vidgen.pipeline import reframe
from vidgen.rules import RuleLimits

from .conftest import make_image


def motion(kind: str = "zoom_in", start=(0.1, 0.1, 0.9, 0.9), end=(0.3, 0.25, 0.7, 0.65),
           duration: float = 4.0) -> Motion:
    return Motion(motion_type=kind, start=start, end=end, duration_sec=duration)


def test_path_region_holds_every_crop_at_the_generation_aspect() -> None:
    m = motion()
    framing = plan_framing(m, (2000, 1500), (832, 480), 16, "path", (512, 384))
    x1, y1, x2, y2 = framing.region
    rects = sample_path(m, (2000, 1500), 97)
    assert x1 <= rects[:, 0].min() + 1e-9 and y1 <= rects[:, 1].min() + 1e-9
    assert x2 >= rects[:, 2].max() - 1e-9 and y2 >= rects[:, 3].max() - 1e-9
    w, h = framing.size
    assert w % 16 == 0 and h % 16 == 0
    assert (x2 - x1) / (y2 - y1) == pytest.approx(w / h, rel=1e-9)
    assert w * h == pytest.approx(832 * 480, rel=0.06)  # about the model's own pixel count
    assert x1 >= 0 and x2 <= 2000 and y1 >= 0 and y2 <= 1500


def test_portrait_region_gives_a_portrait_generation_size() -> None:
    m = motion("static", (0.3, 0.1, 0.6, 0.9), (0.3, 0.1, 0.6, 0.9))
    framing = plan_framing(m, (1600, 1200), (832, 480), 16, "path", (512, 720))
    assert framing.size[1] > framing.size[0]


def test_path_mode_upscale_is_checked_by_the_rules() -> None:
    tight = motion("zoom_in", (0.0, 0.0, 1.0, 1.0), (0.4, 0.4, 0.6, 0.6))
    limits = RuleLimits(max_upscale=1.5)
    with pytest.raises(MotionError) as caught:
        plan_framing(tight, (2048, 2048), (832, 480), 16, "path", (720, 720), limits, "shot-1")
    assert caught.value.item == "shot-1" and caught.value.field == "upscale"
    assert caught.value.value > 1.5 and caught.value.limit == 1.5
    gentle = motion("zoom_in", (0.0, 0.0, 1.0, 1.0), (0.1, 0.1, 0.9, 0.9))
    framing = plan_framing(gentle, (2048, 2048), (1280, 720), 16, "path", (512, 512), limits)
    assert framing.upscale == pytest.approx(512 / (0.8 * framing.size[0]), rel=1e-6)


def test_prompt_mode_shows_the_model_the_start_rectangle() -> None:
    m = motion()
    framing = plan_framing(m, (2000, 1500), (832, 480), 16, "prompt", (512, 384))
    x1, y1, x2, y2 = framing.region
    assert (x1 + x2) / 2 == pytest.approx(0.5 * 2000) and (y1 + y2) / 2 == pytest.approx(0.5 * 1500)
    assert x2 - x1 >= 0.8 * 2000 - 1e-6 and y2 - y1 >= 0.8 * 1500 - 1e-6
    assert framing.upscale == 0.0


def test_camera_words_per_mode_and_family() -> None:
    m = motion("pan_left", (0.4, 0.2, 0.9, 0.8), (0.1, 0.2, 0.6, 0.8))
    prompt, negative = camera_prompt("a harbour at dawn.", "blurry", m, "prompt", "wan")
    assert prompt == f"a harbour at dawn, {PHRASES['wan']['pan_left']}" and negative == "blurry"
    prompt, negative = camera_prompt("a harbour", "", m, "path", "hunyuan")
    assert PHRASES["hunyuan"]["static"] in prompt and "camera movement" in negative
    assert camera_prompt("x", "", m, "prompt", "unknown-family")[0].endswith("slow pan left")


def test_a_custom_motion_is_named_by_its_strongest_component() -> None:
    assert dominant_motion(motion("custom", (0.1, 0.1, 0.9, 0.9), (0.3, 0.3, 0.7, 0.7))) == \
        "zoom_in"
    assert dominant_motion(motion("custom", (0.0, 0.3, 0.5, 0.8), (0.0, 0.1, 0.5, 0.6))) == \
        "pan_up"


def _shot(tmp_path, m: Motion, out: tuple[int, int]) -> Shot:
    from vidgen.manifest import GenerationParams, ImageRef

    return Shot(shot_id="s", image_path="shots/s.png",
                image=ImageRef(sha256="0" * 64, bytes=1, width=1, height=1, format="PNG"),
                motion_path="shots/s.motion.json", motion=m,
                generation_params=GenerationParams(model="comfyui", seed=1, native_fps=16,
                                                   num_frames=17),
                output=OutputParams(width=out[0], height=out[1], fps=16, duration_sec=1.0))


def test_reframe_applies_the_exact_path_inside_the_generated_region(tmp_path) -> None:
    """Frames that show only the covered region, at the model's size, reframe to the same
    pictures the camera backend renders from the whole keyframe."""
    from PIL import Image

    image = np.asarray(Image.open(make_image(tmp_path / "k.png", 1600, 1200, seed=3)))
    m = motion("zoom_in", (0.1, 0.1, 0.9, 0.9), (0.3, 0.3, 0.7, 0.7), duration=1.0)
    out = (320, 240)
    framing = plan_framing(m, (1600, 1200), (1280, 720), 16, "path", out)
    generated = [CropRenderer(image, framing.size).render(framing.region)] * 17
    result = GenerationResult(generated, 17, 16, framed=False, region=framing.region)
    reframed = list(reframe(result, _shot(tmp_path, m, out), (1600, 1200)))
    direct = [CropRenderer(image, out).render(tuple(r))
              for r in sample_path(m, (1600, 1200), 17)]
    errors = [np.abs(got.astype(float) - want.astype(float)).mean()
              for got, want in zip(reframed, direct, strict=True)]
    assert max(errors) < 3.0  # the same picture, resampled twice instead of once
    shifted = GenerationResult(generated, 17, 16, framed=False, region=(0, 0, 1600, 1200))
    wrong = next(iter(reframe(shifted, _shot(tmp_path, m, out), (1600, 1200))))
    assert np.abs(wrong.astype(float) - direct[0].astype(float)).mean() > 2 * max(errors)


def test_reframe_only_fits_frames_that_carry_the_models_camera(tmp_path) -> None:
    frame = np.zeros((480, 832, 3), np.uint8)
    frame[:, 416:] = 255  # right half white
    m = motion("zoom_in", duration=1.0)
    result = GenerationResult([frame] * 17, 17, 16, framed=False, follow_path=False)
    frames = list(reframe(result, _shot(tmp_path, m, (240, 240)), (1000, 1000)))
    assert all(f.shape == (240, 240, 3) for f in frames)
    assert np.array_equal(frames[0], frames[-1])  # no path applied
    assert frames[0][:, :100].mean() < 5 and frames[0][:, 140:].mean() > 250  # centred crop
