"""Helpers of the shootout tests: a small shootout file, and the report in headless Chromium."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from ..conftest import make_image

#: The system Chromium (CI installs it); Playwright's own browser download is not used.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

CAMERA = """
[[contenders]]
name = "{name}"
label = "{label}"
backend = "camera"
settings = {settings}
"""


def camera(name: str, label: str = "", settings: str = "{}") -> str:
    """A camera contender's TOML table."""
    return CAMERA.format(name=name, label=label or name, settings=settings)


def write_shootout(folder: Path, contenders: str, *, seeds: str = "[1]", extra: str = "",
                   settings: str = "") -> Path:
    """A shootout file with one keyframe, 1 s at 64x96 and 12 fps: seconds per run."""
    make_image(folder / "keys" / "harbour.png", 320, 240, seed=3)
    (folder / "keys" / "harbour.caption").write_text("the keyframe's own caption\n")
    path = folder / "shootout.toml"
    path.write_text(textwrap.dedent(f"""\
        schema = "vidgen.shootout/1"
        title = "Test shootout"

        [inputs]
        keyframes = ["keys/harbour.png"]
        prompt = "a harbour at dusk"
        seeds = {seeds}
        duration_sec = 1.0
        width = 64
        height = 96
        fps = 12

        [settings]
        "rules.min_duration" = 1.0
        "motion.preset" = "pan_right"
        "encode.nvenc" = "off"
        "encode.preset" = "ultrafast"
        {settings}

        [gpu]
        name = "CPU"
        reference = "RTX 4090"
        speed_factor = 1.0
        hourly_usd = 2.0
        extra_hours = 0.5
        """) + extra + contenders)
    return path


def open_in_chromium(html: Path) -> dict[str, object]:
    """Load ``html`` in headless Chromium; its errors, video elements and visible text."""
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (CI installs the distribution's package)")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.resolve().as_uri())
            page.wait_for_function("Array.from(document.querySelectorAll('video'))"
                                   ".every(v => v.readyState >= 1 || v.error)", timeout=20000)
            page.click("button[data-row]")  # "play together" runs its script
            videos = page.evaluate(
                "Array.from(document.querySelectorAll('video')).map(v => ({width: v.videoWidth,"
                " error: v.error && v.error.code, duration: v.duration}))")
            text = page.inner_text("body")
        finally:
            context.close()
    return {"errors": errors, "videos": videos, "text": text}
