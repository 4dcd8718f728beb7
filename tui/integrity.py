"""How the programs tell people that the relay withheld or tampered with something.

One place turns the session's integrity events (docs/design.md §3.3) into a sentence for the
TUI and the console, and into a JSON event for the headless programs, so all of them say the
same thing. Nothing here carries content: peer ids, counts and sequence numbers only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.client.events import (
    ChatDelivered,
    ChatGap,
    ChatUndelivered,
    ContentRefused,
    RekeyConfirmed,
    RekeyMissing,
    StreamRestored,
    StreamWithheld,
)

IntegrityEvent = (
    StreamWithheld
    | StreamRestored
    | RekeyMissing
    | RekeyConfirmed
    | ChatGap
    | ChatUndelivered
    | ChatDelivered
    | ContentRefused
)
INTEGRITY_EVENTS = (
    StreamWithheld,
    StreamRestored,
    RekeyMissing,
    RekeyConfirmed,
    ChatGap,
    ChatUndelivered,
    ChatDelivered,
    ContentRefused,
)

_REFUSED_WORDS = {
    "bad_signature": "altered on the way",
    "open_failed": "altered on the way",
    "malformed": "mangled",
    "replayed": "replayed (sent again)",
    "wrong_session": "from another session",
    "misrouted": "misdirected",
}


def integrity_json(event: IntegrityEvent) -> tuple[str, dict[str, Any]]:
    """The headless programs' ``(event name, fields)``."""
    match event:
        case StreamWithheld(presenter=presenter, reason=reason, seconds=seconds):
            return "withheld", {
                "presenter": presenter,
                "reason": reason,
                "seconds": round(seconds, 1),
            }
        case StreamRestored(presenter=presenter):
            return "withheld_ended", {"presenter": presenter}
        case RekeyMissing(peer_id=peer, epoch=epoch):
            return "rekey_missing", {"peer": peer, "epoch": epoch}
        case RekeyConfirmed(peer_id=peer, epoch=epoch):
            return "rekey_confirmed", {"peer": peer, "epoch": epoch}
        case ChatGap(sender=sender, first=first, last=last):
            return "chat_gap", {"sender": sender, "first": first, "last": last}
        case ChatUndelivered(seq=seq, missing=missing):
            return "chat_undelivered", {"seq": seq, "missing": list(missing)}
        case ChatDelivered(seq=seq):
            return "chat_delivered", {"seq": seq}
        case ContentRefused(reason=reason, sender=sender, count=count):
            return "tampered", {"reason": reason, "sender": sender, "count": count}


def integrity_sentence(event: IntegrityEvent, name_of: Callable[[int], str]) -> tuple[str, bool]:
    """One line for a person, and whether it is a warning."""
    match event:
        case StreamWithheld(presenter=presenter, reason="silent", seconds=seconds):
            return (
                f"The relay is withholding {name_of(presenter)}'s screen: nothing has come "
                f"from them for {seconds:.0f} s, while the connection is up.",
                True,
            )
        case StreamWithheld(presenter=presenter):
            return (
                f"The relay is withholding {name_of(presenter)}'s screen: updates they sent "
                "have not arrived. The picture shown is stale.",
                True,
            )
        case StreamRestored(presenter=presenter):
            return f"{name_of(presenter)}'s screen updates arrive again.", False
        case RekeyMissing(peer_id=peer):
            return (
                f"{name_of(peer)} has not confirmed the new session keys (the relay may have "
                "dropped them); sending them again.",
                True,
            )
        case RekeyConfirmed(peer_id=peer):
            return f"{name_of(peer)} has the new session keys now.", False
        case ChatGap(sender=sender, first=first, last=last):
            lines = f"line {first}" if first == last else f"lines {first}–{last}"
            return (
                f"Chat {lines} from {name_of(sender)} never arrived: the relay withheld them.",
                True,
            )
        case ChatUndelivered(seq=seq, missing=missing):
            names = ", ".join(name_of(peer) for peer in missing)
            return f"Your chat line {seq} did not reach {names}.", True
        case ChatDelivered(seq=seq):
            return f"✓ Your chat line {seq} reached everyone.", False
        case ContentRefused(reason=reason, sender=sender, count=count):
            what = _REFUSED_WORDS.get(reason, reason.replace("_", " "))
            plural = "message" if count == 1 else "messages"
            return (
                f"Refused {count} {plural} said to be from {name_of(sender)}: {what}. "
                "Nothing of it was shown.",
                True,
            )
