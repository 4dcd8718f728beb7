"""``porthole-relay serve --cert/--key`` with a CA-issued certificate, renewed under SIGHUP.

The operator's story (docs/design.md §4.1, §7.7): links pin the certificate's key, so a renewal
for the same key, loaded with SIGHUP, keeps every link working and every open session running; a
new key is refused by clients with the mismatch sentence; a link made before pins named keys
(the whole certificate's hash) still works. A real relay subprocess, real TLS on loopback.
"""

from __future__ import annotations

import datetime
import signal
import subprocess
from pathlib import Path

import pytest
import trio
from adminkit import socket_path
from certkit import CertAuthority, Key, der, make_ca, new_key, write_pair
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from procs import RelayProcess, command, relay_process
from relaykit import ORGANIZER, ORGANIZER_PASSWORD
from sessionkit import connect, round_trip

from core.tlspin import (
    FingerprintMismatch,
    certificate_fingerprint,
    client_ssl_context,
    fingerprint,
    format_fingerprint,
)
from relay.admin_client import AdminClient

SESSION_PASSWORD = "saffron-31"


async def presented(port: int) -> bytes:
    """The certificate a fresh handshake gets now."""
    stream = await trio.open_ssl_over_tcp_stream(
        "127.0.0.1", port, ssl_context=client_ssl_context()
    )
    try:
        await stream.do_handshake()
        der_bytes: bytes | None = stream.getpeercert(binary_form=True)
        assert der_bytes is not None
        return der_bytes
    finally:
        await trio.aclose_forcefully(stream)


async def says(served: RelayProcess, pattern: str) -> str:
    """The whole line the relay prints next that matches ``pattern``."""
    match = await trio.to_thread.run_sync(served.proc.expect, f"{pattern}.*")
    return match.group(0)


def renew(directory: Path, ca: CertAuthority, key: Key) -> x509.Certificate:
    leaf = ca.issue(key)
    write_pair(directory, leaf, key, ca)
    return leaf


async def test_a_renewal_for_the_same_key_keeps_links_and_sessions(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    first = ca.issue(key)
    cert, key_file = write_pair(tmp_path / "tls", first, key, ca)
    with relay_process(
        tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD, "--cert", str(cert), "--key",
        str(key_file),
    ) as served:  # fmt: skip
        pin = served.fingerprint
        old_pin = certificate_fingerprint(der(first))  # what a link held before key pins
        assert old_pin != pin
        with trio.fail_after(60):
            assert await presented(served.port) == der(first)
            async with connect(served.port, pin) as oc, connect(served.port, old_pin) as mc:
                await oc.login(ORGANIZER, ORGANIZER_PASSWORD)
                org = await oc.create_session(name="Olga", password=SESSION_PASSWORD)
                ana = await mc.join(org.session_id, name="Ana", password=SESSION_PASSWORD)
                await round_trip(org, ana, "before")

                renewed = renew(tmp_path / "tls", ca, key)
                served.proc.signal(signal.SIGHUP)
                line = await says(served, r"SIGHUP: certificate reloaded")
                assert f"fingerprint unchanged: {format_fingerprint(pin)}" in line
                assert await presented(served.port) == der(renewed)

                # The session made before the reload carries on ...
                await round_trip(org, ana, "after")
                # ... and the key pin admits a new member over the renewed certificate.
                async with connect(served.port, pin) as bc:
                    ben = await bc.join(org.session_id, name="Ben", password=SESSION_PASSWORD)
                    await round_trip(org, ben, "renewed")
                # The old whole-certificate pin named the old certificate only.
                with pytest.raises(FingerprintMismatch):
                    async with connect(served.port, old_pin):
                        pass


async def test_a_new_key_or_a_broken_pair_on_sighup(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    cert, key_file = write_pair(tmp_path / "tls", ca.issue(key), key, ca)
    with relay_process(
        tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD, "--cert", str(cert), "--key",
        str(key_file),
    ) as served:  # fmt: skip
        pin = served.fingerprint
        with trio.fail_after(60):
            # A certificate for another key next to the old key: refused, the old pair stays.
            stray = ca.issue(new_key())
            cert.write_bytes(stray.public_bytes(serialization.Encoding.PEM))
            served.proc.signal(signal.SIGHUP)
            line = await says(served, r"SIGHUP: certificate not reloaded")
            assert f"{key_file} is not the private key of {cert}" in line
            assert "still serving the certificate loaded before" in line
            async with connect(served.port, pin):
                pass

            # A whole new pair: served, said loudly, and refused by clients holding the old pin.
            other_key = new_key()
            write_pair(tmp_path / "tls", ca.issue(other_key), other_key, ca)
            served.proc.signal(signal.SIGHUP)
            line = await says(served, r"SIGHUP: certificate reloaded")
            assert "NEW KEY" in line
            new_pin = fingerprint(der(x509.load_pem_x509_certificate(cert.read_bytes())))
            assert f"fingerprint now {format_fingerprint(new_pin)}" in line
            with pytest.raises(FingerprintMismatch) as mismatch:
                async with connect(served.port, pin):
                    pass
            message = str(mismatch.value)
            assert f"expected {format_fingerprint(pin)}" in message
            assert f"presented {format_fingerprint(new_pin)}" in message
            assert "do not continue unless the relay operator confirms" in message
            async with connect(served.port, new_pin):
                pass
            # The operator's view follows the reload.
            with AdminClient(socket_path(served.data_dir)) as admin:
                status = await trio.to_thread.run_sync(admin.call, "relay.status")
            assert status["fingerprint"] == new_pin


def serve_briefly(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``serve`` with ``args`` that should stop it before it listens."""
    return subprocess.run(
        [command("porthole-relay"), "serve", "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp_path / "relay"), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_unusable_cert_or_key_files_stop_the_start_with_one_sentence(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    cert, key_file = write_pair(tmp_path / "tls", ca.issue(key), key, ca)
    missing = tmp_path / "tls" / "missing.pem"

    result = serve_briefly(tmp_path, "--cert", str(missing), "--key", str(key_file))
    assert result.returncode == 1
    assert result.stderr == (
        f"porthole-relay serve: cannot read the certificate {missing}: No such file or directory\n"
    )

    other, _ = write_pair(tmp_path / "other", ca.issue(new_key()), new_key())
    result = serve_briefly(tmp_path, "--cert", str(other), "--key", str(key_file))
    assert result.returncode == 1
    assert result.stderr == f"porthole-relay serve: {key_file} is not the private key of {other}\n"

    key_file.write_text("not a key\n")
    result = serve_briefly(tmp_path, "--cert", str(cert), "--key", str(key_file))
    assert result.returncode == 1
    assert "is not an unencrypted PEM private key" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_expired_certificate_is_served_with_a_warning(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    expired = ca.issue(
        key, valid_from=-datetime.timedelta(days=100), valid_for=datetime.timedelta(days=90)
    )
    cert, key_file = write_pair(tmp_path / "tls", expired, key, ca)
    with relay_process(
        tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD, "--cert", str(cert), "--key",
        str(key_file), says=(r"warning: the certificate in .* expired on",),
    ) as served:  # fmt: skip
        assert served.fingerprint


async def test_cert_and_key_from_the_config_file_are_served(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    leaf = ca.issue(key)
    write_pair(tmp_path / "etc" / "tls", leaf, key, ca)
    config = tmp_path / "etc" / "relay.toml"
    config.write_text('cert = "tls/cert.pem"\nkey = "tls/key.pem"\n')  # relative to the file
    with relay_process(
        tmp_path / "relay", ORGANIZER, ORGANIZER_PASSWORD, "--config", str(config)
    ) as served:
        with trio.fail_after(30):
            assert await presented(served.port) == der(leaf)
        async with connect(served.port, served.fingerprint):
            pass
        assert not (tmp_path / "relay" / "relay-cert.pem").exists()
