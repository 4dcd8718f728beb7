"""Fast start: `--help`, `--version` and usage errors load none of the heavy machinery.

Each command runs as a real subprocess under ``python -X importtime``, which lists every module
the process imported; the test fails if any heavy package is among them. Timing itself is
measured in ``bench/startup.py`` (this machine is too noisy for timed assertions); what keeps
the time low is what is *not* imported, and that is exact.

The import graphs of the headless programs while they really run are checked in
``tests/e2e/test_screen_e2e.py`` (they need a display and a relay).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: What a command's help must not cost: each is tens to hundreds of milliseconds to import.
HEAVY = frozenset({"trio", "numpy", "PIL", "mss", "Xlib", "pynput", "textual"})

PORTHOLE_HELP = [
    ["--help"],
    ["--version"],
    ["demo", "--help"],
    ["create", "--help"],
    ["join", "--help"],
    ["present", "--help"],
    ["view", "--help"],
    ["verify", "--help"],
    ["identity", "--help"],
    ["identity", "create", "--help"],
]
PORTHOLE_USAGE_ERRORS = [
    ["join"],  # no link
    ["view", "--frames"],  # option without its value
    ["present", "--headless"],  # required options missing
    ["no-such-command"],
]
RELAY_HELP = [
    ["--help"],
    ["--version"],
    ["serve", "--help"],
    ["account", "--help"],
    ["admin", "--help"],
]


#: Runs a module as ``python -m`` would, and at exit also lists ``sys.modules`` on stderr: a
#: module loaded through ``importlib.import_module`` does not show in ``-X importtime``.
RUN_AND_LIST = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('modules:', *sorted(sys.modules), file=sys.stderr))\n"
    "sys.argv[0] = sys.argv[1]\n"
    "del sys.argv[1]\n"
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
)


def imported_modules(module: str, args: list[str]) -> tuple[int, set[str], str]:
    """Run ``python -X importtime -m MODULE ARGS``: exit code, every module imported, stdout."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", RUN_AND_LIST, module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    names.discard("imported package")  # the header line
    for line in result.stderr.splitlines():
        if line.startswith("modules: "):
            names.update(line.split()[1:])
    return result.returncode, names, result.stdout


#: The relay's command line also leaves its table printer and its password hashing for later.
RELAY_HEAVY = HEAVY | {"rich", "argon2", "asyncio", "prometheus_client"}


def heavy(names: set[str], packages: frozenset[str] = HEAVY) -> set[str]:
    return {name for name in names if name.split(".")[0] in packages}


@pytest.mark.parametrize("args", PORTHOLE_HELP, ids=" ".join)
def test_porthole_help_imports_nothing_heavy(args: list[str]) -> None:
    code, names, out = imported_modules("tui.cli", args)
    assert code == 0
    assert "porthole" in out
    assert "tui.options" in names  # the parser was really built from the declarations
    assert not heavy(names), f"`porthole {' '.join(args)}` imported {sorted(heavy(names))}"


@pytest.mark.parametrize("args", PORTHOLE_USAGE_ERRORS, ids=" ".join)
def test_porthole_usage_errors_import_nothing_heavy(args: list[str]) -> None:
    code, names, _ = imported_modules("tui.cli", args)
    assert code == 2  # argparse's usage error, before anything ran
    assert not heavy(names), f"`porthole {' '.join(args)}` imported {sorted(heavy(names))}"


@pytest.mark.parametrize("args", RELAY_HELP, ids=" ".join)
def test_relay_help_imports_nothing_heavy(args: list[str]) -> None:
    code, names, out = imported_modules("relay.cli", args)
    assert code == 0
    assert "porthole-relay" in out
    found = heavy(names, RELAY_HEAVY)
    assert not found, f"`porthole-relay {' '.join(args)}` imported {sorted(found)}"


def test_the_guard_sees_a_heavy_import() -> None:
    """The same measurement on a module that does import trio finds it (the test can fail)."""
    code, names, _ = imported_modules("core.client.transport", [])
    assert code == 0
    assert "trio" in heavy(names)


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # the headless viewer: no capture, encoder, input injection, relay or Textual; not the
        # WebSocket library (only that path loads it) nor SPAKE2 (only once a join starts)
        (
            "tui.view",
            ("core.capture", "core.codec.encoder", "core.control", "core.stream.presenter",
             "relay", "textual", "mss", "pynput", "Xlib", "websockets", "core.websocket_carrier",
             "core.client.websocket_path", "spake2",
             # what follows the first byte loads during the TLS handshake (core/client/connect.py)
             "core.protocol", "core.crypto", "core.client.relay_channel", "core.client.client",
             "core.client.session", "core.client.events", "tui.view_watch"),
        ),
        # the headless presenter: no decoder, relay or Textual; no WebSocket or SPAKE2 either
        (
            "tui.present",
            ("core.codec.decoder", "core.stream.viewer", "relay", "textual", "websockets",
             "spake2"),
        ),
        # the client app: never the relay server (only `porthole demo` starts one, when it
        # runs), and no screen capture or codec until the person presents or watches
        (
            "tui.app.launch",
            ("relay", "core.capture.capturer", "core.codec", "core.stream", "numpy", "PIL",
             "mss", "Xlib", "pynput", "websockets", "spake2"),
        ),
    ],
)  # fmt: skip
def test_each_program_imports_only_its_half(module: str, forbidden: tuple[str, ...]) -> None:
    code, names, _ = imported_modules(module, [])
    assert code == 0
    found = sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))
    assert not found, f"importing {module} loaded {found}"


def test_lazy_packages_export_what_they_declare() -> None:
    """Every lazily exported name resolves, and the ``TYPE_CHECKING`` imports list the same."""
    import ast
    import importlib

    for package in ("core.client", "core.capture", "core.codec", "core.control", "core.stream"):
        module = importlib.import_module(package)
        exported = set(module.__all__)
        for name in exported:
            getattr(module, name)  # imports the submodule; AttributeError if misnamed
        tree = ast.parse(Path(module.__file__ or "").read_text())
        typed = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + ".")
            for alias in node.names
        }
        assert typed == exported, f"{package}: TYPE_CHECKING imports and exports differ"
        with pytest.raises(AttributeError):
            getattr(module, "no_such_name")  # noqa: B009


#: A client reaching a silent TCP listener: what it had imported before its first byte, what by
#: the time ``meanwhile`` ran, and that first byte as the listener saw it then.
FIRST_BYTE_ORDER = """
import json, socket, sys, trio
from core.client.channel import RelayUnreachable, open_channel
MESSAGE_LAYER = ("core.protocol", "core.client.relay_channel")
before = [m for m in MESSAGE_LAYER if m in sys.modules]
seen = {}
with socket.create_server(("127.0.0.1", 0)) as listener:
    def meanwhile():
        conn, _ = listener.accept()  # connected already: the TLS handshake has begun
        conn.settimeout(10)
        with conn:
            seen["first"] = conn.recv(1, socket.MSG_PEEK).hex()
        seen["loaded"] = [m for m in MESSAGE_LAYER if m in sys.modules]
    async def main():
        try:
            await open_channel("127.0.0.1", listener.getsockname()[1], pinned="00" * 32,
                               transport="tls", proxy="", meanwhile=meanwhile)
        except RelayUnreachable:
            seen["ended"] = "unreachable"  # the listener hung up: no relay there
    trio.run(main)
print(json.dumps({"before": before, **seen}))
"""


def test_the_message_layer_loads_after_the_client_hello_left() -> None:
    """``open_channel`` sends its ClientHello before importing the protocol's message layer,
    and has imported it when the caller's ``meanwhile`` runs, while the handshake waits."""
    import json

    result = subprocess.run(
        [sys.executable, "-c", FIRST_BYTE_ORDER],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["before"] == []  # importing open_channel loads none of it
    assert seen["first"] == "16"  # a TLS handshake record (the ClientHello) was on the wire
    assert seen["loaded"] == ["core.protocol", "core.client.relay_channel"]
    assert seen["ended"] == "unreachable"
