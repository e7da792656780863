"""The job ledger: one SQLite file per batch, the only place job state changes.

``DIR/.vidgen/ledger.sqlite`` in WAL mode. Every write is one ``BEGIN
IMMEDIATE`` transaction, so several worker processes on one machine claim
disjoint shots. A running shot holds a lease that its worker renews; a shot
whose lease ran out (its worker died) is taken over by the next claim, and
after ``max_attempts`` lost attempts it stays failed. Same host only: WAL does
not work over network filesystems.

States: ``queued -> running -> done | flagged | failed``; review later sets
``accepted`` or ``rejected``; ``retry`` puts failed or flagged shots back in
the queue. Every attempt is a row of its own with its seed and outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidgen.errors import LedgerError
from vidgen.manifest import STATE_DIR, Manifest

__all__ = ["LEDGER_NAME", "STATES", "Claim", "Ledger", "worker_id"]

LEDGER_NAME = "ledger.sqlite"
STATES = ("queued", "running", "done", "failed", "flagged", "accepted", "rejected")
FINISHED = ("done", "flagged")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS shots (
    shot_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN {STATES!r}),
    attempts INTEGER NOT NULL DEFAULT 0,
    lost INTEGER NOT NULL DEFAULT 0,
    seed INTEGER NOT NULL,
    manifest_seed INTEGER NOT NULL,
    worker TEXT,
    lease_until REAL,
    stage TEXT,
    error_class TEXT,
    error_message TEXT,
    output TEXT,
    verdict TEXT,
    reasons TEXT,
    timings TEXT,
    note TEXT,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS attempts (
    shot_id TEXT NOT NULL REFERENCES shots(shot_id),
    attempt INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    worker TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT,
    error_class TEXT,
    error_message TEXT,
    timings TEXT,
    PRIMARY KEY (shot_id, attempt)
);
"""


def worker_id() -> str:
    """This process as a worker: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str) -> bool:
    """Whether a worker of this host is still running (other hosts: assume so)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Claim:
    """A shot this worker now holds."""

    shot_id: str
    attempt: int
    seed: int
    worker: str


class Ledger:
    """The batch's job ledger.

    Args:
        batch_dir: The batch folder; the ledger lives in ``.vidgen/`` inside it.
        max_attempts: Attempts lost to dead workers before a shot stays failed.
    """

    def __init__(self, batch_dir: Path, *, max_attempts: int = 3) -> None:
        self.path = Path(batch_dir) / STATE_DIR / LEDGER_NAME
        self.max_attempts = max_attempts
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=60000")
            with self._write() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger: {exc}", item=self.path) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock is taken before any read."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot lock the ledger: {exc}", item=self.path) from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- writes ---------------------------------------------------------------------------

    def ingest(self, manifest: Manifest) -> int:
        """Add the manifest's shots (idempotent); returns how many were new."""
        now = time.time()
        with self._write() as db:
            before = db.total_changes
            for position, shot in enumerate(manifest.keyframes):
                seed = shot.generation_params.seed
                db.execute(
                    "INSERT OR IGNORE INTO shots (shot_id, position, state, seed, manifest_seed,"
                    " updated_at) VALUES (?, ?, 'queued', ?, ?, ?)",
                    (shot.shot_id, position, seed, seed, now))
            return db.total_changes - before

    def expire_dead_workers(self) -> list[str]:
        """End the leases of running shots whose worker process on this host is gone."""
        with self._write() as db:
            rows = db.execute("SELECT shot_id, worker FROM shots WHERE state = 'running'")
            dead = [r["shot_id"] for r in rows.fetchall() if not _alive(r["worker"])]
            db.executemany("UPDATE shots SET lease_until = 0 WHERE shot_id = ?",
                           [(s,) for s in dead])
        return dead

    def claim(self, worker: str, lease_sec: float) -> Claim | None:
        """Take the next queued shot, or one whose lease ran out; None when there is none."""
        now = time.time()
        with self._write() as db:
            while True:
                row = db.execute(
                    "SELECT shot_id, state, attempts, lost, seed FROM shots WHERE state = 'queued'"
                    " OR (state = 'running' AND lease_until < ?) ORDER BY position LIMIT 1",
                    (now,)).fetchone()
                if row is None:
                    return None
                shot_id = row["shot_id"]
                if row["state"] == "running":  # its worker died: that attempt is lost
                    db.execute("UPDATE attempts SET outcome = 'lost', finished_at = ? WHERE"
                               " shot_id = ? AND attempt = ?", (now, shot_id, row["attempts"]))
                    lost = row["lost"] + 1
                    db.execute("UPDATE shots SET lost = ? WHERE shot_id = ?", (lost, shot_id))
                    if lost >= self.max_attempts:
                        db.execute(
                            "UPDATE shots SET state = 'failed', error_class = 'WorkerLost',"
                            " error_message = ?, worker = NULL, lease_until = NULL, stage = NULL,"
                            " updated_at = ?, finished_at = ? WHERE shot_id = ?",
                            (f"its worker died on it {lost} time(s) (worker.max_attempts)",
                             now, now, shot_id))
                        continue
                attempt = row["attempts"] + 1
                db.execute(
                    "UPDATE shots SET state = 'running', attempts = ?, worker = ?,"
                    " lease_until = ?, stage = 'claimed', error_class = NULL,"
                    " error_message = NULL, updated_at = ? WHERE shot_id = ?",
                    (attempt, worker, now + lease_sec, now, shot_id))
                db.execute("INSERT INTO attempts (shot_id, attempt, seed, worker, started_at)"
                           " VALUES (?, ?, ?, ?, ?)", (shot_id, attempt, row["seed"], worker, now))
                return Claim(shot_id, attempt, row["seed"], worker)

    def heartbeat(self, claim: Claim, lease_sec: float, stage: str | None = None) -> bool:
        """Renew the lease (and note the stage); False if this worker no longer holds the shot."""
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE shots SET lease_until = ?, stage = COALESCE(?, stage), updated_at = ?"
                " WHERE shot_id = ? AND worker = ? AND attempts = ? AND state = 'running'",
                (now + lease_sec, stage, now, claim.shot_id, claim.worker, claim.attempt))
            return cursor.rowcount == 1

    def finish(self, claim: Claim, *, state: str, output: str, verdict: str,
               reasons: list[str], timings: dict[str, float]) -> None:
        """Record a finished shot (``done`` or ``flagged``)."""
        if state not in FINISHED:
            raise ValueError(f"finish() takes {FINISHED}, not {state!r}")
        self._end(claim, state, state, timings, output=output, verdict=verdict,
                  reasons=json.dumps(reasons))

    def fail(self, claim: Claim, error_class: str, message: str,
             timings: dict[str, float]) -> None:
        """Record a failed shot; it stays failed until ``retry``."""
        self._end(claim, "failed", "failed", timings, error_class=error_class,
                  error_message=message)

    def release(self, claim: Claim, outcome: str = "interrupted") -> None:
        """Give a shot back to the queue (Ctrl-C, a backend that cannot serve it); not held
        against it."""
        self._end(claim, "queued", outcome, {})

    def _end(self, claim: Claim, state: str, outcome: str, timings: dict[str, float],
             **fields: Any) -> None:
        now = time.time()
        sets = "".join(f", {name} = ?" for name in fields)
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE shots SET state = ?, worker = NULL, lease_until = NULL, stage = NULL,"
                f" timings = ?, updated_at = ?, finished_at = ?{sets}"
                " WHERE shot_id = ? AND worker = ? AND attempts = ? AND state = 'running'",
                (state, json.dumps(timings), now, now if state != "queued" else None,
                 *fields.values(), claim.shot_id, claim.worker, claim.attempt))
            if cursor.rowcount != 1:
                raise LedgerError("this worker no longer holds the shot (its lease ran out and "
                                  "another worker took it)", item=claim.shot_id)
            db.execute(
                "UPDATE attempts SET outcome = ?, finished_at = ?, error_class = ?,"
                " error_message = ?, timings = ? WHERE shot_id = ? AND attempt = ?",
                (outcome, now, fields.get("error_class"), fields.get("error_message"),
                 json.dumps(timings), claim.shot_id, claim.attempt))

    def retry(self, *, failed: bool = True, flagged: bool = False,
              new_seed: bool = False) -> list[str]:
        """Put failed and/or flagged shots back in the queue; returns their ids.

        With ``new_seed`` each gets a seed derived from its manifest seed and its attempt
        number (reproducible); the manifest keeps the original request.
        """
        states = [s for s, on in (("failed", failed), ("flagged", flagged)) if on]
        if not states:
            return []
        now = time.time()
        with self._write() as db:
            rows = db.execute(
                f"SELECT shot_id, manifest_seed, attempts FROM shots WHERE state IN "
                f"({', '.join('?' * len(states))}) ORDER BY position", states).fetchall()
            for row in rows:
                seed = _next_seed(row["manifest_seed"], row["attempts"]) if new_seed else None
                db.execute(
                    "UPDATE shots SET state = 'queued', seed = COALESCE(?, seed), lost = 0,"
                    " error_class = NULL, error_message = NULL, updated_at = ? WHERE shot_id = ?",
                    (seed, now, row["shot_id"]))
        return [r["shot_id"] for r in rows]

    def requeue(self, shot_id: str, note: str = "") -> int:
        """A person asked to make one shot again: back in the queue with a new seed.

        Any shot that is not queued or running qualifies (a done, flagged, failed,
        accepted or rejected one); its review is dropped. Returns the seed of its next
        attempt, derived like ``retry(new_seed=True)``.

        Raises:
            LedgerError: the shot is unknown, queued or running.
        """
        with self._write() as db:
            row = db.execute("SELECT state, manifest_seed, attempts FROM shots WHERE"
                             " shot_id = ?", (shot_id,)).fetchone()
            if row is None or row["state"] in ("queued", "running"):
                raise LedgerError("only a finished or failed shot can be made again",
                                  item=shot_id, value=None if row is None else row["state"])
            seed = _next_seed(row["manifest_seed"], row["attempts"])
            db.execute(
                "UPDATE shots SET state = 'queued', seed = ?, lost = 0, error_class = NULL,"
                " error_message = NULL, note = ?, updated_at = ? WHERE shot_id = ?",
                (seed, note, time.time(), shot_id))
        return seed

    def review(self, shot_id: str, state: str, note: str = "") -> None:
        """A person's decision on a finished shot: ``accepted`` or ``rejected``."""
        if state not in ("accepted", "rejected"):
            raise ValueError(f"review takes accepted or rejected, not {state!r}")
        with self._write() as db:
            cursor = db.execute(
                "UPDATE shots SET state = ?, note = ?, updated_at = ? WHERE shot_id = ? AND"
                " state IN ('done', 'flagged', 'accepted', 'rejected')",
                (state, note, time.time(), shot_id))
            if cursor.rowcount != 1:
                raise LedgerError("only a finished shot can be reviewed", item=shot_id)

    # --- reads ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Shots per state (every state present, zeros included)."""
        counts = dict.fromkeys(STATES, 0)
        for row in self._db.execute("SELECT state, COUNT(*) AS n FROM shots GROUP BY state"):
            counts[row["state"]] = row["n"]
        return counts

    def shots(self) -> list[dict[str, Any]]:
        """Every shot's row, in manifest order (``reasons`` and ``timings`` decoded)."""
        return [_decoded(r) for r in self._db.execute("SELECT * FROM shots ORDER BY position")]

    def shot(self, shot_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM shots WHERE shot_id = ?", (shot_id,)).fetchone()
        if row is None:
            raise LedgerError("no such shot in the ledger", item=shot_id)
        return _decoded(row)

    def attempts(self, shot_id: str) -> list[dict[str, Any]]:
        return [_decoded(r) for r in self._db.execute(
            "SELECT * FROM attempts WHERE shot_id = ? ORDER BY attempt", (shot_id,))]

    def throughput(self) -> tuple[float | None, float | None]:
        """Finished shots per hour since the first attempt started, and the ETA in seconds."""
        row = self._db.execute(
            "SELECT MIN(started_at) AS first, MAX(finished_at) AS last, COUNT(*) AS n"
            " FROM attempts WHERE outcome IN ('done', 'flagged')").fetchone()
        if not row["n"] or row["last"] <= row["first"]:
            return None, None
        per_second = row["n"] / (row["last"] - row["first"])
        counts = self.counts()
        remaining = counts["queued"] + counts["running"]
        return per_second * 3600, remaining / per_second


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a dict, its JSON columns (``reasons``, ``timings``) decoded."""
    data = dict(row)
    for column, empty in (("reasons", "[]"), ("timings", "{}")):
        if column in data:
            data[column] = json.loads(data[column] or empty)
    return data


def _next_seed(manifest_seed: int, attempt: int) -> int:
    digest = hashlib.sha256(f"{manifest_seed}:retry:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
