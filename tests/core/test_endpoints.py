"""``HOST:PORT`` parsing shared by the relay's --listen, the client's --relay and connect
screen, and the known-relays file."""

from __future__ import annotations

import pytest

from core.endpoints import split_endpoint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7443", ("127.0.0.1", 7443)),
        ("relay.example.org:443", ("relay.example.org", 443)),
        ("[::1]:8443", ("::1", 8443)),
        ("[fe80::1%eth0]:7443", ("fe80::1%eth0", 7443)),
        ("  relay:1  ", ("relay", 1)),
        ("relay:65535", ("relay", 65535)),
    ],
)
def test_what_people_type(text: str, expected: tuple[str, int]) -> None:
    assert split_endpoint(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("relay", "expected HOST:PORT"),
        (":7443", "expected HOST:PORT"),
        ("[]:7443", "expected HOST:PORT"),
        ("::1:7443", r"write an IPv6 address in brackets: \[::1\]:7443"),
        ("relay:", "the port must be a number from 1 to 65535"),
        ("relay:0", "the port must be a number from 1 to 65535"),
        ("relay:65536", "the port must be a number from 1 to 65535"),
        ("relay:-1", "the port must be a number from 1 to 65535"),
        ("relay:٧٤٤٣", "the port must be a number from 1 to 65535"),  # digits, not ASCII
    ],
)
def test_what_is_refused_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_endpoint(text)


def test_port_zero_only_when_any_port_will_do() -> None:
    assert split_endpoint("127.0.0.1:0", any_port=True) == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match=r"from 0 \(any free port\) to 65535"):
        split_endpoint("127.0.0.1:70000", any_port=True)
