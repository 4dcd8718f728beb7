"""``porthole view --headless``: join a session and keep the presenter's picture in memory.

Its command line and what it prints are described in :data:`tui.options.VIEW_DESCRIPTION`
(what ``porthole view --help`` shows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from core.client import open_relay_client
from core.failures import Failure, Interrupted, UsageError, session_end_failure
from core.links import JoinLink, normalize_session_id, parse_link
from tui.headless import (
    emit,
    emit_transport,
    parse_relay,
    pinned_fingerprint,
    read_secret_file,
    wants_files,
)
from tui.identity import identity_from_args

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # --identity

    # Loaded when used. What follows the first byte on the wire (the session logic, the
    # protocol's messages, tui/view_watch.py) while the TLS handshake is in flight
    # (core/client/connect.py); the decoder once the relay answered (_view).
    from core.control.script import Step
    from core.stream.viewer import ScreenViewer


def resolve(args: argparse.Namespace) -> JoinLink:
    if args.link:
        link = parse_link(args.link)
    elif args.relay and args.session:
        host, port = parse_relay(args.relay)
        link = JoinLink(host, port, normalize_session_id(args.session), None)
    else:
        raise UsageError("give a join link, or --relay HOST:PORT and --session ID")
    fingerprint = link.fingerprint if link.fingerprint and not args.fingerprint else None
    if fingerprint is None:
        fingerprint = pinned_fingerprint(link.host, link.port, args.fingerprint)
    return JoinLink(link.host, link.port, link.session_id, fingerprint)


def run(args: argparse.Namespace) -> int:
    if not args.headless:
        raise UsageError(
            "`porthole view` runs only with --headless",
            next_step="To watch in a window, run `porthole join LINK`; add --headless for scripts.",
        )
    if args.frames is not None and args.frames < 1:
        raise UsageError("--frames must be at least 1")
    steps: list[Step] | None = None
    if args.request_control or getattr(args, "control_steps", None):
        # Only a controller loads the input parser: a plain viewer imports nothing of control.
        from tui.controller import parse_steps

        steps = parse_steps(args)  # a mistake is a usage error before anyone is contacted
    if wants_files(args):
        from tui.headless_files import check

        check(args)
    link = resolve(args)
    password = (
        read_secret_file(args.session_password_file, "session password")
        if args.session_password_file
        else ""
    )
    identity = identity_from_args(args)  # a bad key file is said before connecting
    viewer_box: list[ScreenViewer] = []
    try:
        trio.run(_view, args, link, password, viewer_box, steps, identity)
    finally:
        # Also after a refusal, a lost relay or a signal: a frame that arrived is kept.
        if args.save_frame is not None and viewer_box:
            _save(viewer_box[0], args.save_frame)
    return 0


async def _view(
    args: argparse.Namespace,
    link: JoinLink,
    password: str,
    viewer_box: list[ScreenViewer],
    steps: list[Step] | None = None,
    identity: Ed25519PrivateKey | None = None,
) -> None:
    assert link.fingerprint is not None
    # Refusals (locked, declined, wrong password, ...) and a lost relay propagate as Failures.
    async with open_relay_client(
        link.host,
        link.port,
        pinned=link.fingerprint,
        transport=args.transport,
        proxy=args.proxy,
    ) as client:
        emit_transport(client.channel.identity)
        session = await client.join(
            link.session_id, name=args.name, password=password, identity=identity
        )
        # The decoder (numpy, Pillow) loads once the relay has been reached, not before the
        # first byte: a script polling a relay hears back sooner (bench/startup.py).
        from core.stream.viewer import ScreenViewer
        from tui.view_watch import ask_presenter, watch

        viewer = ScreenViewer(lambda req: ask_presenter(session, req))
        viewer_box.append(viewer)
        control = None
        if steps is not None:
            from tui.controller import ScriptedControl

            control = ScriptedControl(session, steps, timeout=args.control_timeout)
        stopped_by = await watch(args, session, viewer, control)
    if stopped_by is not None:
        raise Interrupted(stopped_by)
    closed = session.closed
    if closed is not None and (failure := session_end_failure(closed.code, closed.message)):
        raise failure  # the relay went away (exit 3), or this viewer was removed
    if control is not None:
        if control.failure is not None:
            raise control.failure  # refused or revoked: exit 1 with an error event
        if not control.finished:
            raise Failure(
                "The viewer stopped before the input script finished "
                "(the session ended, or --duration passed).",
                kind="unfinished",
            )


def _save(viewer: ScreenViewer, path: Path) -> None:
    frame = viewer.frame
    if frame is None:
        emit("saved", path=None, reason="no frame was received")
        return
    from PIL import Image  # only for this explicit request: nothing else here writes images

    # Write beside the target and rename, so a reader never sees half a PNG.
    directory = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".porthole-frame-", suffix=".png", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            Image.fromarray(frame, "RGB").save(handle, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    emit("saved", path=str(path), width=frame.shape[1], height=frame.shape[0], at=time.time())
