"""RIFE interpolation: the Practical-RIFE 4.25 / 4.26 IFNet in PyTorch, batched for retiming.

The network (:class:`IFNet`) is a coarse-to-fine optical-flow estimator that
predicts, for a timestep ``t``, where every output pixel comes from in each of
the two input frames, plus a soft mask that mixes the two warped frames:

* ``encode`` (:class:`Head`): conv 3->16 stride 2, two conv 16->16, transposed
  conv 16->4 back to full size: 4 feature channels per frame (16 for
  ``4.26.large``).
* ``block0`` .. ``block4`` (:class:`IFBlock`), widths 192/128/96/64/32, each
  working at ``[16, 8, 4, 2, 1] / scale`` times below the frame size
  (``4.25.lite``: widths 192/128/96/64/24 at ``[32, 16, 8, 4, 1]``). A block
  resizes its input, halves it twice with two stride-2 convs, runs 8 residual
  convs (each with a learned per-channel ``beta``), then a transposed conv to
  52 channels and ``PixelShuffle(2)`` give 13 channels back at the block's size:
  4 flow (two 2-D flows, frame 0 and frame 1), 1 mask logit, 8 features that
  the next block reads. ``block0`` sees both frames, both feature maps and the
  timestep plane; later blocks see the frames and features warped by the flow
  so far, the timestep, the mask, the previous block's features and the flow,
  and add a flow correction.
* Output: ``sigmoid(mask) * warp(img0, flow0) + (1 - sigmoid(mask)) *
  warp(img1, flow1)``; a backward warp samples bilinearly with edge clamping
  (in fp32 whatever the network's precision). There is no refinement network
  (removed in v4.5).

The timestep is a constant plane concatenated into every block, one value per
sample, so one network call covers many (pair, ``t``) jobs of a retiming. Inputs
are padded to a multiple of ``max(64, 64 / scale)`` (128 for ``4.25.lite``) and
cropped back.

Weights: ``flownet.pkl`` from a Practical-RIFE release (MIT), which users get
from the links in that project's README; vidgen never downloads it. The file is
a ``torch.save``-d state dict whose keys carry a ``module.`` prefix and, in some
releases, training-only ``teacher.*`` and ``caltime.*`` entries.
:func:`load_ifnet` strips the prefix, drops exactly those extras, and loads
strictly: anything else missing, unexpected or mis-shaped is a
:class:`~vidgen.errors.ConfigError` (the official loader's non-strict load
silently keeps random weights instead). The version is read from the tensor
shapes unless named; 4.25 and 4.26 share one layout.

:class:`RifeInterpolator` (``interpolate.method = "rife"``) keeps one network
resident per process (shots create a new interpolator each; the loaded network
is cached by file, device and dtype), honours ``interpolate.device``,
``interpolate.precision``, ``interpolate.batch`` and ``interpolate.rife_scale``,
and retimes in batches: every output frame with ``t > 0`` becomes a job, jobs
run ``interpolate.batch`` at a time in output order, source frames are passed
through untouched where ``t == 0``, and frames are yielded lazily so at most one
batch of results is held.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidgen.devices import resolve_device
from vidgen.errors import ConfigError
from vidgen.interpolate.base import Frame, Interpolator, register_interpolator, retime_plan

__all__ = [
    "KNOWN_EXTRA_PREFIXES",
    "SPECS",
    "IFNet",
    "IFNetSpec",
    "RifeInterpolator",
    "detect_version",
    "load_ifnet",
    "random_ifnet",
    "release_networks",
    "resolve_dtype",
    "warp",
]

logger = logging.getLogger(__name__)

WEIGHTS_FIELD = "interpolate.rife_weights"
WEIGHTS_HINT = (
    "set interpolate.rife_weights to the flownet.pkl of a Practical-RIFE 4.25 or 4.26 release "
    "(download links in the README of github.com/hzwer/Practical-RIFE, MIT licence; "
    "vidgen never downloads weights)"
)
#: Key prefixes (after ``module.`` is stripped) of training-only modules some releases ship.
KNOWN_EXTRA_PREFIXES = ("teacher.", "caltime.")
#: ``interpolate.rife_scale`` values the network supports (the official ones).
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
_PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_LIST_AT_MOST = 5


@dataclass(frozen=True)
class IFNetSpec:
    """The shape of one IFNet release.

    Attributes:
        version: Release name, e.g. ``"4.25"``.
        widths: Channels of the five blocks.
        scales: Downscale factor of each block at ``scale = 1``.
        features: Channels of the encoder's output per frame.
        pad: Inputs are padded to a multiple of ``max(pad, pad / scale)``.
    """

    version: str
    widths: tuple[int, int, int, int, int]
    scales: tuple[float, float, float, float, float]
    features: int
    pad: int

    def pad_multiple(self, scale: float = 1.0) -> int:
        """The multiple height and width must be padded to at this flow scale."""
        return max(self.pad, int(self.pad / scale))


_STANDARD = ((192, 128, 96, 64, 32), (16.0, 8.0, 4.0, 2.0, 1.0))
#: Supported releases. 4.25 and 4.26 share a layout (detection reports "4.25").
SPECS: dict[str, IFNetSpec] = {
    "4.25": IFNetSpec("4.25", *_STANDARD, features=4, pad=64),
    "4.26": IFNetSpec("4.26", *_STANDARD, features=4, pad=64),
    "4.25.lite": IFNetSpec("4.25.lite", (192, 128, 96, 64, 24), (32.0, 16.0, 8.0, 4.0, 1.0),
                           features=4, pad=128),
    "4.26.large": IFNetSpec("4.26.large", *_STANDARD, features=16, pad=64),
}


def _spec(version: str) -> IFNetSpec:
    try:
        return SPECS[version]
    except KeyError:
        raise ValueError(f"unknown IFNet version {version!r}; known: {', '.join(SPECS)}") from None


# --------------------------------------------------------------------------- the network


def _conv_unit(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 conv + LeakyReLU(0.2); its parameters are ``0.weight`` and ``0.bias``."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1),
                         nn.LeakyReLU(0.2, inplace=True))


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: ``out[y, x] = image[y + flow_y, x + flow_x]``.

    Bilinear sampling with edge clamping, pixel centres at the corners of the
    normalised grid (``align_corners=True``), as RIFE was trained. The grid and
    the sampling are fp32 whatever the network's dtype: in fp16 a normalised
    coordinate near 1 is only good to about 1/1000, a pixel or more at 2K.

    Args:
        image: ``(N, C, H, W)``.
        flow: ``(N, 2, H, W)`` in pixels, x then y.

    Returns:
        ``(N, C, H, W)``, the dtype of ``image``.
    """
    h, w = flow.shape[2:]
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device)
    base = torch.stack((xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)), dim=-1)
    per_pixel = torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], device=flow.device)
    grid = base.unsqueeze(0) + flow.float().permute(0, 2, 3, 1) * per_pixel
    out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border",
                        align_corners=True)
    return out.to(image.dtype)


class Head(nn.Module):
    """The per-frame feature encoder (``encode.cnn0`` .. ``encode.cnn3``)."""

    def __init__(self, features: int = 4) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, features, 4, 2, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.cnn0(image), 0.2)
        x = F.leaky_relu(self.cnn1(x), 0.2)
        x = F.leaky_relu(self.cnn2(x), 0.2)
        out: torch.Tensor = self.cnn3(x)
        return out


class ResConv(nn.Module):
    """``leaky_relu(conv(x) * beta + x)``: a residual 3x3 conv with a learned channel gain."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, channels, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class IFBlock(nn.Module):
    """One flow level: ``conv0`` (two stride-2 convs), ``convblock`` (8 x ResConv), ``lastconv``.

    Args:
        in_channels: Channels of the input, the flow (4) included for later blocks.
        width: Channels inside the block.
    """

    #: Channels a block predicts: 4 flow, 1 mask logit, 8 features for the next block.
    OUT = 13

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_unit(in_channels, width // 2, 2),
                                   _conv_unit(width // 2, width, 2))
        self.convblock = nn.Sequential(*(ResConv(width) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, 4 * self.OUT, 4, 2, 1),
                                      nn.PixelShuffle(2))

    def forward(self, parts: Sequence[torch.Tensor], flow: torch.Tensor | None,
                scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flow (pixels at full size), mask logit and features, all at the input's size.

        Args:
            parts: The input's channel groups, in order (resized one by one, which is
                the same as resizing them concatenated and spares a full-size copy).
            flow: The flow so far (later blocks), appended after resizing.
            scale: How many times smaller than the input this block works.
        """
        pieces = list(parts) if flow is None else [*parts, flow]
        if scale != 1.0:  # bilinear resizing at factor 1 is the identity
            pieces = [F.interpolate(p, scale_factor=1.0 / scale, mode="bilinear",
                                    align_corners=False) for p in pieces]
            if flow is not None:
                pieces[-1] = pieces[-1] / scale
        out: torch.Tensor = self.lastconv(self.convblock(self.conv0(torch.cat(pieces, 1))))
        if scale != 1.0:
            out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


class IFNet(nn.Module):
    """The Practical-RIFE IFNet; state-dict keys match the official ``flownet.pkl``.

    Keys (158 tensors for 4.25/4.26): ``encode.cnn{0..3}.{weight,bias}`` and, for
    ``k`` in 0..4, ``block{k}.conv0.{0,1}.0.{weight,bias}``,
    ``block{k}.convblock.{0..7}.{beta,conv.weight,conv.bias}``,
    ``block{k}.lastconv.0.{weight,bias}``.

    Args:
        version: A key of :data:`SPECS`.
    """

    def __init__(self, version: str = "4.25") -> None:
        super().__init__()
        self.spec = _spec(version)
        feats = self.spec.features
        first = 3 + 3 + feats + feats + 1  # both frames, both features, timestep
        later = first + 1 + (IFBlock.OUT - 5) + 4  # + mask, block features, flow
        widths = self.spec.widths
        self.block0 = IFBlock(first, widths[0])
        self.block1 = IFBlock(later, widths[1])
        self.block2 = IFBlock(later, widths[2])
        self.block3 = IFBlock(later, widths[3])
        self.block4 = IFBlock(later, widths[4])
        self.encode = Head(feats)

    @property
    def version(self) -> str:
        return self.spec.version

    def pad_multiple(self, scale: float = 1.0) -> int:
        """Height and width given to :meth:`forward` must be multiples of this."""
        return self.spec.pad_multiple(scale)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor,
                timestep: torch.Tensor | float = 0.5, scale: float = 1.0) -> torch.Tensor:
        """The frames at ``timestep`` between ``img0`` (t=0) and ``img1`` (t=1).

        Args:
            img0: ``(N, 3, H, W)`` RGB in [0, 1]; H and W multiples of :meth:`pad_multiple`.
            img1: Like ``img0``.
            timestep: A number, or one value per sample: shape ``(N,)``, ``(N, 1, 1, 1)``
                or a full plane ``(N, 1, H, W)``.
            scale: Flow scale (0.5 for 4K); one of 0.25, 0.5, 1, 2, 4.

        Returns:
            ``(N, 3, H, W)`` in [0, 1].
        """
        if img0.shape != img1.shape or img0.ndim != 4 or img0.shape[1] != 3:
            raise ValueError(f"expected two (N, 3, H, W) batches, got {tuple(img0.shape)} "
                             f"and {tuple(img1.shape)}")
        n, _, h, w = img0.shape
        multiple = self.pad_multiple(scale)
        if h % multiple or w % multiple:
            raise ValueError(f"height and width must be multiples of {multiple} at scale "
                             f"{scale}; got {h}x{w} (pad first)")
        plane = _time_plane(timestep, n, h, w, img0)
        img0 = img0.clamp(0.0, 1.0)
        img1 = img1.clamp(0.0, 1.0)
        f0: torch.Tensor = self.encode(img0)
        f1: torch.Tensor = self.encode(img1)
        levels = [level / scale for level in self.spec.scales]
        flow, mask, feat = self.block0((img0, img1, f0, f1, plane), None, levels[0])
        # A frame and its features always move with the same flow: warp them together.
        source0 = torch.cat((img0, f0), 1)
        source1 = torch.cat((img1, f1), 1)
        moved0 = warp(source0, flow[:, :2])
        moved1 = warp(source1, flow[:, 2:4])
        later = (self.block1, self.block2, self.block3, self.block4)
        for block, level in zip(later, levels[1:], strict=True):
            parts = (moved0[:, :3], moved1[:, :3], moved0[:, 3:], moved1[:, 3:], plane, mask, feat)
            delta, mask, feat = block(parts, flow, level)
            flow = flow + delta
            moved0 = warp(source0, flow[:, :2])
            moved1 = warp(source1, flow[:, 2:4])
        warped0, warped1 = moved0[:, :3], moved1[:, :3]
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1.0 - weight)


def _time_plane(timestep: torch.Tensor | float, n: int, h: int, w: int,
                like: torch.Tensor) -> torch.Tensor:
    if not isinstance(timestep, torch.Tensor):
        return torch.full((n, 1, h, w), float(timestep), dtype=like.dtype, device=like.device)
    t = timestep.to(device=like.device, dtype=like.dtype)
    if t.numel() == n:
        return t.reshape(n, 1, 1, 1).expand(n, 1, h, w)
    if t.shape == (n, 1, h, w):
        return t
    raise ValueError(f"timestep of shape {tuple(t.shape)} does not fit a batch of {n} at "
                     f"{h}x{w}: use (N,), (N, 1, 1, 1) or (N, 1, H, W)")


def random_ifnet(version: str = "4.25", seed: int = 0) -> IFNet:
    """An IFNet with PyTorch's default initialisation from ``seed`` (tests, benchmarks).

    The global random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return IFNet(version).eval()


# --------------------------------------------------------------------------- loading


def detect_version(state: Mapping[str, Any]) -> str | None:
    """The :data:`SPECS` key whose shapes fit a (prefix-free) state dict, or ``None``.

    Reads the encoder's output channels and the last block's width; 4.25 and 4.26
    share a layout and are reported as ``"4.25"``.
    """
    head = state.get("encode.cnn3.weight")
    last = state.get("block4.conv0.1.0.weight")
    if not isinstance(head, torch.Tensor) or not isinstance(last, torch.Tensor):
        return None
    if head.ndim != 4 or last.ndim != 4:
        return None
    for name, spec in SPECS.items():
        if spec.features == head.shape[1] and spec.widths[-1] == last.shape[0]:
            return name
    return None


def _listing(what: str, items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LIST_AT_MOST])
    more = f", ... {len(items) - _LIST_AT_MOST} more" if len(items) > _LIST_AT_MOST else ""
    return f"{len(items)} {what} ({shown}{more})"


def _plain_state(raw: object, path: Path) -> dict[str, Any]:
    """Keys without ``module.``, training-only extras dropped; values as stored."""
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
        raise ConfigError(f"not a state dict (a {type(raw).__name__})", field=WEIGHTS_FIELD,
                          value=str(path), hint=WEIGHTS_HINT)
    state: dict[str, Any] = {}
    dropped = 0
    for key, value in raw.items():
        name = key.removeprefix("module.")
        if name.startswith(KNOWN_EXTRA_PREFIXES):
            dropped += 1
            continue
        if name in state:
            raise ConfigError(f"key {name!r} appears with and without the 'module.' prefix",
                              field=WEIGHTS_FIELD, value=str(path), hint=WEIGHTS_HINT)
        state[name] = value
    if dropped:
        logger.debug("%s: ignored %d training-only tensors (%s)", path, dropped,
                     ", ".join(p + "*" for p in KNOWN_EXTRA_PREFIXES))
    return state


def load_ifnet(path: str | Path, version: str = "auto", *, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> IFNet:
    """Load an official ``flownet.pkl`` strictly.

    Args:
        path: The weights file (a state dict, keys with or without ``module.``).
        version: A key of :data:`SPECS`, or ``"auto"`` to read it from the shapes.
        device: Where the network goes.
        dtype: The network's parameter dtype.

    Returns:
        The network in eval mode, gradients off.

    Raises:
        ConfigError: (field ``interpolate.rife_weights``) the file is missing or
            unreadable, or its tensors do not match the network exactly.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("RIFE weights file not found", field=WEIGHTS_FIELD, value=str(file),
                          hint=WEIGHTS_HINT)
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many kinds (pickle, zip, OS, runtime)
        raise ConfigError(f"cannot read RIFE weights: {exc}", field=WEIGHTS_FIELD,
                          value=str(file), hint=WEIGHTS_HINT) from exc
    state = _plain_state(raw, file)
    detected = detect_version(state)
    chosen = (detected or "4.25") if version == "auto" else version
    network = IFNet(chosen)
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k, v in state.items()
                  if k not in expected or not isinstance(v, torch.Tensor)]
    mismatched = [f"{k} {tuple(v.shape)} in file, {tuple(expected[k].shape)} expected"
                  for k, v in state.items()
                  if k in expected and isinstance(v, torch.Tensor) and v.shape != expected[k].shape]
    if missing or unexpected or mismatched:
        problems = "; ".join(
            _listing(what, items) for what, items in (
                ("missing keys", missing), ("unexpected keys", unexpected),
                ("shape mismatches", mismatched)) if items)
        hint = WEIGHTS_HINT
        if detected and detected != chosen:
            hint = f"the shapes look like version {detected}; " + hint
        raise ConfigError(f"not a RIFE {chosen} flownet.pkl: {problems}", field=WEIGHTS_FIELD,
                          value=str(file), hint=hint)
    broken = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
    if broken:
        raise ConfigError(f"NaN or infinite values in {_listing('tensors', broken)}",
                          field=WEIGHTS_FIELD, value=str(file), hint=WEIGHTS_HINT)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a non-floating tensor where a weight belongs
        raise ConfigError(f"cannot load RIFE weights: {exc}", field=WEIGHTS_FIELD,
                          value=str(file), hint=WEIGHTS_HINT) from exc
    network.requires_grad_(False)
    logger.info("loaded RIFE %s weights from %s", chosen, file)
    return network.to(device=device, dtype=dtype).eval()


_CACHE_LOCK = threading.Lock()
#: The one resident network: (file, mtime, size, device, dtype) -> network.
_CACHE: dict[tuple[str, int, int, str, str], IFNet] = {}


def _cached_network(path: Path, device: torch.device, dtype: torch.dtype) -> IFNet:
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(device), str(dtype))
    except OSError:
        return load_ifnet(path, device=device, dtype=dtype)  # reports the missing file
    with _CACHE_LOCK:
        network = _CACHE.get(key)
        if network is None:
            _CACHE.clear()  # keep one network resident, not one per setting ever used
            network = _CACHE[key] = load_ifnet(path, device=device, dtype=dtype)
        return network


def release_networks() -> None:
    """Drop the resident network (frees its memory once no interpolator holds it)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# --------------------------------------------------------------------------- settings


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``interpolate.precision`` on ``device``: auto = fp16 on CUDA, fp32 elsewhere.

    fp16 and bf16 on the CPU run as fp32 (slow and poorly supported there), with a
    logged note.
    """
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision not in _PRECISIONS:
        raise ConfigError("not one of the choices", field="interpolate.precision",
                          value=precision, limit="auto, " + ", ".join(_PRECISIONS))
    if device.type == "cpu" and precision != "fp32":
        logger.warning("interpolate.precision=%s is not used on the CPU; RIFE runs in fp32",
                       precision)
        return torch.float32
    return _PRECISIONS[precision]


def _check_scale(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or float(value) not in SCALES:
        raise ConfigError("unsupported RIFE flow scale", field="interpolate.rife_scale",
                          value=value, limit=", ".join(f"{s:g}" for s in SCALES),
                          hint="0.5 suits 4K input, 1 up to 1080p")
    return float(value)


def _check_batch(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("expected a whole number >= 1", field="interpolate.batch", value=value)
    return value


# --------------------------------------------------------------------------- the interpolator


@register_interpolator
class RifeInterpolator(Interpolator):
    """Interpolates with a RIFE IFNet; see the module docstring.

    Args:
        config: Settings (``interpolate.*``); missing names take their defaults.
        network: Use this network instead of loading ``interpolate.rife_weights``
            (benchmarks, tests); it is moved to the configured device and dtype.

    Raises:
        ConfigError: a setting is unusable: no weights configured or the file is
            missing, an unknown device, a flow scale the network cannot run.
    """

    name = "rife"

    def __init__(self, config: Mapping[str, Any] | None = None, *,
                 network: IFNet | None = None) -> None:
        super().__init__(config)
        self.device = resolve_device(self._setting("interpolate.device", "auto"),
                                     field="interpolate.device", error=ConfigError)
        self.dtype = resolve_dtype(self._setting("interpolate.precision", "auto"), self.device)
        self.batch = _check_batch(self._setting("interpolate.batch", 8))
        self.scale = _check_scale(self._setting("interpolate.rife_scale", 1.0))
        self.weights: Path | None = None
        self._network: IFNet | None = None
        if network is not None:
            network.requires_grad_(False)
            self._network = network.to(device=self.device, dtype=self.dtype).eval()
            return
        weights = str(self._setting(WEIGHTS_FIELD, "")).strip()
        if not weights:
            raise ConfigError("no RIFE weights configured", field=WEIGHTS_FIELD, value=weights,
                              hint=WEIGHTS_HINT)
        self.weights = Path(weights).expanduser()
        if not self.weights.is_file():
            raise ConfigError("RIFE weights file not found", field=WEIGHTS_FIELD,
                              value=str(self.weights), hint=WEIGHTS_HINT)

    def _setting(self, name: str, default: Any) -> Any:
        try:
            return self.config[name]
        except (KeyError, ConfigError):  # a plain mapping without it; Config raises ConfigError
            return default

    @property
    def precision(self) -> str:
        """The precision actually used: fp32, fp16 or bf16."""
        return next(k for k, v in _PRECISIONS.items() if v == self.dtype)

    @property
    def network(self) -> IFNet:
        """The network, loaded on first use and shared by interpolators with the same file."""
        if self._network is None:
            assert self.weights is not None
            self._network = _cached_network(self.weights, self.device, self.dtype)
        return self._network

    def between(self, a: Frame, b: Frame, t: float) -> Frame:
        return self._run([a, b], [(0, t)])[0]

    def retime(self, frames: Sequence[Frame], src_fps: float, dst_fps: float) -> Iterator[Frame]:
        """Every output frame, lazily; the network runs ``interpolate.batch`` jobs at a time."""
        plan = retime_plan(len(frames), src_fps, dst_fps)
        jobs = [(k, index, t) for k, (index, t) in enumerate(plan) if t != 0.0]
        ready: dict[int, Frame] = {}
        cursor = 0
        for k, (index, t) in enumerate(plan):
            if t == 0.0:
                yield frames[index]
                continue
            if k not in ready:
                chunk = jobs[cursor:cursor + self.batch]
                cursor += len(chunk)
                made = self._run(frames, [(i, tt) for _, i, tt in chunk])
                ready.update(zip((kk for kk, _, _ in chunk), made, strict=True))
            yield ready.pop(k)

    def _run(self, frames: Sequence[Frame], jobs: Sequence[tuple[int, float]]) -> list[Frame]:
        """One network call: for each job ``(i, t)``, the frame at ``t`` after ``frames[i]``."""
        needed = sorted({i for i, _ in jobs} | {i + 1 for i, _ in jobs})
        sources = [frames[i] for i in needed]
        height, width = _check_frames(sources)
        slot = {i: k for k, i in enumerate(needed)}
        network = self.network
        multiple = network.pad_multiple(self.scale)
        pad_h = -height % multiple
        pad_w = -width % multiple
        with torch.inference_mode():
            stack = torch.from_numpy(np.stack(sources)).to(self.device)
            images = stack.permute(0, 3, 1, 2).to(self.dtype).div_(255.0)
            if pad_h or pad_w:
                images = F.pad(images, (0, pad_w, 0, pad_h))
            first = torch.tensor([slot[i] for i, _ in jobs], device=self.device)
            second = torch.tensor([slot[i + 1] for i, _ in jobs], device=self.device)
            times = torch.tensor([t for _, t in jobs], device=self.device, dtype=self.dtype)
            out = network(images[first], images[second], times.view(-1, 1, 1, 1), self.scale)
            out = out[:, :, :height, :width].float().clamp_(0.0, 1.0).mul_(255.0).round_()
            pixels = out.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
        return list(pixels)


def _check_frames(frames: Sequence[Frame]) -> tuple[int, int]:
    shape = frames[0].shape
    for frame in frames:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"RIFE takes uint8 RGB frames (H, W, 3); got {frame.dtype} "
                             f"{frame.shape}")
        if frame.shape != shape:
            raise ValueError(f"frames differ in size: {shape} and {frame.shape}")
    return int(shape[0]), int(shape[1])
