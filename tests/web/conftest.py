"""Fixtures: a served folder with a finished demo batch and a fresh one, and the studio app.

The demo batch is made once per session (``batch create`` from small keyframes, then
``vidgen run`` on the camera backend at 160x96) and copied into each test's folder,
so every test may change it freely.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vidgen.batch import create_batch
from vidgen.config import Config, load_config
from vidgen.web import create_app
from vidgen.worker import run_batch

from ..conftest import make_image

BASE_URL = "http://127.0.0.1"
DEMO_SHOTS = ("shot0", "shot1", "shot2")


def studio_config(workspace: Path, **extra: Any) -> Config:
    """Small, fast output; the audit log under ``workspace``; nothing from the environment."""
    return load_config(env={}, overrides={
        "workspace": str(workspace), "output.width": 160, "output.height": 96,
        "output.fps": 12, "encode.nvenc": "off", "encode.preset": "ultrafast",
        "batch.workers": 2, **extra})


def make_batch(folder: Path, out: Path, config: Config, stems: tuple[str, ...],
               batch_id: str) -> Path:
    """A batch of 640x480 keyframes; the first one carries a decision with a crop hint."""
    for i, stem in enumerate(stems):
        make_image(folder / f"{stem}.png", 640, 480, seed=i)
    (folder / f"{stems[0]}.decision").write_text(
        json.dumps({"ai_crop_coords": [0.5, 0.4, 0.9, 0.9]}))
    report = create_batch([folder], out, config, batch_id=batch_id)
    assert report.manifest is not None and not report.errors, report.findings
    return out


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished batch (every shot done), made once."""
    base = tmp_path_factory.mktemp("demo")
    config = studio_config(base / "workspace")
    batch = make_batch(base / "keyframes", base / "demo", config, DEMO_SHOTS, "demo")
    summary = run_batch(batch, config, workers=1)
    assert summary.counts["done"] == len(DEMO_SHOTS), summary.shots
    return batch


@pytest.fixture(scope="session")
def fresh_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch that was never run (every shot queued), made once."""
    base = tmp_path_factory.mktemp("fresh")
    return make_batch(base / "keyframes", base / "fresh", studio_config(base / "workspace"),
                      ("a0", "a1", "a2", "a3", "a4", "a5"), "fresh")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return studio_config(tmp_path / "workspace")


@pytest.fixture
def root(tmp_path: Path, demo_template: Path, fresh_template: Path) -> Path:
    """The served folder: ``demo`` (finished) and ``fresh`` (queued)."""
    served = tmp_path / "served"
    shutil.copytree(demo_template, served / "demo", symlinks=True)
    shutil.copytree(fresh_template, served / "fresh", symlinks=True)
    return served


@pytest.fixture
def app(root: Path, config: Config) -> FastAPI:
    return create_app(root, config=config, hourly_usd=2.5)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client
