"""Nothing outside the served folder is readable or writable, and the guard holds."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vidgen.config import Config
from vidgen.errors import ConfigError
from vidgen.web import create_app, is_loopback, resolve_access

from ..conftest import snapshot
from .conftest import BASE_URL

TOKEN = "s3cret-token_for.tests"
MOTION = {"motion_type": "static", "start": [0.0, 0.0, 0.4, 0.32], "end": [0.0, 0.0, 0.4, 0.32],
          "duration_sec": 4.0}

# Every route that takes a batch key, with a body where it needs one.
BATCH_ROUTES = [
    ("GET", "/api/batches/{b}", None),
    ("GET", "/api/batches/{b}/dashboard", None),
    ("GET", "/api/batches/{b}/worker", None),
    ("POST", "/api/batches/{b}/worker/start", {}),
    ("POST", "/api/batches/{b}/worker/stop", None),
    ("GET", "/api/batches/{b}/files/manifest.json", None),
    ("GET", "/api/batches/{b}/shots/shot0", None),
    ("GET", "/api/batches/{b}/shots/shot0/motion", None),
    ("POST", "/api/batches/{b}/shots/shot0/motion/check", MOTION),
    ("POST", "/api/batches/{b}/shots/shot0/motion/propose", {}),
    ("PUT", "/api/batches/{b}/shots/shot0/motion", MOTION),
    ("POST", "/api/batches/{b}/shots/shot0/decision", {"decision": "accept"}),
    ("GET", "/b/{b}/motion", None),
    ("GET", "/b/{b}/review", None),
    ("GET", "/b/{b}/dashboard", None),
]
# Keys that try to leave the served folder or reach what it hides ("%2F": an encoded "/").
BAD_KEYS = ["..", "%2e%2e", "%2E%2E", "%2e", ".vidgen", "%2Fetc", "..%2F..%2Fetc", "demo%2F..",
            ".upload.tmp-x", "outside"]


@pytest.fixture
def outside(root: Path) -> Path:
    """A secret next to the served folder, a batch linked in from outside, and a link
    inside a batch that points out."""
    secret = root.parent / "secret.txt"
    secret.write_text("top secret")
    elsewhere = root.parent / "elsewhere"
    (elsewhere / "shots").mkdir(parents=True)
    (elsewhere / "manifest.json").write_text((root / "demo" / "manifest.json").read_text())
    os.symlink(elsewhere, root / "outside")
    os.symlink(secret, root / "demo" / "shots" / "leak.png")
    os.symlink(root / "demo" / ".vidgen" / "ledger.sqlite", root / "demo" / "shots" / "db.png")
    return secret


@pytest.mark.parametrize("key", BAD_KEYS)
def test_batch_key_traversal(client: TestClient, root: Path, outside: Path, key: str) -> None:
    before = snapshot(root.parent)
    for method, url, body in BATCH_ROUTES:
        answer = client.request(method, url.format(b=key), json=body)
        assert answer.status_code in (403, 404, 405), (method, url, key, answer.status_code)
        assert "error" in answer.json()
        assert "top secret" not in answer.text
    assert snapshot(root.parent) == before
    assert "outside" not in [b["key"] for b in client.get("/api/batches").json()]


@pytest.mark.parametrize("shot", ["%2e%2e", "%2E", "..%2F..%2Fsecret", "..%2Fdemo", "%2Fetc",
                                  ".vidgen", "shot0%2F..%2F..%2F..%2Fsecret"])
def test_shot_id_traversal(client: TestClient, root: Path, outside: Path, shot: str) -> None:
    before = snapshot(root.parent)
    for method, suffix, body in [("GET", "", None), ("GET", "/motion", None),
                                 ("POST", "/motion/check", MOTION),
                                 ("POST", "/motion/propose", {}), ("PUT", "/motion", MOTION),
                                 ("POST", "/decision", {"decision": "accept"})]:
        answer = client.request(method, f"/api/batches/demo/shots/{shot}{suffix}", json=body)
        assert answer.status_code in (403, 404, 405), (method, suffix, answer.status_code)
        assert "top secret" not in answer.text
    assert snapshot(root.parent) == before


@pytest.mark.parametrize(("path", "status"), [
    ("..%2F..%2Fsecret.txt", 403), ("%2e%2e/%2e%2e/secret.txt", 403),
    ("..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", 403), ("%2Fetc%2Fpasswd", 403),
    ("/etc/passwd", 403), (".vidgen/ledger.sqlite", 403),
    ("shots/..%2F.vidgen%2Fledger.sqlite", 403),
    ("shots/leak.png", 403), ("shots/db.png", 403), ("shots/.hidden", 403),
    ("results/shot0.mp4.tmp-1234", 403), ("shots%5C..%5C..%5Csecret.txt", 403),
    ("shots", 404), ("shots/nope.png", 404),
])
def test_file_path_traversal(client: TestClient, root: Path, outside: Path, path: str,
                             status: int) -> None:
    (root / "demo" / "shots" / ".hidden").write_text("hidden")
    (root / "demo" / "results" / "shot0.mp4.tmp-1234").write_text("partial")
    answer = client.get(f"/api/batches/demo/files/{path}")
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert "top secret" not in answer.text and "root:" not in answer.text


def test_literal_dot_dot_never_reaches_outside(client: TestClient, outside: Path) -> None:
    # The client normalises these away; whatever route they land on, nothing leaks.
    for url in ["/api/batches/demo/files/../../secret.txt", "/api/batches/../secret.txt",
                "/static/../../secret.txt", "/static/%2e%2e/%2e%2e/secret.txt"]:
        answer = client.get(url)
        assert answer.status_code in (403, 404), url
        assert "top secret" not in answer.text


def test_served_batch_itself(config: Config, root: Path) -> None:
    app = create_app(root / "demo", config=config)
    with TestClient(app, base_url=BASE_URL) as client:
        assert [b["key"] for b in client.get("/api/batches").json()] == ["demo"]
        assert client.get("/api/batches/demo/shots/shot0").status_code == 200
        for key in ("%2e", "%2e%2e", "fresh", "served"):
            assert client.get(f"/api/batches/{key}").status_code in (403, 404)
        answer = client.post("/api/batches", files={"manifest": ("manifest.json", b"{}")})
        assert answer.status_code == 409


# --- bodies -------------------------------------------------------------------------------


@pytest.fixture
def small(root: Path, config: Config) -> Iterator[TestClient]:
    with TestClient(create_app(root, config=config, max_upload_bytes=50_000),
                    base_url=BASE_URL) as client:
        yield client


def test_oversized_upload_is_413_and_leaves_nothing(small: TestClient, root: Path) -> None:
    before = snapshot(root)
    manifest = (root / "demo" / "manifest.json").read_bytes()
    big = ("files", ("shots/big.png", b"x" * 60_000))
    answer = small.post("/api/batches", files=[("manifest", ("manifest.json", manifest)), big])
    assert answer.status_code == 413 and answer.json()["error"]["type"] == "http"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b"--x\r\nContent-Disposition: form-data; name=\"manifest\"; filename=\"m\"\r\n\r\n"
        for _ in range(100):
            yield b"y" * 1000

    answer = small.post("/api/batches", content=chunks(),
                        headers={"content-type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 413
    assert snapshot(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["demo", "fresh"]


def test_one_file_over_the_image_limit_is_413(root: Path, tmp_path: Path) -> None:
    from .conftest import studio_config

    config = studio_config(tmp_path / "ws", **{"image.max_bytes": 1000})
    with TestClient(create_app(root, config=config), base_url=BASE_URL) as client:
        manifest = json.loads((root / "demo" / "manifest.json").read_text())
        manifest["batch_id"] = "big"
        answer = client.post("/api/batches", files=[
            ("manifest", ("manifest.json", json.dumps(manifest).encode())),
            ("files", ("shots/shot0.png", (root / "demo" / "shots" / "shot0.png").read_bytes()))])
    assert answer.status_code == 413 and answer.json()["error"]["value"] == "shots/shot0.png"
    assert sorted(p.name for p in root.iterdir()) == ["demo", "fresh"]


@pytest.mark.parametrize("name", [
    "../evil.png", "/abs.png", "shots\\x.png", ".vidgen/ledger.sqlite", "shots/.x.png",
    "shots/../../evil.png", "C:/x.png", "", "manifest.json", "shots/a.png.tmp-1"])
def test_upload_file_names_stay_inside(client: TestClient, root: Path, name: str) -> None:
    before = snapshot(root.parent)
    manifest = json.loads((root / "demo" / "manifest.json").read_text())
    manifest["batch_id"] = "named"
    answer = client.post("/api/batches", files=[
        ("manifest", ("manifest.json", json.dumps(manifest).encode())),
        ("files", (name, b"data"))])
    assert answer.status_code in (400, 422), answer.text
    assert snapshot(root.parent) == before
    assert sorted(p.name for p in root.iterdir()) == ["demo", "fresh"]


def test_json_bodies_are_limited_and_checked(client: TestClient) -> None:
    url = "/api/batches/demo/shots/shot0/decision"
    answer = client.post(url, json={"decision": "accept", "note": "n" * (1 << 20)})
    assert answer.status_code == 413
    answer = client.post(url, content=b"[1, 2", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "InputError"
    answer = client.post(url, json={"decision": ["accept"]})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "decision"


# --- the guard ----------------------------------------------------------------------------


@pytest.fixture
def locked(root: Path, config: Config) -> Iterator[TestClient]:
    with TestClient(create_app(root, config=config, token=TOKEN),
                    base_url="http://studio.example:8765") as client:
        yield client


@pytest.mark.parametrize("url", ["/", "/api/batches", "/api/batches/demo/files/shots/shot0.png",
                                 "/static/common.js", "/b/demo/review", "/docs",
                                 "/openapi.json", "/api/nothing"])
def test_token_required_everywhere(locked: TestClient, url: str) -> None:
    for headers in ({}, {"X-Vidgen-Token": "wrong"}, {"X-Vidgen-Token": TOKEN[:-1]},
                    {"Cookie": "vidgen_token=wrong"}):
        answer = locked.get(url, headers=headers)
        assert answer.status_code == 401, (url, headers)
        assert answer.json()["error"]["type"] == "http"
    assert locked.get(f"{url}?token=nope").status_code == 401
    ok = locked.get(url, headers={"X-Vidgen-Token": TOKEN})
    assert ok.status_code == (404 if url == "/api/nothing" else 200)


def test_token_in_the_url_sets_a_cookie(locked: TestClient) -> None:
    answer = locked.get(f"/b/demo/review?token={TOKEN}")
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"vidgen_token={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert locked.get("/api/batches").status_code == 200  # the client kept the cookie
    assert TOKEN in answer.text  # the page hands it to its scripts


def test_host_and_origin_checks(client: TestClient, root: Path, config: Config) -> None:
    answer = client.get("/api/batches", headers={"Host": "evil.example"})
    assert answer.status_code == 403
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8765"):
        assert client.get("/api/batches", headers={"Host": host}).status_code == 200
    url = "/api/batches/demo/shots/shot0/decision"
    answer = client.post(url, json={"decision": "accept"},
                         headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert client.post(url, json={"decision": "accept"},
                       headers={"Origin": BASE_URL}).status_code == 200
    with TestClient(create_app(root, config=config, token=TOKEN),
                    base_url="http://192.168.1.20:8765") as lan:
        assert lan.get("/api/batches", headers={"X-Vidgen-Token": TOKEN}).status_code == 200


def test_security_headers(client: TestClient) -> None:
    for url in ("/", "/api/batches", "/static/common.js", "/api/nothing"):
        headers = client.get(url).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_resolve_access() -> None:
    assert resolve_access("127.0.0.1", None) is None
    assert resolve_access("localhost", None) is None
    assert resolve_access("::1", None) is None
    assert resolve_access("127.0.0.1", "mine") == "mine"
    assert resolve_access("0.0.0.0", "mine") == "mine"
    made = {resolve_access(host, None) for host in ("0.0.0.0", "192.168.1.5", "::", "studio")}
    assert None not in made and len(made) == 4
    assert all(len(t or "") >= 24 for t in made)
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("0.0.0.0")


def test_create_app_refuses_bad_settings(root: Path, config: Config) -> None:
    with pytest.raises(ConfigError, match="token"):
        create_app(root, config=config, token="has space")
    with pytest.raises(ConfigError, match="token"):
        create_app(root, config=config, token="semi;colon")
    with pytest.raises(ConfigError, match="not a folder"):
        create_app(root / "missing", config=config)


def test_malformed_host_is_refused(client: TestClient) -> None:
    for host in ("[bad", "", "127.0.0.1.evil.example", "localhost.evil.example"):
        assert client.get("/api/batches", headers={"Host": host}).status_code == 403, host


def test_writes_never_follow_links(client: TestClient, root: Path, outside: Path) -> None:
    batch = root / "demo"
    motion = batch / "shots" / "shot0.motion.json"
    motion.unlink()
    os.symlink(batch / "manifest.json", motion)
    meta = batch / "results" / "shot1.video_meta.json"
    meta.rename(root.parent / "meta.json")
    os.symlink(outside, meta)
    before = snapshot(root.parent)
    answer = client.put("/api/batches/demo/shots/shot0/motion", json=MOTION)
    assert answer.status_code == 403
    answer = client.post("/api/batches/demo/shots/shot1/decision", json={"decision": "accept"})
    assert answer.status_code == 403
    assert snapshot(root.parent) == before
    assert outside.read_text() == "top secret"
    assert client.get("/api/batches/demo").json()["shots"][1]["review"] is None
