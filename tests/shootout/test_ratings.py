"""The ratings sheet: blank rows out, ratings back in, every mistake named by row and column."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vidgen.errors import InputError
from vidgen.shootout.ratings import COLUMNS, read_ratings, write_sheet
from vidgen.shootout.score import Rating, VideoResult


def clip(contender: str, seed: int = 1, sha: str = "a" * 64) -> VideoResult:
    return VideoResult(video_id=f"{contender}:k:{seed}", contender=contender, keyframe="k",
                       seed=seed, path=f"runs/{contender}/seed-{seed}/results/k.mp4",
                       sha256=sha, seconds=1.0, model_load_sec=0.0, peak_vram_gb=0.0,
                       ssim_mean=0.9, ssim_min=0.9, flash_frames=0)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fill(path: Path, values: dict[str, dict[str, str]], delimiter: str = ",") -> None:
    table = rows(path)
    for row in table:
        row.update(values.get(row["video_id"], {}))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(table)


def test_round_trip(tmp_path: Path) -> None:
    sheet = tmp_path / "ratings.csv"
    videos = [clip("a"), clip("b")]
    assert read_ratings(sheet, videos).ratings == {}  # no file yet: nothing rated
    assert write_sheet(sheet, videos)
    blank = rows(sheet)
    assert [r["video_id"] for r in blank] == ["a:k:1", "b:k:1"]
    assert blank[0]["video"] == "runs/a/seed-1/results/k.mp4" and blank[0]["sha256"] == "a" * 12
    assert all(r[c] == "" for r in blank for c in ("first_frame_fidelity", "notes"))
    fill(sheet, {"a:k:1": {"first_frame_fidelity": "5", "motion_smoothness": "4.0",
                           "artifact_count": "0", "commercially_viable": "Yes",
                           "notes": "clean, a little slow"}})
    read = read_ratings(sheet, videos)
    assert read.ratings == {"a:k:1": Rating("a:k:1", 5, 4, 0, True, "clean, a little slow")}
    assert not write_sheet(sheet, videos, read)  # unchanged: the file is left alone
    read = read_ratings(sheet, [*videos, clip("a", seed=2)])  # a new video gets a blank row
    assert write_sheet(sheet, [*videos, clip("a", seed=2)], read)
    assert [r["video_id"] for r in rows(sheet)] == ["a:k:1", "b:k:1", "a:k:2"]
    assert rows(sheet)[0]["notes"] == "clean, a little slow"


def test_a_video_made_again_loses_its_old_rating(tmp_path: Path) -> None:
    sheet = tmp_path / "ratings.csv"
    write_sheet(sheet, [clip("a")])
    fill(sheet, {"a:k:1": {"first_frame_fidelity": "2"}})
    remade = [clip("a", sha="b" * 64)]
    read = read_ratings(sheet, remade)
    assert read.ratings == {} and read.stale == ["a:k:1"]
    write_sheet(sheet, remade, read)
    assert rows(sheet)[0]["first_frame_fidelity"] == "" and rows(sheet)[0]["sha256"] == "b" * 12


def test_rows_of_videos_no_longer_in_the_shootout_are_kept(tmp_path: Path) -> None:
    sheet = tmp_path / "ratings.csv"
    write_sheet(sheet, [clip("a"), clip("gone")])
    fill(sheet, {"gone:k:1": {"first_frame_fidelity": "3"}})
    read = read_ratings(sheet, [clip("a")])
    assert read.unknown == ["gone:k:1"] and "gone:k:1" not in read.ratings
    write_sheet(sheet, [clip("a")], read)
    assert rows(sheet)[1]["first_frame_fidelity"] == "3"


def test_a_semicolon_sheet_from_a_european_spreadsheet(tmp_path: Path) -> None:
    sheet = tmp_path / "ratings.csv"
    write_sheet(sheet, [clip("a")])
    fill(sheet, {"a:k:1": {"first_frame_fidelity": "4", "commercially_viable": "no"}}, ";")
    assert read_ratings(sheet, [clip("a")]).ratings["a:k:1"] == Rating("a:k:1", 4, viable=False)


@pytest.mark.parametrize(("column", "value", "message", "limit"), [
    ("first_frame_fidelity", "6", "out of range", "a whole number 1-5, or blank"),
    ("first_frame_fidelity", "4.5", "not a whole number", "a whole number 1-5, or blank"),
    ("motion_smoothness", "good", "not a number", "a whole number 1-5, or blank"),
    ("artifact_count", "-1", "out of range", "a whole number >= 0, or blank"),
    ("commercially_viable", "maybe", "not yes or no", "yes or no, or blank"),
])
def test_bad_values_name_row_column_value_and_limit(tmp_path: Path, column: str, value: str,
                                                    message: str, limit: str) -> None:
    sheet = tmp_path / "ratings.csv"
    write_sheet(sheet, [clip("a"), clip("b")])
    fill(sheet, {"b:k:1": {column: value}})
    with pytest.raises(InputError) as info:
        read_ratings(sheet, [clip("a"), clip("b")])
    exc = info.value
    assert exc.item == f"{sheet}: row 3" and exc.field == column and exc.value == value
    assert exc.message == message and exc.limit == limit


def test_broken_sheets(tmp_path: Path) -> None:
    sheet = tmp_path / "ratings.csv"
    sheet.write_text("video_id,score\na:k:1,5\n")
    with pytest.raises(InputError, match="lacks columns"):
        read_ratings(sheet)
    write_sheet(sheet, [clip("a")])
    sheet.write_text(sheet.read_text() + sheet.read_text().splitlines()[1] + "\n")
    with pytest.raises(InputError, match="rated twice"):
        read_ratings(sheet)
