"""Running the contenders, and reading back what they made.

The work folder (``<config stem>-out/`` beside the config by default)::

    keyframes/                    the test keyframes, staged with the shootout's prompt
    runs/<contender>/run.json     sessions (wall time, load time, outcome), the GPU seen
    runs/<contender>/seed-<n>/    one ordinary batch folder per seed

One batch per (contender, seed), made by :func:`vidgen.batch.create_batch` with
``generation.seed_policy = "fixed"``: every manifest says exactly which seed it
asked for, with no edit after the fact. A contender's backend is created and
loaded once and shared by its seed batches through :func:`vidgen.worker.work`,
so the model loads once for all its keyframes x seeds. Each batch's ledger
makes the shootout resumable: an interrupted run goes on where it stopped, and
a finished cell is never made again unless ``rerun`` names its contender (its
folder is then deleted and made afresh). A contender whose inputs or settings
changed since its videos were made is refused rather than mixed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from vidgen.atomic import copy_atomic, sha256_file, write_bytes_atomic, write_json_atomic
from vidgen.backends.base import Backend, create_backend
from vidgen.batch import create_batch
from vidgen.companions import find_companions
from vidgen.config import Config, load_config
from vidgen.errors import BackendUnavailable, ConfigError, InputError, ManifestError
from vidgen.formats import Document, dump_document, read_document
from vidgen.ledger import Ledger
from vidgen.manifest import MANIFEST_NAME, load_manifest
from vidgen.meta import VideoMeta
from vidgen.pipeline import result_paths
from vidgen.shootout.config import Contender, ShootoutConfig
from vidgen.shootout.score import ContenderInput, Failure, VideoResult
from vidgen.worker import interrupt, signals, work

__all__ = ["RunRecord", "Session", "collect", "default_out_dir", "run_shootout"]

RUNS_DIR = "runs"
KEYFRAMES_DIR = "keyframes"
Event = Callable[[str], None]
_COMPANIONS = (".yaml", ".caption", ".motion.json")
_FINISHED = ("done", "flagged", "accepted", "rejected")


class Session(Document):
    """One sitting of a contender: how long it held the machine and how it ended."""

    started_at: str
    wall_sec: float = Field(ge=0.0, description="backend load + every shot, as billed")
    backend_load_sec: float = Field(ge=0.0, description="creating and loading the backend")
    videos: int = Field(ge=0, description="shots finished in this session")
    outcome: Literal["finished", "interrupted", "unavailable"]
    message: str = ""


class RunRecord(Document):
    """``runs/<contender>/run.json``."""

    schema_: Literal["vidgen.shootout_run/1"] = Field("vidgen.shootout_run/1", alias="schema")
    contender: str
    device: str = Field("", description="the GPU (or CPU) the videos were made on")
    fingerprints: dict[str, str] = Field(default_factory=dict,
                                         description="seed -> hash of what its batch asked for")
    sessions: list[Session] = Field(default_factory=list)

    @property
    def hours(self) -> float:
        return sum(s.wall_sec for s in self.sessions) / 3600.0

    @property
    def unavailable(self) -> str | None:
        last = self.sessions[-1] if self.sessions else None
        return last.message if last is not None and last.outcome == "unavailable" else None


def default_out_dir(config_path: Path) -> Path:
    """``<config stem>-out`` beside the config."""
    return Path(config_path).with_name(f"{Path(config_path).stem}-out")


def run_shootout(config: ShootoutConfig, keyframes: Sequence[Path], out_dir: Path, *,
                 settings_file: Path | None = None, env: Mapping[str, str] | None = None,
                 rerun: Sequence[str] = (), on_event: Event | None = None) -> list[RunRecord]:
    """Make every missing video of every contender; returns the run records.

    Args:
        config: The shootout.
        keyframes: Its keyframes (absolute), as :func:`~vidgen.shootout.config.load_shootout`
            gives them.
        out_dir: The work folder.
        settings_file: vidgen's settings file (``--config``), under the shootout's settings.
        env: The environment for ``VIDGEN_*`` (``os.environ`` when omitted).
        rerun: Contender names whose videos are deleted and made again.
        on_event: Called with one line per step, for progress output.

    Raises:
        ConfigError: an unknown name in ``rerun``; a contender's settings changed since
            its videos were made.
        KeyboardInterrupt: Ctrl-C or SIGTERM; the current shot went back to its queue.
    """
    say = on_event or (lambda _line: None)
    for name in rerun:
        config.contender(name)
    out_dir = Path(out_dir)
    staged = stage_keyframes(keyframes, config.inputs.prompt, out_dir / KEYFRAMES_DIR)
    records = []
    with signals(interrupt, ("SIGTERM",)):  # a rented machine shutting down: like Ctrl-C
        for contender in config.contenders:
            folder = out_dir / RUNS_DIR / contender.name
            if contender.name in rerun and folder.exists():
                say(f"{contender.name}: deleting its videos to make them again (--rerun)")
                shutil.rmtree(folder)
            records.append(_run_contender(config, contender, staged, out_dir, settings_file,
                                          env, say))
    return records


def stage_keyframes(keyframes: Sequence[Path], prompt: str, folder: Path) -> dict[Path, str]:
    """Copy the keyframes (and their motion, decision and prompt files) into ``folder``;
    returns each staged keyframe with its sha256.

    With a shootout ``prompt`` the keyframe's own .yaml and .caption stay behind and
    ``<stem>.caption`` holds the prompt, so every contender gets exactly that text.
    A copy made before (same size and modification time: copies keep the source's) is
    not read again. The source folders are only read.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staged: dict[Path, str] = {}
    for keyframe in keyframes:
        companions = find_companions(keyframe)
        wanted = [p for p in companions.companions if any(
            p.name == companions.stem + s for s in _COMPANIONS)
            and not (prompt and p.suffix in (".yaml", ".caption"))]
        if companions.decision is not None:
            wanted.append(companions.decision)
        for source in (keyframe, *wanted):
            target = folder / source.name
            if _same_file(source, target):
                digest = sha256_file(target) if source == keyframe else ""
            else:
                digest = copy_atomic(source, target)
            if source == keyframe:
                staged[target] = digest
        if prompt:
            caption = folder / f"{companions.stem}.caption"
            if not caption.exists() or caption.read_text(encoding="utf-8") != prompt + "\n":
                write_bytes_atomic(caption, (prompt + "\n").encode())
    return staged


def _same_file(source: Path, target: Path) -> bool:
    if not target.exists():
        return False
    a, b = source.stat(), target.stat()
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def contender_config(config: ShootoutConfig, contender: Contender, seed: int, out_dir: Path,
                     settings_file: Path | None = None,
                     env: Mapping[str, str] | None = None) -> Config:
    """vidgen's settings for one (contender, seed): the settings file and environment, then
    the shootout's ``[settings]``, the contender's, and what the shootout fixes itself.

    The audit log goes to the work folder unless ``workspace`` is set somewhere.
    """
    inputs = config.inputs
    overrides: dict[str, Any] = {
        **config.settings, **contender.settings,
        "generation.model": contender.backend, "generation.template": contender.template,
        "generation.seed": seed, "generation.seed_policy": "fixed",
        "output.width": inputs.width, "output.height": inputs.height, "output.fps": inputs.fps,
        "motion.duration": inputs.duration_sec,
    }
    settings = load_config(settings_file, env=env, overrides=overrides)
    if settings.source("workspace") == "default":
        settings = load_config(settings_file, env=env,
                               overrides={**overrides, "workspace": str(out_dir)})
    return settings


def _run_contender(config: ShootoutConfig, contender: Contender, staged: Mapping[Path, str],
                   out_dir: Path, settings_file: Path | None, env: Mapping[str, str] | None,
                   say: Event) -> RunRecord:
    folder = out_dir / RUNS_DIR / contender.name
    record_path = folder / "run.json"
    record = read_document(RunRecord, record_path, error=InputError) if record_path.exists() \
        else RunRecord(contender=contender.name)
    fingerprints = dict(record.fingerprints)
    batches: list[tuple[Path, Config]] = []
    for seed in config.inputs.seeds:
        settings = contender_config(config, contender, seed, out_dir, settings_file, env)
        batch = folder / f"seed-{seed}"
        fingerprint = _fingerprint(config, contender, staged, seed)
        if (batch / MANIFEST_NAME).exists():
            if fingerprints.get(str(seed), fingerprint) != fingerprint:
                raise ConfigError(
                    "its inputs or settings changed since its videos were made",
                    item=contender.name, field=f"seed-{seed}",
                    hint=f"make them again with --rerun {contender.name}, or put the file "
                    "back as it was")
        else:
            report = create_batch(list(staged), batch, settings,
                                  batch_id=f"{contender.name}-s{seed}", strict=True)
            if report.manifest is None:
                raise ManifestError("no usable keyframe", item=batch)
            say(f"{contender.name}: seed {seed}: batch of {len(report.manifest.keyframes)} "
                f"keyframe(s) made")
        fingerprints[str(seed)] = fingerprint
        with Ledger(batch, max_attempts=settings["worker.max_attempts"]) as ledger:
            ledger.ingest(load_manifest(batch))
            ledger.expire_dead_workers()
            queued = ledger.counts()["queued"] + ledger.counts()["running"]
        if queued:
            batches.append((batch, settings))
    record = record.model_copy(update={"fingerprints": fingerprints})
    if batches:
        record = _work(record, contender, batches, say)
    else:
        say(f"{contender.name}: every video already made (resumed from the ledger)")
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record_path, dump_document(record))
    return record


def _work(record: RunRecord, contender: Contender, batches: list[tuple[Path, Config]],
          say: Event) -> RunRecord:
    """Load the backend once, run every queued shot of the batches, record the session."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    backends: dict[str, Backend] = {}
    videos, load_sec = 0, 0.0
    outcome: Literal["finished", "interrupted", "unavailable"] = "finished"
    message, device = "", record.device
    try:
        say(f"{contender.name}: loading the {contender.backend} backend")
        backend = create_backend(contender.backend, batches[0][1])
        backend.load()
        load_sec = time.perf_counter() - started
        backends[contender.backend] = backend
        for batch, settings in batches:
            say(f"{contender.name}: generating {batch.name}")
            videos += work(batch, settings, backends=backends)
    except KeyboardInterrupt:
        outcome = "interrupted"
    except BackendUnavailable as exc:
        outcome, message = "unavailable", str(exc)
        say(f"{contender.name}: cannot run here: {exc}")
    finally:
        if backends:
            device = _device_name(backends[contender.backend]) or device
        for backend in backends.values():
            with suppress(Exception):
                backend.close()
        session = Session(started_at=started_at, wall_sec=round(time.perf_counter() - started, 3),
                          backend_load_sec=round(load_sec, 3), videos=videos, outcome=outcome,
                          message=message)
        record = record.model_copy(update={"device": device,
                                           "sessions": [*record.sessions, session]})
        if outcome == "interrupted":  # keep what this session cost, then stop
            folder = batches[0][0].parent
            write_json_atomic(folder / "run.json", dump_document(record))
    if outcome == "interrupted":
        raise KeyboardInterrupt
    return record


def _device_name(backend: Backend) -> str:
    """The GPU a resident backend runs on, as its driver names it; ``CPU`` without one."""
    identity = backend.identity()
    devices = identity.get("devices")
    if isinstance(devices, list) and devices:  # ComfyUI: "cuda:0 NVIDIA ... : cudaMallocAsync"
        name = str(devices[0]).split(" : ")[0]
        return name.split(" ", 1)[1] if name.startswith("cuda:") and " " in name else name
    device = str(identity.get("device") or "")
    if device.startswith("cuda"):
        with suppress(Exception):
            import torch

            return str(torch.cuda.get_device_name(device))
        return device
    return "CPU"


def _fingerprint(config: ShootoutConfig, contender: Contender, staged: Mapping[Path, str],
                 seed: int) -> str:
    """What a batch asks for; a change means its videos no longer answer the config."""
    inputs = config.inputs
    data = {"keyframes": {p.name: digest for p, digest in staged.items()},
            "prompt": inputs.prompt,
            "seed": seed, "size": [inputs.width, inputs.height, inputs.fps, inputs.duration_sec],
            "settings": config.settings, "backend": contender.backend,
            "template": contender.template, "contender_settings": contender.settings}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# -- reading back -----------------------------------------------------------------------------


def collect(config: ShootoutConfig, out_dir: Path) -> list[ContenderInput]:
    """Every contender's videos, failures and open cells, from its ledgers and meta files."""
    out_dir = Path(out_dir)
    found = []
    for contender in config.contenders:
        folder = out_dir / RUNS_DIR / contender.name
        record = read_document(RunRecord, folder / "run.json", error=InputError) \
            if (folder / "run.json").exists() else RunRecord(contender=contender.name)
        videos: list[VideoResult] = []
        failures: list[Failure] = []
        pending = 0
        for seed in config.inputs.seeds:
            batch = folder / f"seed-{seed}"
            if not (batch / MANIFEST_NAME).exists():
                pending += len(config.inputs.keyframes)
                continue
            with Ledger(batch) as ledger:
                rows = ledger.shots()
            for row in rows:
                video_id = f"{contender.name}:{row['shot_id']}:{seed}"
                if row["state"] in _FINISHED:
                    video, meta_path = result_paths(batch, row["shot_id"])
                    meta = read_document(VideoMeta, meta_path, error=InputError)
                    videos.append(video_result(meta, video_id, contender.name, seed,
                                               video.relative_to(out_dir).as_posix()))
                elif row["state"] == "failed":
                    failures.append(Failure(video_id, contender.name, row["shot_id"], seed,
                                            f"{row['error_class']}: {row['error_message']}"))
                else:
                    pending += 1
        found.append(ContenderInput(
            name=contender.name, label=contender.title, backend=contender.backend,
            template=contender.template, notes=contender.notes, videos=videos,
            failures=failures, pending=pending, unavailable=record.unavailable,
            device=record.device, hours=record.hours,
            backend_load_sec=max((s.backend_load_sec for s in record.sessions), default=0.0)))
    return found


def video_result(meta: VideoMeta, video_id: str, contender: str, seed: int,
                 path: str) -> VideoResult:
    """One finished video's measurements, from its provenance record."""
    info = meta.generation_info
    checks = {c.get("name"): c.get("values", {}) for c in meta.qc.get("checks", [])}

    def value(check: str, key: str) -> float | None:
        number = checks.get(check, {}).get(key)
        return float(number) if isinstance(number, int | float) else None

    load = float(info.get("model_load_sec") or 0.0)
    generate = float(meta.timings.get("generate", 0.0))
    device = str(info.get("device") or "")
    on_gpu = device.startswith("cuda") or meta.backend.get("backend") == "comfyui"
    vram = info.get("peak_vram_mb")
    flashes = value("flash_frames", "count")
    return VideoResult(
        video_id=video_id, contender=contender, keyframe=meta.shot_id, seed=seed, path=path,
        sha256=meta.output.sha256, seconds=max(0.0, generate - load), model_load_sec=load,
        peak_vram_gb=float(vram) / 1024 if isinstance(vram, int | float) else
        (None if on_gpu else 0.0),
        ssim_mean=value("ssim", "mean"), ssim_min=value("ssim", "min"),
        flash_frames=None if flashes is None else int(flashes),
        temporal_variance=value("temporal_variance", "mean"), flicker=value("flicker", "score"),
        fidelity_ssim=value("first_frame_fidelity", "ssim"),
        dynamic=value("dynamic_degree", "moving_share"),
        interpolate_sec=float(meta.timings.get("interpolate", 0.0)),
        encode_sec=float(meta.timings.get("encode", 0.0)), verdict=meta.verdict,
        honours_keyframe=bool(info.get("honours_keyframe", True)), prompt=meta.prompt)
