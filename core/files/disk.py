"""The receiver's disk: a file arrives as ``NAME.part`` and only a verified one gets its name.

The rules of docs/design.md §4.7: the data is written to ``NAME.part`` in the target directory,
flushed with ``fsync``, and only when its SHA-256 equals the offer's is it given a final name
that did not exist (``NAME (1).ext`` on a clash; the link is made with ``os.link``, which never
replaces a file, so a file that appears meanwhile is not overwritten either). A mismatch, a
cancel or an interruption leaves nothing under the final name; an interrupted ``.part`` stays
for a later transfer of the same file to resume from.

A ``.part`` is opened with ``O_NOFOLLOW``: a symlink planted under that name is refused, not
followed out of the directory.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

from core.files.names import PART_SUFFIX, free_name
from core.files.transfer import Hasher

#: Kept free beyond the file itself, so accepting a file never fills a disk to the last byte.
SPARE_BYTES = 16 * 1024 * 1024
_READ = 1024 * 1024


class DiskError(OSError):
    """Writing a received file failed; ``str()`` is the sentence to show."""


def has_room(directory: Path, needed: int) -> bool:
    """Whether ``directory``'s file system has ``needed`` bytes free, and some to spare."""
    return shutil.disk_usage(directory).free >= needed + SPARE_BYTES


def hash_prefix(path: Path, length: int) -> bytes:
    """The SHA-256 of the first ``length`` bytes of ``path`` (a sender checking a resume)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        left = length
        while left:
            block = f.read(min(_READ, left))
            if not block:
                raise DiskError(f"{path.name} is shorter than {length} bytes now.")
            digest.update(block)
            left -= len(block)
    return digest.digest()


class PartFile:
    """``DIRECTORY/NAME.part`` while it is being received; one per transfer."""

    def __init__(self, directory: Path, name: str, fd: int) -> None:
        self.directory = directory
        self.name = name
        self.path = directory / f"{name}{PART_SUFFIX}"
        self._fd: int | None = fd

    @classmethod
    def open(cls, directory: Path, name: str) -> PartFile:
        """Open (or create) ``NAME.part`` for reading and writing, never through a symlink."""
        path = directory / f"{name}{PART_SUFFIX}"
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise DiskError(f"Cannot write {path.name} in {directory}: {exc.strerror}.") from None
        return cls(directory, name, fd)

    def held(self, limit: int) -> tuple[int, Hasher]:
        """How much of an earlier attempt is here (at most ``limit`` bytes) and its running
        SHA-256, to offer a resume from; anything beyond ``limit`` is cut off."""
        fd = self._require()
        size = os.fstat(fd).st_size
        if size > limit:
            os.ftruncate(fd, 0)
            size = 0
        digest = hashlib.sha256()
        pos = 0
        while pos < size:
            block = os.pread(fd, min(_READ, size - pos), pos)
            if not block:
                break
            digest.update(block)
            pos += len(block)
        return pos, digest

    def write(self, offset: int, data: bytes, *, restart: bool = False) -> None:
        fd = self._require()
        try:
            if restart:
                os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            raise DiskError(f"Writing {self.path.name} failed: {exc.strerror}.") from None

    def flush(self) -> None:
        """Everything written is on the disk (``fsync``) before the file gets its name."""
        try:
            os.fsync(self._require())
        except OSError as exc:
            raise DiskError(f"Writing {self.path.name} failed: {exc.strerror}.") from None

    def publish(self) -> Path:
        """Give the verified file a name that did not exist, and remove the ``.part``."""
        fd = self._require()
        while True:
            final = self.directory / free_name(self.name, lambda n: _exists(self.directory / n))
            try:
                _link_new(self.path, final)
            except FileExistsError:
                continue  # someone took that name between the check and the link
            break
        os.close(fd)
        self._fd = None
        self.path.unlink(missing_ok=True)
        _sync_directory(self.directory)
        return final

    def discard(self) -> None:
        """Remove the ``.part`` (a mismatch: nothing of it may be kept)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop writing, keeping the ``.part`` to resume from later."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise DiskError(f"{self.path.name} is already closed.")
        return self._fd


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _link_new(source: Path, final: Path) -> None:
    """Make ``final`` name ``source``'s data; ``FileExistsError`` if ``final`` exists."""
    try:
        os.link(source, final, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise DiskError(
                f"Cannot name the received file {final.name}: {exc.strerror}."
            ) from None
        # No hard links on this file system: claim the name first, then move onto our claim.
        os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(source, final)


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
