"""The client's device-cookie file (core/device_cookies.py): per relay and account, private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.device_cookies import DeviceCookies

FP_A, FP_B = "a" * 64, "b" * 64


def test_a_cookie_is_kept_per_relay_and_account_and_replaced(tmp_path: Path) -> None:
    cookies = DeviceCookies(tmp_path / "porthole" / "device_cookies")
    assert cookies.lookup(FP_A, "olga") is None  # no file yet
    cookies.remember(FP_A, "Olga", b"\x01" * 32)
    cookies.remember(FP_B, "olga", b"\x02" * 32)
    cookies.remember(FP_A, "olga", b"\x03" * 32)  # replaces the first (names fold case)
    assert cookies.lookup(FP_A, "OLGA") == b"\x03" * 32
    assert cookies.lookup(FP_B, "olga") == b"\x02" * 32
    assert cookies.lookup(FP_A, "pavel") is None
    assert len(cookies.path.read_text().splitlines()) == 2
    assert stat.S_IMODE(cookies.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cookies.path.parent.stat().st_mode) == 0o700


def test_lines_that_do_not_parse_are_kept_and_never_used(tmp_path: Path) -> None:
    path = tmp_path / "device_cookies"
    path.write_text(f"# mine\n{FP_A} olga not-hex\n{FP_A} olga {'ab' * 31}\n")
    cookies = DeviceCookies(path)
    assert cookies.lookup(FP_A, "olga") is None
    cookies.remember(FP_A, "olga", b"\x04" * 32)
    assert path.read_text().splitlines()[:3] == [
        "# mine",
        f"{FP_A} olga not-hex",
        f"{FP_A} olga {'ab' * 31}",
    ]
    assert cookies.lookup(FP_A, "olga") == b"\x04" * 32


def test_a_cookie_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a device cookie"):
        DeviceCookies(tmp_path / "c").remember(FP_A, "olga", b"short")
