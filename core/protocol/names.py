"""Display names: which ones are acceptable, and when two of them are "the same name".

Why this exists: a display name is the handle people (and ``--allow-control-from NAME``) use to
tell members apart, so within one session no two members may hold names that *look* alike. Two
names are the same when their :func:`name_key` is equal: NFKC folds compatibility forms
(full-width ``ＡＮＡ``, ligatures, superscripts), ``casefold`` folds case (``ANA``, ``ana``,
``Straße``/``STRASSE``), and runs of white space count as one space at most, none at the ends.

What NFKC cannot fold is refused outright: control and format characters (category C*: the
zero-width space, joiners, BOM, bidi overrides, private use, unassigned code points) and line or
paragraph separators, which render as nothing or reorder text, so ``Ana\u200b`` would otherwise
pass as a second "Ana". Names must also show at least one visible character.

The leader applies both rules when it admits a joiner (docs/design.md §3.4); joiners check their
own name first so a person hears about a bad one before anything is sent.
"""

from __future__ import annotations

import unicodedata

from core.protocol.pair import NAME_MAX_BYTES
from core.protocol.wire import Text

_NAME = Text(NAME_MAX_BYTES, min_chars=1)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a display name (a sentence fragment), or ``None`` if it can."""
    for ch in name:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"contains an invisible or control character (U+{ord(ch):04X})"
    if not name_key(name):
        return "has no visible character"
    return None


def display_name_problem(name: str) -> str | None:
    """:func:`name_problem`, then the wire's own limits (length)."""
    return name_problem(name) or _NAME.check(name)


def name_key(name: str) -> str:
    """The form two names are compared in: NFKC, case-folded, white space collapsed.

    NFKC again after ``casefold`` because folding can leave text un-normalised (it is the
    "NFKC_Casefold" recipe of Unicode's identifier-caseless matching, close enough for names).
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def same_name(one: str, other: str) -> bool:
    """Whether two display names would be taken for one another (see :func:`name_key`)."""
    return name_key(one) == name_key(other)


__all__ = ("display_name_problem", "name_key", "name_problem", "same_name")
