"""Temporal variance (std of the frame-to-frame luma change) with known answers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import vidgen.qc.variance  # noqa: F401 - importing registers the check
from vidgen.config import load_config
from vidgen.qc import CheckResult, QCContext, available_checks, run_checks
from vidgen.qc.variance import change_std

CONFIG = load_config(env={})
H, W = 120, 160


def _check(frames: list[np.ndarray], config: Mapping[str, Any] = CONFIG) -> CheckResult:
    report = run_checks(frames, config, QCContext(fps=24, width=W, height=H),
                        only=["temporal_variance"])
    return report.check("temporal_variance")


def _noisy(std: float, count: int = 12, seed: int = 1) -> list[np.ndarray]:
    """Grey frames at 128 with fresh grey (equal R, G, B) Gaussian noise of ``std`` each frame."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        grey = np.clip(np.rint(128 + rng.normal(0, std, (H, W))), 0, 255).astype(np.uint8)
        frames.append(np.repeat(grey[:, :, None], 3, axis=2))
    return frames


def test_the_check_is_registered() -> None:
    assert "temporal_variance" in available_checks()


def test_a_static_clip_has_zero_variance() -> None:
    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    result = _check([still] * 10)
    assert result.verdict == "pass" and result.reasons == [] and result.frames == []
    assert result.values["mean"] == 0.0 and result.values["max"] == 0.0
    assert result.values["pairs"] == 9
    assert result.timeline == {"temporal_std": [0.0] * 10}


def test_a_uniform_brightness_change_has_no_spread() -> None:
    frames = [np.full((H, W, 3), level, np.uint8) for level in (40, 90, 200, 10)]
    assert _check(frames).values["max"] == 0.0


@pytest.mark.parametrize("std", [2.0, 5.0, 10.0])
def test_independent_noise_gives_std_times_root_2(std: float) -> None:
    result = _check(_noisy(std))
    # Rounding to 8 bits adds 1/12 to each frame's variance.
    expected = math.sqrt(2 * (std**2 + 1 / 12))
    assert result.values["mean"] == pytest.approx(expected, rel=0.02)
    assert result.values["max"] == pytest.approx(expected, rel=0.04)
    series = result.timeline["temporal_std"]
    assert len(series) == 12 and series[0] == 0.0
    assert all(v == pytest.approx(expected, rel=0.04) for v in series[1:])
    assert result.verdict == "pass"  # 2.8-14 levels: under the default 25


def test_crossing_the_limit_warns_and_never_fails() -> None:
    strict = load_config(env={}, overrides={"qc.temporal_variance_max": 5.0})
    assert _check(_noisy(3.0), strict).verdict == "pass"  # about 4.3
    result = _check(_noisy(5.0), strict)  # about 7.1
    assert result.verdict == "warn"
    assert result.frames == list(range(1, 12))
    assert result.values["mean"] == pytest.approx(7.08, abs=0.05)
    assert result.reasons[0].startswith("frame-to-frame change has a mean spread of 7.08 levels")
    assert "above 5;" in result.reasons[0] and "frames 1-11" in result.reasons[0]
    assert _check(_noisy(40.0)).verdict == "warn"  # far above the default 25: still a warning


def test_one_jolt_is_located() -> None:
    rng = np.random.default_rng(3)
    still = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    jolt = np.roll(still, 5, axis=1)
    result = _check([still] * 5 + [jolt] * 5)
    assert result.values["max_frame"] == 5
    assert result.values["max"] > 50 and result.values["mean"] == pytest.approx(
        result.values["max"] / 9, rel=1e-3)


def test_change_std_is_the_population_std_of_the_difference() -> None:
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 255, (36, 64)).astype(np.float32)
    b = rng.uniform(0, 255, (36, 64)).astype(np.float32)
    assert change_std(a, b) == pytest.approx(float(np.std(a.astype(np.float64) - b)), rel=1e-5)


def test_empty_and_single_frame_clips_pass() -> None:
    assert _check([]).values == {"mean": 0.0, "max": 0.0, "max_frame": None, "limit": 25.0,
                                 "pairs": 0}
    assert _check(_noisy(5.0, count=1)).verdict == "pass"
