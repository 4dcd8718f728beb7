"""The screen codec: exact round trips, moves, lossy quality, keyframes, gaps and refusals."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.codec import (
    MAX_UPDATE_BYTES,
    CodecError,
    Decoder,
    EncodedUpdate,
    Encoder,
    OpKind,
    Reason,
    Rect,
    bgra_to_rgb,
    classify,
    peek_header,
)
from core.codec.classify import TileKind, analyse
from core.codec.encoder import merge_cells, merge_rects
from core.codec.format import (
    Move,
    Op,
    Palette,
    Picture,
    Raw,
    Solid,
    parse_update,
    write_update,
)
from core.codec.motion import FrameBuffer, block_rectangles
from core.codec.palette import ColourTable
from core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from core.protocol.content import ContentType, FrameUpdate, decode_content, encode_content

Frame = npt.NDArray[np.uint8]

W, H = 320, 200
FONT = ImageFont.load_default(size=13)
WORDS = [
    "porthole",
    "relay",
    "viewer",
    "keyframe",
    "tile",
    "epoch",
    "admin",
    "session",
    "def",
    "return",
    "import",
]
DESKTOP = (58, 110, 165)


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def text_lines(seed: int, count: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        f"{n:04d} " + " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), 5))
        for n in range(count)
    ]


def render_text(
    lines: list[str],
    size: tuple[int, int] = (W, H),
    *,
    bg: tuple[int, int, int] = (12, 12, 12),
    fg: tuple[int, int, int] = (0, 220, 0),
    top: int = 4,
) -> Frame:
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((4, top + row * 16), line, font=FONT, fill=fg)
    return np.array(image)


def ui_frame(size: tuple[int, int] = (W, H)) -> Frame:
    """A few-colour UI: title bar, panes, buttons, 1-pixel rules."""
    image = Image.new("RGB", size, (236, 236, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0], 22), fill=(40, 44, 52))
    draw.rectangle((0, 23, 70, size[1]), fill=(220, 224, 230))
    for i in range(5):
        draw.rectangle((80 + 45 * i, 40, 118 + 45 * i, 58), fill=(30, 120, 200), outline=(0, 0, 0))
    for y in range(70, size[1], 12):
        draw.line((80, y, size[0] - 10, y), fill=(200, 200, 200))
    return np.array(image)


def photo(w: int, h: int, seed: int) -> Frame:
    """Photograph-like: smooth shapes, mid-frequency texture and a little sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = 120 + 60 * np.sin(xx / (17 + 5 * c) + c) * np.cos(yy / (23 + 3 * c))
    coarse = rng.normal(0, 18, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    for c in range(3):
        up = Image.fromarray(coarse[..., c]).resize((coarse.shape[1] * 8, coarse.shape[0] * 8))
        img[..., c] += np.asarray(up, dtype=np.float32)[:h, :w]
    img += rng.normal(0, 1.5, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def shown(decoder: Decoder) -> Frame:
    """The decoder's picture (a function, so mypy does not carry narrowing across updates)."""
    frame = decoder.frame
    assert frame is not None
    return frame


def roundtrip(encoder: Encoder, decoder: Decoder, frame: Frame) -> EncodedUpdate | None:
    update = encoder.encode(frame)
    if update is not None:
        decoder.apply(update.data, keyframe=update.keyframe)
    return update


def kinds(update: EncodedUpdate) -> set[OpKind]:
    return {k for k, n in update.ops.items() if n}


# --- lossless content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(render_text(text_lines(1, 12)), id="terminal-text"),
        pytest.param(
            render_text(text_lines(2, 12), bg=(250, 250, 245), fg=(30, 30, 30)), id="editor"
        ),
        pytest.param(ui_frame(), id="few-colour-ui"),
        pytest.param(np.full((H, W, 3), 77, np.uint8), id="solid"),
        pytest.param(render_text(text_lines(3, 3), (37, 19)), id="smaller-than-a-tile"),
        pytest.param(ui_frame((333, 129)), id="ragged-edges"),
    ],
)
def test_lossless_content_keyframe_is_pixel_exact(frame: Frame) -> None:
    encoder, decoder = Encoder(frame.shape[1], frame.shape[0]), Decoder()
    update = roundtrip(encoder, decoder, frame)
    assert update is not None
    assert update.keyframe
    assert not update.lossy
    assert kinds(update) <= {OpKind.SOLID, OpKind.PALETTE}
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, frame)
    assert len(update.data) < frame.nbytes / 5


def test_long_chain_of_incremental_updates_stays_exact() -> None:
    encoder, decoder = Encoder(W, H), Decoder()
    lines = text_lines(4, 3)
    rng = np.random.default_rng(4)
    frame = render_text(lines, bg=(250, 250, 245), fg=(30, 30, 30))
    roundtrip(encoder, decoder, frame)
    for step in range(120):
        if step % 3 == 0:  # typing: one more character on the last line
            lines[-1] += WORDS[step % len(WORDS)][step % 3]
            if len(lines[-1]) > 36:
                lines.append("")
            frame = render_text(lines[-11:], bg=(250, 250, 245), fg=(30, 30, 30))
        else:  # UI noise: a small solid rectangle or a highlighted word
            frame = frame.copy()
            x, y = int(rng.integers(0, W - 20)), int(rng.integers(0, H - 10))
            frame[y : y + 8, x : x + 20] = rng.integers(0, 256, 3, dtype=np.uint8)
        update = roundtrip(encoder, decoder, frame)
        assert update is None or not update.keyframe
        assert decoder.frame is not None
        assert np.array_equal(decoder.frame, frame), f"step {step}"
    stats = encoder.statistics()
    assert stats.keyframes == 1
    assert stats.updates >= 100
    assert decoder.statistics().rejected == 0


def _differing_rect(a: Frame, b: Frame) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(np.any(a != b, axis=2))
    if ys.size == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0


@pytest.mark.parametrize("size", [(W, H), (333, 129)])
def test_change_hints_give_the_same_updates_as_whole_frame_compares(
    size: tuple[int, int],
) -> None:
    """An encoder told where the frame changed sends byte for byte what one that compares the
    whole frame sends: typing, scattered UI noise, scrolls, a moved photo, nothing at all."""
    w, h = size
    plain, hinted, decoder = Encoder(w, h), Encoder(w, h), Decoder()
    rng = np.random.default_rng(11)
    lines = text_lines(6, 40)
    base = render_text(lines[:12], size)
    picture = photo(96, 64, 3)
    previous = base
    frames: list[tuple[Frame, list[tuple[int, int, int, int]] | None]] = [(base, None)]
    frame = base
    for step in range(90):
        frame = frame.copy()
        kind = step % 6
        if kind == 0:  # scroll the text by a line
            frame = render_text(lines[step // 6 : step // 6 + 12], size)
        elif kind in (1, 2):  # a keystroke-sized change
            x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 14))
            frame[y : y + 14, x : x + 8] = rng.integers(0, 256, 3, dtype=np.uint8)
        elif kind == 3:  # two far-apart changes
            frame[2:6, 2:40] = (255, 0, 0)
            frame[h - 9 : h - 1, w - 30 : w - 1] = rng.integers(0, 256, 3, dtype=np.uint8)
        elif kind == 4:  # a photo dragged a little
            x, y = (step * 3) % max(1, w - 96), (step * 2) % max(1, h - 64)
            frame[y : y + 64, x : x + 96] = picture[: min(64, h - y), : min(96, w - x)]
        # kind 5: nothing changes
        rect = _differing_rect(previous, frame)
        hint: list[tuple[int, int, int, int]] | None = [] if rect is None else [rect]
        if step % 4 == 1 and rect is not None:  # looser hints (as damage often is) are fine
            hint = [(0, rect[1], w, rect[3]), (rect[0], 0, 1, 1)]
        frames.append((frame, hint))
        previous = frame
    for step, (frame, hint) in enumerate(frames):
        want = plain.encode(frame)
        got = hinted.encode(frame, changed=hint)
        assert (want is None) == (got is None), f"step {step}"
        if want is not None and got is not None:
            assert got.data == want.data, f"step {step}"
            decoder.apply(got.data, keyframe=got.keyframe)
            assert np.array_equal(shown(decoder), frame) or got.lossy, f"step {step}"
    assert hinted.statistics().updates == plain.statistics().updates > 40


def test_a_change_hint_limits_what_is_compared() -> None:
    """The promise is taken at its word: a change outside the hint is not looked at (which is
    how the hint saves work), and the next unhinted frame finds it."""
    frame = ui_frame()
    encoder = Encoder(W, H)
    encoder.encode(frame)
    changed = frame.copy()
    changed[150:152, 200:210] = (255, 0, 0)
    assert encoder.encode(changed, changed=[(0, 0, 64, 64)]) is None
    assert encoder.encode(changed, changed=[]) is None
    update = encoder.encode(changed)
    assert update is not None
    assert update.damaged == (Rect(200, 150, 10, 2),)


def test_nothing_changed_returns_none_and_costs_nothing() -> None:
    frame = ui_frame()
    encoder = Encoder(W, H)
    assert encoder.encode(frame) is not None
    for _ in range(5):
        assert encoder.encode(frame.copy()) is None
    stats = encoder.statistics()
    assert (stats.frames, stats.updates, stats.unchanged) == (6, 1, 5)


def test_one_pixel_change_sends_one_pixel() -> None:
    frame = ui_frame()
    encoder, decoder = Encoder(W, H), Decoder()
    roundtrip(encoder, decoder, frame)
    changed = frame.copy()
    changed[150, 200] = (255, 0, 0)
    update = roundtrip(encoder, decoder, changed)
    assert update is not None
    assert update.damaged == (Rect(200, 150, 1, 1),)
    assert len(update.data) < 40
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, changed)


# --- moves ----------------------------------------------------------------------------------------


def terminal(lines: list[str], size: tuple[int, int] = (640, 400)) -> Frame:
    frame = np.empty((size[1], size[0], 3), np.uint8)
    frame[:] = DESKTOP
    text = render_text(lines, (size[0] - 20, size[1] - 20))
    frame[10:-10, 10:-10] = text
    return frame


@pytest.mark.parametrize("new_lines", [1, 2, 3])
def test_vertical_scroll_is_sent_as_a_move(new_lines: int) -> None:
    lines = text_lines(5, 60)
    encoder, decoder = Encoder(640, 400), Decoder()
    first = roundtrip(encoder, decoder, terminal(lines[:23]))
    assert first is not None
    for start in range(new_lines, 4 * new_lines, new_lines):
        frame = terminal(lines[start : start + 23])
        update = roundtrip(encoder, decoder, frame)
        assert update is not None
        assert OpKind.MOVE in kinds(update)
        ops = _ops(update)
        painted = sum(op.rect.area for op in ops if not isinstance(op, Move))
        assert painted <= 2 * new_lines * 16 * 620  # only the new lines are painted
        assert len(update.data) < len(first.data) / 4
        assert decoder.frame is not None
        assert np.array_equal(decoder.frame, frame)


def _ops(update: EncodedUpdate) -> tuple[Op, ...]:
    return parse_update(update.data).ops


def desktop_with_window(
    x: int, y: int, picture: Frame, size: tuple[int, int] = (640, 400)
) -> Frame:
    frame = np.empty((size[1], size[0], 3), np.uint8)
    frame[:] = DESKTOP
    h, w = picture.shape[:2]
    frame[y - 20 : y, x : x + w] = (220, 220, 225)
    frame[y : y + h, x : x + w] = picture
    return frame


@pytest.mark.parametrize(("dx", "dy"), [(8, 0), (8, 3), (-5, 7), (0, -9)])
def test_dragged_window_is_sent_as_a_2d_move(dx: int, dy: int) -> None:
    picture = photo(280, 190, 7)
    encoder, decoder = Encoder(640, 400, lossless=True), Decoder()
    x, y = 150, 100
    first = roundtrip(encoder, decoder, desktop_with_window(x, y, picture))
    assert first is not None
    for _ in range(4):
        x, y = x + dx, y + dy
        frame = desktop_with_window(x, y, picture)
        update = roundtrip(encoder, decoder, frame)
        assert update is not None
        ops = _ops(update)
        moves = [op for op in ops if isinstance(op, Move)]
        assert moves, "no move found"
        assert {(m.rect.x - m.src_x, m.rect.y - m.src_y) for m in moves} == {(dx, dy)}
        assert sum(m.rect.area for m in moves) >= 280 * 190
        assert not any(isinstance(op, (Raw, Picture)) for op in ops), "window pixels re-sent"
        assert len(update.data) < len(first.data) / 50
        assert decoder.frame is not None
        assert np.array_equal(decoder.frame, frame)


def test_panning_video_inside_a_window_moves_and_stays_close() -> None:
    big = photo(400, 300, 9)
    encoder, decoder = Encoder(480, 320), Decoder()
    base = np.empty((320, 480, 3), np.uint8)
    base[:] = DESKTOP
    sizes = []
    for f in range(6):
        frame = base.copy()
        frame[40:240, 60:360] = big[f * 2 : f * 2 + 200, f * 4 : f * 4 + 300]
        update = roundtrip(encoder, decoder, frame)
        assert update is not None
        sizes.append(len(update.data))
        if f:
            assert OpKind.MOVE in kinds(update)
        assert decoder.frame is not None
        assert psnr(decoder.frame, frame) >= 40
    assert max(sizes[1:]) < sizes[0] / 3


def test_motion_detection_can_be_turned_off() -> None:
    lines = text_lines(6, 40)
    encoder, decoder = Encoder(640, 400, detect_motion=False), Decoder()
    roundtrip(encoder, decoder, terminal(lines[:23]))
    update = roundtrip(encoder, decoder, terminal(lines[2:25]))
    assert update is not None
    assert OpKind.MOVE not in kinds(update)
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, terminal(lines[2:25]))


# --- photographs ----------------------------------------------------------------------------------


def test_photographic_tiles_are_lossy_at_40_db_or_better() -> None:
    picture = photo(W, H, 11)
    encoder, decoder = Encoder(W, H), Decoder()
    update = roundtrip(encoder, decoder, picture)
    assert update is not None
    assert update.lossy
    assert OpKind.JPEG in kinds(update)
    assert len(update.data) < picture.nbytes / 4
    assert decoder.frame is not None
    assert psnr(decoder.frame, picture) >= 40


def test_mixed_screen_keeps_text_exact_and_photo_close() -> None:
    frame = ui_frame((384, 256))
    picture = photo(192, 128, 12)
    frame[64:192, 128:320] = picture  # tile-aligned photo: text tiles stay lossless
    encoder, decoder = Encoder(384, 256), Decoder()
    roundtrip(encoder, decoder, frame)
    shown = decoder.frame
    assert shown is not None
    assert psnr(shown[64:192, 128:320], picture) >= 40
    outside = np.ones((256, 384), np.bool_)
    outside[64:192, 128:320] = False
    assert np.array_equal(shown[outside], frame[outside])


@pytest.mark.parametrize("photo_format", ["jpeg", "webp"])
def test_photo_formats(photo_format: str) -> None:
    picture = photo(W, H, 13)
    encoder = Encoder(W, H, photo_format=photo_format, quality=92)  # type: ignore[arg-type]
    decoder = Decoder()
    update = roundtrip(encoder, decoder, picture)
    assert update is not None
    assert (OpKind.JPEG if photo_format == "jpeg" else OpKind.WEBP) in kinds(update)
    assert decoder.frame is not None
    assert psnr(decoder.frame, picture) >= 38


def test_lossless_encoder_is_exact_on_photographs() -> None:
    picture = photo(W, H, 14)
    encoder, decoder = Encoder(W, H, lossless=True), Decoder()
    update = roundtrip(encoder, decoder, picture)
    assert update is not None
    assert not update.lossy
    assert OpKind.RAW in kinds(update)
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, picture)


def test_refine_after_makes_a_still_photo_exact() -> None:
    picture = photo(W, H, 15)
    encoder, decoder = Encoder(W, H, refine_after=2), Decoder()
    assert roundtrip(encoder, decoder, picture) is not None
    assert decoder.frame is not None
    assert not np.array_equal(decoder.frame, picture)
    assert roundtrip(encoder, decoder, picture) is None  # calm for one frame
    refined = roundtrip(encoder, decoder, picture)  # calm for two: refined losslessly
    assert refined is not None
    assert not refined.keyframe
    assert not refined.lossy
    assert OpKind.WEBP in kinds(refined)
    assert np.array_equal(decoder.frame, picture)
    assert roundtrip(encoder, decoder, picture) is None  # and only once
    assert encoder.statistics().refinements > 0


# --- keyframes, late joiners, gaps ----------------------------------------------------------------


def test_force_keyframe_resends_everything_and_a_late_joiner_can_start_there() -> None:
    lines = text_lines(16, 40)
    encoder, early = Encoder(640, 400), Decoder()
    for i in range(4):
        roundtrip(encoder, early, terminal(lines[i : i + 23]))
    late = Decoder()
    delta = encoder.encode(terminal(lines[4:27]))
    assert delta is not None
    assert not delta.keyframe
    early.apply(delta.data, keyframe=False)
    with pytest.raises(CodecError) as refused:
        late.apply(delta.data, keyframe=False)
    assert refused.value.reason is Reason.NEEDS_KEYFRAME
    encoder.force_keyframe()
    key = encoder.encode(terminal(lines[4:27]))  # unchanged, but a keyframe is owed
    assert key is not None
    assert key.keyframe
    for decoder in (early, late):
        decoder.apply(key.data, keyframe=True)
    for i in range(5, 9):
        frame = terminal(lines[i : i + 23])
        update = encoder.encode(frame)
        assert update is not None
        assert not update.keyframe
        for decoder in (early, late):
            decoder.apply(update.data, keyframe=False)
            assert decoder.frame is not None
            assert np.array_equal(decoder.frame, frame)


def test_keyframe_argument_and_new_size() -> None:
    encoder, decoder = Encoder(W, H), Decoder()
    frame = ui_frame()
    roundtrip(encoder, decoder, frame)
    again = encoder.encode(frame, keyframe=True)
    assert again is not None
    assert again.keyframe
    bigger = ui_frame((W + 50, H + 30))
    update = roundtrip(encoder, decoder, bigger)
    assert update is not None
    assert update.keyframe
    assert (encoder.width, encoder.height) == (W + 50, H + 30)
    assert (update.width, update.height) == (W + 50, H + 30)
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, bigger)


def test_sequence_gap_refuses_deltas_until_a_keyframe() -> None:
    lines = text_lines(17, 40)
    encoder, decoder = Encoder(640, 400), Decoder()
    updates = []
    for i in range(6):
        update = encoder.encode(terminal(lines[i : i + 23]))
        assert update is not None
        updates.append(update)
    decoder.apply(updates[0].data, keyframe=True, frame_seq=10)
    decoder.apply(updates[1].data, keyframe=False, frame_seq=11)
    with pytest.raises(CodecError) as gap:  # 12 was dropped by the relay
        decoder.apply(updates[3].data, keyframe=False, frame_seq=13)
    assert gap.value.reason is Reason.NEEDS_KEYFRAME
    assert gap.value.code is ErrorCode.UNEXPECTED_MESSAGE
    assert decoder.needs_keyframe
    with pytest.raises(CodecError):  # even the "right" next one is refused now
        decoder.apply(updates[4].data, keyframe=False, frame_seq=14)
    encoder.force_keyframe()
    frame = terminal(lines[6:29])
    key = encoder.encode(frame)
    assert key is not None
    assert key.keyframe
    decoder.apply(key.data, keyframe=True, frame_seq=15)
    assert not decoder.statistics().needs_keyframe
    assert np.array_equal(shown(decoder), frame)
    stats = decoder.statistics()
    assert stats.gaps == 1
    assert stats.rejected == 2
    assert stats.rejected_by_reason == {Reason.NEEDS_KEYFRAME: 2}


def test_invalidate_and_sequence_wraparound() -> None:
    frame = ui_frame()
    encoder, decoder = Encoder(W, H), Decoder()
    key = encoder.encode(frame)
    assert key is not None
    decoder.apply(key.data, keyframe=True, frame_seq=2**32 - 1)
    changed = frame.copy()
    changed[5:9, 5:9] = 0
    delta = encoder.encode(changed)
    assert delta is not None
    decoder.apply(delta.data, keyframe=False, frame_seq=0)  # wraps: no gap
    decoder.invalidate()
    again = changed.copy()
    again[50:59, 5:9] = 0
    third = encoder.encode(again)
    assert third is not None
    with pytest.raises(CodecError):
        decoder.apply(third.data, keyframe=False, frame_seq=1)


def test_keyframe_flag_must_match_the_update() -> None:
    encoder, decoder = Encoder(W, H), Decoder()
    key = encoder.encode(ui_frame())
    assert key is not None
    with pytest.raises(CodecError) as bad:
        decoder.apply(key.data, keyframe=False)
    assert bad.value.reason is Reason.NEEDS_KEYFRAME  # no frame yet: any delta is refused
    decoder.apply(key.data, keyframe=True)
    with pytest.raises(CodecError) as bad:
        decoder.apply(key.data, keyframe=False)
    assert bad.value.reason is Reason.BAD_HEADER


# --- limits, protocol fit, helpers ----------------------------------------------------------------


def test_update_too_big_for_a_message_falls_back_to_lower_quality() -> None:
    rng = np.random.default_rng(18)
    noise = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    encoder, decoder = Encoder(W, H, max_update_bytes=60_000), Decoder()
    update = roundtrip(encoder, decoder, noise)
    assert update is not None
    assert len(update.data) <= 60_000
    assert encoder.statistics().oversize_retries >= 1
    strict = Encoder(W, H, lossless=True, max_update_bytes=60_000)
    with pytest.raises(LocalProtocolError) as too_big:
        strict.encode(noise)
    assert too_big.value.code is ErrorCode.OVERSIZED
    assert strict.encode(ui_frame()) is not None  # a failed encode left the encoder usable


def test_encoded_update_travels_in_a_frame_update() -> None:
    picture = photo(1280, 720, 19)
    encoder = Encoder(1280, 720)
    update = encoder.encode(picture)
    assert update is not None
    assert len(update.data) <= MAX_UPDATE_BYTES
    message = FrameUpdate(
        frame_seq=1,
        keyframe=update.keyframe,
        width=update.width,
        height=update.height,
        captured_at_us=0,
        tiles=update.data,
    )
    kind, plaintext = encode_content(message)
    received = decode_content(kind, plaintext)
    assert kind is ContentType.FRAME_UPDATE
    assert isinstance(received, FrameUpdate)
    header = peek_header(received.tiles)
    assert (header.width, header.height, header.keyframe) == (1280, 720, True)
    decoder = Decoder()
    decoder.apply(received.tiles, keyframe=received.keyframe, frame_seq=received.frame_seq)
    assert decoder.frame is not None
    assert psnr(decoder.frame, picture) >= 40
    assert "data=" not in repr(update)  # screen content never reaches a log line


def test_bgra_to_rgb() -> None:
    rgb = photo(40, 30, 20)
    bgra = np.empty((30, 40, 4), np.uint8)
    bgra[..., :3] = rgb[..., ::-1]
    bgra[..., 3] = 255
    view = bgra_to_rgb(bgra)
    assert np.array_equal(view, rgb)
    assert not view.flags.c_contiguous
    copied = bgra_to_rgb(bgra.tobytes(), 40, 30, copy=True)
    assert np.array_equal(copied, rgb)
    assert copied.flags.c_contiguous
    encoder, decoder = Encoder(40, 30, lossless=True), Decoder()
    roundtrip(encoder, decoder, view)
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, rgb)
    with pytest.raises(ValueError, match="BGRA"):
        bgra_to_rgb(b"\x00" * 10, 2, 2)
    with pytest.raises(ValueError, match="H x W x 4"):
        bgra_to_rgb(rgb)


def test_bad_frames_and_options_are_local_errors() -> None:
    encoder = Encoder(W, H)
    with pytest.raises(TypeError):
        encoder.encode(np.zeros((H, W, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        encoder.encode(np.zeros((H, W, 4), np.uint8))
    with pytest.raises(ValueError, match="tile"):
        Encoder(W, H, tile=24)
    with pytest.raises(ValueError, match="quality"):
        Encoder(W, H, quality=0)
    with pytest.raises(ValueError, match="outside"):
        Encoder(0, H)


def test_statistics_count_ops_and_bytes() -> None:
    encoder, decoder = Encoder(W, H), Decoder()
    update = roundtrip(encoder, decoder, ui_frame())
    assert update is not None
    enc, dec = encoder.statistics(), decoder.statistics()
    assert enc.bytes_out == dec.bytes_in == len(update.data)
    assert enc.ops == dec.ops == dict(update.ops)
    assert dec.keyframes == dec.updates == 1
    assert not dec.needs_keyframe


# --- building blocks ------------------------------------------------------------------------------


def test_classify() -> None:
    solid = np.full((8, 8), 0x112233, np.uint32)
    result = analyse(solid)
    assert result.kind is TileKind.SOLID
    assert result.colour == (0x33, 0x22, 0x11)
    few = np.arange(64, dtype=np.uint32).reshape(8, 8) % 5
    result = analyse(few)
    assert result.kind is TileKind.PALETTE
    assert result.colours is not None
    assert result.indices is not None
    assert np.array_equal(result.colours[result.indices], few)
    many = np.arange(300, dtype=np.uint32).reshape(15, 20)
    assert analyse(many).kind is TileKind.PHOTO


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (17, 17), (32, 32), (40, 40)])
@pytest.mark.parametrize("colours", [1, 2, 9, 256, 257])
def test_classify_small_and_large_paths_agree(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int], colours: int
) -> None:
    """Small rectangles are sorted first (solid when the sorted ends agree), larger ones checked
    for one colour first: whichever path runs, the answer is the same."""
    rng = np.random.default_rng(colours * 1000 + shape[0])
    palette = rng.integers(0, 1 << 24, colours, dtype=np.uint32)
    keys = palette[rng.integers(0, colours, shape)]
    answers = []
    for small_area in (0, 1 << 20):
        monkeypatch.setattr(classify, "SMALL_AREA", small_area)
        answers.append(analyse(keys))
    small, large = answers
    assert small.kind is large.kind
    assert small.colour == large.colour
    assert small.values == large.values
    for a, b in ((small.colours, large.colours), (small.indices, large.indices)):
        assert (a is None and b is None) or (
            a is not None and b is not None and np.array_equal(a, b)
        )
    if small.kind is TileKind.PALETTE:
        assert small.colours is not None
        assert small.indices is not None
        assert np.array_equal(small.colours[small.indices], keys)
        assert small.values == sorted(set(keys.ravel().tolist()))


def test_colour_table_keeps_slots_and_evicts_the_least_recently_used() -> None:
    table = ColourTable()
    slots, definitions = table.assign([10, 20])
    assert slots[:2] == bytes([0, 1])
    assert definitions.tolist() == [[0, 10, 0, 0], [1, 20, 0, 0]]
    slots, definitions = table.assign([20])  # known: no definition, same slot
    assert slots[:1] == bytes([1])
    assert len(definitions) == 0
    table.assign([1000 + i for i in range(254)])  # fills slots 2..255
    backup = table.copy()
    # Full: a new colour takes slot 0 (colour 10, untouched since the first call), never the
    # slot of a colour the same rectangle uses (20, in slot 1).
    slots, definitions = table.assign([5, 20])
    assert slots[:2] == bytes([0, 1])
    assert definitions.tolist() == [[0, 5, 0, 0]]
    assert table.missing([5, 10, 20]) == 1
    assert backup.missing([5, 10, 20]) == 1
    assert backup.assign([10])[0][:1] == bytes([0])


def test_rectangle_helpers() -> None:
    blocks = np.zeros((5, 6), np.bool_)
    blocks[1:4, 1:5] = True
    blocks[0, 0] = True
    blocks[4, 2:4] = True
    rects = block_rectangles(blocks)
    covered = np.zeros_like(blocks, dtype=np.int32)
    for y0, y1, x0, x1 in rects:
        covered[y0:y1, x0:x1] += 1
    assert np.array_equal(covered, blocks.astype(np.int32))
    assert (1, 4, 1, 5) in rects
    cells = {(0, 0): "a", (0, 1): "a", (1, 0): "a", (1, 1): "a", (1, 2): "b", (3, 0): "a"}
    merged = merge_cells(cells)
    assert sorted(merged) == [(0, 2, 0, 2, "a"), (1, 2, 2, 3, "b"), (3, 4, 0, 1, "a")]
    assert merge_rects([Rect(0, 0, 4, 10), Rect(0, 10, 4, 5), Rect(4, 0, 6, 15)]) == [
        Rect(0, 0, 10, 15)
    ]


def test_framebuffer_keys_are_packed_pixels() -> None:
    buf = FrameBuffer(70, 30, 64)
    buf.pixels[:30, :70] = photo(70, 30, 21)
    keys = buf.keys(0, 30, 0, 70)
    px = buf.pixels[:30, :70].astype(np.uint32)
    assert np.array_equal(keys, px[..., 0] | px[..., 1] << 8 | px[..., 2] << 16)


# --- hand-made updates that must be refused -------------------------------------------------------


def _stream(payload: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    return z.compress(payload) + z.flush(zlib.Z_SYNC_FLUSH)


def _jpeg(w: int, h: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (w, h), 128).save(out, "JPEG")
    return out.getvalue()


def _webp_rgba(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (w, h), (1, 2, 3, 100)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def _keyframe(*ops: Op, stream: bytes = b"", w: int = 32, h: int = 16) -> bytes:
    return write_update(keyframe=True, width=w, height=h, ops=list(ops), stream=stream)


FULL = Rect(0, 0, 32, 16)
GOOD = _keyframe(Solid(FULL, (1, 2, 3)))


def _bad_updates() -> Iterator[tuple[str, bytes, Reason]]:
    yield "empty", b"", Reason.TRUNCATED
    yield "version", bytes([2]) + GOOD[1:], Reason.BAD_HEADER
    yield "flags", GOOD[:1] + bytes([0x81]) + GOOD[2:], Reason.BAD_HEADER
    yield "zero width", GOOD[:2] + b"\x00\x00" + GOOD[4:], Reason.BAD_HEADER
    yield "trailing", GOOD + b"\x00", Reason.TRAILING_BYTES
    yield "truncated", GOOD[:-1], Reason.TRUNCATED
    yield "op id", GOOD[:14] + bytes([9]) + GOOD[15:], Reason.BAD_OP
    yield "op id zero", GOOD[:14] + bytes([0]) + GOOD[15:], Reason.BAD_OP
    yield "out of bounds", _keyframe(Solid(Rect(0, 0, 33, 16), (0, 0, 0))), Reason.OUT_OF_BOUNDS
    yield "empty rect", _keyframe(Solid(Rect(0, 0, 0, 16), (0, 0, 0))), Reason.BAD_SIZE
    yield "not covering", _keyframe(Solid(Rect(0, 0, 32, 15), (0, 0, 0))), Reason.BAD_SIZE
    yield "move in keyframe", _keyframe(Move(FULL, 0, 0)), Reason.BAD_OP
    yield "too many ops", GOOD[:6] + (70_000).to_bytes(4, "big") + GOOD[10:], Reason.BOMB
    yield "op count lies", GOOD[:6] + (3).to_bytes(4, "big") + GOOD[10:], Reason.TRUNCATED
    yield "overpainted", _keyframe(*[Solid(FULL, (0, 0, 0))] * 3), Reason.BOMB
    huge = write_update(keyframe=True, width=9000, height=9000, ops=[], stream=b"")
    yield "huge frame", huge, Reason.BOMB
    pixels = bytes(range(256)) * 2
    palette = Palette(FULL, 0)  # no colour defined
    yield "undefined slot", _keyframe(palette, stream=_stream(pixels)), Reason.PALETTE_INDEX
    entries = bytes([5, 1, 2, 3, 5, 4, 5, 6])
    dup = Palette(FULL, 2)
    yield "slot twice", _keyframe(dup, stream=_stream(entries + bytes(512))), Reason.BAD_OP
    yield (
        "too many entries",
        _keyframe(Palette(Rect(0, 0, 2, 2), 5), stream=_stream(bytes(24))),
        Reason.BAD_SIZE,
    )
    one = bytes([0, 9, 9, 9])
    short = _stream(one + bytes(511))
    yield "stream short", _keyframe(Palette(FULL, 1), stream=short), Reason.STREAM
    bomb = _stream(one + bytes(512 + 10_000_000))
    yield "zlib bomb", _keyframe(Palette(FULL, 1), stream=bomb), Reason.BOMB
    yield "stream garbage", _keyframe(Raw(FULL), stream=b"\xff" * 40), Reason.STREAM
    yield (
        "stream without ops",
        _keyframe(Solid(FULL, (0, 0, 0)), stream=_stream(b"x")),
        Reason.BAD_SIZE,
    )
    yield "ops without stream", _keyframe(Raw(FULL)), Reason.BAD_SIZE
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    ended = z.compress(bytes(1536)) + z.flush()
    yield "stream ended", _keyframe(Raw(FULL), stream=ended), Reason.STREAM
    jpeg = _jpeg(32, 16)
    yield (
        "jpeg size",
        _keyframe(
            Picture(OpKind.JPEG, Rect(0, 0, 32, 8), 90, jpeg), Solid(Rect(0, 8, 32, 8), (0, 0, 0))
        ),
        Reason.BAD_SIZE,
    )
    yield "jpeg garbage", _keyframe(Picture(OpKind.JPEG, FULL, 90, b"\xff\xd8junk")), Reason.IMAGE
    yield (
        "jpeg cut",
        _keyframe(Picture(OpKind.JPEG, FULL, 90, jpeg[: len(jpeg) // 2])),
        Reason.IMAGE,
    )
    yield "png as jpeg", _keyframe(Picture(OpKind.JPEG, FULL, 90, _png(32, 16))), Reason.IMAGE
    yield "grey jpeg", _keyframe(Picture(OpKind.JPEG, FULL, 90, _jpeg(32, 16, "L"))), Reason.IMAGE
    yield "rgba webp", _keyframe(Picture(OpKind.WEBP, FULL, 0, _webp_rgba(32, 16))), Reason.IMAGE
    yield "jpeg quality", _keyframe(Picture(OpKind.JPEG, FULL, 0, jpeg)), Reason.BAD_OP
    too_long = _keyframe(Picture(OpKind.JPEG, FULL, 90, jpeg))
    cut_at = 14 + 9 + 1
    yield (
        "image length",
        too_long[:cut_at] + (10**6).to_bytes(4, "big") + too_long[cut_at + 4 :],
        Reason.TRUNCATED,
    )


def _png(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"), [pytest.param(d, r, id=n) for n, d, r in _bad_updates()]
)
def test_bad_keyframes_are_refused_with_a_reason(data: bytes, reason: Reason) -> None:
    decoder = Decoder()
    with pytest.raises(CodecError) as refused:
        decoder.apply(data, keyframe=True)
    assert refused.value.reason is reason, refused.value
    assert isinstance(refused.value, RemoteProtocolError)
    assert decoder.frame is None
    assert decoder.needs_keyframe
    assert decoder.statistics().rejected_by_reason == {reason: 1}
    decoder.apply(GOOD, keyframe=True)  # and a good keyframe still works afterwards
    assert (shown(decoder) == (1, 2, 3)).all()


def _delta(*ops: Op, stream: bytes = b"") -> bytes:
    return write_update(keyframe=False, width=32, height=16, ops=list(ops), stream=stream)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(_delta(Move(Rect(0, 0, 8, 8), 25, 0)), Reason.OUT_OF_BOUNDS, id="move source"),
        pytest.param(
            _delta(Solid(Rect(0, 0, 1, 1), (0, 0, 0)), Move(Rect(0, 0, 8, 8), 0, 0)),
            Reason.BAD_OP,
            id="move after paint",
        ),
        pytest.param(
            write_update(keyframe=False, width=31, height=16, ops=[], stream=b""),
            Reason.BAD_HEADER,
            id="size change without keyframe",
        ),
        pytest.param(_delta(*[Move(FULL, 0, 0)] * 5), Reason.BOMB, id="moved too much"),
    ],
)
def test_bad_deltas_are_refused_and_leave_the_frame_alone(data: bytes, reason: Reason) -> None:
    decoder = Decoder()
    decoder.apply(GOOD, keyframe=True)
    before = decoder.frame
    assert before is not None
    before = before.copy()
    with pytest.raises(CodecError) as refused:
        decoder.apply(data, keyframe=False)
    assert refused.value.reason is reason
    assert decoder.frame is not None
    assert np.array_equal(decoder.frame, before)
    good_delta = _delta(Solid(Rect(0, 0, 2, 2), (9, 9, 9)))
    with pytest.raises(CodecError) as waiting:
        decoder.apply(good_delta, keyframe=False)
    assert waiting.value.reason is Reason.NEEDS_KEYFRAME


def test_moves_read_the_previous_frame() -> None:
    decoder = Decoder()
    stripes = write_update(
        keyframe=True,
        width=32,
        height=16,
        ops=[Solid(Rect(0, 0, 16, 16), (255, 0, 0)), Solid(Rect(16, 0, 16, 16), (0, 0, 255))],
        stream=b"",
    )
    decoder.apply(stripes, keyframe=True)
    swap = _delta(Move(Rect(0, 0, 16, 16), 16, 0), Move(Rect(16, 0, 16, 16), 0, 0))
    assert decoder.apply(swap, keyframe=False) == [Rect(0, 0, 16, 16), Rect(16, 0, 16, 16)]
    frame = decoder.frame
    assert frame is not None
    assert (frame[:, :16] == (0, 0, 255)).all()
    assert (frame[:, 16:] == (255, 0, 0)).all()
    assert not frame.flags.writeable
