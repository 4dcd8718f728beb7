"""What name an offered file may have on the receiver's disk (docs/design.md §4.7).

The name in an offer is chosen by another member, so it is input, never a path: a name that is
not a plain file name is refused with a sentence that says why, rather than "fixed" into
something the sender did not mean. Everything here is pure: the caller says which names exist.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

#: Most file systems cap one name at 255 bytes; ``NAME (999).part`` must still fit.
MAX_NAME_BYTES = 240
#: Suffixes kept together when a name gets its `` (1)`` (``logs (1).tar.gz``, not
#: ``logs.tar (1).gz``).
_DOUBLE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst")
#: What the receiver adds while a file is arriving; a name may not pretend to be one.
PART_SUFFIX = ".part"
_SEPARATORS = ("/", "\\")
_MAX_CLASH = 9999


class UnsafeName(ValueError):
    """An offered name that cannot be written as offered; ``str()`` is the sentence to show."""


def shown(name: str) -> str:
    """``name`` quoted for a message, with anything unprintable escaped (never raw control
    characters on someone's terminal)."""
    return ascii(name) if not name.isprintable() else f'"{name}"'


def _refusal(name: str, why: str) -> UnsafeName:
    return UnsafeName(f"The file name {shown(name)} was refused: {why}; nothing was written.")


def check_name(name: str) -> str:
    """``name`` itself when it is a plain file name, else :class:`UnsafeName`.

    Refused: empty names, ``.`` and ``..``, anything with a path separator (``../../etc/passwd``,
    ``C:\\x``), control or format characters (terminal escapes, bidi overrides), names that are
    only spaces or dots, names ending in ``.part``, and names too long for a file system.
    """
    if not name or not name.strip(". "):
        raise _refusal(name, "it is not a file name")
    if any(sep in name for sep in _SEPARATORS):
        raise _refusal(name, "a file name may not contain a path (/ or \\)")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise _refusal(name, "it contains control characters")
    if name != name.strip():
        raise _refusal(name, "it starts or ends with a space")
    if name.lower().endswith(PART_SUFFIX):
        raise _refusal(name, f"names ending in {PART_SUFFIX} are kept for unfinished files")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise _refusal(name, f"it is longer than {MAX_NAME_BYTES} bytes")
    return name


def split_suffix(name: str) -> tuple[str, str]:
    """``("report", ".pdf")``; a leading dot belongs to the stem (``.bashrc`` has no suffix)."""
    lower = name.lower()
    for double in _DOUBLE_SUFFIXES:
        if lower.endswith(double) and len(name) > len(double):
            return name[: -len(double)], name[-len(double) :]
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


def free_name(name: str, taken: Callable[[str], bool]) -> str:
    """``name``, or ``name (1).ext``, ``name (2).ext``…: the first that ``taken`` says is free.

    Never an existing name: files on the receiver's disk are never overwritten.
    """
    if not taken(name):
        return name
    stem, suffix = split_suffix(name)
    for n in range(1, _MAX_CLASH + 1):
        candidate = f"{stem} ({n}){suffix}"
        if not taken(candidate):
            return candidate
    raise _refusal(name, f"{_MAX_CLASH} files of that name already exist")
