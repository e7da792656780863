"""``vidgen shootout``: the plan's Phase 0, contenders x keyframes x seeds, scored and reported.

:func:`shootout` is the whole path: read the config
(:mod:`~vidgen.shootout.config`), make every missing video
(:mod:`~vidgen.shootout.run`, resumable through each batch's ledger), read the
measurements back, merge the manual ratings (:mod:`~vidgen.shootout.ratings`),
score (:mod:`~vidgen.shootout.score`, pure) and write the report
(:mod:`~vidgen.shootout.report`: HTML, Markdown, the ratings sheet). Running
it again after filling the ratings sheet generates nothing and re-renders the
verdict. See docs/shootout.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vidgen.errors import ConfigError
from vidgen.shootout.config import ShootoutConfig, load_shootout
from vidgen.shootout.ratings import RatingsSheet, read_ratings, write_sheet
from vidgen.shootout.report import ReportData, build_report, write_report
from vidgen.shootout.run import Event, RunRecord, collect, default_out_dir, run_shootout
from vidgen.shootout.score import Scoreboard, score

__all__ = ["ShootoutConfig", "ShootoutResult", "load_shootout", "shootout"]


@dataclass
class ShootoutResult:
    """What one ``vidgen shootout`` did and where it wrote it."""

    out_dir: Path
    board: Scoreboard
    report: ReportData
    html: Path
    markdown: Path
    ratings: Path
    sheet: RatingsSheet
    records: list[RunRecord]


def shootout(config_path: Path, *, out_dir: Path | None = None, rerun: Sequence[str] = (),
             ratings: Path | None = None, report_only: bool = False,
             settings_file: Path | None = None, env: Mapping[str, str] | None = None,
             on_event: Event | None = None) -> ShootoutResult:
    """Run (or resume) a shootout and write its report.

    Args:
        config_path: The shootout's TOML file.
        out_dir: The work folder; default ``<config stem>-out`` beside the config.
        rerun: Contenders whose videos are deleted and made again.
        ratings: The ratings sheet to read and update; default ``<out_dir>/ratings.csv``.
        report_only: Generate nothing: score and report what is there (e.g. on the
            machine where the videos were copied back to).
        settings_file: vidgen's own settings file (``--config``).
        env: The environment for ``VIDGEN_*`` (``os.environ`` when omitted).
        on_event: Called with one line per step.

    Raises:
        ConfigError: a bad shootout file or setting; a contender changed since its run.
        InputError: a bad ratings sheet (row, column, value, allowed range).
        KeyboardInterrupt: interrupted; the next run resumes.
    """
    config, keyframes = load_shootout(config_path)
    for name in rerun:
        config.contender(name)
    if rerun and report_only:
        raise ConfigError("--rerun makes videos again and --report-only makes none",
                          field="rerun", value=list(rerun), hint="use one or the other")
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(config_path)
    sheet_path = Path(ratings) if ratings is not None else out_dir / "ratings.csv"
    read_ratings(sheet_path)  # a broken sheet fails before any GPU time is spent
    records: list[RunRecord] = []
    if not report_only:
        records = run_shootout(config, keyframes, out_dir, settings_file=settings_file, env=env,
                               rerun=rerun, on_event=on_event)
    contenders = collect(config, out_dir)
    videos = [v for c in contenders for v in c.videos]
    sheet = read_ratings(sheet_path, videos)
    board = score(contenders, sheet.ratings, config.scoring, config.gpu)
    write_sheet(sheet_path, videos, sheet)
    name = sheet_path.relative_to(out_dir).as_posix() if sheet_path.is_relative_to(out_dir) \
        else sheet_path.name
    data = build_report(config, board, keyframes, sheet, name)
    html, markdown = write_report(data, out_dir)
    return ShootoutResult(out_dir, board, data, html, markdown, sheet_path, sheet, records)
