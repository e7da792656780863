"""Scoring by hand-computed cases: weights, thresholds, eliminations, ties, conversion, waits."""

from __future__ import annotations

import pytest

from vidgen.shootout.config import GpuSpec, ScoringRules, Weights
from vidgen.shootout.score import ContenderInput, Failure, Rating, VideoResult, aggregate, score

RULES = ScoringRules()  # the plan's: < 30 s, SSIM > 0.85, 0 flashes, > 4/5, <= 24 GB; 40/35/15/10
SAME = GpuSpec(name="RTX 4090", reference="RTX 4090")


def video(contender: str, seconds: float, ssim: float = 0.94, vram: float | None = 12.0,
          flashes: int = 0, keyframe: str = "k", seed: int = 1, load: float = 0.0,
          honours: bool = True) -> VideoResult:
    return VideoResult(video_id=f"{contender}:{keyframe}:{seed}", contender=contender,
                       keyframe=keyframe, seed=seed, path=f"{contender}.mp4", sha256="0" * 64,
                       seconds=seconds, model_load_sec=load, peak_vram_gb=vram, ssim_mean=ssim,
                       ssim_min=ssim - 0.05, flash_frames=flashes, honours_keyframe=honours)


def entrant(name: str, *videos: VideoResult, **extra: object) -> ContenderInput:
    return ContenderInput(name=name, label=name.upper(), backend="comfyui", videos=videos,
                          **extra)  # type: ignore[arg-type]


def rated(*videos: VideoResult, fidelity: int = 5, smoothness: int = 5) -> dict[str, Rating]:
    return {v.video_id: Rating(v.video_id, fidelity, smoothness, 0, True) for v in videos}


def test_weighted_scores_and_rank_by_hand() -> None:
    a = video("a", seconds=10.0, ssim=0.94, vram=12.0)
    b = video("b", seconds=15.0, ssim=0.91, vram=6.0)
    ratings = {**rated(a, fidelity=5, smoothness=5), **rated(b, fidelity=4, smoothness=4)}
    ratings[b.video_id] = Rating(b.video_id, fidelity=5, smoothness=4)  # mean 4.5 over two
    b2 = video("b", seconds=15.0, ssim=0.91, vram=6.0, seed=2)
    ratings[b2.video_id] = Rating(b2.video_id, fidelity=4, smoothness=4)
    board = score([entrant("a", a), entrant("b", b, b2)], ratings, RULES, SAME)
    first, second = board.contenders
    # a: speed 1 - 10/30; temporal mean((0.94 - 0.85) / 0.15, (5 - 1) / 4) = mean(0.6, 1);
    #    fidelity (5 - 4) / (5 - 4) = 1; vram 1 - 12/24 = 0.5
    assert first.name == "a" and first.rank == 1 and first.status == "ranked"
    assert first.parts == pytest.approx({"speed": 2 / 3, "temporal": 0.8, "fidelity": 1.0,
                                         "vram": 0.5})
    assert first.score == pytest.approx(0.4 * 2 / 3 + 0.35 * 0.8 + 0.15 * 1.0 + 0.1 * 0.5)
    # b: speed 0.5; temporal mean(0.4, 0.75); fidelity (4.5 - 4) / 1; vram 1 - 6/24
    assert second.parts == pytest.approx({"speed": 0.5, "temporal": 0.575, "fidelity": 0.5,
                                          "vram": 0.75})
    assert second.score == pytest.approx(0.55125) and second.rank == 2
    assert board.winner is first and board.leader is first
    assert board.why[0].startswith("A wins with a weighted score of 0.747")
    assert board.why[1] == "Runner-up: B at 0.551."


def test_every_failed_threshold_is_a_reason() -> None:
    bad = video("c", seconds=40.0, ssim=0.80, vram=30.0, flashes=2)
    board = score([entrant("c", bad)], rated(bad, fidelity=3), RULES, SAME)
    (entry,) = board.contenders
    assert entry.status == "eliminated" and entry.score is None and entry.rank is None
    assert [(e.rule, e.value, e.limit) for e in entry.eliminations] == [
        ("speed", "40.00 s per video", "< 30 s on RTX 4090"),
        ("ssim", "worst video's mean SSIM 0.800", "> 0.85 in every video"),
        ("flash_frames", "2 flash frame(s)", "zero"),
        ("fidelity", "mean first-frame fidelity rating 3.00/5", "> 4/5"),
        ("vram", "peak 30.0 GB", "<= 24 GB"),
    ]
    assert str(entry.eliminations[0]) == "C: speed: 40.00 s per video (limit: < 30 s on RTX 4090)"
    assert board.winner is None and board.leader is None
    assert board.why[0] == "No winner: every contender failed at least one threshold."


def test_the_limits_are_strict_where_the_plan_says_so() -> None:
    edge = video("e", seconds=30.0, ssim=0.85, vram=24.0)  # 30 s and SSIM 0.85 fail, 24 GB fits
    board = score([entrant("e", edge)], rated(edge, fidelity=4), RULES, SAME)
    assert [e.rule for e in board.contenders[0].eliminations] == ["speed", "ssim", "fidelity"]


def test_a_tie_goes_to_the_faster() -> None:
    rules = RULES.model_copy(update={"weights": Weights(speed=0.0, temporal=0.5, fidelity=0.25,
                                                        vram=0.25)})
    slow, fast = video("slow", seconds=12.0), video("fast", seconds=10.0)
    board = score([entrant("slow", slow), entrant("fast", fast)], rated(slow, fast), rules, SAME)
    assert board.contenders[0].score == board.contenders[1].score
    assert [c.name for c in board.contenders] == ["fast", "slow"] and board.winner is not None
    assert board.winner.name == "fast"
    assert board.why[1] == ("Tied on score with SLOW: the faster wins (10.00 s against 12.00 s "
                            "per video).")


def test_times_from_another_gpu_go_through_the_users_factor() -> None:
    h100 = GpuSpec(name="H100", reference="RTX 4090", speed_factor=2.0)
    clip = video("w", seconds=20.0)
    board = score([entrant("w", clip)], rated(clip), RULES, h100)
    (entry,) = board.contenders
    assert entry.metrics.measured_sec == 20.0 and entry.metrics.reference_sec == 40.0
    assert entry.eliminations[0].value == "40.00 s per video (measured 20.00 s on H100 x 2)"
    gentle = GpuSpec(name="H100", reference="RTX 4090", speed_factor=1.2)
    entry = score([entrant("w", clip)], rated(clip), RULES, gentle).contenders[0]
    assert entry.status == "ranked" and entry.parts["speed"] == pytest.approx(1 - 24 / 30)


def test_without_ratings_nobody_wins_and_the_leader_is_provisional() -> None:
    a, b = video("a", seconds=10.0), video("b", seconds=20.0)
    board = score([entrant("a", a), entrant("b", b)], rated(b), RULES, SAME)
    waiting = next(c for c in board.contenders if c.name == "a")
    assert waiting.status == "awaiting" and not waiting.eliminations and waiting.score is None
    assert waiting.missing == ["first-frame fidelity rating of 1 of 1 video(s)",
                               "motion smoothness rating of 1 of 1 video(s)"]
    # known parts only: speed 2/3, temporal 0.6 (SSIM part alone), vram 0.5; over 0.85
    assert waiting.parts["fidelity"] is None and waiting.parts["temporal"] == pytest.approx(0.6)
    assert waiting.provisional == pytest.approx((0.4 * 2 / 3 + 0.35 * 0.6 + 0.1 * 0.5) / 0.85)
    assert board.winner is None  # b is complete and ranked, but a could still beat it
    assert board.contenders[0].name == "b" and board.contenders[0].rank == 1
    assert board.leader is not None and board.leader.name == "a"
    assert board.why[0].startswith("The decision waits for A: first-frame fidelity rating")
    assert board.why[1] == "Provisional leader: A (0.620, from the parts known so far)."


def test_a_bad_threshold_eliminates_even_while_ratings_are_missing() -> None:
    slow = video("s", seconds=31.0)
    entry = score([entrant("s", slow)], {}, RULES, SAME).contenders[0]
    assert entry.status == "eliminated" and [e.rule for e in entry.eliminations] == ["speed"]
    assert "first-frame fidelity rating of 1 of 1 video(s)" in entry.missing


def test_text_to_video_is_labelled() -> None:
    clip = video("mochi", seconds=8.0, honours=False)
    board = score([entrant("mochi", clip)], rated(clip, fidelity=1), RULES, SAME)
    assert board.contenders[0].metrics.text_to_video
    assert board.why[-1] == "Text-to-video, never saw the keyframe: MOCHI."


def test_failed_and_unmade_videos() -> None:
    clip = video("x", seconds=5.0)
    failed = Failure("x:k:2", "x", "k", 2, "OutOfMemory: the GPU ran out of memory")
    entry = score([entrant("x", clip, failures=[failed])], rated(clip), RULES, SAME).contenders[0]
    assert [(e.rule, e.value) for e in entry.eliminations] == [
        ("videos", "1 of 2 failed (OutOfMemory)")]
    waiting = score([entrant("y", clip, pending=3, unavailable="no server")], rated(clip), RULES,
                    SAME).contenders[0]
    assert waiting.status == "awaiting"
    assert waiting.missing == ["3 video(s) not made yet (last run: backend unavailable: "
                               "no server)"]


def test_vram_not_reported_on_a_gpu_is_missing_not_zero() -> None:
    clip = video("v", seconds=5.0, vram=None)
    entry = score([entrant("v", clip)], rated(clip), RULES, SAME).contenders[0]
    assert entry.status == "awaiting" and entry.missing == [
        "peak VRAM (not reported by the backend)"]


def test_aggregate_takes_means_worsts_and_sums() -> None:
    clips = [video("m", seconds=4.0, ssim=0.95, vram=10.0, flashes=1, seed=1, load=30.0),
             video("m", seconds=6.0, ssim=0.90, vram=14.0, flashes=2, seed=2)]
    m = aggregate(entrant("m", *clips, backend_load_sec=1.5), {}, 1.5)
    assert (m.measured_sec, m.reference_sec, m.load_sec) == (5.0, 7.5, 31.5)
    assert (m.ssim_mean, m.ssim_worst, m.vram_gb, m.flash_frames) == pytest.approx(
        (0.925, 0.90, 14.0, 3))
    assert m.rated_fidelity == 0 and m.fidelity_rating is None and m.viable == (0, 0)
