"""How a path typed, pasted or dropped onto the terminal becomes the file to send."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.app.dialogs.files import dropped_path


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("/tmp/report.pdf", "/tmp/report.pdf"),
        ("  /tmp/report.pdf\n", "/tmp/report.pdf"),
        ("'/tmp/my notes.txt'", "/tmp/my notes.txt"),  # most terminals quote a dropped file
        ('"/tmp/my notes.txt"', "/tmp/my notes.txt"),
        ("/tmp/my\\ notes.txt", "/tmp/my notes.txt"),
        ("file:///tmp/my%20notes.txt", "/tmp/my notes.txt"),
        ("~/x.log", str(Path.home() / "x.log")),
    ],
)
def test_a_dropped_or_typed_path(text: str, path: str) -> None:
    assert dropped_path(text) == Path(path)


@pytest.mark.parametrize("text", ["", "   ", "'/tmp/a' '/tmp/b'"])
def test_nothing_or_two_paths_is_no_path(text: str) -> None:
    assert dropped_path(text) is None
