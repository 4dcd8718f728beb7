"""The admin TUI's screens: one per area, plus the session drill-down."""
