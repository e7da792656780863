"""The manual ratings sheet: ``ratings.csv``, one row per video, blank to fill.

The plan's manual ratings (first-frame fidelity 1-5, motion smoothness 1-5,
artifact count, commercially viable yes/no) are typed into the sheet the
report writes, in any spreadsheet program, and read back on the next
``vidgen shootout``. Writing never loses a rating: rows keep what was typed,
new videos get blank rows, and rows of videos no longer in the shootout stay
at the end. A rating belongs to one rendering of a video (its sha256): when a
video is made again and differs, its old rating no longer counts (the report
says so) and the row is blanked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vidgen.atomic import write_bytes_atomic
from vidgen.errors import InputError
from vidgen.shootout.score import Rating, VideoResult

__all__ = ["COLUMNS", "RATING_COLUMNS", "RatingsSheet", "read_ratings", "write_sheet"]

RATING_COLUMNS = ("first_frame_fidelity", "motion_smoothness", "artifact_count",
                  "commercially_viable", "notes")
COLUMNS = ("video_id", "contender", "keyframe", "seed", "video", "sha256", *RATING_COLUMNS)
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


@dataclass
class RatingsSheet:
    """What a ratings file holds: valid ratings by video id, and what no longer applies."""

    ratings: dict[str, Rating] = field(default_factory=dict)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # as typed, by video id
    stale: list[str] = field(default_factory=list)  # rated, but the video changed since
    unknown: list[str] = field(default_factory=list)  # rows of videos not in the shootout
    delimiter: str = ","  # kept when the sheet is written again


def read_ratings(path: Path, videos: Sequence[VideoResult] = ()) -> RatingsSheet:
    """Read and check a ratings file; a missing file is an empty sheet.

    Args:
        path: The CSV file (UTF-8, a BOM allowed, comma or semicolon separated).
        videos: The shootout's videos: a rating whose ``sha256`` is not the video's
            current one is stale and left out.

    Raises:
        InputError: naming the row, the column, the value and what is allowed.
    """
    sheet = RatingsSheet()
    path = Path(path)
    if not path.exists():
        return sheet
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the ratings file: {exc}", item=path) from exc
    first_line = text.split("\n", 1)[0]
    if ";" in first_line and "," not in first_line:  # a spreadsheet in a decimal-comma locale
        sheet.delimiter = ";"
    reader = csv.DictReader(io.StringIO(text), delimiter=sheet.delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    lacking = [c for c in ("video_id", *RATING_COLUMNS[:4]) if c not in header]
    if lacking:
        raise InputError("the ratings file lacks columns", item=path, field="header",
                         value=",".join(header), limit=", ".join(COLUMNS))
    current = {v.video_id: v.sha256 for v in videos}
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()
               if isinstance(v, str) or v is None}
        video_id = row.get("video_id", "")
        if not video_id:
            continue
        item = f"{path}: row {number}"
        if video_id in sheet.rows:
            raise InputError("the same video is rated twice", item=item, field="video_id",
                             value=video_id)
        sheet.rows[video_id] = row
        rating = Rating(
            video_id, fidelity=_score(row, "first_frame_fidelity", item),
            smoothness=_score(row, "motion_smoothness", item),
            artifacts=_count(row, "artifact_count", item),
            viable=_yes_no(row, "commercially_viable", item), notes=row.get("notes", ""))
        if videos and video_id not in current:
            sheet.unknown.append(video_id)
            continue
        if current and row.get("sha256") and row["sha256"] != current[video_id][:12]:
            if _rated(rating):
                sheet.stale.append(video_id)
            continue
        if _rated(rating):
            sheet.ratings[video_id] = rating
    return sheet


def write_sheet(path: Path, videos: Sequence[VideoResult], sheet: RatingsSheet | None = None
                ) -> bool:
    """Write the sheet: a row per video (ratings kept, stale ones blanked), unknown rows
    after. Returns whether the file changed."""
    sheet = sheet or RatingsSheet()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, delimiter=sheet.delimiter, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for video in videos:
        typed = sheet.rows.get(video.video_id, {})
        kept = video.video_id not in sheet.stale
        writer.writerow({
            "video_id": video.video_id, "contender": video.contender,
            "keyframe": video.keyframe, "seed": video.seed, "video": video.path,
            "sha256": video.sha256[:12],
            **{c: typed.get(c, "") if kept else "" for c in RATING_COLUMNS}})
    for video_id in sheet.unknown:
        writer.writerow(sheet.rows[video_id])
    data = buffer.getvalue().encode()
    path = Path(path)
    if path.exists() and path.read_bytes().replace(b"\r\n", b"\n") == data:
        return False  # the same sheet: left alone (it may be open in a spreadsheet)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)
    return True


def _rated(rating: Rating) -> bool:
    return any(v is not None for v in (rating.fidelity, rating.smoothness, rating.artifacts,
                                       rating.viable)) or bool(rating.notes)


def _number(row: dict[str, str], column: str, item: str, limit: str) -> int | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise InputError("not a number", item=item, field=column, value=text,
                         limit=limit) from None
    if not value.is_integer():
        raise InputError("not a whole number", item=item, field=column, value=text, limit=limit)
    return int(value)


def _score(row: dict[str, str], column: str, item: str) -> int | None:
    value = _number(row, column, item, "a whole number 1-5, or blank")
    if value is not None and not 1 <= value <= 5:
        raise InputError("out of range", item=item, field=column, value=row[column],
                         limit="a whole number 1-5, or blank")
    return value


def _count(row: dict[str, str], column: str, item: str) -> int | None:
    value = _number(row, column, item, "a whole number >= 0, or blank")
    if value is not None and value < 0:
        raise InputError("out of range", item=item, field=column, value=row[column],
                         limit="a whole number >= 0, or blank")
    return value


def _yes_no(row: dict[str, str], column: str, item: str) -> bool | None:
    text = row.get(column, "").casefold()
    if not text:
        return None
    if text in _YES or text in _NO:
        return text in _YES
    raise InputError("not yes or no", item=item, field=column, value=row[column],
                     limit="yes or no, or blank")
