"""systemd's readiness protocol (``sd_notify``), spoken with the socket module alone.

Why: with ``Type=notify`` systemd starts units that depend on the relay, and reports
``systemctl start`` done, only once the relay says ``READY=1``, that is after it listens and
its certificate is loaded; a relay that fails at start-up fails the start instead of looking
up. No dependency: the protocol is one datagram to the unix socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Without that variable
(not under systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``"READY=1"``, ``"STOPPING=1"``, ``"STATUS=…"``, newline-joined).

    True if sent; False when not under a notifying service manager or the socket is gone
    (readiness is a courtesy to the manager, never a reason for the relay to fail).
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), target)
    except OSError:
        return False
    return True
