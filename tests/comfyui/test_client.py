"""The ComfyUI client against a protocol-faithful server: each fault ends as documented."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from vidgen.backends.comfyui.client import (
    BackendTimeout,
    ComfyClient,
    PromptVanished,
    ServerUnreachable,
    WorkflowRejected,
)
from vidgen.errors import BackendError, OutOfMemory

from .fake_server import FakeComfy, Job


def _run(client: ComfyClient, graph: dict[str, Any], timeout: float = 30.0,
         progress: list[tuple[float, str]] | None = None) -> Any:
    return client.run(graph, timeout=timeout,
                      progress=None if progress is None else lambda f, s: progress.append((f, s)))


def test_success_reports_outputs_progress_and_telemetry(fake: FakeComfy, client: ComfyClient,
                                                        small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(steps=4, step_delay=0.05))
    progress: list[tuple[float, str]] = []
    execution = _run(client, small_graph, progress=progress)
    ui = execution.outputs["61"] if "61" in execution.outputs else next(
        iter(execution.outputs.values()))
    assert ui["images"][0]["filename"].endswith(".mp4") and ui["animated"] == [True]
    assert [round(f, 2) for f, _ in progress][-1] == 1.0 and "KSamplerAdvanced" in progress[0][1]
    assert execution.queue_wait_sec is not None and execution.execution_sec is not None
    classes = {small_graph[n]["class_type"] for n in execution.node_sec}
    assert {"KSamplerAdvanced", "SaveVideo"} <= classes
    assert execution.peak_vram_mb is not None and execution.peak_vram_mb > 0.3 * 24 * 1024
    assert execution.reconnects == 0 and execution.polls == 0
    assert execution.prompt_id in fake.submitted  # our own id, honoured


def test_a_silent_socket_falls_back_to_history(fake: FakeComfy, client: ComfyClient,
                                               small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(silent=True, steps=3, step_delay=0.2))
    execution = _run(client, small_graph)
    assert execution.polls >= 1 and execution.outputs
    assert any(path.startswith("/history/") for _, path in fake.requests)


def test_a_dropped_socket_reconnects_and_finishes(fake: FakeComfy, client: ComfyClient,
                                                  small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(steps=6, step_delay=0.1, drop_socket_after=2))
    execution = _run(client, small_graph)
    assert execution.reconnects >= 1 and execution.outputs


def test_a_missing_model_names_the_file_and_its_folder(fake: FakeComfy, client: ComfyClient,
                                                       small_graph: dict[str, Any]) -> None:
    graph = copy.deepcopy(small_graph)
    loader = next(n for n, node in graph.items() if node["class_type"] == "UNETLoader")
    graph[loader]["inputs"]["unet_name"] = "wan2.2_missing.safetensors"
    with pytest.raises(WorkflowRejected) as caught:
        _run(client, graph)
    error = caught.value
    assert error.item == f"node {loader} (UNETLoader)" and error.field == "unet_name"
    assert error.value == "wan2.2_missing.safetensors"
    assert "models/diffusion_models/" in (error.hint or "")


def test_a_value_out_of_range_is_named(client: ComfyClient, small_graph: dict[str, Any]) -> None:
    graph = copy.deepcopy(small_graph)
    node = next(n for n, v in graph.items() if v["class_type"] == "WanImageToVideo")
    graph[node]["inputs"]["length"] = 10**7
    with pytest.raises(WorkflowRejected) as caught:
        _run(client, graph)
    assert caught.value.field == "length" and caught.value.value == 10**7
    assert "max" in caught.value.message.lower()


def test_out_of_memory_is_its_own_class(fake: FakeComfy, client: ComfyClient,
                                        small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(fail="oom"))
    with pytest.raises(OutOfMemory) as caught:
        _run(client, small_graph)
    assert "ran out of memory" in caught.value.message and "tiled VAE" in (caught.value.hint or "")


def test_an_execution_error_names_node_and_exception(fake: FakeComfy, client: ComfyClient,
                                                     small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(fail="error"))
    with pytest.raises(BackendError) as caught:
        _run(client, small_graph)
    assert not isinstance(caught.value, OutOfMemory)
    assert "RuntimeError" in caught.value.message and caught.value.item.startswith("node ")


def test_a_vanished_prompt_is_reported_for_resubmission(fake: FakeComfy, client: ComfyClient,
                                                        small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(steps=5, step_delay=0.1, vanish_after=2))
    with pytest.raises(PromptVanished):
        _run(client, small_graph)
    execution = _run(client, small_graph)  # the server is back: the same graph runs
    assert execution.outputs


def test_past_the_timeout_the_prompt_is_cancelled(fake: FakeComfy, client: ComfyClient,
                                                  small_graph: dict[str, Any]) -> None:
    fake.jobs.append(Job(hang=True))
    started = time.monotonic()
    with pytest.raises(BackendTimeout) as caught:
        _run(client, small_graph, timeout=1.0)
    assert time.monotonic() - started < 10
    prompt_id = caught.value.item
    assert prompt_id in fake.interrupted and prompt_id in fake.deleted_from_queue
    assert caught.value.field == "comfyui.timeout_sec"
    assert _run(client, small_graph).outputs  # the server is free again


def test_an_unreachable_server_is_retried_then_reported(fake: FakeComfy) -> None:
    fake.down()
    client = ComfyClient(fake.url, retries=3, backoff_sec=0.01)
    try:
        with pytest.raises(ServerUnreachable) as caught:
            client.system_stats()
    finally:
        client.close()
    assert "3 attempts" in caught.value.message and caught.value.item == fake.url


def test_a_server_that_comes_back_within_the_retries_is_used(fake: FakeComfy) -> None:
    import threading

    fake.down()
    threading.Timer(0.3, fake.up).start()
    client = ComfyClient(fake.url, retries=6, backoff_sec=0.1)
    try:
        assert client.system_stats()["system"]["comfyui_version"]
    finally:
        client.close()


def test_history_is_deleted_after_use(fake: FakeComfy, client: ComfyClient,
                                      small_graph: dict[str, Any]) -> None:
    execution = _run(client, small_graph)
    client.forget(execution.prompt_id)
    assert execution.prompt_id in fake.deleted_from_history
    assert client.history(execution.prompt_id) is None


def test_download_streams_the_output_to_disk(client: ComfyClient, small_graph: dict[str, Any],
                                             tmp_path: Any) -> None:
    execution = _run(client, small_graph)
    ref = next(iter(execution.outputs.values()))["images"][0]
    path = client.download(ref, tmp_path / "out.mp4")
    assert path.stat().st_size > 0
    with pytest.raises(BackendError, match="HTTP 404"):
        client.download({"filename": "nope.mp4", "subfolder": "", "type": "output"},
                        tmp_path / "x.mp4")
