"""Grant remote control: the presenter's own yes, every time."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog


class GrantControlDialog(YesNoDialog):
    def __init__(self, actor_name: str, hotkey: str) -> None:
        super().__init__(
            "Remote control requested",
            f"{actor_name} asks to control your mouse and keyboard, within what you share.\n\n"
            f"You can take it back at any moment with {hotkey} (anywhere) or r (here).",
            yes="Allow control",
            no="Refuse",
        )
