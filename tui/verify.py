"""``porthole verify FILE…``: are these the files the maintainers released?

Two checks, in this order (docs/design.md §3.7): the manifest's signature is by a trusted release
key, then each file's SHA-256 is the one the signed manifest lists. The signature is checked
first so that nothing an attacker wrote into an unsigned manifest is ever believed. Every
failure is one line on stderr and exit status 1; nothing here raises past ``run``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.manifest import MANIFEST_NAME, SIGNATURE_SUFFIX, ManifestError, check_file, parse_manifest
from core.minisign import MinisignError, PublicKey, Signature, format_key_id, verify
from core.release_keys import TRUSTED_RELEASE_KEYS


class VerifyError(Exception):
    """Why the files are not accepted: one sentence."""


def run(args: argparse.Namespace) -> int:
    try:
        for line in check(
            [Path(name) for name in args.files], args.manifest, args.signature, args.key
        ):
            print(line)
    except VerifyError as exc:
        print(f"porthole verify: REFUSED: {exc}", file=sys.stderr)
        return 1
    return 0


def check(
    files: list[Path], manifest: Path | None, signature: Path | None, keys: list[str]
) -> list[str]:
    """The lines to print when every file is accepted; :class:`VerifyError` otherwise."""
    manifest = manifest or files[0].parent / MANIFEST_NAME
    signature = signature or manifest.with_name(manifest.name + SIGNATURE_SUFFIX)
    trusted = _trusted_keys(keys)
    manifest_bytes = _read(manifest)
    try:
        signed = Signature.parse(_read(signature).decode("utf-8", "replace"))
        key = verify(manifest_bytes, signed, trusted)
        entries = parse_manifest(manifest_bytes.decode("utf-8"))
    except (MinisignError, ManifestError) as exc:
        raise VerifyError(f"{signature.name}: {exc}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{manifest.name} is not text") from None
    lines = [
        f"signature: good, by key {format_key_id(key.key_id)} "
        f"(trusted comment: {signed.trusted_comment})"
    ]
    for path in files:
        try:
            check_file(entries, path.name, _read(path))
        except ManifestError as exc:
            raise VerifyError(str(exc)) from None
        lines.append(f"OK  {path.name}")
    return lines


def _trusted_keys(given: list[str]) -> list[PublicKey]:
    if not given:
        return [PublicKey.parse(line) for _, line in TRUSTED_RELEASE_KEYS]
    keys = []
    for text in given:
        path = Path(text)
        try:
            keys.append(PublicKey.parse(_read(path).decode() if path.is_file() else text))
        except (MinisignError, UnicodeDecodeError) as exc:
            raise VerifyError(f"--key {text}: {exc}") from None
    return keys


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise VerifyError(f"cannot read {path}: {exc.strerror or exc}") from None
