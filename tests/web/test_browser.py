"""The studio's pages in a real browser: the motion editor, review and the dashboard.

The app runs with uvicorn on a free loopback port in a thread; Playwright drives the
system's Chromium (``VIDGEN_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on
the PATH; Playwright's own browser download is never used). Every test fails on a
console error or an uncaught page error. Screenshots (1280x800) of every page go to
a temporary folder (``VIDGEN_SCREENSHOTS`` names another); with
``VIDGEN_UPDATE_SCREENSHOTS=1`` the last test also renders the documentation's
screenshots, ``docs/images/studio-*.png``, from the bundled example keyframes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need the playwright package")
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from vidgen.config import Config  # noqa: E402
from vidgen.ledger import Ledger  # noqa: E402
from vidgen.manifest import load_manifest  # noqa: E402
from vidgen.web import create_app  # noqa: E402

CHROMIUM = os.environ.get("VIDGEN_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium to drive: install it (the Debian package `chromium`) or point "
                "VIDGEN_CHROMIUM at one", allow_module_level=True)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
REPO = Path(__file__).resolve().parents[2]
Page = Any  # playwright.sync_api.Page


# --- the server and the browser ---------------------------------------------------------------


class Served:
    """The app on a free loopback port, in a thread, until ``close``."""

    def __init__(self, app: FastAPI) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the studio did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def served(app: FastAPI) -> Iterator[Served]:
    server = Served(app)
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="vidgen-browser-") as profile, \
            playwright_sync.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        yield context
        context.close()


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("VIDGEN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screens")


class Watched:
    """A page whose console errors and uncaught errors are collected.

    ``allow(pattern)`` lets a console error through that the test provokes on purpose
    (Chromium logs every 4xx answer of ``fetch`` as one).
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console error: {message.text}")

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    watch = Watched(page)
    yield watch
    page.close()
    assert watch.errors == [], watch.errors


def wait_checked(page: Page) -> None:
    """Until the motion editor's rule check (and any proposal or load) has answered."""
    page.wait_for_function("() => window.vgMotion && !window.vgMotion.pending()")


def motion_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("() => window.vgMotion.state.motion")
    return state


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)


def aspect(rect: list[float], size: tuple[int, int]) -> float:
    return (rect[2] - rect[0]) * size[0] / ((rect[3] - rect[1]) * size[1])


# --- the motion editor ------------------------------------------------------------------------


def test_motion_editor_drag_resize_rules_and_save(served: Served, watched: Watched,
                                                  root: Path, screens: Path) -> None:
    page = watched.page
    batch = root / "demo"
    page.goto(f"{served.url}/b/demo/motion/shot0")
    wait_checked(page)
    shot = load_manifest(batch).shot("shot0")
    size = (shot.image.width, shot.image.height)
    out_aspect = shot.output.width / shot.output.height
    assert page.locator("#shot-pos").inner_text() == "1 / 3"
    assert page.locator(".hint-rect").count() == 1  # the decision's crop hint, dashed
    assert page.locator(".finding.error").count() == 0
    before = motion_state(page)

    # Move the start rectangle: grab it beside the end rectangle, drag it up and left.
    start = box(page, "rect.rect.start")
    grab = (start["x"] + 6, start["y"] + start["height"] - 30)
    drag(page, grab, (grab[0] - 40, grab[1] - 40))
    wait_checked(page)
    moved = motion_state(page)
    assert moved["start"] != before["start"]
    assert moved["motion_type"] == "custom"  # drawn by hand
    assert moved["start"][0] >= 0 and moved["start"][1] >= 0  # clamped to the image
    assert abs(aspect(moved["start"], size) / out_aspect - 1) < 1e-3
    assert page.locator("#save-text").inner_text() == "Unsaved changes"

    # Resize the end rectangle from its top-left corner: the aspect stays locked.
    handle = box(page, 'g.is-end rect.handle[data-corner="nw"]')
    corner = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    drag(page, corner, (corner[0] - 30, corner[1] - 5))
    wait_checked(page)
    grown = motion_state(page)
    assert grown["end"][0] < moved["end"][0] and grown["end"][1] < moved["end"][1]
    assert grown["end"][2:] == moved["end"][2:]  # the opposite corner stays put
    assert abs(aspect(grown["end"], size) / out_aspect - 1) < 1e-3
    assert page.locator(".finding.error").count() == 0

    # Shrink it far: too much upscaling, the end rectangle turns red...
    end = box(page, "rect.rect.end")
    corner = (end["x"], end["y"])
    drag(page, corner, (end["x"] + end["width"] - 30, end["y"] + end["height"] - 20))
    wait_checked(page)
    upscale = page.locator('.finding.error[data-rule="upscale"]')
    assert upscale.count() == 1
    assert "limit" in upscale.inner_text()
    assert page.locator("rect.rect.end.bad").count() == 1
    page.screenshot(path=screens / "motion-violation.png")

    # ...and saving it is refused, nothing written.
    motion_file = batch / shot.motion_path
    on_disk = motion_file.read_text()
    watched.allow(r"status of 422")
    page.locator("#save").click()
    page.locator(".toast-error", has_text="Not saved").wait_for()
    assert motion_file.read_text() == on_disk

    # Drag the corner back out: the violation goes away.
    small = box(page, "rect.rect.end")
    drag(page, (small["x"], small["y"]), corner)
    wait_checked(page)
    assert page.locator(".finding.error").count() == 0
    assert page.locator("rect.rect.end.bad").count() == 0
    edited = motion_state(page)

    # The preview plays the server's path; Space pauses it.
    frames = page.evaluate("() => window.vgMotion.state.path.length")
    assert frames == round(edited["duration_sec"] * shot.output.fps)
    page.locator("#preview").scroll_into_view_if_needed()
    page.screenshot(path=screens / "motion.png")

    # Enter saves and moves on to the next shot.
    page.keyboard.press("Enter")
    page.locator(".toast-ok", has_text="Saved").wait_for()
    page.locator("#shot-title", has_text="shot1").wait_for()
    assert page.url.endswith("/b/demo/motion/shot1")
    saved = json.loads(motion_file.read_text())
    assert saved["start"] == pytest.approx(edited["start"], abs=1e-9)
    assert saved["end"] == pytest.approx(edited["end"], abs=1e-9)
    assert saved["motion_type"] == "custom"
    taken = load_manifest(batch).shot("shot0").motion
    assert list(taken.start) == pytest.approx(edited["start"], abs=1e-9)
    assert list(taken.end) == pytest.approx(edited["end"], abs=1e-9)


def test_motion_editor_keyboard(served: Served, watched: Watched, root: Path) -> None:
    page = watched.page
    page.goto(f"{served.url}/b/demo/motion/shot1")
    wait_checked(page)

    page.keyboard.press("3")  # the third preset: pan left
    wait_checked(page)
    panned = motion_state(page)
    assert panned["motion_type"] == "pan_left"
    assert page.locator('button[data-preset="pan_left"][aria-pressed="true"]').count() == 1
    assert page.locator(".finding.error").count() == 0

    page.keyboard.press("s")  # swap start and end
    wait_checked(page)
    swapped = motion_state(page)
    assert (swapped["start"], swapped["end"]) == (panned["end"], panned["start"])
    assert swapped["motion_type"] == "pan_right"

    playing = page.evaluate("() => window.vgMotion.state.playing")
    page.keyboard.press(" ")
    assert page.evaluate("() => window.vgMotion.state.playing") is (not playing)

    # Unsaved changes: the first arrow only warns, the second discards and moves on.
    page.keyboard.press("ArrowRight")
    assert page.locator("#guard").is_visible()
    assert page.locator("#shot-title").inner_text() == "shot1"
    page.keyboard.press("ArrowRight")
    page.locator("#shot-title", has_text="shot2").wait_for()
    wait_checked(page)
    page.keyboard.press("b")  # back, nothing unsaved: at once
    page.locator("#shot-title", has_text="shot1").wait_for()
    wait_checked(page)
    assert json.loads((root / "demo/shots/shot1.motion.json").read_text())["motion_type"] != \
        "pan_right"  # never saved

    page.keyboard.press("7")  # static
    wait_checked(page)
    page.keyboard.press("Escape")
    assert page.locator("#guard").is_visible()
    with page.expect_navigation():
        page.keyboard.press("Escape")
    assert page.url == f"{served.url}/"


# --- review -----------------------------------------------------------------------------------


def flag(batch: Path, shot_id: str, frames: list[int]) -> None:
    """Make a finished shot look flagged by QC (ledger and provenance), for the page."""
    meta_path = batch / "results" / f"{shot_id}.video_meta.json"
    meta = json.loads(meta_path.read_text())
    check = meta["qc"]["checks"][0]
    check.update(verdict="fail", frames=frames, reasons=[f"a flash at frames {frames}"])
    meta["qc"]["verdict"] = meta["verdict"] = "fail"
    meta_path.write_text(json.dumps(meta))
    reasons = json.dumps([f"{check['name']}: a flash at frames {frames}"])
    with sqlite3.connect(batch / ".vidgen" / "ledger.sqlite") as db:
        db.execute("UPDATE shots SET state = 'flagged', verdict = 'fail', reasons = ?"
                   " WHERE shot_id = ?", (reasons, shot_id))


def test_review_accept_reject_and_flagged_frames(served: Served, watched: Watched, root: Path,
                                                 screens: Path) -> None:
    page = watched.page
    batch = root / "demo"
    flag(batch, "shot2", [5, 6, 7, 20])
    page.goto(f"{served.url}/b/demo/review")
    cards = page.locator("article.card")
    cards.first.wait_for()
    assert cards.count() == 3
    assert page.locator("#h-flagged").inner_text() == "33%"

    # shot0: a note and the Accept button
    card0 = page.locator('article.card[data-shot="shot0"]')
    card0.locator("input.note").fill("keeper")
    card0.locator('button[data-decision="accept"]').click()
    card0.locator('[data-role="state"]', has_text="accepted").wait_for()

    # shot1: selected with the arrow keys, rejected with R
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("ArrowRight")
    assert page.locator("article.card.selected").get_attribute("data-shot") == "shot1"
    page.keyboard.press("r")
    page.locator('article.card[data-shot="shot1"] [data-role="state"]',
                 has_text="rejected").wait_for()
    page.locator("#h-accept", has_text="50%").wait_for()

    with Ledger(batch) as ledger:
        assert (ledger.shot("shot0")["state"], ledger.shot("shot0")["note"]) == ("accepted",
                                                                                "keeper")
        assert ledger.shot("shot1")["state"] == "rejected"
    review0 = json.loads((batch / "results/shot0.video_meta.json").read_text())["review"]
    review1 = json.loads((batch / "results/shot1.video_meta.json").read_text())["review"]
    assert (review0["state"], review0["note"]) == ("accepted", "keeper")
    assert review1["state"] == "rejected"

    # the flagged shot: its frames are links that seek its video
    card2 = page.locator('article.card[data-shot="shot2"]')
    assert "QC fail" in card2.inner_text()
    link = card2.locator('.frames a[data-frame="5"]')
    assert link.inner_text() == "5\u20137"  # an en dash
    link.click()
    fps = load_manifest(batch).shot("shot2").output.fps
    page.wait_for_function(
        "t => { const v = document.querySelector('article[data-shot=shot2] video');"
        " return v && v.paused && Math.abs(v.currentTime - t) < 0.02; }", arg=5.5 / fps)
    page.screenshot(path=screens / "review.png")

    # G: made again with a new seed
    seed = load_manifest(batch).shot("shot2").generation_params.seed
    page.keyboard.press("g")
    page.locator('article.card[data-shot="shot2"] [data-role="state"]',
                 has_text="queued").wait_for()
    with Ledger(batch) as ledger:
        row = ledger.shot("shot2")
    assert row["state"] == "queued" and row["seed"] != seed
    assert f"seed {row['seed']}" in card2.inner_text()
    flag(batch, "shot2", [5, 6, 7, 20])  # flagged again, for the filters below
    page.evaluate("() => window.vgReview.refresh()")
    card2.locator('[data-role="state"]', has_text="flagged").wait_for()

    # filters: by state and by QC verdict
    page.locator('button.chip[data-filter="accepted"]').click()
    assert page.locator("article.card:visible").count() == 1
    page.locator('button.chip[data-filter="all"]').click()
    page.locator("#verdict-filter").select_option("fail")
    assert [c.get_attribute("data-shot") for c in page.locator("article.card:visible").all()] \
        == ["shot2"]


# --- the dashboard and the index --------------------------------------------------------------


def test_dashboard_starts_the_worker_and_follows_the_batch(served: Served, watched: Watched,
                                                           screens: Path) -> None:
    page = watched.page
    page.goto(f"{served.url}/b/fresh/dashboard")
    queued = page.locator('#legend [data-state="queued"] b')
    queued.filter(has_text="6").wait_for()
    assert page.locator("#worker-text").inner_text() == "stopped"
    assert page.locator("#k-progress").inner_text() == "0 / 6"

    page.locator("#start").click()
    page.locator(".toast-ok", has_text="Worker started").wait_for()
    page.locator('#worker-state[data-running="true"]').wait_for()
    assert page.locator("#stop").is_enabled()
    # the 2-second poll follows the worker until the queue is empty
    page.wait_for_function(
        "() => document.querySelector('#legend [data-state=done] b').textContent !== '0'",
        timeout=30_000)
    page.screenshot(path=screens / "dashboard-running.png")
    page.locator("#k-progress", has_text="6 / 6").wait_for(timeout=45_000)
    page.locator('#worker-state[data-running="false"]').wait_for(timeout=15_000)
    assert page.locator("#stages .bar-row").count() >= 4  # stage means of finished shots
    assert page.locator("#k-eta").inner_text() == "done"
    page.screenshot(path=screens / "dashboard.png")


def test_index_lists_the_batches(served: Served, watched: Watched, screens: Path) -> None:
    page = watched.page
    page.goto(f"{served.url}/")
    rows = page.locator("table.batches tbody tr")
    assert sorted(r.get_attribute("data-key") for r in rows.all()) == ["demo", "fresh"]
    assert "6 queued" in page.locator('tr[data-key="fresh"]').inner_text()
    page.screenshot(path=screens / "index.png")
    page.locator('tr[data-key="demo"] a', has_text="Dashboard").click()
    page.locator("#k-progress", has_text="3 / 3").wait_for()


def test_pages_work_with_a_token(root: Path, config: Config, watched: Watched) -> None:
    server = Served(create_app(root, config=config, token="s3cret-token"))
    try:
        page = watched.page
        watched.allow(r"status of 401")
        page.goto(f"{server.url}/b/demo/review")
        assert "token" in page.locator("body").inner_text()  # refused without it
        page.goto(f"{server.url}/b/demo/review?token=s3cret-token")
        page.locator("article.card video").first.wait_for()
        assert page.url == f"{server.url}/b/demo/review"  # the token left the address bar
        page.wait_for_function(  # the video comes with the cookie the app set
            "() => document.querySelector('article.card video').readyState >= 1")
        page.goto(f"{server.url}/b/demo/motion/shot0")  # the cookie alone opens the page
        wait_checked(page)
        assert page.locator(".finding.error").count() == 0
    finally:
        server.close()


# --- the documentation's screenshots ----------------------------------------------------------

EXAMPLES = REPO / "examples" / "keyframes"
DOCS_IMAGES = REPO / "docs" / "images"
#: Each example keyframe with the preset its motion starts from.
DOCS_SHOTS = {"astronaut": "zoom_in", "chelsea": "zoom_in", "coffee": "pan_right",
              "hubble": "zoom_out", "rocket": "pan_up"}


def _docs_keyframes(folder: Path, config: Config, copies: int = 1) -> Path:
    """The example keyframes (and their companions) with a motion file each."""
    from vidgen.formats import dump_document
    from vidgen.media import probe_image
    from vidgen.motion import propose_motion
    from vidgen.rules import RuleLimits

    folder.mkdir(parents=True)
    limits = RuleLimits.from_config(config).preset_limits()
    presets = list(DOCS_SHOTS.items())
    for copy in range(copies):
        for stem, preset in presets:
            image = next(p for p in EXAMPLES.glob(f"{stem}.*") if p.suffix in (".png", ".jpg"))
            name = stem if copies == 1 else f"{stem}_{copy + 1}"
            shutil.copy(image, folder / f"{name}{image.suffix}")
            for companion in ("caption", "yaml", "decision"):
                if (EXAMPLES / f"{stem}.{companion}").exists():
                    shutil.copy(EXAMPLES / f"{stem}.{companion}", folder / f"{name}.{companion}")
            info = probe_image(image, max_pixels=config["image.max_pixels"],
                               max_bytes=config["image.max_bytes"])
            kind = preset if copy == 0 else presets[(presets.index((stem, preset)) + copy)
                                                     % len(presets)][1]
            motion = propose_motion(
                kind, intensity=0.8, duration_sec=config["motion.duration"],
                easing="ease_in_out", image_size=(info.width, info.height),
                output_size=(config["output.width"], config["output.height"]),
                fps=config["output.fps"], limits=limits)
            (folder / f"{name}.motion.json").write_text(json.dumps(dump_document(motion)))
    return folder


def _small_png(shot: Path, target: Path, *, dither: bool = True, budget: int = 280_000) -> None:
    """A screenshot as a 256-colour PNG: the committed images stay small. The octree
    palette keeps the interface's few saturated colours, which a median cut gives away
    to the photographs; dithering helps photographs (when it fits the ``budget`` in
    bytes) and only adds noise to flat panels."""
    from PIL import Image

    with Image.open(shot) as image:
        rgb = image.convert("RGB")
    palette = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    for method in (Image.Dither.FLOYDSTEINBERG, Image.Dither.NONE)[0 if dither else 1:]:
        rgb.quantize(palette=palette, dither=method).save(target, optimize=True)
        if target.stat().st_size <= budget:
            return


def render_docs_screenshots(base: Path, browser: Any, monkeypatch: pytest.MonkeyPatch,
                            out: Path = DOCS_IMAGES) -> None:
    """Two batches of the example keyframes, one reviewed and one running, and the three
    pages as the documentation shows them."""
    import dataclasses

    import numpy as np

    from vidgen.backends.camera import CameraBackend
    from vidgen.batch import create_batch
    from vidgen.worker import run_batch

    from .conftest import studio_config

    served = base / "served"
    config = studio_config(base / "workspace", **{
        "output.width": 384, "output.height": 216, "output.fps": 24, "encode.preset": "veryfast"})

    # "spring": finished; its coffee shot has two white frames, so QC flags it for real.
    original = CameraBackend.generate

    def flashy(self: CameraBackend, request: Any, progress: Any = None) -> Any:
        result = original(self, request, progress)
        if request.shot_id != "coffee":
            return result
        frames = list(result.frames)
        for index in (40, 41):
            frames[index] = np.full_like(frames[index], 255)
        return dataclasses.replace(result, frames=frames)

    spring = served / "spring"
    report = create_batch([_docs_keyframes(base / "spring-src", config)], spring, config,
                          batch_id="spring_campaign")
    assert report.manifest is not None and not report.errors, report.findings
    with monkeypatch.context() as patch:
        patch.setattr(CameraBackend, "generate", flashy)
        run_batch(spring, config, workers=1)
    with Ledger(spring) as ledger:
        assert ledger.shot("coffee")["state"] == "flagged"

    # "summer": twice as many shots, one keyframe changed on disk after the batch was made
    # (the worker refuses it), rendered longer so that the dashboard catches it running.
    slow = studio_config(base / "workspace", **{
        "output.width": 640, "output.height": 360, "output.fps": 30, "motion.duration": 8.0,
        "encode.preset": "slow", "batch.workers": 1})
    summer = served / "summer"
    report = create_batch([_docs_keyframes(base / "summer-src", slow, copies=2)], summer, slow,
                          batch_id="summer_teaser")
    assert report.manifest is not None and not report.errors, report.findings
    changed = summer / "shots" / "astronaut_2.png"
    changed.write_bytes(changed.read_bytes() + b"\0")

    server = Served(create_app(served, config=slow, hourly_usd=2.49))
    page = browser.new_page()
    try:
        page.on("dialog", lambda dialog: dialog.accept())
        shots = Path(os.environ.get("VIDGEN_SCREENSHOTS") or base / "shots")
        shots.mkdir(parents=True, exist_ok=True)

        # review: two accepted, the flagged one selected with its frames, one still open
        page.goto(f"{server.url}/b/spring/review")
        page.locator("article.card").first.wait_for()
        for shot_id, decision, note in (("astronaut", "accept", "hero shot"),
                                        ("rocket", "reject", "drifts off the rocket")):
            card = page.locator(f'article.card[data-shot="{shot_id}"]')
            card.locator("input.note").fill(note)
            card.locator(f'button[data-decision="{decision}"]').click()
            card.locator('[data-role="state"]', has_text=decision[:5]).wait_for()
        chelsea = page.locator('article.card[data-shot="chelsea"]')
        chelsea.locator('button[data-decision="accept"]').click()
        chelsea.locator('[data-role="state"]', has_text="accepted").wait_for()
        coffee = page.locator('article.card[data-shot="coffee"]')
        coffee.locator(".frames a").first.wait_for()
        coffee.locator(".sid").click()  # selected, still on its first frame
        page.evaluate("() => document.getElementById('toasts').replaceChildren()")
        page.wait_for_timeout(300)
        page.screenshot(path=shots / "review.png")
        _small_png(shots / "review.png", out / "studio-review.png")

        # motion: chelsea's zoom onto the AI crop, its end pulled in by hand a little
        page.goto(f"{server.url}/b/spring/motion/chelsea")
        wait_checked(page)
        handle = box(page, 'g.is-end rect.handle[data-corner="nw"]')
        corner = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        drag(page, corner, (corner[0] + 60, corner[1] + 34))
        wait_checked(page)
        page.keyboard.press(" ")
        page.evaluate("() => { const s = document.getElementById('scrub');"
                      " s.value = Math.round(s.max * 0.6); s.dispatchEvent(new Event('input')); }")
        page.wait_for_timeout(200)
        page.screenshot(path=shots / "motion.png")
        _small_png(shots / "motion.png", out / "studio-motion.png")
        page.evaluate("() => { window.vgMotion.state.saved = JSON.stringify("
                      "window.vgMotion.state.motion); }")  # leave without the prompt

        # dashboard: the summer batch, started from the page, caught half way
        page.goto(f"{server.url}/b/summer/dashboard")
        page.locator("#start").click()
        page.wait_for_function(
            "() => Number(document.querySelector('#legend [data-state=done] b').textContent) >= 4"
            " && document.querySelectorAll('#running tbody tr').length > 0"
            " && !document.querySelector('#running tbody').textContent.includes('claimed')",
            timeout=240_000)
        page.wait_for_timeout(300)
        page.screenshot(path=shots / "dashboard.png")
        _small_png(shots / "dashboard.png", out / "studio-dashboard.png", dither=False)
        page.locator("#stop").click()
        page.locator('#worker-state[data-running="false"]').wait_for(timeout=30_000)
    finally:
        page.close()
        server.close()


@pytest.mark.skipif(os.environ.get("VIDGEN_UPDATE_SCREENSHOTS") != "1",
                    reason="renders docs/images/studio-*.png; set VIDGEN_UPDATE_SCREENSHOTS=1")
def test_update_docs_screenshots(tmp_path: Path, browser: Any,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    render_docs_screenshots(tmp_path, browser, monkeypatch)
    for name in ("motion", "review", "dashboard"):
        assert (DOCS_IMAGES / f"studio-{name}.png").stat().st_size < 300_000
