"""The one trio runner of :class:`core.client.edge.ClientEdge`: carries its effects out.

The machine decides; this runs: it owns the control guard, the injector, the stuck-key watch
and the revoke hotkey (created when this member first presents, so a member who only watches
loads none of the input machinery), sends the machine's requests and answers, fires its timer,
and hands what a person must see to the front end through :class:`EdgeFront`. The Textual app
and both headless programs use this runner; they differ only in their :class:`EdgeFront`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import trio

from core.client.edge import (
    AllowInput,
    Answer,
    ArmHotkey,
    ClientEdge,
    ControlNotice,
    DisarmHotkey,
    Effect,
    EndInput,
    RelayController,
    Request,
    Say,
    SetAudience,
    SetPaused,
    StartCapture,
    StopCapture,
)
from core.protocol.content import Chat, InputEvent
from core.protocol.messages import Roster

if TYPE_CHECKING:
    from core.client.session import SessionBase
    from core.control.guard import ControlGuard, GuardStatistics
    from core.control.hotkey import RevokeHotkeyWhileGranted
    from core.control.injector import AreaTuple, Injector
    from core.control.stuck_keys import StuckKeyWatch


class EdgeFront(Protocol):
    """What a front end (the app, a headless program) supplies: capture, and telling people.

    ``start_capture`` raises :class:`~core.capture.errors.CaptureError` when there is nothing
    to capture; the runner then stops presenting and says why (:meth:`ClientEdge.capture_failed`).
    """

    def start_capture(self) -> None: ...
    def stop_capture(self) -> None: ...
    def set_audience(self, viewers: int) -> None: ...
    def set_paused(self, paused: bool) -> None: ...
    def area(self) -> AreaTuple | None: ...
    def control_changed(
        self, controller: int | None, reason: str, previous: int | None
    ) -> None: ...
    def hotkey_unavailable(self, reason: str) -> None: ...
    def said(self, text: str) -> None: ...
    def cannot_capture(self, reason: str) -> None: ...


class ControlParts:
    """The input side, built on first use (importing it loads the X input machinery)."""

    def __init__(
        self, front: EdgeFront, on_hotkey: trio.MemorySendChannel[str], reason: str
    ) -> None:
        from core.control.guard import ControlGuard
        from core.control.hotkey import RevokeHotkeyWhileGranted
        from core.control.injector import Injector
        from core.control.stuck_keys import StuckKeyWatch

        self.injector: Injector = Injector(lambda: front.area() or (0, 0, 0, 0))
        self.guard: ControlGuard = ControlGuard(self.injector)
        self.stuck_keys: StuckKeyWatch = StuckKeyWatch(self.injector)
        self.hotkey: RevokeHotkeyWhileGranted = RevokeHotkeyWhileGranted(
            lambda: on_hotkey.send_nowait(reason), immediate=self.injector.revoke
        )


class EdgeRunner:
    """Run :meth:`run` in the session's nursery; feed it events with the other methods."""

    def __init__(
        self, session: SessionBase, edge: ClientEdge, front: EdgeFront, *, hotkey: str = "hotkey"
    ) -> None:
        self.session = session
        self.hotkey_reason = hotkey
        self.edge = edge
        self.front = front
        self._control: ControlParts | None = None
        self._nursery: trio.Nursery | None = None
        self._deadline_changed = trio.Event()
        self._hotkey_send, self._hotkey_receive = trio.open_memory_channel[str](16)
        self._lock = trio.Lock()  # effects of one event are carried out before the next's

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The runner's own tasks: the edge's timer, the hotkey's revokes, stuck keys."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._timer)
                nursery.start_soon(self._hotkey_revokes)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            control, self._control = self._control, None
            if control is not None:
                control.guard.revoke()
                await control.hotkey.disarm()
                control.injector.close()

    @property
    def control(self) -> ControlParts | None:
        """The input side, once this member presented (None before)."""
        return self._control

    @property
    def guard(self) -> ControlGuard | None:
        return self._control.guard if self._control is not None else None

    def statistics(self) -> GuardStatistics | None:
        return self._control.guard.statistics() if self._control is not None else None

    # -- events in -------------------------------------------------------------------------

    async def on_roster(self, roster: Roster) -> None:
        await self._apply(lambda: self.edge.roster(roster, trio.current_time()))

    def on_input(self, sender: int, event: InputEvent) -> None:
        """Input from a (signature-verified) member: the guard decides, nothing else."""
        control = self._control
        if control is None:
            return
        area = self.front.area()
        control.guard.on_input(sender, event, (area[2], area[3]) if area is not None else None)
        control.stuck_keys.poke()

    async def grant(self, peer: int, *, consent_id: int | None = None) -> None:
        await self._apply(lambda: self.edge.grant(peer, trio.current_time(), consent_id=consent_id))

    async def revoke(self, reason: str) -> None:
        await self._apply(lambda: self.edge.revoke(reason))

    async def pause(self) -> None:
        await self._apply(self.edge.pause)

    async def resume(self) -> None:
        await self._apply(self.edge.resume)

    async def reshare(self) -> None:
        await self._apply(self.edge.reshare)

    async def stop_presenting(self) -> None:
        await self._apply(self.edge.stop_presenting)

    async def capture_failed(self, reason: str) -> None:
        """Capture broke while presenting (the front end's capture task saw it)."""
        self.front.cannot_capture(reason)
        await self._apply(lambda: self.edge.capture_failed(reason))

    async def closed(self, reason: str) -> None:
        """The session is over: stop capture and control; nothing is sent."""
        await self._apply(lambda: self.edge.closed(reason), send=False)

    # -- carrying effects out --------------------------------------------------------------

    async def _apply(self, decide: Callable[[], list[Effect]], *, send: bool = True) -> None:
        async with self._lock:
            effects: list[Effect] = decide()
            await self._carry_out(effects, send=send)
        self._deadline_changed.set()

    async def _carry_out(self, effects: list[Effect], *, send: bool) -> None:
        session, front = self.session, self.front
        for effect in effects:
            match effect:
                case StartCapture():
                    from core.capture.errors import CaptureError

                    try:
                        self._control_parts()
                        front.start_capture()
                    except (CaptureError, ValueError) as exc:
                        front.cannot_capture(str(exc))
                        more = self.edge.capture_failed(str(exc))
                        await self._carry_out(more, send=send)
                        return
                case StopCapture():
                    front.stop_capture()
                case SetAudience(viewers=viewers):
                    front.set_audience(viewers)
                case SetPaused(paused=paused):
                    front.set_paused(paused)
                case AllowInput(peer=peer):
                    self._control_parts().guard.grant(peer)
                case EndInput():
                    if self._control is not None:
                        self._control.guard.revoke()
                case RelayController(peer=peer):
                    if self._control is not None:
                        self._control.guard.relay_names(peer)
                case ArmHotkey():
                    await self._arm()
                case DisarmHotkey():
                    if self._control is not None:
                        await self._control.hotkey.disarm()
                case ControlNotice(controller=controller, reason=reason, previous=previous):
                    front.control_changed(controller, reason, previous)
                case Request(action=action, target=target) if send and session.closed is None:
                    await session.request(action, target, confirmed=True)
                case Answer(consent_id=consent_id, granted=granted) if (
                    send and session.closed is None
                ):
                    await session.answer_consent(consent_id, granted=granted)
                case Say(text=text) if send and session.closed is None:
                    await session.send_content(Chat(text=text))
                    front.said(text)
                case _:
                    pass  # a message for a session that is over

    def _control_parts(self) -> ControlParts:
        if self._control is None:
            self._control = ControlParts(self.front, self._hotkey_send, self.hotkey_reason)
            if self._nursery is not None:
                self._nursery.start_soon(self._control.stuck_keys.run)
        return self._control

    async def _arm(self) -> None:
        from core.control.errors import HotkeyUnavailable

        try:
            await self._control_parts().hotkey.arm()
        except HotkeyUnavailable as exc:
            self.front.hotkey_unavailable(str(exc))

    async def _timer(self) -> None:
        while True:
            deadline = self.edge.next_deadline
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._deadline_changed.wait()
                self._deadline_changed = trio.Event()
                continue
            await self._apply(lambda: self.edge.due(trio.current_time()))

    async def _hotkey_revokes(self) -> None:
        async for reason in self._hotkey_receive:
            await self.revoke(reason)
