"""Test certificates made on the spot with ``cryptography``: a small CA, leaves it issues, and
renewals of a leaf for the same key (what an operator's CA does every few months).

Nothing here comes from files on the internet; every key is fresh per test.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class CertAuthority:
    key: Key
    cert: x509.Certificate

    def issue(
        self,
        leaf_key: Key,
        *,
        valid_from: datetime.timedelta = datetime.timedelta(hours=-1),
        valid_for: datetime.timedelta = datetime.timedelta(days=90),
    ) -> x509.Certificate:
        """A server leaf for ``leaf_key`` with a fresh serial, valid from now + ``valid_from``."""
        start = datetime.datetime.now(datetime.UTC) + valid_from
        return (
            x509.CertificateBuilder()
            .subject_name(_name("relay.test"))
            .issuer_name(self.cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("relay.test")]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )


def make_ca() -> CertAuthority:
    key = new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("porthole test CA"))
        .issuer_name(_name("porthole test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertAuthority(key, cert)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def write_pair(
    directory: Path, leaf: x509.Certificate, key: Key, ca: CertAuthority | None = None
) -> tuple[Path, Path]:
    """``cert.pem`` (leaf, then the CA if given) and ``key.pem`` in ``directory``; replaces
    files already there, as an operator's renewal does."""
    directory.mkdir(parents=True, exist_ok=True)
    chain = leaf.public_bytes(serialization.Encoding.PEM)
    if ca is not None:
        chain += ca.cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(chain)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
