"""Settings: precedence, types, bounds, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidgen.config import SETTINGS, load_config
from vidgen.errors import ConfigError


def test_defaults_come_from_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no vidgen.toml here
    config = load_config(env={})
    assert {name: config[name] for name in config} == {s.name: s.default for s in SETTINGS}
    assert config.source("output.width") == "default"


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    file = tmp_path / "vidgen.toml"
    file.write_text('workspace = "/studio"\n[output]\nwidth = 640\nheight = 360\nfps = 30\n')
    env = {"VIDGEN_OUTPUT_HEIGHT": "480", "VIDGEN_OUTPUT_FPS": "25"}
    config = load_config(file, env=env, overrides={"output.fps": 60, "output.crf": None})
    assert (config["output.width"], config["output.height"], config["output.fps"]) == (640, 480, 60)
    assert config.source("output.width") == str(file)
    assert config.source("output.height") == "VIDGEN_OUTPUT_HEIGHT"
    assert config.source("output.fps") == "command line"
    assert config.source("output.crf") == "default"
    assert config.audit_dir == Path("/studio/data/file_operations_logs")


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "elsewhere.toml"
    file.write_text("[motion]\npreset = 'pan_left'\n")
    assert load_config(env={"VIDGEN_CONFIG": str(file)})["motion.preset"] == "pan_left"
    with pytest.raises(ConfigError, match="not found"):
        load_config(env={"VIDGEN_CONFIG": str(tmp_path / "missing.toml")})


def test_environment_values_are_parsed_by_type() -> None:
    config = load_config(env={
        "VIDGEN_AUDIT_ENABLED": "no", "VIDGEN_SOURCES_PROTECTED": "__selected, keep*",
        "VIDGEN_MOTION_INTENSITY": "0.25", "VIDGEN_OUTPUT_WIDTH": "1280"})
    assert config["audit.enabled"] is False
    assert config["sources.protected"] == ["__selected", "keep*"]
    assert config["motion.intensity"] == 0.25 and config["output.width"] == 1280


@pytest.mark.parametrize(("env", "field", "phrase"), [
    ({"VIDGEN_OUTPUT_WIDTH": "wide"}, "output.width", "expected int"),
    ({"VIDGEN_OUTPUT_WIDTH": "8"}, "output.width", "too small"),
    ({"VIDGEN_MOTION_INTENSITY": "1.5"}, "motion.intensity", "too large"),
    ({"VIDGEN_MOTION_INTENSITY": "nan"}, "motion.intensity", "finite"),
    ({"VIDGEN_OUTPUT_CODEC": "vp9"}, "output.codec", "not one of"),
    ({"VIDGEN_AUDIT_ENABLED": "maybe"}, "audit.enabled", "boolean"),
])
def test_bad_environment_values(env: dict[str, str], field: str, phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase) as info:
        load_config(env=env)
    assert info.value.field == field
    assert info.value.item == next(iter(env))
    assert info.value.value == next(iter(env.values()))


def test_unknown_names_get_a_suggestion(tmp_path: Path) -> None:
    file = tmp_path / "vidgen.toml"
    file.write_text("[output]\nwidht = 640\n")
    with pytest.raises(ConfigError, match=r"did you mean 'output\.width'"):
        load_config(file, env={})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(env={}, overrides={"output.colour": 1})


def test_wrong_types_and_broken_files(tmp_path: Path) -> None:
    file = tmp_path / "vidgen.toml"
    file.write_text("[output]\nwidth = true\n")
    with pytest.raises(ConfigError, match="expected int, got bool"):
        load_config(file, env={})
    file.write_text("[output\nwidth = 1\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(file, env={})
    file.write_text("[output]\nwidth = 640.5\n")
    with pytest.raises(ConfigError, match="expected int"):
        load_config(file, env={})


def test_every_setting_is_documented() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in docs]
    assert missing == []


def test_toml_values_must_have_the_right_type(tmp_path: Path) -> None:
    file = tmp_path / "vidgen.toml"
    file.write_text('[output]\nwidth = "720"\n')
    with pytest.raises(ConfigError, match="expected int, got str"):
        load_config(file, env={})


def test_comfort_limits_stay_inside_hard_limits() -> None:
    with pytest.raises(ConfigError, match=r"must not exceed rules\.max_pan_speed") as info:
        load_config(env={"VIDGEN_RULES_COMFORT_PAN_SPEED": "0.3"})
    assert info.value.field == "rules.comfort_pan_speed" and info.value.value == 0.3
    with pytest.raises(ConfigError, match=r"rules\.max_duration"):
        load_config(env={}, overrides={"rules.min_duration": 9.0})


def test_numeric_choices_are_checked_when_read() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides={"interpolate.rife_scale": 0.75})
    assert caught.value.field == "interpolate.rife_scale" and caught.value.value == 0.75
    assert caught.value.limit == "0.25, 0.5, 1, 2, 4"
    assert load_config(env={"VIDGEN_INTERPOLATE_RIFE_SCALE": "0.5"})["interpolate.rife_scale"] \
        == 0.5
