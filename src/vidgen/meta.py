"""``<stem>.video_meta.json``: the provenance record of one finished video.

Everything needed to know how a video came to be and to make it again: the
vidgen version, the backend and model identity, the seed actually used and
every parameter, the input hashes, the motion, per-stage timings, the device
and peak memory, the encode settings, the output's hash and size, the QC
results and verdict, and the attempts. Review decisions are added later.
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import sys
from typing import Any, Literal

from pydantic import Field

from vidgen.formats import Document
from vidgen.manifest import GenerationParams
from vidgen.motion import Motion

__all__ = ["FileIdentity", "Review", "VideoMeta", "device_info", "peak_memory_mb"]


class FileIdentity(Document):
    """A file as it was used or made."""

    path: str
    sha256: str
    bytes: int


class Review(Document):
    """A person's decision on the video."""

    state: Literal["accepted", "rejected"]
    note: str = ""
    at: str


class VideoMeta(Document):
    """The provenance record written beside each video."""

    schema_: Literal["vidgen.video_meta/1"] = Field("vidgen.video_meta/1", alias="schema")
    vidgen_version: str
    project_id: str
    batch_id: str
    shot_id: str
    created_at: str
    keyframe: FileIdentity
    keyframe_size: tuple[int, int]
    prompt: str
    negative_prompt: str
    backend: dict[str, Any] = Field(description="backend and model identity")
    generation_params: GenerationParams = Field(description="as the manifest asked")
    seed: int = Field(description="the seed actually used (differs after a new-seed retry)")
    motion: Motion
    output: FileIdentity
    video: dict[str, Any] = Field(description="frames, fps, width, height, duration_sec")
    encode: dict[str, Any]
    timings: dict[str, float] = Field(description="seconds per stage, and total")
    generation_info: dict[str, Any] = Field(default_factory=dict,
                                            description="what the backend reported")
    device: dict[str, Any]
    peak_memory_mb: float
    qc: dict[str, Any]
    verdict: Literal["pass", "warn", "fail"]
    attempt: int
    worker: str
    review: Review | None = None


def device_info() -> dict[str, Any]:
    """Where the work ran."""
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
