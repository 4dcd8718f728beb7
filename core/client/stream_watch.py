"""Is the presenter idle, or is the relay withholding its updates? (docs/design.md §3.3)

The relay can drop any message, and a viewer whose picture simply stops changing cannot tell a
still screen from a relay that stopped forwarding. The presenter therefore seals a tiny
``Heartbeat`` once a second, even when nothing changes, carrying the ``frame_seq`` of the last
update it sent. :class:`StreamWatch` is the viewer's side, sans-IO: fed heartbeats and updates
with their arrival times, it says which of these holds:

- ``waiting``: watching started moments ago; nothing to say yet;
- ``not-sharing``: heartbeats arrive and say the presenter is not sending its screen (paused,
  or not agreed to share yet);
- ``idle``: heartbeats arrive, every update they announce has arrived, none for a while;
- ``flowing``: updates arrive;
- ``withheld``: heartbeats stopped (``silent``), or one announced an update that has not
  arrived after a grace period (``behind``). Both need the relay: the presenter's client sends
  one a second, and the relay forwards a member's messages in order, so an update always
  arrives before the heartbeat that counts it.

A lost connection is not this watch's business: the session ends with ``SessionClosed`` then.
The grace periods cover the normal case of a relay dropping updates for a slow viewer: it says
so (``Dropped``), the viewer asks for a keyframe, and a newer update arrives well within them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: How often a presenter (or a member who chatted) sends a heartbeat.
HEARTBEAT_INTERVAL = 1.0
#: No heartbeat for this long while the connection is up: the relay withholds them.
SILENCE_LIMIT = 3.0
#: An announced update still missing after this long: the relay withholds updates.
BEHIND_LIMIT = 2.0
#: No update for this long (and none missing): the presenter's screen is still.
IDLE_AFTER = 1.5


class StreamState(Enum):
    WAITING = "waiting"
    NOT_SHARING = "not-sharing"
    IDLE = "idle"
    FLOWING = "flowing"
    WITHHELD = "withheld"


@dataclass(frozen=True, slots=True)
class StreamVerdict:
    """What :meth:`StreamWatch.poll` concluded; ``reason`` is ``silent`` or ``behind`` when
    withheld, and ``seconds`` how long the evidence has been building."""

    state: StreamState
    reason: str = ""
    seconds: float = 0.0


class StreamWatch:
    """One viewer's watch over one presenter's stream (a new presenter gets a new watch)."""

    __slots__ = (
        "_announced",
        "_heard_at",
        "_last_frame_at",
        "_latest",
        "_presenting",
        "_received",
        "_started",
    )

    def __init__(self, now: float) -> None:
        self._started = now
        self._heard_at: float | None = None
        self._presenting = True
        #: The oldest heartbeat position not yet received, and when it was heard.
        self._announced: tuple[int, float] | None = None
        #: The newest heartbeat position and when it was heard.
        self._latest: tuple[int, float] = (0, now)
        self._received = 0
        self._last_frame_at: float | None = None

    def on_heartbeat(self, frame_seq: int, presenting: bool, now: float) -> None:
        if self._heard_at is None or frame_seq < self._latest[0]:
            # The first heartbeat, or a new stream (its sequence starts over): what was sent
            # before we listened is owed to nobody; the keyframe we ask for replaces it.
            self._announced = None
            self._received = frame_seq
        self._heard_at = now
        self._presenting = presenting
        self._latest = (frame_seq, now)
        if frame_seq > self._received and self._announced is None:
            self._announced = (frame_seq, now)

    def on_frame(self, frame_seq: int, now: float) -> None:
        self._received = frame_seq
        self._last_frame_at = now
        if self._announced is not None and frame_seq >= self._announced[0]:
            latest, heard = self._latest
            self._announced = (latest, heard) if latest > frame_seq else None

    def poll(self, now: float) -> StreamVerdict:
        heard = self._heard_at if self._heard_at is not None else self._started
        if now - heard > SILENCE_LIMIT:
            return StreamVerdict(StreamState.WITHHELD, "silent", now - heard)
        if self._announced is not None and now - self._announced[1] > BEHIND_LIMIT:
            return StreamVerdict(StreamState.WITHHELD, "behind", now - self._announced[1])
        if self._heard_at is None:
            return StreamVerdict(StreamState.WAITING)
        if not self._presenting:
            return StreamVerdict(StreamState.NOT_SHARING)
        if self._last_frame_at is None or now - self._last_frame_at > IDLE_AFTER:
            return StreamVerdict(StreamState.IDLE)
        return StreamVerdict(StreamState.FLOWING)
