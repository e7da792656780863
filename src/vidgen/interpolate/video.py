"""``vidgen interpolate``: retime any video file with the project's interpolators and encoder.

The clip keeps its duration: ``n`` frames at the source rate become
``round(n * fps / source fps)`` frames at ``fps`` (see
:func:`~vidgen.interpolate.base.retime_plan`). The whole clip is decoded into
memory first (interpolation needs random access; 5 s of 720p is about
330 MB), then streamed through the encoder into a temporary file that is
renamed into place only when complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vidgen.atomic import TEMP_MARK, commit_file
from vidgen.companions import ensure_writable
from vidgen.encode import EncodeSettings, decode_frames, encode_video, probe_video
from vidgen.errors import InputError
from vidgen.interpolate.base import create_interpolator, retime_plan

__all__ = ["RetimeReport", "retime_video"]


@dataclass(frozen=True)
class RetimeReport:
    """What :func:`retime_video` did."""

    source: str
    output: str
    method: str
    source_frames: int
    source_fps: float
    frames: int
    fps: float
    interpolate_sec: float
    total_sec: float
    encoder: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retime_video(source: Path, output: Path, fps: float, config: Mapping[str, Any]
                 ) -> RetimeReport:
    """Retime ``source`` to ``fps`` into ``output`` with ``interpolate.method`` and the
    project's encoder settings.

    Raises:
        InputError: ``output`` is ``source``, or the rate is not positive.
        ProtectedPathError: ``output`` lies in a protected folder.
        EncodeError: the source cannot be decoded or the output written.
    """
    source, output = Path(source), Path(output)
    if output.resolve() == source.resolve():
        raise InputError("the output would overwrite the source", item=output)
    if not fps > 0:
        raise InputError("the frame rate must be positive", field="fps", value=fps)
    ensure_writable(output, config["sources.protected"])
    started = time.perf_counter()
    probe = probe_video(source, decode=False)
    frames = list(decode_frames(source))
    name = config["interpolate.method"]
    interpolator = create_interpolator(name, config)
    spent = [0.0]

    def timed(stream: Iterator[NDArray[np.uint8]]) -> Iterator[NDArray[np.uint8]]:
        while True:
            t = time.perf_counter()
            frame = next(stream, None)
            spent[0] += time.perf_counter() - t
            if frame is None:
                return
            yield frame

    expected = len(retime_plan(len(frames), probe.fps, fps))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f"{output.name}{TEMP_MARK}{time.time_ns()}")
    try:
        info = encode_video(timed(iter(interpolator.retime(frames, probe.fps, fps))), tmp,
                            width=probe.width, height=probe.height, fps=fps,
                            settings=EncodeSettings.from_config(config))
        if info.frames != expected:
            raise InputError(f"the interpolator made {info.frames} frames, not {expected}",
                             item=name)
        commit_file(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return RetimeReport(str(source), str(output), name, len(frames), probe.fps, info.frames,
                        fps, round(spent[0], 3), round(time.perf_counter() - started, 3),
                        info.encoder)
