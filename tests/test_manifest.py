"""`batch validate`: hand-edited manifests, changed files, escaping paths, motion working copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidgen.batch import create_batch
from vidgen.config import Config
from vidgen.errors import ManifestError
from vidgen.manifest import (
    derive_seed,
    json_schemas,
    load_manifest,
    parse_manifest,
    resolve_inside,
    validate_batch,
)
from vidgen.rules import RuleLimits

ONE = "20250101_000001_stage2_upscaled"
TWO = "20250101_000002_stage3_enhanced"


@pytest.fixture
def batch(studio: Path, config: Config, tmp_path: Path) -> Path:
    out = tmp_path / "batch"
    create_batch([studio], out, config, batch_id="b1")
    return out


def _edit(batch: Path, change: object) -> None:
    path = batch / "manifest.json"
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("bad_path", ["/etc/passwd", "../outside.png", "shots/../../x.png",
                                      "C:/keyframes/x.png", "shots\\x.png"])
def test_absolute_and_escaping_paths_are_refused(batch: Path, bad_path: str) -> None:
    _edit(batch, lambda d: d["keyframes"][0].__setitem__("image_path", bad_path))
    with pytest.raises(ManifestError) as info:
        load_manifest(batch)
    assert info.value.field == "keyframes[0].image_path"
    assert info.value.value == bad_path
    assert str(batch / "manifest.json") in str(info.value)


def test_schema_errors_name_the_field_and_value(batch: Path) -> None:
    _edit(batch, lambda d: d["keyframes"][1]["generation_params"].__setitem__("seed", -3))
    with pytest.raises(ManifestError) as info:
        load_manifest(batch)
    assert info.value.field == "keyframes[1].generation_params.seed" and info.value.value == -3
    (batch / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(batch)


def test_odd_output_size_is_refused(batch: Path) -> None:
    _edit(batch, lambda d: d["keyframes"][0]["output"].__setitem__("width", 321))
    with pytest.raises(ManifestError, match="even"):
        load_manifest(batch)


def test_duplicate_ids_are_refused(batch: Path) -> None:
    _edit(batch, lambda d: d["keyframes"][1].__setitem__("shot_id", ONE))
    with pytest.raises(ManifestError, match="duplicate shot id") as info:
        load_manifest(batch)
    assert info.value.value == ONE


def test_changed_keyframe_missing_file_and_changed_companion(batch: Path) -> None:
    (batch / "shots" / f"{TWO}.png").write_bytes(b"\x89PNG changed")
    (batch / "shots" / f"{ONE}.yaml").write_text("prompt: edited\n")
    (batch / "shots" / f"{ONE}.caption").unlink()
    report = validate_batch(batch, limits=RuleLimits())
    found = {(f.item, f.rule, f.severity) for f in report.findings}
    assert (TWO, "hash", "error") in found
    assert (ONE, "hash", "warning") in found
    assert (ONE, "file", "error") in found
    assert not report.ok


def test_symlink_out_of_the_batch_is_refused(batch: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    link = batch / "shots" / f"{TWO}.png"
    link.unlink()
    link.symlink_to(secret)
    report = validate_batch(batch, limits=RuleLimits())
    assert [(f.item, f.rule) for f in report.errors] == [(TWO, "path")]
    with pytest.raises(ManifestError, match="leaves the batch folder"):
        resolve_inside(batch, f"shots/{TWO}.png")


def test_a_valid_motion_edit_is_taken_into_the_manifest(batch: Path) -> None:
    motion_file = batch / "shots" / f"{TWO}.motion.json"
    motion = json.loads(motion_file.read_text())
    motion["duration_sec"] = 6.0
    motion_file.write_text(json.dumps(motion))

    check = validate_batch(batch, limits=RuleLimits(), update=False)
    assert check.updated == [TWO]
    assert load_manifest(batch).shot(TWO).motion.duration_sec == 4.0  # --check wrote nothing

    report = validate_batch(batch, limits=RuleLimits())
    assert report.ok and report.updated == [TWO]
    shot = load_manifest(batch).shot(TWO)
    assert shot.motion.duration_sec == 6.0 and shot.output.duration_sec == 6.0
    assert shot.generation_params.num_frames == 144
    per_shot = json.loads((batch / "shots" / f"{TWO}.video_manifest.json").read_text())
    assert per_shot["shot"]["motion"]["duration_sec"] == 6.0
    assert validate_batch(batch, limits=RuleLimits()).updated == []  # now in step


def test_an_invalid_motion_edit_is_reported_and_not_taken(batch: Path) -> None:
    motion_file = batch / "shots" / f"{TWO}.motion.json"
    motion = json.loads(motion_file.read_text())
    motion["end"] = [0.0, 0.0, 0.2, 0.28]  # far and tight: too fast, too much upscaling
    motion_file.write_text(json.dumps(motion))
    (batch / "shots" / f"{ONE}.motion.json").write_text('{"motion_type": 3}')
    before = (batch / "manifest.json").read_bytes()

    report = validate_batch(batch, limits=RuleLimits())
    rules = {(f.item, f.rule) for f in report.errors}
    assert (TWO, "pan_speed") in rules and (TWO, "upscale") in rules
    assert (ONE, "motion") in rules
    assert report.updated == []
    assert (batch / "manifest.json").read_bytes() == before


def test_not_a_batch_folder(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a batch folder"):
        load_manifest(tmp_path)


def test_parse_manifest_and_schemas(batch: Path) -> None:
    manifest = parse_manifest((batch / "manifest.json").read_bytes(), item="upload")
    assert manifest.batch_id == "b1"
    schemas = json_schemas()
    assert set(schemas) == {"motion", "manifest", "video_manifest", "video_meta"}
    assert "keyframes" in schemas["manifest"]["properties"]
    assert "schema" in schemas["motion"]["properties"]


def test_derive_seed_is_stable_and_order_free() -> None:
    assert derive_seed(42, "hash", 0, "a") == derive_seed(42, "hash", 9, "a")
    assert derive_seed(42, "hash", 0, "a") != derive_seed(42, "hash", 0, "b")
    assert derive_seed(42, "hash", 0, "a") != derive_seed(43, "hash", 0, "a")
    assert 0 <= derive_seed(42, "hash", 0, "a") < 2**31
