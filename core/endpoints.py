"""``HOST:PORT`` as people type it, for every command and screen that takes a relay address.

One reading everywhere: a host name or IPv4 address, or an IPv6 literal in brackets
(``[::1]:7443``: without them ``::1:7443`` could end anywhere), a colon, and a decimal port.
What a caller adds is only its own framing of the error (an argparse message, a headless
error, a dialog line) and whether port 0 (any free port, for a listening socket) is allowed.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["TRANSPORTS", "Transport", "split_endpoint"]

#: How a client reaches a relay (``--transport``): framed TLS, WebSocket over HTTPS, or the first
#: of those that works. Here, not in ``core.client.transport``, so that argument parsing can offer
#: the choices without importing the networking (and trio) behind them.
Transport = Literal["auto", "tls", "wss"]
TRANSPORTS: Final[tuple[Transport, ...]] = ("auto", "tls", "wss")


def split_endpoint(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """``(host, port)`` from ``HOST:PORT`` (brackets of an IPv6 literal removed).

    Raises :class:`ValueError` with a sentence saying what is wrong. ``any_port`` allows port 0,
    which asks the system for a free port (only meaningful for listening).
    """
    scheme, sep, _ = text.strip().partition("://")
    if sep:
        raise ValueError(f"{text.strip()!r} is not HOST:PORT: it starts with {scheme}://")
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets: [{host}]:{port_text}")
    lowest = 0 if any_port else 1
    if not (port_text.isascii() and port_text.isdigit()) or not lowest <= int(port_text) <= 65535:
        what = "0 (any free port)" if any_port else "1"
        raise ValueError(f"the port must be a number from {what} to 65535: {text!r}")
    return host, int(port_text)
