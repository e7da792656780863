"""Imports every built-in check module: importing one registers its checks."""

from vidgen.qc import (  # noqa: F401
    brightness,
    colour,
    fidelity,
    flashes,
    motion_degree,
    ssim,
    temporal,
    variance,
)
