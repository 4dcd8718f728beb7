"""Hypothesis on the screen codec: random screens and random edits round-trip (exactly where the
encoder chose lossless, within a PSNR bound where it chose JPEG), and corrupt updates raise
:class:`CodecError` and nothing else, leaving the decoder waiting for a keyframe."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from core.codec import CodecError, Decoder, EncodedUpdate, Encoder, OpKind, Reason
from core.codec.encoder import MIN_MOVE_PIXELS
from core.codec.format import Move, Picture, Raw, Rect, parse_update, write_update

Frame = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FONT = ImageFont.load_default(size=11)
KINDS = ("fill", "copy", "scroll", "noise", "photo", "text", "none")

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Edit:
    kind: str
    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    seed: int


@dataclass(frozen=True)
class Script:
    width: int
    height: int
    tile: int
    base: str
    seed: int
    edits: tuple[Edit, ...]


def smooth_patch(h: int, w: int, rng: np.random.Generator) -> Frame:
    """A photograph-like patch: a smooth random field plus a little noise."""
    coarse = rng.uniform(30, 225, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        up = Image.fromarray(coarse[..., c]).resize(
            (coarse.shape[1] * 8, coarse.shape[0] * 8), Image.Resampling.BICUBIC
        )
        img[..., c] = np.asarray(up, dtype=np.float32)[:h, :w]
    img += rng.normal(0, 1.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_text(frame: Frame, x: int, y: int, w: int, h: int, rng: np.random.Generator) -> None:
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 256, 3))
    image = Image.new("RGB", (w, h), bg)
    words = ["tile", "relay", "epoch", "=>", "def", "0x1f", "OK"]
    text = " ".join(words[int(i)] for i in rng.integers(0, len(words), 6))
    ImageDraw.Draw(image).text((1, 0), text, font=FONT, fill=fg)
    frame[y : y + h, x : x + w] = np.asarray(image)


def base_frame(script: Script) -> Frame:
    rng = np.random.default_rng(script.seed)
    h, w = script.height, script.width
    frame = np.empty((h, w, 3), np.uint8)
    if script.base == "solid":
        frame[:] = rng.integers(0, 256, 3, dtype=np.uint8)
    elif script.base == "blocks":  # few colours in random rectangles
        colours = rng.integers(0, 256, (4, 3), dtype=np.uint8)
        frame[:] = colours[0]
        for _ in range(8):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            frame[y : y + int(rng.integers(1, 40)), x : x + int(rng.integers(1, 60))] = colours[
                int(rng.integers(0, 4))
            ]
    elif script.base == "noise":
        frame[:] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif script.base == "photo":
        frame[:] = smooth_patch(h, w, rng)
    else:
        frame[:] = 20
        for y in range(0, h, 12):
            draw_text(frame, 0, y, w, min(12, h - y), rng)
    return frame


def apply_edit(frame: Frame, edit: Edit) -> Frame:
    h, w = frame.shape[:2]
    out = frame.copy()
    rng = np.random.default_rng(edit.seed)
    x, y = edit.x % w, edit.y % h
    ew, eh = min(edit.w, w - x), min(edit.h, h - y)
    if edit.kind == "fill":
        out[y : y + eh, x : x + ew] = rng.integers(0, 256, 3, dtype=np.uint8)
    elif edit.kind == "copy":  # move a rectangle by (dx, dy), clipped to the frame
        tx, ty = x + edit.dx, y + edit.dy
        sx0, sy0 = max(x, -edit.dx, 0), max(y, -edit.dy, 0)
        sx1, sy1 = min(x + ew, w - edit.dx, w), min(y + eh, h - edit.dy, h)
        if sx1 > sx0 and sy1 > sy0 and tx < w and ty < h:
            out[sy0 + edit.dy : sy1 + edit.dy, sx0 + edit.dx : sx1 + edit.dx] = frame[
                sy0:sy1, sx0:sx1
            ]
    elif edit.kind == "scroll":  # rows y..y+eh of the whole width scroll by dy; new rows filled
        dy = max(-eh + 1, min(eh - 1, edit.dy)) if eh > 1 else 0
        band = frame[y : y + eh]
        if dy > 0:
            out[y + dy : y + eh] = band[: eh - dy]
            out[y : y + dy] = rng.integers(0, 256, 3, dtype=np.uint8)
        elif dy < 0:
            out[y : y + eh + dy] = band[-dy:]
            out[y + eh + dy : y + eh] = rng.integers(0, 256, 3, dtype=np.uint8)
    elif edit.kind == "noise":
        out[y : y + eh, x : x + ew] = rng.integers(0, 256, (eh, ew, 3), dtype=np.uint8)
    elif edit.kind == "photo":
        out[y : y + eh, x : x + ew] = smooth_patch(eh, ew, rng)
    elif edit.kind == "text":
        draw_text(out, x, y, ew, eh, rng)
    return out


@st.composite
def scripts(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS, bases: tuple[str, ...] = ()) -> Script:
    width = draw(st.integers(1, 170))
    height = draw(st.integers(1, 130))
    edits = draw(
        st.lists(
            st.builds(
                Edit,
                kind=st.sampled_from(kinds),
                x=st.integers(0, 200),
                y=st.integers(0, 200),
                w=st.integers(1, 120),
                h=st.integers(1, 100),
                dx=st.integers(-40, 40),
                dy=st.integers(-40, 40),
                seed=st.integers(0, 2**16),
            ),
            min_size=1,
            max_size=6,
        )
    )
    return Script(
        width=width,
        height=height,
        tile=draw(st.sampled_from([16, 32, 64])),
        base=draw(st.sampled_from(bases or ("solid", "blocks", "noise", "photo", "text"))),
        seed=draw(st.integers(0, 2**16)),
        edits=tuple(edits),
    )


def lossy_mask_after(mask: BoolArray, update: EncodedUpdate) -> BoolArray:
    """Which pixels the viewer holds only approximately, after ``update``: MOVEs carry the
    state along (reading the previous mask), JPEG/lossy WebP set it, lossless ops clear it."""
    ops = parse_update(update.data).ops
    before = mask.copy()
    out = np.zeros_like(mask) if update.keyframe else mask.copy()
    for op in ops:
        r = op.rect
        if isinstance(op, Move):
            out[r.y : r.y1, r.x : r.x1] = before[
                op.src_y : op.src_y + r.h, op.src_x : op.src_x + r.w
            ]
        else:
            out[r.y : r.y1, r.x : r.x1] = isinstance(op, Picture) and op.quality != 0
    return out


# --- round trips ---------------------------------------------------------------------------------


@FUZZ
@given(scripts())
def test_random_screens_and_edits_round_trip_exactly_when_lossless(script: Script) -> None:
    encoder = Encoder(script.width, script.height, tile=script.tile, lossless=True)
    decoder = Decoder()
    frame = base_frame(script)
    update = encoder.encode(frame)
    assert update is not None
    assert update.keyframe
    decoder.apply(update.data, keyframe=True)
    for edit in script.edits:
        previous, frame = frame, apply_edit(frame, edit)
        update = encoder.encode(frame)
        if update is None:
            assert np.array_equal(frame, previous)
            continue
        assert not update.keyframe
        assert not update.lossy
        decoder.apply(update.data, keyframe=False)
        assert decoder.frame is not None
        assert np.array_equal(decoder.frame, frame)


@FUZZ
@given(
    scripts(kinds=("copy", "scroll", "photo", "fill", "text"), bases=("photo", "text", "blocks"))
)
def test_lossy_edits_are_exact_where_lossless_and_close_where_jpeg(script: Script) -> None:
    encoder = Encoder(script.width, script.height, tile=script.tile)
    decoder = Decoder()
    frame = base_frame(script)
    lossy = np.zeros((script.height, script.width), np.bool_)
    for step, edit in enumerate((None, *script.edits)):
        if edit is not None:
            frame = apply_edit(frame, edit)
        update = encoder.encode(frame)
        if update is not None:
            decoder.apply(update.data, keyframe=update.keyframe)
            lossy = lossy_mask_after(lossy, update)
        shown = decoder.frame
        assert shown is not None
        assert np.array_equal(shown[~lossy], frame[~lossy]), f"step {step}"
        if lossy.any():
            err = shown[lossy].astype(np.float64) - frame[lossy]
            mse = float(np.mean(err**2))
            # A sanity bound: fuzzed "photos" share tiles with hard edges (the >= 40 dB
            # promise for photographic content is tested in test_codec.py and the bench).
            assert mse == 0 or 10 * np.log10(255**2 / mse) >= 30, f"step {step}"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 3), st.integers(-3, 3), st.integers(-3, 3))
@example(seed=2, lines=1, wx=1, wy=0)  # the move changes 1,021 pixels: sent as pixels
def test_scrolls_and_moves_of_text_use_moves(seed: int, lines: int, wx: int, wy: int) -> None:
    """A scrolled terminal and a moved rectangle of text are found as MOVEs, decode exactly.

    Except a move that changes fewer than MIN_MOVE_PIXELS pixels (similar text shifted a few
    pixels can): the encoder does not search for moves there, by design (the search costs more
    than such a change sends)."""
    rng = np.random.default_rng(seed)
    frame = np.full((160, 256, 3), 20, np.uint8)
    for y in range(0, 160, 16):
        draw_text(frame, 0, y, 256, 16, rng)
    encoder, decoder = Encoder(256, 160, lossless=True), Decoder()
    first = encoder.encode(frame)
    assert first is not None
    decoder.apply(first.data, keyframe=True)
    scrolled = np.full_like(frame, 20)
    scrolled[: 160 - 16 * lines] = frame[16 * lines :]
    for y in range(160 - 16 * lines, 160, 16):
        draw_text(scrolled, 0, y, 256, 16, rng)
    window = scrolled.copy()
    window[40:100, 60:180] = scrolled[40 + wy * 4 : 100 + wy * 4, 60 + wx * 4 : 180 + wx * 4]
    previous = frame
    for target in (scrolled, window):
        update = encoder.encode(target)
        changed = int(np.count_nonzero((target != previous).any(axis=2)))
        previous = target
        if update is None:
            assert target is window
            assert (wx, wy) == (0, 0)
            continue
        assert OpKind.MOVE in update.ops or changed < MIN_MOVE_PIXELS
        decoder.apply(update.data, keyframe=False)
        assert decoder.frame is not None
        assert np.array_equal(decoder.frame, target)


# --- corrupt updates -----------------------------------------------------------------------------


def _session(seed: int, photo_format: str) -> tuple[list[EncodedUpdate], list[Frame]]:
    """A keyframe and deltas with every kind of operation (moves, solid, palettes, JPEG or
    WebP, raw)."""
    rng = np.random.default_rng(seed)
    frame = np.full((96, 160, 3), 30, np.uint8)
    for y in range(0, 96, 12):
        draw_text(frame, 0, y, 160, 12, rng)
    frame[48:96, 96:160] = smooth_patch(48, 64, rng)
    encoder = Encoder(160, 96, tile=16, photo_format="webp" if photo_format == "webp" else "jpeg")
    frames = [frame]
    updates = [encoder.encode(frame)]
    for dy in (12, 24):
        nxt = frame.copy()
        nxt[: 96 - dy, :96] = frame[dy:, :96]
        draw_text(nxt, 0, 96 - dy, 96, dy, rng)
        nxt[40:56, 100:150] = rng.integers(0, 256, (16, 50, 3), dtype=np.uint8)
        nxt[64 + dy // 12 : 96, 96:128] = smooth_patch(32 - dy // 12, 32, rng)
        nxt[4:20, 128:160] = (200, 10, 10)
        frame = nxt
        frames.append(frame)
        updates.append(encoder.encode(frame))
    assert all(u is not None for u in updates)
    return [u for u in updates if u is not None], frames


SESSIONS = [_session(1, "jpeg"), _session(2, "webp")]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[int, int, bytes]:
    session = draw(st.sampled_from(range(len(SESSIONS))))
    updates, _ = SESSIONS[session]
    index = draw(st.sampled_from(range(len(updates))))
    data = bytearray(updates[index].data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "flip", "delete", "insert", "truncate", "header"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "header":
            pos = draw(st.integers(0, min(len(data), 40) - 1)) if data else 0
            op = "flip"
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos:]
    return session, index, bytes(data)


@settings(max_examples=1500, deadline=None)
@given(mutations())
def test_corrupt_updates_raise_codec_error_only_and_wait_for_a_keyframe(
    mutation: tuple[int, int, bytes],
) -> None:
    session, index, data = mutation
    updates, frames = SESSIONS[session]
    decoder = Decoder()
    for update in updates[:index]:
        decoder.apply(update.data, keyframe=update.keyframe)
    keyframe = updates[index].keyframe
    try:
        decoder.apply(data, keyframe=keyframe)
    except CodecError as exc:
        assert decoder.needs_keyframe
        assert decoder.statistics().rejected_by_reason == {exc.reason: 1}
        if index + 1 < len(updates):
            try:
                decoder.apply(updates[index + 1].data, keyframe=False)
            except CodecError as waiting:
                assert waiting.reason is Reason.NEEDS_KEYFRAME
            else:
                raise AssertionError("a delta was accepted after a refused update")
        decoder.apply(updates[0].data, keyframe=True)
        assert decoder.frame is not None
        assert decoder.frame.shape == frames[0].shape
        return
    # A mutation that still decodes is a valid update of the same frame size: fine.
    assert decoder.frame is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_raise_codec_error_only(data: bytes, keyframe: bool) -> None:
    decoder = Decoder()
    updates, _ = SESSIONS[0]
    if not keyframe:
        decoder.apply(updates[0].data, keyframe=True)
    try:
        decoder.apply(data, keyframe=keyframe)
    except CodecError:
        assert decoder.needs_keyframe


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from([0, 1, 100, 10_000, 1_000_000]))
def test_stream_sizes_that_lie_are_refused(w: int, h: int, extra: int) -> None:
    """A PALETTE/RAW stream that inflates to less or more than the operations need."""
    needed = 3 * w * h
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = bytes(max(0, needed - 1 + extra))
    stream = z.compress(payload) + z.flush(zlib.Z_SYNC_FLUSH)
    data = write_update(
        keyframe=True, width=w, height=h, ops=[Raw(Rect(0, 0, w, h))], stream=stream
    )
    decoder = Decoder()
    try:
        decoder.apply(data, keyframe=True)
    except CodecError as exc:
        assert exc.reason in (Reason.STREAM, Reason.BOMB)
        assert len(payload) != needed
    else:
        assert len(payload) == needed
