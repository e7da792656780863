"""``vidgen comfy check``: can this ComfyUI server run these workflows?

Asks ``/system_stats`` (version, devices, memory) and ``/object_info`` (node
schemas, including the model files each loader can see) and checks every node,
input, value and model file of each workflow, without running anything. The
worker runs the same check before the first shot of a workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidgen.backends.comfyui.client import ComfyClient
from vidgen.backends.comfyui.workflow import Workflow, check_against, load_workflow
from vidgen.errors import BackendError, VidgenError

__all__ = ["ServerReport", "TemplateReport", "check_server"]


@dataclass
class TemplateReport:
    """One workflow against the server: ready, or what is missing."""

    name: str
    conditioning: str
    problems: list[BackendError] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "conditioning": self.conditioning, "ready": self.ready,
                "problems": [p.to_dict() for p in self.problems]}


@dataclass
class ServerReport:
    """The server and each workflow checked against it."""

    url: str
    system: dict[str, Any]
    devices: list[dict[str, Any]]
    templates: list[TemplateReport]

    @property
    def ready(self) -> bool:
        return all(t.ready for t in self.templates)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ready": self.ready, "system": self.system,
                "devices": self.devices, "templates": [t.to_dict() for t in self.templates]}


def check_server(client: ComfyClient, refs: list[str]) -> ServerReport:
    """Check workflows (built-in names or files) against the server ``client`` talks to.

    Raises:
        ServerUnreachable: the server does not answer.
    """
    stats = client.system_stats()
    object_info = client.object_info()
    reports = []
    for ref in refs:
        try:
            workflow: Workflow = load_workflow(ref)
        except VidgenError as exc:
            reports.append(TemplateReport(ref, "?", [BackendError(exc.message, item=exc.item,
                                                                   field=exc.field,
                                                                   hint=exc.hint)]))
            continue
        reports.append(TemplateReport(workflow.name, workflow.bindings.conditioning,
                                      check_against(workflow, object_info)))
    return ServerReport(client.url, stats.get("system", {}), stats.get("devices", []), reports)
