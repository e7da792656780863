"""``vidgen run``: workers that claim shots from the ledger until none is left.

A worker loads each backend it needs once and keeps it resident; per shot it
claims from the ledger, renews its lease from a heartbeat thread (which also
publishes the current stage), runs :func:`vidgen.pipeline.process_shot` and
records the outcome. One failing shot never stops the batch. Ctrl-C gives the
current shot back to the queue and stops; the next run resumes. So does a
backend that cannot serve the batch at all (:class:`~vidgen.errors.BackendUnavailable`:
a server that stays unreachable, a workflow the server lacks models for): the
shot goes back to the queue, no attempt counts against it, and ``vidgen run``
exits with the reason. A SIGKILL
leaves the shot ``running`` with a lease that the next run ends at once (dead
process on this host) or lets expire (another host), then takes the shot over.

Several workers (``--workers N``) are separate processes; the parent only
watches the ledger and draws the progress.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vidgen.atomic import TEMP_MARK
from vidgen.audit import AuditLog
from vidgen.backends.base import Backend, create_backend
from vidgen.config import Config
from vidgen.errors import BackendUnavailable, LedgerError, VidgenError
from vidgen.ledger import Claim, Ledger, worker_id
from vidgen.manifest import Manifest, Shot, load_manifest
from vidgen.pipeline import RESULTS_DIR, process_shot

__all__ = ["RunSummary", "interrupt", "run_batch", "signals", "work"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """The ledger after a run."""

    counts: dict[str, int]
    shots: list[dict[str, object]]
    interrupted: bool
    seconds: float


class _Heartbeat(threading.Thread):
    """Renews a claim's lease and publishes the stage, from its own ledger connection."""

    def __init__(self, batch_dir: Path, claim: Claim, lease_sec: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{claim.shot_id}")
        self.batch_dir, self.claim, self.lease_sec = batch_dir, claim, lease_sec
        self.stage: str | None = None
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        interval = min(self.lease_sec / 4, 2.0)
        published: str | None = None
        with Ledger(self.batch_dir) as ledger:
            while not self._stop_event.wait(interval if published == self.stage else 0.05):
                published = self.stage
                if not ledger.heartbeat(self.claim, self.lease_sec, published):
                    self.lost = True
                    return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def work(batch_dir: Path, config: Config, *, worker: str | None = None,
         backends: dict[str, Backend] | None = None) -> int:
    """One worker: claim and process shots until the queue is empty; returns shots finished.

    ``backends`` (name -> loaded backend) lets a caller keep backends resident across
    several batches (the shootout); the caller then closes them. By default they are
    made here and closed at the end.

    Raises:
        KeyboardInterrupt: after giving the current shot back to the queue.
        BackendUnavailable: after giving the shot back: no shot can run here.
    """
    batch_dir = Path(batch_dir)
    worker = worker or worker_id()
    manifest = load_manifest(batch_dir)
    shots = {shot.shot_id: shot for shot in manifest.keyframes}
    lease = config["worker.lease_sec"]
    owned = backends is None
    backends = {} if backends is None else backends
    finished = 0
    audit = AuditLog(config.audit_dir, "vidgen_run", batch_id=manifest.batch_id,
                     enabled=config["audit.enabled"])
    with Ledger(batch_dir, max_attempts=config["worker.max_attempts"]) as ledger, audit:
        try:
            while (claim := ledger.claim(worker, lease)) is not None:
                finished += _one_shot(batch_dir, config, manifest, shots, claim, ledger, audit,
                                      backends, lease)
        finally:
            for backend in backends.values() if owned else ():
                with suppress(Exception):
                    backend.close()
    return finished


def _one_shot(batch_dir: Path, config: Config, manifest: Manifest, shots: dict[str, Shot],
              claim: Claim,
              ledger: Ledger, audit: AuditLog, backends: dict[str, Backend], lease: float) -> int:
    heartbeat = _Heartbeat(batch_dir, claim, lease)
    heartbeat.start()
    started = time.perf_counter()
    try:
        shot = shots.get(claim.shot_id)
        if shot is None:
            raise LedgerError("shot is in the ledger but not in manifest.json", item=claim.shot_id)
        model = shot.generation_params.model
        if model not in backends:
            heartbeat.stage = f"loading {model}"
            backend = create_backend(model, config)
            backend.load()
            backends[model] = backend

        def on_stage(stage: str) -> None:
            heartbeat.stage = stage

        outcome = process_shot(batch_dir, manifest, shot, backends[model], config,
                               seed=claim.seed, attempt=claim.attempt, worker=claim.worker,
                               on_stage=on_stage, still_mine=lambda: not heartbeat.lost)
    except KeyboardInterrupt:
        with signals(signal.SIG_IGN):  # a second Ctrl-C must not cut the release short
            heartbeat.stop()
            with suppress(LedgerError):
                ledger.release(claim)
        raise
    except BackendUnavailable as exc:  # no shot can run here: stop, losing none of them
        heartbeat.stop()
        with suppress(LedgerError):
            ledger.release(claim, "backend unavailable")
            audit.file_operation("error", source_dir=batch_dir, dest_dir=None,
                                 files=[claim.shot_id], notes=f"stopped: {exc}")
        raise
    except Exception as exc:  # one failing shot never stops the batch
        heartbeat.stop()
        if not isinstance(exc, VidgenError):
            log.warning("shot %s failed: %s", claim.shot_id, exc, exc_info=True)
        message = str(exc) or type(exc).__name__
        with suppress(LedgerError):
            ledger.fail(claim, type(exc).__name__, message,
                        {"total": time.perf_counter() - started})
            audit.file_operation("error", source_dir=batch_dir, dest_dir=None,
                                 files=[claim.shot_id], notes=f"{type(exc).__name__}: {message}")
        return 0
    heartbeat.stop()
    try:
        ledger.finish(claim, state=outcome.state, output=outcome.output,
                      verdict=outcome.verdict, reasons=outcome.reasons, timings=outcome.timings)
    except LedgerError as exc:  # the lease ran out meanwhile: the other worker's result stands
        log.warning("%s", exc)
        return 0
    meta = outcome.meta
    audit.video("generate", keyframe_path=str(batch_dir / shot.image_path),
                video_output=str(batch_dir / outcome.output),
                motion_params=meta.motion.model_dump(mode="json", by_alias=True),
                validation_results=meta.qc, duration_sec=meta.video["duration_sec"],
                frame_count=meta.video["frames"])
    return 1


def _remove_stale_temps(batch_dir: Path, ledger: Ledger) -> None:
    """Delete temporaries of shots that nobody is working on (a killed worker's)."""
    results = batch_dir / RESULTS_DIR
    if not results.is_dir():
        return
    busy = {s["shot_id"] for s in ledger.shots()
            if s["state"] == "running" and (s["lease_until"] or 0) > time.time()}
    for entry in results.iterdir():
        final_name = entry.name.partition(TEMP_MARK)[0]
        shot_id = final_name.removesuffix(".mp4").removesuffix(".video_meta.json")
        if TEMP_MARK in entry.name and shot_id not in busy:
            entry.unlink(missing_ok=True)


def interrupt(signum: int, frame: object) -> None:
    """A signal handler that stops like Ctrl-C."""
    raise KeyboardInterrupt


@contextmanager
def signals(handler: Any, names: tuple[str, ...] = ("SIGINT", "SIGTERM")) -> Iterator[None]:
    """Handle the named signals with ``handler`` inside the block, then restore the old ones
    (ignored signals would otherwise leak into later child processes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [getattr(signal, name) for name in names]
    previous = [signal.signal(number, handler) for number in numbers]
    try:
        yield
    finally:
        for number, old in zip(numbers, previous, strict=True):
            signal.signal(number, old)


def _worker_process(batch_dir: Path, config: Config, threads: int) -> None:
    cv2.setNumThreads(threads)  # N workers share the cores instead of each taking all
    with suppress(KeyboardInterrupt), signals(interrupt, ("SIGTERM",)):
        try:
            work(batch_dir, config)
        except BackendUnavailable as exc:
            log.error("worker stopped: %s", exc)


def run_batch(batch_dir: Path, config: Config, *, workers: int | None = None,
              console: Console | None = None) -> RunSummary:
    """Process every queued shot of a batch with ``workers`` processes; resumable."""
    batch_dir = Path(batch_dir)
    started = time.perf_counter()
    manifest = load_manifest(batch_dir)
    with Ledger(batch_dir, max_attempts=config["worker.max_attempts"]) as ledger:
        ledger.ingest(manifest)
        ledger.expire_dead_workers()
        _remove_stale_temps(batch_dir, ledger)
    count = workers or config["worker.workers"]
    stop_watch = threading.Event()
    watcher = threading.Thread(target=_watch, args=(batch_dir, stop_watch, console), daemon=True)
    watcher.start()
    interrupted = False
    try:
        with signals(interrupt, ("SIGTERM",)):  # SIGTERM stops cleanly, like Ctrl-C
            _run_workers(batch_dir, config, count)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop_watch.set()
        watcher.join()
    with Ledger(batch_dir) as ledger:
        return RunSummary(ledger.counts(), ledger.shots(), interrupted,
                          time.perf_counter() - started)


def _run_workers(batch_dir: Path, config: Config, count: int) -> None:
    if count == 1:
        work(batch_dir, config)
        return
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // count)
    processes = [context.Process(target=_worker_process, args=(batch_dir, config, threads),
                                 name=f"vidgen-worker-{i}") for i in range(count)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:  # pass it on (a terminal's Ctrl-C reaches them too)
            if process.pid is not None and process.is_alive():
                with suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(timeout=60)
        raise


def _watch(batch_dir: Path, stop: threading.Event, console: Console | None) -> None:
    """Draw the batch's progress from the ledger until ``stop`` is set."""
    if console is None or not console.is_terminal:
        stop.wait()
        return
    with Ledger(batch_dir) as ledger, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=True) as bar:
        total = sum(ledger.counts().values())
        task = bar.add_task("batch", total=total)
        while not stop.wait(0.25):
            shots = ledger.shots()
            ended = sum(s["state"] not in ("queued", "running") for s in shots)
            running = [f"{s['shot_id']}: {s['stage']}" for s in shots if s["state"] == "running"]
            bar.update(task, completed=ended,
                       description="batch " + ("; ".join(running[:3]) or "waiting"))
