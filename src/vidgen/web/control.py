"""Local workers the studio starts: one ``vidgen run`` subprocess per batch.

A worker is the command-line tool itself, ``python -m vidgen run DIR``, in a
session of its own (a Ctrl-C meant for the server does not reach it), with the
studio's effective settings passed as ``VIDGEN_*`` variables so it works
exactly as the studio was configured. Its output goes to
``DIR/.vidgen/studio-worker.log``. Stopping sends SIGTERM, on which
``vidgen run`` gives the current shot back to the queue and exits; the next
start resumes. The ledger stays the only record of job state: this module
only knows the processes it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vidgen.config import SETTINGS, Config
from vidgen.manifest import STATE_DIR
from vidgen.web.errors import Conflict

__all__ = ["LOG_NAME", "Workers", "settings_env"]

LOG_NAME = "studio-worker.log"


def settings_env(config: Config) -> dict[str, str]:
    """Every setting as its ``VIDGEN_*`` variable, so a child process sees the same values
    whatever its files say (the workspace made absolute)."""
    env = {}
    for setting in SETTINGS:
        value = config[setting.name]
        if setting.name == "workspace":
            value = str(config.workspace.absolute())
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = ",".join(value)
        else:
            text = str(value)
        env[setting.env] = text
    return env


@dataclass
class _Process:
    process: subprocess.Popen[bytes]
    started_at: str


class Workers:
    """The worker processes this studio started, one per batch folder.

    Args:
        config: The settings the workers run with.
        stop_wait_sec: How long ``stop`` waits for a worker to give its shot back.
    """

    def __init__(self, config: Config, *, stop_wait_sec: float = 15.0) -> None:
        self.config = config
        self.stop_wait_sec = stop_wait_sec
        self._processes: dict[Path, _Process] = {}
        self._lock = threading.Lock()

    def status(self, batch_dir: Path) -> dict[str, Any]:
        """``running``, ``pid``, ``started_at`` and, once it ended, ``exit_code``."""
        with self._lock:
            entry = self._processes.get(Path(batch_dir).resolve())
        if entry is None:
            return {"running": False, "pid": None, "started_at": None, "exit_code": None}
        code = entry.process.poll()
        return {"running": code is None, "pid": entry.process.pid,
                "started_at": entry.started_at, "exit_code": code}

    def start(self, batch_dir: Path, workers: int = 1) -> dict[str, Any]:
        """Start ``vidgen run`` on the batch with ``workers`` processes.

        Raises:
            Conflict: this studio's worker on the batch is still running.
        """
        key = Path(batch_dir).resolve()
        with self._lock:
            entry = self._processes.get(key)
            if entry is not None and entry.process.poll() is None:
                raise Conflict("a worker is already running on this batch", item=key.name,
                               value=entry.process.pid, hint="stop it first")
            state = key / STATE_DIR
            state.mkdir(exist_ok=True)
            with open(state / LOG_NAME, "ab") as log:
                process = subprocess.Popen(  # our own command, no shell
                    [sys.executable, "-m", "vidgen", "run", str(key), "--workers", str(workers)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env={**os.environ, **settings_env(self.config)}, start_new_session=True)
            self._processes[key] = _Process(process, datetime.now(UTC).isoformat())
        return self.status(key)

    def stop(self, batch_dir: Path) -> dict[str, Any]:
        """SIGTERM the batch's worker and wait (briefly) for it to give its shot back."""
        key = Path(batch_dir).resolve()
        with self._lock:
            entry = self._processes.get(key)
        if entry is not None and entry.process.poll() is None:
            with suppress(ProcessLookupError):
                entry.process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                entry.process.wait(timeout=self.stop_wait_sec)
        return self.status(key)

    def stop_all(self) -> None:
        """Stop every running worker (the studio is shutting down; the batches resume later)."""
        with self._lock:
            folders = list(self._processes)
        for folder in folders:
            self.stop(folder)
