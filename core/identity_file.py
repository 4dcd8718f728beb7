"""Where a person's identity key lives on disk, and reading and writing it safely.

The key (core/crypto/identity.py) is a long-term secret, so the file is created with mode 0600
(never wider, not even for a moment: ``O_EXCL`` with the mode, then a rename), and a key file
that others may read is refused rather than used, as ssh does. Creating never replaces an
existing key unless asked to (``--force``): the fingerprint is what others trust, and a lost key
cannot be recovered. The format is unencrypted PKCS#8 PEM, which ``openssl pkey`` reads.

Every problem is a :class:`~core.failures.Refused` with one sentence and a next step.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from core.failures import Refused
from core.known_relays import porthole_config_dir

_KIND = "identity_key"
#: Larger than any PEM Ed25519 key; a bigger file is not ours.
_MAX_KEY_FILE = 4096


def default_identity_path() -> Path:
    """``$XDG_CONFIG_HOME/porthole/identity.key``, else ``~/.config/porthole/identity.key``."""
    return porthole_config_dir() / "identity.key"


def _refused(message: str, next_step: str) -> Refused:
    return Refused(message, next_step=next_step, kind=_KIND)


def create_identity(path: Path, *, force: bool = False) -> Ed25519PrivateKey:
    """Make a new identity key at ``path`` (mode 0600); refuse to replace one unless ``force``."""
    if path.exists() and not force:
        raise _refused(
            f"An identity key already exists at {path}.",
            "Use it (`porthole identity show`), or add --force to replace it; the old key and "
            "its fingerprint are then gone for good.",
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise _refused(
            f"Cannot write the identity key to {path}: {exc.strerror or exc}.",
            "Choose a path in a directory you can write to.",
        ) from None
    return key


def load_identity(path: Path) -> Ed25519PrivateKey:
    """Read the identity key at ``path``: it must be ours, private to its owner, and Ed25519."""
    try:
        with path.open("rb") as source:
            info = os.fstat(source.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _refused(f"{path} is not a file.", "Give the path of an identity key.")
            data = source.read(_MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise _refused(
            f"No identity key at {path}.", "Create one with `porthole identity create`."
        ) from None
    except IsADirectoryError:
        raise _refused(f"{path} is a directory.", "Give the path of an identity key.") from None
    except OSError as exc:
        raise _refused(
            f"Cannot read the identity key at {path}: {exc.strerror or exc}.",
            "Check the path and its permissions.",
        ) from None
    if info.st_mode & 0o077:
        raise _refused(
            f"The identity key at {path} can be read by others (mode "
            f"{stat.S_IMODE(info.st_mode):o}).",
            f"Run `chmod 600 {path}`.",
        )
    try:
        key = load_pem_private_key(data, password=None) if len(data) <= _MAX_KEY_FILE else None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise _refused(
            f"{path} does not hold a porthole identity key.",
            "Give the file `porthole identity create` wrote.",
        )
    return key


__all__ = ("create_identity", "default_identity_path", "load_identity")
