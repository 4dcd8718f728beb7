"""A Tk window with known content for end-to-end screen tests (run as its own process).

    python paint_window.py TITLE X Y W H MODE      MODE: pattern | photo | animate | #RRGGBB

A colour as MODE paints the whole window in it (a window that covers another in a test).

Prints "ready" once the window is mapped and painted, then serves expose events until killed,
so its pixels stay on the screen however long the test runs.
"""

from __future__ import annotations

import sys
import tkinter as tk

import numpy as np


def photo_ppm(width: int, height: int) -> bytes:
    """A smooth photograph-like image (gradients + low-frequency texture), deterministic."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        img[..., c] = 120 + 60 * np.sin(xx / (37 + 9 * c)) + 50 * np.cos(yy / (29 + 7 * c))
    coarse = rng.normal(0, 18, (height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
    img += np.kron(coarse, np.ones((16, 16, 1), np.float32))[:height, :width]
    pixels = np.clip(img, 0, 255).astype(np.uint8)
    return b"P6 %d %d 255\n" % (width, height) + pixels.tobytes()


def main() -> None:
    title, x, y, w, h, mode = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
    root = tk.Tk()
    root.title(title)
    root.geometry(f"{w}x{h}+{x}+{y}")
    fill = mode if mode.startswith("#") else "#ffffff"
    canvas = tk.Canvas(root, width=w, height=h, highlightthickness=0, bd=0, bg=fill)
    canvas.pack(fill="both", expand=True)
    if mode == "photo":
        image = tk.PhotoImage(width=w, height=h, data=photo_ppm(w, h), format="ppm")
        canvas.create_image(0, 0, image=image, anchor="nw")
    elif mode == "pattern" or mode == "animate":
        colours = ("#d62828", "#003049", "#fcbf49", "#2a9d8f", "#6a4c93", "#f77f00")
        for i, colour in enumerate(colours):
            canvas.create_rectangle(10 + i * 60, 10, 60 + i * 60, 80, fill=colour, outline=colour)
        for row in range(8):
            canvas.create_text(
                10,
                100 + row * 18,
                anchor="nw",
                fill="#111111",
                font=("TkFixedFont", 11),
                text=f"line {row}: the quick brown fox jumps over the lazy dog {row * 7}",
            )
    if mode == "animate":
        marker = canvas.create_rectangle(w - 60, h - 60, w - 10, h - 10, fill="#000000")
        state = {"n": 0}

        def tick() -> None:
            state["n"] += 1
            canvas.itemconfigure(marker, fill=("#e63946", "#1d3557")[state["n"] % 2])
            root.after(100, tick)

        root.after(100, tick)
    root.update()
    root.after(300, lambda: print("ready", flush=True))
    root.mainloop()


if __name__ == "__main__":
    main()
