"""Benchmark the retiming interpolators against FFmpeg's minterpolate, with ground truth.

Two synthetic scenes are rendered at any instant, so every output frame has an
exact ground truth:

* ``camera``: a Ken Burns shot, :class:`vidgen.backends.camera.CropRenderer`
  panning at 15% of the crop width per second (cinema comfort) while zooming in
  1.25x per 3 s, over a large keyframe (multi-scale noise and hard-edged shapes,
  the one ``benchmarks/camera_render.py`` uses);
* ``objects``: the same shot at half the speed with three textured discs moving
  over it at 8 to 22 output px per source frame (occlusions, disocclusions).

The source is ``--seconds`` of the scene at 16 fps. It is retimed to 32 fps
(2x) and 24 fps by:

* ``flow`` (:mod:`vidgen.interpolate.flow`, default preset) on one OpenCV
  thread and on all cores, and ``blend`` (cross-fade), through
  ``Interpolator.retime``; their output frame ``k`` lies at the source position
  :func:`~vidgen.interpolate.base.retime_plan` gives it. That plan spreads the
  ``round(n * fps / 16)`` frames evenly from the first source frame to the
  last, so nearly every output frame is made, even at 2x;
* FFmpeg's ``minterpolate`` (``mi_mode=mci`` with the default ``mc_mode=obmc``,
  ``me_mode=bilat``, ``me=epzs``; and ``mc_mode=aobmc:me_mode=bidir:vsbmc=1``)
  run by the ffmpeg command line on the same frames, read losslessly from a raw
  RGB file, converted to yuv444p for the filter and back, written as raw video
  to NUT. Its output frame ``k`` lies at time ``k / fps`` (checked from the
  decoded timestamps, and frame 0 against source frame 0), so at 2x every other
  frame is a copy. The filter is single-threaded; its time is the process's
  minus that of the same command with ``fps`` in place of ``minterpolate``
  (read, convert, write), so the ratio does not charge it for the I/O.

``made`` counts the output frames a method made (the rest are source frames);
PSNR (RGB, 8 bit, dB) is taken over those, against the scene rendered at the
same instant. ``fps`` counts all output frames over wall time; ``cpu fps`` over
the CPU time of the process (or of ffmpeg), which a busy shared machine
disturbs less; ``x mi`` is the fps over minterpolate's (default mode) on the
same scene and ratio.

Then RIFE (:mod:`vidgen.interpolate.rife`), if it imports: a randomly
initialised 4.25 IFNet retiming a few frames 2x, fp32 on the CPU, and fp32 and
fp16 on CUDA when there is a GPU: speed only, its pictures mean nothing.

Goal: flow >= 3x minterpolate's speed at equal or better PSNR, 720p, one core.
Default run: about 3 minutes on 2 cores.

Usage: python benchmarks/interpolate.py [--seconds 2] [--size 1280x720]
       [--scenes camera,objects] [--ratios 32,24] [--minterpolate minterpolate,...]
       [--rife-frames 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from camera_render import keyframe
from vidgen.backends.camera import CropRenderer
from vidgen.interpolate import create_interpolator, retime_plan

Frame = NDArray[np.uint8]
SRC_FPS = 16
MINTERPOLATE = {
    "minterpolate": "mi_mode=mci",
    "minterp aobmc": "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1",
}


class Scene:
    """A shot that can be rendered at any time ``s`` (seconds)."""

    def __init__(self, name: str, size: tuple[int, int], seconds: float) -> None:
        self.name, self.size = name, size
        width, height = size
        side = int(2.6 * width)
        self.renderer = CropRenderer(keyframe(side), size)
        self.start_width, self.zoom = 1.25 * width, 1.25 ** (1 / 3)  # 1.25x in 3 s
        room = side - self.start_width
        speed = (0.15 if name == "camera" else 0.075) * self.start_width  # px per second
        self.velocity = min(speed, 0.8 * room / max(seconds, 1e-9))
        self.origin = (side - 0.9 * room + self.start_width) / 2, side / 2
        self.discs: list[tuple[Frame, tuple[float, float], float, tuple[float, float]]] = []
        if name == "objects":
            rng = np.random.default_rng(7)
            texture = keyframe(max(width, height), seed=3)[:height, :width]
            for k, (step, angle) in enumerate(((8.0, 0.3), (15.0, 2.5), (22.0, -1.2))):
                centre = (width * (0.25 + 0.25 * k), height * float(rng.uniform(0.35, 0.65)))
                velocity = (step * SRC_FPS * np.cos(angle), step * SRC_FPS * np.sin(angle))
                self.discs.append((np.ascontiguousarray(np.roll(texture, k + 1, axis=2)),
                                   centre, height * (0.12 + 0.04 * k), velocity))

    def render(self, s: float) -> Frame:
        crop_w = self.start_width / self.zoom**s
        crop_h = crop_w * self.size[1] / self.size[0]
        cx, cy = self.origin[0] + self.velocity * s, self.origin[1] - 0.2 * self.velocity * s
        frame = self.renderer.render((cx - crop_w / 2, cy - crop_h / 2,
                                      cx + crop_w / 2, cy + crop_h / 2))
        if not self.discs:
            return frame
        out = frame.astype(np.float32)
        for texture, (x0, y0), radius, (vx, vy) in self.discs:
            dx, dy = vx * s, vy * s
            moved = cv2.warpAffine(texture, np.float32([[1, 0, dx], [0, 1, dy]]), self.size,
                                   flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
            mask = np.zeros(self.size[::-1], np.float32)
            cv2.circle(mask, (round((x0 + dx) * 16), round((y0 + dy) * 16)),
                       round(radius * 16), 1.0, -1, cv2.LINE_AA, shift=4)
            out += mask[..., None] * (moved.astype(np.float32) - out)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean(np.square(a.astype(np.float64) - b)))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Row:
    """One line of the table: output frames, how many were made (not copied), times, PSNRs."""

    method: str
    threads: str
    frames: int
    made: int
    wall: float
    cpu: float
    scores: list[float]

    @property
    def fps(self) -> float:
        return self.frames / self.wall

    def line(self, reference: float | None) -> str:
        quality = (f"{np.mean(self.scores):7.2f} {np.min(self.scores):7.2f}" if self.scores
                   else f"{'-':>7} {'-':>7}")
        ratio = f"{self.fps / reference:6.2f}" if reference else f"{'-':>6}"
        return (f"  {self.method:<14} {self.threads:>7} {self.frames:>6} {self.made:>5} "
                f"{self.fps:7.2f} {self.frames / max(self.cpu, 1e-9):8.2f} {quality} {ratio}")


HEADER = (f"  {'method':<14} {'threads':>7} {'frames':>6} {'made':>5} {'fps':>7} {'cpu fps':>8} "
          f"{'PSNR':>7} {'min':>7} {'x mi':>6}")


def run_ours(name: str, frames: Sequence[Frame], dst_fps: int, truth: Callable[[float], Frame],
             threads: int) -> Row:
    """Retime with a vidgen interpolator on ``threads`` OpenCV threads; in-between PSNRs."""
    interpolator = create_interpolator(name, {})
    plan = retime_plan(len(frames), SRC_FPS, dst_fps)
    cv2.setNumThreads(threads)
    start, cpu = time.perf_counter(), time.process_time()
    out = list(interpolator.retime(frames, SRC_FPS, dst_fps))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(out) == len(plan) and out[0] is frames[0] and out[-1] is frames[-1]
    scores = [psnr(frame, truth((index + t) / SRC_FPS))
              for frame, (index, t) in zip(out, plan, strict=True) if t != 0.0]
    return Row(name, str(threads), len(out), len(scores), wall, cpu, scores)


def ffmpeg_run(ffmpeg: str, source: Path, size: tuple[int, int], graph: str,
               out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ffmpeg command: raw RGB file -> ``graph`` -> raw NUT."""
    command = [ffmpeg, "-v", "error", "-y", "-threads", "1", "-filter_threads", "1",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}",
               "-framerate", str(SRC_FPS), "-i", str(source), "-vf", graph,
               "-fps_mode", "passthrough", "-c:v", "rawvideo", "-pix_fmt", "rgb24",
               "-f", "nut", str(out)]
    start, cpu = time.perf_counter(), child_cpu()
    subprocess.run(command, check=True)
    return time.perf_counter() - start, child_cpu() - cpu


def run_minterpolate(ffmpeg: str, workdir: Path, frames: Sequence[Frame], dst_fps: int,
                     truth: Callable[[float], Frame], label: str) -> tuple[Row, float]:
    """minterpolate by the command line: net times, in-between PSNRs, and frame 0's PSNR."""
    size = (frames[0].shape[1], frames[0].shape[0])
    source, out = workdir / "source.rgb", workdir / "out.nut"
    if not source.exists():
        source.write_bytes(b"".join(np.ascontiguousarray(f).tobytes() for f in frames))
    base_wall, base_cpu = ffmpeg_run(ffmpeg, source, size,
                                     f"format=yuv444p,fps={dst_fps},format=rgb24", out)
    wall, cpu = ffmpeg_run(ffmpeg, source, size, f"format=yuv444p,minterpolate=fps={dst_fps}:"
                                                 f"{MINTERPOLATE[label]},format=rgb24", out)
    scores, count, first, last = [], 0, 0.0, (len(frames) - 1) / SRC_FPS
    with av.open(str(out)) as container:
        for k, decoded in enumerate(container.decode(video=0)):
            when, frame = float(decoded.time or 0.0), decoded.to_ndarray(format="rgb24")
            assert abs(when * dst_fps - k) < 1e-3, f"{label} frame {k} is at {when} s"
            count += 1
            if k == 0:
                first = psnr(frame, frames[0])
                assert first > 40, f"{label}'s frame 0 is not source frame 0 ({first:.1f} dB)"
            position = k * SRC_FPS / dst_fps
            if abs(position - round(position)) > 1e-9 and when <= last:
                scores.append(psnr(frame, truth(when)))
    return Row(label, "1", count, len(scores), wall - base_wall, cpu - base_cpu, scores), first


def rife_speed(size: tuple[int, int], count: int) -> None:
    """RIFE 4.25 with random weights: fp32 on the CPU, and on CUDA when there is one."""
    try:
        import torch

        from vidgen.interpolate.rife import RifeInterpolator, random_ifnet
    except ImportError as exc:
        print(f"\nRIFE skipped: {exc}")
        return
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(count)]
    print(f"\nRIFE 4.25, RANDOM weights (speed only), {count} frames {size[0]}x{size[1]} "
          f"16 -> 32 fps, torch {torch.__version__}")
    devices = [("cpu", "fp32")] + ([("cuda", "fp32"), ("cuda", "fp16")]
                                   if torch.cuda.is_available() else [])
    for device, precision in devices:
        config = {"interpolate.device": device, "interpolate.precision": precision}
        interpolator = RifeInterpolator(config, network=random_ifnet("4.25"))
        list(interpolator.retime(frames[:2], SRC_FPS, 2 * SRC_FPS))  # warm up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = list(interpolator.retime(frames, SRC_FPS, 2 * SRC_FPS))
        wall = time.perf_counter() - start
        threads = torch.get_num_threads() if device == "cpu" else 0
        print(f"  {device} {precision}: {len(out) / wall:.2f} output fps"
              + (f" ({threads} torch threads)" if threads else
                 f" ({torch.cuda.get_device_name()})"))
    if not torch.cuda.is_available():
        print("  (no CUDA device here)")


def machine() -> str:
    model = platform.processor() or "?"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}; {os.cpu_count()} cores, {len(os.sched_getaffinity(0))} usable"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="source length (default 2)")
    parser.add_argument("--size", default="1280x720", help="output size (default 1280x720)")
    parser.add_argument("--scenes", default="camera,objects")
    parser.add_argument("--ratios", default="32,24", help="output rates from 16 fps")
    parser.add_argument("--minterpolate", default=",".join(MINTERPOLATE),
                        help="minterpolate modes to run ('' for none)")
    parser.add_argument("--rife-frames", type=int, default=3,
                        help="source frames RIFE retimes (0: skip RIFE)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        sys.exit("the ffmpeg command line is missing: install it (apt-get install ffmpeg)")
    cli = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True,
                         check=True).stdout.split(" Copyright")[0]
    print(f"machine: {machine()}; {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__},"
          f" PyAV {av.__version__}; CLI: {cli}")
    cores = len(os.sched_getaffinity(0))
    count = round(args.seconds * SRC_FPS) + 1
    for scene_name in args.scenes.split(","):
        scene = Scene(scene_name, (width, height), args.seconds)
        cache: dict[float, Frame] = {}

        def truth(s: float, scene: Scene = scene, cache: dict[float, Frame] = cache) -> Frame:
            key = round(s, 9)
            if key not in cache:
                cache[key] = scene.render(s)
            return cache[key]

        frames = [truth(i / SRC_FPS) for i in range(count)]
        with tempfile.TemporaryDirectory(prefix="vidgen-interp-") as scratch:
            for dst in (int(v) for v in args.ratios.split(",")):
                print(f"\n{scene_name}: {count} frames {width}x{height} at {SRC_FPS} fps -> "
                      f"{dst} fps; made = in-between frames, PSNR (dB) over those")
                print(HEADER)
                firsts = []
                rows = []
                for label in filter(None, args.minterpolate.split(",")):
                    row, first = run_minterpolate(ffmpeg, Path(scratch), frames, dst, truth,
                                                  label)
                    rows.append(row)
                    firsts.append(first)
                rows += [run_ours("flow", frames, dst, truth, 1),
                         run_ours("flow", frames, dst, truth, cores),
                         run_ours("blend", frames, dst, truth, 1)]
                reference = next((r.fps for r in rows if r.method == "minterpolate"), None)
                for row in rows:
                    print(row.line(reference))
                if firsts:
                    print(f"  (minterpolate frame 0 vs source frame 0: {min(firsts):.1f} dB, "
                          f"the yuv444p round trip)")
    if args.rife_frames > 0:
        cv2.setNumThreads(cores)
        rife_speed((width, height), args.rife_frames)
    cv2.setNumThreads(cores)


if __name__ == "__main__":
    main()
