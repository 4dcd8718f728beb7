"""Where the client app begins, and which relay: plain data, importable without Textual.

The ``porthole`` command builds these before deciding whether to open the app at all, so the
headless commands never pay for importing Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class RelayTarget:
    host: str
    port: int
    fingerprint: str | None = None
    transport: str = "auto"
    proxy: str | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """The connect screen, or straight into a flow (``join LINK``, ``create``, ``demo``)."""

    relay: RelayTarget | None = None
    organize: bool = False
    session_id: str = ""
    name: str = ""
    username: str = ""
    #: ``porthole demo``: the network side logs in and creates the session by itself.
    create_now: bool = False
    #: ``porthole join --password-file F`` / ``--ask-password``: the session password, read
    #: before the app starts; the join screen knocks with it at once (used once, then dropped).
    password: str | None = field(default=None, repr=False)
    #: ``porthole join --identity``: the identity key, loaded before the app starts.
    identity: Ed25519PrivateKey | None = field(default=None, repr=False)
