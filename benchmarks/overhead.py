"""Per-shot orchestration overhead of `vidgen run`, and worker idle time between shots.

A backend that hands back pre-rendered frames (no rendering cost) runs a batch
of small shots through the real worker: ledger claims and heartbeats, keyframe
hash check and load, encode, QC, meta and audit writes. Printed per shot:

- wall time of the attempt (claim to finish, from the ledger);
- media work: encode and QC (decode) of the tiny clip, from the stage timings;
- overhead = wall - media work: ledger, keyframe I/O, meta, audit, bookkeeping;
- idle: time between one attempt's end and the next one's start (claim latency).

Goal: overhead <= 100 ms per shot. Usage: python benchmarks/overhead.py [--shots 60]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from vidgen.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    Progress,
    register_backend,
)
from vidgen.batch import create_batch
from vidgen.config import load_config
from vidgen.ledger import Ledger
from vidgen.worker import run_batch


@register_backend
class Prerendered(Backend):
    """Returns the same frames for every shot: the cost of generation is zero."""

    name = "prerendered"
    frames: ClassVar[list[np.ndarray]] = []

    def load(self) -> None:
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)
        Prerendered.frames = [np.roll(base, i, axis=1) for i in range(24)]

    def generate(self, request: GenerationRequest, progress: Progress | None = None
                 ) -> GenerationResult:
        return GenerationResult(self.frames[: request.num_frames], request.num_frames,
                                request.fps, framed=True)


def _stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"mean {statistics.fmean(ms):7.1f}  median {statistics.median(ms):7.1f}  p95 {p95:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidgen-overhead-") as tmp:
        work = Path(tmp)
        rng = np.random.default_rng(1)
        (work / "src").mkdir()
        for i in range(args.shots):
            pixels = rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(work / "src" / f"k{i:04d}.png", compress_level=1)
        config = load_config(env={}, overrides={
            "workspace": str(work / "ws"), "generation.model": "prerendered",
            "output.width": 160, "output.height": 96, "output.fps": 24,
            "motion.duration": 1.0, "rules.min_duration": 1.0, "encode.nvenc": "off",
            "encode.preset": "ultrafast"})
        create_batch([work / "src"], work / "batch", config, batch_id="overhead")
        started = time.perf_counter()
        summary = run_batch(work / "batch", config, workers=1)
        seconds = time.perf_counter() - started
        with Ledger(work / "batch") as ledger:
            attempts = sorted((a for s in ledger.shots() for a in ledger.attempts(s["shot_id"])),
                              key=lambda a: a["started_at"])
        wall = [a["finished_at"] - a["started_at"] for a in attempts]
        media = [sum(a["timings"].get(k, 0.0) for k in ("encode", "qc"))
                 for a in attempts]
        overhead = [w - m for w, m in zip(wall, media, strict=True)]
        idle = [b["started_at"] - a["finished_at"]
                for a, b in itertools.pairwise(attempts)]
        print(f"{summary.counts['done']} shots of 24 frames at 160x96 (1024x1024 keyframes, "
              f"pre-rendered frames) in {seconds:.2f} s = {len(attempts) / seconds:.1f} shots/s")
        print(f"per shot, ms:  wall      {_stats(wall)}")
        print(f"               media     {_stats(media)}   (encode + QC decode)")
        print(f"               overhead  {_stats(overhead)}   (goal <= 100)")
        print(f"idle between shots, ms:  {_stats(idle)}")
        load = [a["timings"].get("load", 0.0) for a in attempts]
        write = [a["timings"].get("write", 0.0) for a in attempts]
        print(f"of the overhead: keyframe hash check + decode {_stats(load)}")
        print(f"                 meta + rename                 {_stats(write)}")


if __name__ == "__main__":
    main()
