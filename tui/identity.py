"""``porthole identity create|show``, and loading the key for ``--identity [PATH]``.

What the key is and why: :mod:`core.crypto.identity`; how it is kept on disk:
:mod:`core.identity_file`. This module only turns command-line arguments into those calls and
prints the fingerprint (never the key).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from core.identity_file import create_identity, default_identity_path, load_identity
from tui.options import DEFAULT_IDENTITY

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def run(args: argparse.Namespace) -> int:
    path: Path = args.path or default_identity_path()
    if args.identity_action == "create":
        key = create_identity(path, force=args.force)
        print(f"created a new identity key in {path} (readable only by you)")
    else:
        key = load_identity(path)
    # Here, not at import: the headless programs import this module before their first byte.
    from core.crypto.certs import public_key_bytes
    from core.crypto.identity import fingerprint, short_fingerprint

    public = public_key_bytes(key)
    print(f"fingerprint {fingerprint(public)}")
    print(f"short       {short_fingerprint(public)}")
    return 0


def identity_from_args(args: argparse.Namespace) -> Ed25519PrivateKey | None:
    """The key ``--identity [PATH]`` names, loaded (None without the option)."""
    given: str | None = getattr(args, "identity", None)
    if given is None:
        return None
    return load_identity(default_identity_path() if given == DEFAULT_IDENTITY else Path(given))
