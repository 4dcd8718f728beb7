"""The scripted controller of ``porthole view --headless --request-control``.

It asks the presenter for remote control, waits for the grant, sends the parsed steps
(:mod:`core.control.script`) as input events, gives control back and lets the viewer leave.
Kiosk upkeep scripts use it, and it is the black-box test of injection: what it types must
arrive in a real terminal on the presenter's screen.

Why it waits for the roster and not only for the relay's answer: the presenter injects only once
it sees the same roster name this member controller (docs/design.md §3.5: its
:class:`~core.control.guard.ControlGuard` waits for the relay to agree), and the relay sends that
roster before anything this member sends afterwards. Why it paces: the presenter drops input
beyond its rate budget (200 a second by default, a token per typed character) without telling
the sender, so this side spends at most half of it.

What it prints are counts and states, never the text or keys (docs/design.md §2.3: keystrokes
are never logged). It loads the input parser and the key allow-list of ``core.control``, never the
injector or an X client.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import trio

from core.client import MemberSession
from core.client.events import ActionAnswered, RosterChanged, SessionEvent
from core.control.ratelimit import TokenBucket
from core.control.script import (
    Click,
    MovePointer,
    PressKeys,
    ScriptError,
    Step,
    TypeText,
    Wait,
    cost,
    events_for,
    parse_keys,
    parse_script,
    parse_type,
)
from core.failures import Failure, Refused, UsageError
from core.protocol.content import InputKind
from core.protocol.messages import ActionCode, ActionOutcome, Roster
from tui.headless import emit

#: Input this controller sends per second at most: half the presenter's default budget
#: (core.control.injector.DEFAULT_MAX_EVENTS_PER_SECOND), so network bunching stays under it.
RATE = 100.0
#: How long to wait for the relay to confirm giving control back before leaving anyway.
RELEASE_TIMEOUT = 5.0


def parse_steps(args: argparse.Namespace) -> list[Step]:
    """The steps of ``--type``/``--keys``/``--input-script``, in command-line order.

    A mistake is a usage error (exit 2) naming the option or the script's line, raised before
    the session is joined.
    """
    given: list[tuple[str, str]] = list(getattr(args, "control_steps", None) or [])
    if given and not args.request_control:
        raise UsageError("--type, --keys and --input-script need --request-control")
    if args.frames is not None and args.request_control:
        raise UsageError("--frames cannot be combined with --request-control")
    if not args.control_timeout > 0:
        raise UsageError("--control-timeout must be more than 0 seconds")
    steps: list[Step] = []
    for number, (option, value) in enumerate(given, 1):
        try:
            if option == "type":
                steps.append(parse_type(value))
            elif option == "keys":
                steps.append(parse_keys(value))
            else:
                steps.extend(parse_script(_script_lines(value)))
        except ScriptError as exc:
            where = value if option == "input-script" else f"argument {number}"
            raise UsageError(f"--{option} {where}: {exc}") from None
    return steps


def _script_lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the input script {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the input script {path} is not UTF-8 text") from None


class ScriptedControl:
    """Runs in the viewer's nursery; the viewer's event loop feeds it with :meth:`on_event`.

    The outcome is :attr:`failure` (None when the script ran and control was given back) and
    :attr:`finished`; :meth:`run` never raises a :class:`Failure`, so the viewer leaves the
    session cleanly before reporting it.
    """

    def __init__(
        self,
        session: MemberSession,
        steps: list[Step],
        *,
        timeout: float,
    ) -> None:
        self.session = session
        self.steps = steps
        self.timeout = timeout
        #: Called once the outcome is known; the viewer sets it to end its watch and leave.
        self.done: Callable[[], None] = lambda: None
        self.roster: Roster | None = None
        self.answers: dict[int, ActionAnswered] = {}
        self.failure: Failure | None = None
        self.finished = False
        self._granted = False
        self._releasing = False
        self._revoked = False
        self._changed = trio.Event()
        self._inject_scope: trio.CancelScope | None = None
        self._typed = 0
        self._keys = 0

    # -- fed by the viewer's event loop ---------------------------------------------------

    def on_event(self, event: SessionEvent) -> None:
        match event:
            case RosterChanged(roster=roster):
                self.roster = roster
                if roster.controller == self._me:
                    self._granted = True  # kept even if a later roster takes it back at once
                elif self._granted and not self._releasing:
                    self._revoked = True
                    if self._inject_scope is not None:
                        self._inject_scope.cancel()
            case ActionAnswered() as answer:
                self.answers[answer.request_id] = answer
            case _:
                return
        self._changed.set()
        self._changed = trio.Event()

    @property
    def _me(self) -> int:
        return self.session.peer_id

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._changed.wait()

    # -- the script ------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except Failure as failure:
            self.failure = failure
        self.finished = True
        self.done()

    async def _run(self) -> None:
        if self.roster is None:
            self.roster = self.session.roster  # the roster of the join, before any change
        with trio.move_on_after(self.timeout) as waiting:
            await self._until(self._can_request)
        if waiting.cancelled_caught:
            raise Refused(
                "Nobody presented a screen to control in time.",
                kind="control_timeout",
                next_step="Start presenting first, or give --control-timeout more seconds.",
            )
        emit("control", state="requested")
        request_id = await self.session.request(ActionCode.REQUEST_CONTROL)
        with trio.move_on_after(self.timeout) as waiting:
            await self._until(lambda: self._granted or self._refusal(request_id) is not None)
        refusal = self._refusal(request_id)
        if refusal is not None and not self._granted:
            emit("control", state="refused", code=_slug(refusal))
            raise Refused(
                refusal.message or "The presenter did not give remote control.",
                code=refusal.code,
                next_step="Ask the presenter to allow control from this name.",
            )
        if waiting.cancelled_caught:
            emit("control", state="refused", code="control_timeout")
            raise Refused(
                "The presenter did not answer the request for control in time.",
                kind="control_timeout",
                next_step="Ask the presenter to answer, or give --control-timeout more seconds.",
            )
        emit("control", state="granted")
        presenter = self.roster.presenter if self.roster is not None else None
        if presenter is None:  # granted, then presenting stopped at once: revoked
            self._revoked = True
        if not self._revoked and presenter is not None:
            await self._inject(presenter)
        if self._revoked:
            emit("control", state="revoked", typed=self._typed, keys=self._keys)
            raise Refused(
                "The presenter took remote control back before the script finished.",
                kind="revoked",
                next_step="Ask the presenter before running it again.",
            )
        await self._release()

    def _can_request(self) -> bool:
        roster = self.roster
        return (
            roster is not None
            and roster.presenter is not None
            and roster.presenter != self._me
            and not roster.paused
        )

    def _is_controller(self) -> bool:
        return self.roster is not None and self.roster.controller == self._me

    def _refusal(self, request_id: int) -> ActionAnswered | None:
        answer = self.answers.get(request_id)
        if answer is not None and answer.outcome is ActionOutcome.REFUSED:
            return answer
        return None

    async def _inject(self, presenter: int) -> None:
        bucket = TokenBucket(RATE, clock=trio.current_time)
        self._inject_scope = trio.CancelScope()
        with self._inject_scope:
            for step in self.steps:
                if isinstance(step, Wait):
                    await trio.sleep(step.seconds)
                    emit("waited", seconds=step.seconds)
                    continue
                for event in events_for(step):
                    price = cost(event)
                    while not bucket.try_take(price):
                        await trio.sleep(max(0.005, (price - bucket.tokens) / RATE))
                    if self._revoked:
                        return
                    await self.session.send_content(event, recipient=presenter)
                    if event.kind is InputKind.TEXT:
                        self._typed += len(event.text)
                    elif event.kind is InputKind.KEY_DOWN:
                        self._keys += 1
                _report(step)

    async def _release(self) -> None:
        """Give control back; the presenter releases anything still held."""
        self._releasing = True
        await self.session.request(ActionCode.RELEASE_CONTROL)
        with trio.move_on_after(RELEASE_TIMEOUT):
            await self._until(lambda: not self._is_controller())
        emit("control", state="released", typed=self._typed, keys=self._keys)


def _report(step: TypeText | PressKeys | MovePointer | Click) -> None:
    match step:
        case TypeText(text=text):
            emit("typed", chars=len(text))
        case PressKeys(chords=chords):
            emit("sent", keys=len(chords))
        case Click(x=x, y=y, button=button):
            emit("pointer", x=x, y=y, button=button)
        case MovePointer(x=x, y=y):
            emit("pointer", x=x, y=y)


def _slug(answer: ActionAnswered) -> str:
    return answer.code.name.lower() if answer.code is not None else "refused"
