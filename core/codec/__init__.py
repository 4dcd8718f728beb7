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

from core.codec.classify import TileKind
from core.codec.convert import bgra_to_rgb
from core.codec.decoder import Decoder, DecoderStatistics
from core.codec.encoder import MAX_UPDATE_BYTES, EncodedUpdate, Encoder, EncoderStatistics
from core.codec.errors import CodecError, Reason
from core.codec.format import FORMAT_VERSION, OpKind, Rect, peek_header

__all__ = [
    "FORMAT_VERSION",
    "MAX_UPDATE_BYTES",
    "CodecError",
    "Decoder",
    "DecoderStatistics",
    "EncodedUpdate",
    "Encoder",
    "EncoderStatistics",
    "OpKind",
    "Reason",
    "Rect",
    "TileKind",
    "bgra_to_rgb",
    "peek_header",
]
