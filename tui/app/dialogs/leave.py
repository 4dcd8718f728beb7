"""Leave the session, or quit porthole while in one: for an organizer that ends it for everyone."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog
from tui.app.dialogs.end_session import others_phrase


class LeaveDialog(YesNoDialog):
    def __init__(self, *, organizer: bool, others: int, quitting: bool = False) -> None:
        title = "Quit porthole?" if quitting else "Leave the session?"
        if organizer and others:
            body = (
                f"You organize this session: leaving ends it for {others_phrase(others)}, "
                "their viewers close and the session ID stops working."
            )
        elif organizer:
            body = "You organize this session: leaving ends it, and its ID stops working."
        else:
            body = "You leave the session; the others see you go. To come back, join again."
        super().__init__(title, body, yes="Quit" if quitting else "Leave", no="Stay in the session")
