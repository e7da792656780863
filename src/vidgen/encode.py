"""Encode RGB frames to MP4 with PyAV (FFmpeg in-process), and check what was written.

:func:`encode_video` streams RGB frames into H.264 (libx264) or H.265 (libx265),
or NVENC when ``encode.nvenc = "auto"`` and :func:`probe_encoder` finds one that
works: yuv420p, BT.709 (matrix, primaries, transfer, limited range), MP4 with
``+faststart``. :func:`probe_video` decodes every frame (metadata can lie);
:func:`verify_video` compares the result with what was promised.

PyAV 18 behaviours handled here: an RGB frame handed to the encoder is
converted with swscale's BT.601 default, so we convert with one reused
``VideoReformatter`` (``dst_colorspace=ITU709, dst_color_range=MPEG``) and tag
the codec context (VUI and MP4 ``colr`` box). PyAV opens codecs with
``thread_type=SLICE``, which puts libx264 on sliced threads; we ask for
FRAME|SLICE like the ffmpeg CLI. ``av.open(options=...)`` hands its options to
every codec too, so ``movflags`` go in ``container_options``; the format is
named since temporary names lack ``.mp4``. NVENC encoders are in the wheel but
fail to open without an NVIDIA driver (an H100 has no NVENC at all). libx265
logs to stderr by itself: ``x265-params=log-level=error``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
from av.codec.context import ThreadType
from av.container import OutputContainer
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter
from av.video.stream import VideoStream
from numpy.typing import NDArray

from vidgen.errors import EncodeError, VidgenError

__all__ = [
    "NVENC_PRESETS",
    "EncodeInfo",
    "EncodeSettings",
    "VideoProbe",
    "check_video",
    "choose_encoder",
    "decode_frames",
    "encode_video",
    "probe_encoder",
    "probe_video",
    "verify_video",
]

logger = logging.getLogger(__name__)

#: swscale's default RGB<->YUV path truncates and samples chroma coarsely: a round trip
#: comes back about one level darker (-0.9 to -1.2 per channel on real frames). Accurate
#: rounding with full chroma interpolation brings the bias to about 0.01 levels.
_ACCURATE = (Interpolation.BILINEAR | Interpolation.ACCURATE_RND
             | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP)

CODECS = {"h264": ("libx264", "h264_nvenc"), "h265": ("libx265", "hevc_nvenc")}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")
NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3",
                 "fast": "p3", "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}
"""x264/x265 preset -> NVENC preset (p1 fastest .. p7 best quality)."""

_ENCODERS = frozenset(name for pair in CODECS.values() for name in pair)
_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709
_TV_RANGE = 1  # AVCOL_RANGE_MPEG (limited, 16-235)
_PRIMARIES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"}
_TRC = {1: "bt709", 6: "smpte170m", 13: "iec61966-2-1", 16: "smpte2084", 18: "arib-std-b67"}
_SPACES = {0: "gbr", 1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"}
_RANGES = {1: "tv", 2: "pc"}
_FFMPEG_ERRORS = (OSError, av.FFmpegError)


@dataclass(frozen=True)
class EncodeSettings:
    """How to encode.

    Attributes:
        codec: ``h264`` or ``h265``.
        crf: Quality 0-51, lower is better (NVENC: ``cq``).
        preset: x264/x265 speed preset; mapped through :data:`NVENC_PRESETS` for NVENC.
        nvenc: ``auto`` (NVENC when it works, else software with a note) or ``off``.
        threads: Encoder and colour-conversion threads (0: one per core).
    """

    codec: str
    crf: int
    preset: str
    nvenc: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        for field, ok, limit in (
            ("codec", self.codec in CODECS, ", ".join(CODECS)),
            ("crf", isinstance(self.crf, int) and 0 <= self.crf <= 51, "0..51"),
            ("preset", self.preset in PRESETS, ", ".join(PRESETS)),
            ("nvenc", self.nvenc in ("auto", "off"), "auto, off"),
            ("threads", isinstance(self.threads, int) and self.threads >= 0, ">= 0"),
        ):
            if not ok:
                raise EncodeError("invalid encode setting", field=field,
                                  value=getattr(self, field), limit=limit)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, codec: str | None = None,
                    crf: int | None = None) -> EncodeSettings:
        """Settings from a config; a shot's own ``codec`` and ``crf`` win when given."""
        return cls(codec=config["output.codec"] if codec is None else codec,
                   crf=config["output.crf"] if crf is None else crf,
                   preset=config["encode.preset"], nvenc=config["encode.nvenc"])


@dataclass(frozen=True)
class EncodeInfo:
    """What :func:`encode_video` wrote; ``crf`` and ``preset`` as the encoder got them
    (``p1``..``p7`` for NVENC), ``note`` says why NVENC was not used, ``seconds`` is wall time.
    """

    encoder: str
    codec: str
    crf: int
    preset: str
    pix_fmt: str
    color: str
    frames: int
    width: int
    height: int
    fps: float
    bytes: int
    seconds: float
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for ``.video_meta.json``."""
        return asdict(self)


@dataclass(frozen=True)
class VideoProbe:
    """A video as decoded: ``frames`` counted by decoding, colour tags named as ffprobe
    names them (``None`` when unspecified), ``faststart`` when ``moov`` precedes ``mdat``.
    """

    frames: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str
    duration_sec: float
    color_primaries: str | None
    color_trc: str | None
    colorspace: str | None
    color_range: str | None
    faststart: bool
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _codec_options(encoder: str, crf: int, preset: str) -> tuple[dict[str, str], str]:
    """The encoder's private options and the preset name it gets."""
    if encoder.endswith("_nvenc"):
        nv = NVENC_PRESETS[preset]
        return {"preset": nv, "tune": "hq", "rc": "vbr", "cq": str(crf)}, nv
    options = {"crf": str(crf), "preset": preset}
    if encoder == "libx265":
        options["x265-params"] = "log-level=error"
    return options, preset


@functools.cache
def probe_encoder(name: str) -> bool:
    """True when PyAV has encoder ``name`` and it opens and encodes a 256x256 frame."""
    try:
        ctx = cast(VideoCodecContext, av.CodecContext.create(name, "w"))
        ctx.width = ctx.height = 256
        ctx.pix_fmt, ctx.time_base, ctx.framerate = "yuv420p", Fraction(1, 25), Fraction(25)
        ctx.options = _codec_options(name, 23, "medium")[0] if name in _ENCODERS else {}
        frame = VideoFrame(256, 256, "yuv420p")
        frame.pts = 0
        return bool([*ctx.encode(frame), *ctx.encode(None)])
    except (*_FFMPEG_ERRORS, ValueError, RuntimeError):
        return False


@functools.cache
def _warn_once(nvenc: str, software: str) -> None:
    logger.warning("%s is not usable here (no NVENC GPU or driver); encoding with %s",
                   nvenc, software)


def choose_encoder(settings: EncodeSettings) -> tuple[str, str | None]:
    """The encoder to use and, when NVENC was wanted but does not work here, a note why."""
    software, nvenc = CODECS[settings.codec]
    if settings.nvenc == "off":
        return software, None
    if probe_encoder(nvenc):
        return nvenc, None
    _warn_once(nvenc, software)
    return software, f"{nvenc} is not usable here (no NVENC GPU or driver); encoded with {software}"


def _rate(fps: float | Fraction) -> Fraction:
    """``fps`` as a fraction; 23.976, 29.97 and 59.94 become 24000/1001, 30000/1001..."""
    if isinstance(fps, Fraction):
        return fps
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if fps != round(fps) and abs(float(ntsc) - fps) < 5e-4:
        return ntsc
    return Fraction(fps).limit_denominator(1001)


def encode_video(frames: Iterable[NDArray[np.uint8]], path: Path, *, width: int, height: int,
                 fps: float | Fraction, settings: EncodeSettings) -> EncodeInfo:
    """Encode RGB frames into an MP4 at exactly ``path``, streaming them one at a time.

    Args:
        frames: Any iterable (a generator is fine) of RGB uint8 ``height x width x 3`` arrays.
        path: The file to write; the caller renames it into place. Removed on failure.
        width: Frame width in pixels, even.
        height: Frame height in pixels, even.
        fps: Frame rate; a ``Fraction`` such as 24000/1001 is kept exact.
        settings: Codec, CRF, preset, NVENC policy, threads.

    Returns:
        What was written, with the encoder actually used.

    Raises:
        EncodeError: An odd size, a bad frame rate, a frame of the wrong shape (naming its
            index), no frames, or an FFmpeg or file-system error such as ENOSPC.
    """
    path = Path(path)
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or value <= 0 or value % 2:
            raise EncodeError("must be a positive even number (yuv420p)", item=path,
                              field=name, value=value)
    if not (math.isfinite(fps) and fps > 0):
        raise EncodeError("must be a positive frame rate", item=path, field="fps", value=fps)
    rate = _rate(fps)
    encoder, note = choose_encoder(settings)
    options, preset = _codec_options(encoder, settings.crf, settings.preset)
    started, count = time.perf_counter(), 0
    container: OutputContainer | None = None
    try:
        container = av.open(os.fspath(path.absolute()), "w", format="mp4",
                            container_options={"movflags": "+faststart"})
        stream = cast(VideoStream, container.add_stream(encoder, rate=rate, options=options,
                                                        time_base=1 / rate))
        ctx = stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.color_primaries = ctx.color_trc = ctx.colorspace = _BT709
        ctx.color_range = _TV_RANGE
        ctx.thread_count, ctx.thread_type = settings.threads, ThreadType.FRAME | ThreadType.SLICE
        if settings.codec == "h265":
            ctx.codec_tag = "hvc1"  # the HEVC sample entry Apple players require
        reformatter = VideoReformatter()
        for index, rgb in enumerate(frames):
            if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8
                    and rgb.shape == (height, width, 3)):
                shape = getattr(rgb, "shape", type(rgb).__name__)
                raise EncodeError(f"frame has shape {shape} ({getattr(rgb, 'dtype', '?')}), "
                                  f"expected ({height}, {width}, 3) uint8 RGB",
                                  item=path, field=f"frames[{index}]", value=shape)
            frame = reformatter.reformat(
                VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"),
                format="yuv420p", dst_colorspace=Colorspace.ITU709,
                dst_color_range=ColorRange.MPEG, interpolation=_ACCURATE,
                threads=settings.threads)
            frame.color_primaries = frame.color_trc = _BT709
            frame.pts = index
            container.mux(stream.encode(frame))
            count = index + 1
        if count == 0:
            raise EncodeError("no frames to encode", item=path)
        container.mux(stream.encode(None))
        container.close()
        size = path.stat().st_size
    except BaseException as exc:
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        with contextlib.suppress(OSError):  # gone already, or never a file
            path.unlink()
        if isinstance(exc, _FFMPEG_ERRORS) and not isinstance(exc, VidgenError):
            raise EncodeError(f"encoding with {encoder} failed after {count} frames: {exc}",
                              item=path) from exc
        raise
    return EncodeInfo(encoder=encoder, codec=settings.codec, crf=settings.crf, preset=preset,
                      pix_fmt="yuv420p", color="bt709", frames=count, width=width,
                      height=height, fps=float(rate), bytes=size,
                      seconds=time.perf_counter() - started, note=note)


def _box_order(path: Path) -> list[str]:
    """Top-level MP4 box types in file order, walking the box headers only."""
    boxes: list[str] = []
    end, offset = path.stat().st_size, 0
    with open(path, "rb") as handle:
        while offset + 8 <= end and len(boxes) < 64:
            handle.seek(offset)
            size, kind = struct.unpack(">I4s", handle.read(8))
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
            boxes.append(kind.decode("latin-1"))
            offset += size if size >= 8 else end
    return boxes


def _open_video(path: Path) -> tuple[Any, Any]:
    try:
        container = av.open(os.fspath(path.absolute()), "r")
    except (*_FFMPEG_ERRORS, ValueError) as exc:
        raise EncodeError(f"cannot open video: {exc}", item=path) from exc
    if not container.streams.video:
        container.close()
        raise EncodeError("no video stream", item=path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def probe_video(path: Path, *, decode: bool = True) -> VideoProbe:
    """Describe a video, counting its frames by decoding every one (metadata can lie).

    With ``decode=False`` only the container is read and ``frames`` is what it
    claims: for callers that decode the video anyway and count for themselves.
    """
    path = Path(path)
    container, stream = _open_video(path)
    frames, first, last = 0, None, None
    try:
        with container:
            if not decode:
                frames = stream.frames
            for frame in container.decode(stream) if decode else ():
                frames, last = frames + 1, frame.time
                first = last if first is None else first
            ctx = stream.codec_context
            fps = float(stream.average_rate or stream.guessed_rate or stream.base_rate or 0)
            tags = {"color_primaries": _PRIMARIES.get(ctx.color_primaries),
                    "color_trc": _TRC.get(ctx.color_trc),
                    "colorspace": _SPACES.get(ctx.colorspace),
                    "color_range": _RANGES.get(ctx.color_range)}
            width, height, codec, pix_fmt = ctx.width, ctx.height, ctx.name, ctx.pix_fmt or ""
    except _FFMPEG_ERRORS as exc:
        raise EncodeError(f"video does not decode after {frames} frames: {exc}",
                          item=path) from exc
    duration = frames / fps if fps else 0.0
    if first is not None and last is not None and fps:
        duration = last - first + 1 / fps
    boxes = _box_order(path)
    faststart = "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
    return VideoProbe(frames=frames, fps=fps, width=width, height=height, codec=codec,
                      pix_fmt=pix_fmt, duration_sec=duration, faststart=faststart,
                      bytes=path.stat().st_size, **tags)


def verify_video(path: Path, *, frames: int, fps: float | Fraction, width: int,
                 height: int) -> VideoProbe:
    """Decode ``path``; raise :class:`EncodeError` naming the first field that differs.

    Frame count and size must match exactly, the frame rate within 1e-3.
    """
    return check_video(probe_video(path), path, frames=frames, fps=fps, width=width,
                       height=height)


def check_video(probe: VideoProbe, path: Path, *, frames: int, fps: float | Fraction,
                width: int, height: int) -> VideoProbe:
    """Raise :class:`EncodeError` naming the first field of ``probe`` that differs."""
    for field, expected, actual, ok in (
        ("frames", frames, probe.frames, probe.frames == frames),
        ("width", width, probe.width, probe.width == width),
        ("height", height, probe.height, probe.height == height),
        ("fps", float(fps), probe.fps, abs(probe.fps - float(fps)) <= 1e-3),
    ):
        if not ok:
            raise EncodeError(f"{field} is {actual}, expected {expected}", item=path,
                              field=field, value=actual, limit=expected)
    return probe


def decode_frames(path: Path) -> Iterator[NDArray[np.uint8]]:
    """Yield a video's frames as RGB uint8 ``H x W x 3`` arrays, one at a time.

    The matrix and range follow the frame's tags (BT.709 when untagged), never
    swscale's BT.601 default.
    """
    path = Path(path)
    container, stream = _open_video(path)
    reformatter, index = VideoReformatter(), 0
    try:
        with container:
            for frame in container.decode(stream):
                space = Colorspace.ITU601 if frame.colorspace in (5, 6) else Colorspace.ITU709
                full = frame.color_range == 2 or frame.format.name.startswith("yuvj")
                rgb = reformatter.reformat(
                    frame, format="rgb24", src_colorspace=space,
                    src_color_range=ColorRange.JPEG if full else ColorRange.MPEG,
                    dst_color_range=ColorRange.JPEG, interpolation=_ACCURATE)
                yield cast(NDArray[np.uint8], rgb.to_ndarray())
                index += 1
    except _FFMPEG_ERRORS as exc:
        raise EncodeError(f"video does not decode at frame {index}: {exc}", item=path) from exc
