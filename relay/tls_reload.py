"""Swap the relay's certificate without a restart (``serve`` on SIGHUP, docs/design.md §7.7).

Why: a CA-issued certificate is renewed every few months. Restarting the relay to pick it up
would end every live session; instead the operator replaces the files and sends SIGHUP.

How: the listener keeps the TLS context it was opened with; that context's SNI callback, which
OpenSSL runs on every ClientHello (with or without a server name), points the new connection at
whichever context is current. Connections already established keep the certificate they shook
hands with, because OpenSSL copies it into each connection. A reload first loads and checks the
new pair completely (:func:`relay.tls.load_identity`) and only then makes it current, so a
failed reload leaves the relay serving the pair it had.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from core.tlspin import ALPN_PROTOCOL
from relay.tls import ServerIdentity, load_identity

__all__ = ["ReloadableIdentity"]


class ReloadableIdentity:
    """The served certificate/key pair, and the listener context that always serves it."""

    def __init__(self, identity: ServerIdentity, alpn: Sequence[str] = (ALPN_PROTOCOL,)) -> None:
        self.current = identity
        self._alpn = tuple(alpn)
        #: What the listener is opened with: the first pair's context, redirecting handshakes.
        self.listener_context = identity.context
        self.listener_context.sni_callback = self._choose

    def _choose(self, connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        """SNI callback: hand this handshake the current pair (None: carry on)."""
        if connection.context is not self.current.context:
            connection.context = self.current.context

    def reload(self) -> ServerIdentity:
        """Load the pair again from the same files; new handshakes use it from now on.

        Raises :class:`relay.tls.CertificateError` (and keeps serving the old pair) if the files
        are unreadable or do not belong together.
        """
        identity = load_identity(self.current.cert, self.current.key, self._alpn)
        self.current = identity
        return identity
