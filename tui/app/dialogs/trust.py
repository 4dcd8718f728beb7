"""Trust on first use: show an unknown relay's certificate fingerprint before sending anything."""

from __future__ import annotations

from core.tlspin import format_fingerprint
from tui.app.dialogs.base import YesNoDialog


class TrustDialog(YesNoDialog):
    def __init__(self, host: str, port: int, fingerprint: str) -> None:
        super().__init__(
            "Unknown relay",
            f"porthole has not talked to {host}:{port} before. Its certificate fingerprint is\n\n"
            f"{format_fingerprint(fingerprint)}\n\n"
            "Compare it with what the relay's operator gave you. Trust it, and remember it "
            "for next time?",
            yes="Trust",
            no="Do not connect",
        )
