"""The native viewer window (``python -m tui.viewer``) and its pipe, on a private Xvfb.

Everything here is real: the pipe codec, the Tk process started by ``open_viewer``, the X
server. What the window shows is read back with mss and compared with the frame that was
encoded; input is produced with xdotool (XTEST), exactly as a person's pointer and keys would
be, and must come back as InputEvents in *frame* coordinates only while control is held.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import mss
import numpy as np
import numpy.typing as npt
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from xvfb import Display, Geometry, parse_xwininfo
from xvfb import require_tool as _tool

from core.codec import Encoder
from core.control.mapping import KEY_NAMES
from core.protocol.content import (
    Cursor,
    FrameUpdate,
    InputEvent,
    InputKind,
    Modifier,
    RefreshReason,
)
from tui.viewer.keys import key_name, modifiers_of, typed_text
from tui.viewer.layout import Layout
from tui.viewer.link import (
    ViewerEvent,
    ViewerLink,
    WindowClosed,
    open_viewer,
)
from tui.viewer.picture import Picture
from tui.viewer.pipe import (
    MAX_MESSAGE,
    MAX_SMALL_MESSAGE,
    TO_CLIENT,
    TO_VIEWER,
    Close,
    Closed,
    CursorAt,
    Dropped,
    Input,
    Kind,
    PipeBuffer,
    PipeError,
    PipeMessage,
    Ready,
    Refresh,
    State,
    Update,
    ViewerState,
    encode_message,
)
from tui.viewer.window import BACKGROUND, CONTROL_COLOUR

E = TypeVar("E")
U8Array = npt.NDArray[np.uint8]
WAIT = 8.0
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# Sans-IO pipe codec


def _update(seq: int = 7, tiles: bytes = b"\x01\x02\x03") -> FrameUpdate:
    return FrameUpdate(
        frame_seq=seq, keyframe=True, width=64, height=32, captured_at_us=123, tiles=tiles
    )


def _input(kind: InputKind = InputKind.KEY_DOWN, key: str = "a", x: int = 0, y: int = 0) -> Input:
    return Input(
        InputEvent(
            kind=kind,
            x=x,
            y=y,
            button=0,
            wheel_dx=0,
            wheel_dy=0,
            modifiers=int(Modifier.SHIFT),
            key=key,
            text="",
        )
    )


TO_VIEWER_SAMPLES: list[PipeMessage] = [
    Update(_update()),
    CursorAt(Cursor(x=-3, y=40, visible=True)),
    State(ViewerState.PAUSED, control=True, presenter="Ana Núñez"),
    State(ViewerState.WAITING),
    Dropped(),
    Close(),
]
TO_CLIENT_SAMPLES: list[PipeMessage] = [
    _input(),
    Refresh(RefreshReason.LATE_JOIN),
    Ready(window_id=0x200007),
    Closed(),
]


def _decode_all(data: bytes, accept: frozenset[Kind], chunk: int = 0) -> list[PipeMessage]:
    buffer = PipeBuffer(accept)
    out: list[PipeMessage] = []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        buffer.feed(data[i : i + step])
        out.extend(buffer.messages())
    buffer.check_eof()
    return out


@pytest.mark.parametrize(
    ("samples", "accept"), [(TO_VIEWER_SAMPLES, TO_VIEWER), (TO_CLIENT_SAMPLES, TO_CLIENT)]
)
@pytest.mark.parametrize("chunk", [0, 1, 5])
def test_pipe_round_trip(samples: list[PipeMessage], accept: frozenset[Kind], chunk: int) -> None:
    data = b"".join(encode_message(m) for m in samples)
    assert _decode_all(data, accept, chunk) == samples


def test_pipe_update_body_is_the_content_plaintext() -> None:
    from core.protocol.content import encode_content

    update = _update(tiles=bytes(range(256)))
    data = encode_message(Update(update))
    length, kind = struct.unpack(">IB", data[:5])
    assert kind == Kind.UPDATE
    assert length == len(data) - 4
    assert data[5:] == encode_content(update)[1]


@given(
    state=st.sampled_from(ViewerState),
    control=st.booleans(),
    presenter=st.text(max_size=20).filter(lambda s: s.isprintable()),
    x=st.integers(-(2**31), 2**31 - 1),
    key=st.sampled_from(sorted(KEY_NAMES)),
)
@settings(max_examples=60, deadline=None)
def test_pipe_round_trip_any_values(
    state: ViewerState, control: bool, presenter: str, x: int, key: str
) -> None:
    state_msg = State(state, control=control, presenter=presenter)
    assert _decode_all(encode_message(state_msg), TO_VIEWER) == [state_msg]
    event = _input(InputKind.KEY_UP, key=key, x=x, y=-x - 1)
    assert _decode_all(encode_message(event), TO_CLIENT) == [event]


def test_pipe_truncated_message_waits_then_fails_at_eof() -> None:
    data = encode_message(State(ViewerState.LIVE, presenter="Ana"))
    buffer = PipeBuffer(TO_VIEWER)
    buffer.feed(data[:-1])
    assert buffer.next_message() is None
    with pytest.raises(PipeError, match="ended inside a message"):
        buffer.check_eof()


def test_pipe_truncated_body_is_refused() -> None:
    # A length that covers the kind but not the whole State body.
    body = encode_message(State(ViewerState.LIVE, presenter="Ana"))[5:-2]
    with pytest.raises(PipeError, match="invalid STATE"):
        _decode_all(struct.pack(">IB", 1 + len(body), Kind.STATE) + body, TO_VIEWER)


@pytest.mark.parametrize(
    ("kind", "limit"), [(Kind.UPDATE, MAX_MESSAGE), (Kind.STATE, MAX_SMALL_MESSAGE)]
)
def test_pipe_oversized_refused_after_the_prefix(kind: Kind, limit: int) -> None:
    buffer = PipeBuffer(TO_VIEWER)
    buffer.feed(struct.pack(">IB", limit + 1, kind))  # 5 bytes; the body never comes
    with pytest.raises(PipeError, match="limit"):
        buffer.next_message()


def test_pipe_refuses_to_send_oversized() -> None:
    huge = FrameUpdate(
        frame_seq=0, keyframe=True, width=1, height=1, captured_at_us=0, tiles=b"x" * (5 << 20)
    )
    with pytest.raises(PipeError):
        encode_message(Update(huge))


@pytest.mark.parametrize("raw", [0, 6, 15, 20, 99, 255])
def test_pipe_unknown_kind(raw: int) -> None:
    with pytest.raises(PipeError, match="unknown message kind"):
        _decode_all(struct.pack(">IB", 1, raw), TO_VIEWER | TO_CLIENT)


def test_pipe_kind_in_the_wrong_direction() -> None:
    with pytest.raises(PipeError, match="does not flow"):
        _decode_all(encode_message(_input()), TO_VIEWER)
    with pytest.raises(PipeError, match="does not flow"):
        _decode_all(encode_message(Close()), TO_CLIENT)


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">I", 0) + b"\x01",  # zero length
        struct.pack(">IB", 2, Kind.CLOSE) + b"!",  # CLOSE has no body
        struct.pack(">IB", 1 + 2 + 1 + 4, Kind.STATE) + b"\x09\x00\x00\x00",  # bad state
        struct.pack(">IB", 1 + 5, Kind.STATE) + b"\x02\x00\x00\x01\x1b",  # ESC in the name
        struct.pack(">IB", 1 + 3, Kind.STATE) + b"\x02\x02\x00",  # bool byte 2
    ],
)
def test_pipe_invalid_bodies(data: bytes) -> None:
    with pytest.raises(PipeError):
        _decode_all(data, TO_VIEWER)


def test_pipe_refuses_to_send_control_characters() -> None:
    with pytest.raises(PipeError, match="control characters"):
        encode_message(State(ViewerState.LIVE, presenter="Ana\x1b[2J"))


@given(st.binary(max_size=200), st.sampled_from([TO_VIEWER, TO_CLIENT]))
@settings(max_examples=300, deadline=None)
def test_pipe_garbage_gives_messages_or_pipe_error(data: bytes, accept: frozenset[Kind]) -> None:
    try:
        messages = _decode_all(data, accept, chunk=3)
    except PipeError as exc:
        assert str(exc)
        return
    # Whatever decoded must encode back to exactly the bytes received.
    assert b"".join(encode_message(m) for m in messages) == data


# ---------------------------------------------------------------------------------------------
# Layout and keys (pure)


def test_layout_identity_and_letterbox() -> None:
    same = Layout.fit(200, 120, 200, 120)
    assert same.identity
    assert (same.left, same.top) == (0, 0)
    wide = Layout.fit(200, 120, 400, 400)
    assert (wide.shown_w, wide.shown_h, wide.left, wide.top) == (400, 240, 0, 80)
    tall = Layout.fit(200, 120, 600, 240)
    assert (tall.shown_w, tall.shown_h, tall.left, tall.top) == (400, 240, 100, 0)
    assert not wide.contains(10, 79)
    assert wide.contains(10, 80)
    assert wide.to_frame(201, 181) == (100, 50)
    assert wide.to_frame(-50, 1000) == (0, 119)


@given(
    fw=st.integers(1, 4000),
    fh=st.integers(1, 3000),
    vw=st.integers(1, 3000),
    vh=st.integers(1, 3000),
    data=st.data(),
)
def test_layout_maps_back_to_the_same_frame_pixel(
    fw: int, fh: int, vw: int, vh: int, data: st.DataObject
) -> None:
    layout = Layout.fit(fw, fh, vw, vh)
    assert 1 <= layout.shown_w <= vw
    assert 1 <= layout.shown_h <= vh
    assert min(layout.left, layout.top) >= 0
    # Aspect kept to within a pixel of rounding.
    assert abs(layout.shown_w * fh - layout.shown_h * fw) <= max(fw, fh)
    fx = data.draw(st.integers(0, fw - 1))
    fy = data.draw(st.integers(0, fh - 1))
    if layout.shown_w >= fw and layout.shown_h >= fh:  # every frame pixel has a screen pixel
        x, y = layout.from_frame(fx, fy)
        assert layout.contains(x, y)
        assert layout.to_frame(x, y) == (fx, fy)


def test_keys_map_only_to_allow_listed_names() -> None:
    cases = {
        ("a", 0x61): "a",
        ("A", 0x41): "A",
        ("exclam", 0x21): "!",
        ("bracketleft", 0x5B): "[",
        ("Prior", 0xFF55): "Page_Up",
        ("Next", 0xFF56): "Page_Down",
        ("KP_Enter", 0xFF8D): "Return",
        ("Control_L", 0xFFE3): "ctrl_l",
        ("Super_R", 0xFFEC): "meta_r",
        ("space", 0x20): "space",
        ("F12", 0xFFC9): "F12",
    }
    for (keysym, number), expected in cases.items():
        assert key_name(keysym, number) == expected
        assert expected in KEY_NAMES
    for keysym, number in [("XF86AudioMute", 0x1008FF12), ("eacute", 0xE9), ("F13", 0xFFCA)]:
        assert key_name(keysym, number) is None
    # Characters without a key name go as text, Shift allowed, Ctrl/Alt/Super not.
    assert typed_text("é", 0) == "é"
    assert typed_text("É", 0x0001) == "É"
    assert typed_text("ζ", 0) == "ζ"
    for char, state in [
        ("é", 0x0004),
        ("é", 0x0008),
        ("é", 0x0040),
        ("a", 0),
        ("", 0),
        ("\x7f", 0),
    ]:
        assert typed_text(char, state) is None
    assert typed_text("\u200b", 0) is None  # format characters are never typed
    assert modifiers_of(0x0001 | 0x0004) == Modifier.SHIFT | Modifier.CTRL
    assert modifiers_of(0x0008 | 0x0040 | 0x0010) == Modifier.ALT | Modifier.META


@given(st.text(min_size=1, max_size=12), st.integers(0, 0x1FFFFFFF))
def test_keys_never_invent_names(keysym: str, number: int) -> None:
    name = key_name(keysym, number)
    assert name is None or name in KEY_NAMES


# ---------------------------------------------------------------------------------------------
# The picture's sync rules, with the real codec


def _pattern(width: int, height: int) -> U8Array:
    """Gradients plus a checkerboard: every pixel differs from its neighbours somewhere."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = x * 255 // max(1, width - 1)
    frame[..., 1] = y * 255 // max(1, height - 1)
    frame[..., 2] = ((x // 16 + y // 16) % 2) * 200 + 20
    return frame


def _blocks(width: int, height: int, block: int) -> U8Array:
    """Flat coloured blocks: still exact in their interiors after scaling."""
    rng = np.random.default_rng(7)
    colours = rng.integers(0, 256, (height // block + 1, width // block + 1, 3), np.uint8)
    big = colours.repeat(block, axis=0).repeat(block, axis=1)
    return np.ascontiguousarray(big[:height, :width])


@dataclass
class Stream:
    """A presenter in miniature: the real encoder, FrameUpdates with sequence numbers."""

    width: int
    height: int
    encoder: Encoder = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.encoder = Encoder(self.width, self.height, lossless=True)

    def update(self, frame: U8Array, *, keyframe: bool = False) -> FrameUpdate:
        encoded = self.encoder.encode(frame, keyframe=keyframe)
        assert encoded is not None
        message = FrameUpdate(
            frame_seq=self.seq,
            keyframe=encoded.keyframe,
            width=encoded.width,
            height=encoded.height,
            captured_at_us=int(time.time() * 1_000_000),
            tiles=encoded.data,
        )
        self.seq += 1
        return message


def test_picture_asks_for_keyframes_and_rate_limits() -> None:
    now = [100.0]
    asked: list[RefreshReason] = []
    picture = Picture(asked.append, clock=lambda: now[0])
    picture.start()
    assert asked == [RefreshReason.LATE_JOIN]

    stream = Stream(64, 64)
    first = _pattern(64, 64)
    delta_before_key = stream.update(first)  # the encoder's first update is a keyframe...
    assert picture.apply(delta_before_key)
    assert picture.size == (64, 64)
    assert np.array_equal(np.asarray(picture.render((64, 64))), first)

    second = first.copy()
    second[:8, :8] = 0
    stream.update(second)  # ...this one is lost on the way: a gap
    third = second.copy()
    third[30:40, 30:40] = 255
    now[0] += 1
    assert not picture.apply(stream.update(third))
    assert asked == [RefreshReason.LATE_JOIN, RefreshReason.GAP]
    now[0] += 0.1
    picture.dropped()  # within 0.5 s of the last request: not asked again
    assert len(asked) == 2
    now[0] += 1
    assert not picture.apply(
        FrameUpdate(frame_seq=0, keyframe=True, width=1, height=1, captured_at_us=0, tiles=b"junk")
    )
    assert asked == [RefreshReason.LATE_JOIN, RefreshReason.GAP, RefreshReason.DECODE_ERROR]
    assert picture.apply(stream.update(third, keyframe=True))
    assert np.array_equal(np.asarray(picture.render((64, 64))), third)
    dimmed = np.asarray(picture.render((64, 64), dim=True))
    assert int(dimmed.max()) < 255 * 0.35

    picture.clear()
    size_after: object = picture.size  # (mypy remembers the size asserted above)
    assert size_after is None
    assert picture.render((64, 64)) is None
    assert not picture.apply(stream.update(first, keyframe=True))


# ---------------------------------------------------------------------------------------------
# The real window on the private display


async def _x(tool: str, *args: str, check: bool = True) -> str:
    result = await trio.run_process(
        [_tool(tool), *args], capture_stdout=True, capture_stderr=True, check=False
    )
    if check:
        assert result.returncode == 0, f"{tool} {args}: {result.stderr.decode()}"
    return result.stdout.decode() if result.returncode == 0 else ""


async def _geometry(window_id: int) -> Geometry | None:
    """The window's on-screen rectangle, or None when it no longer exists or is unmapped."""
    return parse_xwininfo(await _x("xwininfo", "-id", str(window_id), check=False))


def _grab(g: Geometry) -> U8Array:
    with mss.MSS() as sct:
        shot = sct.grab({"left": g.x, "top": g.y, "width": g.width, "height": g.height})
    return np.frombuffer(shot.rgb, np.uint8).reshape(g.height, g.width, 3)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


async def _until(probe: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll an async ``probe`` until it returns something truthy; fail with ``what``."""
    with trio.move_on_after(timeout):
        while True:
            if await probe():  # type: ignore[misc]
                return
            await trio.sleep(0.03)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Viewer:
    link: ViewerLink
    title: str
    window_id: int
    events: list[ViewerEvent]

    async def wait_event(self, match: Callable[[ViewerEvent], bool], what: str) -> ViewerEvent:
        found: list[ViewerEvent] = []

        async def probe() -> bool:
            found.extend(e for e in self.events if match(e))
            return bool(found)

        await _until(probe, what)
        return found[0]

    def inputs(self) -> list[InputEvent]:
        return [e.event for e in self.events if isinstance(e, Input)]

    async def geometry(self) -> Geometry:
        g = await _geometry(self.window_id)
        assert g is not None, "the viewer window is not on screen"
        return g

    async def wait_geometry(self, width: int, height: int) -> Geometry:
        result: list[Geometry] = []

        async def probe() -> bool:
            g = await _geometry(self.window_id)
            if g is not None and (g.width, g.height) == (width, height):
                result.append(g)
            return bool(result)

        await _until(probe, f"the window to be {width}x{height}")
        return result[0]

    async def wait_pixels(
        self, check: Callable[[U8Array], bool], what: str, geometry: Geometry | None = None
    ) -> U8Array:
        shots: list[U8Array] = []

        async def probe() -> bool:
            shot = _grab(geometry or await self.geometry())
            shots.append(shot)
            return check(shot)

        try:
            await _until(probe, what)
        finally:
            if shots and os.environ.get("PORTHOLE_TEST_SHOTS"):
                from PIL import Image

                Image.fromarray(shots[-1]).save(os.environ["PORTHOLE_TEST_SHOTS"])
        return shots[-1]


@pytest.fixture
async def viewer(display: Display) -> AsyncIterator[Viewer]:
    title = f"porthole test viewer {uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DISPLAY": display.name}
    async with open_viewer(title, env=env) as link, trio.open_nursery() as nursery:
        events: list[ViewerEvent] = []

        async def pump() -> None:
            async for event in link.events:
                events.append(event)

        nursery.start_soon(pump)
        probe = Viewer(link, title, 0, events)
        ready = await probe.wait_event(lambda e: isinstance(e, Ready), "Ready")
        assert isinstance(ready, Ready)
        yield Viewer(link, title, ready.window_id, events)
        nursery.cancel_scope.cancel()


async def test_window_asks_for_a_keyframe_and_shows_the_frame_exactly(viewer: Viewer) -> None:
    assert Refresh(RefreshReason.LATE_JOIN) in viewer.events
    frame = _pattern(240, 160)
    stream = Stream(240, 160)
    await viewer.link.set_state(ViewerState.LIVE, presenter="Ana")
    await viewer.link.send_update(stream.update(frame))
    # The window opens at the frame's own size, so every pixel must be the frame's pixel.
    g = await viewer.wait_geometry(240, 160)
    await viewer.wait_pixels(lambda shot: np.array_equal(shot, frame), "the frame", g)

    # A delta repaints: only a corner changes.
    changed = frame.copy()
    changed[100:140, 10:90] = (250, 250, 0)
    await viewer.link.send_update(stream.update(changed))
    await viewer.wait_pixels(lambda shot: np.array_equal(shot, changed), "the delta", g)
    assert viewer.link.statistics().updates_dropped == 0


async def test_presenter_cursor_is_drawn_where_it_is(viewer: Viewer) -> None:
    frame = np.full((160, 240, 3), (0, 0, 160), np.uint8)
    await viewer.link.set_state(ViewerState.LIVE)
    await viewer.link.send_update(Stream(240, 160).update(frame))
    g = await viewer.wait_geometry(240, 160)
    await viewer.wait_pixels(lambda shot: np.array_equal(shot, frame), "the frame", g)
    await viewer.link.send_cursor(Cursor(x=100, y=50, visible=True))

    def arrow_at_100_50(shot: U8Array) -> bool:
        inside = np.all(shot[58, 102] == 255)  # in the arrow's white body
        elsewhere = np.array_equal(shot[:40], frame[:40])
        return bool(inside and elsewhere)

    await viewer.wait_pixels(arrow_at_100_50, "the cursor arrow at (100, 50)", g)
    await viewer.link.send_cursor(Cursor(x=100, y=50, visible=False))
    await viewer.wait_pixels(lambda shot: np.array_equal(shot, frame), "no cursor", g)


async def test_window_scales_with_letterbox_and_maps_clicks(viewer: Viewer) -> None:
    frame = _blocks(200, 120, 20)
    await viewer.link.set_state(ViewerState.LIVE)
    await viewer.link.send_update(Stream(200, 120).update(frame))
    await viewer.wait_geometry(200, 120)
    # Resize like a window manager would: the outer window, found by its title.
    await _x("xdotool", "search", "--name", viewer.title, "windowsize", "%@", "400", "400")
    g = await viewer.wait_geometry(400, 400)
    background = np.array(_rgb(BACKGROUND), np.uint8)

    def scaled(shot: U8Array) -> bool:
        # 200x120 in 400x400: 400x240 at y=80, dark bars above and below.
        if not (np.all(shot[10:75, 10:-10] == background)):
            return False
        if not np.all(shot[325:390, 10:-10] == background):
            return False
        centres = shot[80 + 20 :: 40, 20::40][:6, :10].astype(int)  # block centres, 2x
        return bool(np.abs(centres - frame[10::20, 10::20].astype(int)).max() <= 2)

    await viewer.wait_pixels(scaled, "the frame scaled 2x with letterbox bars", g)

    await viewer.link.set_state(ViewerState.LIVE, control=True)
    amber = np.array(_rgb(CONTROL_COLOUR), np.uint8)
    await viewer.wait_pixels(
        lambda shot: bool(np.all(shot[200, 1] == amber)), "the control border", g
    )
    # Clicks on the bars are not on the picture: nothing is sent.
    await _x("xdotool", "mousemove", str(g.x + 300), str(g.y + 40), "click", "1")
    await _x("xdotool", "mousemove", str(g.x + 201), str(g.y + 181), "click", "3")
    event = await viewer.wait_event(
        lambda e: isinstance(e, Input) and e.event.kind is InputKind.BUTTON_UP,
        "a button release",
    )
    assert isinstance(event, Input)
    presses = [e for e in viewer.inputs() if e.kind is InputKind.BUTTON_DOWN]
    assert [(e.x, e.y, e.button) for e in presses] == [(100, 50, 3)]
    assert (event.event.x, event.event.y, event.event.button) == (100, 50, 3)


async def test_paused_overlay_hides_the_frame_until_resumed(viewer: Viewer) -> None:
    frame = _pattern(240, 160)
    await viewer.link.set_state(ViewerState.LIVE, presenter="Ana")
    await viewer.link.send_update(Stream(240, 160).update(frame))
    g = await viewer.wait_geometry(240, 160)
    await viewer.wait_pixels(lambda shot: np.array_equal(shot, frame), "the frame", g)

    await viewer.link.set_state(ViewerState.PAUSED, presenter="Ana")

    def paused(shot: U8Array) -> bool:
        same = np.all(shot == frame, axis=2).mean()
        band = shot[g.height // 2 - 12 : g.height // 2 + 12]
        dark_box = np.all(band == 0, axis=2).mean() > 0.3
        text = np.any(np.all(band >= 200, axis=2))
        return bool(same < 0.1 and dark_box and text)

    shot = await viewer.wait_pixels(paused, "the paused overlay", g)
    assert int(shot.max(axis=2)[:20].max()) < 255 * 0.35  # away from the text: dimmed

    await viewer.link.set_state(ViewerState.LIVE, presenter="Ana")
    await viewer.wait_pixels(lambda s: np.array_equal(s, frame), "the frame again", g)


async def test_waiting_overlay_before_the_first_frame(viewer: Viewer) -> None:
    g = await viewer.geometry()
    background = np.array(_rgb(BACKGROUND), np.uint8)

    def waiting(shot: U8Array) -> bool:
        middle = shot[g.height // 2 - 12 : g.height // 2 + 12]
        return bool(np.all(shot[:20] == background) and np.any(np.all(middle >= 200, axis=2)))

    await viewer.wait_pixels(waiting, "the waiting text on an empty window", g)


async def test_ended_closes_the_window_and_exits(viewer: Viewer) -> None:
    await viewer.link.set_state(ViewerState.LIVE)
    await viewer.link.send_update(Stream(240, 160).update(_pattern(240, 160)))
    await viewer.wait_geometry(240, 160)
    started = time.monotonic()
    await viewer.link.set_state(ViewerState.ENDED)
    closed = await viewer.wait_event(lambda e: isinstance(e, WindowClosed), "WindowClosed")
    assert closed == WindowClosed(by_user=False)
    assert time.monotonic() - started < 2.0

    async def exited() -> bool:
        return viewer.link.returncode is not None

    await _until(exited, "the viewer process to exit", timeout=2)
    assert viewer.link.returncode == 0
    assert await _geometry(viewer.window_id) is None
    assert not viewer.link.running
    assert "Traceback" not in viewer.link.stderr_tail


def _focus_follows_pointer() -> None:
    from Xlib import X, display  # type: ignore[import-untyped]

    connection = display.Display()
    try:
        connection.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
        connection.sync()
    finally:
        connection.close()


async def test_input_only_while_holding_control(viewer: Viewer) -> None:
    # 1440x900 does not fit 90% of the 1280x800 screen: shown at 0.8 scale, 1152x720.
    frame = _blocks(1440, 900, 60)
    await viewer.link.set_state(ViewerState.LIVE, control=False)
    await viewer.link.send_update(Stream(1440, 900).update(frame))
    g = await viewer.wait_geometry(1152, 720)
    # No window manager here: keys go where the X input focus is, and an earlier test on this
    # display may have left it on a window that is gone. Back to the server's default (focus
    # follows the pointer), as on a fresh display.
    _focus_follows_pointer()
    at_100_50 = (str(g.x + 80), str(g.y + 40))  # 80 / 0.8 = 100, 40 / 0.8 = 50

    await _x("xdotool", "mousemove", str(g.x + 500), str(g.y + 300))
    await _x("xdotool", "mousemove", *at_100_50, "click", "1")
    await _x("xdotool", "key", "a")
    await trio.sleep(0.5)
    assert viewer.inputs() == []

    await viewer.link.set_state(ViewerState.LIVE, control=True)
    amber = np.array(_rgb(CONTROL_COLOUR), np.uint8)
    await viewer.wait_pixels(
        lambda shot: bool(np.all(shot[g.height // 2, 1] == amber)), "the control border", g
    )
    await _x("xdotool", "mousemove", str(g.x + 500), str(g.y + 300))
    await _x("xdotool", "mousemove", *at_100_50, "click", "1")
    # eacute is on no key of the US map: xdotool binds it to a spare keycode, as a person's
    # own layout would have it; it has no key name, so it goes as TEXT.
    await _x("xdotool", "key", "a", "shift+exclam", "eacute", "ctrl+oslash", "Prior")
    await viewer.wait_event(
        lambda e: (
            isinstance(e, Input) and e.event.key == "Page_Up" and e.event.kind is InputKind.KEY_UP
        ),
        "the last key release",
    )
    events = viewer.inputs()
    moves = [(e.x, e.y) for e in events if e.kind is InputKind.POINTER_MOVE]
    assert (625, 375) in moves  # 500 / 0.8, 300 / 0.8
    buttons = [(e.kind, e.x, e.y, e.button) for e in events if e.button]
    assert buttons == [(InputKind.BUTTON_DOWN, 100, 50, 1), (InputKind.BUTTON_UP, 100, 50, 1)]
    keys = [(e.kind, e.key) for e in events if e.kind in (InputKind.KEY_DOWN, InputKind.KEY_UP)]
    down, up = InputKind.KEY_DOWN, InputKind.KEY_UP
    assert keys == [
        (down, "a"),
        (up, "a"),
        (down, "shift_l"),
        (down, "!"),  # keysym "exclam" with Shift held
        (up, "shift_l"),
        (up, "!"),  # released after Shift: still the key that went down, not "1"
        (down, "ctrl_l"),  # of ctrl+oslash; the ø itself is not sent
        (up, "ctrl_l"),
        (down, "Page_Up"),
        (up, "Page_Up"),
    ]
    bang = next(e for e in events if e.key == "!" and e.kind is down)
    assert bang.modifiers == Modifier.SHIFT
    # é as text; Ctrl+ø not at all (text carries no Ctrl, and a plain ø is not what was meant).
    assert [e.text for e in events if e.kind is InputKind.TEXT] == ["é"]

    # Control revoked: nothing is sent any more.
    await viewer.link.set_state(ViewerState.LIVE, control=False)
    await viewer.wait_pixels(
        lambda shot: not np.all(shot[g.height // 2, 1] == amber), "the border to go", g
    )
    count = len(viewer.inputs())
    await _x("xdotool", "mousemove", str(g.x + 300), str(g.y + 300), "click", "1")
    await _x("xdotool", "key", "b")
    await trio.sleep(0.5)
    assert len(viewer.inputs()) == count


async def test_gaps_and_drops_ask_for_a_refresh(viewer: Viewer) -> None:
    stream = Stream(192, 128)
    frame = _pattern(192, 128)
    await viewer.link.set_state(ViewerState.LIVE)
    await viewer.link.send_update(stream.update(frame))
    g = await viewer.wait_geometry(192, 128)
    await viewer.wait_pixels(lambda s: np.array_equal(s, frame), "the frame", g)
    await trio.sleep(0.6)  # past the refresh rate limit of the LATE_JOIN request

    lost = frame.copy()
    lost[:10] = 0
    stream.update(lost)  # never sent
    later = lost.copy()
    later[50:] = 255
    await viewer.link.send_update(stream.update(later))
    await viewer.wait_event(lambda e: e == Refresh(RefreshReason.GAP), "a GAP refresh")
    await viewer.link.send_update(stream.update(later, keyframe=True))
    await viewer.wait_pixels(lambda s: np.array_equal(s, later), "the keyframe", g)

    await trio.sleep(0.6)
    before = viewer.events.count(Refresh(RefreshReason.GAP))
    await viewer.link.notify_dropped()

    async def asked_again() -> bool:
        return viewer.events.count(Refresh(RefreshReason.GAP)) > before

    await _until(asked_again, "a refresh after the relay dropped updates")


async def test_a_slow_window_makes_the_link_drop_not_block(viewer: Viewer) -> None:
    # 1 MiB of noise per keyframe: far more than the pipe holds, so updates queue up.
    noise = np.random.default_rng(1).integers(0, 256, (512, 700, 3), np.uint8)
    update = Stream(700, 512).update(noise)
    assert len(update.tiles) > 1_000_000
    await viewer.link.set_state(ViewerState.LIVE)
    await trio.sleep(0.6)  # past the refresh rate limit of the LATE_JOIN request
    started = time.monotonic()
    for seq in range(30):
        await viewer.link.send_update(
            FrameUpdate(
                frame_seq=seq,
                keyframe=True,
                width=700,
                height=512,
                captured_at_us=0,
                tiles=update.tiles,
            )
        )
    assert time.monotonic() - started < 1.0  # the session was never held up
    stats = viewer.link.statistics()
    assert stats.updates_dropped > 0
    assert stats.updates_sent + stats.updates_dropped <= 30
    # The window learns it missed updates and asks for a keyframe.
    await viewer.wait_event(lambda e: e == Refresh(RefreshReason.GAP), "a GAP refresh")
    g = await viewer.wait_geometry(700, 512)
    await viewer.wait_pixels(lambda s: np.array_equal(s, noise), "the noise frame", g)


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def _close_like_a_window_manager(window: int) -> None:
    """Send WM_DELETE_WINDOW, as a window manager's close button does (xdotool cannot)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(_XEvent),
    ]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(None)
    assert dpy
    try:
        ev = _XEvent()
        ev.xclient.type = 33  # ClientMessage
        ev.xclient.window = window
        ev.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        ev.xclient.format = 32
        ev.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        ev.xclient.data[1] = 0  # CurrentTime
        assert x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(ev))
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


async def test_closing_the_window_reports_it_and_exits(viewer: Viewer) -> None:
    found = await _x("xdotool", "search", "--name", viewer.title)
    outer = int(found.split()[0])
    await trio.to_thread.run_sync(_close_like_a_window_manager, outer)
    closed = await viewer.wait_event(lambda e: isinstance(e, WindowClosed), "WindowClosed")
    assert closed == WindowClosed(by_user=True)

    async def exited() -> bool:
        return viewer.link.returncode is not None

    await _until(exited, "the viewer process to exit", timeout=2)
    assert viewer.link.returncode == 0
    assert await _geometry(viewer.window_id) is None


# ---------------------------------------------------------------------------------------------
# The process on its own


async def _run_viewer(display: Display, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "DISPLAY": display.name, "PYTHONPATH": str(REPO)}
    with trio.fail_after(WAIT):
        return await trio.run_process(
            [sys.executable, "-m", "tui.viewer", "--title", "porthole garbage test"],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", "unknown message kind 47"),
        (struct.pack(">IB", MAX_MESSAGE + 1, Kind.UPDATE), "the limit is"),
        (struct.pack(">IB", 1, 99), "unknown message kind 99"),
        (encode_message(_input()), "does not flow"),
        (encode_message(Close())[:3], "ended inside a message"),
    ],
)
async def test_garbage_on_stdin_exits_cleanly(display: Display, stdin: bytes, message: str) -> None:
    result = await _run_viewer(display, stdin)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "invalid data from the porthole client" in stderr
    assert message in stderr
    assert "Traceback" not in stderr
    # What it did write to stdout is well-formed pipe messages (its LATE_JOIN request).
    sent = _decode_all(result.stdout, TO_CLIENT)
    assert Refresh(RefreshReason.LATE_JOIN) in sent


async def test_eof_on_stdin_exits_quietly(display: Display) -> None:
    result = await _run_viewer(display, b"")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""


async def test_close_message_exits(display: Display) -> None:
    stdin = encode_message(State(ViewerState.LIVE)) + encode_message(Close())
    result = await _run_viewer(display, stdin)
    assert result.returncode == 0, result.stderr.decode()


def test_help_says_the_client_starts_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui.viewer", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
    )
    assert result.returncode == 0
    assert "porthole client starts it" in " ".join(result.stdout.split())
    assert "--title" in result.stdout
