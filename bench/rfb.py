"""A small RFB 3.8 client (RFC 6143) for benchmarks: counts what a VNC server sends.

    python -m bench.rfb --port 5901 --encoding zrle --out updates.json   # until SIGTERM/SIGINT
    python -m bench.rfb --port 5901 --encoding tight --check             # decode one full frame,
                                                                         # compare with the screen

What it does, and nothing more: version handshake (3.8), security type None (run the server
without a password, e.g. ``x11vnc -nopw``), a *shared* ClientInit, ServerInit; SetPixelFormat to
32 bpp true colour (depth 24, little-endian, red/green/blue shifts 16/8/0); SetEncodings with
one of the lists in :data:`ENCODINGS` and nothing else (no cursor, desktop-size or LastRect
pseudo-encodings, so the server never sends them); then continuous *incremental*
FramebufferUpdateRequests for the whole screen: the next request goes out as soon as the
previous FramebufferUpdate has been read completely, like a real viewer's request loop.

Every FramebufferUpdate is parsed far enough to know its exact length on the wire, which is
what it counts (the 4-byte message header, 12 bytes per rectangle header and every byte of
rectangle data):

* Raw (0): ``w*h*4`` bytes. CopyRect (1): 4 bytes.
* ZRLE (16): a u32 length, then that many bytes of one zlib stream that lives as long as the
  connection.
* Tight (7): a compression-control byte; *fill* is one TPIXEL (3 bytes, R G B); *JPEG* is a
  compact length (1-3 bytes, 7 bits each, little end first) and the JPEG; *basic* has an
  optional filter byte (copy, palette with its colour count and TPIXELs, gradient), then the
  filtered data: sent as is when it is shorter than 12 bytes, otherwise a compact length and
  zlib data from one of four streams (the control byte's low bits reset them).
* LastRect (-224) and DesktopSize (-223) are understood though never asked for.

With ``decode=True`` the client also keeps the framebuffer (RGB, numpy) up to date: Raw,
CopyRect, ZRLE (every subencoding) and Tight (fill, JPEG through Pillow, copy/palette/gradient
filters). That is slow pure Python, meant for a correctness check (``--check``, or
``--decode`` and a comparison with the screen at exit), not for measuring.

The measuring CLI writes one JSON file at exit with every update as
``[t_first_byte, t_complete, bytes, rectangles]`` (``time.monotonic()``, which is the same
clock in every process on Linux, so a benchmark can slice the list by its own windows).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]

RAW, COPYRECT, TIGHT, ZRLE = 0, 1, 7, 16
LAST_RECT, DESKTOP_SIZE = -224, -223
#: Pseudo-encodings the client may announce: Tight compression level N is -256+N, JPEG quality
#: level N is -32+N (both 0..9).
TIGHT_COMPRESS_LEVEL = 6  # LibVNCServer's own default when a client does not say
TIGHT_QUALITY_LEVEL = 8  # TigerVNC's default; turns JPEG on for photo-like rectangles

ENCODINGS: dict[str, tuple[int, ...]] = {
    "zrle": (ZRLE,),
    "zrle+copyrect": (ZRLE, COPYRECT),
    "tight": (TIGHT, -256 + TIGHT_COMPRESS_LEVEL, -32 + TIGHT_QUALITY_LEVEL),
    "tight+copyrect": (TIGHT, COPYRECT, -256 + TIGHT_COMPRESS_LEVEL, -32 + TIGHT_QUALITY_LEVEL),
    #: No quality level: no JPEG, so the copy/palette/gradient filters are all there is.
    "tight-lossless": (TIGHT, -256 + TIGHT_COMPRESS_LEVEL),
    "raw": (RAW,),
}
ENCODING_NAMES = {RAW: "raw", COPYRECT: "copyrect", TIGHT: "tight", ZRLE: "zrle"}

#: 32 bpp, depth 24, little-endian, true colour, max 255 each, shifts R16 G8 B0 (BGRX bytes).
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
BYTES_PER_PIXEL = 4
ZRLE_TILE = 64
TIGHT_MIN_TO_COMPRESS = 12


class RFBError(Exception):
    """The server refused us, or sent something this client does not understand."""


class Reader:
    """Buffered exact reads from a socket, counting every byte consumed."""

    def __init__(self, sock: socket.socket, chunk: int = 1 << 18) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._pos = 0
        self._chunk = chunk
        self.consumed = 0

    def _fill(self, need: int) -> None:
        while len(self._buf) - self._pos < need:
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            data = self._sock.recv(max(self._chunk, need - len(self._buf)))
            if not data:
                raise EOFError("the server closed the connection")
            self._buf += data

    def wait_readable(self) -> None:
        """Block until at least one byte is buffered (the start of the next message)."""
        self._fill(1)

    def read(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        self.consumed += n
        return out

    def skip(self, n: int) -> None:
        """Pass over ``n`` bytes without keeping them (large bodies never get copied)."""
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
        else:
            n_left = n - have
            self._buf.clear()
            self._pos = 0
            while n_left:
                data = self._sock.recv(min(self._chunk, n_left) if n_left > 0 else self._chunk)
                if not data:
                    raise EOFError("the server closed the connection")
                n_left -= len(data)
        self.consumed += n

    def u8(self) -> int:
        return self.read(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.read(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.read(4), "big")

    def compact_length(self) -> int:
        """Tight's 1-3 byte length: 7 bits per byte, least significant first."""
        b = self.u8()
        value = b & 0x7F
        if b & 0x80:
            b = self.u8()
            value |= (b & 0x7F) << 7
            if b & 0x80:
                value |= self.u8() << 14
        return value


@dataclass
class Update:
    """One FramebufferUpdate as it arrived."""

    t_first: float  # monotonic time its first byte was available
    t_done: float  # monotonic time it was read completely
    nbytes: int
    rects: int
    encodings: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class ServerInfo:
    width: int
    height: int
    name: str
    version: str


class RFBClient:
    """One connection to an RFB server; see the module docstring."""

    def __init__(self, sock: socket.socket, *, decode: bool = False) -> None:
        self.sock = sock
        self.reader = Reader(sock)
        self.decode = decode
        self.info: ServerInfo | None = None
        self.frame: RGB | None = None
        self._zrle: zlib._Decompress = zlib.decompressobj()
        self._tight: list[zlib._Decompress] = [zlib.decompressobj() for _ in range(4)]
        self.other_messages: Counter[str] = Counter()

    @classmethod
    def connect(
        cls, host: str, port: int, *, decode: bool = False, timeout: float = 10.0
    ) -> RFBClient:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=timeout)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock, decode=decode)
        client.handshake()
        return client

    def close(self) -> None:
        self.sock.close()

    # -- handshake -------------------------------------------------------------------------------

    def handshake(self) -> ServerInfo:
        r = self.reader
        version = r.read(12)
        if not version.startswith(b"RFB ") or version < b"RFB 003.008":
            raise RFBError(f"server speaks {version!r}; this client needs RFB 3.8")
        self.sock.sendall(b"RFB 003.008\n")
        count = r.u8()
        if count == 0:
            raise RFBError(f"server refused: {r.read(r.u32()).decode(errors='replace')}")
        types = r.read(count)
        if 1 not in types:
            raise RFBError(f"security type None not offered ({list(types)}); run x11vnc -nopw")
        self.sock.sendall(b"\x01")
        if r.u32() != 0:
            raise RFBError(f"security failed: {r.read(r.u32()).decode(errors='replace')}")
        self.sock.sendall(b"\x01")  # ClientInit: shared
        width, height = r.u16(), r.u16()
        r.read(16)  # the server's native pixel format; we set our own next
        name = r.read(r.u32()).decode(errors="replace")
        self.info = ServerInfo(width, height, name, version.decode().strip())
        self.sock.sendall(b"\x00\x00\x00\x00" + PIXEL_FORMAT)  # SetPixelFormat
        if self.decode:
            self.frame = np.zeros((height, width, 3), np.uint8)
        return self.info

    def set_encodings(self, encodings: tuple[int, ...]) -> None:
        self.sock.sendall(
            struct.pack(">BxH", 2, len(encodings))
            + b"".join(struct.pack(">i", e) for e in encodings)
        )

    def request(self, *, incremental: bool) -> None:
        assert self.info is not None
        self.sock.sendall(
            struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.info.width, self.info.height)
        )

    # -- server messages -------------------------------------------------------------------------

    def next_update(self) -> Update:
        """Read server messages until a FramebufferUpdate has been read completely."""
        r = self.reader
        while True:
            r.wait_readable()
            t_first = time.monotonic()
            start = r.consumed
            kind = r.u8()
            if kind == 0:
                update = self._framebuffer_update(t_first)
                update.nbytes = r.consumed - start
                update.t_done = time.monotonic()
                return update
            if kind == 1:  # SetColourMapEntries (never for true colour, but legal)
                r.read(1)
                r.u16()
                r.skip(6 * r.u16())
                self.other_messages["colour-map"] += 1
            elif kind == 2:
                self.other_messages["bell"] += 1
            elif kind == 3:
                r.read(3)
                r.skip(r.u32())
                self.other_messages["cut-text"] += 1
            else:
                raise RFBError(f"unknown server message type {kind} (stream out of sync?)")

    def _framebuffer_update(self, t_first: float) -> Update:
        r = self.reader
        r.read(1)
        count = r.u16()
        update = Update(t_first=t_first, t_done=0.0, nbytes=0, rects=0)
        index = 0
        while count == 0xFFFF or index < count:
            x, y, w, h, enc = struct.unpack(">HHHHi", r.read(12))
            index += 1
            if enc == LAST_RECT:
                break
            update.encodings[enc] += 1
            if enc == DESKTOP_SIZE:
                assert self.info is not None
                self.info = ServerInfo(w, h, self.info.name, self.info.version)
                if self.decode:
                    self.frame = np.zeros((h, w, 3), np.uint8)
                continue
            update.rects += 1
            if enc == RAW:
                self._raw(x, y, w, h)
            elif enc == COPYRECT:
                sx, sy = struct.unpack(">HH", r.read(4))
                if self.frame is not None:
                    self.frame[y : y + h, x : x + w] = self.frame[sy : sy + h, sx : sx + w].copy()
            elif enc == ZRLE:
                length = r.u32()
                if self.frame is None:
                    r.skip(length)
                else:
                    self._zrle_rect(x, y, w, h, self._zrle.decompress(r.read(length)))
            elif enc == TIGHT:
                self._tight_rect(x, y, w, h)
            else:
                raise RFBError(f"rectangle encoding {enc} was not asked for")
        return update

    def _raw(self, x: int, y: int, w: int, h: int) -> None:
        n = w * h * BYTES_PER_PIXEL
        if self.frame is None:
            self.reader.skip(n)
            return
        bgrx = np.frombuffer(self.reader.read(n), np.uint8).reshape(h, w, 4)
        self.frame[y : y + h, x : x + w] = bgrx[..., 2::-1]

    # -- ZRLE (RFC 6143 §7.7.6) ------------------------------------------------------------------

    def _zrle_rect(self, x: int, y: int, w: int, h: int, data: bytes) -> None:
        assert self.frame is not None
        pos = 0
        for ty in range(y, y + h, ZRLE_TILE):
            th = min(ZRLE_TILE, y + h - ty)
            for tx in range(x, x + w, ZRLE_TILE):
                tw = min(ZRLE_TILE, x + w - tx)
                tile, pos = _zrle_tile(data, pos, tw, th)
                self.frame[ty : ty + th, tx : tx + tw] = tile
        if pos != len(data):
            raise RFBError(f"ZRLE rectangle left {len(data) - pos} bytes undecoded")

    # -- Tight -----------------------------------------------------------------------------------

    def _tight_rect(self, x: int, y: int, w: int, h: int) -> None:
        r = self.reader
        control = r.u8()
        for stream in range(4):
            if control & (1 << stream):
                self._tight[stream] = zlib.decompressobj()
        kind = control >> 4
        if kind == 0x8:  # fill
            pixel = r.read(3)
            if self.frame is not None:
                self.frame[y : y + h, x : x + w] = np.frombuffer(pixel, np.uint8)
            return
        if kind == 0x9:  # JPEG
            length = r.compact_length()
            if self.frame is None:
                r.skip(length)
                return
            from PIL import Image

            with Image.open(BytesIO(r.read(length))) as image:
                self.frame[y : y + h, x : x + w] = np.asarray(image.convert("RGB"))
            return
        if kind > 0x9:
            raise RFBError(f"Tight compression control {control:#04x} is not Tight (TightPNG?)")
        stream = kind & 0x3
        filter_id = r.u8() if kind & 0x4 else 0
        palette = b""
        if filter_id == 0 or filter_id == 2:  # copy, gradient
            size = w * h * 3
        elif filter_id == 1:  # palette
            colours = r.u8() + 1
            palette = r.read(colours * 3)
            size = ((w + 7) // 8) * h if colours == 2 else w * h
        else:
            raise RFBError(f"unknown Tight filter {filter_id}")
        if size < TIGHT_MIN_TO_COMPRESS:
            raw = r.read(size)
        else:
            length = r.compact_length()
            if self.frame is None:
                r.skip(length)
                return
            raw = self._tight[stream].decompress(r.read(length))
        if self.frame is None:
            return
        if len(raw) != size:
            raise RFBError(f"Tight data is {len(raw)} bytes, expected {size}")
        if filter_id == 0:
            pixels = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        elif filter_id == 1:
            table = np.frombuffer(palette, np.uint8).reshape(-1, 3)
            if len(table) == 2:
                bits = np.unpackbits(np.frombuffer(raw, np.uint8).reshape(h, (w + 7) // 8), axis=1)
                index = bits[:, :w]
            else:
                index = np.frombuffer(raw, np.uint8).reshape(h, w)
            pixels = table[index]
        else:
            pixels = _ungradient(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
        self.frame[y : y + h, x : x + w] = pixels


def _cpixels(data: bytes, pos: int, n: int) -> RGB:
    """``n`` ZRLE CPIXELs (3 bytes each: the low bytes of our little-endian BGRX) as RGB."""
    return np.frombuffer(data, np.uint8, n * 3, pos).reshape(n, 3)[:, ::-1]


def _run_length(data: bytes, pos: int) -> tuple[int, int]:
    length = 1
    while True:
        b = data[pos]
        pos += 1
        length += b
        if b != 255:
            return length, pos


def _zrle_tile(data: bytes, pos: int, tw: int, th: int) -> tuple[RGB, int]:
    sub = data[pos]
    pos += 1
    n = tw * th
    if sub == 0:  # raw CPIXELs
        return _cpixels(data, pos, n).reshape(th, tw, 3), pos + 3 * n
    if sub == 1:  # solid
        return np.broadcast_to(_cpixels(data, pos, 1)[0], (th, tw, 3)), pos + 3
    if 2 <= sub <= 16:  # packed palette
        palette = _cpixels(data, pos, sub)
        pos += 3 * sub
        bits = 1 if sub == 2 else 2 if sub <= 4 else 4
        row_bytes = (tw * bits + 7) // 8
        packed = np.frombuffer(data, np.uint8, row_bytes * th, pos).reshape(th, row_bytes)
        unpacked = np.unpackbits(packed, axis=1).reshape(th, row_bytes * 8 // bits, bits)
        weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint8)
        index = (unpacked * weights).sum(axis=2)[:, :tw]
        return palette[index], pos + row_bytes * th
    if sub == 128 or sub >= 130:  # plain RLE, palette RLE
        rle_palette: RGB | None = None
        if sub >= 130:
            rle_palette = _cpixels(data, pos, sub - 128)
            pos += 3 * (sub - 128)
        colours: list[int] = []
        lengths: list[int] = []
        done = 0
        while done < n:
            if rle_palette is None:
                colours.append(pos)
                pos += 3
                length, pos = _run_length(data, pos)
            else:
                index_byte = data[pos]
                pos += 1
                colours.append(index_byte & 0x7F)
                length = 1
                if index_byte & 0x80:
                    length, pos = _run_length(data, pos)
            lengths.append(length)
            done += length
        if done != n:
            raise RFBError("ZRLE run overruns its tile")
        if rle_palette is None:
            flat = np.frombuffer(data, np.uint8)
            table = np.stack([flat[p : p + 3][::-1] for p in colours])
        else:
            table = rle_palette[np.array(colours)]
        return np.repeat(table, lengths, axis=0).reshape(th, tw, 3), pos
    raise RFBError(f"ZRLE subencoding {sub} is not defined")


def _ungradient(diff: RGB) -> RGB:
    """Tight's gradient filter, undone: prediction left + up - up-left, clamped, plus diff."""
    h, w, _ = diff.shape
    out = np.zeros((h + 1, w + 1, 3), np.int32)
    d = diff.astype(np.int32)
    for yy in range(h):
        up = out[yy]
        row = out[yy + 1]
        for xx in range(w):
            pred = np.clip(row[xx] + up[xx + 1] - up[xx], 0, 255)
            row[xx + 1] = (pred + d[yy, xx]) & 0xFF
    return out[1:, 1:].astype(np.uint8)


# -- measuring and checking ----------------------------------------------------------------------


def grab_screen(display: str | None, width: int, height: int) -> RGB:
    """The screen as RGB, via mss (the same library porthole's capturer uses)."""
    import mss

    with mss.MSS() if display is None else mss.MSS(display=display) as shot:
        image = shot.grab({"left": 0, "top": 0, "width": width, "height": height})
    return np.frombuffer(image.bgra, np.uint8).reshape(height, width, 4)[..., 2::-1].copy()


def compare(a: RGB, b: RGB) -> dict[str, Any]:
    """Exactness and PSNR of two equally sized RGB pictures."""
    if a.shape != b.shape:
        return {"exact": False, "psnr_db": None, "shape": [list(a.shape), list(b.shape)]}
    diff = a.astype(np.int32) - b.astype(np.int32)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    return {
        "exact": mse == 0.0,
        "psnr_db": None if mse == 0 else 10 * float(np.log10(255.0**2 / mse)),
        "pixels_differing": int(np.count_nonzero(np.any(diff != 0, axis=2))),
    }


def check_full_frame(
    host: str, port: int, encoding: str, display: str | None = None
) -> dict[str, Any]:
    """Ask for one full (non-incremental) update, decode it and compare it with the screen.

    Call it while the screen is still. ZRLE must come out pixel-exact; Tight with JPEG is lossy
    where the server chose JPEG."""
    client = RFBClient.connect(host, port, decode=True)
    try:
        client.set_encodings(ENCODINGS[encoding])
        client.request(incremental=False)
        started = time.perf_counter()
        update = client.next_update()
        decode_s = time.perf_counter() - started
        assert client.frame is not None
        assert client.info is not None
        screen = grab_screen(display, client.info.width, client.info.height)
        return {
            "encoding": encoding,
            "bytes": update.nbytes,
            "rects": update.rects,
            "rect_encodings": {
                ENCODING_NAMES.get(k, str(k)): v for k, v in update.encodings.items()
            },
            "decode_s": decode_s,
            **compare(client.frame, screen),
        }
    finally:
        client.close()


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def measure(
    host: str, port: int, encoding: str, out: Path, *, decode: bool, display: str | None
) -> int:
    """Request incremental updates until SIGTERM/SIGINT, then write every update to ``out``."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    updates: list[Update] = []
    empty = 0
    error: str | None = None
    client: RFBClient | None = None
    started = time.monotonic()
    result: dict[str, Any] = {"encoding": encoding, "encodings_sent": list(ENCODINGS[encoding])}
    try:
        client = RFBClient.connect(host, port, decode=decode)
        client.set_encodings(ENCODINGS[encoding])
        client.request(incremental=False)
        print("connected", flush=True)
        while True:
            update = client.next_update()
            client.request(incremental=True)
            if update.rects:
                updates.append(update)
            else:
                empty += 1
    except _Stop:
        pass
    except (OSError, EOFError, RFBError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if client is not None:
        result["server"] = None if client.info is None else client.info.__dict__
        result["other_messages"] = dict(client.other_messages)
        if decode and client.frame is not None and client.info is not None and error is None:
            screen = grab_screen(display, client.info.width, client.info.height)
            result["final_frame_vs_screen"] = compare(client.frame, screen)
        client.close()
    encodings: Counter[int] = Counter()
    for u in updates:
        encodings.update(u.encodings)
    result |= {
        "started": started,
        "stopped": time.monotonic(),
        "error": error,
        "decode": decode,
        "empty_updates": empty,
        "rect_encodings": {ENCODING_NAMES.get(k, str(k)): v for k, v in encodings.items()},
        "updates": [[u.t_first, u.t_done, u.nbytes, u.rects] for u in updates],
    }
    out.write_text(json.dumps(result) + "\n")
    return 0 if error is None else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rfb",
        description="A small RFB 3.8 client that counts (and optionally decodes) updates.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--encoding", choices=sorted(ENCODINGS), default="zrle")
    parser.add_argument("--out", type=Path, help="measure until SIGTERM; write updates here")
    parser.add_argument("--decode", action="store_true", help="keep a decoded framebuffer")
    parser.add_argument(
        "--check", action="store_true", help="decode one full update and compare with the screen"
    )
    parser.add_argument("--display", help="X display for the screen comparison (default $DISPLAY)")
    args = parser.parse_args(argv)
    if args.check:
        print(json.dumps(check_full_frame(args.host, args.port, args.encoding, args.display)))
        return 0
    if args.out is None:
        parser.error("give --out FILE (measure) or --check")
    return measure(
        args.host, args.port, args.encoding, args.out, decode=args.decode, display=args.display
    )


if __name__ == "__main__":
    sys.exit(main())
