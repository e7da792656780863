"""The report: what it needs (costs, the capacity plan, warnings), Markdown, and writing.

:func:`build_report` gathers everything the report shows from the scoreboard
and the config; :func:`write_report` writes ``report.html`` (one
self-contained file: videos, keyframes and charts inside it, no external
asset, see :mod:`vidgen.shootout.page`), ``report.md`` (the same tables in
text, linking the videos and the charts written to ``charts/``) and
``scores.json`` (the scoreboard as data).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import fmean
from typing import Any

from vidgen._version import __version__
from vidgen.atomic import write_bytes_atomic, write_json_atomic
from vidgen.planner import Plan, PlanInput, compare_topologies, plan_capacity
from vidgen.shootout.charts import Chart, charts
from vidgen.shootout.config import ShootoutConfig
from vidgen.shootout.ratings import RatingsSheet
from vidgen.shootout.score import PARTS, ContenderScore, Scoreboard, VideoResult

__all__ = ["CapacityPlan", "CostRow", "Costs", "ReportData", "build_report", "write_report"]


@dataclass(frozen=True)
class CostRow:
    """What one contender cost."""

    label: str
    hours: float
    usd: float
    videos: int

    @property
    def per_video(self) -> float | None:
        return self.usd / self.videos if self.videos else None


@dataclass(frozen=True)
class Costs:
    """The shootout's bill: hours used at the hourly rate, per contender and in total."""

    hourly_usd: float
    rows: list[CostRow]
    extra_hours: float

    @property
    def hours(self) -> float:
        return sum(r.hours for r in self.rows) + self.extra_hours

    @property
    def usd(self) -> float:
        return self.hours * self.hourly_usd

    @property
    def videos(self) -> int:
        return sum(r.videos for r in self.rows)

    @property
    def per_video(self) -> float | None:
        return self.usd / self.videos if self.videos else None


@dataclass(frozen=True)
class CapacityPlan:
    """The planner's answer for the winner (or, until there is one, the provisional leader)."""

    label: str
    provisional: bool
    input: PlanInput
    plans: list[Plan]


@dataclass
class ReportData:
    """Everything the report shows."""

    config: ShootoutConfig
    board: Scoreboard
    videos: list[VideoResult]
    keyframes: list[Path]
    costs: Costs
    plan: CapacityPlan | None
    sheet: RatingsSheet
    ratings_name: str
    charts: list[Chart] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""


def build_report(config: ShootoutConfig, board: Scoreboard, keyframes: Sequence[Path],
                 sheet: RatingsSheet, ratings_name: str = "ratings.csv") -> ReportData:
    """Costs, the capacity plan, the charts and the warnings for ``board``."""
    videos = [v for c in board.contenders for v in c.input.videos]
    costs = Costs(config.gpu.hourly_usd, [
        CostRow(c.label, c.input.hours, c.input.hours * config.gpu.hourly_usd, c.metrics.videos)
        for c in board.contenders], config.gpu.extra_hours)
    warnings = _device_warnings(board, config)
    if sheet.stale:
        warnings.append(f"{len(sheet.stale)} rating(s) were for an earlier rendering of their "
                        f"video and no longer count (the rows are blank again): "
                        + ", ".join(sheet.stale))
    if config.inputs.duration_sec != 4.0 and config.scoring.speed_below_sec == 30.0:
        warnings.append(f"the plan's 30 s limit is for a 4-s video; these videos last "
                        f"{config.inputs.duration_sec:g} s (set scoring.speed_below_sec)")
    return ReportData(config, board, videos, list(keyframes), costs,
                      capacity_plan(board, config), sheet, ratings_name, charts(board, config),
                      warnings, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def capacity_plan(board: Scoreboard, config: ShootoutConfig) -> CapacityPlan | None:
    """Plan the winner (or the provisional leader) on ``plan.gpus`` reference GPUs.

    Interpolation and encoding take the leader's measured means unless the config sets them.
    """
    leader = board.leader
    if leader is None or not leader.metrics.reference_sec:
        return None
    videos = leader.input.videos
    spec = config.plan
    inp = PlanInput(
        seconds_per_video=round(leader.metrics.reference_sec, 3), gpu=config.gpu.reference,
        gpus=spec.gpus, hourly_usd=spec.hourly_usd, target_per_day=spec.target_per_day,
        cpu_workers=spec.cpu_workers,
        interpolate_sec=round(spec.interpolate_sec if spec.interpolate_sec is not None else
                              fmean(v.interpolate_sec for v in videos), 3),
        encode_sec=round(spec.encode_sec if spec.encode_sec is not None else
                         fmean(v.encode_sec for v in videos), 3))
    plans = compare_topologies(inp) if spec.gpus >= 2 else [plan_capacity(inp)]
    return CapacityPlan(leader.label, board.winner is None, inp, plans)


def _norm(name: str) -> str:
    return re.sub(r"nvidia|geforce|[^a-z0-9]", "", name.casefold())


def _device_warnings(board: Scoreboard, config: ShootoutConfig) -> list[str]:
    """A contender measured on another device than ``gpu.name`` makes the conversion wrong."""
    wanted = _norm(config.gpu.name)
    return [f"{c.label} ran on {c.input.device!r}, but gpu.name is {config.gpu.name!r}: its "
            f"times are converted with the factor for {config.gpu.name}"
            for c in board.contenders if c.input.device and wanted not in _norm(c.input.device)]


def write_report(data: ReportData, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md``, ``charts/*.png`` and ``scores.json``."""
    from vidgen.shootout.page import render_html

    out_dir = Path(out_dir)
    (out_dir / "charts").mkdir(parents=True, exist_ok=True)
    for chart in data.charts:
        write_bytes_atomic(out_dir / "charts" / chart.name, chart.png)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    write_bytes_atomic(html_path, render_html(data, out_dir).encode())
    write_bytes_atomic(md_path, render_markdown(data).encode())
    write_json_atomic(out_dir / "scores.json", scores_json(data))
    return html_path, md_path


# -- shared cells --------------------------------------------------------------------------


def num(value: float | None, digits: int = 2, unit: str = "") -> str:
    """A number for a table cell; a dash when unknown."""
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def status_text(board: Scoreboard, entry: ContenderScore) -> str:
    if entry is board.winner:
        return "winner"
    return {"ranked": "ranked", "awaiting": "awaiting data",
            "eliminated": "eliminated"}[entry.status]


def score_text(entry: ContenderScore) -> str:
    if entry.score is not None:
        return f"{entry.score:.3f}"
    if entry.provisional is not None:
        return f"({entry.provisional:.3f} so far)"
    return "-"


def reasons_text(entry: ContenderScore) -> str:
    parts = [f"{e.rule}: {e.value} (limit {e.limit})" for e in entry.eliminations]
    parts += [f"missing: {m}" for m in entry.missing]
    if entry.metrics.text_to_video:
        parts.append("text-to-video: never saw the keyframe")
    return "; ".join(parts) or "passes every threshold"


SCORE_HEADER = ("rank", "contender", "status", "s/video ({ref})", "load s", "peak VRAM GB",
                "SSIM mean / worst", "flash", "fidelity /5", "smooth /5", "speed", "temporal",
                "fidelity", "VRAM", "score", "reasons")


def score_rows(data: ReportData) -> list[list[str]]:
    """The scoring table's rows, in the board's order."""
    rows = []
    for c in data.board.contenders:
        m = c.metrics
        rows.append([
            str(c.rank or "-"), c.label, status_text(data.board, c), num(m.reference_sec),
            num(m.load_sec, 1), num(m.vram_gb, 1),
            f"{num(m.ssim_mean, 3)} / {num(m.ssim_worst, 3)}",
            "-" if m.flash_frames is None else str(m.flash_frames), num(m.fidelity_rating, 1),
            num(m.smoothness_rating, 1), *(num(c.parts.get(p)) for p in PARTS),
            score_text(c), reasons_text(c)])
    return rows


def plan_rows(plan: CapacityPlan) -> list[list[str]]:
    """One row per topology."""
    return [[p.input.topology, f"{p.videos_per_minute:.2f}", f"{p.videos_per_day:,.0f}",
             str(p.gpus_needed or "none"), p.bottleneck,
             ", ".join(f"{k} {v:.0%}" for k, v in p.utilisation.items()),
             f"${p.cost_per_video_usd:.4f}", f"${p.monthly_cost_usd:,.0f}",
             f"{p.transfer_tb_per_month:.2f}", f"{p.storage_tb:.2f}",
             "yes" if p.meets_target else "no"] for p in plan.plans]


PLAN_HEADER = ("topology", "videos/min", "videos/day", "GPUs needed", "bottleneck", "busy",
               "$/video", "$/month", "transfer TB/month", "storage TB", "meets target")


# -- Markdown ------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(cell(h) for h in header) + " |",
            "|" + "---|" * len(header), *("| " + " | ".join(cell(c) for c in row) + " |"
                                          for row in rows)]


def render_markdown(data: ReportData) -> str:
    """The report as Markdown: the verdict, the tables, the plan; videos and charts linked."""
    config, board, gpu = data.config, data.board, data.config.gpu
    inputs = config.inputs
    lines = [f"# {config.title}", "", f"Generated {data.created_at} by vidgen {__version__}.", ""]
    heading = f"Winner: {board.winner.label}" if board.winner else "No winner yet" \
        if any(c.status == "awaiting" for c in board.contenders) else "No winner"
    lines += [f"## {heading}", "", *(f"- {w}" for w in board.why), ""]
    lines += [*(f"**Next:** {step}" for step in next_steps(data)), ""] if next_steps(data) \
        else []
    lines += [*(f"> **Warning:** {w}" for w in data.warnings), ""] if data.warnings else []
    lines += ["## Inputs", "",
              f"- keyframes: {', '.join(p.name for p in data.keyframes)}",
              f"- prompt: {inputs.prompt or '(each keyframe its own)'}",
              f"- {inputs.duration_sec:g} s, {inputs.width}x{inputs.height}, {inputs.fps} fps; "
              f"seeds {', '.join(str(s) for s in inputs.seeds)}",
              f"- runs on {gpu.name}; thresholds for {gpu.reference}; " + conversion_text(config),
              ""]
    lines += ["## Scores", "", *_table([h.format(ref=gpu.reference) for h in SCORE_HEADER],
                                       score_rows(data)), ""]
    if board.eliminations:
        lines += ["### Eliminations", "", *(f"- {e}" for e in board.eliminations), ""]
    lines += ["## Videos", "", *_table(("video", "contender", "s", "SSIM", "flash", "QC"), [
        [f"[{v.keyframe} seed {v.seed}]({v.path})", v.contender, num(v.seconds),
         num(v.ssim_mean, 3), str(v.flash_frames), v.verdict] for v in data.videos]), ""]
    lines += ["## Charts", "", *(f"![{c.title}](charts/{c.name})\n\n{c.caption}\n"
                                 for c in data.charts)]
    costs = data.costs
    lines += ["## Cost", "", f"${costs.hourly_usd:g}/h x {costs.hours:.3f} h = "
              f"**${costs.usd:.2f}** for {costs.videos} videos"
              + (f" (${costs.per_video:.4f} per video)" if costs.per_video is not None else ""),
              "", *_table(("contender", "hours", "USD", "videos", "USD/video"), [
                  [r.label, f"{r.hours:.4f}", f"{r.usd:.2f}", str(r.videos),
                   num(r.per_video, 4)] for r in costs.rows]
                  + [["setup and idle (gpu.extra_hours)", f"{costs.extra_hours:.4f}",
                      f"{costs.extra_hours * costs.hourly_usd:.2f}", "", ""]]), ""]
    lines += ["## Capacity plan", ""]
    if data.plan is None:
        lines += ["No contender to plan for.", ""]
    else:
        plan = data.plan
        lines += [f"For {'the provisional leader ' if plan.provisional else ''}{plan.label}: "
                  f"{plan.input.seconds_per_video:g} s per video on {plan.input.gpu}, "
                  f"{plan.input.gpus} GPU(s) at ${plan.input.hourly_usd:g}/h each.", "",
                  *_table(PLAN_HEADER, plan_rows(plan)), "", "```",
                  *(line for p in plan.plans for line in p.summary_lines()), "```", ""]
    rated = len(data.sheet.ratings)
    lines += ["## Manual ratings", "", f"{rated} of {len(data.videos)} video(s) rated in "
              f"`{data.ratings_name}`. Fill first_frame_fidelity and motion_smoothness (1-5), "
              "artifact_count and commercially_viable (yes/no), then run the same "
              "`vidgen shootout` command again.", ""]
    return "\n".join(lines).rstrip() + "\n"


def next_steps(data: ReportData) -> list[str]:
    """What the studio owner does next, while no winner is named."""
    if data.board.winner is not None:
        return []
    missing = [m for c in data.board.contenders if c.status == "awaiting" for m in c.missing]
    steps = []
    if any("rating" in m for m in missing):
        steps.append(f"Rate the videos: fill {data.ratings_name} (one row per video, see the "
                     "review sheet), then run the same vidgen shootout command again; nothing "
                     "is generated again.")
    if any("not made yet" in m for m in missing):
        steps.append("Make the missing videos: run vidgen shootout where their backend works "
                     "(the ledger resumes where it stopped).")
    if any("VRAM" in m for m in missing):
        steps.append("Peak VRAM was not reported: for ComfyUI set comfyui.vram_sample_sec above "
                     "0, then make those videos again with --rerun.")
    return steps


def conversion_text(config: ShootoutConfig) -> str:
    gpu = config.gpu
    if gpu.same_gpu:
        return f"measured on the reference GPU ({gpu.reference}): no conversion"
    return (f"seconds on {gpu.reference} = seconds measured on {gpu.name} x {gpu.factor:g} "
            "(gpu.speed_factor, set by you)")


def scores_json(data: ReportData) -> dict[str, Any]:
    """The scoreboard as data."""
    board = data.board
    return {
        "schema": "vidgen.shootout_scores/1", "created_at": data.created_at,
        "winner": board.winner.name if board.winner else None,
        "leader": board.leader.name if board.leader else None, "why": board.why,
        "contenders": [{
            "name": c.name, "label": c.label, "status": c.status, "rank": c.rank,
            "score": c.score, "provisional": c.provisional, "parts": c.parts,
            "missing": c.missing, "eliminations": [asdict(e) for e in c.eliminations],
            "metrics": asdict(c.metrics), "device": c.input.device, "hours": c.input.hours,
        } for c in board.contenders],
        "cost": {"hourly_usd": data.costs.hourly_usd, "hours": data.costs.hours,
                 "usd": data.costs.usd, "videos": data.costs.videos},
        "plan": None if data.plan is None else [p.to_dict() for p in data.plan.plans],
        "warnings": data.warnings,
    }
