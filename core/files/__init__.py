"""File transfer: the sans-IO machines of each end, name safety, and the receiver's disk
(docs/design.md §4.7). The trio driver that runs them over a session is
``core/client/files.py``."""
