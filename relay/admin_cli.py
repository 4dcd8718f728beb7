"""``porthole-relay admin``: the operator's way into a running relay, over its admin socket.

Without ``--json`` it opens the Textual admin TUI, made for ``ssh -t host porthole-relay admin``
in an 80x24 terminal. The relay does not import the TUI (docs/design.md §2.2): it finds the app
through the ``porthole.relay_admin_ui`` entry point, which the ``tui`` side registers. With
``--json OP [KEY=VALUE ...]`` it runs one op of :data:`relay.admin_protocol.OPS` and prints the
result as JSON, for scripts::

    porthole-relay admin --json sessions.list
    porthole-relay admin --json sessions end session_id=482913570
    porthole-relay admin --json bans.add address=192.0.2.7 "reason=password spraying"
    printf '%s\\n' "$PW" | porthole-relay admin --json accounts.add username=bob --password-stdin
    porthole-relay admin --json events.subscribe          # JSON lines until Ctrl-C

A failed op prints ``{"error": {"code": ..., "message": ...}}`` on stdout, the sentence on stderr,
and exits 1; a relay that cannot be reached exits 1 with a sentence; usage mistakes exit 2.
Passwords are never taken from the command line (every local user can read it in ``ps``).

This module stays free of trio and Textual at import time, like the rest of ``relay.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

from core.failures import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from relay.admin_protocol import OPS, SOCKET_NAME, AdminError, Op, parse_cli_args

#: Entry-point group under which a front end registers ``run(socket_path) -> exit code``.
ADMIN_UI_GROUP = "porthole.relay_admin_ui"


def add_admin_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``admin`` to ``porthole-relay``'s subcommands (``commands`` is their action)."""
    admin = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "admin",
            help="administer a running relay: TUI, or --json OP for scripts",
            description=textwrap.fill(
                "Administer a running relay through its admin socket (DATA_DIR/"
                f"{SOCKET_NAME}, mode 0600): who may administer is who may log in as the relay's "
                "user, e.g. 'ssh -t relay@host porthole-relay admin'. Without --json, a "
                "keyboard-driven TUI: live sessions (end, remove a member, lock), lockouts and "
                "bans, organizer accounts, records with CSV export, security events. With "
                "--json OP, one operation for scripts; its result is printed as JSON.",
                width=79,
            ),
            epilog=_ops_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
    )
    where = admin.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        metavar="DIR",
        type=_path,
        default=None,
        help="the relay's data directory (default: as for 'serve')",
    )
    where.add_argument(
        "--socket",
        metavar="PATH",
        type=_path,
        default=None,
        help=f"the admin socket itself (default: DATA_DIR/{SOCKET_NAME})",
    )
    admin.add_argument(
        "--json",
        metavar="OP",
        dest="op",
        default=None,
        help="run OP (listed below; 'sessions list' works as well as 'sessions.list') and print "
        "its result as JSON",
    )
    admin.add_argument(
        "words", nargs="*", metavar="KEY=VALUE", help="arguments of OP (see the list below)"
    )
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="for accounts.add and accounts.passwd: read the password from the first line of "
        "standard input instead of prompting",
    )
    admin.set_defaults(handler=run_admin)
    return admin


def run_admin(args: argparse.Namespace) -> int:
    path = _socket_path(args)
    if args.op is None:
        if args.words:
            return _usage(f"arguments {' '.join(args.words)!r} need --json OP")
        return _run_tui(path)
    words = list(cast(list[str], args.words))
    name = cast(str, args.op)
    if name not in OPS and words and f"{name}.{words[0]}" in OPS:
        name = f"{name}.{words.pop(0)}"
    op = OPS.get(name)
    if op is None:
        return _usage(f"unknown op {name!r}; one of: {', '.join(sorted(OPS))}")
    try:
        op_args = parse_cli_args(op, words)
    except AdminError as exc:
        return _usage(exc.message)
    if any(a.secret for a in op.args):
        op_args["password"] = _read_password(args, op, op_args)
    from relay.admin_client import AdminClient, AdminUnavailable  # (asyncio) when it connects

    try:
        with AdminClient(path) as client:
            if op.name == "events.subscribe":
                for event in client.events():
                    print(json.dumps(event, ensure_ascii=False), flush=True)
                return EXIT_OK
            result = client.call(op.name, op_args)
    except AdminUnavailable as exc:
        _fail(str(exc))
        return EXIT_FAILED
    except AdminError as exc:
        print(json.dumps({"error": {"code": exc.code.value, "message": exc.message}}, indent=2))
        _fail(exc.message)
        return EXIT_FAILED
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return EXIT_OK


def _run_tui(path: Path) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _usage(
            "the admin TUI needs a terminal (over SSH: ssh -t); for scripts use --json OP"
        )
    from relay.admin_client import AdminClient, AdminUnavailable

    try:
        with AdminClient(path, timeout=10) as client:
            client.call("relay.status")
    except (AdminUnavailable, AdminError) as exc:
        _fail(str(exc))
        return EXIT_FAILED
    launch = _admin_ui()
    if launch is None:
        _fail("This installation of porthole-relay has no admin TUI; use --json OP.")
        return EXIT_FAILED
    return launch(path)


def _admin_ui() -> Callable[[Path], int] | None:
    """The installed admin front end, or None when only the relay is installed."""
    for entry in entry_points(group=ADMIN_UI_GROUP):
        return cast(Callable[[Path], int], entry.load())
    return None


def _socket_path(args: argparse.Namespace) -> Path:
    if args.socket is not None:
        return cast(Path, args.socket)
    if args.data_dir is not None:
        return cast(Path, args.data_dir) / SOCKET_NAME
    from relay.cli import default_data_dir  # here: relay.cli imports this module

    return default_data_dir() / SOCKET_NAME


def _read_password(args: argparse.Namespace, op: Op, op_args: dict[str, object]) -> str:
    from relay.cli import _read_new_password  # the same rules and prompts as 'account add'

    username = str(op_args.get("username", ""))
    reader = argparse.Namespace(name=username, password_stdin=args.password_stdin)
    prompt = f"Password for {username}: " if op.name == "accounts.add" else "New password: "
    return _read_new_password(reader, prompt)


def _ops_help() -> str:
    lines = ["ops for --json (KEY=VALUE arguments; * marks required ones):"]
    for op in OPS.values():
        lines.append(f"  {op.name:<17} {op.summary}")
        public = [f"{a.name}{'*' if a.required else ''}" for a in op.args if not a.secret]
        if any(a.secret for a in op.args):
            public.append("(password: prompt or --password-stdin)")
        if public:
            lines.append(f"  {'':<17}   {' '.join(public)}")
    return "\n".join(lines)


def _path(value: str) -> Path:
    return Path(value).expanduser()


def _usage(message: str) -> int:
    print(f"porthole-relay admin: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _fail(message: str) -> None:
    print(f"porthole-relay: error: {message}", file=sys.stderr)
