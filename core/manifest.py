"""``SHA256SUMS``: the release manifest, in the format ``sha256sum`` writes and checks.

Why this format: a person can check a download with ``sha256sum -c SHA256SUMS`` and the
signature with ``minisign -V``, without porthole; ``porthole verify`` reads the same file.
Parsing is strict (a line that is not ``HEX  NAME`` is an error naming its line number) because
the manifest is what the signature vouches for: a lenient reader could skip a line that a
person reading the file would believe. Sans-IO.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

MANIFEST_NAME = "SHA256SUMS"
SIGNATURE_SUFFIX = ".minisig"

_LINE = re.compile(r"([0-9a-f]{64}) [ *]([^/\\\n]+)")


class ManifestError(ValueError):
    """A manifest that cannot be read, or a file it does not vouch for: one sentence."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_manifest(entries: Iterable[tuple[str, bytes]]) -> str:
    """``sha256sum``'s text for (file name, content) pairs, sorted by name."""
    ordered = sorted(entries, key=lambda entry: entry[0])
    return "".join(f"{sha256_hex(data)}  {name}\n" for name, data in ordered)


def parse_manifest(text: str) -> dict[str, str]:
    """File name → lowercase hex SHA-256, for every line of the manifest."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.fullmatch(line)
        if match is None:
            raise ManifestError(f"{MANIFEST_NAME} line {number} is not 'SHA256  NAME'")
        digest, name = match.groups()
        if name in entries:
            raise ManifestError(f"{MANIFEST_NAME} lists {name} twice")
        entries[name] = digest
    if not entries:
        raise ManifestError(f"{MANIFEST_NAME} lists no files")
    return entries


def check_file(entries: dict[str, str], name: str, data: bytes) -> None:
    """Raise :class:`ManifestError` unless ``data`` is what the manifest says ``name`` is."""
    expected = entries.get(name)
    if expected is None:
        raise ManifestError(f"{name} is not listed in {MANIFEST_NAME}")
    if not hmac.compare_digest(expected, sha256_hex(data)):
        raise ManifestError(f"{name} does not match its SHA-256 in {MANIFEST_NAME}")
