"""What the ComfyUI backend adds to a shot besides the server's own work.

For each shot the backend frames and uploads the keyframe region, submits,
follows the socket, downloads the output video, decodes it and deletes the
history entry. This script runs shots of the 4-step Wan template at its
native 832x480 with 81 frames against the tests' ComfyUI-protocol server on
loopback (which renders and encodes a real mp4, standing in for the GPU) or
against a real server (``--url``, the ``core_video`` template), and prints per
shot:

- wall: ``backend.generate`` from call to frames in memory;
- server: submission to the end of execution, from the server's timestamps
  (``execution_sec``) plus the queue wait, i.e. what the GPU would be busy with;
- client overhead = wall - server: framing, upload, following, download,
  decode, cleanup.

Usage: python benchmarks/comfyui_client.py [--shots 8] [--url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.comfyui.conftest import model_files
from tests.comfyui.fake_server import FakeComfy, Job

from vidgen.backends.base import GenerationRequest
from vidgen.backends.comfyui.backend import ComfyUIBackend
from vidgen.config import load_config
from vidgen.motion import Motion


def run(url: str, template: str, shots: int, frames: int) -> None:
    config = load_config(env={}, overrides={"comfyui.url": url, "comfyui.poll_sec": 2.0,
                                            "comfyui.vram_sample_sec": 0.5})
    backend = ComfyUIBackend(config)
    backend.load()
    rng = np.random.default_rng(0)
    keyframe = rng.integers(0, 255, (1536, 2048, 3), dtype=np.uint8)
    motion = Motion(motion_type="zoom_in", start=(0.0, 0.0, 1.0, 1.0),
                    end=(0.1, 0.1, 0.9, 0.9), duration_sec=5.0)
    walls, servers = [], []
    try:
        for i in range(shots):
            request = GenerationRequest(
                shot_id=f"bench{i}", image=keyframe, prompt="a harbour", negative_prompt="",
                width=64 if template == "core_video" else 512,
                height=48 if template == "core_video" else 384, num_frames=frames, fps=16,
                steps=None, guidance=None, seed=i, motion=motion, template=template)
            start = time.perf_counter()
            result = backend.generate(request)
            wall = time.perf_counter() - start
            info = result.info
            server = (info["execution_sec"] or 0.0) + (info["queue_wait_sec"] or 0.0)
            walls.append(wall)
            servers.append(server)
            print(f"shot {i}: wall {wall * 1000:7.1f} ms, server {server * 1000:7.1f} ms, "
                  f"overhead {(wall - server) * 1000:6.1f} ms, frames "
                  f"{result.num_frames} of {info['generated_size'][0]}x"
                  f"{info['generated_size'][1]}")
    finally:
        backend.close()
    overheads = [w - s for w, s in zip(walls, servers, strict=True)]
    print(f"\n{template}: median client overhead {statistics.median(overheads) * 1000:.1f} ms "
          f"per shot ({statistics.median(overheads) / statistics.median(walls):.0%} of the "
          f"wall time here; against a 14-s 4-step Wan 480p generation that is "
          f"{statistics.median(overheads) / 14:.2%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--url", help="a real ComfyUI server (uses the core_video template)")
    args = parser.parse_args()
    print(f"cpu count {os.cpu_count()}")
    if args.url:
        run(args.url, "core_video", args.shots, 81)
        return
    with tempfile.TemporaryDirectory() as tmp, \
            FakeComfy(Path(tmp), models=model_files("wan22_i2v_a14b_4step"),
                      previews=False) as server:
        server.jobs.extend(Job(steps=4, step_delay=0.0) for _ in range(args.shots))
        run(server.url, "wan22_i2v_a14b_4step", args.shots, 81)


if __name__ == "__main__":
    main()
