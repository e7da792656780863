"""The studio's refusals: VidgenErrors that carry the HTTP status they answer with.

The app turns every :class:`~vidgen.errors.VidgenError` into the JSON error
body; these subclasses say which 4xx status it gets (any other VidgenError is
400 bad input, a :class:`~vidgen.errors.LedgerError` 409).
"""

from __future__ import annotations

from typing import Any

from vidgen.errors import VidgenError
from vidgen.rules import Finding

__all__ = ["Conflict", "Forbidden", "NotFound", "Rejected", "StudioError", "TooLarge"]


class StudioError(VidgenError):
    """A request the studio refuses; ``status`` is the HTTP status it answers with."""

    status = 400


class Forbidden(StudioError):
    """A path that would leave the served folder, or one the studio never serves."""

    status = 403


class NotFound(StudioError):
    """An unknown batch, shot or file."""

    status = 404


class Conflict(StudioError):
    """The request clashes with the current state (a running worker, an existing batch)."""

    status = 409


class Rejected(StudioError):
    """Input that fails vidgen's rules; the findings say why and nothing was written."""

    status = 422

    def __init__(self, message: str, findings: list[Finding], **context: Any) -> None:
        super().__init__(message, **context)
        self.findings = findings


class TooLarge(StudioError):
    """An upload over the size limit."""

    status = 413
