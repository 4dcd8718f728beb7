"""Signed releases (docs/design.md §3.7): tools/release.py, `porthole verify`, and real minisign.

A real release is built once (``python -m build`` of this checkout, wheel and sdist) and signed
by a throw-away key made with ``minisign -G -W``; every check then runs the real ``porthole
verify`` program on copies of those files, and the reference ``minisign`` binary checks our
signatures while ours checks its.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.manifest import ManifestError, format_manifest, parse_manifest
from core.minisign import MinisignError, PublicKey, SecretKey, Signature, verify
from core.release_keys import TRUSTED_RELEASE_KEYS

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

pytestmark = pytest.mark.timeout(600)


@dataclass
class Keypair:
    secret: Path
    public: Path


def minisign_keypair(directory: Path) -> Keypair:
    directory.mkdir(parents=True)
    pair = Keypair(directory / "key", directory / "key.pub")
    subprocess.run(
        ["minisign", "-G", "-W", "-p", str(pair.public), "-s", str(pair.secret)],
        check=True,
        capture_output=True,
    )
    return pair


def porthole(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Release:
    dist: Path
    key: Keypair

    def files(self) -> list[str]:
        return sorted(str(path) for path in self.dist.glob("porthole-*"))


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    base = tmp_path_factory.mktemp("release")
    key = minisign_keypair(base / "keys")
    dist = str(base / "dist")
    done = subprocess.run(
        [sys.executable, "-m", "tools.release", "--key", str(key.secret), "--outdir", dist],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Release(base / "dist", key)


@pytest.fixture
def copy(release: Release, tmp_path: Path) -> Release:
    """A copy of the release to tamper with."""
    shutil.copytree(release.dist, tmp_path / "dist")
    return Release(tmp_path / "dist", release.key)


def test_release_has_wheel_sdist_manifest_and_signature(release: Release) -> None:
    names = sorted(path.name for path in release.dist.iterdir())
    assert [name for name in names if name.endswith(".whl")]
    assert [name for name in names if name.endswith(".tar.gz")]
    assert "SHA256SUMS" in names
    assert "SHA256SUMS.minisig" in names
    listed = parse_manifest((release.dist / "SHA256SUMS").read_text())
    assert sorted(listed) == sorted(Path(name).name for name in release.files())
    # sha256sum itself agrees with the manifest.
    subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=release.dist, check=True)


def test_verify_accepts_the_release_files(release: Release) -> None:
    done = porthole("verify", *release.files(), "--key", str(release.key.public))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("signature: good")
    for name in release.files():
        assert f"OK  {Path(name).name}" in done.stdout


def test_reference_minisign_accepts_our_signature(release: Release) -> None:
    done = subprocess.run(
        ["minisign", "-V", "-p", str(release.key.public), "-m", str(release.dist / "SHA256SUMS")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Signature and comment signature verified" in done.stdout


def test_verify_refuses_a_file_with_one_flipped_byte(copy: Release) -> None:
    wheel = next(copy.dist.glob("*.whl"))
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0x01
    wheel.write_bytes(bytes(data))
    done = porthole("verify", *copy.files(), "--key", str(copy.key.public))
    assert done.returncode == 1
    assert f"{wheel.name} does not match its SHA-256" in done.stderr
    assert "Traceback" not in done.stderr


def test_verify_refuses_a_manifest_with_a_changed_line(copy: Release) -> None:
    manifest = copy.dist / "SHA256SUMS"
    wheel = next(copy.dist.glob("*.whl"))
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0x80
    wheel.write_bytes(bytes(data))
    # The attacker rewrites the wheel's line to match the tampered wheel.
    lines = manifest.read_text().splitlines(keepends=True)
    changed = [
        format_manifest([(wheel.name, bytes(data))]) if line.endswith(f"  {wheel.name}\n") else line
        for line in lines
    ]
    assert changed != lines
    manifest.write_text("".join(changed))
    done = porthole("verify", *copy.files(), "--key", str(copy.key.public))
    assert done.returncode == 1
    assert "the signature does not match the signed file" in done.stderr


def test_verify_refuses_a_signature_by_another_key(copy: Release, tmp_path: Path) -> None:
    other = minisign_keypair(tmp_path / "other")
    signature = copy.dist / "SHA256SUMS.minisig"
    signature.unlink()
    subprocess.run(
        ["minisign", "-S", "-s", str(other.secret), "-m", str(copy.dist / "SHA256SUMS")],
        check=True,
        capture_output=True,
    )
    done = porthole("verify", *copy.files(), "--key", str(copy.key.public))
    assert done.returncode == 1
    assert "which is not a trusted release key" in done.stderr
    # The other key's signature, relabelled with the trusted key's ID, still fails.
    trusted_id = PublicKey.parse(copy.key.public.read_text()).key_id
    lines = signature.read_text().splitlines()
    raw = base64.b64decode(lines[1])
    lines[1] = base64.b64encode(raw[:2] + trusted_id + raw[10:]).decode()
    signature.write_text("\n".join(lines) + "\n")
    done = porthole("verify", *copy.files(), "--key", str(copy.key.public))
    assert done.returncode == 1
    assert "the signature does not match the signed file" in done.stderr


def test_verify_accepts_real_minisign_output(copy: Release) -> None:
    """A manifest signed by the reference tool (prehashed, its default) passes our verifier."""
    (copy.dist / "SHA256SUMS.minisig").unlink()
    manifest = str(copy.dist / "SHA256SUMS")
    subprocess.run(
        [
            "minisign",
            "-S",
            "-s",
            str(copy.key.secret),
            "-m",
            manifest,
            "-t",
            "porthole test release",
        ],
        check=True,
        capture_output=True,
    )
    done = porthole("verify", *copy.files(), "--key", str(copy.key.public))
    assert done.returncode == 0, done.stderr
    assert "trusted comment: porthole test release" in done.stdout


def test_verify_accepts_legacy_unhashed_minisign_signatures(copy: Release) -> None:
    (copy.dist / "SHA256SUMS.minisig").unlink()
    subprocess.run(
        ["minisign", "-S", "-l", "-s", str(copy.key.secret), "-m", str(copy.dist / "SHA256SUMS")],
        check=True,
        capture_output=True,
    )
    assert Signature.parse((copy.dist / "SHA256SUMS.minisig").read_text()).algorithm == b"Ed"
    done = porthole("verify", *copy.files(), "--key", str(copy.key.public))
    assert done.returncode == 0, done.stderr


def test_without_key_only_the_shipped_release_keys_are_trusted(release: Release) -> None:
    done = porthole("verify", *release.files())
    assert done.returncode == 1
    assert "which is not a trusted release key" in done.stderr


def test_verify_refuses_a_file_the_manifest_does_not_list(release: Release, tmp_path: Path) -> None:
    stray = tmp_path / "porthole-9.9.9-py3-none-any.whl"
    stray.write_bytes(b"not a release")
    done = porthole(
        "verify",
        str(stray),
        "--manifest",
        str(release.dist / "SHA256SUMS"),
        "--key",
        str(release.key.public),
    )
    assert done.returncode == 1
    assert f"{stray.name} is not listed in SHA256SUMS" in done.stderr


def test_verify_reports_a_missing_signature_in_one_line(copy: Release) -> None:
    (copy.dist / "SHA256SUMS.minisig").unlink()
    done = porthole("verify", *copy.files())
    assert done.returncode == 1
    assert done.stderr.startswith("porthole verify: REFUSED: cannot read")
    assert len(done.stderr.splitlines()) == 1


def test_release_refuses_a_key_inside_the_repository() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.release", "--no-build", "--key", str(REPO / "x.key")],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "inside the repository" in done.stderr


# --- the formats, without subprocesses ---------------------------------------------------------


def test_the_shipped_release_keys_parse() -> None:
    assert TRUSTED_RELEASE_KEYS
    for _, line in TRUSTED_RELEASE_KEYS:
        assert len(PublicKey.parse(line).key) == 32


def test_an_edited_trusted_comment_is_refused() -> None:
    key = SecretKey.generate()
    signature = key.sign(b"manifest", "SHA256SUMS")
    assert verify(b"manifest", signature, [key.public()]) == key.public()
    edited = Signature.parse(signature.text("x").replace("file:SHA256SUMS", "file:SHA256SUMS-old"))
    with pytest.raises(MinisignError, match="trusted comment was altered"):
        verify(b"manifest", edited, [key.public()])


def test_verify_accepts_any_key_of_a_rotation_list() -> None:
    old, new = SecretKey.generate(), SecretKey.generate()
    signature = new.sign(b"manifest", "SHA256SUMS")
    assert verify(b"manifest", signature, [old.public(), new.public()]) == new.public()


def test_our_secret_key_file_round_trips() -> None:
    key = SecretKey.generate()
    again = SecretKey.parse(key.text())
    assert again.public() == key.public()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc  file\n",
        "0" * 64 + " file\n",
        "0" * 64 + "  a/b\n",
        "0" * 64 + "  same\n" + "1" * 64 + "  same\n",
    ],
)
def test_malformed_manifests_are_refused(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(text)
