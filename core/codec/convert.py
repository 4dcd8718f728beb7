"""Pixel-layout helpers for what capture back-ends hand us."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def bgra_to_rgb(
    data: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
    width: int | None = None,
    height: int | None = None,
    *,
    copy: bool = False,
) -> npt.NDArray[np.uint8]:
    """``H × W × 3`` RGB from BGRA/BGRX pixels (what ``mss`` returns as ``shot.raw``).

    ``data`` is either an ``H × W × 4`` uint8 array or raw bytes with ``width`` and ``height``.
    Without ``copy`` the result is a strided *view* (no pixel is touched): the encoder copies it
    into its own frame buffer anyway, which is where the channel swap is paid once. With
    ``copy=True`` it is a new C-contiguous array.
    """
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] != 4:
            raise ValueError(f"expected an H x W x 4 uint8 array, got {data.dtype} {data.shape}")
        pixels = data
    else:
        if width is None or height is None or width < 1 or height < 1:
            raise ValueError("raw BGRA bytes need a positive width and height")
        flat = np.frombuffer(data, dtype=np.uint8)
        if flat.size != width * height * 4:
            raise ValueError(f"{flat.size} bytes are not {width}x{height} BGRA pixels")
        pixels = flat.reshape(height, width, 4)
    rgb = pixels[..., 2::-1]
    return np.ascontiguousarray(rgb) if copy else rgb


__all__ = ["bgra_to_rgb"]
