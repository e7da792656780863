"""The one exception tree of vidgen.

Every error a user can cause or fix is a :class:`VidgenError`; anything else
escaping the library is a bug. Each error carries the context a person needs
to act: the item (a file, a shot id), the field, the offending value, the
limit it broke and, where we know it, how to fix it::

    VidgenError
     +-- ConfigError            a setting, vidgen.toml or VIDGEN_* variable is wrong
     +-- InputError             input that cannot be used as it is
     |    +-- ImageError        unreadable, corrupt, too large or unsupported image
     |    +-- CompanionError    unreadable companion file (.yaml, .decision)
     |    +-- MotionError       malformed or impossible motion description
     |    +-- ManifestError     batch manifest: schema, paths, hashes, missing files
     +-- ProtectedPathError     a write aimed at a protected source folder
     +-- BackendError           a model backend failed on one shot (the rest goes on)
     |    +-- BackendUnavailable  a backend's optional dependency or server is missing
     |    +-- OutOfMemory         the GPU ran out of memory on one shot
     +-- EncodeError            encoding failed, or the output did not decode as promised
     +-- LedgerError            the job ledger cannot be opened or is inconsistent

Foreign errors (OSError, yaml, pydantic, PIL) are translated at the boundary
with ``raise ... from exc`` so the original stays attached.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "CompanionError",
    "ConfigError",
    "EncodeError",
    "ImageError",
    "InputError",
    "LedgerError",
    "ManifestError",
    "MotionError",
    "OutOfMemory",
    "ProtectedPathError",
    "VidgenError",
]

_UNSET: Any = object()


class VidgenError(Exception):
    """Base class: a problem the user can understand and fix.

    Args:
        message: What is wrong, in plain words.
        item: The thing it is wrong with (a path, a shot id, a setting).
        field: The field inside the item, if any.
        value: The offending value, if any.
        limit: The limit or expectation the value broke, if any.
        hint: How to fix it, if we know.
    """

    def __init__(
        self,
        message: str,
        *,
        item: object = None,
        field: str | None = None,
        value: Any = _UNSET,
        limit: object = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.item = None if item is None else str(item)
        self.field = field
        self.value = None if value is _UNSET else value
        self.has_value = value is not _UNSET
        self.limit = limit
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(
            part
            for part in (
                self.item,
                (f"{self.field}={self.value!r}" if self.has_value else self.field)
                if self.field
                else (repr(self.value) if self.has_value else None),
            )
            if part
        )
        text = f"{where}: {self.message}" if where else self.message
        if self.limit is not None:
            text += f" (limit: {self.limit})"
        if self.hint:
            text += f". {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for reports and the ledger."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "item": self.item,
            "field": self.field,
            "value": self.value if self.has_value else None,
            "limit": None if self.limit is None else str(self.limit),
            "hint": self.hint,
        }


class ConfigError(VidgenError):
    """A setting has an unknown name, a wrong type or a value out of range."""


class InputError(VidgenError):
    """Input that cannot be used as it is; the rest of a batch goes on."""


class ImageError(InputError):
    """An image that cannot be read safely: corrupt, truncated, too large, not an image."""


class CompanionError(InputError):
    """A companion file (.yaml, .caption, .decision) that cannot be read."""


class MotionError(InputError):
    """A motion description that is malformed or cannot be rendered."""


class ManifestError(InputError):
    """A batch manifest that breaks its schema, its paths, its hashes or its files."""


class ProtectedPathError(VidgenError):
    """vidgen was asked to write inside a protected source folder."""


class BackendError(VidgenError):
    """A model backend failed on one shot; the shot fails, the batch goes on."""


class BackendUnavailable(BackendError):
    """A backend cannot be used here: an optional dependency, a server or weights are missing."""


class OutOfMemory(BackendError):
    """The GPU ran out of memory on this shot; memory was freed and the batch goes on."""


class EncodeError(VidgenError):
    """Encoding failed, or the written video did not decode with the promised frames."""


class LedgerError(VidgenError):
    """The job ledger cannot be opened, or a state change breaks its rules."""
