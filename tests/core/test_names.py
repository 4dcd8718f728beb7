"""Which display names are one name, and which are refused (core/protocol/names.py)."""

from __future__ import annotations

import pytest

from core.crypto import BadHandshake, KnockValues
from core.crypto.admission_common import check_knock
from core.protocol.names import display_name_problem, name_key, same_name


@pytest.mark.parametrize("other", ["ana", "ANA", "ＡＮＡ", " Ana ", "Ana", "\uff41na"])
def test_names_that_read_alike_are_one_name(other: str) -> None:
    assert same_name("Ana", other)


def test_folding_goes_beyond_ascii_case_and_white_space_collapses() -> None:
    assert same_name("Straße", "STRASSE")
    assert same_name("Ana  Lee", "ana lee")
    assert name_key("ﬁona") == "fiona"  # a ligature
    assert not same_name("Ana", "Anna")
    assert not same_name("Ana Lee", "AnaLee")


@pytest.mark.parametrize(
    "name",
    ["Ana\u200b", "\u200dAna", "An\u2060a", "Ana\ufeff", "Ana\u202e", "Ana\u2028", "A\ue000"],
)
def test_invisible_and_control_characters_are_refused(name: str) -> None:
    problem = display_name_problem(name)
    assert problem is not None
    assert "U+" in problem


@pytest.mark.parametrize("name", ["", "   ", "\u3000"])
def test_a_name_needs_a_visible_character(name: str) -> None:
    assert display_name_problem(name) is not None


def test_ordinary_names_pass() -> None:
    for name in ("Ana", "José María", "李小龙", "Ana-Lee O'Brien"):
        assert display_name_problem(name) is None, name


def test_the_leader_refuses_such_a_knock_as_malformed() -> None:
    """A client that skips its own check still meets the leader's (shared with the decoy)."""
    knock = KnockValues(
        peer_id=7,
        name="Ana\u200b",
        ephemeral_key=bytes(range(32)),
        spake_message=bytes(33),
        member_key=bytes(32),
    )
    with pytest.raises(BadHandshake, match="name"):
        check_knock("123456789", knock)
