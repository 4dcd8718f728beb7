"""Device cookies: what lets an organizer log in while someone else is guessing their password.

A relay slows down logins to an account that many wrong passwords were tried against, from
anywhere; an attacker who knows the user name could use that to keep the organizer out. So
(as OWASP recommends, "device cookies") the relay gives each successful login a random token,
and a login that presents a token it issued for that account is exempt from the per-account
slow-down (docs/design.md §7.3). The relay keeps only a digest of each token.

The client keeps its tokens here, beside the known-relays file: one line per relay (named by
its certificate fingerprint, so a token never goes to a relay that did not issue it) and
account, ``FINGERPRINT USERNAME TOKEN_HEX``, in a 0600 file. A token is a credential of the
second rank: it proves nothing without the password, it only spares the wait.
"""

from __future__ import annotations

from pathlib import Path

from core.known_relays import default_known_relays_path, write_private_lines
from core.protocol.messages import DEVICE_TOKEN_SIZE

__all__ = ["DeviceCookies", "default_device_cookies_path"]


def default_device_cookies_path() -> Path:
    """``device_cookies`` in the directory of the known-relays file."""
    return default_known_relays_path().with_name("device_cookies")


class DeviceCookies:
    """The device-cookie file at ``path``; lines that do not parse are kept, never used."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_device_cookies_path()

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
        except FileNotFoundError:
            return []

    @staticmethod
    def _parse(line: str) -> tuple[str, str, bytes] | None:
        fields = line.split()
        if len(fields) != 3:
            return None
        try:
            token = bytes.fromhex(fields[2])
        except ValueError:
            return None
        if len(token) != DEVICE_TOKEN_SIZE:
            return None
        return fields[0].lower(), fields[1].casefold(), token

    def lookup(self, fingerprint: str, username: str) -> bytes | None:
        """The token this relay gave this account, or None."""
        want = (fingerprint.lower(), username.casefold())
        for line in self._lines():
            entry = self._parse(line)
            if entry is not None and entry[:2] == want:
                return entry[2]
        return None

    def remember(self, fingerprint: str, username: str, token: bytes) -> None:
        """Keep ``token`` for this relay and account, replacing an older one."""
        if len(token) != DEVICE_TOKEN_SIZE or any(c.isspace() for c in username):
            raise ValueError("not a device cookie for a valid user name")
        want = (fingerprint.lower(), username.casefold())
        kept = [
            line
            for line in self._lines()
            if (entry := self._parse(line)) is None or entry[:2] != want
        ]
        kept.append(f"{want[0]} {want[1]} {token.hex()}")
        write_private_lines(self.path, kept)
