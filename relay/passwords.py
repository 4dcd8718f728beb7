"""The strong-password rule for organizer accounts (pure; no I/O except loading the word list).

Only organizers have relay accounts, and an organizer login is what lets someone open a session
on the relay, so a guessable organizer password is the cheapest way in. The rule therefore
follows NIST SP 800-63B rather than composition rules ("one digit, one symbol"): a minimum
length, a maximum (so a login cannot make the relay hash megabytes), and a refusal of passwords
that are known to attackers — the common-password list, the user name, one character repeated,
and trivial sequences or keyboard walks. Every refusal is one sentence a person can act on.

Passwords are Unicode. They are compared and hashed in NFKC form (:func:`normalize_password`),
so the same password typed on two keyboards that compose accents differently still matches;
length is counted in characters of that form.
"""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata

MIN_LENGTH = 12
"""Minimum length in characters (NFKC form)."""

MAX_BYTES = 1024
"""Maximum length in UTF-8 bytes: bounds the work one login attempt can cause."""

MIN_DISTINCT = 5
"""Fewer different characters than this is a short pattern repeated, whatever the length."""

MIN_USERNAME_CHECK = 3
"""User names shorter than this are not searched for: "al" occurs in too many real passphrases."""

MAX_PREDICTABLE_RUNS = 3
"""A password whose characters all continue a sequence or keyboard walk, except for at most
this many fresh starts, is trivial ("qwertyuiop12" has 2, "1qaz2wsx3edc" has 3)."""

_COMMON_FILE = "common_passwords.txt"

# US QWERTY rows, unshifted and shifted. The physical stagger puts the key at (row r, col c)
# above the keys (r+1, c-1) and (r+1, c): "2" sits above "q" and "w", "w" above "a" and "s".
_KEY_ROWS = ("1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_SHIFTED_ROWS = ("!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?")

# What people pad a common word with to pass a length rule: digits, symbols, spaces.
_DECORATION = "0123456789!@#$%^&*()_+-=[]{};:'\",.<>/?\\|`~ "

# Look-alike characters people substitute into a common word ("p@ssw0rd").
_LEET = str.maketrans(
    {
        "@": "a",
        "4": "a",
        "0": "o",
        "1": "i",
        "!": "i",
        "3": "e",
        "$": "s",
        "5": "s",
        "7": "t",
        "+": "t",
        "8": "b",
        "9": "g",
    }
)


def normalize_password(password: str) -> str:
    """Return the form of ``password`` that is checked, counted and hashed (NFKC).

    Why: the same visible password can arrive as different code points (a composed "é" from one
    keyboard, "e" + combining accent from another); without normalization it would not verify.
    """
    return unicodedata.normalize("NFKC", password)


def password_problem(username: str, password: str) -> str | None:
    """Return why ``password`` is not acceptable for ``username``, or None if it is.

    The answer is a sentence for the person choosing the password; the checks run from the
    cheapest to explain (length) to the subtlest (keyboard patterns), and the first one that
    fails is reported.
    """
    pw = normalize_password(password)
    length = len(pw)
    if length < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters; this one has {length}."
    size = len(pw.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        return f"Use at most {MAX_BYTES} bytes (UTF-8); this one has {size}."
    folded = pw.casefold()
    if len(set(folded)) == 1:
        return "The password must not be one character repeated."
    name = normalize_password(username).casefold()
    if len(name) >= MIN_USERNAME_CHECK and name in folded:
        return "The password must not contain the user name."
    if _is_common(folded):
        return "That password is on the list of commonly used passwords."
    if _fresh_starts(folded) <= MAX_PREDICTABLE_RUNS:
        return (
            "The password is a predictable sequence or keyboard pattern "
            "(like 1234…, abcd… or qwerty…); choose something less regular."
        )
    distinct = len(set(folded))
    if distinct < MIN_DISTINCT:
        return (
            f"Use at least {MIN_DISTINCT} different characters; this one repeats only {distinct}."
        )
    return None


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped common-password list, lowercase, loaded once on first use.

    Why lazily: the CLI's ``records`` command and the relay's start-up do not need it, and
    the file is package data (``relay/data``), read through importlib.resources so it also
    works from a wheel or zip.
    """
    text = (
        importlib.resources.files("relay")
        .joinpath("data", _COMMON_FILE)
        .read_text(encoding="utf-8")
    )
    words = (line.strip().casefold() for line in text.splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


def _is_common(folded: str) -> bool:
    """Is ``folded`` a listed password, or a listed word dressed up with digits/symbols/leet?

    "Sunshine2024!" and "p@ssw0rd1234" are the first things a guesser tries after the list
    itself, so the core between leading and trailing non-letters is checked too, both as typed
    and with look-alike substitutions undone.
    """
    common = common_passwords()
    if folded in common or folded.translate(_LEET) in common:
        return True
    core = folded.strip(_DECORATION)
    tail_stripped = folded.rstrip(_DECORATION)
    candidates = {core, core.translate(_LEET), tail_stripped.translate(_LEET)}
    return any(len(c) >= 4 and c in common for c in candidates)


def _fresh_starts(folded: str) -> int:
    """Count characters that do not continue from the previous one in an obvious way.

    "Obvious" means: the same character, the next or previous code point ("abc", "987",
    also "9" → "0" is handled as the keyboard neighbour it is), or a neighbouring key on a
    QWERTY keyboard. A random password of 12 characters has about 11 fresh starts; a sequence
    or keyboard walk has one per segment.
    """
    fresh = 0
    prev: str | None = None
    for ch in folded:
        if prev is None or not _continues(prev, ch):
            fresh += 1
        prev = ch
    return fresh


def _continues(prev: str, ch: str) -> bool:
    if abs(ord(ch) - ord(prev)) <= 1:
        return True
    return ch in _neighbours().get(prev, frozenset())


@functools.cache
def _neighbours() -> dict[str, frozenset[str]]:
    """Map each key (unshifted and shifted, lowercase letters) to its adjacent keys."""
    positions: dict[str, tuple[int, int]] = {}
    for rows in (_KEY_ROWS, _SHIFTED_ROWS):
        for r, row in enumerate(rows):
            for c, key in enumerate(row):
                positions.setdefault(key.casefold(), (r, c))
    by_position: dict[tuple[int, int], set[str]] = {}
    for key, pos in positions.items():
        by_position.setdefault(pos, set()).add(key)
    result: dict[str, frozenset[str]] = {}
    for key, (r, c) in positions.items():
        near: set[str] = set()
        for pos in ((r, c - 1), (r, c + 1), (r + 1, c - 1), (r + 1, c), (r - 1, c), (r - 1, c + 1)):
            near |= by_position.get(pos, set())
        result[key] = frozenset(near)
    return result
