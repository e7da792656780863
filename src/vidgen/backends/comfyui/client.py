"""A ComfyUI client for long batch jobs: submit, follow, fetch, clean up, never hang.

One :class:`ComfyClient` per worker: one ``client_id`` and one long-lived
websocket (``/ws?clientId=``) for every prompt it runs. :meth:`ComfyClient.run`
is the whole life of one prompt:

1. submit with our own ``prompt_id`` (a retried submission first asks whether
   the server already has it, so a lost reply never queues a job twice);
2. follow the socket: ``execution_start``, ``executing`` (per-node times),
   ``progress`` (the step bar), ``execution_success`` or ``executing`` with
   ``node: null`` (done), ``execution_error`` (failed), ``execution_interrupted``;
3. when the socket says nothing for ``poll_sec``, or drops, ask ``/history`` (the
   source of truth) and ``/queue``: a prompt in neither has *vanished* (the
   server restarted) and :class:`PromptVanished` lets the caller submit again;
   a dropped socket is reconnected with the same ``client_id``;
4. past the wall-clock ``timeout`` the prompt is cancelled (``/queue`` delete
   and ``/interrupt {prompt_id}``) and :class:`BackendTimeout` raised;
5. the result is read from ``/history`` (also when every event was seen).

HTTP failures to connect are retried with exponential backoff, a bounded
number of times, then :class:`ServerUnreachable` is raised. Outputs are
streamed from ``/view`` to disk, never held in memory.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from vidgen.backends.comfyui.workflow import LOADER_FOLDERS
from vidgen.errors import BackendError, BackendUnavailable, OutOfMemory

__all__ = [
    "BackendTimeout",
    "ComfyClient",
    "Execution",
    "PromptVanished",
    "ServerUnreachable",
    "WorkflowRejected",
]

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class ServerUnreachable(BackendUnavailable):
    """The server did not answer after every retry; the worker stops, shots stay queued."""


class WorkflowRejected(BackendError):
    """The server refused the workflow (400): unknown nodes, missing models, bad values."""


class BackendTimeout(BackendError):
    """The shot ran past its wall-clock limit and was cancelled on the server."""


class PromptVanished(BackendError):
    """The server no longer knows the prompt (it restarted): submit it again."""


@dataclass
class Execution:
    """A finished prompt: its outputs (``/history``) and what was measured."""

    prompt_id: str
    outputs: dict[str, dict[str, Any]]
    queue_wait_sec: float | None = None
    execution_sec: float | None = None
    node_sec: dict[str, float] = field(default_factory=dict)
    cached_nodes: list[str] = field(default_factory=list)
    first_progress_sec: dict[str, float] = field(default_factory=dict)
    peak_vram_mb: float | None = None
    reconnects: int = 0
    polls: int = 0


def describe_rejection(body: dict[str, Any], graph: dict[str, Any]) -> WorkflowRejected:
    """One readable error from a 400 reply: the first problem named exactly, the rest counted."""
    error = body.get("error") or {}
    problems: list[WorkflowRejected] = []
    for node_id, entry in sorted((body.get("node_errors") or {}).items()):
        cls = entry.get("class_type") or graph.get(node_id, {}).get("class_type", "?")
        for err in entry.get("errors", []):
            info = err.get("extra_info") or {}
            input_name = info.get("input_name")
            value = info.get("received_value", graph.get(node_id, {}).get("inputs", {})
                             .get(input_name) if input_name else None)
            folder = LOADER_FOLDERS.get(cls, {}).get(input_name or "")
            if err.get("type") == "value_not_in_list" and folder:
                problems.append(WorkflowRejected(
                    f"model file {value!r} missing on the server", item=f"node {node_id} ({cls})",
                    field=input_name, value=value, hint=f"put it in ComfyUI's models/{folder}/"))
            else:
                detail = err.get("details") or ""
                message = f"{err.get('message', 'invalid')}" + (f": {detail}" if detail else "")
                problems.append(WorkflowRejected(message, item=f"node {node_id} ({cls})",
                                                 field=input_name, value=value)
                                if input_name else
                                WorkflowRejected(message, item=f"node {node_id} ({cls})"))
    if not problems:
        message = error.get("message") or "the server refused the workflow"
        details = error.get("details")
        return WorkflowRejected(f"{message}" + (f" ({details})" if details else ""),
                                field=error.get("type"))
    first = problems[0]
    if len(problems) > 1:
        first.hint = "; ".join(filter(None, [first.hint, "also: " + "; ".join(
            str(p) for p in problems[1:6])]))
        first.args = (str(first),)
    return first


def describe_failure(data: dict[str, Any]) -> BackendError:
    """An ``execution_error`` as an error; out-of-memory is its own class."""
    node = f"node {data.get('node_id')} ({data.get('node_type')})"
    kind = str(data.get("exception_type") or "error")
    message = str(data.get("exception_message") or "").strip()
    first_line = message.splitlines()[0] if message else kind
    if "OutOfMemory" in kind or "out of memory" in message.lower():
        return OutOfMemory(f"the GPU ran out of memory: {first_line}", item=node,
                           hint="lower the size or frame count, use fp8 weights, tiled VAE "
                                "decode or model offloading; ComfyUI has unloaded its models")
    return BackendError(f"{kind}: {first_line}", item=node)


class ComfyClient:
    """Talks to one ComfyUI server; see the module docstring for the life of a prompt."""

    def __init__(self, url: str, *, retries: int = 5, backoff_sec: float = 1.0,
                 poll_sec: float = 5.0, vram_sample_sec: float = 1.0,
                 http_timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise BackendUnavailable("the ComfyUI URL must start with http:// or https://",
                                     field="comfyui.url", value=url)
        self.client_id = uuid.uuid4().hex
        self.retries, self.backoff_sec = retries, backoff_sec
        self.poll_sec, self.vram_sample_sec = poll_sec, vram_sample_sec
        self._http = httpx.Client(base_url=self.url, timeout=http_timeout)
        self._ws: ClientConnection | None = None
        self._sockets = ExitStack()  # every socket opened, closed with the client

    def close(self) -> None:
        self._ws = None
        self._sockets.close()
        self._http.close()

    # --- HTTP ----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, retries: int | None = None,
                **kwargs: Any) -> httpx.Response:
        """One HTTP request; connection failures and 5xx replies are retried with backoff.

        Raises:
            ServerUnreachable: still failing after ``retries`` attempts.
        """
        attempts = self.retries if retries is None else retries
        delay = self.backoff_sec
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < attempts:
                log.warning("ComfyUI %s %s failed (%s); retry %d of %d in %.1f s", method, path,
                            problem, attempt, attempts - 1, delay)
                time.sleep(delay)
                delay = min(30.0, delay * 2 or 0.1)
        raise ServerUnreachable(f"no answer from the ComfyUI server after {attempts} attempts "
                                f"({problem})", item=self.url, field=f"{method} {path}",
                                hint="start the server, or check comfyui.url")

    def get_json(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        if response.status_code != 200:
            raise BackendError(f"unexpected HTTP {response.status_code}", item=self.url,
                               field=f"GET {path}")
        return response.json()

    def system_stats(self) -> dict[str, Any]:
        return dict(self.get_json("/system_stats"))

    def object_info(self) -> dict[str, Any]:
        return dict(self.get_json("/object_info"))

    def upload_image(self, data: bytes, name: str, subfolder: str = "vidgen") -> str:
        """Upload a PNG to the server's input folder; returns the LoadImage value."""
        response = self.request("POST", "/upload/image", files={
            "image": (name, data, "image/png")}, data={"overwrite": "true",
                                                        "subfolder": subfolder, "type": "input"})
        if response.status_code != 200:
            raise BackendError(f"image upload refused: HTTP {response.status_code} "
                               f"{response.text[:200]}", item=name)
        reply = response.json()
        return f"{reply['subfolder']}/{reply['name']}" if reply.get("subfolder") else reply["name"]

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
        return dict(entry) if isinstance(entry, dict) else None

    def queued(self, prompt_id: str) -> str | None:
        """``running``, ``pending`` or None."""
        queue = self.get_json("/queue")
        for state in ("running", "pending"):
            if any(len(item) > 1 and item[1] == prompt_id for item in queue[f"queue_{state}"]):
                return state
        return None

    def cancel(self, prompt_id: str) -> None:
        """Take the prompt off the queue and interrupt it if it runs (best effort)."""
        for path, body in (("/queue", {"delete": [prompt_id]}),
                           ("/interrupt", {"prompt_id": prompt_id})):
            try:
                self.request("POST", path, json=body, retries=2)
            except BackendError as exc:
                log.warning("could not cancel prompt %s: %s", prompt_id, exc)

    def forget(self, prompt_id: str) -> None:
        """Delete the prompt's history entry (best effort)."""
        try:
            self.request("POST", "/history", json={"delete": [prompt_id]}, retries=2)
        except BackendError as exc:
            log.warning("could not delete history of %s: %s", prompt_id, exc)

    def download(self, ref: dict[str, Any], dest: Path) -> Path:
        """Stream an output file (``{filename, subfolder, type}``) from ``/view`` to ``dest``."""
        params = {"filename": ref["filename"], "subfolder": ref.get("subfolder", ""),
                  "type": ref.get("type", "output")}
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(2):
            try:
                with self._http.stream("GET", "/view", params=params) as response:
                    if response.status_code != 200:
                        raise BackendError(f"output file not served: HTTP "
                                           f"{response.status_code}", item=ref["filename"])
                    with open(dest, "wb") as out:
                        for chunk in response.iter_bytes(1 << 20):
                            out.write(chunk)
                return dest
            except httpx.TransportError as exc:
                if attempt:
                    raise ServerUnreachable(f"download failed: {exc}",
                                            item=ref["filename"]) from exc
        return dest

    # --- one prompt ----------------------------------------------------------------------

    def submit(self, graph: dict[str, Any], prompt_id: str) -> None:
        """Queue ``graph`` as ``prompt_id``.

        Raises:
            WorkflowRejected: the server refused it (400), with the node, input and value.
        """
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        try:
            response = self.request("POST", "/prompt", json=body, retries=1)
        except ServerUnreachable:
            if self._known(prompt_id, retries=self.retries):  # the reply was lost, not the job
                return
            response = self.request("POST", "/prompt", json=body)
        if response.status_code == 200:
            reply = response.json()
            if reply.get("node_errors"):  # ComfyUI runs only the valid outputs: not ours
                self.cancel(prompt_id)
                raise describe_rejection(reply, graph)
            return
        try:
            reply = response.json()
        except ValueError:
            reply = {"error": {"message": response.text[:300]}}
        raise describe_rejection(reply if isinstance(reply, dict) else {}, graph)

    def _known(self, prompt_id: str, retries: int | None = None) -> bool:
        queue = self.get_json("/queue", retries=retries)
        items = queue["queue_running"] + queue["queue_pending"]
        return any(len(i) > 1 and i[1] == prompt_id for i in items) or \
            self.history(prompt_id) is not None

    def run(self, graph: dict[str, Any], *, timeout: float,
            progress: Progress | None = None) -> Execution:
        """Submit, follow and return one prompt's outputs; see the module docstring.

        Raises:
            WorkflowRejected, OutOfMemory, BackendError: the server refused or failed it.
            BackendTimeout: past ``timeout`` (the prompt was cancelled).
            PromptVanished: the server lost it (restarted).
            ServerUnreachable: the server stopped answering.
        """
        prompt_id = str(uuid.uuid4())
        self._connect()
        sampler = _VramSampler(self, self.vram_sample_sec)
        submitted = time.monotonic()
        self.submit(graph, prompt_id)
        execution = Execution(prompt_id, {})
        sampler.start()
        try:
            self._follow(graph, execution, submitted, submitted + timeout, progress)
            self._finish(self._final_history(prompt_id), execution)
        finally:
            execution.peak_vram_mb = sampler.stop()
        return execution

    def _connect(self) -> bool:
        if self._ws is not None:
            return True
        ws_url = "ws" + self.url.removeprefix("http") + f"/ws?clientId={self.client_id}"
        try:
            self._ws = self._sockets.enter_context(connect(
                ws_url, open_timeout=10, max_size=None, ping_interval=20, ping_timeout=60))
            return True
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            log.warning("ComfyUI websocket unavailable (%s); following by polling", exc)
            self._ws = None
            return False

    def _messages(self, wait: float) -> Iterator[dict[str, Any]]:
        """Text messages arriving within ``wait`` seconds (binary previews skipped)."""
        if self._ws is None:
            time.sleep(wait)
            return
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = self._ws.recv(timeout=left)
            except TimeoutError:
                return
            except ConnectionClosed:
                self._ws = None
                raise
            if isinstance(raw, str):
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    yield message

    def _follow(self, graph: dict[str, Any], execution: Execution, submitted: float,
                deadline: float, progress: Progress | None) -> None:
        prompt_id = execution.prompt_id
        current: tuple[str, float] | None = None
        last_heard = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                self.cancel(prompt_id)
                raise BackendTimeout(f"no result after {deadline - submitted:.0f} s; the prompt "
                                     "was cancelled on the server", item=prompt_id,
                                     field="comfyui.timeout_sec",
                                     limit=f"{deadline - submitted:.0f} s")
            try:
                for message in self._messages(min(self.poll_sec, deadline - now)):
                    data = message.get("data") or {}
                    if data.get("prompt_id") != prompt_id:
                        continue
                    last_heard = time.monotonic()
                    kind = message.get("type")
                    if kind == "execution_start":
                        execution.queue_wait_sec = last_heard - submitted
                    elif kind == "execution_cached":
                        execution.cached_nodes = [str(n) for n in data.get("nodes", [])]
                    elif kind == "executing":
                        if current:
                            execution.node_sec[current[0]] = last_heard - current[1]
                        node = data.get("node")
                        if node is None:
                            return
                        current = (str(node), last_heard)
                    elif kind == "progress" and current:
                        execution.first_progress_sec.setdefault(current[0],
                                                                last_heard - current[1])
                        value, high = data.get("value", 0), data.get("max") or 1
                        cls = graph.get(str(data.get("node")), {}).get("class_type", "node")
                        if progress:
                            progress(value / high, f"{cls} {value}/{high}")
                    elif kind == "execution_success":
                        if current:
                            execution.node_sec[current[0]] = last_heard - current[1]
                        return
                    elif kind == "execution_error":
                        raise describe_failure(data)
                    elif kind == "execution_interrupted":
                        raise BackendError("interrupted on the server", item=prompt_id)
            except ConnectionClosed:
                log.warning("ComfyUI websocket closed; reconnecting and polling /history")
                execution.reconnects += 1
                self._connect()
            if time.monotonic() - last_heard >= self.poll_sec or self._ws is None:
                execution.polls += 1
                if self._settled(prompt_id):
                    return
                last_heard = time.monotonic()

    def _settled(self, prompt_id: str) -> bool:
        """True when history has the prompt; raises :class:`PromptVanished` when nothing has."""
        if self.history(prompt_id) is not None:
            return True
        if self.queued(prompt_id) is not None:
            return False
        if self.history(prompt_id) is not None:  # it finished between the two questions
            return True
        raise PromptVanished("the server no longer knows the prompt (restarted?)",
                             item=prompt_id)

    def _final_history(self, prompt_id: str, wait: float = 30.0) -> dict[str, Any]:
        """The history entry of a prompt the socket said is done. ComfyUI announces success
        a moment before it stores the entry, so a missing one is asked for again while the
        queue still holds the prompt."""
        deadline = time.monotonic() + wait
        delay = 0.05
        while (entry := self.history(prompt_id)) is None:
            if time.monotonic() > deadline:
                if self.queued(prompt_id) is None:
                    raise PromptVanished("the prompt finished but the server has no history "
                                         "of it", item=prompt_id)
                raise BackendError(f"the server said the prompt finished but still lists it "
                                   f"as queued after {wait:.0f} s", item=prompt_id)
            time.sleep(delay)
            delay = min(1.0, delay * 2)
        return entry

    def _finish(self, entry: dict[str, Any], execution: Execution) -> None:
        status = entry.get("status") or {}
        messages = {m[0]: m[1] for m in status.get("messages", [])
                    if isinstance(m, list) and len(m) == 2 and isinstance(m[1], dict)}
        if "execution_error" in messages:
            raise describe_failure(messages["execution_error"])
        if "execution_interrupted" in messages:
            raise BackendError("interrupted on the server", item=execution.prompt_id)
        if status.get("status_str", "success") != "success":
            raise BackendError(f"the server reports status {status.get('status_str')!r}",
                               item=execution.prompt_id)
        start, end = (messages.get(k, {}).get("timestamp") for k in
                      ("execution_start", "execution_success"))
        if isinstance(start, int | float) and isinstance(end, int | float):
            execution.execution_sec = (end - start) / 1000.0
        execution.outputs = {str(k): v for k, v in (entry.get("outputs") or {}).items()}


class _VramSampler(threading.Thread):
    """Samples ``/system_stats`` while a prompt runs; the peak of used VRAM, in MB."""

    def __init__(self, client: ComfyClient, interval: float) -> None:
        super().__init__(daemon=True, name="comfyui-vram")
        self.url, self.interval = client.url, interval
        self.peak: float | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        if self.interval <= 0:
            return
        with httpx.Client(base_url=self.url, timeout=5.0) as http:
            while True:
                try:
                    devices = http.get("/system_stats").json().get("devices", [])
                    used = max((d["vram_total"] - d["vram_free"] for d in devices
                                if d.get("type") != "cpu" and "vram_total" in d), default=None)
                    if used is not None:
                        self.peak = max(self.peak or 0.0, used / 2**20)
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    pass
                if self._stop_event.wait(self.interval):
                    return

    def stop(self) -> float | None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=10)
        return None if self.peak is None else round(self.peak, 1)
