"""The native viewer window (``python -m tui.viewer``) and the client's link to it.

The window is its own process (docs/design.md §6.4, §8.5) so Tk can own a main thread and decoding
gets its own core; :mod:`tui.viewer.link` starts it and talks to it over :mod:`tui.viewer.pipe`.
"""
