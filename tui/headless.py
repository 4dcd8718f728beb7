"""What the headless programs share: JSON-lines output, secrets from files, pinned relays.

Headless programs serve scripts, kiosks and tests: stdout carries one JSON object per line and
nothing else; human-readable problems go to stderr as one sentence, and stdout then ends with an
``error`` event (see :mod:`core.cli_exit`); the exit codes are :mod:`core.failures`'. Secrets
only ever come from a file or stdin, never from the command line (where ``ps`` and shell
history would show them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.endpoints import split_endpoint
from core.failures import Failure, UsageError
from core.known_relays import KnownRelays
from core.tlspin import parse_fingerprint

if TYPE_CHECKING:
    from core.client import RelayIdentity, SessionBase
    from core.client.events import SessionEvent


def emit(event: str, **fields: Any) -> None:
    """Print one JSON line: ``{"event": ..., ...}`` (never secrets, frames or keystrokes)."""
    print(json.dumps({"event": event, **fields}, separators=(",", ":")), flush=True)


def wants_files(args: object) -> bool:
    """Whether a headless command line asked for file transfer (``--send``, ``--to``,
    ``--accept-files``); only then is ``tui/headless_files.py`` loaded."""
    return any(getattr(args, name, None) for name in ("send", "to", "accept_files"))


async def refuse_offer(session: SessionBase, event: SessionEvent) -> None:
    """Without ``--send``/``--accept-files`` the file code is not loaded, but an offer still
    gets a clear no at once rather than silence (the sender's sentence: "does not take files")."""
    from core.client.events import ContentReceived
    from core.protocol.content import FileAnswer, FileOffer, FileVerdict

    if isinstance(event, ContentReceived) and isinstance(event.message, FileOffer):
        refusal = FileAnswer(
            file_id=event.message.file_id,
            verdict=FileVerdict.NOT_ALLOWED,
            attempt=0,
            offset=0,
            prefix_sha256=bytes(32),
        )
        await session.send_content(refusal, recipient=event.sender)


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot read the {what} from {path}: {exc.strerror}") from None
    return text.rstrip("\r\n")


def read_secret_stdin(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise UsageError(f"expected the {what} on standard input, got nothing")
    return line.rstrip("\r\n")


def parse_relay(text: str) -> tuple[str, int]:
    """``--relay HOST:PORT`` → ``(host, port)`` (see :func:`core.endpoints.split_endpoint`)."""
    try:
        return split_endpoint(text)
    except ValueError as exc:
        raise UsageError(f"--relay expects HOST:PORT ([v6addr]:PORT for IPv6): {exc}") from None


def pinned_fingerprint(host: str, port: int, given: str | None) -> str:
    """The fingerprint to pin: the one given, or the known-relays entry. Headless programs have
    nobody to ask, so an unknown relay is an error, never a silent trust."""
    if given:
        try:
            return parse_fingerprint(given)
        except ValueError as exc:
            raise UsageError(f"--fingerprint: {exc}") from None
    known = KnownRelays().lookup(host, port)
    if known is None:
        raise UsageError(
            f"the relay {host}:{port} is not in your known relays",
            next_step="Pass --fingerprint (porthole-relay serve prints it).",
        )
    return known


def emit_transport(identity: RelayIdentity) -> None:
    """The ``transport`` JSON line: which path reached the relay and how long it took."""
    emit("transport", path=identity.transport, connect_ms=round(identity.connect_ms, 1))
