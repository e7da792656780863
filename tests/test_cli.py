"""The command line: exit codes, one-line errors, JSON output, documented commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from vidgen.cli import app

runner = CliRunner()
DOCS = Path(__file__).parents[1] / "docs"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("VIDGEN_CONFIG", "VIDGEN_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def _commands(group: Any, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):  # a group
            names += _commands(command, full + " ")
        else:
            names.append(full)
    return names


def test_every_command_has_help_and_is_documented() -> None:
    commands = _commands(typer.main.get_command(app))
    assert {"batch create", "batch validate", "motion validate", "motion propose",
            "schema", "config"} <= set(commands)
    docs = (DOCS / "cli.md").read_text()
    for command in commands:
        result = runner.invoke(app, [*command.split(), "--help"])
        assert result.exit_code == 0, command
        assert f"vidgen {command}" in docs, f"`vidgen {command}` is not in docs/cli.md"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("vidgen ")


def test_batch_create_and_validate(studio: Path, tmp_path: Path) -> None:
    args = ["batch", "create", str(studio), "--out", str(tmp_path / "b"), "--width", "320",
            "--height", "448", "--batch-id", "cli", "--json"]
    result = runner.invoke(app, args, env={"VIDGEN_WORKSPACE": str(tmp_path)})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["shots"]) == 3 and report["excluded"] == []
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["keyframes"][0]["output"]["width"] == 320
    result = runner.invoke(app, ["batch", "validate", str(tmp_path / "b")])
    assert result.exit_code == 0 and "3 shot(s), 0 error(s)" in result.stdout


def test_left_out_keyframes_give_exit_code_1(studio: Path, tmp_path: Path) -> None:
    (studio.parent / "bad").mkdir()
    (studio.parent / "bad" / "x.png").write_text("not a png")
    result = runner.invoke(app, ["batch", "create", str(studio), str(studio.parent / "bad"),
                                 "--out", str(tmp_path / "b"), "--width", "320",
                                 "--height", "448"])
    assert result.exit_code == 1
    assert "1 keyframe(s) left out" in result.stdout and "3 shot(s)" in result.stdout


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "error:" in result.stderr and "not a batch folder" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    result = runner.invoke(app, ["config"], env={"VIDGEN_OUTPUT_FPS": "fast"})
    assert result.exit_code == 1 and "VIDGEN_OUTPUT_FPS" in result.stderr


def test_motion_propose_then_validate(studio: Path, tmp_path: Path) -> None:
    image = studio / "20250101_000001_stage2_upscaled.png"
    result = runner.invoke(app, ["motion", "propose", str(image), "--preset", "pan_left",
                                 "--out", str(tmp_path / "motions"), "--width", "320",
                                 "--height", "448"])
    assert result.exit_code == 0, result.output
    motion_file = tmp_path / "motions" / "20250101_000001_stage2_upscaled.motion.json"
    assert json.loads(motion_file.read_text())["motion_type"] == "pan_left"
    # Writing into the protected source folder is refused.
    result = runner.invoke(app, ["motion", "propose", str(image), "--out", str(studio)])
    assert result.exit_code == 1 and "protected" in result.stderr


def test_motion_validate_exit_code_follows_errors(tmp_path: Path) -> None:
    from .conftest import make_image

    make_image(tmp_path / "k.png", 800, 800)
    motion = {"motion_type": "pan_right", "start": [0.0, 0.0, 0.5, 0.5],
              "end": [0.5, 0.0, 1.0, 0.5], "duration_sec": 4.0, "easing": "linear"}
    (tmp_path / "k.motion.json").write_text(json.dumps(motion))
    result = runner.invoke(app, ["motion", "validate", str(tmp_path / "k.motion.json"),
                                 "--width", "512", "--height", "512", "--json"])
    assert result.exit_code == 1
    rules = {f["rule"] for f in json.loads(result.stdout)}
    assert "pan_speed" in rules
    motion["end"] = [0.05, 0.0, 0.55, 0.5]
    (tmp_path / "k.motion.json").write_text(json.dumps(motion))
    result = runner.invoke(app, ["motion", "validate", str(tmp_path / "k.png"),
                                 "--width", "400", "--height", "400"])
    assert result.exit_code == 0, result.output
    (tmp_path / "lonely.motion.json").write_text(json.dumps(motion))
    result = runner.invoke(app, ["motion", "validate", str(tmp_path / "lonely.motion.json")])
    assert result.exit_code == 1 and "no keyframe found" in result.stdout
    result = runner.invoke(app, ["motion", "validate", str(tmp_path / "nothere.png")])
    assert result.exit_code == 1 and "no such file" in result.stdout


def test_motion_validate_finds_keyframes_in_another_folder(studio: Path, tmp_path: Path) -> None:
    image = studio / "20250101_000002_stage3_enhanced.png"
    motions = tmp_path / "motions"
    result = runner.invoke(app, ["motion", "propose", str(image), "-o", str(motions),
                                 "--preset", "pan_right", "--width", "320", "--height", "448"])
    assert result.exit_code == 0, result.output
    motion_file = motions / "20250101_000002_stage3_enhanced.motion.json"
    result = runner.invoke(app, ["motion", "validate", str(motion_file), "--width", "320",
                                 "--height", "448"])
    assert result.exit_code == 1 and "no keyframe found" in result.stdout
    result = runner.invoke(app, ["motion", "validate", str(motion_file), "--keyframes",
                                 str(studio), "--width", "320", "--height", "448"])
    assert result.exit_code == 0 and "no findings" in result.stdout


def test_bad_output_size_and_an_all_bad_source(tmp_path: Path) -> None:
    from .conftest import make_image

    make_image(tmp_path / "src" / "a.png")
    result = runner.invoke(app, ["batch", "create", str(tmp_path / "src"), "-o",
                                 str(tmp_path / "b"), "--width", "511"])
    assert result.exit_code == 1 and "even" in result.stderr and "511x720" in result.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_text("[image] not a png")
    result = runner.invoke(app, ["batch", "create", str(tmp_path / "bad"), "-o",
                                 str(tmp_path / "b")])
    assert result.exit_code == 1 and "nothing was written" in result.stderr
    assert "[image]" in result.stdout  # markup in messages is shown, not swallowed
    assert not (tmp_path / "b").exists()


def test_schema_and_config_output() -> None:
    result = runner.invoke(app, ["schema", "motion"])
    assert result.exit_code == 0 and json.loads(result.stdout)["title"] == "Motion"
    result = runner.invoke(app, ["schema", "nope"])
    assert result.exit_code == 1 and "unknown format" in result.stderr
    result = runner.invoke(app, ["config", "--toml"], env={"VIDGEN_OUTPUT_WIDTH": "640"})
    assert result.exit_code == 0 and "width = 640" in result.stdout


def test_plan_compares_topologies() -> None:
    result = runner.invoke(app, ["plan", "--seconds", "15", "--interpolate-sec", "3", "--json"])
    assert result.exit_code == 0, result.output
    plans = json.loads(result.stdout)["plans"]
    assert [p["input"]["topology"] for p in plans] == ["colocated", "split"]
    assert plans[0]["videos_per_minute"] == pytest.approx(2 / 18 * 60)
    result = runner.invoke(app, ["plan", "--seconds", "15", "--gpus", "1", "--topology", "split"])
    assert result.exit_code == 1 and "gpus=1" in result.stderr


def test_serve_chooses_the_token_and_runs_the_server(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda studio, **options: runs.append(options))
    local = runner.invoke(app, ["serve", str(tmp_path), "--no-browser", "--port", "9001"])
    assert local.exit_code == 0, local.output
    assert "http://127.0.0.1:9001/" in local.stdout and "token" not in local.stdout
    lan = runner.invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0", "--no-browser"])
    assert lan.exit_code == 0 and "http://127.0.0.1:8765/?token=" in lan.stdout
    assert "generated" in lan.stdout
    chosen = runner.invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0", "--token",
                                 "mine", "--no-browser"])
    assert "?token=mine" in chosen.stdout and "generated" not in chosen.stdout
    assert [(r["host"], r["port"]) for r in runs] == [("127.0.0.1", 9001), ("0.0.0.0", 8765),
                                                      ("0.0.0.0", 8765)]
    assert all(r["access_log"] is False for r in runs)
    missing = runner.invoke(app, ["serve", str(tmp_path / "nope"), "--no-browser"])
    assert missing.exit_code == 1 and "not a folder" in missing.output
