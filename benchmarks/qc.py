"""Speed of the QC suite on a 5-second 720p 24 fps clip, decode included.

The clip is a camera-backend render (a zoom over a bundled photograph),
encoded with vidgen's encoder. Printed, on one core and on all cores:

- decode alone, and decode + the shared per-frame derivations (analysis copy,
  luma, luminance), the floor every check stands on;
- the whole suite (every registered check, one decode pass), in fps and as a
  multiple of real time;
- each check alone on top of that floor, in ms per frame;
- the suite's peak traced memory for a 5-s and a 40-s clip of the same
  frames (bounded memory: it must not grow with the clip's length);
- SSIM against scikit-image (Wang settings) on the same analysis-size frames:
  speed ratio and the largest absolute difference.

Goals: the suite >= 60 fps at 720p on one core; SSIM >= 10x scikit-image at
< 1e-3 difference. Usage: python benchmarks/qc.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidgen.backends.camera import render_path
from vidgen.config import load_config
from vidgen.encode import EncodeSettings, decode_frames, encode_video
from vidgen.media import load_image
from vidgen.motion import PresetLimits, propose_motion, sample_path
from vidgen.qc.base import Frame, QCContext, available_checks, run_checks

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(env={})


def make_clip(folder: Path, seconds: float) -> tuple[Path, np.ndarray, object]:
    image = load_image(ROOT / "examples" / "keyframes" / "hubble.jpg", max_pixels=10**8,
                       max_bytes=10**9)
    image = cv2.resize(image, (2048, 1782), interpolation=cv2.INTER_CUBIC)
    size, fps = (image.shape[1], image.shape[0]), 24
    motion = propose_motion("zoom_in", intensity=0.8, duration_sec=seconds, easing="ease_in_out",
                            image_size=size, output_size=(1280, 720), fps=fps,
                            limits=PresetLimits(1 / 7, 0.15, 1.0))
    rects = sample_path(motion, size, round(seconds * fps))
    path = folder / "clip.mp4"
    encode_video(render_path(image, rects, (1280, 720)), path, width=1280, height=720, fps=fps,
                 settings=EncodeSettings("h264", 18, "veryfast", "off"))
    return path, image, motion


def timed(function: object, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def suite(path: Path, context: QCContext, only: list[str] | None = None) -> None:
    run_checks(decode_frames(path), CONFIG, context, only=only)


def derivations(path: Path, context: QCContext) -> None:
    for index, rgb in enumerate(decode_frames(path)):
        frame = Frame(rgb, index, context)
        frame.gray, frame.luminance  # noqa: B018 - computing them is the point


def memory_growth(path: Path, context: QCContext) -> None:
    """Peak traced memory of the whole suite: the clip, then the clip 8 times over.

    The decoded frames are allocated before tracing starts, so the figure is what
    the checks themselves hold (per-frame scalars, buffers), not the video.
    """
    import tracemalloc

    frames = list(decode_frames(path))
    peaks = []
    for repeat in (1, 8):
        clip = (frame for _ in range(repeat) for frame in frames)
        tracemalloc.start()
        run_checks(clip, CONFIG, context)
        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    print(f"suite memory peak: {peaks[0]:.1f} MB for {len(frames)} frames, {peaks[1]:.1f} MB "
          f"for {8 * len(frames)} frames (bounded: it must not grow with the clip)")


def ssim_comparison(path: Path, context: QCContext) -> None:
    full = QCContext(fps=24, width=1280, height=720, analysis_height=720)
    for name, ctx in (("720p luma (as usually called)", full),
                      ("the 360-line analysis copy", context)):
        _compare_ssim(path, name, ctx)


def _compare_ssim(path: Path, name: str, context: QCContext) -> None:
    from skimage.metrics import structural_similarity

    from vidgen.qc.ssim import SSIM

    luma = [Frame(rgb, i, context).gray for i, rgb in zip(range(30), decode_frames(path),
                                                          strict=False)]
    as_bytes = [np.rint(g).astype(np.uint8) for g in luma]  # what callers hand skimage
    pairs = list(itertools.pairwise(range(len(luma))))

    h, w = luma[0].shape
    engine = SSIM(w, h)

    def ours() -> list[float]:
        """As the check runs: each frame's window statistics once, reused by its two pairs."""
        moments = [engine.moments(frame) for frame in luma]
        return [engine.compare(luma[a], moments[a], luma[b], moments[b]) for a, b in pairs]

    def reference() -> list[float]:
        return [structural_similarity(as_bytes[a], as_bytes[b], gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False, data_range=255)
                for a, b in pairs]

    exact = [structural_similarity(luma[a].astype(np.float64), luma[b].astype(np.float64),
                                   gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=255)
             for a, b in pairs]
    diff = max(abs(x - y) for x, y in zip(ours(), exact, strict=True))
    ours_t, ref_t = timed(ours), timed(reference, repeats=1)
    print(f"SSIM on {name}: vidgen {len(pairs) / ours_t:.0f} pairs/s, scikit-image "
          f"{len(pairs) / ref_t:.0f} pairs/s = {ref_t / ours_t:.1f}x (goal >= 10x); "
          f"max |difference| on the same input {diff:.1e} (goal < 1e-3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidgen-qc-bench-") as tmp:
        path, image, motion = make_clip(Path(tmp), args.seconds)
        frames = sum(1 for _ in decode_frames(path))
        context = QCContext(fps=24, width=1280, height=720, keyframe=image,
                            motion=motion)  # type: ignore[arg-type]
        print(f"clip: {frames} frames 1280x720 at 24 fps; analysis at "
              f"{context.analysis_size[0]}x{context.analysis_size[1]}; checks: "
              f"{', '.join(available_checks())}")
        all_cpus = os.sched_getaffinity(0)
        for threads in (1, len(all_cpus)):
            # One core means one core for everything, the decoder's threads included.
            os.sched_setaffinity(0, set(sorted(all_cpus)[:threads]))
            cv2.setNumThreads(threads)
            decode = timed(lambda: sum(1 for _ in decode_frames(path)))
            floor = timed(lambda: derivations(path, context))
            frame_only = timed(lambda: suite(path, context, []))
            whole = timed(lambda: suite(path, context))
            print(f"\n{threads} core(s): decode {frames / decode:.0f} fps; decode + shared "
                  f"derivations {frames / floor:.0f} fps; whole suite {frames / whole:.0f} fps "
                  f"= {frames / whole / 24:.1f}x real time (goal >= 60 fps on one core)")
            print("  each check alone, ms/frame, including the shared derivations it triggers:")
            for name in available_checks():
                alone = timed(lambda name=name: suite(path, context, [name]), repeats=1)
                print(f"  {name:24} {(alone - frame_only) / frames * 1000:6.2f}")
        os.sched_setaffinity(0, all_cpus)
        cv2.setNumThreads(len(all_cpus))
        print()
        memory_growth(path, context)
        ssim_comparison(path, context)


if __name__ == "__main__":
    main()
