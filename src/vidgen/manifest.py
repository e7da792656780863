"""The batch contract: the manifest and per-shot models, their paths and their checks.

A batch folder is self-contained::

    DIR/manifest.json                   the contract (Manifest)
    DIR/shots/<stem>.<ext>              the keyframe, with its companions copied in
    DIR/shots/<stem>.motion.json        the motion, the working copy editors change
    DIR/shots/<stem>.video_manifest.json  the shot's generation settings (VideoManifest)
    DIR/workflows/<name>.json           a user's ComfyUI workflow (and its bindings), if any
    DIR/.vidgen/                        vidgen's own state (ledger, ...)

Every path in a manifest is relative to DIR, uses ``/`` and never starts with
``/`` or contains ``..``. Inputs carry their sha256. :func:`validate_batch`
re-checks all of it; creation lives in :mod:`vidgen.batch`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from vidgen.atomic import sha256_file, write_json_atomic
from vidgen.audit import AuditLog
from vidgen.errors import ManifestError, MotionError, VidgenError
from vidgen.formats import Document, dump_document, parse_document, read_document
from vidgen.motion import Motion, frame_count
from vidgen.rules import Finding, RuleLimits, check_motion

__all__ = [
    "MANIFEST_NAME",
    "SHOTS_DIR",
    "STATE_DIR",
    "WORKFLOWS_DIR",
    "GenerationParams",
    "ImageRef",
    "Manifest",
    "OutputParams",
    "Shot",
    "ValidationReport",
    "VideoManifest",
    "derive_seed",
    "json_schemas",
    "load_manifest",
    "parse_manifest",
    "resolve_inside",
    "validate_batch",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
SHOTS_DIR = "shots"
STATE_DIR = ".vidgen"
WORKFLOWS_DIR = "workflows"
_SHOT_ID = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,199}$")


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or "\\" in value or "\x00" in value:
        raise ValueError("must be a non-empty path with '/' separators")
    if path.is_absolute() or re.match(r"^[A-Za-z]:", value):
        raise ValueError("absolute paths are not allowed: paths are relative to the batch folder")
    if ".." in path.parts:
        raise ValueError("'..' is not allowed: every path stays inside the batch folder")
    return value


def _shot_id(value: str) -> str:
    if not _SHOT_ID.match(value):
        raise ValueError("a shot id is 1-200 characters, no '/', '\\', control characters "
                         "or leading '.'")
    return value


RelPath = Annotated[str, AfterValidator(_relative_path)]
ShotId = Annotated[str, AfterValidator(_shot_id)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class FileRef(Document):
    """A file of the batch and its hash."""

    path: RelPath
    sha256: Sha256
    bytes: int = Field(ge=0)


class ImageRef(Document):
    """The keyframe's identity: hash, size on disk and pixel size (display orientation)."""

    sha256: Sha256
    bytes: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    format: str


class GenerationParams(Document):
    """What the model is asked for. The worker never changes any of it."""

    model: str = Field(min_length=1)
    seed: int = Field(ge=0, le=2**32 - 1)
    steps: int | None = Field(None, ge=1, description="null: the model's default")
    guidance: float | None = Field(None, ge=0.0, description="null: the model's default")
    native_fps: int = Field(ge=1, le=120, description="frame rate the model generates at")
    num_frames: int = Field(ge=1, description="frames the model generates")
    template: str | None = Field(
        None, min_length=1, description="the workflow or model variant: a built-in name, or "
        "a path inside the batch (workflows/<file>.json)")
    camera_mode: Literal["path", "prompt"] = Field(
        "path", description="path: exact crop path over steady generated frames; prompt: the "
        "motion described in words, the model moves the camera")

    @model_validator(mode="after")
    def _template_inside(self) -> GenerationParams:
        if self.template is not None and "/" in self.template:
            _relative_path(self.template)
        return self


class OutputParams(Document):
    """The delivered video."""

    width: int = Field(ge=16, le=7680)
    height: int = Field(ge=16, le=4320)
    fps: int = Field(ge=1, le=120)
    duration_sec: float = Field(gt=0.0, le=600.0)
    codec: Literal["h264", "h265"] = "h264"
    crf: int = Field(20, ge=0, le=51)

    @model_validator(mode="after")
    def _even(self) -> OutputParams:
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for yuv420p video, got "
                             f"{self.width}x{self.height}")
        return self


class Shot(Document):
    """One keyframe of a batch: input, motion, prompt, generation and output settings."""

    shot_id: ShotId
    image_path: RelPath
    image: ImageRef
    companions: list[FileRef] = Field(default_factory=list)
    motion_path: RelPath
    motion: Motion
    prompt: str = ""
    negative_prompt: str = ""
    prompt_source: str = "none"
    generation_params: GenerationParams
    output: OutputParams
    notes: list[str] = Field(default_factory=list)


class Manifest(Document):
    """``manifest.json``: the contract between the selection machine and the GPU machines."""

    schema_: Literal["vidgen.manifest/1"] = Field("vidgen.manifest/1", alias="schema")
    project_id: str = Field(min_length=1)
    batch_id: str = Field(min_length=1)
    created_at: str
    vidgen_version: str
    keyframes: list[Shot]

    def shot(self, shot_id: str) -> Shot:
        for shot in self.keyframes:
            if shot.shot_id == shot_id:
                return shot
        raise ManifestError("no such shot in the batch", item=self.batch_id, field="shot_id",
                            value=shot_id)


class VideoManifest(Document):
    """``<stem>.video_manifest.json``: one shot's generation settings, beside its keyframe."""

    schema_: Literal["vidgen.video_manifest/1"] = Field("vidgen.video_manifest/1",
                                                        alias="schema")
    project_id: str
    batch_id: str
    shot: Shot


def derive_seed(base: int, policy: str, index: int, stem: str) -> int:
    """A shot's seed: ``fixed`` (base), ``sequential`` (base + index) or ``hash`` (base, stem)."""
    if policy == "fixed":
        return base
    if policy == "sequential":
        return (base + index) % 2**32
    digest = hashlib.sha256(f"{base}:{stem}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything (symbolic links included) that leaves ``root``."""
    _relative_path(relative)
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise ManifestError("path leaves the batch folder", item=root, field="path",
                            value=relative)
    return target


def load_manifest(batch_dir: Path) -> Manifest:
    """Read and schema-check ``DIR/manifest.json``."""
    path = Path(batch_dir) / MANIFEST_NAME
    if not path.exists():
        raise ManifestError("no manifest.json: not a batch folder", item=batch_dir,
                            hint="create one with `vidgen batch create SRC... --out DIR`")
    manifest = read_document(Manifest, path, error=ManifestError)
    seen: set[str] = set()
    for shot in manifest.keyframes:
        if shot.shot_id in seen:
            raise ManifestError("duplicate shot id", item=path, field="keyframes.shot_id",
                                value=shot.shot_id)
        seen.add(shot.shot_id)
    return manifest


def write_manifest(batch_dir: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` and every ``<stem>.video_manifest.json`` atomically."""
    for shot in manifest.keyframes:
        folder = resolve_inside(batch_dir, shot.image_path).parent
        path = folder / f"{shot.shot_id}.video_manifest.json"
        write_json_atomic(path, dump_document(VideoManifest(
            project_id=manifest.project_id, batch_id=manifest.batch_id, shot=shot)))
    write_json_atomic(Path(batch_dir) / MANIFEST_NAME, dump_document(manifest))


@dataclass
class ValidationReport:
    """What :func:`validate_batch` found, per shot."""

    batch_dir: Path
    findings: list[Finding] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    shots: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_batch(batch_dir: Path, *, limits: RuleLimits, update: bool = True,
                   audit: AuditLog | None = None) -> ValidationReport:
    """Re-check a batch: schema, ids, paths, files, hashes and motion rules.

    The shots' ``.motion.json`` files are the working copy: a changed motion that
    passes the rules is taken into the manifest (unless ``update`` is false); one
    that fails is reported and the manifest keeps the last valid motion.

    Raises:
        ManifestError: when the manifest itself cannot be read or breaks its schema.
    """
    batch_dir = Path(batch_dir)
    manifest = load_manifest(batch_dir)
    report = ValidationReport(batch_dir, shots=len(manifest.keyframes))
    new_shots = []
    for shot in manifest.keyframes:
        new_shots.append(_validate_shot(batch_dir, shot, limits, report))
    if update and report.updated:
        write_manifest(batch_dir, manifest.model_copy(update={"keyframes": new_shots}))
        if audit is not None:
            audit.batch_id = manifest.batch_id
            audit.file_operation(
                "create", source_dir=batch_dir, dest_dir=batch_dir,
                files=[MANIFEST_NAME, *(f"{SHOTS_DIR}/{s}.video_manifest.json"
                                        for s in report.updated)],
                notes=f"motion edits taken into the manifest: {', '.join(report.updated)}")
    return report


def _validate_shot(batch_dir: Path, shot: Shot, limits: RuleLimits,
                   report: ValidationReport) -> Shot:
    item = shot.shot_id

    def add(rule: str, message: str, value: Any = None, severity: str = "error") -> None:
        report.findings.append(Finding(item, rule, severity, message, value))  # type: ignore[arg-type]

    def existing(relative: str) -> Path | None:
        try:
            path = resolve_inside(batch_dir, relative)
        except VidgenError as exc:
            add("path", exc.message, relative)
            return None
        if not path.is_file():
            add("file", "file missing", relative)
            return None
        return path

    image = existing(shot.image_path)
    if image is not None and sha256_file(image) != shot.image.sha256:
        add("hash", "keyframe changed since the batch was created (sha256 mismatch)",
            shot.image_path)
    for ref in shot.companions:
        path = existing(ref.path)
        if path is not None and sha256_file(path) != ref.sha256:
            add("hash", "companion changed since the batch was created", ref.path, "warning")
    template = shot.generation_params.template
    if template is not None and "/" in template:  # a workflow file that travels with the batch
        existing(template)

    motion = shot.motion
    motion_file = existing(shot.motion_path)
    if motion_file is not None:
        try:
            motion = read_document(Motion, motion_file, error=MotionError)
        except MotionError as exc:
            add("motion", str(exc), shot.motion_path)
            motion = shot.motion
    findings = check_motion(
        motion, image_size=(shot.image.width, shot.image.height),
        output_size=(shot.output.width, shot.output.height), fps=shot.output.fps,
        limits=limits, item=item,
    )
    report.findings.extend(findings)
    if motion != shot.motion and not any(f.severity == "error" for f in findings):
        report.updated.append(item)
        output = shot.output.model_copy(update={"duration_sec": motion.duration_sec})
        generation = shot.generation_params.model_copy(update={
            "num_frames": frame_count(motion.duration_sec, shot.generation_params.native_fps)})
        return shot.model_copy(
            update={"motion": motion, "output": output, "generation_params": generation})
    return shot


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every file format, by name (``vidgen schema``)."""
    from vidgen.meta import VideoMeta  # it builds on this module's models

    models: dict[str, type[Document]] = {
        "motion": Motion, "manifest": Manifest, "video_manifest": VideoManifest,
        "video_meta": VideoMeta,
    }
    return {name: model.model_json_schema(by_alias=True) for name, model in models.items()}


def parse_manifest(data: bytes | str | dict[str, Any], *, item: object) -> Manifest:
    """Schema-check a manifest given as JSON text or data (e.g. an upload)."""
    return parse_document(Manifest, data, item=item, error=ManifestError)
