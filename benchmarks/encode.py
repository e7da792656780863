"""Benchmark vidgen's PyAV encoder against the ffmpeg command line on identical frames.

Both sides get the same N synthetic RGB frames (a textured gradient panning
by sub-pixel steps, with grain), already in memory, and the same settings:
libx264, CRF 20, the given presets, yuv420p, BT.709 conversion and tags, the
same thread count for the encoder and the colour conversion, +faststart.
PyAV is timed around :func:`vidgen.encode.encode_video`; the CLI around the
whole process, fed raw RGB through a pipe. Both include the RGB->YUV
conversion. The goal is PyAV fps >= 0.9x the CLI's.

Usage: python benchmarks/encode.py [--frames 120] [--size 1280x720] [--fps 24]
       [--presets medium,veryfast] [--threads N] [--repeat 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from vidgen.encode import EncodeSettings, encode_video, probe_encoder, probe_video


def make_frames(count: int, width: int, height: int) -> list[NDArray[np.uint8]]:
    """A textured picture panning 1.37 px per frame (sub-pixel), with fresh grain per frame."""
    rng = np.random.default_rng(0)
    span = width + int(1.37 * count) + 2
    y, x = np.mgrid[0:height, 0:span].astype(np.float32)
    canvas = np.stack([
        90 + 70 * np.sin(x / 97) * np.cos(y / 61) + 40 * y / height,
        110 + 60 * np.sin((x + y) / 143) + 20 * np.sin(x / 7.3) * np.sin(y / 5.1),
        70 + 50 * np.cos(x / 211) + 60 * (1 - y / height),
    ], axis=-1) + rng.normal(0, 10, (height, span, 3)).astype(np.float32)
    frames = []
    for i in range(count):
        left, part = divmod(1.37 * i, 1.0)
        k = int(left)
        view = (1 - part) * canvas[:, k:k + width] + part * canvas[:, k + 1:k + 1 + width]
        view += rng.normal(0, 2.5, view.shape).astype(np.float32)
        frames.append(np.clip(view, 0, 255).astype(np.uint8))
    return frames


def x264_sei(path: Path) -> tuple[str, dict[str, str]]:
    """The x264 version and options the encoder wrote into the stream's SEI."""
    data = path.read_bytes()[:1 << 20]
    version = re.search(rb"x264 - core \d+(?: r\d+ [0-9a-f]+)?", data)
    options = re.search(rb"options: ([^\x00]*)", data)
    pairs = options.group(1).decode().split() if options else []
    return (version.group().decode() if version else "?",
            dict(pair.split("=", 1) for pair in pairs if "=" in pair))


def run_pyav(frames: list[NDArray[np.uint8]], out: Path, fps: int, preset: str,
             threads: int) -> float:
    settings = EncodeSettings(codec="h264", crf=20, preset=preset, nvenc="off", threads=threads)
    height, width = frames[0].shape[:2]
    started = time.perf_counter()
    encode_video(iter(frames), out, width=width, height=height, fps=fps, settings=settings)
    return time.perf_counter() - started


def run_cli(ffmpeg: str, frames: list[NDArray[np.uint8]], out: Path, fps: int, preset: str,
            threads: int) -> float:
    height, width = frames[0].shape[:2]
    command = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "-", "-filter_threads", str(threads),
        "-vf", f"scale=flags=bilinear:out_color_matrix=bt709:out_range=tv:threads={threads},"
               "format=yuv420p",
        "-c:v", "libx264", "-crf", "20", "-preset", preset, "-threads", str(threads),
        "-pix_fmt", "yuv420p", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-colorspace", "bt709", "-color_range", "tv", "-movflags", "+faststart", str(out),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    for frame in frames:
        process.stdin.write(frame.data)
    process.stdin.close()
    stderr = process.stderr.read() if process.stderr else b""
    if process.wait():
        sys.exit(f"ffmpeg failed: {stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--presets", default="medium,veryfast")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=2, help="runs per side; the best counts")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    ffmpeg = shutil.which("ffmpeg")
    cli_version = "missing"
    if ffmpeg:
        cli_version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True,
                                     check=True).stdout.split(" Copyright")[0]
    print(f"machine: {cpu_model()}; {os.cpu_count()} cores, "
          f"{len(os.sched_getaffinity(0))} usable; {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, PyAV {av.__version__} "
          f"(FFmpeg {av.ffmpeg_version_info}); CLI: {cli_version}")
    print("NVENC (PyAV probe): " + ", ".join(
        f"{name} {'works' if probe_encoder(name) else 'unavailable'}"
        for name in ("h264_nvenc", "hevc_nvenc")))
    if not ffmpeg:
        sys.exit("the ffmpeg command line is missing: install it (apt-get install ffmpeg)")

    frames = make_frames(args.frames, width, height)
    print(f"input: {args.frames} frames {width}x{height} RGB at {args.fps} fps, "
          f"libx264 crf 20, {args.threads} threads each side, best of {args.repeat}")
    scratch = Path(tempfile.mkdtemp(prefix="vidgen-bench-", dir=args.workdir))
    try:
        for preset in args.presets.split(","):
            pyav_out, cli_out = scratch / f"pyav-{preset}.mp4", scratch / f"cli-{preset}.mp4"
            pyav_times, cli_times = [], []
            for _ in range(args.repeat):
                pyav_times.append(run_pyav(frames, pyav_out, args.fps, preset, args.threads))
                cli_times.append(run_cli(ffmpeg, frames, cli_out, args.fps, preset,
                                         args.threads))
            pyav_fps, cli_fps = args.frames / min(pyav_times), args.frames / min(cli_times)
            for side, out, fps in (("PyAV", pyav_out, pyav_fps), ("CLI ", cli_out, cli_fps)):
                probe = probe_video(out)
                print(f"  {preset:>9} {side}: {fps:6.1f} fps  {out.stat().st_size / 1e6:6.2f} MB"
                      f"  frames={probe.frames} {probe.colorspace}/{probe.color_range}"
                      f" faststart={probe.faststart}  [{x264_sei(out)[0]}]")
            ours, theirs = x264_sei(pyav_out)[1], x264_sei(cli_out)[1]
            differ = {k: (ours.get(k), theirs.get(k)) for k in sorted(ours.keys() | theirs.keys())
                      if ours.get(k) != theirs.get(k)}
            print(f"  {preset:>9} x264 options: {differ or 'identical'}")
            verdict = "ok" if pyav_fps / cli_fps >= 0.9 else "BELOW GOAL"
            print(f"  {preset:>9} ratio PyAV/CLI: {pyav_fps / cli_fps:.2f} "
                  f"(goal >= 0.90: {verdict})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
