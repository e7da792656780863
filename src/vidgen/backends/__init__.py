"""Backends turn a keyframe and its shot settings into frames; see :mod:`vidgen.backends.base`."""

from vidgen.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    available_backends,
    create_backend,
    register_backend,
)

__all__ = [
    "Backend",
    "GenerationRequest",
    "GenerationResult",
    "available_backends",
    "create_backend",
    "register_backend",
]
