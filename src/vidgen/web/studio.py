"""The studio's view of the served folder: its batches, their shots and files, kept inside.

Everything the web layer reads or writes goes through :class:`Studio`, which
answers only for what lies inside the served folder: a batch key is the folder
itself or one direct child, a shot must be in its manifest, and a file path is
resolved with :func:`vidgen.manifest.resolve_inside` and refused when it (or
what it links to) is vidgen's state, a temporary or a dot file. Errors are
:class:`~vidgen.errors.VidgenError` subclasses carrying their HTTP status
(:mod:`vidgen.web.errors`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vidgen.atomic import is_temp_name
from vidgen.audit import AuditLog
from vidgen.companions import find_companions, read_crop_hint
from vidgen.config import Config
from vidgen.errors import InputError, ManifestError, VidgenError
from vidgen.formats import read_document
from vidgen.ledger import Ledger
from vidgen.manifest import MANIFEST_NAME, Manifest, Shot, load_manifest, resolve_inside
from vidgen.meta import VideoMeta
from vidgen.pipeline import result_paths
from vidgen.rules import RuleLimits
from vidgen.web.control import Workers
from vidgen.web.errors import Forbidden, NotFound

__all__ = ["AUDIT_SCRIPT", "Batch", "Studio", "check_name"]

log = logging.getLogger(__name__)

AUDIT_SCRIPT = "vidgen_studio"


def check_name(name: str, *, what: str) -> str:
    """``name`` if it can be a single folder name inside the served folder.

    Raises:
        Forbidden: ``.``, ``..``, separators, control characters, dot or temporary names.
    """
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or any(ord(c) < 32 for c in name) or is_temp_name(name)):
        raise Forbidden(f"not a {what} name inside the served folder", field=what, value=name,
                        hint="a single folder name, no '/', '\\', '..' or leading '.'")
    return name


@dataclass(frozen=True)
class Batch:
    """A batch folder the studio serves, under its URL key."""

    key: str
    path: Path
    manifest: Manifest

    def shot(self, shot_id: str) -> Shot:
        """The manifest's shot, or NotFound."""
        try:
            return self.manifest.shot(shot_id)
        except ManifestError as exc:
            raise NotFound("no such shot in the batch", item=self.key, field="shot_id",
                           value=shot_id) from exc

    def ledger(self) -> Ledger:
        """The batch's ledger, holding every shot of the manifest (a new batch: all queued)."""
        ledger = Ledger(self.path)
        ledger.ingest(self.manifest)
        return ledger

    def file(self, relative: str) -> Path:
        """A regular file of the batch by its relative path, never leaving the batch.

        Raises:
            Forbidden: the path (or a link on it) leaves the batch, or names vidgen's state,
                a temporary or a dot file.
            NotFound: no such file.
        """
        try:
            target = resolve_inside(self.path, relative)
        except VidgenError as exc:
            raise Forbidden(exc.message, item=self.key, field="path", value=relative) from exc
        except ValueError as exc:  # absolute, '..', backslashes
            raise Forbidden(str(exc), item=self.key, field="path", value=relative) from exc
        inside = target.relative_to(self.path.resolve()).parts
        if any(is_temp_name(part) for part in (*Path(relative).parts, *inside)):
            raise Forbidden("vidgen's state, temporary and dot files are not served",
                            item=self.key, field="path", value=relative)
        if not target.is_file():
            raise NotFound("no such file in the batch", item=self.key, field="path",
                           value=relative)
        return target

    def writable(self, relative: str) -> Path:
        """Where the studio may write ``relative``: inside the batch, through no link.

        Raises:
            Forbidden: the path leaves the batch or passes through a symbolic link (writing
                there would change the file it points to).
        """
        try:
            target = resolve_inside(self.path, relative)
        except (VidgenError, ValueError) as exc:
            raise Forbidden(str(exc), item=self.key, field="path", value=relative) from exc
        if target != self.path.resolve() / PurePosixPath(relative):
            raise Forbidden("the studio does not write through symbolic links", item=self.key,
                            field="path", value=relative)
        return target

    def meta(self, shot_id: str) -> VideoMeta | None:
        """The shot's provenance record, when a video was made.

        Raises:
            InputError: the record cannot be read.
            Forbidden: it is a link that leaves the batch.
        """
        relative = result_paths(self.path, shot_id)[1].relative_to(self.path).as_posix()
        try:
            path = self.file(relative)
        except NotFound:
            return None
        return read_document(VideoMeta, path, error=InputError)

    def crop_hint(self, shot: Shot) -> tuple[float, float, float, float] | None:
        """The decision's crop hint from the keyframe's companions in the batch (as
        ``batch create`` reads it), else the focus the motion was built around."""
        image = self.path / shot.image_path
        hint, _ = read_crop_hint(find_companions(image)) if image.is_file() else (None, ())
        return hint if hint is not None else shot.motion.focus


@dataclass
class Studio:
    """The app's state: the served folder, the settings and the workers it started.

    Args:
        root: The served folder: a batch itself, or a folder of batches.
        config: Effective settings (rules, audit, image limits; passed on to workers).
        token: The access token, or None for none.
        hourly_usd: What an hour of the worker machine costs (the dashboard's cost).
        max_upload_bytes: Largest upload, all files together.
    """

    root: Path
    config: Config
    token: str | None = None
    hourly_usd: float = 0.0
    max_upload_bytes: int = 256 * 2**20
    workers: Workers = field(init=False)
    session: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.workers = Workers(self.config)
        self.session = AuditLog(self.config.audit_dir, AUDIT_SCRIPT,
                                enabled=self.config["audit.enabled"])

    @property
    def limits(self) -> RuleLimits:
        return RuleLimits.from_config(self.config)

    @property
    def is_batch(self) -> bool:
        """Whether the served folder is one batch (rather than a folder of them)."""
        return (self.root / MANIFEST_NAME).is_file()

    @property
    def root_key(self) -> str:
        """The served batch's key: its folder name (``.`` cannot travel in a URL)."""
        return self.root.name or "_"

    def audit(self, batch_id: str | None) -> AuditLog:
        """An audit log for one batch's records, in the studio's session."""
        log = AuditLog(self.config.audit_dir, AUDIT_SCRIPT, batch_id=batch_id,
                       enabled=self.config["audit.enabled"])
        log.session_id = self.session.session_id
        return log

    def keys(self) -> list[str]:
        """Every batch key, in name order."""
        if self.is_batch:
            return [self.root_key]
        return sorted(
            entry.name for entry in self.root.iterdir()
            if not is_temp_name(entry.name) and not entry.is_symlink()
            and (entry / MANIFEST_NAME).is_file())

    def batch(self, key: str) -> Batch:
        """The batch under ``key``.

        Raises:
            Forbidden: a key that is not one folder name inside the served folder.
            NotFound: no such batch.
            ManifestError: its manifest cannot be read.
        """
        if self.is_batch and key == self.root_key:
            return Batch(key, self.root, load_manifest(self.root))
        check_name(key, what="batch")
        path = self.root / key
        if self.is_batch or not (path / MANIFEST_NAME).is_file():
            raise NotFound("no such batch", field="batch", value=key,
                           hint="GET /api/batches lists them")
        if path.is_symlink() or path.resolve().parent != self.root:
            raise Forbidden("the batch folder leaves the served folder", field="batch",
                            value=key)
        return Batch(key, path, load_manifest(path))

    def batches(self) -> list[Batch]:
        """Every readable batch; one whose manifest is broken is logged and left out."""
        found = []
        for key in self.keys():
            try:
                found.append(self.batch(key))
            except VidgenError as exc:
                log.warning("batch %s left out: %s", key, exc)
        return found
