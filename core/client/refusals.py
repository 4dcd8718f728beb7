"""Reporting sealed messages that were refused, without a report per message.

Sans-IO. The opener already drops and counts every message that fails a check
(:class:`~core.crypto.sealing.ContentOpener`); a relay that flips a bit in each frame would
otherwise be silent, or flood the person with one line per frame. The first refusal of a reason
is reported at once; later ones of that reason are added up and reported at most once per
:data:`REPORT_INTERVAL`. Only reasons that mean someone tampered, replayed or misdirected are
reported: an epoch already erased or a sender who just left are normal at membership changes.
"""

from __future__ import annotations

from core.client.events import ContentRefused

REPORT_INTERVAL = 1.0
#: Opener drop reasons worth telling a person about (see CONTENT_DROP_REASONS).
REPORTED_REASONS = frozenset(
    {"malformed", "wrong_session", "misrouted", "bad_signature", "replayed", "open_failed"}
)


class RefusalReporter:
    __slots__ = ("_last", "_pending")

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        #: reason → (claimed sender of the latest, count not yet reported)
        self._pending: dict[str, tuple[int, int]] = {}

    def refused(self, reason: str, sender: int, now: float) -> ContentRefused | None:
        if reason not in REPORTED_REASONS:
            return None
        _, count = self._pending.get(reason, (sender, 0))
        self._pending[reason] = (sender, count + 1)
        return self._flush(reason, now)

    def poll(self, now: float) -> list[ContentRefused]:
        return [r for reason in list(self._pending) if (r := self._flush(reason, now))]

    def _flush(self, reason: str, now: float) -> ContentRefused | None:
        last = self._last.get(reason)
        if last is not None and now - last < REPORT_INTERVAL:
            return None
        sender, count = self._pending.pop(reason)
        self._last[reason] = now
        return ContentRefused(reason, sender, count)
