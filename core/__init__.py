"""porthole core: the UI-free library (protocol, crypto, session rules, screen codec)."""
