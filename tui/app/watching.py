"""Watching someone else's screen in the native viewer window, for any front end.

The app and the line console both show the presenter's screen in the same separate window
process (:mod:`tui.viewer.link`): opened when someone else presents, fed their frames, told
when sharing pauses or control is held, and sending input only while this member holds control.
:class:`WindowWatch` is that behaviour once; a front end gives it the session's nursery, calls
:meth:`WindowWatch.follow` with each new :class:`~tui.app.model.SessionView` and passes on the
presenter's frames. How a person is told things (a notification, a printed line) and which key
reopens a closed window are the front end's.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import trio

from core.client import SessionBase
from core.protocol.content import Cursor, FrameUpdate, RefreshReason, RefreshRequest
from tui.app.model import SessionView
from tui.viewer.link import Input, Refresh, ViewerLink, ViewerState, WindowClosed, open_viewer

#: ``tell(text, severity)`` with severity "information" or "error".
Tell = Callable[[str, str], None]


def viewer_state(view: SessionView) -> ViewerState:
    """Which overlay the viewer window shows for this roster."""
    presenter = next((row for row in view.members if row.peer_id == view.presenter), None)
    if presenter is not None and presenter.connection == "reconnecting":
        return ViewerState.RECONNECTING
    return ViewerState.PAUSED if view.paused else ViewerState.LIVE


class WindowWatch:
    """The viewer window for whoever presents, while it is not this member."""

    def __init__(
        self,
        session: SessionBase,
        nursery: trio.Nursery,
        tell: Tell,
        *,
        env: dict[str, str] | None = None,
        reopen_hint: str = "press v to open it again",
    ) -> None:
        self.session = session
        self.nursery = nursery
        self.tell = tell
        self.env = env
        self.reopen_hint = reopen_hint
        self.link: ViewerLink | None = None
        self._view: SessionView | None = None
        self._scope: trio.CancelScope | None = None
        self._closed_by_user = False

    def follow(self, view: SessionView) -> None:
        """Open, update or close the window for this roster."""
        self._view = view
        someone_else = view.presenter is not None and not view.i_present
        if not someone_else:
            self._closed_by_user = False
            self.stop()
            return
        if self._scope is None and not self._closed_by_user:
            self._scope = trio.CancelScope()
            self.nursery.start_soon(self._watch, self._scope)
        elif self.link is not None:
            self.nursery.start_soon(self._update_state)

    def reopen(self, view: SessionView | None = None) -> None:
        """The person asked for the window again (after closing it, or after it failed), for
        ``view`` (the latest one followed, if not given)."""
        self._closed_by_user = False
        view = view or self._view
        if view is not None:
            self.follow(view)

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None

    async def on_update(self, update: FrameUpdate) -> None:
        if self.link is not None:
            await self.link.send_update(update)

    async def on_cursor(self, cursor: Cursor) -> None:
        if self.link is not None:
            await self.link.send_cursor(cursor)

    async def on_dropped(self) -> None:
        if self.link is not None:
            await self.link.notify_dropped()

    async def _update_state(self) -> None:
        link, view = self.link, self._view
        if link is None or view is None or not link.running:
            return
        await link.set_state(
            viewer_state(view), control=view.i_control, presenter=view.name_of(view.presenter)
        )

    async def _watch(self, scope: trio.CancelScope) -> None:
        view = self._view
        if view is None:
            return
        title = f"porthole — {view.name_of(view.presenter)} presenting"
        env = dict(os.environ) if self.env is None else self.env
        with scope:
            try:
                async with open_viewer(title, env=env) as link:
                    self.link = link
                    await self._update_state()
                    await self.session.send_content(
                        RefreshRequest(reason=RefreshReason.LATE_JOIN),
                        recipient=view.presenter or 0,
                    )
                    async for event in link.events:
                        await self._on_window_event(event)
                        if isinstance(event, WindowClosed):
                            # Not reopened by itself (a window that cannot open, e.g. over
                            # SSH without a display, would fail on every roster change).
                            self._closed_by_user = True
                            if event.by_user:
                                self.tell(
                                    f"The viewer window was closed; {self.reopen_hint}.",
                                    "information",
                                )
                            else:
                                self.tell(
                                    f"The viewer window stopped: {link.stderr_tail.strip()} "
                                    f"({self.reopen_hint.replace('open it again', 'try again')})",
                                    "error",
                                )
                            break
            except OSError as exc:
                self._closed_by_user = True
                self.tell(f"Could not open the viewer window: {exc}", "error")
            finally:
                self.link = None
                if self._scope is scope:
                    self._scope = None

    async def _on_window_event(self, event: object) -> None:
        view = self._view
        if view is None or view.presenter is None:
            return
        match event:
            case Input(event=input_event):
                if view.i_control:  # the window only sends while it shows control, but check
                    await self.session.send_content(input_event, recipient=view.presenter)
            case Refresh(reason=reason):
                await self.session.send_content(
                    RefreshRequest(reason=reason), recipient=view.presenter
                )
