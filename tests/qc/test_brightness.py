"""The plan's two brightness rules on synthetic clips with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from vidgen.config import load_config
from vidgen.qc import QCContext, available_checks, run_checks

CONFIG = load_config(env={})
CONTEXT = QCContext(fps=24, width=64, height=48)


def _clip(levels: list[int]) -> list[np.ndarray]:
    return [np.full((48, 64, 3), level, np.uint8) for level in levels]


def test_a_steady_clip_passes_every_check() -> None:
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(120, 3, (48, 64, 3)), 0, 255).astype(np.uint8)
              for _ in range(24)]
    report = run_checks(frames, CONFIG, CONTEXT, only=["flash_frames", "luma_change"])
    assert report.verdict == "pass" and report.frames == 24
    assert {"flash_frames", "luma_change"} <= set(available_checks())


def test_a_white_flash_is_found_at_its_frames() -> None:
    levels = [100] * 10 + [230] + [100] * 10  # 100 -> 230 is +130%, back is -57%
    report = run_checks(_clip(levels), CONFIG, CONTEXT, only=["flash_frames", "luma_change"])
    flash = next(c for c in report.checks if c.name == "flash_frames")
    assert flash.verdict == "fail" and flash.frames == [10, 11]
    assert flash.values["max_swing"] == pytest.approx(1.3, abs=1e-3)
    assert "2 frame(s)" in flash.reasons[0] and "frames 10-11" in flash.reasons[0]
    assert report.verdict == "fail"
    assert any(r.startswith("flash_frames:") for r in report.reasons)


def test_thresholds_sit_where_the_plan_puts_them() -> None:
    # Brightness 100 -> 140 is +40%: under the 50% flash rule. In linear light it is
    # (140/255)^2.2-ish / (100/255)^2.2-ish - 1, about +105%: over the 30% luminance rule.
    report = run_checks(_clip([100, 140]), CONFIG, CONTEXT, only=["flash_frames", "luma_change"])
    by_name = {c.name: c for c in report.checks}
    assert by_name["flash_frames"].verdict == "pass"
    assert by_name["flash_frames"].values["max_swing"] == pytest.approx(0.4, abs=1e-3)
    assert by_name["luma_change"].verdict == "fail"
    linear = ((np.array([100, 140]) / 255 + 0.055) / 1.055) ** 2.4
    assert by_name["luma_change"].values["max_swing"] == pytest.approx(
        linear[1] / linear[0] - 1, abs=1e-3)


def test_near_black_noise_is_not_a_flash() -> None:
    report = run_checks(_clip([0, 3, 0, 4, 1]), CONFIG, CONTEXT,
                        only=["flash_frames", "luma_change"])
    assert report.verdict == "pass"


def test_custom_limits_change_the_verdict() -> None:
    strict = load_config(env={}, overrides={"qc.flash_swing": 0.2, "qc.luma_change": 5.0})
    report = run_checks(_clip([100, 125]), strict, CONTEXT,
                        only=["flash_frames", "luma_change"])
    assert {c.name: c.verdict for c in report.checks} == {"flash_frames": "fail",
                                                         "luma_change": "pass"}
