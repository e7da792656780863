"""Automatic video quality checks; see :mod:`vidgen.qc.base`."""

from vidgen.qc.base import (
    CheckResult,
    QCCheck,
    QCContext,
    QCReport,
    available_checks,
    register_check,
    run_checks,
)

__all__ = [
    "CheckResult",
    "QCCheck",
    "QCContext",
    "QCReport",
    "available_checks",
    "register_check",
    "run_checks",
]
