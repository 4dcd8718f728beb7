"""End the session for everyone (organizer or presenter)."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog


class EndSessionDialog(YesNoDialog):
    def __init__(self, members: int) -> None:
        others = f"all {members} other members" if members != 1 else "the other member"
        super().__init__(
            "End the session?",
            f"This ends the session for {others}: their viewers close and the session ID "
            "stops working.",
            yes="End session",
            no="Keep going",
        )
