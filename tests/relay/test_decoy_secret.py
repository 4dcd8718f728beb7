"""``decoy.key``: made once, 0600, reused, never silently replaced (:mod:`relay.decoy_secret`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from relay.decoy_secret import DECOY_SECRET_FILENAME, DecoySecretError, load_decoy_secret


def test_made_once_with_mode_0600_and_the_same_on_every_load(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask gets 0600
    try:
        secret = load_decoy_secret(tmp_path)
    finally:
        os.umask(old_umask)
    path = tmp_path / DECOY_SECRET_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == secret
    assert len(secret) == 32
    assert load_decoy_secret(tmp_path) == secret
    assert sorted(p.name for p in tmp_path.iterdir()) == [DECOY_SECRET_FILENAME]  # no leftovers
    other = tmp_path / "other"
    other.mkdir()
    assert load_decoy_secret(other) != secret


def test_a_file_readable_by_others_is_narrowed(tmp_path: Path) -> None:
    secret = load_decoy_secret(tmp_path)
    path = tmp_path / DECOY_SECRET_FILENAME
    path.chmod(0o644)
    assert load_decoy_secret(tmp_path) == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("content", [b"", b"short", bytes(33)])
def test_a_damaged_file_is_an_error_not_a_new_secret(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / DECOY_SECRET_FILENAME
    path.write_bytes(content)
    with pytest.raises(DecoySecretError, match=r"damaged.*delete it"):
        load_decoy_secret(tmp_path)
    assert path.read_bytes() == content


def test_a_symlink_in_its_place_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(bytes(32))
    (tmp_path / DECOY_SECRET_FILENAME).symlink_to(target)
    with pytest.raises(DecoySecretError, match="Cannot read"):
        load_decoy_secret(tmp_path)


def test_an_unwritable_data_directory_is_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(DecoySecretError, match="Cannot create"):
        load_decoy_secret(missing)
