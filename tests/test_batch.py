"""`batch create`: the studio layout, every kind of bad input, and what is never touched."""

from __future__ import annotations

import errno
import json
import struct
import zlib
from pathlib import Path

import pytest

import vidgen.atomic
from vidgen.audit import read_records
from vidgen.batch import create_batch
from vidgen.config import Config, load_config
from vidgen.errors import ManifestError, ProtectedPathError
from vidgen.manifest import load_manifest, validate_batch
from vidgen.rules import RuleLimits

from .conftest import make_image, snapshot

ONE = "20250101_000001_stage2_upscaled"
TWO = "20250101_000002_stage3_enhanced"
THREE = "20250101_000003_stage1_generated"


def _centre_x(rect: tuple[float, ...]) -> float:
    return (rect[0] + rect[2]) / 2


def test_studio_folder_becomes_a_valid_batch(studio: Path, config: Config, tmp_path: Path) -> None:
    before = snapshot(studio.parent)
    out = tmp_path / "batch"
    report = create_batch([studio], out, config, batch_id="b1")

    assert report.errors == [] and report.excluded == []
    manifest = load_manifest(out)
    assert [s.shot_id for s in manifest.keyframes] == [ONE, TWO, THREE]
    one, two, three = manifest.keyframes
    # The YAML prompt (with python tags) beats the caption; the caption serves when alone.
    assert one.prompt == "a lighthouse on a cliff at dusk, cinematic"
    assert one.prompt_source == "yaml:prompt"
    assert two.prompt == "a red fox in fresh snow" and two.prompt_source == "caption"
    assert three.prompt == "" and three.prompt_source == "none"
    assert any("empty prompt" in note for note in three.notes)
    # The group decision's crop hint (right half) pulls the zoom's end to the right.
    assert one.motion.focus == (0.55, 0.5, 0.95, 0.95)
    assert _centre_x(one.motion.end) > _centre_x(two.motion.end) + 0.05
    # Companions travel, including the group-level decision; sidecars are vidgen's own.
    names = sorted(p.name for p in (out / "shots").iterdir())
    assert f"{ONE}.yaml" in names and f"{ONE}.caption" in names
    assert "20250101_000001.decision" in names
    assert f"{ONE}.motion.json" in names and f"{ONE}.video_manifest.json" in names
    assert (out / ".vidgen").is_dir()
    # The per-shot manifest repeats the shot with its batch identity.
    per_shot = json.loads((out / "shots" / f"{ONE}.video_manifest.json").read_text())
    assert per_shot["batch_id"] == "b1" and per_shot["shot"]["shot_id"] == ONE
    assert validate_batch(out, limits=RuleLimits()).ok
    # The source folder is byte-identical, mtimes included.
    assert snapshot(studio.parent) == before


def test_audit_records_are_filetracker_compatible(studio: Path, config: Config,
                                                   tmp_path: Path) -> None:
    create_batch([studio], tmp_path / "batch", config, batch_id="b1")
    records = list(read_records(config.audit_dir))
    assert config.audit_dir == tmp_path / "workspace" / "data" / "file_operations_logs"
    assert records[0]["type"] == "session_start" and records[-1]["type"] == "session_end"
    ops = [r for r in records if r["type"] == "file_operation"]
    assert {r["script"] for r in records} == {"vidgen_manifest"}
    assert all(r["batch_id"] == "b1" and r["timestamp"].endswith("+00:00") for r in ops)
    copies = [r for r in ops if r["operation"] == "copy"]
    assert len(copies) == 3
    assert f"{ONE}.png" in copies[0]["files"] and copies[0]["file_count"] == 4
    validations = [r for r in ops if r["operation"] == "validate"]
    assert {Path(r["keyframe_path"]).stem for r in validations} == {ONE, TWO, THREE}
    assert all(r["frame_count"] == 96 and r["duration_sec"] == 4.0 for r in validations)
    assert any(r["operation"] == "create" and r["files"][0] == "manifest.json"
               and r["file_count"] == 4 for r in ops)


def _bomb(path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def _motion(path: Path, **fields: object) -> None:
    motion = {"motion_type": "custom", "start": [0.1, 0.1, 0.9, 0.9],
              "end": [0.2, 0.2, 0.8, 0.8], "duration_sec": 4.0, "easing": "linear"}
    motion.update(fields)
    path.write_text(json.dumps(motion))


def test_bad_keyframes_are_reported_and_the_rest_goes_on(tmp_path: Path, config: Config) -> None:
    src = tmp_path / "src" / "shoot"
    good = make_image(src / "good.png", 800, 800)
    make_image(src / "truncated.png", 800, 800, seed=4)
    data = (src / "truncated.png").read_bytes()
    (src / "truncated.png").write_bytes(data[: len(data) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("this is not an image")
    _bomb(src / "bomb.png")
    for name, fields in {
        "malformed": None,
        "nan": {"start": [0.1, 0.1, "NaN", 0.9]},
        "outside": {"start": [0.5, 0.0, 1.5, 1.0], "end": [0.5, 0.0, 1.5, 1.0]},
        "inverted": {"end": [0.8, 0.8, 0.2, 0.2]},
        "aspect": {"start": [0.0, 0.0, 1.0, 0.5], "end": [0.0, 0.0, 1.0, 0.5]},
        "fast": {"start": [0.0, 0.0, 0.5, 0.7], "end": [0.5, 0.3, 1.0, 1.0],
                 "duration_sec": 4.0},
    }.items():
        make_image(src / f"{name}.png", 800, 800, seed=5)
        if fields is None:
            (src / f"{name}.motion.json").write_text('{"motion_type": "zoom_in", "start": [')
        else:
            _motion(src / f"{name}.motion.json", **fields)
    (src / "nan.motion.json").write_text((src / "nan.motion.json").read_text()
                                         .replace('"NaN"', "NaN"))
    other = tmp_path / "src" / "other"
    make_image(other / "good.png", 800, 800, seed=9)  # duplicate stem in another folder
    before = snapshot(tmp_path / "src")

    out = tmp_path / "batch"
    report = create_batch([src, other], out, config, batch_id="b2")

    assert [s.shot_id for s in report.manifest.keyframes] == ["good"]  # type: ignore[union-attr]
    by_item = {Path(f.item).stem: f for f in report.errors}
    assert set(by_item) == {"truncated", "empty", "text", "bomb", "malformed", "nan",
                            "outside", "inverted", "aspect", "fast", "good"}
    assert "truncated or corrupt" in by_item["truncated"].message
    assert "empty file" in by_item["empty"].message
    assert "not an image" in by_item["text"].message
    assert "too large" in by_item["bomb"].message
    assert by_item["bomb"].limit == str(config["image.max_pixels"])
    assert "not valid JSON" in by_item["malformed"].message
    assert by_item["nan"].rule == "motion" and "NaN" in by_item["nan"].message
    assert by_item["outside"].rule == "bounds" and by_item["outside"].value == pytest.approx(400)
    assert "inverted" in by_item["inverted"].message
    assert by_item["aspect"].rule == "aspect"
    assert by_item["fast"].rule in {"pan_speed", "zoom_rate", "upscale"}
    assert by_item["good"].rule == "duplicate" and str(good) in by_item["good"].message
    assert str(other / "good.png") in report.excluded
    # Nothing of the bad keyframes reached the batch; the sources are untouched.
    assert sorted(p.name for p in (out / "shots").iterdir()) == [
        "good.motion.json", "good.png", "good.video_manifest.json"]
    assert snapshot(tmp_path / "src") == before


def test_strict_aborts_and_writes_nothing(tmp_path: Path, studio: Path, config: Config) -> None:
    (studio.parent / "junk").mkdir()
    (studio.parent / "junk" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "batch"
    with pytest.raises(ManifestError, match="nothing was written") as info:
        create_batch([studio, studio.parent / "junk"], out, config, strict=True)
    assert "broken.png" in str(info.value)
    assert not out.exists()
    assert not config.audit_dir.exists()


def test_same_inputs_give_the_same_manifest(studio: Path, config: Config, tmp_path: Path) -> None:
    manifests = []
    for name in ("a", "b"):
        create_batch([studio], tmp_path / name, config, batch_id="same")
        data = json.loads((tmp_path / name / "manifest.json").read_text())
        data.pop("created_at")
        manifests.append(data)
    assert manifests[0] == manifests[1]


@pytest.mark.parametrize("policy", ["fixed", "sequential", "hash"])
def test_seed_policies(studio: Path, tmp_path: Path, policy: str) -> None:
    config = load_config(env={}, overrides={
        "workspace": str(tmp_path), "generation.seed": 7, "generation.seed_policy": policy,
        "output.width": 320, "output.height": 448})
    report = create_batch([studio], tmp_path / "batch", config)
    seeds = [s.generation_params.seed for s in report.manifest.keyframes]  # type: ignore[union-attr]
    if policy == "fixed":
        assert seeds == [7, 7, 7]
    elif policy == "sequential":
        assert seeds == [7, 8, 9]
    else:
        assert len(set(seeds)) == 3 and 7 not in seeds


def test_a_full_disk_fails_one_keyframe_cleanly(studio: Path, config: Config, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_copy = vidgen.atomic.copy_atomic

    def copy(src: Path, dst: Path) -> str:
        if src.name.startswith("20250101_000002"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(vidgen.atomic, "copy_atomic", copy)
    out = tmp_path / "batch"
    report = create_batch([studio], out, config)
    assert [s.shot_id for s in report.manifest.keyframes] == [ONE, THREE]  # type: ignore[union-attr]
    assert [f.rule for f in report.errors] == ["copy"]
    assert "No space left on device" in report.errors[0].message
    leftovers = [p.name for p in (out / "shots").iterdir() if ".tmp-" in p.name or TWO in p.name]
    assert leftovers == []
    assert validate_batch(out, limits=RuleLimits()).ok


def test_protected_and_source_folders_are_refused(studio: Path, config: Config,
                                                  tmp_path: Path) -> None:
    with pytest.raises(ProtectedPathError):
        create_batch([studio], tmp_path / "__cropped" / "batch", config)
    shoot = tmp_path / "shoot"
    make_image(shoot / "a.png")
    with pytest.raises(ManifestError, match="inside a source folder"):
        create_batch([shoot], shoot / "batch", config)
    assert sorted(p.name for p in shoot.iterdir()) == ["a.png"]
    out = tmp_path / "batch"
    create_batch([studio], out, config)
    with pytest.raises(ManifestError, match="already exists"):
        create_batch([studio], out, config)


def test_motion_files_from_a_motions_folder(studio: Path, config: Config, tmp_path: Path) -> None:
    motions = tmp_path / "motions"
    motions.mkdir()
    # 320x448 output on a 1024x1024 keyframe: a 5/7 x 1 crop has the output aspect.
    _motion(motions / f"{TWO}.motion.json", motion_type="pan_right",
            start=[0.0, 0.0, 5 / 7, 1.0], end=[0.1, 0.0, 0.1 + 5 / 7, 1.0], duration_sec=5.0)
    report = create_batch([studio], tmp_path / "batch", config, motions_dir=motions)
    two = report.manifest.shot(TWO)  # type: ignore[union-attr]
    assert two.motion.start == (0.0, 0.0, 5 / 7, 1.0) and two.output.duration_sec == 5.0
    assert two.generation_params.num_frames == 120
    assert any(f"{TWO}.motion.json" in note for note in two.notes)


def test_missing_sources_are_reported(tmp_path: Path, studio: Path, config: Config) -> None:
    report = create_batch([studio, tmp_path / "nope", tmp_path / "notes.txt"],
                          tmp_path / "batch", config)
    assert {f.rule for f in report.errors} == {"input"}
    assert len(report.manifest.keyframes) == 3  # type: ignore[union-attr]


def test_same_file_twice_and_explicit_temp_files(studio: Path, config: Config,
                                                 tmp_path: Path) -> None:
    one = studio / f"{ONE}.png"
    hidden = tmp_path / "loose" / ".hidden.png"
    make_image(hidden)
    report = create_batch([studio, one, hidden], tmp_path / "batch", config)
    assert [s.shot_id for s in report.manifest.keyframes] == [ONE, TWO, THREE]  # type: ignore[union-attr]
    assert [(f.rule, Path(f.item).name) for f in report.errors] == [("input", ".hidden.png")]
    skips = [r for r in read_records(config.audit_dir) if r.get("operation") == "skip"]
    assert [r["files"] for r in skips] == [[".hidden.png"]]


def test_nothing_usable_writes_nothing(tmp_path: Path, config: Config) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.png").write_bytes(b"")
    report = create_batch([tmp_path / "src"], tmp_path / "batch", config)
    assert report.manifest is None and len(report.errors) == 1
    assert not (tmp_path / "batch").exists()
