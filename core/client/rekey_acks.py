"""The leader's record of who confirmed the newest epoch (docs/design.md §4.5).

Sans-IO. A re-key travels on one member's pair channel, which the relay can drop like anything
else; that member would then never open anything sealed under the new epoch. So each member
answers a re-key with a ``ReKeyAck`` sealed under the new epoch itself (which only a holder of
its secret can do), and the leader waits for it. After :data:`RESEND_AFTER` without one the
leader is told (once per member and epoch) and re-sends; it keeps re-sending at that pace until
the member confirms, leaves, or a newer epoch replaces the debt.
"""

from __future__ import annotations

from collections.abc import Iterable

#: How long a member has to confirm an epoch before the leader re-sends it.
RESEND_AFTER = 2.0


class _Debt:
    __slots__ = ("due", "epoch", "reported")

    def __init__(self, epoch: int, due: float) -> None:
        self.epoch = epoch
        self.due = due
        self.reported = False


class RekeyTracker:
    """Per member, the newest epoch it owes a confirmation for."""

    __slots__ = ("_debts",)

    def __init__(self) -> None:
        self._debts: dict[int, _Debt] = {}

    def sent(self, epoch: int, members: Iterable[int], now: float) -> None:
        """``epoch`` went to ``members``; an older unconfirmed epoch no longer matters."""
        for peer_id in members:
            self._debts[peer_id] = _Debt(epoch, now + RESEND_AFTER)

    def confirmed(self, peer_id: int, epoch: int) -> bool:
        """``peer_id`` holds ``epoch``; True if it had been reported missing."""
        debt = self._debts.get(peer_id)
        if debt is None or epoch < debt.epoch:
            return False
        del self._debts[peer_id]
        return debt.reported

    def forget(self, peer_id: int) -> None:
        self._debts.pop(peer_id, None)

    def due(self, now: float) -> list[tuple[int, int, bool]]:
        """``(peer_id, epoch, first_time)`` for each member to re-send to now."""
        resend = []
        for peer_id, debt in self._debts.items():
            if now >= debt.due:
                resend.append((peer_id, debt.epoch, not debt.reported))
                debt.reported = True
                debt.due = now + RESEND_AFTER
        return resend
