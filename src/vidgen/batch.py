"""``vidgen batch create``: keyframes and companions -> a self-contained batch folder.

Two passes. The first only reads: it probes every keyframe (full decode under
the pixel limit), reads its prompt and crop hint, loads or proposes its motion
and checks the rules, in a thread pool. Keyframes with errors are reported and
left out (``strict`` aborts before anything is written). The second copies each
good keyframe's companion set into ``DIR/shots/`` (hashing while copying),
writes ``<stem>.motion.json``, the per-shot ``.video_manifest.json`` and finally
``manifest.json``, all atomically, with an audit record for every file. The
source folders are only ever read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from vidgen._version import __version__
from vidgen.atomic import copy_atomic, is_temp_name, write_json_atomic
from vidgen.audit import AuditLog
from vidgen.backends.base import TemplateInfo, available_backends, backend_class
from vidgen.companions import (
    IMAGE_SUFFIXES,
    SIDECAR_SUFFIXES,
    CompanionIndex,
    CompanionSet,
    copy_set,
    ensure_writable,
    read_crop_hint,
    read_prompt,
)
from vidgen.config import Config
from vidgen.errors import ConfigError, ManifestError, MotionError, VidgenError
from vidgen.formats import dump_document, read_document
from vidgen.manifest import (
    MANIFEST_NAME,
    SHOTS_DIR,
    STATE_DIR,
    WORKFLOWS_DIR,
    FileRef,
    GenerationParams,
    ImageRef,
    Manifest,
    OutputParams,
    Shot,
    derive_seed,
    write_manifest,
)
from vidgen.media import probe_image
from vidgen.motion import Motion, frame_count, propose_motion
from vidgen.rules import Finding, RuleLimits, check_motion

__all__ = ["CreateReport", "create_batch"]

Progress = Callable[[int, int, str], None]


@dataclass
class _Prepared:
    """The first pass's verdict on one keyframe."""

    companions: CompanionSet
    findings: list[Finding]
    shot: Shot | None = None


@dataclass
class CreateReport:
    """What ``batch create`` did."""

    batch_dir: Path
    manifest: Manifest | None
    findings: list[Finding] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def _collect(sources: Sequence[Path]) -> tuple[list[tuple[Path, CompanionIndex]], list[Finding]]:
    """Keyframes from files and folders (not recursive), in argument then name order."""
    found: list[tuple[Path, CompanionIndex]] = []
    problems: list[Finding] = []
    indexes: dict[Path, CompanionIndex] = {}

    def index(folder: Path) -> CompanionIndex:
        key = folder.resolve()
        if key not in indexes:
            indexes[key] = CompanionIndex(folder)
        return indexes[key]

    for source in sources:
        source = Path(source)
        if source.is_dir():
            idx = index(source)
            found.extend((image, idx) for image in idx.images)
        elif source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
            if is_temp_name(source.name):
                problems.append(Finding(str(source), "input", "error",
                                        "a temporary or hidden file, not a keyframe"))
            else:
                found.append((source, index(source.parent)))
        else:
            why = "no such file or folder" if not source.exists() else \
                f"not an image ({', '.join(IMAGE_SUFFIXES)}) or a folder"
            problems.append(Finding(str(source), "input", "error", why))
    return found, problems


def create_batch(
    sources: Sequence[Path],
    out_dir: Path,
    config: Config,
    *,
    batch_id: str | None = None,
    motions_dir: Path | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> CreateReport:
    """Make a batch folder from keyframe files and folders.

    Args:
        sources: Image files and folders of images (read only, never written).
        out_dir: The new batch folder; must not hold a manifest yet.
        config: Effective settings (output, generation, motion, rules, image, audit).
        batch_id: Defaults to the UTC time, ``%Y%m%d_%H%M%S``.
        motions_dir: A folder of ``<stem>.motion.json`` files to use before presets.
        strict: Abort, writing nothing, if any keyframe has an error.
        progress: Called as ``progress(done, total, stem)``.

    Raises:
        ManifestError: the folder already holds a batch, or ``strict`` found errors.
        ProtectedPathError: ``out_dir`` is a protected or source folder.
    """
    out_dir = Path(out_dir)
    protected = config["sources.protected"]
    ensure_writable(out_dir, protected)
    if (out_dir / MANIFEST_NAME).exists():
        raise ManifestError("a batch already exists here", item=out_dir,
                            hint="choose a new --out folder")
    keyframes, findings = _collect(sources)
    resolved_out = out_dir.resolve()
    for folder in {image.parent.resolve() for image, _ in keyframes}:
        if resolved_out == folder or resolved_out.is_relative_to(folder):
            raise ManifestError("the batch folder may not be inside a source folder",
                                item=out_dir, value=str(folder),
                                hint="vidgen never writes into source folders")

    _output_params(config, config["motion.duration"])  # a bad output size fails here, once
    if config["generation.model"] not in available_backends():
        raise ConfigError("unknown model", field="generation.model",
                          value=config["generation.model"], limit=", ".join(available_backends()))
    template = backend_class(config["generation.model"]).template_info(
        config["generation.template"])
    now = datetime.now(UTC)
    batch_id = batch_id or now.strftime("%Y%m%d_%H%M%S")
    limits = RuleLimits.from_config(config)
    by_stem: dict[str, Path] = {}
    unique: list[tuple[int, Path, CompanionIndex]] = []
    seen: set[Path] = set()
    for image, idx in keyframes:
        if image.resolve() in seen:  # the same file named twice (a folder and the file)
            continue
        seen.add(image.resolve())
        stem = idx.set_for(image).stem
        if stem in by_stem:
            findings.append(Finding(str(image), "duplicate", "error",
                                    f"duplicate stem {stem!r}: also {by_stem[stem]}"))
        else:
            by_stem[stem] = image
            unique.append((len(unique), image, idx))

    workers = config["batch.workers"] or os.cpu_count() or 1
    total = len(unique)
    prepared: list[_Prepared] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(lambda job: _prepare(job[0], job[1], job[2], config, limits, motions_dir,
                                             template), unique)
        for done, result in enumerate(jobs, 1):
            prepared.append(result)
            findings.extend(result.findings)
            if progress:
                progress(done, total, result.companions.stem)

    excluded = [str(p.companions.image) for p in prepared if p.shot is None]
    excluded += [f.item for f in findings if f.rule in ("duplicate", "input")]
    report = CreateReport(out_dir, None, findings, excluded)
    if strict and report.errors:
        raise ManifestError(f"{len(report.errors)} error(s); nothing was written (--strict)",
                            item=out_dir, hint="; ".join(str(f) for f in report.errors[:5]))

    if not any(p.shot is not None for p in prepared):
        return report  # nothing usable: no empty batch folder is written

    shots_dir = out_dir / SHOTS_DIR
    shots_dir.mkdir(parents=True, exist_ok=True)
    for source in template.files:  # a user's workflow travels with the batch
        (out_dir / WORKFLOWS_DIR).mkdir(exist_ok=True)
        copy_atomic(source, out_dir / WORKFLOWS_DIR / source.name)
    (out_dir / STATE_DIR).mkdir(exist_ok=True)
    audit = AuditLog(config.audit_dir, "vidgen_manifest", batch_id=batch_id,
                     enabled=config["audit.enabled"])
    with audit:
        for item in report.excluded:
            audit.file_operation("skip", source_dir=Path(item).parent, dest_dir=shots_dir,
                                 files=[Path(item).name], notes="; ".join(
                                     f.message for f in findings if f.item == item))
        shots = []
        for prep in prepared:
            if prep.shot is None:
                continue
            try:
                shots.append(_materialise(prep, shots_dir, out_dir, protected, audit))
            except OSError as exc:  # a full disk, a vanished source: this keyframe only
                item = str(prep.companions.image)
                report.findings.append(Finding(
                    item, "copy", "error", f"cannot copy into the batch: {exc.strerror or exc}"))
                report.excluded.append(item)
                audit.file_operation("error", source_dir=prep.companions.image.parent,
                                     dest_dir=shots_dir, files=[prep.companions.image.name],
                                     notes=f"copy failed: {exc}")
        manifest = Manifest(
            project_id=config["batch.project_id"], batch_id=batch_id,
            created_at=now.isoformat(), vidgen_version=__version__, keyframes=shots,
        )
        write_manifest(out_dir, manifest)
        audit.file_operation("create", source_dir=out_dir, dest_dir=out_dir,
                             files=[MANIFEST_NAME, *(f"{SHOTS_DIR}/{s.shot_id}.video_manifest.json"
                                                     for s in shots)],
                             notes=f"batch manifest and per-shot settings, {len(shots)} shots")
    report.manifest = manifest
    return report


def _prepare(index: int, image: Path, idx: CompanionIndex, config: Config,
             limits: RuleLimits, motions_dir: Path | None, template: TemplateInfo) -> _Prepared:
    companions = idx.set_for(image)
    item = str(image)
    try:
        info = probe_image(image, max_pixels=config["image.max_pixels"],
                           max_bytes=config["image.max_bytes"])
    except VidgenError as exc:
        message = f"{exc.message}. {exc.hint}" if exc.hint else exc.message
        return _Prepared(companions, [Finding(item, "image", "error", message,
                                              exc.value, _text(exc.limit))])
    prompt = read_prompt(companions)
    hint, hint_notes = read_crop_hint(companions)
    notes = [*prompt.notes, *hint_notes]
    output = _output_params(config, config["motion.duration"])
    size = (info.width, info.height)
    try:
        motion, how = _motion_for(companions, motions_dir, config, limits, size, output, hint)
    except MotionError as exc:
        return _Prepared(companions, [Finding(item, "motion", "error", str(exc))])
    notes.append(how)
    output = output.model_copy(update={"duration_sec": motion.duration_sec})
    findings = check_motion(motion, image_size=size, output_size=(output.width, output.height),
                            fps=output.fps, limits=limits, item=item)
    if any(f.severity == "error" for f in findings):
        return _Prepared(companions, findings)

    native_fps = round(config["generation.native_fps"] or template.native_fps or output.fps)
    stem = companions.stem
    shot = Shot(
        shot_id=stem,
        image_path=f"{SHOTS_DIR}/{image.name}",
        image=ImageRef(sha256="0" * 64, bytes=info.bytes, width=info.width,
                       height=info.height, format=info.format),
        motion_path=f"{SHOTS_DIR}/{stem}.motion.json",
        motion=motion,
        prompt=prompt.text,
        negative_prompt=config["generation.negative_prompt"],
        prompt_source=prompt.source,
        generation_params=GenerationParams(
            model=config["generation.model"],
            seed=derive_seed(config["generation.seed"], config["generation.seed_policy"],
                             index, stem),
            steps=config["generation.steps"] or None,
            guidance=config["generation.guidance"] or None,
            native_fps=native_fps,
            num_frames=frame_count(motion.duration_sec, native_fps),
            template=template.ref,
            camera_mode=config["generation.camera_mode"],
        ),
        output=output,
        notes=notes,
    )
    return _Prepared(companions, findings, shot)


def _motion_for(companions: CompanionSet, motions_dir: Path | None, config: Config,
                limits: RuleLimits, size: tuple[int, int], output: OutputParams,
                hint: tuple[float, float, float, float] | None) -> tuple[Motion, str]:
    """The keyframe's motion file (from ``motions_dir`` or its companions), else a preset."""
    stem = companions.stem
    candidates = [motions_dir / f"{stem}.motion.json"] if motions_dir else []
    candidates += [p for p in companions.companions if p.name == f"{stem}.motion.json"]
    for path in candidates:
        if path.is_file():
            return read_document(Motion, path, error=MotionError), f"motion from {path.name}"
    preset = config["motion.preset"]
    motion = propose_motion(
        preset, intensity=config["motion.intensity"], duration_sec=config["motion.duration"],
        easing=config["motion.easing"], image_size=size,
        output_size=(output.width, output.height), fps=output.fps,
        limits=limits.preset_limits(), focus=hint,
    )
    how = f"motion from preset {preset} (intensity {config['motion.intensity']:g})"
    if hint is not None:
        how += " around the decision's crop hint"
    if motion.motion_type.value != preset:
        how += f"; no room for {preset} within the upscale limit, so static"
    return motion, how


def _materialise(prepared: _Prepared, shots_dir: Path, out_dir: Path,
                 protected: Sequence[str], audit: AuditLog) -> Shot:
    """Copy the keyframe's set into the batch and write its motion file."""
    assert prepared.shot is not None
    shot = prepared.shot
    companions = prepared.companions
    files = [p for p in companions.files
             if not any(p.name.endswith(s) for s in SIDECAR_SUFFIXES)]
    copied = copy_set(files, shots_dir, protected)
    audit.file_operation("copy", source_dir=companions.image.parent, dest_dir=shots_dir,
                         files=[c.dest.name for c in copied], notes=f"keyframe set {shot.shot_id}")
    image_copy = next(c for c in copied if c.source == companions.image)
    refs = [FileRef(path=f"{SHOTS_DIR}/{c.dest.name}", sha256=c.sha256, bytes=c.size)
            for c in copied if c is not image_copy]
    shot = shot.model_copy(update={
        "image": shot.image.model_copy(update={"sha256": image_copy.sha256}),
        "companions": refs,
    })
    motion_file = out_dir / shot.motion_path
    write_json_atomic(motion_file, dump_document(shot.motion))
    audit.file_operation("create", source_dir=shots_dir, dest_dir=shots_dir,
                         files=[motion_file.name], notes=f"motion of {shot.shot_id}")
    audit.video("validate", keyframe_path=str(image_copy.dest), video_output=None,
                motion_params=dump_document(shot.motion),
                validation_results={"findings": [f.to_dict() for f in prepared.findings]},
                duration_sec=shot.output.duration_sec,
                frame_count=frame_count(shot.output.duration_sec, shot.output.fps))
    return shot


def _output_params(config: Config, duration: float) -> OutputParams:
    try:
        return OutputParams(
            width=config["output.width"], height=config["output.height"],
            fps=config["output.fps"], duration_sec=duration, codec=config["output.codec"],
            crf=config["output.crf"],
        )
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        raise ConfigError(problem["msg"], field="output",
                          value=f"{config['output.width']}x{config['output.height']}") from exc


def _text(value: object) -> str | None:
    return None if value is None else str(value)
