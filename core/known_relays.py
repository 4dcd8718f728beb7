"""Relays this user has trusted before: trust on first use, like SSH's ``known_hosts``.

When a join link carries no fingerprint, the client shows the relay's fingerprint the first time
and, if the user accepts, remembers it here; afterwards a different certificate is an alarm
(:class:`core.tlspin.FingerprintMismatch`), not a prompt.

The file is plain text a person can read and edit, one relay per line::

    # comments and blank lines are kept
    relay.example.org:7443 3f1c0c…(64 hex digits)
    [2001:db8::5]:7443 9a0b…

Lines that do not parse are ignored when reading and kept verbatim when writing: a stray edit
must neither crash the client nor be silently deleted. The file is re-read on every call (it is
tiny) so two clients running at once see each other's decisions.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.endpoints import split_endpoint
from core.tlspin import fingerprints_equal, parse_fingerprint

__all__ = [
    "KnownRelays",
    "default_known_relays_path",
    "format_endpoint",
    "porthole_config_dir",
    "write_private_lines",
]

_ENCODING = "utf-8"
# surrogateescape: bytes that are not UTF-8 survive a read-modify-write round trip unchanged.
_ERRORS = "surrogateescape"


def porthole_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/porthole``, else ``~/.config/porthole``.

    A relative ``$XDG_CONFIG_HOME`` is ignored, as the XDG spec requires.
    """
    base = os.environ.get("XDG_CONFIG_HOME", "")
    config = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return config / "porthole"


def default_known_relays_path() -> Path:
    """``$XDG_CONFIG_HOME/porthole/known_relays``, else ``~/.config/porthole/known_relays``."""
    return porthole_config_dir() / "known_relays"


def _normalize_host(host: str) -> str:
    """Lowercase names, canonical IP literals, brackets stripped: one spelling per relay."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() or c in "#[]" for c in host):
        raise ValueError(f"not a usable relay host name: {host!r}")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if ":" in host:
        raise ValueError(f"not a usable relay host name: {host!r}")
    return host.lower().rstrip(".")


def _check_port(port: int) -> int:
    if not 0 < port < 65536:
        raise ValueError(f"not a TCP port: {port!r}")
    return port


def format_endpoint(host: str, port: int) -> str:
    """``host:port`` as written in the file (IPv6 literals in brackets: ``[::1]:7443``)."""
    host = _normalize_host(host)
    _check_port(port)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class _Entry:
    endpoint: str
    fingerprint: str


def _parse_line(line: str) -> _Entry | None:
    """The entry on ``line``, or None for comments, blank and malformed lines."""
    fields = line.split()
    if len(fields) != 2 or fields[0].startswith("#"):
        return None
    endpoint, fp = fields
    try:
        host, port = split_endpoint(endpoint)
        return _Entry(format_endpoint(host, port), parse_fingerprint(fp))
    except ValueError:
        return None


class KnownRelays:
    """The known-relays file at ``path`` (default :func:`default_known_relays_path`).

    Methods raise :class:`ValueError` for a host or port that cannot name a relay (empty,
    whitespace, a stray colon, port outside 1-65535) and for a malformed fingerprint.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_known_relays_path()

    def _read_lines(self) -> list[str]:
        try:
            # Bytes, not read_text(): universal newlines would turn a kept "\r\n" into "\n".
            text = self.path.read_bytes().decode(_ENCODING, _ERRORS)
        except FileNotFoundError:
            return []
        # split("\n"), not splitlines(): the latter also splits on \x1c, \x85, \u2028 and
        # friends, and writing the lines back would then change bytes of a line we keep.
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        return lines

    def lookup(self, host: str, port: int) -> str | None:
        """The remembered fingerprint (64 lowercase hex) for ``host:port``, or None."""
        endpoint = format_endpoint(host, port)
        for line in self._read_lines():
            entry = _parse_line(line)
            if entry is not None and entry.endpoint == endpoint:
                return entry.fingerprint
        return None

    def entries(self) -> list[tuple[str, str]]:
        """Every well-formed ``(endpoint, fingerprint)`` in file order (for a settings view)."""
        return [
            (entry.endpoint, entry.fingerprint)
            for entry in map(_parse_line, self._read_lines())
            if entry is not None
        ]

    def remember(self, host: str, port: int, fp: str) -> None:
        """Trust ``fp`` for ``host:port`` from now on, replacing any earlier fingerprint.

        An existing line for the relay is updated in place (so a hand-written comment above it
        still describes it); duplicates of it are dropped; everything else is kept verbatim.
        """
        endpoint = format_endpoint(host, port)
        new_line = f"{endpoint} {parse_fingerprint(fp)}"
        lines: list[str] = []
        placed = False
        for line in self._read_lines():
            entry = _parse_line(line)
            if entry is not None and entry.endpoint == endpoint:
                if not placed:
                    lines.append(new_line)
                    placed = True
                continue
            lines.append(line)
        if not placed:
            lines.append(new_line)
        self._write_lines(lines)

    def upgrade(self, host: str, port: int, matched: str, key_pin: str) -> bool:
        """After a connection pinned by ``matched`` succeeded, remember the relay's key pin.

        Entries written before pins named keys hold the whole certificate's hash; it still
        matches, but only until the operator renews the certificate. The handshake just proved
        the relay holds the certificate ``matched`` names, so its key pin is as trusted and
        replaces it, and the renewal will not read as an interception. Does nothing (returns
        False) if the entry is no longer ``matched`` (another client changed it meanwhile) or
        is the key pin already.
        """
        stored = self.lookup(host, port)
        if stored is None or not fingerprints_equal(stored, matched):
            return False
        if fingerprints_equal(stored, key_pin):
            return False
        self.remember(host, port, key_pin)
        return True

    def forget(self, host: str, port: int) -> bool:
        """Stop trusting ``host:port``; returns whether an entry was removed."""
        endpoint = format_endpoint(host, port)
        lines = self._read_lines()
        kept = [
            line
            for line in lines
            if (entry := _parse_line(line)) is None or entry.endpoint != endpoint
        ]
        if len(kept) == len(lines):
            return False
        self._write_lines(kept)
        return True

    def _write_lines(self, lines: list[str]) -> None:
        write_private_lines(self.path, lines)


def write_private_lines(path: Path, lines: list[str]) -> None:
    """Replace the file at ``path`` atomically: readers see the old file or the new one.

    The data goes to a temporary file in the same directory (created 0600 by mkstemp),
    is flushed to disk, then renamed over the old file. A directory we create is 0700:
    these files list which relays this user talks to (and hold device cookies), which is
    nobody else's business.
    """
    directory = path.parent
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=_ENCODING, errors=_ERRORS, newline="\n") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort (not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
