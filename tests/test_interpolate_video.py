"""`vidgen interpolate`: any video retimed, same duration, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidgen.cli import app
from vidgen.encode import EncodeSettings, encode_video, probe_video


def _clip(path: Path, frames: int = 32, fps: float = 16) -> Path:
    y, x = np.mgrid[0:48, 0:64]
    video = [np.stack([(x * 4 + i * 3) % 256, y * 5 % 256, np.full_like(x, 90)], -1)
             .astype(np.uint8) for i in range(frames)]
    encode_video(video, path, width=64, height=48, fps=fps,
                 settings=EncodeSettings(codec="h264", crf=10, preset="ultrafast", nvenc="off"))
    return path


@pytest.mark.parametrize(("src_fps", "dst_fps", "expected"), [(16, 24, 48), (16, 30, 60),
                                                             (24, 30, 40), (16, 32, 64)])
def test_retimed_video_keeps_its_duration(tmp_path: Path, src_fps: float, dst_fps: float,
                                          expected: int) -> None:
    source = _clip(tmp_path / "in.mp4", 32, src_fps)
    result = CliRunner().invoke(app, ["interpolate", str(source), "--fps", str(dst_fps), "-o",
                                      str(tmp_path / "out.mp4"), "--method", "blend", "--json"],
                                env={"VIDGEN_ENCODE_NVENC": "off", "VIDGEN_AUDIT_ENABLED": "0"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    probe = probe_video(tmp_path / "out.mp4")
    assert report["frames"] == probe.frames == expected and probe.fps == dst_fps
    assert probe.duration_sec == pytest.approx(32 / src_fps, abs=1 / dst_fps)
    assert {p.name for p in tmp_path.iterdir()} == {"in.mp4", "out.mp4"}  # no temporaries


def test_bad_requests_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    source = _clip(tmp_path / "in.mp4")
    before = source.read_bytes()
    runner = CliRunner()
    same = runner.invoke(app, ["interpolate", str(source), "--fps", "24", "-o", str(source)])
    assert same.exit_code == 1 and "overwrite the source" in same.output
    protected = tmp_path / "__selected" / "out.mp4"
    refused = runner.invoke(app, ["interpolate", str(source), "--fps", "24", "-o",
                                  str(protected)])
    assert refused.exit_code == 1 and not protected.exists()
    unknown = runner.invoke(app, ["interpolate", str(source), "--fps", "24", "-o",
                                  str(tmp_path / "o.mp4"), "--method", "magic"])
    assert unknown.exit_code == 1 and "interpolate.method" in unknown.output
    assert source.read_bytes() == before and not (tmp_path / "o.mp4").exists()
