"""A Tk window of flat coloured blocks that reports the buttons it receives (its own process).

    python pattern_window.py X Y W H

Prints ``ready`` once the window is mapped and painted, then one line per button event,
``bp N X Y`` (press) or ``br N X Y`` (release) in window coordinates, until killed. Every block
has its own colour, so a picture of it that is shifted, scaled or cropped does not match.
"""

from __future__ import annotations

import random
import sys
import tkinter as tk

BLOCK = 25


def block_colours(columns: int, rows: int) -> list[list[str]]:
    """Distinct, deterministic colours, one per block."""
    rng = random.Random(7)  # a test pattern, not a secret
    seen: set[str] = set()
    grid: list[list[str]] = []
    for _ in range(rows):
        row: list[str] = []
        for _ in range(columns):
            colour = f"#{rng.randrange(1 << 24):06x}"
            while colour in seen:
                colour = f"#{rng.randrange(1 << 24):06x}"
            seen.add(colour)
            row.append(colour)
        grid.append(row)
    return grid


def main() -> None:
    x, y, w, h = map(int, sys.argv[1:5])
    root = tk.Tk()
    root.title("porthole e2e pattern")
    root.geometry(f"{w}x{h}+{x}+{y}")
    canvas = tk.Canvas(root, width=w, height=h, highlightthickness=0, bd=0, bg="#ffffff")
    canvas.pack(fill="both", expand=True)
    columns, rows = -(-w // BLOCK), -(-h // BLOCK)
    for j, row in enumerate(block_colours(columns, rows)):
        for i, colour in enumerate(row):
            left, top = i * BLOCK, j * BLOCK
            canvas.create_rectangle(
                left, top, left + BLOCK, top + BLOCK, fill=colour, outline="", width=0
            )

    def report(what: str, event: tk.Event[tk.Misc]) -> None:
        print(what, event.num, event.x, event.y, flush=True)

    canvas.bind("<ButtonPress>", lambda e: report("bp", e))
    canvas.bind("<ButtonRelease>", lambda e: report("br", e))
    root.update()
    root.after(300, lambda: print("ready", flush=True))
    root.mainloop()


if __name__ == "__main__":
    main()
