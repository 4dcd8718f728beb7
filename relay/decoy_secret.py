"""The relay secret the decoy leader keys derive from: ``decoy.key`` in the data directory.

A live session answers every knock with its organizer's one leader key; a decoy whose key
changed between probes, or whenever the relay restarted, would stand out. So the secret is made
once with :mod:`secrets`, kept beside the relay's TLS key and reused on every start. It is 32
random bytes, created 0600 (never readable by others, not even for an instant) and linked into
place whole (a crash leaves no empty file; of two relays starting at once, the first link wins
for both). It is never logged and never sent anywhere.

Losing or replacing it is harmless to users: every unknown ID then gets a new decoy key, all at
once, which tells a prober nothing about which IDs are live.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from core.crypto.decoy import DECOY_SECRET_SIZE

__all__ = ["DECOY_SECRET_FILENAME", "DecoySecretError", "load_decoy_secret"]

DECOY_SECRET_FILENAME = "decoy.key"  # noqa: S105 - a file name, not a secret
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class DecoySecretError(Exception):
    """``decoy.key`` exists but cannot be used; the sentence says what to do."""


def load_decoy_secret(data_dir: Path) -> bytes:
    """The relay's decoy secret, created on first start.

    An existing file of the wrong size (truncated by a full disk, or not ours) raises
    :class:`DecoySecretError` rather than being silently replaced; a file readable by others
    is narrowed to 0600.
    """
    path = Path(data_dir) / DECOY_SECRET_FILENAME
    if os.path.lexists(path):
        return _read(path)
    # Written whole under a temporary name, then linked into place: a crash never leaves an
    # empty decoy.key, and if another relay linked its own first, that one wins for both.
    temporary = path.with_name(f".{DECOY_SECRET_FILENAME}.{secrets.token_hex(8)}")
    secret = secrets.token_bytes(DECOY_SECRET_SIZE)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            os.write(fd, secret)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read(path)
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise DecoySecretError(f"Cannot create {path}: {exc.strerror or exc}.") from None
    return secret


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        raise DecoySecretError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DecoySecretError(f"{path} is not a regular file.")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, 0o600)
        data = os.read(fd, DECOY_SECRET_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) != DECOY_SECRET_SIZE:
        raise DecoySecretError(
            f"{path} is damaged ({len(data)} bytes, not {DECOY_SECRET_SIZE}); "
            "delete it and the relay makes a new one."
        )
    return data
