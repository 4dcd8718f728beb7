"""The public keys whose signatures ``porthole verify`` accepts on a release's ``SHA256SUMS``.

Why a list shipped in the package: whoever installed porthole already trusts the code they
installed, so the keys it carries are the anchor for checking the next download, with no key
server or web page in between. Key rotation (docs/design.md §3.7): a new key is added here and
released signed by the old key, announced in the release notes and README; a later release
removes the old key. Until then both verify.

The entry below is a development key (its secret half never left a maintainer's machine and is
not in this repository); it is replaced by the project's release key before the first public
release.
"""

from __future__ import annotations

#: (who holds it, the minisign public key line as ``minisign -P`` accepts it)
TRUSTED_RELEASE_KEYS: tuple[tuple[str, str], ...] = (
    (
        "porthole development key D541B4D80976BC95",
        "RWSVvHYJ2LRB1dBJeFYr3UCg3PRe0cBPI92wfEjrWVRGKwnegVOpPe2M",
    ),
)
