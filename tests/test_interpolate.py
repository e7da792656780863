"""The retiming seam: which source pair and timestep each output frame uses."""

from __future__ import annotations

import numpy as np
import pytest

from vidgen.errors import ConfigError
from vidgen.interpolate import create_interpolator, retime_plan


@pytest.mark.parametrize(("n_src", "src", "dst", "n_dst"), [
    (64, 16, 24, 96), (81, 16, 24, 122), (64, 16, 30, 120), (96, 24, 30, 120),
    (48, 24, 48, 96), (96, 24, 24, 96),
])
def test_output_count_keeps_the_duration(n_src: int, src: int, dst: int, n_dst: int) -> None:
    plan = retime_plan(n_src, src, dst)
    assert len(plan) == n_dst
    assert plan[0] == (0, 0.0) and plan[-1] == (n_src - 1, 0.0)  # exact ends


def test_timesteps_follow_the_ratio() -> None:
    # 16 -> 24 fps over 4 source frames: 6 outputs at the instants k / 24 s, i.e. source
    # positions k * 2/3; source frames 0 and 2 fall on output instants and are kept as they are.
    plan = retime_plan(4, 16, 24)
    positions = [index + t for index, t in plan]
    assert positions == pytest.approx([0, 2 / 3, 4 / 3, 2.0, 8 / 3, 3.0])
    assert all(0 <= t < 1 for _, t in plan)
    # 2x keeps every source frame; the instant past the last frame holds it.
    assert retime_plan(4, 16, 32) == [(0, 0.0), (0, 0.5), (1, 0.0), (1, 0.5), (2, 0.0),
                                      (2, 0.5), (3, 0.0), (3, 0.0)]
    assert retime_plan(1, 16, 24) == [(0, 0.0)]
    with pytest.raises(ValueError):
        retime_plan(0, 16, 24)


def test_blend_retime_makes_exact_and_mixed_frames() -> None:
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (0, 100, 200, 250)]
    out = list(create_interpolator("blend").retime(frames, 16, 24))
    assert [int(f[0, 0, 0]) for f in out] == [0, 67, 133, 200, 233, 250]
    with pytest.raises(ConfigError, match="unknown interpolator"):
        create_interpolator("magic")
