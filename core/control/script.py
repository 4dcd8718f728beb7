"""What a scripted controller does, parsed and checked before anything reaches a relay (pure).

``porthole view --headless --request-control`` takes its input from ``--type TEXT``,
``--keys 'SPEC …'`` and ``--input-script FILE``. This module turns those into :data:`Step` s and
each step into the :class:`~core.protocol.content.InputEvent` s a viewer window would send,
without I/O, so every rule is unit-tested and a mistake is reported (exit 2, naming the line or
the argument) before the program joins anyone's session: half a script typed into someone's
terminal is worse than none.

Why the key names are the protocol's own (:data:`core.control.mapping.KEY_NAMES`): the presenter
accepts exactly those, so a spec that parses here is one the presenter will not refuse for its
name. Errors say where and what is wrong but never echo the text or key (a script may type a
password, and error lines end up in logs).

Key specs (``--keys`` and the script's ``key`` lines), separated by spaces::

    Return  F5  Tab  space  a  A  7  ,  é        one key (a non-ASCII letter is typed as text)
    ctrl+c  ctrl+alt+t  shift+Tab  ctrl++        modifiers first, joined by "+", then the key

Modifiers are ``ctrl``, ``shift``, ``alt`` and ``meta`` (any case); ``control`` and ``super``
are accepted as ``ctrl`` and ``meta``. Named keys match in any case (``return``, ``f5``).
A character names what is typed: ``A`` types A, and ``shift+a`` is the same as ``shift+A``;
other shifted characters are named themselves (``!``, not ``shift+1``, which types 1).

Input scripts, one command per line (blank lines and lines starting with ``#`` are skipped)::

    type TEXT          type the rest of the line after one space; \\n is Return, \\t Tab, \\\\ a \\
    key SPEC …         press key specs, in order
    wait SECONDS       pause (0 to 600 seconds)
    move X Y           move the pointer to X, Y of the shared picture (0, 0 is its top-left)
    click X Y [BTN]    move there and click; BTN is left (default), middle or right
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from core.control.mapping import BUTTONS, KEY_NAMES, MAX_TEXT_CHARS
from core.protocol.content import InputEvent, InputKind, Modifier

#: Text is sent in pieces of at most this many characters: one TEXT event costs the presenter's
#: rate budget a token per character, and half a second's worth leaves room for the keys around.
TEXT_CHUNK: Final = min(64, MAX_TEXT_CHARS)
#: Longest pause a script may ask for (a kiosk upkeep script waits for a program, not a day).
MAX_WAIT_SECONDS: Final = 600.0
#: Largest coordinate a script may name (frames are at most 16384 pixels a side on the wire).
MAX_COORD: Final = 16383

MODIFIER_NAMES: Final[dict[str, int]] = {
    "ctrl": int(Modifier.CTRL),
    "control": int(Modifier.CTRL),
    "shift": int(Modifier.SHIFT),
    "alt": int(Modifier.ALT),
    "meta": int(Modifier.META),
    "super": int(Modifier.META),
}
_ESCAPES: Final = {"n": "\n", "t": "\t", "\\": "\\"}
#: Multi-character key names by their lower case ("return" → "Return"); single characters are
#: case-sensitive ("a" and "A" are different keys).
_NAMED_LOWER: Final[dict[str, str]] = {name.lower(): name for name in KEY_NAMES if len(name) > 1}
BUTTON_NAMES: Final[dict[str, int]] = {name: number for number, name in BUTTONS.items()}


class ScriptError(ValueError):
    """A spec, text or script line that cannot be run; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Chord:
    """One key press: ``key`` (a :data:`KEY_NAMES` name) with ``modifiers`` held around it.

    ``as_text`` marks a single non-ASCII letter: no key name exists for it, so it is typed as
    text, the way the viewer window sends é or ß.
    """

    key: str = field(repr=False)
    modifiers: int = 0
    as_text: bool = False


@dataclass(frozen=True, slots=True)
class TypeText:
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PressKeys:
    chords: tuple[Chord, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class MovePointer:
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Click:
    x: int
    y: int
    button: int = 1


Step = TypeText | PressKeys | Wait | MovePointer | Click


# ---------------------------------------------------------------------------------------------
# Text


def unescape(text: str) -> str:
    r"""``--type`` text with ``\n`` (Return), ``\t`` (Tab) and ``\\`` (a backslash) decoded.

    Any other backslash sequence is an error rather than kept as typed: a script that meant a
    Return and wrote ``\r`` must not silently type a backslash and an r into a shell.
    """
    out: list[str] = []
    chars = iter(enumerate(text, 1))
    for position, char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, None)
        if following is None:
            raise ScriptError(f"character {position}: a lone \\ at the end (write \\\\)")
        decoded = _ESCAPES.get(following[1])
        if decoded is None:
            raise ScriptError(
                f"character {position}: unknown escape (only \\n, \\t and \\\\ are understood)"
            )
        out.append(decoded)
    return check_text("".join(out))


def check_text(text: str) -> str:
    """``text`` if the presenter would type it: printable characters, Return and Tab."""
    if not text:
        raise ScriptError("nothing to type")
    for position, char in enumerate(text, 1):
        if char not in "\n\t" and not char.isprintable():
            raise ScriptError(
                f"character {position} is a control or format character (U+{ord(char):04X}), "
                "which is never typed"
            )
    return text


def parse_type(text: str) -> TypeText:
    return TypeText(unescape(text))


# ---------------------------------------------------------------------------------------------
# Keys


def parse_chord(spec: str) -> Chord:
    """One key spec (``ctrl+alt+t``, ``Return``, ``é``) as a :class:`Chord`."""
    if not spec:
        raise ScriptError("an empty key spec")
    # "+" alone and "ctrl++" name the plus key: split off the key first.
    if spec == "+" or spec.endswith("++"):
        head, key = spec[:-2], "+"
        parts = head.split("+") if head else []
    else:
        *parts, key = spec.split("+")
    modifiers = 0
    for part in parts:
        bit = MODIFIER_NAMES.get(part.lower())
        if bit is None:
            raise ScriptError(
                "a modifier that is not ctrl, shift, alt or meta"
                if part
                else "an empty part between '+' signs"
            )
        modifiers |= bit
    if not key:
        raise ScriptError("a key spec that ends with '+' but names no key")
    if key in KEY_NAMES:
        if modifiers & Modifier.SHIFT and "a" <= key <= "z":
            # A character key names the character: the presenter types "z" as z whatever is
            # held, so shift+z must name Z (as the viewer window sends it, shift and all).
            key = key.upper()
        return Chord(key, modifiers)
    named = _NAMED_LOWER.get(key.lower())
    if named is not None:
        return Chord(named, modifiers)
    if len(key) == 1 and ord(key) > 0x7F and key.isprintable() and not key.isspace():
        if modifiers:
            raise ScriptError("modifiers with a non-ASCII letter (it is typed as text)")
        return Chord(key, 0, as_text=True)
    raise ScriptError(
        f"an unknown key name ({len(key)} characters); use a single character or a name "
        "such as Return, Tab, Escape, BackSpace, F1-F12, Up, Page_Down, space"
    )


def parse_keys(specs: str) -> PressKeys:
    """A ``--keys`` argument: key specs separated by spaces."""
    chords: list[Chord] = []
    for number, spec in enumerate(specs.split(), 1):
        try:
            chords.append(parse_chord(spec))
        except ScriptError as exc:
            raise ScriptError(f"key {number}: {exc}") from None
    if not chords:
        raise ScriptError("no key specs")
    return PressKeys(tuple(chords))


# ---------------------------------------------------------------------------------------------
# Scripts


def _int(word: str, what: str) -> int:
    try:
        value = int(word)
    except ValueError:
        raise ScriptError(f"{what} must be a whole number") from None
    if not 0 <= value <= MAX_COORD:
        raise ScriptError(f"{what} must be between 0 and {MAX_COORD}")
    return value


def _point(words: list[str], command: str) -> tuple[int, int]:
    if len(words) < 2:
        raise ScriptError(f"{command} needs X and Y")
    return _int(words[0], "X"), _int(words[1], "Y")


def parse_line(line: str) -> Step | None:
    """One script line as a step; None for a blank line or a comment."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    command, _, rest = line.lstrip().partition(" ")
    command = command.rstrip()
    words = rest.split()
    if command == "type":
        return parse_type(rest.rstrip("\r\n"))
    if command == "key":
        return parse_keys(rest)
    if command == "wait":
        if len(words) != 1:
            raise ScriptError("wait takes one number of seconds")
        try:
            seconds = float(words[0])
        except ValueError:
            raise ScriptError("wait takes a number of seconds") from None
        if not (math.isfinite(seconds) and 0 <= seconds <= MAX_WAIT_SECONDS):
            raise ScriptError(f"wait must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
        return Wait(seconds)
    if command == "move":
        if len(words) != 2:
            raise ScriptError("move takes X and Y")
        return MovePointer(*_point(words, "move"))
    if command == "click":
        if len(words) not in (2, 3):
            raise ScriptError("click takes X, Y and optionally left, middle or right")
        x, y = _point(words, "click")
        button = BUTTON_NAMES.get(words[2].lower() if len(words) == 3 else "left")
        if button is None:
            raise ScriptError("the button must be left, middle or right")
        return Click(x, y, button)
    raise ScriptError("unknown command (type, key, wait, move or click)")


def parse_script(lines: Iterable[str]) -> list[Step]:
    """Every step of an input script; the first mistake raises, naming its line."""
    steps: list[Step] = []
    for number, line in enumerate(lines, 1):
        try:
            step = parse_line(line)
        except ScriptError as exc:
            raise ScriptError(f"line {number}: {exc}") from None
        if step is not None:
            steps.append(step)
    return steps


# ---------------------------------------------------------------------------------------------
# Events


def _event(kind: InputKind, **fields: object) -> InputEvent:
    base: dict[str, object] = dict(
        x=0, y=0, button=0, wheel_dx=0, wheel_dy=0, modifiers=0, key="", text=""
    )
    base.update(fields)
    return InputEvent(kind=kind, **base)  # type: ignore[arg-type]


def chord_events(chord: Chord) -> list[InputEvent]:
    """A press and a release, with the modifiers held around the press (the presenter presses
    and lifts them); a non-ASCII letter as one TEXT event."""
    if chord.as_text:
        return [_event(InputKind.TEXT, text=chord.key)]
    return [
        _event(InputKind.KEY_DOWN, key=chord.key, modifiers=chord.modifiers),
        _event(InputKind.KEY_UP, key=chord.key),
    ]


def text_events(text: str, chunk: int = TEXT_CHUNK) -> list[InputEvent]:
    """``text`` as TEXT events of at most ``chunk`` characters each, in order."""
    return [_event(InputKind.TEXT, text=text[i : i + chunk]) for i in range(0, len(text), chunk)]


def pointer_events(step: MovePointer | Click) -> list[InputEvent]:
    events = [_event(InputKind.POINTER_MOVE, x=step.x, y=step.y)]
    if isinstance(step, Click):
        events.append(_event(InputKind.BUTTON_DOWN, x=step.x, y=step.y, button=step.button))
        events.append(_event(InputKind.BUTTON_UP, x=step.x, y=step.y, button=step.button))
    return events


def events_for(step: TypeText | PressKeys | MovePointer | Click) -> Iterator[InputEvent]:
    """The input events of one step (a :class:`Wait` has none: the runner sleeps)."""
    if isinstance(step, TypeText):
        yield from text_events(step.text)
    elif isinstance(step, PressKeys):
        for chord in step.chords:
            yield from chord_events(chord)
    else:
        yield from pointer_events(step)


def cost(event: InputEvent) -> int:
    """What ``event`` costs against the presenter's rate budget (see :mod:`core.control.plan`):
    a token per typed character, none for a release, one for anything else."""
    if event.kind is InputKind.TEXT:
        return len(event.text)
    if event.kind in (InputKind.KEY_UP, InputKind.BUTTON_UP):
        return 0
    return 1
