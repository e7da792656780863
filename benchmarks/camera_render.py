"""Benchmark the camera renderer: render speed, and path accuracy against FFmpeg's zoompan.

Prints, for a synthetic 2048x2048 keyframe (multi-scale smooth noise plus
anti-aliased shapes, so it has both texture and edges):

* render speed (frames per second) of :class:`vidgen.backends.camera.CameraBackend`
  at 1280x720 and 1920x1080 for a ``zoom_in`` and a ``pan_right`` preset
  (``propose_motion`` + ``sample_path``, 4 s at 24 fps), on one OpenCV thread and
  on all cores; the time includes building the pyramid;
* path accuracy of a slow pan (about 0.19 output px per frame) rendered by us and
  by FFmpeg's ``zoompan`` filter from the same rectangles. zoompan runs in process
  through PyAV's filter graph: one input frame, ``d`` = the frame count, and each
  of ``z``, ``x``, ``y`` a flat sum ``eq(on,0)*v0+eq(on,1)*v1+...`` of the
  per-frame values (``z = iw / crop width``, ``x, y`` = the crop's top-left
  corner); the input is converted to ``gbrp`` first so zoompan's chroma alignment
  plays no part (with yuv420p it also rounds x to even pixels). Both render the
  16:9 strip of the keyframe, because zoompan's crop keeps the input's aspect.
  Each frame's horizontal displacement from frame 0 is measured by phase
  correlation refined by a Gauss-Newton fit (Lanczos-4 resampling) and compared
  with the analytic one (the rectangles' move, in output pixels).

Goals: >= 50 fps at 720p on one core; displacement error < 0.01 px.

Usage: python benchmarks/camera_render.py [--frames 96]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Callable
from fractions import Fraction

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.backends.base import GenerationRequest
from vidgen.backends.camera import CameraBackend, render_path
from vidgen.config import load_config
from vidgen.measure import horizontal_shift
from vidgen.motion import Motion, PresetLimits, propose_motion, sample_path

FPS = 24
CONFIG = load_config(env={})
LIMITS = PresetLimits(pan_speed=CONFIG["rules.comfort_pan_speed"],
                      zoom_rate=CONFIG["rules.comfort_zoom_rate"],
                      upscale=CONFIG["rules.max_upscale"])


def keyframe(size: int = 2048, seed: int = 0) -> NDArray[np.uint8]:
    """Smooth noise at four scales (roughly 1/f, like a photo) plus hard-edged shapes."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 128.0, np.float32)
    for cells, amplitude in ((8, 50.0), (32, 25.0), (128, 14.0), (size // 2, 8.0)):
        noise = rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
        image += amplitude * cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    shapes = np.zeros_like(image)
    for _ in range(60):
        colour = tuple(float(c) for c in rng.uniform(-90, 90, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(10, 160))
        if rng.random() < 0.5:
            cv2.circle(shapes, (x, y), r, colour, -1, cv2.LINE_AA)
        else:
            cv2.line(shapes, (x, y), (x + r * 3, y + r), colour, 6, cv2.LINE_AA)
    return np.clip(image + np.asarray(shapes), 0, 255).astype(np.uint8)


def render_speed(image: NDArray[np.uint8], frames: int) -> None:
    backend = CameraBackend(CONFIG)
    size = (image.shape[1], image.shape[0])
    print(f"render speed, {size[0]}x{size[1]} keyframe, {frames} frames per shot")
    print(f"{'output':>10} {'motion':>10} {'threads':>8} {'fps':>8}")
    for out in ((1280, 720), (1920, 1080)):
        for kind in ("zoom_in", "pan_right"):
            motion = propose_motion(kind, intensity=0.5, duration_sec=frames / FPS,
                                    easing="ease_in_out", image_size=size, output_size=out,
                                    fps=FPS, limits=LIMITS)
            request = GenerationRequest(
                shot_id=kind, image=image, prompt="", negative_prompt="", width=out[0],
                height=out[1], num_frames=frames, fps=FPS, steps=None, guidance=None, seed=0,
                motion=motion)
            for threads in (1, os.cpu_count() or 1):
                cv2.setNumThreads(threads)
                start = time.perf_counter()
                count = sum(1 for _ in backend.generate(request).frames)
                fps = count / (time.perf_counter() - start)
                print(f"{out[0]}x{out[1]:<5} {kind:>10} {threads:>8} {fps:>8.1f}")
    cv2.setNumThreads(1)


def zoompan(image: NDArray[np.uint8], rects: NDArray[np.float64],
            out: tuple[int, int]) -> list[NDArray[np.uint8]]:
    """The same crop path through FFmpeg's zoompan (PyAV filter graph, in process)."""
    def per_frame(values: NDArray[np.float64]) -> str:
        return "+".join(f"eq(on,{i})*{v:.9f}" for i, v in enumerate(values))

    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(width=image.shape[1], height=image.shape[0],
                         format=av.VideoFormat("rgb24"),
                         time_base=Fraction(1, FPS)),
        graph.add("format", pix_fmts="gbrp"),
        graph.add("zoompan", z=per_frame(image.shape[1] / (rects[:, 2] - rects[:, 0])),
                  x=per_frame(rects[:, 0]), y=per_frame(rects[:, 1]), d=str(len(rects)),
                  s=f"{out[0]}x{out[1]}", fps=str(FPS)),
        graph.add("format", pix_fmts="rgb24"),
        graph.add("buffersink"),
    ]
    for a, b in itertools.pairwise(chain):
        a.link_to(b)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    frames = []
    while True:
        try:
            frames.append(np.asarray(graph.pull().to_ndarray(), dtype=np.uint8))
        except (av.BlockingIOError, av.EOFError):
            return frames


def accuracy(image: NDArray[np.uint8], frames: int) -> None:
    out = (1280, 720)
    strip = np.ascontiguousarray(image[448:448 + 1152])  # 16:9, as zoompan's crop must be
    size = (strip.shape[1], strip.shape[0])
    motion: Motion = propose_motion("pan_right", intensity=0.025, duration_sec=frames / FPS,
                                    easing="linear", image_size=size, output_size=out, fps=FPS,
                                    limits=LIMITS)
    rects = sample_path(motion, size, frames)
    analytic = (rects[:, 0] - rects[0, 0]) * out[0] / (rects[:, 2] - rects[:, 0])
    print(f"\npath accuracy, slow pan of {analytic[-1] / (frames - 1):.4f} output px per frame, "
          f"{size[0]}x{size[1]} -> {out[0]}x{out[1]}, crop {rects[0, 2] - rects[0, 0]:.2f} px "
          f"wide, {frames} frames, one thread")
    print(f"{'renderer':>16} {'fps':>7} {'mean step':>10} {'step std':>9} {'still':>6} "
          f"{'jitter':>8} {'max err':>8}")
    cv2.setNumThreads(1)
    renderers: dict[str, Callable[[], list[NDArray[np.uint8]]]] = {
        "vidgen camera": lambda: list(render_path(strip, rects, out)),
        "ffmpeg zoompan": lambda: zoompan(strip, rects, out),
    }
    for name, render in renderers.items():
        start = time.perf_counter()
        rendered = render()
        fps = len(rendered) / (time.perf_counter() - start)
        assert len(rendered) == frames, (name, len(rendered))
        measured = np.array([horizontal_shift(rendered[0], f, margin=48) for f in rendered])
        error, steps = measured - analytic, np.diff(measured)
        still = int(np.sum(np.abs(steps) < 0.05))
        print(f"{name:>16} {fps:>7.1f} {steps.mean():>10.4f} {steps.std():>9.4f} "
              f"{still:>6} {error.std():>8.4f} {np.abs(error).max():>8.4f}")
    print("(px; still = steps under 0.05 px; jitter = std of the per-frame displacement error)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96, help="frames per shot (default 96)")
    args = parser.parse_args()
    print(f"OpenCV {cv2.__version__}, FFmpeg (PyAV) libavfilter "
          f"{'.'.join(map(str, av.library_versions['libavfilter']))}, {os.cpu_count()} cores")
    image = keyframe()
    render_speed(image, args.frames)
    accuracy(image, args.frames)


if __name__ == "__main__":
    main()
