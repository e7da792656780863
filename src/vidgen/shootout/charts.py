"""The report's charts (matplotlib, PNG bytes): thresholds drawn, status in colour.

Green: ranked (the winner darker), amber: awaiting data, red: eliminated. A
missing value leaves its bar out and says so under the axis.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidgen.shootout.config import ShootoutConfig
from vidgen.shootout.score import PARTS, ContenderScore, Metrics, Scoreboard

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Chart", "charts"]

COLOURS = {"winner": "#1b5e20", "ranked": "#43a047", "awaiting": "#f9a825",
           "eliminated": "#c62828"}
PART_COLOURS = {"speed": "#1565c0", "temporal": "#6a1b9a", "fidelity": "#00838f",
                "vram": "#ef6c00"}


@dataclass(frozen=True)
class Chart:
    """One chart: a file name, a title, what it shows, and the PNG."""

    name: str
    title: str
    caption: str
    png: bytes


def _colour(board: Scoreboard, entry: ContenderScore) -> str:
    return COLOURS["winner"] if entry is board.winner else COLOURS[entry.status]


def charts(board: Scoreboard, config: ShootoutConfig) -> list[Chart]:
    """The thresholds chart, the score chart and the QC detail chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False})
    rules, gpu = config.scoring, config.gpu
    entries = board.contenders
    labels = [textwrap.fill(e.label, 18) for e in entries]
    colours = [_colour(board, e) for e in entries]

    def bars(axis: Axes, title: str, values: Sequence[float | None], limit: float | None,
             limit_text: str, unit: str) -> None:
        shown = [v if v is not None else 0.0 for v in values]
        drawn = axis.bar(range(len(values)), shown, color=colours)
        for bar, value in zip(drawn, values, strict=True):
            text = "n/a" if value is None else f"{value:.3g}{unit}"
            axis.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=8)
        if limit is not None:
            axis.axhline(limit, color="#424242", linestyle="--", linewidth=1)
            axis.annotate(limit_text, (1.0, limit), xycoords=("axes fraction", "data"),
                          ha="right", va="bottom", fontsize=8, color="#424242")
        top = max([*shown, limit or 0.0])
        axis.set_ylim(0, top * 1.18 if top > 0 else 1.0)
        axis.set_title(title, loc="left", fontsize=10)
        axis.set_xticks(range(len(values)), labels, fontsize=8)

    width = max(5.2, 1.5 * len(entries) + 1.5)

    def figure(rows: int, cols: int, draw: Callable[[list[Axes]], None]) -> bytes:
        fig, axes = plt.subplots(rows, cols, figsize=(width * cols + (2.0 if cols == 1 else 0),
                                                      3.6 * rows), squeeze=False)
        draw(list(axes.flat))
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        return buffer.getvalue()

    metrics: list[Metrics] = [e.metrics for e in entries]

    def thresholds(axes: list[Axes]) -> None:
        bars(axes[0], f"Seconds per video on {gpu.reference}",
             [m.reference_sec for m in metrics], rules.speed_below_sec,
             f"eliminated at >= {rules.speed_below_sec:g} s", " s")
        bars(axes[1], "Peak VRAM (GB)", [m.vram_gb for m in metrics], rules.vram_max_gb,
             f"budget {rules.vram_max_gb:g} GB", "")
        bars(axes[2], "Worst video's mean SSIM", [m.ssim_worst for m in metrics],
             rules.ssim_above, f"must be > {rules.ssim_above:g}", "")
        bars(axes[3], "Flash frames (all videos)",
             [None if m.flash_frames is None else float(m.flash_frames) for m in metrics],
             float(rules.flash_frames_max) if rules.flash_frames_max else None, "", "")

    def scores(axes: list[Axes]) -> None:
        axis = axes[0]
        weights = rules.weights.as_dict()
        bottoms = [0.0] * len(entries)
        for part in PARTS:
            heights = [weights[part] * (e.parts.get(part) or 0.0) for e in entries]
            axis.bar(range(len(entries)), heights, bottom=bottoms,
                     color=PART_COLOURS[part], label=f"{part} x {weights[part]:g}")
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        for i, entry in enumerate(entries):
            text = "eliminated" if entry.status == "eliminated" else (
                f"{entry.score:.3f}" if entry.score is not None else
                "awaiting")
            axis.annotate(text, (i, bottoms[i]), ha="center", va="bottom", fontsize=8)
        axis.set_ylim(0, 1.1)
        axis.set_title("Weighted score by part", loc="left", fontsize=10)
        axis.set_xticks(range(len(entries)), labels, fontsize=8)
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))

    def detail(axes: list[Axes]) -> None:
        bars(axes[0], "Temporal variance (lower is smoother)",
             [m.temporal_variance for m in metrics], None, "", "")
        bars(axes[1], "Flicker score (1 = none)", [m.flicker for m in metrics], None, "", "")
        bars(axes[2], "First-frame SSIM against the keyframe (QC)",
             [m.fidelity_ssim for m in metrics], None, "", "")
        bars(axes[3], "Dynamic degree (share of moving frame pairs)",
             [m.dynamic for m in metrics], None, "", "")

    return [
        Chart("thresholds.png", "Thresholds", "The four measured thresholds; the dashed line "
              "is the limit.", figure(2, 2, thresholds)),
        Chart("scores.png", "Weighted score", "Each part is its weight times the sub-score "
              "(headroom inside the threshold); an awaiting contender shows the parts known "
              "so far.", figure(1, 1, scores)),
        Chart("qc.png", "QC detail", "Further QC metrics, shown for judgement; they are not "
              "scored.", figure(2, 2, detail)),
    ]
