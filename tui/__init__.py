"""porthole tui: everything a person looks at (Textual apps, the viewer window, CLIs)."""
