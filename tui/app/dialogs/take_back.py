"""The organizer starts presenting or takes it back: confirmed locally, every time."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog


class TakeBackDialog(YesNoDialog):
    def __init__(self, sharing: str, *, current_presenter: str | None) -> None:
        if current_presenter is None:
            title, first = "Start presenting?", "Nobody is presenting."
        else:
            title, first = "Take presenting back?", f"{current_presenter} is presenting."
        super().__init__(
            title,
            f"{first} If you continue, everyone in the session sees your {sharing}.",
            yes="Present",
            no="Cancel",
        )
