"""Shared fixtures: a studio-like source folder and settings isolated per test."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidgen.config import Config, load_config

STUDIO_YAML = """\
prompt: a lighthouse on a cliff at dusk, cinematic
stage: stage2_upscaled
status: selected
size: !!python/tuple [2048, 2048]
loras:
  character:
    path: /models/loras/char.safetensors
preview: !!python/object:PIL.Image.Image
  mode: RGB
  size: !!python/tuple [64, 64]
image_filename: 20250101_000001_stage2_upscaled.png
"""


def make_image(path: Path, width: int = 640, height: int = 480, seed: int = 0) -> Path:
    """A smooth, photo-like RGB image (gradients plus a little noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=-1) * 200
    pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under ``folder``: to prove nothing was touched."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                     p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def studio(tmp_path: Path) -> Path:
    """A source folder laid out like the studio's ``__selected`` with companions."""
    selected = tmp_path / "src" / "__selected"
    one = "20250101_000001_stage2_upscaled"
    two = "20250101_000002_stage3_enhanced"
    three = "20250101_000003_stage1_generated"
    make_image(selected / f"{one}.png", 1024, 1024, seed=1)
    (selected / f"{one}.yaml").write_text(STUDIO_YAML)
    (selected / f"{one}.caption").write_text("a caption that the yaml prompt beats\n")
    (selected / "20250101_000001.decision").write_text(json.dumps(
        {"group_id": "20250101_000001", "ai_crop_coords": [0.55, 0.5, 0.95, 0.95]}))
    make_image(selected / f"{two}.png", 1024, 1024, seed=2)
    (selected / f"{two}.caption").write_text("a red fox in fresh snow\n")
    make_image(selected / f"{three}.png", 900, 1200, seed=3)
    return selected


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Settings that ignore the developer's environment and write logs under tmp_path."""
    return load_config(env={}, overrides={
        "workspace": str(tmp_path / "workspace"), "output.width": 320, "output.height": 448,
        "batch.workers": 2,
    })
