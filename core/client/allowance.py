"""Who a presenter's standing policy lets take control: ``NAME`` or ``key:FINGERPRINT``.

Both are decided on what the leader certified about the asking member (its member certificate),
never on the relay's roster, whose names the relay asserts. A name matches as names are compared
for uniqueness (:mod:`core.protocol.names`): since no two members hold one name, it names one
member at a time, but whoever joins under it. ``key:`` names the holder of an identity key, which
a member proves during admission (docs/design.md §4.3 step 7); scripts that must not trust a
typed name use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto.identity import fingerprint_matches, normalize_fingerprint
from core.protocol.names import display_name_problem, same_name
from core.protocol.pair import MemberCertificate

KEY_PREFIX = "key:"


@dataclass(frozen=True, slots=True)
class ControlAllowance:
    """Exactly one of ``name`` (a display name) and ``fingerprint`` (64 hex digits) is set."""

    name: str | None = None
    fingerprint: str | None = None

    @classmethod
    def parse(cls, text: str) -> ControlAllowance:
        """From ``--allow-control-from``; raises ValueError with a sentence for bad input."""
        if text[: len(KEY_PREFIX)].lower() == KEY_PREFIX:
            wanted = normalize_fingerprint(text[len(KEY_PREFIX) :])
            if wanted is None:
                raise ValueError(
                    "key: takes the full 64-digit fingerprint that `porthole identity show` "
                    "prints (the short one in rosters is for people to compare)"
                )
            return cls(fingerprint=wanted)
        problem = display_name_problem(text)
        if problem is not None:
            raise ValueError(f"the name {text!r} {problem}")
        return cls(name=text)

    def allows(self, member: MemberCertificate | None) -> bool:
        """Whether the member with this (leader-certified) certificate may take control."""
        if member is None:
            return False
        if self.fingerprint is not None:
            return fingerprint_matches(member.identity_key, self.fingerprint)
        return self.name is not None and same_name(member.name, self.name)


__all__ = ("KEY_PREFIX", "ControlAllowance")
