"""One shot, start to finish, as plain stage functions read top to bottom.

load -> generate -> reframe -> interpolate -> encode -> qc -> write.

Frames stream from stage to stage (a generator each), so a long clip never
sits in memory whole unless interpolation needs random access. Each stage's
time is measured exclusively (its own work, not its upstream's). Outputs are
written under temporary names and renamed only once complete and checked:
``results/<stem>.mp4`` and ``results/<stem>.video_meta.json`` are never
partial, whatever kills the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vidgen._version import __version__
from vidgen.atomic import TEMP_MARK, commit_file, sha256_file, write_json_atomic
from vidgen.backends.base import Backend, GenerationRequest, GenerationResult
from vidgen.config import Config
from vidgen.encode import EncodeSettings, check_video, encode_video, probe_video
from vidgen.errors import InputError, LedgerError
from vidgen.formats import dump_document
from vidgen.interpolate import create_interpolator, retime_plan
from vidgen.manifest import Manifest, Shot, resolve_inside
from vidgen.media import load_image
from vidgen.meta import FileIdentity, VideoMeta, device_info, peak_memory_mb
from vidgen.motion import sample_path
from vidgen.qc.report import qc_video

__all__ = ["RESULTS_DIR", "ShotOutcome", "process_shot", "result_paths"]

RESULTS_DIR = "results"
Frame = NDArray[np.uint8]
StageCallback = Callable[[str], None]


@dataclass
class ShotOutcome:
    """What became of a shot."""

    state: str  # done | flagged
    output: str  # relative to the batch folder
    verdict: str
    reasons: list[str]
    timings: dict[str, float]
    meta: VideoMeta


def result_paths(batch_dir: Path, shot_id: str) -> tuple[Path, Path]:
    """The final video and provenance paths of a shot."""
    results = Path(batch_dir) / RESULTS_DIR
    return results / f"{shot_id}.mp4", results / f"{shot_id}.video_meta.json"


class _Timed:
    """Wraps a frame iterator; ``own`` is the time spent in this stage alone."""

    def __init__(self, frames: Iterable[Frame], upstream: _Timed | None = None) -> None:
        self._frames = iter(frames)
        self._upstream = upstream
        self.total = 0.0

    def __iter__(self) -> Iterator[Frame]:
        while True:
            start = time.perf_counter()
            try:
                frame = next(self._frames)
            except StopIteration:
                self.total += time.perf_counter() - start
                return
            self.total += time.perf_counter() - start
            yield frame

    @property
    def own(self) -> float:
        return self.total - (self._upstream.total if self._upstream else 0.0)


def load_keyframe(batch_dir: Path, shot: Shot, config: Config) -> NDArray[np.uint8]:
    """The keyframe, refused if it changed since the batch was made."""
    path = resolve_inside(batch_dir, shot.image_path)
    if not path.is_file():
        raise InputError("keyframe missing from the batch", item=shot.image_path)
    if sha256_file(path) != shot.image.sha256:
        raise InputError("keyframe changed since the batch was created (sha256 mismatch)",
                         item=shot.image_path, hint="re-create the batch, or restore the file")
    return load_image(path, max_pixels=config["image.max_pixels"],
                      max_bytes=config["image.max_bytes"])


def generate(backend: Backend, batch_dir: Path, shot: Shot, image: NDArray[np.uint8], seed: int,
             on_stage: StageCallback) -> GenerationResult:
    """Ask the backend for frames, exactly as the manifest says (seed aside, on retries)."""
    gen = shot.generation_params
    template = gen.template
    if template is not None and "/" in template:  # a workflow file inside the batch
        template = str(resolve_inside(batch_dir, template))
    request = GenerationRequest(
        shot_id=shot.shot_id, image=image, prompt=shot.prompt,
        negative_prompt=shot.negative_prompt, width=shot.output.width,
        height=shot.output.height, num_frames=gen.num_frames, fps=gen.native_fps,
        steps=gen.steps, guidance=gen.guidance, seed=seed, motion=shot.motion,
        template=template, camera_mode=gen.camera_mode,
    )
    return backend.generate(request, lambda fraction, what: on_stage(f"{what} {fraction:.0%}"))


def reframe(result: GenerationResult, shot: Shot, image_size: tuple[int, int]
            ) -> Iterator[Frame]:
    """Apply the exact camera path to frames that a backend returned uncropped.

    The frames show ``result.region`` of the keyframe (all of it when None); each
    frame's crop is mapped from keyframe pixels into frame pixels. Frames that
    carry the model's own camera (``follow_path`` false) are only fitted: the
    largest centred rectangle of the output's aspect.
    """
    if result.framed:
        yield from result.frames
        return
    from vidgen.backends.camera import CropRenderer

    out = (shot.output.width, shot.output.height)
    x0, y0, x1, y1 = result.region or (0.0, 0.0, float(image_size[0]), float(image_size[1]))
    rects = sample_path(shot.motion, image_size, result.num_frames) - [x0, y0, x0, y0]
    for frame, rect in zip(result.frames, rects, strict=True):
        h, w = frame.shape[:2]
        if result.follow_path:
            sx, sy = w / (x1 - x0), h / (y1 - y0)
            crop = rect * np.array([sx, sy, sx, sy])
        else:
            cw, ch = min(w, h * out[0] / out[1]), min(h, w * out[1] / out[0])
            crop = np.array([(w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2])
        yield CropRenderer(frame, out).render(tuple(crop))


def interpolate(frames: Iterable[Frame], src_fps: float, dst_fps: float,
                config: Config) -> Iterator[Frame]:
    """Retime to the output rate when the model's rate differs (else pass through)."""
    if src_fps == dst_fps:
        yield from frames
        return
    interpolator = create_interpolator(config["interpolate.method"], config)
    yield from interpolator.retime(list(frames), src_fps, dst_fps)


def process_shot(
    batch_dir: Path,
    manifest: Manifest,
    shot: Shot,
    backend: Backend,
    config: Config,
    *,
    seed: int,
    attempt: int,
    worker: str,
    on_stage: StageCallback,
    still_mine: Callable[[], bool] = lambda: True,
) -> ShotOutcome:
    """Run every stage of one shot; raises a VidgenError (or a backend's own error) on failure.

    ``still_mine`` is asked before anything is written under a final name: a worker
    whose lease ran out (another worker took the shot over) must not overwrite it.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    batch_dir = Path(batch_dir)
    video_path, meta_path = result_paths(batch_dir, shot.shot_id)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = video_path.with_name(f"{video_path.name}{TEMP_MARK}{attempt}-{time.time_ns()}")

    on_stage("load")
    t = time.perf_counter()
    image = load_keyframe(batch_dir, shot, config)
    image_size = (image.shape[1], image.shape[0])
    timings["load"] = time.perf_counter() - t

    on_stage("generate")
    t = time.perf_counter()
    result = generate(backend, batch_dir, shot, image, seed, on_stage)
    generated = _Timed(result.frames)
    framed = _Timed(reframe(replace(result, frames=generated), shot, image_size), generated)
    retimed = _Timed(interpolate(framed, result.fps, shot.output.fps, config), framed)
    setup = time.perf_counter() - t

    on_stage("encode")
    expected = result.num_frames if result.fps == shot.output.fps else \
        len(retime_plan(result.num_frames, result.fps, shot.output.fps))
    settings = EncodeSettings.from_config(config, codec=shot.output.codec, crf=shot.output.crf)
    try:
        t = time.perf_counter()
        info = encode_video(retimed, tmp, width=shot.output.width, height=shot.output.height,
                            fps=shot.output.fps, settings=settings)
        encode_total = time.perf_counter() - t
        timings["generate"] = setup + generated.own
        timings["reframe"] = framed.own
        timings["interpolate"] = retimed.own
        timings["encode"] = encode_total - retimed.total

        on_stage("qc")
        t = time.perf_counter()
        probe = probe_video(tmp, decode=False)
        report = qc_video(tmp, config, keyframe=image, motion=shot.motion,  # the one decode
                          backend=backend.name, probe=probe)
        probe = replace(probe, frames=report.frames, duration_sec=report.frames / probe.fps)
        check_video(probe, video_path, frames=expected, fps=shot.output.fps,
                    width=shot.output.width, height=shot.output.height)
        timings["qc"] = time.perf_counter() - t

        on_stage("write")
        t = time.perf_counter()
        output = FileIdentity(path=f"{RESULTS_DIR}/{video_path.name}", sha256=sha256_file(tmp),
                              bytes=tmp.stat().st_size)
        if not still_mine():
            raise LedgerError("the lease ran out and another worker took the shot over; "
                              "nothing was written", item=shot.shot_id)
        commit_file(tmp, video_path)
    finally:
        tmp.unlink(missing_ok=True)
    timings["total"] = time.perf_counter() - started
    meta = VideoMeta(
        vidgen_version=__version__, project_id=manifest.project_id, batch_id=manifest.batch_id,
        shot_id=shot.shot_id, created_at=datetime.now(UTC).isoformat(),
        keyframe=FileIdentity(path=shot.image_path, sha256=shot.image.sha256,
                              bytes=shot.image.bytes),
        keyframe_size=image_size, prompt=shot.prompt, negative_prompt=shot.negative_prompt,
        backend=backend.identity(), generation_params=shot.generation_params, seed=seed,
        motion=shot.motion, output=output,
        video={"frames": probe.frames, "fps": probe.fps, "width": probe.width,
               "height": probe.height, "duration_sec": probe.duration_sec},
        encode=info.to_dict(), timings={k: round(v, 4) for k, v in timings.items()},
        generation_info=result.info, device=device_info(), peak_memory_mb=peak_memory_mb(),
        qc=report.to_dict(), verdict=report.verdict, attempt=attempt, worker=worker,
    )
    write_json_atomic(meta_path, dump_document(meta))
    timings["write"] = time.perf_counter() - t
    state = "flagged" if report.verdict == "fail" else "done"
    return ShotOutcome(state, output.path, report.verdict, report.reasons, timings, meta)
