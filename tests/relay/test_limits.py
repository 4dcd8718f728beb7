"""Abuse limits (relay/limits.py): backoff, lockout, forgetting, eviction, caps and buckets.

Time is a plain float the tests move by hand; nothing here sleeps.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.guessing import GUESSING_THRESHOLD, account_guessing_sentence, guessing_alarm
from relay.limits import (
    BackoffPolicy,
    ConnectionLimiter,
    FailureTracker,
    Snapshot,
    TokenBucket,
    TrustList,
    Verdict,
    address_key,
    network_key,
)

KEY = "198.51.100.7"
OTHER = "203.0.113.9"
HOUR = 3600.0


def fail_n(tracker: FailureTracker, key: str, n: int, start: float, step: float = 1.0) -> Verdict:
    """Record ``n`` failures ``step`` seconds apart from ``start``; return the last verdict."""
    verdict = tracker.check(key, start)
    for i in range(n):
        verdict = tracker.record_failure(key, start + i * step)
    return verdict


# --------------------------------------------------------------------------------------------
# address_key


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("10.0.0.255", "10.0.0.255"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:aaaa::5", "2001:db8:1:2::/64"),
        ("::1", "::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::FFFF:c000:0201", "192.0.2.1"),
    ],
)
def test_address_key(ip: str, key: str) -> None:
    assert address_key(ip) == key


def test_ipv6_same_64_shares_a_key_and_different_64s_do_not() -> None:
    a = address_key("2001:db8:aa:bb::1")
    b = address_key("2001:db8:aa:bb:1234:5678:9abc:def0")
    c = address_key("2001:db8:aa:bc::1")
    assert a == b
    assert a != c


def test_mapped_ipv4_shares_the_ipv4_budget() -> None:
    tracker = FailureTracker()
    fail_n(tracker, address_key("::ffff:198.51.100.7"), 6, 0.0)
    assert not tracker.check(address_key("198.51.100.7"), 5.5).allowed


@pytest.mark.parametrize(
    "bad", ["", "localhost", "192.0.2", "192.0.2.256", "2001:db8::g", "[::1]", " 192.0.2.1"]
)
def test_address_key_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        address_key(bad)


# --------------------------------------------------------------------------------------------
# BackoffPolicy


def test_policy_defaults_follow_the_design() -> None:
    policy = BackoffPolicy()
    assert (policy.free_failures, policy.window) == (6, 60.0)
    assert policy.base_delay == 1.0
    assert policy.max_delay == HOUR
    assert policy.lockout_after == 24
    assert policy.lockout_duration == 17 * HOUR
    assert policy.forget_after == 24 * HOUR


def test_policy_delay_doubles_and_caps_without_overflow() -> None:
    policy = BackoffPolicy(max_delay=100.0)
    assert [policy.delay(k) for k in range(9)] == [1, 2, 4, 8, 16, 32, 64, 100, 100]
    assert policy.delay(10_000) == 100.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0.0},
        {"base_delay": -1.0},
        {"max_delay": 0.5},
        {"lockout_duration": 0.0},
        {"forget_after": float("nan")},
        {"free_failures": -1},
        {"lockout_after": 0},
    ],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="BackoffPolicy"):
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# FailureTracker: backoff


def test_unknown_key_is_allowed() -> None:
    assert FailureTracker().check(KEY, 0.0) == Verdict(True, 0.0, False, 0)


def test_six_failures_in_a_minute_are_free_and_the_seventh_waits() -> None:
    tracker = FailureTracker()
    for i in range(5):
        verdict = tracker.record_failure(KEY, float(i))
        assert verdict == Verdict(True, 0.0, False, i + 1)
        assert tracker.check(KEY, float(i)).allowed
    verdict = tracker.record_failure(KEY, 5.0)  # sixth failure, within the minute
    assert not verdict.allowed
    assert verdict.retry_after >= 1.0
    assert not verdict.locked_out
    assert verdict.failures == 6
    assert not tracker.check(KEY, 5.5).allowed
    assert tracker.check(KEY, 6.0).allowed  # waited the second: the seventh may go


def test_failures_spread_over_more_than_the_window_are_free() -> None:
    tracker = FailureTracker()
    # 12 failures, 13 s apart: never six within 60 s.
    for i in range(12):
        assert tracker.record_failure(KEY, i * 13.0).allowed


def test_delays_grow_exponentially_and_are_capped() -> None:
    policy = BackoffPolicy(max_delay=100.0, lockout_after=1000)
    tracker = FailureTracker(policy)
    now = 0.0
    for _ in range(5):
        tracker.record_failure(KEY, now)
    delays = []
    for _ in range(10):
        verdict = tracker.record_failure(KEY, now)
        delays.append(verdict.retry_after)
        assert tracker.check(KEY, now + verdict.retry_after - 0.001).allowed is False
        now += verdict.retry_after  # the attacker waits exactly as told, then fails again
        assert tracker.check(KEY, now).allowed
    assert delays == [1, 2, 4, 8, 16, 32, 64, 100, 100, 100]


def test_default_delays_cap_at_an_hour() -> None:
    tracker = FailureTracker(BackoffPolicy(lockout_after=10_000))
    now = 0.0
    verdict = fail_n(tracker, KEY, 6, now, step=0.0)
    for _ in range(20):
        now += verdict.retry_after
        verdict = tracker.record_failure(KEY, now)
    assert verdict.retry_after == HOUR


def test_backoff_does_not_reset_when_the_window_slides() -> None:
    tracker = FailureTracker(BackoffPolicy(max_delay=10_000.0))
    fail_n(tracker, KEY, 6, 0.0, step=0.0)  # burst: backing off from here on
    verdict = tracker.record_failure(KEY, 500.0)  # long after the window
    assert verdict.retry_after == 2.0


# --------------------------------------------------------------------------------------------
# FailureTracker: lockout, lifting, forgetting, success


def test_lockout_after_24_failures_with_the_right_retry_after() -> None:
    tracker = FailureTracker()
    # Slow guessing: one failure every 20 minutes never triggers the burst backoff...
    for i in range(23):
        verdict = tracker.record_failure(KEY, i * 1200.0)
        assert verdict.allowed, i
        assert not verdict.newly_locked, i
    # ...but the 24th failure locks the key for 17 hours.
    t24 = 23 * 1200.0
    verdict = tracker.record_failure(KEY, t24)
    assert verdict.locked_out
    assert verdict.newly_locked
    assert not verdict.allowed
    assert verdict.failures == 24
    assert verdict.retry_after == 17 * HOUR
    later = tracker.check(KEY, t24 + HOUR)
    assert later.locked_out
    assert later.retry_after == 16 * HOUR
    assert tracker.locked(t24 + HOUR) == [(KEY, t24 + 17 * HOUR)]
    assert tracker.statistics().lockouts == 1
    # The lockout ends on time; the next failure locks again (not yet forgotten).
    assert tracker.check(KEY, t24 + 17 * HOUR).allowed
    assert tracker.locked(t24 + 17 * HOUR) == []
    again = tracker.record_failure(KEY, t24 + 18 * HOUR)
    assert again.locked_out
    assert again.newly_locked  # a re-lock is a new lockout, logged again
    assert again.retry_after == 17 * HOUR
    assert not tracker.record_failure(KEY, t24 + 18 * HOUR + 1).newly_locked


def test_rapid_guessing_is_locked_out_too() -> None:
    tracker = FailureTracker()
    now = 0.0
    verdict = tracker.check(KEY, now)
    locked_at = None
    for attempt in range(1, 25):
        now += verdict.retry_after
        assert tracker.check(KEY, now).allowed
        verdict = tracker.record_failure(KEY, now)
        if verdict.locked_out:
            locked_at = attempt
            break
    assert locked_at == 24
    assert verdict.retry_after == 17 * HOUR


def test_lift_clears_a_lockout() -> None:
    tracker = FailureTracker()
    fail_n(tracker, KEY, 24, 0.0)
    assert tracker.check(KEY, 30.0).locked_out
    assert tracker.lift(KEY)
    assert tracker.check(KEY, 30.0) == Verdict(True, 0.0, False, 0)
    assert tracker.locked(30.0) == []
    assert not tracker.lift(KEY)


def test_forget_after_quiet_period_clears() -> None:
    policy = BackoffPolicy()
    tracker = FailureTracker(policy)
    fail_n(tracker, KEY, 10, 0.0, step=0.0)
    assert tracker.check(KEY, 1.0).failures == 10
    assert tracker.check(KEY, policy.forget_after - 1).failures == 10
    assert tracker.check(KEY, policy.forget_after) == Verdict(True, 0.0, False, 0)
    assert KEY not in tracker
    # A fresh start: the next failures are free again.
    assert tracker.record_failure(KEY, policy.forget_after + 1).failures == 1


def test_forget_never_ends_a_lockout_early() -> None:
    policy = BackoffPolicy(lockout_after=3, lockout_duration=48 * HOUR)
    tracker = FailureTracker(policy)
    fail_n(tracker, KEY, 3, 0.0)
    assert tracker.check(KEY, 30 * HOUR).locked_out
    assert tracker.prune(30 * HOUR) == 0
    assert tracker.check(KEY, 50 * HOUR).allowed


def test_success_clears() -> None:
    tracker = FailureTracker()
    fail_n(tracker, KEY, 8, 0.0, step=0.0)
    assert not tracker.check(KEY, 0.0).allowed
    tracker.record_success(KEY)
    assert tracker.check(KEY, 0.0) == Verdict(True, 0.0, False, 0)
    tracker.record_success("never seen")  # harmless


def test_an_unrelated_key_is_unaffected() -> None:
    tracker = FailureTracker()
    fail_n(tracker, KEY, 24, 0.0, step=0.0)
    assert tracker.check(KEY, 1.0).locked_out
    assert tracker.check(OTHER, 1.0) == Verdict(True, 0.0, False, 0)
    assert tracker.record_failure(OTHER, 1.0) == Verdict(True, 0.0, False, 1)


def test_prune_drops_only_forgotten_records() -> None:
    policy = BackoffPolicy()
    tracker = FailureTracker(policy)
    tracker.record_failure("a", 0.0)
    tracker.record_failure("b", 10.0)
    tracker.record_failure("c", 20.0)
    assert tracker.prune(policy.forget_after + 15.0) == 2
    assert "c" in tracker
    assert len(tracker) == 1


# --------------------------------------------------------------------------------------------
# FailureTracker: bounded memory


def test_eviction_bounds_memory_under_an_address_spray() -> None:
    max_keys = 10_000
    tracker = FailureTracker(max_keys=max_keys)
    rng = random.Random(1234)
    victim = "2001:db8:dead:beef::/64"
    now = 0.0
    for i in range(150_000):
        now += 0.001
        spray = address_key(f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::1")
        tracker.record_failure(spray, now)
        if i % 1000 == 0:  # the attacked key keeps failing now and then
            tracker.record_failure(victim, now)
        assert len(tracker) <= max_keys
    stats = tracker.statistics()
    assert stats.tracked_keys == max_keys
    assert stats.evictions > 100_000
    assert stats.failures_recorded == 150_000 + 150
    assert victim in tracker
    assert tracker.check(victim, now).failures == 150


def test_eviction_removes_the_least_recently_failed_key() -> None:
    tracker = FailureTracker(max_keys=2)
    tracker.record_failure("a", 0.0)
    tracker.record_failure("b", 1.0)
    tracker.record_failure("a", 2.0)  # a is now the most recent
    tracker.record_failure("c", 3.0)
    assert "b" not in tracker
    assert "a" in tracker
    assert "c" in tracker
    assert tracker.statistics().evictions == 1


# --------------------------------------------------------------------------------------------
# FailureTracker: properties

_operations = st.lists(
    st.tuples(
        st.sampled_from(["check", "fail", "fail", "fail", "success", "lift"]),
        st.sampled_from(["k1", "k2", "k3"]),
        st.floats(min_value=0.0, max_value=30 * HOUR, allow_nan=False),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    operations=_operations,
    free=st.integers(0, 8),
    lockout_after=st.integers(1, 30),
    backwards=st.booleans(),
)
def test_verdict_invariants(
    operations: list[tuple[str, str, float]], free: int, lockout_after: int, backwards: bool
) -> None:
    """retry_after is never negative and allowed ⇔ retry_after == 0, whatever happens."""
    policy = BackoffPolicy(
        free_failures=free, lockout_after=lockout_after, lockout_duration=5 * HOUR
    )
    tracker = FailureTracker(policy, max_keys=2)
    now = 0.0
    for op, key, step in operations:
        # Time normally moves forward; optionally let it jump back to probe robustness.
        now = step if backwards else now + step / 100
        if op == "check":
            verdict = tracker.check(key, now)
        elif op == "fail":
            verdict = tracker.record_failure(key, now)
            assert verdict.failures >= 1
        elif op == "success":
            tracker.record_success(key)
            verdict = tracker.check(key, now)
            assert verdict == Verdict(True, 0.0, False, 0)
        else:
            tracker.lift(key)
            verdict = tracker.check(key, now)
        assert verdict.retry_after >= 0
        assert verdict.allowed == (verdict.retry_after == 0)
        if verdict.locked_out:
            assert not verdict.allowed
        assert len(tracker) <= 2
        for _, until in tracker.locked(now):
            assert until > now


# --------------------------------------------------------------------------------------------
# ConnectionLimiter


def test_connection_limiter_caps_per_key() -> None:
    limiter = ConnectionLimiter(max_per_key=2)
    assert limiter.try_acquire(KEY)
    assert limiter.try_acquire(KEY)
    assert not limiter.try_acquire(KEY)
    assert limiter.try_acquire(OTHER)
    assert limiter.count(KEY) == 2
    limiter.release(KEY)
    assert limiter.try_acquire(KEY)
    stats = limiter.statistics()
    assert (stats.keys, stats.connections, stats.refused) == (2, 3, 1)


def test_connection_limiter_never_goes_negative_and_drops_idle_keys() -> None:
    limiter = ConnectionLimiter(max_per_key=1)
    limiter.release(KEY)  # never acquired
    assert limiter.count(KEY) == 0
    assert limiter.try_acquire(KEY)
    limiter.release(KEY)
    limiter.release(KEY)  # double release
    assert limiter.count(KEY) == 0
    assert len(limiter) == 0
    assert limiter.statistics().unbalanced_releases == 2
    # The cap is intact after the bogus releases: no credit was banked.
    assert limiter.try_acquire(KEY)
    assert not limiter.try_acquire(KEY)


def test_connection_limiter_refuses_a_zero_cap() -> None:
    with pytest.raises(ValueError, match="max_per_key"):
        ConnectionLimiter(0)


# --------------------------------------------------------------------------------------------
# TokenBucket


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=5)
    assert all(bucket.take(0.0) for _ in range(5))
    assert not bucket.take(0.0)
    assert not bucket.take(0.4)  # 0.8 tokens
    assert bucket.take(0.5)  # 1 token after 0.5 s at 2/s
    assert not bucket.take(0.5)
    # Over ten seconds at most the sustained rate gets through.
    taken = sum(bucket.take(0.5 + i * 0.01) for i in range(1, 1001))
    assert taken == 20


def test_token_bucket_refill_is_capped_at_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=3)
    bucket.take(0.0)
    assert sum(bucket.take(1000.0) for _ in range(10)) == 3


def test_token_bucket_take_n_and_wait_time() -> None:
    bucket = TokenBucket(rate=10.0, burst=10)
    assert bucket.take(0.0, n=10)
    assert not bucket.take(0.0, n=3)
    assert bucket.wait_time(0.0, n=3) == pytest.approx(0.3)
    assert bucket.take(0.3, n=3)
    assert bucket.wait_time(0.3, n=11) == float("inf")
    assert not bucket.take(1000.0, n=11)


def test_token_bucket_ignores_time_going_backwards() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(100.0)
    assert not bucket.take(50.0)
    assert not bucket.take(100.5)
    assert bucket.take(101.0)


def test_token_bucket_with_fractional_steps_does_not_lose_tokens() -> None:
    bucket = TokenBucket(rate=10.0, burst=1)
    assert bucket.take(0.0)
    now = 0.0
    for _ in range(100):
        now += 0.1
        assert bucket.take(now)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.5)])
def test_token_bucket_refuses_nonsense(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, burst)


def test_token_bucket_refuses_non_positive_n() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(1.0, 1.0).take(0.0, n=0)


# --------------------------------------------------------------------------------------------
# network_key, saving and restoring, trust, the guessing alarm


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("192.0.2.1", "192.0.2.0/24"),
        ("192.0.2.255", "192.0.2.0/24"),
        ("::ffff:192.0.2.9", "192.0.2.0/24"),
        ("2001:db8:1:2::1", "2001:db8:1::/48"),
        ("2001:db8:1:ffff:1::", "2001:db8:1::/48"),
    ],
)
def test_network_key(ip: str, key: str) -> None:
    assert network_key(ip) == key


def test_network_key_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        network_key("192.0.2")


def test_a_restored_tracker_goes_on_where_the_saved_one_stopped() -> None:
    saved: dict[str, Snapshot] = {}
    before = FailureTracker()
    before.journal = lambda key, snap: saved.__setitem__(f"d-{key}", snap) if snap else None
    fail_n(before, KEY, 8, 0.0)  # six free, then waits of 1 and 2 s
    after = FailureTracker()
    after.restore(lambda key: f"d-{key}", saved)
    # Until its key comes back, the record is listed (and liftable) by its digest only.
    assert after.check(OTHER, 8.0).allowed
    assert after.check(KEY, 8.0) == before.check(KEY, 8.0)
    assert after.record_failure(KEY, 10.0) == before.record_failure(KEY, 10.0)


def test_lifting_a_restored_lockout_by_its_digest() -> None:
    policy = BackoffPolicy(lockout_after=2, lockout_duration=HOUR)
    before = FailureTracker(policy)
    saved: dict[str, Snapshot] = {}
    before.journal = lambda key, snap: saved.__setitem__(f"d-{key}", snap) if snap else None
    fail_n(before, KEY, 2, 0.0)
    after = FailureTracker(policy)
    told: list[tuple[str, Snapshot | None]] = []
    after.journal = lambda key, snap: told.append((key, snap))
    after.restore(lambda key: f"d-{key}", saved)
    assert after.locked(5.0) == [(f"#d-{KEY}", 1.0 + HOUR)]
    assert after.lift(f"#d-{KEY}")
    assert told == [(f"#d-{KEY}", None)]
    assert after.check(KEY, 5.0).allowed


def test_trust_expires_and_is_bounded() -> None:
    trust = TrustList(trust_for=10.0, max_keys=2)
    trust.renew("a", 0.0)
    assert trust.trusted("a", 9.9)
    assert not trust.trusted("a", 10.0)
    trust.renew("a", 0.0)
    trust.renew("b", 1.0)
    trust.renew("c", 2.0)  # evicts "a", the least recently renewed
    assert [trust.trusted(k, 3.0) for k in "abc"] == [False, True, True]


def test_the_guessing_alarm_rings_at_the_threshold_and_each_doubling() -> None:
    rings = [n for n in range(1, 200) if guessing_alarm(n)]
    assert rings == [GUESSING_THRESHOLD * m for m in (1, 2, 4, 8, 16) if m * 10 < 200]
    assert [n for n in range(1, 20) if guessing_alarm(n, threshold=3)] == [3, 6, 12]


def test_pruning_trust_drops_only_what_expired() -> None:
    trust = TrustList(trust_for=10.0)
    trust.renew("a", 0.0)
    trust.renew("b", 5.0)
    assert trust.prune(10.0) == 1
    assert len(trust) == 1
    assert trust.trusted("b", 10.0)


def test_an_organizer_hears_of_failed_logins_only_from_the_alarms_count() -> None:
    assert account_guessing_sentence(GUESSING_THRESHOLD - 1) is None
    sentence = account_guessing_sentence(GUESSING_THRESHOLD)
    assert sentence is not None
    assert f"{GUESSING_THRESHOLD} failed logins" in sentence
