"""Become the presenter: asked every time, since saying yes shows this person's screen."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog


class BecomePresenterDialog(YesNoDialog):
    def __init__(self, actor_name: str, sharing: str, *, handed_back: bool = False) -> None:
        what = "hands presenting back to you" if handed_back else "asks you to present"
        super().__init__(
            "Share your screen?",
            f"{actor_name} {what}.\n\nIf you agree, everyone in the session sees your "
            f"{sharing}. You can pause (space) or pick something else (s) at any moment.",
            yes="Share my screen",
            no="Refuse",
        )
