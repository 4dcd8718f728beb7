"""The relay's schedule for answers on the join path (:mod:`relay.pacing`), sans-IO."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from relay.pacing import DEFAULT_ROUND_TRIPS, JoinPacer, Phase, RoundTripSampler, TimerLateness


def test_draws_come_from_the_seeds_until_enough_real_round_trips_arrived() -> None:
    seen: list[list[float]] = []

    def choose(options: Sequence[float]) -> float:
        seen.append(list(options))
        return options[-1]

    def offered() -> list[float]:
        return seen[-1]

    sampler = RoundTripSampler((0.05, 0.07), window=4, min_real=3, choose=choose)
    assert sampler.draw() == 0.07
    assert sampler.add(0.002)
    assert sampler.add(0.003)
    assert sampler.draw() == 0.003
    assert offered() == [0.05, 0.07, 0.002, 0.003]  # seeds and the first real ones together
    sampler.add(0.004)
    sampler.draw()
    assert offered() == [0.002, 0.003, 0.004]  # then the real ones only
    for value in (0.005, 0.006, 0.007):
        sampler.add(value)
    sampler.draw()
    assert offered() == [0.004, 0.005, 0.006, 0.007]  # the newest `window` of them
    assert sampler.real_samples == 4


@pytest.mark.parametrize("value", [-0.001, 2.5, math.inf, math.nan])
def test_a_person_or_a_stalled_client_is_no_round_trip(value: float) -> None:
    sampler = RoundTripSampler(window=8, min_real=1, max_sample=2.0)
    assert not sampler.add(value)
    assert sampler.real_samples == 0
    assert sampler.draw() in DEFAULT_ROUND_TRIPS


def test_nonsense_settings_are_refused() -> None:
    for seeds in ((), (-1.0,), (math.nan,)):
        with pytest.raises(ValueError, match="seeds"):
            RoundTripSampler(seeds)
    with pytest.raises(ValueError, match="window"):
        RoundTripSampler(window=4, min_real=5)


def test_a_live_answer_is_padded_by_one_draw_and_a_decoy_waits_for_the_larger_of_two() -> None:
    draws = iter([0.03, 0.01, 0.04, 0.02, 0.05])

    def make() -> RoundTripSampler:
        return RoundTripSampler((0.0,), choose=lambda _: next(draws))

    pacer = JoinPacer(make)
    assert pacer.live_answer_at(Phase.CHALLENGE, 10.0) == pytest.approx(10.03)
    assert pacer.decoy_answer_at(Phase.CHALLENGE, 10.0) == pytest.approx(10.01 + 0.03)
    assert pacer.decoy_answer_at(Phase.VERDICT, 20.0) == pytest.approx(20.05)
    pacer.record(Phase.VERDICT, 0.004)
    assert pacer.sampler(Phase.VERDICT).real_samples == 1
    assert pacer.sampler(Phase.CHALLENGE).real_samples == 0


def test_live_and_decoy_answer_times_have_the_same_distribution() -> None:
    """The point of max(R, T) against max(T1, T2): when the live leader's round trips R come
    from the window's own distribution, both delays are the larger of two independent draws.
    Checked with a seeded RNG over many draws (quantiles within 5 %); unpadded live answers
    against the same decoy differ by far more, so the comparison can fail."""
    rng = random.Random(17)
    round_trips = [rng.lognormvariate(math.log(0.04), 0.5) for _ in range(64)]
    pacer = JoinPacer(lambda: RoundTripSampler(round_trips[:8], choose=rng.choice))
    for value in round_trips:
        pacer.record(Phase.CHALLENGE, value)
    live, decoy, unpadded = [], [], []
    for _ in range(20_000):
        real = rng.choice(round_trips)
        live.append(max(real, pacer.live_answer_at(Phase.CHALLENGE, 0.0)))
        decoy.append(pacer.decoy_answer_at(Phase.CHALLENGE, 0.0))
        unpadded.append(real)

    def quantiles(values: list[float]) -> list[float]:
        ordered = sorted(values)
        return [ordered[int(q * len(ordered))] for q in (0.1, 0.25, 0.5, 0.75, 0.9)]

    for a, b in zip(quantiles(live), quantiles(decoy), strict=True):
        assert abs(a - b) / b < 0.05
    assert abs(quantiles(unpadded)[2] - quantiles(decoy)[2]) / quantiles(decoy)[2] > 0.1


def test_timers_are_asked_early_by_their_median_lateness_capped() -> None:
    lateness = TimerLateness(window=4, max_advance=0.005)
    assert lateness.advance() == 0.0  # nothing measured yet: no guess
    for late in (0.0008, 0.0012, 0.0009):
        lateness.record(asked=10.0, woke=10.0 + late)
    assert lateness.advance() == pytest.approx(0.0009)
    lateness.record(asked=10.0, woke=9.0)  # early (cannot happen, but): counts as on time
    lateness.record(asked=10.0, woke=11.0)  # a stalled loop: counts as the cap, not a second
    lateness.record(asked=10.0, woke=10.5)
    # Only the newest four remain: 0.0009, 0.0, 0.005, 0.005.
    assert lateness.advance() == pytest.approx(0.005)
