"""Who may drive this presenter's screen: decided here, by this user's own acts.

Consent lives at the edge (docs/design.md §3.5). The relay's roster says who *the relay* thinks has
control; that is a second wall, not a permission. Input is injected only when all of these hold:

* this user granted control to that member themselves (answered a request with yes, or offered
  it) — :meth:`ControlGuard.grant` is only ever called from such an act;
* the relay agrees (its roster names the same controller), so a grant the relay refused or
  already ended injects nothing either;
* the message's sender is that member, as proven by its signature (the session's opener checks
  the signature against the leader-signed roster before a ``ContentReceived`` exists);
* control was not revoked since (Ctrl+F12, SIGUSR2, the TUI, pause, presenter change, the
  controller leaving, or the session ending).

Revoking is local and immediate: input stops and every key and button the controller held is
released before anything is sent to the relay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from core.control.injector import Injector
from core.protocol.content import InputEvent


class Drop(StrEnum):
    """Why an input event was not injected (counted, never shown to the controller)."""

    NOT_GRANTED = "not-granted"
    RELAY_DISAGREES = "relay-disagrees"
    INJECTOR_REFUSED = "injector-refused"
    NO_SCREEN = "no-screen"


@dataclass(frozen=True, slots=True)
class GuardStatistics:
    granted_to: int | None
    injected: int
    dropped: dict[str, int]


class ControlGuard:
    """The presenter's record of its own grant, and the only path from input to injection."""

    def __init__(self, injector: Injector) -> None:
        self._injector = injector
        self._granted_to: int | None = None
        self._relay_controller: int | None = None
        self._injected = 0
        self._dropped: Counter[Drop] = Counter()
        self._injector.revoke()  # nothing is accepted until this user grants

    @property
    def granted_to(self) -> int | None:
        return self._granted_to

    @property
    def active(self) -> bool:
        """Whether input from the granted member is being injected right now."""
        return self._granted_to is not None and self._relay_controller == self._granted_to

    def grant(self, peer_id: int) -> None:
        """This user agreed that ``peer_id`` may control the screen (one controller at a time)."""
        if self._granted_to not in (None, peer_id):
            self.revoke()
        self._granted_to = peer_id
        self._injector.resume()

    def revoke(self) -> int:
        """End control now; returns how many held keys and buttons were released."""
        self._granted_to = None
        return self._injector.revoke()

    def relay_names(self, controller: int | None) -> None:
        """Whom the relay's roster names controller: input is injected only while it names the
        member this user granted (the second wall; :class:`core.client.edge.ClientEdge` decides
        when a grant ends because the relay ended it)."""
        self._relay_controller = controller

    def on_input(self, sender: int, event: InputEvent, frame_size: tuple[int, int] | None) -> bool:
        """Inject ``event`` from the (signature-verified) ``sender`` if this user allowed it.

        ``frame_size`` is None before the first capture: there is no picture the controller
        could have aimed at, so the event is dropped (and counted, like every other drop).
        """
        if self._granted_to is None or sender != self._granted_to:
            self._dropped[Drop.NOT_GRANTED] += 1
            return False
        if self._relay_controller != sender:
            self._dropped[Drop.RELAY_DISAGREES] += 1
            return False
        if frame_size is None:
            self._dropped[Drop.NO_SCREEN] += 1
            return False
        if not self._injector.inject(event, frame_size):
            self._dropped[Drop.INJECTOR_REFUSED] += 1
            return False
        self._injected += 1
        return True

    def statistics(self) -> GuardStatistics:
        return GuardStatistics(
            granted_to=self._granted_to,
            injected=self._injected,
            dropped={reason.value: count for reason, count in self._dropped.items()},
        )
