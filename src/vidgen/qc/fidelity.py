"""First-frame fidelity: does the video start on the keyframe it was made from?

Definitions:

- **Reference**: the keyframe cropped to the motion's start rectangle exactly
  as the camera renders it (:class:`vidgen.backends.camera.CropRenderer` at the
  video's size, the rectangle from :func:`vidgen.motion.sample_path`), then
  taken through the same analysis copy as every decoded frame (area downscale
  to at most ``qc.analysis_height`` lines, Rec. 709 luma). A camera render's
  frame 0 *is* this reference before encoding, so what separates the two is
  the encoder's loss alone; a model that ignores its input image, shifts the
  colours or softens the first frame moves away from it.
- **SSIM**: mean SSIM (:func:`vidgen.qc.ssim.ssim`, Wang 2004, 11 x 11 Gaussian
  window of sigma 1.5) of the two luma images; None (not judged) for frames
  smaller than the window.
- **PSNR**: ``10 log10(255^2 / MSE)``, the mean squared error taken over the
  three 8-bit RGB channels of the analysis copies, so colour shifts count;
  identical images read :data:`PSNR_CAP` (100 dB) rather than infinity.
- **Delta E**: CIE76 distance between the mean CIELAB colours (sRGB, D65) of
  the two analysis copies; about 2.3 is just noticeable. Reported, not judged
  (the colour-drift check judges colour).
- **Luma offset**: mean luma of frame 0 less the reference's (8-bit levels).

Verdict: **fail** when SSIM is below ``qc.fidelity_ssim_min`` (default 0.5)
or PSNR below ``qc.fidelity_psnr_min`` (default 20 dB), else pass. Both are
measured at the analysis size (360 lines by default), not at the output size.
Without a keyframe and motion in the context (a video that is not a vidgen
shot) the check passes with a "skipped" reason.

Calibration on the bundled samples (camera renders, H.264 crf 20 and back):
good first frames score SSIM 0.90-0.996 and PSNR 31-43 dB (the lower ends at
small sizes, where the analysis copy is the frame itself and no downscale
hides the codec's loss; 720-line outputs score 0.97+ and 36+ dB); a first
frame from another image scores at most 0.37 and 11 dB; one 30 levels brighter
18.8-19.2 dB (Delta E 10-13); a Gaussian blur of sigma 4 pixels 0.66-0.89 and
23-32 dB. 20 dB is an RMS error of 25.5 levels, a tenth of the range.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from vidgen.backends.camera import CropRenderer
from vidgen.motion import sample_path
from vidgen.qc.base import CheckResult, Frame, QCCheck, QCContext, register_check
from vidgen.qc.ssim import SSIM, WINDOW

__all__ = ["PSNR_CAP", "FirstFrameFidelity", "mean_lab", "psnr"]

#: PSNR reported for identical images, dB.
PSNR_CAP = 100.0


def psnr(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """PSNR in dB of two 8-bit images of one shape (peak 255), at most :data:`PSNR_CAP`."""
    diff = a.astype(np.float32) - b.astype(np.float32)
    mse = float(np.mean(diff * diff, dtype=np.float64))
    if mse == 0.0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(255.0**2 / mse))


def mean_lab(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Mean CIELAB colour (L* 0-100, a*, b*) of an 8-bit sRGB image, D65 white."""
    lab = cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    return np.asarray(lab.reshape(-1, 3).mean(axis=0, dtype=np.float64))


@register_check
class FirstFrameFidelity(QCCheck):
    """Frame 0 against the keyframe's start crop (see the module's definitions)."""

    name = "first_frame_fidelity"

    def __init__(self, config: Any, context: QCContext) -> None:
        super().__init__(config, context)
        self.ssim_min = float(config["qc.fidelity_ssim_min"])
        self.psnr_min = float(config["qc.fidelity_psnr_min"])
        self.values: dict[str, Any] | None = None

    def reference(self, frame: Frame) -> Frame:
        """The start crop rendered at ``frame``'s size, as a frame of the same context."""
        keyframe, motion = self.context.keyframe, self.context.motion
        assert keyframe is not None and motion is not None
        height, width = keyframe.shape[:2]
        rect = sample_path(motion, (width, height), 1)[0]
        size = (frame.rgb.shape[1], frame.rgb.shape[0])
        return Frame(CropRenderer(keyframe, size).render(rect), 0, frame.context)

    def update(self, frame: Frame) -> None:
        if self.values is not None or self.context.keyframe is None \
                or self.context.motion is None:
            return
        ref = self.reference(frame)
        small, gray = frame.small, frame.gray
        width, height = gray.shape[1], gray.shape[0]
        score = SSIM(width, height)(gray, ref.gray) if min(width, height) >= WINDOW else None
        self.values = {
            "ssim": None if score is None else round(score, 4),
            "psnr": round(psnr(small, ref.small), 2),
            "delta_e": round(float(np.linalg.norm(mean_lab(small) - mean_lab(ref.small))), 2),
            "luma_offset": round(float(gray.mean()) - float(ref.gray.mean()), 2),
            "frame": frame.index,
            "analysis_size": [width, height],
        }

    def finish(self) -> CheckResult:
        limits = {"ssim_min": self.ssim_min, "psnr_min": self.psnr_min}
        if self.context.keyframe is None or self.context.motion is None:
            return CheckResult(self.name, "pass", limits,
                               ["skipped: no keyframe/motion to compare the first frame with"])
        if self.values is None:
            return CheckResult(self.name, "pass", limits, ["skipped: the video has no frames"])
        values = {**self.values, **limits}
        reasons: list[str] = []
        if values["ssim"] is not None and values["ssim"] < self.ssim_min:
            reasons.append(f"the first frame does not look like the keyframe's start crop: "
                           f"SSIM {values['ssim']:.3f}, below {self.ssim_min:g}")
        if values["psnr"] < self.psnr_min:
            reasons.append(f"the first frame departs from the keyframe's start crop: "
                           f"PSNR {values['psnr']:.1f} dB, below {self.psnr_min:g} dB "
                           f"(mean colour Delta E {values['delta_e']:.1f}, luma offset "
                           f"{values['luma_offset']:+.1f})")
        if reasons:
            return CheckResult(self.name, "fail", values, reasons, [values["frame"]])
        return CheckResult(self.name, "pass", values)
