"""``porthole://HOST:PORT/SESSIONID?fp=FINGERPRINT`` join links.

A link carries everything a joiner needs except the session password: where the relay is, which
session, and the relay certificate's fingerprint to pin (so the first connection is already
authenticated, no trust-on-first-use prompt). The password never goes in a link: links end up in
chat logs, tickets and shell history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from core.failures import UsageError
from core.tlspin import parse_fingerprint

SCHEME = "porthole"
_SESSION_ID = re.compile(r"[1-9][0-9]{8}")


class BadLink(UsageError, ValueError):
    """The text is not a porthole join link; the message says what is wrong with it."""

    kind = "bad_link"


@dataclass(frozen=True, slots=True)
class JoinLink:
    host: str
    port: int
    session_id: str
    fingerprint: str | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?fp={self.fingerprint}" if self.fingerprint else ""
        return f"{SCHEME}://{host}:{self.port}/{self.session_id}{query}"


def normalize_session_id(text: str) -> str:
    """Accept "482 913 570" or "482-913-570" as typed by people; return the 9 digits."""
    digits = re.sub(r"[\s-]", "", text)
    if _SESSION_ID.fullmatch(digits):
        return digits
    if not re.fullmatch(r"[0-9]+", digits):
        problem = "a session ID is 9 digits, like 482 913 570"
    elif len(digits) != 9:
        problem = f"it has {len(digits)} digits, a session ID has 9"
    else:
        problem = "it starts with 0, which a session ID never does"
    raise BadLink(f"{text!r} is not a session ID: {problem}")


def format_session_id(session_id: str) -> str:
    """Group a session ID for reading aloud: 482 913 570."""
    return f"{session_id[:3]} {session_id[3:6]} {session_id[6:]}"


def parse_link(text: str) -> JoinLink:
    parts = urlsplit(text.strip())
    if parts.scheme != SCHEME:
        shown = f"it starts with {parts.scheme}://" if parts.scheme else "it has no scheme"
        raise BadLink(f"{text.strip()!r} is not a {SCHEME}:// link: {shown}")
    if not parts.hostname:
        raise BadLink("the link names no relay host")
    try:
        port = parts.port
    except ValueError:
        raise BadLink("the relay port in the link is not a number from 1 to 65535") from None
    if port is None:
        raise BadLink("the link names no relay port (porthole://HOST:PORT/ID)")
    session_id = normalize_session_id(parts.path.strip("/"))
    query = parse_qs(parts.query)
    fingerprint: str | None = None
    if "fp" in query:
        try:
            fingerprint = parse_fingerprint(query["fp"][0])
        except ValueError as exc:
            raise BadLink(f"the fingerprint in the link is malformed: {exc}") from None
    return JoinLink(parts.hostname, port, session_id, fingerprint)
