"""Safe image loading: formats, modes, orientation, and every refusal we promise."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from vidgen.errors import ImageError
from vidgen.media import SUPPORTED_FORMATS, ImageInfo, load_image, probe_image, to_rgb8

LIMITS: dict[str, int] = {"max_pixels": 50_000_000, "max_bytes": 256 * 1024 * 1024}
READERS: tuple[Callable[..., Any], ...] = (probe_image, load_image)


def _save(img: Image.Image, path: Path, **options: Any) -> Path:
    img.save(path, **options)
    return path


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _smooth(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _bomb(path: Path, width: int, height: int) -> Path:
    """A valid-looking RGB PNG declaring width x height, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )
    return path


def _refused(path: Path, phrase: str, **limits: int) -> ImageError:
    """Asserts both readers refuse ``path`` naming it and ``phrase``; returns probe's error."""
    errors = []
    for reader in READERS:
        with pytest.raises(ImageError) as caught:
            reader(path, **{**LIMITS, **limits})
        errors.append(caught.value)
        assert caught.value.item == str(path)
        assert phrase in caught.value.message, caught.value.message
    return errors[0]


# --- formats -----------------------------------------------------------------------------


def test_png_round_trip_is_exact(tmp_path: Path) -> None:
    pixels = _noise(16, 24)
    path = _save(Image.fromarray(pixels), tmp_path / "a.png")
    info = probe_image(path, **LIMITS)
    assert info == ImageInfo(path, "PNG", 24, 16, "RGB", path.stat().st_size)
    loaded = load_image(path, **LIMITS)
    assert loaded.dtype == np.uint8 and loaded.flags.c_contiguous
    np.testing.assert_array_equal(loaded, pixels)


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("WEBP", ".webp")])
def test_lossy_round_trip_is_close(tmp_path: Path, fmt: str, suffix: str) -> None:
    pixels = _smooth(48, 64)
    path = _save(Image.fromarray(pixels), tmp_path / f"a{suffix}", quality=95)
    info = probe_image(path, **LIMITS)
    assert (info.format, info.width, info.height, info.mode) == (fmt, 64, 48, "RGB")
    loaded = load_image(path, **LIMITS)
    assert loaded.shape == (48, 64, 3) and loaded.flags.c_contiguous
    assert np.abs(loaded.astype(int) - pixels).mean() < 4


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(6, (slice(0, 40), slice(260, 300))), (8, (slice(360, 400), slice(0, 40)))],
    ids=["rotate-cw", "rotate-ccw"],
)
def test_exif_orientation_gives_display_size_and_pixels(
    tmp_path: Path, orientation: int, corner: tuple[slice, slice]
) -> None:
    stored = np.full((300, 400, 3), 128, np.uint8)
    stored[:40, :40] = (255, 0, 0)  # red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(Image.fromarray(stored), tmp_path / "o.jpg", exif=exif, quality=95)

    info = probe_image(path, **LIMITS)
    assert (info.width, info.height) == (300, 400)
    loaded = load_image(path, **LIMITS)
    assert loaded.shape == (400, 300, 3)
    red = loaded[corner][5:-5, 5:-5].astype(int)
    assert np.all(red[..., 0] > 230) and np.all(red[..., 1:] < 30)
    assert np.all(np.abs(loaded[:40, :40].astype(int) - 128) < 10)  # was not a red corner


# --- pixel modes -------------------------------------------------------------------------


def test_16bit_grey_png_keeps_the_high_byte(tmp_path: Path) -> None:
    values = np.array([[0, 255, 256, 511, 32768, 65280, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    assert cv2.imwrite(str(path), values)
    assert probe_image(path, **LIMITS).mode == "I;16"
    loaded = load_image(path, **LIMITS)
    assert loaded.shape == (1, 7, 3)
    assert loaded[0, :, 0].tolist() == [0, 0, 1, 1, 128, 255, 255]
    assert (loaded == loaded[:, :, :1]).all()


def test_16bit_modes_big_endian_and_int32_scale_too() -> None:
    big = Image.frombytes("I;16B", (3, 1), struct.pack(">3H", 256, 32768, 65535))
    assert to_rgb8(big)[0, :, 1].tolist() == [1, 128, 255]
    wide = Image.fromarray(np.array([[-5, 256, 65535, 70000]], np.int32))
    assert wide.mode == "I"
    assert to_rgb8(wide)[0, :, 2].tolist() == [0, 1, 255, 255]


def test_16bit_rgb_png_is_reduced_to_the_high_byte(tmp_path: Path) -> None:
    rgb = np.array([[[65535, 0, 256], [32768, 511, 255], [1000, 2000, 65280]]], np.uint16)
    path = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])  # OpenCV writes BGR
    assert probe_image(path, **LIMITS).mode == "RGB"  # Pillow reduces 16-bit RGB on open
    np.testing.assert_array_equal(load_image(path, **LIMITS), rgb >> 8)


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([10, 20, 30, 200, 100, 50])
    img.putpixel((1, 0), 1)
    plain = _save(img, tmp_path / "p.png")
    see_through = _save(img, tmp_path / "pt.png", transparency=0)
    assert probe_image(see_through, **LIMITS).mode == "P"
    assert load_image(plain, **LIMITS).tolist() == [[[10, 20, 30], [200, 100, 50]]]
    assert load_image(see_through, **LIMITS).tolist() == [[[0, 0, 0], [200, 100, 50]]]


def test_la_and_rgba_are_flattened_onto_black(tmp_path: Path) -> None:
    grey = Image.frombytes("L", (3, 1), bytes([200, 200, 200]))
    alpha = Image.frombytes("L", (3, 1), bytes([255, 128, 0]))
    la = _save(Image.merge("LA", (grey, alpha)), tmp_path / "la.png")
    assert probe_image(la, **LIMITS).mode == "LA"
    assert load_image(la, **LIMITS)[0, :, 0].tolist() == [200, 100, 0]

    rgba = np.array([[[255, 100, 0, 128], [10, 20, 30, 255], [90, 90, 90, 0]]], np.uint8)
    path = _save(Image.fromarray(rgba), tmp_path / "rgba.png")
    assert probe_image(path, **LIMITS).mode == "RGBA"
    assert load_image(path, **LIMITS).tolist() == [[[128, 50, 0], [10, 20, 30], [0, 0, 0]]]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "c.jpg", quality=95)
    assert probe_image(path, **LIMITS).mode == "CMYK"
    loaded = load_image(path, **LIMITS).astype(int)
    assert loaded.shape == (16, 16, 3)
    assert np.all(loaded[..., 0] > 245) and np.all(loaded[..., 1:] < 10)


def test_bilevel_and_grey(tmp_path: Path) -> None:
    bits = Image.frombytes("L", (4, 1), bytes([0, 255, 0, 255])).convert("1")
    one = _save(bits, tmp_path / "one.png")
    assert probe_image(one, **LIMITS).mode == "1"
    assert load_image(one, **LIMITS)[0, :, 0].tolist() == [0, 255, 0, 255]
    grey = _save(Image.frombytes("L", (3, 1), bytes([0, 77, 255])), tmp_path / "l.png")
    assert load_image(grey, **LIMITS).tolist() == [[[0] * 3, [77] * 3, [255] * 3]]


# --- refusals ----------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    _refused(path, "empty file")


def test_text_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("a shot list, not a picture\n")
    _refused(path, "not an image (or not PNG/JPEG/WebP)")


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_unsupported_formats(tmp_path: Path, fmt: str) -> None:
    assert fmt not in SUPPORTED_FORMATS
    path = _save(Image.fromarray(_noise(8, 8)), tmp_path / f"a.{fmt.lower()}", format=fmt)
    _refused(path, "not an image (or not PNG/JPEG/WebP)")


def test_truncated_png(tmp_path: Path) -> None:
    data = _save(Image.fromarray(_noise(64, 64)), tmp_path / "full.png").read_bytes()
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "truncated or corrupt image data")


def test_corrupt_idat_byte_is_caught_wherever_it_is(tmp_path: Path) -> None:
    # Flipping a byte of smooth-image IDAT often inflates silently into wrong pixels;
    # only the chunk CRC catches every one.
    data = _save(Image.fromarray(_smooth(64, 64)), tmp_path / "full.png").read_bytes()
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    path = tmp_path / "flipped.png"
    for offset in [length // 2, *range(length)]:
        corrupt = bytearray(data)
        corrupt[start + offset] ^= 0xFF
        path.write_bytes(bytes(corrupt))
        with pytest.raises(ImageError, match="truncated or corrupt image data"):
            load_image(path, **LIMITS)
    _refused(path, "truncated or corrupt image data")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.png", 100_000, 100_000)
    assert path.stat().st_size < 200
    err = _refused(path, "image too large")  # decoding would need 30 GB: it never starts
    assert err.limit == LIMITS["max_pixels"]
    assert "limit: 50000000" in str(err)


def test_image_over_max_pixels_names_its_size(tmp_path: Path) -> None:
    # Below Pillow's own bomb threshold, so only our check can refuse it.
    path = _bomb(tmp_path / "big.png", 8000, 8000)
    err = _refused(path, "image too large: 8000 x 8000 = 64000000 pixels")
    assert (err.value, err.limit) == (64_000_000, 50_000_000)
    small = _save(Image.fromarray(_noise(100, 100)), tmp_path / "small.png")
    assert _refused(small, "100 x 100 = 10000 pixels", max_pixels=9999).limit == 9999


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = _save(Image.fromarray(_noise(32, 32)), tmp_path / "a.png")
    size = path.stat().st_size
    err = _refused(path, "file too large", max_bytes=size - 1)
    assert (err.value, err.limit) == (size, size - 1)
    assert probe_image(path, **{**LIMITS, "max_bytes": size}).bytes == size


def test_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere.png", "not found")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "looks_like.png"
    folder.mkdir()
    _refused(folder, "a directory")


# --- safety ------------------------------------------------------------------------------


def test_reading_never_modifies_the_file(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(_smooth(30, 40)), tmp_path / "keep.jpg", exif=exif)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    probe_image(path, **LIMITS)
    load_image(path, **LIMITS)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_threads_get_the_right_answer_for_each_file(tmp_path: Path) -> None:
    expected: dict[Path, tuple[int, int] | str] = {}
    for i in range(4):
        size = (40 + 8 * i, 24 + 4 * i)
        path = _save(Image.fromarray(_noise(size[1], size[0], seed=i)), tmp_path / f"ok{i}.png")
        expected[path] = size
    expected[_bomb(tmp_path / "huge.png", 100_000, 100_000)] = "image too large"
    expected[_bomb(tmp_path / "big.png", 8000, 8000)] = "image too large: 8000 x 8000"

    def outcome(path: Path) -> tuple[int, int] | str:
        try:
            info = probe_image(path, **LIMITS)
        except ImageError as exc:
            return exc.message
        return info.width, info.height

    jobs = list(expected) * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(outcome, jobs))
    for path, got in zip(jobs, results, strict=True):
        want = expected[path]
        assert got == want if isinstance(want, tuple) else str(got).startswith(want), path
