"""What the batch and dashboard pages show, computed from the ledger.

Rates:

- ``acceptance_rate``: accepted / (accepted + rejected), a fraction; null before
  the first decision.
- ``flagged_pct``: the percentage (0-100) of finished shots (done, flagged,
  accepted, rejected) whose QC verdict was ``fail``; reviews do not change it.
- ``stage_means``: the mean seconds of each stage over the finished shots' last
  attempts (``total`` left out: it is the sum).
- ``cost_usd``: ``hourly_usd`` times the hours during which at least one attempt
  was running (the union of the attempts' intervals, a running one up to now).
  Parallel workers on one machine are not counted twice, and idle time between
  runs is not charged.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from vidgen.web.studio import Batch

__all__ = ["batch_summary", "busy_seconds", "dashboard", "rates"]

FINISHED = ("done", "flagged", "accepted", "rejected")
RECENT_FAILURES = 10


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``accepted``, ``rejected``, ``acceptance_rate`` and ``flagged_pct`` of ledger rows."""
    accepted = sum(r["state"] == "accepted" for r in rows)
    rejected = sum(r["state"] == "rejected" for r in rows)
    finished = [r for r in rows if r["state"] in FINISHED]
    flagged = sum(r["verdict"] == "fail" for r in finished)
    return {
        "accepted": accepted,
        "rejected": rejected,
        "acceptance_rate": accepted / (accepted + rejected) if accepted + rejected else None,
        "flagged_pct": 100.0 * flagged / len(finished) if finished else None,
    }


def _shot_row(batch: Batch, row: dict[str, Any], keyframe: str) -> dict[str, Any]:
    output = row["output"]
    if output is not None and not (batch.path / output).is_file():
        output = None
    state = row["state"]
    return {
        "shot_id": row["shot_id"], "state": state, "verdict": row["verdict"],
        "reasons": row["reasons"], "review": state if state in ("accepted", "rejected") else None,
        "attempts": row["attempts"], "seed": row["seed"], "output": output,
        "keyframe": keyframe, "error_class": row["error_class"],
        "error_message": row["error_message"], "stage": row["stage"],
    }


def batch_summary(batch: Batch, *, shots: bool = True) -> dict[str, Any]:
    """The batch's identity, counts, throughput and rates, and (``shots``) every shot."""
    keyframes = {shot.shot_id: shot.image_path for shot in batch.manifest.keyframes}
    with batch.ledger() as ledger:
        rows = [r for r in ledger.shots() if r["shot_id"] in keyframes]
        counts = ledger.counts()
        per_hour, eta = ledger.throughput()
    summary = {
        "key": batch.key, "batch_id": batch.manifest.batch_id,
        "project_id": batch.manifest.project_id, "counts": counts,
    }
    if not shots:
        return {**summary, "shots": len(batch.manifest.keyframes)}
    return {**summary, "per_hour": per_hour, "eta_sec": eta, **rates(rows),
            "shots": [_shot_row(batch, row, keyframes[row["shot_id"]]) for row in rows]}


def busy_seconds(attempts: list[dict[str, Any]], now: float) -> float:
    """Seconds covered by at least one attempt (running ones end at ``now``)."""
    spans = sorted((a["started_at"], a["finished_at"] or now) for a in attempts)
    total, end = 0.0, float("-inf")
    for start, finish in spans:
        if finish <= end:
            continue
        total += finish - max(start, end)
        end = finish
    return total


def _stage_means(rows: list[dict[str, Any]]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for row in rows:
        if row["state"] in FINISHED:
            for stage, seconds in row["timings"].items():
                if stage != "total":
                    sums.setdefault(stage, []).append(seconds)
    return {stage: round(sum(v) / len(v), 4) for stage, v in sums.items()}


def dashboard(batch: Batch, worker: dict[str, Any], hourly_usd: float) -> dict[str, Any]:
    """Everything the dashboard page shows (see the module's notes on the measures)."""
    with batch.ledger() as ledger:
        rows = ledger.shots()
        counts = ledger.counts()
        per_hour, eta = ledger.throughput()
        attempts = [a for row in rows for a in ledger.attempts(row["shot_id"])]
    failures = sorted((a for a in attempts if a["outcome"] == "failed"),
                      key=lambda a: a["finished_at"] or 0.0, reverse=True)
    hours = busy_seconds(attempts, time.time()) / 3600
    return {
        "counts": counts, "total": sum(counts.values()), "per_hour": per_hour, "eta_sec": eta,
        "stage_means": _stage_means(rows),
        "recent_failures": [
            {"shot_id": a["shot_id"], "error_class": a["error_class"],
             "error_message": a["error_message"], "at": _iso(a["finished_at"])}
            for a in failures[:RECENT_FAILURES]],
        "running": [{"shot_id": r["shot_id"], "stage": r["stage"], "worker": r["worker"]}
                    for r in rows if r["state"] == "running"],
        "worker": worker, "hourly_usd": hourly_usd,
        "cost_usd": hourly_usd * hours, "busy_hours": hours,
        **{k: v for k, v in rates(rows).items() if k in ("acceptance_rate", "flagged_pct")},
    }

