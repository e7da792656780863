"""The RIFE interpolator with randomly initialised networks: layout, loading, retiming."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidgen.config import load_config  # noqa: E402
from vidgen.errors import ConfigError  # noqa: E402
from vidgen.interpolate import create_interpolator, retime_plan  # noqa: E402
from vidgen.interpolate.rife import (  # noqa: E402
    KNOWN_EXTRA_PREFIXES,
    IFNet,
    RifeInterpolator,
    detect_version,
    load_ifnet,
    random_ifnet,
    release_networks,
)

CPU = {"interpolate.device": "cpu", "interpolate.precision": "fp32", "interpolate.batch": 4}


@pytest.fixture(scope="module")
def net() -> IFNet:
    return random_ifnet("4.25", seed=0)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    yield
    release_networks()


def frames(n: int, height: int = 64, width: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smooth frames with a drifting pattern (random noise would be a poor video)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for k in range(n):
        phase = 0.3 * k + seed
        rgb = np.stack([np.sin(x / 7 + phase), np.cos(y / 9 - phase), np.sin((x + y) / 11)], -1)
        out.append(np.clip(127.5 + 120 * rgb, 0, 255).astype(np.uint8))
    return out


def rife(net: IFNet, **settings: Any) -> RifeInterpolator:
    return RifeInterpolator({**CPU, **settings}, network=net)


def save(state: dict[str, Any], path: Path) -> Path:
    torch.save(state, path)
    return path


def test_state_dict_matches_the_official_layout() -> None:
    state = IFNet("4.25").state_dict()
    assert len(state) == 158  # encode 8 + 5 blocks x (conv0 4 + convblock 24 + lastconv 2)
    shapes = {
        "encode.cnn0.weight": (16, 3, 3, 3),
        "encode.cnn3.weight": (16, 4, 4, 4),  # ConvTranspose2d(16 -> 4)
        "block0.conv0.0.0.weight": (96, 15, 3, 3),  # 3 + 3 + 4 + 4 + 1 timestep
        "block0.conv0.1.0.weight": (192, 96, 3, 3),
        "block0.convblock.7.beta": (1, 192, 1, 1),
        "block0.lastconv.0.weight": (192, 52, 4, 4),
        "block1.conv0.0.0.weight": (64, 28, 3, 3),  # + mask 1, features 8, flow 4
        "block4.convblock.0.conv.weight": (32, 32, 3, 3),
        "block4.lastconv.0.bias": (52,),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert IFNet("4.26").state_dict().keys() == state.keys()
    assert IFNet("4.25.lite").state_dict()["block4.conv0.1.0.weight"].shape[0] == 24
    assert IFNet("4.25").pad_multiple(1.0) == 64
    assert IFNet("4.25").pad_multiple(0.5) == 128
    assert IFNet("4.25").pad_multiple(0.25) == 256
    assert IFNet("4.25").pad_multiple(2.0) == 64
    assert IFNet("4.25.lite").pad_multiple(1.0) == 128
    with pytest.raises(ValueError, match="unknown IFNet version"):
        IFNet("9.9")


@pytest.mark.parametrize(("height", "width"), [(70, 50), (97, 130), (64, 64)])
def test_odd_sizes_are_padded_and_cropped_back(net: IFNet, height: int, width: int) -> None:
    a, b = frames(2, height, width)
    out = rife(net).between(a, b, 0.5)
    assert out.shape == (height, width, 3) and out.dtype == np.uint8


def _zero_heads(network: IFNet) -> IFNet:
    for k in range(5):
        last = getattr(network, f"block{k}").lastconv[0]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
    return network


def test_zero_flow_and_even_mask_give_the_average() -> None:
    a, b = frames(2, 64, 96)
    interp = rife(_zero_heads(random_ifnet(seed=1)))
    expected = (a.astype(np.float32) + b) / 2
    for t in (0.2, 0.7):
        assert np.abs(interp.between(a, b, t) - expected).max() <= 0.5 + 1e-6


def test_flow_is_a_backward_warp_in_pixels() -> None:
    """Flow channels 0-1 move frame 0, 2-3 frame 1; out[y, x] = frame[y + dy, x + dx]."""
    a, b = frames(2, 64, 64)
    network = _zero_heads(random_ifnet(seed=2))
    # lastconv -> PixelShuffle(2): output channel c comes from deconv channels 4c..4c+3.
    with torch.no_grad():
        network.block0.lastconv[0].bias[0:4] = 2.0 / 16  # block0 runs 16x smaller
        network.block0.lastconv[0].bias[12:16] = -3.0 / 16  # frame 1, y
        network.block4.lastconv[0].bias[16:20] = 30.0  # the last block's mask: frame 0
    out = rife(network).between(a, b, 0.5)
    assert np.abs(out[:, :-2].astype(int) - a[:, 2:]).max() <= 1
    with torch.no_grad():
        network.block4.lastconv[0].bias[16:20] = -30.0  # frame 1
    out = rife(network).between(a, b, 0.5)
    assert np.abs(out[3:].astype(int) - b[:-3]).max() <= 1


def test_timesteps_are_per_sample(net: IFNet) -> None:
    a, b = (torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames(2))
    with torch.inference_mode():
        both = net(torch.cat([a, a]), torch.cat([b, b]), torch.tensor([0.25, 0.75]))
        early = net(a, b, 0.25)
        late = net(a, b, torch.full((1, 1, 64, 64), 0.75))
    assert torch.allclose(both[0:1], early, atol=1e-5)
    assert torch.allclose(both[1:2], late, atol=1e-5)
    assert not torch.allclose(early, late, atol=1e-3)
    with pytest.raises(ValueError, match="multiples of 64"):
        net(a[..., :48], b[..., :48])


@pytest.mark.parametrize("prefix", ["", "module."])
@pytest.mark.parametrize("extras", [False, True])
def test_weights_round_trip(net: IFNet, tmp_path: Path, prefix: str, extras: bool) -> None:
    state = {prefix + k: v for k, v in net.state_dict().items()}
    if extras:  # what some releases carry: a training-only teacher block and time net
        state[prefix + "teacher.convblock.0.beta"] = torch.ones(1, 64, 1, 1)
        state[prefix + "caltime.0.weight"] = torch.zeros(8, 41, 3, 3)
    path = save(state, tmp_path / "flownet.pkl")
    loaded = load_ifnet(path)
    a, b = frames(2, 70, 50)
    assert np.array_equal(rife(loaded).between(a, b, 0.4), rife(net).between(a, b, 0.4))
    interp = create_interpolator("rife", {**CPU, "interpolate.rife_weights": str(path)})
    assert np.array_equal(interp.between(a, b, 0.4), rife(net).between(a, b, 0.4))
    assert KNOWN_EXTRA_PREFIXES == ("teacher.", "caltime.")


def _load_error(path: Path, version: str = "auto") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_ifnet(path, version)
    assert info.value.field == "interpolate.rife_weights"
    assert info.value.value == str(path)
    return info.value


def test_wrong_checkpoints_fail_loudly(net: IFNet, tmp_path: Path) -> None:
    good = net.state_dict()
    missing = {k: v for k, v in good.items() if k != "block2.lastconv.0.bias"}
    error = _load_error(save(missing, tmp_path / "missing.pkl"))
    assert "1 missing keys (block2.lastconv.0.bias)" in str(error)

    shaped = {**good, "block0.conv0.0.0.weight": torch.zeros(96, 7, 3, 3)}
    error = _load_error(save(shaped, tmp_path / "shape.pkl"))
    assert "block0.conv0.0.0.weight (96, 7, 3, 3) in file, (96, 15, 3, 3) expected" in str(error)

    other = torch.nn.Sequential(torch.nn.Linear(4, 4)).state_dict()
    error = _load_error(save(other, tmp_path / "other.pkl"))
    assert "158 missing keys (block0.conv0.0.0.weight" in str(error)
    assert "2 unexpected keys (0.weight, 0.bias)" in str(error)

    extra = {**good, "module.refine.weight": torch.zeros(3)}
    assert "unexpected keys (refine.weight)" in str(_load_error(save(extra, tmp_path / "x.pkl")))

    nan = {**good, "block3.convblock.2.beta": torch.full((1, 64, 1, 1), float("nan"))}
    assert "1 tensors (block3.convblock.2.beta)" in str(_load_error(save(nan, tmp_path / "n.pkl")))

    assert "not a state dict" in str(_load_error(save(torch.zeros(3), tmp_path / "t.pkl")))
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a checkpoint at all")
    assert "cannot read RIFE weights" in str(_load_error(garbage))

    lite = save(random_ifnet("4.25.lite").state_dict(), tmp_path / "lite.pkl")
    error = _load_error(lite, "4.26")
    assert "shape mismatches" in str(error) and "look like version 4.25.lite" in str(error)


def test_version_is_read_from_the_shapes(tmp_path: Path) -> None:
    for version in ("4.25", "4.25.lite", "4.26.large"):
        state = random_ifnet(version).state_dict()
        assert detect_version(state) == version
        assert load_ifnet(save(state, tmp_path / f"{version}.pkl")).version == version
    assert detect_version({}) is None


def test_missing_or_unset_weights_say_where_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no RIFE weights configured") as info:
        RifeInterpolator({**CPU, "interpolate.rife_weights": ""})
    assert info.value.field == "interpolate.rife_weights"
    assert "Practical-RIFE" in str(info.value) and "never downloads" in str(info.value)
    missing = tmp_path / "nowhere" / "flownet.pkl"
    with pytest.raises(ConfigError, match="not found") as info:
        create_interpolator("rife", {**CPU, "interpolate.rife_weights": str(missing)})
    assert info.value.value == str(missing) and "Practical-RIFE" in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        load_ifnet(missing)


def test_retime_keeps_duration_and_exact_ends(net: IFNet) -> None:
    source = frames(5)
    out = list(rife(net).retime(source, 16, 24))
    assert len(out) == round(5 * 24 / 16) == len(retime_plan(5, 16, 24))
    for frame, (index, t) in zip(out, retime_plan(5, 16, 24), strict=True):
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
        if t == 0.0:
            assert frame is source[index]
    assert out[0] is source[0] and out[-1] is source[-1]


def test_batching_gives_the_same_frames(net: IFNet) -> None:
    source = frames(4, 64, 70)
    one = list(rife(net, **{"interpolate.batch": 1}).retime(source, 16, 30))
    many = list(rife(net, **{"interpolate.batch": 5}).retime(source, 16, 30))
    assert len(one) == len(many) == 8
    assert max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(one, many, strict=True)) <= 1


def test_retime_is_lazy_one_batch_at_a_time(net: IFNet, monkeypatch: pytest.MonkeyPatch) -> None:
    interp = rife(net, **{"interpolate.batch": 2})
    calls: list[int] = []
    run = interp._run
    monkeypatch.setattr(interp, "_run", lambda f, jobs: calls.append(len(jobs)) or run(f, jobs))
    stream = interp.retime(frames(6), 16, 32)  # 12 outputs, 5 interpolated (2x keeps sources)
    assert calls == []
    next(stream), next(stream)
    assert calls == [2]
    rest = list(stream)
    assert len(rest) == 10 and calls == [2, 2, 1]


def test_cpu_runs_fp32_with_a_note(net: IFNet, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vidgen.interpolate.rife"):
        interp = rife(net, **{"interpolate.precision": "fp16"})
    assert interp.dtype == torch.float32 and interp.precision == "fp32"
    assert "fp16" in caplog.text and "fp32" in caplog.text
    assert rife(net, **{"interpolate.precision": "auto"}).precision == "fp32"


def test_bad_settings_are_config_errors(net: IFNet) -> None:
    for name, value in (("interpolate.device", "tpu"), ("interpolate.device", "not a device"),
                        ("interpolate.rife_scale", 0.75), ("interpolate.batch", 0),
                        ("interpolate.precision", "fp8")):
        with pytest.raises(ConfigError) as info:
            rife(net, **{name: value})
        assert info.value.field == name
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            rife(net, **{"interpolate.device": "cuda:1"})


def test_one_resident_network_from_real_settings(net: IFNet, tmp_path: Path) -> None:
    path = save({"module." + k: v for k, v in net.state_dict().items()}, tmp_path / "f.pkl")
    config = load_config(env={}, overrides={
        "interpolate.method": "rife", "interpolate.rife_weights": str(path),
        "interpolate.device": "cpu", "interpolate.batch": 3})
    first = create_interpolator("rife", config)
    second = create_interpolator("rife", config)
    assert isinstance(first, RifeInterpolator)
    assert first.network is second.network  # loaded once, shared by later shots
    assert first.batch == 3 and first.scale == 1.0 and first.precision == "fp32"
