"""The few X requests the presenter makes on every frame, over libxcb through ctypes.

Why not python-xlib, which the rest of :mod:`core.capture` uses: a keystroke on a shared screen
costs the presenter a damage look (two requests, one reply), now and then a pointer query, and
reading a glyph's worth of pixels. Through python-xlib each request is a few dozen Python calls
(request objects, struct packing, a ``select`` per read); profiled while typing, that was a large
share of the presenter's CPU (bench/README.md, "Measurements behind design choices"). Here a request
is one ``struct.pack`` and one ``xcb_send_request``, a reply one ``xcb_wait_for_reply``, and events
are parsed by libxcb in C. libxcb is already loaded in the process: mss reads the screen through it.

Requests are written by hand from the X protocol specification (core, DAMAGE 1.1, XFIXES 2.0),
in the client's native byte order (the byte order libxcb announces when it connects), and sent
with ``xcb_send_request`` without an extension descriptor, so the major opcode is the one
``QueryExtension`` answered and the minor opcode is the request's second byte; libxcb fills in
the length. Only what :mod:`core.capture.damage`, :mod:`core.capture.composite` (which adds
its own Composite requests the same way) and the pointer need is here.

Errors: a reply request that fails raises :class:`XRequestError`; an error for a request without
a reply arrives as an event, and :meth:`XcbConnection.poll_events` raises it there. A lost
connection (the X server went away) is a :class:`~core.capture.errors.CaptureError` saying so.
Not thread-safe by design (libxcb is, but callers keep one thread per capturer anyway).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from core.capture.errors import CaptureError

#: ``xcb_send_request`` flag: report an error for this request to ``xcb_wait_for_reply``.
_REQUEST_CHECKED = 1
#: X core request opcodes used here.
_QUERY_POINTER = 38
_GET_IMAGE = 73
_Z_PIXMAP = 2
_ALL_PLANES = 0xFFFF_FFFF
_QUERY_EXTENSION = 98
#: A reply's length field counts 4-byte units after the first 32 bytes.
_REPLY_HEADER = 32

#: How much of each event :meth:`XcbConnection.poll_events` hands over: a core-sized event
#: (a GenericEvent, type 35, says its extension in byte 1 and its event type in bytes 8..9).
EVENT_HEAD = 32
GENERIC_EVENT = 35

_U32 = struct.Struct("=I")
_GET_IMAGE_REQUEST = struct.Struct("=IhhHHI")
_REPLY_LENGTH = struct.Struct("=I")


class XRequestError(CaptureError):
    """The X server answered a request with an error."""

    def __init__(self, what: str, code: int, major: int, minor: int) -> None:
        super().__init__(f"the X server refused {what} (X error {code}, request {major}.{minor})")
        self.x_error = code  # not .code: that is the relay error code of a Failure


class _IOVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _ProtocolRequest(ctypes.Structure):
    _fields_ = (
        ("count", ctypes.c_size_t),
        ("ext", ctypes.c_void_p),
        ("opcode", ctypes.c_uint8),
        ("isvoid", ctypes.c_uint8),
    )


def _request_bytes(opcode: int, detail: int, payload: bytes) -> bytes:
    """A request as libxcb takes it: major opcode, ``detail``, room for the length (libxcb fills
    it in), the payload, padded to a multiple of 4 bytes."""
    body = bytes((opcode, detail, 0, 0)) + payload
    if len(body) % 4:
        body += bytes(4 - len(body) % 4)
    return body


class PreparedRequest:
    """One request's bytes and libxcb structures, kept for sending again and again. libxcb
    writes the length into the bytes (the same value each time), uses the two iovec entries
    before ours, and consumes ours as it writes (so :meth:`rewind` before each send); each
    prepared request has its own of all three."""

    __slots__ = (
        "_address",
        "_length",
        "_request",
        "_vector",
        "_vectors",
        "body",
        "flags",
        "request",
        "vectors",
    )

    def __init__(self, body: bytes, opcode: int, *, reply: bool, checked: bool) -> None:
        #: The request's bytes; the payload (from byte 4) may be rewritten in place.
        self.body = ctypes.create_string_buffer(body, len(body))
        self._address = ctypes.addressof(self.body)
        self._length = len(body)
        self._vectors = (_IOVec * 3)()
        self._vector = self._vectors[2]
        self._request = _ProtocolRequest(count=1, ext=None, opcode=opcode, isvoid=0 if reply else 1)
        self.flags = _REQUEST_CHECKED if reply or checked else 0
        # byref objects keep what they point to alive and can be passed again and again.
        self.vectors = ctypes.byref(self._vectors, 2 * ctypes.sizeof(_IOVec))
        self.request = ctypes.byref(self._request)

    def rewind(self) -> None:
        """Point our iovec at the whole request again."""
        vector = self._vector
        vector.iov_base = self._address
        vector.iov_len = self._length


class _VoidCookie(ctypes.Structure):
    _fields_ = (("sequence", ctypes.c_uint),)


class _ScreenIterator(ctypes.Structure):
    _fields_ = (("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int))


class _Library:
    """libxcb and libc's ``free``, with the signatures declared once."""

    def __init__(self) -> None:
        path = "libxcb.so.1"
        try:
            xcb = ctypes.CDLL(path)
        except OSError:
            found = ctypes.util.find_library("xcb")
            if found is None:
                raise CaptureError("libxcb is not installed (package libxcb1)") from None
            xcb = ctypes.CDLL(found)
        libc = ctypes.CDLL(None)
        p, u32, i = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
        self.free = libc.free
        self.free.argtypes, self.free.restype = (p,), None
        self.connect = xcb.xcb_connect
        self.connect.argtypes, self.connect.restype = (ctypes.c_char_p, ctypes.POINTER(i)), p
        self.disconnect = xcb.xcb_disconnect
        self.disconnect.argtypes, self.disconnect.restype = (p,), None
        self.has_error = xcb.xcb_connection_has_error
        self.has_error.argtypes, self.has_error.restype = (p,), i
        self.fileno = xcb.xcb_get_file_descriptor
        self.fileno.argtypes, self.fileno.restype = (p,), i
        self.generate_id = xcb.xcb_generate_id
        self.generate_id.argtypes, self.generate_id.restype = (p,), u32
        self.flush = xcb.xcb_flush
        self.flush.argtypes, self.flush.restype = (p,), i
        self.send_request = xcb.xcb_send_request
        self.send_request.argtypes = (p, i, p, ctypes.POINTER(_ProtocolRequest))
        self.send_request.restype = ctypes.c_uint
        self.wait_for_reply = xcb.xcb_wait_for_reply
        self.wait_for_reply.argtypes = (p, ctypes.c_uint, ctypes.POINTER(p))
        self.wait_for_reply.restype = p
        self.request_check = xcb.xcb_request_check
        self.request_check.argtypes, self.request_check.restype = (p, _VoidCookie), p
        self.poll_for_event = xcb.xcb_poll_for_event
        self.poll_for_event.argtypes, self.poll_for_event.restype = (p,), p
        self.poll_for_queued_event = xcb.xcb_poll_for_queued_event
        self.poll_for_queued_event.argtypes = (p,)
        self.poll_for_queued_event.restype = p
        self.get_setup = xcb.xcb_get_setup
        self.get_setup.argtypes, self.get_setup.restype = (p,), p
        self.roots = xcb.xcb_setup_roots_iterator
        self.roots.argtypes, self.roots.restype = (p,), _ScreenIterator
        self.next_screen = xcb.xcb_screen_next
        self.next_screen.argtypes = (ctypes.POINTER(_ScreenIterator),)
        self.next_screen.restype = None


_LIBRARY: _Library | None = None


def _library() -> _Library:
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = _Library()
    return _LIBRARY


@dataclass(frozen=True, slots=True)
class Extension:
    """What ``QueryExtension`` says about one extension on this server."""

    major_opcode: int
    first_event: int


class XcbConnection:
    """One libxcb connection to an X display; see the module docstring."""

    def __init__(self, display_name: str) -> None:
        self._lib = lib = _library()
        screen = ctypes.c_int(0)
        self.name = display_name
        self._c = lib.connect(display_name.encode(), ctypes.byref(screen))
        if not self._c or lib.has_error(self._c):
            if self._c:
                lib.disconnect(self._c)
            self._c = None
            raise CaptureError(f"could not connect to the X display {display_name!r} (libxcb)")
        self.root = self._root_of(screen.value)
        # One request's iovecs, reused: xcb_send_request wants two spare entries before them.
        self._vectors = (_IOVec * 3)()
        self._request = _ProtocolRequest(count=1, ext=None, opcode=0, isvoid=0)
        #: GetImage, built once and rewritten per read (see :meth:`prepare`).
        self._get_image: PreparedRequest | None = None

    def keycode_range(self) -> tuple[int, int]:
        """The server's smallest and largest keycode (from the connection setup)."""
        setup = self._lib.get_setup(self._c)
        low, high = ctypes.string_at(setup + 34, 2)  # xcb_setup_t.min_keycode, max_keycode
        return low, high

    def _root_of(self, screen: int) -> int:
        lib = self._lib
        iterator = lib.roots(lib.get_setup(self._c))
        for _ in range(screen):
            lib.next_screen(ctypes.byref(iterator))
        if not iterator.data:
            raise CaptureError(f"the X display {self.name} has no screen {screen}")
        root: int = _U32.unpack(ctypes.string_at(iterator.data, 4))[0]  # xcb_screen_t.root
        return root

    # -- requests ---------------------------------------------------------------------------

    def send(
        self, opcode: int, detail: int, payload: bytes, *, reply: bool, checked: bool = False
    ) -> int:
        """Queue one request and return its sequence number: major ``opcode``, then ``detail``
        (an extension's minor opcode, or a core request's one-byte field), the length (filled
        in by libxcb), then ``payload``. A request with a ``reply`` is answered by
        :meth:`reply`; one without is ``checked`` by :meth:`check` (its error is then not an
        event)."""
        self._check_alive()
        body = _request_bytes(opcode, detail, payload)
        buffer = ctypes.create_string_buffer(body, len(body))
        vector = self._vectors[2]
        vector.iov_base = ctypes.cast(buffer, ctypes.c_void_p)
        vector.iov_len = len(body)
        request = self._request
        request.opcode = opcode
        request.isvoid = 0 if reply else 1
        sequence: int = self._lib.send_request(
            self._c,
            _REQUEST_CHECKED if reply or checked else 0,
            ctypes.byref(self._vectors, 2 * ctypes.sizeof(_IOVec)),
            ctypes.byref(request),
        )
        if sequence == 0:
            self._check_alive()
            raise CaptureError(f"libxcb could not send a request to the X display {self.name}")
        return sequence

    def prepare(
        self, opcode: int, detail: int, payload: bytes, *, reply: bool, checked: bool = False
    ) -> PreparedRequest:
        """A request whose bytes never change (the damage look's two), built once so that
        :meth:`send_prepared` is a single ``xcb_send_request``: no buffer, cast or structure
        per call (per keystroke, each ctypes call costs the presenter microseconds)."""
        body = _request_bytes(opcode, detail, payload)
        return PreparedRequest(body, opcode, reply=reply, checked=checked)

    def send_prepared(self, prepared: PreparedRequest) -> int:
        """:meth:`send` for a :meth:`prepare`-d request; returns its sequence number."""
        if self._c is None:
            self._check_alive()  # raises: closed
        prepared.rewind()
        sequence: int = self._lib.send_request(
            self._c, prepared.flags, prepared.vectors, prepared.request
        )
        if sequence == 0:
            self._check_alive()
            raise CaptureError(f"libxcb could not send a request to the X display {self.name}")
        return sequence

    def reply(self, sequence: int, what: str) -> bytes:
        """Wait for the reply to request ``sequence`` (whole: header and data)."""
        lib = self._lib
        error = ctypes.c_void_p()
        pointer = lib.wait_for_reply(self._c, sequence, ctypes.byref(error))
        if not pointer:
            self.reply_error(error, what)
        try:
            (length,) = _REPLY_LENGTH.unpack(ctypes.string_at(pointer + 4, 4))
            return ctypes.string_at(pointer, _REPLY_HEADER + 4 * length)
        finally:
            lib.free(pointer)

    def reply_error(self, error: ctypes.c_void_p, what: str) -> NoReturn:
        """Raise what ``xcb_wait_for_reply`` gave instead of a reply: the X error, or a lost
        connection."""
        if error.value:
            raw = ctypes.string_at(error.value, 32)
            self._lib.free(error.value)
            raise XRequestError(what, raw[1], raw[10], raw[8] | raw[9] << 8)
        self._check_alive()
        raise CaptureError(f"the X display {self.name} did not answer {what}")

    def check(self, sequence: int, what: str) -> None:
        """Wait until the server handled the ``checked`` request ``sequence``; raise its error."""
        error = self._lib.request_check(self._c, _VoidCookie(sequence))
        if error:
            raw = ctypes.string_at(error, 32)
            self._lib.free(error)
            raise XRequestError(what, raw[1], raw[10], raw[8] | raw[9] << 8)
        self._check_alive()

    def poll_events(self, *, read: bool = True) -> Iterator[bytes]:
        """The first :data:`EVENT_HEAD` bytes of every event already sent by the server,
        without waiting (byte 0 & 0x7F is the event type). An error raises
        :class:`XRequestError`. ``read=False`` takes only the events libxcb already read
        (while waiting for a reply), without a system call: what is still in the socket
        keeps it readable."""
        lib = self._lib
        poll = lib.poll_for_event if read else lib.poll_for_queued_event
        while True:
            pointer = poll(self._c)
            if not pointer:
                if read:  # a read may have found the connection broken; the queue cannot
                    self._check_alive()
                return
            head = ctypes.string_at(pointer, EVENT_HEAD)
            lib.free(pointer)
            if head[0] == 0:
                raise XRequestError("a request", head[1], head[10], head[8] | head[9] << 8)
            yield head

    def flush(self) -> None:
        if self._c is not None:
            self._lib.flush(self._c)

    def generate_id(self) -> int:
        self._check_alive()
        xid: int = self._lib.generate_id(self._c)
        return xid

    def fileno(self) -> int:
        """The connection's socket: readable when the server sent something."""
        self._check_alive()
        fd: int = self._lib.fileno(self._c)
        return fd

    # -- the requests the capturer makes ------------------------------------------------------

    def extension(self, name: str) -> Extension | None:
        """``QueryExtension``: the extension's opcode and first event, or None if absent."""
        encoded = name.encode("ascii")
        payload = struct.pack("=Hxx", len(encoded)) + encoded
        answer = self.reply(self.send(_QUERY_EXTENSION, 0, payload, reply=True), "QueryExtension")
        present, major, first_event = answer[8], answer[9], answer[10]
        return Extension(major, first_event) if present else None

    def pointer(self) -> tuple[int, int] | None:
        """``QueryPointer`` on the root: the pointer in screen pixels, None on another screen."""
        payload = _U32.pack(self.root)
        answer = self.reply(self.send(_QUERY_POINTER, 0, payload, reply=True), "QueryPointer")
        if not answer[1]:  # same-screen
            return None
        x, y = struct.unpack_from("=hh", answer, 16)
        return x, y

    def get_image(self, x: int, y: int, width: int, height: int) -> bytes | None:
        """``GetImage`` of a root-window rectangle as 32-bit pixels, 4 bytes each in the X
        server's byte order (BGRX on a little-endian server, what mss gives), or None when
        the server's pixels are not 32-bit (the caller then reads another way). Meant for
        small rectangles: the pixels come through the socket, where mss uses shared memory."""
        request = self._image_request(self.root, x, y, width, height)
        answer = self.reply(self.send_prepared(request), "GetImage")
        size = width * height * 4
        if len(answer) - _REPLY_HEADER != size or answer[1] not in (24, 32):
            return None
        return answer[_REPLY_HEADER:]

    def get_drawable_image(
        self, drawable: int, x: int, y: int, width: int, height: int
    ) -> bytearray | None:
        """:meth:`get_image` of any drawable (a window's composite pixmap), for rectangles of
        any size: the pixels are copied once, from libxcb's reply into the returned buffer
        (a whole 1280x800 window is 4 MB)."""
        request = self._image_request(drawable, x, y, width, height)
        lib = self._lib
        error = ctypes.c_void_p()
        pointer = lib.wait_for_reply(self._c, self.send_prepared(request), ctypes.byref(error))
        if not pointer:
            self.reply_error(error, "GetImage")
        try:
            head = ctypes.string_at(pointer, 8)
            size = width * height * 4
            if 4 * _REPLY_LENGTH.unpack_from(head, 4)[0] != size or head[1] not in (24, 32):
                return None
            out = bytearray(size)
            ctypes.memmove((ctypes.c_char * size).from_buffer(out), pointer + _REPLY_HEADER, size)
            return out
        finally:
            lib.free(pointer)

    def _image_request(
        self, drawable: int, x: int, y: int, width: int, height: int
    ) -> PreparedRequest:
        request = self._get_image
        if request is None:
            blank = bytes(_GET_IMAGE_REQUEST.size)
            request = self._get_image = self.prepare(_GET_IMAGE, _Z_PIXMAP, blank, reply=True)
        _GET_IMAGE_REQUEST.pack_into(request.body, 4, drawable, x, y, width, height, _ALL_PLANES)
        return request

    # -- lifetime ---------------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self._c is None:
            raise CaptureError(f"the connection to the X display {self.name} is closed")
        if self._lib.has_error(self._c):
            raise CaptureError(f"lost the connection to the X display {self.name}")

    @property
    def alive(self) -> bool:
        return self._c is not None and not self._lib.has_error(self._c)

    def close(self) -> None:
        """Disconnect; safe to call twice and after the server went away."""
        if self._c is not None:
            self._lib.disconnect(self._c)
            self._c = None
