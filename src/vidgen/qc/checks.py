"""Imports every built-in check module: importing one registers its checks."""

from vidgen.qc import (  # noqa: F401
    brightness,
    colour,
    cuts,
    fidelity,
    flashes,
    motion_degree,
    sharpness,
    ssim,
    temporal,
    variance,
)
