"""Build, checksum and sign a release: ``python -m tools.release --key SECRET_KEY``.

Why a script in the checkout and not a porthole command: signing is for maintainers, and the
secret key must never be something an installed package knows how to find. The script refuses a
key stored inside the repository. What it writes to ``--outdir`` (default ``dist/``):

* the wheel and the sdist from ``python -m build`` (in its own isolated build environment);
* ``SHA256SUMS``, ``sha256sum``'s format, listing every file in the directory;
* ``SHA256SUMS.minisig``, a minisign signature of the manifest (docs/design.md §3.7), made
  with ``cryptography`` from an unencrypted minisign secret key (``minisign -G -W``, or
  ``--generate-key``). A password-protected key signs with minisign itself instead:
  ``python -m tools.release --no-sign`` then ``minisign -S -s KEY -m dist/SHA256SUMS``.

Anyone can then check with ``porthole verify dist/*.whl`` or with ``minisign -V`` and
``sha256sum -c``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from core.manifest import MANIFEST_NAME, SIGNATURE_SUFFIX, format_manifest
from core.minisign import MinisignError, PublicKey, SecretKey, format_key_id
from core.release_keys import TRUSTED_RELEASE_KEYS

REPO = Path(__file__).resolve().parent.parent


class ReleaseError(Exception):
    """Why no release was written: one sentence."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__)
    parser.add_argument(
        "--key",
        type=Path,
        default=os.environ.get("PORTHOLE_RELEASE_KEY"),
        help="unencrypted minisign secret key, outside the repository ($PORTHOLE_RELEASE_KEY)",
    )
    parser.add_argument("--outdir", type=Path, default=REPO / "dist", help="default: dist/")
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="sign what is already in --outdir (e.g. with a browser bundle added)",
    )
    parser.add_argument(
        "--no-sign", action="store_true", help="write SHA256SUMS only (sign it with minisign)"
    )
    parser.add_argument(
        "--generate-key",
        type=Path,
        metavar="PATH",
        help="write a new unencrypted minisign secret key to PATH (mode 0600), print its "
        "public key, and exit",
    )
    return parser


def generate_key(path: Path) -> str:
    """A new secret key at ``path`` (never overwriting), and its public key file's text."""
    _refuse_inside_repo(path)
    key = SecretKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ReleaseError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(key.text())
    return key.public().text()


def release(outdir: Path, key_path: Path | None, *, build: bool, sign: bool) -> list[str]:
    """Write the release into ``outdir``; the lines to print."""
    key = _load_key(key_path) if sign else None
    if build:
        if outdir.exists() and any(outdir.iterdir()):
            raise ReleaseError(f"{outdir} is not empty: a release signs every file in it")
        done = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(outdir), str(REPO)],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise ReleaseError(f"python -m build failed (exit status {done.returncode})")
    names = sorted(
        path.name
        for path in outdir.iterdir()
        if path.is_file() and path.name not in (MANIFEST_NAME, MANIFEST_NAME + SIGNATURE_SUFFIX)
    )
    if not names:
        raise ReleaseError(f"nothing to release in {outdir}")
    manifest = format_manifest((name, (outdir / name).read_bytes()) for name in names)
    (outdir / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    lines = [f"{MANIFEST_NAME}: {len(names)} files"]
    if key is not None:
        signature = key.sign(manifest.encode("utf-8"), MANIFEST_NAME)
        comment = f"signature from porthole release key {format_key_id(key.key_id)}"
        (outdir / (MANIFEST_NAME + SIGNATURE_SUFFIX)).write_text(
            signature.text(comment), encoding="utf-8"
        )
        lines.append(f"{MANIFEST_NAME}{SIGNATURE_SUFFIX}: by key {format_key_id(key.key_id)}")
        shipped = {PublicKey.parse(line) for _, line in TRUSTED_RELEASE_KEYS}
        if key.public() not in shipped:
            lines.append(
                "warning: this key is not in core/release_keys.py; `porthole verify` accepts "
                "it only with --key"
            )
    return lines


def _load_key(path: Path | None) -> SecretKey:
    if path is None:
        raise ReleaseError("no signing key: give --key or set PORTHOLE_RELEASE_KEY")
    _refuse_inside_repo(path)
    try:
        return SecretKey.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReleaseError(f"cannot read {path}: {exc.strerror}") from None
    except (MinisignError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{path}: {exc}") from None


def _refuse_inside_repo(path: Path) -> None:
    if path.resolve().is_relative_to(REPO):
        raise ReleaseError(f"{path} is inside the repository; keep secret keys outside it")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.generate_key:
            print(generate_key(args.generate_key), end="")
            return 0
        for line in release(args.outdir, args.key, build=not args.no_build, sign=not args.no_sign):
            print(line)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
