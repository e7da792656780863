"""Benchmark `batch create` on synthetic 2048x2048 PNG keyframes.

Prints, for batches of N/4, N/2 and N keyframes (each in a fresh process):
shots per second, copy+hash throughput, and peak resident memory, so a
growing batch shows whether memory stays flat. Also measures, in the same
run, raw ``hashlib.sha256`` on an in-memory buffer and vidgen's file hashing
(``vidgen.atomic.sha256_file``) on the same keyframes, with the ratio.

Usage: python benchmarks/batch_create.py [--count 1000] [--size 2048] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_with_text(base: bytes, text: str) -> bytes:
    """``base`` with a tEXt chunk after IHDR: same pixels, different bytes and hash."""
    payload = b"Comment\x00" + text.encode()
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(
        ">I", zlib.crc32(b"tEXt" + payload))
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return base[:ihdr_end] + chunk + base[ihdr_end:]


def make_keyframes(folder: Path, count: int, size: int) -> int:
    """Write ``count`` photo-like PNGs (8 distinct pictures); returns total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    bases = []
    for i in range(8):
        phase = rng.uniform(0, 6.28, 3)
        picture = np.stack([np.sin(6 * x + phase[0]) * np.cos(4 * y + i),
                            np.sin(5 * y + phase[1]), np.cos(7 * (x + y) + phase[2])], -1)
        picture = (picture + 1) * 110 + rng.normal(0, 3, picture.shape)
        path = folder / f"base{i}.png"
        Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(path)
        bases.append(path.read_bytes())
        path.unlink()
    total = 0
    for i in range(count):
        data = _png_with_text(bases[i % 8], f"keyframe {i}")
        (folder / f"20250101_{i:06d}_stage2_upscaled.png").write_bytes(data)
        (folder / f"20250101_{i:06d}_stage2_upscaled.caption").write_text(f"prompt {i}\n")
        total += len(data)
    return total


def raw_hash_rate(megabytes: int = 512) -> float:
    buffer = os.urandom(megabytes << 20)
    start = time.perf_counter()
    hashlib.sha256(buffer).hexdigest()
    return megabytes / (time.perf_counter() - start)


def child(src: Path, out: Path, workspace: Path) -> None:
    """One batch in this process; prints a JSON line of figures."""
    from vidgen.batch import create_batch
    from vidgen.config import load_config

    config = load_config(env={}, overrides={"workspace": str(workspace)})
    start = time.perf_counter()
    report = create_batch([src], out, config, batch_id="bench")
    seconds = time.perf_counter() - start
    assert report.manifest is not None and not report.errors, report.errors[:3]
    total = sum(s.image.bytes for s in report.manifest.keyframes)
    print(json.dumps({
        "shots": len(report.manifest.keyframes), "seconds": seconds,
        "megabytes": total / 2**20,
        "maxrss_mb": _peak_rss_mb(),
    }))


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Linux keeps ru_maxrss across exec (the parent's peak
    would show), so read the high-water mark of this address space instead."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="vidgen-bench-", dir=args.workdir))
    try:
        print(f"writing {args.count} keyframes of {args.size}x{args.size} ...", flush=True)
        total = make_keyframes(work / "all", args.count, args.size)
        print(f"  {total / 2**20:.0f} MB, {total / args.count / 2**20:.2f} MB per keyframe")

        from vidgen.atomic import sha256_file

        raw = raw_hash_rate()
        files = sorted((work / "all").glob("*.png"))[:100]
        start = time.perf_counter()
        hashed = sum(f.stat().st_size for f in files if sha256_file(f))
        ours = hashed / 2**20 / (time.perf_counter() - start)
        print(f"\nhashing: raw hashlib.sha256 {raw:.0f} MB/s; vidgen sha256_file on "
              f"keyframes {ours:.0f} MB/s = {ours / raw:.0%} of raw (goal >= 50%)")

        print(f"\n{'keyframes':>9} {'seconds':>8} {'shots/s':>8} {'copy+hash MB/s':>15} "
              f"{'peak RSS MB':>12}")
        for n in sorted({max(1, args.count // 4), max(1, args.count // 2), args.count}):
            subset = work / f"src{n}"
            subset.mkdir()
            for image in sorted((work / "all").glob("*.png"))[:n]:
                os.link(image, subset / image.name)
                caption = image.with_suffix(".caption")
                os.link(caption, subset / caption.name)
            result = subprocess.run(
                [sys.executable, __file__, "--child", str(subset), str(work / f"out{n}"),
                 str(work / "ws")], check=True, capture_output=True, text=True)
            fig = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{fig['shots']:>9} {fig['seconds']:>8.1f} {fig['shots'] / fig['seconds']:>8.1f}"
                  f" {fig['megabytes'] / fig['seconds']:>15.0f} {fig['maxrss_mb']:>12.0f}",
                  flush=True)
            shutil.rmtree(work / f"out{n}")
        print(f"\ncores: {os.cpu_count()}; shots/s includes a full decode of every keyframe "
              "(corruption check), the copy with hashing, and the audit log")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
