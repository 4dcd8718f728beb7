"""Package exports that import their module on first use (PEP 562 module ``__getattr__``).

Why: ``from core.client import RelayUnreachable`` used to run ``core/client/__init__.py``, which
imported every submodule and with them trio; ``core.capture`` brought numpy, mss and the X
client; ``core.codec`` numpy. A command's ``--help`` or a usage error paid for all of it before
argparse ran. With lazy exports a package costs nothing until a name is used, and a program
loads only the parts of the library it touches (the headless viewer never loads the encoder).

Each lazy ``__init__`` keeps its real imports under ``TYPE_CHECKING`` (so mypy and readers see
them) and hands the same names, by module, to :func:`lazy_exports`. A test checks that the two
lists agree and that every exported name resolves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    ``exports`` maps a submodule (relative to ``package``, e.g. ``"channel"``) to the names the
    package re-exports from it. A name is imported when first looked up and then cached in the
    package's namespace, so later lookups are ordinary attribute reads.
    """
    namespace = sys.modules[package].__dict__
    home = {name: f"{package}.{module}" for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # The builtin __import__, not importlib.import_module: only imports through it show up
        # in `python -X importtime`, which is how the tests and bench/startup.py see what loads.
        value = getattr(__import__(module, fromlist=(name,)), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *home})

    return __getattr__, __dir__, sorted(home)
