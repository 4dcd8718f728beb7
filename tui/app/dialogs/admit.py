"""Admit a knock: someone without the session password wants in (organizer's consent)."""

from __future__ import annotations

from tui.app.dialogs.base import YesNoDialog


class AdmitDialog(YesNoDialog):
    def __init__(self, peer_id: int, name: str, origin: str) -> None:
        self.peer_id = peer_id
        super().__init__(
            "Someone is knocking",
            f"{name} (from {origin}) wants to join this session.\n\n"
            "Admit them only if you expect them: once in, they see whatever is shared.",
            yes="Admit",
            no="Decline",
        )
