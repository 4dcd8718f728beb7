"""What each ``porthole`` command accepts: argparse declarations and help texts, nothing else.

Why a module of its own: ``porthole --help``, ``porthole view --help`` and every usage error
are answered from here, before any command runs, so this module imports only the standard
library and light parts of ``core`` (no trio, numpy, Pillow, mss, X client, pynput or Textual).
The commands import their machinery when they run (``tui/present.py``, ``tui/view.py``).
A test guards this with ``python -X importtime``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.endpoints import TRANSPORTS

PRESENT_DESCRIPTION = """\
Log in, create a session, and share a screen (`--headless`).

Scripts, kiosks and CI drive it; it prints JSON lines (`session`, `knock`, `joined`,
`left`, `consent`, `paused`, `resumed`, `stats`, `refresh-limited` when a member asks for
keyframes faster than any viewer should, `ended`); `joined` carries `key`, the short
fingerprint of the identity key the member proved (null without one). SIGUSR1 toggles pause
(hide the screen; capture stops before anything else happens), SIGINT/SIGTERM end the session
for everyone and exit 0 (before the session exists they interrupt: exit 130). A refusal or a
lost relay prints one line on stderr and an `error` event, and exits 1 or 3.

Admission (`--admit`):
  password  (default) admit joiners who proved the session password; knocks that would need a
            person's approval (no session password) are declined, because nobody is there to ask
  ask-none  like `password`, but knocks without a password are put to the controlling script:
            it answers with `admit PEER` or `decline PEER` lines on standard input
  all       admit every joiner who completes the handshake (explicit opt-in only)

Files (`--send FILE…`, `--to NAME`, `--accept-files DIR`): end-to-end encrypted, checked
against a SHA-256, written as NAME.part and renamed only when whole; never overwriting
(`NAME (1).ext`). Events `file_offer`, `file_progress` (a progress bar instead when stdout is a
terminal), `file_done` (with `sha256` and the receiver's `path`) and `file_failed` (`reason`).
"""

VIEW_DESCRIPTION = """\
Join a session and keep the presenter's picture in memory (`--headless`).

For scripts and tests: it prints JSON lines (`joined`, `paused`/`resumed`, `stats`,
`ended`, `saved`) and, only when asked with `--save-frame PATH`, writes the current frame
as a PNG when it exits. That explicit request is the only way a frame ever reaches a disk.
SIGINT/SIGTERM leave the session (`ended` with code `left`, the frame still saved) and exit
130; a refusal or a lost relay prints one line on stderr and an `error` event.

With `--request-control` it is a scripted controller: it prints `control` events (`state`:
requested, granted, refused, revoked, released) and, per step, `typed` (characters), `sent`
(keys), `pointer` or `waited`; never what was typed.

Files (`--send FILE…`, `--to NAME`, `--accept-files DIR`): end-to-end encrypted, checked
against a SHA-256, written as NAME.part and renamed only when whole; never overwriting
(`NAME (1).ext`). Events `file_offer`, `file_progress` (a progress bar instead when stdout is a
terminal), `file_done` (with `sha256` and the receiver's `path`) and `file_failed` (`reason`).
"""


ADMIT_CHOICES = ("password", "ask-none", "all")


def add_present_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--headless", action="store_true", help="run without a TUI (JSON lines on stdout)"
    )
    parser.add_argument("--relay", required=True, metavar="HOST:PORT", help="the relay")
    parser.add_argument("--fingerprint", metavar="HEX", help="relay certificate fingerprint")
    parser.add_argument("--user", required=True, help="organizer account on the relay")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-file", type=Path, metavar="F", help="account password file")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the account password from stdin"
    )
    parser.add_argument("--name", help="your display name (default: the account name)")
    parser.add_argument("--session-id", metavar="9DIGITS", help="choose the session ID")
    parser.add_argument(
        "--session-password-file", type=Path, metavar="F", help="session password file"
    )
    add_capture_arguments(parser)
    parser.add_argument("--admit", choices=ADMIT_CHOICES, default="password")
    parser.add_argument("--stats", action="store_true", help="print a stats line every second")
    parser.add_argument(
        "--allow-control-from",
        metavar="NAME|key:FINGERPRINT",
        help="grant remote control when this member asks (never granted otherwise): NAME is "
        "a display name (unique in the session, any case); key:FINGERPRINT grants only the "
        "member who proved that identity key (`porthole identity show` prints it), for "
        "scripts that must not trust names. Ctrl+F12 or SIGUSR2 revokes at once",
    )
    parser.add_argument(
        "--accept-presenter-requests",
        action="store_true",
        help="agree when asked to take over presenting (default: refuse)",
    )
    add_identity_option(parser)
    add_file_arguments(parser)
    add_transport_arguments(parser)


def add_file_arguments(parser: argparse.ArgumentParser) -> None:
    """File transfer for the headless programs (docs/design.md §4.7)."""
    group = parser.add_argument_group(
        "files",
        "End-to-end encrypted, checked against a SHA-256; JSON events file_offer, "
        "file_progress, file_done, file_failed.",
    )
    group.add_argument(
        "--send",
        nargs="+",
        action="extend",
        type=Path,
        metavar="FILE",
        help="offer these files to each other member as it joins (or to --to)",
    )
    group.add_argument("--to", metavar="NAME", help="send only to members with this display name")
    group.add_argument(
        "--accept-files",
        type=Path,
        metavar="DIR",
        help="accept offered files into DIR without asking (never overwriting; default: "
        "refuse every file)",
    )


def add_capture_arguments(parser: argparse.ArgumentParser) -> None:
    """What to share and how: the same options wherever a screen may be shared."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--monitor", type=int, metavar="N", help="monitor (1 = first, 0 = all)")
    what.add_argument("--region", metavar="X,Y,W,H", help="a rectangle of the screen")
    what.add_argument("--window", metavar="TITLE|ID", help="one window, by title or X11 id")
    parser.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="X,Y,W,H",
        help="black out this screen rectangle before anything is encoded (repeatable)",
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=15.0,
        help=(
            "base frame rate (default 15); while the screen keeps changing it rises to "
            "twice this, at most 30"
        ),
    )


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--headless", action="store_true", help="run without a window (JSON lines on stdout)"
    )
    parser.add_argument("link", nargs="?", metavar="LINK", help="porthole://HOST:PORT/ID?fp=…")
    parser.add_argument("--relay", metavar="HOST:PORT", help="the relay, when not giving a link")
    parser.add_argument("--session", metavar="ID", help="the session ID, when not giving a link")
    parser.add_argument("--fingerprint", metavar="HEX", help="relay certificate fingerprint")
    parser.add_argument(
        "--session-password-file", type=Path, metavar="F", help="session password file"
    )
    parser.add_argument(
        "--name",
        default="viewer",
        help="display name, unique in the session in any case (default: %(default)s)",
    )
    parser.add_argument(
        "--save-frame", type=Path, metavar="PATH", help="write the last frame as PNG on exit"
    )
    until = parser.add_mutually_exclusive_group()
    until.add_argument("--frames", type=int, metavar="N", help="exit after N decoded updates")
    until.add_argument("--duration", type=float, metavar="S", help="exit after S seconds")
    parser.add_argument("--stats", action="store_true", help="print a stats line every second")
    parser.add_argument(
        "--accept-presenter-requests",
        action="store_true",
        help="agree when asked to present; then share what --monitor/--region/--window say "
        "(default: refuse; nothing is ever captured without this agreement)",
    )
    add_capture_arguments(parser)
    add_control_arguments(parser)
    add_identity_option(parser)
    add_file_arguments(parser)
    add_transport_arguments(parser)


class _InOrder(argparse.Action):
    """Keeps ``--type``, ``--keys`` and ``--input-script`` in command-line order, as
    ``(option, value)`` pairs in one list: ``--type 'cho hi' --keys ctrl+a e`` types, then
    presses, in that order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        steps = list(getattr(namespace, self.dest, None) or [])
        steps.append((self.metavar_key, values))
        setattr(namespace, self.dest, steps)

    @property
    def metavar_key(self) -> str:
        return self.option_strings[0].lstrip("-")


def add_control_arguments(parser: argparse.ArgumentParser) -> None:
    """The scripted controller: ask the presenter for control, inject, give it back."""
    group = parser.add_argument_group(
        "scripted control",
        "Ask the presenter for remote control, wait for the grant, inject --type, --keys\n"
        "and --input-script in the order given, give control back and leave (exit 0).\n"
        "A refusal or a revoke exits 1.\n"
        "Key specs: a character or a key name (Return, Tab, Escape, BackSpace, Delete,\n"
        "Home, End, Page_Up, Page_Down, Left, Right, Up, Down, Insert, space, Menu,\n"
        "F1-F12), modifiers first: ctrl+alt+t, shift+Tab, ctrl++ (ctrl, shift, alt, meta).\n"
        "Script lines: type TEXT | key SPEC... | wait SECONDS | move X Y |\n"
        "click X Y [left|middle|right]   (X, Y in the shared picture; # comments)",
    )
    group.add_argument(
        "--request-control",
        action="store_true",
        help="ask for remote control and run the input below once granted",
    )
    group.add_argument(
        "--type",
        dest="control_steps",
        action=_InOrder,
        metavar="TEXT",
        help=r"type TEXT (\n is Return, \t Tab, \\ a backslash; repeatable)",
    )
    group.add_argument(
        "--keys",
        dest="control_steps",
        action=_InOrder,
        metavar="'SPEC ...'",
        help="press these key specs, separated by spaces (repeatable)",
    )
    group.add_argument(
        "--input-script",
        dest="control_steps",
        action=_InOrder,
        metavar="FILE",
        help="run the commands in FILE, one a line ('-' reads standard input)",
    )
    group.add_argument(
        "--control-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="how long to wait for a presenter and their answer (default: %(default)g)",
    )


#: ``--identity`` given without a path: the default key file (see :func:`identity_path`).
DEFAULT_IDENTITY = ""


def add_identity_option(parser: argparse.ArgumentParser) -> None:
    """``--identity [PATH]``: prove holding an identity key when joining or creating."""
    parser.add_argument(
        "--identity",
        nargs="?",
        const=DEFAULT_IDENTITY,
        default=None,
        metavar="PATH",
        help="prove you hold your identity key (`porthole identity create`) so the roster "
        "shows its fingerprint beside your name; PATH defaults to "
        "$XDG_CONFIG_HOME/porthole/identity.key",
    )


IDENTITY_DESCRIPTION = """\
Manage your identity key: an Ed25519 key kept in $XDG_CONFIG_HOME/porthole/identity.key
(~/.config/porthole/identity.key), readable only by you (mode 600).

With --identity, `porthole join`, `view` and `present` prove during admission that you hold it
(the proof is bound to that one admission: nobody can replay it elsewhere), and everyone's
roster shows its short fingerprint beside your name. A presenter can then grant control to
your key rather than your name: --allow-control-from key:FINGERPRINT.

  create  make a new key (refuses to replace one without --force) and print its fingerprint
  show    print the fingerprint of the existing key
"""


def add_identity_arguments(parser: argparse.ArgumentParser, epilog: str) -> None:
    actions = parser.add_subparsers(dest="identity_action", metavar="ACTION", required=True)
    for action, text in (
        ("create", "make a new identity key and print its fingerprint"),
        ("show", "print the fingerprint of your identity key"),
    ):
        sub = actions.add_parser(
            action, help=text, description=text[0].upper() + text[1:] + ".", epilog=epilog
        )
        sub.add_argument(
            "--path",
            type=Path,
            metavar="PATH",
            help="the key file (default: $XDG_CONFIG_HOME/porthole/identity.key)",
        )
        if action == "create":
            sub.add_argument(
                "--force",
                action="store_true",
                help="replace an existing key (its fingerprint is gone for good)",
            )


def add_transport_arguments(parser: argparse.ArgumentParser) -> None:
    """``--transport`` and ``--proxy``, the same for every command that reaches a relay."""
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="auto",
        help=(
            "how to reach the relay: tls (framed TLS), wss (WebSocket over HTTPS, through the "
            "proxy if one is set) or auto: tls, then wss, then wss through the proxy "
            "(default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        default=None,
        help=(
            "HTTP proxy for the WebSocket path, http://[USER:PASSWORD@]HOST:PORT "
            "(default: $HTTPS_PROXY / $https_proxy; '' for none)"
        ),
    )


VERIFY_DESCRIPTION = """\
Check downloaded release files against the release's SHA256SUMS and its minisign signature.

The signature (SHA256SUMS.minisig) must be by one of the release keys shipped inside this
porthole (or by a key given with --key), and every FILE must match its line in the manifest.
Exit status 0 when all do; 1, with the reason, otherwise. The same check without porthole:
`minisign -Vm SHA256SUMS -P KEY` and `sha256sum -c SHA256SUMS`.
"""


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="release files to check")
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="PATH",
        help="the SHA256SUMS manifest (default: SHA256SUMS beside the first FILE)",
    )
    parser.add_argument(
        "--signature",
        type=Path,
        metavar="PATH",
        help="the manifest's minisign signature (default: the manifest's path + .minisig)",
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="PUBKEY",
        help="trust this minisign public key (a .pub file or its base64 line) instead of the "
        "release keys shipped in porthole (repeatable)",
    )
