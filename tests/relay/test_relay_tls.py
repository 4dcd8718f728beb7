"""The relay's certificate and real TLS 1.3 handshakes with pinning on loopback (relay/tls.py).

Both ends are the production contexts (:func:`relay.tls.server_ssl_context`,
:func:`core.tlspin.client_ssl_context`) over real trio sockets.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
import socket
import ssl
import stat
from pathlib import Path

import pytest
import trio
from certkit import der, make_ca, new_key, write_pair
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.tlspin import (
    FingerprintMismatch,
    check_pinned,
    client_ssl_context,
    format_fingerprint,
)
from relay.tls import (
    CERT_FILENAME,
    KEY_FILENAME,
    CertificateError,
    CertificatePaths,
    ensure_certificate,
    load_fingerprint,
    load_identity,
    server_ssl_context,
)
from relay.tls_reload import ReloadableIdentity

GREETING = b"porthole relay says hi"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def relay_cert(tmp_path: Path) -> CertificatePaths:
    return ensure_certificate(tmp_path / "relay-data")


async def _handler(stream: trio.SSLStream[trio.SocketStream]) -> None:
    """Greet and hang up; a refused handshake is the client's problem, not the server's."""
    try:
        await stream.do_handshake()
        await stream.send_all(GREETING)
        await stream.aclose()
    except trio.BrokenResourceError:
        pass


async def _start_relay(nursery: trio.Nursery, paths: CertificatePaths) -> int:
    context = server_ssl_context(paths.cert, paths.key)
    serve = functools.partial(trio.serve_ssl_over_tcp, host="127.0.0.1")
    listeners = await nursery.start(serve, _handler, 0, context)
    address = listeners[0].transport_listener.socket.getsockname()
    return int(address[1])


async def _connect(port: int, context: ssl.SSLContext) -> trio.SSLStream[trio.SocketStream]:
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context)
    await stream.do_handshake()
    return stream


# --------------------------------------------------------------------------------------------
# Handshakes


async def test_pinned_handshake_accepts_the_right_fingerprint(
    relay_cert: CertificatePaths,
) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await _start_relay(nursery, relay_cert)
            stream = await _connect(port, client_ssl_context())
            check_pinned(stream.getpeercert(binary_form=True), relay_cert.fingerprint)
            assert stream.selected_alpn_protocol() == "porthole/1"
            assert stream.version() == "TLSv1.3"
            assert await stream.receive_some(100) == GREETING
            await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_pinned_handshake_refuses_a_wrong_fingerprint(
    relay_cert: CertificatePaths, tmp_path: Path
) -> None:
    impostor = ensure_certificate(tmp_path / "impostor-data")
    assert impostor.fingerprint != relay_cert.fingerprint
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            # The client pinned the real relay, but the impostor answers.
            port = await _start_relay(nursery, impostor)
            stream = await _connect(port, client_ssl_context())
            with pytest.raises(FingerprintMismatch) as info:
                check_pinned(
                    stream.getpeercert(binary_form=True),
                    relay_cert.fingerprint,
                    relay=f"127.0.0.1:{port}",
                )
            assert format_fingerprint(impostor.fingerprint) in str(info.value)
            assert format_fingerprint(relay_cert.fingerprint) in str(info.value)
            await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_tls12_only_client_is_refused(relay_cert: CertificatePaths) -> None:
    old_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old_client.check_hostname = False
    old_client.verify_mode = ssl.CERT_NONE
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await _start_relay(nursery, relay_cert)
            with pytest.raises(trio.BrokenResourceError) as info:
                await _connect(port, old_client)
            assert isinstance(info.value.__cause__, ssl.SSLError)
            nursery.cancel_scope.cancel()


async def test_client_without_alpn_gets_no_protocol(relay_cert: CertificatePaths) -> None:
    """The relay must check ALPN itself: a mismatch does not fail the handshake."""
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await _start_relay(nursery, relay_cert)
            stream = await _connect(port, client_ssl_context(alpn=("h2",)))
            assert stream.selected_alpn_protocol() is None
            await stream.aclose()
            nursery.cancel_scope.cancel()


def test_server_context_settings(relay_cert: CertificatePaths) -> None:
    context = server_ssl_context(relay_cert.cert, relay_cert.key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_NONE


# --------------------------------------------------------------------------------------------
# The certificate on disk


def test_certificate_generated_once_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ensure_certificate(data)
    assert first.created
    cert_bytes = first.cert.read_bytes()
    second = ensure_certificate(data, hostnames=("ignored.example",))
    assert not second.created
    assert second.fingerprint == first.fingerprint
    assert second.cert.read_bytes() == cert_bytes
    assert load_fingerprint(first.cert) == first.fingerprint
    assert sorted(p.name for p in data.iterdir()) == [CERT_FILENAME, KEY_FILENAME]


def test_file_and_directory_modes(relay_cert: CertificatePaths) -> None:
    assert mode(relay_cert.key) == 0o600
    assert mode(relay_cert.cert) == 0o644
    assert mode(relay_cert.cert.parent) == 0o700


def test_key_mode_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        paths = ensure_certificate(tmp_path / "data")
    finally:
        os.umask(old)
    assert mode(paths.key) == 0o600


def test_certificate_contents(tmp_path: Path) -> None:
    paths = ensure_certificate(
        tmp_path / "data", hostnames=("relay.example.org", "localhost"), ips=("192.0.2.7", "::1")
    )
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "porthole relay"
    assert cert.issuer == cert.subject
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    assert "relay.example.org" in dns
    assert "localhost" in dns
    hostname = socket.gethostname().lower()
    if hostname.isascii():
        assert hostname in dns
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("::1"),
    }
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime >= datetime.timedelta(days=3650)
    assert cert.not_valid_before_utc <= datetime.datetime.now(datetime.UTC)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not basic.ca


def test_half_a_pair_is_an_error_not_a_new_identity(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ensure_certificate(data)
    (data / CERT_FILENAME).unlink()
    with pytest.raises(CertificateError, match=r"delete relay-key\.pem"):
        ensure_certificate(data)
    assert not (data / CERT_FILENAME).exists()  # nothing was overwritten or minted

    other = tmp_path / "other"
    ensure_certificate(other)
    (other / KEY_FILENAME).unlink()
    with pytest.raises(CertificateError, match=r"Restore relay-key\.pem"):
        ensure_certificate(other)


def test_mismatched_key_is_reported(tmp_path: Path) -> None:
    a = ensure_certificate(tmp_path / "a")
    b = ensure_certificate(tmp_path / "b")
    os.replace(b.key, a.key)
    with pytest.raises(CertificateError, match="is not the private key of"):
        ensure_certificate(tmp_path / "a")


def test_garbage_certificate_is_reported(tmp_path: Path) -> None:
    paths = ensure_certificate(tmp_path / "data")
    paths.cert.write_text("not a certificate\n")
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        ensure_certificate(tmp_path / "data")


# --------------------------------------------------------------------------------------------
# An operator's certificate (serve --cert/--key) and reloading it


def test_load_identity_pins_the_key_of_an_operator_certificate(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    cert_path, key_path = write_pair(tmp_path, ca.issue(key), key, ca)
    identity = load_identity(cert_path, key_path)
    assert identity.fingerprint == load_fingerprint(cert_path)
    assert identity.warnings == ()
    # The same key certified again: the same pin.
    cert_path, key_path = write_pair(tmp_path, ca.issue(key), key, ca)
    assert load_identity(cert_path, key_path).fingerprint == identity.fingerprint


def test_load_identity_says_which_file_it_cannot_read(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    cert_path, key_path = write_pair(tmp_path, ca.issue(key), key)
    with pytest.raises(CertificateError, match=r"cannot read the certificate .*nope\.pem"):
        load_identity(tmp_path / "nope.pem", key_path)
    with pytest.raises(CertificateError, match=r"cannot read the private key .*nope\.pem"):
        load_identity(cert_path, tmp_path / "nope.pem")


def test_load_identity_refuses_a_key_of_another_certificate(tmp_path: Path) -> None:
    ca = make_ca()
    cert_path, _ = write_pair(tmp_path / "a", ca.issue(new_key()), new_key())
    with pytest.raises(CertificateError, match="is not the private key of"):
        load_identity(cert_path, tmp_path / "a" / "key.pem")


def test_an_expired_certificate_is_served_with_a_warning(tmp_path: Path) -> None:
    ca, key = make_ca(), new_key()
    old = ca.issue(
        key, valid_from=-datetime.timedelta(days=100), valid_for=datetime.timedelta(days=90)
    )
    identity = load_identity(*write_pair(tmp_path, old, key))
    assert len(identity.warnings) == 1
    assert "expired on" in identity.warnings[0]
    assert "same key" in identity.warnings[0]


async def _echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
    try:
        await stream.do_handshake()
        while data := await stream.receive_some(100):
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass


async def test_a_reload_serves_new_handshakes_and_keeps_open_connections(
    tmp_path: Path,
) -> None:
    ca, key = make_ca(), new_key()
    first = ca.issue(key)
    cert_path, key_path = write_pair(tmp_path, first, key, ca)
    identity = ReloadableIdentity(load_identity(cert_path, key_path))
    pin = identity.current.fingerprint
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            serve = functools.partial(trio.serve_ssl_over_tcp, host="127.0.0.1")
            listeners = await nursery.start(serve, _echo, 0, identity.listener_context)
            port = int(listeners[0].transport_listener.socket.getsockname()[1])
            before = await _connect(port, client_ssl_context())
            assert before.getpeercert(binary_form=True) == der(first)

            renewed = ca.issue(key)
            write_pair(tmp_path, renewed, key, ca)
            assert identity.reload().fingerprint == pin
            after = await _connect(port, client_ssl_context())
            assert after.getpeercert(binary_form=True) == der(renewed)
            check_pinned(after.getpeercert(binary_form=True), pin)

            # A pair that does not fit is refused and the renewed one stays served.
            write_pair(tmp_path, ca.issue(new_key()), key, ca)
            with pytest.raises(CertificateError, match="is not the private key of"):
                identity.reload()
            again = await _connect(port, client_ssl_context())
            assert again.getpeercert(binary_form=True) == der(renewed)

            # The connection made before the reload is untouched.
            await before.send_all(b"still here")
            assert await before.receive_some(100) == b"still here"
            for stream in (before, after, again):
                await stream.aclose()
            nursery.cancel_scope.cancel()
