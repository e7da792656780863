"""The optical-flow interpolator: in-between frames against synthetic motion with known truth.

Scenes are rendered at any instant, so the true frame at every timestep is
known: a textured picture translated by sub-pixel steps, and a textured disc
moving over a static textured background (occlusion and disocclusion).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

import vidgen.interpolate
from vidgen.config import load_config
from vidgen.errors import ConfigError
from vidgen.interpolate import base, create_interpolator, retime_plan
from vidgen.interpolate.flow import FlowInterpolator

Frame = NDArray[np.uint8]
W, H = 160, 120


def texture(width: int, height: int, seed: int) -> NDArray[np.float32]:
    """Smooth noise at three scales plus a few hard-edged shapes: photo-like, float RGB."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 128.0, np.float32)
    for cells, amplitude in ((4, 45.0), (12, 30.0), (40, 20.0)):
        noise = rng.normal(0, 1, (cells * height // width + 1, cells, 3)).astype(np.float32)
        image += amplitude * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        colour = tuple(float(c) for c in rng.uniform(-70, 70, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(4, 14)), colour, -1, cv2.LINE_AA)
    return np.clip(image, 0, 255)


def shift(image: NDArray[np.float32], dx: float, dy: float) -> NDArray[np.float32]:
    """``image`` moved by ``(dx, dy)`` pixels (cubic, edges reflected)."""
    moved = cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]),
                           (image.shape[1], image.shape[0]), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT101)
    return np.asarray(moved, dtype=np.float32)


def quantise(image: NDArray[np.float32]) -> Frame:
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def panning() -> Callable[[float], Frame]:
    """A picture moving 3.3 px right and 1.6 px down per frame."""
    canvas = texture(W, H, seed=1)
    return lambda s: quantise(shift(canvas, 3.3 * s, 1.6 * s))


def disc_mask(s: float, speed: float) -> NDArray[np.float32]:
    """Coverage (anti-aliased) of the disc of :func:`moving_disc` at time ``s``."""
    mask = np.zeros((H, W), np.float32)
    cv2.circle(mask, (round((50 + speed * s) * 16), round((55 + 0.4 * speed * s) * 16)), 30 * 16,
               1.0, -1, cv2.LINE_AA, shift=4)
    return mask


def moving_disc(speed: float = 6.0) -> Callable[[float], Frame]:
    """A textured disc (radius 30) moving ``speed`` px right per frame (and 0.4 of it down)."""
    background, pattern = texture(W, H, seed=2), texture(W, H, seed=3)[..., ::-1]

    def render(s: float) -> Frame:
        disc = shift(pattern, speed * s, 0.4 * speed * s)
        return quantise(background + disc_mask(s, speed)[..., None] * (disc - background))

    return render


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean(np.square(a.astype(np.float64) - b)))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def scores(render: Callable[[float], Frame], method: str) -> list[float]:
    """PSNR of ``method``'s in-betweens of frames 0-1 and 1-2 against the truth."""
    interpolator = create_interpolator(method, {})
    return [psnr(interpolator.between(render(i), render(i + 1), t), render(i + t))
            for i in (0, 1) for t in (0.25, 0.5, 0.6, 0.8)]


@pytest.mark.parametrize(("scene", "least", "margin"),
                         [(panning, 34.0, 8.0), (moving_disc, 31.0, 5.0)])
def test_flow_beats_the_cross_fade(scene: Callable[[], Callable[[float], Frame]], least: float,
                                   margin: float) -> None:
    # Measured: panning 35.9-41.7 dB (cross-fade 27-31), disc 33-35.3 dB (26.3-29).
    render = scene()
    flow, blend = scores(render, "flow"), scores(render, "blend")
    assert min(flow) > least, flow
    assert np.mean(flow) > np.mean(blend) + margin, (flow, blend)
    assert all(f > b for f, b in zip(flow, blend, strict=True))


def test_occluded_strips_come_from_the_frame_that_sees_them() -> None:
    # At t=0.5, the strip the disc has uncovered since t=0 is seen only by frame 1, and the strip
    # it will cover by t=1 only by frame 0. Taking each from the frame that sees it must leave
    # well under the cross-fade's error (whose ghost of the disc lies right there). Measured:
    # mean error 12.4 and 13.3 levels against the cross-fade's 26.1 and 33.9.
    render = moving_disc(speed=10.0)
    before, after, truth = render(0.0), render(1.0), render(0.5)
    at = {s: disc_mask(s, 10.0) > 0.5 for s in (0.0, 0.5, 1.0)}
    uncovered, to_cover = at[0.0] & ~at[0.5], at[1.0] & ~at[0.5]
    flow = np.abs(create_interpolator("flow", {}).between(before, after, 0.5) - truth.astype(int))
    blend = np.abs(create_interpolator("blend").between(before, after, 0.5) - truth.astype(int))
    for strip in (uncovered, to_cover):
        assert strip.sum() > 200
        assert flow[strip].mean() < 0.7 * blend[strip].mean(), (flow[strip].mean(),
                                                                blend[strip].mean())


@pytest.mark.parametrize(("src", "dst"), [(16, 24), (16, 30), (24, 30), (16, 32), (24, 48)])
def test_retime_counts_ends_and_passes_sources_through(src: int, dst: int) -> None:
    render = panning()
    frames = [render(i) for i in range(5)]
    plan = retime_plan(len(frames), src, dst)
    out = list(create_interpolator("flow", {}).retime(frames, src, dst))
    assert len(out) == len(plan) == round(len(frames) * dst / src)
    assert out[0] is frames[0] and out[-1] is frames[-1]
    for frame, (index, t) in zip(out, plan, strict=True):
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
        if t == 0.0:
            assert frame is frames[index]
        else:
            assert psnr(frame, render(index + t)) > 32.0


def test_each_pair_is_analysed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    render = panning()
    frames = [render(i) for i in range(5)]
    calls: list[int] = []
    original = FlowInterpolator._pair

    def counting(self: FlowInterpolator, a: Frame, b: Frame) -> object:
        calls.append(next(i for i, f in enumerate(frames) if f is a))
        return original(self, a, b)

    monkeypatch.setattr(FlowInterpolator, "_pair", counting)
    list(create_interpolator("flow", {}).retime(frames, 16, 30))
    # 16 -> 30 over 5 frames: 9 outputs at 0, 8/15, 16/15, ...: in-betweens share pairs.
    pairs = [index for index, t in retime_plan(5, 16, 30) if t != 0.0]
    assert len(pairs) > len(set(pairs))
    assert calls == sorted(set(pairs))


def test_deterministic_and_independent_of_thread_count() -> None:
    render = moving_disc()
    frames = [render(i) for i in range(3)]
    threads = cv2.getNumThreads()
    try:
        runs = []
        for n in (1, 2, 1):
            cv2.setNumThreads(n)
            runs.append(list(create_interpolator("flow", {}).retime(frames, 16, 24)))
    finally:
        cv2.setNumThreads(threads)
    for run in runs[1:]:
        assert all(np.array_equal(x, y) for x, y in zip(runs[0], run, strict=True))


def test_created_through_the_lazy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forget the module (all three places), so that asking for "flow" must import it again.
    monkeypatch.delitem(base._REGISTRY, "flow")
    monkeypatch.delitem(sys.modules, "vidgen.interpolate.flow")
    monkeypatch.delattr(vidgen.interpolate, "flow", raising=False)
    config = load_config(env={})
    interpolator = create_interpolator("flow", config)
    assert interpolator.name == "flow" and "flow" in base._REGISTRY
    assert type(interpolator).__module__ == "vidgen.interpolate.flow"


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_every_preset_interpolates(preset: str) -> None:
    render = panning()
    out = create_interpolator("flow", {"interpolate.flow_preset": preset}).between(
        render(0), render(1), 0.5)
    assert psnr(out, render(0.5)) > 32.0


def test_bad_preset_and_bad_frames_are_refused() -> None:
    with pytest.raises(ConfigError, match="flow preset"):
        create_interpolator("flow", {"interpolate.flow_preset": "slow"})
    interpolator = create_interpolator("flow", {})
    with pytest.raises(ValueError, match="one shape"):
        interpolator.between(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), 0.5)


def test_tiny_frames_cross_fade() -> None:
    a, b = np.full((4, 6, 3), 0, np.uint8), np.full((4, 6, 3), 200, np.uint8)
    out = create_interpolator("flow", {}).between(a, b, 0.25)
    assert np.abs(out.astype(int) - 50).max() <= 1
