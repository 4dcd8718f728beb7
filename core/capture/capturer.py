"""Grab frames of a monitor, a region or a window, with masks already blacked out.

This is the privacy boundary of the screen pipeline (docs/design.md §6.1): the pixels a
:class:`CapturedFrame` carries are the only pixels that ever leave :meth:`Capturer.grab`, and
masked rectangles are zero in them, so nothing downstream (diff, encode, seal, send) can leak
what a mask hides. Pausing ("hide screen") lives one level up: a paused sharer simply does not
call ``grab()``.

Pixels come from mss (MIT-SHM when the server has it) as BGRX rows; one ``np.empty`` plus three
strided channel copies turns them into RGB, faster than ``np.ascontiguousarray(bgra[..., 2::-1])``
or a Pillow ``BGRX`` decode (figures: bench/README.md, "Measurements behind design choices").
That is the only allocation per frame besides mss's own buffer copy.

**Incremental capture** (:meth:`Capturer.grab_changes`, what the presenter uses) keeps the last
frame and brings it up to date instead of reading the whole area every time. With XDAMAGE
(:mod:`core.capture.damage`) it reads only the rectangles the X server reports as drawn, and
nothing at all when nothing was drawn; the frame says which rectangles may differ from the
previous one (:attr:`CapturedFrame.changed`), so the encoder compares only those. Without
XDAMAGE, and on request (``full=True``, the presenter's periodic safety net for drawing that
damage misses), it reads the whole area but compares the raw BGRX bytes with the previous read
first (a memcmp) and converts to RGB only the bands that differ.

**A window's own pixels only.** A monitor or region is the screen as it is; a window is not
whatever happens to be drawn over it. With XComposite and XDAMAGE (every current X server) the
window is redirected to its own pixmap (:mod:`core.capture.composite`) and every read of it
comes from there; root-window damage then only says "look the window up again" (it may have
moved: moving draws), and a damage object on the window says which of its pixels were drawn,
covered or not. Parts of a freshly allocated pixmap that the server filled from the screen are
zeroed in every read until the window's damage says they were drawn (``_stale``). Without
Composite or XDAMAGE (or with ``composite=False``, which the tests use to exercise this path),
the screen is read and every part that another window covers is blacked out like a mask,
checked again right after each read so a window that came over it meanwhile is not sent either.
Monitor and region capture never take either path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import mss
import numpy as np
import numpy.typing as npt

from core.capture.composite import CompositeWindow
from core.capture.damage import ScreenDamage
from core.capture.errors import CaptureError, WindowGone, WindowHidden
from core.capture.sources import CaptureSource, MonitorSource, Rect, RegionSource, WindowSource
from core.capture.windows import WindowInfo, XConnection
from core.capture.xcb import XcbConnection, XRequestError

Pixels = npt.NDArray[np.uint8]

#: Damaged rectangles read one by one, at most; more are read as fewer, larger ones.
MAX_READS = 8
#: Damaged rectangles up to this many pixels are read with GetImage over libxcb, larger ones
#: with mss (shared memory).
SMALL_READ = 16 * 1024
#: Rows per band when a whole-area read is compared with the previous one: each band with a
#: difference becomes one changed rectangle (its rows, the columns that differ).
COMPARE_BAND = 32


def _bgrx_to_rgb(bgrx: Pixels, out: Pixels) -> None:
    if bgrx.shape[0] * bgrx.shape[1] <= 4096:
        out[...] = bgrx[..., 2::-1]  # one call: what counts for a glyph is the call overhead
        return
    out[..., 0] = bgrx[..., 2]
    out[..., 1] = bgrx[..., 1]
    out[..., 2] = bgrx[..., 0]


def _merge_reads(rects: list[Rect]) -> list[Rect]:
    """Fewer rectangles to read: join two whenever their bounding box costs little more than
    both (``union <= 1.25 * (a + b) + 4096`` pixels); above :data:`MAX_READS`, one box (at once
    for many rectangles: the pairwise joining is quadratic)."""
    if len(rects) > 4 * MAX_READS:
        return [_bounding(rects)]
    rects = sorted(rects, key=lambda r: (r.y, r.x))
    merged = True
    while merged and len(rects) > 1:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                box = _bounding([a, b])
                if box.width * box.height <= 1.25 * (_area(a) + _area(b)) + 4096:
                    rects[i] = box
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    if len(rects) > MAX_READS:
        return [_bounding(rects)]
    return rects


def _area(r: Rect) -> int:
    return r.width * r.height


def _bounding(rects: Sequence[Rect]) -> Rect:
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    x1, y1 = max(r.right for r in rects), max(r.bottom for r in rects)
    return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class CaptureStatistics:
    """What a capturer read: ``full_reads`` whole-area reads (``grab()`` and full
    ``grab_changes()``), ``partial_reads`` damaged rectangles read, ``pixels_read`` in all,
    ``skipped`` incremental captures that read no pixel because nothing was drawn in the area,
    ``damage_events`` XDAMAGE notifications, ``damage_driven`` whether XDAMAGE is in use."""

    full_reads: int
    partial_reads: int
    pixels_read: int
    skipped: int
    damage_events: int
    damage_driven: bool


@dataclass(frozen=True, slots=True, eq=False)
class CapturedFrame:
    """One grabbed frame.

    ``pixels`` is a read-only, C-contiguous ``height x width x 3`` RGB array (read-only so a
    frame shared between the differ and the encoder cannot be changed under either).
    ``origin`` is the screen position of its top-left pixel, which moves with a followed
    window. ``cursor`` is the pointer relative to that top-left, or None when the pointer is
    outside the area or over a mask (where it is as private as the pixels).
    """

    pixels: Pixels
    origin: tuple[int, int]
    width: int
    height: int
    cursor: tuple[int, int] | None
    captured_at: float
    #: From :meth:`Capturer.grab_changes`: rectangles (relative to ``origin``) outside which
    #: the pixels equal the previous frame it returned; ``()`` when nothing changed, None when
    #: anything may have (the first frame, a moved or resized area, ``grab()``).
    changed: tuple[Rect, ...] | None = None

    @property
    def rect(self) -> Rect:
        """The captured area in screen pixels."""
        return Rect(self.origin[0], self.origin[1], self.width, self.height)


class Capturer:
    """Grabs frames from one source until closed; use it as a context manager.

    Holds one Xlib connection (window rectangles, pointer, damage) and one mss instance
    (pixels). Not thread-safe: call it from one thread at a time (e.g. a dedicated capture
    thread). ``damage=False`` turns XDAMAGE off (every incremental capture reads the area).
    ``composite=False`` reads a window from the screen with what covers it blacked out, as on
    a server without XComposite (see the module docstring); it exists for tests.
    """

    def __init__(
        self,
        source: CaptureSource,
        *,
        masks: Sequence[Rect] = (),
        display: str | None = None,
        damage: bool = True,
        composite: bool = True,
    ) -> None:
        self._source = source
        self._masks: tuple[Rect, ...] = tuple(masks)
        self._closed = False
        self._x = XConnection(display)
        try:
            self._mss = mss.MSS() if display is None else mss.MSS(display=display)
        except mss.ScreenShotError as exc:
            self._x.close()
            raise CaptureError(f"could not start screen capture on {self._x.name}: {exc}") from exc
        self._window: WindowInfo | None = None
        self._fixed: Rect | None = None
        self._damage: ScreenDamage | None = None
        #: libxcb connection for what happens every frame (damage, pointer); None when libxcb
        #: cannot be used, and then the pointer goes through python-xlib and there is no damage.
        self._xcb: XcbConnection | None = None
        #: Whether small reads may use libxcb's GetImage (cleared if it gives other pixels).
        self._xcb_images = True
        # Incremental state: the last area read whole, its raw BGRX (unmasked; it never
        # leaves this object) and its masked RGB, with the masks that were applied.
        self._held_area: Rect | None = None
        self._held_raw: bytearray | None = None
        #: The same bytes as a height x width x 4 array (kept: partial reads update it in place).
        self._held_bgrx: Pixels | None = None
        self._held_rgb: Pixels | None = None
        #: A read-only view of ``_held_rgb``, what frames carry: made once per allocation (two
        #: numpy calls saved per keystroke).
        self._held_view: Pixels | None = None
        self._held_masks: tuple[Rect, ...] = ()
        #: Damage collected but not read yet (screen rectangles).
        self._dirty: list[Rect] = []
        #: The area as last looked up (see _current_area).
        self._area_now: Rect | None = None
        #: Damage was collected since the last grab_changes (no need to collect again).
        self._collected = False
        #: The pointer's screen position when last asked (None: on another screen).
        self._pointer: tuple[int, int] | None = None
        self._pointer_known = False
        self._full_reads = self._partial_reads = self._pixels_read = self._skipped = 0
        #: A window source read from its own pixmap (None: from the screen, covers blacked).
        self._composite: CompositeWindow | None = None
        #: The window's whole rectangle (not clipped to the screen) at the last lookup.
        self._window_rect: Rect | None = None
        #: Pixels of the window's pixmap (window coordinates) that the server filled from the
        #: screen and the window has not drawn since: zeroed in every read. None: no such.
        self._stale: npt.NDArray[np.bool_] | None = None
        #: Whether the window was seen unmapped (its next pixmap is a new one).
        self._was_hidden = False
        #: Without composite: the parts of the area where other windows cover the window.
        self._covers: tuple[Rect, ...] = ()
        try:
            self._resolve(source)
            with contextlib.suppress(CaptureError):
                self._xcb = XcbConnection(self._x.name)
            if damage and self._xcb is not None:
                self._damage = ScreenDamage.start(self._xcb)
            window = self.window  # set by _resolve for a window source
            if composite and window is not None:
                self._redirect(window)
        except BaseException:
            self.close()
            raise

    def _redirect(self, window: WindowInfo) -> None:
        """Read ``window`` from its own pixmap when the server can (Composite, and XDAMAGE to
        hear about drawing under covers); otherwise leave it to the covers."""
        damage, xcb = self._damage, self._xcb
        if damage is None or xcb is None:
            return
        opcode = CompositeWindow.available(xcb)
        if opcode is None:
            return
        try:
            damage.watch_window(window.xid)  # first: the repaint below is damage too
        except XRequestError:
            return
        try:
            rect, _ = self._x.window_placement(window)
            # What the pixmap will copy from the screen where other windows cover it.
            covered = self._x.covering(window, rect)
        except WindowHidden:
            rect, covered = None, []
            self._was_hidden = True
        self._composite = CompositeWindow.start(xcb, opcode, window.xid)
        if self._composite is None:
            damage.unwatch_window()
        elif rect is not None:
            self._mark_stale(rect, covered)

    def _resolve(self, source: CaptureSource) -> None:
        screen = self._x.screen
        if isinstance(source, MonitorSource):
            self._fixed = self._monitor_rect(source.index)
        elif isinstance(source, RegionSource):
            if not screen.contains(source.rect):
                raise CaptureError(
                    f"the region {source.rect} does not fit on the screen, which is "
                    f"{screen.width}x{screen.height}: it must lie within 0,0,"
                    f"{screen.width},{screen.height}"
                )
            self._fixed = source.rect
        elif isinstance(source, WindowSource):
            self._window = self._x.find_window(source)
        else:  # pragma: no cover - the type checker rules this out
            raise TypeError(f"not a capture source: {source!r}")

    def _monitor_rect(self, index: int) -> Rect:
        monitors = self._mss.monitors
        if index >= len(monitors):
            listed = "; ".join(
                f"{i} = "
                + ("all monitors together" if i == 0 else str(m.get("output", "monitor")))
                + f" {m['width']}x{m['height']} at {m['left']},{m['top']}"
                for i, m in enumerate(monitors)
            )
            raise CaptureError(f"there is no monitor {index}; this display has: {listed}")
        chosen = monitors[index]
        return Rect(chosen["left"], chosen["top"], chosen["width"], chosen["height"])

    @property
    def source(self) -> CaptureSource:
        return self._source

    @property
    def window(self) -> WindowInfo | None:
        """The window a :class:`WindowSource` resolved to (its id is what is followed)."""
        return self._window

    @property
    def masks(self) -> tuple[Rect, ...]:
        """Rectangles in screen pixels that every frame has blacked out."""
        return self._masks

    @masks.setter
    def masks(self, masks: Sequence[Rect]) -> None:
        # Replaced as a whole tuple, so a grab sees the old set or the new one, never a mix.
        self._masks = tuple(masks)

    @property
    def damage_driven(self) -> bool:
        """Whether :meth:`grab_changes` reads only what XDAMAGE reports as drawn."""
        return self._damage is not None

    @property
    def pointer_events(self) -> bool:
        """Whether :attr:`pointer_moved` follows the X server's motion events (XInput 2), so
        the pointer need not be polled."""
        return self._damage is not None and self._damage.pointer_events

    @property
    def pointer_moved(self) -> bool:
        """Whether the pointer may have moved since a capture last asked where it is (as of
        the last :meth:`pending_damage`); always True without :attr:`pointer_events`."""
        damage = self._damage
        return damage is None or not damage.pointer_events or damage.pointer_moved

    def statistics(self) -> CaptureStatistics:
        return CaptureStatistics(
            full_reads=self._full_reads,
            partial_reads=self._partial_reads,
            pixels_read=self._pixels_read,
            skipped=self._skipped,
            damage_events=self._damage.events if self._damage is not None else 0,
            damage_driven=self._damage is not None,
        )

    @property
    def own_pixels(self) -> bool:
        """Whether a window is read from its own pixmap (XComposite) rather than from the
        screen with what covers it blacked out."""
        return self._composite is not None

    def area(self) -> Rect:
        """Where the next frame would come from; for a window, its on-screen part right now."""
        self._check_open()
        if self._window is not None:
            return self._window_area(self._window)
        assert self._fixed is not None
        return self._fixed

    def _window_area(self, window: WindowInfo) -> Rect:
        """The window's on-screen part; with composite, its pixmap named again (it may be a
        new one), else what covers it looked up again."""
        try:
            rect, border = self._x.window_placement(window)
        except WindowHidden:
            self._was_hidden = True
            raise
        visible = rect.intersection(self._x.screen)
        if visible is None:
            raise WindowHidden(
                f"window {window} is entirely off the screen (at {rect}); "
                f"capture resumes when it is moved back"
            )
        composite = self._composite
        if composite is not None:
            old = self._window_rect
            if self._was_hidden:  # mapped again: a new pixmap, filled from the screen
                self._mark_stale(rect, [rect])
            elif old is not None and (old.width, old.height) != (rect.width, rect.height):
                # Resized: the new parts of the new pixmap come from the screen.
                grown = Rect(rect.x, rect.y, old.width, old.height)
                self._mark_stale(rect, rect.minus(grown))
            with self._x.talking():
                try:
                    composite.refresh(border)
                except XRequestError:
                    self._x.window_placement(window)  # says gone or hidden
                    raise WindowGone(f"window {window} can no longer be read") from None
        else:
            self._covers = tuple(self._x.covering(window, visible))
        self._was_hidden = False
        self._window_rect = rect
        return visible

    def _mark_stale(self, rect: Rect, parts: Sequence[Rect]) -> None:
        """Start over the stale pixels for a pixmap of ``rect``'s size: ``parts`` (screen)."""
        stale = np.zeros((rect.height, rect.width), dtype=np.bool_)
        for part in parts:
            inside = part.intersection(rect)
            if inside is not None:
                top, left = inside.y - rect.y, inside.x - rect.x
                stale[top : top + inside.height, left : left + inside.width] = True
        self._stale = stale if stale.any() else None

    def _drawn(self, rects: Sequence[Rect]) -> None:
        """The window drew these rectangles (window coordinates): no longer stale there."""
        stale = self._stale
        if stale is None:
            return
        for r in rects:
            stale[max(0, r.y) : max(0, r.bottom), max(0, r.x) : max(0, r.right)] = False
        if not stale.any():
            self._stale = None

    def _effective_masks(self) -> tuple[Rect, ...]:
        return self._masks + self._covers if self._covers else self._masks

    def grab(self) -> CapturedFrame:
        """Capture one frame, masks applied. Raises :class:`CaptureError` (or a subclass)."""
        if self._composite is not None:
            self.pending_damage()  # which pixels the window drew since: no longer stale
            self._area_now = None
        return self._grab()

    def _late_covers(self, area: Rect) -> tuple[Rect, ...]:
        """Without composite, right after a read: the parts of windows that came over the
        window while it was read (not among the covers blacked out), so they are blacked out
        too. One that came and went within the read is missed, and its drawing (damage) has
        the area read again at the next capture."""
        window = self._window
        if window is None or self._composite is not None:
            return ()
        covers = self._covers
        return tuple(c for c in self._x.covering(window, area) if c not in covers)

    def _grab(self) -> CapturedFrame:
        area = self.area()
        raw = self._read(area)
        masks = self._effective_masks() + self._late_covers(area)
        self._full_reads += 1
        captured_at = time.time()
        height, width = area.height, area.width
        bgrx = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        _bgrx_to_rgb(bgrx, pixels)
        del bgrx, raw  # drop the unmasked copy now rather than at return
        hidden = self._apply_masks(pixels, area, masks, area)
        pixels.flags.writeable = False
        return CapturedFrame(
            pixels=pixels,
            origin=(area.x, area.y),
            width=width,
            height=height,
            cursor=self._cursor(area, hidden),
            captured_at=captured_at,
        )

    # -- incremental capture --------------------------------------------------------------------

    def pending_damage(self) -> int | None:
        """How many pixels of the area were drawn since the last :meth:`grab_changes` (an upper
        bound; 0 when nothing was), or None without XDAMAGE. Collects the damage from the X
        server (one round trip when there is some, none otherwise); a window source is looked
        up again when anything was drawn anywhere, since that is how a window moves."""
        self._check_open()
        if self._damage is None:
            return None
        fresh = self._damage.collect()
        self._collected = True
        if self._composite is None:
            if fresh:
                self._dirty.extend(fresh)
                if self._window is not None:
                    self._area_now = None
        else:
            # The screen's damage only says the window may have moved or been remapped; what
            # it drew comes from its own damage (drawing under a cover reaches no screen).
            own = self._damage.collect_window()
            if fresh or own:
                self._area_now = None
            if own:
                self._current_area()
                rect = self._window_rect
                assert rect is not None
                self._drawn(own)
                self._dirty.extend(Rect(r.x + rect.x, r.y + rect.y, r.width, r.height) for r in own)
        if not self._dirty:
            return 0
        held = self._held_area
        area = self._current_area()
        if held is None or area != held:
            return _area(area)
        parts = [p for p in (r.intersection(held) for r in self._dirty) if p is not None]
        self._dirty = parts
        return min(sum(_area(p) for p in parts), _area(held))

    def damage_waitable(self, *, read: bool = True) -> int | None:
        """A file descriptor that becomes readable when the X server reports new damage, or
        None without XDAMAGE. Returns None as well when damage is already waiting to be read:
        the check reads the socket, so wait on the descriptor only right after this call.
        ``read=False`` checks only what libxcb already read (no system call; see
        :meth:`ScreenDamage.pending`): enough right before a wait, not after one."""
        self._check_open()
        if self._damage is None:
            return None
        if self._dirty or self._damage.pending(read=read):
            return None
        # The caller sleeps now: a look made before does not stand for the next grab, which
        # collects again (drawing may come while it sleeps, or it may wake for something else).
        self._collected = False
        return self._damage.fileno()

    def grab_changes(self, *, full: bool = False, pointer: bool = True) -> CapturedFrame:
        """Capture one frame by updating the last one; see the module docstring.

        The returned pixels are a read-only view of a frame this capturer keeps and updates in
        place at the next call: use them (e.g. encode them) before calling again, or copy them.
        :attr:`CapturedFrame.changed` says where they can differ from the previous call's.
        ``full=True`` reads and compares the whole area, whatever XDAMAGE says.
        ``pointer=False`` reuses the pointer position last asked for (a round trip saved; the
        pointer draws no damage, so a caller polls it at its own pace).
        """
        self._check_open()
        if self._damage is not None and not self._collected:
            # Collect before reading any pixel, so drawing after this point raises new damage.
            self.pending_damage()
        self._collected = False
        held = self._held_area
        if full or held is None or self._damage is None:
            self._area_now = None
        area = self._current_area()
        masks = self._effective_masks()
        rebuild = held is None or area != held or masks != self._held_masks
        if rebuild or full or self._damage is None:
            self._dirty = []
            changed = self._read_whole(area, masks, rebuild)
        else:
            parts = [p for p in (r.intersection(area) for r in self._dirty) if p is not None]
            self._dirty = []
            if parts:
                changed = self._read_parts(area, masks, parts)
            else:
                changed = ()
                self._skipped += 1
        if changed != ():  # pixels were read: were they all the window's?
            late = self._late_covers(area)
            if late:
                rgb = self._held_rgb
                assert rgb is not None
                blacked = self._apply_masks(rgb, area, late, area)
                masks = self._held_masks = masks + late
                self._area_now = None  # the next capture looks the covers up again
                if changed is not None:
                    changed += tuple(
                        Rect(p.x - area.x, p.y - area.y, p.width, p.height) for p in blacked
                    )
        captured_at = time.time()
        pixels = self._held_view
        assert pixels is not None
        hidden = [p for p in (m.intersection(area) for m in masks) if p is not None]
        return CapturedFrame(
            pixels=pixels,
            origin=(area.x, area.y),
            width=area.width,
            height=area.height,
            cursor=self._cursor(area, hidden, ask=pointer),
            captured_at=captured_at,
            changed=changed,
        )

    def _current_area(self) -> Rect:
        """:meth:`area`, looked up again only after :attr:`_area_now` was cleared (damage
        anywhere, a whole read): a window cannot move without drawing."""
        if self._area_now is None:
            self._area_now = self.area()
        return self._area_now

    def _read_whole(
        self, area: Rect, masks: tuple[Rect, ...], rebuild: bool
    ) -> tuple[Rect, ...] | None:
        raw = self._read(area)
        self._full_reads += 1
        height, width = area.height, area.width
        new = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
        if rebuild or self._held_raw is None or self._held_rgb is None:
            rgb = np.empty((height, width, 3), dtype=np.uint8)
            _bgrx_to_rgb(new, rgb)
            self._apply_masks(rgb, area, masks, area)
            self._held_area, self._held_raw, self._held_rgb = area, raw, rgb
            view = rgb.view()
            view.flags.writeable = False
            self._held_view = view
            self._held_bgrx = new
            self._held_masks = masks
            return None
        old_raw = self._held_raw
        self._held_raw, self._held_bgrx = raw, new
        if raw == old_raw:  # memcmp: most whole-area reads find nothing new
            return ()
        changed = self._differences(new, np.frombuffer(old_raw, dtype=np.uint8), area)
        rgb = self._held_rgb
        for r in changed:
            _bgrx_to_rgb(new[r.y : r.bottom, r.x : r.right], rgb[r.y : r.bottom, r.x : r.right])
            self._apply_masks(rgb, area, masks, Rect(area.x + r.x, area.y + r.y, r.width, r.height))
        return tuple(changed)

    @staticmethod
    def _differences(new: Pixels, old_flat: Pixels, area: Rect) -> list[Rect]:
        """Area-relative rectangles covering every pixel that differs: per band of
        :data:`COMPARE_BAND` rows with a difference, those rows and the columns that differ."""
        height, width = area.height, area.width
        new32 = new.reshape(height * width * 4).view(np.uint32).reshape(height, width)
        old32 = old_flat.view(np.uint32).reshape(height, width)
        out: list[Rect] = []
        for y0 in range(0, height, COMPARE_BAND):
            y1 = min(height, y0 + COMPARE_BAND)
            band = new32[y0:y1] != old32[y0:y1]
            columns = np.flatnonzero(band.any(axis=0))
            if columns.size == 0:
                continue
            rows = np.flatnonzero(band[:, columns[0] : columns[-1] + 1].any(axis=1))
            x0, x1 = int(columns[0]), int(columns[-1]) + 1
            top, bottom = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
            out.append(Rect(x0, top, x1 - x0, bottom - top))
        return out

    def _read_parts(
        self, area: Rect, masks: tuple[Rect, ...], parts: list[Rect]
    ) -> tuple[Rect, ...]:
        held, rgb = self._held_bgrx, self._held_rgb
        assert held is not None
        assert rgb is not None
        out = []
        for part in _merge_reads(parts):
            shot = self._read_small(part)
            self._partial_reads += 1
            top, left = part.y - area.y, part.x - area.x
            rows, cols = slice(top, top + part.height), slice(left, left + part.width)
            bgrx = np.frombuffer(shot, dtype=np.uint8).reshape(part.height, part.width, 4)
            held[rows, cols] = bgrx
            _bgrx_to_rgb(bgrx, rgb[rows, cols])
            self._apply_masks(rgb, area, masks, part)
            out.append(Rect(left, top, part.width, part.height))
        return tuple(out)

    def _read_small(self, rect: Rect) -> bytes | bytearray:
        """:meth:`_read` for a damaged rectangle: through libxcb's ``GetImage`` when it is
        small (mss's shared-memory path costs more Python than such a read moves bytes)."""
        if self._composite is not None:
            return self._read_window(rect)
        if self._xcb is not None and self._xcb_images and rect.width * rect.height <= SMALL_READ:
            raw = self._xcb.get_image(rect.x, rect.y, rect.width, rect.height)
            if raw is not None:
                self._pixels_read += rect.width * rect.height
                return raw
            self._xcb_images = False  # not 32-bit pixels: mss knows how to read them
        return self._read(rect)

    def _read_window(self, rect: Rect) -> bytearray:
        """The raw BGRX bytes of a screen rectangle of the window, from its own pixmap, with
        what is stale in it zeroed."""
        composite, window = self._composite, self._window_rect
        assert composite is not None
        assert window is not None
        left, top = rect.x - window.x, rect.y - window.y
        try:
            raw = composite.read(left, top, rect.width, rect.height)
        except XRequestError as exc:  # the window went away between its lookup and now
            raise WindowGone(f"window {self._window} can no longer be read: {exc}") from None
        if raw is None:  # not 32-bit pixels: read from the screen, with the covers black
            self._stop_composite()
            return self._read(rect)
        out = raw
        stale = self._stale
        if stale is not None:
            part = stale[top : top + rect.height, left : left + rect.width]
            if part.any():
                np.frombuffer(out, dtype=np.uint8).reshape(rect.height, rect.width, 4)[part] = 0
        self._pixels_read += rect.width * rect.height
        return out

    def _stop_composite(self) -> None:
        """Read the window from the screen from now on (its covers are blacked out after
        this read, see :meth:`_late_covers`, and looked up before the next)."""
        composite, self._composite = self._composite, None
        if composite is not None:
            composite.close()
        if self._damage is not None:
            self._damage.unwatch_window()
        self._stale = None
        self._area_now = None

    def _read(self, rect: Rect) -> bytearray:
        """The raw BGRX bytes of a screen rectangle (of the window's own pixmap for a
        redirected window)."""
        if self._composite is not None:
            return self._read_window(rect)
        try:
            shot = self._mss.grab(
                {"left": rect.x, "top": rect.y, "width": rect.width, "height": rect.height}
            )
        except mss.ScreenShotError as exc:
            raise CaptureError(f"could not read the screen at {rect}: {exc}") from exc
        except AssertionError as exc:
            # mss 10.2's XCB helpers assert on the NULL reply a lost connection gives.
            raise CaptureError(
                f"lost the connection to the X display {self._x.name} while reading the screen"
            ) from exc
        if tuple(shot.size) != (rect.width, rect.height):
            raise CaptureError(
                f"the X server returned {shot.size[0]}x{shot.size[1]} pixels for {rect}"
            )
        self._pixels_read += rect.width * rect.height
        raw = shot.raw
        return raw if isinstance(raw, bytearray) else bytearray(raw)

    @staticmethod
    def _apply_masks(pixels: Pixels, area: Rect, masks: Sequence[Rect], within: Rect) -> list[Rect]:
        """Black out the masks' parts inside ``within`` (screen pixels) of an ``area`` frame;
        returns every mask's part inside the area (where the pointer is private too)."""
        hidden = []
        for mask in masks:
            part = mask.intersection(area)
            if part is None:
                continue
            hidden.append(part)
            touched = part.intersection(within)
            if touched is not None:
                top, left = touched.y - area.y, touched.x - area.x
                pixels[top : top + touched.height, left : left + touched.width] = 0
        return hidden

    def _cursor(
        self, area: Rect, hidden: list[Rect], *, ask: bool = True
    ) -> tuple[int, int] | None:
        if ask or not self._pointer_known:
            asker = self._damage or self._xcb or self._x
            self._pointer = asker.pointer()
            self._pointer_known = True
        position = self._pointer
        if position is None:
            return None
        x, y = position
        if not area.contains_point(x, y) or any(m.contains_point(x, y) for m in hidden):
            return None
        return x - area.x, y - area.y

    def _check_open(self) -> None:
        if self._closed:
            raise CaptureError("this capturer is closed; start a new one to capture again")

    def close(self) -> None:
        """Release the X connection and mss; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._held_raw = self._held_rgb = self._held_bgrx = self._held_view = None
        if self._composite is not None:
            self._composite.close()
        if self._damage is not None:
            self._damage.close()
        if self._xcb is not None:
            self._xcb.close()
        try:
            # mss raises if the X server is already gone; there is nothing left to release then.
            with contextlib.suppress(mss.ScreenShotError):
                self._mss.close()
        finally:
            self._x.close()

    def __enter__(self) -> Capturer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
