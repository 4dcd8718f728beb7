"""The screen codec: captured frames to compact, validated updates and back (docs/design.md §6.2).

    encoder = Encoder(1280, 800)
    update = encoder.encode(rgb_frame)            # None when nothing changed
    if update is not None:
        send(FrameUpdate(..., keyframe=update.keyframe, tiles=update.data))

    decoder = Decoder()
    damaged = decoder.apply(msg.tiles, keyframe=msg.keyframe, frame_seq=msg.frame_seq)
    paint(decoder.frame, damaged)                  # CodecError -> ask for a keyframe

Modules: :mod:`~core.codec.format` (the update format, documented there),
:mod:`~core.codec.encoder`, :mod:`~core.codec.decoder`, :mod:`~core.codec.classify` (solid /
text-like / photographic), :mod:`~core.codec.motion` (scroll and move detection),
:mod:`~core.codec.convert` (BGRA capture to RGB).
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.codec.classify import TileKind as TileKind
    from core.codec.convert import bgra_to_rgb as bgra_to_rgb
    from core.codec.decoder import Decoder as Decoder
    from core.codec.decoder import DecoderStatistics as DecoderStatistics
    from core.codec.encoder import MAX_UPDATE_BYTES as MAX_UPDATE_BYTES
    from core.codec.encoder import EncodedUpdate as EncodedUpdate
    from core.codec.encoder import Encoder as Encoder
    from core.codec.encoder import EncoderStatistics as EncoderStatistics
    from core.codec.errors import CodecError as CodecError
    from core.codec.errors import Reason as Reason
    from core.codec.format import FORMAT_VERSION as FORMAT_VERSION
    from core.codec.format import OpKind as OpKind
    from core.codec.format import Rect as Rect
    from core.codec.format import peek_header as peek_header

# Imported on first use (see core/lazy.py): importing the package costs nothing.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "classify": ("TileKind",),
        "convert": ("bgra_to_rgb",),
        "decoder": (
            "Decoder",
            "DecoderStatistics",
        ),
        "encoder": (
            "MAX_UPDATE_BYTES",
            "EncodedUpdate",
            "Encoder",
            "EncoderStatistics",
        ),
        "errors": (
            "CodecError",
            "Reason",
        ),
        "format": (
            "FORMAT_VERSION",
            "OpKind",
            "Rect",
            "peek_header",
        ),
    },
)
