"""The relay's TLS identity: a self-signed certificate made on first start, and its context.

docs/design.md §4.1: the relay speaks TLS 1.3 with either an operator-provided certificate or one it
generates itself. Clients do not check a CA chain; they pin the SHA-256 of this certificate's
public key (:mod:`core.tlspin`). So the key's job is to be *stable*: generate once, reuse on
every start, and never replace it behind the operator's back, because a new key means a new
fingerprint and every client that pinned the old one will (rightly) refuse to connect and warn
about interception. A certificate renewed for the same key keeps the fingerprint.

Files in the data directory: ``relay-cert.pem`` (public, 0644) and ``relay-key.pem`` (the
private key, 0600, created with that mode so it is never readable by others, not even for an
instant). An operator can drop in their own PEM pair (a CA-issued leaf first, chain after), or
name it with ``serve --cert/--key``; :func:`load_identity` checks such a pair with sentences an
operator can act on, and is what a reload (SIGHUP, :mod:`relay.tls_reload`) calls too.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.tlspin import ALPN_PROTOCOL, fingerprint

__all__ = [
    "CERT_FILENAME",
    "KEY_FILENAME",
    "CertificateError",
    "CertificatePaths",
    "ServerIdentity",
    "ensure_certificate",
    "load_fingerprint",
    "load_identity",
    "server_ssl_context",
]

CERT_FILENAME = "relay-cert.pem"
KEY_FILENAME = "relay-key.pem"
COMMON_NAME = "porthole relay"
VALIDITY = datetime.timedelta(days=3650)
# Backdate a little so a client whose clock is slightly behind does not see a future cert
# (clients pin rather than validate dates today, but other TLS tools do check).
BACKDATE = datetime.timedelta(hours=1)


class CertificateError(Exception):
    """The data directory holds a certificate/key pair the relay cannot use as is.

    Raised instead of silently generating a new identity: the operator must decide, because a
    new certificate changes the fingerprint every client has pinned.
    """


@dataclass(frozen=True, slots=True)
class CertificatePaths:
    """Where the relay's certificate and key live, and the fingerprint clients should pin.

    ``created`` is True when :func:`ensure_certificate` generated them on this call, so the
    relay can print the new fingerprint prominently once.
    """

    cert: Path
    key: Path
    fingerprint: str
    created: bool


def load_fingerprint(cert_path: Path) -> str:
    """The pin (SHA-256 of the public key, 64 lowercase hex) of the first certificate in a PEM
    file.

    The first certificate is the leaf the relay presents, which is what clients pin.
    """
    return fingerprint(_load_certificate(cert_path).public_bytes(serialization.Encoding.DER))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def _load_certificate(cert_path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(cert_path, "certificate"))
    except ValueError as exc:
        raise CertificateError(f"{cert_path} is not a PEM certificate: {exc}") from exc


def ensure_certificate(
    data_dir: Path,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1", "::1"),
) -> CertificatePaths:
    """Load the relay's certificate from ``data_dir``, generating it on first start.

    If neither ``relay-cert.pem`` nor ``relay-key.pem`` exists, makes a self-signed ECDSA P-256
    certificate valid for 10 years (CN "porthole relay", subject alternative names for
    ``hostnames``, ``ips`` and this machine's host name). ECDSA P-256 because every TLS stack
    supports it and it is small and fast; 10 years because renewing changes the pinned
    fingerprint, which is a deliberate operator act, not a timer's.

    If both exist they are loaded and checked to belong together. If only one exists (a
    crashed first start, or a file deleted by hand) :class:`CertificateError` explains what to
    do instead of quietly minting a new identity. ``hostnames``/``ips`` only matter when
    generating; they are not compared against an existing certificate.
    """
    cert_path = data_dir / CERT_FILENAME
    key_path = data_dir / KEY_FILENAME
    if not data_dir.is_dir():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)  # mkdir's mode is filtered by the umask

    have_cert, have_key = cert_path.exists(), key_path.exists()
    if have_cert and have_key:
        _check_pair(cert_path, key_path)
        return CertificatePaths(cert_path, key_path, load_fingerprint(cert_path), created=False)
    if have_cert or have_key:
        present, missing = (cert_path, key_path) if have_cert else (key_path, cert_path)
        raise CertificateError(
            f"{present} exists but {missing} does not. Restore {missing.name}, or delete "
            f"{present.name} to generate a new certificate (clients that pinned the old "
            f"fingerprint will then refuse to connect until they accept the new one)."
        )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed_certificate(key, hostnames=hostnames, ips=ips)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key first, exclusively: if another process is generating at the same moment, one of
    # us fails here rather than both writing. The certificate appears (atomically) only once
    # the key is complete, so "cert present" always means "pair complete".
    _write_new_file(key_path, key_pem, mode=0o600)
    try:
        _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except BaseException:
        # Nothing was published yet: leave the directory as we found it so a retry works.
        with contextlib.suppress(OSError):
            os.unlink(key_path)
        raise
    return CertificatePaths(
        cert_path,
        key_path,
        fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        created=True,
    )


def _subject_alternative_names(
    hostnames: Iterable[str], ips: Iterable[str]
) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in [*hostnames, socket.gethostname()]:
        name = name.strip().lower().rstrip(".")
        # A DNS SAN must be ASCII (IDNA); a host name that is not simply gets no SAN.
        if name and name.isascii() and name not in seen:
            seen.add(name)
            names.append(x509.DNSName(name))
    addresses: list[x509.GeneralName] = []
    for ip in dict.fromkeys(ipaddress.ip_address(ip) for ip in ips):
        addresses.append(x509.IPAddress(ip))
    return names + addresses


def _self_signed_certificate(
    key: ec.EllipticCurvePrivateKey, *, hostnames: Iterable[str], ips: Iterable[str]
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(_subject_alternative_names(hostnames, ips)),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write_new_file(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte (O_EXCL: never reuse a file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)  # the umask can only have narrowed it; make it exact
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write to a fresh temporary name, then rename over ``path``."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    _write_new_file(temp, data, mode=mode)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _check_pair(cert_path: Path, key_path: Path) -> x509.Certificate:
    """Fail at start-up, with file names, rather than at the first handshake; return the leaf."""
    cert = _load_certificate(cert_path)
    try:
        key = serialization.load_pem_private_key(_read(key_path, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"{key_path} is not an unencrypted PEM private key: {exc}") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise CertificateError(f"{key_path} is not the private key of {cert_path}")
    return cert


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """A checked certificate/key pair, ready to serve: its TLS context and its pin.

    ``warnings`` are sentences for the operator about a pair the relay still serves (an
    expired certificate: porthole clients pin the key and ignore dates, but browsers and other
    TLS tools will not).
    """

    cert: Path
    key: Path
    context: ssl.SSLContext
    fingerprint: str
    warnings: tuple[str, ...]


def load_identity(
    cert_path: Path, key_path: Path, alpn: Sequence[str] = (ALPN_PROTOCOL,)
) -> ServerIdentity:
    """Read, check and load ``cert_path`` (leaf first, chain after) and ``key_path``.

    Every way the pair can be unusable — unreadable, not PEM, an encrypted key, a key that is
    not the certificate's — raises :class:`CertificateError` with one sentence naming the
    file, before anything listens (or, on a reload, before the served pair is touched).
    """
    leaf = _check_pair(cert_path, key_path)
    try:
        context = server_ssl_context(cert_path, key_path, alpn)
    except (ssl.SSLError, OSError) as exc:
        raise CertificateError(
            f"cannot use {cert_path} with {key_path}: {getattr(exc, 'reason', None) or exc}"
        ) from None
    warnings: list[str] = []
    now = datetime.datetime.now(datetime.UTC)
    if leaf.not_valid_after_utc < now:
        warnings.append(
            f"the certificate in {cert_path} expired on {leaf.not_valid_after_utc:%Y-%m-%d}; "
            f"porthole clients pin its key and still connect, but renew it (with the same key "
            f"to keep the fingerprint) before browsers and other TLS tools refuse it"
        )
    elif leaf.not_valid_before_utc > now:
        warnings.append(
            f"the certificate in {cert_path} is not valid before "
            f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check this machine's clock"
        )
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    return ServerIdentity(cert_path, key_path, context, fingerprint(leaf_der), tuple(warnings))


def server_ssl_context(
    cert_path: Path, key_path: Path, alpn: Sequence[str] = (ALPN_PROTOCOL,)
) -> ssl.SSLContext:
    """The relay's TLS context: TLS 1.3 only, ALPN offered, no client certificates.

    Clients authenticate inside the protocol (organizer login, session password via SPAKE2), not
    with certificates. ALPN names the protocol so the same port also serves HTTP/1.1 (the WebSocket
    path, docs/design.md §4.1) by adding ``"http/1.1"`` to ``alpn``; the relay should refuse
    connections whose ``selected_alpn_protocol()`` it does not speak.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certfile=cert_path, keyfile=key_path)
    context.set_alpn_protocols(list(alpn))
    return context
