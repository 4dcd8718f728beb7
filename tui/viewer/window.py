"""The viewer window: the presenter's picture in a Tk canvas, overlays, and remote control.

Tk owns the main thread (docs/design.md §8.5). Messages from the client arrive on the reader thread,
which decodes updates straight into :class:`~tui.viewer.picture.Picture` and queues everything else;
Tk polls that queue with ``after()`` and repaints at most :data:`MAX_FPS` times a second, and only
when something changed, so updates that arrive faster than painting are coalesced into one paint of
the latest picture.

Remote control is opt-in per state message: only while the client says this member holds
control are pointer and key handlers bound, so a viewer without control cannot send a single
input event. Coordinates are mapped from the window to frame pixels through the same
:class:`~tui.viewer.layout.Layout` used for painting, and keys are reduced to the presenter's
allow-list (:mod:`tui.viewer.keys`). Key events are never logged.
"""

from __future__ import annotations

import queue
import time
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageTk

from core.protocol.content import Cursor, InputEvent, InputKind
from tui.viewer.keys import key_name, modifiers_of, typed_text
from tui.viewer.layout import Layout
from tui.viewer.picture import Picture
from tui.viewer.pipe import (
    Close,
    Closed,
    CursorAt,
    Dropped,
    Input,
    PipeMessage,
    Ready,
    Refresh,
    State,
    Update,
    ViewerState,
)
from tui.viewer.threads import PipeWriter

POLL_MS: Final = 8
MAX_FPS: Final = 60
#: Pointer motion sent to the presenter at most this often (each one is a sealed message).
MOTION_HZ: Final = 60
#: How long the "session ended" overlay stays before the window closes.
ENDED_LINGER_MS: Final = 500
#: The window never opens larger than this share of the screen.
MAX_SCREEN_SHARE: Final = 0.9

BACKGROUND: Final = "#1e1e1e"
OVERLAY_TEXT: Final = "#f5f5f5"
OVERLAY_BOX: Final = "#000000"
CONTROL_COLOUR: Final = "#f59e0b"
CONTROL_BORDER: Final = 4
CONTROL_BANNER: Final = "You control this screen · the presenter can revoke with Ctrl+F12"


Handler = Callable[["tk.Event[tk.Misc]"], object]


@dataclass(frozen=True, slots=True)
class _End:
    """The reader thread finished: ``error`` says why if the client's stream was refused."""

    error: str | None


def overlay_text(state: State) -> str | None:
    """The sentence shown over (or instead of) the picture in ``state``; ``None`` when live."""
    who = state.presenter or "the presenter"
    if state.state is ViewerState.WAITING:
        return f"Waiting for {who} to share the screen…"
    if state.state is ViewerState.PAUSED:
        return f"{who[0].upper()}{who[1:]} paused the screen"
    if state.state is ViewerState.RECONNECTING:
        return "Connection lost · reconnecting…"
    if state.state is ViewerState.ENDED:
        return "The session has ended"
    return None


class ViewerWindow:
    """One Tk window fed by the client; :meth:`run` returns the process exit status."""

    def __init__(self, title: str, writer: PipeWriter) -> None:
        self._writer = writer
        self.picture = Picture(lambda reason: writer.send(Refresh(reason)))
        self.inbox: queue.Queue[PipeMessage | _End] = queue.Queue()
        self.error: str | None = None
        self._state = State(ViewerState.WAITING)
        self._cursor: Cursor | None = None
        self._control = False
        self._closing = False
        self._ready_sent = False
        self._dirty = True
        self._painted_version = -1
        self._last_paint = 0.0
        self._fitted: tuple[int, int] | None = None
        self._layout: Layout | None = None
        self._photo: ImageTk.PhotoImage | None = None
        # Remote-control bookkeeping: which buttons/keys we reported down (so every release
        # we send matches a press, even if the key's symbol changed meanwhile), and the
        # latest pointer position waiting for its motion slot.
        self._buttons: set[int] = set()
        self._keys: dict[int, str] = {}
        self._pending_motion: tuple[int, int] | None = None
        self._motion_timer: str | None = None
        self._last_motion = 0.0

        self.root = tk.Tk(className="porthole-viewer")
        self.root.title(title)
        self.root.geometry("640x400")
        self.root.minsize(160, 100)
        self.root.configure(background=BACKGROUND)
        self.root.protocol("WM_DELETE_WINDOW", self._on_delete)
        self.canvas = tk.Canvas(
            self.root, background=BACKGROUND, highlightthickness=0, borderwidth=0
        )
        self.canvas.pack(fill=tk.BOTH, expand=True)
        self._image_item = self.canvas.create_image(0, 0, anchor=tk.NW)
        self.canvas.bind("<Configure>", self._on_configure)
        self.root.bind("<Map>", self._on_map)
        self._bindings: tuple[tuple[str, Handler], ...] = (
            ("<Motion>", self._on_motion),
            ("<ButtonPress>", self._on_button_press),
            ("<ButtonRelease>", self._on_button_release),
            ("<MouseWheel>", self._on_mouse_wheel),
            ("<KeyPress>", self._on_key_press),
            ("<KeyRelease>", self._on_key_release),
        )

    # -- called on the reader thread -----------------------------------------------------------

    def deliver(self, message: PipeMessage) -> None:
        """Take one message from the client (reader thread): decode updates here, queue the rest."""
        match message:
            case Update(update=update):
                self.picture.apply(update)
            case Dropped():
                self.picture.dropped()
            case State(state=ViewerState.ENDED):
                self.picture.clear()
                self.inbox.put(message)
            case _:
                self.inbox.put(message)

    def finish(self, error: str | None) -> None:
        """The client's stream ended (reader thread)."""
        self.inbox.put(_End(error))

    # -- Tk main thread --------------------------------------------------------------------------

    def run(self) -> int:
        self.root.after(POLL_MS, self._poll)
        self.root.mainloop()
        self.picture.clear()
        return 0 if self.error is None else 2

    def _poll(self) -> None:
        while not self._closing:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            self._handle(item)
        if self._closing:
            return
        now = time.monotonic()
        changed = self._dirty or self.picture.version != self._painted_version
        if changed and now - self._last_paint >= 1 / MAX_FPS:
            self._paint()
        self.root.after(POLL_MS, self._poll)

    def _handle(self, item: PipeMessage | _End) -> None:
        match item:
            case State():
                self._set_state(item)
            case CursorAt(cursor=cursor):
                self._cursor = cursor
                self._dirty = True
            case Close():
                self._quit()
            case _End(error=error):
                self.error = error
                self._quit()
            case _:
                pass

    def _set_state(self, state: State) -> None:
        self._state = state
        self._dirty = True
        self._set_control(state.control and state.state is ViewerState.LIVE)
        if state.state is ViewerState.ENDED:
            self._photo = None
            self.canvas.itemconfigure(self._image_item, image="")
            self._paint()
            self.root.after(ENDED_LINGER_MS, self._quit)

    def _quit(self) -> None:
        if not self._closing:
            self._closing = True
            self._set_control(False)
            self.root.destroy()

    def _on_delete(self) -> None:
        self._writer.send(Closed())
        self._quit()

    def _on_map(self, event: tk.Event[tk.Misc]) -> None:
        if event.widget is self.root and not self._ready_sent:
            self._ready_sent = True
            self._writer.send(Ready(window_id=int(self.root.wm_frame(), 16)))

    def _on_configure(self, _event: tk.Event[tk.Misc]) -> None:
        self._dirty = True

    # -- painting ----------------------------------------------------------------------------------

    def _fit_window(self, width: int, height: int) -> None:
        """Open at the picture's own size (one frame pixel per screen pixel) when it fits,
        else as large as the screen allows. Only when the picture's size changes, so a person's
        own resizing is left alone otherwise."""
        if self._fitted == (width, height):
            return
        self._fitted = (width, height)
        room_w = int(self.root.winfo_screenwidth() * MAX_SCREEN_SHARE)
        room_h = int(self.root.winfo_screenheight() * MAX_SCREEN_SHARE)
        if width > room_w or height > room_h:
            fit = Layout.fit(width, height, room_w, room_h)
            width, height = fit.shown_w, fit.shown_h
        self.root.geometry(f"{width}x{height}")

    def _paint(self) -> None:
        self._dirty = False
        self._last_paint = time.monotonic()
        self._painted_version = self.picture.version
        size = self.picture.size
        if size is not None:
            self._fit_window(*size)
        view_w, view_h = self.canvas.winfo_width(), self.canvas.winfo_height()
        self._layout = None if size is None else Layout.fit(*size, view_w, view_h)
        overlay = overlay_text(self._state)
        if self._layout is not None and self._state.state is not ViewerState.ENDED:
            shown = (self._layout.shown_w, self._layout.shown_h)
            image = self.picture.render(shown, dim=overlay is not None)
            if image is not None:
                self._show(image)
                self.canvas.coords(self._image_item, self._layout.left, self._layout.top)
        self.canvas.delete("decor")
        self._draw_cursor()
        if overlay is not None:
            self._draw_box(overlay, view_w // 2, view_h // 2)
        if self._control:
            self._draw_control(view_w, view_h)

    def _show(self, image: Image.Image) -> None:
        photo = self._photo
        if photo is not None and (photo.width(), photo.height()) == image.size:
            photo.paste(image)
        else:
            self._photo = ImageTk.PhotoImage(image)
            self.canvas.itemconfigure(self._image_item, image=self._photo)

    def _draw_cursor(self) -> None:
        cursor, layout = self._cursor, self._layout
        if cursor is None or layout is None or not cursor.visible:
            return
        if self._state.state is ViewerState.ENDED:
            return
        if not (0 <= cursor.x < layout.frame_w and 0 <= cursor.y < layout.frame_h):
            return
        x, y = layout.to_view(cursor.x, cursor.y)
        arrow = (0, 0, 0, 16, 4, 12, 7, 18, 9, 17, 6, 11, 11, 11)
        points = [x + dx if i % 2 == 0 else y + dx for i, dx in enumerate(arrow)]
        self.canvas.create_polygon(points, fill="white", outline="black", tags="decor")

    def _draw_box(self, text: str, x: int, y: int) -> None:
        label = self.canvas.create_text(
            x,
            y,
            text=text,
            fill=OVERLAY_TEXT,
            font=("Helvetica", 15, "bold"),
            justify=tk.CENTER,
            width=max(80, 2 * x - 48),  # wrap inside the window, whatever its size
            tags="decor",
        )
        left, top, right, bottom = self.canvas.bbox(label)
        box = self.canvas.create_rectangle(
            left - 16, top - 10, right + 16, bottom + 10, fill=OVERLAY_BOX, width=0, tags="decor"
        )
        self.canvas.tag_lower(box, label)

    def _draw_control(self, view_w: int, view_h: int) -> None:
        half = CONTROL_BORDER // 2
        self.canvas.create_rectangle(
            half,
            half,
            view_w - half,
            view_h - half,
            outline=CONTROL_COLOUR,
            width=CONTROL_BORDER,
            tags="decor",
        )
        label = self.canvas.create_text(
            view_w // 2,
            CONTROL_BORDER + 4,
            anchor=tk.N,
            text=CONTROL_BANNER,
            fill="black",
            font=("Helvetica", 11, "bold"),
            justify=tk.CENTER,
            width=max(80, view_w - 4 * CONTROL_BORDER - 20),
            tags="decor",
        )
        left, top, right, bottom = self.canvas.bbox(label)
        box = self.canvas.create_rectangle(
            left - 10, top - 3, right + 10, bottom + 3, fill=CONTROL_COLOUR, width=0, tags="decor"
        )
        self.canvas.tag_lower(box, label)

    # -- remote control ------------------------------------------------------------------------

    def _set_control(self, on: bool) -> None:
        """Bind input handlers only while this member holds control; unbind them otherwise."""
        if on == self._control:
            return
        self._control = on
        self._dirty = True
        if on:
            for sequence, handler in self._bindings:
                self.canvas.bind(sequence, handler)
            self.canvas.focus_set()
            return
        for sequence, _ in self._bindings:
            self.canvas.unbind(sequence)
        self._buttons.clear()
        self._keys.clear()
        self._pending_motion = None
        if self._motion_timer is not None:
            self.root.after_cancel(self._motion_timer)
            self._motion_timer = None

    def _send(
        self,
        kind: InputKind,
        x: int = 0,
        y: int = 0,
        *,
        button: int = 0,
        wheel_dx: int = 0,
        wheel_dy: int = 0,
        modifiers: int = 0,
        key: str = "",
        text: str = "",
    ) -> None:
        if not self._control:
            return
        event = InputEvent(
            kind=kind,
            x=x,
            y=y,
            button=button,
            wheel_dx=wheel_dx,
            wheel_dy=wheel_dy,
            modifiers=modifiers,
            key=key,
            text=text,
        )
        self._writer.send(Input(event))

    def _point(self, event: tk.Event[tk.Misc], *, clamp: bool) -> tuple[int, int] | None:
        """Frame pixel under the event, or ``None`` off the picture (unless ``clamp``)."""
        layout = self._layout
        if layout is None or self._state.state is not ViewerState.LIVE:
            return None
        if not clamp and not layout.contains(event.x, event.y):
            return None
        return layout.to_frame(event.x, event.y)

    def _on_motion(self, event: tk.Event[tk.Misc]) -> None:
        # While a button is held (a drag), keep following the pointer to the picture's edge.
        point = self._point(event, clamp=bool(self._buttons))
        if point is None:
            return
        self._pending_motion = point
        wait = 1 / MOTION_HZ - (time.monotonic() - self._last_motion)
        if wait <= 0:
            self._flush_motion()
        elif self._motion_timer is None:
            self._motion_timer = self.root.after(max(1, int(wait * 1000)), self._flush_motion)

    def _flush_motion(self) -> None:
        self._motion_timer = None
        point, self._pending_motion = self._pending_motion, None
        if point is not None:
            self._last_motion = time.monotonic()
            self._send(InputKind.POINTER_MOVE, *point)

    def _on_button_press(self, event: tk.Event[tk.Misc]) -> str:
        point = self._point(event, clamp=False)
        if point is None:
            return "break"
        self._pending_motion = None  # the press carries its own, newer position
        modifiers = modifiers_of(int(event.state))
        button = int(event.num)
        if button in (1, 2, 3):
            self._buttons.add(button)
            self._send(InputKind.BUTTON_DOWN, *point, button=button, modifiers=modifiers)
        elif button in (4, 5, 6, 7):
            # X11 wheel buttons: 4 up, 5 down, 6 left, 7 right (dy > 0 scrolls up).
            dx, dy = {4: (0, 1), 5: (0, -1), 6: (-1, 0), 7: (1, 0)}[button]
            self._send(InputKind.WHEEL, *point, wheel_dx=dx, wheel_dy=dy, modifiers=modifiers)
        return "break"

    def _on_button_release(self, event: tk.Event[tk.Misc]) -> str:
        button = int(event.num)
        if button in self._buttons:
            self._buttons.discard(button)
            point = self._point(event, clamp=True)
            if point is not None:
                self._send(InputKind.BUTTON_UP, *point, button=button)
        return "break"

    def _on_mouse_wheel(self, event: tk.Event[tk.Misc]) -> str:
        """Tk's own wheel event (platforms where the wheel is not buttons 4–7)."""
        point = self._point(event, clamp=False)
        if point is None or not event.delta:
            return "break"
        step = 1 if event.delta > 0 else -1
        horizontal = bool(int(event.state) & 0x0001)
        dx, dy = (step, 0) if horizontal else (0, step)
        self._send(InputKind.WHEEL, *point, wheel_dx=dx, wheel_dy=dy)
        return "break"

    def _on_key_press(self, event: tk.Event[tk.Misc]) -> str:
        name = key_name(str(event.keysym), int(event.keysym_num))
        if self._state.state is not ViewerState.LIVE:
            pass
        elif name is not None:
            self._keys[int(event.keycode)] = name
            self._send(InputKind.KEY_DOWN, key=name, modifiers=modifiers_of(int(event.state)))
        elif (text := typed_text(str(event.char), int(event.state))) is not None:
            self._send(InputKind.TEXT, text=text)  # é, ß, ø…: no key name, typed as text
        # "break": Tab must not move Tk's focus, and no other binding sees a remote key.
        return "break"

    def _on_key_release(self, event: tk.Event[tk.Misc]) -> str:
        name = self._keys.pop(int(event.keycode), None)
        if name is not None:
            self._send(InputKind.KEY_UP, key=name, modifiers=modifiers_of(int(event.state)))
        return "break"
