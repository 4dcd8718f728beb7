"""Small change hints (a keystroke: a glyph and the cursor) take the encoder's few-tiles path;
it must send, byte for byte, what the general path and whole-frame compares send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import core.codec.encoder as encoder_module
from core.codec import Decoder, Encoder, OpKind

Frame = npt.NDArray[np.uint8]
Hint = list[tuple[int, int, int, int]] | None

W, H = 333, 201  # not whole tiles: the last row and column of tiles are partial
BACKGROUND = (30, 30, 30)
PICTURE = np.s_[128:192, 256:320]


def glyph(rng: np.random.Generator, w: int = 8, h: int = 16) -> Frame:
    """A glyph-like cell: background, a light foreground and a little antialiasing."""
    cell = np.empty((h, w, 3), np.uint8)
    cell[:] = BACKGROUND
    shape = rng.random((h, w))
    cell[shape < 0.3] = (220, 220, 220)
    cell[(shape >= 0.3) & (shape < 0.38)] = (120, 120, 120)
    return cell


def terminal(rng: np.random.Generator) -> Frame:
    frame = np.empty((H, W, 3), np.uint8)
    frame[:] = BACKGROUND
    for y in range(0, H - 16, 16):
        for x in range(0, W - 8, 8):
            if rng.random() < 0.6:
                frame[y : y + 16, x : x + 8] = glyph(rng)
    # A smooth picture: lossy tiles, so that refine_after has work to do.
    yy, xx = np.mgrid[0:64, 0:64]
    frame[PICTURE] = np.stack([4 * yy, 4 * xx, 2 * (xx + yy)], axis=2)
    return frame


def typing_session() -> Iterator[tuple[str, Frame, Hint]]:
    """A keyframe, then edits with hints of every shape the few-tiles path must get right."""
    rng = np.random.default_rng(7)
    frame = terminal(rng)
    yield "keyframe", frame.copy(), None

    def put(x: int, y: int, w: int = 8, h: int = 16) -> None:
        frame[y : y + h, x : x + w] = glyph(rng, w, h)

    put(8, 16)
    frame[16:32, 16:24] = 200  # the cursor after it
    yield "glyph and cursor in one tile", frame.copy(), [(8, 16, 8, 16), (16, 16, 8, 16)]
    put(40, 56)
    yield "glyph across a tile row", frame.copy(), [(40, 56, 8, 16)]
    put(60, 120)
    yield "glyph across a tile corner", frame.copy(), [(60, 120, 8, 16)]
    put(5, 5)
    put(70, 70)
    yield "two diagonal tiles", frame.copy(), [(5, 5, 8, 16), (70, 70, 8, 16)]
    yield "a hinted tile that did not change", frame.copy(), [(200, 10, 8, 16)]
    put(100, 30)
    yield "overlapping hints", frame.copy(), [(96, 24, 20, 30), (100, 30, 8, 16)]
    put(150, 40)
    yield "a hint larger than the change", frame.copy(), [(130, 0, 150, 100)]
    put(W - 5, H - 10, 5, 10)
    yield "partial edge tiles", frame.copy(), [(W - 8, H - 12, 20, 20)]
    put(0, 0, 4, 4)
    yield "a hint off the frame's corner", frame.copy(), [(-10, -10, 30, 30)]
    frame[112:160, 128:192] = frame[96:144, 128:192].copy()  # lines moved down 16 pixels
    yield "text moved inside a few tiles", frame.copy(), [(128, 96, 64, 64)]
    frame[80:128, 192:256] = frame[64:112, 192:256].copy()  # the same, inside one tile
    yield "text moved inside one hinted tile of two", frame.copy(), [(192, 64, 64, 128)]
    put(200, 90)
    yield "a hint across many tiles", frame.copy(), [(0, 90, W, 16)]
    yield "an empty hint", frame.copy(), []
    for step in range(12):  # typing along a line, then calm frames for refine_after
        put(8 + 8 * step, 176, 8, 16)
        yield f"keystroke {step}", frame.copy(), [(8 + 8 * step, 176, 16, 16)]


def encode_all(options: dict[str, Any], *, hinted: bool) -> list[bytes | None]:
    encoder, decoder = Encoder(W, H, **options), Decoder()
    out: list[bytes | None] = []
    for name, frame, hint in typing_session():
        update = encoder.encode(frame, changed=hint if hinted else None)
        out.append(None if update is None else update.data)
        if update is not None:
            decoder.apply(update.data, keyframe=update.keyframe)
            assert decoder.frame is not None
            shown = decoder.frame.copy()
            shown[PICTURE] = frame[PICTURE]  # the one place that may be lossy
            assert np.array_equal(shown, frame), name
    return out


OPTIONS: list[dict[str, Any]] = [
    {},
    {"refine_after": 2},
    {"detect_motion": False},
    {"tile": 32},
    {"lossless": True},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_small_hints_send_the_same_bytes_as_the_general_path_and_whole_frames(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = encode_all(options, hinted=False)
    taken: list[int] = []
    few_box: Callable[..., Any] = Encoder._few_tiles_box

    def spy(self: Encoder, *args: Any) -> Any:
        box = few_box(self, *args)
        if box is not None:  # the few-tiles paths (_encode_small, _changed_in_box) take it
            taken.append(1)
        return box

    monkeypatch.setattr(Encoder, "_few_tiles_box", spy)
    small: list[int] = []
    small_path: Callable[..., Any] = Encoder._encode_glyph

    def small_spy(self: Encoder, *args: Any) -> Any:
        result = small_path(self, *args)
        if result is not False:
            small.append(1)
        return result

    monkeypatch.setattr(Encoder, "_encode_glyph", small_spy)
    few = encode_all(options, hinted=True)
    few_calls = len(taken)
    assert few_calls + len(small) >= 10  # most hints above are small enough
    if "refine_after" not in options:
        assert len(small) >= 10  # and most of those are a keystroke's worth, painted as such
    monkeypatch.setattr(encoder_module, "FEW_TILES", 0)  # every hint takes the general path
    monkeypatch.setattr(encoder_module, "GLYPH_PIXELS", 0)
    general = encode_all(options, hinted=True)
    assert len(taken) == few_calls
    names = [name for name, _, _ in typing_session()]
    for name, want, got, other in zip(names, plain, few, general, strict=True):
        assert got == want, name
        assert other == want, name
    assert sum(1 for data in few if data is not None) > 20


def test_a_move_inside_a_few_tiles_is_found_on_the_few_tiles_path() -> None:
    """The few-tiles path still looks for moves when enough pixels changed."""
    encoder = Encoder(W, H)
    moved = painted = None
    for name, frame, hint in typing_session():
        update = encoder.encode(frame, changed=hint)
        if name == "text moved inside a few tiles":
            moved = update
        if name == "text moved inside one hinted tile of two":
            painted = update
    assert moved is not None
    assert OpKind.MOVE in moved.ops
    assert painted is not None  # one changed tile is not worth a search, however many are hinted
    assert OpKind.MOVE not in painted.ops


@pytest.mark.parametrize("seed", range(40))
def test_changed_boxes_merge_only_a_small_change_into_one_box(seed: int) -> None:
    """Without ``merge`` (and for one tile) ``changed_boxes`` gives :func:`tile_boxes`' boxes;
    with it, changed pixels of a region of at most 2 x 2 tiles that fit in one tile's area
    become the one box around them, across tile borders; anything else stays per tile."""
    rng = np.random.default_rng(seed)
    t = 64
    for shape in ((t, t), (t, 2 * t), (2 * t, t), (2 * t, 2 * t), (t, 3 * t)):
        mask = np.zeros(shape, np.bool_)
        kind = seed % 4
        if kind == 1:
            mask[:] = True
        elif kind == 2:
            mask[rng.integers(shape[0]), rng.integers(shape[1])] = True
        elif kind == 3:
            y0, x0 = rng.integers(shape[0]), rng.integers(shape[1])
            mask[y0 : y0 + rng.integers(1, 40), x0 : x0 + rng.integers(1, 40)] = True
            mask[rng.integers(shape[0]), rng.integers(shape[1])] = True
        per_tile = encoder_module._box_list(encoder_module.tile_boxes(mask, t), 3, 5)
        assert encoder_module.changed_boxes(mask, t, 3, 5, merge=False) == per_tile
        merged = encoder_module.changed_boxes(mask, t, 3, 5)
        ys, xs = np.nonzero(mask)
        if not len(ys):
            assert merged == per_tile == []
            continue
        box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        small = (box[1] - box[0]) * (box[3] - box[2]) <= t * t
        if shape[0] <= 2 * t and shape[1] <= 2 * t and small:
            assert merged == [(3, 5, *box)]
        else:
            assert merged == per_tile
        if shape == (t, t):
            assert merged == per_tile


@pytest.mark.parametrize("tile", [32, 64])
def test_a_sparse_change_wider_than_a_tile_is_painted_as_the_general_path_paints_it(
    tile: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pixels at opposite corners of a 50 x 50 hint: few changed pixels (no move search),
    but a bounding box larger than a 32-pixel tile's area, so only a 64-pixel tile merges them."""
    frame = terminal(np.random.default_rng(3))

    def encode() -> list[bytes | None]:
        encoder = Encoder(W, H, tile=tile)
        encoder.encode(frame, keyframe=True)
        edited = frame.copy()
        edited[40, 40] = (255, 0, 0)
        edited[89, 89] = (0, 255, 0)
        update = encoder.encode(edited, changed=[(40, 40, 50, 50)])
        return [None if update is None else update.data]

    glyph = encode()
    monkeypatch.setattr(encoder_module, "GLYPH_PIXELS", 0)
    general = encode()
    assert glyph == general
