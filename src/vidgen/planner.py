"""Throughput and cost planner: how many GPUs, what a video costs, what limits the pipeline.

Feed it the warm seconds per video that the shootout measured on one GPU and it answers
in closed form (:func:`plan_capacity`): videos per minute and per day, the GPU count a
daily target needs, each device's busy fraction, the bottleneck, and the cost per video,
per day and per month with storage and transfer volume. :func:`simulate` runs the same
pipeline as a discrete-event simulation of one batch (queues, jitter, fill and drain);
:func:`compare_topologies` does both for the two ways of placing interpolation:

* ``colocated``: every GPU generates a video and then interpolates it.
* ``split``: some GPUs only generate, the others only interpolate (the plan's "GPU 1
  generates, GPU 2 interpolates"). With ``n`` GPUs it uses the number of interpolators
  that gives the most throughput, ties to fewer: one (the last GPU) unless one cannot
  keep up with the ``n - 1`` generators. Two GPUs are always one generator and one
  interpolator.

Encoding runs on a pool of CPU processes in both. Every stage is a group of identical
devices; throughput is the slowest stage's capacity. On GPUs of one speed ``split``
never beats ``colocated`` (it moves the same GPU-seconds onto fixed roles, so the less
loaded role waits); it ties only when the roles balance exactly. See docs/planner.md.

The simulation is a small event loop over :mod:`heapq` rather than simpy: about sixty
lines, no dependency, and the parts we need are ours to write anyway: the same random
service times in both topologies (a fair comparison) and a steady rate measured between
the 10% and 90% completions of the batch.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np

from vidgen.errors import ConfigError

__all__ = ["Plan", "PlanInput", "SimResult", "compare_topologies", "plan_capacity", "simulate"]

TOPOLOGIES: tuple[Literal["colocated", "split"], ...] = ("colocated", "split")
GPU_LIMIT = 4096  # the largest GPU count gpus and gpus_needed consider
DAYS_PER_MONTH = 30
COST_TARGET_USD = 0.02  # the plan's target cost per video, for a note
JITTER_CV = 0.1  # default coefficient of variation of simulated service times
VIDEO_LIMIT = 100_000  # the largest batch simulate() accepts
TRIM = 0.1  # the steady window leaves out this share of completions at each end
_EPS = 1e-9  # relative slack when a capacity is compared with a target


@dataclass(frozen=True)
class PlanInput:
    """What the planner needs: measured times, the GPUs, prices and the target.

    Sizes are decimal: 1 TB = 1,000,000 MB. Seconds are warm (models loaded).
    """

    seconds_per_video: float  # warm generation time of one video on one GPU
    gpu: str = "RTX 4090"
    gpus: int = 2
    hourly_usd: float = 0.75  # per GPU per hour
    interpolate_sec: float = 0.0  # per video (on a GPU in "split", co-located otherwise)
    encode_sec: float = 0.0  # per video, on CPU cores (not a GPU)
    cpu_workers: int = 2  # CPU processes for encode/QC
    topology: Literal["colocated", "split"] = "colocated"
    target_per_day: int = 1000
    hours_per_day: float = 24.0
    upload_mb_per_video: float = 2.0
    download_mb_per_video: float = 50.0
    storage_mb_per_video: float = 50.0
    storage_usd_per_tb_month: float = 15.0
    retention_days: float = 30.0

    def check(self) -> None:
        """Check every field's range.

        Raises:
            ConfigError: naming the first field out of range, its value and the limit.
        """
        if not isinstance(self.gpu, str) or not self.gpu.strip():
            raise ConfigError("name the GPU", item="plan", field="gpu", value=self.gpu,
                              limit="a non-empty name")
        _whole("gpus", self.gpus, 1, GPU_LIMIT)
        _whole("cpu_workers", self.cpu_workers, 1, None)
        _whole("target_per_day", self.target_per_day, 1, None)
        _number("seconds_per_video", self.seconds_per_video, positive=True)
        _number("hours_per_day", self.hours_per_day, positive=True, most=24.0)
        for name in ("hourly_usd", "interpolate_sec", "encode_sec", "upload_mb_per_video",
                     "download_mb_per_video", "storage_mb_per_video",
                     "storage_usd_per_tb_month", "retention_days"):
            _number(name, getattr(self, name))
        if self.topology not in TOPOLOGIES:
            raise ConfigError("unknown topology", item="plan", field="topology",
                              value=self.topology, limit=" or ".join(TOPOLOGIES))
        if self.topology == "split" and self.gpus < 2:
            raise ConfigError("split needs one GPU to generate and one to interpolate",
                              item="plan", field="gpus", value=self.gpus, limit=">= 2 for split",
                              hint="use the colocated topology on one GPU")


def _whole(name: str, value: Any, least: int, most: int | None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError("must be a whole number", item="plan", field=name, value=value)
    if value < least or (most is not None and value > most):
        limit = f"{least}-{most}" if most is not None else f">= {least}"
        raise ConfigError("out of range", item="plan", field=name, value=value, limit=limit)


def _number(name: str, value: Any, *, positive: bool = False, most: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError("must be a finite number", item="plan", field=name, value=value)
    if (value <= 0 if positive else value < 0) or (most is not None and value > most):
        low = "> 0" if positive else ">= 0"
        limit = f"{low} and <= {most:g}" if most is not None else low
        raise ConfigError("out of range", item="plan", field=name, value=value, limit=limit)


@dataclass(frozen=True)
class SimResult:
    """One simulated batch: every video queued at t = 0, run to the last encode.

    ``throughput_per_min`` is the steady rate, measured between the completions at the
    10% and 90% marks (the batch's fill and drain left out) so that it compares with the
    closed form; ``makespan_sec`` is the whole batch. ``utilisation`` is each device's
    busy time over the makespan: a stage upstream of the bottleneck runs ahead (its
    output queues in front of the bottleneck) and then idles, so over a whole batch it
    averages to the closed form's figure. Queue lengths count videos waiting for a stage
    (not in service), time-averaged over the makespan; the first stage starts with the
    whole batch.
    """

    videos: int
    makespan_sec: float
    throughput_per_min: float
    utilisation: dict[str, float]  # same keys as Plan.utilisation, busy / makespan
    mean_queue: dict[str, float]  # stage name -> time-averaged videos waiting
    max_queue: dict[str, int]
    mean_latency_sec: float  # from queueing (t = 0) to encoded, averaged over videos
    mean_in_process_sec: float  # from the start of its generation to encoded
    cv: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """The closed-form answer for one :class:`PlanInput` (see :func:`plan_capacity`)."""

    input: PlanInput
    videos_per_minute: float
    videos_per_day: float
    gpus_needed: int  # for target_per_day with this topology; 0: no count up to GPU_LIMIT
    utilisation: dict[str, float]  # "gpu1".., "cpu" -> busy fraction at full load
    bottleneck: str  # the slowest stage: "gpu" (colocated), "generate", "interpolate", "encode"
    compute_usd_per_day: float
    cost_per_video_usd: float  # (compute + storage) per day / videos made per day
    monthly_cost_usd: float
    transfer_tb_per_month: float
    storage_tb: float
    meets_target: bool
    notes: list[str]
    simulated: SimResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, the input and the simulation included."""
        return asdict(self)

    def summary_lines(self) -> list[str]:
        """A few short lines for reports and the command line."""
        inp = self.input
        met = "met" if self.meets_target else "NOT met"
        lines = [
            f"{inp.topology} on {inp.gpus}x {inp.gpu} at {inp.seconds_per_video:g} s/video: "
            f"{self.videos_per_minute:.2f} videos/min, {self.videos_per_day:,.0f}/day "
            f"(target {inp.target_per_day:,}: {met}; GPUs needed: {self.gpus_needed or 'none'})",
            f"bottleneck {self.bottleneck}; busy {_grouped(self.utilisation)}",
            f"${self.cost_per_video_usd:.5f}/video at {_made(self):,.0f}/day; compute "
            f"${self.compute_usd_per_day:,.2f}/day; ${self.monthly_cost_usd:,.2f}/month",
            f"transfer {self.transfer_tb_per_month:.2f} TB/month; storage "
            f"{self.storage_tb:.2f} TB ({inp.retention_days:g}-day retention)",
        ]
        if self.simulated is not None:
            sim = self.simulated
            lines.append(f"simulated {sim.videos} videos: {sim.throughput_per_min:.2f} "
                         f"videos/min steady, batch {sim.makespan_sec / 60:.1f} min, "
                         f"{sim.mean_in_process_sec:.1f} s in process per video")
        return lines + self.notes


def _made(plan: Plan) -> float:
    """Videos made per day: the target, or the capacity when it falls short."""
    return min(float(plan.input.target_per_day), plan.videos_per_day)


def _grouped(busy: dict[str, float]) -> str:
    """``gpu1-gpu3 100%, gpu4 20%, cpu 0%``: runs of equal percentages share one entry."""
    runs: list[list[str]] = []
    for name, value in busy.items():
        pct = f"{value:.0%}"
        if runs and runs[-1][2] == pct and name.startswith("gpu"):
            runs[-1][1] = name
        else:
            runs.append([name, name, pct])
    return ", ".join(f"{a}-{b} {p}" if a != b else f"{a} {p}" for a, b, p in runs)


# --- the pipeline's stages -------------------------------------------------------------


@dataclass(frozen=True)
class _Stage:
    """A group of identical devices doing one step for every video, first come first served."""

    name: str
    work: tuple[str, ...]  # the per-video times it spends: "generate", "interpolate", "encode"
    seconds: float  # mean service time per video
    count: int  # devices
    first_gpu: int = 0  # GPUs are numbered from 1; 0 marks the CPU pool

    @property
    def devices(self) -> list[str]:
        """Device names; the CPU pool's processes all report as ``cpu``."""
        if not self.first_gpu:
            return ["cpu"] * self.count
        return [f"gpu{self.first_gpu + j}" for j in range(self.count)]

    @property
    def capacity(self) -> float:
        """Videos per second at full load."""
        return self.count / self.seconds if self.seconds > 0 else math.inf


def _interpolators(gpus: int, gen: float, interp: float) -> int:
    """The interpolating GPUs of a split of ``gpus``: the count giving the most throughput.

    Throughput ``min((gpus - k) / gen, k / interp)`` peaks where the two meet, at
    ``k = gpus * interp / (gen + interp)``; the better whole number next to it wins, ties
    to fewer. Without interpolation the last GPU is still reserved for it (and idles).
    """
    if interp <= 0:
        return 1
    best = gpus * interp / (gen + interp)
    candidates = sorted({min(max(k, 1), gpus - 1) for k in (math.floor(best), math.ceil(best))})
    return max(candidates, key=lambda k: (min((gpus - k) / gen, k / interp), -k))


def _stages(inp: PlanInput, gpus: int) -> list[_Stage]:
    gen, interp = inp.seconds_per_video, inp.interpolate_sec
    encode = _Stage("encode", ("encode",), inp.encode_sec, inp.cpu_workers)
    if inp.topology == "colocated":
        return [_Stage("gpu", ("generate", "interpolate"), gen + interp, gpus, 1), encode]
    k = _interpolators(gpus, gen, interp)
    return [_Stage("generate", ("generate",), gen, gpus - k, 1),
            _Stage("interpolate", ("interpolate",), interp, k, gpus - k + 1), encode]


def _rate(stages: list[_Stage]) -> float:
    return min(stage.capacity for stage in stages)


# --- closed form ------------------------------------------------------------------------


def plan_capacity(inp: PlanInput) -> Plan:
    """Throughput, GPU count and costs of ``inp`` in closed form (steady state).

    Throughput is the slowest stage's capacity (devices / seconds per video). Compute is
    rented for ``hours_per_day`` whether busy or not; storage keeps ``retention_days`` of
    output. Costs are spread over the videos made per day: the target, or the capacity
    when it falls short. Transfer is reported as volume only (no price).

    Raises:
        ConfigError: a field of ``inp`` is out of range.
    """
    inp.check()
    stages = _stages(inp, inp.gpus)
    rate = _rate(stages)
    per_day = rate * 3600 * inp.hours_per_day
    utilisation: dict[str, float] = {}
    for stage in stages:
        busy = min(1.0, rate * stage.seconds / stage.count)
        utilisation.update(dict.fromkeys(stage.devices, busy))
    made = min(float(inp.target_per_day), per_day)
    compute = inp.gpus * inp.hourly_usd * inp.hours_per_day
    storage_tb = made * inp.retention_days * inp.storage_mb_per_video / 1e6
    storage_per_day = storage_tb * inp.storage_usd_per_tb_month / DAYS_PER_MONTH
    plan = Plan(
        input=inp,
        videos_per_minute=rate * 60,
        videos_per_day=per_day,
        gpus_needed=_gpus_needed(inp),
        utilisation=utilisation,  # gpu1, gpu2, ... then cpu: the stages' order
        bottleneck=min(stages, key=lambda s: s.capacity).name,
        compute_usd_per_day=compute,
        cost_per_video_usd=(compute + storage_per_day) / made,
        monthly_cost_usd=(compute + storage_per_day) * DAYS_PER_MONTH,
        transfer_tb_per_month=made * DAYS_PER_MONTH
        * (inp.upload_mb_per_video + inp.download_mb_per_video) / 1e6,
        storage_tb=storage_tb,
        meets_target=per_day >= inp.target_per_day * (1 - _EPS),
        notes=[],
    )
    return replace(plan, notes=_notes(plan, stages))


def _gpus_needed(inp: PlanInput) -> int:
    """The fewest GPUs (up to GPU_LIMIT) whose capacity reaches the target; 0 if none does."""
    need = inp.target_per_day * (1 - _EPS) / (3600 * inp.hours_per_day)  # videos per second
    for gpus in range(2 if inp.topology == "split" else 1, GPU_LIMIT + 1):
        stages = _stages(inp, gpus)
        if stages[-1].capacity < need:
            return 0  # the CPU pool caps it, whatever the GPUs
        if _rate(stages) >= need:
            return gpus
    return 0


def _notes(plan: Plan, stages: list[_Stage]) -> list[str]:
    inp, notes = plan.input, []
    if not plan.meets_target:
        if plan.gpus_needed:
            notes.append(f"{inp.target_per_day:,}/day needs {plan.gpus_needed} GPUs "
                         f"({inp.topology})")
        elif stages[-1].capacity * 3600 * inp.hours_per_day < inp.target_per_day:
            notes.append(f"the CPU pool caps output at "
                         f"{stages[-1].capacity * 3600 * inp.hours_per_day:,.0f}/day: "
                         "add cpu_workers or shorten encode_sec")
        else:
            notes.append(f"no GPU count up to {GPU_LIMIT} reaches {inp.target_per_day:,}/day")
    if inp.topology == "split":
        if inp.interpolate_sec == 0:
            notes.append(f"split without interpolation leaves gpu{inp.gpus} idle")
        elif stages[1].count > 1:
            notes.append(f"split gives interpolation {stages[1].count} of the {inp.gpus} "
                         "GPUs: one alone could not keep up")
        other = _rate(_stages(replace(inp, topology="colocated"), inp.gpus)) * 60
        if other > plan.videos_per_minute * (1 + _EPS):
            notes.append(f"colocated makes {other:.2f} videos/min on the same GPUs")
    if plan.cost_per_video_usd > COST_TARGET_USD:
        notes.append(f"${plan.cost_per_video_usd:.5f}/video is above the plan's "
                     f"${COST_TARGET_USD} target")
    return notes


# --- simulation -------------------------------------------------------------------------


def simulate(inp: PlanInput, videos: int = 500, seed: int = 0, *,
             cv: float = JITTER_CV) -> SimResult:
    """Run one batch of ``videos`` through ``inp``'s pipeline, event by event.

    Every video is queued at t = 0. Each stage serves its FIFO queue with its devices,
    lowest-numbered free device first. Service times are gamma-distributed around the
    means with coefficient of variation ``cv`` (0: exactly the means), drawn from
    ``seed`` per video and step, so both topologies see the same times. The steady rate
    needs a batch of many videos per device (50 or more).

    Raises:
        ConfigError: a field of ``inp``, ``videos`` or ``cv`` is out of range.
    """
    inp.check()
    if isinstance(videos, bool) or not isinstance(videos, int) or not 1 <= videos <= VIDEO_LIMIT:
        raise ConfigError("out of range", item="simulate", field="videos", value=videos,
                          limit=f"1-{VIDEO_LIMIT}")
    if not (isinstance(cv, int | float) and 0 <= cv <= 1):
        raise ConfigError("out of range", item="simulate", field="cv", value=cv, limit="0-1")
    stages = _stages(inp, inp.gpus)
    means = {"generate": inp.seconds_per_video, "interpolate": inp.interpolate_sec,
             "encode": inp.encode_sec}
    factors = np.ones((len(means), videos))
    if cv > 0:
        shape = 1 / cv**2
        factors = np.random.default_rng(seed).standard_gamma(shape, factors.shape) / shape
    draws = {step: factors[j] * mean for j, (step, mean) in enumerate(means.items())}
    service = [sum(draws[step] for step in stage.work) for stage in stages]

    queues: list[deque[int]] = [deque(range(videos))] + [deque() for _ in stages[1:]]
    free = [list(range(stage.count)) for stage in stages]  # heaps of idle device indices
    busy = [[0.0] * stage.count for stage in stages]  # seconds each device has worked
    events: list[tuple[float, int, int, int, int]] = []  # (time, order, stage, device, video)
    started, done = [0.0] * videos, [0.0] * videos
    area = [0.0] * len(stages)  # integral of each queue's length over time
    now, order = 0.0, 0

    def dispatch(s: int) -> None:
        nonlocal order
        while queues[s] and free[s]:
            video, device = queues[s].popleft(), heapq.heappop(free[s])
            seconds = float(service[s][video])
            if s == 0:
                started[video] = now
            busy[s][device] += seconds
            heapq.heappush(events, (now + seconds, order, s, device, video))
            order += 1

    dispatch(0)
    longest = [len(q) for q in queues]
    while events:
        time, _, s, device, video = heapq.heappop(events)
        area = [a + len(q) * (time - now) for a, q in zip(area, queues, strict=True)]
        now = time
        heapq.heappush(free[s], device)
        if s + 1 < len(stages):
            queues[s + 1].append(video)
            dispatch(s + 1)
        else:
            done[video] = now
        dispatch(s)
        longest = [max(m, len(q)) for m, q in zip(longest, queues, strict=True)]

    ends = sorted(done)
    low, high = ends[int(videos * TRIM)], ends[videos - 1 - int(videos * TRIM)]
    # Count completions inside (low, high], so that bursts of equal times count whole.
    rate = sum(low < t <= high for t in ends) / (high - low) if high > low else videos / now
    spent: dict[str, list[float]] = {}
    for stage, seconds in zip(stages, busy, strict=True):
        for name, value in zip(stage.devices, seconds, strict=True):
            spent.setdefault(name, []).append(value / now)
    return SimResult(
        videos=videos,
        makespan_sec=now,
        throughput_per_min=rate * 60,
        utilisation={name: float(np.mean(v)) for name, v in spent.items()},
        mean_queue={s.name: a / now for s, a in zip(stages, area, strict=True)},
        max_queue={s.name: m for s, m in zip(stages, longest, strict=True)},
        mean_latency_sec=float(np.mean(done)),
        mean_in_process_sec=float(np.mean(np.subtract(done, started))),
        cv=float(cv),
        seed=seed,
    )


def compare_topologies(inp: PlanInput) -> list[Plan]:
    """Plan and simulate ``inp`` as colocated and as split, on the same GPUs.

    The simulated batch is 500 videos, or 50 per GPU when that is more (up to
    VIDEO_LIMIT): a batch needs many videos per device to reach a steady rate.

    Raises:
        ConfigError: a field is out of range, or ``inp.gpus`` is 1 (split needs two).
    """
    videos = min(VIDEO_LIMIT, max(500, 50 * inp.gpus))
    plans = []
    for topology in TOPOLOGIES:
        variant = replace(inp, topology=topology)
        plans.append(replace(plan_capacity(variant), simulated=simulate(variant, videos)))
    return plans

