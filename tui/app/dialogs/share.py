"""Pick what to share: a monitor, a window, or a region typed as X,Y,W,H."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from core.capture.sources import CaptureSource, MonitorSource, WindowSource, parse_region


class ShareDialog(ModalScreen[CaptureSource | None]):
    """The choices come from the caller (monitors via mss, windows via X11) so this stays pure."""

    DEFAULT_CLASSES = "dialog"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, monitors: list[tuple[int, str]], windows: list[tuple[int, str]]) -> None:
        super().__init__()
        self.choices: dict[str, CaptureSource] = {}
        self.options: list[Option] = []
        for index, label in monitors:
            key = f"m{index}"
            self.choices[key] = MonitorSource(index)
            self.options.append(Option(label, id=key))
        for xid, title in windows:
            key = f"w{xid}"
            self.choices[key] = WindowSource(xid=xid, label=title)
            self.options.append(Option(f"window: {title}", id=key))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Share what?", classes="dialog-title")
            yield OptionList(*self.options, id="sources")
            yield Input(placeholder="or a region: X,Y,W,H then enter", id="region")
            yield Label("", id="region-error", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices.get(event.option.id or ""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.dismiss(parse_region(event.value))
        except ValueError as exc:
            self.query_one("#region-error", Label).update(str(exc))

    def action_cancel(self) -> None:
        self.dismiss(None)
