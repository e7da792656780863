"""Torch devices from settings (``interpolate.device``, ``diffusers.device``).

torch is imported only when a device is asked for: the rest of vidgen runs
without the ``torch`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidgen.errors import VidgenError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device"]


def resolve_device(value: str, *, field: str, error: type[VidgenError]) -> torch.device:
    """``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        error: not a device name, not a CPU or CUDA device, or a CUDA device torch
            cannot see (naming ``field``, the value and the devices there are).
    """
    import torch

    text = str(value).strip().lower()
    if text in {"", "auto"}:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    limit = "auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise error("not a torch device", field=field, value=value, limit=limit) from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise error("unsupported device", field=field, value=value, limit=limit)
    if not torch.cuda.is_available():
        raise error("CUDA is not available here", field=field, value=value,
                    hint="use auto or cpu, or install a CUDA build of torch")
    count = torch.cuda.device_count()
    if (device.index or 0) >= count:
        raise error("torch sees no such CUDA device", field=field, value=value,
                    limit=f"{count} GPU(s): cuda:0 .. cuda:{count - 1}")
    return device
