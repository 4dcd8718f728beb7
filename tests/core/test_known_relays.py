"""The trust-on-first-use store of relay fingerprints (core/known_relays.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.known_relays import KnownRelays, default_known_relays_path, format_endpoint
from core.tlspin import format_fingerprint

FP_A = "a" * 64
FP_B = "0123456789abcdef" * 4


@pytest.fixture
def store(tmp_path: Path) -> KnownRelays:
    return KnownRelays(tmp_path / "conf" / "porthole" / "known_relays")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_remember_lookup_forget(store: KnownRelays) -> None:
    assert store.lookup("relay.example.org", 7443) is None
    store.remember("relay.example.org", 7443, FP_A)
    assert store.lookup("relay.example.org", 7443) == FP_A
    assert store.lookup("relay.example.org", 7444) is None
    assert store.lookup("other.example.org", 7443) is None
    assert store.forget("relay.example.org", 7443)
    assert store.lookup("relay.example.org", 7443) is None
    assert not store.forget("relay.example.org", 7443)


def test_remember_replaces_and_normalizes(store: KnownRelays) -> None:
    store.remember("Relay.Example.ORG", 7443, format_fingerprint(FP_A).upper())
    store.remember("relay.example.org", 7443, FP_B)
    assert store.lookup("RELAY.example.org.", 7443) == FP_B
    assert store.entries() == [("relay.example.org:7443", FP_B)]


def test_ipv6_hosts_are_bracketed_and_canonical(store: KnownRelays) -> None:
    store.remember("2001:db8:0::5", 7443, FP_A)
    store.remember("127.0.0.1", 7443, FP_B)
    assert store.lookup("[2001:db8::5]", 7443) == FP_A
    assert store.lookup("2001:0db8::0005", 7443) == FP_A
    assert "[2001:db8::5]:7443 " + FP_A in store.path.read_text()
    assert format_endpoint("::1", 1) == "[::1]:1"


def test_file_format_and_permissions(store: KnownRelays) -> None:
    store.remember("relay.example.org", 7443, FP_A)
    assert store.path.read_text() == f"relay.example.org:7443 {FP_A}\n"
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700
    assert [p.name for p in store.path.parent.iterdir()] == ["known_relays"]  # no temp left


def test_comments_blank_and_malformed_lines_survive(store: KnownRelays) -> None:
    store.path.parent.mkdir(parents=True)
    original = [
        "# my relays",
        "",
        "work.example.org:7443 " + FP_A,
        "this line is nonsense",
        "broken.example.org:notaport " + FP_A,
        "short.example.org:7443 abc",
        "  # indented comment",
        "home.example.org:7443 " + format_fingerprint(FP_B).replace(" ", ":"),
    ]
    store.path.write_text("\n".join(original) + "\n")
    assert store.lookup("work.example.org", 7443) == FP_A
    assert store.lookup("home.example.org", 7443) == FP_B
    assert store.lookup("short.example.org", 7443) is None
    assert store.lookup("broken.example.org", 7443) is None

    store.remember("new.example.org", 1, FP_B)
    store.remember("work.example.org", 7443, FP_B)  # updated in place
    assert store.forget("home.example.org", 7443)
    lines = store.path.read_text().splitlines()
    assert lines == [
        "# my relays",
        "",
        "work.example.org:7443 " + FP_B,
        "this line is nonsense",
        "broken.example.org:notaport " + FP_A,
        "short.example.org:7443 abc",
        "  # indented comment",
        "new.example.org:1 " + FP_B,
    ]


def test_duplicates_are_collapsed_on_remember(store: KnownRelays) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(f"a.example:1 {FP_A}\nb.example:2 {FP_A}\na.example:1 {FP_B}\n")
    assert store.lookup("a.example", 1) == FP_A  # first one wins
    store.remember("a.example", 1, FP_B)
    assert store.path.read_text() == f"a.example:1 {FP_B}\nb.example:2 {FP_A}\n"


def test_corrupt_file_does_not_crash_and_is_kept(store: KnownRelays) -> None:
    store.path.parent.mkdir(parents=True)
    garbage = (
        b"\x00\xff\xfe binary\x1c\x0cjunk\r\n\x80:\x81 \x82\nok.example:9 " + FP_A.encode() + b"\n"
    )
    store.path.write_bytes(garbage)
    assert store.lookup("ok.example", 9) == FP_A
    assert store.lookup("other.example", 9) is None
    store.remember("new.example", 9, FP_B)
    assert store.path.read_bytes() == garbage + f"new.example:9 {FP_B}\n".encode()


def test_missing_file_means_nothing_known(tmp_path: Path) -> None:
    assert KnownRelays(tmp_path / "absent").lookup("a.example", 1) is None


@pytest.mark.parametrize(
    ("host", "port"),
    [("", 1), ("a b", 1), ("evil#comment", 1), ("a.example", 0), ("a.example", 65536), ("a:b", 1)],
)
def test_unusable_endpoints_are_refused(store: KnownRelays, host: str, port: int) -> None:
    with pytest.raises(ValueError, match="not a"):
        store.remember(host, port, FP_A)


def test_bad_fingerprint_is_refused(store: KnownRelays) -> None:
    with pytest.raises(ValueError, match="hexadecimal"):
        store.remember("a.example", 1, "abc")
    assert not store.path.exists()


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_known_relays_path() == tmp_path / "xdg" / "porthole" / "known_relays"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".config" / "porthole" / "known_relays"
    assert default_known_relays_path() == expected
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_known_relays_path() == expected
    assert KnownRelays().path == expected


FP_C = "c" * 64


def test_upgrade_replaces_the_pin_that_matched_by_the_key_pin(store: KnownRelays) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("# our relay\nrelay.example.org:7443 " + FP_A + "\n")
    assert store.upgrade("relay.example.org", 7443, FP_A, FP_B)
    assert store.lookup("relay.example.org", 7443) == FP_B
    assert store.path.read_text() == f"# our relay\nrelay.example.org:7443 {FP_B}\n"
    # Already the key pin: nothing to write.
    assert not store.upgrade("relay.example.org", 7443, FP_B, FP_B)


def test_upgrade_leaves_an_entry_another_client_changed(store: KnownRelays) -> None:
    store.remember("relay.example.org", 7443, FP_C)  # changed since we looked it up as FP_A
    assert not store.upgrade("relay.example.org", 7443, FP_A, FP_B)
    assert store.lookup("relay.example.org", 7443) == FP_C
    assert not store.upgrade("other.example.org", 7443, FP_A, FP_B)
    assert store.lookup("other.example.org", 7443) is None
