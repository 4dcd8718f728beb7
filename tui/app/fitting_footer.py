"""A compact footer that keeps the keys a person needs most when not all of them fit.

The session screen shows every key the rules allow right now, and an organizer who presents
while someone controls the screen is allowed a dozen: more than 80 columns hold. Textual's
footer then cuts the last ones off, which are End and Leave. This footer drops keys in a fixed
order of least need instead (the join command's own line already says that ``j`` copies it;
proposing and handing over can wait), so the ones that end or stop something always show.
Dropped keys still work, and the command palette (ctrl+p) still lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Columns between two keys of a compact footer (Textual's ``margin-right: 1``).
_GAP = 1


class FittingFooter(Footer):
    """``Footer(compact=True)`` that drops the actions in ``drop_first`` (in that order) until
    the rest fits the terminal's width."""

    def __init__(self, drop_first: Sequence[str]) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self.drop_first = tuple(drop_first)

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        width = self.app.size.width
        shown = [key for key in keys if isinstance(key, FooterKey)]
        for action in self.drop_first:
            if columns(shown) <= width:
                break
            shown = [key for key in shown if key.action != action]
        yield from (key for key in keys if not isinstance(key, FooterKey) or key in shown)


def columns(keys: Sequence[FooterKey]) -> int:
    """How wide ``keys`` are in a compact footer: key, space, description, and a gap."""
    if not keys:
        return 0
    return sum(len(k.key_display) + 1 + len(k.description) + _GAP for k in keys) - _GAP
