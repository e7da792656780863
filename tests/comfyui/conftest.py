"""Fixtures: a ComfyUI-protocol server on loopback and a client of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vidgen.backends.comfyui.client import ComfyClient
from vidgen.backends.comfyui.workflow import load_workflow

from .fake_server import FakeComfy

TEMPLATE = "wan22_i2v_a14b_4step"


def model_files(*templates: str) -> dict[str, list[str]]:
    """The model lists a server needs for ``templates``, folder -> files."""
    folders: dict[str, list[str]] = {}
    for name in templates:
        for model, filename in load_workflow(name).model_files():
            folders.setdefault(model.folder, []).append(filename)
    return folders


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeComfy]:
    with FakeComfy(tmp_path / "comfy", models=model_files(TEMPLATE)) as server:
        yield server


@pytest.fixture
def client(fake: FakeComfy) -> Iterator[ComfyClient]:
    client = ComfyClient(fake.url, retries=2, backoff_sec=0.01, poll_sec=0.3,
                         vram_sample_sec=0.02)
    yield client
    client.close()


@pytest.fixture
def small_graph(client: ComfyClient) -> dict[str, Any]:
    """The 4-step Wan template, shrunk (64x48, 9 frames), with an uploaded keyframe."""
    import cv2
    import numpy as np

    ok, png = cv2.imencode(".png", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    name = client.upload_image(png.tobytes(), "key.png")
    return load_workflow(TEMPLATE).bind({"image": name, "width": 64, "height": 48, "frames": 9,
                                         "seed": 7, "prompt": "a lighthouse"})
