"""The scripted controller's input language (core/control/script.py): key specs, --type escapes
and input scripts parse to exactly the events a viewer window would send, and every mistake is
refused with the place named and nothing of the text or key repeated."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procs import command

from core.control.mapping import KEY_NAMES, MAX_TEXT_CHARS
from core.control.plan import plan_event
from core.control.script import (
    TEXT_CHUNK,
    Chord,
    Click,
    MovePointer,
    PressKeys,
    ScriptError,
    TypeText,
    Wait,
    chord_events,
    cost,
    events_for,
    parse_chord,
    parse_keys,
    parse_script,
    parse_type,
    text_events,
    unescape,
)
from core.failures import EXIT_USAGE
from core.protocol.content import InputEvent, InputKind, Modifier

SHIFT, CTRL, ALT, META = (
    int(m) for m in (Modifier.SHIFT, Modifier.CTRL, Modifier.ALT, Modifier.META)
)


@pytest.mark.parametrize(
    ("spec", "chord"),
    [
        ("Return", Chord("Return")),
        ("return", Chord("Return")),
        ("F5", Chord("F5")),
        ("f12", Chord("F12")),
        ("page_down", Chord("Page_Down")),
        ("a", Chord("a")),
        ("A", Chord("A")),
        (",", Chord(",")),
        ("+", Chord("+")),
        ("space", Chord("space")),
        ("ctrl+c", Chord("c", CTRL)),
        ("Ctrl+Alt+t", Chord("t", CTRL | ALT)),
        ("control+super+x", Chord("x", CTRL | META)),
        ("shift+Tab", Chord("Tab", SHIFT)),
        ("shift+z", Chord("Z", SHIFT)),  # a character key names the character
        ("ctrl+shift+a", Chord("A", CTRL | SHIFT)),
        ("shift+1", Chord("1", SHIFT)),
        ("ctrl++", Chord("+", CTRL)),
        ("shift", Chord("shift")),
        ("ctrl+shift_r", Chord("shift_r", CTRL)),
        ("é", Chord("é", as_text=True)),
        ("ß", Chord("ß", as_text=True)),
    ],
)
def test_key_specs(spec: str, chord: Chord) -> None:
    assert parse_chord(spec) == chord


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "empty key spec"),
        ("Retrun", "unknown key name (6 characters)"),
        ("hyper+a", "not ctrl, shift, alt or meta"),
        ("ctrl+", "names no key"),
        ("ctrl++a", "empty part"),
        ("ctrl+é", "modifiers with a non-ASCII letter"),
        ("qz", "unknown key name"),
        ("F13", "unknown key name"),
        ("\u200b", "unknown key name"),  # a format character is no key and no text
        ("\x1b", "unknown key name"),
    ],
)
def test_bad_key_specs_say_why_without_the_spec(spec: str, says: str) -> None:
    with pytest.raises(ScriptError, match=re.escape(says)) as caught:
        parse_chord(spec)
    if len(spec) > 1:
        assert spec not in str(caught.value)


def test_keys_argument_is_specs_separated_by_spaces_and_names_the_bad_one() -> None:
    assert parse_keys(" ctrl+a  e Return ") == PressKeys(
        (Chord("a", CTRL), Chord("e"), Chord("Return"))
    )
    with pytest.raises(ScriptError, match=r"^key 3: an unknown key name"):
        parse_keys("a b Enterr")
    with pytest.raises(ScriptError, match="no key specs"):
        parse_keys("   ")


def test_type_escapes() -> None:
    assert unescape(r"echo ok > f\n") == "echo ok > f\n"
    assert unescape(r"a\tb\\n") == "a\tb\\n"
    assert parse_type("é ß ζ €") == TypeText("é ß ζ €")
    for bad, says in [
        (r"oops\r", r"character 5: unknown escape"),
        ("trailing\\", r"character 9: a lone \\"),
        ("", "nothing to type"),
        ("a\x1bb", r"character 2 is a control or format character \(U\+001B\)"),
        ("a\u202eb", r"U\+202E"),
    ]:
        with pytest.raises(ScriptError, match=says):
            parse_type(bad)


def test_a_real_newline_or_tab_is_typed_like_the_escape() -> None:
    assert parse_type("ls\n") == parse_type(r"ls\n") == TypeText("ls\n")
    assert parse_type("a\tb") == TypeText("a\tb")


def test_scripts_parse_in_order_skipping_blanks_and_comments() -> None:
    steps = parse_script(
        [
            "# kiosk upkeep",
            "",
            "move 10 20",
            "click 5 6",
            "click 5 6 right",
            "  key ctrl+alt+t",
            "wait 0.25",
            r"type  two spaces kept\n",
            "type echo # not a comment",
        ]
    )
    assert steps == [
        MovePointer(10, 20),
        Click(5, 6, 1),
        Click(5, 6, 3),
        PressKeys((Chord("t", CTRL | ALT),)),
        Wait(0.25),
        TypeText(" two spaces kept\n"),
        TypeText("echo # not a comment"),
    ]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("tpye hello", "unknown command"),
        ("type", "nothing to type"),
        ("key", "no key specs"),
        ("key ctrl+Retrun", "key 1: an unknown key name"),
        ("wait", "one number"),
        ("wait soon", "number of seconds"),
        ("wait -1", "between 0 and 600"),
        ("wait nan", "between 0 and 600"),
        ("wait 601", "between 0 and 600"),
        ("move 1", "move takes X and Y"),
        ("move 1 2 3", "move takes X and Y"),
        ("click 1", "click takes X, Y"),
        ("click a 2", "X must be a whole number"),
        ("click 1 -2", "Y must be between 0 and 16383"),
        ("click 1 2 thumb", "left, middle or right"),
        (r"type a\qb", "unknown escape"),
    ],
)
def test_script_mistakes_name_the_line(line: str, says: str) -> None:
    with pytest.raises(ScriptError, match=rf"^line 3: .*{says}"):
        parse_script(["# first", "move 0 0", line, "type never reached"])


def test_events_are_what_the_viewer_window_sends() -> None:
    def ev(kind: InputKind, **fields: object) -> InputEvent:
        base: dict[str, object] = dict(
            x=0, y=0, button=0, wheel_dx=0, wheel_dy=0, modifiers=0, key="", text=""
        )
        return InputEvent(kind, **{**base, **fields})  # type: ignore[arg-type]

    assert chord_events(Chord("c", CTRL)) == [
        ev(InputKind.KEY_DOWN, key="c", modifiers=CTRL),
        ev(InputKind.KEY_UP, key="c"),
    ]
    assert chord_events(Chord("é", as_text=True)) == [ev(InputKind.TEXT, text="é")]
    assert list(events_for(Click(7, 8, 3))) == [
        ev(InputKind.POINTER_MOVE, x=7, y=8),
        ev(InputKind.BUTTON_DOWN, x=7, y=8, button=3),
        ev(InputKind.BUTTON_UP, x=7, y=8, button=3),
    ]
    assert list(events_for(MovePointer(1, 2))) == [ev(InputKind.POINTER_MOVE, x=1, y=2)]


TYPABLE = st.characters(
    blacklist_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp", "Zs")
) | st.sampled_from(" \n\t")


@given(st.text(TYPABLE, min_size=1, max_size=500))
def test_text_is_sent_in_pieces_the_presenter_accepts_and_in_order(text: str) -> None:
    events = text_events(text)
    assert "".join(e.text for e in events) == text
    assert all(1 <= len(e.text) <= TEXT_CHUNK <= MAX_TEXT_CHARS for e in events)
    # The presenter's own planner takes every piece (nothing it would refuse as too long).
    assert parse_type(text.replace("\\", "\\\\")) == TypeText(text)
    for event in events:
        plan = plan_event(event, (100, 100), lambda: None, (), ())  # type: ignore[arg-type,return-value]
        assert plan.cost == cost(event) == len(event.text)


def test_every_parsed_chord_is_a_key_the_presenter_allows() -> None:
    held: tuple[object, ...] = ()
    for name in KEY_NAMES:
        spec = "ctrl++" if name == "+" else f"ctrl+{name}"
        for event in chord_events(parse_chord(spec)):
            if event.kind is InputKind.KEY_DOWN:
                plan = plan_event(event, (100, 100), lambda: None, held, ())  # type: ignore[arg-type,return-value]
                assert plan.cost == cost(event) == 1


#: A relay link to a port nobody listens on: reaching it would be exit 3, not 2.
CLOSED_LINK = "porthole://127.0.0.1:9/123456789?fp=" + "ab" * 32


def run_view(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [command("porthole"), "view", "--headless", CLOSED_LINK, *argv],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["--request-control", "--keys", "ctrl+a Retrun"],
            "--keys argument 1: key 2: an unknown key name",
        ),
        (
            ["--request-control", "--type", "ok", "--type", r"bad\q"],
            "--type argument 2: character 4: unknown escape",
        ),
        (["--type", "ok"], "need --request-control"),
        (["--request-control", "--frames", "1"], "cannot be combined"),
        (["--request-control", "--control-timeout", "0"], "more than 0 seconds"),
        (
            ["--request-control", "--input-script", "/nonexistent/upkeep"],
            "cannot read the input script",
        ),
    ],
)
def test_mistakes_exit_2_before_contacting_anyone(argv: list[str], says: str) -> None:
    # The link points at a closed port: reaching it would be exit 3, so 2 proves nothing was tried.
    done = run_view(*argv)
    assert done.returncode == EXIT_USAGE, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert says in lines[0]
    assert '"event":"error"' in done.stdout
    assert '"exit":2' in done.stdout


def test_a_script_mistake_names_the_file_and_line(tmp_path: object) -> None:
    done = run_view(
        "--request-control", "--input-script", "-",
        stdin="# upkeep\ntype hunter2\nkey ctrl+alt+Delet\n",
    )  # fmt: skip
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "--input-script -: line 3: key 1: an unknown key name" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "Delet" not in done.stderr


def test_help_documents_the_language() -> None:
    done = subprocess.run(
        [command("porthole"), "view", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for words in ("--request-control", "--keys", "ctrl+alt+t", "click X Y", "wait SECONDS"):
        assert words in done.stdout
