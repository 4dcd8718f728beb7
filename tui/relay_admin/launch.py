"""Start the relay admin TUI on an admin socket: what ``porthole-relay admin`` runs on a terminal.

The relay package never imports ``tui`` (docs/design.md §2.2). ``porthole-relay admin`` finds
this function through the ``porthole.relay_admin_ui`` entry point that ``pyproject.toml``
registers, so an installation without the TUI still has every ``--json`` op, and the relay
code names no module of the TUI. Textual is imported only when the app is started.
"""

from __future__ import annotations

from pathlib import Path


def run(socket_path: Path) -> int:
    """Run the admin app on ``socket_path`` until the operator quits; return its exit code."""
    from tui.relay_admin.app import RelayAdminApp

    app = RelayAdminApp(socket_path)
    app.run()
    return int(app.return_code or 0)
