"""The base of every file format, and reading one with errors a person can act on.

Each format (motion, manifest, shot, video meta, ...) is a pydantic model
deriving from :class:`Document`: unknown fields are refused, the version
lives in a ``schema`` field (``"vidgen.<kind>/<n>"``), and JSON is written
with the field names of the documentation. :func:`parse_document` turns a
pydantic ``ValidationError`` or a JSON syntax error into the given
:class:`~vidgen.errors.InputError` subclass naming the file, the field, the
value and the reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from vidgen.errors import InputError, VidgenError

__all__ = ["Document", "dump_document", "field_path", "parse_document", "read_document"]

D = TypeVar("D", bound="Document")


class Document(BaseModel):
    """Base class of vidgen's file formats."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, frozen=True,
        allow_inf_nan=False,
    )


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the docs write fields: ``keyframes[2].motion.start``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_document(
    model: type[D], data: bytes | str | dict[str, Any], *, item: object,
    error: type[VidgenError],
) -> D:
    """Validate ``data`` (JSON text, or an already parsed JSON or TOML object) as ``model``.

    Raises:
        error: naming ``item``, the first bad field, its value and the reason; the
            message lists every problem when there are several.
    """
    if not isinstance(data, dict):
        try:
            data = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise error(f"not valid JSON: {exc}", item=item) from exc
        if not isinstance(data, dict):
            raise error(f"expected a JSON object, got {type(data).__name__}", item=item)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        first = problems[0]
        field = field_path(first["loc"]) or None
        message = first["msg"].removeprefix("Value error, ")
        if len(problems) > 1:
            message += "; also " + "; ".join(
                f"{field_path(p['loc'])}: {p['msg']}" for p in problems[1:6]
            )
            if len(problems) > 6:
                message += f"; and {len(problems) - 6} more"
        if first["type"] == "missing" or field is None:  # no value, or the whole document
            raise error(message, item=item, field=field) from exc
        value = first.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        raise error(message, item=item, field=field, value=value) from exc


def read_document(model: type[D], path: Path, *, error: type[InputError]) -> D:
    """Read and validate a JSON document from ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", item=path) from exc
    return parse_document(model, data, item=path, error=error)


def dump_document(doc: Document) -> dict[str, Any]:
    """The JSON-ready form of ``doc``, as written to disk."""
    return doc.model_dump(mode="json", by_alias=True)
