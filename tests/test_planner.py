"""The planner: closed-form arithmetic pinned to hand-computed cases, and a simulation that
agrees with it at steady state."""

from __future__ import annotations

import json
import math

import pytest

from vidgen.errors import ConfigError
from vidgen.planner import (
    GPU_LIMIT,
    Plan,
    PlanInput,
    compare_topologies,
    plan_capacity,
    simulate,
)

approx = pytest.approx

# Storage per video at the defaults, whatever the volume: 30 days x 50 MB = 1,500 MB
# = 0.0015 TB kept per daily video; x $15/TB-month / 30 days = $0.00075 per video.
STORAGE_PER_VIDEO = 30 * 50 / 1e6 * 15 / 30


# --- the plan's own example -------------------------------------------------------------


def test_plans_example_15_s_on_two_4090s() -> None:
    plan = plan_capacity(PlanInput(seconds_per_video=15))
    # 2 GPUs x 60 s / 15 s = 8 videos/min; x 60 x 24 = 11,520/day.
    assert plan.videos_per_minute == approx(8.0)
    assert plan.videos_per_day == approx(11_520)
    assert plan.meets_target and plan.bottleneck == "gpu"
    assert plan.gpus_needed == 1  # one GPU: 4/min = 5,760/day >= 1,000
    assert plan.utilisation == approx({"gpu1": 1.0, "gpu2": 1.0, "cpu": 0.0})
    # 2 GPUs x $0.75/h x 24 h = $36/day, made into 1,000 videos (the target, < capacity);
    # storage 1,000 x 30 d x 50 MB = 1.5 TB x $15 = $22.50/month = $0.75/day.
    assert plan.compute_usd_per_day == approx(36.0)
    assert plan.storage_tb == approx(1.5)
    assert plan.cost_per_video_usd == approx((36 + 0.75) / 1000)  # $0.03675
    assert plan.monthly_cost_usd == approx(30 * 36.75)  # $1,102.50
    assert any("above the plan's $0.02 target" in note for note in plan.notes)


def test_plans_example_at_full_capacity() -> None:
    plan = plan_capacity(PlanInput(seconds_per_video=15, target_per_day=11_520))
    # $36/day over 11,520 videos = $0.003125 compute + $0.00075 storage per video.
    assert plan.meets_target
    assert plan.cost_per_video_usd == approx(36 / 11_520 + STORAGE_PER_VIDEO)
    assert plan.cost_per_video_usd == approx(0.003875)
    assert plan.storage_tb == approx(11_520 * 30 * 50 / 1e6)  # 17.28 TB
    assert plan.notes == []


def test_transfer_and_storage_for_1000_a_day() -> None:
    plan = plan_capacity(PlanInput(seconds_per_video=15))
    # (2 MB up + 50 MB down) x 1,000/day x 30 days = 1,560,000 MB = 1.56 TB/month.
    assert plan.transfer_tb_per_month == approx(1.56)
    assert plan.storage_tb == approx(1.5)  # 1,000 x 30 days x 50 MB


def test_costs_count_only_the_videos_made() -> None:
    # 4 GPU-hours a day at 360 s/video: 1 GPU x 12 h x 3600 / 360 = 120/day < 1,000.
    plan = plan_capacity(PlanInput(seconds_per_video=360, gpus=1, hours_per_day=12))
    assert plan.videos_per_day == approx(120) and not plan.meets_target
    assert plan.compute_usd_per_day == approx(0.75 * 12)  # rented 12 h, not 24
    assert plan.cost_per_video_usd == approx(9 / 120 + STORAGE_PER_VIDEO)
    assert plan.transfer_tb_per_month == approx(120 * 30 * 52 / 1e6)
    # 1,000 / 120 per GPU-day = 8.3 -> 9 GPUs.
    assert plan.gpus_needed == 9
    assert any("needs 9 GPUs" in note for note in plan.notes)


# --- published speeds (models.md) ---------------------------------------------------------


def test_distilled_wan_480p_on_one_4090_meets_1000_a_day() -> None:
    # 4-step distilled Wan2.1 I2V 14B, 480p, RTX 4090: 63 s/video.
    plan = plan_capacity(PlanInput(seconds_per_video=63, gpus=1))
    assert plan.videos_per_minute == approx(60 / 63)  # 0.952/min
    assert plan.videos_per_day == approx(86_400 / 63)  # 1,371.4/day
    assert plan.meets_target and plan.gpus_needed == 1
    # $0.75 x 24 = $18/day over 1,000 videos + $0.00075 storage = $0.01875 < $0.02.
    assert plan.cost_per_video_usd == approx(0.01875)
    assert plan.notes == []
    # The same at 720p (171 s): 86,400 / 171 = 505/day per GPU -> 2 GPUs for 1,000.
    assert plan_capacity(PlanInput(seconds_per_video=171, gpus=1)).gpus_needed == 2


def test_distilled_wan_480p_on_an_h200() -> None:
    # 14 s/video on an H200, at an assumed $3/h (the H100 range in models.md is $2-3/h).
    plan = plan_capacity(PlanInput(seconds_per_video=14, gpu="H200", gpus=1, hourly_usd=3.0,
                                   target_per_day=6000))
    assert plan.videos_per_minute == approx(60 / 14)  # 4.29/min
    assert plan.videos_per_day == approx(86_400 / 14)  # 6,171/day
    assert plan.gpus_needed == 1
    assert plan.cost_per_video_usd == approx(72 / 6000 + STORAGE_PER_VIDEO)  # $0.01275


@pytest.mark.parametrize(("hourly", "seconds"), [(0.40, 180.0), (0.70, 0.02 * 3600 / 0.70)])
def test_the_two_cent_ceiling_in_models_md(hourly: float, seconds: float) -> None:
    # $0.02 per video at $0.40-0.70/h means <= 180-103 s per video (GPU busy all day).
    inp = PlanInput(seconds_per_video=seconds, gpus=1, hourly_usd=hourly,
                    target_per_day=10**6, storage_mb_per_video=0)
    assert plan_capacity(inp).cost_per_video_usd == approx(0.02)


def test_1000_a_day_on_two_gpus_needs_at_most_172_8_s() -> None:
    # 2 GPUs x 86,400 s / 1,000 videos = 172.8 s per video per GPU.
    edge = plan_capacity(PlanInput(seconds_per_video=172.8))
    assert edge.videos_per_day == approx(1000) and edge.meets_target
    assert edge.gpus_needed == 2
    slower = plan_capacity(PlanInput(seconds_per_video=173))
    assert not slower.meets_target and slower.gpus_needed == 3  # 998.8/day on 2


# --- topologies ---------------------------------------------------------------------------


def test_colocated_beats_split_when_interpolation_is_short() -> None:
    colocated = plan_capacity(PlanInput(seconds_per_video=15, interpolate_sec=3))
    split = plan_capacity(PlanInput(seconds_per_video=15, interpolate_sec=3, topology="split"))
    # colocated: 2 GPUs / (15 + 3) s = 6.67/min; split: min(1/15, 1/3) per s = 4/min.
    assert colocated.videos_per_minute == approx(2 / 18 * 60)
    assert split.videos_per_minute == approx(4.0)
    assert split.bottleneck == "generate"
    # split: the interpolator works 3 s of every 15 s.
    assert split.utilisation == approx({"gpu1": 1.0, "gpu2": 0.2, "cpu": 0.0})
    assert any("colocated makes 6.67 videos/min" in note for note in split.notes)


def test_split_ties_only_when_the_roles_balance() -> None:
    # gen 10 s, interp 10 s on 2 GPUs: colocated 2/20 s, split min(1/10, 1/10): 6/min each.
    for topology in ("colocated", "split"):
        plan = plan_capacity(PlanInput(seconds_per_video=10, interpolate_sec=10,
                                       topology=topology))
        assert plan.videos_per_minute == approx(6.0)
        assert plan.utilisation == approx({"gpu1": 1.0, "gpu2": 1.0, "cpu": 0.0})


def test_split_never_beats_colocated_on_gpus_of_one_speed() -> None:
    # split = min((n-k)/gen, k/interp) <= n/(gen + interp) = colocated, for every k.
    for gpus in (2, 3, 5, 8):
        for gen in (5.0, 15.0, 63.0):
            for interp in (0.0, 1.0, 3.0, 15.0, 40.0):
                inp = PlanInput(seconds_per_video=gen, interpolate_sec=interp, gpus=gpus)
                colocated = plan_capacity(inp).videos_per_minute
                split = plan_capacity(PlanInput(**{**inp.__dict__, "topology": "split"}))
                assert split.videos_per_minute <= colocated * (1 + 1e-12)


def test_split_gives_interpolation_more_gpus_when_one_cannot_keep_up() -> None:
    # gen 15, interp 10 on 4 GPUs: k=1 -> min(3/15, 1/10) = 0.100/s;
    # k=2 -> min(2/15, 2/10) = 0.133/s (8/min) wins; interpolators busy 0.133 x 10 / 2 = 2/3.
    plan = plan_capacity(PlanInput(seconds_per_video=15, interpolate_sec=10, gpus=4,
                                   topology="split"))
    assert plan.videos_per_minute == approx(8.0)
    assert plan.utilisation == approx({"gpu1": 1.0, "gpu2": 1.0, "gpu3": 2 / 3, "gpu4": 2 / 3,
                                       "cpu": 0.0})
    assert any("interpolation 2 of the 4 GPUs" in note for note in plan.notes)


def test_gpus_needed_for_a_large_target_in_both_topologies() -> None:
    # 40,000/day = 0.463/s with gen 15, interp 3.
    # colocated: 86,400 / 18 = 4,800/day per GPU; 8 -> 38,400, 9 -> 43,200: 9 GPUs.
    # split: 8 GPUs at best 6 gen + 2 interp = min(6/15, 2/3) = 0.4/s = 34,560/day;
    #        9 GPUs: 7 gen + 2 interp = min(7/15, 2/3) = 0.467/s = 40,320/day: 9 GPUs.
    inp = PlanInput(seconds_per_video=15, interpolate_sec=3, target_per_day=40_000)
    assert plan_capacity(inp).gpus_needed == 9
    split = plan_capacity(PlanInput(**{**inp.__dict__, "topology": "split", "gpus": 9}))
    assert split.gpus_needed == 9 and split.meets_target
    assert split.videos_per_day == approx(40_320)
    assert split.utilisation["gpu7"] == approx(1.0)
    assert split.utilisation["gpu8"] == split.utilisation["gpu9"] == approx(0.7)  # .467x3/2


def test_a_slow_cpu_pool_is_the_bottleneck_no_gpu_count_fixes() -> None:
    # encode 20 s on 2 CPU processes: 2/20 = 0.1/s = 6/min < the GPUs' 2/15 = 8/min.
    plan = plan_capacity(PlanInput(seconds_per_video=15, encode_sec=20, target_per_day=10_000))
    assert plan.bottleneck == "encode" and plan.videos_per_minute == approx(6.0)
    assert plan.utilisation == approx({"gpu1": 0.75, "gpu2": 0.75, "cpu": 1.0})  # .1x15/2
    assert plan.gpus_needed == 0  # the CPU caps it at 8,640/day < 10,000
    assert any("cpu_workers" in note for note in plan.notes)


# --- simulation ---------------------------------------------------------------------------


def test_simulation_without_jitter_is_exact() -> None:
    sim = simulate(PlanInput(seconds_per_video=15), cv=0)
    assert sim.makespan_sec == 3750.0  # 500 videos / 2 GPUs x 15 s
    assert sim.throughput_per_min == approx(8.0, rel=1e-12)
    assert sim.utilisation == approx({"gpu1": 1.0, "gpu2": 1.0, "cpu": 0.0}, rel=1e-12)
    assert sim.mean_in_process_sec == approx(15.0)
    split = simulate(PlanInput(seconds_per_video=15, interpolate_sec=3, encode_sec=5,
                               topology="split"), cv=0)
    # video j is generated at 15(j+1), interpolated by +3, encoded by +8: last at 7,508.
    assert split.makespan_sec == 7508.0
    assert split.throughput_per_min == approx(4.0, rel=1e-12)
    # Busy over the batch: 500 x 15 s, 500 x 3 s and 500 x 5 s (on 2 processes) in 7,508 s,
    # the closed form's 1, 0.2 and 1/6 less the fill and drain.
    assert split.utilisation == approx({"gpu1": 7500 / 7508, "gpu2": 1500 / 7508,
                                        "cpu": 2500 / 2 / 7508}, rel=1e-12)
    assert split.utilisation == approx({"gpu1": 1.0, "gpu2": 0.2, "cpu": 1 / 6}, rel=0.002)
    assert split.mean_in_process_sec == approx(23.0)
    assert split.max_queue == {"generate": 499, "interpolate": 0, "encode": 0}


def test_simulation_queues_behind_a_slow_interpolator() -> None:
    # split, gen 15, interp 20: video j interpolated from 15 + 20j to 15 + 20(j+1).
    sim = simulate(PlanInput(seconds_per_video=15, interpolate_sec=20, topology="split"), cv=0)
    assert sim.makespan_sec == 15 + 20 * 500
    assert sim.throughput_per_min == approx(3.0)
    # At t = 7,500 the last video is generated: 374 interpolated, 1 in service, 125 waiting.
    assert sim.max_queue["interpolate"] == 125
    assert sim.mean_queue["interpolate"] > 30


@pytest.mark.parametrize("inp", [
    PlanInput(seconds_per_video=15),
    PlanInput(seconds_per_video=15, interpolate_sec=3, encode_sec=5),
    PlanInput(seconds_per_video=15, interpolate_sec=3, encode_sec=5, topology="split"),
    PlanInput(seconds_per_video=63, gpus=4, interpolate_sec=20, topology="split"),
    PlanInput(seconds_per_video=15, encode_sec=20),
], ids=["plain", "colocated", "split", "split-4", "cpu-bound"])
def test_simulation_with_jitter_agrees_with_closed_form(inp: PlanInput) -> None:
    plan, sim = plan_capacity(inp), simulate(inp, videos=500, seed=1)
    assert sim.cv == 0.1
    assert sim.throughput_per_min == approx(plan.videos_per_minute, rel=0.02)
    assert sim.utilisation.keys() == plan.utilisation.keys()
    for name, busy in plan.utilisation.items():
        assert sim.utilisation[name] == approx(busy, abs=0.03), name


def test_simulation_is_seeded() -> None:
    inp = PlanInput(seconds_per_video=15, interpolate_sec=3)
    assert simulate(inp, seed=7) == simulate(inp, seed=7)
    assert simulate(inp, seed=7).makespan_sec != simulate(inp, seed=8).makespan_sec


def test_a_single_video_is_simulated_end_to_end() -> None:
    sim = simulate(PlanInput(seconds_per_video=15, interpolate_sec=3, encode_sec=2), videos=1,
                   cv=0)
    assert sim.makespan_sec == 20.0 and sim.mean_latency_sec == 20.0
    assert sim.throughput_per_min == approx(3.0)  # 1 video in 20 s


def test_compare_topologies_plans_and_simulates_both_on_the_same_gpus() -> None:
    plans = compare_topologies(PlanInput(seconds_per_video=15, interpolate_sec=3, gpus=3))
    assert [p.input.topology for p in plans] == ["colocated", "split"]
    assert all(p.input.gpus == 3 and p.simulated is not None for p in plans)
    # 3 GPUs: colocated 3/18 s = 10/min; split 2 gen + 1 interp = min(2/15, 1/3) = 8/min.
    assert [p.videos_per_minute for p in plans] == approx([10.0, 8.0])
    for plan in plans:
        assert plan.simulated is not None
        assert plan.simulated.throughput_per_min == approx(plan.videos_per_minute, rel=0.02)


# --- reporting ----------------------------------------------------------------------------


def test_to_dict_is_json_and_summary_is_short() -> None:
    plan = compare_topologies(PlanInput(seconds_per_video=15))[0]
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["input"]["seconds_per_video"] == 15
    assert data["simulated"]["videos"] == 500
    assert set(data) == {f for f in Plan.__dataclass_fields__}
    lines = plan.summary_lines()
    assert lines[0].startswith("colocated on 2x RTX 4090 at 15 s/video: 8.00 videos/min, "
                               "11,520/day (target 1,000: met")
    assert "gpu1-gpu2 100%, cpu 0%" in lines[1]
    assert all(len(line) < 120 for line in lines)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "field", "limit"), [
    ({"seconds_per_video": -1.0}, "seconds_per_video", "> 0"),
    ({"seconds_per_video": math.nan}, "seconds_per_video", None),
    ({"gpus": 0}, "gpus", f"1-{GPU_LIMIT}"),
    ({"gpus": 1, "topology": "split"}, "gpus", ">= 2 for split"),
    ({"topology": "ring"}, "topology", "colocated or split"),
    ({"hours_per_day": 25.0}, "hours_per_day", "> 0 and <= 24"),
    ({"target_per_day": 0}, "target_per_day", ">= 1"),
    ({"cpu_workers": 0}, "cpu_workers", ">= 1"),
    ({"interpolate_sec": -0.5}, "interpolate_sec", ">= 0"),
    ({"gpu": " "}, "gpu", "a non-empty name"),
])
def test_out_of_range_input_names_field_value_and_limit(
        changes: dict[str, object], field: str, limit: str | None) -> None:
    inp = PlanInput(**{"seconds_per_video": 15.0, **changes})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        plan_capacity(inp)
    assert caught.value.field == field
    assert repr(caught.value.value) == repr(changes[field])  # nan included
    assert caught.value.limit == limit


def test_comparing_topologies_needs_two_gpus() -> None:
    with pytest.raises(ConfigError, match="gpus=1"):
        compare_topologies(PlanInput(seconds_per_video=15, gpus=1))


@pytest.mark.parametrize(("kwargs", "field"), [({"videos": 0}, "videos"), ({"cv": 2.0}, "cv")])
def test_simulate_checks_its_own_arguments(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        simulate(PlanInput(seconds_per_video=15), **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
