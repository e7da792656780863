"""The studio's REST API under ``/api``: thin routes over vidgen's library.

Each route resolves its batch and shot through :class:`~vidgen.web.studio.Studio`
(which keeps every path inside the served folder), calls the library and
returns JSON. Blocking work (SQLite, files, subprocesses) runs in FastAPI's
thread pool, as the routes are plain functions. Errors are VidgenErrors; the
app turns them into the JSON error body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from vidgen.atomic import write_json_atomic
from vidgen.companions import ensure_writable
from vidgen.errors import InputError, MotionError
from vidgen.formats import dump_document, read_document
from vidgen.manifest import Shot, validate_batch
from vidgen.meta import Review
from vidgen.motion import Easing, Motion, MotionType, frame_count, propose_motion, sample_path
from vidgen.pipeline import result_paths
from vidgen.rules import Finding, check_motion, has_errors
from vidgen.web import stats
from vidgen.web.errors import NotFound, Rejected
from vidgen.web.studio import Batch, Studio
from vidgen.web.upload import receive_batch

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["studio"])

PRESETS = [t.value for t in MotionType if t is not MotionType.CUSTOM]
LIMIT_NAMES = ("max_pan_speed", "comfort_pan_speed", "max_zoom_rate", "max_upscale",
               "min_duration", "max_duration", "aspect_tolerance")


def get_studio(request: Request) -> Studio:
    studio: Studio = request.app.state.studio
    return studio


StudioDep = Annotated[Studio, Depends(get_studio)]


def get_batch(batch: str, studio: StudioDep) -> Batch:
    return studio.batch(batch)


BatchDep = Annotated[Batch, Depends(get_batch)]


# --- bodies and answers -------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProposeRequest(_Body):
    """A preset to shape into a motion; unset values come from the ``motion.*`` settings."""

    preset: MotionType | None = None
    intensity: float | None = Field(None, ge=0.0, le=1.0)
    duration_sec: float | None = Field(None, gt=0.0, le=600.0)
    easing: Easing | None = None


class DecisionRequest(_Body):
    decision: Literal["accept", "reject", "regenerate"]
    note: str = Field("", max_length=4000)


class WorkerRequest(_Body):
    workers: int = Field(1, ge=1, le=64)


class FindingOut(BaseModel):
    item: str
    rule: str
    severity: Literal["error", "warning"]
    message: str
    value: float | str | None = None
    limit: float | str | None = None
    frame: int | None = None


class BatchItem(BaseModel):
    key: str
    batch_id: str
    project_id: str
    shots: int
    counts: dict[str, int]


class MotionCheck(BaseModel):
    findings: list[FindingOut]
    ok: bool
    path: list[list[float]] = Field(description="each frame's crop, normalised [x1,y1,x2,y2]")


class MotionProposal(BaseModel):
    motion: dict[str, Any]
    findings: list[FindingOut]


class MotionSaved(BaseModel):
    saved: bool
    path: str
    findings: list[FindingOut]
    manifest_updated: bool


class DecisionResult(BaseModel):
    shot_id: str
    review: Literal["accepted", "rejected"] | None
    state: str
    seed: int


class WorkerStatus(BaseModel):
    running: bool
    pid: int | None
    started_at: str | None
    exit_code: int | None


class UploadResult(BaseModel):
    key: str
    batch_id: str
    shots: int


def _findings(findings: list[Finding]) -> list[FindingOut]:
    return [FindingOut(**f.to_dict()) for f in findings]


def _check(studio: Studio, shot: Shot, motion: Motion) -> list[Finding]:
    return check_motion(motion, image_size=(shot.image.width, shot.image.height),
                        output_size=(shot.output.width, shot.output.height),
                        fps=shot.output.fps, limits=studio.limits, item=shot.shot_id)


# --- batches ------------------------------------------------------------------------------


@router.get("/batches", response_model=list[BatchItem])
def list_batches(studio: StudioDep) -> list[dict[str, Any]]:
    """Every batch of the served folder with its shot count and states."""
    return [stats.batch_summary(batch, shots=False) for batch in studio.batches()]


@router.post("/batches", status_code=201, response_model=UploadResult)
def upload_batch(studio: StudioDep, manifest: Annotated[UploadFile, File()],
                 files: Annotated[list[UploadFile] | None, File()] = None) -> dict[str, Any]:
    """A new batch from ``manifest.json`` and its files (names are paths like
    ``shots/x.png``), validated like ``vidgen batch validate``; all or nothing."""
    limit = min(studio.config["image.max_bytes"], studio.max_upload_bytes)
    batch = receive_batch(studio, manifest.file.read(),
                          [(f.filename or "", f.file) for f in files or []],
                          max_file_bytes=limit)
    return {"key": batch.key, "batch_id": batch.manifest.batch_id,
            "shots": len(batch.manifest.keyframes)}


@router.get("/batches/{batch}")
def batch_detail(batch: BatchDep) -> dict[str, Any]:
    """Counts, throughput, review rates and every shot's state."""
    return stats.batch_summary(batch)


@router.get("/batches/{batch}/dashboard")
def dashboard(batch: BatchDep, studio: StudioDep) -> dict[str, Any]:
    """Progress, stage times, failures, running shots, the worker and the cost."""
    return stats.dashboard(batch, studio.workers.status(batch.path), studio.hourly_usd)


@router.get("/batches/{batch}/files/{path:path}", response_class=FileResponse)
def batch_file(batch: BatchDep, path: str) -> FileResponse:
    """A file of the batch (Range requests work, for video seeking)."""
    return FileResponse(batch.file(path), headers={
        "Content-Security-Policy": "sandbox; default-src 'none'"})


# --- shots --------------------------------------------------------------------------------


@router.get("/batches/{batch}/shots/{shot_id}")
def shot_detail(batch: BatchDep, shot_id: str) -> dict[str, Any]:
    """The manifest's shot, its ledger row and attempts, its provenance and QC."""
    shot = batch.shot(shot_id)
    with batch.ledger() as ledger:
        row, attempts = ledger.shot(shot_id), ledger.attempts(shot_id)
    try:
        meta = batch.meta(shot_id)
    except InputError:
        meta = None
    qc = None
    if meta is not None:
        checks = {c["name"]: {k: v for k, v in c.items() if k != "name"}
                  for c in meta.qc.get("checks", [])}
        reasons = [f"{name}: {r}" for name, c in checks.items() if c.get("verdict") != "pass"
                   for r in c.get("reasons", [])]
        qc = {"verdict": meta.qc.get("verdict", meta.verdict), "reasons": reasons,
              "checks": checks}
    return {"shot": dump_document(shot), "ledger": row, "attempts": attempts,
            "meta": None if meta is None else dump_document(meta), "qc": qc,
            "fps": None if meta is None else meta.video.get("fps")}


@router.post("/batches/{batch}/shots/{shot_id}/decision", response_model=DecisionResult)
def decide(batch: BatchDep, shot_id: str, body: DecisionRequest,
           studio: StudioDep) -> dict[str, Any]:
    """Accept or reject a finished shot (ledger, ``review`` in its provenance record,
    audit), or make it again with a new seed."""
    batch.shot(shot_id)
    video, meta_file = result_paths(batch.path, shot_id)
    meta_path = batch.writable(meta_file.relative_to(batch.path).as_posix())
    audit = studio.audit(batch.manifest.batch_id)
    if body.decision == "regenerate":
        with batch.ledger() as ledger:
            seed = ledger.requeue(shot_id, body.note)
        audit.file_operation("skip", source_dir=video.parent, dest_dir=None, files=[video.name],
                             notes=f"regenerate {shot_id} with seed {seed}: {body.note}")
    else:
        state = "accepted" if body.decision == "accept" else "rejected"
        meta = batch.meta(shot_id)
        with batch.ledger() as ledger:
            ledger.review(shot_id, state, body.note)
        if meta is not None:
            review = Review(state=state, note=body.note, at=datetime.now(UTC).isoformat())
            write_json_atomic(meta_path, dump_document(meta.model_copy(update={"review": review})))
        audit.file_operation("create", source_dir=meta_path.parent, dest_dir=meta_path.parent,
                             files=[meta_path.name], notes=f"review {state}: {body.note}")
    with batch.ledger() as ledger:
        row = ledger.shot(shot_id)
    return {"shot_id": shot_id, "state": row["state"], "seed": row["seed"],
            "review": row["state"] if row["state"] in ("accepted", "rejected") else None}


# --- motion -------------------------------------------------------------------------------


@router.get("/batches/{batch}/shots/{shot_id}/motion")
def motion_editor(batch: BatchDep, shot_id: str, studio: StudioDep) -> dict[str, Any]:
    """The shot's working motion (its ``.motion.json``), the keyframe, the output, the crop
    hint, the rule findings, the presets and the limits: what the editor needs."""
    shot = batch.shot(shot_id)
    findings: list[Finding] = []
    motion = shot.motion
    try:
        motion = read_document(Motion, batch.file(shot.motion_path), error=MotionError)
    except NotFound:
        pass  # no working copy: the manifest's motion
    except MotionError as exc:
        findings.append(Finding(shot_id, "motion", "error",
                                f"{exc}; showing the manifest's motion instead"))
    findings += _check(studio, shot, motion)
    limits = studio.limits
    return {
        "motion": dump_document(motion),
        "image": {"width": shot.image.width, "height": shot.image.height,
                  "url": f"/api/batches/{quote(batch.key, safe='')}/files/"
                         f"{quote(shot.image_path)}"},
        "output": {"width": shot.output.width, "height": shot.output.height,
                   "fps": shot.output.fps},
        "crop_hint": batch.crop_hint(shot),
        "findings": [f.to_dict() for f in findings],
        "presets": PRESETS,
        "easings": [e.value for e in Easing],
        "limits": {name: getattr(limits, name) for name in LIMIT_NAMES},
    }


@router.post("/batches/{batch}/shots/{shot_id}/motion/check", response_model=MotionCheck)
def check(batch: BatchDep, shot_id: str, motion: Motion, studio: StudioDep) -> dict[str, Any]:
    """The rules' findings on a motion, and its sampled path for the preview."""
    shot = batch.shot(shot_id)
    findings = _check(studio, shot, motion)
    size = (shot.image.width, shot.image.height)
    rects = sample_path(motion, size, frame_count(motion.duration_sec, shot.output.fps))
    path = np.round(rects / np.array([*size, *size], dtype=np.float64), 6)
    return {"findings": _findings(findings), "ok": not has_errors(findings),
            "path": path.tolist()}


@router.post("/batches/{batch}/shots/{shot_id}/motion/propose", response_model=MotionProposal)
def propose(batch: BatchDep, shot_id: str, body: ProposeRequest,
            studio: StudioDep) -> dict[str, Any]:
    """A preset shaped for this keyframe around its crop hint, with the rules' findings."""
    shot = batch.shot(shot_id)
    config = studio.config
    motion = propose_motion(
        body.preset or config["motion.preset"],
        intensity=config["motion.intensity"] if body.intensity is None else body.intensity,
        duration_sec=body.duration_sec or config["motion.duration"],
        easing=body.easing or config["motion.easing"],
        image_size=(shot.image.width, shot.image.height),
        output_size=(shot.output.width, shot.output.height), fps=shot.output.fps,
        limits=studio.limits.preset_limits(), focus=batch.crop_hint(shot))
    return {"motion": dump_document(motion), "findings": _findings(_check(studio, shot, motion))}


@router.put("/batches/{batch}/shots/{shot_id}/motion", response_model=MotionSaved)
def save_motion(batch: BatchDep, shot_id: str, motion: Motion,
                studio: StudioDep) -> dict[str, Any]:
    """Write the shot's ``.motion.json`` and take it into the manifest as ``vidgen batch
    validate`` does; a motion that breaks a rule is refused with nothing written."""
    shot = batch.shot(shot_id)
    findings = _check(studio, shot, motion)
    if has_errors(findings):
        raise Rejected("the motion breaks the rules; nothing was written", findings,
                       item=shot_id)
    target = batch.writable(shot.motion_path)
    ensure_writable(target.parent, studio.config["sources.protected"])
    write_json_atomic(target, dump_document(motion))
    audit = studio.audit(batch.manifest.batch_id)
    audit.file_operation("create", source_dir=target.parent, dest_dir=target.parent,
                         files=[target.name], notes=f"motion of {shot_id} saved in the studio")
    report = validate_batch(batch.path, limits=studio.limits, update=True, audit=audit)
    return {"saved": True, "path": shot.motion_path, "manifest_updated": shot_id in report.updated,
            "findings": _findings([f for f in report.findings if f.item == shot_id])}


# --- the worker ---------------------------------------------------------------------------


@router.get("/batches/{batch}/worker", response_model=WorkerStatus)
def worker_status(batch: BatchDep, studio: StudioDep) -> dict[str, Any]:
    """The worker this studio started on the batch, if any."""
    return studio.workers.status(batch.path)


@router.post("/batches/{batch}/worker/start", response_model=WorkerStatus)
def worker_start(batch: BatchDep, studio: StudioDep,
                 body: WorkerRequest | None = None) -> dict[str, Any]:
    """Start ``vidgen run`` on the batch (409 while one is running)."""
    return studio.workers.start(batch.path, (body or WorkerRequest()).workers)


@router.post("/batches/{batch}/worker/stop", response_model=WorkerStatus)
def worker_stop(batch: BatchDep, studio: StudioDep) -> dict[str, Any]:
    """SIGTERM the worker: it gives its shot back to the queue and exits."""
    return studio.workers.stop(batch.path)
