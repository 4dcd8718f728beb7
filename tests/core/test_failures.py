"""The one error model: what each failure says, where it is found, how a command ends on it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from core.cli_exit import run_command
from core.client import ChannelClosed, RelayUnreachable, RequestRefused
from core.endpoints import split_endpoint
from core.errors import ErrorCode
from core.failures import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOST,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    Interrupted,
    failure_of,
    session_end_failure,
)
from core.links import BadLink, normalize_session_id, parse_link
from core.tlspin import FingerprintMismatch


def test_a_refusal_found_deep_inside_trio_style_exception_groups() -> None:
    refused = RequestRefused(ErrorCode.SESSION_LOCKED, "The session is locked.")
    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [refused])])
    assert failure_of(nested) is refused
    assert failure_of(refused) is refused


def test_an_interruption_wins_over_what_it_cut_short() -> None:
    lost = ChannelClosed(None, "The connection to the relay was lost.")
    group = BaseExceptionGroup("g", [lost, BaseExceptionGroup("h", [KeyboardInterrupt()])])
    found = failure_of(group)
    assert isinstance(found, Interrupted)
    assert found.exit_code == EXIT_INTERRUPTED


def test_a_bug_is_not_mistaken_for_a_failure() -> None:
    assert failure_of(ExceptionGroup("g", [ZeroDivisionError()])) is None


@pytest.mark.parametrize(
    ("failure", "exit_code", "slug"),
    [
        (RequestRefused(ErrorCode.KNOCK_DECLINED, "Declined."), EXIT_FAILED, "knock_declined"),
        (RequestRefused(ErrorCode.LOGIN_FAILED, "Wrong login."), EXIT_FAILED, "login_failed"),
        (RelayUnreachable("Cannot reach the relay."), EXIT_LOST, "relay_unreachable"),
        (ChannelClosed(None, "Lost."), EXIT_LOST, "connection_lost"),
        (ChannelClosed(ErrorCode.MALFORMED, "Bad data."), EXIT_FAILED, "malformed"),
        (FingerprintMismatch("aa" * 32, "bb" * 32), EXIT_FAILED, "fingerprint_mismatch"),
        (BadLink("not a link"), EXIT_USAGE, "bad_link"),
        (Interrupted("SIGTERM"), EXIT_INTERRUPTED, "interrupted"),
    ],
)
def test_each_member_carries_its_exit_code_and_name(
    failure: Failure, exit_code: int, slug: str
) -> None:
    assert failure.exit_code == exit_code
    assert failure.slug == slug
    sentence = failure.sentence()
    assert sentence
    assert "\n" not in sentence


def test_the_sentence_adds_the_next_step_once() -> None:
    refused = RequestRefused(ErrorCode.SESSION_LOCKED, "The session is locked")
    assert refused.sentence() == ("The session is locked. Ask the organizer to unlock the session.")
    mismatch = FingerprintMismatch("aa" * 32, "bb" * 32)
    assert mismatch.next_step == ""  # its sentence already says what to do
    assert "do not continue" in mismatch.sentence()


def test_how_a_session_that_ended_by_itself_ends_the_program() -> None:
    lost = session_end_failure(None, "The connection to the relay was lost.")
    assert lost is not None
    assert lost.exit_code == EXIT_LOST
    removed = session_end_failure(ErrorCode.REMOVED, "Olga removed you.")
    assert removed is not None
    assert removed.exit_code == EXIT_FAILED
    assert session_end_failure(ErrorCode.SESSION_ENDED, "Olga ended the session.") is None


def _run(body: Callable[[], int], *, headless: bool) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_command(body, prefix="porthole: ", headless=headless, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_run_command_reports_one_line_and_the_json_event() -> None:
    def body() -> int:
        inner = RequestRefused(ErrorCode.JOIN_REFUSED, "Wrong session ID or password.")
        raise BaseExceptionGroup("trio", [ExceptionGroup("nursery", [inner])])

    code, out, err = _run(body, headless=True)
    assert code == EXIT_FAILED
    assert err == (
        "porthole: Wrong session ID or password. "
        "Check the session ID and password with the organizer.\n"
    )
    event = json.loads(out)
    assert event == {
        "event": "error",
        "code": "join_refused",
        "message": "Wrong session ID or password.",
        "next_step": "Check the session ID and password with the organizer.",
        "exit": EXIT_FAILED,
    }


def test_run_command_without_headless_prints_nothing_on_stdout() -> None:
    def body() -> int:
        raise KeyboardInterrupt

    assert _run(body, headless=False) == (EXIT_INTERRUPTED, "", "porthole: Stopped by Ctrl+C.\n")
    assert _run(lambda: EXIT_OK, headless=True) == (EXIT_OK, "", "")


def test_a_bug_still_ends_in_one_line() -> None:
    def body() -> int:
        raise ExceptionGroup("g", [ZeroDivisionError("division by zero")])

    code, _, err = _run(body, headless=False)
    assert code == EXIT_FAILED
    assert err.count("\n") == 1
    assert "internal error: ExceptionGroup" in err


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("12345", "'12345' is not a session ID: it has 5 digits, a session ID has 9"),
        ("1234567890", "it has 10 digits, a session ID has 9"),
        ("048 291 357", "it starts with 0, which a session ID never does"),
        ("48291357x", "a session ID is 9 digits, like 482 913 570"),
    ],
)
def test_a_wrong_session_id_is_told_what_is_wrong_with_it(typed: str, says: str) -> None:
    with pytest.raises(BadLink, match=says):
        normalize_session_id(typed)
    assert normalize_session_id("482-913 570") == "482913570"


def test_a_link_of_another_scheme_is_called_that_not_an_ipv6_address() -> None:
    with pytest.raises(BadLink, match=r"is not a porthole:// link: it starts with xporthole://"):
        parse_link("xporthole://127.0.0.1:7443/482913570")
    with pytest.raises(ValueError, match=r"is not HOST:PORT: it starts with xporthole://"):
        split_endpoint("xporthole://127.0.0.1:7443/482913570")


def test_the_error_model_loads_no_heavy_package() -> None:
    """Every command imports it at start; trio, textual and numpy wait for the command's body."""
    probe = (
        "import sys, core.failures, core.cli_exit; "
        "print(sorted(m for m in ('trio', 'textual', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
