"""QC of any video file, and a plot of its timelines.

:func:`qc_video` decodes a video once and runs every registered check on it,
with the keyframe and motion when they are known (first-frame fidelity and
path-compensated SSIM need them). :func:`plot_report` draws the per-frame
timelines the checks record (luminance, flash state, SSIM, motion, ...) so a
person can see where a problem is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vidgen.encode import VideoProbe, decode_frames, probe_video
from vidgen.motion import Motion
from vidgen.qc.base import QCContext, QCReport, run_checks

__all__ = ["plot_report", "qc_video"]


def qc_video(path: Path, config: Mapping[str, Any], *,
             keyframe: NDArray[np.uint8] | None = None, motion: Motion | None = None,
             backend: str | None = None, probe: VideoProbe | None = None) -> QCReport:
    """Run the whole QC suite on ``path`` in one decode pass.

    ``probe`` is the container's description when the caller already has it.
    """
    probe = probe or probe_video(path, decode=False)
    context = QCContext(fps=probe.fps, width=probe.width, height=probe.height,
                        keyframe=keyframe, motion=motion,
                        analysis_height=config["qc.analysis_height"], backend=backend)
    return run_checks(decode_frames(path), config, context)


def plot_report(report: QCReport, path: Path, *, title: str = "") -> None:
    """A PNG with one panel per check that recorded a timeline, time in seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [c for c in report.checks if c.timeline]
    fig, axes = plt.subplots(max(1, len(panels)), 1, figsize=(10, 1.9 * max(1, len(panels))),
                             sharex=True, squeeze=False)
    fps = report.fps or 1.0
    colours = {"pass": "#2e7d32", "warn": "#f9a825", "fail": "#c62828"}
    for ax, check in zip(axes[:, 0], panels, strict=False):
        for name, series in check.timeline.items():
            ax.plot(np.arange(len(series)) / fps, series, label=name, linewidth=1.2)
        for index in check.frames:
            ax.axvline(index / fps, color=colours[check.verdict], alpha=0.25, linewidth=1)
        ax.set_ylabel(check.name, fontsize=8)
        ax.set_title(f"{check.name}: {check.verdict}", fontsize=9, loc="left",
                     color=colours[check.verdict])
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle(title or f"QC: {report.verdict}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
