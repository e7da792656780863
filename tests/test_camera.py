"""The camera backend: sub-pixel accuracy, the exact path, the pyramid and the backend seam."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from vidgen.backends import GenerationRequest, create_backend
from vidgen.backends.camera import CameraBackend, CropRenderer, render_path
from vidgen.config import load_config
from vidgen.errors import BackendError
from vidgen.measure import horizontal_shift
from vidgen.motion import Motion, sample_path


def wave(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """A smooth image we can evaluate anywhere: three channels of low-frequency sines."""
    base = 128 + 40 * np.sin(2 * np.pi * x / 53 + 0.3) + 30 * np.cos(2 * np.pi * y / 41 - 0.7)
    return np.stack([base, base + 20 * np.sin(2 * np.pi * (x + y) / 67),
                     255 - base], axis=-1)


def wave_image(width: int, height: int) -> NDArray[np.uint8]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.clip(np.rint(wave(x, y)), 0, 255).astype(np.uint8)


def texture(width: int, height: int, seed: int = 1) -> NDArray[np.uint8]:
    """Band-limited noise: rich detail that sub-pixel interpolation still represents well."""
    noise = np.random.default_rng(seed).normal(0, 1, (height, width, 3)).astype(np.float32)
    smooth = np.asarray(cv2.GaussianBlur(noise, (0, 0), 2.0), dtype=np.float32)
    scaled: NDArray[np.float32] = 128 + smooth * np.float32(40 / smooth.std())
    return np.clip(scaled, 0, 255).astype(np.uint8)


def pixels(rect: tuple[float, float, float, float], size: tuple[int, int]) -> NDArray[np.float64]:
    return np.array(rect) * np.array([size[0], size[1], size[0], size[1]], dtype=np.float64)


@pytest.mark.parametrize("rect, out_size", [
    ((100.3, 50.7, 300.3, 170.7), (200, 120)),   # 1:1, fractional offset
    ((40.25, 80.6, 200.25, 176.6), (200, 120)),   # enlarged 1.25x
    ((10.1, 20.9, 330.1, 212.9), (200, 120)),     # shrunk 1.6x from the source
    ((3.7, 5.2, 543.7, 329.2), (200, 120)),       # shrunk 2.7x: level 1 of an odd-sized source
])
def test_render_samples_the_expected_subpixel_points(
    rect: tuple[float, float, float, float], out_size: tuple[int, int]
) -> None:
    renderer = CropRenderer(wave_image(601, 401), out_size)
    frame = renderer.render(rect).astype(np.float64)
    (x1, y1, x2, y2), (out_w, out_h) = rect, out_size
    u, v = np.arange(out_w), np.arange(out_h)
    x = x1 + (u + 0.5) * (x2 - x1) / out_w - 0.5
    y = y1 + (v + 0.5) * (y2 - y1) / out_h - 0.5
    expected = wave(*np.meshgrid(x, y))
    error = np.abs(frame - expected)[4:-4, 4:-4]  # edges reflect, the function does not
    assert error.mean() < 0.5, (error.mean(), renderer.level_for(rect))


def test_slow_pan_moves_every_frame_by_the_exact_amount() -> None:
    width, height, out_w, out_h, n = 640, 360, 256, 144, 24
    crop_w = 350.0
    step = 0.19 * crop_w / out_w  # 0.19 output pixels per frame, in source pixels
    x0, y0, crop_h = 100.0, 100.0, crop_w * out_h / out_w
    motion = Motion(
        motion_type="pan_right", duration_sec=1.0, easing="linear",
        start=(x0 / width, y0 / height, (x0 + crop_w) / width, (y0 + crop_h) / height),
        end=((x0 + step * (n - 1)) / width, y0 / height,
             (x0 + crop_w + step * (n - 1)) / width, (y0 + crop_h) / height),
    )
    rects = sample_path(motion, (width, height), n)
    frames = list(render_path(texture(width, height), rects, (out_w, out_h)))
    measured = np.array([horizontal_shift(frames[0], f) for f in frames])
    analytic = (rects[:, 0] - rects[0, 0]) * out_w / (rects[:, 2] - rects[:, 0])
    assert np.abs(measured - analytic).max() < 0.02
    assert np.all(np.diff(measured) > 0.15)  # no frame stands still, none jumps


def request(image: NDArray[np.uint8], motion: Motion, num_frames: int = 12,
            size: tuple[int, int] = (160, 96)) -> GenerationRequest:
    return GenerationRequest(
        shot_id="shot-1", image=image, prompt="", negative_prompt="", width=size[0],
        height=size[1], num_frames=num_frames, fps=24, steps=None, guidance=None, seed=0,
        motion=motion,
    )


ZOOM = Motion(motion_type="zoom_in", start=(0.0, 0.0, 1.0, 0.6), end=(0.31, 0.17, 0.61, 0.35),
              duration_sec=1.0)


def test_first_and_last_frames_are_the_motion_ends() -> None:
    image = texture(500, 300)
    backend = CameraBackend(load_config(env={}))
    frames = list(backend.generate(request(image, ZOOM)).frames)
    renderer = CropRenderer(image, (160, 96))
    assert np.array_equal(frames[0], renderer.render(pixels(ZOOM.start, (500, 300))))
    assert np.array_equal(frames[-1], renderer.render(pixels(ZOOM.end, (500, 300))))


def test_rendering_is_deterministic_whatever_the_thread_count() -> None:
    image, rect = texture(800, 600), (123.456, 78.9, 701.2, 440.1)  # shrinks 1.8x: crossfaded
    renderer = CropRenderer(image, (320, 200))
    assert renderer.level_for(rect) == 0 and len(renderer.level_sizes) == 2
    first = renderer.render(rect)
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        again = CropRenderer(image, (320, 200)).render(rect)
    finally:
        cv2.setNumThreads(threads)
    assert first.tobytes() == again.tobytes()


def test_pyramid_level_keeps_the_warp_within_2x() -> None:
    renderer = CropRenderer(np.zeros((2304, 4096, 3), np.uint8), (512, 288))
    assert [w for w, _ in renderer.level_sizes] == [4096, 2048, 1024, 512]
    assert renderer.level_sizes[renderer.level_for((0.5, 0.0, 4095.5, 2304.0))] == (1024, 576)
    # The full frame at exactly 8x the output is the 512-wide area average itself.
    assert renderer.level_for((0.0, 0.0, 4096.0, 2304.0)) == 3
    assert renderer.level_for((100.0, 100.0, 400.0, 268.75)) == 0  # smaller than the output
    for crop_w in np.linspace(512, 4096, 57):
        k = renderer.level_for((0.0, 0.0, crop_w, crop_w * 288 / 512))
        factor = crop_w * renderer.level_sizes[k][0] / 4096 / 512
        assert 1.0 - 1e-9 <= factor < 2.0


def test_a_zoom_does_not_pop_where_the_pyramid_level_changes() -> None:
    renderer = CropRenderer(texture(1000, 600), (200, 120))
    frames, levels = [], []
    for crop_w in (400 * (1 + 1e-6), 400 * (1 - 1e-6)):  # a shrink of just over / under 2
        rect = (500.3 - crop_w / 2, 300.7 - crop_w * 0.3, 500.3 + crop_w / 2, 300.7 + crop_w * 0.3)
        frames.append(renderer.render(rect).astype(np.int16))
        levels.append(renderer.level_for(rect))
    assert levels == [1, 0]
    assert np.abs(frames[0] - frames[1]).max() <= 1  # the same picture, up to rounding


def test_odd_source_sizes_map_exactly() -> None:
    image = texture(1001, 777, seed=3)
    full = (0.0, 0.0, 1001.0, 777.0)
    assert np.array_equal(CropRenderer(image, (1001, 777)).render(full), image)
    renderer = CropRenderer(image, (250, 194))
    assert renderer.level_for(full) == 2 and renderer.level_sizes[2] == (250, 194)
    area = cv2.resize(image, (250, 194), interpolation=cv2.INTER_AREA)
    assert np.array_equal(renderer.render(full), area)  # true scale 250/1001, not 1/4


def test_generate_is_lazy_and_reports_progress() -> None:
    calls: list[tuple[float, str]] = []
    backend = create_backend("camera", load_config(env={}))
    assert isinstance(backend, CameraBackend)
    result = backend.generate(request(texture(500, 300), ZOOM, num_frames=10),
                              lambda f, what: calls.append((f, what)))
    assert result.framed and result.num_frames == 10 and result.fps == 24
    assert result.info["renderer"] and result.info["pyramid_levels"] == 2
    assert isinstance(result.frames, Iterator) and calls == []  # nothing rendered yet
    frames = iter(result.frames)
    assert next(frames).shape == (96, 160, 3) and calls == [(0.1, "render")]
    rest = list(frames)
    assert len(rest) == 9 and all(f.shape == (96, 160, 3) and f.dtype == np.uint8 for f in rest)
    assert calls[-1] == (1.0, "render") and len(calls) == 10
    assert backend.identity() == {"backend": "camera", "renderer": result.info["renderer"],
                                  "opencv": cv2.__version__}


def test_bad_input_is_refused_with_the_argument_named() -> None:
    image = texture(64, 48)
    with pytest.raises(ValueError, match="x2 > x1"):
        CropRenderer(image, (32, 24)).render((10.0, 5.0, 10.0, 20.0))
    with pytest.raises(ValueError, match="image"):
        CropRenderer(image[..., 0], (32, 24))
    with pytest.raises(ValueError, match="out_size"):
        CropRenderer(image, (0, 24))
    with pytest.raises(ValueError, match="rects"):
        render_path(image, np.zeros((3, 3)), (32, 24))
    with pytest.raises(BackendError, match="image"):
        CameraBackend(load_config(env={})).generate(request(image.astype(np.float32), ZOOM))
