"""Whether a ``--metrics`` address is loopback (kept apart from :mod:`relay.metrics`, which loads
prometheus-client, so that a usage error answers without loading it)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost``, 127.0.0.0/8 or ``::1``.

    Any other address needs ``--metrics-any-address``: the metrics are plain, unauthenticated
    HTTP, so serving them beyond the machine must be the operator's explicit choice.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
