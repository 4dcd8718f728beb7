"""One valid instance of every wire message and content plaintext, for round-trip tests.

Kept apart from the tests so the hypothesis mutation tests and the round-trip tests share them,
and so that adding a message type without a sample fails a test (see ``test_every_type_sampled``).
"""

from __future__ import annotations

from typing import Any

from core.errors import ErrorCode
from core.protocol.content import (
    CancelReason,
    Chat,
    ChatAck,
    ContentHeader,
    ContentType,
    Cursor,
    FileAck,
    FileAnswer,
    FileCancel,
    FileChunk,
    FileDone,
    FileOffer,
    FileStatus,
    FileVerdict,
    FrameUpdate,
    Heartbeat,
    InputEvent,
    InputKind,
    RefreshReason,
    RefreshRequest,
    ReKeyAck,
)
from core.protocol.messages import (
    ActionCode,
    ActionOutcome,
    ActionRequest,
    ActionResult,
    Admit,
    Challenge,
    Close,
    Confirm,
    ConsentAnswer,
    ConsentAsk,
    CreateSession,
    Dropped,
    Error,
    Hello,
    Join,
    Knock,
    KnockCancelled,
    Leave,
    Login,
    LoginOk,
    MemberState,
    Message,
    PairSealed,
    Ping,
    Pong,
    Reject,
    RejectReason,
    Roster,
    RosterEntry,
    Sealed,
    SessionCreated,
    SessionEnded,
    Welcome,
)
from core.protocol.pair import (
    AdmissionGrant,
    MemberCertificate,
    ReKey,
    SignedCertificate,
    Standing,
)

SID = "482913570"
HEADER = ContentHeader(
    version=1,
    content_type=ContentType.FRAME_UPDATE,
    session_id=SID,
    epoch=3,
    sender=7,
    recipient=0,
    counter=99,
)

#: Messages the relay sends or forwards to a client (after the handshake).
RELAY_MESSAGES: list[Message] = [
    Welcome(
        relay_name="relay.example", software="porthole 0.1", max_frame=1 << 20, idle_timeout_s=60
    ),
    LoginOk(username="olga"),
    SessionCreated(session_id=SID, peer_id=1),
    Knock(
        peer_id=2,
        name="Ana Müller",
        ephemeral_key=b"\x01" * 32,
        spake_message=b"A" + b"\x02" * 32,
        member_key=b"\x03" * 32,
        origin="198.51.100.7",
    ),
    Challenge(
        peer_id=2,
        ephemeral_key=b"\x04" * 32,
        spake_message=b"B" + b"\x05" * 32,
        leader_key=b"\x06" * 32,
        signature=b"\x07" * 64,
    ),
    Confirm(peer_id=2, mac=b"\x08" * 32),
    Admit(peer_id=2, sealed_grant=b"\x09" * 200),
    PairSealed(peer_id=2, sealed=b"\x0a" * 100),
    Roster(
        session_id=SID,
        members=(
            RosterEntry(peer_id=1, name="olga", is_organizer=True, state=MemberState.CONNECTED),
            RosterEntry(peer_id=2, name="Ana", is_organizer=False, state=MemberState.RECONNECTING),
        ),
        presenter=2,
        controller=None,
        has_presented=(2,),
        locked=True,
        paused=False,
        has_password=True,
    ),
    KnockCancelled(peer_id=3),
    SessionEnded(session_id=SID, code=ErrorCode.ORGANIZER_LEFT, message="The organizer left."),
    ConsentAsk(consent_id=5, action=ActionCode.PROPOSE_PRESENTER, actor=1, target=2),
    ActionResult(
        request_id=4,
        outcome=ActionOutcome.REFUSED,
        code=ErrorCode.CONTROL_HELD,
        message="Ana has control; revoke it first.",
    ),
    Sealed(header=HEADER, ciphertext=b"\xee" * 48, signature=b"\xdd" * 64),
    Dropped(count=12),
    Ping(nonce=1),
    Pong(nonce=2),
    Error(code=ErrorCode.RATE_LIMITED, message="Slow down.", in_reply_to=34),
]

#: Messages a client sends (after the handshake).
CLIENT_MESSAGES: list[Message] = [
    Login(username="olga", password="correct horse battery staple"),
    CreateSession(
        requested_id=None, has_password=False, organizer_name="olga", organizer_presents=True
    ),
    CreateSession(
        requested_id="123456789", has_password=True, organizer_name="olga", organizer_presents=False
    ),
    Join(
        session_id=SID,
        name="Ana",
        ephemeral_key=b"\x01" * 32,
        spake_message=b"A" + b"\x02" * 32,
        member_key=b"\x03" * 32,
    ),
    Challenge(
        peer_id=2,
        ephemeral_key=b"\x04" * 32,
        spake_message=b"B" + b"\x05" * 32,
        leader_key=b"\x06" * 32,
        signature=b"\x07" * 64,
    ),
    Confirm(peer_id=2, mac=b"\x08" * 32),
    Admit(peer_id=2, sealed_grant=b"\x09" * 200),
    Reject(peer_id=2, reason=RejectReason.WRONG_PASSWORD),
    PairSealed(peer_id=2, sealed=b"\x0a" * 100),
    Leave(),
    ActionRequest(request_id=4, action=ActionCode.TAKE_BACK, target=None, confirmed=True),
    ConsentAnswer(consent_id=5, granted=False),
    Sealed(header=HEADER, ciphertext=b"\xee" * 48, signature=b"\xdd" * 64),
    Ping(nonce=3),
    Pong(nonce=4),
    Error(code=ErrorCode.INTERNAL, message="oops", in_reply_to=0),
]

HELLO = Hello(protocol="porthole/1", software="porthole 0.1 test")
WELCOME = RELAY_MESSAGES[0]
CLOSE = Close(code=ErrorCode.TIMEOUT, message="idle for too long")

CERT = SignedCertificate(
    certificate=MemberCertificate(
        session_id=SID,
        peer_id=2,
        name="Ana",
        member_key=b"\x03" * 32,
        standing=Standing.PARTICIPANT,
    ),
    signature=b"\x11" * 64,
)

#: Content plaintexts and pair-channel plaintexts: every schema dataclass outside the envelope.
PLAINTEXTS: list[Any] = [
    FrameUpdate(
        frame_seq=1, keyframe=True, width=1920, height=1080, captured_at_us=123, tiles=b"t" * 10
    ),
    RefreshRequest(reason=RefreshReason.GAP),
    InputEvent(
        kind=InputKind.KEY_DOWN,
        x=10,
        y=-3,
        button=0,
        wheel_dx=0,
        wheel_dy=0,
        modifiers=2,
        key="Return",
        text="",
    ),
    Cursor(x=5, y=6, visible=True),
    Chat(text="hello\nworld\t!"),
    FileOffer(file_id=1, name="report.pdf", size=1 << 33, sha256=b"\x21" * 32),
    FileChunk(file_id=1, attempt=2, offset=0, last=True, data=b"\x00" * 64),
    FileAnswer(
        file_id=1, verdict=FileVerdict.ACCEPT, attempt=3, offset=4096, prefix_sha256=b"\x22" * 32
    ),
    FileAck(file_id=1, received=1 << 20),
    FileDone(file_id=1, status=FileStatus.MISMATCH, sha256=b"\x23" * 32),
    FileCancel(file_id=1, by_sender=False, reason=CancelReason.STALLED),
    Chat(text="numbered", seq=7),
    Heartbeat(frame_seq=120, chat_seq=3, presenting=True),
    ChatAck(seq=3),
    ReKeyAck(epoch=4),
    AdmissionGrant(
        leader_confirmation=b"\x12" * 32, epoch=1, epoch_secret=b"\x13" * 32, roster=(CERT,)
    ),
    ReKey(epoch=2, epoch_secret=b"\x14" * 32, roster=(CERT, CERT)),
    CERT,
]
