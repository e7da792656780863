"""vidgen: curated still keyframes to short videos at batch scale.

The public API; everything else is internal and may change.
"""

from vidgen._version import __version__
from vidgen.audit import AuditLog, read_records
from vidgen.backends import Backend, create_backend
from vidgen.batch import CreateReport, create_batch
from vidgen.companions import CompanionSet, find_companions, read_crop_hint, read_prompt
from vidgen.config import SETTINGS, Config, load_config
from vidgen.errors import (
    BackendError,
    BackendUnavailable,
    CompanionError,
    ConfigError,
    EncodeError,
    ImageError,
    InputError,
    LedgerError,
    ManifestError,
    MotionError,
    ProtectedPathError,
    VidgenError,
)
from vidgen.ledger import Ledger
from vidgen.manifest import Manifest, Shot, ValidationReport, load_manifest, validate_batch
from vidgen.media import ImageInfo, load_image, probe_image
from vidgen.meta import VideoMeta
from vidgen.motion import Easing, Motion, MotionType, frame_count, propose_motion, sample_path
from vidgen.rules import Finding, RuleLimits, check_motion
from vidgen.worker import RunSummary, run_batch

__all__ = [
    "SETTINGS",
    "AuditLog",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "CompanionError",
    "CompanionSet",
    "Config",
    "ConfigError",
    "CreateReport",
    "Easing",
    "EncodeError",
    "Finding",
    "ImageError",
    "ImageInfo",
    "InputError",
    "Ledger",
    "LedgerError",
    "Manifest",
    "ManifestError",
    "Motion",
    "MotionError",
    "MotionType",
    "ProtectedPathError",
    "RuleLimits",
    "RunSummary",
    "Shot",
    "ValidationReport",
    "VideoMeta",
    "VidgenError",
    "__version__",
    "check_motion",
    "create_backend",
    "create_batch",
    "find_companions",
    "frame_count",
    "load_config",
    "load_image",
    "load_manifest",
    "probe_image",
    "propose_motion",
    "read_crop_hint",
    "read_prompt",
    "read_records",
    "run_batch",
    "sample_path",
    "validate_batch",
]
