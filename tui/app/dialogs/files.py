"""File transfer dialogs: an offered file (the receiver's consent) and a path to send.

An offer is asked for every time, like every consent (docs/design.md §4.7): yes saves it into
the downloads folder under a name that did not exist. The path to send may be typed or pasted;
most terminals paste a file dropped onto them as its quoted path, which is unquoted here.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from core.humanize import size as human_size
from tui.app.dialogs.base import YesNoDialog


class FileOfferDialog(YesNoDialog):
    def __init__(self, sender: str, name: str, size: int, directory: Path) -> None:
        super().__init__(
            "A file is offered",
            f"{sender} wants to send you {name} ({human_size(size)}).\n\n"
            f"Yes saves it in {directory}, never over a file already there. It is checked "
            "against the SHA-256 the sender gave before it gets its name.",
            yes="Save",
            no="Decline",
        )


def dropped_path(text: str) -> Path | None:
    """A typed or pasted path: ``'/tmp/a b.log'``, ``"x"``, ``/tmp/a\\ b.log`` or plain;
    ``file://`` URLs too (some terminals paste a dropped file that way)."""
    text = text.strip()
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(text).path))
    try:
        words = shlex.split(text)
    except ValueError:
        words = [text]
    return Path(words[0]).expanduser() if len(words) == 1 and words[0] else None


class SendFileDialog(ModalScreen[tuple[Path, int | None] | None]):
    """Which file to send, and to whom: everyone else (the default) or one member (tab to the
    list). Answers ``(path, None)`` for everyone, ``(path, peer_id)`` for one member."""

    DEFAULT_CLASSES = "dialog"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, members: list[tuple[int, str]]) -> None:
        super().__init__()
        self.members = members

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Send a file", classes="dialog-title")
            yield Input(placeholder="path (or drop a file here), then enter", id="path")
            yield OptionList(
                Option("to everyone in the session", id="everyone"),
                *(Option(f"to {name} only", id=str(pid)) for pid, name in self.members),
                id="recipients",
            )
            yield Label(
                "Encrypted end to end; each member is asked first. tab: pick who.",
                id="path-status",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#recipients", OptionList).highlighted = 0
        path = self.query_one("#path", Input)
        path.cursor_blink = False  # a steady cursor: pictures of this dialog are reproducible
        path.focus()

    def recipient(self) -> int | None:
        recipients = self.query_one("#recipients", OptionList)
        index = recipients.highlighted
        if index is None:
            return None
        option_id = recipients.get_option_at_index(index).id
        return None if option_id in (None, "everyone") else int(option_id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#path", Input).focus()  # picked: back to the path

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = dropped_path(event.value)
        if path is None or not path.is_file():
            self.query_one("#path-status", Label).update("That is not a file that can be read.")
            return
        self.dismiss((path, self.recipient()))

    def action_cancel(self) -> None:
        self.dismiss(None)
