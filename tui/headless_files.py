"""``--send FILE…``, ``--to NAME`` and ``--accept-files DIR`` for the headless programs.

One job: run a session's :class:`~core.client.files.FileTransfers` inside ``porthole present``
or ``porthole view`` and turn what happens into JSON lines (``file_offer``, ``file_progress``,
``file_done``, ``file_failed``; docs/design.md §4.7). The files in ``--send`` go to each other
member (or each member whose display name is ``--to``) once, as that member is first seen in the
session. When stdout is a terminal, progress is a ``rich`` bar instead of ``file_progress`` lines.
Loaded only when one of these options is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from core.client.events import RosterChanged, SessionEvent
from core.client.files import (
    FileTransfers,
    TransferDone,
    TransferEvent,
    TransferFailed,
    TransferOffered,
    TransferProgress,
)
from core.failures import UsageError
from tui.headless import emit

if TYPE_CHECKING:
    from core.client import SessionBase


def check(args: argparse.Namespace) -> None:
    """Usage errors before anyone is contacted: files that cannot be read, a bad directory."""
    for path in args.send or ():
        if not path.is_file():
            raise UsageError(f"--send {path}: not a readable file")
    if args.to is not None and not args.send:
        raise UsageError("--to names who gets the files of --send; give --send FILE too")
    if args.accept_files is not None and not args.accept_files.is_dir():
        raise UsageError(f"--accept-files {args.accept_files}: not a directory")


class HeadlessFiles:
    """The file side of one headless session."""

    def __init__(self, args: argparse.Namespace, session: SessionBase) -> None:
        self._session = session
        self._files: list[Path] = list(args.send or ())
        self._to: str | None = args.to
        self.transfers = FileTransfers(session, accept_dir=args.accept_files)
        self._served: set[int] = set()
        self._bar = _Bar() if sys.stdout.isatty() else None
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self.transfers.run)
                task_status.started()
                async for event in self.transfers.events:
                    self._report(event)
        finally:
            # The session ended (or a signal): what was arriving says so, its .part kept.
            with trio.CancelScope(shield=True):
                await self.transfers.aclose()
            while True:
                try:
                    self._report(self.transfers.events.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break

    async def on_event(self, event: SessionEvent) -> None:
        """Every session event passes here first; file content and rosters are used."""
        await self.transfers.handle(event)
        match event:
            case RosterChanged(roster=roster) if self._files:
                for member in roster.members:
                    if member.peer_id == self._session.peer_id or member.peer_id in self._served:
                        continue
                    if self._to is not None and member.name != self._to:
                        continue
                    self._served.add(member.peer_id)
                    assert self._nursery is not None, "run() is started before events flow"
                    for path in self._files:
                        self._nursery.start_soon(self.transfers.send_file, path, member.peer_id)

    def _report(self, event: TransferEvent) -> None:
        fields: dict[str, Any] = {
            "direction": event.direction,
            "peer": event.peer,
            "file_id": event.file_id,
        }
        match event:
            case TransferOffered(name=name, size=size):
                emit("file_offer", **fields, name=name, size=size)
                if self._bar is not None:
                    self._bar.add(event)
            case TransferProgress(done=done, size=size):
                if self._bar is not None:
                    self._bar.update(event)
                else:
                    emit("file_progress", **fields, bytes=done, size=size)
            case TransferDone(size=size, sha256=sha256, path=path):
                if self._bar is not None:
                    self._bar.finish(event)
                emit(
                    "file_done",
                    **fields,
                    size=size,
                    sha256=sha256,
                    path=None if path is None else str(path),
                )
            case TransferFailed(reason=reason):
                if self._bar is not None:
                    self._bar.finish(event)
                emit("file_failed", **fields, reason=reason)


class _Bar:
    """A ``rich`` progress bar per transfer (bytes, speed, time left), for a person watching."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._tasks: dict[tuple[str, int, int], Any] = {}

    def add(self, event: TransferOffered) -> None:
        if not self._tasks:
            self._progress.start()
        arrow = "→" if event.direction == "send" else "←"
        self._tasks[_key(event)] = self._progress.add_task(
            f"{arrow} {event.name}", total=event.size or 1
        )

    def update(self, event: TransferProgress) -> None:
        task = self._tasks.get(_key(event))
        if task is not None:
            self._progress.update(task, completed=event.done)

    def finish(self, event: TransferDone | TransferFailed) -> None:
        task = self._tasks.pop(_key(event), None)
        if task is not None and isinstance(event, TransferDone):
            self._progress.update(task, completed=event.size or 1)
        if task is not None:
            self._progress.stop_task(task)
        if not self._tasks:
            self._progress.stop()


def _key(event: TransferEvent) -> tuple[str, int, int]:
    return event.direction, event.peer, event.file_id
