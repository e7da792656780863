"""The public API is explicit and pinned; errors carry their context."""

from __future__ import annotations

import vidgen
from vidgen.errors import ConfigError, ImageError, InputError, MotionError, VidgenError


def test_public_api_is_pinned() -> None:
    assert sorted(vidgen.__all__) == sorted([
        "SETTINGS", "AuditLog", "Backend", "BackendError", "BackendUnavailable",
        "EncodeError", "Ledger", "LedgerError", "RunSummary", "VideoMeta", "create_backend",
        "run_batch", "CompanionError", "CompanionSet", "Config", "ConfigError",
        "CreateReport", "Easing", "Finding", "ImageError", "ImageInfo", "InputError",
        "Manifest", "ManifestError", "Motion", "MotionError", "MotionType",
        "ProtectedPathError", "RuleLimits", "Shot", "ValidationReport", "VidgenError",
        "__version__", "check_motion", "create_batch", "find_companions", "frame_count",
        "load_config", "load_image", "load_manifest", "probe_image", "propose_motion",
        "read_crop_hint", "read_prompt", "read_records", "sample_path", "validate_batch",
    ])
    for name in vidgen.__all__:
        assert getattr(vidgen, name) is not None


def test_one_exception_tree() -> None:
    for cls in (ConfigError, ImageError, MotionError, vidgen.ManifestError,
                vidgen.CompanionError, vidgen.ProtectedPathError):
        assert issubclass(cls, VidgenError)
    assert issubclass(ImageError, InputError) and not issubclass(ConfigError, InputError)


def test_errors_name_item_field_value_limit_and_hint() -> None:
    err = MotionError("too fast", item="a.motion.json", field="end", value=[0, 0, 1, 1],
                      limit="0.2 per second", hint="slow it down")
    assert str(err) == ("a.motion.json: end=[0, 0, 1, 1]: too fast (limit: 0.2 per second)."
                        " slow it down")
    assert err.to_dict() == {
        "error": "MotionError", "message": "too fast", "item": "a.motion.json",
        "field": "end", "value": [0, 0, 1, 1], "limit": "0.2 per second",
        "hint": "slow it down"}
    assert str(VidgenError("plain")) == "plain"
    assert str(ImageError("bad", item="x.png", value=None)) == "x.png: None: bad"
