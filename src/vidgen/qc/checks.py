"""Imports every built-in check module: importing one registers its checks."""

from vidgen.qc import brightness, flashes, variance  # noqa: F401
