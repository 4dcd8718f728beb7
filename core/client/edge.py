"""The client edge: what this member's own program does about presenting and remote control.

Consent lives at the edge (docs/design.md §3.5): the relay applies the rules, but only this
member's program captures its screen and injects input into it, and it does so only on this
person's own yes. That part is one pure state machine here, with no I/O and no clock of its own
(times are passed in), in the style of h11 and magic-wormhole: it is fed what the relay says
(:meth:`ClientEdge.roster`), what this person does (:meth:`~ClientEdge.grant`,
:meth:`~ClientEdge.revoke`, :meth:`~ClientEdge.pause`, :meth:`~ClientEdge.stop_presenting`, …)
and what happened to capture, and it answers with :data:`Effect` values in the order they must
happen. :class:`core.client.edge_runner.EdgeRunner` carries them out with trio.

Every front end (the Textual app, ``present --headless``, ``view --headless``) plugs its own
*policy* into this one machine: a dialog, command-line flags or stdin decide *whether* to say
yes; the machine decides what a yes, a no or a revoke *does*. So the front ends cannot drift
apart, as three hand-written copies did (a grant given with ``g`` once armed nothing).

What it guarantees, each tested as an event list in ``tests/core/test_client_edge.py``:

* nothing is captured until this person agreed to present *and* the relay names them
  presenter; capture stops the moment the relay names someone else (the next time, they are
  asked again);
* input is allowed only after a local yes, which arms the revoke hotkey *before* the relay is
  told; a yes the relay never applies is dropped after :data:`GRANT_CONFIRM_SECONDS`;
* revoking, pausing and stopping are local first: input and capture stop before the relay
  hears of it, and a roster that crosses a pause in flight never shows the screen again;
* every request this machine sends comes from a local act, so ``confirmed`` is always true
  and never comes from anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from core.protocol.messages import ActionCode, Roster

#: After this person said yes to control, how long the relay may take to name the grantee
#: controller (it does at once when it applies the answer). Past it the grant is dropped here,
#: and with it the revoke-hotkey listener, which sees every key while armed: the relay refused
#: the request meanwhile (someone else took control, sharing paused) and does not say so.
GRANT_CONFIRM_SECONDS = 10.0

# --------------------------------------------------------------------------------------------
# Effects: what the runner does, in order.


@dataclass(frozen=True, slots=True)
class StartCapture:
    """Start capturing and sending this screen (what is shared is the front end's choice)."""


@dataclass(frozen=True, slots=True)
class StopCapture:
    """Stop capturing now: nothing more leaves once this is done."""


@dataclass(frozen=True, slots=True)
class SetAudience:
    """How many members watch this screen (none: capture idles)."""

    viewers: int


@dataclass(frozen=True, slots=True)
class SetPaused:
    """Hide (True) or show (False) the screen; hidden means nothing is captured or sent."""

    paused: bool


@dataclass(frozen=True, slots=True)
class AllowInput:
    """This person granted ``peer`` control: the guard may inject its input (while the relay
    agrees)."""

    peer: int


@dataclass(frozen=True, slots=True)
class EndInput:
    """Control ended here: inject nothing more and release every held key and button."""


@dataclass(frozen=True, slots=True)
class RelayController:
    """Whom the relay names controller (the guard's second wall)."""

    peer: int | None


@dataclass(frozen=True, slots=True)
class ArmHotkey:
    """Listen for the revoke hotkey (Ctrl+F12): someone may control this screen."""


@dataclass(frozen=True, slots=True)
class DisarmHotkey:
    """Stop listening: nobody may control this screen, so no keystroke is observed."""


@dataclass(frozen=True, slots=True)
class Request:
    """Send a rules action, confirmed: it always comes from this person's own act."""

    action: ActionCode
    target: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the relay's consent question ``consent_id``."""

    consent_id: int
    granted: bool


@dataclass(frozen=True, slots=True)
class ControlNotice:
    """Tell this person: ``controller`` now controls the screen, or (None) control ended.

    ``reason`` is a short code for scripts (headless JSON): one of :data:`END_REASONS`, or the
    one the front end gave :meth:`ClientEdge.revoke` / :meth:`ClientEdge.closed`.
    """

    controller: int | None
    reason: str = ""
    previous: int | None = None
    """Who had control, when it ended."""


#: Why control ended, for the reasons this machine decides itself; the TUI words each.
END_REASONS = {
    "relay": "it ended on the relay",
    "unconfirmed": "the relay did not hand over control",
    "switched": "control went to someone else",
    "paused": "you paused",
    "stopped": "you stopped presenting",
    "capture": "capturing the screen failed",
    "presenter-changed": "someone else presents now",
}


@dataclass(frozen=True, slots=True)
class Say:
    """Send a chat line to everyone (why this member stopped presenting)."""

    text: str


Effect: TypeAlias = (
    StartCapture
    | StopCapture
    | SetAudience
    | SetPaused
    | AllowInput
    | EndInput
    | RelayController
    | ArmHotkey
    | DisarmHotkey
    | Request
    | Answer
    | ControlNotice
    | Say
)


class ClientEdge:
    """One member's presenting and control decisions; pure (see the module docstring)."""

    def __init__(
        self,
        me: int,
        *,
        agreed_to_present: bool = False,
        confirm_seconds: float | None = None,
    ) -> None:
        self.me = me
        self.confirm_seconds = GRANT_CONFIRM_SECONDS if confirm_seconds is None else confirm_seconds
        self._agreed = agreed_to_present
        self._capturing = False
        self._presenter: int | None = None
        self._granted_to: int | None = None
        self._relay_controller: int | None = None
        self._announced: int | None = None
        self._confirm_by: float | None = None
        self._pause_pending = False
        self._audience = 0
        self._hidden = False

    # -- what the front ends read ----------------------------------------------------------

    @property
    def capturing(self) -> bool:
        return self._capturing

    @property
    def granted_to(self) -> int | None:
        return self._granted_to

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`due` next has something to do (None: nothing is pending)."""
        return self._confirm_by

    # -- this person's acts ----------------------------------------------------------------

    def agree_to_present(self) -> None:
        """A local yes to presenting (present, take back, a proposal or hand-over accepted):
        capture starts when the relay names this member presenter, not before."""
        self._agreed = True

    def grant(self, peer: int, now: float, *, consent_id: int | None = None) -> list[Effect]:
        """This person's own yes to ``peer`` controlling the screen, whichever way it was given
        (answering their request, or offering it): input is allowed and the hotkey armed
        before the relay hears it, so Ctrl+F12 works from the first injected event."""
        effects: list[Effect] = []
        if self._granted_to not in (None, peer):
            effects += self._end_grant("switched")
        self._granted_to = peer
        self._confirm_by = now + self.confirm_seconds
        effects += [AllowInput(peer), ArmHotkey()]
        if consent_id is None:
            effects.append(Request(ActionCode.GRANT_CONTROL, peer))
        else:
            effects.append(Answer(consent_id, True))
        return effects

    def revoke(self, reason: str) -> list[Effect]:
        """End control now (r, Ctrl+F12, a signal): local first, then the relay is told."""
        someone = self._granted_to is not None or self._relay_controller is not None
        effects = self._end_grant(reason)
        if someone and self._presenter == self.me:
            effects.append(Request(ActionCode.REVOKE_CONTROL))
        return [*effects, DisarmHotkey()]

    def pause(self) -> list[Effect]:
        """Hide now, before the relay hears it: the next capture never happens."""
        self._pause_pending = self._hidden = True
        effects: list[Effect] = [SetPaused(True)] if self._capturing else []
        effects += self._end_grant("paused")
        return [*effects, Request(ActionCode.PAUSE), DisarmHotkey()]

    def resume(self) -> list[Effect]:
        """Show again: the relay first, so the keyframe that follows is not refused as sent
        while paused; control is not restored (it must be asked for anew)."""
        self._pause_pending = self._hidden = False
        effects: list[Effect] = [Request(ActionCode.RESUME)]
        return [*effects, SetPaused(False)] if self._capturing else effects

    def reshare(self) -> list[Effect]:
        """This person picked something else to share: capture starts over with it, for the
        same audience and as hidden as before (nothing changes on the relay)."""
        if not self._capturing:
            return []
        return [StopCapture(), StartCapture(), SetAudience(self._audience), SetPaused(self._hidden)]

    def stop_presenting(self) -> list[Effect]:
        """This person stops presenting (no one's yes needed): capture stops at once."""
        return [*self._stop("stopped"), Request(ActionCode.STOP_PRESENTING)]

    def capture_failed(self, reason: str) -> list[Effect]:
        """Capture cannot go on (no display, the shared window closed): stop presenting rather
        than look as if sharing, and say why first (docs/design.md §5.3)."""
        return [
            *self._stop("capture"),
            Say(f"I stopped presenting: cannot capture the screen: {reason}."),
            Request(ActionCode.STOP_PRESENTING),
        ]

    def closed(self, reason: str) -> list[Effect]:
        """The session ended (or the connection is gone): stop everything, tell the person."""
        return self._stop(reason)

    # -- what the relay says, and time -----------------------------------------------------

    def roster(self, roster: Roster, now: float) -> list[Effect]:
        """Follow the relay's roster: start or stop capture, and follow control."""
        effects: list[Effect] = []
        self._presenter = roster.presenter
        presenting = roster.presenter == self.me
        if presenting and self._agreed and not self._capturing:
            self._capturing = True
            effects.append(StartCapture())
        elif not presenting and self._capturing:
            effects += self._stop("presenter-changed")
        if roster.paused:
            self._pause_pending = False  # the relay holds it paused now
        self._audience = sum(1 for member in roster.members if member.peer_id != self.me)
        self._hidden = roster.paused or self._pause_pending
        if self._capturing:
            effects += [SetAudience(self._audience), SetPaused(self._hidden)]
        effects += self._follow_control(roster, now)
        return effects

    def due(self, now: float) -> list[Effect]:
        """Timers: a yes the relay has not applied by now is dropped (see
        :data:`GRANT_CONFIRM_SECONDS`), and the relay is told, so both agree: nobody."""
        if self._confirm_by is None or now < self._confirm_by:
            return []
        self._confirm_by = None
        peer = self._granted_to
        if peer is None or self._relay_controller == peer:
            return []
        effects = self._end_grant("unconfirmed")
        return [*effects, Request(ActionCode.REVOKE_CONTROL), DisarmHotkey()]

    # -- internals ---------------------------------------------------------------------------

    def _follow_control(self, roster: Roster, now: float) -> list[Effect]:
        previous, self._relay_controller = self._relay_controller, roster.controller
        effects: list[Effect] = [RelayController(roster.controller)]
        granted = self._granted_to
        if granted is None:
            return effects
        gone = all(member.peer_id != granted for member in roster.members)
        ended = previous == granted and roster.controller != granted
        if gone or ended or roster.presenter != self.me:
            return [*effects, *self._end_grant("relay"), DisarmHotkey()]
        if roster.controller == granted:
            self._confirm_by = None
            if self._announced != granted:
                self._announced = granted
                effects.append(ControlNotice(granted))
        return effects

    def _end_grant(self, reason: str) -> list[Effect]:
        """Control ends here: no more input, and the person is told if they had been told it
        began. The hotkey is disarmed by the caller, last (after the relay is told)."""
        self._granted_to = None
        self._confirm_by = None
        effects: list[Effect] = [EndInput()]
        if self._announced is not None:
            effects.append(ControlNotice(None, reason, previous=self._announced))
            self._announced = None
        return effects

    def _stop(self, reason: str) -> list[Effect]:
        self._agreed = False  # the next time, this person is asked again
        effects: list[Effect] = []
        if self._capturing:
            self._capturing = False
            effects.append(StopCapture())
        return [*effects, *self._end_grant(reason), DisarmHotkey()]
