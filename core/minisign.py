"""The minisign file formats (public key, secret key, signature) and Ed25519 over them.

Why minisign's format rather than one of our own: release signatures must be checkable by
people who do not trust porthole's code, with a tool they already have (``minisign -V``, in
Debian, Homebrew and Zig's toolchain); and ``porthole verify`` must check the same files with
nothing but ``cryptography``. Sans-IO: bytes and text in, values or :class:`MinisignError` out.

Formats (minisign 0.11, src/minisign.h):

* public key: ``untrusted comment: …`` then base64(``Ed`` + key id (8) + public key (32));
* signature: ``untrusted comment: …``, base64(``Ed``|``ED`` + key id (8) + signature (64)),
  ``trusted comment: …``, base64(global signature (64)). ``Ed`` signs the file itself; ``ED``
  (the default since 0.10) signs BLAKE2b-512 of the file. The global signature covers the
  signature followed by the trusted comment's text, so the trusted comment cannot be edited;
* unencrypted secret key (``minisign -G -W``): base64(``Ed`` + KDF ``\\0\\0`` + ``B2`` +
  salt (32) + opslimit (8) + memlimit (8) + key id (8) + secret key (64) + checksum (32)),
  where the checksum is BLAKE2b-256 of ``Ed`` + key id + secret key (minisign 0.11 writes
  zeros there for unencrypted keys).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
ALG_PLAIN = b"Ed"
ALG_HASHED = b"ED"
KDF_NONE = b"\0\0"
CHK_ALG = b"B2"
KEY_ID_BYTES = 8


class MinisignError(ValueError):
    """A key or signature that is malformed or does not verify: one sentence for a person."""


def format_key_id(key_id: bytes) -> str:
    """The key id as minisign prints it (hexadecimal of the little-endian number)."""
    return key_id[::-1].hex().upper()


def _b64(line: str, what: str) -> bytes:
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MinisignError(f"the {what} is not valid base64") from None


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    key: bytes  # 32 raw Ed25519 bytes

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """A public key file's text, or the bare base64 line (``minisign -P`` style)."""
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if lines and lines[0].startswith(UNTRUSTED_PREFIX):
            lines = lines[1:]
        if len(lines) != 1:
            raise MinisignError("a minisign public key is one base64 line after its comment")
        raw = _b64(lines[0], "public key")
        if len(raw) != 2 + KEY_ID_BYTES + 32 or raw[:2] != ALG_PLAIN:
            raise MinisignError("this is not a minisign Ed25519 public key")
        return cls(key_id=raw[2:10], key=raw[10:])

    def line(self) -> str:
        """The base64 line, as ``minisign -P`` accepts it."""
        return base64.b64encode(ALG_PLAIN + self.key_id + self.key).decode()

    def text(self) -> str:
        """The public key file, as ``minisign -G`` writes it."""
        comment = f"{UNTRUSTED_PREFIX}minisign public key {format_key_id(self.key_id)}"
        return f"{comment}\n{self.line()}\n"


@dataclass(frozen=True)
class Signature:
    algorithm: bytes  # ALG_PLAIN or ALG_HASHED
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes

    @classmethod
    def parse(cls, text: str) -> Signature:
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) != 4:
            raise MinisignError("a minisign signature has four lines")
        if not lines[0].startswith(UNTRUSTED_PREFIX):
            raise MinisignError("the signature's first line is not an untrusted comment")
        if not lines[2].startswith(TRUSTED_PREFIX):
            raise MinisignError("the signature's third line is not a trusted comment")
        raw = _b64(lines[1], "signature")
        if len(raw) != 2 + KEY_ID_BYTES + 64 or raw[:2] not in (ALG_PLAIN, ALG_HASHED):
            raise MinisignError("this is not a minisign Ed25519 signature")
        global_sig = _b64(lines[3], "global signature")
        if len(global_sig) != 64:
            raise MinisignError("the global signature has the wrong length")
        return cls(
            algorithm=raw[:2],
            key_id=raw[2:10],
            signature=raw[10:],
            trusted_comment=lines[2][len(TRUSTED_PREFIX) :],
            global_signature=global_sig,
        )

    def text(self, untrusted_comment: str) -> str:
        body = base64.b64encode(self.algorithm + self.key_id + self.signature).decode()
        return (
            f"{UNTRUSTED_PREFIX}{untrusted_comment}\n{body}\n"
            f"{TRUSTED_PREFIX}{self.trusted_comment}\n"
            f"{base64.b64encode(self.global_signature).decode()}\n"
        )


def _signed_message(algorithm: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=64).digest() if algorithm == ALG_HASHED else data


def verify(data: bytes, signature: Signature, keys: list[PublicKey]) -> PublicKey:
    """The key among ``keys`` whose signature over ``data`` this is; else :class:`MinisignError`.

    Why a list: key rotation. A release is signed by one key; the package ships every key it
    still trusts, so a client installed before a rotation accepts releases signed by the new
    key once it was announced in a release signed by the old one.
    """
    matching = [key for key in keys if hmac.compare_digest(key.key_id, signature.key_id)]
    if not matching:
        raise MinisignError(
            f"signed by key {format_key_id(signature.key_id)}, which is not a trusted release key"
        )
    key = matching[0]
    public = Ed25519PublicKey.from_public_bytes(key.key)
    try:
        public.verify(signature.signature, _signed_message(signature.algorithm, data))
    except InvalidSignature:
        raise MinisignError("the signature does not match the signed file") from None
    try:
        public.verify(
            signature.global_signature,
            signature.signature + signature.trusted_comment.encode("utf-8"),
        )
    except InvalidSignature:
        raise MinisignError("the signature's trusted comment was altered") from None
    return key


@dataclass(frozen=True)
class SecretKey:
    """An unencrypted minisign secret key (``minisign -G -W``), for the release script."""

    key_id: bytes
    private: Ed25519PrivateKey

    @classmethod
    def parse(cls, text: str) -> SecretKey:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if lines and lines[0].startswith(UNTRUSTED_PREFIX):
            lines = lines[1:]
        if len(lines) != 1:
            raise MinisignError("a minisign secret key is one base64 line after its comment")
        raw = _b64(lines[0], "secret key")
        if len(raw) != 2 + 2 + 2 + 32 + 8 + 8 + KEY_ID_BYTES + 64 + 32 or raw[:2] != ALG_PLAIN:
            raise MinisignError("this is not a minisign Ed25519 secret key")
        if raw[2:4] != KDF_NONE:
            raise MinisignError(
                "this secret key is password-protected; sign with `minisign -S` instead, "
                "or use a key made with `minisign -G -W` kept offline"
            )
        key_id, sk, chk = raw[54:62], raw[62:126], raw[126:158]
        expected = hashlib.blake2b(ALG_PLAIN + key_id + sk, digest_size=32).digest()
        # minisign 0.11 leaves the checksum of an unencrypted key zero; a set one must match.
        if any(chk) and not hmac.compare_digest(chk, expected):
            raise MinisignError("the secret key's checksum does not match (damaged file?)")
        private = Ed25519PrivateKey.from_private_bytes(sk[:32])
        if private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) != sk[32:]:
            raise MinisignError("the secret key's halves do not belong together")
        return cls(key_id=key_id, private=private)

    @classmethod
    def generate(cls) -> SecretKey:
        return cls(key_id=secrets.token_bytes(KEY_ID_BYTES), private=Ed25519PrivateKey.generate())

    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(key_id=self.key_id, key=raw)

    def text(self) -> str:
        """The secret key file, readable by ``minisign -S`` (unencrypted, like ``-W``)."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        sk = seed + self.public().key
        chk = hashlib.blake2b(ALG_PLAIN + self.key_id + sk, digest_size=32).digest()
        raw = ALG_PLAIN + KDF_NONE + CHK_ALG + bytes(32 + 8 + 8) + self.key_id + sk + chk
        return f"{UNTRUSTED_PREFIX}minisign secret key\n{base64.b64encode(raw).decode()}\n"

    def sign(self, data: bytes, file_name: str, now: float | None = None) -> Signature:
        """A prehashed (``ED``) signature, as ``minisign -S`` 0.10+ makes by default."""
        stamp = int(time.time() if now is None else now)
        trusted = f"timestamp:{stamp}\tfile:{file_name}\thashed"
        sig = self.private.sign(_signed_message(ALG_HASHED, data))
        global_sig = self.private.sign(sig + trusted.encode("utf-8"))
        return Signature(ALG_HASHED, self.key_id, sig, trusted, global_sig)
