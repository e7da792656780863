"""Safe media loading: keyframe images now, video decoding and probing later.

Images are read with Pillow, restricted to :data:`SUPPORTED_FORMATS`. Every
image is checked before its pixels are decoded (file size, then the pixel count
declared by its header, so a decompression bomb is refused without allocating)
and then decoded completely, so truncated or corrupt data fails here with an
:class:`~vidgen.errors.ImageError` and not later in the pipeline.

Pillow behaviours this module works around:

- ``Image.MAX_IMAGE_PIXELS`` is process-global, so we never change it; we
  compare the size ourselves against ``max_pixels``. Pillow's own check still
  runs inside ``Image.open`` and refuses images above twice its limit (about
  179 megapixels by default) even when ``max_pixels`` is higher; that refusal,
  and its warning when turned into an error, become an ``ImageError`` too.
- ``load()`` does not check the PNG CRC of image data and stops inflating once
  it has every row, so a flipped byte in IDAT often decodes silently into wrong
  pixels. PNGs are therefore verified (every chunk's CRC) before decoding.
- 16-bit greyscale opens as ``I;16`` and ``convert("L")`` clips it (256 ->
  255) instead of scaling it; we shift it right by 8 bits. 16-bit RGB(A) PNGs
  open as 8-bit ``RGB``/``RGBA`` already reduced to their high byte, which is
  the same scaling, so they need nothing.

``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay ``False`` (its default); it is
global, so this module only relies on it and never sets it. All functions
here are safe to call from several threads at once.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from PIL import (
    ExifTags,
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from vidgen.errors import ImageError

__all__ = ["SUPPORTED_FORMATS", "ImageInfo", "load_image", "probe_image", "to_rgb8"]

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP")
"""Image formats vidgen reads, as Pillow names them."""

# Registered at import, so Image.open never runs Pillow's plugin discovery from threads.
_PLUGINS = (JpegImagePlugin, PngImagePlugin, WebPImagePlugin)
_FORMAT_HINT = "save it as PNG, JPEG or WebP"
_PIXELS_HINT = "raise image.max_pixels or downscale the image"
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that turn by 90 degrees
_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`probe_image` learned about an image.

    Attributes:
        path: The file.
        format: Pillow's format name, one of :data:`SUPPORTED_FORMATS`.
        width: Display width, after the EXIF orientation is applied.
        height: Display height, after the EXIF orientation is applied.
        mode: Pillow's pixel mode as stored (``RGB``, ``L``, ``I;16``, ``P``...).
        bytes: File size in bytes.
    """

    path: Path
    format: str
    width: int
    height: int
    mode: str
    bytes: int


def probe_image(path: Path, *, max_pixels: int, max_bytes: int) -> ImageInfo:
    """Checks that an image can be used and describes it.

    The file must exist, be a regular non-empty file of at most ``max_bytes``,
    be PNG, JPEG or WebP, hold at most ``max_pixels`` pixels (checked before
    any pixel is decoded) and decode completely. The file is only read.

    Args:
        path: The image file.
        max_pixels: Largest accepted width x height (setting ``image.max_pixels``).
        max_bytes: Largest accepted file size (setting ``image.max_bytes``).

    Returns:
        The format, display size, stored mode and file size.

    Raises:
        ImageError: The file is missing, empty, too large, not a supported
            image, too many pixels, or truncated or corrupt.
    """
    return _decode(Path(path), max_pixels=max_pixels, max_bytes=max_bytes)[1]


def load_image(path: Path, *, max_pixels: int, max_bytes: int) -> NDArray[np.uint8]:
    """Loads an image as 8-bit RGB pixels in display orientation.

    Makes the checks of :func:`probe_image`, applies the EXIF orientation and
    converts the pixels with :func:`to_rgb8` (transparency is flattened onto
    black).

    Args:
        path: The image file.
        max_pixels: Largest accepted width x height (setting ``image.max_pixels``).
        max_bytes: Largest accepted file size (setting ``image.max_bytes``).

    Returns:
        A C-contiguous ``uint8`` array of shape (height, width, 3).

    Raises:
        ImageError: As for :func:`probe_image`, or the pixel mode cannot be
            converted.
    """
    path = Path(path)
    img, info = _decode(path, max_pixels=max_pixels, max_bytes=max_bytes)
    try:
        return to_rgb8(ImageOps.exif_transpose(img))
    except (ValueError, OSError) as exc:
        raise ImageError(
            f"cannot convert pixel mode {info.mode} to RGB: {exc}",
            item=path,
            field="mode",
            value=info.mode,
            hint=_FORMAT_HINT,
        ) from exc


def to_rgb8(img: Image.Image) -> NDArray[np.uint8]:
    """Converts a decoded Pillow image of any mode to 8-bit RGB pixels.

    16-bit greyscale (``I;16``, ``I;16B``, and ``I``, which is taken to hold
    16-bit samples and clipped to 0..65535) is scaled by keeping the high byte
    (65535 -> 255, 32768 -> 128, 256 -> 1). Transparency (an alpha channel or a
    ``transparency`` entry, as in a palette image) is flattened onto black:
    each channel becomes ``round(value * alpha / 255)``. Every other mode
    (``L``, ``P``, ``CMYK``, ``1``...) uses Pillow's conversion to ``RGB``. The
    orientation is not changed.

    Args:
        img: The image; its pixels are decoded if they were not already.

    Returns:
        A C-contiguous ``uint8`` array of shape (height, width, 3).

    Raises:
        ValueError: Pillow cannot convert the mode to RGB.
    """
    if img.mode in _SIXTEEN_BIT_GREY:
        grey = np.asarray(img)
        if img.mode == "I":
            grey = np.clip(grey, 0, 0xFFFF)
        grey8 = (grey.astype(np.uint16) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey8[:, :, np.newaxis], 3, axis=2))
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
        flat = (rgba[:, :, :3] * rgba[:, :, 3:] + 127) // 255
        return np.ascontiguousarray(flat.astype(np.uint8))
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _decode(
    path: Path, *, max_pixels: int, max_bytes: int
) -> tuple[ImageFile.ImageFile, ImageInfo]:
    """Runs every check; returns the fully decoded image and its description."""
    size = _checked_file_size(path, max_bytes)
    try:
        fp = path.open("rb")
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}", item=path) from exc
    with fp:
        try:
            img = _open(path, fp, max_pixels)
            if img.format == "PNG":
                img.verify()  # checks every chunk's CRC; load() skips the image data's
                img = _open(path, fp, max_pixels)
            img.load()
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        except ImageError:
            raise
        except UnidentifiedImageError as exc:
            raise ImageError(
                "not an image (or not PNG/JPEG/WebP)", item=path, hint=_FORMAT_HINT
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(
                f"image too large: Pillow refused it as a decompression bomb ({exc})",
                item=path,
                field="pixels",
                limit=max_pixels,
                hint=_PIXELS_HINT,
            ) from exc
        except Exception as exc:  # Pillow reports bad data with many exception types
            raise ImageError(
                f"truncated or corrupt image data: {exc}", item=path, hint=_FORMAT_HINT
            ) from exc
    width, height = img.size
    if orientation in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    fmt = "JPEG" if img.format == "MPO" else str(img.format)  # MPO: a JPEG with extra pictures
    return img, ImageInfo(path, fmt, width, height, img.mode, size)


def _checked_file_size(path: Path, max_bytes: int) -> int:
    """Returns the size of a regular, non-empty file of at most ``max_bytes``."""
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ImageError("not found", item=path, hint="check the path") from exc
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}", item=path) from exc
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ImageError(f"not an image file: {kind}", item=path)
    if st.st_size == 0:
        raise ImageError("empty file", item=path, field="bytes", value=0)
    if st.st_size > max_bytes:
        raise ImageError(
            "file too large",
            item=path,
            field="bytes",
            value=st.st_size,
            limit=max_bytes,
            hint="raise image.max_bytes or save a smaller file",
        )
    return st.st_size


def _open(path: Path, fp: IO[bytes], max_pixels: int) -> ImageFile.ImageFile:
    """Identifies the image in ``fp`` and checks its pixel count; decodes nothing."""
    img = Image.open(fp, formats=SUPPORTED_FORMATS)
    width, height = img.size
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width} x {height} = {width * height} pixels",
            item=path,
            field="pixels",
            value=width * height,
            limit=max_pixels,
            hint=_PIXELS_HINT,
        )
    return img
