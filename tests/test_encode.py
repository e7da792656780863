"""Encoding through PyAV: real small encodes, decoded back and checked."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import struct
import subprocess
import weakref
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vidgen import encode
from vidgen.encode import (
    EncodeSettings,
    choose_encoder,
    decode_frames,
    encode_video,
    probe_encoder,
    probe_video,
    verify_video,
)
from vidgen.errors import BackendError, EncodeError

W, H = 64, 48
X264 = EncodeSettings(codec="h264", crf=18, preset="veryfast", nvenc="off")


def gradient_clip(count: int, width: int = W, height: int = H) -> Iterator[np.ndarray]:
    """A smooth, slowly panning colour gradient: easy to compress, easy to compare."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        shift = x + 0.5 * i
        rgb = np.stack([40 + 160 * shift / (width + count), 60 + 120 * y / height,
                        200 - 100 * (shift + y) / (width + height + count)], axis=-1)
        yield rgb.round().astype(np.uint8)


def solid(rgb: tuple[int, int, int], count: int = 5) -> Iterator[np.ndarray]:
    for _ in range(count):
        yield np.full((H, W, 3), rgb, np.uint8)


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        boxes.append(kind.decode())
        offset += size if size else len(data)
    return boxes


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "shot.mp4.tmp-0001"  # the caller's temporary name: no .mp4 suffix


@pytest.mark.parametrize("fps", [24, 30, Fraction(24000, 1001), 23.976])
def test_frames_fps_size_and_codec(out: Path, fps: float) -> None:
    info = encode_video(gradient_clip(17), out, width=W, height=H, fps=fps, settings=X264)
    probe = verify_video(out, frames=17, fps=fps, width=W, height=H)
    assert (info.frames, info.width, info.height, info.encoder) == (17, W, H, "libx264")
    assert (probe.codec, probe.pix_fmt) == ("h264", "yuv420p")
    assert probe.duration_sec == pytest.approx(17 / float(fps), abs=1e-3)
    assert info.bytes == out.stat().st_size == probe.bytes
    if fps in (23.976, Fraction(24000, 1001)):
        assert av.open(out).streams.video[0].average_rate == Fraction(24000, 1001)
    json.dumps(info.to_dict())


def test_h265(out: Path) -> None:
    settings = EncodeSettings(codec="h265", crf=22, preset="ultrafast", nvenc="off")
    info = encode_video(gradient_clip(12), out, width=W, height=H, fps=24, settings=settings)
    probe = verify_video(out, frames=12, fps=24, width=W, height=H)
    assert (info.encoder, probe.codec) == ("libx265", "hevc")
    with av.open(out) as container:
        assert container.streams.video[0].codec_context.codec_tag == "hvc1"


def test_faststart_puts_moov_before_mdat(out: Path) -> None:
    encode_video(gradient_clip(10), out, width=W, height=H, fps=24, settings=X264)
    boxes = top_level_boxes(out)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")
    assert probe_video(out).faststart


@pytest.mark.parametrize("colour", [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)])
def test_bt709_colour_round_trip(out: Path, colour: tuple[int, int, int]) -> None:
    encode_video(solid(colour), out, width=W, height=H, fps=24, settings=X264)
    with av.open(out) as container:
        frame = next(container.decode(video=0))
        planes = frame.to_ndarray()  # yuv420p: Y rows, then U and V packed as H/4 rows each
    y = planes[:H].mean()
    u = planes[H:H + H // 4].mean() - 128
    v = planes[H + H // 4:].mean() - 128
    luma = (y - 16) / 219
    rgb = 255 * np.array([luma + 1.5748 * v / 224,
                          luma - 0.1873 * u / 224 - 0.4681 * v / 224,
                          luma + 1.8556 * u / 224])
    assert np.abs(rgb - colour).max() <= 3, (rgb, colour)
    expected_y = 16 + 219 * (0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2]) / 255
    assert abs(y - expected_y) <= 1.5  # BT.601 would give 81 for red, not 63
    centre = next(decode_frames(out))[H // 2, W // 2].astype(int)  # no uint8 wrap-around
    assert centre == pytest.approx(colour, abs=3)


def test_stream_and_container_say_bt709(out: Path) -> None:
    encode_video(solid((200, 100, 50)), out, width=W, height=H, fps=24, settings=X264)
    probe = probe_video(out)
    assert (probe.color_primaries, probe.color_trc, probe.colorspace, probe.color_range) == (
        "bt709", "bt709", "bt709", "tv")
    with av.open(out) as container:
        frame = next(container.decode(video=0))
        assert (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range) == (
            1, 1, 1, 1)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="the ffprobe command is missing")
def test_ffprobe_agrees(out: Path) -> None:
    encode_video(gradient_clip(8), out, width=W, height=H, fps=30, settings=X264)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(out)],
        capture_output=True, text=True, check=True)
    stream = json.loads(result.stdout)["streams"][0]
    assert stream["nb_read_frames"] == "8"
    assert (stream["color_space"], stream["color_primaries"], stream["color_transfer"],
            stream["color_range"], stream["pix_fmt"]) == ("bt709", "bt709", "bt709", "tv",
                                                          "yuv420p")


@pytest.mark.parametrize(("width", "height", "field"), [(63, 48, "width"), (64, 47, "height"),
                                                        (0, 48, "width")])
def test_odd_sizes_refused(out: Path, width: int, height: int, field: str) -> None:
    with pytest.raises(EncodeError) as caught:
        encode_video(gradient_clip(3, width or 2, height), out, width=width, height=height,
                     fps=24, settings=X264)
    assert caught.value.field == field
    assert not out.exists()


@pytest.mark.parametrize("fps", [0, -24, float("nan")])
def test_bad_frame_rate_refused(out: Path, fps: float) -> None:
    with pytest.raises(EncodeError) as caught:
        encode_video(gradient_clip(3), out, width=W, height=H, fps=fps, settings=X264)
    assert caught.value.field == "fps"


def test_wrong_frame_shape_names_the_index(out: Path) -> None:
    def frames() -> Iterator[np.ndarray]:
        yield from gradient_clip(3)
        yield np.zeros((H, W + 2, 3), np.uint8)

    with pytest.raises(EncodeError, match=r"frames\[3\].*\(48, 66, 3\)"):
        encode_video(frames(), out, width=W, height=H, fps=24, settings=X264)
    assert not out.exists()


def test_wrong_dtype_refused(out: Path) -> None:
    floats: Any = np.zeros((H, W, 3))
    with pytest.raises(EncodeError, match=r"frames\[0\].*float"):
        encode_video([floats], out, width=W, height=H, fps=24, settings=X264)


def test_zero_frames_refused(out: Path) -> None:
    with pytest.raises(EncodeError, match="no frames"):
        encode_video(iter([]), out, width=W, height=H, fps=24, settings=X264)
    assert not out.exists()


def test_generator_is_streamed_not_held(out: Path) -> None:
    alive: list[weakref.ref[np.ndarray]] = []
    most_alive = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal most_alive
        for frame in gradient_clip(30):
            most_alive = max(most_alive, sum(ref() is not None for ref in alive))
            alive.append(weakref.ref(frame))
            yield frame

    info = encode_video(frames(), out, width=W, height=H, fps=24, settings=X264)
    assert info.frames == 30
    assert most_alive <= 2


def test_failing_source_propagates_and_cleans_up(out: Path) -> None:
    def frames() -> Iterator[np.ndarray]:
        yield from gradient_clip(5)
        raise BackendError("model crashed", item="shot-1")

    with pytest.raises(BackendError, match="model crashed"):
        encode_video(frames(), out, width=W, height=H, fps=24, settings=X264)
    assert not out.exists()


@pytest.mark.parametrize(("field", "change"), [
    ("frames", {"frames": 11}), ("width", {"width": 66}), ("height", {"height": 50}),
    ("fps", {"fps": 25}), ("fps", {"fps": 24.01})])
def test_verify_names_the_field(out: Path, field: str, change: dict[str, Any]) -> None:
    encode_video(gradient_clip(10), out, width=W, height=H, fps=24, settings=X264)
    expected: dict[str, Any] = {"frames": 10, "fps": 24, "width": W, "height": H, **change}
    with pytest.raises(EncodeError) as caught:
        verify_video(out, **expected)
    assert caught.value.field == field
    assert f"expected {float(change[field]) if field == 'fps' else change[field]}" in str(
        caught.value)
    assert out.name in str(caught.value)


def test_truncated_file_is_caught_although_its_metadata_is_intact(out: Path) -> None:
    encode_video(gradient_clip(30), out, width=W, height=H, fps=24, settings=X264)
    data = out.read_bytes()
    out.write_bytes(data[:len(data) * 6 // 10])  # faststart: the index survives, media does not
    with av.open(out) as container:
        assert container.streams.video[0].frames == 30
    with pytest.raises(EncodeError, match="decode"):
        verify_video(out, frames=30, fps=24, width=W, height=H)


def test_probe_of_a_non_video_is_an_encode_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x08free" + b"junk" * 100)
    with pytest.raises(EncodeError, match=r"not\.mp4"):
        probe_video(bogus)


class _FullDisk:
    """Wraps an output container; after 3 packets the next ``mux`` finds the disk full."""

    def __init__(self, container: Any, path: Path) -> None:
        self._container, self._path, self.packets = container, path, 0
        self.file_existed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def mux(self, packets: Any) -> None:
        if self.packets >= 3 and packets:
            self.file_existed = self._path.exists()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._container.mux(packets)
        self.packets += len(packets)


def test_enospc_mid_stream_removes_the_file(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = av.open
    wrapped: list[_FullDisk] = []

    def fake_open(*args: Any, **kwargs: Any) -> _FullDisk:
        wrapped.append(_FullDisk(real_open(*args, **kwargs), out))
        return wrapped[0]

    monkeypatch.setattr(av, "open", fake_open)  # the module vidgen.encode calls
    with pytest.raises(EncodeError, match="No space left on device") as caught:
        encode_video(gradient_clip(30), out, width=W, height=H, fps=24, settings=X264)
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ENOSPC
    assert caught.value.item == str(out)
    assert wrapped[0].file_existed  # a partly written file was there...
    assert not out.exists()  # ...and is gone


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_real_full_device(tmp_path: Path) -> None:
    link = tmp_path / "full.mp4.tmp-0001"
    link.symlink_to("/dev/full")
    noise = np.random.default_rng(0).integers(0, 256, (30, 240, 320, 3), dtype=np.uint8)
    settings = EncodeSettings(codec="h264", crf=10, preset="ultrafast", nvenc="off")
    with pytest.raises(EncodeError, match="No space left") as caught:
        encode_video(iter(noise), link, width=320, height=240, fps=24, settings=settings)
    assert caught.value.item == str(link)
    assert not link.is_symlink()
    assert os.path.exists("/dev/full")


def test_probe_encoder() -> None:
    assert probe_encoder("libx264")
    assert not probe_encoder("no_such_encoder")


@pytest.mark.skipif(os.path.exists("/dev/nvidia0"), reason="an NVIDIA device is present")
def test_nvenc_probe_fails_without_an_nvidia_gpu() -> None:
    assert not probe_encoder("h264_nvenc")
    assert not probe_encoder("hevc_nvenc")


def test_choose_encoder_falls_back_with_a_note(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(encode, "probe_encoder", lambda name: False)
    encode._warn_once.cache_clear()
    auto = EncodeSettings(codec="h264", crf=20, preset="medium", nvenc="auto")
    with caplog.at_level(logging.WARNING, logger="vidgen.encode"):
        for _ in range(3):
            name, note = choose_encoder(auto)
            assert name == "libx264"
            assert note is not None and "h264_nvenc" in note
    assert len([r for r in caplog.records if "h264_nvenc" in r.getMessage()]) == 1
    assert choose_encoder(EncodeSettings("h265", 20, "medium", "auto"))[0] == "libx265"


def test_choose_encoder_off_never_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(name: str) -> bool:
        raise AssertionError("probed")

    monkeypatch.setattr(encode, "probe_encoder", boom)
    assert choose_encoder(X264) == ("libx264", None)


def test_choose_encoder_uses_nvenc_when_it_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode, "probe_encoder", lambda name: name == "hevc_nvenc")
    assert choose_encoder(EncodeSettings("h265", 20, "slow", "auto")) == ("hevc_nvenc", None)
    assert encode._codec_options("hevc_nvenc", 20, "slow")[0]["preset"] == "p5"


def test_fallback_note_is_recorded(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode, "probe_encoder", lambda name: False)
    settings = EncodeSettings(codec="h264", crf=20, preset="veryfast", nvenc="auto")
    info = encode_video(gradient_clip(4), out, width=W, height=H, fps=24, settings=settings)
    assert info.encoder == "libx264" and info.note and "h264_nvenc" in info.note


def test_decode_frames_round_trip(out: Path) -> None:
    settings = EncodeSettings(codec="h264", crf=18, preset="medium", nvenc="off")
    encode_video(gradient_clip(24), out, width=W, height=H, fps=24, settings=settings)
    decoded = list(decode_frames(out))
    assert len(decoded) == 24
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in decoded)
    scores = [psnr(a, b) for a, b in zip(gradient_clip(24), decoded, strict=True)]
    assert min(scores) > 35, scores


def test_settings_from_config_and_overrides() -> None:
    config = {"output.codec": "h264", "output.crf": 20, "encode.preset": "slow",
              "encode.nvenc": "off"}
    assert EncodeSettings.from_config(config) == EncodeSettings("h264", 20, "slow", "off")
    shot = EncodeSettings.from_config(config, codec="h265", crf=16)
    assert (shot.codec, shot.crf, shot.preset) == ("h265", 16, "slow")


@pytest.mark.parametrize(("field", "kwargs"), [
    ("codec", {"codec": "vp9"}), ("crf", {"crf": 52}), ("preset", {"preset": "p4"}),
    ("nvenc", {"nvenc": "on"}), ("threads", {"threads": -1})])
def test_invalid_settings_refused(field: str, kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {"codec": "h264", "crf": 20, "preset": "medium", "nvenc": "auto"}
    with pytest.raises(EncodeError) as caught:
        EncodeSettings(**{**base, **kwargs})
    assert caught.value.field == field
