"""Scoring, exactly as the plan says and as configured: pure functions, no files.

Per contender (:func:`aggregate`): seconds per video is the mean of its
videos' generation time with the model load taken out (reported apart), times
the user's ``gpu.speed_factor`` when the runs happen on another GPU than the
reference; SSIM is each video's mean motion-compensated consecutive-frame SSIM
(the contender's mean, and its worst video); flash frames add up over its
videos; peak VRAM is the highest of its videos (0 on the CPU); the manual
ratings are means over its videos.

Then :func:`score`:

1. **Thresholds.** Every video made; seconds per video < ``speed_below_sec``;
   every video's mean SSIM > ``ssim_above``; flash frames <= ``flash_frames_max``;
   mean fidelity rating > ``fidelity_above``; peak VRAM <= ``vram_max_gb``. A
   contender failing any is *eliminated*, with every reason (rule, value, limit).
   One whose data is incomplete (unrated videos, unmade videos, VRAM not
   reported) and fails nothing yet is *awaiting*: not eliminated, not eligible.
2. **Sub-scores in [0, 1]**, each the headroom inside its threshold:
   speed ``1 - s / limit``; temporal the mean of ``(ssim - limit) / (1 - limit)``
   and the smoothness rating ``(r - 1) / 4``; fidelity ``(r - limit) / (5 - limit)``;
   VRAM ``1 - gb / limit``. Headroom does not depend on the other contenders.
3. **Score** ``sum(weight x sub-score)``; rank the complete survivors by score,
   ties (equal to 9 decimals) to the faster. The winner is the first, once no
   contender is awaiting; until then the report names a *provisional leader*
   from the known parts (``sum(w s) / sum(w)`` over them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Literal

from vidgen.shootout.config import GpuSpec, ScoringRules

__all__ = [
    "ContenderInput",
    "ContenderScore",
    "Elimination",
    "Failure",
    "Metrics",
    "Rating",
    "Scoreboard",
    "VideoResult",
    "aggregate",
    "score",
]

Status = Literal["ranked", "awaiting", "eliminated"]
PARTS = ("speed", "temporal", "fidelity", "vram")


@dataclass(frozen=True)
class VideoResult:
    """One finished video's measurements (from its ``.video_meta.json``)."""

    video_id: str  # contender:keyframe:seed
    contender: str
    keyframe: str
    seed: int
    path: str  # relative to the work folder
    sha256: str
    seconds: float  # generation on the GPU, model load taken out
    model_load_sec: float
    peak_vram_gb: float | None  # None: on a GPU, but not reported
    ssim_mean: float | None
    ssim_min: float | None
    flash_frames: int | None
    temporal_variance: float | None = None
    flicker: float | None = None
    fidelity_ssim: float | None = None
    dynamic: float | None = None
    interpolate_sec: float = 0.0
    encode_sec: float = 0.0
    verdict: str = "pass"
    honours_keyframe: bool = True
    prompt: str = ""


@dataclass(frozen=True)
class Failure:
    """A cell that failed: no video."""

    video_id: str
    contender: str
    keyframe: str
    seed: int
    error: str


@dataclass(frozen=True)
class Rating:
    """A person's ratings of one video; None where the sheet is blank."""

    video_id: str
    fidelity: int | None = None  # first-frame fidelity 1-5
    smoothness: int | None = None  # motion smoothness 1-5
    artifacts: int | None = None  # artifact count
    viable: bool | None = None  # commercially viable
    notes: str = ""


@dataclass(frozen=True)
class ContenderInput:
    """What one contender made, as the run left it."""

    name: str
    label: str
    backend: str
    template: str = ""
    notes: str = ""
    videos: Sequence[VideoResult] = ()
    failures: Sequence[Failure] = ()
    pending: int = 0  # cells not made yet
    unavailable: str | None = None  # why its backend could not run, last time
    device: str = ""
    hours: float = 0.0
    backend_load_sec: float = 0.0


@dataclass(frozen=True)
class Metrics:
    """A contender's figures, aggregated over its videos."""

    videos: int
    measured_sec: float | None
    reference_sec: float | None
    load_sec: float  # backend load + model load, apart from the per-video time
    vram_gb: float | None
    ssim_mean: float | None
    ssim_worst: float | None  # the lowest per-video mean
    ssim_min: float | None  # the lowest frame pair of all
    flash_frames: int | None
    temporal_variance: float | None
    flicker: float | None
    fidelity_ssim: float | None
    dynamic: float | None
    fidelity_rating: float | None
    smoothness_rating: float | None
    rated_fidelity: int
    rated_smoothness: int
    artifacts: int | None
    viable: tuple[int, int]  # (yes, answered)
    text_to_video: bool


@dataclass(frozen=True)
class Elimination:
    """One threshold a contender failed."""

    contender: str
    rule: str
    value: str
    limit: str

    def __str__(self) -> str:
        return f"{self.contender}: {self.rule}: {self.value} (limit: {self.limit})"


@dataclass
class ContenderScore:
    """A contender's verdict."""

    input: ContenderInput
    metrics: Metrics
    status: Status
    eliminations: list[Elimination] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    parts: dict[str, float | None] = field(default_factory=dict)
    score: float | None = None
    provisional: float | None = None
    rank: int | None = None

    @property
    def name(self) -> str:
        return self.input.name

    @property
    def label(self) -> str:
        return self.input.label


@dataclass
class Scoreboard:
    """Every contender in order (ranked, awaiting, eliminated), the winner and why."""

    contenders: list[ContenderScore]
    winner: ContenderScore | None
    leader: ContenderScore | None  # the winner, else the provisional leader
    why: list[str]

    @property
    def eliminations(self) -> list[Elimination]:
        return [e for c in self.contenders for e in c.eliminations]


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def aggregate(contender: ContenderInput, ratings: Mapping[str, Rating], factor: float
              ) -> Metrics:
    """A contender's metrics; ``factor`` converts measured seconds to the reference GPU."""
    videos = contender.videos
    rated = [ratings[v.video_id] for v in videos if v.video_id in ratings]
    fidelity = [r.fidelity for r in rated if r.fidelity is not None]
    smoothness = [r.smoothness for r in rated if r.smoothness is not None]
    artifacts = [r.artifacts for r in rated if r.artifacts is not None]
    viable = [r.viable for r in rated if r.viable is not None]
    measured = _mean([v.seconds for v in videos])
    vrams = [v.peak_vram_gb for v in videos]
    flashes = [v.flash_frames for v in videos]
    ssims = [v.ssim_mean for v in videos if v.ssim_mean is not None]
    return Metrics(
        videos=len(videos), measured_sec=measured,
        reference_sec=None if measured is None else measured * factor,
        load_sec=contender.backend_load_sec + max((v.model_load_sec for v in videos),
                                                  default=0.0),
        vram_gb=None if not vrams or None in vrams else max(v for v in vrams if v is not None),
        ssim_mean=_mean(ssims), ssim_worst=min(ssims) if len(ssims) == len(videos) and ssims
        else None, ssim_min=min((v.ssim_min for v in videos if v.ssim_min is not None),
                                default=None),
        flash_frames=None if not flashes or None in flashes else
        sum(f for f in flashes if f is not None),
        temporal_variance=_mean([v.temporal_variance for v in videos]),
        flicker=_mean([v.flicker for v in videos]),
        fidelity_ssim=_mean([v.fidelity_ssim for v in videos]),
        dynamic=_mean([v.dynamic for v in videos]),
        fidelity_rating=fmean(fidelity) if fidelity else None,
        smoothness_rating=fmean(smoothness) if smoothness else None,
        rated_fidelity=len(fidelity), rated_smoothness=len(smoothness),
        artifacts=sum(artifacts) if artifacts else None,
        viable=(sum(viable), len(viable)),
        text_to_video=any(not v.honours_keyframe for v in videos))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _judge(item: ContenderInput, m: Metrics, rules: ScoringRules, gpu: GpuSpec
           ) -> tuple[list[Elimination], list[str]]:
    """The thresholds: eliminations with their reasons, and what cannot be judged yet."""
    out: list[Elimination] = []
    missing: list[str] = []

    def fail(rule: str, value: str, limit: str) -> None:
        out.append(Elimination(item.label, rule, value, limit))

    made = m.videos + len(item.failures)
    if item.failures:
        kinds = sorted({f.error.split(":")[0] for f in item.failures})
        fail("videos", f"{len(item.failures)} of {made} failed ({', '.join(kinds)})",
             "every video made")
    if item.pending:
        why = f" (last run: backend unavailable: {item.unavailable})" if item.unavailable else ""
        missing.append(f"{item.pending} video(s) not made yet{why}")
    if not m.videos:
        return out, missing
    assert m.reference_sec is not None and m.measured_sec is not None
    if m.reference_sec >= rules.speed_below_sec:
        how = "" if gpu.same_gpu else \
            f" (measured {m.measured_sec:.2f} s on {gpu.name} x {gpu.factor:g})"
        fail("speed", f"{m.reference_sec:.2f} s per video{how}",
             f"< {rules.speed_below_sec:g} s on {gpu.reference}")
    if m.ssim_worst is None:
        missing.append("SSIM (the QC check did not run on every video)")
    elif m.ssim_worst <= rules.ssim_above:
        fail("ssim", f"worst video's mean SSIM {m.ssim_worst:.3f}",
             f"> {rules.ssim_above:g} in every video")
    if m.flash_frames is None:
        missing.append("flash frames (the QC check did not run on every video)")
    elif m.flash_frames > rules.flash_frames_max:
        fail("flash_frames", f"{m.flash_frames} flash frame(s)",
             f"<= {rules.flash_frames_max}" if rules.flash_frames_max else "zero")
    if m.rated_fidelity < m.videos:
        missing.append(f"first-frame fidelity rating of {m.videos - m.rated_fidelity} of "
                       f"{m.videos} video(s)")
    elif m.fidelity_rating is not None and m.fidelity_rating <= rules.fidelity_above:
        fail("fidelity", f"mean first-frame fidelity rating {m.fidelity_rating:.2f}/5",
             f"> {rules.fidelity_above:g}/5")
    if m.rated_smoothness < m.videos:
        missing.append(f"motion smoothness rating of {m.videos - m.rated_smoothness} of "
                       f"{m.videos} video(s)")
    if m.vram_gb is None:
        missing.append("peak VRAM (not reported by the backend)")
    elif m.vram_gb > rules.vram_max_gb:
        fail("vram", f"peak {m.vram_gb:.1f} GB", f"<= {rules.vram_max_gb:g} GB")
    return out, missing


def _parts(m: Metrics, rules: ScoringRules) -> dict[str, float | None]:
    """Sub-scores in [0, 1] (None where unknown): each the headroom inside its threshold."""
    objective = None if m.ssim_mean is None else \
        _clip((m.ssim_mean - rules.ssim_above) / (1.0 - rules.ssim_above))
    manual = None if m.smoothness_rating is None or m.rated_smoothness < m.videos else \
        _clip((m.smoothness_rating - 1.0) / 4.0)
    temporal = objective if manual is None or objective is None else (objective + manual) / 2
    return {
        "speed": None if m.reference_sec is None else
        _clip(1.0 - m.reference_sec / rules.speed_below_sec),
        "temporal": temporal,
        "fidelity": None if m.fidelity_rating is None or m.rated_fidelity < m.videos else
        _clip((m.fidelity_rating - rules.fidelity_above) / (5.0 - rules.fidelity_above)),
        "vram": None if m.vram_gb is None else _clip(1.0 - m.vram_gb / rules.vram_max_gb),
    }


def score(contenders: Sequence[ContenderInput], ratings: Mapping[str, Rating],
          rules: ScoringRules, gpu: GpuSpec) -> Scoreboard:
    """Judge, score and rank the contenders; see the module docstring."""
    weights = rules.weights.as_dict()
    judged: list[ContenderScore] = []
    for item in contenders:
        m = aggregate(item, ratings, gpu.factor)
        eliminations, missing = _judge(item, m, rules, gpu)
        status: Status = "eliminated" if eliminations else "awaiting" if missing or not \
            m.videos else "ranked"
        entry = ContenderScore(item, m, status, eliminations, missing)
        if status != "eliminated":
            entry.parts = _parts(m, rules)
            known = {k: v for k, v in entry.parts.items() if v is not None}
            if status == "ranked":
                entry.score = sum(weights[k] * known[k] for k in PARTS)
            elif known and sum(weights[k] for k in known) > 0:
                entry.provisional = sum(weights[k] * v for k, v in known.items()) / sum(
                    weights[k] for k in known)
        judged.append(entry)

    def speed(c: ContenderScore) -> float:
        return c.metrics.reference_sec if c.metrics.reference_sec is not None else float("inf")

    ranked = sorted((c for c in judged if c.status == "ranked"),
                    key=lambda c: (-round(c.score or 0.0, 9), speed(c)))
    awaiting = sorted((c for c in judged if c.status == "awaiting"),
                      key=lambda c: (-round(c.provisional or 0.0, 9), speed(c)))
    for rank, entry in enumerate(ranked, 1):
        entry.rank = rank
    ordered = [*ranked, *awaiting, *(c for c in judged if c.status == "eliminated")]
    winner = ranked[0] if ranked and not awaiting else None
    scored = [c for c in (*ranked, *awaiting) if c.score is not None or c.provisional is not None]
    leader = winner or min(scored, key=lambda c: (
        -round(c.score if c.score is not None else c.provisional or 0.0, 9), speed(c)),
        default=None)
    return Scoreboard(ordered, winner, leader, _why(ordered, winner, leader, ranked, awaiting))


def _why(ordered: list[ContenderScore], winner: ContenderScore | None,
         leader: ContenderScore | None, ranked: list[ContenderScore],
         awaiting: list[ContenderScore]) -> list[str]:
    """The verdict in sentences a studio owner reads."""
    lines: list[str] = []
    out = [c for c in ordered if c.status == "eliminated"]
    if winner is not None:
        m = winner.metrics
        lines.append(
            f"{winner.label} wins with a weighted score of {winner.score:.3f}: "
            + ", ".join(f"{k} {winner.parts[k]:.2f}" for k in PARTS)
            + f" ({m.reference_sec:.2f} s per video, worst mean SSIM {m.ssim_worst:.3f}, "
            f"{m.flash_frames} flash frames, fidelity {m.fidelity_rating:.1f}/5, "
            f"peak VRAM {m.vram_gb:.1f} GB).")
        if len(ranked) > 1:
            second = ranked[1]
            if round(second.score or 0.0, 9) == round(winner.score or 0.0, 9):
                lines.append(f"Tied on score with {second.label}: the faster wins "
                             f"({m.reference_sec:.2f} s against "
                             f"{second.metrics.reference_sec:.2f} s per video).")
            else:
                lines.append(f"Runner-up: {second.label} at {second.score:.3f}.")
    elif awaiting:
        lines.append("The decision waits for "
                     + "; ".join(f"{c.label}: {', '.join(c.missing)}" for c in awaiting) + ".")
        if leader is not None:
            value = leader.score if leader.score is not None else leader.provisional
            lines.append(f"Provisional leader: {leader.label} ({value:.3f}"
                         + (", from the parts known so far" if leader.score is None else "")
                         + ").")
    else:
        lines.append("No winner: every contender failed at least one threshold.")
    if out:
        lines.append("Eliminated: " + "; ".join(
            f"{c.label} ({', '.join(f'{e.value}, needs {e.limit}' for e in c.eliminations)})"
            for c in out) + ".")
    t2v = [c.label for c in ordered if c.metrics.text_to_video]
    if t2v:
        lines.append(f"Text-to-video, never saw the keyframe: {', '.join(t2v)}.")
    return lines
