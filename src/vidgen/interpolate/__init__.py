"""Frame retiming; see :mod:`vidgen.interpolate.base`."""

from vidgen.interpolate.base import (
    Interpolator,
    create_interpolator,
    register_interpolator,
    retime_plan,
)

__all__ = ["Interpolator", "create_interpolator", "register_interpolator", "retime_plan"]
