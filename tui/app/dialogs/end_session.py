"""End the session for everyone (organizer or presenter)."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog


def others_phrase(others: int) -> str:
    """ "the other member", "all 3 other members": who an ending or a leave affects."""
    return f"all {others} other members" if others != 1 else "the other member"


class EndSessionDialog(YesNoDialog):
    def __init__(self, members: int) -> None:
        if members:
            body = (
                f"This ends the session for {others_phrase(members)}: their viewers close and "
                "the session ID stops working."
            )
        else:
            body = "Nobody else is in the session. Ending it makes the session ID stop working."
        super().__init__("End the session?", body, yes="End session", no="Keep going")
