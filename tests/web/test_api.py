"""The studio's API end to end, in process: every endpoint's answer and its errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vidgen.audit import read_records
from vidgen.config import Config
from vidgen.ledger import Ledger
from vidgen.manifest import load_manifest
from vidgen.meta import VideoMeta

from ..conftest import snapshot
from .conftest import BASE_URL, DEMO_SHOTS

SHOT = "/api/batches/demo/shots/shot0"


def studio_records(config: Config) -> list[dict[str, Any]]:
    return [r for r in read_records(config.audit_dir) if r["script"] == "vidgen_studio"
            and r["type"] == "file_operation"]


def pan(x: float = 0.2) -> dict[str, Any]:
    """A linear pan_right over a 640x480 keyframe for a 160x96 output, ending at ``x``:
    0.2 moves at 12.5% of the frame per second (fine), 0.5 at 31% (too fast)."""
    return {"motion_type": "pan_right", "start": [0.0, 0.0, 0.4, 0.32],
            "end": [x, 0.0, round(x + 0.4, 6), 0.32], "duration_sec": 4.0, "easing": "linear"}


# --- batches ------------------------------------------------------------------------------


def test_list_batches(client: TestClient) -> None:
    answer = client.get("/api/batches")
    assert answer.status_code == 200
    batches = {b["key"]: b for b in answer.json()}
    assert set(batches) == {"demo", "fresh"}
    assert batches["demo"]["shots"] == 3 and batches["demo"]["counts"]["done"] == 3
    assert batches["fresh"]["counts"]["queued"] == 6 and batches["fresh"]["batch_id"] == "fresh"


def test_batch_detail(client: TestClient, root: Path) -> None:
    data = client.get("/api/batches/demo").json()
    assert data["batch_id"] == "demo" and data["per_hour"] > 0 and data["eta_sec"] == 0
    assert (data["accepted"], data["rejected"], data["acceptance_rate"]) == (0, 0, None)
    assert data["flagged_pct"] == 0.0
    shots = {s["shot_id"]: s for s in data["shots"]}
    assert list(shots) == list(DEMO_SHOTS)
    one = shots["shot0"]
    assert one["state"] == "done" and one["verdict"] == "pass" and one["review"] is None
    assert one["output"] == "results/shot0.mp4" and (root / "demo" / one["output"]).is_file()
    assert one["keyframe"] == "shots/shot0.png" and one["attempts"] == 1
    fresh = client.get("/api/batches/fresh").json()
    assert fresh["per_hour"] is None and fresh["flagged_pct"] is None
    assert all(s["output"] is None and s["state"] == "queued" for s in fresh["shots"])


@pytest.mark.parametrize("url", [
    "/api/batches/nope", "/api/batches/nope/dashboard", "/api/batches/nope/worker",
    "/api/batches/nope/files/shots/shot0.png", "/api/batches/nope/shots/shot0",
    "/api/batches/demo/shots/nope", "/api/batches/demo/shots/nope/motion",
    "/api/batches/demo/files/shots/nope.png", "/api/nothing-here", "/b/nope/review",
    "/b/demo/motion/nope",
])
def test_unknown_things_are_404_json(client: TestClient, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()["error"]) == {"type", "message", "item", "field", "value", "limit",
                                           "hint"}


def test_unknown_shot_on_writes_is_404(client: TestClient, root: Path) -> None:
    before = snapshot(root)
    for method, url, body in [
        ("POST", "/api/batches/demo/shots/nope/motion/check", pan()),
        ("POST", "/api/batches/demo/shots/nope/motion/propose", {"preset": "zoom_in"}),
        ("PUT", "/api/batches/demo/shots/nope/motion", pan()),
        ("POST", "/api/batches/demo/shots/nope/decision", {"decision": "accept"}),
    ]:
        answer = client.request(method, url, json=body)
        assert answer.status_code == 404, (url, answer.text)
        assert answer.json()["error"]["field"] == "shot_id"
    assert snapshot(root) == before


# --- shots and files ----------------------------------------------------------------------


def test_shot_detail_has_meta_and_qc(client: TestClient) -> None:
    data = client.get(SHOT).json()
    assert data["shot"]["shot_id"] == "shot0" and data["shot"]["motion"]["schema"]
    assert data["ledger"]["state"] == "done" and len(data["attempts"]) == 1
    assert data["attempts"][0]["outcome"] == "done"
    assert data["meta"]["shot_id"] == "shot0" and data["meta"]["review"] is None
    assert data["fps"] == 12.0
    qc = data["qc"]
    assert qc["verdict"] == "pass" and qc["reasons"] == []
    assert "flash_frames" in qc["checks"] and "frames" in qc["checks"]["flash_frames"]
    fresh = client.get("/api/batches/fresh/shots/a0").json()
    assert (fresh["meta"], fresh["qc"], fresh["fps"], fresh["attempts"]) == (None, None, None, [])


def test_file_download_with_range(client: TestClient, root: Path) -> None:
    video = (root / "demo" / "results" / "shot0.mp4").read_bytes()
    whole = client.get("/api/batches/demo/files/results/shot0.mp4")
    assert whole.status_code == 200 and whole.content == video
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert "sandbox" in whole.headers["content-security-policy"]
    part = client.get("/api/batches/demo/files/results/shot0.mp4",
                      headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == video[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(video)}"
    image = client.get("/api/batches/demo/files/shots/shot0.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


# --- motion -------------------------------------------------------------------------------


def test_motion_editor_payload(client: TestClient) -> None:
    data = client.get(f"{SHOT}/motion").json()
    assert data["motion"]["schema"] == "vidgen.motion/1"
    assert data["image"] == {"width": 640, "height": 480,
                             "url": "/api/batches/demo/files/shots/shot0.png"}
    assert client.get(data["image"]["url"]).status_code == 200
    assert data["output"] == {"width": 160, "height": 96, "fps": 12}
    assert data["crop_hint"] == [0.5, 0.4, 0.9, 0.9]
    assert data["findings"] == []
    assert data["presets"] == ["static", "zoom_in", "zoom_out", "pan_left", "pan_right",
                               "pan_up", "pan_down"]
    assert data["easings"] == ["linear", "ease_in", "ease_out", "ease_in_out"]
    assert data["limits"]["max_pan_speed"] == 0.2 and data["limits"]["max_upscale"] == 1.5
    assert client.get("/api/batches/demo/shots/shot1/motion").json()["crop_hint"] is None


def test_motion_editor_shows_a_broken_working_copy(client: TestClient, root: Path) -> None:
    (root / "demo" / "shots" / "shot1.motion.json").write_text("{broken")
    data = client.get("/api/batches/demo/shots/shot1/motion").json()
    assert data["findings"][0]["rule"] == "motion"
    assert data["motion"]["motion_type"] == load_manifest(root / "demo").shot(
        "shot1").motion.motion_type.value


def test_motion_check_findings_appear_and_disappear(client: TestClient) -> None:
    calm = client.post(f"{SHOT}/motion/check", json=pan(0.2))
    assert calm.status_code == 200
    data = calm.json()
    assert data["ok"] is True and not [f for f in data["findings"] if f["severity"] == "error"]
    assert len(data["path"]) == 48 and data["path"][0] == [0.0, 0.0, 0.4, 0.32]
    assert data["path"][-1] == pytest.approx([0.2, 0.0, 0.6, 0.32])
    fast = client.post(f"{SHOT}/motion/check", json=pan(0.5)).json()
    assert fast["ok"] is False
    errors = [f for f in fast["findings"] if f["severity"] == "error"]
    assert [f["rule"] for f in errors] == ["pan_speed"]
    assert set(errors[0]) == {"item", "rule", "severity", "message", "value", "limit", "frame"}
    assert client.post(f"{SHOT}/motion/check", json=pan(0.2)).json()["ok"] is True


def test_malformed_motion_is_400_naming_the_field(client: TestClient) -> None:
    inverted = {**pan(), "start": [0.8, 0.0, 0.0, 0.64]}
    answer = client.post(f"{SHOT}/motion/check", json=inverted)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "InputError" and error["field"] == "start"
    assert "x2 > x1" in error["message"]
    missing = {k: v for k, v in pan().items() if k != "duration_sec"}
    error = client.post(f"{SHOT}/motion/check", json=missing).json()["error"]
    assert error["field"] == "duration_sec" and "required" in error["message"]
    error = client.post(f"{SHOT}/motion/check", json={**pan(), "speed": 3}).json()["error"]
    assert error["field"] == "speed"
    answer = client.post(f"{SHOT}/motion/check", content=b'{"motion_type": ',
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]["message"]


def test_propose_around_the_crop_hint(client: TestClient) -> None:
    answer = client.post(f"{SHOT}/motion/propose", json={
        "preset": "zoom_in", "intensity": 0.8, "duration_sec": 5.0, "easing": "ease_in_out"})
    assert answer.status_code == 200
    data = answer.json()
    motion = data["motion"]
    assert motion["motion_type"] == "zoom_in" and motion["duration_sec"] == 5.0
    assert motion["focus"] == [0.5, 0.4, 0.9, 0.9] and motion["schema"] == "vidgen.motion/1"
    assert not [f for f in data["findings"] if f["severity"] == "error"]
    defaults = client.post(f"{SHOT}/motion/propose", json={}).json()["motion"]
    assert defaults["motion_type"] == "zoom_in" and defaults["duration_sec"] == 4.0
    error = client.post(f"{SHOT}/motion/propose", json={"preset": "spin"}).json()["error"]
    assert error["field"] == "preset"
    answer = client.post(f"{SHOT}/motion/propose", json={"preset": "custom"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "MotionError"


def test_save_motion_writes_the_file_and_the_manifest(client: TestClient, root: Path,
                                                      config: Config) -> None:
    batch = root / "demo"
    answer = client.put(f"{SHOT}/motion", json=pan(0.2))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["saved"] is True and data["manifest_updated"] is True
    assert data["path"] == "shots/shot0.motion.json"
    assert not [f for f in data["findings"] if f["severity"] == "error"]
    written = json.loads((batch / "shots" / "shot0.motion.json").read_text())
    assert written["motion_type"] == "pan_right" and written["end"] == [0.2, 0.0, 0.6, 0.32]
    shot = load_manifest(batch).shot("shot0")
    assert shot.motion.motion_type.value == "pan_right" and shot.motion.end[0] == 0.2
    video_manifest = json.loads((batch / "shots" / "shot0.video_manifest.json").read_text())
    assert video_manifest["shot"]["motion"]["motion_type"] == "pan_right"
    assert not [p for p in (batch / "shots").iterdir() if ".tmp-" in p.name]
    notes = [r["notes"] for r in studio_records(config)]
    assert any("motion of shot0" in n for n in notes)
    assert any("taken into the manifest: shot0" in n for n in notes)
    again = client.put(f"{SHOT}/motion", json=pan(0.2)).json()
    assert again["saved"] is True and again["manifest_updated"] is False


def test_save_motion_breaking_a_rule_writes_nothing(client: TestClient, root: Path,
                                                    config: Config) -> None:
    before = snapshot(root)
    answer = client.put(f"{SHOT}/motion", json=pan(0.5))
    assert answer.status_code == 422
    data = answer.json()
    assert data["error"]["type"] == "Rejected" and data["error"]["item"] == "shot0"
    assert [f["rule"] for f in data["findings"] if f["severity"] == "error"] == ["pan_speed"]
    assert snapshot(root) == before
    assert studio_records(config) == []


# --- decisions ----------------------------------------------------------------------------


def test_accept_and_reject(client: TestClient, root: Path, config: Config) -> None:
    answer = client.post(f"{SHOT}/decision", json={"decision": "accept", "note": "lovely"})
    assert answer.status_code == 200
    assert answer.json() == {"shot_id": "shot0", "review": "accepted", "state": "accepted",
                             "seed": client.get(SHOT).json()["ledger"]["seed"]}
    answer = client.post("/api/batches/demo/shots/shot1/decision", json={"decision": "reject"})
    assert answer.json()["review"] == "rejected"
    with Ledger(root / "demo") as ledger:
        assert ledger.shot("shot0")["state"] == "accepted"
        assert ledger.shot("shot0")["note"] == "lovely"
        assert ledger.shot("shot1")["state"] == "rejected"
    meta = VideoMeta.model_validate_json(
        (root / "demo" / "results" / "shot0.video_meta.json").read_text())
    assert meta.review is not None and meta.review.state == "accepted"
    assert meta.review.note == "lovely" and meta.review.at.endswith("+00:00")
    records = studio_records(config)
    assert [r["notes"] for r in records] == ["review accepted: lovely", "review rejected: "]
    assert records[0]["files"] == ["shot0.video_meta.json"] and records[0]["batch_id"] == "demo"
    data = client.get("/api/batches/demo").json()
    assert (data["accepted"], data["rejected"], data["acceptance_rate"]) == (1, 1, 0.5)
    assert [s["review"] for s in data["shots"]] == ["accepted", "rejected", None]
    changed = client.post(f"{SHOT}/decision", json={"decision": "reject", "note": "no"}).json()
    assert changed["review"] == "rejected"


def test_a_shot_not_yet_made_cannot_be_reviewed(client: TestClient, root: Path) -> None:
    before = snapshot(root)
    answer = client.post("/api/batches/fresh/shots/a0/decision", json={"decision": "accept"})
    assert answer.status_code == 409 and answer.json()["error"]["type"] == "LedgerError"
    assert snapshot(root)["fresh/shots/a0.png"] == before["fresh/shots/a0.png"]
    assert not (root / "fresh" / "results").exists()


def test_regenerate_gives_a_new_seed_and_requeues(client: TestClient, root: Path,
                                                  config: Config) -> None:
    old_seed = client.get(SHOT).json()["ledger"]["seed"]
    client.post(f"{SHOT}/decision", json={"decision": "reject"})
    answer = client.post(f"{SHOT}/decision", json={"decision": "regenerate", "note": "again"})
    assert answer.status_code == 200
    data = answer.json()
    assert data["state"] == "queued" and data["review"] is None and data["seed"] != old_seed
    with Ledger(root / "demo") as ledger:
        row = ledger.shot("shot0")
    assert (row["state"], row["seed"], row["note"]) == ("queued", data["seed"], "again")
    notes = studio_records(config)[-1]["notes"]
    assert notes == f"regenerate shot0 with seed {data['seed']}: again"
    assert client.get("/api/batches/demo").json()["counts"]["queued"] == 1
    answer = client.post(f"{SHOT}/decision", json={"decision": "regenerate"})
    assert answer.status_code == 409


def test_bad_decisions_are_400(client: TestClient) -> None:
    for body, field in [({"decision": "maybe"}, "decision"), ({}, "decision"),
                        ({"decision": "accept", "note": 3}, "note")]:
        answer = client.post(f"{SHOT}/decision", json=body)
        assert answer.status_code == 400 and answer.json()["error"]["field"] == field


# --- dashboard and worker -----------------------------------------------------------------


def test_dashboard_counts_failures_running_and_cost(client: TestClient, root: Path) -> None:
    with Ledger(root / "fresh") as ledger:
        ledger.ingest(load_manifest(root / "fresh"))
        failed = ledger.claim("host:1", 60.0)
        assert failed is not None
        time.sleep(0.05)
        ledger.fail(failed, "BackendError", "the model fell over", {"total": 0.05})
        running = ledger.claim("host:2", 60.0)
        assert running is not None
        ledger.heartbeat(running, 60.0, "generate 40%")
    data = client.get("/api/batches/fresh/dashboard").json()
    assert data["counts"]["failed"] == 1 and data["counts"]["running"] == 1 and data["total"] == 6
    assert data["recent_failures"] == [{
        "shot_id": "a0", "error_class": "BackendError", "error_message": "the model fell over",
        "at": data["recent_failures"][0]["at"]}]
    assert data["recent_failures"][0]["at"].endswith("+00:00")
    assert data["running"] == [{"shot_id": "a1", "stage": "generate 40%", "worker": "host:2"}]
    assert data["hourly_usd"] == 2.5 and data["cost_usd"] > 0
    assert data["cost_usd"] == pytest.approx(2.5 * data["busy_hours"])
    assert data["busy_hours"] * 3600 >= 0.05
    assert data["worker"] == {"running": False, "pid": None, "started_at": None,
                              "exit_code": None}
    demo = client.get("/api/batches/demo/dashboard").json()
    assert {"generate", "encode", "qc"} <= set(demo["stage_means"])
    assert "total" not in demo["stage_means"] and demo["flagged_pct"] == 0.0
    assert demo["per_hour"] > 0 and demo["counts"]["done"] == 3


def _wait(client: TestClient, url: str, done: Any, timeout: float = 40.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        data: dict[str, Any] = client.get(url).json()
        if done(data):
            return data
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting on {url}: {data}")


def test_worker_runs_the_batch(client: TestClient, root: Path) -> None:
    url = "/api/batches/fresh/worker"
    answer = client.post(f"{url}/start", json={"workers": 1})
    assert answer.status_code == 200
    started = answer.json()
    assert started["running"] is True and started["pid"] > 0 and started["exit_code"] is None
    again = client.post(f"{url}/start")
    assert again.status_code == 409 and again.json()["error"]["type"] == "Conflict"
    finished = _wait(client, url, lambda d: not d["running"])
    assert finished["exit_code"] == 0 and finished["pid"] == started["pid"]
    board = client.get("/api/batches/fresh/dashboard").json()
    assert board["counts"]["done"] == 6 and board["running"] == []
    assert board["worker"] == finished and board["cost_usd"] > 0
    assert (root / "fresh" / "results" / "a5.mp4").is_file()
    assert (root / "fresh" / ".vidgen" / "studio-worker.log").is_file()


def test_worker_stop_gives_the_shot_back(client: TestClient, root: Path) -> None:
    url = "/api/batches/fresh"
    assert client.post(f"{url}/worker/stop").json()["running"] is False  # none: no error
    client.post(f"{url}/worker/start")
    _wait(client, f"{url}/dashboard", lambda d: d["running"])
    stopped = client.post(f"{url}/worker/stop").json()
    assert stopped["running"] is False and stopped["exit_code"] == 130
    counts = client.get(f"{url}/dashboard").json()["counts"]
    assert counts["running"] == 0 and counts["queued"] >= 1 and counts["failed"] == 0
    restarted = client.post(f"{url}/worker/start")
    assert restarted.status_code == 200 and restarted.json()["pid"] != stopped["pid"]
    client.post(f"{url}/worker/stop")


def test_worker_bad_body(client: TestClient) -> None:
    answer = client.post("/api/batches/fresh/worker/start", json={"workers": 0})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "workers"
    assert client.get("/api/batches/fresh/worker").json()["running"] is False


# --- upload -------------------------------------------------------------------------------


def upload_parts(batch: Path, batch_id: str) -> tuple[dict[str, Any], list[Any]]:
    """The multipart form of a batch folder's manifest (renamed) and shots/ files."""
    manifest = json.loads((batch / "manifest.json").read_text())
    manifest["batch_id"] = batch_id
    files = [("files", (f"shots/{p.name}", p.read_bytes()))
             for p in sorted((batch / "shots").iterdir())]
    return {"manifest": ("manifest.json", json.dumps(manifest).encode())}, files


def test_upload_a_batch(client: TestClient, root: Path, demo_template: Path,
                        config: Config) -> None:
    manifest, files = upload_parts(demo_template, "uploaded")
    answer = client.post("/api/batches", files=[("manifest", manifest["manifest"]), *files])
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"key": "uploaded", "batch_id": "uploaded", "shots": 3}
    batch = root / "uploaded"
    assert load_manifest(batch).batch_id == "uploaded"
    assert (batch / "shots" / "shot0.png").read_bytes() == (
        demo_template / "shots" / "shot0.png").read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["demo", "fresh", "uploaded"]
    keys = [b["key"] for b in client.get("/api/batches").json()]
    assert keys == ["demo", "fresh", "uploaded"]
    assert studio_records(config)[-1]["dest_dir"] == str(batch)
    again = client.post("/api/batches", files=[("manifest", manifest["manifest"]), *files])
    assert again.status_code == 409


def test_an_invalid_upload_leaves_nothing(client: TestClient, root: Path,
                                          demo_template: Path) -> None:
    before = snapshot(root)
    manifest, files = upload_parts(demo_template, "broken")
    files = [(field, (name, b"not the keyframe" if name == "shots/shot1.png" else data))
             for field, (name, data) in files]
    answer = client.post("/api/batches", files=[("manifest", manifest["manifest"]), *files])
    assert answer.status_code == 422
    findings = answer.json()["findings"]
    assert {(f["item"], f["rule"]) for f in findings if f["severity"] == "error"} == {
        ("shot1", "hash")}
    bad_json = client.post("/api/batches", files={"manifest": ("manifest.json", b"{nope")})
    assert bad_json.status_code == 422 and bad_json.json()["findings"][0]["rule"] == "manifest"
    escaping = json.loads(manifest["manifest"][1])
    escaping["batch_id"] = "../elsewhere"
    answer = client.post("/api/batches", files={
        "manifest": ("manifest.json", json.dumps(escaping).encode())})
    assert answer.status_code == 422
    assert snapshot(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["demo", "fresh"]
    assert not (root.parent / "elsewhere").exists()


# --- pages and docs -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/b/demo/motion", "/b/demo/motion/shot1",
                                 "/b/demo/review", "/b/demo/dashboard"])
def test_pages_render(client: TestClient, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")


def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/batches/{batch}/shots/{shot_id}/motion" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_closing_the_studio_stops_its_workers(app: FastAPI, root: Path) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        client.post("/api/batches/fresh/worker/start")
        _wait(client, "/api/batches/fresh/dashboard", lambda d: d["running"])
    status = app.state.studio.workers.status(root / "fresh")
    assert status["running"] is False and status["exit_code"] == 130
    with Ledger(root / "fresh") as ledger:
        assert ledger.counts()["running"] == 0
