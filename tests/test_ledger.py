"""The job ledger: idempotent ingest, disjoint claims, leases, attempts, retries, review."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from vidgen.batch import create_batch
from vidgen.config import Config
from vidgen.errors import LedgerError
from vidgen.ledger import Ledger
from vidgen.manifest import Manifest, load_manifest


@pytest.fixture
def batch(studio: Path, config: Config, tmp_path: Path) -> tuple[Path, Manifest]:
    out = tmp_path / "batch"
    create_batch([studio], out, config, batch_id="b1")
    return out, load_manifest(out)


def test_ingest_is_idempotent_and_uses_wal(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    with Ledger(folder) as ledger:
        assert ledger.ingest(manifest) == 3
        assert ledger.ingest(manifest) == 0
        assert ledger.counts()["queued"] == 3
        assert [s["shot_id"] for s in ledger.shots()] == [s.shot_id for s in manifest.keyframes]
    db = sqlite3.connect(folder / ".vidgen" / "ledger.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_claim_finish_and_attempt_records(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    with Ledger(folder) as ledger:
        ledger.ingest(manifest)
        claim = ledger.claim("host:1", 60)
        assert claim is not None and claim.attempt == 1
        assert claim.seed == manifest.keyframes[0].generation_params.seed
        assert ledger.shot(claim.shot_id)["state"] == "running"
        ledger.finish(claim, state="flagged", output="results/x.mp4", verdict="fail",
                      reasons=["flash_frames: 2 frames"], timings={"total": 1.5})
        row = ledger.shot(claim.shot_id)
        assert (row["state"], row["verdict"], row["worker"]) == ("flagged", "fail", None)
        assert [a["outcome"] for a in ledger.attempts(claim.shot_id)] == ["flagged"]
        with pytest.raises(LedgerError, match="no longer holds"):
            ledger.finish(claim, state="done", output="", verdict="pass", reasons=[],
                          timings={})


def _claim_all(folder: Path, worker: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    with Ledger(folder) as ledger:
        mine = []
        while (claim := ledger.claim(worker, 60)) is not None:
            mine.append(claim.shot_id)
            time.sleep(0.01)
            ledger.finish(claim, state="done", output="", verdict="pass", reasons=[], timings={})
        queue.put(mine)


def test_four_processes_claim_disjoint_shots(tmp_path: Path, batch: tuple[Path, Manifest]
                                             ) -> None:
    folder, manifest = batch
    many = manifest.model_copy(update={"keyframes": [
        manifest.keyframes[0].model_copy(update={"shot_id": f"s{i:03d}"}) for i in range(60)]})
    with Ledger(folder) as ledger:
        ledger.ingest(many)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    processes = [ctx.Process(target=_claim_all, args=(folder, f"h:{i}", queue))
                 for i in range(4)]
    for p in processes:
        p.start()
    claimed = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    flat = [shot for mine in claimed for shot in mine]
    assert sorted(flat) == sorted(f"s{i:03d}" for i in range(60))  # each exactly once
    assert sum(1 for mine in claimed if mine) >= 2  # they really ran side by side


def test_an_expired_lease_is_taken_over_and_counted(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    with Ledger(folder, max_attempts=2) as ledger:
        ledger.ingest(manifest)
        first = ledger.claim("h:1", lease_sec=0.01)
        assert first is not None
        time.sleep(0.05)
        second = ledger.claim("h:2", lease_sec=0.01)
        assert second is not None and second.shot_id == first.shot_id and second.attempt == 2
        assert not ledger.heartbeat(first, 60)  # the dead worker lost it
        time.sleep(0.05)
        third = ledger.claim("h:3", 60)  # the second loss reaches max_attempts: next shot
        assert third is not None and third.shot_id != first.shot_id
        row = ledger.shot(first.shot_id)
        assert row["state"] == "failed" and row["error_class"] == "WorkerLost"
        assert [a["outcome"] for a in ledger.attempts(first.shot_id)] == ["lost", "lost"]


def test_dead_local_workers_are_detected(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    ctx = multiprocessing.get_context("spawn")
    gone = ctx.Process(target=time.sleep, args=(0,))
    gone.start()
    gone.join()
    import socket

    with Ledger(folder) as ledger:
        ledger.ingest(manifest)
        dead = ledger.claim(f"{socket.gethostname()}:{gone.pid}", 3600)
        alive = ledger.claim(f"{socket.gethostname()}:{multiprocessing.current_process().pid}",
                             3600)
        assert dead is not None and alive is not None
        assert ledger.expire_dead_workers() == [dead.shot_id]
        again = ledger.claim("h:9", 60)
        assert again is not None and again.shot_id == dead.shot_id and again.attempt == 2


def test_release_fail_and_retry_with_new_seed(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    with Ledger(folder) as ledger:
        ledger.ingest(manifest)
        claim = ledger.claim("h:1", 60)
        assert claim is not None
        ledger.release(claim)
        assert ledger.shot(claim.shot_id)["state"] == "queued"
        claim = ledger.claim("h:1", 60)
        assert claim is not None and claim.attempt == 2
        ledger.fail(claim, "BackendError", "model exploded", {"total": 0.1})
        assert ledger.retry(flagged=True, failed=False) == []
        assert ledger.retry(new_seed=True) == [claim.shot_id]
        row = ledger.shot(claim.shot_id)
        assert row["state"] == "queued" and row["error_class"] is None
        assert row["seed"] != row["manifest_seed"] == claim.seed
        retried = ledger.claim("h:1", 60)
        assert retried is not None and retried.seed == row["seed"] and retried.attempt == 3
        outcomes = [(a["outcome"], a["seed"]) for a in ledger.attempts(claim.shot_id)]
        assert outcomes == [("interrupted", claim.seed), ("failed", claim.seed),
                            (None, row["seed"])]


def test_review_only_finished_shots(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    with Ledger(folder) as ledger:
        ledger.ingest(manifest)
        claim = ledger.claim("h:1", 60)
        assert claim is not None
        with pytest.raises(LedgerError, match="only a finished shot"):
            ledger.review(claim.shot_id, "accepted")
        ledger.finish(claim, state="done", output="o", verdict="pass", reasons=[], timings={})
        ledger.review(claim.shot_id, "rejected", "wobbly horizon")
        assert ledger.shot(claim.shot_id)["note"] == "wobbly horizon"
        assert ledger.counts()["rejected"] == 1


def test_throughput_and_eta(batch: tuple[Path, Manifest]) -> None:
    folder, manifest = batch
    with Ledger(folder) as ledger:
        ledger.ingest(manifest)
        assert ledger.throughput() == (None, None)
        for _ in range(2):
            claim = ledger.claim("h:1", 60)
            assert claim is not None
            time.sleep(0.05)
            ledger.finish(claim, state="done", output="o", verdict="pass", reasons=[],
                          timings={})
        per_hour, eta = ledger.throughput()
        assert per_hour is not None and eta is not None
        # Two shots in about 0.1 s: one remaining shot takes about 0.05 s.
        assert 0.02 < eta < 0.5 and per_hour > 3600
