"""The headless viewer's picture (core/stream/viewer.py), fed real encoder output in memory."""

from __future__ import annotations

import numpy as np

from core.codec import Encoder
from core.protocol.content import FrameUpdate, RefreshReason, RefreshRequest
from core.stream.viewer import ScreenViewer

W, H = 64, 48


def updates() -> list[FrameUpdate]:
    """A keyframe, then two deltas (a block drawn, then moved on)."""
    encoder = Encoder(W, H)
    frame = np.zeros((H, W, 3), np.uint8)
    out = []
    for seq, (x, y) in enumerate([(0, 0), (8, 8), (24, 16)]):
        frame[y : y + 8, x : x + 8] = (200, 40, 90)
        encoded = encoder.encode(frame.copy())
        assert encoded is not None
        out.append(FrameUpdate(seq, encoded.keyframe, W, H, captured_at_us=0, tiles=encoded.data))
    assert [u.keyframe for u in out] == [True, False, False]
    return out


async def test_a_delta_before_the_first_keyframe_waits_for_it_and_is_no_rejection() -> None:
    asked: list[RefreshRequest] = []

    async def refresh(request: RefreshRequest) -> None:
        asked.append(request)

    keyframe, delta, _ = updates()
    viewer = ScreenViewer(refresh)
    assert await viewer.on_update(delta) == []  # joined between two updates
    stats = viewer.statistics()
    assert (stats.rejected, stats.before_first_keyframe) == (0, 1)
    assert [r.reason for r in asked] == [RefreshReason.LATE_JOIN]
    assert await viewer.on_update(keyframe)
    assert await viewer.on_update(delta)
    assert viewer.frame is not None
    assert viewer.statistics().keyframes == 1


async def test_a_delta_after_a_gap_is_a_rejection_and_asks_for_a_keyframe() -> None:
    asked: list[RefreshRequest] = []

    async def refresh(request: RefreshRequest) -> None:
        asked.append(request)

    keyframe, _, later = updates()
    viewer = ScreenViewer(refresh)
    await viewer.on_update(keyframe)
    await viewer.on_dropped()  # the relay dropped updates for us: the picture is stale
    assert await viewer.on_update(later) == []
    stats = viewer.statistics()
    assert (stats.rejected, stats.before_first_keyframe) == (1, 0)
    assert asked[0].reason is RefreshReason.GAP
