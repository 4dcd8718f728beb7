"""One error model: every failure a person can meet is a :class:`Failure` with a sentence, a
next step and an exit code.

Why one family: the same refusal (a locked session, a wrong password, a relay that is down)
reaches people through the client app, the line console and the headless programs. Each of
them used to translate exceptions on its own, and the copies drifted (one printed a sentence,
another a 30-line exception group). Now the exceptions themselves carry what to say and what to
do next; every front end only chooses how to show it (:mod:`core.cli_exit` for the commands,
a dialog in the app).

Exit codes are part of the command-line interface (scripts branch on them), so they never
change once released:

====  =====================================================================
0     ended normally (including a session the organizer or relay ended)
1     refused or failed (locked, declined, wrong password, wrong login, …)
2     usage (a malformed argument, link or session ID; a missing option)
3     the relay could not be reached, or the connection to it was lost
130   interrupted (Ctrl+C or SIGTERM before the session ended by itself)
====  =====================================================================

This module imports nothing heavy (no trio, no textual, no numpy): the commands load it on
every start, and it unwraps trio's exception groups with the built-in ``BaseExceptionGroup``.
"""

from __future__ import annotations

from core.errors import ErrorCode

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOST = 3
EXIT_INTERRUPTED = 130

#: The exit codes as every command's ``--help`` (and the README) shows them.
#: Broken by hand: raw help formatters keep it as is, the default one re-wraps it alike.
EXIT_STATUS_HELP = (
    "exit status: 0 ended normally, 1 refused or failed, 2 usage error,\n"
    "3 relay unreachable or connection lost, 130 interrupted (Ctrl+C, SIGTERM)"
)

#: What the person is told to do next, per refusal the relay can give.
NEXT_STEP: dict[ErrorCode, str] = {
    ErrorCode.LOGIN_FAILED: "Check the user name and password and try again.",
    ErrorCode.ACCOUNT_DISABLED: "Ask the relay's operator to enable the account.",
    ErrorCode.LOCKED_OUT: "Wait until the lockout ends, then try again.",
    ErrorCode.NOT_LOGGED_IN: "Log in first.",
    ErrorCode.RATE_LIMITED: "Wait a little, then try again.",
    ErrorCode.JOIN_REFUSED: "Check the session ID and password with the organizer.",
    ErrorCode.KNOCK_DECLINED: "Ask the organizer whether they expect you.",
    ErrorCode.SESSION_LOCKED: "Ask the organizer to unlock the session.",
    ErrorCode.SESSION_FULL: "Ask the organizer to make room.",
    ErrorCode.NAME_TAKEN: "Pick another name with --name and join again.",
    ErrorCode.SESSION_ID_TAKEN: "Choose another session ID, or leave it empty for a random one.",
    ErrorCode.CHOSEN_ID_NEEDS_PASSWORD: "Set a session password, or take a random ID.",
    ErrorCode.WEAK_PASSWORD: "Choose a longer session password.",
    ErrorCode.BAD_SESSION_ID: "A session ID is 9 digits.",
    ErrorCode.TIMEOUT: "Try again; if it keeps happening, check the network.",
    ErrorCode.TOO_MANY_CONNECTIONS: "Wait a little, then try again.",
}

#: For a refusal whose code has no entry above.
DEFAULT_NEXT_STEP = "Try again, or ask the relay's operator."


def next_step_for(code: ErrorCode | None) -> str:
    """The next step for a relay refusal ``code`` ("" when there is no code to go by)."""
    if code is None:
        return ""
    return NEXT_STEP.get(code, DEFAULT_NEXT_STEP)


class Failure(Exception):
    """A failure to show as one sentence plus a next step, never as a traceback.

    ``code`` is the relay's stable :class:`ErrorCode` when the failure came from it; ``kind``
    names the failure for programs otherwise (the JSON ``error`` event's ``code`` is the error
    code's name, else the kind). Subclasses set the exit code and the default kind.
    """

    exit_code: int = EXIT_FAILED
    kind: str = "failed"

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        next_step: str | None = None,
        exit_code: int | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self._next_step = next_step
        if exit_code is not None:
            self.exit_code = exit_code
        if kind is not None:
            self.kind = kind

    @property
    def next_step(self) -> str:
        """What to do about it ("" when the message already says, or nothing helps)."""
        if self._next_step is not None:
            return self._next_step
        return next_step_for(self.code)

    @property
    def slug(self) -> str:
        """The name programs match on: ``session_locked``, ``relay_unreachable``, …"""
        return self.code.name.lower() if self.code is not None else self.kind

    def sentence(self) -> str:
        """The message and the next step as one line (newlines folded: one line is the rule)."""
        message = " ".join(self.message.split())
        step = " ".join(self.next_step.split())
        if not step or step in message:
            return message
        if message and message[-1] not in ".!?":
            message += "."
        return f"{message} {step}"


class Refused(Failure):
    """The relay, the organizer or a local check said no (exit 1)."""

    kind = "refused"


class UsageError(Failure):
    """The command line itself is wrong: a malformed link, ID, address or missing option."""

    exit_code = EXIT_USAGE
    kind = "usage"


class ConnectionFailure(Failure):
    """The relay could not be reached, or the connection to it was lost (exit 3)."""

    exit_code = EXIT_LOST
    kind = "connection_lost"


class Interrupted(Failure):
    """Stopped by Ctrl+C (SIGINT) or SIGTERM before the session ended by itself (exit 130)."""

    exit_code = EXIT_INTERRUPTED
    kind = "interrupted"

    def __init__(self, signal_name: str = "SIGINT") -> None:
        shown = "Ctrl+C" if signal_name == "SIGINT" else signal_name
        super().__init__(f"Stopped by {shown}.", next_step="")
        self.signal_name = signal_name


def session_end_failure(code: ErrorCode | None, message: str) -> Failure | None:
    """How a session that ended by itself should end the program: None means normally.

    A session that ended without a code ended because the connection died (the relay went
    away): scripts must see that (exit 3), not a clean exit. Being removed is a refusal.
    """
    if code is None:
        return ConnectionFailure(message or "The connection to the relay was lost.")
    if code is ErrorCode.REMOVED:
        return Refused(message, code=code, next_step="Ask the organizer why.")
    return None


def failure_of(exc: BaseException) -> Failure | None:
    """The failure to report for ``exc``, looking inside (nested) exception groups.

    trio wraps what escapes a nursery in exception groups, so ``except RequestRefused`` at a
    command's top never matches; this looks through them. An interruption wins over anything
    it caused (a connection cut short by Ctrl+C is not a separate failure); otherwise the
    first failure found is reported. None means a bug: nothing here knows how to say it.
    """
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if isinstance(leaf, Interrupted):
            return leaf
        if isinstance(leaf, KeyboardInterrupt):
            return Interrupted()
    for leaf in leaves:
        if isinstance(leaf, Failure):
            return leaf
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in exc.exceptions:
            found.extend(_leaves(inner))
        return found
    return [exc]
