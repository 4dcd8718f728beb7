"""The ``porthole`` command: the Textual client, ``demo``, ``join``, ``create``, and the headless
``present``/``view``.

``porthole`` alone opens the client app. ``porthole demo`` is the one-command local try-out: a
relay inside this process on loopback with a throw-away data directory and organizer account,
a password-less session (so every knock waits for your approval) and exactly what to type in a
second terminal to join it. On a terminal these open the Textual app; without one (a script, a
pipe) or with ``--console`` they use a line-mode console instead.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli_exit import run_command
from core.failures import EXIT_STATUS_HELP, Failure, Refused, UsageError, session_end_failure
from core.known_relays import KnownRelays
from core.links import JoinLink, format_session_id, normalize_session_id, parse_link
from core.tlspin import format_fingerprint, parse_fingerprint
from core.version import VersionAction
from tui.app.start import RelayTarget, Start
from tui.demo_relay import DEMO_ORGANIZER, DemoRelayProcess, prepare_demo_relay
from tui.headless import parse_relay
from tui.options import (
    IDENTITY_DESCRIPTION,
    PRESENT_DESCRIPTION,
    VERIFY_DESCRIPTION,
    VIEW_DESCRIPTION,
    add_identity_arguments,
    add_identity_option,
    add_present_arguments,
    add_transport_arguments,
    add_verify_arguments,
    add_view_arguments,
)
from tui.terminal import login_name, wants_tui

if TYPE_CHECKING:
    from core.client import OrganizerSession

# What a command needs to run (trio, the client library, the relay, Textual, the codec) is
# imported inside the function that runs it: `--help`, `--version` and usage errors are answered
# by argparse before any of that loads (tests/tui/test_startup_imports.py holds this).


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porthole",
        description=(
            "End-to-end encrypted screen sharing and remote support, driven from the terminal. "
            "Without a command, opens the client app. Start with `porthole demo`."
        ),
        epilog=EXIT_STATUS_HELP,
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="try porthole locally: an embedded relay and a session you organize",
        description=(
            "Start a relay inside this process (temporary data directory, throw-away organizer "
            "account, deleted on exit), create a session, and print the command that joins it "
            "from a second terminal. Knocks wait for you: type y to admit, n to decline."
        ),
        epilog=EXIT_STATUS_HELP,
    )
    demo.add_argument("--port", type=int, default=0, help="relay port (default: any free port)")
    demo.add_argument(
        "--name", default="Organizer", help="your display name (default: %(default)s)"
    )
    _add_console_flag(demo)

    create = commands.add_parser(
        "create",
        help="log in to a relay and create a session you organize (opens the client app)",
        description=(
            "Open the client app at the organizer's login for RELAY (HOST:PORT), then create a "
            "session: a random or chosen ID, an optional password, whether you approve joins."
        ),
        epilog=EXIT_STATUS_HELP,
    )
    create.add_argument("--relay", metavar="HOST:PORT", help="the relay to log in to")
    create.add_argument("--fingerprint", metavar="HEX", help="relay certificate fingerprint to pin")
    create.add_argument("--user", default="", help="organizer user name to prefill")

    join = commands.add_parser(
        "join",
        help="join a session by link, or by relay address and session ID",
        description=(
            "Join a session. A link (porthole://HOST:PORT/ID?fp=...) pins the relay's "
            "certificate; with --relay and a bare session ID, the relay must be known "
            "(~/.config/porthole/known_relays) or you are asked to trust its fingerprint."
        ),
        epilog=EXIT_STATUS_HELP,
    )
    join.add_argument("target", metavar="LINK_OR_ID", help="join link, or a 9-digit session ID")
    join.add_argument("--relay", metavar="HOST:PORT", help="relay address when giving a bare ID")
    join.add_argument("--fingerprint", metavar="HEX", help="relay certificate fingerprint to pin")
    join.add_argument(
        "--name",
        default=None,
        help="your display name, unique in the session in any case (default: your login name)",
    )
    secret = join.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-file", type=Path, metavar="FILE", help="read the session password from FILE"
    )
    secret.add_argument("--ask-password", action="store_true", help="prompt for a session password")
    add_identity_option(join)
    add_transport_arguments(join)
    _add_console_flag(join)

    present = commands.add_parser(
        "present",
        help="create a session and share a screen (--headless: for scripts and kiosks)",
        description=PRESENT_DESCRIPTION,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_present_arguments(present)

    view = commands.add_parser(
        "view",
        help="join a session and receive the shared screen (--headless: for scripts)",
        description=VIEW_DESCRIPTION,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_view_arguments(view)

    verify = commands.add_parser(
        "verify",
        help="check downloaded release files against SHA256SUMS and its signature",
        description=VERIFY_DESCRIPTION,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verify_arguments(verify)

    identity = commands.add_parser(
        "identity",
        help="create or show your identity key (proved with --identity when joining)",
        description=IDENTITY_DESCRIPTION,
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_identity_arguments(identity, EXIT_STATUS_HELP)
    return parser


def _add_console_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--console",
        action="store_true",
        help="line-mode console instead of the client app (the default without a terminal)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if not wants_tui(console=False):
            parser.print_help()
            return 0
        return run_command(lambda: _run_app(None), prefix="porthole: ")
    # Every failure, refusal and interruption ends as one line (and an `error` event for the
    # headless commands) with the documented exit code: core.cli_exit.
    headless = args.command in ("present", "view") and bool(args.headless)
    return run_command(lambda: _run_command(args), prefix="porthole: ", headless=headless)


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        if wants_tui(console=args.console):
            # Started before Textual is imported: the relay's own imports and setup run in a
            # second process while this one loads the app (tui/demo_relay.py).
            with DemoRelayProcess.start(port=args.port) as relay:
                from tui.app.launch import run_demo_app

                return run_demo_app(relay, name=args.name)
        import trio

        trio.run(run_demo, args)
    elif args.command == "create":
        start = _create_start(args)
        if not wants_tui(console=False):
            raise UsageError(
                "`porthole create` opens the client app and needs a terminal",
                next_step="Scripts create sessions with `porthole present --headless`.",
            )
        return _run_app(start)
    elif args.command == "join":
        if wants_tui(console=args.console):
            return _run_app(_join_start(args))
        import trio

        trio.run(run_join, args)
    elif args.command == "present":
        from tui.present import run as run_present

        return run_present(args)
    elif args.command == "verify":
        from tui.verify import run as run_verify

        return run_verify(args)
    elif args.command == "identity":
        from tui.identity import run as run_identity

        return run_identity(args)
    else:
        from tui.view import run as run_view

        return run_view(args)
    return 0


# --- the client app ---------------------------------------------------------------------------


def _run_app(start: Start | None) -> int:
    from tui.app.launch import run_app

    return run_app(start)


def _join_start(args: argparse.Namespace) -> Start:
    link = _resolve_target(args)
    target = RelayTarget(
        link.host, link.port, link.fingerprint, transport=args.transport, proxy=args.proxy
    )
    given = args.password_file is not None or args.ask_password
    password = _session_password(args) if given else None  # asked before the app takes over
    from tui.identity import identity_from_args

    return Start(
        relay=target,
        session_id=link.session_id,
        name=args.name or "",
        password=password,
        identity=identity_from_args(args),
    )


def _create_start(args: argparse.Namespace) -> Start:
    if not args.relay:
        return Start(organize=True, username=args.user)
    host, port = parse_relay(args.relay)
    try:
        pinned = parse_fingerprint(args.fingerprint) if args.fingerprint else None
    except ValueError as exc:
        raise UsageError(f"--fingerprint: {exc}") from None
    return Start(relay=RelayTarget(host, port, pinned), organize=True, username=args.user)


# --- demo -------------------------------------------------------------------------------------


async def run_demo(args: argparse.Namespace) -> None:
    import trio

    from core.client import open_relay_client
    from relay.server import serve_relay
    from tui.console import Console

    with tempfile.TemporaryDirectory(prefix="porthole-demo-") as tmp:
        config, password = prepare_demo_relay(Path(tmp) / "relay", port=args.port)
        async with trio.open_nursery() as nursery:
            try:
                info = await nursery.start(serve_relay, config)
            except OSError as exc:
                raise Failure(
                    f"cannot start the relay on port {args.port}: {exc.strerror}",
                    next_step="Choose another --port, or leave it out for any free port.",
                ) from None
            async with open_relay_client("127.0.0.1", info.port, pinned=info.fingerprint) as client:
                await client.login(DEMO_ORGANIZER, password)
                session = await client.create_session(name=args.name, organizer_presents=False)
                link = JoinLink("127.0.0.1", info.port, session.session_id, info.fingerprint)
                _print_demo_banner(session, link, info.fingerprint)
                await Console(session).run()
            nursery.cancel_scope.cancel()


def _print_demo_banner(session: OrganizerSession, link: JoinLink, fingerprint: str) -> None:
    print(
        f"""porthole demo: an embedded relay on 127.0.0.1:{link.port} (temporary; gone on exit)
relay certificate: {format_fingerprint(fingerprint)}

session {format_session_id(session.session_id)}, organized by you, no password: you approve
each knock. Security code (everyone in the session sees the same one):
    {session.security_code}

In a second terminal, join with:
    porthole join '{link}' --name Ana

Type y / n to answer knocks, text to chat, /help for commands, /end or Ctrl+D to finish.
""",
        flush=True,
    )


# --- join -------------------------------------------------------------------------------------


async def run_join(args: argparse.Namespace) -> None:
    from core.client import open_relay_client
    from tui.console import Console
    from tui.identity import identity_from_args

    link = _resolve_target(args)
    pinned = link.fingerprint
    known = KnownRelays()
    if pinned is None:
        pinned = known.lookup(link.host, link.port)
    password = _session_password(args)
    name = args.name or login_name("guest")
    identity = identity_from_args(args)
    # Refusals (locked, declined, wrong password, ...) and a lost relay propagate as Failures.
    async with open_relay_client(
        link.host, link.port, pinned=pinned, transport=args.transport, proxy=args.proxy
    ) as client:
        transport = client.channel.identity
        print(
            f"connected to the relay over {transport.transport_description} "
            f"({transport.transport}) in {transport.connect_ms:.0f} ms",
            flush=True,
        )
        if pinned is None:
            _trust_on_first_use(known, link, client.fingerprint)
        elif link.fingerprint is None:  # pinned by the known-relays file
            known.upgrade(link.host, link.port, pinned, client.fingerprint)
        print(f"knocking on session {format_session_id(link.session_id)} as {name} …")
        session = await client.join(
            link.session_id, name=name, password=password, identity=identity
        )
        print(
            f"joined. Compare the security code with the organizer's:\n"
            f"    {session.security_code}\n/help lists commands.",
            flush=True,
        )
        await Console(session).run()
    closed = session.closed
    if closed is not None and (failure := session_end_failure(closed.code, closed.message)):
        raise failure  # the relay went away (exit 3), or this member was removed


def _resolve_target(args: argparse.Namespace) -> JoinLink:
    if "://" in args.target:  # a link, or something meant to be one: parse_link says which
        link = parse_link(args.target)
    else:
        if not args.relay:
            raise UsageError("give a join link, or --relay HOST:PORT with the session ID")
        host, port = parse_relay(args.relay)
        link = JoinLink(host, port, normalize_session_id(args.target), None)
    if args.fingerprint:
        try:
            pinned = parse_fingerprint(args.fingerprint)
        except ValueError as exc:
            raise UsageError(f"--fingerprint: {exc}") from None
        link = JoinLink(link.host, link.port, link.session_id, pinned)
    return link


def _session_password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise Failure(f"cannot read {args.password_file}: {exc.strerror}") from None
    if args.ask_password:
        return getpass.getpass("session password: ")
    return ""


def _trust_on_first_use(known: KnownRelays, link: JoinLink, fingerprint: str) -> None:
    print(
        f"The relay {link.host}:{link.port} is not known yet. Its certificate fingerprint is\n"
        f"    {format_fingerprint(fingerprint)}\n"
        "Compare it with what the relay's operator gave you."
    )
    if not sys.stdin.isatty():
        raise UsageError(
            "unknown relay and no terminal to confirm it",
            next_step="Pass --fingerprint, or join with a link (it carries the fingerprint).",
        )
    answer = input("Trust this relay and remember it? [y/N] ").strip().lower()
    if answer != "y":
        raise Refused("not trusted; nothing was sent to the relay", next_step="")
    known.remember(link.host, link.port, fingerprint)


if __name__ == "__main__":
    raise SystemExit(main())
