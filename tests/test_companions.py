"""Companion sets, tolerant YAML, prompts, crop hints, protected folders and set copies."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from vidgen import atomic, companions
from vidgen.companions import (
    CompanionIndex,
    CompanionSet,
    TolerantLoader,
    copy_set,
    ensure_writable,
    find_companions,
    is_protected,
    load_yaml_tolerant,
    read_crop_hint,
    read_prompt,
    stem_of,
)
from vidgen.errors import ImageError, ProtectedPathError

STEM = "20250101_000001_stage2_upscaled"

STUDIO_YAML = """\
image_filename: 20250101_000001_stage2_upscaled.png
stage: !!python/tuple [stage2_upscaled, 2]
status: selected
loras:
  character:
    path: /models/char_v3.safetensors
    weights: !!python/tuple [0.8, 0.6]
source_image: !!python/object:PIL.Image.Image
  mode: RGB
  size: !!python/tuple [4, 2]
  data: !!binary |
    ChQeChQeChQe
prompt: "  a quiet harbour at dawn, soft light  "
positive_prompt: should not win
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def studio(tmp_path: Path) -> Path:
    """The studio's layout: a selected keyframe, its companions and a group decision."""
    folder = tmp_path / "__selected"
    write(folder / f"{STEM}.png", b"\x89PNG fake image bytes")
    write(folder / f"{STEM}.yaml", STUDIO_YAML)
    write(folder / f"{STEM}.caption", "caption text that loses\n")
    write(
        folder / "20250101_000001.decision",
        json.dumps({"group_id": "20250101_000001", "ai_crop_coords": [0.1, 0.2, 0.7, 0.9]}),
    )
    write(folder / "20250101_000002_stage2_upscaled.png", b"other group")
    return folder


def keyframe(folder: Path, name: str = "x.png", **sidecars: str) -> CompanionSet:
    write(folder / name, b"img")
    stem = stem_of(Path(name))
    for suffix, text in sidecars.items():
        write(folder / f"{stem}.{suffix}", text)
    return find_companions(folder / name)


# -- companion sets ------------------------------------------------------------------------------


def test_studio_layout(tmp_path: Path) -> None:
    folder = studio(tmp_path)
    cs = find_companions(folder / f"{STEM}.png")
    assert cs.image == folder / f"{STEM}.png"
    assert cs.stem == STEM
    assert [p.name for p in cs.companions] == [f"{STEM}.caption", f"{STEM}.yaml"]
    assert cs.decision == folder / "20250101_000001.decision"
    assert [p.name for p in cs.files] == [
        f"{STEM}.png",
        f"{STEM}.caption",
        f"{STEM}.yaml",
        "20250101_000001.decision",
    ]

    prompt = read_prompt(cs)
    assert prompt.text == "a quiet harbour at dawn, soft light"
    assert prompt.source == "yaml:prompt"
    assert prompt.notes == ()
    assert read_crop_hint(cs) == ((0.1, 0.2, 0.7, 0.9), ())

    other = find_companions(folder / "20250101_000002_stage2_upscaled.png")
    assert other.companions == () and other.decision is None
    assert read_crop_hint(other) == (None, ())


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("a.b.motion.json", "a.b"),
        ("x.stage1.5.png", "x.stage1.5"),
        ("x.VIDEO_META.json", "x"),
        ("x.video_manifest.json", "x"),
        ("x.yaml", "x"),
        ("plain", "plain"),
    ],
)
def test_stem_of(name: str, stem: str) -> None:
    assert stem_of(Path("folder") / name) == stem


def test_multi_dot_stems_and_sidecars(tmp_path: Path) -> None:
    for name in (
        "x.stage1.5.png",
        "x.stage1.5.yaml",
        "x.stage1.5.motion.json",
        "x.stage1.5.video_meta.json",
        "x.stage1.5.cropped",
        "x.yaml",
        "x.stage1.yaml",
        "x.stage1.5.png.yaml",
    ):
        write(tmp_path / name, "1")
    cs = find_companions(tmp_path / "x.stage1.5.png")
    assert [p.name for p in cs.companions] == [
        "x.stage1.5.cropped",
        "x.stage1.5.motion.json",
        "x.stage1.5.video_meta.json",
        "x.stage1.5.yaml",
    ]


def test_temp_dot_files_and_folders_are_never_companions(tmp_path: Path) -> None:
    for name in (
        "x.png",
        "x.yaml",
        "x.tmp-ab12cd34",
        "x.caption.tmp-0f0f0f0f",
        ".x.yaml.Ab12Cd",
        "x.png.tmp-1234",
    ):
        write(tmp_path / name, "1")
    (tmp_path / "x.d").mkdir()
    cs = find_companions(tmp_path / "x.png")
    assert [p.name for p in cs.companions] == ["x.yaml"]
    with pytest.raises(ImageError, match="temporary"):
        find_companions(tmp_path / ".hidden.png")


def test_image_suffixes(tmp_path: Path) -> None:
    cs = keyframe(tmp_path, "Shot.JPEG", caption="c")
    assert [p.name for p in cs.companions] == ["Shot.caption"]
    write(tmp_path / "notes.txt", "n")
    with pytest.raises(ImageError) as info:
        find_companions(tmp_path / "notes.txt")
    assert info.value.field == "suffix" and info.value.value == ".txt"
    with pytest.raises(ImageError, match="not found"):
        find_companions(tmp_path / "missing.png")


def test_decision_precedence(tmp_path: Path) -> None:
    write(tmp_path / "20250101_000001.decision", "{}")
    write(tmp_path / "20250101_000001_stage2.decision", "{}")
    write(tmp_path / "20250101.decision", "{}")
    for name in (
        "20250101_000001_stage2_upscaled.png",
        "20250101_000001_stage1_generated.png",
        "20250101_000003_stage1_generated.png",
        "20250101_000001_stage3_enhanced.png",
    ):
        write(tmp_path / name, b"img")
    write(tmp_path / "20250101_000001_stage3_enhanced.decision", "{}")
    index = CompanionIndex(tmp_path)

    def decision(name: str) -> str | None:
        found = index.set_for(tmp_path / name).decision
        return None if found is None else found.name

    assert decision("20250101_000001_stage2_upscaled.png") == "20250101_000001_stage2.decision"
    assert decision("20250101_000001_stage1_generated.png") == "20250101_000001.decision"
    assert decision("20250101_000003_stage1_generated.png") == "20250101.decision"
    own = index.set_for(tmp_path / "20250101_000001_stage3_enhanced.png")
    assert (
        own.decision is not None and own.decision.name == "20250101_000001_stage3_enhanced.decision"
    )
    assert own.files.count(own.decision) == 1


def test_decision_claimed_in_json(tmp_path: Path) -> None:
    write(tmp_path / "broken.decision", "{not json")
    write(tmp_path / "list.decision", "[1, 2]")
    write(tmp_path / "pick_a.decision", json.dumps({"images": ["sub/one_stage2_upscaled.png"]}))
    write(tmp_path / "pick_b.decision", json.dumps({"images": ["one_stage2_upscaled.png", 3]}))
    write(tmp_path / "pick_c.decision", json.dumps({"images": "two_stage1.png"}))
    for name in ("one_stage2_upscaled.png", "two_stage1.png"):
        write(tmp_path / name, b"img")
    index = CompanionIndex(tmp_path)
    one = index.set_for(tmp_path / "one_stage2_upscaled.png")
    assert one.decision == tmp_path / "pick_a.decision"  # the first claim by name wins
    assert one.files == (tmp_path / "one_stage2_upscaled.png", tmp_path / "pick_a.decision")
    assert index.set_for(tmp_path / "two_stage1.png").decision is None  # not a list: ignored


def test_index_lists_the_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(200):
        write(tmp_path / f"20250101_{i:06d}_stage2_upscaled.png", b"img")
        write(tmp_path / f"20250101_{i:06d}_stage2_upscaled.caption", f"prompt {i}")
    calls: list[object] = []
    real_scandir = os.scandir

    def counting_scandir(path: Any) -> Any:
        calls.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    index = CompanionIndex(tmp_path)
    sets = [index.set_for(image) for image in index.images]
    prompts = [read_prompt(cs).text for cs in sets]
    assert len(calls) == 1
    assert len(sets) == 200 and all(len(cs.companions) == 1 for cs in sets)
    assert prompts == [f"prompt {i}" for i in range(200)]


# -- tolerant YAML -------------------------------------------------------------------------------

Loader = Callable[[str], Any]
LOADERS: list[Loader] = [load_yaml_tolerant, lambda text: yaml.load(text, Loader=TolerantLoader)]


@pytest.mark.parametrize("load", LOADERS, ids=["fast", "pure"])
def test_yaml_never_executes(tmp_path: Path, load: Loader) -> None:
    marker = tmp_path / "SOMEFILE"
    text = f"""\
apply: !!python/object/apply:os.system ["touch {marker}"]
new: !!python/object/new:os.system {{args: ["touch {marker}"]}}
name: !!python/name:os.system ''
module: !!python/module:os ''
custom: !studio/thing {{a: 1}}
"""
    data = load(text)
    assert not marker.exists()
    assert data == {
        "apply": [f"touch {marker}"],
        "new": {"args": [f"touch {marker}"]},
        "name": None,
        "module": None,
        "custom": {"a": 1},
    }


@pytest.mark.parametrize("load", LOADERS, ids=["fast", "pure"])
def test_yaml_reads_studio_tags_and_a_dumped_pil_image(load: Loader) -> None:
    data = load(STUDIO_YAML)
    assert data["stage"] == ["stage2_upscaled", 2]
    assert data["loras"]["character"]["weights"] == [0.8, 0.6]
    assert data["source_image"]["size"] == [4, 2]
    dumped = yaml.dump({"prompt": "p", "image": Image.new("RGB", (4, 2), (10, 20, 30))})
    assert "!!python/object" in dumped
    image = load(dumped)
    assert image["prompt"] == "p"
    assert image["image"]["state"][1:3] == ["RGB", [4, 2]]
    with pytest.raises(yaml.constructor.ConstructorError):  # the plain safe loader refuses
        yaml.safe_load(dumped)


# -- prompts -------------------------------------------------------------------------------------


def test_positive_prompt_when_prompt_is_empty(tmp_path: Path) -> None:
    cs = keyframe(tmp_path, yaml="prompt: ''\npositive_prompt: a red kite\n", caption="c")
    prompt = read_prompt(cs)
    assert (prompt.text, prompt.source) == ("a red kite", "yaml:positive_prompt")
    assert len(prompt.notes) == 1 and "prompt=''" in prompt.notes[0]


def test_caption_fallback(tmp_path: Path) -> None:
    cs = keyframe(tmp_path, yaml="stage: stage2\nprompt: 42\n", caption="\n  a red kite \n")
    prompt = read_prompt(cs)
    assert (prompt.text, prompt.source) == ("a red kite", "caption")
    assert any("prompt=42" in note for note in prompt.notes)


def test_caption_only_with_bad_bytes(tmp_path: Path) -> None:
    write(tmp_path / "x.caption", b"caf\xe9 at night")
    cs = keyframe(tmp_path)
    assert read_prompt(cs) == companions.Prompt("caf\ufffd at night", "caption", ())


def test_missing_both(tmp_path: Path) -> None:
    cs = keyframe(tmp_path)
    assert read_prompt(cs) == companions.Prompt("", "none", ("no .yaml or .caption: empty prompt",))


@pytest.mark.parametrize(
    "text",
    [
        "prompt: [unclosed\n",
        "prompt: !!int 'abc'\n",
        "[" * 5000 + "]" * 5000,
        "- just\n- a list\n",
        "prompt: 2025-13-45\n",
    ],
)
def test_bad_yaml_falls_back_to_caption_with_a_note(tmp_path: Path, text: str) -> None:
    cs = keyframe(tmp_path, yaml=text, caption="from caption")
    prompt = read_prompt(cs)
    assert (prompt.text, prompt.source) == ("from caption", "caption")
    assert len(prompt.notes) == 1 and str(tmp_path / "x.yaml") in prompt.notes[0]


def test_bad_yaml_without_caption(tmp_path: Path) -> None:
    prompt = read_prompt(keyframe(tmp_path, yaml="prompt: [unclosed\n"))
    assert (prompt.text, prompt.source) == ("", "none")
    assert "x.yaml" in prompt.notes[0] and "empty prompt" in prompt.notes[-1]


# -- crop hints ----------------------------------------------------------------------------------


def test_crop_hint_from_recommendation(tmp_path: Path) -> None:
    cs = keyframe(
        tmp_path, decision=json.dumps({"ai_recommendation": {"crop_coords": [0, 0, 1, 1]}})
    )
    assert read_crop_hint(cs) == ((0.0, 0.0, 1.0, 1.0), ())


def test_invalid_crop_falls_through_to_recommendation(tmp_path: Path) -> None:
    cs = keyframe(
        tmp_path,
        decision=json.dumps(
            {
                "ai_crop_coords": [0.5, 0, 0.2, 1],
                "ai_recommendation": {"crop_coords": [0, 0, 0.5, 0.5]},
            }
        ),
    )
    hint, notes = read_crop_hint(cs)
    assert hint == (0.0, 0.0, 0.5, 0.5)
    assert len(notes) == 1 and "ai_crop_coords" in notes[0]


@pytest.mark.parametrize(
    ("coords", "why"),
    [
        ("[NaN, 0, 0.5, 1]", "finite"),
        ("[0.6, 0, 0.2, 1]", "x1 < x2"),
        ("[0, 0.9, 1, 0.1]", "y1 < y2"),
        ("[0, 0, 1.2, 1]", "x2 <= 1"),
        ("[-0.1, 0, 1, 1]", "0 <="),
        ("[0.1, 0.1, 0.5]", "4 numbers"),
        ('["0", 0, 1, 1]', "number"),
        ("[true, 0, 1, 1]", "number"),
        ('"0,0,1,1"', "4 numbers"),
        ("[0, 0, 1" + "0" * 400 + ", 1]", "x2 <= 1"),
        ("[0.5, 0, 0.5, 1]", "x1 < x2"),
    ],
)
def test_invalid_crop_coords(tmp_path: Path, coords: str, why: str) -> None:
    cs = keyframe(tmp_path, decision=f'{{"ai_crop_coords": {coords}}}')
    hint, notes = read_crop_hint(cs)
    assert hint is None
    assert len(notes) == 1
    assert str(tmp_path / "x.decision") in notes[0]
    assert "ai_crop_coords=" in notes[0] and why in notes[0]


@pytest.mark.parametrize("text", ["{broken", "[0, 0, 1, 1]", "", "\xff\xfe"])
def test_malformed_decision(tmp_path: Path, text: str) -> None:
    cs = keyframe(tmp_path, decision=text)
    hint, notes = read_crop_hint(cs)
    assert hint is None and len(notes) == 1 and "x.decision" in notes[0]


# -- protected folders ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("__selected", True),
        ("__selected/x.png", True),
        ("a/mojo3/b", True),
        ("a/__crop/b/c", True),
        ("__cropped", True),
        ("mojo", True),
        ("selected", False),
        ("__selected_old", False),
        ("MOJO3", False),
        ("a/b/c", False),
        ("__selected/../out", False),
    ],
)
def test_is_protected(tmp_path: Path, relative: str, expected: bool) -> None:
    assert is_protected(tmp_path / relative) is expected


def test_relative_and_symlinked_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "__selected").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "__selected")
    monkeypatch.chdir(tmp_path / "__selected")
    assert is_protected(Path("sub"))
    assert is_protected(tmp_path / "out" / "x.png")
    assert not is_protected(tmp_path / "elsewhere", patterns=["other*"])
    assert is_protected(tmp_path / "other1", patterns=["other*"])


def test_ensure_writable_names_folder_and_pattern(tmp_path: Path) -> None:
    ensure_writable(tmp_path / "out")
    with pytest.raises(ProtectedPathError) as info:
        ensure_writable(tmp_path / "mojo3" / "out")
    assert info.value.value == "mojo3" and info.value.limit == "mojo*"
    assert info.value.item == str(tmp_path / "mojo3" / "out") and info.value.hint


# -- copying sets --------------------------------------------------------------------------------


def snapshot(paths: tuple[Path, ...]) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def test_copy_set(tmp_path: Path) -> None:
    cs = find_companions(studio(tmp_path) / f"{STEM}.png")
    before = snapshot(cs.files)
    dest = tmp_path / "batch" / "keyframes"
    copied = copy_set(cs.files, dest, ["__selected"])
    assert [c.dest for c in copied] == [dest / p.name for p in cs.files]
    for item in copied:
        assert item.dest.read_bytes() == item.source.read_bytes()
        assert item.sha256 == atomic.sha256_file(item.source)
        assert item.size == item.source.stat().st_size
    assert snapshot(cs.files) == before
    assert sorted(os.listdir(dest)) == sorted(p.name for p in cs.files)


def test_copy_set_is_idempotent(tmp_path: Path) -> None:
    cs = keyframe(tmp_path / "src", yaml="prompt: p\n", caption="c")
    dest = tmp_path / "out"
    first = copy_set(cs.files, dest, [])
    stamps = {c.dest: c.dest.stat().st_mtime_ns for c in first}
    inodes = {c.dest: c.dest.stat().st_ino for c in first}
    os.utime(dest / "x.png", ns=(1, 1))
    stamps[dest / "x.png"] = 1
    second = copy_set(cs.files, dest, [])
    assert second == first
    assert {c.dest: c.dest.stat().st_mtime_ns for c in second} == stamps
    assert {c.dest: c.dest.stat().st_ino for c in second} == inodes


def test_copy_set_never_overwrites_other_content(tmp_path: Path) -> None:
    cs = keyframe(tmp_path / "src", yaml="prompt: p\n", caption="c")
    dest = tmp_path / "out"
    write(dest / "x.yaml", "prompt: q\n")
    with pytest.raises(FileExistsError):
        copy_set(cs.files, dest, [])
    assert sorted(os.listdir(dest)) == ["x.yaml"]
    assert (dest / "x.yaml").read_text() == "prompt: q\n"


def test_copy_set_into_protected_folder(tmp_path: Path) -> None:
    cs = keyframe(tmp_path / "src", caption="c")
    target = tmp_path / "__cropped" / "batch"
    with pytest.raises(ProtectedPathError):
        copy_set(cs.files, target, companions.DEFAULT_PROTECTED)
    assert not target.exists()


def test_copy_set_duplicate_names(tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "x.png", "1")
    b = write(tmp_path / "b" / "x.png", "2")
    with pytest.raises(ValueError, match="same name"):
        copy_set([a, b], tmp_path / "out", [])
    assert not (tmp_path / "out").exists()


def test_copy_set_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cs = find_companions(studio(tmp_path) / f"{STEM}.png")
    before = snapshot(cs.files)
    real_copy = atomic.copy_atomic
    calls: list[Path] = []

    def failing_copy(src: Path, dst: Path) -> str:
        calls.append(src)
        if len(calls) == 2:  # the disk fills up halfway through the second file
            with atomic.open_atomic(dst) as handle:
                handle.write(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copy(src, dst)

    monkeypatch.setattr(atomic, "copy_atomic", failing_copy)
    dest = tmp_path / "batch"
    with pytest.raises(OSError) as info:
        copy_set(cs.files, dest, ["__selected"])
    assert info.value.errno == errno.ENOSPC
    assert len(calls) == 2
    assert os.listdir(dest) == []
    assert snapshot(cs.files) == before
