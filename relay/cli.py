"""``porthole-relay``: the operator's command line for a relay.

Subcommands:

- ``serve`` — run the relay daemon (implemented in ``relay.server_cli``, imported lazily so
  that account and record commands work without loading trio and the server);
- ``account add|passwd|disable|enable|list`` — organizer accounts;
- ``records`` — the ancillary session records and security events;
- ``admin`` — the admin TUI or ``--json OP`` on a running relay's socket (``relay.admin_cli``).

Everything is non-interactive except password entry on a terminal, so the commands can be
scripted (``--password-stdin``, ``--json``). Failures print one sentence to stderr and exit 1;
usage mistakes exit 2; nothing ever ends in a traceback an operator has to decode.

The account and record commands open the store *beside* a possibly running relay, so they
never close unfinished session records (``close_unfinished=False``): those belong to the
running relay, and only its own start-up may declare them abandoned.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from core.cli_exit import run_command
from core.endpoints import split_endpoint
from core.failures import EXIT_OK, EXIT_STATUS_HELP, EXIT_USAGE, Failure, UsageError
from core.humanize import duration, size, when
from core.version import VersionAction
from relay.admin_cli import add_admin_parser
from relay.logs import LOG_FORMATS, LOG_LEVELS
from relay.passwords import password_problem

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from relay.store import Account, RelayStore, SecurityEvent, SessionRecord

# The store (argon2, sqlite3) and rich load in the commands that use them, so `--help` and usage
# errors answer at once (tests/tui/test_startup_imports.py).

PROG = "porthole-relay"
DEFAULT_LISTEN = "127.0.0.1:7443"
DEFAULT_RECORD_LIMIT = 50

_DATA_DIR_HELP = (
    "relay data directory (default: $PORTHOLE_RELAY_DATA, else $XDG_DATA_HOME/porthole-relay, "
    "else ~/.local/share/porthole-relay)"
)


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the relay keeps its data when ``--data-dir`` is not given.

    ``$PORTHOLE_RELAY_DATA`` wins (services set it); otherwise the XDG data directory, as the
    XDG spec says only when it is an absolute path.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("PORTHOLE_RELAY_DATA")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "porthole-relay"
    home = env.get("HOME")
    base = Path(home) if home else Path.home()
    return base / ".local" / "share" / "porthole-relay"


def parse_listen(value: str) -> tuple[str, int]:
    """argparse type for ``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) → ``(host, port)``."""
    try:
        return split_endpoint(value, any_port=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return int(value)


def _dir_path(value: str) -> Path:
    return Path(value).expanduser()


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors read like ours: prog, 'error:', one sentence, exit 2.

    Every command's help ends with the exit codes (an epilog of its own comes first).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        own = kwargs.get("epilog")
        if kwargs.get("add_help", True):
            kwargs["epilog"] = f"{own}\n\n{EXIT_STATUS_HELP}" if own else EXIT_STATUS_HELP
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree; each level has a description and help (``--help`` anywhere)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--data-dir", metavar="DIR", type=_dir_path, default=None, help=_DATA_DIR_HELP
    )

    parser = _Parser(
        prog=PROG,
        description=(
            "The porthole relay: switches end-to-end encrypted screen-sharing sessions between "
            "organizers and participants. It stores no session content, only organizer accounts "
            "and ancillary records (who ran which session, when, how much was relayed)."
        ),
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # --- serve: the relay daemon (relay/server_cli.py) ---------------------
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="run the relay daemon",
        description=(
            "Run the relay: accept TLS connections from porthole clients and switch their "
            "sessions. Generates a self-signed certificate in the data directory on first start "
            "unless --cert and --key are given."
        ),
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="read these settings from a TOML file (keys: listen, data-dir, cert, key, "
        "no-raw, log-format, log-level, metrics, metrics-any-address); flags given here "
        "override it",
    )
    serve.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=parse_listen,
        default=None,
        help=f"address to listen on; [::1]:PORT for IPv6 (default: {DEFAULT_LISTEN})",
    )
    serve.add_argument("--cert", metavar="FILE", type=Path, help="TLS certificate chain (PEM)")
    serve.add_argument("--key", metavar="FILE", type=Path, help="TLS private key (PEM)")
    serve.add_argument(
        "--no-raw",
        action="store_true",
        default=None,
        help=(
            "answer HTTPS only (WebSocket on /ws, /healthz, /join/ID), not framed porthole/1: "
            "behaves as if a middlebox let nothing but HTTPS through (for testing fallback)"
        ),
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="log one event per line on stderr: sessions, members, security events, warnings "
        "(json: one JSON object per line); never content or passwords (default: warnings and "
        "errors only, as text)",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="least severe level logged (default: info with --log-format, else warning)",
    )
    serve.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        type=parse_listen,
        default=None,
        help="serve Prometheus metrics (GET /metrics, plain HTTP) on this separate address, "
        "never on the public port; a loopback address unless --metrics-any-address "
        "(default: off; Prometheus's usual port is 9464)",
    )
    serve.add_argument(
        "--metrics-any-address",
        action="store_true",
        default=None,
        help="allow --metrics on an address other than loopback (the metrics are unencrypted "
        "and unauthenticated: firewall them to your Prometheus)",
    )
    serve.set_defaults(handler=_cmd_serve)

    # --- account ---------------------------------------------------------------------------
    account = commands.add_parser(
        "account",
        help="manage organizer accounts",
        description=(
            "Manage organizer accounts: only organizers log in to the relay, to start sessions. "
            "Participants need no account. Passwords must be strong (at least 12 characters, "
            "not common, not a keyboard pattern) and are stored only as argon2id hashes."
        ),
    )
    account_commands = account.add_subparsers(
        dest="account_command", metavar="ACTION", parser_class=_Parser
    )
    stdin_help = (
        "read the password from the first line of standard input instead of prompting (for scripts)"
    )

    add = account_commands.add_parser(
        "add",
        parents=[common],
        help="create an organizer account",
        description=(
            "Create an organizer account. NAME is 1-64 letters, digits, '.', '_' or '-'; names "
            "are unique regardless of case. The password is asked twice on a terminal."
        ),
    )
    add.add_argument("name", metavar="NAME", help="the new account's user name")
    add.add_argument("--password-stdin", action="store_true", help=stdin_help)
    add.set_defaults(handler=_cmd_account_add)

    passwd = account_commands.add_parser(
        "passwd",
        parents=[common],
        help="set a new password for an account",
        description="Replace an organizer's password. The new one must be strong as well.",
    )
    passwd.add_argument("name", metavar="NAME", help="the account's user name")
    passwd.add_argument("--password-stdin", action="store_true", help=stdin_help)
    passwd.set_defaults(handler=_cmd_account_passwd)

    disable = account_commands.add_parser(
        "disable",
        parents=[common],
        help="stop an account from logging in",
        description=(
            "Disable an organizer account: it can no longer log in or start sessions. "
            "Sessions already running are not ended. Undo with 'account enable'."
        ),
    )
    disable.add_argument("name", metavar="NAME", help="the account's user name")
    disable.set_defaults(handler=_cmd_account_disable)

    enable = account_commands.add_parser(
        "enable",
        parents=[common],
        help="allow a disabled account to log in again",
        description="Re-enable an organizer account that was disabled.",
    )
    enable.add_argument("name", metavar="NAME", help="the account's user name")
    enable.set_defaults(handler=_cmd_account_enable)

    listing = account_commands.add_parser(
        "list",
        parents=[common],
        help="list organizer accounts",
        description="List organizer accounts with their state and dates (never any password).",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array for scripts")
    listing.set_defaults(handler=_cmd_account_list)
    account.set_defaults(handler=_help_of(account))

    # --- records ---------------------------------------------------------------------------
    records = commands.add_parser(
        "records",
        parents=[common],
        help="show session records or security events",
        description=(
            "Show the ancillary records the relay keeps: one line per session (ID, organizer, "
            "start, duration, why it ended, members, bytes and messages relayed), newest first. "
            "With --events, show security events instead (failed logins and joins, lockouts). "
            "Records are metadata only; the relay never stores session content."
        ),
    )
    records.add_argument("--json", action="store_true", help="print a JSON array for scripts")
    records.add_argument(
        "--events", action="store_true", help="show security events instead of sessions"
    )
    records.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_RECORD_LIMIT,
        help=f"show at most N entries (default: {DEFAULT_RECORD_LIMIT})",
    )
    records.set_defaults(handler=_cmd_records)

    add_admin_parser(commands)

    parser.set_defaults(handler=_help_of(parser))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``porthole-relay`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = cast(Callable[[argparse.Namespace], int], args.handler)
    # One line on stderr and the documented exit code for every failure: core.cli_exit.
    return run_command(lambda: _run_handler(handler, args), prefix=f"{PROG}: error: ")


def _run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from relay.store import StoreError

    try:
        return handler(args)
    except StoreError as exc:
        raise Failure(exc.message) from None
    except BrokenPipeError:
        # `porthole-relay records | head`: the reader left; that is not an error.
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        raise Failure(f"{exc.strerror or exc}.") from None


# --- handlers -----------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the account and record commands stay free of trio and
    # the server.
    from relay.serve_config import ConfigError, apply_serve_config
    from relay.server_cli import run_serve

    if args.config is not None:
        try:
            apply_serve_config(args, args.config)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    if args.listen is None:
        args.listen = parse_listen(DEFAULT_LISTEN)
    args.no_raw = bool(args.no_raw)
    args.metrics_any_address = bool(args.metrics_any_address)
    if args.metrics is not None and not args.metrics_any_address:
        from relay.metrics_address import is_loopback

        if not is_loopback(args.metrics[0]):
            raise UsageError(
                f"--metrics {args.metrics[0]} is not a loopback address; metrics are "
                "unauthenticated, so pass --metrics-any-address to serve them there."
            )
    args.data_dir = _data_dir(args)
    return run_serve(args)


def _cmd_account_add(args: argparse.Namespace) -> int:
    from relay.store import username_problem

    # Check what can be checked before asking for a password or creating the data directory.
    problem = username_problem(args.name)
    if problem is not None:
        raise Failure(problem)
    password = _read_new_password(args, f"Password for new account {args.name}: ")
    with _open_store(args, create=True) as store:
        account = store.add_account(args.name, password, now=time.time())
    print(f"Created organizer account {account.username!r}.")
    return EXIT_OK


def _cmd_account_passwd(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        account = store.get_account(args.name)
        if account is None:
            raise Failure(f"There is no account named {args.name!r}.")
        password = _read_new_password(args, f"New password for {account.username}: ")
        store.set_password(account.username, password, now=time.time())
    print(f"Changed the password of {account.username!r}.")
    return EXIT_OK


def _cmd_account_disable(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        store.set_disabled(args.name, True)
    print(f"Disabled account {args.name!r}; it can no longer log in.")
    return EXIT_OK


def _cmd_account_enable(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        store.set_disabled(args.name, False)
    print(f"Enabled account {args.name!r}.")
    return EXIT_OK


def _cmd_account_list(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        accounts = store.list_accounts()
    if args.json:
        _print_json([asdict(a) for a in accounts])
    elif not accounts:
        print("No organizer accounts yet; create one with 'porthole-relay account add NAME'.")
    else:
        _console().print(_accounts_table(accounts))
    return EXIT_OK


def _cmd_records(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        if args.events:
            events = store.list_security_events(limit=args.limit)
        else:
            sessions = store.list_session_records(limit=args.limit)
    if args.events:
        if args.json:
            _print_json([asdict(e) for e in events])
        elif not events:
            print("No security events recorded.")
        else:
            _console().print(_events_table(events))
    elif args.json:
        _print_json([asdict(s) for s in sessions])
    elif not sessions:
        print("No session records yet.")
    else:
        _console().print(_sessions_table(sessions))
    return EXIT_OK


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Handler for a command given without its subcommand: show that level's help."""

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return show_help


# --- helpers ------------------------------------------------------------------------------


def _data_dir(args: argparse.Namespace) -> Path:
    given = cast(Path | None, args.data_dir)
    return given if given is not None else default_data_dir()


def _open_store(args: argparse.Namespace, *, create: bool = False) -> RelayStore:
    from relay.store import RelayStore

    # close_unfinished=False: a relay may be running on this directory right now.
    return RelayStore.open(_data_dir(args), create=create, close_unfinished=False)


def _read_new_password(args: argparse.Namespace, prompt: str) -> str:
    """Read a new password: one line of stdin with --password-stdin, else twice from the tty.

    The strength rule is applied here (the store applies it again) so that a weak password
    is refused before the person bothers to repeat it, and before ``account add`` creates the
    data directory. The password is never echoed or printed.
    """
    if args.password_stdin:
        password = _password_from(sys.stdin)
        problem = password_problem(args.name, password)
        if problem is not None:
            raise Failure(problem)
        return password
    if not sys.stdin.isatty():
        raise UsageError(
            "Standard input is not a terminal, so the password cannot be asked for; "
            "pipe it in with --password-stdin."
        )
    try:
        first = getpass.getpass(prompt)
        problem = password_problem(args.name, first)
        if problem is not None:
            raise Failure(problem)
        second = getpass.getpass("Repeat the password: ")
    except EOFError:
        raise Failure("No password was entered.") from None
    if first != second:
        raise Failure("The two passwords do not match; nothing was changed.")
    return first


def _password_from(stream: TextIO) -> str:
    line = stream.readline()
    if not line:
        raise Failure("--password-stdin was given but standard input is empty.")
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise Failure("The password on standard input is empty.")
    return password


def _silence_stdout() -> None:
    # Point stdout at /dev/null so the interpreter's final flush does not raise again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _console() -> Console:
    from rich.console import Console

    # Piped output keeps full rows instead of squeezing the table into 80 columns.
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _accounts_table(accounts: list[Account]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Organizer accounts")
    table.add_column("User name")
    table.add_column("State")
    table.add_column("Created")
    table.add_column("Password changed")
    for a in accounts:
        state = Text("disabled", style="red") if a.disabled else Text("enabled", style="green")
        table.add_row(Text(a.username), state, when(a.created_at), when(a.password_changed_at))
    return table


def _sessions_table(sessions: list[SessionRecord]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Session records (newest first)")
    table.add_column("#", justify="right")
    table.add_column("Session")
    table.add_column("Organizer")
    table.add_column("Started")
    table.add_column("Duration", justify="right")
    table.add_column("Ended because")
    table.add_column("Peak", justify="right")
    table.add_column("Members", justify="right")
    table.add_column("Relayed", justify="right")
    table.add_column("Messages", justify="right")
    for s in sessions:
        running = s.ended_at is None
        lasted = "" if s.ended_at is None else duration(s.ended_at - s.started_at)
        table.add_row(
            str(s.id),
            Text(s.session_id),
            Text(s.organizer),
            when(s.started_at),
            lasted,
            Text("running", style="green") if running else Text(s.end_reason or ""),
            str(s.peak_members),
            str(s.total_members),
            size(s.bytes_relayed),
            str(s.messages_relayed),
        )
    return table


def _events_table(events: list[SecurityEvent]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Security events (newest first)")
    table.add_column("#", justify="right")
    table.add_column("At")
    table.add_column("Kind")
    table.add_column("Address")
    table.add_column("Session")
    table.add_column("User")
    table.add_column("Detail")
    for e in events:
        table.add_row(
            str(e.id),
            when(e.at),
            Text(e.kind.value),
            Text(e.address),
            Text(e.session_id or ""),
            Text(e.username or ""),
            Text(e.detail),
        )
    return table


if __name__ == "__main__":
    raise SystemExit(main())
