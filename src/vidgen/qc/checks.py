"""Imports every built-in check module: importing one registers its checks."""

from vidgen.qc import brightness, fidelity, flashes, ssim, variance  # noqa: F401
