"""Companion sets, prompt reading and safe output zones.

A keyframe ``x.png`` travels with every file in its folder that has the same
stem: ``x.yaml``, ``x.caption``, ``x.decision``, ``x.cropped`` and the
multi-dot sidecars ``x.motion.json``, ``x.video_manifest.json`` and
``x.video_meta.json``. A group-level ``<group_id>.decision`` may apply too: the
studio names images ``YYYYMMDD_HHMMSS_<stage>.png`` and the group id is the
timestamp prefix. Temp and dot files are never part of a set.

The studio's ``.yaml`` files can hold ``!!python/...`` tags (a whole PIL image
was once dumped), so they are read with a loader that turns every such tag
into plain data and never imports or runs anything. Writes never go into the
production folders named by the ``sources.protected`` setting.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vidgen import atomic
from vidgen.atomic import is_temp_name
from vidgen.config import SETTINGS
from vidgen.errors import CompanionError, ImageError, ProtectedPathError

__all__ = [
    "DEFAULT_PROTECTED",
    "IMAGE_SUFFIXES",
    "SIDECAR_SUFFIXES",
    "CompanionIndex",
    "CompanionSet",
    "CopiedFile",
    "Prompt",
    "TolerantLoader",
    "copy_set",
    "ensure_writable",
    "find_companions",
    "is_protected",
    "load_yaml_tolerant",
    "read_crop_hint",
    "read_prompt",
    "stem_of",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SIDECAR_SUFFIXES = (".motion.json", ".video_manifest.json", ".video_meta.json")
DEFAULT_PROTECTED: tuple[str, ...] = tuple(
    next(s.default for s in SETTINGS if s.name == "sources.protected")
)


def stem_of(path: Path) -> str:
    """The stem, stripping a known multi-dot sidecar suffix first, else the last suffix."""
    name = Path(path).name
    for suffix in SIDECAR_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


@dataclass(frozen=True)
class CompanionSet:
    """A keyframe, its same-stem companions and the decision file that applies to it."""

    image: Path
    stem: str
    companions: tuple[Path, ...]
    decision: Path | None

    @property
    def files(self) -> tuple[Path, ...]:
        """Everything that travels with the image: image, companions, group decision."""
        extra = (
            () if self.decision is None or self.decision in self.companions else (self.decision,)
        )
        return (self.image, *self.companions, *extra)

    def companion(self, suffix: str) -> Path | None:
        """The companion named ``<stem><suffix>`` (e.g. ``.yaml``), if there is one."""
        return next((p for p in self.companions if p.name == self.stem + suffix), None)


class CompanionIndex:
    """One folder listed once; answers :meth:`set_for` for any image in it.

    Args:
        folder: The folder holding the keyframes and their companions.

    Raises:
        CompanionError: The folder cannot be listed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            with os.scandir(self.folder) as entries:
                names = sorted(e.name for e in entries if not is_temp_name(e.name) and e.is_file())
        except OSError as exc:
            raise CompanionError(
                f"cannot list folder: {exc.strerror or exc}",
                item=self.folder,
                hint="check that the folder exists and is readable",
            ) from exc
        self._names = set(names)
        self._by_stem: dict[str, list[str]] = {}
        self._decisions: dict[str, str] = {}
        for name in names:
            stem = stem_of(Path(name))
            self._by_stem.setdefault(stem, []).append(name)
            if name.lower().endswith(".decision"):
                self._decisions.setdefault(stem, name)
        self._claims: dict[str, str] | None = None

    @property
    def images(self) -> tuple[Path, ...]:
        """Every keyframe image in the folder, sorted by name."""
        return tuple(
            self.folder / n for n in sorted(self._names) if Path(n).suffix.lower() in IMAGE_SUFFIXES
        )

    def set_for(self, image: Path) -> CompanionSet:
        """The companion set of ``image``, which must be a keyframe in this folder.

        Raises:
            ImageError: Not a keyframe suffix, a temp or dot file, or not in the folder.
        """
        image = Path(image)
        if image.parent != self.folder and image.parent.resolve() != self.folder.resolve():
            raise ValueError(f"{image} is not in the indexed folder {self.folder}")
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise ImageError(
                "not a keyframe image",
                item=image,
                field="suffix",
                value=image.suffix,
                limit=", ".join(IMAGE_SUFFIXES),
            )
        if is_temp_name(image.name):
            raise ImageError("temporary or hidden file, not a keyframe", item=image)
        if image.name not in self._names:
            raise ImageError("image not found", item=image, hint="check the path and its case")
        stem = stem_of(image)
        companions = tuple(self.folder / n for n in self._by_stem[stem] if n != image.name)
        return CompanionSet(
            self.folder / image.name, stem, companions, self._decision_for(stem, image.name)
        )

    def _decision_for(self, stem: str, image_name: str) -> Path | None:
        prefixes = [stem]  # own decision first, then the longest "<prefix>_" of the stem
        cut = stem.rfind("_")
        while cut > 0:
            prefixes.append(stem[:cut])
            cut = stem.rfind("_", 0, cut)
        named = next((self._decisions[p] for p in prefixes if p in self._decisions), None)
        if named is not None:
            return self.folder / named
        claimed = self._claimed().get(image_name)  # read only when no file name matched
        return None if claimed is None else self.folder / claimed

    def _claimed(self) -> dict[str, str]:
        """Image name -> decision file, from the ``images`` lists of the decisions (read once)."""
        if self._claims is None:
            self._claims = {}
            for name in sorted(self._decisions.values()):
                try:
                    data = json.loads(_read_text(self.folder / name))
                except (OSError, ValueError, RecursionError) as exc:
                    logger.debug("%s: unreadable decision, ignored for grouping: %s", name, exc)
                    continue
                listed = data.get("images") if isinstance(data, dict) else None
                for image in listed if isinstance(listed, list) else ():
                    if isinstance(image, str):
                        self._claims.setdefault(Path(image).name, name)
        return self._claims


def find_companions(image: Path, index: CompanionIndex | None = None) -> CompanionSet:
    """The companion set of ``image``; pass a :class:`CompanionIndex` to list a folder once."""
    image = Path(image)
    return (index or CompanionIndex(image.parent)).set_for(image)


# -- tolerant YAML -------------------------------------------------------------------------------


def _construct_plain(loader: yaml.SafeLoader | yaml.CSafeLoader, node: yaml.Node) -> Any:
    """Any tag we do not trust: the node's data as written, never interpreted."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else ""
    return value if value != "" else None


class TolerantLoader(yaml.SafeLoader):
    """A ``yaml.SafeLoader`` that reads ``!!python/...`` and unknown tags as plain data."""


TolerantLoader.add_constructor(None, _construct_plain)
_LOADER: type[Any] = TolerantLoader
if hasattr(yaml, "CSafeLoader"):  # the libyaml parser is ~30x faster on dumped images

    class _FastTolerantLoader(yaml.CSafeLoader):
        """The same loader on the libyaml parser."""

    _FastTolerantLoader.add_constructor(None, _construct_plain)
    _LOADER = _FastTolerantLoader


def load_yaml_tolerant(text: str) -> Any:
    """Parse YAML, turning ``!!python/tuple`` into a list and other unknown tags into plain data.

    Nothing is imported or executed, whatever the tags say.

    Raises:
        yaml.YAMLError: The text is not YAML.
    """
    return yaml.load(text, Loader=_LOADER)  # safe: a SafeConstructor subclass


# -- reading companions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """The prompt of a keyframe and where it came from."""

    text: str
    source: str  # "yaml:prompt", "yaml:positive_prompt", "caption" or "none"
    notes: tuple[str, ...] = ()


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_prompt(cs: CompanionSet) -> Prompt:
    """The prompt: ``.yaml`` ``prompt``, then ``positive_prompt``, else the ``.caption``.

    Never raises: an unreadable or malformed file is skipped with a note.
    """
    notes: list[str] = []
    yaml_path = cs.companion(".yaml")
    if yaml_path is not None:
        try:
            data = load_yaml_tolerant(_read_text(yaml_path))
        except (OSError, ValueError, RecursionError, yaml.YAMLError) as exc:
            problem = " ".join(str(exc).split())
            notes.append(f"{yaml_path}: cannot read YAML, falling back to the caption: {problem}")
        else:
            if isinstance(data, dict):
                for key in ("prompt", "positive_prompt"):
                    value = data.get(key)
                    if isinstance(value, str) and value.strip():
                        return Prompt(value.strip(), f"yaml:{key}", tuple(notes))
                    if key in data:
                        notes.append(
                            f"{yaml_path}: {key}={_short(value)} is not a non-empty string; ignored"
                        )
            elif data is not None:
                notes.append(f"{yaml_path}: not a mapping but {type(data).__name__}; ignored")
    caption = cs.companion(".caption")
    if caption is not None:
        try:
            text = _read_text(caption).strip()
        except OSError as exc:
            notes.append(f"{caption}: cannot read caption: {exc.strerror or exc}")
        else:
            if not text:
                notes.append(f"{caption}: empty caption: empty prompt")
            return Prompt(text, "caption", tuple(notes))
    if yaml_path is None and caption is None:
        notes.append("no .yaml or .caption: empty prompt")
    else:
        notes.append("no usable prompt in .yaml or .caption: empty prompt")
    return Prompt("", "none", tuple(notes))


def _crop_problem(value: Any) -> str | None:
    """Why ``value`` is not a normalised ``[x1, y1, x2, y2]`` crop, or None when it is."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return "expected a list of 4 numbers [x1, y1, x2, y2]"
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return "every coordinate must be a number"
    if any(isinstance(v, float) and not math.isfinite(v) for v in value):
        return "every coordinate must be finite"
    x1, y1, x2, y2 = value
    if not 0 <= x1 < x2 <= 1:
        return "need 0 <= x1 < x2 <= 1"
    if not 0 <= y1 < y2 <= 1:
        return "need 0 <= y1 < y2 <= 1"
    return None


def read_crop_hint(
    cs: CompanionSet,
) -> tuple[tuple[float, float, float, float] | None, tuple[str, ...]]:
    """The decision's normalised crop ``(x1, y1, x2, y2)``, or None, and notes on what was wrong.

    ``ai_crop_coords`` is tried first, then ``ai_recommendation.crop_coords``. Never raises.
    """
    path = cs.decision
    if path is None:
        return None, ()
    try:
        data = json.loads(_read_text(path))
    except (OSError, ValueError, RecursionError) as exc:
        return None, (f"{path}: cannot read decision JSON, no crop hint: {exc}",)
    if not isinstance(data, dict):
        return None, (
            f"{path}: decision is {type(data).__name__}, not a JSON object; no crop hint",
        )
    recommendation = data.get("ai_recommendation")
    candidates = (
        ("ai_crop_coords", data.get("ai_crop_coords")),
        (
            "ai_recommendation.crop_coords",
            recommendation.get("crop_coords") if isinstance(recommendation, dict) else None,
        ),
    )
    notes: list[str] = []
    for field, value in candidates:
        if value is None:
            continue
        why = _crop_problem(value)
        if why is None:
            x1, y1, x2, y2 = (float(v) for v in value)
            return (x1, y1, x2, y2), tuple(notes)
        notes.append(f"{path}: {field}={_short(value)}: {why}; ignored")
    return None, tuple(notes)


# -- safe output zones ---------------------------------------------------------------------------


def _protected_match(path: Path, patterns: Sequence[str]) -> tuple[str, str] | None:
    """The first (folder name, pattern) of ``path`` that is protected, or None."""
    path = Path(path).expanduser()
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        for part in candidate.parts:
            for pattern in patterns:
                if fnmatch.fnmatchcase(part, pattern):
                    return part, pattern
    return None


def is_protected(path: Path, patterns: Sequence[str] = DEFAULT_PROTECTED) -> bool:
    """True when any folder of ``path`` (absolute or resolved) matches a protected pattern."""
    return _protected_match(path, patterns) is not None


def ensure_writable(path: Path, patterns: Sequence[str] = DEFAULT_PROTECTED) -> None:
    """Refuse a write aimed at a protected folder.

    Raises:
        ProtectedPathError: ``path`` lies in a folder matching one of ``patterns``.
    """
    match = _protected_match(path, patterns)
    if match is not None:
        raise ProtectedPathError(
            "refusing to write into a protected source folder",
            item=path,
            field="sources.protected",
            value=match[0],
            limit=match[1],
            hint="choose an output folder outside the studio's production folders "
            "(or change the `sources.protected` setting)",
        )


@dataclass(frozen=True)
class CopiedFile:
    """One file of a set as copied (or found already copied)."""

    source: Path
    dest: Path
    sha256: str
    size: int


def _existing_copy(src: Path, dest: Path) -> CopiedFile | None:
    """The earlier copy of ``src`` at ``dest``; None when ``dest`` does not exist.

    Raises:
        FileExistsError: ``dest`` exists with other content.
    """
    try:
        size = dest.stat().st_size
    except FileNotFoundError:
        return None
    if size == src.stat().st_size:
        digest = atomic.sha256_file(src)
        if atomic.sha256_file(dest) == digest:
            return CopiedFile(src, dest, digest, size)
    raise FileExistsError(errno.EEXIST, "a different file already exists there", str(dest))


def copy_set(
    files: Sequence[Path],
    dest_dir: Path,
    protected: Sequence[str] = DEFAULT_PROTECTED,
) -> list[CopiedFile]:
    """Copy ``files`` into ``dest_dir``, all or nothing, hashing while copying.

    A destination that already holds the same bytes is left alone and reported;
    one with other content is never overwritten. Sources are only read.

    Raises:
        ProtectedPathError: ``dest_dir`` is protected.
        ValueError: Two files share a name.
        OSError: A copy failed (ENOSPC, EEXIST for a different existing file, ...);
            the files this call created have been removed.
    """
    dest_dir = Path(dest_dir)
    ensure_writable(dest_dir, protected)
    names = [Path(f).name for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"files with the same name cannot be copied into one folder: {names}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    copied: list[CopiedFile] = []
    created: list[Path] = []
    try:
        for src in map(Path, files):
            dest = dest_dir / src.name
            existing = _existing_copy(src, dest)
            if existing is not None:
                logger.debug("%s: already copied, left alone", dest)
                copied.append(existing)
                continue
            digest = atomic.copy_atomic(src, dest)
            created.append(dest)
            copied.append(CopiedFile(src, dest, digest, dest.stat().st_size))
    except BaseException:
        for path in created:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("%s: could not remove partial copy: %s", path, exc)
        raise
    return copied
