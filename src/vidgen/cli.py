"""The ``vidgen`` command: parse, build the config, call the library, report.

Thin on purpose: every command maps its flags onto settings (a flag beats
``VIDGEN_*`` beats ``vidgen.toml`` beats the default), calls one library
function and renders what it returns. A :class:`~vidgen.errors.VidgenError`
becomes a one-line message and exit code 1; so do findings of severity error.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vidgen._version import __version__
from vidgen.config import EASINGS, MOTION_TYPES, SETTINGS, Config, load_config
from vidgen.errors import MotionError, VidgenError
from vidgen.rules import Finding, RuleLimits, has_errors

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="vidgen", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="Turn curated still keyframes into short videos at batch scale.",
)
batch_app = typer.Typer(no_args_is_help=True, help="Create and check batch folders.")
motion_app = typer.Typer(no_args_is_help=True, help="Propose and check camera motions.")
app.add_typer(batch_app, name="batch")
comfy_app = typer.Typer(no_args_is_help=True, help="Work with a ComfyUI server.")
app.add_typer(motion_app, name="motion")
app.add_typer(comfy_app, name="comfy")

out = Console()
err = Console(stderr=True)


def _handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report a VidgenError as one line and exit 1 (tracebacks are for bugs)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except VidgenError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _config(ctx: typer.Context, overrides: dict[str, Any] | None = None) -> Config:
    return load_config(ctx.obj.get("config") if ctx.obj else None, overrides=overrides)


def _version(value: bool) -> None:
    if value:
        out.print(f"vidgen {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Settings file (default: $VIDGEN_CONFIG or ./vidgen.toml).")] = None,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="More log output (-vv for debug).")] = 0,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Turn curated still keyframes into short videos at batch scale."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(message)s",
                        handlers=[RichHandler(console=err, show_path=False)], force=True)
    ctx.obj = {"config": config}


def _print_findings(findings: list[Finding], as_json: bool) -> None:
    """One line per finding (greppable, never wrapped), errors in red, warnings in yellow."""
    if as_json:
        return
    if not findings:
        out.print("[green]no findings[/]")
    for finding in findings:
        colour = "red" if finding.severity == "error" else "yellow"
        out.print(f"[{colour}]{escape(str(finding))}[/]", highlight=False, soft_wrap=True)


# --- batch ------------------------------------------------------------------------------


@batch_app.command("create")
@_handles_errors
def batch_create(
    ctx: typer.Context,
    sources: Annotated[list[Path], typer.Argument(help="Keyframe images and folders of them.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="The new batch folder.")],
    model: Annotated[str | None, typer.Option(help="generation.model")] = None,
    preset: Annotated[str | None, typer.Option(
        help=f"motion.preset for keyframes without a motion file: {', '.join(MOTION_TYPES[:-1])}"
    )] = None,
    intensity: Annotated[float | None, typer.Option(help="motion.intensity, 0-1")] = None,
    duration: Annotated[float | None, typer.Option(help="motion.duration, seconds")] = None,
    easing: Annotated[str | None, typer.Option(help=f"motion.easing: {', '.join(EASINGS)}")] = None,
    motions: Annotated[Path | None, typer.Option(
        "--motions", help="Folder of <stem>.motion.json files to use before presets.")] = None,
    seed: Annotated[int | None, typer.Option(help="generation.seed (base seed)")] = None,
    seed_policy: Annotated[str | None, typer.Option(
        help="generation.seed_policy: fixed, sequential or hash")] = None,
    steps: Annotated[int | None, typer.Option(help="generation.steps (0: model default)")] = None,
    guidance: Annotated[float | None, typer.Option(help="generation.guidance")] = None,
    native_fps: Annotated[int | None, typer.Option(help="generation.native_fps")] = None,
    negative_prompt: Annotated[str | None, typer.Option(
        help="generation.negative_prompt")] = None,
    width: Annotated[int | None, typer.Option(help="output.width")] = None,
    height: Annotated[int | None, typer.Option(help="output.height")] = None,
    fps: Annotated[int | None, typer.Option(help="output.fps")] = None,
    codec: Annotated[str | None, typer.Option(help="output.codec: h264 or h265")] = None,
    crf: Annotated[int | None, typer.Option(help="output.crf")] = None,
    project_id: Annotated[str | None, typer.Option(help="batch.project_id")] = None,
    batch_id: Annotated[str | None, typer.Option(help="Default: UTC time YYYYmmdd_HHMMSS.")] = None,
    workers: Annotated[int | None, typer.Option(help="batch.workers")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Abort, writing nothing, if any keyframe has an error.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Make a self-contained batch folder from keyframes, their companions and motions."""
    from vidgen.batch import create_batch

    config = _config(ctx, {
        "generation.model": model, "motion.preset": preset, "motion.intensity": intensity,
        "motion.duration": duration, "motion.easing": easing, "generation.seed": seed,
        "generation.seed_policy": seed_policy, "generation.steps": steps,
        "generation.guidance": guidance, "generation.native_fps": native_fps,
        "generation.negative_prompt": negative_prompt, "output.width": width,
        "output.height": height, "output.fps": fps, "output.codec": codec, "output.crf": crf,
        "batch.project_id": project_id, "batch.workers": workers,
    })
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("checking keyframes", total=None)

        def progress(done: int, total: int, stem: str) -> None:
            bar.update(task, completed=done, total=total, description=f"checking {stem}")

        report = create_batch(sources, out_dir, config, batch_id=batch_id, motions_dir=motions,
                              strict=strict, progress=progress)
    shots = report.manifest.keyframes if report.manifest else []
    if report.manifest is None and not as_json:
        _print_findings(report.findings, False)
        err.print("[bold red]error:[/] no keyframe could be used; nothing was written",
                  highlight=False)
        raise typer.Exit(1)
    if as_json:
        out.print_json(json.dumps({
            "batch_dir": str(report.batch_dir) if report.manifest else None,
            "shots": [s.shot_id for s in shots],
            "excluded": report.excluded, "findings": [f.to_dict() for f in report.findings],
        }))
    else:
        _print_findings(report.findings, False)
        out.print(f"[bold]{len(shots)}[/] shot(s) written to {report.batch_dir}"
                  + (f"; [red]{len(report.excluded)} keyframe(s) left out[/]"
                     if report.excluded else ""), soft_wrap=True, highlight=False)
    if report.excluded:
        raise typer.Exit(1)


@batch_app.command("validate")
@_handles_errors
def batch_validate(
    ctx: typer.Context,
    batch_dir: Annotated[Path, typer.Argument(help="A batch folder.")],
    check: Annotated[bool, typer.Option(
        "--check", help="Only report: do not take changed motion files into the manifest.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
) -> None:
    """Re-check a batch: schema, ids, paths, files, hashes and motion rules."""
    from vidgen.audit import AuditLog
    from vidgen.manifest import validate_batch

    config = _config(ctx)
    with AuditLog(config.audit_dir, "vidgen_manifest",
                  enabled=config["audit.enabled"] and not check) as audit:
        report = validate_batch(batch_dir, limits=RuleLimits.from_config(config),
                                update=not check, audit=audit)
    if as_json:
        out.print_json(json.dumps({"shots": report.shots, "updated": report.updated,
                                   "findings": [f.to_dict() for f in report.findings]}))
    else:
        _print_findings(report.findings, False)
        verb = "would take" if check else "took"
        if report.updated:
            out.print(f"{verb} changed motions into the manifest: {', '.join(report.updated)}")
        out.print(f"{report.shots} shot(s), {len(report.errors)} error(s)")
    if not report.ok:
        raise typer.Exit(1)


# --- worker ---------------------------------------------------------------------------


@app.command("run")
@_handles_errors
def run(
    ctx: typer.Context,
    batch_dir: Annotated[Path, typer.Argument(help="A batch folder.")],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", help="worker.workers: processes on this machine")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Generate every queued shot of a batch; resumable, Ctrl-C stops cleanly."""
    from vidgen.worker import run_batch

    config = _config(ctx, {"worker.workers": workers})
    summary = run_batch(batch_dir, config, console=err)
    if as_json:
        out.print_json(json.dumps({"counts": summary.counts, "interrupted": summary.interrupted,
                                   "seconds": summary.seconds, "shots": summary.shots}))
    else:
        _print_shots(summary.shots)
        _print_counts(summary.counts)
        if summary.interrupted:
            out.print("[yellow]interrupted[/]: run the same command again to resume")
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.counts["failed"]:
        raise typer.Exit(1)


def _print_counts(counts: dict[str, int]) -> None:
    total = sum(counts.values())
    finished = counts["done"] + counts["flagged"] + counts["accepted"] + counts["rejected"]
    flagged = f", {counts['flagged'] / finished:.0%} flagged" if finished else ""
    out.print(", ".join(f"{n} {state}" for state, n in counts.items() if n)
              + f" (of {total}{flagged})", highlight=False)


def _print_shots(shots: list[dict[str, Any]]) -> None:
    table = Table("shot", "state", "verdict", "seconds", "output / reason", show_lines=False)
    for shot in shots:
        timings, reasons = shot["timings"], shot["reasons"]
        colour = {"done": "green", "flagged": "yellow", "failed": "red"}.get(shot["state"], "")
        detail = shot["output"] or ""
        if shot["state"] == "failed":
            detail = f"{shot['error_class']}: {shot['error_message']}"
        elif reasons:
            detail += " - " + "; ".join(reasons)
        table.add_row(shot["shot_id"], f"[{colour}]{shot['state']}[/]" if colour else
                      shot["state"], shot["verdict"] or "",
                      f"{timings['total']:.2f}" if "total" in timings else "", escape(detail))
    out.print(table)


@app.command("status")
@_handles_errors
def status(
    batch_dir: Annotated[Path, typer.Argument(help="A batch folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Shots per state, failures with their reasons, throughput and ETA."""
    from vidgen.ledger import Ledger
    from vidgen.manifest import load_manifest

    manifest = load_manifest(batch_dir)
    with Ledger(batch_dir) as ledger:
        ledger.ingest(manifest)  # a batch never run yet shows its queue
        counts, shots = ledger.counts(), ledger.shots()
        per_hour, eta = ledger.throughput()
    if as_json:
        out.print_json(json.dumps({"counts": counts, "per_hour": per_hour, "eta_sec": eta,
                                   "shots": shots}))
        return
    _print_counts(counts)
    for shot in shots:
        if shot["state"] == "failed":
            out.print(f"[red]failed[/] {shot['shot_id']}: {shot['error_class']}: "
                      f"{escape(shot['error_message'] or '')}", highlight=False, soft_wrap=True)
        elif shot["state"] == "flagged":
            reasons = "; ".join(shot["reasons"])
            out.print(f"[yellow]flagged[/] {shot['shot_id']}: {escape(reasons)}",
                      highlight=False, soft_wrap=True)
    if per_hour is not None:
        out.print(f"throughput {per_hour:.1f} shots/hour"
                  + (f", ETA {eta / 60:.1f} min" if eta is not None and eta > 0 else ""),
                  highlight=False)


@app.command("retry")
@_handles_errors
def retry(
    batch_dir: Annotated[Path, typer.Argument(help="A batch folder.")],
    failed: Annotated[bool, typer.Option("--failed", help="Requeue failed shots.")] = False,
    flagged: Annotated[bool, typer.Option("--flagged", help="Requeue flagged shots.")] = False,
    new_seed: Annotated[bool, typer.Option(
        "--new-seed", help="Give each a new seed (recorded per attempt).")] = False,
) -> None:
    """Put failed (default) and/or flagged shots back in the queue for the next `vidgen run`."""
    from vidgen.ledger import Ledger
    from vidgen.manifest import load_manifest

    load_manifest(batch_dir)
    with Ledger(batch_dir) as ledger:
        requeued = ledger.retry(failed=failed or not flagged, flagged=flagged, new_seed=new_seed)
    out.print(f"requeued {len(requeued)} shot(s)" + (": " + ", ".join(requeued) if requeued
                                                      else ""), highlight=False, soft_wrap=True)


# --- motion -----------------------------------------------------------------------------


def _output_overrides(width: int | None, height: int | None, fps: int | None) -> dict[str, Any]:
    return {"output.width": width, "output.height": height, "output.fps": fps}


@motion_app.command("validate")
@_handles_errors
def motion_validate(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(
        help="<stem>.motion.json files (the keyframe is found beside them) or keyframes.")],
    keyframes: Annotated[list[Path] | None, typer.Option(
        "--keyframes", "-k", help="Also look for keyframes in this folder (repeatable).")
    ] = None,
    width: Annotated[int | None, typer.Option(help="output.width")] = None,
    height: Annotated[int | None, typer.Option(help="output.height")] = None,
    fps: Annotated[int | None, typer.Option(help="output.fps")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
) -> None:
    """Check motions against the safety rules; exit code 1 when any has an error."""
    from vidgen.companions import IMAGE_SUFFIXES, stem_of
    from vidgen.formats import read_document
    from vidgen.media import probe_image
    from vidgen.motion import Motion
    from vidgen.rules import check_motion

    config = _config(ctx, _output_overrides(width, height, fps))
    limits = RuleLimits.from_config(config)
    findings: list[Finding] = []
    suffixes = IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES)
    for path in paths:
        stem = stem_of(path)
        is_motion = path.name.endswith(".motion.json")
        motion_file = path if is_motion else path.with_name(f"{stem}.motion.json")
        folders = [path.parent, *(keyframes or [])]
        candidates = [path] if not is_motion else \
            [folder / (stem + suffix) for folder in folders for suffix in suffixes]
        image = next((p for p in candidates if p.is_file()), None)
        try:
            if not path.exists():
                raise MotionError("no such file", item=path)
            if image is None:
                raise MotionError("no keyframe found for the motion file", item=motion_file,
                                  hint=f"expected {stem}.png/.jpg/.jpeg/.webp beside it or "
                                       "in a --keyframes folder")
            motion = read_document(Motion, motion_file, error=MotionError)
            info = probe_image(image, max_pixels=config["image.max_pixels"],
                               max_bytes=config["image.max_bytes"])
        except VidgenError as exc:
            findings.append(Finding(str(path), "input", "error", str(exc)))
            continue
        findings += check_motion(
            motion, image_size=(info.width, info.height),
            output_size=(config["output.width"], config["output.height"]),
            fps=config["output.fps"], limits=limits, item=str(image))
    if as_json:
        out.print_json(json.dumps([f.to_dict() for f in findings]))
    _print_findings(findings, as_json)
    if has_errors(findings):
        raise typer.Exit(1)


@motion_app.command("propose")
@_handles_errors
def motion_propose(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Keyframe images.")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write <stem>.motion.json here (default: print JSON).")] = None,
    preset: Annotated[str | None, typer.Option(help="motion.preset")] = None,
    intensity: Annotated[float | None, typer.Option(help="motion.intensity, 0-1")] = None,
    duration: Annotated[float | None, typer.Option(help="motion.duration, seconds")] = None,
    easing: Annotated[str | None, typer.Option(help="motion.easing")] = None,
    width: Annotated[int | None, typer.Option(help="output.width")] = None,
    height: Annotated[int | None, typer.Option(help="output.height")] = None,
    fps: Annotated[int | None, typer.Option(help="output.fps")] = None,
) -> None:
    """Propose a motion from a preset, shaped by the decision's crop hint when there is one."""
    from vidgen.atomic import write_json_atomic
    from vidgen.audit import AuditLog
    from vidgen.companions import ensure_writable, find_companions, read_crop_hint
    from vidgen.formats import dump_document
    from vidgen.media import probe_image
    from vidgen.motion import propose_motion

    config = _config(ctx, {**_output_overrides(width, height, fps), "motion.preset": preset,
                           "motion.intensity": intensity, "motion.duration": duration,
                           "motion.easing": easing})
    limits = RuleLimits.from_config(config)
    if out_dir is not None:
        ensure_writable(out_dir, config["sources.protected"])
        out_dir.mkdir(parents=True, exist_ok=True)
    for image in images:
        info = probe_image(image, max_pixels=config["image.max_pixels"],
                           max_bytes=config["image.max_bytes"])
        hint, _ = read_crop_hint(find_companions(image))
        motion = propose_motion(
            config["motion.preset"], intensity=config["motion.intensity"],
            duration_sec=config["motion.duration"], easing=config["motion.easing"],
            image_size=(info.width, info.height),
            output_size=(config["output.width"], config["output.height"]),
            fps=config["output.fps"], limits=limits.preset_limits(), focus=hint)
        if motion.motion_type.value != config["motion.preset"]:
            err.print(f"[yellow]note:[/] {image}: no room for {config['motion.preset']} within "
                      "the upscale limit, so the motion is static", highlight=False)
        data = dump_document(motion)
        if out_dir is None:
            out.print_json(json.dumps(data))
        else:
            target = out_dir / f"{find_companions(image).stem}.motion.json"
            write_json_atomic(target, data)
            with AuditLog(config.audit_dir, "vidgen_motion",
                          enabled=config["audit.enabled"]) as audit:
                audit.file_operation("create", source_dir=image.parent, dest_dir=out_dir,
                                     files=[target.name], notes=f"proposed {motion.motion_type}")
            out.print(f"wrote {target}")


# --- qc ---------------------------------------------------------------------------------


@app.command("qc")
@_handles_errors
def qc(
    ctx: typer.Context,
    videos: Annotated[list[Path], typer.Argument(help="Video files.")],
    keyframe: Annotated[Path | None, typer.Option(
        help="The keyframe the video was made from (first-frame fidelity).")] = None,
    motion: Annotated[Path | None, typer.Option(
        help="Its <stem>.motion.json (path-compensated SSIM, fidelity's start crop).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write a PNG of the timelines (one per video: <stem>.qc.png if several).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Run the automatic quality checks on any video; exit code 1 when one fails."""
    from vidgen.formats import read_document
    from vidgen.media import load_image
    from vidgen.motion import Motion
    from vidgen.qc.report import plot_report, qc_video

    config = _config(ctx)
    image = None if keyframe is None else load_image(
        keyframe, max_pixels=config["image.max_pixels"], max_bytes=config["image.max_bytes"])
    path_motion = None if motion is None else read_document(Motion, motion, error=MotionError)
    reports = {}
    for video in videos:
        report = qc_video(video, config, keyframe=image, motion=path_motion)
        reports[str(video)] = report
        if plot is not None:
            target = plot if len(videos) == 1 else plot.with_name(f"{video.stem}.qc.png")
            plot_report(report, target, title=f"{video.name}: {report.verdict}")
        if not as_json:
            colour = {"pass": "green", "warn": "yellow", "fail": "red"}[report.verdict]
            out.print(f"[bold]{escape(str(video))}[/]: [{colour}]{report.verdict}[/] "
                      f"({report.frames} frames)", highlight=False)
            for check in report.checks:
                mark = {"pass": "ok  ", "warn": "warn", "fail": "FAIL"}[check.verdict]
                detail = "; ".join(check.reasons)
                out.print(f"  {mark} {check.name}" + (f": {escape(detail)}" if detail else ""),
                          highlight=False, soft_wrap=True)
    if as_json:
        out.print_json(json.dumps({name: r.to_dict() for name, r in reports.items()}))
    if any(r.verdict == "fail" for r in reports.values()):
        raise typer.Exit(1)


# --- interpolation ----------------------------------------------------------------------


@app.command("interpolate")
@_handles_errors
def interpolate(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="The video to retime.")],
    fps: Annotated[float, typer.Option("--fps", help="The new frame rate.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The video to write.")],
    method: Annotated[str | None, typer.Option(
        help="flow, rife or blend (default: interpolate.method).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Retime any video to another frame rate with the project's interpolators (same
    duration), re-encoded with the project's encoder settings."""
    from vidgen.interpolate.video import retime_video

    config = _config(ctx, {"interpolate.method": method} if method else None)
    report = retime_video(video, output, fps, config)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    out.print(f"{report.output}: {report.source_frames} frames at {report.source_fps:g} fps -> "
              f"{report.frames} at {report.fps:g} fps ({report.method}, interpolation "
              f"{report.interpolate_sec:.1f} s, total {report.total_sec:.1f} s, "
              f"{report.encoder})", highlight=False)


# --- comfyui ----------------------------------------------------------------------------


@comfy_app.command("check")
@_handles_errors
def comfy_check(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="The server (default: comfyui.url).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        help="A built-in template or an API-format workflow file; repeat for several "
             "(default: every built-in template).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a ComfyUI server: version, devices, and for each workflow every node class and
    model file, naming what is missing and the models/ folder it belongs in. Exit code 1
    when a workflow named with --model cannot run."""
    from vidgen.backends.comfyui.client import ComfyClient
    from vidgen.backends.comfyui.preflight import check_server
    from vidgen.backends.comfyui.workflow import builtin_templates

    config = _config(ctx, {"comfyui.url": url} if url else None)
    client = ComfyClient(config["comfyui.url"], retries=config["comfyui.retries"],
                         backoff_sec=config["comfyui.retry_backoff_sec"])
    try:
        report = check_server(client, model or builtin_templates())
    finally:
        client.close()
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        system = report.system
        out.print(f"ComfyUI {system.get('comfyui_version', '?')} at {report.url} (Python "
                  f"{str(system.get('python_version', '?')).split()[0]}, PyTorch "
                  f"{system.get('pytorch_version', '?')})", highlight=False)
        for device in report.devices:
            total, free = device.get("vram_total", 0), device.get("vram_free", 0)
            out.print(f"  device {device.get('name')}: {total / 2**30:.1f} GiB, "
                      f"{free / 2**30:.1f} GiB free", highlight=False)
        for template in report.templates:
            mark = "[green]ready[/]" if template.ready else \
                f"[red]{len(template.problems)} problem(s)[/]"
            kind = " (text-to-video)" if template.conditioning == "text" else ""
            out.print(f"{escape(template.name)}{kind}: {mark}", highlight=False)
            for problem in template.problems:
                out.print(f"  - {escape(str(problem))}", highlight=False, soft_wrap=True)
    if model and not report.ready:
        raise typer.Exit(1)


# --- schema and config ------------------------------------------------------------------


@app.command("schema")
@_handles_errors
def schema(
    name: Annotated[str | None, typer.Argument(
        help="motion, manifest, video_manifest or video_meta (default: all).")] = None,
) -> None:
    """Print the JSON Schemas of vidgen's file formats."""
    from vidgen.manifest import json_schemas

    schemas = json_schemas()
    if name is not None:
        if name not in schemas:
            raise VidgenError("unknown format", field="name", value=name,
                              limit=", ".join(schemas))
        out.print_json(json.dumps(schemas[name]))
    else:
        out.print_json(json.dumps(schemas))


@app.command("config")
@_handles_errors
def show_config(
    ctx: typer.Context,
    as_toml: Annotated[bool, typer.Option("--toml", help="Print as a vidgen.toml.")] = False,
) -> None:
    """Show every setting: its effective value, where it came from and what it does."""
    config = _config(ctx)
    if as_toml:
        section = ""
        for s in SETTINGS:
            prefix, _, key = s.name.rpartition(".")
            if prefix != section:
                out.print(f"\n[{prefix}]", highlight=False, markup=False)
                section = prefix
            out.print(f"{key or s.name} = {json.dumps(config[s.name])}", highlight=False,
                      markup=False)
        return
    table = Table("setting", "value", "source", "meaning")
    for s in SETTINGS:
        table.add_row(s.name, json.dumps(config[s.name]), config.source(s.name), s.help)
    out.print(table)


# --- shootout ---------------------------------------------------------------------------


@app.command("shootout")
@_handles_errors
def shootout(
    ctx: typer.Context,
    config_file: Annotated[Path, typer.Argument(help="The shootout's TOML file.")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Work folder (default: <config stem>-out beside the config).")
    ] = None,
    rerun: Annotated[list[str] | None, typer.Option(
        "--rerun", help="Delete this contender's videos and make them again (repeatable).")
    ] = None,
    ratings: Annotated[Path | None, typer.Option(
        "--ratings", help="The ratings sheet to read and update (default: OUT/ratings.csv).")
    ] = None,
    report_only: Annotated[bool, typer.Option(
        "--report-only", help="Generate nothing: score and report the videos already made.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scoreboard as JSON.")] = False,
) -> None:
    """Compare models on the same keyframes: run, measure, score, report; resumable."""
    from vidgen.shootout import shootout as run_shootout
    from vidgen.shootout.report import (
        next_steps,
        num,
        reasons_text,
        score_text,
        scores_json,
        status_text,
    )

    def progress(line: str) -> None:
        err.print(escape(line), highlight=False, soft_wrap=True)

    try:
        result = run_shootout(config_file, out_dir=out_dir, rerun=rerun or [], ratings=ratings,
                              report_only=report_only,
                              settings_file=ctx.obj.get("config") if ctx.obj else None,
                              on_event=progress)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: run the same command again to resume")
        raise typer.Exit(130) from None
    if as_json:
        out.print_json(json.dumps(scores_json(result.report)))
        return
    board, report = result.board, result.report
    table = Table("rank", "contender", "status", "s/video", "worst SSIM", "VRAM GB", "score",
                  caption=f"seconds per video on {report.config.gpu.reference}")
    for entry in board.contenders:
        m = entry.metrics
        colour = "green" if entry is board.winner else {"ranked": "", "awaiting": "yellow",
                                                        "eliminated": "red"}[entry.status]
        status = status_text(board, entry)
        table.add_row(str(entry.rank or "-"), escape(entry.label),
                      f"[{colour}]{status}[/]" if colour else status, num(m.reference_sec),
                      num(m.ssim_worst, 3), num(m.vram_gb, 1), score_text(entry))
    out.print(table)
    for entry in board.contenders:
        if entry.eliminations:
            out.print(f"[red]eliminated[/] {escape(entry.label)}: {escape(reasons_text(entry))}",
                      highlight=False, soft_wrap=True)
    for line in [*board.why, *(f"Next: {step}" for step in next_steps(report))]:
        out.print(escape(line), highlight=False, soft_wrap=True)
    if report.plan is not None:
        out.print(escape(report.plan.plans[0].summary_lines()[0]), highlight=False,
                  soft_wrap=True)
    out.print(f"report: {result.html} (and {result.markdown.name}); ratings sheet: "
              f"{result.ratings}", highlight=False, soft_wrap=True)


# --- planning ---------------------------------------------------------------------------


def _busy(utilisation: dict[str, float]) -> str:
    gpus = [value for name, value in utilisation.items() if name != "cpu"]
    if len(gpus) <= 4:
        return ", ".join(f"{name} {value:.0%}" for name, value in utilisation.items())
    low, high = f"{min(gpus):.0%}", f"{max(gpus):.0%}"
    return f"gpus {low if low == high else f'{low}-{high}'}, cpu {utilisation['cpu']:.0%}"


@app.command("plan")
@_handles_errors
def plan(
    seconds: Annotated[float, typer.Option(
        "--seconds", help="Warm seconds to generate one video on one GPU (the shootout's).")],
    gpu: Annotated[str, typer.Option(help="The GPU's name, for the report.")] = "RTX 4090",
    gpus: Annotated[int, typer.Option(help="GPUs rented.")] = 2,
    hourly: Annotated[float, typer.Option(help="USD per GPU per hour.")] = 0.75,
    interpolate_sec: Annotated[float, typer.Option(
        help="Interpolation per video on a GPU, seconds.")] = 0.0,
    encode_sec: Annotated[float, typer.Option(
        help="Encoding and QC per video on one CPU process (2 of them), seconds.")] = 0.0,
    topology: Annotated[str, typer.Option(
        help="colocated, split or both (compared on the same GPUs).")] = "both",
    target: Annotated[int, typer.Option(help="Videos wanted per day.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plans as JSON.")] = False,
) -> None:
    """Throughput, GPUs needed and cost per video from measured seconds per video: closed
    form and a simulated batch, for one topology or both side by side."""
    from dataclasses import replace

    from vidgen.planner import PlanInput, compare_topologies, plan_capacity, simulate

    if topology not in ("colocated", "split", "both"):
        raise VidgenError("unknown topology", field="--topology", value=topology,
                          limit="colocated, split or both")
    inp = PlanInput(seconds_per_video=seconds, gpu=gpu, gpus=gpus, hourly_usd=hourly,
                    interpolate_sec=interpolate_sec, encode_sec=encode_sec,
                    target_per_day=target)
    if gpus == 1 and topology != "split":  # split needs two GPUs: colocated alone
        plans = [replace(plan_capacity(inp), simulated=simulate(inp))]
        if topology == "both":
            err.print("[yellow]note:[/] split needs 2 GPUs or more; planning colocated only",
                      highlight=False)
    else:
        plans = [p for p in compare_topologies(inp) if topology in ("both", p.input.topology)]
    if as_json:
        out.print_json(json.dumps({"plans": [p.to_dict() for p in plans]}))
        return
    table = Table("", *(p.input.topology for p in plans),
                  title=f"{gpus}x {escape(gpu)} at {seconds:g} s/video, target {target:,}/day")
    rows: dict[str, list[str]] = {}
    for p in plans:
        sim = p.simulated
        assert sim is not None  # both paths above simulate
        made = min(float(target), p.videos_per_day)
        for label, value in {
            "videos/min": f"{p.videos_per_minute:.2f}",
            "videos/day": f"{p.videos_per_day:,.0f}",
            "meets target": "[green]yes[/]" if p.meets_target else "[red]no[/]",
            "GPUs needed": str(p.gpus_needed or "none"),
            "bottleneck": p.bottleneck,
            "busy": _busy(p.utilisation),
            "USD/video": f"{p.cost_per_video_usd:.5f} at {made:,.0f}/day",
            "compute USD/day": f"{p.compute_usd_per_day:,.2f}",
            "USD/month": f"{p.monthly_cost_usd:,.2f}",
            "transfer TB/month": f"{p.transfer_tb_per_month:.2f}",
            "storage TB": f"{p.storage_tb:.2f}",
            "simulated videos/min": f"{sim.throughput_per_min:.2f}",
            "simulated batch": f"{sim.videos} videos in {sim.makespan_sec / 60:.1f} min",
            "simulated most waiting": ", ".join(f"{stage} {n}" for stage, n in
                                                list(sim.max_queue.items())[1:]),
        }.items():
            rows.setdefault(label, []).append(value)
    for label, values in rows.items():
        table.add_row(label, *values)
    out.print(table)
    for p in plans:
        for note in p.notes:
            out.print(f"{p.input.topology}: {escape(note)}", highlight=False, soft_wrap=True)


# --- studio -----------------------------------------------------------------------------


@app.command("serve")
@_handles_errors
def serve(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="A batch folder, or a folder of batches.")],
    host: Annotated[str, typer.Option(
        help="Address to listen on; 127.0.0.1 keeps the studio on this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[str | None, typer.Option(
        help="Access token every request must carry (default: none on a loopback address, "
             "a generated one on any other).")] = None,
    no_browser: Annotated[bool, typer.Option(
        "--no-browser", help="Do not open the studio in the browser.")] = False,
    hourly_usd: Annotated[float, typer.Option(
        "--hourly-usd", min=0.0, help="What an hour of the worker machine costs (dashboard).")
    ] = 0.0,
) -> None:
    """Open the studio in the browser: motion editor, review and dashboard for the batches."""
    import threading
    import webbrowser

    import uvicorn

    from vidgen.web import create_app, resolve_access

    access = resolve_access(host, token)
    studio = create_app(folder, token=access, hourly_usd=hourly_usd, config=_config(ctx))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/" + (f"?token={access}" if access else "")
    out.print(f"vidgen studio: {url}  (Ctrl-C to stop)", highlight=False, soft_wrap=True)
    if access and not token:
        out.print(f"[yellow]{escape(host)} is reachable from other machines: every request "
                  f"needs the token {access} (generated; choose one with --token)[/]",
                  highlight=False, soft_wrap=True)
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    # No access log: page URLs may carry ?token=.
    uvicorn.run(studio, host=host, port=port, log_level="warning", access_log=False)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="vidgen")
