"""The ComfyUI backend: a batch client, workflows with bindings, built-in templates.

Importing this package registers the ``comfyui`` backend.
"""

from vidgen.backends.comfyui.backend import DEFAULT_TEMPLATE, ComfyUIBackend
from vidgen.backends.comfyui.client import ComfyClient
from vidgen.backends.comfyui.workflow import Bindings, Workflow, builtin_templates, load_workflow

__all__ = ["DEFAULT_TEMPLATE", "Bindings", "ComfyClient", "ComfyUIBackend", "Workflow",
           "builtin_templates", "load_workflow"]
