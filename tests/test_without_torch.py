"""Without the `torch` extra: the core works, and what needs torch says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    for name in ("torch", "diffusers", "transformers"):
        sys.modules[name] = None  # as if not installed: importing them raises ImportError

    import numpy as np
    from vidgen.backends.base import GenerationRequest, create_backend
    from vidgen.config import load_config
    from vidgen.errors import BackendUnavailable, ConfigError
    from vidgen.interpolate import create_interpolator
    from vidgen.motion import Motion

    config = load_config(env={}, overrides={"diffusers.model_dir": "models"})
    motion = Motion(motion_type="static", start=(0, 0, 1, 1), end=(0, 0, 1, 1), duration_sec=4)
    request = GenerationRequest(shot_id="s", image=np.zeros((48, 64, 3), np.uint8), prompt="",
                                negative_prompt="", width=64, height=48, num_frames=5, fps=16,
                                steps=None, guidance=None, seed=1, motion=motion,
                                template="wan21_i2v")
    backend = create_backend("diffusers", config)
    try:
        backend.load()
        backend.generate(request)
    except BackendUnavailable as exc:
        print("diffusers:", exc)
    try:
        create_interpolator("rife", config)
    except ConfigError as exc:
        print("rife:", exc)
    frames = [np.full((48, 64, 3), v, np.uint8) for v in (0, 90)]
    print("flow:", len(list(create_interpolator("flow", config).retime(frames, 16, 24))))
    camera = create_backend("camera", config)
    print("camera:", camera.generate(request).num_frames)
    print("torch loaded:", sys.modules["torch"] is not None)
""")


def test_the_core_works_and_torch_users_name_the_extra() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert "vidgen[torch]" in lines["diffusers"] and "torch" in lines["diffusers"]
    assert "vidgen[torch]" in lines["rife"] and "interpolate.method" in lines["rife"]
    assert lines["flow"] == "3" and lines["camera"] == "5"
    assert lines["torch loaded"] == "False"
