"""``porthole-relay serve --config relay.toml``: the serve flags, read from a TOML file.

Why a file: a service unit's command line is awkward to edit and to review; operators keep
settings in ``/etc`` under configuration management. Every key is a ``serve`` flag's name
without its dashes (``listen``, ``data-dir``, ``cert``, ``key``, ``no-raw``, ``log-format``,
``log-level``, ``metrics``, ``metrics-any-address``), so the
file and ``--help`` document each other; a flag given on the command line wins over the file.
Validation names the key and what it expected, and an unknown key is an error rather than
silently ignored (a misspelt ``no_raw`` must not leave the framed protocol on unnoticed).
Relative paths are taken from the file's directory, not from wherever the relay was started.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.endpoints import split_endpoint
from relay.logs import LOG_FORMATS, LOG_LEVELS


class ConfigError(ValueError):
    """A configuration file the relay will not start with: one sentence naming the key."""


def _listen(value: Any, base: Path) -> tuple[str, int]:
    if not isinstance(value, str):
        raise TypeError('a string "HOST:PORT"')
    try:
        return split_endpoint(value, any_port=True)
    except ValueError as exc:
        raise TypeError(f'"HOST:PORT" ({exc})') from None


def _path(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise TypeError("a path as a non-empty string")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _bool(value: Any, base: Path) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _choice(*choices: str) -> Callable[[Any, Path], object]:
    def convert(value: Any, base: Path) -> str:
        if value not in choices:
            raise TypeError("one of " + ", ".join(f'"{choice}"' for choice in choices))
        return str(value)

    return convert


#: TOML key → (argparse destination, converter). One entry per ``serve`` flag.
KEYS: dict[str, tuple[str, Callable[[Any, Path], object]]] = {
    "listen": ("listen", _listen),
    "data-dir": ("data_dir", _path),
    "cert": ("cert", _path),
    "key": ("key", _path),
    "no-raw": ("no_raw", _bool),
    "log-format": ("log_format", _choice(*LOG_FORMATS)),
    "log-level": ("log_level", _choice(*LOG_LEVELS)),
    "metrics": ("metrics", _listen),
    "metrics-any-address": ("metrics_any_address", _bool),
}


def parse_serve_config(text: str, base: Path, name: str = "relay.toml") -> dict[str, object]:
    """argparse destination → value, for every key in the file, validated."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name} is not valid TOML: {exc}") from None
    values: dict[str, object] = {}
    for key, value in table.items():
        if key not in KEYS:
            known = ", ".join(KEYS)
            raise ConfigError(f"{name}: unknown key {key!r} (known keys: {known})")
        dest, convert = KEYS[key]
        try:
            values[dest] = convert(value, base)
        except TypeError as exc:
            raise ConfigError(f"{name}: key {key!r} must be {exc}, not {value!r}") from None
    return values


def apply_serve_config(args: argparse.Namespace, path: Path) -> None:
    """Fill in from ``path`` each serve setting that no flag gave (flags stay as given)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    values = parse_serve_config(text, path.resolve().parent, name=str(path))
    for dest, value in values.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
