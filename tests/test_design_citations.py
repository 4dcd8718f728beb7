"""Every citation of docs/design.md points to a section that exists (docs/design.md §1.3).

Code cites the design as ``docs/design.md §4.3`` (more sections, or a step, may follow: ``§6.4,
§8.5`` or ``§4.3 step 4 and §4.5``). A citation of a missing section fails here, and so does a ``§``
that names no document (only RFC sections may be cited bare, as ``RFC 6455 §5.2``) and the old
citation form of a design brief that was never in the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = Path("docs/design.md")

#: Where citations may appear: the packages, tests, benchmarks and the top-level documents.
SCANNED_DIRS = ("core", "relay", "tui", "tests", "bench", "docs", ".ci")
SCANNED_FILES = ("README.md", "CHANGELOG.md", "pyproject.toml")
SUFFIXES = {".py", ".md", ".toml", ".tcss", ".txt", ".sh", ""}

_SECTION = r"§(\d+(?:\.\d+)*)"
_STEP = r"(?:\s+steps?\s+\d+(?:[–-]\d+)?)?"
#: One citation: the document, then one or more sections (each perhaps with a step) joined by
#: commas or "and".
CITATION = re.compile(
    r"design\.md`?\s+(" + _SECTION + _STEP + r"(?:(?:,\s*|\s+and\s+)" + _SECTION + _STEP + r")*)"
)
SECTION = re.compile(_SECTION)
#: A section of another document, which may be cited bare.
OTHER_DOCUMENT = re.compile(r"RFC \d+ $")
#: Written in two pieces so this file does not cite itself the old way.
OLD_FORM = re.compile("DESIGN" + r" §")
HEADING = re.compile(r"^(##|###) (\d+(?:\.\d+)?)\.? ", re.MULTILINE)


def sections(design_text: str) -> list[str]:
    """The numbers of the design's sections, in document order (``"4"``, ``"4.1"``, …)."""
    return [match.group(2) for match in HEADING.finditer(design_text)]


def scanned_files(root: Path) -> Iterator[Path]:
    for name in SCANNED_FILES:
        if (root / name).is_file():
            yield root / name
    for directory in SCANNED_DIRS:
        for path in sorted((root / directory).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                yield path


def problems(root: Path) -> list[str]:
    """Every citation that points nowhere, and every ``§`` that cites no named document."""
    design = root / DESIGN
    known = set(sections(design.read_text(encoding="utf-8"))) if design.exists() else set()
    found = []
    for path in scanned_files(root):
        if path.resolve() == Path(__file__).resolve():
            continue  # this file's examples are about the check, not citations
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        where = path.relative_to(root)
        own = path.resolve() == design.resolve()

        def line(offset: int, text: str = text) -> int:
            return text.count("\n", 0, offset) + 1

        for match in OLD_FORM.finditer(text):
            found.append(f"{where}:{line(match.start())}: old citation form; cite {DESIGN}")
        cited: set[int] = set()
        for match in CITATION.finditer(text):
            for section in SECTION.finditer(text, match.start(1), match.end(1)):
                cited.add(section.start())
                if section.group(1) not in known:
                    found.append(
                        f"{where}:{line(section.start())}: {DESIGN} has no §{section.group(1)}"
                    )
        for section in SECTION.finditer(text):
            if section.start() in cited or OLD_FORM.match(text, max(0, section.start() - 7)):
                continue
            if own:  # the design cites its own sections bare
                if section.group(1) not in known:
                    found.append(f"{where}:{line(section.start())}: no §{section.group(1)} here")
            elif not OTHER_DOCUMENT.search(text[max(0, section.start() - 12) : section.start()]):
                found.append(
                    f"{where}:{line(section.start())}: §{section.group(1)} names no document; "
                    f"write '{DESIGN} §{section.group(1)}'"
                )
    return found


def test_every_citation_of_the_design_points_to_a_section_that_exists() -> None:
    assert problems(ROOT) == []


def test_the_design_is_cited_at_all() -> None:
    # A regex that stopped matching would pass the test above by finding nothing.
    cited = [p for p in scanned_files(ROOT) if CITATION.search(p.read_text(encoding="utf-8"))]
    assert len(cited) >= 30


def test_sections_are_numbered_in_order() -> None:
    numbers = sections((ROOT / DESIGN).read_text(encoding="utf-8"))
    chapter, sub = 0, 0
    for number in numbers:
        if "." not in number:
            assert number == str(chapter + 1), f"§{number} follows §{chapter}"
            chapter, sub = chapter + 1, 0
        else:
            assert number == f"{chapter}.{sub + 1}", f"§{number} follows §{chapter}.{sub}"
            sub += 1
    assert chapter >= 10


def test_the_check_finds_what_it_must(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "design.md").write_text(
        "## 1. One\n\n### 1.1 First\n\nSee §1.1 and §2.\n\n## 2. Two\n\nBut not §3.\n"
    )
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "fine.py").write_text(
        '"""Cites docs/design.md §1.1, §2 and §1 and RFC 6455 §5.2."""\n'
    )
    (tmp_path / "core" / "broken.py").write_text(
        '"""Cites docs/design.md §1.2 and §2.\n\nThe boundary of §1.\n"""\n'
        "# " + "DESIGN" + " §5 is gone.\n"
    )
    assert problems(tmp_path) == [
        "core/broken.py:5: old citation form; cite docs/design.md",
        "core/broken.py:1: docs/design.md has no §1.2",
        "core/broken.py:3: §1 names no document; write 'docs/design.md §1'",
        "docs/design.md:9: no §3 here",
    ]
