"""The session footer at 80 columns keeps the keys that stop, revoke, end and leave.

An organizer who presents while someone controls the screen is allowed a dozen keys, more than
80 columns hold; Textual's own footer cut off the last ones (End, Leave). The footer now drops
the least needed first (tui/app/fitting_footer.py); those still work, and the palette has them.
"""

from __future__ import annotations

from typing import Any

from pilotkit import run
from textual.widgets._footer import FooterKey

from core.protocol.messages import MemberState, Roster, RosterEntry
from tui.app.fitting_footer import FittingFooter, columns
from tui.app.model import SessionView
from tui.app.samples import SESSION_ID, SampleApp, settle

OLGA, ANA = 1, 2


def _presenting_under_control() -> Roster:
    return Roster(
        session_id=SESSION_ID,
        members=(
            RosterEntry(OLGA, "Olga", True, MemberState.CONNECTED),
            RosterEntry(ANA, "Ana", False, MemberState.CONNECTED),
        ),
        presenter=OLGA,
        controller=ANA,
        has_presented=(),
        locked=False,
        paused=False,
        has_password=True,
    )


def _shown(app: Any) -> list[FooterKey]:
    return list(app.screen.query_one(FittingFooter).query(FooterKey))


def test_an_organizer_presenting_under_control_still_sees_stop_revoke_end_and_leave() -> None:
    async def scenario() -> None:
        app = SampleApp("session-organizer")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.session_screen
            assert screen is not None
            screen.show_view(SessionView.from_roster(_presenting_under_control(), me=OLGA))
            await pilot.pause()
            await pilot.pause()
            keys = _shown(app)
            shown = {key.action for key in keys}
            assert {"stop_presenting", "pause", "revoke", "chat", "end", "leave"} <= shown
            assert "copy_join" not in shown  # dropped first: its own line says j copies it
            assert columns(keys) <= 80
            # A dropped key still works, and the palette still offers it.
            commands = [c.title for c in app.get_system_commands(screen)]
            assert any(title.startswith("Copy join") for title in commands), commands
            await pilot.press("j")
            await pilot.pause()
            assert app.clipboard.startswith("porthole join ")

            # Wider, everything fits again.
            await pilot.resize_terminal(160, 30)
            await pilot.pause()
            await pilot.pause()
            assert "copy_join" in {key.action for key in _shown(app)}

    run(scenario)
