"""The shootout file: the plan's defaults, and every mistake named with its field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidgen.errors import ConfigError
from vidgen.shootout.config import load_shootout

from .conftest import camera, write_shootout

EXAMPLE = Path(__file__).parents[2] / "examples" / "shootout.toml"


def error(tmp_path: Path, contenders: str = "", **kwargs: str) -> ConfigError:
    path = write_shootout(tmp_path, contenders or camera("a"), **kwargs)
    with pytest.raises(ConfigError) as info:
        load_shootout(path)
    return info.value


def test_the_example_loads_with_the_plans_defaults() -> None:
    config, keyframes = load_shootout(EXAMPLE)
    inputs, rules = config.inputs, config.scoring
    assert (inputs.duration_sec, inputs.width, inputs.height, inputs.fps) == (4.0, 512, 720, 24)
    assert rules.weights.as_dict() == {"speed": 0.4, "temporal": 0.35, "fidelity": 0.15,
                                       "vram": 0.1}
    assert (rules.speed_below_sec, rules.ssim_above, rules.flash_frames_max,
            rules.fidelity_above, rules.vram_max_gb) == (30.0, 0.85, 0, 4.0, 24.0)
    assert config.gpu.reference == "RTX 4090" and config.gpu.factor == 1.0
    assert [c.backend for c in config.contenders] == ["camera", "camera"]
    assert [k.name for k in keyframes] == ["astronaut.png"] and keyframes[0].is_file()


def test_settings_come_flat_or_nested_and_are_coerced(tmp_path: Path) -> None:
    path = write_shootout(tmp_path, """
[[contenders]]
name = "a"
backend = "camera"
[contenders.settings]
"output.crf" = 23
[contenders.settings.interpolate]
method = "blend"
""")
    config, _ = load_shootout(path)
    assert config.contenders[0].settings == {"output.crf": 23, "interpolate.method": "blend"}
    assert config.settings["rules.min_duration"] == 1.0


def test_weights_must_add_up_to_one(tmp_path: Path) -> None:
    exc = error(tmp_path, extra="[scoring.weights]\nspeed = 0.5\n")
    assert exc.field == "scoring.weights"
    assert "add up to 1.1, not 1 (speed 0.5 + temporal 0.35 + fidelity 0.15 + vram 0.1)" in str(
        exc)


def test_another_gpu_needs_an_explicit_factor(tmp_path: Path) -> None:
    path = write_shootout(tmp_path, camera("a"))
    path.write_text(path.read_text().replace("speed_factor = 1.0\n", "")
                    .replace('name = "CPU"', 'name = "H100"'))
    with pytest.raises(ConfigError) as info:
        load_shootout(path)
    assert info.value.field == "gpu" and "set gpu.speed_factor" in info.value.message
    assert "vidgen never converts times silently" in info.value.message
    path.write_text(path.read_text().replace('name = "H100"', 'name = "RTX 4090"')
                    .replace("hourly_usd = 2.0", "hourly_usd = 2.0\nspeed_factor = 2.0"))
    with pytest.raises(ConfigError, match="must be 1 \\(or left out\\)"):
        load_shootout(path)


@pytest.mark.parametrize(("settings", "field", "message"), [
    ('{"encode.presett" = "fast"}', "contenders[0].settings.encode.presett",
     "unknown vidgen setting"),
    ('{"output.width" = 640}', "contenders[0].settings.output.width", "set by the shootout"),
    ('{"encode.preset" = "warp"}', "contenders[0].settings.encode.preset",
     "not one of the choices"),
    ('{"output.crf" = "high"}', "contenders[0].settings.output.crf", "expected int"),
])
def test_contender_settings_are_checked_at_once(tmp_path: Path, settings: str, field: str,
                                                message: str) -> None:
    exc = error(tmp_path, camera("a", settings=settings))
    assert exc.field == field and message in exc.message


def test_a_locked_setting_says_where_it_belongs(tmp_path: Path) -> None:
    exc = error(tmp_path, settings='"generation.seed" = 3')
    assert exc.field == "settings.generation.seed" and exc.hint == "use `inputs.seeds`"


@pytest.mark.parametrize(("contenders", "field", "message"), [
    (camera("a") + camera("A"), None, "contender names must be unique"),
    (camera("a b"), "contenders[0].name", "should match pattern"),
    ('[[contenders]]\nname = "x"\nbackend = "sora"\n', "contenders[0].backend",
     "unknown backend"),
    ('[[contenders]]\nname = "x"\nbackend = "camera"\ntemplate = "wan"\n',
     "contenders[0].template", "takes no template"),
    ('[[contenders]]\nname = "x"\nbackend = "diffusers"\ntemplate = "sora"\n',
     "contenders[0].template", "unknown diffusers model variant"),
    ('[[contenders]]\nname = "x"\nbackend = "camera"\ncolour = "red"\n',
     "contenders[0].colour", "Extra inputs are not permitted"),
])
def test_contenders_are_checked(tmp_path: Path, contenders: str, field: str | None,
                                message: str) -> None:
    exc = error(tmp_path, contenders)
    assert exc.field == field and message in exc.message


def test_keyframes_must_exist_and_differ(tmp_path: Path) -> None:
    path = write_shootout(tmp_path, camera("a"))
    text = path.read_text()
    path.write_text(text.replace('["keys/harbour.png"]', '["keys/harbour.png", "keys/no.png"]'))
    with pytest.raises(ConfigError) as info:
        load_shootout(path)
    assert info.value.field == "inputs.keyframes[1]" and info.value.value == "keys/no.png"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "harbour.png").write_bytes((tmp_path / "keys/harbour.png").read_bytes())
    path.write_text(text.replace('["keys/harbour.png"]',
                                 '["keys/harbour.png", "other/harbour.png"]'))
    with pytest.raises(ConfigError, match="same name"):
        load_shootout(path)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_shootout(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[inputs\n")
    with pytest.raises(ConfigError, match="cannot read shootout file"):
        load_shootout(tmp_path / "bad.toml")
    exc = error(tmp_path, camera("a"), seeds="[1, 1]")
    assert exc.field == "inputs" and "seeds must be unique" in exc.message
    (tmp_path / "empty.toml").write_text('schema = "vidgen.shootout/1"\n')
    with pytest.raises(ConfigError) as info:
        load_shootout(tmp_path / "empty.toml")
    assert info.value.field == "inputs" and "Field required" in info.value.message
